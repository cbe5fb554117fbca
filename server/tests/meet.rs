//! `/meet`: rooms of up to four; joins and leaves told to the room; signals relayed between
//! members of one room only.

mod common;

use std::time::Duration;

use common::rooms::{joins_at_once, leaves_while_others_join, At};
use common::{RawClient, TestServer, PATIENCE};
use serde_json::{json, Value};

const NS: &str = "/meet";
const QUIET: Duration = Duration::from_millis(300);

/// Joins `room` as `name`; the members it found there.
async fn join(client: &mut RawClient, room: &str, name: &str) -> Vec<Value> {
    client.emit("join", json!([room, name])).await;
    let view = client.expect("room").await;
    assert_eq!(view[0]["you"], json!(client.sid));
    view[0]["members"].as_array().unwrap().clone()
}

async fn member(server: &TestServer, room: &str, name: &str) -> RawClient {
    let mut client = RawClient::connect(server, NS).await;
    join(&mut client, room, name).await;
    client
}

/// Sends a signal with an acknowledgement; the acknowledgement.
async fn signal(client: &mut RawClient, to: &str) -> String {
    let frame = format!(
        "42{NS},9{}",
        json!(["signal", to, {"type": "offer", "sdp": "v=0"}])
    );
    client.send_frame(frame).await.unwrap();
    tokio::time::timeout(PATIENCE, async {
        loop {
            match client.next_packet().await {
                Some(p) if p.starts_with("3,9") => return p,
                Some(_) => continue,
                None => panic!("closed"),
            }
        }
    })
    .await
    .expect("no acknowledgement")
}

#[tokio::test]
async fn members_learn_who_is_there_and_who_comes_and_goes() {
    let server = TestServer::start().await;
    let mut ada = RawClient::connect(&server, NS).await;
    assert!(join(&mut ada, "StandUp", "Ada").await.is_empty());
    let mut bo = RawClient::connect(&server, NS).await;
    let there = join(&mut bo, "standup", "Bo").await;
    assert_eq!(
        there,
        vec![json!({"id": ada.sid, "name": "Ada"})],
        "rooms ignore case"
    );
    assert_eq!(
        ada.expect("joined").await,
        vec![json!({"id": bo.sid, "name": "Bo"})]
    );
    // Another room hears nothing of this one.
    let mut cy = member(&server, "retro", "Cy").await;
    let bo_id = bo.sid.clone();
    bo.emit("leave", json!([])).await;
    assert_eq!(ada.expect("left").await, vec![json!(bo_id)]);
    let mut di = RawClient::connect(&server, NS).await;
    assert_eq!(join(&mut di, "standup", "Di").await.len(), 1, "Bo is gone");
    ada.expect("joined").await;
    let di_id = di.sid.clone();
    drop(di); // the page closes
    assert_eq!(ada.expect("left").await, vec![json!(di_id)]);
    cy.expect_silence(QUIET).await;
}

#[tokio::test]
async fn in_a_mesh_a_fifth_person_is_told_the_room_is_full() {
    let server = TestServer::start_with(&["--meet-media", "mesh"]).await;
    let mut first = member(&server, "standup", "One").await;
    let mut others = Vec::new();
    for name in ["Two", "Three", "Four"] {
        others.push(member(&server, "standup", name).await);
    }
    let mut fifth = RawClient::connect(&server, NS).await;
    fifth.emit("join", json!(["standup", "Five"])).await;
    let refusal = fifth.expect("meetError").await;
    assert!(refusal[0].as_str().unwrap().contains("full"), "{refusal:?}");
    for _ in 0..3 {
        first.expect("joined").await;
    }
    first.expect_silence(QUIET).await;
    // Once someone leaves there is room again.
    drop(others.pop());
    first.expect("left").await;
    assert_eq!(join(&mut fifth, "standup", "Five").await.len(), 3);
}

#[tokio::test]
async fn through_the_sfu_a_room_holds_twenty_five_and_the_twenty_sixth_is_told_it_is_full() {
    let server = TestServer::start().await;
    let mut members = Vec::new();
    for n in 0..25 {
        let mut client = RawClient::connect(&server, NS).await;
        assert_eq!(join(&mut client, "class", &format!("P{n}")).await.len(), n);
        members.push(client);
    }
    let mut late = RawClient::connect(&server, NS).await;
    late.emit("join", json!(["class", "Late"])).await;
    let refusal = late.expect("meetError").await;
    assert!(
        refusal[0].as_str().unwrap().contains("full: 25 people"),
        "{refusal:?}"
    );
}

#[tokio::test]
async fn signals_go_to_members_of_ones_own_room_only() {
    let server = TestServer::start().await;
    let mut ada = member(&server, "standup", "Ada").await;
    let mut bo = member(&server, "standup", "Bo").await;
    ada.expect("joined").await;
    let mut cy = member(&server, "retro", "Cy").await;
    let mut stranger = RawClient::connect(&server, NS).await;

    assert!(signal(&mut ada, &bo.sid).await.contains(r#""ok":true"#));
    assert_eq!(
        bo.expect("signal").await,
        vec![json!(ada.sid), json!({"type": "offer", "sdp": "v=0"})],
        "stamped with the sender"
    );
    for (from, to) in [(&mut cy, ada.sid.clone()), (&mut stranger, bo.sid.clone())] {
        let ack = signal(from, &to).await;
        assert!(ack.contains("not in your room"), "{ack}");
    }
    ada.expect_silence(QUIET).await;
    bo.expect_silence(QUIET).await;
}

#[tokio::test]
async fn bad_rooms_and_names_are_refused_with_a_reason() {
    let server = TestServer::start().await;
    let mut client = RawClient::connect(&server, NS).await;
    for bad in [
        json!([]),
        json!(["standup"]),
        json!(["stand up", "Ada"]),
        json!(["standup", ""]),
        json!(["standup", "x".repeat(33)]),
        json!([{"room": "standup"}, "Ada"]),
    ] {
        client.emit("join", bad.clone()).await;
        let refusal = client.expect("meetError").await;
        assert!(!refusal[0].as_str().unwrap().is_empty(), "{bad}");
    }
    assert!(join(&mut client, "standup", "Ada").await.is_empty());
}

// Several worker threads: joins really run at the same time, as in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_who_join_at_once_are_four_who_know_each_other_and_two_told_it_is_full() {
    let server = TestServer::start_with(&["--meet-media", "mesh"]).await;
    joins_at_once(&[At(server.addr)], 20, 6).await;
}

// Several worker threads: joins really run at the same time, as in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_who_leaves_while_others_join_stays_nobodys_ghost() {
    let server = TestServer::start().await;
    leaves_while_others_join(&[At(server.addr)], 20, 2).await;
}

#[tokio::test]
async fn a_second_join_and_a_leave_outside_a_room_change_nobodys_room() {
    let server = TestServer::start().await;
    let mut ada = member(&server, "standup", "Ada").await;
    let mut bo = member(&server, "standup", "Bo").await;
    ada.expect("joined").await;
    for again in [json!(["standup", "Bo"]), json!(["retro", "Bo"])] {
        bo.emit("join", again).await;
        let refusal = bo.expect("meetError").await;
        assert!(
            refusal[0].as_str().unwrap().contains("leave it first"),
            "{refusal:?}"
        );
    }
    let mut stranger = RawClient::connect(&server, NS).await;
    stranger.emit("leave", json!([])).await;
    stranger.expect_silence(QUIET).await;
    ada.expect_silence(QUIET).await;
    // Bo is still in the room, once.
    let mut cy = RawClient::connect(&server, NS).await;
    assert_eq!(join(&mut cy, "standup", "Cy").await.len(), 2);
    // A flood of join/leave from one socket leaves the room's list true for the others.
    for _ in 0..20 {
        bo.emit("leave", json!([])).await;
        bo.emit("join", json!(["standup", "Bo"])).await;
    }
    // The last leave with an acknowledgement: once it comes, every one of them was handled.
    bo.send_frame(format!("42{NS},7[\"leave\"]")).await.unwrap();
    let acked = tokio::time::timeout(PATIENCE, async {
        while let Some(packet) = bo.next_packet().await {
            if packet.starts_with("3,7") {
                return;
            }
        }
    });
    acked.await.expect("the last leave was acknowledged");
    let mut di = RawClient::connect(&server, NS).await;
    let names: Vec<Value> = join(&mut di, "standup", "Di")
        .await
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("Ada"), json!("Cy")],
        "no Bo, once or twice"
    );
}
