//! What is on the board of `/draw`: the last [`BOARD_SEGMENTS`] segments, oldest first. One
//! node keeps them in memory and saves them in the data directory (`draw.json`) every few
//! seconds and on shutdown; a cluster keeps them in a capped list in Redis.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use app::protocol::draw::{Segment, BOARD_SEGMENTS};

use crate::cluster::{Cluster, PREFIX};
use crate::private;
use crate::sync::lock;

/// The board, in whichever store this server uses. Cheap to clone.
#[derive(Clone)]
pub enum Board {
    Local(Arc<LocalBoard>),
    Shared(Arc<Cluster>),
}

pub struct LocalBoard {
    path: PathBuf,
    state: Mutex<Drawn>,
}

struct Drawn {
    segments: VecDeque<Segment>,
    /// Changed since it was last saved.
    unsaved: bool,
}

fn shared_key() -> String {
    format!("{PREFIX}:draw:board")
}

impl Board {
    /// Single-node mode: the board saved in `data_dir`, as it was when the server stopped.
    pub fn open(data_dir: &Path) -> Board {
        let path = data_dir.join("draw.json");
        let segments = match std::fs::read(&path) {
            Ok(saved) => serde_json::from_slice::<VecDeque<Segment>>(&saved).unwrap_or_else(|error| {
                tracing::warn!(path = %path.display(), %error, "the saved board is unreadable; starting with an empty one");
                VecDeque::new()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => VecDeque::new(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "the saved board cannot be read; starting with an empty one");
                VecDeque::new()
            }
        };
        Board::Local(Arc::new(LocalBoard {
            path,
            state: Mutex::new(Drawn {
                segments,
                unsaved: false,
            }),
        }))
    }

    /// Cluster mode: one board for every node, in Redis.
    pub fn shared(cluster: &Arc<Cluster>) -> Board {
        Board::Shared(cluster.clone())
    }

    pub async fn add(&self, segment: &Segment) {
        match self {
            Board::Local(board) => {
                let mut drawn = lock(&board.state);
                if drawn.segments.len() == BOARD_SEGMENTS {
                    drawn.segments.pop_front();
                }
                drawn.segments.push_back(segment.clone());
                drawn.unsaved = true;
            }
            Board::Shared(cluster) => {
                let Ok(item) = serde_json::to_string(segment) else {
                    return;
                };
                let pushed = cluster.kv.push_capped(&shared_key(), &item, BOARD_SEGMENTS);
                if let Err(error) = cluster.request(pushed).await {
                    tracing::debug!(%error, "a segment was not added to the shared board");
                }
            }
        }
    }

    pub async fn clear(&self) {
        match self {
            Board::Local(board) => {
                let mut drawn = lock(&board.state);
                drawn.segments.clear();
                drawn.unsaved = true;
            }
            Board::Shared(cluster) => {
                if let Err(error) = cluster.request(cluster.kv.delete(&shared_key())).await {
                    tracing::warn!(%error, "the shared board could not be cleared");
                }
            }
        }
    }

    /// Everything on the board, oldest first.
    pub async fn segments(&self) -> Vec<Segment> {
        match self {
            Board::Local(board) => lock(&board.state).segments.iter().cloned().collect(),
            Board::Shared(cluster) => cluster.read_list(&shared_key(), "the shared board").await,
        }
    }

    /// Writes the board to its file if it changed (one node only; Redis keeps a cluster's).
    /// Blocks: call it off the runtime's threads.
    pub fn save(&self) {
        let Board::Local(board) = self else { return };
        // Copied under the lock, encoded outside it: segments keep coming meanwhile.
        let segments = {
            let mut drawn = lock(&board.state);
            if !drawn.unsaved {
                return;
            }
            drawn.unsaved = false;
            drawn.segments.clone()
        };
        let contents = serde_json::to_vec(&segments);
        // Written beside it and renamed: a crash mid-write leaves the previous board whole.
        let written = contents.map_err(std::io::Error::from).and_then(|contents| {
            let partial = board.path.with_extension("json.partial");
            private::write(&partial, &contents)?;
            std::fs::rename(&partial, &board.path)
        });
        if let Err(error) = written {
            lock(&board.state).unsaved = true;
            tracing::warn!(path = %board.path.display(), %error, "the board could not be saved");
        }
    }
}
