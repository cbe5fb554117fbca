//! WebRTC in the browser, from Rust through web-sys: the camera ([`media`]), and [`Peer`], a
//! small equivalent of simple-peer that follows MDN's "perfect negotiation" pattern
//! ([`negotiation`] holds its decisions, which are plain Rust and tested natively).

pub mod js;
pub mod media;
pub mod negotiation;
mod peer;

pub use peer::{Peer, PeerEvent, PeerOptions};
