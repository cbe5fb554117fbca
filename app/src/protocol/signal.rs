//! `/signal`: the WebRTC signalling server. It keeps the list of connected clients and relays
//! offers, answers and ICE candidates between two of them, stamping each with the real
//! sender's id. It never looks inside what it relays.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Event, RawArgs, Rejection};

pub const NAMESPACE: &str = "/signal";

/// Largest relayed payload, in bytes of JSON: an SDP with its candidates fits several times.
pub const MAX_PAYLOAD_BYTES: usize = 32 * 1024;

/// Longest plausible socket id.
const MAX_ID_CHARS: usize = 64;

/// One connected client, as listed in `clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    pub id: String,
}

/// Every connected client, keyed by socket id.
pub type ClientMap = BTreeMap<String, PeerEntry>;

/// server → everyone, on every connect and disconnect.
pub struct Clients;
impl Event for Clients {
    const NAME: &'static str = "clients";
    type Args = (ClientMap,);
}

/// The relayed events each go client → server as `(peerId, payload)` and server → peer as
/// `(peerId, payload, senderId)`.
macro_rules! relayed_event {
    ($(#[$doc:meta])* $to_server:ident, $to_client:ident, $name:literal, $payload:ty) => {
        $(#[$doc])*
        pub struct $to_server;
        impl Event for $to_server {
            const NAME: &'static str = $name;
            type Args = (String, $payload);
        }
        /// The same event as the addressee receives it: `(your id, payload, sender id)`.
        pub struct $to_client;
        impl Event for $to_client {
            const NAME: &'static str = $name;
            type Args = (String, $payload, String);
        }
    };
}

relayed_event!(
    /// client → server: an SDP offer for `peerId` (the seed's raw flow).
    PeerOffer, PeerOfferFrom, "peerOffer", SessionDescription
);
relayed_event!(
    /// client → server: the SDP answer to an offer.
    PeerAnswer, PeerAnswerFrom, "peerAnswer", SessionDescription
);
relayed_event!(
    /// client → server: an ICE candidate (`null` when gathering is complete).
    PeerIce, PeerIceFrom, "peerIce", Option<IceCandidate>
);
relayed_event!(
    /// client → server: any signal of a [`crate::webrtc::Peer`] (the simple-peer flow).
    SignalEvent, SignalFrom, "signal", SignalData
);

/// Any relayed event `E` as the server sends it on: same name, `(peerId, payload, senderId)`,
/// the payload untouched.
pub struct Relayed<E>(std::marker::PhantomData<E>);
impl<E: Event> Event for Relayed<E> {
    const NAME: &'static str = E::NAME;
    type Args = (String, Value, String);
}

/// An SDP offer or answer, as `RTCSessionDescription.toJSON()` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// An ICE candidate, as `RTCIceCandidate.toJSON()` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// What a `Peer` sends through `signal`, in simple-peer's format, plus two call-control
/// messages of Switchboard's (`bye`, `busy`) that simple-peer peers simply ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SignalData {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: IceCandidate,
    },
    /// The sender hung up.
    Bye,
    /// The sender is in another call.
    Busy,
}

impl SignalData {
    pub fn description(&self) -> Option<SessionDescription> {
        match self {
            SignalData::Offer { sdp } => Some(SessionDescription {
                kind: SdpKind::Offer,
                sdp: sdp.clone(),
            }),
            SignalData::Answer { sdp } => Some(SessionDescription {
                kind: SdpKind::Answer,
                sdp: sdp.clone(),
            }),
            _ => None,
        }
    }
}

impl From<SessionDescription> for SignalData {
    fn from(description: SessionDescription) -> Self {
        match description.kind {
            SdpKind::Answer | SdpKind::Pranswer => SignalData::Answer {
                sdp: description.sdp,
            },
            SdpKind::Offer | SdpKind::Rollback => SignalData::Offer {
                sdp: description.sdp,
            },
        }
    }
}

/// Reads `(peerId, payload)`: one string id, and a present payload of bounded size (`null` is
/// allowed: it is how the seed says "no more candidates").
pub fn parse_relay(args: &RawArgs) -> Result<(String, Value), Rejection> {
    let target = match args.get(0) {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS => {
            id.clone()
        }
        Some(Value::Array(_)) => return Err(Rejection::new("Signal one peer id, not a list.")),
        _ => {
            return Err(Rejection::new(
                "A signal needs the peer's id (a string) first.",
            ))
        }
    };
    let payload = args
        .get(1)
        .cloned()
        .ok_or_else(|| Rejection::new("A signal needs a payload after the peer id."))?;
    let size = serde_json::to_vec(&payload).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_PAYLOAD_BYTES {
        return Err(Rejection::new(format!(
            "Signal payloads are limited to {MAX_PAYLOAD_BYTES} bytes of JSON."
        )));
    }
    Ok((target, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signals_have_simple_peers_shape() {
        let offer = SignalData::Offer { sdp: "v=0".into() };
        assert_eq!(
            serde_json::to_value(&offer).unwrap(),
            json!({"type": "offer", "sdp": "v=0"})
        );
        let candidate: SignalData = serde_json::from_value(json!({"type": "candidate",
            "candidate": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}))
        .unwrap();
        let SignalData::Candidate { candidate } = candidate else {
            panic!()
        };
        assert_eq!(candidate.sdp_m_line_index, Some(0));
        assert_eq!(
            serde_json::to_value(SignalData::Bye).unwrap(),
            json!({"type": "bye"})
        );
    }

    #[test]
    fn descriptions_round_trip_through_signals() {
        let answer = SessionDescription {
            kind: SdpKind::Answer,
            sdp: "v=0\r\n".into(),
        };
        assert_eq!(SignalData::from(answer.clone()).description(), Some(answer));
        assert_eq!(
            serde_json::to_value(SessionDescription {
                kind: SdpKind::Offer,
                sdp: "x".into()
            })
            .unwrap(),
            json!({"type": "offer", "sdp": "x"})
        );
    }

    #[test]
    fn a_relay_needs_one_peer_id_and_a_bounded_payload() {
        assert!(
            parse_relay(&RawArgs(vec![json!("abc"), json!(null)])).is_ok(),
            "null ends the candidates"
        );
        for bad in [
            vec![],
            vec![json!("abc")],
            vec![json!(["a", "b"]), json!({})],
            vec![json!(1), json!({})],
            vec![json!(""), json!({})],
            vec![json!("abc"), json!("x".repeat(MAX_PAYLOAD_BYTES))],
        ] {
            assert!(parse_relay(&RawArgs(bad.clone())).is_err(), "{bad:?}");
        }
        let sdp = "a=candidate:1 1 udp 2122260223 192.168.1.2 50000 typ host\r\n".repeat(100);
        assert!(
            parse_relay(&RawArgs(vec![
                json!("abc"),
                json!({"type": "offer", "sdp": sdp})
            ]))
            .is_ok(),
            "a large SDP fits"
        );
    }

    #[test]
    fn the_clients_map_has_the_seed_shape() {
        let mut map = ClientMap::new();
        map.insert("a".into(), PeerEntry { id: "a".into() });
        assert_eq!(
            serde_json::to_value((map,)).unwrap(),
            json!([{"a": {"id": "a"}}])
        );
    }
}
