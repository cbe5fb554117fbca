//! The relay's state: one allocation per client transport address, with its permissions and
//! channels, and the indexes that find one by relayed address and count them per user.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use stun_types::message::TransactionId;

use super::bounds::{canonical, Bucket};

/// How long a permission lives unless refreshed (RFC 8656 §9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a channel binding lives unless refreshed (RFC 8656 §12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// How a client reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    /// A TCP connection, by the number the listener gave it.
    Tcp(u64),
}

/// A client's end of the 5-tuple: its transport and address (the relay's side is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// One allocation: a relayed address that one client holds.
#[derive(Debug)]
pub struct Allocation<S> {
    /// The address peers send to (what XOR-RELAYED-ADDRESS says).
    pub relay: SocketAddr,
    /// The relay's socket, for sending to peers outside this process.
    pub socket: S,
    /// The full username that made it; later requests must use the same (else 441).
    pub username: String,
    /// The user-id part, for the per-user quota.
    pub user: String,
    /// The Allocate transaction, so that its retransmission is answered the same.
    pub transaction: TransactionId,
    /// When it ends unless refreshed.
    pub expires: Instant,
    /// Peers' IP addresses this allocation may exchange data with, until when.
    pub permissions: HashMap<IpAddr, Instant>,
    /// Channel number → (peer, until when).
    pub channels: HashMap<u16, (SocketAddr, Instant)>,
    /// Peer → channel number.
    pub channel_of: HashMap<SocketAddr, u16>,
    /// Its bandwidth, both directions together.
    pub bucket: Bucket,
}

impl<S> Allocation<S> {
    pub fn permits(&self, peer: SocketAddr, now: Instant) -> bool {
        self.permissions
            .get(&canonical(peer.ip()))
            .is_some_and(|until| *until > now)
    }

    pub fn permit(&mut self, peer: SocketAddr, now: Instant) {
        self.permissions
            .insert(canonical(peer.ip()), now + PERMISSION_LIFETIME);
    }

    /// The live channel bound to `peer`, if any.
    pub fn channel_to(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let number = *self.channel_of.get(&peer)?;
        let (_, until) = self.channels.get(&number)?;
        (*until > now).then_some(number)
    }

    /// The peer of a live channel.
    pub fn channel_peer(&self, number: u16, now: Instant) -> Option<SocketAddr> {
        let (peer, until) = self.channels.get(&number)?;
        (*until > now).then_some(*peer)
    }

    /// Drops permissions and channels that have ended.
    pub fn expire(&mut self, now: Instant) {
        self.permissions.retain(|_, until| *until > now);
        let channel_of = &mut self.channel_of;
        self.channels.retain(|_, (peer, until)| {
            let live = *until > now;
            if !live {
                channel_of.remove(peer);
            }
            live
        });
    }
}

/// Every allocation, found by client or by relayed address.
#[derive(Debug)]
pub struct Allocations<S> {
    by_client: HashMap<Client, Allocation<S>>,
    by_relay: HashMap<SocketAddr, Client>,
    per_user: HashMap<String, usize>,
    /// Allocations per client IP address (every page gets a user-id of its own, so this is
    /// what bounds one machine, or one network behind a NAT).
    per_ip: HashMap<IpAddr, usize>,
}

impl<S> Default for Allocations<S> {
    fn default() -> Self {
        Allocations {
            by_client: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            per_ip: HashMap::new(),
        }
    }
}

impl<S> Allocations<S> {
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn of_user(&self, user: &str) -> usize {
        self.per_user.get(user).copied().unwrap_or(0)
    }

    pub fn of_ip(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&canonical(ip)).copied().unwrap_or(0)
    }

    pub fn get(&self, client: &Client) -> Option<&Allocation<S>> {
        self.by_client.get(client)
    }

    pub fn get_mut(&mut self, client: &Client) -> Option<&mut Allocation<S>> {
        self.by_client.get_mut(client)
    }

    /// The client holding the relayed address `relay`.
    pub fn client_of(&self, relay: SocketAddr) -> Option<Client> {
        self.by_relay.get(&relay).copied()
    }

    pub fn is_relay(&self, addr: SocketAddr) -> bool {
        self.by_relay.contains_key(&addr)
    }

    pub fn insert(&mut self, client: Client, allocation: Allocation<S>) {
        self.by_relay.insert(allocation.relay, client);
        *self.per_user.entry(allocation.user.clone()).or_default() += 1;
        *self.per_ip.entry(canonical(client.addr.ip())).or_default() += 1;
        if let Some(old) = self.by_client.insert(client, allocation) {
            // Callers remove first; keep the indexes right anyway.
            self.unindex(&client, &old);
        }
    }

    pub fn remove(&mut self, client: &Client) -> Option<Allocation<S>> {
        let allocation = self.by_client.remove(client)?;
        self.unindex(client, &allocation);
        Some(allocation)
    }

    fn unindex(&mut self, client: &Client, allocation: &Allocation<S>) {
        self.by_relay.remove(&allocation.relay);
        count_down(&mut self.per_user, &allocation.user);
        count_down(&mut self.per_ip, &canonical(client.addr.ip()));
    }

    /// Removes the allocations that have ended (and ended permissions and channels of the
    /// rest); returns the removed ones.
    pub fn expire(&mut self, now: Instant) -> Vec<Allocation<S>> {
        let ended: Vec<Client> = self
            .by_client
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(c, _)| *c)
            .collect();
        for allocation in self.by_client.values_mut() {
            allocation.expire(now);
        }
        ended.iter().filter_map(|c| self.remove(c)).collect()
    }

    /// Every client with an allocation over the TCP connection `connection`.
    pub fn on_connection(&self, connection: u64) -> Vec<Client> {
        self.by_client
            .keys()
            .filter(|c| c.transport == Transport::Tcp(connection))
            .copied()
            .collect()
    }
}

/// One fewer under `key`; a count that reaches 0 goes.
fn count_down<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}
