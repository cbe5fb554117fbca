//! A small socket.io client for the browser (no maintained one exists for wasm32).
//!
//! `packet` is the Engine.IO v4 / Socket.IO v5 codec and `backoff` the reconnection policy;
//! both are plain Rust, tested natively. `client` drives them over the browser's WebSocket.

pub mod backoff;
pub mod client;
pub mod packet;

pub use client::{use_socket, use_socket_with_auth, ConnectionState, EmitError, Socket};
