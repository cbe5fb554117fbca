//! One module per page; each app's page is named after the app.

pub mod call;
pub mod chat;
pub mod cursors;
pub mod draw;
pub mod home;
pub mod meet;
pub mod not_found;
pub mod remote;
pub mod simple_chat;
pub mod trades;
pub mod webcam;
pub mod webrtc;
