//! `/chat`'s additions (docs/PROTOCOL.md): presence, typing, message ids and exactly what was
//! missed after a reconnect; and the course's contract untouched for clients that do not ask.

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, SioClient, TestServer};
use serde_json::{json, Value};

const NS: &str = "/chat";
const QUIET: Duration = Duration::from_millis(300);

fn auth(session: &str) -> String {
    json!({"plus": true, "session": session}).to_string()
}

/// A client with the additions, named `name`; returns it and what came with the name
/// (`history` or `missed`, and the `people` list).
async fn join(
    server: &TestServer,
    session: &str,
    name: &str,
    last_seen: Option<u64>,
) -> (RawClient, (String, Vec<Value>), Vec<Value>) {
    let mut client = RawClient::connect_with_auth(server, NS, Some(&auth(session))).await;
    let resume = last_seen.map_or(json!(null), |id| json!({"lastSeen": id}));
    client.emit("name", json!([name, resume])).await;
    assert_eq!(client.expect("name").await, vec![json!(name)]);
    let (kind, replay) = next(&mut client).await;
    assert!(kind == "history" || kind == "missed", "{kind}: {replay:?}");
    let people = client.expect("people").await;
    (client, (kind, replay), people)
}

async fn next(client: &mut RawClient) -> (String, Vec<Value>) {
    tokio::time::timeout(common::PATIENCE, client.next_event())
        .await
        .expect("an event")
        .expect("open")
}

/// Sends a message asking for its receipt, and returns the receipt.
async fn say(client: &mut RawClient, ack: u32, text: &str, client_id: Option<&str>) -> Value {
    let mut args = vec![json!("message"), json!(text)];
    if let Some(id) = client_id {
        args.push(json!({"clientId": id}));
    }
    let frame = format!("42{NS},{ack}{}", Value::Array(args));
    client.send_frame(frame).await.unwrap();
    let prefix = format!("3,{ack}");
    loop {
        let packet = tokio::time::timeout(common::PATIENCE, client.next_packet())
            .await
            .expect("a receipt")
            .expect("open");
        if let Some(json) = packet.strip_prefix(&prefix) {
            let receipt: Vec<Value> = serde_json::from_str(json).unwrap();
            return receipt[0].clone();
        }
    }
}

/// The messages' (id, text) in a `history` or `missed` list.
fn ids_and_texts(list: &Value) -> Vec<(u64, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_u64().unwrap(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_named_see_who_is_here_and_who_joins_renames_and_leaves() {
    let server = TestServer::start().await;
    let (mut ada, _, people) = join(&server, "session-of-ada-0001", "Ada", None).await;
    assert_eq!(people, vec![json!(["Ada"])]);
    let (mut bo, _, people) = join(&server, "session-of-bo-00001", "Bo", None).await;
    assert_eq!(
        people,
        vec![json!(["Ada", "Bo"])],
        "sorted, the newcomer included"
    );
    assert_eq!(ada.expect("joined").await, vec![json!("Bo")]);

    bo.emit("name", json!(["Bo B.", {"lastSeen": 0}])).await;
    assert_eq!(bo.expect("name").await, vec![json!("Bo B.")]);
    assert_eq!(
        ada.expect("renamed").await,
        vec![json!("Bo"), json!("Bo B.")]
    );

    // Gone without a goodbye (the connection just drops): the others hear it at once.
    drop(bo);
    assert_eq!(ada.expect("left").await, vec![json!("Bo B.")]);
    // One who has not taken a name is nobody yet.
    let _lurker =
        RawClient::connect_with_auth(&server, NS, Some(&auth("session-of-lurker1"))).await;
    ada.expect_silence(QUIET).await;
}

#[tokio::test]
async fn typing_is_passed_on_refreshes_are_quiet_and_it_lapses_after_five_seconds() {
    let server = TestServer::start().await;
    let (mut ada, _, _) = join(&server, "session-of-ada-0001", "Ada", None).await;
    let (mut bo, _, _) = join(&server, "session-of-bo-00001", "Bo", None).await;
    ada.expect("joined").await;
    bo.emit("typing", json!([true])).await;
    assert_eq!(ada.expect("typing").await, vec![json!("Bo"), json!(true)]);
    bo.emit("typing", json!([true])).await;
    ada.expect_silence(QUIET).await;
    bo.emit("typing", json!([false])).await;
    assert_eq!(ada.expect("typing").await, vec![json!("Bo"), json!(false)]);

    // Nameless typists and nonsense are ignored.
    let mut nameless =
        RawClient::connect_with_auth(&server, NS, Some(&auth("session-nameless-1"))).await;
    nameless.emit("typing", json!([true])).await;
    bo.emit("typing", json!(["yes"])).await;
    ada.expect_silence(QUIET).await;

    // A page that crashed while typing: the server lets it lapse.
    bo.emit("typing", json!([true])).await;
    assert_eq!(ada.expect("typing").await, vec![json!("Bo"), json!(true)]);
    let started = Instant::now();
    let lapsed = tokio::time::timeout(Duration::from_secs(7), ada.next_event())
        .await
        .expect("the typing state lapsed")
        .unwrap();
    assert_eq!(lapsed, ("typing".into(), vec![json!("Bo"), json!(false)]));
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_reconnect_gets_exactly_the_missed_messages_once_with_their_ids() {
    let server = TestServer::start().await;
    let (mut ada, _, _) = join(&server, "session-of-ada-0001", "Ada", None).await;
    let (mut bo, _, _) = join(&server, "session-of-bo-00001", "Bo", None).await;
    ada.expect("joined").await;
    let mut seen = Vec::new();
    for n in 1..=3 {
        assert_eq!(
            say(&mut bo, n, &format!("before {n}"), None).await["ok"],
            true
        );
        let said = ada.expect("message").await;
        assert_eq!(said[1], json!(format!("before {n}")));
        seen.push(said[2]["id"].as_u64().expect("an id"));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "increasing: {seen:?}");
    drop(ada);
    bo.expect("left").await;
    for n in 1..=5 {
        assert_eq!(
            say(&mut bo, 10 + n, &format!("while away {n}"), None).await["ok"],
            true
        );
    }
    let last_seen = *seen.last().unwrap();
    let (mut ada, (kind, missed), _) =
        join(&server, "session-of-ada-0001", "Ada", Some(last_seen)).await;
    assert_eq!(kind, "missed");
    let missed = ids_and_texts(&missed[0]);
    let texts: Vec<&str> = missed.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        (1..=5)
            .map(|n| format!("while away {n}"))
            .collect::<Vec<_>>()
    );
    let ids: Vec<u64> = missed.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        (last_seen + 1..=last_seen + 5).collect::<Vec<_>>(),
        "no gap"
    );
    // And from now on, live, once.
    say(&mut bo, 30, "back", None).await;
    let said = ada.expect("message").await;
    assert_eq!(
        (said[1].clone(), said[2]["id"].clone()),
        (json!("back"), json!(last_seen + 6))
    );
    ada.expect_silence(QUIET).await;

    // An id this server never gave (another history): the latest instead, as a newcomer.
    let (_, (kind, latest), _) = join(&server, "session-of-cy-00001", "Cy", Some(9999)).await;
    assert_eq!(kind, "history");
    assert_eq!(latest[0].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn a_message_sent_again_with_its_id_is_delivered_once() {
    let server = TestServer::start().await;
    let (mut ada, _, _) = join(&server, "session-of-ada-0001", "Ada", None).await;
    let (mut bo, _, _) = join(&server, "session-of-bo-00001", "Bo", None).await;
    ada.expect("joined").await;
    assert_eq!(say(&mut bo, 1, "once", Some("k-1")).await["ok"], true);
    assert_eq!(
        say(&mut bo, 2, "once", Some("k-1")).await["ok"],
        true,
        "acknowledged again"
    );
    assert_eq!(ada.expect("message").await[1], "once");
    ada.expect_silence(QUIET).await;
    // Someone else's message with the same id is theirs.
    assert_eq!(say(&mut ada, 3, "mine", Some("k-1")).await["ok"], true);
    assert_eq!(bo.expect("message").await[1], "mine");
}

#[tokio::test]
async fn the_same_page_takes_its_name_back_from_a_connection_not_yet_gone() {
    let server = TestServer::start().await;
    let (mut bo, _, _) = join(&server, "session-of-bo-00001", "Bo", None).await;
    let (mut ghost, _, _) = join(&server, "session-of-ada-0001", "Ada", None).await;
    bo.expect("joined").await;
    // Someone else cannot.
    let mut stranger =
        RawClient::connect_with_auth(&server, NS, Some(&auth("session-stranger-1"))).await;
    stranger.emit("name", json!(["ada"])).await;
    assert!(stranger.expect("nameError").await[0]
        .as_str()
        .unwrap()
        .contains("taken"));
    // The page's new connection can; the old one is closed, and it is no news to the others.
    let (_ada, _, people) = join(&server, "session-of-ada-0001", "Ada", None).await;
    assert_eq!(people, vec![json!(["Ada", "Bo"])]);
    ghost.expect_closed().await;
    bo.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_client_without_the_additions_sees_exactly_the_course_contract() {
    let server = TestServer::start().await;
    let mut course = SioClient::connect(&server, NS).await;
    course.emit("name", vec![json!("Grace")]).await;
    assert_eq!(course.expect("name").await, vec![json!("Grace")]);
    assert_eq!(course.expect("history").await, vec![json!([])]);

    let (mut ada, _, people) = join(&server, "session-of-ada-0001", "Ada", None).await;
    assert_eq!(
        people,
        vec![json!(["Ada", "Grace"])],
        "course clients are here too"
    );
    ada.emit("typing", json!([true])).await;
    assert_eq!(say(&mut ada, 1, "hello", Some("k-1")).await["ok"], true);
    let (name, args) = course.next().await;
    assert_eq!(name, "message", "no joined, no typing");
    assert_eq!(args.len(), 2, "sender and text only: {args:?}");
    assert_eq!(args[1], "hello");

    course.emit("message", vec![json!("hi all")]).await;
    assert_eq!(course.expect("message").await[1], "hi all");
    let said = ada.expect("message").await;
    assert_eq!(said[1], "hi all");
    assert!(said[2]["id"].is_u64(), "with the additions, with an id");

    // A second course client gets the history in the course's form: no ids.
    let mut late = SioClient::connect(&server, NS).await;
    late.emit("name", vec![json!("Late")]).await;
    late.expect("name").await;
    let history = late.expect("history").await;
    let entries = history[0].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.get("id").is_none()), "{entries:?}");
    // Leaving is no event for course clients either.
    drop(ada);
    late.expect_silence(QUIET).await;
    course.expect_silence(Duration::ZERO).await;
}
