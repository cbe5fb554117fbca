//! The selective forwarding unit: `/meet` rooms whose media go through the server. Each page
//! holds one WebRTC connection to it and sends its camera (three simulcast layers) and
//! microphone once; the SFU forwards each to the room's others, choosing for every receiver
//! the layer its tile and its downlink call for (`layer.rs`), and asks a sender for a
//! keyframe when a receiver starts or switches layers.
//!
//! Built on str0m (sans-IO WebRTC: ICE, DTLS, SRTP, RTP/RTCP with NACK/RTX, simulcast): the
//! loop in `engine.rs` owns every connection and one UDP socket. Signalling: the page's first
//! offer comes over `/meet` (`media-offer`, see `meet.rs`); later offers, both ways, and what
//! members tell each other (mute state, chat), over the connection's data channel.

mod client;
mod engine;
mod layer;
mod route;
mod rtp;

pub use route::MediaRoute;

use std::net::SocketAddr;
use std::sync::Arc;

use app::protocol::meet::RoomName;
use app::protocol::PeerId;
use str0m::Candidate;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
pub use crate::metrics::SfuCounters as Counters;
use crate::StartError;

/// What the socket.io side asks of the loop.
pub enum Command {
    Join {
        room: RoomName,
        member: PeerId,
        offer: String,
        answer: oneshot::Sender<Result<String, String>>,
    },
    Leave {
        member: PeerId,
    },
    /// The rooms with media here now.
    Rooms {
        reply: oneshot::Sender<std::collections::HashSet<RoomName>>,
    },
}

/// The handle the `/meet` handlers hold.
#[derive(Clone)]
pub struct Sfu {
    commands: mpsc::UnboundedSender<Command>,
    pub addr: SocketAddr,
    /// Where browsers are told to send media: `addr`, and the public address if given.
    public: Option<SocketAddr>,
    pub counters: Arc<Counters>,
}

/// A bound SFU whose loop is still to be spawned (on the server's tasks).
pub struct Bound {
    pub sfu: Sfu,
    engine: engine::Engine,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl Bound {
    pub fn spawn(self, tasks: &crate::tasks::Tasks) {
        tasks.spawn(self.engine.run(self.commands));
    }
}

/// Binds the media port as `config` says. Runs inside tokio.
pub fn bind(config: &Config) -> Result<Bound, StartError> {
    // str0m's DTLS and SRTP on its aws-lc-rs backend (the only one built in).
    str0m::crypto::from_feature_flags().install_process_default();
    let ip = crate::net::reachable_ip(config.bind);
    let wanted = SocketAddr::new(ip, config.media_port);
    let bind_error = |source| StartError::Bind {
        addr: wanted,
        source,
    };
    let socket = std::net::UdpSocket::bind(wanted).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    crate::net::enlarge_buffers(&socket);
    let socket = tokio::net::UdpSocket::from_std(socket).map_err(bind_error)?;
    let addr = socket.local_addr()?;
    let mut candidates = Vec::new();
    if let Ok(host) = Candidate::host(addr, "udp") {
        candidates.push(host);
    }
    let public = config
        .media_public_ip
        .filter(|p| *p != addr.ip())
        .map(|ip| SocketAddr::new(ip, addr.port()));
    if let Some(public) = public {
        // Behind a 1:1 NAT: browsers send to the public address, packets arrive at `addr`.
        if let Ok(mapped) = Candidate::server_reflexive(public, addr, "udp") {
            candidates.push(mapped);
        }
    }
    let counters = Arc::new(Counters::default());
    let engine = engine::Engine::new(socket, candidates, counters.clone())?;
    let (tx, commands) = mpsc::unbounded_channel();
    Ok(Bound {
        sfu: Sfu {
            commands: tx,
            addr,
            public,
            counters,
        },
        engine,
        commands,
    })
}

impl Sfu {
    /// Where browsers send media to it.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        std::iter::once(self.addr).chain(self.public).collect()
    }

    /// Takes a seated member's first offer; returns the server's answer, or why not.
    pub async fn join(
        &self,
        room: RoomName,
        member: PeerId,
        offer: String,
    ) -> Result<String, String> {
        let (answer, answered) = oneshot::channel();
        let sent = self.commands.send(Command::Join {
            room,
            member,
            offer,
            answer,
        });
        if sent.is_err() {
            return Err("The meeting server has stopped.".into());
        }
        answered
            .await
            .unwrap_or_else(|_| Err("The meeting server has stopped.".into()))
    }

    /// Ends a member's media (it left, or its socket closed).
    pub fn leave(&self, member: PeerId) {
        let _ = self.commands.send(Command::Leave { member });
    }

    /// The rooms with media here now.
    pub async fn rooms(&self) -> std::collections::HashSet<RoomName> {
        let (reply, rooms) = oneshot::channel();
        if self.commands.send(Command::Rooms { reply }).is_err() {
            return Default::default();
        }
        rooms.await.unwrap_or_default()
    }
}
