//! WebRTC in the browser, from Rust through web-sys: the camera ([`media`]), [`Peer`], a
//! small equivalent of simple-peer that follows MDN's "perfect negotiation" pattern
//! ([`negotiation`] holds its decisions, which are plain Rust and tested natively), and what
//! pages need around peers ([`signalling`]: `/signal`, the camera slot; [`ice`]: the ICE
//! servers, renewed before their credentials expire), how a call is going ([`quality`]), and
//! a room's connections with what heals them ([`mesh`]), or a room's one connection to the
//! server's SFU ([`sfu`]) and what the page makes of it ([`sfu_room`]).

pub(crate) mod ice;
pub(crate) mod js;
pub(crate) mod media;
pub(crate) mod mesh;
mod negotiation;
mod peer;
pub(crate) mod quality;
pub(crate) mod sfu;
pub(crate) mod sfu_room;
pub(crate) mod signalling;

pub use peer::{Peer, PeerEvent, PeerOptions};
