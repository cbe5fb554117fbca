//! Cluster mode against a real Redis (Debian's redis-server, started here on a free loopback
//! port, never the system's service) and real server processes: the contracts across two
//! nodes, a node killed with SIGKILL, and Redis stopped for 3 s and started again.
//! `make test` installs redis-server when it is missing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::rooms::{joins_at_once, leaves_while_others_join, At};
use common::sfu_bot::Bot;
use common::{
    eventually, eventually_within, metric, named, ProcessServer, RawClient, SioClient, PATIENCE,
};
use serde_json::json;

/// A redis-server of this test's own.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut redis = Redis { child: None, port };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: apt-get install redis-server (make test does)");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn node(redis: &Redis, data: &tempfile::TempDir) -> ProcessServer {
    ProcessServer::start(data.path(), &["--redis-url", &redis.url()]).await
}

/// A node whose meetings mesh (rooms of four).
async fn mesh_node(redis: &Redis, data: &tempfile::TempDir) -> ProcessServer {
    ProcessServer::start(
        data.path(),
        &["--redis-url", &redis.url(), "--meet-media", "mesh"],
    )
    .await
}

#[tokio::test]
async fn two_processes_are_one_server() {
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (node(&redis, &da).await, node(&redis, &db).await);

    // /simple-chat: everyone on every node, sender included.
    let mut simple_a = SioClient::connect(&a, "/simple-chat").await;
    let mut simple_b = SioClient::connect(&b, "/simple-chat").await;
    simple_b.emit("message", vec![json!("from b")]).await;
    assert_eq!(simple_a.expect("message").await, vec![json!("from b")]);
    assert_eq!(simple_b.expect("message").await, vec![json!("from b")]);

    // /chat: one name across nodes, one conversation, one history.
    let mut ada = named(&a, "Ada").await;
    let mut taken = SioClient::connect(&b, "/chat").await;
    taken.emit("name", vec![json!("ADA")]).await;
    assert!(taken.expect("nameError").await[0]
        .as_str()
        .unwrap()
        .contains("taken"));
    let mut bo = named(&b, "Bo").await;
    bo.emit("message", vec![json!("hello from b")]).await;
    assert_eq!(ada.expect("message").await[1], "hello from b");
    bo.expect("message").await;
    taken.expect("message").await;
    let mut late = SioClient::connect(&a, "/chat").await;
    late.emit("name", vec![json!("Late")]).await;
    late.expect("name").await;
    let history = late.expect("history").await;
    assert_eq!(
        history[0].as_array().unwrap().last().unwrap()["text"],
        "hello from b"
    );

    // /remote: a controller on a steers a desktop on b, acknowledged.
    let mut desktop = RawClient::connect(&b, "/remote").await;
    let mut controller = RawClient::connect(&a, "/remote").await;
    controller
        .update_until_acknowledged(&desktop.sid, r#"{"x":0.5,"y":0.5}"#)
        .await;
    assert_eq!(
        desktop.expect("update").await,
        vec![json!({"x": 0.5, "y": 0.5})]
    );

    // /signal: the cluster-wide list, and relays stamped with the sender.
    let mut caller = RawClient::connect(&a, "/signal").await;
    let mut callee = RawClient::connect(&b, "/signal").await;
    let (caller_id, callee_id) = (caller.sid.clone(), callee.sid.clone());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let clients = caller.expect("clients").await;
        if clients[0].get(&callee_id).is_some() {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    caller
        .emit(
            "peerOffer",
            json!([callee_id, {"type": "offer", "sdp": "v=0"}]),
        )
        .await;
    let offer = loop {
        let (event, args) = tokio::time::timeout(PATIENCE, callee.next_event())
            .await
            .unwrap()
            .unwrap();
        if event == "peerOffer" {
            break args;
        }
    };
    assert_eq!(offer[2], json!(caller_id));

    // /draw: a segment drawn on a reaches b; the board, in Redis, is the same on both.
    let mut drawer = RawClient::connect(&a, "/draw").await;
    assert_eq!(drawer.expect("board").await, vec![json!([])]);
    let mut viewer = RawClient::connect(&b, "/draw").await;
    viewer.expect("board").await;
    let segment = json!({"x0": 0.5, "y0": 0.5, "x1": 1, "y1": 1, "color": "green"});
    drawer.emit("drawing", json!([segment])).await;
    assert_eq!(viewer.expect("drawing").await[0]["color"], "green");
    let mut late = RawClient::connect(&b, "/draw").await;
    assert_eq!(late.expect("board").await[0][0]["x1"], json!(1.0));
    viewer.emit("clear", json!([])).await;
    drawer.expect("clear").await;
    let mut later = RawClient::connect(&a, "/draw").await;
    assert_eq!(later.expect("board").await, vec![json!([])]);

    // /cursors: a move on b shows in a's map.
    let mut watcher = RawClient::connect(&a, "/cursors").await;
    let mut mover = RawClient::connect(&b, "/cursors").await;
    mover.emit("update", json!([{"x": 0.125, "y": 0.5}])).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let map = &watcher.expect("update").await[0];
        if map[&mover.sid]["x"] == json!(0.125) {
            break;
        }
        assert!(Instant::now() < deadline, "a never saw b's cursor");
    }
    assert_eq!(metric(&a, "switchboard_redis_connected").await, 1.0);
    // Counted at each heartbeat (every second).
    eventually("node a counts node b", async || {
        metric(&a, "switchboard_cluster_nodes_seen").await == 1.0
    })
    .await;
}

#[tokio::test]
async fn a_killed_node_leaves_no_trace_within_seconds() {
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&redis, &da).await;
    let b = node(&redis, &db).await;
    let _ada = named(&b, "Ada").await;
    let mut watcher = RawClient::connect(&a, "/cursors").await;
    let mut signal = RawClient::connect(&a, "/signal").await;
    let doomed_cursor = RawClient::connect(&b, "/cursors").await;
    let doomed_peer = RawClient::connect(&b, "/signal").await;
    let (cursor_id, peer_id) = (doomed_cursor.sid.clone(), doomed_peer.sid.clone());
    let deadline = Instant::now() + PATIENCE;
    loop {
        if signal.expect("clients").await[0].get(&peer_id).is_some() {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    b.kill();
    let killed = Instant::now();
    // Its cursors and its peers disappear within 5 s...
    loop {
        let map = &watcher.expect("update").await[0];
        if map.get(&cursor_id).is_none() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the dead node's cursor stayed"
        );
    }
    loop {
        let clients = tokio::time::timeout(Duration::from_secs(5), signal.expect("clients")).await;
        if clients.is_ok_and(|c| c[0].get(&peer_id).is_none()) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the dead node's peer stayed listed"
        );
    }
    // ...and its names within 20 s.
    let mut next = SioClient::connect(&a, "/chat").await;
    loop {
        next.emit("name", vec![json!("Ada")]).await;
        if next.next().await.0 == "name" {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the dead node's name stayed taken"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop((doomed_cursor, doomed_peer));
}

#[tokio::test]
async fn redis_down_for_three_seconds_then_back() {
    let mut redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node(&redis, &da).await;
    let mut b = node(&redis, &db).await;
    let mut local_a = SioClient::connect(&a, "/simple-chat").await;
    let mut other_a = SioClient::connect(&a, "/simple-chat").await;
    let mut on_b = SioClient::connect(&b, "/simple-chat").await;
    redis.stop();
    let started = Instant::now();
    // Each node still serves its own clients.
    while started.elapsed() < Duration::from_secs(3) {
        local_a.emit("message", vec![json!("local")]).await;
        assert_eq!(other_a.expect("message").await, vec![json!("local")]);
        local_a.expect("message").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(metric(&a, "switchboard_redis_connected").await, 0.0);
    let mut late = SioClient::connect(&b, "/chat").await;
    late.emit("name", vec![json!("Late")]).await;
    assert!(late.expect("nameError").await[0]
        .as_str()
        .unwrap()
        .contains("try again"));
    // Messages sent meanwhile never reached the other node, and that is all.
    while tokio::time::timeout(Duration::from_millis(100), on_b.next())
        .await
        .is_ok()
    {}
    redis.run();
    let back = Instant::now();
    loop {
        local_a.emit("message", vec![json!("across again")]).await;
        local_a.expect("message").await;
        other_a.expect("message").await;
        if let Ok((_, args)) = tokio::time::timeout(Duration::from_millis(500), on_b.next()).await {
            assert_eq!(args, vec![json!("across again")]);
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "cross-node traffic never resumed"
        );
    }
    late.emit("name", vec![json!("Late")]).await;
    assert_eq!(late.expect("name").await, vec![json!("Late")]);
    // No process exited.
    assert!(a.alive() && b.alive());
}

#[tokio::test]
async fn meeting_rooms_hold_their_invariant_across_processes_on_redis() {
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (mesh_node(&redis, &da).await, mesh_node(&redis, &db).await);
    let nodes = [At(a.addr), At(b.addr)];
    joins_at_once(&nodes, 10, 6).await;
    leaves_while_others_join(&nodes, 10, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sfu_room_spans_processes_on_redis_and_moves_when_its_node_dies() {
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (node(&redis, &da).await, node(&redis, &db).await);
    let ada = Bot::join(&a, "spans", "ada").await;
    let bo = Bot::join(&b, "spans", "bo").await;
    eventually_within(
        Duration::from_secs(30),
        "each gets the other's video",
        async || ada.gets_video_of(&bo) && bo.gets_video_of(&ada),
    )
    .await;
    assert_eq!(metric(&a, "switchboard_sfu_publishers").await, 2.0);
    // Node a, which holds the room's media, dies: once its lease has run out, the room's
    // media start again on node b (a page reconnects the same way: a new offer).
    a.kill();
    let died = Instant::now();
    let cy = loop {
        match Bot::try_join(&b, "spans", "cy").await {
            Ok(bot) => break bot,
            Err(refused) => {
                assert!(refused.contains("try again"), "{refused}");
                assert!(
                    died.elapsed() < Duration::from_secs(30),
                    "the room never moved"
                );
                // (Each refused try already waited for node a's answer.)
            }
        }
    };
    let again = Bot::join(&b, "spans", "bo again").await;
    eventually_within(
        Duration::from_secs(30),
        "the room's media flow on node b",
        async || cy.gets_video_of(&again),
    )
    .await;
    assert_eq!(metric(&b, "switchboard_sfu_publishers").await, 2.0);
}

#[tokio::test]
async fn a_burst_from_one_node_reaches_the_other_whole() {
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = redis.url();
    let flags = ["--redis-url", &url, "--no-rate-limits"];
    let a = ProcessServer::start(da.path(), &flags).await;
    let b = ProcessServer::start(db.path(), &flags).await;
    // More than fred's default queue of 32, fewer than the 128 a socket may have waiting to
    // be sent (socketioxide drops the rest for that socket).
    const SENDERS: usize = 4;
    const EACH: usize = 20;
    let mut on_b = SioClient::connect(&b, "/simple-chat").await;
    // Several senders: one client may have only so many events waiting on its node.
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        senders.push(SioClient::connect(&a, "/simple-chat").await);
    }
    // Across once, so both nodes are subscribed and hear each other.
    senders[0].emit("message", vec![json!("hello")]).await;
    assert_eq!(on_b.expect("message").await, vec![json!("hello")]);
    // Node b stalls while node a publishes a burst; once it goes on, its Redis connection
    // hands the whole burst over at once. fred's default queue of 32 between it and
    // socketioxide's adapter dropped most of it (a busy CI machine lost `joined`s so).
    b.pause();
    let burst = senders.iter().enumerate().flat_map(|(s, sender)| {
        (0..EACH).map(move |i| sender.emit("message", vec![json!(format!("{s}:{i}"))]))
    });
    futures_util::future::join_all(burst).await;
    // A node serves each client's events in order, each published before the next is
    // served: once a sender's `end` is back, its messages before it are all in Redis.
    for (s, sender) in senders.iter().enumerate() {
        sender
            .emit("message", vec![json!(format!("end {s}"))])
            .await;
    }
    for (s, sender) in senders.iter_mut().enumerate() {
        while sender.expect("message").await != vec![json!(format!("end {s}"))] {}
    }
    b.resume();
    let all = SENDERS * (EACH + 1);
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < all {
        let (_, args) = on_b
            .next_within(PATIENCE)
            .await
            .unwrap_or_else(|| panic!("node b heard {} of {all} messages", heard.len()));
        heard.insert(args[0].as_str().expect("text").to_owned());
    }
}
