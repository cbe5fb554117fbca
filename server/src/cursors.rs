//! `/cursors`: everyone's pointer, to everyone, every 100 ms.
//!
//! Each socket keeps its own position (in its extensions), and every tick lists the sockets
//! connected right now, so a client that left is gone from the next broadcast without any
//! bookkeeping that could go stale.
//!
//! Two ways to receive it. The seed's contract: `update`(map of every cursor) every tick, an
//! O(N²) stream of bytes. Compact mode (auth `{"compact": true}`, our page's): `delta` with only
//! the cursors that moved and the ids that left, nothing when nothing changed, and a full
//! snapshot on joining (see docs/PROTOCOL.md).

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::cursors::{
    parse_move, Cursor, CursorMap, CursorOptions, Delta, DeltaEvent, Move, Position, Update,
    NAMESPACE, TICK_MS,
};
use app::protocol::{Event, RawArgs};
use socketioxide::extract::{Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::SocketIo;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::events::{self, broadcast_to, emit};
use crate::in_order::InOrder;
use crate::metrics::METRICS;

/// Rooms by mode: the seed's full map, or compact deltas.
const FULL: &str = "cursors:full";
const COMPACT: &str = "cursors:compact";

/// Where one client's cursor is.
#[derive(Clone)]
struct Here(Arc<Mutex<Position>>);

impl Here {
    fn get(&self) -> Position {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, position: Position) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = position;
    }
}

/// What changed since the last tick, for compact clients. Cheap to clone.
#[derive(Clone, Default)]
pub struct Changes {
    inner: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    moved: BTreeSet<Sid>,
    left: Vec<Sid>,
}

impl Changes {
    fn moved(&self, sid: Sid) {
        self.lock().moved.insert(sid);
    }

    fn left(&self, sid: Sid) {
        let mut pending = self.lock();
        pending.moved.remove(&sid);
        pending.left.push(sid);
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, on_connect.with(listen));
}

/// Places the newcomer at a random spot (as the seed does), files it under its mode and
/// registers the handlers, all before the client is told it is connected.
async fn listen(
    socket: SocketRef,
    TryData(options): TryData<CursorOptions>,
) -> Result<(), Infallible> {
    socket
        .extensions
        .insert(Here(Arc::new(Mutex::new(Position::clamped(
            random_unit(),
            random_unit(),
        )))));
    let compact = options.is_ok_and(|o| o.compact);
    socket.join(if compact { COMPACT } else { FULL });
    events::log_unknown_events(&socket);
    socket.on(Move::NAME, on_move);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

async fn on_connect(socket: SocketRef, io: SocketIo, State(changes): State<Changes>) {
    events::log_connected(&socket);
    // Others see the newcomer appear; a compact newcomer first gets everyone.
    changes.moved(socket.id);
    if socket.rooms().iter().any(|room| room == COMPACT) {
        let everyone = Delta {
            moved: cursors(&io).into_values().map(compact).collect(),
            left: Vec::new(),
        };
        emit::<DeltaEvent>(&socket, &(everyone,));
    }
}

async fn on_disconnect(
    socket: SocketRef,
    State(changes): State<Changes>,
    reason: DisconnectReason,
) {
    let _after_everything_it_sent = InOrder::after_all(&socket).await;
    changes.left(socket.id);
    events::log_disconnected(&socket, reason);
}

/// Broadcasts every [`TICK_MS`]: the full map to the seed's clients, what changed to compact
/// ones. Each is encoded once per tick, whatever the number of clients.
pub fn spawn_ticker(io: SocketIo, changes: Changes) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
        // After a stall, carry on at the normal pace rather than bursting to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            tick(&io, &changes).await;
            METRICS.tick_took(started.elapsed());
        }
    })
}

async fn tick(io: &SocketIo, changes: &Changes) {
    let Some(namespace) = io.of(NAMESPACE) else {
        return;
    };
    let pending = changes.take();
    if !namespace.clone().within(FULL).sockets().is_empty() {
        broadcast_to::<Update>(io, NAMESPACE, FULL, &(cursors(io),)).await;
    }
    if pending.moved.is_empty() && pending.left.is_empty() {
        return;
    }
    let moved = pending
        .moved
        .iter()
        .filter_map(|sid| namespace.get_socket(*sid))
        .filter(|socket| socket.connected())
        .filter_map(|socket| {
            let Position { x, y } = socket.extensions.get::<Here>()?.get();
            Some(compact(Cursor {
                id: socket.id.to_string(),
                x,
                y,
            }))
        })
        .collect();
    let delta = Delta {
        moved,
        left: pending.left.iter().map(Sid::to_string).collect(),
    };
    if !delta.is_empty() {
        broadcast_to::<DeltaEvent>(io, NAMESPACE, COMPACT, &(delta,)).await;
    }
}

/// Every connected client's cursor, keyed by socket id.
fn cursors(io: &SocketIo) -> CursorMap {
    let Some(namespace) = io.of(NAMESPACE) else {
        return CursorMap::new();
    };
    namespace
        .sockets()
        .into_iter()
        .filter(|socket| socket.connected())
        .filter_map(|socket| {
            let Position { x, y } = socket.extensions.get::<Here>()?.get();
            let id = socket.id.to_string();
            Some((id.clone(), Cursor { id, x, y }))
        })
        .collect()
}

fn compact(cursor: Cursor) -> (String, f64, f64) {
    (cursor.id, Delta::round(cursor.x), Delta::round(cursor.y))
}

/// Marks a socket already warned about, so a flood of bad updates logs one warning.
#[derive(Clone)]
struct WarnedAboutInput;

async fn on_move(
    socket: SocketRef,
    State(changes): State<Changes>,
    turn: InOrder,
    Data(args): Data<RawArgs>,
) {
    let _turn = turn.wait().await;
    match (parse_move(&args), socket.extensions.get::<Here>()) {
        (Ok(position), Some(here)) => {
            here.set(position);
            changes.moved(socket.id);
        }
        (Ok(_), None) => {}
        // Ignored, as the contract says: the stored position stays as it was.
        (Err(rejection), _) => {
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
    fn random_positions_are_on_the_page_and_differ() {
        let samples: Vec<f64> = (0..20).map(|_| random_unit()).collect();
        assert!(samples.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn a_client_that_leaves_is_no_longer_listed_as_moved() {
        let changes = Changes::default();
        let (a, b) = (Sid::new(), Sid::new());
        changes.moved(a);
        changes.moved(b);
        changes.left(b);
        let pending = changes.take();
        assert_eq!(pending.moved.into_iter().collect::<Vec<_>>(), vec![a]);
        assert_eq!(pending.left, vec![b]);
        assert!(changes.take().moved.is_empty(), "taking empties it");
    }
}
