//! `/draw`: a shared whiteboard. It speaks the event of socket.io's own whiteboard example
//! (`drawing`({x0, y0, x1, y1, color}), coordinates as fractions of the canvas, passed on to
//! every other client) and adds a line width, a board that a late joiner gets, and `clear`.

use serde::{Deserialize, Serialize};

use super::{RawArgs, Rejection, Silent};

/// How many segments the board keeps; the oldest go first.
pub const BOARD_SEGMENTS: usize = 20_000;

/// The colours of the palette (the example's five, and white for rubbing out); any `#rrggbb`
/// is accepted too.
pub const PALETTE: &[&str] = &["black", "red", "green", "blue", "yellow", "white"];

/// The line widths one may draw with, in CSS pixels (the example draws 2).
pub const WIDTHS: &[u8] = &[2, 4, 8, 16];

/// A colour: a name of the [`PALETTE`] or `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour(String);

impl Colour {
    pub fn parse(raw: &str) -> Result<Colour, Rejection> {
        let hex = raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if hex || PALETTE.contains(&raw) {
            Ok(Colour(raw.to_ascii_lowercase()))
        } else {
            Err(Rejection::new(
                "A colour is one of the palette's names or #rrggbb.",
            ))
        }
    }
}

validated_text!(Colour);

/// One straight piece of a line, from (x0, y0) to (x1, y1), as fractions of the canvas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub color: Colour,
    /// One of [`WIDTHS`]; the example's clients send none and draw 2.
    #[serde(default = "thinnest")]
    pub width: u8,
}

fn thinnest() -> u8 {
    WIDTHS[0]
}

impl Segment {
    /// Reads a segment; anything but four finite numbers in [0, 1], a colour and a known
    /// width is refused.
    pub(crate) fn from_args(args: &RawArgs) -> Result<(Segment,), Rejection> {
        let segment: Segment = args
            .get(0)
            .ok_or_else(|| Rejection::new("A segment is {x0, y0, x1, y1, color}."))?;
        let inside = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if ![segment.x0, segment.y0, segment.x1, segment.y1]
            .into_iter()
            .all(inside)
        {
            return Err(Rejection::new(
                "A segment's coordinates are between 0 and 1.",
            ));
        }
        if !WIDTHS.contains(&segment.width) {
            return Err(Rejection::new("A line is 2, 4, 8 or 16 pixels wide."));
        }
        Ok((segment,))
    }
}

events! {
    /// `/draw`.
    namespace Draw = "/draw";

    /// client → server: a piece of line, for everyone else and the board.
    client Drawing = "drawing" (Segment), parsed by Segment::from_args, refused with Silent;
    /// client → server: empty the board, for everyone (no arguments; any are ignored).
    client Clear = "clear" Nothing, refused with Silent;

    /// server → every other client: a piece of line someone drew.
    server Drawn = "drawing" (Segment);
    /// server → a client that just connected: the board, oldest segment first.
    server Board = "board" (Vec<Segment>);
    /// server → every client: the board was emptied.
    server Cleared = "clear" Nothing;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientEvent;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Result<Segment, Rejection> {
        Drawing::parse(&RawArgs::from_values(&[v])).map(|(s,)| s)
    }

    #[test]
    fn the_examples_segments_are_read_with_the_thinnest_line() {
        let s = read(json!({"x0": 0.1, "y0": 0.2, "x1": 1, "y1": 0, "color": "red"})).unwrap();
        assert_eq!((s.x1, s.width, s.color.as_str()), (1.0, 2, "red"));
        let s = read(json!({"x0": 0, "y0": 0, "x1": 0, "y1": 0, "color": "#A0b1C2", "width": 16}));
        assert_eq!(s.unwrap().color.as_str(), "#a0b1c2");
    }

    #[test]
    fn anything_else_is_refused() {
        let ok = json!({"x0": 0.5, "y0": 0.5, "x1": 0.5, "y1": 0.5, "color": "black"});
        for (key, bad) in [
            ("x0", json!(1.01)),
            ("y1", json!(-0.1)),
            ("x1", json!("0.5")),
            ("color", json!("purple")),
            ("color", json!("#12345")),
            ("color", json!("url(x)")),
            ("width", json!(3)),
            ("width", json!(1000)),
        ] {
            let mut segment = ok.clone();
            segment[key] = bad.clone();
            assert!(read(segment).is_err(), "{key}: {bad}");
        }
        assert!(read(json!("x")).is_err());
        assert!(Drawing::parse(&RawArgs::default()).is_err());
        assert!(read(ok).is_ok());
    }
}
