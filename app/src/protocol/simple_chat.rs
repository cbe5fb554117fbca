//! `/simple-chat`: everyone sees every message, anonymously (the seed's first chat).
//!
//! Messages follow the same text rules as `/chat` ([`ChatText`]); a refused one is answered
//! with `chatError` to the sender only, as in `/chat`.

use super::chat::ChatText;

events! {
    /// `/simple-chat`.
    namespace SimpleChat = "/simple-chat";

    /// client → server: a line of text to show to everyone.
    client SendMessage = "message" (ChatText), parsed by ChatText::from_args, refused with ChatError;

    /// server → every client, sender included: the text, unchanged.
    server Message = "message" (ChatText);
    /// server → the sender only: why a message was refused.
    server ChatError = "chatError" (String);
}
