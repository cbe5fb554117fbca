//! Handling each client's events in the order it sent them, with a bounded backlog.
//!
//! socketioxide runs every event handler in a task of its own, so two events from one client
//! may be handled in either order: an ICE candidate overtaking its offer, a chat message
//! overtaking the `name` sent just before it. Extractors, however, run in arrival order. The
//! [`InOrder`] extractor takes a numbered turn there, and the handler waits for its turn before
//! doing anything the order matters for (the Node server gets this from its single thread).
//!
//! The backlog is bounded: a client with more than [`MAX_PENDING`] events waiting is
//! disconnected.
//!
//! When a client leaves, what it sent before it left is still handled, in order, before its
//! disconnect is (as the Node server does): a chat message sent just before the tab closed
//! is broadcast and saved, a `signal` sent before a `leave` is relayed first. That drain is
//! bounded twice: by the backlog ([`MAX_PENDING`] events at most) and by [`DRAIN_FOR`], after
//! which what still waits is dropped, so a flooder who leaves gains nothing. Nothing it did is
//! undone before it was done, and nothing it sent after that is worked off.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;
use tokio::sync::oneshot;

use crate::sync::lock;

/// Events a client may have waiting for their turn; one more and it is disconnected. As many
/// as socketioxide buffers outgoing per client, and at least every namespace's default burst
/// (see `limits.rs`), so a client within its rate is never cut off for its backlog.
pub const MAX_PENDING: u64 = 128;

/// How long a client that left may still have its waiting events handled.
pub const DRAIN_FOR: Duration = Duration::from_secs(2);

/// How many times [`InOrder::wait`] looks for the connected flag (every 0.2 ms, so at most
/// about 100 ms: after that the socket is gone rather than not yet connected).
const CONNECTED_CHECKS: u32 = 500;

/// One socket's turns.
#[derive(Default)]
struct Turns {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// The next turn to hand out.
    next: u64,
    /// The turn that runs now or runs next.
    serving: u64,
    /// Whether the turn being served has begun (its [`Turn`] is alive).
    running: bool,
    /// Handlers waiting for their turn, woken one at a time (never all at once).
    waiters: BTreeMap<u64, oneshot::Sender<()>>,
    /// Turns given up without being served (their handler was never called).
    skipped: BTreeSet<u64>,
    /// Set when the client left or overflowed: no more turns are served.
    closed: bool,
    /// Told when the running turn ends after closing.
    on_idle: Option<oneshot::Sender<()>>,
    /// Told when every turn given out has been served (the client left and is drained).
    on_drained: Option<oneshot::Sender<()>>,
}

impl Queue {
    /// Hands the turn to the next one that is still wanted.
    fn pass_on(&mut self) {
        loop {
            while self.skipped.remove(&self.serving) {
                self.serving += 1;
            }
            if self.serving == self.next || self.closed {
                return;
            }
            match self
                .waiters
                .remove(&self.serving)
                .map(|waiter| waiter.send(()))
            {
                // Woken; it marks itself running when it resumes.
                Some(Ok(())) => return,
                // Its handler was dropped while waiting.
                Some(Err(())) => self.serving += 1,
                // Not waiting yet: it will find its turn served when it asks.
                None => return,
            }
        }
    }

    /// Tells whoever waits for the drain when nothing is running or waiting any more.
    fn tell_if_drained(&mut self) {
        if self.serving == self.next && !self.running {
            if let Some(drained) = self.on_drained.take() {
                let _ = drained.send(());
            }
        }
    }
}

impl Turns {
    fn advance(&self, done: u64) {
        let mut queue = lock(&self.queue);
        queue.running = false;
        queue.serving = done + 1;
        if queue.closed {
            if let Some(idle) = queue.on_idle.take() {
                let _ = idle.send(());
            }
            return;
        }
        queue.pass_on();
        queue.tell_if_drained();
    }

    fn skip(&self, turn: u64) {
        let mut queue = lock(&self.queue);
        queue.waiters.remove(&turn);
        queue.skipped.insert(turn);
        if queue.serving == turn && !queue.running {
            queue.pass_on();
            queue.tell_if_drained();
        }
    }

    /// Resolves once every turn given out so far has been served (at once if none waits).
    fn drained(&self) -> Option<oneshot::Receiver<()>> {
        let mut queue = lock(&self.queue);
        if queue.closed || (queue.serving == queue.next && !queue.running) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        queue.on_drained = Some(tx);
        Some(rx)
    }

    /// Serves no more turns: what still waits is dropped. Resolves once the turn that runs
    /// (if any) is done.
    fn close(&self) -> Option<oneshot::Receiver<()>> {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        // Their handlers see the sender dropped and give up.
        queue.waiters.clear();
        queue.on_drained = None;
        if queue.running {
            let (tx, rx) = oneshot::channel();
            queue.on_idle = Some(tx);
            Some(rx)
        } else {
            None
        }
    }
}

/// Whether socketioxide counts the socket as connected yet.
type ConnectedProbe = Box<dyn Fn() -> bool + Send + Sync>;

/// An extractor: this event's place in its socket's queue. Call [`InOrder::wait`] first thing.
pub struct InOrder {
    turns: Arc<Turns>,
    /// `None` when no turn was given: the queue is closed or just overflowed.
    turn: Option<u64>,
    /// Whether this event made the backlog overflow.
    overflowed: bool,
    waited: bool,
    /// Asked until socketioxide counts the socket as connected; `None` once it did (the
    /// usual case: no allocation per event).
    connected: Option<ConnectedProbe>,
}

/// What waiting for a turn gave.
pub enum Waited {
    /// It is this event's turn; the next event's comes when this is dropped.
    Turn(Turn),
    /// The client has too many events waiting: disconnect it.
    Overflow,
    /// The client left (or overflowed before): drop the event.
    Dropped,
}

/// Held while an event is handled; the next event's turn comes when it is dropped.
pub struct Turn {
    turns: Arc<Turns>,
    turn: u64,
}

impl InOrder {
    /// The socket's next turn.
    fn take<A: Adapter>(socket: &Socket<A>, connected: Option<ConnectedProbe>) -> InOrder {
        let turns = turns_of(socket);
        let (turn, overflowed) = {
            let mut queue = lock(&turns.queue);
            if queue.closed {
                (None, false)
            } else if queue.next - queue.serving >= MAX_PENDING {
                queue.closed = true;
                queue.waiters.clear();
                (None, true)
            } else {
                queue.next += 1;
                (Some(queue.next - 1), false)
            }
        };
        InOrder {
            turns,
            turn,
            overflowed,
            waited: false,
            connected,
        }
    }

    /// Handles what the client still has waiting, in order, for up to [`DRAIN_FOR`]; then
    /// drops the rest and waits until the event being handled (if any) is done. Disconnect
    /// handlers call this first, so that what a client sent before it left is done, nothing
    /// it did is undone before it was done, and nothing is done after its disconnect.
    pub async fn close<A: Adapter>(socket: &Socket<A>) {
        Self::close_turns(&turns_of(socket), DRAIN_FOR).await;
    }

    async fn close_turns(turns: &Turns, drain_for: Duration) {
        if let Some(drained) = turns.drained() {
            let _ = tokio::time::timeout(drain_for, drained).await;
        }
        if let Some(idle) = turns.close() {
            let _ = idle.await;
        }
    }

    /// Waits until every earlier event of this socket has been handled.
    ///
    /// It also waits (briefly) until socketioxide counts the socket as connected: it sends the
    /// client its "connected" packet a moment before it sets that flag, and until then every
    /// emit to the socket fails, so a client that speaks at once would miss its answers.
    pub async fn wait(mut self) -> Waited {
        self.waited = true;
        let Some(turn) = self.turn else {
            return if self.overflowed {
                Waited::Overflow
            } else {
                Waited::Dropped
            };
        };
        let waiting = {
            let mut queue = lock(&self.turns.queue);
            if queue.closed {
                return Waited::Dropped;
            }
            if queue.serving == turn && !queue.running {
                queue.running = true;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                queue.waiters.insert(turn, tx);
                Some(rx)
            }
        };
        if let Some(woken) = waiting {
            // Should this future be dropped while it waits, the turn is given up.
            let given_up = GiveUpOnDrop {
                turns: &self.turns,
                turn,
            };
            let woken = woken.await;
            std::mem::forget(given_up);
            if woken.is_err() {
                return Waited::Dropped;
            }
            let mut queue = lock(&self.turns.queue);
            if queue.closed {
                // Closed between the wake-up and now: let a closer waiting on us go.
                if let Some(idle) = queue.on_idle.take() {
                    let _ = idle.send(());
                }
                return Waited::Dropped;
            }
            queue.running = true;
        }
        if let Some(connected) = &self.connected {
            for _ in 0..CONNECTED_CHECKS {
                if connected() {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        Waited::Turn(Turn {
            turns: self.turns.clone(),
            turn,
        })
    }
}

/// Skips a turn whose handler went away while waiting for it.
struct GiveUpOnDrop<'a> {
    turns: &'a Turns,
    turn: u64,
}

impl Drop for GiveUpOnDrop<'_> {
    fn drop(&mut self) {
        self.turns.skip(self.turn);
    }
}

fn turns_of<A: Adapter>(socket: &Socket<A>) -> Arc<Turns> {
    socket.extensions.get::<Arc<Turns>>().unwrap_or_else(|| {
        // Created on the first event: idle connections cost nothing.
        let turns = Arc::new(Turns::default());
        socket.extensions.insert(turns.clone());
        turns
    })
}

impl Drop for InOrder {
    fn drop(&mut self) {
        if let (false, Some(turn)) = (self.waited, self.turn) {
            self.turns.skip(turn);
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
        let probe = (!socket.connected()).then(|| {
            let socket = socket.clone();
            Box::new(move || socket.connected()) as ConnectedProbe
        });
        Ok(InOrder::take(socket, probe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(turns: &Arc<Turns>) -> InOrder {
        let mut queue = lock(&turns.queue);
        let turn = queue.next;
        queue.next += 1;
        InOrder {
            turns: turns.clone(),
            turn: Some(turn),
            overflowed: false,
            waited: false,
            connected: None,
        }
    }

    async fn served(order: InOrder) -> Turn {
        match order.wait().await {
            Waited::Turn(turn) => turn,
            _ => panic!("not served"),
        }
    }

    // On a paused clock a sleep ends only once every other task waits: here, once the second
    // handler is as far as it can get.
    #[tokio::test(start_paused = true)]
    async fn later_turns_wait_for_earlier_ones_whatever_order_tasks_run_in() {
        let turns = Arc::new(Turns::default());
        let (first, second) = (take(&turns), take(&turns));
        let log = Arc::new(Mutex::new(Vec::new()));
        let late = {
            let log = log.clone();
            tokio::spawn(async move {
                let _turn = served(second).await;
                log.lock().unwrap().push(2);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(log.lock().unwrap().is_empty(), "the second event waited");
        {
            let _turn = served(first).await;
            log.lock().unwrap().push(1);
        }
        late.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_turn_that_is_never_taken_does_not_block_the_queue() {
        let turns = Arc::new(Turns::default());
        let (first, skipped, third) = (take(&turns), take(&turns), take(&turns));
        drop(skipped);
        drop(served(first).await);
        tokio::time::timeout(Duration::from_secs(1), served(third))
            .await
            .expect("third was served");
    }

    // Paused clock: the sleep ends once the abandoned handler waits for its turn.
    #[tokio::test(start_paused = true)]
    async fn a_handler_dropped_while_waiting_does_not_block_the_queue() {
        let turns = Arc::new(Turns::default());
        let (first, abandoned, third) = (take(&turns), take(&turns), take(&turns));
        let running = served(first).await;
        let waiting = tokio::spawn(async move { served(abandoned).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiting.abort();
        let _ = waiting.await;
        drop(running);
        tokio::time::timeout(Duration::from_secs(1), served(third))
            .await
            .expect("third was served");
    }

    #[tokio::test]
    async fn closing_serves_what_waits_in_order_then_closes() {
        let turns = Arc::new(Turns::default());
        let (first, second, third) = (take(&turns), take(&turns), take(&turns));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = |order: InOrder, n: u32| {
            let log = log.clone();
            tokio::spawn(async move {
                if let Waited::Turn(_turn) = order.wait().await {
                    log.lock().unwrap().push(n);
                }
            })
        };
        let running = served(first).await;
        let (late, later) = (handler(third, 3), handler(second, 2));
        let closer = tokio::spawn({
            let turns = turns.clone();
            async move { InOrder::close_turns(&turns, DRAIN_FOR).await }
        });
        drop(running);
        closer.await.unwrap();
        late.await.unwrap();
        later.await.unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            vec![2, 3],
            "served in order before the close"
        );
        assert!(
            matches!(take(&turns).wait().await, Waited::Dropped),
            "nothing runs after"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_that_takes_too_long_drops_the_rest() {
        let turns = Arc::new(Turns::default());
        let (first, second) = (take(&turns), take(&turns));
        let running = served(first).await;
        let waiting = tokio::spawn(second.wait());
        let closer = tokio::spawn({
            let turns = turns.clone();
            async move { InOrder::close_turns(&turns, DRAIN_FOR).await }
        });
        // The first event never ends within the drain: the second is dropped, and the close
        // waits for the first to finish.
        tokio::time::sleep(DRAIN_FOR * 2).await;
        assert!(
            matches!(waiting.await.unwrap(), Waited::Dropped),
            "the rest is dropped"
        );
        assert!(!closer.is_finished(), "the running event finishes first");
        drop(running);
        closer.await.unwrap();
    }
}
