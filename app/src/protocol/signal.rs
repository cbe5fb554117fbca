//! `/signal`: the WebRTC signalling server. It keeps the list of connected clients and relays
//! offers, answers and ICE candidates between two of them, stamping each with the real
//! sender's id. It never looks inside what it relays.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{RelayRules, Silent};

/// Largest relayed payload, in bytes of JSON: an SDP with its candidates fits several times.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 32 * 1024;

/// How every signalling relay is checked.
const RULES: RelayRules = RelayRules {
    what: "A signal",
    max_bytes: MAX_PAYLOAD_BYTES,
    // `null` is how the seed says "no more candidates".
    null_allowed: true,
    unknown_target: "That peer is not connected.",
};

/// One connected client, as listed in `clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    pub id: String,
}

/// Every connected client, keyed by socket id.
pub type ClientMap = BTreeMap<String, PeerEntry>;

// Each relay goes client → server as `(peerId, payload)` and server → the peer named as
// `(peerId, payload, senderId)`, the payload untouched.
events! {
    /// `/signal`, the WebRTC signalling server.
    namespace Signalling = "/signal";

    /// client → server: an SDP offer for `peerId` (the seed's raw flow).
    relay PeerOffer = "peerOffer" (PeerId, Payload<SessionDescription>), checked by RULES,
        refused with Silent,
        /// server → the peer named: an offer, `(your id, offer, sender id)`.
        delivered as PeerOfferFrom (to, data, from);
    /// client → server: the SDP answer to an offer.
    relay PeerAnswer = "peerAnswer" (PeerId, Payload<SessionDescription>), checked by RULES,
        refused with Silent,
        /// server → the peer named: an answer, `(your id, answer, sender id)`.
        delivered as PeerAnswerFrom (to, data, from);
    /// client → server: an ICE candidate (`null` when gathering is complete).
    relay PeerIce = "peerIce" (PeerId, Payload<Option<IceCandidate>>), checked by RULES,
        refused with Silent,
        /// server → the peer named: a candidate, `(your id, candidate, sender id)`.
        delivered as PeerIceFrom (to, data, from);
    /// client → server: any signal of a [`crate::webrtc::Peer`] (the simple-peer flow).
    relay SignalEvent = "signal" (PeerId, Payload<SignalData>), checked by RULES,
        refused with Silent,
        /// server → the peer named: a signal, `(your id, signal, sender id)`.
        delivered as SignalFrom (to, data, from);

    /// server → everyone, on every connect and disconnect.
    server Clients = "clients" (ClientMap);
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

/// What a `Peer` sends through `signal`, in simple-peer's format, plus Switchboard's `bye`
/// (on `/meet` and `/call`: "forget our connection, a new offer follows"), which simple-peer
/// peers simply ignore.
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
    /// The sender dropped its connection; a new one follows.
    Bye,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientEvent, Payload, PeerId, RawArgs};
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
    fn relays_take_null_and_large_sdps_but_not_more() {
        let relay = |args: Vec<serde_json::Value>| PeerIce::parse(&RawArgs::from_values(&args));
        assert!(
            relay(vec![json!("abc"), json!(null)]).is_ok(),
            "null ends the candidates"
        );
        assert!(relay(vec![json!("abc")]).is_err());
        assert!(relay(vec![json!("abc"), json!("x".repeat(MAX_PAYLOAD_BYTES))]).is_err());
        let sdp = "a=candidate:1 1 udp 2122260223 192.168.1.2 50000 typ host\r\n".repeat(100);
        let description = SessionDescription {
            kind: SdpKind::Offer,
            sdp,
        };
        let offer = (
            PeerId::parse("abc").unwrap(),
            Payload::new(&description).unwrap(),
        );
        let (to, read) =
            PeerOffer::parse(&crate::protocol::as_received::<PeerOffer>(&offer)).unwrap();
        assert_eq!(to, offer.0);
        assert_eq!(
            read.decode().unwrap(),
            description,
            "a large SDP fits, and arrives whole"
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
