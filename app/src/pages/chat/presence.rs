//! Who is in `/chat` and who is typing, as the page keeps them (tested without a browser).

use std::collections::BTreeMap;

use crate::protocol::chat::Nickname;

/// A typist the server has not mentioned for this long is taken to have stopped (the server
/// itself lets a state lapse after 5 s; this covers a lost "stopped").
pub const TYPING_SHOWN_MS: f64 = 6000.0;

/// The people in the room, sorted as the server sorts them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct People(pub Vec<Nickname>);

impl People {
    pub fn joined(&mut self, name: Nickname) {
        self.0.push(name);
        self.0.sort_by_key(Nickname::key);
    }

    pub fn renamed(&mut self, old: &Nickname, new: Nickname) {
        self.left(old);
        self.joined(new);
    }

    pub fn left(&mut self, name: &Nickname) {
        if let Some(at) = self.0.iter().position(|n| n == name) {
            self.0.remove(at);
        }
    }
}

/// Who is typing, with when the server last said so (ms).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Typists(BTreeMap<Nickname, f64>);

impl Typists {
    pub fn heard(&mut self, name: Nickname, typing: bool, now: f64) {
        if typing {
            self.0.insert(name, now);
        } else {
            self.0.remove(&name);
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Whether some typist has not been heard of for too long.
    pub fn has_lapsed(&self, now: f64) -> bool {
        self.0.values().any(|at| now - at >= TYPING_SHOWN_MS)
    }

    pub fn prune(&mut self, now: f64) {
        self.0.retain(|_, at| now - *at < TYPING_SHOWN_MS);
    }

    /// "Ada is typing…", "Ada and Bo are typing…", "Several people are typing…".
    pub fn describe(&self) -> Option<String> {
        let names: Vec<&Nickname> = self.0.keys().collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [one, two] => Some(format!("{one} and {two} are typing…")),
            _ => Some("Several people are typing…".into()),
        }
    }
}

/// When the page tells the server that its user is typing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Typer {
    /// When "started" was last sent, while typing.
    started_at: Option<f64>,
}

/// "Started" is sent again after this long, while keys are pressed.
pub const STARTED_EVERY_MS: f64 = 2000.0;
/// "Stopped" is sent after this long without a key.
pub const IDLE_MS: u32 = 3000;

impl Typer {
    /// The field changed; what to send, if anything.
    pub fn typed(&mut self, field_empty: bool, now: f64) -> Option<bool> {
        if field_empty {
            return self.stopped();
        }
        match self.started_at {
            Some(at) if now - at < STARTED_EVERY_MS => None,
            _ => {
                self.started_at = Some(now);
                Some(true)
            }
        }
    }

    /// The message went, or the user paused; what to send, if anything.
    pub fn stopped(&mut self) -> Option<bool> {
        self.started_at.take().map(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(raw: &str) -> Nickname {
        Nickname::parse(raw).unwrap()
    }

    #[test]
    fn the_list_follows_joins_renames_and_departures() {
        let mut people = People(vec![n("Bo")]);
        people.joined(n("Ada"));
        people.renamed(&n("Ada"), n("Ada L."));
        people.joined(n("Cy"));
        people.left(&n("Bo"));
        assert_eq!(people.0, [n("Ada L."), n("Cy")]);
    }

    #[test]
    fn typists_are_described_and_lapse() {
        let mut t = Typists::default();
        assert_eq!(t.describe(), None);
        t.heard(n("Ada"), true, 0.0);
        assert_eq!(t.describe().unwrap(), "Ada is typing…");
        t.heard(n("Bo"), true, 1000.0);
        assert_eq!(t.describe().unwrap(), "Ada and Bo are typing…");
        t.heard(n("Cy"), true, 1000.0);
        assert_eq!(t.describe().unwrap(), "Several people are typing…");
        t.heard(n("Cy"), false, 1500.0);
        assert!(!t.has_lapsed(5999.0));
        assert!(t.has_lapsed(6000.0));
        t.prune(6500.0);
        assert_eq!(t.describe().unwrap(), "Bo is typing…");
    }

    #[test]
    fn started_goes_at_most_every_two_seconds_and_stopped_once() {
        let mut typer = Typer::default();
        assert_eq!(typer.typed(false, 0.0), Some(true));
        assert_eq!(typer.typed(false, 1999.0), None);
        assert_eq!(typer.typed(false, 2000.0), Some(true));
        assert_eq!(typer.typed(true, 2100.0), Some(false), "the field emptied");
        assert_eq!(typer.typed(true, 2200.0), None);
        assert_eq!(typer.stopped(), None);
        assert_eq!(typer.typed(false, 2300.0), Some(true));
        assert_eq!(typer.stopped(), Some(false), "sent, or idle");
    }
}
