//! The relay's protocol driven natively: a fake clock, fake relay sockets, no network.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stun_types::attribute::{
    ErrorCode, Nonce, RawAttribute, Realm, UnknownAttributes, Username, XorMappedAddress,
};
use stun_types::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageWriteExt,
    MessageWriteVec, Method, BINDING,
};
use stun_types::prelude::*;
use turn_types::attribute::{
    ChannelNumber, Data, EvenPort, Lifetime, RequestedTransport, XorPeerAddress, XorRelayedAddress,
};
use turn_types::channel::ChannelData;
use turn_types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, REFRESH, SEND};

use super::allocation::{Client, Transport};
use super::bounds::{Limits, PeerPolicy, UnauthenticatedAnswers};
use super::credentials::credentials;
use super::protocol::{Now, Output, RelaySockets, Settings, Turn};
use crate::metrics::RelayCounters;

const SECRET: &str = "sekrit";
const UNIX: u64 = 1_800_000_000;

/// Relay "sockets" that are just port numbers, from 50000 up.
struct FakeSockets {
    next: u16,
}

impl RelaySockets for FakeSockets {
    type Socket = u16;
    fn open(&mut self, even: bool) -> Option<(u16, u16)> {
        self.next += 1;
        if even && self.next % 2 == 1 {
            self.next += 1;
        }
        Some((self.next, self.next))
    }
}

struct Harness {
    turn: Turn<FakeSockets>,
    counters: Arc<RelayCounters>,
    now: Now,
}

fn harness(allow_loopback: bool, limits: Limits) -> Harness {
    let counters = Arc::new(RelayCounters::default());
    let settings = Settings {
        realm: "switchboard".into(),
        secret: SECRET.into(),
        relay_ip: "127.0.0.1".parse().unwrap(),
        limits,
        policy: PeerPolicy {
            allow_loopback,
            allow_private: false,
            own_ips: Default::default(),
            own_ports: vec![3478, 3000],
            our_sfu: Vec::new(),
        },
    };
    let start = Instant::now();
    Harness {
        turn: Turn::new(settings, FakeSockets { next: 50_000 }, counters.clone()),
        counters,
        now: Now {
            at: start,
            unix: UNIX,
        },
    }
}

fn udp(port: u16) -> Client {
    Client {
        transport: Transport::Udp,
        addr: SocketAddr::from(([192, 0, 2, 1], port)),
    }
}

/// A client's credentials and the nonce it was given.
struct Creds {
    username: String,
    password: String,
    nonce: String,
}

impl Creds {
    fn new(user: &str) -> Creds {
        let (username, password) = credentials(SECRET, user, UNIX, 3600);
        Creds {
            username,
            password,
            nonce: String::new(),
        }
    }

    fn key(&self) -> LongTermKeyCredentials {
        LongTermKeyCredentials::new(
            self.username.clone(),
            self.password.clone(),
            "switchboard".into(),
        )
    }
}

impl Harness {
    fn advance(&mut self, by: Duration) {
        self.now.at += by;
        self.now.unix += by.as_secs();
    }

    fn send(&mut self, client: Client, data: &[u8]) -> Vec<Output<u16>> {
        let mut out = Vec::new();
        self.turn
            .receive_from_client(client, data, self.now, &mut out);
        out
    }

    /// Sends a request and returns the one reply to the client, and what else came out.
    fn ask(&mut self, client: Client, request: Vec<u8>) -> (Vec<u8>, Vec<Output<u16>>) {
        let mut reply = None;
        let mut rest = Vec::new();
        for output in self.send(client, &request) {
            match output {
                Output::Client(to, data) if to == client && reply.is_none() => reply = Some(data),
                other => rest.push(other),
            }
        }
        (reply.expect("a reply"), rest)
    }

    /// An authenticated request: challenged first when the nonce is unknown, as a client.
    fn authed(
        &mut self,
        client: Client,
        creds: &mut Creds,
        method: Method,
        attributes: &[&dyn AttributeWrite],
    ) -> (Vec<u8>, Vec<Output<u16>>) {
        if creds.nonce.is_empty() {
            let (reply, _) = self.ask(client, request(method, attributes, None));
            let reply = Message::from_bytes(&reply).unwrap();
            assert_eq!(error_code(&reply), Some(401));
            creds.nonce = reply.attribute::<Nonce>().unwrap().nonce().to_owned();
        }
        let (reply, rest) = self.ask(client, request(method, attributes, Some(creds)));
        if error_code(&Message::from_bytes(&reply).unwrap()) == Some(438) {
            creds.nonce.clear();
            return self.authed(client, creds, method, attributes);
        }
        (reply, rest)
    }

    /// Allocates for `client`; the relayed address.
    fn allocate(&mut self, client: Client, creds: &mut Creds) -> SocketAddr {
        let transport = RequestedTransport::new(RequestedTransport::UDP);
        let (reply, _) = self.authed(client, creds, ALLOCATE, &[&transport]);
        let reply = Message::from_bytes(&reply).unwrap();
        assert!(reply.has_class(MessageClass::Success), "{reply}");
        reply
            .validate_integrity(&creds.key().into())
            .expect("a signed success");
        reply
            .attribute::<XorRelayedAddress>()
            .unwrap()
            .addr(reply.transaction_id())
    }

    fn permit(&mut self, client: Client, creds: &mut Creds, peer: SocketAddr) -> Option<u16> {
        let (reply, _) = self.authed_peer(client, creds, CREATE_PERMISSION, peer, None);
        error_code(&Message::from_bytes(&reply).unwrap())
    }

    fn bind_channel(
        &mut self,
        client: Client,
        creds: &mut Creds,
        peer: SocketAddr,
        number: u16,
    ) -> Option<u16> {
        let (reply, _) = self.authed_peer(client, creds, CHANNEL_BIND, peer, Some(number));
        error_code(&Message::from_bytes(&reply).unwrap())
    }

    /// A request naming a peer (the XOR needs the transaction id, so it is built here).
    fn authed_peer(
        &mut self,
        client: Client,
        creds: &Creds,
        method: Method,
        peer: SocketAddr,
        channel: Option<u16>,
    ) -> (Vec<u8>, Vec<Output<u16>>) {
        let mut msg = Message::builder_request(method, MessageWriteVec::new());
        let tid = msg.transaction_id();
        msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
        if let Some(number) = channel {
            msg.add_attribute(&ChannelNumber::new(number)).unwrap();
        }
        sign(&mut msg, creds);
        self.ask(client, msg.finish())
    }
}

fn sign(msg: &mut MessageWriteVec, creds: &Creds) {
    msg.add_attribute(&Username::new(&creds.username).unwrap())
        .unwrap();
    msg.add_attribute(&Realm::new("switchboard").unwrap())
        .unwrap();
    msg.add_attribute(&Nonce::new(&creds.nonce).unwrap())
        .unwrap();
    msg.add_message_integrity(&creds.key().into(), IntegrityAlgorithm::Sha1)
        .unwrap();
}

fn request(method: Method, attributes: &[&dyn AttributeWrite], creds: Option<&Creds>) -> Vec<u8> {
    let mut msg = Message::builder_request(method, MessageWriteVec::new());
    for attribute in attributes {
        msg.add_attribute(*attribute).unwrap();
    }
    if let Some(creds) = creds {
        sign(&mut msg, creds);
    }
    msg.add_fingerprint().unwrap();
    msg.finish()
}

fn error_code(msg: &Message) -> Option<u16> {
    msg.attribute::<ErrorCode>().ok().map(|e| e.code())
}

fn code_of(reply: &[u8]) -> Option<u16> {
    error_code(&Message::from_bytes(reply).unwrap())
}

#[test]
fn binding_answers_with_the_mapped_address_and_no_credentials() {
    let mut h = harness(false, Limits::default());
    let client = udp(4000);
    let (reply, _) = h.ask(client, request(BINDING, &[], None));
    let reply = Message::from_bytes(&reply).unwrap();
    assert!(reply.has_class(MessageClass::Success));
    let mapped = reply.attribute::<XorMappedAddress>().unwrap();
    assert_eq!(mapped.addr(reply.transaction_id()), client.addr);
    assert!(reply.has_attribute(stun_types::attribute::Fingerprint::TYPE));
}

#[test]
fn allocate_is_challenged_then_signed_with_relayed_address_and_lifetime() {
    let mut h = harness(false, Limits::default());
    let client = udp(4000);
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let (reply, _) = h.ask(client, request(ALLOCATE, &[&transport], None));
    let challenge = Message::from_bytes(&reply).unwrap();
    assert_eq!(error_code(&challenge), Some(401));
    assert_eq!(
        challenge.attribute::<Realm>().unwrap().realm(),
        "switchboard"
    );
    assert!(challenge.attribute::<Nonce>().is_ok());
    assert_eq!(h.counters.rejected_auth.load(Relaxed), 0, "a challenge");

    let mut creds = Creds::new("alice");
    let (reply, outputs) = h.authed(client, &mut creds, ALLOCATE, &[&transport]);
    let reply = Message::from_bytes(&reply).unwrap();
    assert!(reply.has_class(MessageClass::Success), "{reply}");
    reply.validate_integrity(&creds.key().into()).unwrap();
    let relay = reply
        .attribute::<XorRelayedAddress>()
        .unwrap()
        .addr(reply.transaction_id());
    assert_eq!(relay.ip().to_string(), "127.0.0.1");
    assert_eq!(reply.attribute::<Lifetime>().unwrap().seconds(), 600);
    assert_eq!(
        reply
            .attribute::<XorMappedAddress>()
            .unwrap()
            .addr(reply.transaction_id()),
        client.addr
    );
    assert!(matches!(outputs[..], [Output::Opened { relay: r, .. }] if r == relay));
    assert_eq!(h.counters.allocations.load(Relaxed), 1);
    assert_eq!(h.counters.allocations_total.load(Relaxed), 1);

    // A second Allocate on the same 5-tuple is a mismatch.
    let (reply, _) = h.authed(client, &mut creds, ALLOCATE, &[&transport]);
    assert_eq!(code_of(&reply), Some(437));
}

#[test]
fn expired_forged_and_other_users_credentials_are_refused() {
    let mut h = harness(false, Limits::default());
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let mut probe = Creds::new("x");
    h.allocate(udp(1), &mut probe);
    let nonce = probe.nonce.clone();

    let (username, password) = credentials(SECRET, "alice", UNIX - 7200, 3600);
    let expired = Creds {
        username,
        password,
        nonce: nonce.clone(),
    };
    let (username, password) = credentials("not the secret", "alice", UNIX, 3600);
    let forged = Creds {
        username,
        password,
        nonce: nonce.clone(),
    };
    let (username, _) = credentials(SECRET, "alice", UNIX, 3600);
    let (_, password) = credentials(SECRET, "bob", UNIX, 3600);
    let swapped = Creds {
        username,
        password,
        nonce: nonce.clone(),
    };
    let (username, password) = credentials(SECRET, "alice", UNIX, 3 * 86_400);
    let too_long = Creds {
        username,
        password,
        nonce,
    };
    for (n, creds) in [expired, forged, swapped, too_long].iter().enumerate() {
        let (reply, outputs) = h.ask(udp(2), request(ALLOCATE, &[&transport], Some(creds)));
        assert_eq!(code_of(&reply), Some(401), "case {n}");
        assert!(outputs.is_empty());
    }
    assert_eq!(h.counters.rejected_auth.load(Relaxed), 4);
    assert_eq!(h.turn.allocations(), 1);

    // Another user's credentials on an existing allocation: 441.
    let mut bob = Creds::new("bob");
    bob.nonce = probe.nonce.clone();
    let (reply, _) = h.ask(udp(1), request(REFRESH, &[], Some(&bob)));
    assert_eq!(code_of(&reply), Some(441));
}

#[test]
fn a_flood_without_valid_credentials_gets_so_many_answers_then_silence() {
    let mut h = harness(false, Limits::default());
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let mut alice = Creds::new("alice");
    h.allocate(udp(1), &mut alice);
    let forged = Creds {
        password: "not the password".into(),
        nonce: alice.nonce.clone(),
        ..Creds::new("mallory")
    };
    let flooder = Client {
        transport: Transport::Udp,
        addr: SocketAddr::from(([203, 0, 113, 9], 4000)),
    };
    // Challenges, Bindings and forged credentials draw on one allowance per address.
    let kinds = [
        request(ALLOCATE, &[&transport], None),
        request(BINDING, &[], None),
        request(ALLOCATE, &[&transport], Some(&forged)),
    ];
    let sent = 10 * UnauthenticatedAnswers::PER_SECOND as usize;
    let answered = (0..sent)
        .filter(|i| {
            h.send(flooder, &kinds[i % 3])
                .iter()
                .any(|o| matches!(o, Output::Client(to, _) if *to == flooder))
        })
        .count();
    assert_eq!(answered as u64, UnauthenticatedAnswers::PER_SECOND);
    assert!(h.counters.dropped.load(Relaxed) as usize >= sent - answered);
    // Nobody else is held back: another address is challenged, an allocation refreshes.
    let (reply, _) = h.ask(udp(2), request(ALLOCATE, &[&transport], None));
    assert_eq!(code_of(&reply), Some(401));
    let (reply, _) = h.ask(udp(1), request(REFRESH, &[], Some(&alice)));
    assert_eq!(code_of(&reply), None, "the allocation refreshes");
    // Over TCP (whose source cannot be forged) the address is answered all the same.
    let over_tcp = Client {
        transport: Transport::Tcp(9),
        addr: flooder.addr,
    };
    let (reply, _) = h.ask(over_tcp, request(ALLOCATE, &[&transport], None));
    assert_eq!(code_of(&reply), Some(401));
    // A second later the flooder's address is answered again.
    h.advance(Duration::from_secs(1));
    let (reply, _) = h.ask(flooder, request(BINDING, &[], None));
    assert!(Message::from_bytes(&reply)
        .unwrap()
        .has_class(MessageClass::Success));
}

#[test]
fn valid_credentials_with_an_old_nonce_are_answered_while_their_address_is_flooded() {
    let mut h = harness(false, Limits::default());
    let neighbour = |port| Client {
        transport: Transport::Udp,
        addr: SocketAddr::from(([203, 0, 113, 9], port)),
    };
    let mut carol = Creds::new("carol");
    h.allocate(neighbour(4001), &mut carol);
    // Refreshed once, so that the allocation outlives its nonce.
    h.advance(Duration::from_secs(400));
    let (reply, _) = h.ask(neighbour(4001), request(REFRESH, &[], Some(&carol)));
    assert_eq!(code_of(&reply), None);
    h.advance(Duration::from_secs(300));
    let flood = request(BINDING, &[], None);
    for _ in 0..2 * UnauthenticatedAnswers::PER_SECOND {
        h.send(neighbour(5000), &flood);
    }
    let (reply, _) = h.ask(neighbour(4001), request(REFRESH, &[], Some(&carol)));
    assert_eq!(code_of(&reply), Some(438), "a new nonce, not silence");
}

#[test]
fn a_stale_nonce_gets_438_with_a_new_one() {
    let mut h = harness(false, Limits::default());
    let mut creds = Creds::new("alice");
    h.allocate(udp(1), &mut creds);
    h.advance(Duration::from_secs(500));
    let (reply, _) = h.ask(udp(1), request(REFRESH, &[], Some(&creds)));
    assert_eq!(code_of(&reply), None);
    h.advance(Duration::from_secs(101));
    let (reply, _) = h.ask(udp(1), request(REFRESH, &[], Some(&creds)));
    let reply = Message::from_bytes(&reply).unwrap();
    assert_eq!(error_code(&reply), Some(438));
    let fresh = reply.attribute::<Nonce>().unwrap().nonce().to_owned();
    assert_ne!(fresh, creds.nonce);
    creds.nonce = fresh;
    let (reply, _) = h.ask(udp(1), request(REFRESH, &[], Some(&creds)));
    assert_eq!(code_of(&reply), None);
    // A nonce given to another address is not good here.
    let (reply, _) = h.ask(
        udp(1).with_ip([192, 0, 2, 99]),
        request(REFRESH, &[], Some(&creds)),
    );
    assert_eq!(code_of(&reply), Some(438));
}

trait WithIp {
    fn with_ip(self, ip: [u8; 4]) -> Self;
}

impl WithIp for Client {
    fn with_ip(mut self, ip: [u8; 4]) -> Self {
        self.addr = SocketAddr::from((ip, self.addr.port()));
        self
    }
}

#[test]
fn quotas_per_user_and_in_all() {
    let limits = Limits {
        per_user: 2,
        max_allocations: 3,
        ..Limits::default()
    };
    let mut h = harness(false, limits);
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let mut alice = Creds::new("alice");
    h.allocate(udp(1), &mut alice);
    h.allocate(udp(2), &mut alice);
    let (reply, outputs) = h.authed(udp(3), &mut alice, ALLOCATE, &[&transport]);
    assert_eq!(code_of(&reply), Some(486));
    assert!(outputs.is_empty());
    let mut bob = Creds::new("bob");
    h.allocate(udp(4), &mut bob);
    let (reply, _) = h.authed(udp(5), &mut bob, ALLOCATE, &[&transport]);
    assert_eq!(code_of(&reply), Some(508));
    assert_eq!(h.counters.refused_allocations.load(Relaxed), 2);
    // Freeing one makes room again.
    let (reply, outputs) = h.authed(udp(1), &mut alice, REFRESH, &[&Lifetime::new(0)]);
    assert_eq!(code_of(&reply), None);
    assert!(matches!(outputs[..], [Output::Closed { .. }]));
    h.allocate(udp(3), &mut alice);
    assert_eq!(h.counters.allocations.load(Relaxed), 3);
}

#[test]
fn one_address_holds_only_so_many_allocations_whatever_its_user_ids() {
    let limits = Limits {
        per_ip: 2,
        ..Limits::default()
    };
    let mut h = harness(false, limits);
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    h.allocate(udp(1), &mut Creds::new("page1"));
    h.allocate(udp(2), &mut Creds::new("page2"));
    let (reply, _) = h.authed(udp(3), &mut Creds::new("page3"), ALLOCATE, &[&transport]);
    assert_eq!(code_of(&reply), Some(486));
    // Another address has its own; a freed allocation makes room again.
    h.allocate(udp(3).with_ip([192, 0, 2, 2]), &mut Creds::new("page3"));
    let (reply, _) = h.authed(
        udp(1),
        &mut Creds::new("page1"),
        REFRESH,
        &[&Lifetime::new(0)],
    );
    assert_eq!(code_of(&reply), None);
    h.allocate(udp(4), &mut Creds::new("page4"));
}

#[test]
fn transport_and_even_port() {
    let mut h = harness(false, Limits::default());
    let mut alice = Creds::new("alice");
    let tcp = RequestedTransport::new(RequestedTransport::TCP);
    let (reply, _) = h.authed(udp(1), &mut alice, ALLOCATE, &[&tcp]);
    assert_eq!(code_of(&reply), Some(442));
    let (reply, _) = h.authed(udp(1), &mut alice, ALLOCATE, &[]);
    assert_eq!(code_of(&reply), Some(400));
    let udp_transport = RequestedTransport::new(RequestedTransport::UDP);
    let reserve = EvenPort::new(true);
    let (reply, _) = h.authed(udp(1), &mut alice, ALLOCATE, &[&udp_transport, &reserve]);
    assert_eq!(code_of(&reply), Some(508));
    let even = EvenPort::new(false);
    for port in 1..4 {
        let (reply, _) = h.authed(udp(port), &mut alice, ALLOCATE, &[&udp_transport, &even]);
        let reply = Message::from_bytes(&reply).unwrap();
        let relay = reply
            .attribute::<XorRelayedAddress>()
            .unwrap()
            .addr(reply.transaction_id());
        assert_eq!(relay.port() % 2, 0, "{relay}");
    }
    // An unknown comprehension-required attribute: 420 naming it.
    let dont_fragment = RawAttribute::new(0x001A.into(), &[]);
    let (reply, _) = h.authed(
        udp(9),
        &mut alice,
        ALLOCATE,
        &[&udp_transport, &dont_fragment],
    );
    let reply = Message::from_bytes(&reply).unwrap();
    assert_eq!(error_code(&reply), Some(420));
    assert!(reply
        .attribute::<UnknownAttributes>()
        .unwrap()
        .has_attribute(0x001A.into()));
}

#[test]
fn lifetimes_are_capped_refreshed_and_end() {
    let limits = Limits {
        max_lifetime: Duration::from_secs(300),
        ..Limits::default()
    };
    let mut h = harness(false, limits);
    let mut alice = Creds::new("alice");
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let (reply, _) = h.authed(
        udp(1),
        &mut alice,
        ALLOCATE,
        &[&transport, &Lifetime::new(86_400)],
    );
    let reply = Message::from_bytes(&reply).unwrap();
    assert_eq!(reply.attribute::<Lifetime>().unwrap().seconds(), 300);
    h.advance(Duration::from_secs(299));
    let mut out = Vec::new();
    h.turn.tick(h.now.at, &mut out);
    assert!(out.is_empty());
    h.advance(Duration::from_secs(2));
    h.turn.tick(h.now.at, &mut out);
    assert!(matches!(out[..], [Output::Closed { .. }]));
    assert_eq!(h.counters.allocations.load(Relaxed), 0);
    let (reply, _) = h.authed(udp(1), &mut alice, REFRESH, &[]);
    assert_eq!(code_of(&reply), Some(437));
}

#[test]
fn an_allocation_outlives_its_credentials_but_a_new_one_needs_fresh_ones() {
    let limits = Limits {
        max_lifetime: Duration::from_secs(600),
        ..Limits::default()
    };
    let mut h = harness(false, limits);
    let mut alice = Creds::new("alice");
    h.allocate(udp(1), &mut alice);
    // Refreshed every 10 minutes past the hour its credentials were valid for.
    for _ in 0..9 {
        h.advance(Duration::from_secs(540));
        let mut out = Vec::new();
        h.turn.tick(h.now.at, &mut out);
        let (reply, _) = h.authed(udp(1), &mut alice, REFRESH, &[]);
        assert_eq!(code_of(&reply), None, "the call goes on");
    }
    assert_eq!(h.counters.allocations.load(Relaxed), 1);
    assert_eq!(
        h.permit(udp(1), &mut alice, "192.0.2.7:4000".parse().unwrap()),
        None
    );
    // The same expired credentials from another client make nothing.
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let mut copied = Creds {
        nonce: String::new(),
        ..Creds::new("alice")
    };
    let (reply, _) = h.authed(udp(2), &mut copied, ALLOCATE, &[&transport]);
    assert_eq!(code_of(&reply), Some(401));
}

#[test]
fn peers_on_loopback_or_our_ports_are_refused() {
    let mut h = harness(false, Limits::default());
    let mut alice = Creds::new("alice");
    h.allocate(udp(1), &mut alice);
    for peer in [
        "127.0.0.1:5000",
        "127.0.0.1:3478",
        "0.0.0.0:5000",
        "224.0.0.1:5000",
    ] {
        let peer = peer.parse().unwrap();
        assert_eq!(h.permit(udp(1), &mut alice, peer), Some(403), "{peer}");
        assert_eq!(
            h.bind_channel(udp(1), &mut alice, peer, 0x4000),
            Some(403),
            "{peer}"
        );
    }
    assert_eq!(h.counters.rejected_peers.load(Relaxed), 8);
    assert_eq!(
        h.permit(udp(1), &mut alice, "[2001:db8::1]:5000".parse().unwrap()),
        Some(443)
    );
    assert_eq!(
        h.bind_channel(
            udp(1),
            &mut alice,
            "198.51.100.1:5000".parse().unwrap(),
            0x3FFF
        ),
        Some(400),
        "channel numbers start at 0x4000"
    );
    assert_eq!(
        h.permit(udp(1), &mut alice, "198.51.100.1:5000".parse().unwrap()),
        None
    );

    let mut loopback = harness(true, Limits::default());
    loopback.allocate(udp(1), &mut alice);
    let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    assert_eq!(loopback.permit(udp(1), &mut alice, local), None);
    let own: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    assert_eq!(loopback.permit(udp(1), &mut alice, own), Some(403));
}

/// Sends a Send indication from `client` to `peer`.
fn send_indication(
    h: &mut Harness,
    client: Client,
    peer: SocketAddr,
    data: &[u8],
) -> Vec<Output<u16>> {
    let mut msg = Message::builder_indication(SEND, MessageWriteVec::new());
    let tid = msg.transaction_id();
    msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
    msg.add_attribute(&Data::new(data)).unwrap();
    h.send(client, &msg.finish())
}

#[test]
fn two_allocations_relay_to_each_other_by_channel_and_by_indication() {
    // No loopback allowed: relayed addresses of this relay are served inside the process.
    let mut h = harness(false, Limits::default());
    let (a, b) = (udp(1), udp(2));
    let mut alice = Creds::new("alice");
    let mut bob = Creds::new("bob");
    let relay_a = h.allocate(a, &mut alice);
    let relay_b = h.allocate(b, &mut bob);

    // Without B's permission for A, nothing reaches B.
    assert_eq!(h.permit(a, &mut alice, relay_b), None);
    assert!(send_indication(&mut h, a, relay_b, b"hello").is_empty());
    assert_eq!(h.permit(b, &mut bob, relay_a), None);

    // A → B by Send indication: B gets a Data indication from A's relayed address.
    let out = send_indication(&mut h, a, relay_b, b"hello");
    let [Output::Client(to, data)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(*to, b);
    let data_indication = Message::from_bytes(data).unwrap();
    assert!(data_indication.has_method(turn_types::message::DATA));
    assert_eq!(
        data_indication
            .attribute::<XorPeerAddress>()
            .unwrap()
            .addr(data_indication.transaction_id()),
        relay_a
    );
    assert_eq!(
        data_indication.attribute::<Data>().unwrap().data(),
        b"hello"
    );

    // B binds a channel to A: A's data now reaches B as ChannelData; B answers on it.
    assert_eq!(h.bind_channel(b, &mut bob, relay_a, 0x4001), None);
    assert_eq!(
        h.bind_channel(b, &mut bob, relay_a, 0x4002),
        Some(400),
        "one channel per peer"
    );
    let out = send_indication(&mut h, a, relay_b, b"again");
    let [Output::Client(_, frame)] = &out[..] else {
        panic!("{out:?}")
    };
    let channel = ChannelData::parse(frame).unwrap();
    assert_eq!((channel.id(), channel.data()), (0x4001, &b"again"[..]));

    let mut frame = vec![0; 7];
    ChannelData::new(0x4001, b"bye").write_into_unchecked(&mut frame);
    let out = h.send(b, &frame);
    let [Output::Client(to, data)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(*to, a);
    assert!(
        Message::from_bytes(data).is_ok(),
        "A has no channel: a Data indication"
    );
    assert_eq!(h.counters.packets.load(Relaxed), 3, "once per delivery");

    // Permissions end after 300 s, channels after 600 s, unless refreshed.
    h.advance(Duration::from_secs(301));
    let mut out = Vec::new();
    h.turn.tick(h.now.at, &mut out);
    assert!(h.send(b, &frame).is_empty(), "B's permission for A ended");
}

#[test]
fn data_to_outside_peers_leaves_by_the_relay_socket_and_answers_come_back() {
    let mut h = harness(false, Limits::default());
    let a = udp(1);
    let mut alice = Creds::new("alice");
    let relay = h.allocate(a, &mut alice);
    let peer: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    assert_eq!(h.bind_channel(a, &mut alice, peer, 0x4000), None);
    let mut frame = vec![0; 8];
    ChannelData::new(0x4000, b"ping").write_into_unchecked(&mut frame);
    let out = h.send(a, &frame);
    let [Output::Peer {
        socket,
        peer: to,
        data,
    }] = &out[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (*socket, *to, &data[..]),
        (relay.port(), peer, &b"ping"[..])
    );

    let mut out = Vec::new();
    h.turn
        .receive_from_peer(relay, peer, b"pong", h.now.at, &mut out);
    let [Output::Client(to, frame)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(*to, a);
    assert_eq!(ChannelData::parse(frame).unwrap().data(), b"pong");
    // A stranger without permission is not relayed.
    let mut out = Vec::new();
    let stranger: SocketAddr = "198.51.100.2:5000".parse().unwrap();
    h.turn
        .receive_from_peer(relay, stranger, b"spam", h.now.at, &mut out);
    assert!(out.is_empty());

    // Over TCP, ChannelData to the client is padded to four bytes.
    let t = Client {
        transport: Transport::Tcp(7),
        addr: SocketAddr::from(([192, 0, 2, 1], 9)),
    };
    let relay_t = h.allocate(t, &mut alice);
    assert_eq!(h.bind_channel(t, &mut alice, peer, 0x4000), None);
    let mut out = Vec::new();
    h.turn
        .receive_from_peer(relay_t, peer, b"12345", h.now.at, &mut out);
    let [Output::Client(_, frame)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(frame.len(), 12);
    let mut out = Vec::new();
    h.turn.connection_closed(7, &mut out);
    assert!(matches!(out[..], [Output::Closed { relay: r }] if r == relay_t));
}

#[test]
fn an_allocation_over_its_bandwidth_drops() {
    let limits = Limits {
        bytes_per_second: 1000,
        ..Limits::default()
    };
    let mut h = harness(false, limits);
    let a = udp(1);
    let mut alice = Creds::new("alice");
    h.allocate(a, &mut alice);
    let peer: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    assert_eq!(h.permit(a, &mut alice, peer), None);
    let sent = (0..10)
        .filter(|_| !send_indication(&mut h, a, peer, &[0; 300]).is_empty())
        .count();
    assert_eq!(sent, 3);
    h.advance(Duration::from_secs(1));
    assert!(!send_indication(&mut h, a, peer, &[0; 300]).is_empty());
    assert_eq!(h.counters.dropped.load(Relaxed), 7);
}

/// A small PRNG (xorshift), so the fuzzing is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_truncated_and_mutated_messages_never_panic() {
    let mut h = harness(true, Limits::default());
    let mut alice = Creds::new("alice");
    let relay = h.allocate(udp(1), &mut alice);
    let peer: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    assert_eq!(h.bind_channel(udp(1), &mut alice, peer, 0x4000), None);

    // Valid messages of every kind, to truncate and mutate.
    let transport = RequestedTransport::new(RequestedTransport::UDP);
    let mut samples = vec![
        request(BINDING, &[], None),
        request(ALLOCATE, &[&transport], Some(&alice)),
        request(REFRESH, &[&Lifetime::new(300)], Some(&alice)),
        {
            let mut msg = Message::builder_request(CHANNEL_BIND, MessageWriteVec::new());
            let tid = msg.transaction_id();
            msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
            msg.add_attribute(&ChannelNumber::new(0x4001)).unwrap();
            sign(&mut msg, &alice);
            msg.finish()
        },
        {
            let mut msg = Message::builder_indication(SEND, MessageWriteVec::new());
            let tid = msg.transaction_id();
            msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
            msg.add_attribute(&Data::new(b"payload")).unwrap();
            msg.finish()
        },
        vec![0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4],
    ];
    samples.push(request(CREATE_PERMISSION, &[], Some(&alice)));
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let clients = [udp(1), udp(2)];
    for round in 0..20_000 {
        let client = clients[round % 2];
        let sample = &samples[rng.next() as usize % samples.len()];
        let input: Vec<u8> = match rng.next() % 4 {
            // Truncated.
            0 => sample[..rng.next() as usize % (sample.len() + 1)].to_vec(),
            // Bytes flipped here and there.
            1 => {
                let mut bytes = sample.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = rng.next() as usize % bytes.len();
                    bytes[i] ^= 1 << (rng.next() % 8);
                }
                bytes
            }
            // Random bytes behind a STUN header (magic cookie and all).
            2 => {
                let len = rng.next() as usize % 96;
                let mut bytes = sample[..20.min(sample.len())].to_vec();
                bytes.extend((0..len).map(|_| rng.next() as u8));
                if bytes.len() >= 4 {
                    let body = (bytes.len().saturating_sub(20)) as u16;
                    bytes[2..4].copy_from_slice(&body.to_be_bytes());
                }
                bytes
            }
            // Plain noise.
            _ => (0..rng.next() % 200).map(|_| rng.next() as u8).collect(),
        };
        let mut out = Vec::new();
        h.turn.receive_from_client(client, &input, h.now, &mut out);
        h.turn
            .receive_from_peer(relay, peer, &input, h.now.at, &mut out);
    }
    // Still serving (a second later: the flood spent its address's unauthenticated answers).
    h.advance(Duration::from_secs(1));
    let (reply, _) = h.ask(udp(3), request(BINDING, &[], None));
    assert!(Message::from_bytes(&reply)
        .unwrap()
        .has_class(MessageClass::Success));
    assert!(h.counters.dropped.load(Relaxed) > 0);
}
