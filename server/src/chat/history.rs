//! The messages of `/chat`: one interface, two stores (`sqlite.rs` on one node,
//! `shared_history.rs` in Redis for a cluster).
//!
//! Every message gets an increasing id before it is broadcast. The last `HISTORY_LEN` (50) are
//! replayed to whoever takes a name; those of the last two minutes also serve a client that
//! lost its connection for a moment and says which message it saw last: it gets exactly the
//! ones after it (`resume.rs`, which both stores use). A message is confirmed (acknowledged)
//! once stored for good.

use app::protocol::chat::HistoryEntry;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::resume::NotSaved;
pub use super::shared_history::SharedHistory;
pub use super::sqlite::{HistoryError, SqliteHistory};

/// The history, in whichever store this server uses. Cheap to clone.
#[derive(Clone)]
pub enum History {
    Local(SqliteHistory),
    Shared(SharedHistory),
}

impl History {
    /// The id the next message gets.
    pub async fn next_id(&self) -> Result<u64, NotSaved> {
        match self {
            History::Local(history) => Ok(history.next_id()),
            History::Shared(history) => history.next_id().await,
        }
    }

    /// The latest messages, oldest first.
    pub async fn recent(&self) -> Vec<HistoryEntry> {
        match self {
            History::Local(history) => history.recent(),
            History::Shared(history) => history.recent().await,
        }
    }

    /// Exactly the messages after `last_seen`, if this store still has all of them; `None`
    /// when some are gone (the client was away too long): it gets the latest instead.
    pub async fn since(&self, last_seen: u64) -> Option<Vec<HistoryEntry>> {
        match self {
            History::Local(history) => history.since(last_seen),
            History::Shared(history) => history.since(last_seen).await,
        }
    }

    /// Whether this is the first time a sender sends the message it calls `client_id`.
    pub async fn first_time(&self, client_id: &str) -> bool {
        match self {
            History::Local(history) => history.first_time(client_id),
            History::Shared(history) => history.first_time(client_id).await,
        }
    }

    /// Remembers a message (with its id); the returned future completes once it is stored
    /// for good.
    pub fn record(&self, entry: HistoryEntry) -> BoxFuture<'static, Result<(), NotSaved>> {
        match self {
            History::Local(history) => history.record(entry).boxed(),
            History::Shared(history) => history.record(entry),
        }
    }

    /// Waits until every recorded message is stored.
    pub async fn flush(&self) {
        if let History::Local(history) = self {
            history.flush().await;
        }
    }
}

/// The entry for clients without the additions.
pub fn course_form(entries: Vec<HistoryEntry>) -> Vec<HistoryEntry> {
    entries.into_iter().map(HistoryEntry::without_id).collect()
}
