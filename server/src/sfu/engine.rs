//! The SFU's loop: one UDP socket for every connection, one task owning every `Rtc` (str0m
//! is sans-IO: this loop feeds it packets and the time, and sends what it writes). Packets
//! find their connection by source address; what one connection receives is passed to the
//! others in its room.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::protocol::meet::{FromSfu, RoomName};
use app::protocol::PeerId;
use rustc_hash::{FxHashMap, FxHashSet};
use str0m::change::SdpOffer;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::client::{Client, ClientId, Polled, Propagated};
use super::outbox::Outbox;
use super::{Command, Counters};

/// m-lines in a first offer: a microphone, a camera, a screen and the data channel.
const MAX_FIRST_MLINES: usize = 4;
/// What one person may send us, in bytes per second (three camera layers and a screen take
/// about 3 Mbit/s; a browser never sends 12).
const MAX_INGRESS_BYTES_PER_SECOND: u64 = 1_500_000;
/// And in packets per second: a browser sends a few hundred (media, its repairs and its
/// reports); thousands of small ones are a flood (of RTCP, say) that the byte cap lets by.
const MAX_INGRESS_PACKETS_PER_SECOND: u64 = 2_000;
/// Source addresses one connection may use.
const MAX_PATHS: usize = 8;
/// The loop wakes at least this often, to notice connections that went.
const LONGEST_SLEEP: Duration = Duration::from_millis(100);
/// Packets taken from the socket in one wake-up (timeouts and dead connections are looked
/// at between batches, not after every packet).
const RECEIVE_BATCH: usize = 64;

pub struct Engine {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    candidates: Vec<Candidate>,
    clients: FxHashMap<ClientId, Client>,
    by_member: HashMap<PeerId, ClientId>,
    by_addr: FxHashMap<SocketAddr, ClientId>,
    rooms: HashMap<RoomName, Vec<ClientId>>,
    ingress: FxHashMap<ClientId, Ingress>,
    next_id: ClientId,
    counters: Arc<Counters>,
    /// Connections to poll: something happened to them.
    dirty: FxHashSet<ClientId>,
    /// `dirty` taken for polling (kept for its allocation).
    polling: Vec<ClientId>,
    /// What the connections wrote, sent together at the end of each batch.
    outbox: Outbox,
    gauges: Gauges,
}

/// What one connection sent us in the current second.
struct Ingress {
    second: Instant,
    bytes: u64,
    packets: u64,
}

impl Ingress {
    fn starting(second: Instant) -> Ingress {
        Ingress {
            second,
            bytes: 0,
            packets: 0,
        }
    }
}

impl Engine {
    pub fn new(
        socket: UdpSocket,
        candidates: Vec<Candidate>,
        counters: Arc<Counters>,
    ) -> std::io::Result<Engine> {
        let local = socket.local_addr()?;
        let socket = Arc::new(socket);
        Ok(Engine {
            outbox: Outbox::new(socket.clone(), counters.clone()),
            socket,
            local,
            candidates,
            clients: FxHashMap::default(),
            by_member: HashMap::new(),
            by_addr: FxHashMap::default(),
            rooms: HashMap::new(),
            ingress: FxHashMap::default(),
            next_id: 1,
            counters,
            dirty: FxHashSet::default(),
            polling: Vec::new(),
            gauges: Gauges::default(),
        })
    }

    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let socket = self.socket.clone();
        let mut buf = vec![0u8; 2048];
        loop {
            let now = Instant::now();
            let wake = self
                .clients
                .values()
                .map(|c| c.next_timeout)
                .min()
                .unwrap_or(now + LONGEST_SLEEP)
                .min(now + LONGEST_SLEEP);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
                received = socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        self.receive(&buf[..n], from);
                        for _ in 1..RECEIVE_BATCH {
                            let Ok((n, from)) = socket.try_recv_from(&mut buf) else {
                                break;
                            };
                            self.receive(&buf[..n], from);
                        }
                        // The receivers, once per batch however many packets each got.
                        self.drive();
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            self.timeouts(Instant::now());
            self.drive();
            self.reap();
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Join {
                room,
                member,
                offer,
                answer,
            } => {
                let _ = answer.send(self.join(room, member, &offer));
            }
            Command::Leave { member } => {
                if let Some(id) = self.by_member.get(&member).copied() {
                    self.remove(id);
                }
            }
            Command::Rooms { reply } => {
                let _ = reply.send(self.rooms.keys().cloned().collect());
            }
        }
    }

    /// A member's first offer: a new connection (replacing any it had), which receives
    /// every track the room's others publish.
    fn join(&mut self, room: RoomName, member: PeerId, offer: &str) -> Result<String, String> {
        let mlines = offer.matches("\nm=").count();
        if mlines > MAX_FIRST_MLINES {
            self.counters.add(&self.counters.refused_offers, 1);
            return Err(format!(
                "An offer has at most {MAX_FIRST_MLINES} media sections (it had {mlines})."
            ));
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| {
            self.counters.add(&self.counters.refused_offers, 1);
            format!("That offer is not valid SDP: {e}")
        })?;
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            // Packets are forwarded as they come, never reassembled into frames (`rtp.rs`).
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(now);
        for candidate in &self.candidates {
            rtc.add_local_candidate(candidate.clone());
        }
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| {
            self.counters.add(&self.counters.refused_offers, 1);
            format!("The server cannot take that offer: {e}")
        })?;
        // A member's new connection replaces its old one, once the new offer is taken.
        if let Some(old) = self.by_member.get(&member).copied() {
            self.remove(old);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut client = Client::new(id, member.clone(), room.clone(), rtc, now);
        let members = self.rooms.entry(room).or_default();
        for other in members.iter() {
            if let Some(other) = self.clients.get(other) {
                for source in other.sources() {
                    client.subscribe(source.clone());
                }
            }
        }
        members.push(id);
        self.clients.insert(id, client);
        self.by_member.insert(member, id);
        self.dirty.insert(id);
        self.drive();
        self.update_gauges();
        Ok(answer.to_sdp_string())
    }

    fn receive(&mut self, bytes: &[u8], from: SocketAddr) {
        self.counters.add(&self.counters.received_packets, 1);
        let Ok(contents) = bytes.try_into() else {
            self.counters.add(&self.counters.dropped_packets, 1);
            return;
        };
        let now = Instant::now();
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.local,
                contents,
            },
        );
        let id = match self.by_addr.get(&from) {
            Some(id) => *id,
            None => match self.clients.values().find(|c| c.rtc.accepts(&input)) {
                Some(client) => {
                    // A connection tries a few paths (IPv4, IPv6, relay): more is an attack
                    // on the map.
                    let paths = self.by_addr.values().filter(|id| **id == client.id).count();
                    if paths >= MAX_PATHS {
                        self.counters.add(&self.counters.dropped_packets, 1);
                        return;
                    }
                    self.by_addr.insert(from, client.id);
                    client.id
                }
                None => {
                    self.counters.add(&self.counters.dropped_packets, 1);
                    return;
                }
            },
        };
        let ingress = self.ingress.entry(id).or_insert(Ingress::starting(now));
        if now.duration_since(ingress.second) >= Duration::from_secs(1) {
            *ingress = Ingress::starting(now);
        }
        ingress.bytes += bytes.len() as u64;
        ingress.packets += 1;
        if ingress.bytes > MAX_INGRESS_BYTES_PER_SECOND
            || ingress.packets > MAX_INGRESS_PACKETS_PER_SECOND
        {
            self.counters.add(&self.counters.over_rate_packets, 1);
            return;
        }
        // Its own packet finds it drained (what was forwarded to it sent first).
        if self.dirty.remove(&id) {
            self.drain(id);
        }
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if client.rtc.handle_input(input).is_err() {
            client.rtc.disconnect();
        }
        self.drain(id);
    }

    /// Drains one connection and passes on what it produced. The connections it forwarded
    /// to are only marked dirty, drained by the batch's `drive`. str0m's rule is a drain
    /// after every mutation, but in str0m 0.25 (pinned) a forwarded packet only joins its
    /// stream's send queue (`StreamTx::write_rtp`), as do keyframe requests and channel
    /// writes, and the queue is sent once the time is given (`Client::written`). So a
    /// receiver gets one input of the time and one drain per batch, however many packets
    /// were forwarded to it, where the rule would cost two drains and a wake-up each. A
    /// packet from the network still always meets a drained connection.
    fn drain(&mut self, id: ClientId) {
        let mut passed = VecDeque::new();
        self.poll_until_timeout(id, &mut passed);
        while let Some((from, propagated)) = passed.pop_front() {
            self.pass_on(from, propagated, &mut passed);
        }
    }

    fn timeouts(&mut self, now: Instant) {
        for client in self.clients.values_mut() {
            if client.next_timeout <= now {
                if client.rtc.handle_input(Input::Timeout(now)).is_err() {
                    client.rtc.disconnect();
                }
                self.dirty.insert(client.id);
            }
        }
    }

    /// Polls every connection something happened to until it waits for time, and passes
    /// what they produced on to the others (which makes those dirty in turn), then sends
    /// what they wrote.
    fn drive(&mut self) {
        let mut passed: VecDeque<(ClientId, Propagated)> = VecDeque::new();
        while !self.dirty.is_empty() || !passed.is_empty() {
            let mut dirty = std::mem::take(&mut self.polling);
            dirty.extend(self.dirty.drain());
            for id in dirty.drain(..) {
                self.poll_until_timeout(id, &mut passed);
            }
            self.polling = dirty;
            while let Some((from, propagated)) = passed.pop_front() {
                self.pass_on(from, propagated, &mut passed);
            }
        }
        self.outbox.flush();
    }

    fn poll_until_timeout(&mut self, id: ClientId, passed: &mut VecDeque<(ClientId, Propagated)>) {
        let (counters, outbox) = (&self.counters, &mut self.outbox);
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let mut send = |to, datagram| outbox.push(to, datagram);
        // What was forwarded to it goes out in this drain, not after another wake-up.
        if std::mem::take(&mut client.written)
            && client
                .rtc
                .handle_input(Input::Timeout(Instant::now()))
                .is_err()
        {
            client.rtc.disconnect();
        }
        while client.rtc.is_alive() {
            match client.poll(counters, &mut send) {
                Ok(Polled::Timeout) => return,
                Ok(Polled::Nothing) => {}
                Ok(Polled::Propagate(p)) => passed.push_back((id, p)),
                Err(_) => client.rtc.disconnect(),
            }
        }
        client.next_timeout = Instant::now();
    }

    fn pass_on(
        &mut self,
        from: ClientId,
        propagated: Propagated,
        passed: &mut VecDeque<(ClientId, Propagated)>,
    ) {
        let Some(sender) = self.clients.get(&from) else {
            return;
        };
        if let Propagated::Media {
            origin,
            packet,
            sending,
        } = &propagated
        {
            // The most frequent by far: no list of the others is made.
            let members = self.rooms.get(&sender.room).map_or(&[][..], Vec::as_slice);
            for id in members.iter().filter(|id| **id != from) {
                if let Some(other) = self.clients.get_mut(id) {
                    if let Some(ask) = other.forward(*origin, packet, *sending, &self.counters) {
                        passed.push_back((*id, ask));
                    }
                    self.dirty.insert(*id);
                }
            }
            return;
        }
        let others: Vec<ClientId> = self
            .rooms
            .get(&sender.room)
            .map(|ids| ids.iter().copied().filter(|id| *id != from).collect())
            .unwrap_or_default();
        match propagated {
            Propagated::TrackOpened(source) => {
                for id in others {
                    if let Some(other) = self.clients.get_mut(&id) {
                        other.subscribe(source.clone());
                        self.dirty.insert(id);
                    }
                }
                self.update_gauges();
            }
            Propagated::TrackClosed(source) => {
                for id in others {
                    if let Some(other) = self.clients.get_mut(&id) {
                        other.unsubscribe(source.origin, Some(source.mid));
                        self.dirty.insert(id);
                    }
                }
                self.update_gauges();
            }
            // Passed on above.
            Propagated::Media { .. } => {}
            Propagated::KeyframeRequest {
                publisher,
                mid,
                rid,
            } => {
                if let Some(publisher) = self.clients.get_mut(&publisher) {
                    publisher.request_keyframe(mid, rid, Instant::now(), &self.counters);
                    self.dirty.insert(publisher.id);
                }
            }
            Propagated::Said(message) => {
                let Some(from) = self.clients.get(&from).map(|c| c.member.clone()) else {
                    return;
                };
                let said = FromSfu::Said { from, message };
                for id in others {
                    if let Some(other) = self.clients.get_mut(&id) {
                        other.tell(&said);
                        self.dirty.insert(id);
                    }
                }
            }
            Propagated::Negotiated => self.update_gauges(),
            Propagated::ChannelOpened => {
                let states: Vec<FromSfu> = others
                    .iter()
                    .filter_map(|id| self.clients.get(id))
                    .filter_map(|other| {
                        Some(FromSfu::Said {
                            from: other.member.clone(),
                            message: other.state.clone()?,
                        })
                    })
                    .collect();
                if let Some(client) = self.clients.get_mut(&from) {
                    for state in &states {
                        client.tell(state);
                    }
                    self.dirty.insert(from);
                }
            }
        }
    }

    /// Removes connections that closed, failed or timed out.
    fn reap(&mut self) {
        let dead: Vec<ClientId> = self
            .clients
            .values()
            .filter(|c| !c.rtc.is_alive())
            .map(|c| c.id)
            .collect();
        for id in dead {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: ClientId) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        if self.by_member.get(&client.member) == Some(&id) {
            self.by_member.remove(&client.member);
        }
        self.by_addr.retain(|_, owner| *owner != id);
        self.ingress.remove(&id);
        if let Some(members) = self.rooms.get_mut(&client.room) {
            members.retain(|m| *m != id);
            for other in members.iter() {
                if let Some(other) = self.clients.get_mut(other) {
                    other.unsubscribe(id, None);
                    self.dirty.insert(other.id);
                }
            }
            if members.is_empty() {
                self.rooms.remove(&client.room);
            }
        }
        self.drive();
        self.update_gauges();
    }

    /// This loop's share of the gauges the loops share: rooms, publishers, subscriptions.
    fn update_gauges(&mut self) {
        let now = Gauges {
            rooms: self.rooms.len() as u64,
            publishers: self.clients.values().filter(|c| c.publishes()).count() as u64,
            subscriptions: self
                .clients
                .values()
                .map(|c| c.subscriptions() as u64)
                .sum(),
        };
        let (was, c) = (&self.gauges, &self.counters);
        c.shift(&c.rooms, was.rooms, now.rooms);
        c.shift(&c.publishers, was.publishers, now.publishers);
        c.shift(&c.subscriptions, was.subscriptions, now.subscriptions);
        self.gauges = now;
    }
}

#[derive(Default)]
struct Gauges {
    rooms: u64,
    publishers: u64,
    subscriptions: u64,
}
