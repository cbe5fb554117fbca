//! `/cursors`: everyone's pointer, broadcast to everyone every 100 ms.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use app::protocol::cursors::{
    parse_move, Cursor, CursorMap, Move, Position, Update, NAMESPACE, TICK_MS,
};
use app::protocol::{Event, RawArgs};
use socketioxide::extract::{Data, SocketRef, State};
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::SocketIo;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::events::{self, broadcast};

/// Where every connected client's cursor is. Cheap to clone; clones share the positions.
#[derive(Clone, Default)]
pub struct Cursors {
    positions: Arc<Mutex<HashMap<Sid, Position>>>,
}

impl Cursors {
    /// Places a newcomer at a random spot (as the seed does) and returns it.
    pub fn join(&self, sid: Sid) -> Position {
        let position = Position::clamped(random_unit(), random_unit());
        self.lock().insert(sid, position);
        position
    }

    /// Moves a connected client's cursor; unknown sockets are ignored.
    pub fn moved(&self, sid: Sid, position: Position) {
        if let Some(stored) = self.lock().get_mut(&sid) {
            *stored = position;
        }
    }

    pub fn leave(&self, sid: Sid) {
        self.lock().remove(&sid);
    }

    /// Every cursor, keyed by socket id, as broadcast.
    pub fn snapshot(&self) -> CursorMap {
        self.lock()
            .iter()
            .map(|(sid, p)| {
                let id = sid.to_string();
                (id.clone(), Cursor { id, x: p.x, y: p.y })
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Sid, Position>> {
        self.positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Registers the namespace; `Cursors` must be in the socket.io state.
pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, on_connect);
}

/// Broadcasts every cursor every [`TICK_MS`] while anyone is connected; the map is encoded
/// once per tick, whatever the number of clients.
pub fn spawn_ticker(io: SocketIo, cursors: Cursors) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
        // After a stall, carry on at the normal pace rather than bursting to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if cursors.is_empty() {
                continue;
            }
            broadcast::<Update>(&io, NAMESPACE, &(cursors.snapshot(),)).await;
        }
    })
}

async fn on_connect(socket: SocketRef, State(cursors): State<Cursors>) {
    events::connected(&socket);
    cursors.join(socket.id);
    socket.on(Move::NAME, on_move);
    socket.on_disconnect(
        |socket: SocketRef, State(cursors): State<Cursors>, reason: DisconnectReason| async move {
            cursors.leave(socket.id);
            events::disconnected(&socket, reason);
        },
    );
}

/// Marks a socket already warned about, so a flood of bad updates logs one warning.
#[derive(Clone)]
struct WarnedAboutInput;

async fn on_move(socket: SocketRef, State(cursors): State<Cursors>, Data(args): Data<RawArgs>) {
    match parse_move(&args) {
        Ok(position) => cursors.moved(socket.id, position),
        // Ignored, as the contract says: the stored position stays as it was.
        Err(rejection) => {
            if socket.extensions.get::<WarnedAboutInput>().is_none() {
                socket.extensions.insert(WarnedAboutInput);
                tracing::warn!(ns = NAMESPACE, sid = %socket.id, reason = %rejection, "ignoring bad cursor updates");
            }
        }
    }
}

/// A random number in [0, 1) without a dependency: every `RandomState` is freshly keyed.
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_places_a_cursor_on_the_page_and_leaving_removes_it() {
        let cursors = Cursors::default();
        let sid = Sid::new();
        let start = cursors.join(sid);
        assert!((0.0..=1.0).contains(&start.x) && (0.0..=1.0).contains(&start.y));
        let snapshot = cursors.snapshot();
        assert_eq!(
            snapshot[&sid.to_string()],
            Cursor {
                id: sid.to_string(),
                x: start.x,
                y: start.y
            }
        );
        cursors.leave(sid);
        assert!(cursors.snapshot().is_empty());
    }

    #[test]
    fn only_connected_cursors_move() {
        let cursors = Cursors::default();
        let (here, gone) = (Sid::new(), Sid::new());
        cursors.join(here);
        cursors.moved(here, Position { x: 0.1, y: 0.9 });
        cursors.moved(gone, Position { x: 0.5, y: 0.5 });
        let snapshot = cursors.snapshot();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(
            (snapshot[&here.to_string()].x, snapshot[&here.to_string()].y),
            (0.1, 0.9)
        );
    }

    #[test]
    fn random_positions_differ() {
        let samples: Vec<f64> = (0..20).map(|_| random_unit()).collect();
        assert!(samples.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]));
    }
}
