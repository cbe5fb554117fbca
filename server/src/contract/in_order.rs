//! Handling each client's events in the order it sent them.
//!
//! socketioxide runs every event handler in a task of its own, so two events from one client
//! may be handled in either order: an ICE candidate overtaking its offer, a chat message
//! overtaking the `name` sent just before it. Extractors, however, run in arrival order. The
//! [`InOrder`] extractor takes a numbered turn there, and the handler waits for its turn before
//! doing anything the order matters for (the Node server gets this from its single thread).
//! Disconnect handlers wait for all turns ([`InOrder::after_all`]), so a name is never released
//! before the claim that took it.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;
use tokio::sync::watch;

use crate::sync::lock;

/// How many times [`InOrder::wait`] looks for the connected flag (every 0.2 ms, so at most
/// about 100 ms: after that the socket is gone rather than not yet connected).
const CONNECTED_CHECKS: u32 = 500;

/// One socket's turns.
struct Turns {
    next: AtomicU64,
    /// The turn being served.
    serving: watch::Sender<u64>,
    /// Turns given up without being taken (their handler was never called).
    skipped: Mutex<BTreeSet<u64>>,
}

impl Turns {
    fn new() -> Turns {
        Turns {
            next: AtomicU64::new(0),
            serving: watch::Sender::new(0),
            skipped: Mutex::default(),
        }
    }

    /// Passes the turn on from `done`, skipping turns nobody will take.
    fn advance(&self, done: u64) {
        let mut skipped = lock(&self.skipped);
        let mut next = done + 1;
        while skipped.remove(&next) {
            next += 1;
        }
        self.serving.send_replace(next);
    }

    /// Gives up `turn` before it was served.
    fn skip(&self, turn: u64) {
        let mut skipped = lock(&self.skipped);
        if *self.serving.borrow() == turn {
            drop(skipped);
            self.advance(turn);
        } else {
            skipped.insert(turn);
        }
    }
}

/// Whether socketioxide counts the socket as connected yet.
type ConnectedProbe = Box<dyn Fn() -> bool + Send + Sync>;

/// An extractor: this event's place in its socket's queue. Call [`InOrder::wait`] first thing.
pub struct InOrder {
    turns: Arc<Turns>,
    turn: u64,
    waited: bool,
    connected: ConnectedProbe,
}

/// Held while an event is handled; the next event's turn comes when it is dropped.
pub struct Turn {
    turns: Arc<Turns>,
    turn: u64,
}

impl InOrder {
    /// The socket's next turn.
    fn take<A: Adapter>(socket: &Socket<A>, connected: ConnectedProbe) -> InOrder {
        let turns = socket.extensions.get::<Arc<Turns>>().unwrap_or_else(|| {
            // Created on the first event: idle connections cost nothing.
            let turns = Arc::new(Turns::new());
            socket.extensions.insert(turns.clone());
            turns
        });
        let turn = turns.next.fetch_add(1, Ordering::Relaxed);
        InOrder {
            turns,
            turn,
            waited: false,
            connected,
        }
    }

    /// Waits until every event the socket sent so far has been handled. Disconnect handlers
    /// call this first, so that what a client did is never undone before it was done.
    pub async fn after_all<A: Adapter>(socket: &Socket<A>) -> Turn {
        Self::take(socket, Box::new(|| true)).wait().await
    }

    /// Waits until every earlier event of this socket has been handled.
    ///
    /// It also waits (briefly) until socketioxide counts the socket as connected: it sends the
    /// client its "connected" packet a moment before it sets that flag, and until then every
    /// emit to the socket fails, so a client that speaks at once would miss its answers.
    pub async fn wait(mut self) -> Turn {
        self.waited = true;
        let mut serving = self.turns.serving.subscribe();
        let _ = serving.wait_for(|now| *now == self.turn).await;
        for _ in 0..CONNECTED_CHECKS {
            if (self.connected)() {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        Turn {
            turns: self.turns.clone(),
            turn: self.turn,
        }
    }
}

impl Drop for InOrder {
    fn drop(&mut self) {
        if !self.waited {
            self.turns.skip(self.turn);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.turns.advance(self.turn);
    }
}

impl<A: Adapter> FromMessageParts<A> for InOrder {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let probe = socket.clone();
        Ok(InOrder::take(socket, Box::new(move || probe.connected())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(turns: &Arc<Turns>) -> InOrder {
        let turn = turns.next.fetch_add(1, Ordering::Relaxed);
        InOrder {
            turns: turns.clone(),
            turn,
            waited: false,
            connected: Box::new(|| true),
        }
    }

    #[tokio::test]
    async fn later_turns_wait_for_earlier_ones_whatever_order_tasks_run_in() {
        let turns = Arc::new(Turns::new());
        let (first, second) = (take(&turns), take(&turns));
        let log = Arc::new(Mutex::new(Vec::new()));
        let late = {
            let log = log.clone();
            tokio::spawn(async move {
                let _turn = second.wait().await;
                log.lock().unwrap().push(2);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(log.lock().unwrap().is_empty(), "the second event waited");
        {
            let _turn = first.wait().await;
            log.lock().unwrap().push(1);
        }
        late.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_turn_that_is_never_taken_does_not_block_the_queue() {
        let turns = Arc::new(Turns::new());
        let (first, skipped, third) = (take(&turns), take(&turns), take(&turns));
        drop(skipped);
        drop(first.wait().await);
        tokio::time::timeout(Duration::from_secs(1), third.wait())
            .await
            .expect("third was served");
    }
}
