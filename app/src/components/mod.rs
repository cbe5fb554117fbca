//! Small pieces several pages share.

pub mod browser;
mod chat_log;
mod composer;
mod connection_badge;

pub use chat_log::{ChatLine, ChatLog};
pub use composer::Composer;
pub use connection_badge::ConnectionBadge;
