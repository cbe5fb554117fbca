//! The wire contract of every socket.io app, shared by the server and the pages.
//!
//! Each app has one module naming its namespace and, per direction, one marker type per
//! event ([`Event`]). Both ends emit and handle events only through these types, so a
//! mismatch in an event name or argument order is a compile error, not a silent bug.

pub mod chat;
pub mod cursors;
pub mod remote;
pub mod signal;
pub mod simple_chat;
pub mod trades;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One socket.io event: its name on the wire and its arguments in wire order.
pub trait Event: 'static {
    /// The event name, e.g. `"message"`.
    const NAME: &'static str;
    /// The arguments as a tuple; a single argument is a 1-tuple, so that an argument which is
    /// itself an array is never mistaken for several arguments.
    type Args: Serialize + DeserializeOwned;
}

/// The arguments of an incoming event exactly as the client sent them, in order.
///
/// Servers must not trust a client to send what the contract says, so handlers take the raw
/// list and parse it into domain types themselves, answering with a readable reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RawArgs(pub Vec<Value>);

impl RawArgs {
    /// The argument at `index`, or `None` when the client sent fewer.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.0.get(index)
    }

    /// The argument at `index` when it is a string.
    pub fn str(&self, index: usize) -> Option<&str> {
        self.get(index).and_then(Value::as_str)
    }
}

impl<'de> Deserialize<'de> for RawArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = RawArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawArgs, A::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(8));
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(RawArgs(args))
            }
        }
        // Asking for a tuple (not a sequence) makes socket.io parsers hand over every argument
        // of the event instead of only the first one.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// The acknowledgement the server sends for an event that asked for one (socket.io acks are
/// optional: clients that send no ack id, like the seed's pages, get none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// True when the event was accepted and delivered.
    pub ok: bool,
    /// Why it was not, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Receipt {
    pub fn delivered() -> Self {
        Receipt {
            ok: true,
            error: None,
        }
    }

    pub fn refused(reason: &Rejection) -> Self {
        Receipt {
            ok: false,
            error: Some(reason.0.clone()),
        }
    }
}

/// Why an event from a client was refused, in words a person can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

impl Rejection {
    pub fn new(reason: impl Into<String>) -> Self {
        Rejection(reason.into())
    }
}

/// The namespaces the server serves; any other is refused with `connect_error`.
pub const NAMESPACES: &[&str] = &[
    simple_chat::NAMESPACE,
    chat::NAMESPACE,
    cursors::NAMESPACE,
    remote::NAMESPACE,
    signal::NAMESPACE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_args_keep_every_argument_in_order() {
        let args: RawArgs = serde_json::from_value(json!(["a", 1, {"b": null}])).unwrap();
        assert_eq!(args.0, vec![json!("a"), json!(1), json!({"b": null})]);
        assert_eq!(args.str(0), Some("a"));
        assert_eq!(args.str(1), None);
        assert_eq!(args.get(3), None);
    }

    #[test]
    fn one_tuple_args_encode_as_a_single_argument_list() {
        let encoded = serde_json::to_value(("only",)).unwrap();
        assert_eq!(encoded, json!(["only"]));
        let list = serde_json::to_value((vec![1, 2],)).unwrap();
        assert_eq!(
            list,
            json!([[1, 2]]),
            "an array argument stays one argument"
        );
    }
}
