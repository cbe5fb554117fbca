//! One module per page; each app's page is named after the app.

pub(crate) mod call;
pub(crate) mod chat;
pub(crate) mod cursors;
pub(crate) mod draw;
pub(crate) mod home;
pub(crate) mod meet;
pub(crate) mod not_found;
pub(crate) mod remote;
pub(crate) mod simple_chat;
pub(crate) mod trades;
pub(crate) mod webcam;
pub(crate) mod webrtc;
