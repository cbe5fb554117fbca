//! STUN and TURN as a sans-IO state machine: fed a client's bytes (or a peer's, at a relayed
//! address) and the time, it answers with what to send where. The listener owns the sockets;
//! the tests drive it with a fake clock. RFC 8489 (STUN) and RFC 8656 (TURN), UDP relays.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::hmac;
use stun_types::attribute::{
    AttributeStaticType, ErrorCode, MessageIntegrity, MessageIntegritySha256, Nonce, Realm,
    UnknownAttributes, Username, XorMappedAddress,
};
use stun_types::message::{
    IntegrityAlgorithm, IntegrityKey, LongTermKeyCredentials, Message, MessageClass, MessageHeader,
    MessageWriteExt, MessageWriteVec, BINDING,
};
use stun_types::prelude::{Attribute, AttributeFromRaw, MessageWrite};
use turn_types::attribute::{
    ChannelNumber, Data, EvenPort, Lifetime, RequestedAddressFamily, RequestedTransport,
    XorPeerAddress, XorRelayedAddress,
};
use turn_types::channel::ChannelData;
use turn_types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, REFRESH, SEND};
use turn_types::AddressFamily;

use super::allocation::{Allocation, Allocations, Client, Transport, CHANNEL_LIFETIME};
use super::bounds::{Bucket, Limits, PeerPolicy, UnauthenticatedAnswers};
use super::credentials;
use crate::metrics::RelayCounters;

/// The lifetime an allocation gets when it asks for none (RFC 8656 §7.2).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// How long a nonce is good for; then the client hears 438 and retries with a new one.
const NONCE_LIFETIME: u64 = 600;
/// The largest payload relayed (a WebRTC packet is under 1 500 bytes).
pub const MAX_RELAYED: usize = 16 * 1024;
/// Channel numbers a client may bind: RFC 8656 §12 narrowed them to 0x4000-0x4FFF, but
/// RFC 5766 allowed up to 0x7FFF and coturn's own client still picks from there.
const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x7FFF;

/// Opens the relay's sockets: the listener does it for real, the tests pretend.
pub trait RelaySockets {
    /// What sends to peers from one relayed address.
    type Socket: Clone;
    /// A socket on a free port of the relay range (an even one when `even`), and its port.
    fn open(&mut self, even: bool) -> Option<(Self::Socket, u16)>;
}

/// What the state machine asks its driver to do.
#[derive(Debug)]
pub enum Output<S> {
    /// Send `data` to a client over its transport.
    Client(Client, Vec<u8>),
    /// Send `data` from a relayed address (its socket) to a peer outside this process.
    Peer {
        socket: S,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    /// A relayed address was allocated: read what peers send to its socket.
    Opened { socket: S, relay: SocketAddr },
    /// A relayed address was released: stop reading and close its socket.
    Closed { relay: SocketAddr },
}

/// The time: monotonic for lifetimes, Unix seconds for credentials and nonces.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub unix: u64,
}

impl Now {
    pub fn system() -> Now {
        Now {
            at: Instant::now(),
            unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// What the relay is told at start.
pub struct Settings {
    /// The REALM of the long-term credentials.
    pub realm: String,
    /// The secret credentials are made from.
    pub secret: String,
    /// The address relayed candidates carry.
    pub relay_ip: IpAddr,
    pub limits: Limits,
    pub policy: PeerPolicy,
}

/// A request that passed authentication.
struct Authenticated {
    username: String,
    user: String,
    key: IntegrityKey,
}

/// The answer to a request that is not served for its credentials' sake.
struct Refusal {
    reply: Vec<u8>,
    /// Whether the request was signed with valid credentials (then its answer is no
    /// unauthenticated one: a stale nonce, another user's allocation).
    proven: bool,
}

impl Refusal {
    fn unproven(reply: Vec<u8>) -> Self {
        Refusal {
            reply,
            proven: false,
        }
    }

    fn proven(reply: Vec<u8>) -> Self {
        Refusal {
            reply,
            proven: true,
        }
    }
}

/// The relay: every allocation, and how to answer each message.
pub struct Turn<R: RelaySockets> {
    settings: Settings,
    /// Signs nonces, so that they need no state (a random key per start).
    nonce_key: hmac::Key,
    sockets: R,
    allocations: Allocations<R::Socket>,
    unauthenticated: UnauthenticatedAnswers,
    counters: Arc<RelayCounters>,
}

/// The STUN attributes we understand; any other comprehension-required one gets 420.
const KNOWN: [u16; 15] = [
    0x0006, // USERNAME
    0x0008, // MESSAGE-INTEGRITY
    0x0009, // ERROR-CODE
    0x000A, // UNKNOWN-ATTRIBUTES
    0x000C, // CHANNEL-NUMBER
    0x000D, // LIFETIME
    0x0012, // XOR-PEER-ADDRESS
    0x0013, // DATA
    0x0014, // REALM
    0x0015, // NONCE
    0x0016, // XOR-RELAYED-ADDRESS
    0x0017, // REQUESTED-ADDRESS-FAMILY
    0x0018, // EVEN-PORT
    0x0019, // REQUESTED-TRANSPORT
    0x001C, // MESSAGE-INTEGRITY-SHA256 (refused by authentication: we sign with SHA-1)
];

impl<R: RelaySockets> Turn<R> {
    pub fn new(settings: Settings, sockets: R, counters: Arc<RelayCounters>) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let nonce_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, settings.secret.as_bytes()));
        Turn {
            settings,
            nonce_key,
            sockets,
            allocations: Allocations::default(),
            unauthenticated: UnauthenticatedAnswers::default(),
            counters,
        }
    }

    /// How many allocations there are now.
    #[cfg(test)]
    pub fn allocations(&self) -> usize {
        self.allocations.len()
    }

    /// Bytes from a client: a STUN message or ChannelData (one whole frame).
    pub fn receive_from_client(
        &mut self,
        client: Client,
        data: &[u8],
        now: Now,
        out: &mut Vec<Output<R::Socket>>,
    ) {
        match data.first().map(|b| b >> 6) {
            Some(0) => self.stun(client, data, now, out),
            Some(1) => self.channel_data(client, data, now.at, out),
            _ => self.drop_packet(),
        }
    }

    /// Bytes a peer sent to the relayed address `relay`.
    pub fn receive_from_peer(
        &mut self,
        relay: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) {
        let Some(client) = self.allocations.client_of(relay) else {
            return self.drop_packet();
        };
        let Some(allocation) = self.allocations.get_mut(&client) else {
            return self.drop_packet();
        };
        if data.len() > MAX_RELAYED
            || !allocation.permits(peer, now)
            || !allocation.bucket.take(data.len(), now)
        {
            return self.drop_packet();
        }
        let frame = match allocation.channel_to(peer, now) {
            Some(number) => {
                let padded = match client.transport {
                    // Over TCP, ChannelData is padded to a multiple of 4 (RFC 8656 §12.5).
                    Transport::Tcp(_) => (data.len() + 3) & !3,
                    Transport::Udp => data.len(),
                };
                let mut frame = vec![0; 4 + padded];
                ChannelData::new(number, data).write_into_unchecked(&mut frame[..4 + data.len()]);
                frame
            }
            None => {
                let mut indication = Message::builder_indication(
                    turn_types::message::DATA,
                    MessageWriteVec::with_capacity(data.len() + 48),
                );
                let tid = indication.transaction_id();
                let _ = indication.add_attribute(&XorPeerAddress::new(peer, tid));
                let _ = indication.add_attribute(&Data::new(data));
                indication.finish()
            }
        };
        self.count_relayed(data.len());
        out.push(Output::Client(client, frame));
    }

    /// Ends what has expired: allocations (their sockets closed), permissions, channels.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output<R::Socket>>) {
        for ended in self.allocations.expire(now) {
            self.released(ended.relay, out);
        }
        self.unauthenticated.forget_idle(now);
    }

    /// A TCP connection closed: its allocations end with it (RFC 8656 §3.1).
    pub fn connection_closed(&mut self, connection: u64, out: &mut Vec<Output<R::Socket>>) {
        for client in self.allocations.on_connection(connection) {
            if let Some(ended) = self.allocations.remove(&client) {
                self.released(ended.relay, out);
            }
        }
    }

    fn released(&mut self, relay: SocketAddr, out: &mut Vec<Output<R::Socket>>) {
        self.counters.allocations.fetch_sub(1, Relaxed);
        out.push(Output::Closed { relay });
    }

    fn drop_packet(&self) {
        self.counters.dropped.fetch_add(1, Relaxed);
    }

    fn count_relayed(&self, bytes: usize) {
        self.counters.packets.fetch_add(1, Relaxed);
        self.counters.bytes.fetch_add(bytes as u64, Relaxed);
    }

    fn stun(&mut self, client: Client, data: &[u8], now: Now, out: &mut Vec<Output<R::Socket>>) {
        // One whole message, nothing after it (a datagram, or one frame of the TCP stream).
        let whole = MessageHeader::from_bytes(data)
            .is_ok_and(|h| MessageHeader::LENGTH + h.data_length() as usize == data.len());
        let Some(msg) = whole.then(|| Message::from_bytes(data).ok()).flatten() else {
            return self.drop_packet();
        };
        match msg.class() {
            MessageClass::Request => match self.request(client, &msg, now, out) {
                Some(reply) => out.push(Output::Client(client, reply)),
                None => self.drop_packet(),
            },
            MessageClass::Indication if msg.has_method(SEND) => {
                self.send_indication(client, &msg, now.at, out);
            }
            // Binding indications are keep-alives; responses are not for a server.
            _ => {}
        }
    }

    /// The answer to a request; none when its address has had all the answers without
    /// credentials it may have (see [`UnauthenticatedAnswers`]; over UDP only, the one
    /// transport whose source address can be forged).
    fn request(
        &mut self,
        client: Client,
        msg: &Message,
        now: Now,
        out: &mut Vec<Output<R::Socket>>,
    ) -> Option<Vec<u8>> {
        let fingerprint = msg.has_attribute(stun_types::attribute::Fingerprint::TYPE);
        let udp = client.transport == Transport::Udp;
        // Checked before any work when the request carries no credentials at all.
        let uncredentialed = udp
            && (msg.has_method(BINDING)
                || !(msg.has_attribute(MessageIntegrity::TYPE)
                    || msg.has_attribute(MessageIntegritySha256::TYPE)));
        if uncredentialed && !self.unauthenticated.admit(client.addr.ip(), now.at) {
            return None;
        }
        match self.answer(client, msg, fingerprint, now, out) {
            Ok(reply) => Some(reply),
            Err(refusal) => {
                let answer = uncredentialed
                    || refusal.proven
                    || !udp
                    || self.unauthenticated.admit(client.addr.ip(), now.at);
                answer.then_some(refusal.reply)
            }
        }
    }

    /// The answer to a request, or the refusal of one whose credentials are missing, wrong
    /// or out of date.
    fn answer(
        &mut self,
        client: Client,
        msg: &Message,
        fingerprint: bool,
        now: Now,
        out: &mut Vec<Output<R::Socket>>,
    ) -> Result<Vec<u8>, Refusal> {
        if msg.has_method(BINDING) {
            if let Some(unknown) = unknown_attributes(msg) {
                return Ok(reply_error(msg, 420, &[&unknown], None, fingerprint));
            }
            let mut reply = Message::builder_success(msg, MessageWriteVec::new());
            let _ = reply.add_attribute(&XorMappedAddress::new(client.addr, msg.transaction_id()));
            return Ok(finish(reply, None, fingerprint));
        }
        let auth = self.authenticate(client, msg, now)?;
        let key = Some(&auth.key);
        if let Some(unknown) = unknown_attributes(msg) {
            return Ok(reply_error(msg, 420, &[&unknown], key, fingerprint));
        }
        let method = msg.method();
        let done = if method == ALLOCATE {
            self.allocate(client, msg, &auth, now.at, out)
        } else if method == REFRESH {
            self.refresh(client, msg, now.at, out)
        } else if method == CREATE_PERMISSION {
            self.create_permission(client, msg, now.at)
        } else if method == CHANNEL_BIND {
            self.channel_bind(client, msg, now.at)
        } else {
            Err(400)
        };
        Ok(match done {
            Ok(reply) => finish(reply, key, fingerprint),
            Err(code) => reply_error(msg, code, &[], key, fingerprint),
        })
    }

    /// Long-term credentials (RFC 8489 §9.2) with REST usernames: the request's key, or the
    /// error to answer with.
    fn authenticate(
        &mut self,
        client: Client,
        msg: &Message,
        now: Now,
    ) -> Result<Authenticated, Refusal> {
        let fingerprint = msg.has_attribute(stun_types::attribute::Fingerprint::TYPE);
        let challenge = |turn: &Self, code: u16| {
            let nonce = turn.nonce(client.addr.ip(), now.unix);
            let realm = Realm::new(&turn.settings.realm);
            let nonce = Nonce::new(&nonce);
            match (realm, nonce) {
                (Ok(realm), Ok(nonce)) => {
                    reply_error(msg, code, &[&realm, &nonce], None, fingerprint)
                }
                _ => reply_error(msg, 500, &[], None, fingerprint),
            }
        };
        if !msg.has_attribute(MessageIntegrity::TYPE)
            && !msg.has_attribute(MessageIntegritySha256::TYPE)
        {
            return Err(Refusal::unproven(challenge(self, 401)));
        }
        let (Ok(username), Ok(realm), Ok(nonce)) = (
            msg.attribute::<Username>(),
            msg.attribute::<Realm>(),
            msg.attribute::<Nonce>(),
        ) else {
            self.counters.rejected_auth.fetch_add(1, Relaxed);
            return Err(Refusal::unproven(reply_error(
                msg,
                400,
                &[],
                None,
                fingerprint,
            )));
        };
        let refuse = |turn: &Self| {
            turn.counters.rejected_auth.fetch_add(1, Relaxed);
            Refusal::unproven(challenge(turn, 401))
        };
        if realm.realm() != self.settings.realm {
            return Err(refuse(self));
        }
        let username = username.username().to_owned();
        // Expired credentials still serve the allocation they made (see KEPT_AFTER_EXPIRY).
        let own_allocation = self
            .allocations
            .get(&client)
            .is_some_and(|allocation| allocation.username == username);
        let user = match credentials::user_of(&username, now.unix) {
            Ok(user) => user.to_owned(),
            Err(credentials::Refused::Expired) if own_allocation => {
                match credentials::user_of_expired(&username, now.unix) {
                    Some(user) => user.to_owned(),
                    None => return Err(refuse(self)),
                }
            }
            Err(_) => return Err(refuse(self)),
        };
        let password = credentials::password(&self.settings.secret, &username);
        let key =
            LongTermKeyCredentials::new(username.clone(), password, self.settings.realm.clone())
                .make_key(IntegrityAlgorithm::Sha1);
        if msg.validate_integrity_with_key(&key).is_err() {
            return Err(refuse(self));
        }
        // Checked after the integrity (RFC 8489 checks it first), so that a client with valid
        // credentials and an old nonce is answered even while its address is flooded.
        if !self.nonce_is_fresh(nonce.nonce(), client.addr.ip(), now.unix) {
            return Err(Refusal::proven(challenge(self, 438)));
        }
        if let Some(allocation) = self.allocations.get(&client) {
            if allocation.username != username {
                self.counters.rejected_auth.fetch_add(1, Relaxed);
                let reply = reply_error(msg, 441, &[], Some(&key), fingerprint);
                return Err(Refusal::proven(reply));
            }
        }
        Ok(Authenticated {
            username,
            user,
            key,
        })
    }

    /// A nonce that says until when it is good, signed for this client's address:
    /// 16 hex digits of expiry, then the HMAC-SHA256 in hex.
    fn nonce(&self, ip: IpAddr, unix: u64) -> String {
        let expiry = unix + NONCE_LIFETIME;
        let tag = hmac::sign(&self.nonce_key, format!("{expiry}|{ip}").as_bytes());
        let mut nonce = format!("{expiry:016x}");
        for byte in tag.as_ref() {
            nonce.push_str(&format!("{byte:02x}"));
        }
        nonce
    }

    fn nonce_is_fresh(&self, nonce: &str, ip: IpAddr, unix: u64) -> bool {
        if nonce.len() != 16 + 64 || !nonce.is_ascii() {
            return false;
        }
        let Ok(expiry) = u64::from_str_radix(&nonce[..16], 16) else {
            return false;
        };
        let tag: Option<Vec<u8>> = (16..nonce.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&nonce[i..i + 2], 16).ok())
            .collect();
        let Some(tag) = tag else { return false };
        expiry > unix
            && hmac::verify(&self.nonce_key, format!("{expiry}|{ip}").as_bytes(), &tag).is_ok()
    }

    fn allocate(
        &mut self,
        client: Client,
        msg: &Message,
        auth: &Authenticated,
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) -> Result<MessageWriteVec, u16> {
        if let Some(existing) = self.allocations.get(&client) {
            // A retransmission (its answer was lost) gets the same answer; anything else 437.
            if existing.transaction != msg.transaction_id() {
                return Err(437);
            }
            let left = existing.expires.saturating_duration_since(now);
            return Ok(allocated(msg, client, existing.relay, left));
        }
        let transport = msg.attribute::<RequestedTransport>().map_err(|_| 400u16)?;
        if transport.protocol() != RequestedTransport::UDP {
            return Err(442);
        }
        if let Ok(family) = msg.attribute::<RequestedAddressFamily>() {
            if family.family() != self.family() {
                return Err(440);
            }
        }
        let even = match msg.attribute::<EvenPort>() {
            // Reserving the next port (R) is not offered: "insufficient capacity".
            Ok(even) if even.requested() => return Err(508),
            Ok(_) => true,
            Err(_) => false,
        };
        let limits = &self.settings.limits;
        if self.allocations.of_user(&auth.user) >= limits.per_user
            || self.allocations.of_ip(client.addr.ip()) >= limits.per_ip
        {
            self.counters.refused_allocations.fetch_add(1, Relaxed);
            return Err(486);
        }
        if self.allocations.len() >= limits.max_allocations {
            self.counters.refused_allocations.fetch_add(1, Relaxed);
            return Err(508);
        }
        let lifetime = self.lifetime(msg);
        let Some((socket, port)) = self.sockets.open(even) else {
            self.counters.refused_allocations.fetch_add(1, Relaxed);
            return Err(508);
        };
        let relay = SocketAddr::new(self.settings.relay_ip, port);
        self.allocations.insert(
            client,
            Allocation {
                relay,
                socket: socket.clone(),
                username: auth.username.clone(),
                user: auth.user.clone(),
                transaction: msg.transaction_id(),
                expires: now + lifetime,
                permissions: Default::default(),
                channels: Default::default(),
                channel_of: Default::default(),
                bucket: Bucket::new(self.settings.limits.bytes_per_second, now),
            },
        );
        self.counters.allocations.fetch_add(1, Relaxed);
        self.counters.allocations_total.fetch_add(1, Relaxed);
        out.push(Output::Opened { socket, relay });
        Ok(allocated(msg, client, relay, lifetime))
    }

    /// The lifetime asked for, within the default and the cap (RFC 8656 §7.2).
    fn lifetime(&self, msg: &Message) -> Duration {
        let max = self.settings.limits.max_lifetime;
        let floor = DEFAULT_LIFETIME.min(max);
        msg.attribute::<Lifetime>().map_or(floor, |asked| {
            Duration::from_secs(asked.seconds().into()).clamp(floor, max)
        })
    }

    fn family(&self) -> AddressFamily {
        AddressFamily::from(&self.settings.relay_ip)
    }

    fn refresh(
        &mut self,
        client: Client,
        msg: &Message,
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) -> Result<MessageWriteVec, u16> {
        if self.allocations.get(&client).is_none() {
            return Err(437);
        }
        let asked_zero = msg
            .attribute::<Lifetime>()
            .is_ok_and(|asked| asked.seconds() == 0);
        let lifetime = if asked_zero {
            if let Some(ended) = self.allocations.remove(&client) {
                self.released(ended.relay, out);
            }
            Duration::ZERO
        } else {
            let lifetime = self.lifetime(msg);
            if let Some(allocation) = self.allocations.get_mut(&client) {
                allocation.expires = now + lifetime;
            }
            lifetime
        };
        let mut reply = Message::builder_success(msg, MessageWriteVec::new());
        let _ = reply.add_attribute(&Lifetime::new(lifetime.as_secs() as u32));
        Ok(reply)
    }

    /// Whether the relay may exchange data with `peer` at all: a relayed address of this
    /// relay (delivered inside the process), or an address the policy allows.
    fn peer_allowed(&self, peer: SocketAddr) -> bool {
        let allowed = self.allocations.is_relay(peer) || self.settings.policy.check(peer).is_ok();
        if !allowed {
            self.counters.rejected_peers.fetch_add(1, Relaxed);
        }
        allowed
    }

    /// The XOR-PEER-ADDRESSes of a request, checked: 400 without one, 443 for another
    /// family than the relay's, 403 for a peer the relay does not serve.
    fn peers(&self, msg: &Message) -> Result<Vec<SocketAddr>, u16> {
        let tid = msg.transaction_id();
        let mut peers = Vec::new();
        for (_, raw) in msg.iter_attributes() {
            if raw.get_type() == XorPeerAddress::TYPE {
                let peer = XorPeerAddress::from_raw_ref(&raw).map_err(|_| 400u16)?;
                peers.push(peer.addr(tid));
            }
        }
        if peers.is_empty() || peers.len() > self.settings.limits.permissions_per_allocation {
            return Err(400);
        }
        for peer in &peers {
            if AddressFamily::from(peer) != self.family() {
                return Err(443);
            }
            if !self.peer_allowed(*peer) {
                return Err(403);
            }
        }
        Ok(peers)
    }

    fn create_permission(
        &mut self,
        client: Client,
        msg: &Message,
        now: Instant,
    ) -> Result<MessageWriteVec, u16> {
        if self.allocations.get(&client).is_none() {
            return Err(437);
        }
        let peers = self.peers(msg)?;
        let cap = self.settings.limits.permissions_per_allocation;
        let allocation = self.allocations.get_mut(&client).ok_or(437u16)?;
        allocation.expire(now);
        let new = peers
            .iter()
            .filter(|p| !allocation.permits(**p, now))
            .count();
        if allocation.permissions.len() + new > cap {
            return Err(508);
        }
        for peer in peers {
            allocation.permit(peer, now);
        }
        Ok(Message::builder_success(msg, MessageWriteVec::new()))
    }

    fn channel_bind(
        &mut self,
        client: Client,
        msg: &Message,
        now: Instant,
    ) -> Result<MessageWriteVec, u16> {
        if self.allocations.get(&client).is_none() {
            return Err(437);
        }
        let number = msg
            .attribute::<ChannelNumber>()
            .map_err(|_| 400u16)?
            .channel();
        if !CHANNELS.contains(&number) {
            return Err(400);
        }
        let peers = self.peers(msg)?;
        let [peer] = peers[..] else { return Err(400) };
        let limits = &self.settings.limits;
        let (channel_cap, permission_cap) = (
            limits.channels_per_allocation,
            limits.permissions_per_allocation,
        );
        let allocation = self.allocations.get_mut(&client).ok_or(437u16)?;
        allocation.expire(now);
        let bound_peer = allocation.channels.get(&number).map(|(p, _)| *p);
        let bound_number = allocation.channel_of.get(&peer).copied();
        match (bound_peer, bound_number) {
            // A refresh of the same binding.
            (Some(p), Some(n)) if p == peer && n == number => {}
            (None, None) => {
                if allocation.channels.len() >= channel_cap {
                    return Err(508);
                }
            }
            // The number is bound to another peer, or the peer to another number.
            _ => return Err(400),
        }
        if !allocation.permits(peer, now) && allocation.permissions.len() >= permission_cap {
            return Err(508);
        }
        allocation
            .channels
            .insert(number, (peer, now + CHANNEL_LIFETIME));
        allocation.channel_of.insert(peer, number);
        allocation.permit(peer, now);
        Ok(Message::builder_success(msg, MessageWriteVec::new()))
    }

    fn send_indication(
        &mut self,
        client: Client,
        msg: &Message,
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) {
        let tid = msg.transaction_id();
        let (Ok(peer), Ok(data)) = (msg.attribute::<XorPeerAddress>(), msg.attribute::<Data>())
        else {
            return self.drop_packet();
        };
        self.relay_to_peer(client, peer.addr(tid), data.data(), now, out);
    }

    fn channel_data(
        &mut self,
        client: Client,
        data: &[u8],
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) {
        let Ok(channel) = ChannelData::parse(data) else {
            return self.drop_packet();
        };
        let peer = self
            .allocations
            .get(&client)
            .and_then(|a| a.channel_peer(channel.id(), now));
        match peer {
            Some(peer) => self.relay_to_peer(client, peer, channel.data(), now, out),
            None => self.drop_packet(),
        }
    }

    /// Data from a client to one of its peers: to the peer's relayed address inside this
    /// process, or out of the client's relay socket.
    fn relay_to_peer(
        &mut self,
        client: Client,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
        out: &mut Vec<Output<R::Socket>>,
    ) {
        let internal = self.allocations.is_relay(peer);
        // Checked for every packet: a permission is for an IP address, the policy also
        // looks at the port (our own listening ports).
        if !internal && self.settings.policy.check(peer).is_err() {
            self.counters.rejected_peers.fetch_add(1, Relaxed);
            return;
        }
        let Some(allocation) = self.allocations.get_mut(&client) else {
            return self.drop_packet();
        };
        if data.len() > MAX_RELAYED
            || !allocation.permits(peer, now)
            || !allocation.bucket.take(data.len(), now)
        {
            return self.drop_packet();
        }
        let (relay, socket) = (allocation.relay, allocation.socket.clone());
        if internal {
            // Counted once, where it is delivered.
            self.receive_from_peer(peer, relay, data, now, out);
        } else {
            self.count_relayed(data.len());
            out.push(Output::Peer {
                socket,
                peer,
                data: data.to_vec(),
            });
        }
    }
}

/// The success answer to an Allocate.
fn allocated(msg: &Message, client: Client, relay: SocketAddr, left: Duration) -> MessageWriteVec {
    let tid = msg.transaction_id();
    let mut reply = Message::builder_success(msg, MessageWriteVec::new());
    let _ = reply.add_attribute(&XorRelayedAddress::new(relay, tid));
    let _ = reply.add_attribute(&Lifetime::new(left.as_secs() as u32));
    let _ = reply.add_attribute(&XorMappedAddress::new(client.addr, tid));
    reply
}

/// The comprehension-required attributes of `msg` we do not understand, if any.
fn unknown_attributes(msg: &Message) -> Option<UnknownAttributes> {
    let unknown: Vec<_> = msg
        .iter_attributes()
        .map(|(_, raw)| raw.get_type())
        .filter(|t| t.comprehension_required() && !KNOWN.contains(&t.value()))
        .collect();
    (!unknown.is_empty()).then(|| UnknownAttributes::new(&unknown))
}

/// An error answer with `attributes`, signed with `key` when the request was authenticated.
fn reply_error(
    msg: &Message,
    code: u16,
    attributes: &[&dyn stun_types::attribute::AttributeWrite],
    key: Option<&IntegrityKey>,
    fingerprint: bool,
) -> Vec<u8> {
    let mut reply = Message::builder_error(msg, MessageWriteVec::new());
    if let Ok(error) = ErrorCode::builder(code).build() {
        let _ = reply.add_attribute(&error);
    }
    for attribute in attributes {
        let _ = reply.add_attribute(*attribute);
    }
    finish(reply, key, fingerprint)
}

/// Signs (SHA-1 MESSAGE-INTEGRITY, as coturn's client requires) and fingerprints a reply.
fn finish(mut reply: MessageWriteVec, key: Option<&IntegrityKey>, fingerprint: bool) -> Vec<u8> {
    if let Some(key) = key {
        let _ = reply.add_message_integrity_with_key(key, IntegrityAlgorithm::Sha1);
    }
    if fingerprint {
        let _ = reply.add_fingerprint();
    }
    reply.finish()
}
