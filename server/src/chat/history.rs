//! The last messages of `/chat`: one interface, two stores.
//!
//! Single-node mode: kept in memory for replay and written to SQLite by a background thread.
//! Whatever arrived within a few milliseconds is committed in one transaction, and only then
//! is each of its messages confirmed, so a message a client saw acknowledged survives even a
//! crash (SQLite's WAL file holds it once it is committed).
//!
//! Cluster mode: a list in Redis capped at [`HISTORY_LEN`], the same for every node; a message
//! is confirmed once Redis has it (how durable that is depends on Redis's persistence:
//! `appendonly yes` keeps it across a Redis restart).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use app::protocol::chat::{ChatText, HistoryEntry, Nickname, Sender, HISTORY_LEN};
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::sync::lock;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the chat history at {path}: {source}")]
pub struct HistoryError {
    path: String,
    source: rusqlite::Error,
}

/// The history, in whichever store this server uses. Cheap to clone.
#[derive(Clone)]
pub enum History {
    Local(SqliteHistory),
    Shared(SharedHistory),
}

impl History {
    /// The latest messages, oldest first.
    pub async fn recent(&self) -> Vec<HistoryEntry> {
        match self {
            History::Local(history) => history.recent(),
            History::Shared(history) => history.recent().await,
        }
    }

    /// Remembers a message; the returned future completes once it is stored for good.
    pub fn record(
        &self,
        entry: HistoryEntry,
    ) -> futures_util::future::BoxFuture<'static, Result<(), NotSaved>> {
        use futures_util::FutureExt;
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

/// The history in Redis, shared by every node of a cluster.
#[derive(Clone)]
pub struct SharedHistory {
    pub cluster: Arc<crate::cluster::Cluster>,
}

impl SharedHistory {
    fn key() -> String {
        format!("{}:chat:history", crate::cluster::PREFIX)
    }

    async fn recent(&self) -> Vec<HistoryEntry> {
        let cluster = &self.cluster;
        match cluster.request(cluster.kv.list(&Self::key())).await {
            Ok(items) => items
                .iter()
                .filter_map(|item| serde_json::from_str(item).ok())
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "the chat history could not be read");
                Vec::new()
            }
        }
    }

    fn record(
        &self,
        entry: HistoryEntry,
    ) -> futures_util::future::BoxFuture<'static, Result<(), NotSaved>> {
        use futures_util::FutureExt;
        let cluster = self.cluster.clone();
        async move {
            let item = serde_json::to_string(&entry).map_err(|_| NotSaved)?;
            cluster
                .request(cluster.kv.push_capped(&Self::key(), &item, HISTORY_LEN))
                .await
                .map_err(|_| NotSaved)
        }
        .boxed()
    }
}

/// The history in SQLite. Cheap to clone; clones share the history and its writer.
#[derive(Clone)]
pub struct SqliteHistory {
    /// The latest [`HISTORY_LEN`] messages, oldest first.
    recent: Arc<Mutex<VecDeque<HistoryEntry>>>,
    /// Feeds the writer thread, which owns the database connection.
    writer: mpsc::Sender<Command>,
}

enum Command {
    /// Answered once the entry is committed (or could not be).
    Append(HistoryEntry, oneshot::Sender<Result<(), ()>>),
    /// Answered once everything sent before it is on disk.
    Flush(oneshot::Sender<()>),
}

/// Why a message was not saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the message could not be saved")]
pub struct NotSaved;

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
        let recent = load_latest(&db).map_err(error)?;
        let (writer, commands) = mpsc::channel();
        std::thread::Builder::new()
            .name("chat-history".into())
            .spawn(move || write_loop(db, commands))
            .map_err(|e| error(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        Ok(SqliteHistory {
            recent: Arc::new(Mutex::new(recent)),
            writer,
        })
    }

    /// The latest messages, oldest first.
    pub fn recent(&self) -> Vec<HistoryEntry> {
        self.lock().iter().cloned().collect()
    }

    /// Remembers a message: replayed from now on, and written to disk in the background.
    /// The returned future completes once it is committed.
    pub fn record(
        &self,
        entry: HistoryEntry,
    ) -> impl std::future::Future<Output = Result<(), NotSaved>> + Send + 'static {
        {
            let mut recent = self.lock();
            if recent.len() == HISTORY_LEN {
                recent.pop_front();
            }
            recent.push_back(entry.clone());
        }
        let (committed, outcome) = oneshot::channel();
        if self.writer.send(Command::Append(entry, committed)).is_err() {
            tracing::error!("the chat history writer has stopped; a message was not saved");
        }
        async move { outcome.await.unwrap_or(Err(())).map_err(|()| NotSaved) }
    }

    /// Waits until every recorded message is on disk.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.writer.send(Command::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<HistoryEntry>> {
        lock(&self.recent)
    }
}

fn load_latest(db: &Connection) -> rusqlite::Result<VecDeque<HistoryEntry>> {
    let mut query = db.prepare(
        "SELECT sender_id, sender_name, text, at FROM
           (SELECT * FROM messages ORDER BY id DESC LIMIT ?1) ORDER BY id ASC",
    )?;
    let rows = query.query_map([HISTORY_LEN as i64], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut entries = VecDeque::with_capacity(HISTORY_LEN);
    for row in rows {
        let (id, name, text, at) = row?;
        // Rows that no longer pass today's rules are skipped rather than replayed.
        match (Nickname::parse(&name), ChatText::parse(&text)) {
            (Ok(name), Ok(text)) => entries.push_back(HistoryEntry {
                sender: Sender { id, name },
                text,
                at,
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
            "INSERT INTO messages (sender_id, sender_name, text, at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for entry in entries {
            insert.execute(params![
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

    fn entry(n: usize) -> HistoryEntry {
        HistoryEntry {
            sender: Sender {
                id: format!("sid{n}"),
                name: Nickname::parse("Ada").unwrap(),
            },
            text: ChatText::parse(&format!("message {n}")).unwrap(),
            at: n as i64,
        }
    }

    #[tokio::test]
    async fn keeps_the_latest_fifty_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        let history = SqliteHistory::open(&path).unwrap();
        for n in 0..60 {
            let _committed_later = history.record(entry(n));
        }
        assert_eq!(history.recent().len(), HISTORY_LEN);
        assert_eq!(history.recent()[0], entry(10));
        history.flush().await;
        drop(history);

        let reopened = SqliteHistory::open(&path).unwrap();
        let texts: Vec<_> = reopened
            .recent()
            .into_iter()
            .map(|e| e.text.as_str().to_owned())
            .collect();
        assert_eq!(texts.len(), HISTORY_LEN);
        assert_eq!(texts.first().unwrap(), "message 10");
        assert_eq!(texts.last().unwrap(), "message 59");
    }

    #[tokio::test]
    async fn a_recorded_message_is_confirmed_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        let history = SqliteHistory::open(&path).unwrap();
        history.record(entry(1)).await.unwrap();
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
        history.record(entry(1)).await.unwrap();
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
