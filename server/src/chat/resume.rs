//! What both history stores keep for clients that come back: how long and how many messages
//! they hold for them, and exactly which ones such a client missed.

use std::time::Duration;

use app::protocol::chat::HistoryEntry;

/// How long a client may be away and still get exactly what it missed.
pub const RESUME_WINDOW: Duration = Duration::from_secs(120);
/// At most this many messages are kept for that.
pub const RESUME_CAP: usize = 1000;
/// How long a sender's message id is remembered (against delivering a message twice).
pub const SENT_FOR: Duration = RESUME_WINDOW;

/// Why a message was not saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the message could not be saved")]
pub struct NotSaved;

/// The messages after `last_seen` among `kept` (oldest first, the last [`RESUME_WINDOW`]),
/// if none is missing: the next id after `last_seen` is there, or there is none yet.
pub fn missed(kept: &[HistoryEntry], last_seen: u64, newest: u64) -> Option<Vec<HistoryEntry>> {
    if last_seen > newest {
        return None;
    }
    let mut after: Vec<HistoryEntry> = kept
        .iter()
        .filter(|e| e.id.is_some_and(|id| id > last_seen))
        .cloned()
        .collect();
    // Two nodes may store their messages in the other order than their ids.
    after.sort_by_key(|e| e.id);
    let complete = match after.first() {
        Some(first) => first.id == Some(last_seen + 1),
        None => last_seen == newest,
    };
    complete.then_some(after)
}

/// Milliseconds since the epoch `RESUME_WINDOW` ago.
pub fn window_start_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now - RESUME_WINDOW.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::chat::{ChatText, Nickname, Sender};

    fn said(id: u64) -> HistoryEntry {
        HistoryEntry {
            sender: Sender {
                id: "s".into(),
                name: Nickname::parse("Ada").unwrap(),
            },
            text: ChatText::parse(&format!("m{id}")).unwrap(),
            at: 0,
            id: Some(id),
        }
    }

    #[test]
    fn what_was_missed_is_exact_or_nothing() {
        let kept: Vec<HistoryEntry> = [5, 6, 8, 7, 9].map(said).to_vec();
        let ids = |v: Option<Vec<HistoryEntry>>| {
            v.map(|v| v.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>())
        };
        assert_eq!(ids(missed(&kept, 6, 9)), Some(vec![7, 8, 9]));
        assert_eq!(ids(missed(&kept, 4, 9)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(ids(missed(&kept, 9, 9)), Some(vec![]), "nothing new");
        assert_eq!(
            missed(&kept, 2, 9),
            None,
            "3 and 4 are gone: the latest instead"
        );
        assert_eq!(missed(&kept, 12, 9), None, "from another history");
        assert_eq!(ids(missed(&[], 9, 9)), Some(vec![]));
    }
}
