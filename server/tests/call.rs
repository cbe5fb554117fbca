//! `/call`: private calls of two by link. Signals reach the other member of one's own call
//! and nobody else (not another call, not `/signal`); a third person is told the call is
//! full; a page's next connection takes its seat back; bad input is refused with a reason.
//! Spoken with `rust_socketio`, a socket.io client we did not write.

mod common;

use std::time::Duration;

use common::{RawClient, SioClient, TestServer};
use serde_json::{json, Value};

const NS: &str = "/call";
const QUIET: Duration = Duration::from_millis(300);

/// A call id as a page draws it.
fn new_call(tag: &str) -> String {
    format!("{tag:a<26}")
}

/// Joins `call` (with a session key, if given); its own id and the others there.
async fn join(client: &mut SioClient, call: &str, session: Option<&str>) -> (String, Vec<Value>) {
    client.emit("join", vec![json!(call), json!(session)]).await;
    let view = client.expect("call").await;
    assert_eq!(view[0]["call"], json!(call));
    let you = view[0]["you"].as_str().expect("you").to_owned();
    (you, view[0]["others"].as_array().expect("others").clone())
}

fn offer() -> Value {
    json!({"type": "offer", "sdp": "v=0"})
}

#[tokio::test]
async fn two_people_in_a_call_signal_each_other_and_a_third_is_told_it_is_full() {
    let server = TestServer::start().await;
    let call = new_call("first");
    let mut ada = SioClient::connect(&server, NS).await;
    let (ada_id, others) = join(&mut ada, &call, None).await;
    assert!(others.is_empty());
    let mut bo = SioClient::connect(&server, NS).await;
    let (bo_id, others) = join(&mut bo, &call, None).await;
    assert_eq!(others, vec![json!(ada_id)], "Bo finds Ada, and only her id");
    assert_eq!(ada.expect("joined").await, vec![json!(bo_id)]);

    bo.emit("signal", vec![json!(ada_id), offer()]).await;
    assert_eq!(ada.expect("signal").await, vec![json!(bo_id), offer()]);

    let mut third = SioClient::connect(&server, NS).await;
    third.emit("join", vec![json!(call)]).await;
    let refusal = third.expect("callError").await;
    assert!(refusal[0].as_str().unwrap().contains("full"), "{refusal:?}");
    ada.expect_silence(QUIET).await;

    bo.emit("leave", vec![]).await;
    assert_eq!(ada.expect("left").await, vec![json!(bo_id)]);
    let (_, others) = join(&mut third, &call, None).await;
    assert_eq!(others, vec![json!(ada_id)], "a free seat again");
}

#[tokio::test]
async fn a_signal_reaches_nobody_outside_ones_call_and_the_sender_is_told() {
    let server = TestServer::start().await;
    let mut x = SioClient::connect(&server, NS).await;
    join(&mut x, &new_call("callx"), None).await;
    let mut y = SioClient::connect(&server, NS).await;
    let (y_id, _) = join(&mut y, &new_call("cally"), None).await;
    let mut lobby = RawClient::connect(&server, "/signal").await;
    let lobby_id = lobby.sid.clone();
    for target in [y_id, lobby_id, "made-up-id".to_owned()] {
        x.emit("signal", vec![json!(target), offer()]).await;
        let refusal = x.expect("callError").await;
        assert!(
            refusal[0].as_str().unwrap().contains("not in your call"),
            "{refusal:?}"
        );
    }
    y.expect_silence(QUIET).await;
    // The lobby hears its usual client lists and nothing else.
    while let Ok(Some((event, _))) = tokio::time::timeout(QUIET, lobby.next_event()).await {
        assert_eq!(event, "clients");
    }
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_misaddressed_signals_total 3"),
        "counted"
    );
}

#[tokio::test]
async fn a_page_that_comes_back_takes_its_seat_back_and_its_old_connection_is_closed() {
    let server = TestServer::start().await;
    let call = new_call("reload");
    let key = "tab-secret-0123456789";
    let mut ada = SioClient::connect(&server, NS).await;
    let (ada_id, _) = join(&mut ada, &call, None).await;
    // Bo's old connection, which the server has not seen go (a phone lost its network).
    let mut bo_before = RawClient::connect(&server, NS).await;
    bo_before.emit("join", json!([call, key])).await;
    bo_before.expect("call").await;
    assert_eq!(ada.expect("joined").await, vec![json!(bo_before.sid)]);
    // The call is full, but Bo's reload carries the same key.
    let mut bo_after = SioClient::connect(&server, NS).await;
    let (bo_id, others) = join(&mut bo_after, &call, Some(key)).await;
    assert_eq!(others, vec![json!(ada_id)]);
    bo_before.expect_closed().await;
    let mut heard = vec![ada.next().await, ada.next().await];
    heard.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        heard,
        vec![
            ("joined".to_owned(), vec![json!(bo_id)]),
            ("left".to_owned(), vec![json!(bo_before.sid)]),
        ]
    );
    // Another key takes nothing over.
    let mut stranger = SioClient::connect(&server, NS).await;
    stranger
        .emit("join", vec![json!(call), json!("someone-elses-key-000")])
        .await;
    assert!(stranger.expect("callError").await[0]
        .as_str()
        .unwrap()
        .contains("full"));
}

#[tokio::test]
async fn bad_joins_are_refused_with_a_reason_and_disturb_nobody() {
    let server = TestServer::start().await;
    let call = new_call("quiet");
    let mut ada = SioClient::connect(&server, NS).await;
    join(&mut ada, &call, None).await;
    let mut client = SioClient::connect(&server, NS).await;
    for bad in [
        vec![],
        vec![json!(null)],
        vec![json!("short")],
        vec![json!("x".repeat(65))],
        vec![json!("with spaces in the id here")],
        vec![json!({"call": call})],
        vec![json!(call), json!("tiny")],
    ] {
        client.emit("join", bad.clone()).await;
        let refusal = client.expect("callError").await;
        let refusal = refusal[0].as_str().unwrap_or_default();
        assert!(
            refusal.ends_with('.') && refusal.len() > 10,
            "{bad:?}: {refusal}"
        );
    }
    // One call per connection.
    join(&mut client, &new_call("other"), None).await;
    client.emit("join", vec![json!(new_call("third"))]).await;
    let refusal = client.expect("callError").await;
    assert!(refusal[0].as_str().unwrap().contains("leave it first"));
    ada.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_flood_of_new_calls_from_one_connection_is_held_back() {
    let server = TestServer::start().await;
    let mut client = SioClient::connect(&server, NS).await;
    let mut refused = 0;
    for n in 0..30 {
        client
            .emit("join", vec![json!(new_call(&format!("flood{n}")))])
            .await;
        match client.next().await {
            (event, _) if event == "call" => client.emit("leave", vec![]).await,
            (event, args) if event == "callError" => {
                assert!(args[0].as_str().unwrap().contains("too fast"), "{args:?}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 20, "ten joins at once, then held back");
}
