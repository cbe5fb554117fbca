//! `/cursors`: everyone's pointer position, broadcast to everyone ten times a second.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{RawArgs, Rejection, Silent};

/// How often the server broadcasts every cursor, in milliseconds.
pub const TICK_MS: u64 = 100;

/// A point on the page as fractions of the viewport: `x` and `y` finite, in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

impl Position {
    /// Accepts finite coordinates in [0, 1]; anything else is refused, never clamped, so a
    /// bad update cannot move a cursor.
    pub fn new(x: f64, y: f64) -> Result<Self, Rejection> {
        let fits = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if fits(x) && fits(y) {
            Ok(Position { x, y })
        } else {
            Err(Rejection::new(
                "A cursor position needs x and y between 0 and 1.",
            ))
        }
    }

    /// Clamps a point into the page (for positions computed locally, e.g. from a pointer).
    pub fn clamped(x: f64, y: f64) -> Self {
        let clamp = |v: f64| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.5
            }
        };
        Position {
            x: clamp(x),
            y: clamp(y),
        }
    }
}

/// One client's cursor, as broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub id: String,
    pub x: f64,
    pub y: f64,
}

/// Every connected client's cursor, keyed by socket id.
pub type CursorMap = HashMap<String, Cursor>;

/// What a client may ask for when it connects (socket.io `auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorOptions {
    /// Receive [`DeltaEvent`]s (only what changed) instead of the full map every tick.
    #[serde(default)]
    pub compact: bool,
}

/// What changed since the previous tick, for clients in compact mode. The first one a client
/// gets after connecting lists everyone (a full snapshot). No change, no packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Cursors that moved (or arrived): `[id, x, y]`, coordinates rounded to 1/10 000.
    pub moved: Vec<(String, f64, f64)>,
    /// Ids of clients that left.
    pub left: Vec<String>,
}

impl Delta {
    /// A coordinate as compact mode sends it (a ten-thousandth of the page is well below a
    /// pixel on any screen).
    pub fn round(v: f64) -> f64 {
        (v * 10_000.0).round() / 10_000.0
    }

    pub fn is_empty(&self) -> bool {
        self.moved.is_empty() && self.left.is_empty()
    }

    /// Applies this delta to a map of cursors.
    pub fn apply(self, map: &mut CursorMap) {
        for id in self.left {
            map.remove(&id);
        }
        for (id, x, y) in self.moved {
            map.insert(id.clone(), Cursor { id, x, y });
        }
    }
}

events! {
    /// `/cursors`.
    namespace Cursors = "/cursors";

    /// client → server: my pointer is here. A bad position is ignored, as the seed's
    /// contract says: the stored one stays as it was.
    client Move = "update" (Position), parsed by parse_move, refused with Silent;

    /// server → everyone, every [`TICK_MS`]: all cursors.
    server Update = "update" (CursorMap);
    /// server → compact clients, on ticks when something changed.
    server DeltaEvent = "delta" (Delta);
}

/// One object whose `x` and `y` are numbers in [0, 1] (other fields are ignored).
fn parse_move(args: &RawArgs) -> Result<(Position,), Rejection> {
    #[derive(Deserialize)]
    struct Point {
        x: f64,
        y: f64,
    }
    let bad = || Rejection::new("An update needs one object {x, y} with numbers between 0 and 1.");
    // serde would also read a struct from an array: `[x, y]` is not the contract.
    let is_object = args.raw(0).is_some_and(|raw| raw.get().starts_with('{'));
    let point = args.get::<Point>(0).filter(|_| is_object).ok_or_else(bad)?;
    Ok((Position::new(point.x, point.y)?,))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientEvent, ServerEvent};
    use serde_json::{json, Value};

    fn parse(v: Value) -> Result<Position, Rejection> {
        Move::parse(&RawArgs::from_values(&[v])).map(|(p,)| p)
    }

    #[test]
    fn accepts_fractions_of_the_viewport() {
        assert_eq!(
            parse(json!({"x": 0.25, "y": 1})).unwrap(),
            Position { x: 0.25, y: 1.0 }
        );
        assert_eq!(
            parse(json!({"x": 0, "y": 0, "extra": "ignored"})).unwrap(),
            Position { x: 0.0, y: 0.0 }
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            json!(null),
            json!("0.5,0.5"),
            json!([0.5, 0.5]),
            json!([{"x": 0.5, "y": 0.5}]),
            json!({"x": "0.5", "y": 0.5}),
            json!({"x": 0.5}),
            json!({"x": -0.01, "y": 0.5}),
            json!({"x": 0.5, "y": 1.01}),
            json!({"x": {"x": 0.5}, "y": 0.5}),
            json!({"x": 2.5e9, "y": 0.5}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
        assert!(Move::parse(&RawArgs::default()).is_err());
        assert!(Position::new(f64::NAN, 0.5).is_err());
        assert!(Position::new(0.5, f64::INFINITY).is_err());
    }

    #[test]
    fn clamping_keeps_local_points_on_the_page() {
        assert_eq!(Position::clamped(-3.0, 2.0), Position { x: 0.0, y: 1.0 });
        assert_eq!(
            Position::clamped(f64::NAN, 0.3),
            Position { x: 0.5, y: 0.3 }
        );
    }

    #[test]
    fn deltas_are_compact_and_apply_to_a_map() {
        let delta = Delta {
            moved: vec![("a".into(), Delta::round(0.123456), 1.0)],
            left: vec!["b".into()],
        };
        assert_eq!(
            serde_json::to_string(&(delta.clone(),)).unwrap(),
            r#"[{"moved":[["a",0.1235,1.0]],"left":["b"]}]"#
        );
        let mut map = CursorMap::new();
        map.insert(
            "b".into(),
            Cursor {
                id: "b".into(),
                x: 0.0,
                y: 0.0,
            },
        );
        delta.apply(&mut map);
        assert_eq!(map.len(), 1);
        assert_eq!(
            map["a"],
            Cursor {
                id: "a".into(),
                x: 0.1235,
                y: 1.0
            }
        );
        assert!(Delta::default().is_empty());
    }

    #[test]
    fn the_broadcast_is_the_seed_map() {
        let mut map = CursorMap::new();
        map.insert(
            "abc".into(),
            Cursor {
                id: "abc".into(),
                x: 0.5,
                y: 0.25,
            },
        );
        let args: <Update as ServerEvent>::Args = (map,);
        assert_eq!(
            serde_json::to_value(args).unwrap(),
            json!([{"abc": {"id": "abc", "x": 0.5, "y": 0.25}}])
        );
    }
}
