//! Engine.IO v4 and Socket.IO v5 text packets, as they travel in WebSocket frames.
//!
//! Engine.IO: one frame is one packet, `<type digit><data>`.
//! Socket.IO (inside an Engine.IO `message`):
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]`, where the namespace is
//! written only when it is not `/`. Binary attachments are not supported by this client.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// What the server says when the Engine.IO session opens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub sid: String,
    /// How often the server pings, in milliseconds.
    pub ping_interval: u64,
    /// How long the server waits for our pong, in milliseconds.
    pub ping_timeout: u64,
    /// Largest packet the server accepts, in bytes.
    #[serde(default)]
    pub max_payload: u64,
}

/// An Engine.IO packet received from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum EnginePacket {
    Open(Handshake),
    Close,
    Ping,
    Pong,
    /// A Socket.IO packet, still encoded.
    Message(String),
    Upgrade,
    Noop,
}

/// The Engine.IO pong, our answer to every ping.
pub const ENGINE_PONG: &str = "3";

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("binary attachments are not supported")]
    Binary,
    #[error("malformed packet: {0}")]
    Malformed(String),
}

impl EnginePacket {
    pub fn decode(frame: &str) -> Result<Self, DecodeError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let data = chars.as_str();
        Ok(match kind {
            '0' => EnginePacket::Open(
                serde_json::from_str(data).map_err(|e| DecodeError::Malformed(e.to_string()))?,
            ),
            '1' => EnginePacket::Close,
            '2' => EnginePacket::Ping,
            '3' => EnginePacket::Pong,
            '4' => EnginePacket::Message(data.to_owned()),
            '5' => EnginePacket::Upgrade,
            '6' => EnginePacket::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

/// A Socket.IO packet for one namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// client → server: join the namespace (with optional auth);
    /// server → client: joined, with `{"sid": ..}`.
    Connect {
        nsp: String,
        data: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        event: String,
        /// The arguments: a JSON array, as text (decoded only by the handler that wants them).
        args: String,
        ack: Option<u64>,
    },
    Ack {
        nsp: String,
        id: u64,
        /// The acknowledgement's arguments: a JSON array, as text.
        args: String,
    },
    /// server → client: the namespace refused us, with a reason.
    ConnectError {
        nsp: String,
        message: String,
    },
}

impl Packet {
    pub fn nsp(&self) -> &str {
        match self {
            Packet::Connect { nsp, .. }
            | Packet::Disconnect { nsp }
            | Packet::Event { nsp, .. }
            | Packet::Ack { nsp, .. }
            | Packet::ConnectError { nsp, .. } => nsp,
        }
    }

    /// Encodes the packet as the text of an Engine.IO `message` (prefix `4` included).
    pub fn encode(&self) -> String {
        let (kind, nsp, ack, payload) = match self {
            Packet::Connect { nsp, data } => ('0', nsp, None, data.as_ref().map(Value::to_string)),
            Packet::Disconnect { nsp } => ('1', nsp, None, None),
            Packet::Event {
                nsp,
                event,
                args,
                ack,
            } => ('2', nsp, *ack, Some(with_event_name(event, args))),
            Packet::Ack { nsp, id, args } => ('3', nsp, Some(*id), Some(args.clone())),
            Packet::ConnectError { nsp, message } => (
                '4',
                nsp,
                None,
                Some(serde_json::json!({ "message": message }).to_string()),
            ),
        };
        let mut out =
            String::with_capacity(8 + nsp.len() + payload.as_ref().map_or(0, String::len));
        out.push('4');
        out.push(kind);
        if nsp != "/" {
            out.push_str(nsp);
            out.push(',');
        }
        if let Some(id) = ack {
            out.push_str(&id.to_string());
        }
        if let Some(payload) = payload {
            out.push_str(&payload);
        }
        out
    }

    /// Decodes the data of an Engine.IO `message` (without its `4` prefix).
    pub fn decode(data: &str) -> Result<Self, DecodeError> {
        let malformed = |what: &str| DecodeError::Malformed(what.to_owned());
        let mut rest = data;
        let kind = rest.chars().next().ok_or(DecodeError::Empty)?;
        rest = &rest[kind.len_utf8()..];
        if matches!(kind, '5' | '6') {
            return Err(DecodeError::Binary);
        }
        let nsp = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let nsp = rest[..end].to_owned();
            rest = rest.get(end + 1..).unwrap_or("");
            nsp
        } else {
            "/".to_owned()
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = if digits > 0 {
            Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|_| malformed("ack id"))?,
            )
        } else {
            None
        };
        rest = &rest[digits..];
        let json = |rest: &str| -> Result<Option<Value>, DecodeError> {
            if rest.is_empty() {
                return Ok(None);
            }
            serde_json::from_str(rest)
                .map(Some)
                .map_err(|e| DecodeError::Malformed(e.to_string()))
        };
        // Event and ack arguments stay text: the list is checked, its elements are not parsed.
        let list = |rest: &str| serde_json::from_str::<Vec<Box<RawValue>>>(rest).ok();
        match kind {
            '0' => Ok(Packet::Connect {
                nsp,
                data: json(rest)?,
            }),
            '1' => Ok(Packet::Disconnect { nsp }),
            '2' => {
                let list = list(rest).ok_or_else(|| malformed("event is not a list"))?;
                let (name, args) = list
                    .split_first()
                    .ok_or_else(|| malformed("event without a name"))?;
                let event = serde_json::from_str::<String>(name.get())
                    .map_err(|_| malformed("event name is not a string"))?;
                Ok(Packet::Event {
                    nsp,
                    event,
                    args: join_list(args),
                    ack,
                })
            }
            '3' => match (ack, list(rest)) {
                (Some(id), Some(args)) => Ok(Packet::Ack {
                    nsp,
                    id,
                    args: join_list(&args),
                }),
                _ => Err(malformed("ack without id or arguments")),
            },
            '4' => {
                let payload = json(rest)?;
                let message = match payload {
                    Some(Value::Object(map)) => map
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("refused")
                        .to_owned(),
                    Some(Value::String(message)) => message,
                    _ => "refused".to_owned(),
                };
                Ok(Packet::ConnectError { nsp, message })
            }
            other => Err(DecodeError::UnknownType(other)),
        }
    }
}

/// `["name", ...args]` from the name and the arguments' JSON array.
fn with_event_name(event: &str, args: &str) -> String {
    let name = Value::String(event.to_owned()).to_string();
    let inner = args
        .trim()
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or("");
    if inner.trim().is_empty() {
        format!("[{name}]")
    } else {
        format!("[{name},{inner}]")
    }
}

fn join_list(items: &[Box<RawValue>]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.get());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_open_handshake() {
        let frame = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let EnginePacket::Open(hs) = EnginePacket::decode(frame).unwrap() else {
            panic!()
        };
        assert_eq!(hs.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(
            (hs.ping_interval, hs.ping_timeout, hs.max_payload),
            (25000, 20000, 1_000_000)
        );
    }

    #[test]
    fn decodes_engine_control_packets() {
        assert_eq!(EnginePacket::decode("2").unwrap(), EnginePacket::Ping);
        assert_eq!(EnginePacket::decode("1").unwrap(), EnginePacket::Close);
        assert_eq!(EnginePacket::decode("6").unwrap(), EnginePacket::Noop);
        assert_eq!(
            EnginePacket::decode("42[\"a\"]").unwrap(),
            EnginePacket::Message("2[\"a\"]".into())
        );
        assert_eq!(EnginePacket::decode(""), Err(DecodeError::Empty));
        assert_eq!(
            EnginePacket::decode("9"),
            Err(DecodeError::UnknownType('9'))
        );
        assert!(EnginePacket::decode("0{not json").is_err());
    }

    #[test]
    fn encodes_like_the_official_client() {
        let connect = Packet::Connect {
            nsp: "/chat".into(),
            data: None,
        };
        assert_eq!(connect.encode(), "40/chat,");
        let auth = Packet::Connect {
            nsp: "/cursors".into(),
            data: Some(json!({"compact": true})),
        };
        assert_eq!(auth.encode(), r#"40/cursors,{"compact":true}"#);
        let root = Packet::Event {
            nsp: "/".into(),
            event: "hello".into(),
            args: "[1]".into(),
            ack: None,
        };
        assert_eq!(root.encode(), r#"42["hello",1]"#);
        let event = Packet::Event {
            nsp: "/chat".into(),
            event: "message".into(),
            args: r#"["hi"]"#.into(),
            ack: Some(12),
        };
        assert_eq!(event.encode(), r#"42/chat,12["message","hi"]"#);
        let bare = Packet::Event {
            nsp: "/chat".into(),
            event: "ping".into(),
            args: "[]".into(),
            ack: None,
        };
        assert_eq!(bare.encode(), r#"42/chat,["ping"]"#);
        let ack = Packet::Ack {
            nsp: "/chat".into(),
            id: 3,
            args: r#"[{"ok":true}]"#.into(),
        };
        assert_eq!(ack.encode(), r#"43/chat,3[{"ok":true}]"#);
    }

    #[test]
    fn decodes_what_socketioxide_sends() {
        assert_eq!(
            Packet::decode(r#"0/chat,{"sid":"abc"}"#).unwrap(),
            Packet::Connect {
                nsp: "/chat".into(),
                data: Some(json!({"sid": "abc"}))
            }
        );
        assert_eq!(
            Packet::decode(r#"2/chat,["message",{"id":"x","name":"Bo"},"hi"]"#).unwrap(),
            Packet::Event {
                nsp: "/chat".into(),
                event: "message".into(),
                args: r#"[{"id":"x","name":"Bo"},"hi"]"#.into(),
                ack: None,
            }
        );
        assert_eq!(
            Packet::decode(r#"2/remote,7["update",{"x":0.5}]"#).unwrap(),
            Packet::Event {
                nsp: "/remote".into(),
                event: "update".into(),
                args: r#"[{"x":0.5}]"#.into(),
                ack: Some(7)
            }
        );
        assert_eq!(
            Packet::decode(r#"3/chat,4["ok"]"#).unwrap(),
            Packet::Ack {
                nsp: "/chat".into(),
                id: 4,
                args: r#"["ok"]"#.into()
            }
        );
        assert_eq!(
            Packet::decode(r#"4/nope,{"message":"Invalid namespace"}"#).unwrap(),
            Packet::ConnectError {
                nsp: "/nope".into(),
                message: "Invalid namespace".into()
            }
        );
        assert_eq!(
            Packet::decode("1/chat,").unwrap(),
            Packet::Disconnect {
                nsp: "/chat".into()
            }
        );
        assert_eq!(Packet::decode("2[\"e\"]").unwrap().nsp(), "/");
    }

    #[test]
    fn round_trips_events_with_awkward_text() {
        let event = Packet::Event {
            nsp: "/chat".into(),
            event: "message".into(),
            args: json!(["12, \"quoted\" /slash, 🎉"]).to_string(),
            ack: None,
        };
        let encoded = event.encode();
        assert_eq!(Packet::decode(&encoded[1..]).unwrap(), event);
    }

    #[test]
    fn refuses_malformed_packets_without_panicking() {
        for bad in [
            "",
            "2",
            "2/chat,",
            "2/chat,{}",
            "2[1]",
            "2[]",
            "3/chat,[1]",
            "51-[\"x\",{}]",
            "9",
            "2[\"a\"",
            "0/chat,{",
            "é",
        ] {
            assert!(Packet::decode(bad).is_err(), "{bad:?} decoded");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("2[\"x\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        // The arguments stay text when the packet is decoded; reading them is what fails.
        match Packet::decode(&deep) {
            Ok(Packet::Event { args, .. }) => {
                assert!(serde_json::from_str::<Value>(&args).is_err())
            }
            other => assert!(other.is_err(), "{other:?}"),
        }
    }
}
