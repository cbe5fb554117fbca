//! The wire contract of every socket.io app, shared by the server and the pages.
//!
//! Each app has one module with a [`Namespace`] type that owns its path and, per direction,
//! one marker type per event: [`ClientEvent`]s go from a page to the server and own the one
//! parser the server reads them with; [`ServerEvent`]s go from the server to pages. Both ends
//! send and receive only through these types, so an event name, an argument order, a
//! direction or a namespace cannot drift between them: a mismatch does not compile, with an
//! error that says why (the compile-fail tests in `server/tests/ui/pages/` and `ui/handlers/`
//! show each one).
//!
//! A page listens to its namespace's server events and emits its client events:
//! ```
//! # fn page(socket: app::typed::Socket<app::protocol::chat::Chat>) {
//! use app::protocol::chat::{ChatText, Message, SendMessage};
//! socket.on::<Message>(|(_sender, _text)| {});
//! let _ = socket.emit::<SendMessage>((ChatText::parse("hi").unwrap(), None));
//! # }
//! ```
//!
//! # Declaring a namespace: `events!`
//!
//! Every namespace and all of its events are declared in one `events!` block, the only place
//! an event exists: reading it tells the namespace's path and, for each event, its direction,
//! its name on the wire, its arguments in wire order, the parser the server reads it with,
//! how a refusal is answered, and what a relay checks. The first declaration is the
//! namespace, each other one an event (a relay two: what pages send, what the addressee
//! gets). In a protocol file each carries its doc comment; here plain comments explain:
//!
//! ```text
//! events! {
//!     /// `/meet`.
//!     namespace Meet = "/meet";
//!
//!     // pages → server: arguments, the one parser, how a refusal is answered.
//!     client Join = "join" (RoomName, MemberName), parsed by read_join, refused with MeetError;
//!     // pages → server, no arguments (any sent are ignored).
//!     client Leave = "leave" Nothing, refused with Silent;
//!     // pages → server → the one socket named first: the payload is never parsed;
//!     // `checked by` gives the RelayRules (what, max_bytes, null_allowed, unknown_target).
//!     relay SendSignal = "signal" (PeerId, Payload<SignalData>), checked by SIGNAL_RULES,
//!         refused with Silent,
//!         // the server event the addressee gets, under the same name, and its arguments
//!         // taken from `to` (the addressee), `data` (the payload) and `from` (the sender).
//!         delivered as Signal (from, data);
//!
//!     // server → pages: arguments in wire order, or `Nothing`.
//!     server MeetError = "meetError" (String);
//! }
//! ```
//!
//! - `client Name = "wire" (Arg, ...), parsed by f, refused with R;` — a [`ClientEvent`]:
//!   `f(&RawArgs) -> Result<(Arg, ...), Rejection>` is its one parser; `R` is an error event
//!   of the namespace taking `(String)`, or [`Silent`].
//! - `client Name = "wire" Nothing, refused with R;` — a [`ClientEvent`] without arguments
//!   ([`Nothing`]); whatever a client sends with it is ignored.
//! - `relay Name = "wire" (PeerId, Payload<T>), checked by RULES, refused with R,
//!   delivered as Delivered (to | data | from, ...);` — a [`RelayEvent`] (parsed by
//!   [`relay::parse_relay`] with its [`RelayRules`]) and the [`ServerEvent`] `Delivered`
//!   the addressee receives, of the same name, with the listed arguments.
//! - `server Name = "wire" (Arg, ...);` or `server Name = "wire" Nothing;` — a
//!   [`ServerEvent`].
//!
//! One argument is a 1-tuple on both ends (`(String)` declares `Args = (String,)`).

/// Declares a namespace and every one of its events (see the module documentation).
///
/// Each impl is `do_not_recommend`: an event used in the wrong direction is then reported
/// with the trait's own message alone, not followed by a list of other events.
macro_rules! events {
    ($(#[$doc:meta])* namespace $ns:ident = $path:literal; $($events:tt)*) => {
        $(#[$doc])*
        pub struct $ns;
        impl $crate::protocol::Namespace for $ns {
            const PATH: &'static str = $path;
        }
        events!(@in $ns; $($events)*);
    };

    (@in $ns:ident;) => {};

    (@in $ns:ident; $(#[$doc:meta])* client $name:ident = $wire:literal ($($arg:ty),* $(,)?),
        parsed by $parse:path, refused with $refusal:ty; $($rest:tt)*) => {
        events!(@event $ns, $name, $wire, $(#[$doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ClientEvent for $name {
            type Args = ($($arg,)*);
            type Refusal = $refusal;
            fn parse(
                args: &$crate::protocol::RawArgs,
            ) -> Result<Self::Args, $crate::protocol::Rejection> {
                $parse(args)
            }
        }
        events!(@in $ns; $($rest)*);
    };

    (@in $ns:ident; $(#[$doc:meta])* client $name:ident = $wire:literal Nothing,
        refused with $refusal:ty; $($rest:tt)*) => {
        events!(@event $ns, $name, $wire, $(#[$doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ClientEvent for $name {
            type Args = $crate::protocol::Nothing;
            type Refusal = $refusal;
            fn parse(
                _: &$crate::protocol::RawArgs,
            ) -> Result<$crate::protocol::Nothing, $crate::protocol::Rejection> {
                Ok($crate::protocol::Nothing)
            }
        }
        events!(@in $ns; $($rest)*);
    };

    (@in $ns:ident; $(#[$doc:meta])* relay $name:ident = $wire:literal
        (PeerId, Payload<$data:ty>), checked by $rules:expr, refused with $refusal:ty,
        $(#[$delivered_doc:meta])* delivered as $delivered:ident ($($field:ident),* $(,)?);
        $($rest:tt)*) => {
        events!(@event $ns, $name, $wire, $(#[$doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ClientEvent for $name {
            type Args = ($crate::protocol::PeerId, $crate::protocol::Payload<$data>);
            type Refusal = $refusal;
            fn parse(
                args: &$crate::protocol::RawArgs,
            ) -> Result<Self::Args, $crate::protocol::Rejection> {
                $crate::protocol::relay::parse_relay(
                    args,
                    &<Self as $crate::protocol::RelayEvent>::RULES,
                )
            }
        }
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::RelayEvent for $name {
            type Data = $data;
            type Delivered = $delivered;
            const RULES: $crate::protocol::RelayRules = $rules;
            #[allow(unused_variables)]
            fn delivered(
                to: $crate::protocol::PeerId,
                data: $crate::protocol::Payload<$data>,
                from: $crate::protocol::PeerId,
            ) -> ($(relay_arg!(type $field, $data),)*) {
                ($(relay_arg!($field, to, data, from),)*)
            }
        }
        events!(@event $ns, $delivered, $wire, $(#[$delivered_doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ServerEvent for $delivered {
            type Args = ($(relay_arg!(type $field, $data),)*);
        }
        events!(@in $ns; $($rest)*);
    };

    (@in $ns:ident; $(#[$doc:meta])* server $name:ident = $wire:literal ($($arg:ty),* $(,)?);
        $($rest:tt)*) => {
        events!(@event $ns, $name, $wire, $(#[$doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ServerEvent for $name {
            type Args = ($($arg,)*);
        }
        events!(@in $ns; $($rest)*);
    };

    (@in $ns:ident; $(#[$doc:meta])* server $name:ident = $wire:literal Nothing; $($rest:tt)*) => {
        events!(@event $ns, $name, $wire, $(#[$doc])*);
        #[diagnostic::do_not_recommend]
        impl $crate::protocol::ServerEvent for $name {
            type Args = $crate::protocol::Nothing;
        }
        events!(@in $ns; $($rest)*);
    };

    // The marker type of one event, in either direction.
    (@event $ns:ident, $name:ident, $wire:literal, $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub struct $name;
        impl $crate::protocol::Event for $name {
            type Namespace = $ns;
            const NAME: &'static str = $wire;
        }
    };
}

/// One argument of a relay's delivered event, by name: `to` (the addressee's id), `data`
/// (the payload, untouched) or `from` (the sender's id, stamped by the server); with `type`,
/// its type.
macro_rules! relay_arg {
    (type to, $data:ty) => { $crate::protocol::PeerId };
    (type data, $data:ty) => { $crate::protocol::Payload<$data> };
    (type from, $data:ty) => { $crate::protocol::PeerId };
    (to, $to:ident, $payload:ident, $from:ident) => { $to };
    (data, $to:ident, $payload:ident, $from:ident) => { $payload };
    (from, $to:ident, $payload:ident, $from:ident) => { $from };
}

/// For a text newtype validated by its `parse(&str) -> Result<Self, Rejection>`: reading it
/// from the wire validates it, and it is written and shown as the text it holds.
macro_rules! validated_text {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = $crate::protocol::Rejection;
            fn try_from(raw: String) -> Result<Self, $crate::protocol::Rejection> {
                $name::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

pub mod call;
pub mod chat;
pub mod cursors;
pub mod draw;
pub mod meet;
pub mod relay;
pub mod remote;
pub mod signal;
pub mod simple_chat;
pub mod trades;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

pub use relay::{Payload, PeerId, RelayEvent, RelayRules};

/// A socket.io namespace of the server: one per app.
pub trait Namespace: 'static {
    /// Its path, e.g. `"/chat"`.
    const PATH: &'static str;
}

/// One socket.io event: the namespace it belongs to and its name on the wire.
pub trait Event: 'static {
    type Namespace: Namespace;
    /// The event name, e.g. `"message"`.
    const NAME: &'static str;
}

/// An event the server sends to pages.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event the server sends",
    label = "only a `server` event (or a relay's `delivered as`) goes from the server to pages",
    note = "a `client` or `relay` event goes the other way: pages emit it and the server listens to it"
)]
pub trait ServerEvent: Event {
    /// The arguments as a tuple in wire order; a single argument is a 1-tuple, so that an
    /// argument which is itself an array is never mistaken for several arguments.
    type Args: Serialize + DeserializeOwned;
}

/// An event pages send to the server. The server never trusts a client to send what the
/// contract says: it reads the raw arguments with [`ClientEvent::parse`], the one parser of
/// this event, into the same `Args` a page emits.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event pages send",
    label = "only a `client` or `relay` event goes from pages to the server",
    note = "a `server` event goes the other way: the server sends it and pages listen to it"
)]
pub trait ClientEvent: Event {
    /// The arguments as a tuple in wire order, as domain types (`Nickname`, `Position`, ...).
    type Args: Serialize;
    /// How a refused event is answered besides its acknowledgement: an error event of the
    /// namespace carrying the reason, or [`Silent`].
    type Refusal: Refusal<Self::Namespace>;
    /// Reads what a client sent, or says in a sentence why it cannot be accepted.
    fn parse(args: &RawArgs) -> Result<Self::Args, Rejection>;
}

/// How a refused client event is answered.
pub trait Refusal<N> {
    /// The server event that carries the reason to the sender, if any.
    const EVENT: Option<&'static str>;
}

/// Refusals that are only logged (and acknowledged, when the client asked for a receipt).
pub struct Silent;

impl<N> Refusal<N> for Silent {
    const EVENT: Option<&'static str> = None;
}

impl<N: Namespace, E: ServerEvent<Namespace = N, Args = (String,)>> Refusal<N> for E {
    const EVENT: Option<&'static str> = Some(E::NAME);
}

/// The arguments of an incoming event exactly as the client sent them, in order, as JSON
/// text: nothing is built from them until a parser asks for one, and what is only relayed is
/// never parsed at all.
#[derive(Debug, Default)]
pub struct RawArgs(pub Vec<Box<RawValue>>);

impl RawArgs {
    /// Arguments from JSON values (the parsers' tests).
    #[cfg(test)]
    pub(crate) fn from_values(values: &[serde_json::Value]) -> RawArgs {
        RawArgs(
            values
                .iter()
                .filter_map(|v| serde_json::value::to_raw_value(v).ok())
                .collect(),
        )
    }

    /// The argument at `index` as JSON text, or `None` when the client sent fewer.
    pub fn raw(&self, index: usize) -> Option<&RawValue> {
        self.0.get(index).map(|raw| &**raw)
    }

    /// The argument at `index` read as `T`; `None` when it is missing or of another shape.
    pub fn get<T: DeserializeOwned>(&self, index: usize) -> Option<T> {
        serde_json::from_str(self.raw(index)?.get()).ok()
    }

    /// The argument at `index` when it is a string.
    pub fn str(&self, index: usize) -> Option<String> {
        self.get::<String>(index)
    }

    /// Whether the argument at `index` is a JSON array.
    pub(crate) fn is_array(&self, index: usize) -> bool {
        self.raw(index)
            .is_some_and(|raw| raw.get().starts_with('['))
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

/// The arguments of an event that has none: an empty list on the wire (`()` would be
/// `null`, one argument).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nothing;

impl Serialize for Nothing {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        serializer.serialize_tuple(0)?.end()
    }
}

impl<'de> Deserialize<'de> for Nothing {
    /// Any list of arguments: there is nothing to read in them.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Nothing)
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

/// Encodes a client event's arguments as a server would receive them (for tests of parsers).
#[cfg(test)]
pub(crate) fn as_received<E: ClientEvent>(args: &E::Args) -> RawArgs {
    let list = serde_json::to_value(args).expect("arguments encode");
    RawArgs::from_values(list.as_array().expect("arguments are a tuple"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_args_keep_every_argument_in_order_as_text() {
        let args: RawArgs = serde_json::from_str(r#"["a", 1, {"b": null}]"#).unwrap();
        assert_eq!(args.0.len(), 3);
        assert_eq!(args.raw(2).unwrap().get(), r#"{"b": null}"#, "untouched");
        assert_eq!(args.str(0).as_deref(), Some("a"));
        assert_eq!(args.str(1), None);
        assert_eq!(args.get::<u8>(1), Some(1));
        assert!(args.raw(3).is_none());
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
