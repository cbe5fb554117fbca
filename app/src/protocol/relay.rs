//! What `/remote`, `/signal` and `/meet` share: a client names another socket and the server
//! relays a payload to that one socket only, without looking inside it.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::{ClientEvent, RawArgs, Rejection, ServerEvent};

/// Longest plausible socket id (socketioxide's are 16 characters).
pub(crate) const MAX_ID_CHARS: usize = 64;

/// The id of another client, as a relay names it: 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerId(String);

impl PeerId {
    pub fn parse(raw: &str) -> Result<PeerId, Rejection> {
        if raw.is_empty() || raw.chars().count() > MAX_ID_CHARS {
            return Err(Rejection::new("A socket id has 1 to 64 characters."));
        }
        Ok(PeerId(raw.to_owned()))
    }

    /// The id of a socket the server itself assigned (always well formed).
    pub fn of_socket(id: impl ToString) -> PeerId {
        PeerId(id.to_string())
    }
}

validated_text!(PeerId);

/// Relayed data: the JSON a client sent, kept as text. The server passes it on untouched
/// (it is never parsed into a value tree); pages [`decode`](Payload::decode) it as the `T`
/// the contract says it carries, and must expect anything, as another client wrote it.
pub struct Payload<T> {
    json: Box<RawValue>,
    _carries: PhantomData<fn() -> T>,
}

impl<T> Payload<T> {
    fn from_raw(json: Box<RawValue>) -> Self {
        Payload {
            json,
            _carries: PhantomData,
        }
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl<T: Serialize> Payload<T> {
    pub fn new(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self::from_raw)
    }
}

impl<T: DeserializeOwned> Payload<T> {
    /// Reads the payload as what it should carry.
    pub fn decode(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json.get())
    }
}

impl<T> Clone for Payload<T> {
    fn clone(&self) -> Self {
        Payload::from_raw(self.json.clone())
    }
}

impl<T> std::fmt::Debug for Payload<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({})", self.json.get())
    }
}

impl<T> PartialEq for Payload<T> {
    fn eq(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

impl<T> Serialize for Payload<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Payload<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Payload::from_raw)
    }
}

/// A client event whose payload the server delivers to the one socket it names.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a relay",
    label = "only a `relay` event is delivered to the socket it names"
)]
pub trait RelayEvent: ClientEvent<Args = (PeerId, Payload<Self::Data>)> {
    /// What the payload carries.
    type Data;
    /// The event the addressee receives.
    type Delivered: ServerEvent<Namespace = Self::Namespace>;
    /// The relay's rules and wording.
    const RULES: RelayRules;
    /// The addressee's arguments, from the relayed arguments and the sender's id.
    fn delivered(
        to: PeerId,
        data: Payload<Self::Data>,
        from: PeerId,
    ) -> <Self::Delivered as ServerEvent>::Args;
}

/// How one namespace's relays are checked, and said when refused.
#[derive(Debug, Clone, Copy)]
pub struct RelayRules {
    /// "An update", "A signal": the start of every refusal.
    pub what: &'static str,
    /// The largest payload, in bytes of JSON.
    pub max_bytes: usize,
    /// Whether `null` is a payload (the seed's "no more ICE candidates") or missing data.
    pub null_allowed: bool,
    /// Said when the addressee is not connected.
    pub unknown_target: &'static str,
}

/// Reads `(targetId, payload)`: one string id and a present payload of bounded size.
pub fn parse_relay<T>(
    args: &RawArgs,
    rules: &RelayRules,
) -> Result<(PeerId, Payload<T>), Rejection> {
    let what = rules.what;
    let target = match args.str(0) {
        Some(id) => PeerId::parse(&id).map_err(|_| {
            Rejection::new(format!(
                "{what} names a socket id of 1 to {MAX_ID_CHARS} characters."
            ))
        })?,
        None if args.is_array(0) => {
            return Err(Rejection::new(format!(
                "{what} goes to one id, not a list."
            )))
        }
        None => {
            return Err(Rejection::new(format!(
                "{what} needs the target's id (a string) first."
            )))
        }
    };
    let payload = match args.raw(1) {
        Some(raw) if rules.null_allowed || raw.get() != "null" => raw,
        _ => {
            return Err(Rejection::new(format!(
                "{what} needs data after the target's id."
            )))
        }
    };
    if payload.get().len() > rules.max_bytes {
        return Err(Rejection::new(format!(
            "{what} carries at most {} bytes of JSON.",
            rules.max_bytes
        )));
    }
    Ok((target, Payload::from_raw(payload.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: RelayRules = RelayRules {
        what: "A test",
        max_bytes: 64,
        null_allowed: false,
        unknown_target: "Nobody.",
    };

    fn parse(
        args: Vec<serde_json::Value>,
        rules: &RelayRules,
    ) -> Result<(PeerId, Payload<()>), Rejection> {
        parse_relay(&RawArgs::from_values(&args), rules)
    }

    #[test]
    fn a_relay_needs_one_string_target_and_bounded_data() {
        let (to, data) = parse(vec![json!("abc"), json!({"x": 0.5})], &RULES).unwrap();
        assert_eq!(to.as_str(), "abc");
        assert_eq!(data.json(), r#"{"x":0.5}"#);
        for bad in [
            vec![],
            vec![json!("abc")],
            vec![json!("abc"), json!(null)],
            vec![json!(["a", "b"]), json!({})],
            vec![json!(42), json!({})],
            vec![json!(""), json!({})],
            vec![json!("x".repeat(65)), json!({})],
            vec![json!("abc"), json!("y".repeat(64))],
        ] {
            let refused = parse(bad.clone(), &RULES).unwrap_err();
            assert!(
                refused.0.starts_with("A test") && refused.0.ends_with('.'),
                "{bad:?}: {refused}"
            );
        }
        let lists = parse(vec![json!(["a"]), json!({})], &RULES).unwrap_err();
        assert!(lists.0.contains("not a list"), "{lists}");
    }

    #[test]
    fn null_is_data_where_the_rules_say_so() {
        let rules = RelayRules {
            null_allowed: true,
            ..RULES
        };
        assert_eq!(
            parse(vec![json!("a"), json!(null)], &rules)
                .unwrap()
                .1
                .json(),
            "null"
        );
    }

    #[test]
    fn payloads_pass_through_as_sent() {
        let args: RawArgs = serde_json::from_str(r#"["t", {"deep": {"er": [1, 2.50]}}]"#).unwrap();
        let (_, data) = parse_relay::<serde_json::Value>(&args, &RULES).unwrap();
        assert_eq!(
            data.json(),
            r#"{"deep": {"er": [1, 2.50]}}"#,
            "byte for byte"
        );
        assert_eq!(
            serde_json::to_string(&(data.clone(),)).unwrap(),
            r#"[{"deep": {"er": [1, 2.50]}}]"#
        );
        assert_eq!(data.decode().unwrap(), json!({"deep": {"er": [1, 2.5]}}));
    }
}
