//! Small pieces several pages share.

pub mod browser;
mod chat_log;
mod connection_badge;

pub use chat_log::{ChatLine, ChatLog};
pub use connection_badge::ConnectionBadge;
