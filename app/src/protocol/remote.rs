//! `/remote`: a phone steers a desktop page. The server relays a controller's `update` to the
//! one socket it names, and to nobody else.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Event, RawArgs, Rejection};

pub const NAMESPACE: &str = "/remote";

/// Largest relayed data, in bytes of JSON: a control message is a few dozen.
pub const MAX_DATA_BYTES: usize = 4096;

/// Longest plausible socket id.
const MAX_ID_CHARS: usize = 64;

/// client → server: deliver `data` to the socket `target`.
pub struct Relay;
impl Event for Relay {
    const NAME: &'static str = "update";
    type Args = (String, Steer);
}

/// server → the target only: the data, unchanged. The server never looks inside it.
pub struct Update;
impl Event for Update {
    const NAME: &'static str = "update";
    type Args = (Value,);
}

/// What Switchboard's controller sends: where to steer, as fractions of its screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Steer {
    pub x: f64,
    pub y: f64,
    /// How the phone produced it: touch (or mouse) or tilt.
    #[serde(default)]
    pub source: SteerSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SteerSource {
    #[default]
    Touch,
    Tilt,
}

impl Steer {
    /// Reads relayed data leniently: any object with finite numbers `x` and `y` (the seed's
    /// controller sends exactly `{x, y}`), clamped into [0, 1]. Anything else is `None`.
    pub fn from_value(data: &Value) -> Option<Steer> {
        let number = |key| {
            data.get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
        };
        let source = match data.get("source").and_then(Value::as_str) {
            Some("tilt") => SteerSource::Tilt,
            _ => SteerSource::Touch,
        };
        Some(Steer {
            x: number("x")?.clamp(0.0, 1.0),
            y: number("y")?.clamp(0.0, 1.0),
            source,
        })
    }
}

/// Reads `update(targetId, data)`: a single string id and a bounded, present JSON value.
pub fn parse_relay(args: &RawArgs) -> Result<(String, Value), Rejection> {
    let target = match args.get(0) {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS => {
            id.clone()
        }
        Some(Value::Array(_)) => {
            return Err(Rejection::new(
                "Send an update to one target id, not a list.",
            ))
        }
        _ => {
            return Err(Rejection::new(
                "An update needs the target's id (a string) first.",
            ))
        }
    };
    let data = match args.get(1) {
        None | Some(Value::Null) => {
            return Err(Rejection::new("An update needs data after the target id."))
        }
        Some(data) => data.clone(),
    };
    let size = serde_json::to_vec(&data).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_DATA_BYTES {
        return Err(Rejection::new(format!(
            "Update data is limited to {MAX_DATA_BYTES} bytes of JSON."
        )));
    }
    Ok((target, data))
}

/// The path of the controller page for the desktop whose socket id is `id`.
pub fn controller_path(id: &str) -> String {
    let encoded: String = id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("/remote/controller?id={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_relay_needs_one_string_target_and_data() {
        let ok = parse_relay(&RawArgs(vec![json!("abc"), json!({"x": 0.5, "y": 0.5})])).unwrap();
        assert_eq!(ok, ("abc".to_owned(), json!({"x": 0.5, "y": 0.5})));
        for bad in [
            vec![],
            vec![json!("abc")],
            vec![json!("abc"), json!(null)],
            vec![json!(["a", "b"]), json!({})],
            vec![json!(42), json!({})],
            vec![json!(""), json!({})],
            vec![json!("x".repeat(65)), json!({})],
            vec![json!("abc"), json!("y".repeat(MAX_DATA_BYTES))],
        ] {
            assert!(parse_relay(&RawArgs(bad.clone())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn any_json_data_is_relayed_as_is() {
        for data in [
            json!(1),
            json!("text"),
            json!([1, 2]),
            json!({"deep": {"er": true}}),
        ] {
            assert_eq!(
                parse_relay(&RawArgs(vec![json!("t"), data.clone()]))
                    .unwrap()
                    .1,
                data
            );
        }
    }

    #[test]
    fn steering_is_read_leniently_and_clamped() {
        assert_eq!(
            Steer::from_value(&json!({"x": 0.2, "y": 0.9})),
            Some(Steer {
                x: 0.2,
                y: 0.9,
                source: SteerSource::Touch
            })
        );
        assert_eq!(
            Steer::from_value(&json!({"x": -1, "y": 3, "source": "tilt"})),
            Some(Steer {
                x: 0.0,
                y: 1.0,
                source: SteerSource::Tilt
            })
        );
        assert_eq!(Steer::from_value(&json!({"x": "0.2", "y": 0.9})), None);
        assert_eq!(Steer::from_value(&json!([0.2, 0.9])), None);
    }

    #[test]
    fn controller_paths_escape_the_id() {
        assert_eq!(controller_path("Ab-_9"), "/remote/controller?id=Ab-_9");
        assert_eq!(controller_path("a b&c"), "/remote/controller?id=a%20b%26c");
    }
}
