//! `/simple-chat`: everyone sees every message, anonymously (the seed's first chat).
//!
//! Messages follow the same text rules as `/chat` ([`ChatText`]); a refused one is answered
//! with `chatError` to the sender only, as in `/chat`.

use super::chat::ChatText;
use super::Namespace;

/// `/simple-chat`.
pub struct SimpleChat;
impl Namespace for SimpleChat {
    const PATH: &'static str = "/simple-chat";
}

client_events!(SimpleChat;
    /// client → server: a line of text to show to everyone.
    SendMessage = "message" (ChatText), parsed by ChatText::from_args, refused with ChatError;
);

server_events!(SimpleChat;
    /// server → every client, sender included: the text, unchanged.
    Message = "message" (ChatText);
    /// server → the sender only: why a message was refused.
    ChatError = "chatError" (String);
);
