//! The embedded STUN/TURN relay (`--turn`), over the network: a real server on free ports and
//! a TURN client written from the codecs (`common/turn.rs`).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::turn::{Delivered, TurnClient};
use common::{TestServer, PATIENCE};
use server::turn_credentials as credentials;
use tokio::net::UdpSocket;

const SECRET: &str = "test-secret";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server with the relay on a free port, loopback peers allowed (everything here is on
/// 127.0.0.1) unless `strict`, and `extra` flags.
async fn relay_server(strict: bool, extra: &[&str]) -> (TestServer, SocketAddr) {
    let mut flags = vec!["--turn", "--turn-port", "0", "--turn-secret", SECRET];
    if !strict {
        flags.push("--turn-allow-loopback");
    }
    flags.extend(extra);
    let server = TestServer::start_with(&flags).await;
    let turn = server.turn.expect("--turn starts the relay");
    (server, turn)
}

/// A UDP client of `user` with valid credentials.
async fn client(turn: SocketAddr, user: &str) -> TurnClient {
    let (username, password) = credentials(SECRET, user, unix_now(), 3600);
    TurnClient::udp(turn)
        .await
        .with_credentials(&username, &password)
}

/// One counter of the server's `/metrics`.
async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The ICE part of what a page gets from `/api/site-config` (the server function every
/// WebRTC page calls).
async fn page_ice(server: &TestServer) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{}/api/site-config", server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json::<serde_json::Value>().await.unwrap()["ice"].take()
}

#[tokio::test]
async fn without_turn_nothing_more_listens_and_pages_get_no_ice_server() {
    let server = TestServer::start().await;
    assert!(server.turn.is_none());
    let ice = page_ice(&server).await;
    assert_eq!(
        ice["servers"],
        serde_json::json!([]),
        "no third party by default"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_page_gets_credentials_of_its_own_that_the_relay_accepts() {
    let (server, turn) = relay_server(false, &[]).await;
    let ours = format!("turn:127.0.0.1:{}?transport=udp", turn.port());
    let turn_of = |ice: serde_json::Value| {
        let servers = ice["servers"].as_array().cloned().unwrap_or_default();
        let turn = servers.into_iter().find(|s| s["urls"] == ours.as_str());
        let turn = turn.expect("our TURN server is offered to the page");
        let field = |name: &str| turn[name].as_str().unwrap_or_default().to_owned();
        (field("username"), field("credential"))
    };
    let (user_a, password_a) = turn_of(page_ice(&server).await);
    let (user_b, password_b) = turn_of(page_ice(&server).await);
    assert_ne!(user_a, user_b, "each page has a user-id of its own");

    let mut page = TurnClient::udp(turn)
        .await
        .with_credentials(&user_a, &password_a);
    assert!(page.allocate().await.is_ok(), "the page's credentials work");
    let mut mixed = TurnClient::udp(turn)
        .await
        .with_credentials(&user_a, &password_b);
    assert_eq!(
        mixed.allocate().await,
        Err(401),
        "a password goes with its own username"
    );
    server.stop().await;
}

/// A page's TURN credentials for the relay at `turn`, from `server`.
async fn credentials_from(server: &TestServer, turn: SocketAddr) -> (String, String) {
    let ice = page_ice(server).await;
    let ours = format!("turn:127.0.0.1:{}?transport=udp", turn.port());
    let servers = ice["servers"].as_array().cloned().unwrap_or_default();
    let offered = servers.into_iter().find(|s| s["urls"] == ours.as_str());
    let offered = offered.expect("the node offers its own relay");
    let field = |name: &str| offered[name].as_str().unwrap_or_default().to_owned();
    (field("username"), field("credential"))
}

#[tokio::test]
async fn in_a_cluster_every_relay_accepts_every_nodes_credentials() {
    use server::{ClusterRedis, MemoryHub, MemoryKv};
    let (hub, kv) = (MemoryHub::default(), MemoryKv::default());
    let flags = ["--turn", "--turn-port", "0"];
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let redis = ClusterRedis::InMemory {
            driver: hub.driver(),
            kv: kv.clone(),
        };
        // No --turn-secret: each node has a data directory (and a generated secret) of its own.
        nodes.push(TestServer::start_clustered(redis, &flags).await);
    }
    let relays: Vec<SocketAddr> = nodes.iter().map(|n| n.turn.expect("relay")).collect();
    for (from, node) in nodes.iter().enumerate() {
        for &relay in &relays {
            let (username, password) = credentials_from(node, relays[from]).await;
            let mut page = TurnClient::udp(relay)
                .await
                .with_credentials(&username, &password);
            assert!(
                page.allocate().await.is_ok(),
                "node {from}'s credentials at the relay on {relay}"
            );
        }
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn stun_binding_answers_with_the_mapped_address() {
    let (server, turn) = relay_server(true, &[]).await;
    let mut anyone = TurnClient::udp(turn).await;
    assert_eq!(anyone.binding().await, anyone.local);
    let mut over_tcp = TurnClient::tcp(turn).await;
    assert_eq!(over_tcp.binding().await, over_tcp.local);
    server.stop().await;
}

#[tokio::test]
async fn two_allocations_relay_by_indications_and_channels() {
    let (server, turn) = relay_server(false, &[]).await;
    let mut alice = client(turn, "alice").await;
    let mut bob = client(turn, "bob").await;
    let relay_a = alice.allocate().await.expect("alice allocates");
    let relay_b = bob.allocate().await.expect("bob allocates");
    assert_eq!(relay_a.ip(), turn.ip());
    assert_ne!(relay_a, relay_b);
    alice.create_permission(relay_b).await.unwrap();
    bob.create_permission(relay_a).await.unwrap();

    // Send → Data indication, from the other's relayed address.
    alice.send_to(relay_b, b"hello bob").await;
    assert_eq!(
        bob.delivered().await,
        Delivered::Data(relay_a, b"hello bob".to_vec())
    );

    // Channels both ways.
    alice.channel_bind(relay_b, 0x4000).await.unwrap();
    bob.channel_bind(relay_a, 0x4ABC).await.unwrap();
    alice.send_channel(0x4000, b"over a channel").await;
    assert_eq!(
        bob.delivered().await,
        Delivered::Channel(0x4ABC, b"over a channel".to_vec())
    );
    bob.send_channel(0x4ABC, b"and back").await;
    assert_eq!(
        alice.delivered().await,
        Delivered::Channel(0x4000, b"and back".to_vec())
    );

    assert_eq!(metric(&server, "switchboard_turn_allocations").await, 2.0);
    assert!(metric(&server, "switchboard_turn_relayed_packets_total").await >= 3.0);
    assert!(metric(&server, "switchboard_turn_relayed_bytes_total").await >= 31.0);

    // Lifetime 0 deletes; the count follows.
    assert_eq!(alice.refresh(0).await, Ok(0));
    assert_eq!(metric(&server, "switchboard_turn_allocations").await, 1.0);
    assert_eq!(
        metric(&server, "switchboard_turn_allocations_total").await,
        2.0
    );
    server.stop().await;
}

#[tokio::test]
async fn a_peer_outside_gets_data_from_the_relay_socket_and_answers_over_tcp_too() {
    let (server, turn) = relay_server(false, &[]).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let (username, password) = credentials(SECRET, "carol", unix_now(), 3600);
    for mut carol in [TurnClient::udp(turn).await, TurnClient::tcp(turn).await] {
        carol = carol.with_credentials(&username, &password);
        let relay = carol.allocate().await.expect("allocate");
        carol.channel_bind(peer_addr, 0x4001).await.unwrap();
        // Five bytes: over TCP the frame is padded to eight.
        carol.send_channel(0x4001, b"12345").await;
        let mut buf = [0; 64];
        let (n, from) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
            .await
            .expect("the peer got the data")
            .unwrap();
        assert_eq!((&buf[..n], from), (&b"12345"[..], relay));
        peer.send_to(b"answer", relay).await.unwrap();
        assert_eq!(
            carol.delivered().await,
            Delivered::Channel(0x4001, b"answer".to_vec())
        );
        // A stranger (another address: permissions are per IP) is not relayed.
        let stranger = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        stranger.send_to(b"spam", relay).await.unwrap();
        peer.send_to(b"after", relay).await.unwrap();
        assert_eq!(
            carol.delivered().await,
            Delivered::Channel(0x4001, b"after".to_vec())
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn expired_forged_and_missing_credentials_are_refused() {
    let (server, turn) = relay_server(true, &[]).await;
    let now = unix_now();
    let (expired_user, expired_password) = credentials(SECRET, "alice", now - 7200, 3600);
    let (forged_user, forged_password) = credentials("a guess", "alice", now, 3600);
    let (user, _) = credentials(SECRET, "alice", now, 3600);
    let (_, bobs_password) = credentials(SECRET, "bob", now, 3600);
    for (username, password) in [
        (expired_user, expired_password),
        (forged_user, forged_password),
        (user, bobs_password),
    ] {
        let mut mallory = TurnClient::udp(turn)
            .await
            .with_credentials(&username, &password);
        assert_eq!(mallory.allocate().await, Err(401), "{username}");
    }
    let mut anonymous = TurnClient::udp(turn).await;
    assert_eq!(anonymous.allocate().await, Err(401));
    assert_eq!(metric(&server, "switchboard_turn_allocations").await, 0.0);
    assert_eq!(
        metric(&server, "switchboard_turn_rejected_auth_total").await,
        3.0
    );
    server.stop().await;
}

#[tokio::test]
async fn one_user_holds_only_so_many_allocations() {
    let (server, turn) = relay_server(true, &["--turn-user-allocations", "2"]).await;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut alice = client(turn, "alice").await;
        alice.allocate().await.expect("within the quota");
        clients.push(alice);
    }
    let mut third = client(turn, "alice").await;
    assert_eq!(third.allocate().await, Err(486));
    let mut bob = client(turn, "bob").await;
    bob.allocate()
        .await
        .expect("another user has his own quota");
    assert_eq!(
        metric(&server, "switchboard_turn_refused_allocations_total").await,
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn loopback_and_the_servers_own_ports_are_refused_as_peers() {
    let (strict, turn) = relay_server(true, &[]).await;
    let mut alice = client(turn, "alice").await;
    alice.allocate().await.unwrap();
    let loopback: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(alice.create_permission(loopback).await, Err(403));
    assert_eq!(alice.channel_bind(loopback, 0x4000).await, Err(403));
    assert_eq!(
        metric(&strict, "switchboard_turn_rejected_peers_total").await,
        2.0
    );
    strict.stop().await;

    // Even with loopback allowed, never the relay's own port or the HTTP port.
    let (server, turn) = relay_server(false, &[]).await;
    let mut alice = client(turn, "alice").await;
    alice.allocate().await.unwrap();
    for own in [turn, server.addr] {
        assert_eq!(alice.create_permission(own).await, Err(403), "{own}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_garbage_and_allocations_is_answered_or_dropped_and_counted() {
    let (server, turn) = relay_server(true, &[]).await;
    let flood = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut garbage = vec![0u8; 64];
    for i in 0..2000u32 {
        garbage[..4].copy_from_slice(&i.to_be_bytes());
        // Half plain noise, half a STUN header whose length lies.
        if i % 2 == 0 {
            garbage[..8].copy_from_slice(&[0, 3, 0xFF, 0xFF, 0x21, 0x12, 0xA4, 0x42]);
        }
        let _ = flood.send_to(&garbage, turn).await;
    }
    // Unauthenticated Allocates from many addresses: each gets its 401, no state is kept.
    let mut anonymous = Vec::new();
    for _ in 0..50 {
        let mut client = TurnClient::udp(turn).await;
        assert_eq!(client.allocate().await, Err(401));
        anonymous.push(client);
    }
    // The rest still works: HTTP, a Binding, an allocation.
    assert!(server.healthy().await);
    let mut alice = client(turn, "alice").await;
    assert_eq!(alice.binding().await, alice.local);
    alice.allocate().await.expect("still allocates");
    assert!(metric(&server, "switchboard_turn_dropped_packets_total").await >= 1000.0);
    assert_eq!(metric(&server, "switchboard_turn_allocations").await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn stopping_the_server_stops_the_relay() {
    let (server, turn) = relay_server(true, &[]).await;
    let mut alice = client(turn, "alice").await;
    alice.allocate().await.unwrap();
    server.stop().await;
    // Its port is free again: every task holding its sockets has ended.
    let mut rebound = false;
    for _ in 0..50 {
        if std::net::UdpSocket::bind(turn).is_ok() && std::net::TcpListener::bind(turn).is_ok() {
            rebound = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rebound, "the relay still holds {turn}");
}
