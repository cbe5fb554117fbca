//! `/cursors`: everyone's pointer, to everyone, every 100 ms.
//!
//! Each socket keeps its own position (in its extensions), and every tick lists the sockets
//! connected right now, so a client that left is gone from the next broadcast without any
//! bookkeeping that could go stale.
//!
//! In a cluster each node ticks for its own clients, merging in the other nodes' cursors
//! (`others.rs`).
//!
//! Two ways to receive it. The seed's contract: `update`(map of every cursor) every tick, an
//! O(N²) stream of bytes. Compact mode (auth `{"compact": true}`, our page's): `delta` with only
//! the cursors that moved and the ids that left, nothing when nothing changed, and a full
//! snapshot on joining (see docs/PROTOCOL.md).

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::cursors::{
    Cursor, CursorMap, CursorOptions, Cursors, Delta, DeltaEvent, Move, Position, Update, TICK_MS,
};
use app::protocol::Rejection;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::SocketIo;
use tokio::time::MissedTickBehavior;

use crate::contract::{self, Cx, Listener, Nsp, Served, Shared};
use others::{Others, Tick};

mod others;
use crate::sync::lock;

/// Rooms by mode: the seed's full map, or compact deltas.
const FULL: &str = "cursors:full";
const COMPACT: &str = "cursors:compact";

/// Where one client's cursor is.
#[derive(Clone)]
struct Here(Arc<Mutex<Position>>);

impl Here {
    fn get(&self) -> Position {
        *lock(&self.0)
    }

    fn set(&self, position: Position) {
        *lock(&self.0) = position;
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
        lock(&self.inner).moved.insert(sid);
    }

    fn left(&self, sid: Sid) {
        let mut pending = lock(&self.inner);
        pending.moved.remove(&sid);
        pending.left.push(sid);
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *lock(&self.inner))
    }
}

/// What `/cursors` keeps besides each socket's position. Cheap to clone.
#[derive(Clone, Default)]
pub struct CursorState {
    changes: Changes,
    /// The other nodes' cursors, in cluster mode.
    others: Option<Arc<Mutex<Others>>>,
}

type CursorsCx<A> = Cx<Cursors, CursorState, A>;

/// Serves `/cursors` and starts its broadcast loop (one of the server's tasks).
pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    let state = CursorState {
        changes: Changes::default(),
        others: shared.cluster.as_ref().map(|cluster| {
            let others = Arc::new(Mutex::new(Others::default()));
            cluster
                .tasks
                .spawn(others::follow(cluster.clone(), Arc::downgrade(&others)));
            others
        }),
    };
    shared
        .tasks
        .spawn(ticker(Nsp::new(io, shared), state.clone()));
    contract::serve(io, shared, state, listen::<A>, joined::<A>)
}

/// Places the newcomer at a random spot (as the seed does) and files it under its mode, all
/// before the client is told it is connected.
fn listen<A: Adapter>(on: &Listener<Cursors, CursorState, A>) {
    let socket = on.socket();
    socket
        .extensions
        .insert(Here(Arc::new(Mutex::new(Position::clamped(
            random_unit(),
            random_unit(),
        )))));
    let compact = on.auth::<CursorOptions>().is_some_and(|o| o.compact);
    socket.join(if compact { COMPACT } else { FULL });
    on.on::<Move, _, _>(moved);
    on.on_disconnect(left);
}

async fn joined<A: Adapter>(cx: CursorsCx<A>) {
    // Others see the newcomer appear; a compact newcomer first gets everyone.
    cx.state.changes.moved(cx.socket.id);
    if cx.socket.rooms().iter().any(|room| room == COMPACT) {
        let everyone = Delta {
            moved: cursors(&cx.nsp, &cx.state)
                .into_values()
                .map(compact)
                .collect(),
            left: Vec::new(),
        };
        cx.reply::<DeltaEvent>(&(everyone,));
    }
}

async fn left<A: Adapter>(cx: CursorsCx<A>, _: DisconnectReason) {
    cx.state.changes.left(cx.socket.id);
}

async fn moved<A: Adapter>(cx: CursorsCx<A>, (position,): (Position,)) -> Result<(), Rejection> {
    if let Some(here) = cx.socket.extensions.get::<Here>() {
        here.set(position);
        cx.state.changes.moved(cx.socket.id);
    }
    Ok(())
}

/// Broadcasts every [`TICK_MS`]: the full map to the seed's clients, what changed to compact
/// ones. Each is encoded once per tick, whatever the number of clients.
async fn ticker<A: Adapter>(nsp: Nsp<Cursors, A>, state: CursorState) {
    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
    // After a stall, carry on at the normal pace rather than bursting to catch up.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    for count in 0u64.. {
        ticks.tick().await;
        let started = Instant::now();
        tick(&nsp, &state, count % others::FULL_EVERY == 0).await;
        nsp.metrics().tick_took(started.elapsed());
    }
}

async fn tick<A: Adapter>(nsp: &Nsp<Cursors, A>, state: &CursorState, whole_map: bool) {
    let Some(namespace) = nsp.io().of(<Cursors as app::protocol::Namespace>::PATH) else {
        return;
    };
    let pending = state.changes.take();
    let mut moved: Vec<(String, f64, f64)> = pending
        .moved
        .iter()
        .filter_map(|sid| namespace.get_socket(*sid))
        .filter(|socket| socket.connected())
        .filter_map(|socket| cursor_of(&socket).map(compact))
        .collect();
    let mut left: Vec<String> = pending.left.iter().map(Sid::to_string).collect();
    if let (Some(cluster), Some(others)) = (&nsp.shared().cluster, &state.others) {
        // Ours to the other nodes (all of them now and then), theirs into ours.
        let tick = Tick {
            node: cluster.node.clone(),
            moved: if whole_map {
                local_cursors(nsp).into_values().map(compact).collect()
            } else {
                moved.clone()
            },
            left: left.clone(),
            all: whole_map,
        };
        others::publish(cluster, tick).await;
        let heard = lock(others).take();
        moved.extend(heard.moved.into_iter().map(|(id, (x, y))| (id, x, y)));
        left.extend(heard.left);
    }
    if !namespace.clone().within(FULL).sockets().is_empty() {
        nsp.broadcast_snapshot::<Update>(FULL, &(cursors(nsp, state),))
            .await;
    }
    let delta = Delta { moved, left };
    if !delta.is_empty() {
        nsp.broadcast_here_in::<DeltaEvent>(COMPACT, &(delta,));
    }
}

/// Every cursor (this node's clients', and in a cluster the other nodes'), keyed by id.
fn cursors<A: Adapter>(nsp: &Nsp<Cursors, A>, state: &CursorState) -> CursorMap {
    let mut map = local_cursors(nsp);
    if let Some(others) = &state.others {
        for (id, (x, y)) in lock(others).all() {
            map.insert(
                id.clone(),
                Cursor {
                    id: id.clone(),
                    x: *x,
                    y: *y,
                },
            );
        }
    }
    map
}

/// This node's clients' cursors.
fn local_cursors<A: Adapter>(nsp: &Nsp<Cursors, A>) -> CursorMap {
    nsp.sockets()
        .iter()
        .filter_map(cursor_of)
        .map(|cursor| (cursor.id.clone(), cursor))
        .collect()
}

fn cursor_of<A: Adapter>(socket: &SocketRef<A>) -> Option<Cursor> {
    let Position { x, y } = socket.extensions.get::<Here>()?.get();
    Some(Cursor {
        id: socket.id.to_string(),
        x,
        y,
    })
}

fn compact(cursor: Cursor) -> (String, f64, f64) {
    (cursor.id, Delta::round(cursor.x), Delta::round(cursor.y))
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

    // Paused clock: exactly the ticks that time calls for, whatever the machine's load.
    #[tokio::test(start_paused = true)]
    async fn the_ticker_ticks_every_tick_ms() {
        let owner = crate::tasks::TaskOwner::new();
        let shared = Shared::for_tests(owner.tasks());
        let (_service, io) = SocketIo::builder().build_svc();
        register(&io, &shared);
        let ticks = |shared: &Shared| {
            let text = shared.metrics.render();
            let line = text
                .lines()
                .find(|l| l.starts_with("switchboard_cursor_tick_seconds_count"))
                .map(str::to_owned);
            line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        };
        // The first tick is at once, then one every TICK_MS: ten before 1 s, the eleventh at 1 s.
        tokio::time::sleep(Duration::from_millis(TICK_MS * 10 - 1)).await;
        assert_eq!(ticks(&shared), Some(10));
        tokio::time::sleep(Duration::from_millis(TICK_MS / 2)).await;
        assert_eq!(ticks(&shared), Some(11));
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
