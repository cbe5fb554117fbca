//! `/chat`: chat with unique nicknames and a short persistent history.

use serde::{Deserialize, Serialize};

pub use super::Receipt;
use super::{Event, RawArgs, Rejection};

pub const NAMESPACE: &str = "/chat";

/// Longest nickname, in characters after trimming.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest message, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// How many of the latest messages are kept and replayed to a newly named client.
pub const HISTORY_LEN: usize = 50;

/// A nickname: 1–32 characters after trimming, no control characters.
///
/// Uniqueness is not a property of the name alone; the server's registry enforces it,
/// comparing names by [`Nickname::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nickname(String);

impl Nickname {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Rejection::new("Please enter a name."));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Rejection::new(format!(
                "A name can be at most {MAX_NAME_CHARS} characters long."
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Rejection::new(
                "A name cannot contain control characters such as tabs or line breaks.",
            ));
        }
        Ok(Nickname(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two names are compared in: "Alice" and "ALICE" are the same person.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Nickname {
    type Error = Rejection;
    fn try_from(raw: String) -> Result<Self, Rejection> {
        Nickname::parse(&raw)
    }
}

impl From<Nickname> for String {
    fn from(name: Nickname) -> String {
        name.0
    }
}

impl std::fmt::Display for Nickname {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a chat message: 1–2000 characters, sent as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatText(String);

impl ChatText {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(Rejection::new(format!(
                "A message must be 1 to {MAX_TEXT_CHARS} characters long."
            )));
        }
        Ok(ChatText(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChatText {
    type Error = Rejection;
    fn try_from(raw: String) -> Result<Self, Rejection> {
        ChatText::parse(&raw)
    }
}

impl From<ChatText> for String {
    fn from(text: ChatText) -> String {
        text.0
    }
}

/// Who sent a message: their socket id and the name they had when sending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    pub name: Nickname,
}

/// One stored message, as replayed in `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub sender: Sender,
    pub text: ChatText,
    /// When the server broadcast it, in milliseconds since the Unix epoch.
    pub at: i64,
}

/// client → server: claim (or change) a nickname.
pub struct ClaimName;
impl Event for ClaimName {
    const NAME: &'static str = "name";
    type Args = (Nickname,);
}

/// client → server: say something (only once named).
pub struct SendMessage;
impl Event for SendMessage {
    const NAME: &'static str = "message";
    type Args = (ChatText,);
}

/// server → the claimant only: the name is yours.
pub struct NameAccepted;
impl Event for NameAccepted {
    const NAME: &'static str = "name";
    type Args = (Nickname,);
}

/// server → the claimant only: why the name was refused.
pub struct NameError;
impl Event for NameError {
    const NAME: &'static str = "nameError";
    type Args = (String,);
}

/// server → every client, sender included.
pub struct Message;
impl Event for Message {
    const NAME: &'static str = "message";
    type Args = (Sender, ChatText);
}

/// server → the sender only: why a message was refused.
pub struct ChatError;
impl Event for ChatError {
    const NAME: &'static str = "chatError";
    type Args = (String,);
}

/// server → a newly named client: the latest messages, oldest first.
pub struct History;
impl Event for History {
    const NAME: &'static str = "history";
    type Args = (Vec<HistoryEntry>,);
}

/// Reads the nickname a `name` event claims.
pub fn parse_claim(args: &RawArgs) -> Result<Nickname, Rejection> {
    let raw = args
        .str(0)
        .ok_or_else(|| Rejection::new("A name must be text."))?;
    Nickname::parse(raw)
}

/// Reads the text of a `message` event.
pub fn parse_message(args: &RawArgs) -> Result<ChatText, Rejection> {
    let raw = args
        .str(0)
        .ok_or_else(|| Rejection::new("A message must be text."))?;
    ChatText::parse(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(v: serde_json::Value) -> Result<Nickname, Rejection> {
        parse_claim(&RawArgs(vec![v]))
    }

    #[test]
    fn names_are_trimmed_and_compared_ignoring_case() {
        let name = claim(json!("  Alice ")).unwrap();
        assert_eq!(name.as_str(), "Alice");
        assert_eq!(name.key(), claim(json!("ALICE")).unwrap().key());
    }

    #[test]
    fn name_length_counts_characters_not_bytes() {
        assert!(claim(json!("é".repeat(32))).is_ok());
        assert!(claim(json!("é".repeat(33))).is_err());
        assert!(claim(json!("x")).is_ok());
    }

    #[test]
    fn bad_names_get_a_readable_reason() {
        for bad in [
            json!(""),
            json!("   "),
            json!("a\tb"),
            json!("a\u{7}"),
            json!(42),
            json!(null),
            json!(["x"]),
            json!({"toString": "x"}),
        ] {
            let reason = claim(bad.clone()).unwrap_err().0;
            assert!(reason.ends_with('.'), "{bad}: {reason}");
        }
        assert!(parse_claim(&RawArgs(vec![])).is_err());
    }

    #[test]
    fn prototype_like_names_are_ordinary_names() {
        assert_eq!(claim(json!("__proto__")).unwrap().as_str(), "__proto__");
        assert_eq!(claim(json!("constructor")).unwrap().as_str(), "constructor");
    }

    #[test]
    fn messages_must_be_text_of_bounded_length() {
        let ok = parse_message(&RawArgs(vec![json!("<img src=x onerror=alert(1)>")])).unwrap();
        assert_eq!(ok.as_str(), "<img src=x onerror=alert(1)>");
        assert!(parse_message(&RawArgs(vec![json!("")])).is_err());
        assert!(parse_message(&RawArgs(vec![json!("x".repeat(2001))])).is_err());
        assert!(parse_message(&RawArgs(vec![json!(1)])).is_err());
    }

    #[test]
    fn broadcast_has_the_seed_shape() {
        let sender = Sender {
            id: "abc".into(),
            name: Nickname::parse("Bo").unwrap(),
        };
        let args: <Message as Event>::Args = (sender, ChatText::parse("hi").unwrap());
        assert_eq!(
            serde_json::to_value(args).unwrap(),
            json!([{"id": "abc", "name": "Bo"}, "hi"])
        );
    }

    #[test]
    fn invalid_wire_values_do_not_deserialize() {
        assert!(serde_json::from_value::<Nickname>(json!("")).is_err());
        assert!(serde_json::from_value::<ChatText>(json!("")).is_err());
    }
}
