//! What the `/chat` page shows in its log, kept apart from the page so it can be tested:
//! every message once (by its id), in order, across reconnects; and news about the room.

use std::collections::BTreeSet;

use crate::components::ChatLine;
use crate::protocol::chat::{HistoryEntry, Nickname};

/// What separates the replayed history from what follows.
pub const EARLIER: &str = "Earlier messages";

/// The log's lines and the ids of the messages among them.
#[derive(Debug, Default, Clone)]
pub struct Transcript {
    pub lines: Vec<ChatLine>,
    /// Ids of the messages shown.
    seen: BTreeSet<u64>,
    /// Where the messages missed while away go: the end of the log when the connection came
    /// back. (Messages said since then can arrive before the server's list of the missed.)
    resume_at: Option<usize>,
}

impl Transcript {
    /// The id of the newest message shown, for the server to send what came after it.
    pub fn last_seen(&self) -> Option<u64> {
        self.seen.last().copied()
    }

    /// A message, unless it is shown already.
    pub fn said(&mut self, from: &Nickname, text: String, id: Option<u64>, own: bool) {
        if let Some(id) = id {
            if !self.seen.insert(id) {
                return;
            }
        }
        self.lines
            .push(ChatLine::said(Some(from.to_string()), text, own));
    }

    /// News about the room ("Ada joined").
    pub fn news(&mut self, text: impl Into<String>) {
        self.lines.push(ChatLine::quiet(text));
    }

    /// The connection is back; the server will say what was missed.
    pub fn reconnected(&mut self) {
        self.resume_at = Some(self.lines.len());
    }

    /// The latest messages, replacing the log (a first name, or a long absence).
    pub fn history(&mut self, entries: Vec<HistoryEntry>, own: impl Fn(&Nickname) -> bool) {
        self.lines.clear();
        self.seen.clear();
        self.resume_at = None;
        if !entries.is_empty() {
            self.news(EARLIER);
        }
        for entry in entries {
            let own = own(&entry.sender.name);
            self.said(&entry.sender.name, entry.text.into(), entry.id, own);
        }
    }

    /// Exactly what was missed while away, put where the connection came back.
    pub fn missed(&mut self, entries: Vec<HistoryEntry>, own: impl Fn(&Nickname) -> bool) {
        let at = self
            .resume_at
            .take()
            .unwrap_or(self.lines.len())
            .min(self.lines.len());
        let mut new = Vec::new();
        for entry in entries {
            if entry.id.is_some_and(|id| !self.seen.insert(id)) {
                continue;
            }
            let own = own(&entry.sender.name);
            new.push(ChatLine::said(
                Some(entry.sender.name.to_string()),
                entry.text.into(),
                own,
            ));
        }
        self.lines.splice(at..at, new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::chat::{ChatText, Sender};

    fn ada() -> Nickname {
        Nickname::parse("Ada").unwrap()
    }

    fn entry(id: u64) -> HistoryEntry {
        HistoryEntry {
            sender: Sender {
                id: "s".into(),
                name: ada(),
            },
            text: ChatText::parse(&format!("m{id}")).unwrap(),
            at: 0,
            id: Some(id),
        }
    }

    fn texts(t: &Transcript) -> Vec<&str> {
        t.lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn each_message_shows_once_and_the_missed_go_where_the_gap_was() {
        let mut t = Transcript::default();
        t.history(vec![entry(1), entry(2)], |_| false);
        assert_eq!(texts(&t), [EARLIER, "m1", "m2"]);
        t.reconnected();
        // Said after the reconnect, before the server listed what was missed.
        t.said(&ada(), "m5".into(), Some(5), false);
        t.missed(vec![entry(3), entry(4), entry(5)], |_| false);
        assert_eq!(texts(&t), [EARLIER, "m1", "m2", "m3", "m4", "m5"]);
        t.said(&ada(), "m4".into(), Some(4), false);
        assert_eq!(t.lines.len(), 6, "a repeat is not shown");
        assert_eq!(t.last_seen(), Some(5));
    }

    #[test]
    fn a_long_absence_replaces_the_log_with_the_latest() {
        let mut t = Transcript::default();
        t.said(&ada(), "old".into(), Some(1), true);
        t.news("Bo joined");
        t.reconnected();
        t.history(vec![entry(7)], |name| *name == ada());
        assert_eq!(texts(&t), [EARLIER, "m7"]);
        assert!(t.lines[1].own);
        assert_eq!(t.last_seen(), Some(7));
        t.history(Vec::new(), |_| false);
        assert!(t.lines.is_empty(), "no separator above nothing");
    }
}
