//! `/cursors`: everyone's pointer, broadcast to everyone every 100 ms.
//!
//! Each socket keeps its own position (in its extensions), and every tick lists the sockets
//! connected right now, so a client that left is gone from the next broadcast without any
//! bookkeeping that could go stale.

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::cursors::{
    parse_move, Cursor, CursorMap, Move, Position, Update, NAMESPACE, TICK_MS,
};
use app::protocol::{Event, RawArgs};
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::events::{self, broadcast};
use crate::in_order::InOrder;

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

pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, events::connected.with(listen));
}

/// Places the newcomer at a random spot (as the seed does) and registers the handlers, all
/// before the client is told it is connected.
async fn listen(socket: SocketRef) -> Result<(), Infallible> {
    socket
        .extensions
        .insert(Here(Arc::new(Mutex::new(Position::clamped(
            random_unit(),
            random_unit(),
        )))));
    events::log_unknown_events(&socket);
    socket.on(Move::NAME, on_move);
    socket.on_disconnect(events::disconnected);
    Ok(())
}

/// Broadcasts every cursor every [`TICK_MS`] while anyone is connected; the map is encoded
/// once per tick, whatever the number of clients.
pub fn spawn_ticker(io: SocketIo) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
        // After a stall, carry on at the normal pace rather than bursting to catch up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let cursors = snapshot(&io);
            if !cursors.is_empty() {
                broadcast::<Update>(&io, NAMESPACE, &(cursors,)).await;
            }
        }
    })
}

/// Every connected client's cursor, keyed by socket id.
fn snapshot(io: &SocketIo) -> CursorMap {
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

/// Marks a socket already warned about, so a flood of bad updates logs one warning.
#[derive(Clone)]
struct WarnedAboutInput;

async fn on_move(socket: SocketRef, turn: InOrder, Data(args): Data<RawArgs>) {
    let _turn = turn.wait().await;
    match (parse_move(&args), socket.extensions.get::<Here>()) {
        (Ok(position), Some(here)) => here.set(position),
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
}
