//! `/call`: a private video call between two people, by its own link. A call is a room of two
//! on the server, named by an id nobody can guess (the page that starts it draws 130 random
//! bits); signals go only to the other member of one's own call, and no list of the server's
//! other sockets ever reaches a call page. A namespace of its own: the course's `/signal`
//! keeps the course's contract (and its public list of clients).

use serde::{Deserialize, Serialize};

use super::chat::SessionKey;
use super::signal::SignalData;
use super::{PeerId, RawArgs, Rejection, RelayRules, Silent};

/// How many people a call holds.
pub const CALL_CAPACITY: usize = 2;
/// Characters of a call id a page draws: 26 of 32 symbols, 130 bits.
pub(crate) const NEW_ID_CHARS: usize = 26;
const MIN_ID_CHARS: usize = 16;
const MAX_ID_CHARS: usize = 64;

/// A call's id, as its link carries it (`/call?c=...`): 16–64 lower-case letters and digits
/// (upper case is read as lower case). Long enough that nobody finds a call by guessing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallId(String);

impl CallId {
    pub fn parse(raw: &str) -> Result<CallId, Rejection> {
        let raw = raw.trim();
        let fits = (MIN_ID_CHARS..=MAX_ID_CHARS).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        if fits {
            Ok(CallId(raw.to_ascii_lowercase()))
        } else {
            Err(Rejection::new(
                "A call's id has 16 to 64 letters and digits: check the link.",
            ))
        }
    }
}

validated_text!(CallId);

/// What a member who just joined learns: its own id and who is there already (nobody, or
/// the other person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    pub call: CallId,
    pub you: PeerId,
    pub others: Vec<PeerId>,
}

fn read_join(args: &RawArgs) -> Result<(CallId, Option<SessionKey>), Rejection> {
    let call = args
        .str(0)
        .ok_or_else(|| Rejection::new("join(callId, sessionKey?): the call's id first."))?;
    // A page's previous connection, with the same key, gives its place to this one (a reload
    // on a phone whose old connection the server has not noticed is gone yet).
    let session = match args.raw(1).map(|raw| raw.get()) {
        None | Some("null") => None,
        Some(_) => Some(SessionKey::parse(&args.str(1).unwrap_or_default())?),
    };
    Ok((CallId::parse(&call)?, session))
}

/// Largest relayed signal, in bytes of JSON (as on `/signal`).
pub(crate) const MAX_SIGNAL_BYTES: usize = 32 * 1024;

/// How a signal to the other member is checked.
const SIGNAL_RULES: RelayRules = RelayRules {
    what: "A signal",
    max_bytes: MAX_SIGNAL_BYTES,
    null_allowed: false,
    unknown_target: "That person is not in your call.",
};

events! {
    /// `/call`.
    namespace Call = "/call";

    /// client → server: join the call (one call per connection).
    client Join = "join" (CallId, Option<SessionKey>), parsed by read_join, refused with CallError;
    /// client → server: leave the call (no arguments; closing the page does the same).
    client Leave = "leave" Nothing, refused with Silent;
    /// client → server: a WebRTC signal for the other member: `signal`(peerId, data).
    /// Addressed to anyone else, it is dropped and the sender gets `callError`.
    relay SendSignal = "signal" (PeerId, Payload<SignalData>), checked by SIGNAL_RULES,
        refused with CallError,
        /// server → the other member: `signal`(senderId, data), the data untouched.
        delivered as Signal (from, data);

    /// server → a client: why it cannot join or signal (the call is full, a bad id, ...).
    server CallError = "callError" (String);
    /// server → a client that joined: the call, as it is.
    server Joined = "call" (CallView);
    /// server → the other member: someone joined.
    server MemberJoined = "joined" (PeerId);
    /// server → the other member: someone left (hung up, or its page closed).
    server MemberLeft = "left" (PeerId);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::protocol::ClientEvent;

    #[test]
    fn call_ids_are_long_and_plain() {
        let id = "k3v9q2m7x4b8n6c1z5r0t2w8y4";
        assert_eq!(CallId::parse(&id.to_uppercase()).unwrap().as_str(), id);
        for bad in [
            "",
            "short",
            "has space in it 12345",
            "ünïcödé-ünïcödé-ü",
            &"a".repeat(65),
        ] {
            assert!(CallId::parse(bad).is_err(), "{bad:?}");
        }
        let args = |v: Vec<serde_json::Value>| Join::parse(&RawArgs::from_values(&v));
        assert!(args(vec![json!(id)]).is_ok());
        assert!(args(vec![json!(id), json!(null)]).is_ok());
        assert!(args(vec![json!(id), json!("abcdefghijklmnop")])
            .unwrap()
            .1
            .is_some());
        for bad in [
            vec![],
            vec![json!(7)],
            vec![json!(id), json!("short")],
            vec![json!(id), json!(5)],
        ] {
            assert!(args(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
