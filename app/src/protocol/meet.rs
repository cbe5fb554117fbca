//! `/meet`: rooms of up to four people for a video meeting. The server keeps who is in which
//! room and relays WebRTC signals between members of one room; the media go browser to
//! browser, one connection per pair (a full mesh). A namespace of its own, so the course's
//! `/signal` contract never sees it.

use serde::{Deserialize, Serialize};

use super::signal::SignalData;
use super::{PeerId, RawArgs, Rejection, RelayRules, Silent};

/// How many people a room holds: in a full mesh each sends its camera to every other.
pub const ROOM_CAPACITY: usize = 4;
const MAX_ROOM_CHARS: usize = 40;
const MAX_NAME_CHARS: usize = 32;

/// A room's name, as the URL carries it (`/meet?room=standup`): 1–40 letters, digits, `-` or
/// `_`, compared without case (kept in lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<RoomName, Rejection> {
        let raw = raw.trim();
        let fits = (1..=MAX_ROOM_CHARS).contains(&raw.chars().count())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if fits {
            Ok(RoomName(raw.to_ascii_lowercase()))
        } else {
            Err(Rejection::new(
                "A room's name has 1 to 40 letters, digits, - or _.",
            ))
        }
    }
}

validated_text!(RoomName);

/// What a member is called in the room: 1–32 characters, no control characters; not unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemberName(String);

impl MemberName {
    pub fn parse(raw: &str) -> Result<MemberName, Rejection> {
        let name = raw.trim();
        if !(1..=MAX_NAME_CHARS).contains(&name.chars().count())
            || name.chars().any(char::is_control)
        {
            return Err(Rejection::new(
                "A name has 1 to 32 characters (no control characters).",
            ));
        }
        Ok(MemberName(name.to_owned()))
    }
}

validated_text!(MemberName);

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: PeerId,
    pub name: MemberName,
}

/// What a member who just joined learns: its own id and who was there before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    pub room: RoomName,
    pub you: PeerId,
    pub members: Vec<Member>,
}

fn read_join(args: &RawArgs) -> Result<(RoomName, MemberName), Rejection> {
    let room = args
        .str(0)
        .ok_or_else(|| Rejection::new("join(room, name): the room's name first."))?;
    let name = args
        .str(1)
        .ok_or_else(|| Rejection::new("join(room, name): your name second."))?;
    Ok((RoomName::parse(&room)?, MemberName::parse(&name)?))
}

/// Largest relayed signal, in bytes of JSON (as on `/signal`).
pub(crate) const MAX_SIGNAL_BYTES: usize = 32 * 1024;

/// How a signal between members is checked.
const SIGNAL_RULES: RelayRules = RelayRules {
    what: "A signal",
    max_bytes: MAX_SIGNAL_BYTES,
    null_allowed: false,
    unknown_target: "That member is not in your room.",
};

events! {
    /// `/meet`.
    namespace Meet = "/meet";

    /// client → server: join a room (leaving the one it was in, if any).
    client Join = "join" (RoomName, MemberName), parsed by read_join, refused with MeetError;
    /// client → server: leave the room (no arguments; closing the page does the same).
    client Leave = "leave" Nothing, refused with Silent;
    /// client → server: a WebRTC signal for another member of the room: `signal`(peerId, data).
    relay SendSignal = "signal" (PeerId, Payload<SignalData>), checked by SIGNAL_RULES,
        refused with Silent,
        /// server → the member named: `signal`(senderId, data), the data untouched.
        delivered as Signal (from, data);

    /// server → a client: why it cannot join (the room is full, a bad name, ...).
    server MeetError = "meetError" (String);
    /// server → a client that joined: its room, as it is.
    server Joined = "room" (RoomView);
    /// server → the others in the room: someone joined.
    server MemberJoined = "joined" (Member);
    /// server → the others in the room: someone left (or its page closed).
    server MemberLeft = "left" (PeerId);

    /// client → server, where meetings go through the server's SFU (`SiteConfig::meet`):
    /// `media-offer`(sdp), the page's one offer for its one connection to the server, once
    /// seated. Later offers, both ways, go over that connection's data channel
    /// ([`ToSfu`], [`FromSfu`]).
    client MediaOffer = "media-offer" (SessionDescription), parsed by read_offer,
        refused with MeetError;
    /// server → that client: `media-answer`(sdp), the server's answer.
    server MediaAnswer = "media-answer" (SessionDescription);
}

/// Largest session description, in bytes (a browser's offer with simulcast is about 6 KB).
pub const MAX_SDP_BYTES: usize = 32 * 1024;

/// The text of an SDP offer or answer: not empty, at most [`MAX_SDP_BYTES`], starting `v=0`.
/// Only its length and first line are checked here; the server's WebRTC stack parses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionDescription(String);

impl SessionDescription {
    pub fn parse(raw: &str) -> Result<SessionDescription, Rejection> {
        if raw.len() > MAX_SDP_BYTES {
            return Err(Rejection::new("A session description has at most 32 KiB."));
        }
        if !raw.starts_with("v=0") {
            return Err(Rejection::new("A session description starts with v=0."));
        }
        Ok(SessionDescription(raw.to_owned()))
    }
}

validated_text!(SessionDescription);

fn read_offer(args: &RawArgs) -> Result<(SessionDescription,), Rejection> {
    let sdp = args
        .str(0)
        .ok_or_else(|| Rejection::new("media-offer(sdp): the offer's SDP text."))?;
    Ok((SessionDescription::parse(&sdp)?,))
}

/// Which of a camera's simulcast layers a page receives: the page sends each with the `rid`
/// named here (`l` a quarter, `m` half, `h` the full size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Low,
    Medium,
    High,
}

impl Layer {
    /// Lowest first.
    pub const ALL: [Layer; 3] = [Layer::Low, Layer::Medium, Layer::High];

    pub fn rid(self) -> &'static str {
        match self {
            Layer::Low => "l",
            Layer::Medium => "m",
            Layer::High => "h",
        }
    }

    pub fn from_rid(rid: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|layer| layer.rid() == rid)
    }

    /// How much smaller than the camera this layer is sent (`scaleResolutionDownBy`).
    pub fn scale_down_by(self) -> f64 {
        match self {
            Layer::Low => 4.0,
            Layer::Medium => 2.0,
            Layer::High => 1.0,
        }
    }
}

/// What a page sends the SFU over its data channel (label [`SFU_CHANNEL`]), as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ToSfu {
    /// A new offer (when the page adds or stops a screen share).
    Offer { sdp: String },
    /// The answer to the SFU's offer.
    Answer { sdp: String },
    /// The layer the page wants of a member's camera (its tile's size).
    Want { member: PeerId, layer: Layer },
    /// For the others: my state or a chat line, as members send each other in a mesh.
    Say { message: PeerMessage },
}

/// What the SFU sends a page over its data channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FromSfu {
    /// An offer: members' tracks came or went.
    Offer { sdp: String },
    /// The answer to the page's offer.
    Answer { sdp: String },
    /// What another member said (its state on connect and on every change, its chat).
    Said { from: PeerId, message: PeerMessage },
}

/// The label of the data channel between a page and the SFU.
pub const SFU_CHANNEL: &str = "sfu";

/// What members tell each other over their data channels (the server never sees it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PeerMessage {
    /// Whether my microphone and camera are on (sent on connect and on every change).
    State { muted: bool, camera_off: bool },
    /// A line of the room's text chat.
    Chat { text: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientEvent;
    use serde_json::json;

    #[test]
    fn rooms_and_names_are_checked() {
        assert_eq!(
            RoomName::parse(" StandUp-2 ").unwrap().as_str(),
            "standup-2"
        );
        for bad in ["", "a b", "x/y", "é", &"r".repeat(41)] {
            assert!(RoomName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(MemberName::parse(" Ada L. ").unwrap().as_str(), "Ada L.");
        for bad in ["", "   ", "a\u{7}b", &"n".repeat(33)] {
            assert!(MemberName::parse(bad).is_err(), "{bad:?}");
        }
        let args = RawArgs::from_values(&[json!("standup"), json!("Ada")]);
        assert!(Join::parse(&args).is_ok());
        let args = RawArgs::from_values(&[json!("standup")]);
        assert!(Join::parse(&args).is_err());
    }

    #[test]
    fn peer_messages_have_a_kind() {
        let state = PeerMessage::State {
            muted: true,
            camera_off: false,
        };
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            json!({"kind": "state", "muted": true, "camera_off": false})
        );
    }
}
