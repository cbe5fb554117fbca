//! Switchboard's shared crate: the wire contract of every app and the Leptos pages.
//!
//! Layout:
//! - [`protocol`]: namespaces, events and domain types (`Nickname`, ...), used by both ends.
//! - `socketio`: the browser's socket.io client (codec, sans-IO session, WebSocket driver);
//!   `connection`: the connection state and backoff every live connection shares.
//! - `webrtc`: the camera, and `Peer` (a simple-peer equivalent with perfect negotiation).
//! - `routes`: the table of pages (path, page, what the home page says of it); `router`: the
//!   app around them; `pages`: one module per page; `components`: pieces pages share;
//!   `config`: what the server tells the pages.
//!
//! Only what the server and the frontend use is public: [`protocol`], [`App`], [`is_page`],
//! [`SiteConfig`] and [`IceServer`] (and `typed`, hidden, for the compile-fail tests); the
//! rest is private, so the compiler reports what nothing uses.
//!
//! Architecture invariant: this crate never depends on tokio, axum or socketioxide; the
//! server depends on it, never the other way round.

mod components;
mod config;
mod connection;
mod pages;
pub mod protocol;
mod router;
mod routes;
mod socketio;
mod webrtc;

pub use config::{IceConfig, IceServer, MeetConfig, SiteConfig};
pub use router::App;
pub use routes::is_page;

/// The page side's typed handles, public only for the compile-fail tests (`server/tests/ui/pages/`),
/// which must name them from outside the crate to show that an emit, a listener or a relay
/// that breaks the wire contract does not compile. Not an API: the modules stay private, so
/// the compiler still reports their dead code.
#[doc(hidden)]
pub mod typed {
    pub use crate::socketio::Socket;
    pub use crate::webrtc::signalling::relay;
}
