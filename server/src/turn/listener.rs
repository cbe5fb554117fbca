//! The relay's sockets on tokio: the UDP and TCP listeners on the TURN port, one socket per
//! relayed address, and the tasks that read them and feed the state machine. Every task lives
//! in one `JoinSet` owned by [`run`], so stopping that one task stops them all.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::allocation::{Client, Transport};
use super::protocol::{Now, Output, RelaySockets, Turn};
use crate::metrics::RelayCounters;
use crate::sync::lock;

/// Frames waiting to be written to one TCP client; more are dropped (it reads too slowly).
const TCP_QUEUE: usize = 256;
/// The largest frame a TCP client may send: a STUN message or ChannelData, padded.
const MAX_FRAME: usize = 4 + 65_535 + 3;

/// Opens relay sockets on random ports of the range.
pub struct Sockets {
    /// The address relay sockets bind to.
    pub ip: IpAddr,
    /// The ports they may take.
    pub ports: (u16, u16),
}

impl RelaySockets for Sockets {
    type Socket = Arc<UdpSocket>;

    fn open(&mut self, even: bool) -> Option<(Arc<UdpSocket>, u16)> {
        let (min, max) = self.ports;
        let span = u32::from(max - min) + 1;
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..64 {
            let mut bytes = [0u8; 4];
            ring::rand::SecureRandom::fill(&rng, &mut bytes).ok()?;
            let mut port = min as u32 + u32::from_le_bytes(bytes) % span;
            if even && port % 2 == 1 {
                port = if port < max as u32 {
                    port + 1
                } else {
                    port - 1
                };
                if port < min as u32 || port % 2 == 1 {
                    continue;
                }
            }
            let Ok(socket) = std::net::UdpSocket::bind((self.ip, port as u16)) else {
                continue;
            };
            let socket = socket
                .set_nonblocking(true)
                .and_then(|()| UdpSocket::from_std(socket));
            if let Ok(socket) = socket {
                return Some((Arc::new(socket), port as u16));
            }
        }
        None
    }
}

/// What the tasks share.
struct Shared {
    turn: Mutex<Turn<Sockets>>,
    /// The UDP listener: clients over UDP are answered from it.
    udp: Arc<UdpSocket>,
    /// The writer of each TCP client, by connection number.
    connections: Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>,
    /// Relay sockets to start or stop reading (handled by [`run`], which owns the tasks).
    commands: mpsc::UnboundedSender<Command>,
    counters: Arc<RelayCounters>,
}

enum Command {
    Read(Arc<UdpSocket>, SocketAddr),
    Stop(SocketAddr),
}

/// Runs the relay until this future is dropped (its tasks with it).
pub async fn run(
    turn: Turn<Sockets>,
    udp: UdpSocket,
    tcp: TcpListener,
    counters: Arc<RelayCounters>,
    idle: Duration,
    max_connections: usize,
) {
    let (commands, mut requests) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        turn: Mutex::new(turn),
        udp: Arc::new(udp),
        connections: Mutex::new(HashMap::new()),
        commands,
        counters,
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(udp_loop(shared.clone()));
    tasks.spawn(ticker(shared.clone()));
    let mut readers: HashMap<SocketAddr, AbortHandle> = HashMap::new();
    let mut next_connection: u64 = 0;
    loop {
        tokio::select! {
            Some(command) = requests.recv() => match command {
                Command::Read(socket, relay) => {
                    let reader = tasks.spawn(peer_loop(shared.clone(), socket, relay));
                    if let Some(old) = readers.insert(relay, reader) {
                        old.abort();
                    }
                }
                Command::Stop(relay) => {
                    if let Some(reader) = readers.remove(&relay) {
                        reader.abort();
                    }
                }
            },
            accepted = tcp.accept() => match accepted {
                Ok((stream, addr)) => {
                    if lock(&shared.connections).len() >= max_connections {
                        shared.counters.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    next_connection += 1;
                    let id = next_connection;
                    tasks.spawn(connection(shared.clone(), stream, addr, id, idle));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!(%error, "TURN: cannot accept a TCP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next() => {}
        }
    }
}

/// Runs `step` on the state machine and carries out what it asks.
fn handle(
    shared: &Shared,
    step: impl FnOnce(&mut Turn<Sockets>, &mut Vec<Output<Arc<UdpSocket>>>),
) {
    let mut out = Vec::new();
    step(&mut lock(&shared.turn), &mut out);
    for output in out {
        match output {
            Output::Client(client, data) => send_to_client(shared, client, data),
            Output::Peer { socket, peer, data } => {
                // UDP: a full socket buffer drops the packet, as the network would.
                if socket.try_send_to(&data, peer).is_err() {
                    shared
                        .counters
                        .dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Output::Opened { socket, relay } => {
                let _ = shared.commands.send(Command::Read(socket, relay));
            }
            Output::Closed { relay } => {
                let _ = shared.commands.send(Command::Stop(relay));
            }
        }
    }
}

fn send_to_client(shared: &Shared, client: Client, data: Vec<u8>) {
    let sent = match client.transport {
        Transport::Udp => shared.udp.try_send_to(&data, client.addr).is_ok(),
        Transport::Tcp(id) => lock(&shared.connections)
            .get(&id)
            .is_some_and(|writer| writer.try_send(data).is_ok()),
    };
    if !sent {
        shared
            .counters
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn udp_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = shared.udp.recv_from(&mut buf).await else {
            // An ICMP error reported on the socket: nothing to do with the next datagram.
            continue;
        };
        let client = Client {
            transport: Transport::Udp,
            addr: from,
        };
        handle(&shared, |turn, out| {
            turn.receive_from_client(client, &buf[..n], Now::system(), out);
        });
    }
}

async fn peer_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, relay: SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        handle(&shared, |turn, out| {
            turn.receive_from_peer(relay, from, &buf[..n], std::time::Instant::now(), out);
        });
    }
}

async fn ticker(shared: Arc<Shared>) {
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    loop {
        every_second.tick().await;
        handle(&shared, |turn, out| {
            turn.tick(std::time::Instant::now(), out)
        });
    }
}

/// One TCP client: frames in, frames out, its allocations ended when it goes.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    id: u64,
    idle: Duration,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (queue, mut queued) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    lock(&shared.connections).insert(id, queue);
    let write = async {
        while let Some(frame) = queued.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
    };
    let client = Client {
        transport: Transport::Tcp(id),
        addr,
    };
    let read = async {
        let mut framer = Framer::default();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(idle, reader.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            framer.push(&chunk[..n]);
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => handle(&shared, |turn, out| {
                        turn.receive_from_client(client, &frame, Now::system(), out);
                    }),
                    Ok(None) => break,
                    Err(Garbage) => {
                        shared
                            .counters
                            .dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = write => {}
        () = read => {}
    }
    lock(&shared.connections).remove(&id);
    handle(&shared, |turn, out| turn.connection_closed(id, out));
}

/// Bytes that are neither STUN nor ChannelData: the stream cannot be framed any more.
#[derive(Debug, PartialEq, Eq)]
pub struct Garbage;

/// Cuts a TCP stream into STUN messages and ChannelData frames (RFC 8656 §12.5: over TCP,
/// ChannelData is padded to a multiple of four bytes).
#[derive(Default)]
pub struct Framer {
    buffer: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, Garbage> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let length = u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize;
        let total = match self.buffer[0] >> 6 {
            0 => 20 + length,
            1 => (4 + length + 3) & !3,
            _ => return Err(Garbage),
        };
        if total > MAX_FRAME {
            return Err(Garbage);
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let rest = self.buffer.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buffer, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stun_and_padded_channel_data_across_reads() {
        let mut framer = Framer::default();
        let stun = {
            let mut m = vec![0, 1, 0, 4, 0x21, 0x12, 0xA4, 0x42];
            m.extend([7; 12]);
            m.extend([0x80, 0x22, 0, 0]);
            m
        };
        let channel = [0x40, 0x00, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0];
        let mut stream = stun.clone();
        stream.extend(channel);
        for byte in &stream[..stream.len() - 1] {
            framer.push(&[*byte]);
        }
        assert_eq!(framer.next_frame(), Ok(Some(stun)));
        assert_eq!(framer.next_frame(), Ok(None), "padding still missing");
        framer.push(&[0]);
        assert_eq!(framer.next_frame(), Ok(Some(channel.to_vec())));
        assert_eq!(framer.next_frame(), Ok(None));
        framer.push(&[0xC0, 0, 0, 0]);
        assert_eq!(framer.next_frame(), Err(Garbage));
    }
}
