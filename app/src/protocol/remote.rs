//! `/remote`: a phone steers a desktop page. The server relays a controller's `update` to the
//! one socket it names, and to nobody else.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Payload, RelayRules, Silent};

/// Largest relayed data, in bytes of JSON: a control message is a few dozen.
pub(crate) const MAX_DATA_BYTES: usize = 4096;

/// How a controller's updates are checked.
const UPDATE_RULES: RelayRules = RelayRules {
    what: "An update",
    max_bytes: MAX_DATA_BYTES,
    null_allowed: false,
    unknown_target:
        "No desktop with this id is connected. Scan the code on the desktop page again.",
};

events! {
    /// `/remote`.
    namespace Remote = "/remote";

    /// client → server: deliver the data to the socket named first. Controllers that ask for
    /// an acknowledgement learn whether their desktop is there.
    relay SendUpdate = "update" (PeerId, Payload<Steer>), checked by UPDATE_RULES,
        refused with Silent,
        /// server → the target only: the data, unchanged. The server never looks inside it.
        delivered as Update (data);
}

/// What Switchboard's controller sends: where to steer, as fractions of its screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Steer {
    pub x: f64,
    pub y: f64,
    /// How the phone produced it: touch (or mouse) or tilt.
    #[serde(default)]
    pub source: SteerSource,
    /// Which player's paddle it steers in a game for two (the seed's controller sends none:
    /// player 1).
    #[serde(default)]
    pub player: Player,
}

/// One of the two players of the desktop's games.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "u8", from = "u8")]
pub enum Player {
    #[default]
    One,
    Two,
}

impl From<u8> for Player {
    /// 2 is player 2; anything else is player 1.
    fn from(n: u8) -> Player {
        if n == 2 {
            Player::Two
        } else {
            Player::One
        }
    }
}

impl From<Player> for u8 {
    fn from(player: Player) -> u8 {
        match player {
            Player::One => 1,
            Player::Two => 2,
        }
    }
}

impl Player {
    /// 0 or 1, for arrays of two.
    pub fn index(self) -> usize {
        usize::from(u8::from(self)) - 1
    }
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
    pub(crate) fn from_payload(data: &Payload<Steer>) -> Option<Steer> {
        Steer::from_value(&serde_json::from_str(data.json()).ok()?)
    }

    fn from_value(data: &Value) -> Option<Steer> {
        let number = |key| {
            data.get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
        };
        let source = match data.get("source").and_then(Value::as_str) {
            Some("tilt") => SteerSource::Tilt,
            _ => SteerSource::Touch,
        };
        let player = match data.get("player").and_then(Value::as_u64) {
            Some(2) => Player::Two,
            _ => Player::One,
        };
        Some(Steer {
            x: number("x")?.clamp(0.0, 1.0),
            y: number("y")?.clamp(0.0, 1.0),
            source,
            player,
        })
    }
}

/// The path of the controller page with which `player` steers the desktop whose socket id is
/// `id` (player 1's carries no player, as before there were two).
pub(crate) fn controller_path(id: &str, player: Player) -> String {
    let encoded: String = id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    match player {
        Player::One => format!("/remote/controller?id={encoded}"),
        Player::Two => format!("/remote/controller?id={encoded}&player=2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientEvent, PeerId, RawArgs};
    use serde_json::json;

    #[test]
    fn a_relay_names_one_target_and_carries_bounded_data() {
        let args = RawArgs::from_values(&[json!("abc"), json!({"x": 0.5, "y": 0.5})]);
        let (to, data) = SendUpdate::parse(&args).unwrap();
        assert_eq!((to.as_str(), data.json()), ("abc", r#"{"x":0.5,"y":0.5}"#));
        for bad in [
            vec![json!("abc"), json!(null)],
            vec![json!(["a", "b"]), json!({})],
            vec![json!("abc"), json!("y".repeat(MAX_DATA_BYTES))],
        ] {
            assert!(
                SendUpdate::parse(&RawArgs::from_values(&bad)).is_err(),
                "{bad:?}"
            );
        }
        let steer = Steer {
            x: 0.1,
            y: 0.2,
            source: SteerSource::Tilt,
            player: Player::Two,
        };
        let sent = (PeerId::parse("abc").unwrap(), Payload::new(&steer).unwrap());
        let read = SendUpdate::parse(&crate::protocol::as_received::<SendUpdate>(&sent)).unwrap();
        assert_eq!(
            Steer::from_payload(&read.1),
            Some(steer),
            "what a controller sends is read back"
        );
    }

    #[test]
    fn steering_is_read_leniently_and_clamped() {
        assert_eq!(
            Steer::from_value(&json!({"x": 0.2, "y": 0.9})),
            Some(Steer {
                x: 0.2,
                y: 0.9,
                source: SteerSource::Touch,
                player: Player::One,
            })
        );
        assert_eq!(
            Steer::from_value(&json!({"x": -1, "y": 3, "source": "tilt", "player": 2})),
            Some(Steer {
                x: 0.0,
                y: 1.0,
                source: SteerSource::Tilt,
                player: Player::Two,
            })
        );
        for other in [json!(3), json!("2"), json!(null)] {
            let steer = Steer::from_value(&json!({"x": 0, "y": 0, "player": other}));
            assert_eq!(steer.map(|s| s.player), Some(Player::One), "{other}");
        }
        assert_eq!(Steer::from_value(&json!({"x": "0.2", "y": 0.9})), None);
        let (_, list) =
            SendUpdate::parse(&RawArgs::from_values(&[json!("t"), json!([0.2, 0.9])])).unwrap();
        assert_eq!(
            Steer::from_payload(&list),
            None,
            "a list is relayed but steers nothing"
        );
        assert_eq!(Steer::from_value(&json!([0.2, 0.9])), None);
    }

    #[test]
    fn controller_paths_escape_the_id() {
        assert_eq!(
            controller_path("Ab-_9", Player::One),
            "/remote/controller?id=Ab-_9"
        );
        assert_eq!(
            controller_path("a b&c", Player::Two),
            "/remote/controller?id=a%20b%26c&player=2"
        );
    }
}
