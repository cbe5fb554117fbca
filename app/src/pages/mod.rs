//! One module per page; each app's page is named after the app.

pub mod chat;
pub mod home;
pub mod not_found;
pub mod simple_chat;
