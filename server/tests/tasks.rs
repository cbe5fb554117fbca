//! Every task a server starts is its own: a server dropped without being served, or stopped
//! after serving, leaves no task running in the runtime (one process and cluster nodes on the
//! in-memory Redis stand-ins alike).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{eventually_within, RawClient, TestServer, PATIENCE};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use server::Config;
use server::{ClusterRedis, Switchboard};
use server::{MemoryHub, MemoryKv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

type Feed =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Tasks alive in this test's runtime (the test itself is not one).
fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until the runtime is back to `before` tasks. A server's tasks end at their next poll
/// once it is stopped or dropped (within milliseconds, a few hundred on a busy machine); a loop
/// left detached ends, if ever, at its next tick, and the seat and name renewals tick every
/// 5 s. (The 1 s cluster heartbeat could still slip through this bound.)
async fn no_task_left(before: usize, what: &str) {
    let soon = Duration::from_secs(2);
    eventually_within(soon, &format!("no task left after {what}"), async || {
        alive() <= before
    })
    .await;
}

// Several threads, as the server runs on: the loops are under way when their server goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_built_and_dropped_leave_no_task_behind() {
    let before = alive();
    // Kept to the end: what the nodes subscribed to stays open unless they leave it.
    let (hub, kv) = (MemoryHub::default(), MemoryKv::default());
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("temp dir");
        // The demo market too: its simulations are loops of their own.
        let config = Config::for_tests(dir.path(), &["--market", "demo"]);
        let alone = Switchboard::build(&config, addr).expect("build");
        let node = |driver| ClusterRedis::InMemory {
            driver,
            kv: kv.clone(),
        };
        let a = Switchboard::build_clustered(&config, addr, node(hub.driver()))
            .await
            .expect("node a");
        let b = Switchboard::build_clustered(&config, addr, node(hub.driver()))
            .await
            .expect("node b");
        assert!(alive() > before, "the measure sees the servers' loops");
        drop((alone, a, b));
    }
    no_task_left(before, "10 rounds of three servers dropped").await;
}

/// Connections of every kind, kept open while their server stops: HTTP keep-alive, a
/// socket.io client and a demo-market feed subscribed to a pair. (None of these clients spawns
/// a task of its own.)
async fn clients_of(server: &TestServer) -> (tokio::net::TcpStream, RawClient, Feed) {
    let mut http = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    http.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut answer = [0u8; 12];
    http.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    let mut chat = RawClient::connect(server, "/chat").await;
    chat.emit("name", json!(["Ada"])).await;
    chat.expect("name").await;
    let (mut feed, _) = tokio_tungstenite::connect_async(format!("ws://{}/market/ws", server.addr))
        .await
        .expect("feed");
    let subscribe = json!({"event": "bts:subscribe", "data": {"channel": "live_trades_btcusd"}});
    feed.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    let subscribed = tokio::time::timeout(PATIENCE, feed.next())
        .await
        .expect("an answer from the feed");
    assert!(
        matches!(&subscribed, Some(Ok(Message::Text(text))) if text.contains("subscription_succeeded")),
        "{subscribed:?}"
    );
    (http, chat, feed)
}

#[tokio::test]
async fn a_stopped_server_leaves_no_task_behind_though_its_clients_stayed() {
    let before = alive();
    let (hub, kv) = (MemoryHub::default(), MemoryKv::default());
    let demo = ["--market", "demo"];
    for clustered in [false, true] {
        let server = if clustered {
            let driver = hub.driver();
            let kv = kv.clone();
            TestServer::start_clustered(ClusterRedis::InMemory { driver, kv }, &demo).await
        } else {
            TestServer::start_with(&demo).await
        };
        let clients = clients_of(&server).await;
        server.stop().await;
        no_task_left(before, "a server stopped").await;
        drop(clients);
    }
}
