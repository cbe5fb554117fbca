//! Switchboard's shared crate: the wire contract of every app and the Leptos pages.
//!
//! Layout:
//! - [`protocol`]: namespaces, events and domain types (`Nickname`, ...), used by both ends.
//! - [`socketio`]: the browser's socket.io client (codec, sans-IO session, WebSocket driver);
//!   [`connection`]: the connection state and backoff every live connection shares.
//! - [`webrtc`]: the camera, and `Peer` (a simple-peer equivalent with perfect negotiation).
//! - [`routes`]: the table of pages (path, page, what the home page says of it); `router`: the
//!   app around them; [`pages`]: one module per page;
//!   [`components`]: pieces pages share; [`config`]: what the server tells the pages.
//!
//! Architecture invariant: this crate never depends on tokio, axum or socketioxide; the
//! server depends on it, never the other way round.

pub mod components;
pub mod config;
pub mod connection;
pub mod pages;
pub mod protocol;
pub mod router;
pub mod routes;
pub mod socketio;
pub mod webrtc;

pub use router::App;
