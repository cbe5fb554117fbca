//! The history of a single node: kept in memory for replay and written to SQLite by a
//! background thread. Whatever arrived within a few milliseconds is committed in one
//! transaction, and only then is each of its messages confirmed, so a message a client saw
//! acknowledged survives even a crash (SQLite's WAL file holds it once it is committed).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use app::protocol::chat::{ChatText, HistoryEntry, Nickname, Sender, HISTORY_LEN};
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::resume::{missed, window_start_ms, NotSaved, RESUME_CAP, SENT_FOR};
use crate::sync::lock;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the chat history at {path}: {source}")]
pub struct HistoryError {
    path: String,
    source: rusqlite::Error,
}

/// Cheap to clone; clones share the history and its writer.
#[derive(Clone)]
pub struct SqliteHistory {
    inner: Arc<Inner>,
}

struct Inner {
    /// The latest messages (up to [`RESUME_CAP`]), oldest first: the last [`HISTORY_LEN`] are
    /// replayed, those of the last two minutes serve a resume.
    kept: Mutex<VecDeque<HistoryEntry>>,
    /// The id of the last message given one.
    last_id: AtomicU64,
    /// Message ids senders chose, and when they were first seen.
    sent: Mutex<HashMap<String, Instant>>,
    /// Feeds the writer thread, which owns the database connection.
    writer: mpsc::Sender<Command>,
}

enum Command {
    /// Answered once the entry is committed (or could not be).
    Append(HistoryEntry, oneshot::Sender<Result<(), ()>>),
    /// Answered once everything sent before it is on disk.
    Flush(oneshot::Sender<()>),
}

impl SqliteHistory {
    /// Opens (or creates) the database at `path` and loads its latest messages.
    pub fn open(path: &Path) -> Result<SqliteHistory, HistoryError> {
        let error = |source| HistoryError {
            path: path.display().to_string(),
            source,
        };
        // SQLite gives its -wal and -shm files the mode of the database file.
        crate::private::touch(path)
            .map_err(|e| error(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let db = Connection::open(path).map_err(error)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY,
                 sender_id TEXT NOT NULL,
                 sender_name TEXT NOT NULL,
                 text TEXT NOT NULL,
                 at INTEGER NOT NULL
             );",
        )
        .map_err(error)?;
        let kept = load_latest(&db).map_err(error)?;
        let last_id: i64 = db
            .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |row| {
                row.get(0)
            })
            .map_err(error)?;
        let last_id = u64::try_from(last_id).unwrap_or(0);
        let (writer, commands) = mpsc::channel();
        std::thread::Builder::new()
            .name("chat-history".into())
            .spawn(move || write_loop(db, commands))
            .map_err(|e| error(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        Ok(SqliteHistory {
            inner: Arc::new(Inner {
                kept: Mutex::new(kept),
                last_id: AtomicU64::new(last_id),
                sent: Mutex::default(),
                writer,
            }),
        })
    }

    pub fn next_id(&self) -> u64 {
        self.inner.last_id.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The latest messages, oldest first.
    pub fn recent(&self) -> Vec<HistoryEntry> {
        let kept = lock(&self.inner.kept);
        kept.iter()
            .skip(kept.len().saturating_sub(HISTORY_LEN))
            .cloned()
            .collect()
    }

    pub fn since(&self, last_seen: u64) -> Option<Vec<HistoryEntry>> {
        let from = window_start_ms();
        let kept: Vec<HistoryEntry> = lock(&self.inner.kept)
            .iter()
            .filter(|e| e.at >= from)
            .cloned()
            .collect();
        missed(&kept, last_seen, self.inner.last_id.load(Ordering::SeqCst))
    }

    pub fn first_time(&self, client_id: &str) -> bool {
        let mut sent = lock(&self.inner.sent);
        sent.retain(|_, at| at.elapsed() < SENT_FOR);
        sent.insert(client_id.to_owned(), Instant::now()).is_none()
    }

    /// Remembers a message: replayed from now on, and written to disk in the background.
    /// The returned future completes once it is committed.
    pub fn record(
        &self,
        entry: HistoryEntry,
    ) -> impl std::future::Future<Output = Result<(), NotSaved>> + Send + 'static {
        {
            let mut kept = lock(&self.inner.kept);
            if kept.len() == RESUME_CAP {
                kept.pop_front();
            }
            kept.push_back(entry.clone());
        }
        let (committed, outcome) = oneshot::channel();
        if self
            .inner
            .writer
            .send(Command::Append(entry, committed))
            .is_err()
        {
            tracing::error!("the chat history writer has stopped; a message was not saved");
        }
        async move { outcome.await.unwrap_or(Err(())).map_err(|()| NotSaved) }
    }

    /// Waits until every recorded message is on disk.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.inner.writer.send(Command::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

fn load_latest(db: &Connection) -> rusqlite::Result<VecDeque<HistoryEntry>> {
    let mut query = db.prepare(
        "SELECT id, sender_id, sender_name, text, at FROM
           (SELECT * FROM messages ORDER BY id DESC LIMIT ?1) ORDER BY id ASC",
    )?;
    let rows = query.query_map([HISTORY_LEN as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
        ))
    })?;
    let mut entries = VecDeque::with_capacity(HISTORY_LEN);
    for row in rows {
        let (id, sender, name, text, at) = row?;
        // Rows that no longer pass today's rules are skipped rather than replayed.
        match (Nickname::parse(&name), ChatText::parse(&text)) {
            (Ok(name), Ok(text)) => entries.push_back(HistoryEntry {
                sender: Sender { id: sender, name },
                text,
                at,
                id: u64::try_from(id).ok(),
            }),
            _ => tracing::warn!(name, "skipped an invalid stored message"),
        }
    }
    Ok(entries)
}

/// Writes whatever has queued up in one transaction, then trims the table.
fn write_loop(mut db: Connection, commands: mpsc::Receiver<Command>) {
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        batch.extend(commands.try_iter());
        let mut flushes = Vec::new();
        let mut confirmations = Vec::new();
        let entries: Vec<HistoryEntry> = batch
            .into_iter()
            .filter_map(|command| match command {
                Command::Append(entry, committed) => {
                    confirmations.push(committed);
                    Some(entry)
                }
                Command::Flush(done) => {
                    flushes.push(done);
                    None
                }
            })
            .collect();
        let outcome = if entries.is_empty() {
            Ok(())
        } else {
            write_batch(&mut db, &entries).map_err(|error| {
                tracing::error!(%error, lost = entries.len(), "cannot save chat messages");
            })
        };
        for committed in confirmations {
            let _ = committed.send(outcome);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn write_batch(db: &mut Connection, entries: &[HistoryEntry]) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO messages (id, sender_id, sender_name, text, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for entry in entries {
            insert.execute(params![
                entry.id.and_then(|id| i64::try_from(id).ok()),
                entry.sender.id,
                entry.sender.name.as_str(),
                entry.text.as_str(),
                entry.at
            ])?;
        }
        tx.execute(
            "DELETE FROM messages WHERE id <= (SELECT MAX(id) FROM messages) - ?1",
            [HISTORY_LEN as i64],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(history: &SqliteHistory, n: usize) -> HistoryEntry {
        HistoryEntry {
            sender: Sender {
                id: format!("sid{n}"),
                name: Nickname::parse("Ada").unwrap(),
            },
            text: ChatText::parse(&format!("message {n}")).unwrap(),
            at: window_start_ms() + 60_000,
            id: Some(history.next_id()),
        }
    }

    #[tokio::test]
    async fn keeps_the_latest_fifty_across_a_reopen_and_ids_go_on_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        let history = SqliteHistory::open(&path).unwrap();
        for n in 0..60 {
            let _committed_later = history.record(entry(&history, n));
        }
        assert_eq!(history.recent().len(), HISTORY_LEN);
        assert_eq!(history.recent()[0].text.as_str(), "message 10");
        history.flush().await;
        drop(history);

        let reopened = SqliteHistory::open(&path).unwrap();
        let recent = reopened.recent();
        assert_eq!(recent.len(), HISTORY_LEN);
        assert_eq!(recent.first().unwrap().text.as_str(), "message 10");
        assert_eq!(recent.last().unwrap().text.as_str(), "message 59");
        assert_eq!(recent.last().unwrap().id, Some(60));
        assert_eq!(reopened.next_id(), 61, "after a restart, ids carry on");
    }

    #[tokio::test]
    async fn a_resume_gets_exactly_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let history = SqliteHistory::open(&dir.path().join("chat.sqlite3")).unwrap();
        for n in 0..5 {
            history.record(entry(&history, n)).await.unwrap();
        }
        let ids: Vec<u64> = history
            .since(3)
            .unwrap()
            .iter()
            .map(|e| e.id.unwrap())
            .collect();
        assert_eq!(ids, [4, 5]);
        assert!(history.first_time("c1"));
        assert!(!history.first_time("c1"), "the same message again");
    }

    #[tokio::test]
    async fn a_recorded_message_is_confirmed_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        let history = SqliteHistory::open(&path).unwrap();
        history.record(entry(&history, 1)).await.unwrap();
        // Committed means readable by another connection at once, without a flush.
        let other = Connection::open(&path).unwrap();
        let stored: String = other
            .query_row("SELECT text FROM messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, "message 1");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_history_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let history = SqliteHistory::open(&path).unwrap();
        history.record(entry(&history, 1)).await.unwrap();
        for file in ["chat.sqlite3", "chat.sqlite3-wal"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn an_unreadable_path_is_a_clear_error() {
        let error = SqliteHistory::open(Path::new("/nonexistent-dir/x/chat.sqlite3"))
            .err()
            .unwrap();
        assert!(error
            .to_string()
            .contains("/nonexistent-dir/x/chat.sqlite3"));
    }
}
