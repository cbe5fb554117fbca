//! `/cursors`: everyone's pointer position, broadcast to everyone ten times a second.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Event, RawArgs, Rejection};

pub const NAMESPACE: &str = "/cursors";

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

/// client → server: my pointer is here.
pub struct Move;
impl Event for Move {
    const NAME: &'static str = "update";
    type Args = (Position,);
}

/// server → everyone, every [`TICK_MS`]: all cursors.
pub struct Update;
impl Event for Update {
    const NAME: &'static str = "update";
    type Args = (CursorMap,);
}

/// Reads the position of an `update`: one object whose `x` and `y` are numbers in [0, 1].
pub fn parse_move(args: &RawArgs) -> Result<Position, Rejection> {
    let bad = || Rejection::new("An update needs one object {x, y} with numbers between 0 and 1.");
    let object = args.get(0).and_then(Value::as_object).ok_or_else(bad)?;
    let coordinate = |key: &str| object.get(key).and_then(Value::as_f64).ok_or_else(bad);
    Position::new(coordinate("x")?, coordinate("y")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Position, Rejection> {
        parse_move(&RawArgs(vec![v]))
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
        assert!(parse_move(&RawArgs(vec![])).is_err());
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
        let args: <Update as Event>::Args = (map,);
        assert_eq!(
            serde_json::to_value(args).unwrap(),
            json!([{"abc": {"id": "abc", "x": 0.5, "y": 0.25}}])
        );
    }
}
