//! `/simple-chat`: everyone sees every message, anonymously (the seed's first chat).
//!
//! Messages follow the same text rules as `/chat` ([`ChatText`]); a refused one is answered
//! with `chatError` to the sender only, as in `/chat`.

use super::chat::ChatText;
use super::Event;

pub use super::chat::{parse_message, ChatError};

pub const NAMESPACE: &str = "/simple-chat";

/// client → server: a line of text to show to everyone.
pub struct SendMessage;
impl Event for SendMessage {
    const NAME: &'static str = "message";
    type Args = (ChatText,);
}

/// server → every client, sender included: the text, unchanged.
pub struct Message;
impl Event for Message {
    const NAME: &'static str = "message";
    type Args = (ChatText,);
}
