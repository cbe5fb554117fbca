//! Hanging up on a client from elsewhere: the accept loop gives every connection a
//! [`Hangup`] that its reads and writes check, and the socket.io layer finds it in a socket's
//! request to close a connection whose client must go.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Context;

use futures_util::task::AtomicWaker;

/// Ends one connection from elsewhere: the server hangs up on a client that must go (a
/// flood, a reader that fell behind), whatever its transport is doing. Every request of the
/// connection carries it as an extension; a socket.io socket finds it in its `req_parts`.
#[derive(Clone, Default)]
pub struct Hangup(Arc<HangupState>);

#[derive(Default)]
struct HangupState {
    done: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Hangup {
    /// Closes the connection: its next read or write fails, and a pending one is woken.
    pub fn now(&self) {
        self.0.done.store(true, Ordering::SeqCst);
        self.0.reader.wake();
        self.0.writer.wake();
    }

    /// For a read: `Some(error)` once hung up; otherwise registers `cx` to be woken when it is.
    pub fn check_read(&self, cx: &Context<'_>) -> Option<io::Error> {
        self.check(&self.0.reader, cx)
    }

    /// For a write, as [`Hangup::check_read`].
    pub fn check_write(&self, cx: &Context<'_>) -> Option<io::Error> {
        self.check(&self.0.writer, cx)
    }

    fn check(&self, waker: &AtomicWaker, cx: &Context<'_>) -> Option<io::Error> {
        waker.register(cx.waker());
        self.0
            .done
            .load(Ordering::SeqCst)
            .then(|| io::Error::new(io::ErrorKind::ConnectionAborted, "the server hung up"))
    }
}
