//! A small socket.io client for the browser (no maintained one exists for wasm32), in three
//! parts as well-kept clients split it:
//!
//! - `packet`: the Engine.IO v4 / Socket.IO v5 text codec;
//! - `session`: the protocol as a sans-IO state machine (handshake, heartbeat, namespace
//!   connect, acknowledgements, reconnection with backoff), tested natively with a fake clock;
//! - `driver` and `socket`: one browser task per socket over a WebSocket, and the typed handle
//!   pages hold ([`Socket`]`<N>` speaks only namespace `N`'s events).
//!
//! One socket is one namespace over one WebSocket of its own.

mod driver;
mod packet;
mod session;
mod socket;

pub use socket::{use_socket, use_socket_with_auth, Socket};

/// Why an emit did not go out, or got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("not connected")]
    NotConnected,
    #[error("too large to send ({0} bytes)")]
    TooLarge(usize),
    #[error("the connection was lost before the server answered")]
    Lost,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server's answer was not understood")]
    BadReply,
    #[error("it could not be encoded")]
    Unencodable,
}
