//! What keeps the relay from being an open door: quotas, the bandwidth of one allocation, and
//! which peers it relays to at all.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The relay's quotas and lifetimes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Allocations in all.
    pub max_allocations: usize,
    /// Allocations per user-id.
    pub per_user: usize,
    /// Allocations per client IP address.
    pub per_ip: usize,
    /// Bytes per second per allocation, both directions together.
    pub bytes_per_second: u64,
    /// The longest lifetime an allocation gets.
    pub max_lifetime: Duration,
    /// Permissions one allocation may hold (peers' IP addresses).
    pub permissions_per_allocation: usize,
    /// Channels one allocation may bind.
    pub channels_per_allocation: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_allocations: 1000,
            per_user: 16,
            per_ip: 100,
            bytes_per_second: 10_000_000 / 8,
            max_lifetime: Duration::from_secs(600),
            permissions_per_allocation: 64,
            channels_per_allocation: 64,
        }
    }
}

/// Which peer addresses the relay sends to. Peers that are relayed addresses of this very
/// relay are decided by the caller (they are delivered inside the process).
#[derive(Debug, Clone)]
pub struct PeerPolicy {
    /// Relay to loopback peers (tests on one machine).
    pub allow_loopback: bool,
    /// Relay to private and shared addresses (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7): off by default, so that the relay is no door into the server's own network.
    pub allow_private: bool,
    /// This machine's own addresses (its interfaces, the public address, loopback).
    pub own_ips: HashSet<IpAddr>,
    /// The ports the server listens on (TURN, HTTP): never a peer on one of our addresses.
    pub own_ports: Vec<u16>,
    /// The SFU's addresses (its socket, its public address): always a peer, even on
    /// loopback or a private address, so that relayed browsers reach their meetings.
    pub our_sfu: Vec<SocketAddr>,
}

/// Why a peer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRefused {
    /// One of the server's own listening ports.
    OwnPort,
    /// Loopback, without `--turn-allow-loopback`.
    Loopback,
    /// A private or shared address, without `--turn-allow-private`.
    Private,
    /// Unspecified, multicast, broadcast or link-local: never a peer.
    NotUnicast,
}

impl PeerPolicy {
    pub fn check(&self, peer: SocketAddr) -> Result<(), PeerRefused> {
        let ip = canonical(peer.ip());
        if peer.port() == 0 || !is_unicast(ip) {
            return Err(PeerRefused::NotUnicast);
        }
        if self
            .our_sfu
            .iter()
            .any(|sfu| sfu.port() == peer.port() && canonical(sfu.ip()) == ip)
        {
            return Ok(());
        }
        if self.own_ports.contains(&peer.port()) && (ip.is_loopback() || self.own_ips.contains(&ip))
        {
            return Err(PeerRefused::OwnPort);
        }
        if ip.is_loopback() && !self.allow_loopback {
            return Err(PeerRefused::Loopback);
        }
        if is_private(ip) && !self.allow_private {
            return Err(PeerRefused::Private);
        }
        Ok(())
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_link_local()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240)
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// A token bucket of bytes: `rate` a second, up to one second's worth at once.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: u64, now: Instant) -> Self {
        Bucket {
            rate,
            tokens: rate as f64,
            last: now,
        }
    }

    /// Whether it has refilled completely by `now` (nothing taken for a second or more).
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate as f64 >= self.rate as f64
    }

    /// Takes `bytes` if there are that many; false means the packet is over the bandwidth.
    pub fn take(&mut self, bytes: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.rate as f64);
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

/// Answers to requests without valid credentials (Bindings, the challenge before an
/// allocation, refusals), per client address. Such a request costs its sender nothing and
/// its source address may be forged, so that a flood of them would turn the relay into an
/// amplifier aimed at that address: each address gets at most [`Self::PER_SECOND`] such
/// answers a second (a burst of as many); beyond, requests are dropped unanswered. A page
/// needs about three per connection and network interface (a Binding, a challenge over UDP
/// and one over TCP, the latter not counted here), so a classroom of 30 behind one NAT
/// starting meetings of four (three connections each) at once needs about 270.
#[derive(Debug, Default)]
pub struct UnauthenticatedAnswers {
    buckets: HashMap<IpAddr, Bucket>,
}

impl UnauthenticatedAnswers {
    pub const PER_SECOND: u64 = 300;
    /// Addresses tracked at once: under a flood from more (forged) addresses than this, new
    /// addresses get no unauthenticated answer until some fall idle; allocations go on.
    pub const MAX_TRACKED: usize = 65_536;

    /// Whether `ip` may have one more answer now.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.buckets.len() >= Self::MAX_TRACKED && !self.buckets.contains_key(&ip) {
            self.forget_idle(now);
            if self.buckets.len() >= Self::MAX_TRACKED {
                return false;
            }
        }
        self.buckets
            .entry(ip)
            .or_insert_with(|| Bucket::new(Self::PER_SECOND, now))
            .take(1, now)
    }

    /// Forgets addresses whose allowance is whole again (they would start afresh anyway).
    pub fn forget_idle(&mut self, now: Instant) {
        self.buckets.retain(|_, bucket| !bucket.is_full_at(now));
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_loopback: bool) -> PeerPolicy {
        PeerPolicy {
            allow_loopback,
            allow_private: false,
            own_ips: ["203.0.113.7".parse().unwrap()].into_iter().collect(),
            own_ports: vec![3478, 3000],
            our_sfu: vec![
                "10.0.0.9:3479".parse().unwrap(),
                "127.0.0.1:3479".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn our_own_sfu_is_always_a_peer_and_only_at_its_port() {
        let strict = policy(false);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for sfu in ["10.0.0.9:3479", "127.0.0.1:3479", "[::ffff:127.0.0.1]:3479"] {
            assert_eq!(strict.check(addr(sfu)), Ok(()), "{sfu}");
        }
        assert_eq!(
            strict.check(addr("10.0.0.9:3480")),
            Err(PeerRefused::Private)
        );
        assert_eq!(
            strict.check(addr("127.0.0.1:3480")),
            Err(PeerRefused::Loopback)
        );
    }

    #[test]
    fn refuses_loopback_unless_allowed_and_our_ports_always() {
        let strict = policy(false);
        let tests = policy(true);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            strict.check(addr("127.0.0.1:5000")),
            Err(PeerRefused::Loopback)
        );
        assert_eq!(strict.check(addr("[::1]:5000")), Err(PeerRefused::Loopback));
        assert_eq!(
            strict.check(addr("[::ffff:127.0.0.1]:5000")),
            Err(PeerRefused::Loopback)
        );
        assert_eq!(tests.check(addr("127.0.0.1:5000")), Ok(()));
        for own in ["127.0.0.1:3478", "127.0.0.1:3000", "203.0.113.7:3000"] {
            assert_eq!(tests.check(addr(own)), Err(PeerRefused::OwnPort), "{own}");
        }
        assert_eq!(strict.check(addr("198.51.100.1:3478")), Ok(()));
        for private in [
            "10.0.0.5:5000",
            "172.16.0.1:5000",
            "192.168.1.20:5000",
            "100.64.0.1:5000",
            "[fd00::1]:5000",
        ] {
            assert_eq!(
                tests.check(addr(private)),
                Err(PeerRefused::Private),
                "{private}"
            );
            let open = PeerPolicy {
                allow_private: true,
                ..policy(false)
            };
            assert_eq!(open.check(addr(private)), Ok(()), "{private}");
        }
        assert_eq!(strict.check(addr("100.128.0.1:5000")), Ok(()));
        assert_eq!(strict.check(addr("203.0.113.7:40000")), Ok(()));
        for never in [
            "0.0.0.0:5000",
            "224.0.0.1:5000",
            "255.255.255.255:5000",
            "169.254.1.1:5000",
            "[fe80::1]:5000",
            "[ff02::1]:5000",
            "[::]:5000",
            "198.51.100.1:0",
        ] {
            assert_eq!(
                tests.check(addr(never)),
                Err(PeerRefused::NotUnicast),
                "{never}"
            );
        }
    }

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1000, start);
        assert!(bucket.take(600, start));
        assert!(!bucket.take(600, start));
        assert!(bucket.take(400, start));
        assert!(!bucket.take(1, start));
        assert!(bucket.take(500, start + Duration::from_millis(500)));
        assert!(!bucket.take(2000, start + Duration::from_secs(60)));
    }

    #[test]
    fn unauthenticated_answers_are_bounded_per_address_and_forgotten_when_idle() {
        let start = Instant::now();
        let mut answers = UnauthenticatedAnswers::default();
        let flooder: IpAddr = "198.51.100.1".parse().unwrap();
        let admitted = (0..10_000)
            .filter(|_| answers.admit(flooder, start))
            .count();
        assert_eq!(admitted as u64, UnauthenticatedAnswers::PER_SECOND);
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(
            answers.admit(other, start),
            "another address is not held back"
        );
        let later = start + Duration::from_millis(100);
        let refilled = (0..10_000)
            .filter(|_| answers.admit(flooder, later))
            .count();
        assert_eq!(refilled as u64, UnauthenticatedAnswers::PER_SECOND / 10);
        answers.forget_idle(start + Duration::from_secs(2));
        assert_eq!(answers.tracked(), 0);
    }
}
