//! `/chat`: chat with unique nicknames and a short persistent history.

use serde::{Deserialize, Serialize};

pub use super::Receipt;
use super::{PeerId, RawArgs, Rejection, Silent};

/// Longest nickname, in characters after trimming.
pub(crate) const MAX_NAME_CHARS: usize = 32;
/// Longest message, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 2000;
/// How many of the latest messages are kept and replayed to a newly named client.
pub const HISTORY_LEN: usize = 50;

/// A nickname: 1–32 characters after trimming, no control characters. The server also
/// normalises it (NFKC: full-width letters, ligatures and composed accents become their plain
/// forms) and refuses invisible characters (zero-width spaces, soft hyphens, bidi controls).
///
/// Uniqueness is not a property of the name alone; the server's registry enforces it,
/// comparing names that look alike as one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nickname(String);

impl Nickname {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        #[cfg(feature = "ssr")]
        let raw = &normalised(raw)?;
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

    /// The form a page compares names in: "Alice" and "ALICE" are the same person. (The
    /// server compares look-alikes too.)
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// NFKC, refusing what a reader cannot see (Unicode's default-ignorable characters).
#[cfg(feature = "ssr")]
fn normalised(raw: &str) -> Result<String, Rejection> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::general_security_profile::IdentifierType;
    use unicode_security::GeneralSecurityProfile;
    let name: String = raw.nfkc().collect();
    let invisible = name
        .chars()
        .find(|c| c.identifier_type() == Some(IdentifierType::Default_Ignorable));
    match invisible {
        Some(c) => Err(Rejection::new(format!(
            "A name cannot contain invisible characters (it has U+{:04X}).",
            c as u32
        ))),
        None => Ok(name),
    }
}

validated_text!(Nickname);

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

    /// Reads the arguments of a `message` event (both chats send it the same way).
    pub(crate) fn from_args(args: &RawArgs) -> Result<(ChatText,), Rejection> {
        let raw = args
            .str(0)
            .ok_or_else(|| Rejection::new("A message must be text."))?;
        Ok((ChatText::parse(&raw)?,))
    }
}

validated_text!(ChatText);

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
    /// Its id (increasing), sent to clients that asked for the additions only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

impl HistoryEntry {
    /// The entry as the course's contract has it (no id).
    pub fn without_id(mut self) -> HistoryEntry {
        self.id = None;
        self
    }
}

/// What a client may ask for when it connects to `/chat` (socket.io `auth`): `plus` turns on
/// the additions to the course's contract (presence, typing, message ids and recovery; see
/// docs/PROTOCOL.md). A client that does not ask sees exactly the course's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatOptions {
    #[serde(default)]
    pub plus: bool,
    /// A secret of the page's: its next connection may take back its name from this one,
    /// should the server not have noticed yet that this one is gone. A malformed one is
    /// ignored (the client is served without).
    #[serde(default, deserialize_with = "SessionKey::lenient")]
    pub session: Option<SessionKey>,
}

/// A page's secret for taking its name back after a reconnect: 16–64 letters, digits, `-`
/// or `_`. Pages make one at random when they load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionKey(String);

impl SessionKey {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fine = (16..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !fine {
            return Err(Rejection::new(
                "A session key has 16 to 64 letters, digits, '-' or '_'.",
            ));
        }
        Ok(SessionKey(raw.to_owned()))
    }

    fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SessionKey>, D::Error> {
        let raw = Option::<serde_json::Value>::deserialize(d)?;
        Ok(raw.and_then(|v| SessionKey::parse(v.as_str()?).ok()))
    }
}

validated_text!(SessionKey);

/// With a claim after a reconnect: the id of the last message this client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    #[serde(rename = "lastSeen")]
    pub last_seen: u64,
}

/// With a message: an id the sender chose, so that a message sent again (its acknowledgement
/// was lost with the connection) is delivered once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    #[serde(rename = "clientId")]
    pub client_id: PeerId,
}

/// What a message carries besides its sender and text, for clients with the additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub id: u64,
    pub at: i64,
}

events! {
    /// `/chat`.
    namespace Chat = "/chat";

    /// client → server: claim (or change) a nickname; after a reconnect, with the last
    /// message seen (an addition: the course's clients send the name alone).
    client ClaimName = "name" (Nickname, Option<Resume>), parsed by parse_claim, refused with NameError;
    /// client → server: say something (only once named); optionally with an id of the
    /// sender's, so that sending it again cannot deliver it twice.
    client SendMessage = "message" (ChatText, Option<Outgoing>), parsed by parse_message, refused with ChatError;
    /// client → server (addition): started (`true`) or stopped (`false`) typing.
    client Typing = "typing" (bool), parsed by parse_typing, refused with Silent;

    /// server → the claimant only: the name is yours.
    server NameAccepted = "name" (Nickname);
    /// server → the claimant only: why the name was refused.
    server NameError = "nameError" (String);
    /// server → every client, sender included.
    server Message = "message" (Sender, ChatText);
    /// server → the sender only: why a message was refused.
    server ChatError = "chatError" (String);
    /// server → a newly named client: the latest messages, oldest first.
    server History = "history" (Vec<HistoryEntry>);

    // The additions, for clients that connect with `plus` (see `ChatOptions`).

    /// server → clients with the additions, instead of `Message`: with the message's id.
    server Said = "message" (Sender, ChatText, MessageMeta);
    /// server → a client with the additions that resumed: exactly the messages it missed.
    server Missed = "missed" (Vec<HistoryEntry>);
    /// server → a client with the additions, after its name: who is here.
    server People = "people" (Vec<Nickname>);
    /// server → the others with the additions: someone took a name.
    server Joined = "joined" (Nickname);
    /// server → the others with the additions: someone changed their name (old, new).
    server Renamed = "renamed" (Nickname, Nickname);
    /// server → the others with the additions: someone left.
    server Left = "left" (Nickname);
    /// server → the others with the additions: someone started or stopped typing.
    server SomeoneTyping = "typing" (Nickname, bool);
}

fn parse_claim(args: &RawArgs) -> Result<(Nickname, Option<Resume>), Rejection> {
    let raw = args
        .str(0)
        .ok_or_else(|| Rejection::new("A name must be text."))?;
    // Anything else after the name is not a resume, and is ignored as the course's server does.
    Ok((Nickname::parse(&raw)?, args.get::<Resume>(1)))
}

fn parse_message(args: &RawArgs) -> Result<(ChatText, Option<Outgoing>), Rejection> {
    let (text,) = ChatText::from_args(args)?;
    Ok((text, args.get::<Outgoing>(1)))
}

fn parse_typing(args: &RawArgs) -> Result<(bool,), Rejection> {
    args.get::<bool>(0)
        .map(|typing| (typing,))
        .ok_or_else(|| Rejection::new("typing takes true or false."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientEvent, ServerEvent};
    use serde_json::json;

    fn claim(v: serde_json::Value) -> Result<Nickname, Rejection> {
        ClaimName::parse(&RawArgs::from_values(&[v])).map(|(name, _)| name)
    }

    fn message(v: serde_json::Value) -> Result<ChatText, Rejection> {
        SendMessage::parse(&RawArgs::from_values(&[v])).map(|(text, _)| text)
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
        assert!(ClaimName::parse(&RawArgs::default()).is_err());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn names_are_normalised_and_invisible_characters_refused() {
        assert_eq!(claim(json!("ａｌｉｃｅ")).unwrap().as_str(), "alice");
        assert_eq!(claim(json!("jose\u{301}")).unwrap().as_str(), "jos\u{e9}");
        assert_eq!(claim(json!("Ada\u{a0}")).unwrap().as_str(), "Ada");
        for hidden in [
            "al\u{200b}ice",
            "al\u{ad}ice",
            "\u{202e}ecila",
            "a\u{200d}lice",
            "alice\u{fe0f}",
            "\u{3164}alice",
            "\u{200e}alice",
        ] {
            let refused = claim(json!(hidden)).unwrap_err();
            assert!(refused.0.contains("invisible"), "{hidden:?}: {refused}");
        }
        for fine in ["José Luis", "Zoë", "李小龍", "Ada L.", "O'Brien"] {
            assert_eq!(claim(json!(fine)).unwrap().as_str(), fine);
        }
    }

    #[test]
    fn prototype_like_names_are_ordinary_names() {
        assert_eq!(claim(json!("__proto__")).unwrap().as_str(), "__proto__");
        assert_eq!(claim(json!("constructor")).unwrap().as_str(), "constructor");
    }

    #[test]
    fn messages_must_be_text_of_bounded_length() {
        let ok = message(json!("<img src=x onerror=alert(1)>")).unwrap();
        assert_eq!(ok.as_str(), "<img src=x onerror=alert(1)>");
        assert!(message(json!("")).is_err());
        assert!(message(json!("x".repeat(2001))).is_err());
        assert!(message(json!(1)).is_err());
    }

    #[test]
    fn broadcast_has_the_seed_shape() {
        let sender = Sender {
            id: "abc".into(),
            name: Nickname::parse("Bo").unwrap(),
        };
        let args: <Message as ServerEvent>::Args = (sender, ChatText::parse("hi").unwrap());
        assert_eq!(
            serde_json::to_value(args).unwrap(),
            json!([{"id": "abc", "name": "Bo"}, "hi"])
        );
    }

    #[test]
    fn what_a_page_sends_is_what_the_server_reads() {
        let grace = Nickname::parse("Grace").unwrap();
        for resume in [None, Some(Resume { last_seen: 41 })] {
            let claim = (grace.clone(), resume);
            let read = ClaimName::parse(&crate::protocol::as_received::<ClaimName>(&claim));
            assert_eq!(read.unwrap(), claim);
        }
        let text = ChatText::parse("hello, \"world\"").unwrap();
        let id = PeerId::parse("k1").unwrap();
        for outgoing in [None, Some(Outgoing { client_id: id })] {
            let message = (text.clone(), outgoing);
            let read = SendMessage::parse(&crate::protocol::as_received::<SendMessage>(&message));
            assert_eq!(read.unwrap(), message);
        }
    }

    #[test]
    fn the_course_clients_extra_arguments_are_not_mistaken_for_additions() {
        let args = RawArgs::from_values(&[json!("Ada"), json!({"lastSeen": "x"})]);
        assert_eq!(ClaimName::parse(&args).unwrap().1, None);
        let args = RawArgs::from_values(&[json!("hi"), json!(42)]);
        assert_eq!(SendMessage::parse(&args).unwrap().1, None);
    }

    #[test]
    fn invalid_wire_values_do_not_deserialize() {
        assert!(serde_json::from_value::<Nickname>(json!("")).is_err());
        assert!(serde_json::from_value::<ChatText>(json!("")).is_err());
    }
}
