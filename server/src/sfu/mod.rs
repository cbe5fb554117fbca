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
mod outbox;
mod route;
mod rtp;

pub use route::MediaRoute;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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

/// One loop: the task that owns a UDP port and the connections of its rooms.
struct Loop {
    commands: mpsc::UnboundedSender<Command>,
    addr: SocketAddr,
    /// Where browsers are told to send media: `addr`, and the public address if given.
    public: Option<SocketAddr>,
}

/// The handle the `/meet` handlers hold.
#[derive(Clone)]
pub struct Sfu {
    loops: Arc<[Loop]>,
    /// The loop each room's media live on (rooms are handed out in turn).
    homes: Arc<Mutex<Homes>>,
    /// The first loop's address (tests and the start-up message).
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
}

#[derive(Default)]
struct Homes {
    rooms: HashMap<RoomName, usize>,
    next: usize,
}

/// Rooms remembered beyond which those without media anywhere are forgotten.
const HOMES_KEPT: usize = 256;

/// A bound SFU whose loops are still to be spawned (on the server's tasks).
pub struct Bound {
    pub sfu: Sfu,
    engines: Vec<(engine::Engine, mpsc::UnboundedReceiver<Command>)>,
}

impl Bound {
    pub fn spawn(self, tasks: &crate::tasks::Tasks) {
        for (engine, commands) in self.engines {
            tasks.spawn(engine.run(commands));
        }
    }
}

/// Binds the media ports as `config` says. Runs inside tokio.
pub fn bind(config: &Config) -> Result<Bound, StartError> {
    // str0m's DTLS and SRTP on its aws-lc-rs backend (the only one built in).
    str0m::crypto::from_feature_flags().install_process_default();
    let counters = Arc::new(Counters::default());
    let mut loops = Vec::new();
    let mut engines = Vec::new();
    for n in 0..config.media_loops {
        let port = match config.media_port {
            0 => 0,
            first => first.checked_add(n).ok_or(StartError::MediaPorts {
                port: first,
                loops: config.media_loops,
            })?,
        };
        let (engine, addr, public) = bind_one(config, port, counters.clone())?;
        let (commands, receiver) = mpsc::unbounded_channel();
        loops.push(Loop {
            commands,
            addr,
            public,
        });
        engines.push((engine, receiver));
    }
    Ok(Bound {
        sfu: Sfu {
            addr: loops[0].addr,
            loops: loops.into(),
            homes: Default::default(),
            counters,
        },
        engines,
    })
}

fn bind_one(
    config: &Config,
    port: u16,
    counters: Arc<Counters>,
) -> Result<(engine::Engine, SocketAddr, Option<SocketAddr>), StartError> {
    let ip = crate::net::reachable_ip(config.bind);
    let wanted = SocketAddr::new(ip, port);
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
    let engine = engine::Engine::new(socket, candidates, counters)?;
    Ok((engine, addr, public))
}

impl Sfu {
    /// Where browsers send media to it.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.loops
            .iter()
            .flat_map(|l| std::iter::once(l.addr).chain(l.public))
            .collect()
    }

    /// The loop a room's media live on: the one it has, or the next in turn.
    async fn home(&self, room: &RoomName) -> &Loop {
        if self.loops.len() == 1 {
            return &self.loops[0];
        }
        if self.lock_homes().rooms.len() > HOMES_KEPT {
            let live = self.rooms().await;
            self.lock_homes()
                .rooms
                .retain(|room, _| live.contains(room));
        }
        let mut homes = self.lock_homes();
        let next = homes.next;
        let home = *homes.rooms.entry(room.clone()).or_insert(next);
        if home == next {
            homes.next = (next + 1) % self.loops.len();
        }
        &self.loops[home]
    }

    fn lock_homes(&self) -> std::sync::MutexGuard<'_, Homes> {
        // Nothing panics while holding it; a poisoned map is still a map.
        self.homes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a seated member's first offer; returns the server's answer, or why not.
    pub async fn join(
        &self,
        room: RoomName,
        member: PeerId,
        offer: String,
    ) -> Result<String, String> {
        let home = self.home(&room).await;
        // A member that moved rooms leaves its old loop's connection behind.
        for other in self.loops.iter().filter(|l| !std::ptr::eq(*l, home)) {
            let _ = other.commands.send(Command::Leave {
                member: member.clone(),
            });
        }
        let (answer, answered) = oneshot::channel();
        let sent = home.commands.send(Command::Join {
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
        for l in self.loops.iter() {
            let _ = l.commands.send(Command::Leave {
                member: member.clone(),
            });
        }
    }

    /// The rooms with media here now.
    pub async fn rooms(&self) -> std::collections::HashSet<RoomName> {
        let mut all = std::collections::HashSet::new();
        for l in self.loops.iter() {
            let (reply, rooms) = oneshot::channel();
            if l.commands.send(Command::Rooms { reply }).is_ok() {
                all.extend(rooms.await.unwrap_or_default());
            }
        }
        all
    }
}
