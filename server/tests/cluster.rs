//! Cluster mode without Redis: two servers in this process, joined by an in-memory adapter
//! driver and store with Redis's semantics. Every contract of every namespace holds across
//! the two nodes, as a client cannot tell it talks to a cluster. (server/tests/redis.rs runs
//! the same against a real Redis, with real processes.)

mod common;

use std::time::{Duration, Instant};

use common::rooms::{joins_at_once, leaves_while_others_join, At};
use common::sfu_bot::Bot;
use common::{
    eventually, eventually_within, metric, named, RawClient, SioClient, TestServer, PATIENCE,
};
use serde_json::{json, Value};
use server::ClusterRedis;
use server::{MemoryDriver, MemoryHub, MemoryKv};

const QUIET: Duration = Duration::from_millis(300);

struct Cluster {
    hub: MemoryHub,
    kv: MemoryKv,
    a: TestServer,
    b: TestServer,
    /// Node b's driver, to cut it off as if it died.
    b_driver: MemoryDriver,
}

async fn cluster() -> Cluster {
    cluster_with(&[]).await
}

/// Two nodes started with `flags`.
async fn cluster_with(flags: &'static [&'static str]) -> Cluster {
    let (hub, kv) = (MemoryHub::default(), MemoryKv::default());
    let node = |driver: MemoryDriver| {
        let kv = kv.clone();
        async move { TestServer::start_clustered(ClusterRedis::InMemory { driver, kv }, flags).await }
    };
    let b_driver = hub.driver();
    let a = node(hub.driver()).await;
    let b = node(b_driver.clone()).await;
    Cluster {
        hub,
        kv,
        a,
        b,
        b_driver,
    }
}

#[tokio::test]
async fn a_simple_chat_message_reaches_everyone_on_every_node_sender_included() {
    let c = cluster().await;
    let mut on_a = SioClient::connect(&c.a, "/simple-chat").await;
    let mut on_b = SioClient::connect(&c.b, "/simple-chat").await;
    on_a.emit("message", vec![json!("hello cluster")]).await;
    assert_eq!(on_a.expect("message").await, vec![json!("hello cluster")]);
    assert_eq!(on_b.expect("message").await, vec![json!("hello cluster")]);
    on_a.expect_silence(QUIET).await;
    on_b.expect_silence(QUIET).await;
}

#[tokio::test]
async fn names_are_unique_across_nodes_and_chat_flows_between_them() {
    let c = cluster().await;
    let mut ada = named(&c.a, "Ada").await;
    let mut refused = SioClient::connect(&c.b, "/chat").await;
    for taken in ["ada", "ΑDA", "Аda"] {
        refused.emit("name", vec![json!(taken)]).await;
        let reason = refused.expect("nameError").await;
        assert!(
            reason[0].as_str().unwrap().contains("taken"),
            "{taken}: {reason:?}"
        );
    }
    let mut bo = named(&c.b, "Bo").await;
    bo.emit("message", vec![json!("hi Ada")]).await;
    let args = ada.expect("message").await;
    assert_eq!(args[0]["name"], "Bo");
    assert_eq!(args[1], "hi Ada");
    assert_eq!(bo.expect("message").await[1], "hi Ada");
    // Unnamed clients see the chat too (as in the course's server).
    assert_eq!(refused.expect("message").await[1], "hi Ada");
    // A rename frees the old name for the other node.
    ada.emit("name", vec![json!("Ada L.")]).await;
    ada.expect("name").await;
    ada.expect("history").await;
    refused.emit("name", vec![json!("Ada")]).await;
    assert_eq!(refused.expect("name").await, vec![json!("Ada")]);
}

#[tokio::test]
async fn every_node_replays_the_same_history_oldest_first() {
    let c = cluster().await;
    let ada = named(&c.a, "Ada").await;
    for n in 0..5 {
        ada.emit("message", vec![json!(format!("m{n}"))]).await;
    }
    let mut ada = ada;
    for _ in 0..5 {
        ada.expect("message").await;
    }
    let mut late = SioClient::connect(&c.b, "/chat").await;
    late.emit("name", vec![json!("Late")]).await;
    late.expect("name").await;
    let history = late.expect("history").await;
    let texts: Vec<&str> = history[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn without_the_store_a_claim_is_refused_and_local_chat_goes_on() {
    let c = cluster().await;
    let ada = named(&c.a, "Ada").await;
    let mut bo = named(&c.a, "Bo").await;
    c.kv.set_down(true);
    c.hub.set_down(true);
    let mut late = SioClient::connect(&c.b, "/chat").await;
    late.emit("name", vec![json!("Late")]).await;
    let reason = late.expect("nameError").await;
    assert!(
        reason[0].as_str().unwrap().contains("try again"),
        "{reason:?}"
    );
    // Those already named on a node still chat there.
    ada.emit("message", vec![json!("still here")]).await;
    assert_eq!(bo.expect("message").await[1], "still here");
    c.kv.set_down(false);
    c.hub.set_down(false);
    late.emit("name", vec![json!("Late")]).await;
    late.expect("name").await;
}

#[tokio::test]
async fn a_stopped_node_frees_its_names_at_once() {
    let c = cluster().await;
    let _ada = named(&c.b, "Ada").await;
    let _data = c.b.stop().await;
    let mut next = SioClient::connect(&c.a, "/chat").await;
    next.emit("name", vec![json!("Ada")]).await;
    assert_eq!(next.expect("name").await, vec![json!("Ada")]);
}

#[tokio::test]
async fn cursors_are_one_map_across_nodes() {
    let c = cluster().await;
    let mut compact_b =
        RawClient::connect_with_auth(&c.b, "/cursors", Some(r#"{"compact":true}"#)).await;
    let mut full_b = RawClient::connect(&c.b, "/cursors").await;
    let mut mover_a = RawClient::connect(&c.a, "/cursors").await;
    mover_a
        .emit("update", json!([{"x": 0.25, "y": 0.75}]))
        .await;
    let mover = mover_a.sid.clone();
    // The compact client on the other node sees the move in a delta...
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "no delta with the move");
        let args = compact_b.expect("delta").await;
        let seen = args[0]["moved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m[0] == json!(mover) && m[1] == json!(0.25) && m[2] == json!(0.75));
        if seen {
            break;
        }
    }
    // ...and the seed's client finds it in the full map.
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "no map with the move");
        let map = &full_b.expect("update").await[0];
        if map[&mover] == json!({"id": mover, "x": 0.25, "y": 0.75}) {
            assert!(map[&full_b.sid].is_object() && map[&compact_b.sid].is_object());
            break;
        }
    }
    // It leaves: gone from the other node's map too.
    drop(mover_a);
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "the departed cursor stayed");
        let map = &full_b.expect("update").await[0];
        if map.get(&mover).is_none() {
            break;
        }
    }
    let _ = &mut compact_b;
}

#[tokio::test]
async fn relays_reach_a_socket_on_the_other_node_and_only_it() {
    let c = cluster().await;
    let mut desktop = RawClient::connect(&c.b, "/remote").await;
    let mut bystander = RawClient::connect(&c.b, "/remote").await;
    let mut controller = RawClient::connect(&c.a, "/remote").await;
    controller
        .update_until_acknowledged(&desktop.sid, r#"{"x":0.1,"y":0.2}"#)
        .await;
    assert_eq!(
        desktop.expect("update").await,
        vec![json!({"x": 0.1, "y": 0.2})]
    );
    bystander.expect_silence(QUIET).await;
    // An id nobody holds is refused, with the same words as on one node.
    controller
        .send_frame(r#"42/remote,2["update","AAAAAAAAAAAAAAAA",{"x":0}]"#)
        .await
        .unwrap();
    let refused = tokio::time::timeout(PATIENCE, controller.next_packet())
        .await
        .unwrap()
        .unwrap();
    assert!(refused.contains("No desktop"), "{refused}");
}

#[tokio::test]
async fn signalling_lists_everyone_and_stamps_the_sender_across_nodes() {
    let c = cluster().await;
    let mut on_a = RawClient::connect(&c.a, "/signal").await;
    let mut on_b = RawClient::connect(&c.b, "/signal").await;
    let (a_id, b_id) = (on_a.sid.clone(), on_b.sid.clone());
    let both = |args: &Vec<Value>| args[0].get(&a_id).is_some() && args[0].get(&b_id).is_some();
    eventually("a lists b", async || both(&on_a.expect("clients").await)).await;
    eventually("b lists a", async || both(&on_b.expect("clients").await)).await;
    on_a.emit("signal", json!([b_id, {"type": "offer", "sdp": "v=0"}]))
        .await;
    let (event, args) = loop {
        let (event, args) = tokio::time::timeout(PATIENCE, on_b.next_event())
            .await
            .unwrap()
            .unwrap();
        if event != "clients" {
            break (event, args);
        }
    };
    assert_eq!(event, "signal");
    assert_eq!(
        args,
        vec![
            json!(b_id),
            json!({"type": "offer", "sdp": "v=0"}),
            json!(a_id)
        ]
    );
    // A node that dies: its clients leave the other node's list within seconds.
    c.b_driver.sever();
    drop(on_b);
    eventually("b's client is gone from a's list", async || {
        let args = on_a.expect("clients").await;
        args[0].get(&b_id).is_none()
    })
    .await;
}

/// A client with `/chat`'s additions, named `name`, with what came after the name.
async fn plus(
    server: &TestServer,
    session: &str,
    name: &str,
    last_seen: Option<u64>,
) -> (RawClient, String, Vec<Value>) {
    let auth = json!({"plus": true, "session": session}).to_string();
    let mut client = RawClient::connect_with_auth(server, "/chat", Some(&auth)).await;
    let resume = last_seen.map_or(json!(null), |id| json!({"lastSeen": id}));
    client.emit("name", json!([name, resume])).await;
    assert_eq!(client.expect("name").await, vec![json!(name)]);
    let (kind, replay) = tokio::time::timeout(PATIENCE, client.next_event())
        .await
        .unwrap()
        .unwrap();
    client.expect("people").await;
    (client, kind, replay)
}

#[tokio::test]
async fn chat_plus_works_across_nodes_presence_typing_and_what_was_missed() {
    let c = cluster().await;
    let (mut ada, _, _) = plus(&c.a, "session-of-ada-0001", "Ada", None).await;
    let (mut bo, _, _) = plus(&c.b, "session-of-bo-00001", "Bo", None).await;
    assert_eq!(
        ada.expect("joined").await,
        vec![json!("Bo")],
        "from the other node"
    );
    bo.emit("typing", json!([true])).await;
    assert_eq!(ada.expect("typing").await, vec![json!("Bo"), json!(true)]);
    bo.emit("message", json!(["one"])).await;
    assert_eq!(
        ada.expect("typing").await,
        vec![json!("Bo"), json!(false)],
        "sending stops it"
    );
    let first = ada.expect("message").await;
    assert_eq!(first[1], "one");
    let last_seen = first[2]["id"].as_u64().unwrap();

    drop(ada);
    loop {
        let (event, args) = tokio::time::timeout(PATIENCE, bo.next_event())
            .await
            .unwrap()
            .unwrap();
        if event == "left" {
            assert_eq!(args, vec![json!("Ada")]);
            break;
        }
    }
    for text in ["two", "three"] {
        bo.emit("message", json!([text])).await;
    }
    // Back through the other node: exactly what came after.
    let mut missed = Vec::new();
    eventually("both messages are stored", async || {
        let (_, kind, replay) = plus(&c.b, "session-of-ada-0001", "Ada", Some(last_seen)).await;
        missed = replay[0].as_array().cloned().unwrap_or_default();
        kind == "missed" && missed.len() == 2
    })
    .await;
    let texts: Vec<&str> = missed.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["two", "three"]);
    assert_eq!(missed[0]["id"], json!(last_seen + 1));
}

#[tokio::test]
async fn the_whiteboard_is_one_board_across_nodes() {
    let c = cluster().await;
    let segment = json!({"x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.4, "color": "red"});
    let mut on_a = RawClient::connect(&c.a, "/draw").await;
    assert_eq!(on_a.expect("board").await, vec![json!([])]);
    let mut on_b = RawClient::connect(&c.b, "/draw").await;
    assert_eq!(on_b.expect("board").await, vec![json!([])]);
    on_a.emit("drawing", json!([segment])).await;
    assert_eq!(on_b.expect("drawing").await[0]["x0"], json!(0.1));
    on_a.expect_silence(QUIET).await;
    // A late joiner on the other node gets what was drawn on this one.
    let mut late = RawClient::connect(&c.b, "/draw").await;
    assert_eq!(late.expect("board").await[0][0]["color"], json!("red"));
    on_b.emit("clear", json!([])).await;
    for client in [&mut on_a, &mut on_b, &mut late] {
        client.expect("clear").await;
    }
    let mut later = RawClient::connect(&c.a, "/draw").await;
    assert_eq!(later.expect("board").await, vec![json!([])]);
}

#[tokio::test]
async fn a_meeting_room_spans_nodes() {
    let c = cluster().await;
    let mut ada = RawClient::connect(&c.a, "/meet").await;
    ada.emit("join", json!(["standup", "Ada"])).await;
    ada.expect("room").await;
    // The room's seats are in the shared store: node b knows Ada at once.
    let mut bo = RawClient::connect(&c.b, "/meet").await;
    bo.emit("join", json!(["standup", "Bo"])).await;
    let view = bo.expect("room").await;
    assert_eq!(view[0]["members"], json!([{"id": ada.sid, "name": "Ada"}]));
    let joined = ada.expect("joined").await;
    assert_eq!(joined[0]["name"], "Bo");
    bo.emit("signal", json!([ada.sid, {"type": "offer", "sdp": "v=0"}]))
        .await;
    assert_eq!(ada.expect("signal").await[0], json!(bo.sid));
    let bo_id = bo.sid.clone();
    drop(bo);
    assert_eq!(ada.expect("left").await, vec![json!(bo_id)]);
}

#[tokio::test]
async fn joins_at_once_across_nodes_keep_the_room_invariant() {
    // Rooms of four (a mesh): six who join at once are four seated and two refused.
    let c = cluster_with(&["--meet-media", "mesh"]).await;
    let nodes = [At(c.a.addr), At(c.b.addr)];
    joins_at_once(&nodes, 20, 6).await;
    leaves_while_others_join(&nodes, 20, 2).await;
}

#[tokio::test]
async fn a_call_spans_nodes_and_its_signals_reach_nobody_outside_it() {
    let c = cluster().await;
    let call = |tag: &str| format!("{tag:a<26}");
    let offer = json!({"type": "offer", "sdp": "v=0"});
    let mut ada = SioClient::connect(&c.a, "/call").await;
    ada.emit("join", vec![json!(call("spans"))]).await;
    let ada_id = ada.expect("call").await[0]["you"].clone();
    let mut bo = SioClient::connect(&c.b, "/call").await;
    bo.emit("join", vec![json!(call("spans"))]).await;
    let view = bo.expect("call").await;
    assert_eq!(
        view[0]["others"],
        json!([ada_id]),
        "node b finds Ada at once"
    );
    let bo_id = view[0]["you"].clone();
    assert_eq!(ada.expect("joined").await, vec![bo_id.clone()]);
    bo.emit("signal", vec![ada_id.clone(), offer.clone()]).await;
    assert_eq!(
        ada.expect("signal").await,
        vec![bo_id.clone(), offer.clone()]
    );

    // Another call on node b, and the lobby on node b: Ada's signals reach neither.
    let mut cy = SioClient::connect(&c.b, "/call").await;
    cy.emit("join", vec![json!(call("elsewhere"))]).await;
    let cy_id = cy.expect("call").await[0]["you"].clone();
    let mut lobby = RawClient::connect(&c.b, "/signal").await;
    for target in [cy_id, json!(lobby.sid)] {
        ada.emit("signal", vec![target, offer.clone()]).await;
        let refusal = ada.expect("callError").await;
        assert!(refusal[0].as_str().unwrap().contains("not in your call"));
    }
    cy.expect_silence(QUIET).await;
    bo.expect_silence(QUIET).await;
    while let Ok(Some((event, _))) = tokio::time::timeout(QUIET, lobby.next_event()).await {
        assert_eq!(event, "clients");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sfu_room_lives_on_one_node_and_members_on_the_other_reach_it() {
    let c = cluster().await;
    let ada = Bot::join(&c.a, "spans-sfu", "ada").await;
    let bo = Bot::join(&c.b, "spans-sfu", "bo").await;
    eventually_within(
        Duration::from_secs(30),
        "each gets the other's video",
        async || ada.gets_video_of(&bo) && bo.gets_video_of(&ada),
    )
    .await;
    // Both connections are on node a, which claimed the room first.
    assert_eq!(metric(&c.a, "switchboard_sfu_publishers").await, 2.0);
    assert_eq!(metric(&c.b, "switchboard_sfu_publishers").await, 0.0);
    // Bo leaves through node b: node a drops its media.
    bo.leave().await;
    eventually("node a forwards Bo no more", async || {
        metric(&c.a, "switchboard_sfu_publishers").await == 1.0
    })
    .await;
}
