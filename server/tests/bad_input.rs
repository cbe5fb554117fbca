//! Bad input never takes the server down or disturbs other clients. Each case ends by checking
//! that a bystander still chats.

mod common;

use std::time::Duration;

use common::{eventually, RawClient, SioClient, TestServer, PATIENCE};
use futures_util::future::join_all;
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

/// A bystander pair in `/simple-chat` proves the server still works for others.
async fn assert_others_still_chat(server: &TestServer) {
    assert!(server.healthy().await, "the server stopped answering HTTP");
    let a = SioClient::connect(server, "/simple-chat").await;
    let mut b = SioClient::connect(server, "/simple-chat").await;
    a.emit("message", vec![json!("still here")]).await;
    assert_eq!(b.expect("message").await, vec![json!("still here")]);
}

#[tokio::test]
async fn unknown_and_prototype_like_events_are_ignored() {
    let server = TestServer::start().await;
    let mut bystander = SioClient::connect(&server, "/chat").await;
    let mut client = RawClient::connect(&server, "/chat").await;
    for event in [
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "nonsense",
        "",
    ] {
        client
            .emit(event, json!([{"__proto__": {"admin": true}}]))
            .await;
    }
    client.expect_silence(QUIET).await;
    bystander.expect_silence(QUIET).await;
    // The same connection still works afterwards.
    client.emit("name", json!(["__proto__"])).await;
    assert_eq!(
        client.expect("name").await,
        vec![json!("__proto__")],
        "an odd name is still just a name"
    );
    client.emit("message", json!([{"constructor": "x"}])).await;
    client.expect("history").await;
    client.expect("chatError").await;
    assert_others_still_chat(&server).await;
}

#[tokio::test]
async fn a_two_megabyte_message_disconnects_only_its_sender() {
    let server = TestServer::start().await;
    let mut bystander = SioClient::connect(&server, "/simple-chat").await;
    let mut flooder = RawClient::connect(&server, "/simple-chat").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    // The send itself may fail once the server has closed the socket.
    let _ = flooder
        .send_frame(format!(r#"42/simple-chat,["message","{huge}"]"#))
        .await;
    flooder.expect_closed().await;
    bystander.expect_silence(QUIET).await;
    assert_others_still_chat(&server).await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_a_crash() {
    let server = TestServer::start().await;
    // 100 000 levels: larger than the payload limit.
    let mut deep = RawClient::connect(&server, "/chat").await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let _ = deep
        .send_frame(format!(r#"42/chat,["message",{nested}]"#))
        .await;
    deep.expect_closed().await;
    // 20 000 levels fit in a packet and reach the JSON parser, which must not overflow its stack.
    let mut deep = RawClient::connect(&server, "/chat").await;
    let nested = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let _ = deep
        .send_frame(format!(r#"42/chat,["name",{nested}]"#))
        .await;
    let _ = tokio::time::timeout(PATIENCE, deep.next_event()).await;
    assert_others_still_chat(&server).await;
}

#[tokio::test]
async fn malformed_frames_do_not_hurt_anyone_else() {
    let server = TestServer::start().await;
    let frames = [
        "",
        "4",
        "42",
        "42/chat",
        "42/chat,",
        "42/chat,[",
        "42/chat,{}",
        "42/chat,[1,2]",
        "42/chat,[null]",
        "42/chat,\"message\"",
        "42/chat,99999999999999999999999[\"message\"]",
        "451-/chat,[\"message\",{\"_placeholder\":true,\"num\":0}]",
        "43/chat,1[]",
        "44/chat,{}",
        "41/nope,",
        "40/nope,",
        "9",
        "0",
        "5",
        "6",
        "2probe",
        "x",
        "💥",
        "42/chat,[\"message\",\"\u{0}\"]",
    ];
    for frame in frames {
        let mut client = RawClient::connect(&server, "/chat").await;
        let _ = client.send_frame(frame).await;
        // Either ignored or disconnected; both are fine, a crash is not.
        let _ = tokio::time::timeout(Duration::from_millis(100), client.next_event()).await;
    }
    assert_others_still_chat(&server).await;
}

#[tokio::test]
async fn five_hundred_rapid_connects_and_disconnects_leave_no_stale_names() {
    // The probe below claims 500 names as fast as it can: far over a person's rate.
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    for batch in 0..10 {
        let clients = (0..50).map(|i| {
            let server = &server;
            async move {
                let mut client = RawClient::connect(server, "/chat").await;
                client
                    .emit("name", json!([format!("churn-{}", batch * 50 + i)]))
                    .await;
                // Half leave at once, half after their name is confirmed.
                if i % 2 == 0 {
                    client.expect("name").await;
                }
                drop(client);
            }
        });
        join_all(clients).await;
    }
    // Every one of those 500 names is free again.
    let mut probe = RawClient::connect(&server, "/chat").await;
    for n in 0..500 {
        let name = format!("CHURN-{n}");
        // Its holder's disconnect may still be on its way.
        eventually(
            &format!("{name} is free after its holder left"),
            async || {
                probe.emit("name", json!([name])).await;
                let (event, args) = tokio::time::timeout(PATIENCE, probe.next_event())
                    .await
                    .expect("an answer to the claim")
                    .expect("the probe stays connected");
                match event.as_str() {
                    "name" => {
                        probe.expect("history").await;
                        true
                    }
                    "nameError" => false,
                    other => panic!("unexpected {other} {args:?}"),
                }
            },
        )
        .await;
    }
    assert_others_still_chat(&server).await;
}
