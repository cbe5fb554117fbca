//! `/chat`: unique names, messages with the sender's id and name, history that survives a
//! restart. Every rule of the contract has a test here.

mod common;

use std::time::Duration;

use common::{chat_watcher, named, RawClient, SioClient, TestServer};
use serde_json::{json, Value};

const NS: &str = "/chat";
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_free_name_is_confirmed_to_the_sender_only_then_history_follows() {
    let server = TestServer::start().await;
    let mut other = SioClient::connect(&server, NS).await;
    let mut ada = SioClient::connect(&server, NS).await;
    ada.emit("name", vec![json!("  Ada  ")]).await;
    assert_eq!(
        ada.expect("name").await,
        vec![json!("Ada")],
        "the name comes back trimmed"
    );
    assert_eq!(ada.expect("history").await, vec![json!([])]);
    other.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_taken_name_is_refused_ignoring_case_with_a_readable_reason() {
    let server = TestServer::start().await;
    let mut ada = named(&server, "Ada").await;
    let mut second = SioClient::connect(&server, NS).await;
    second.emit("name", vec![json!("aDA")]).await;
    let reason = second.expect("nameError").await;
    assert!(reason[0].as_str().unwrap().contains("taken"), "{reason:?}");
    second.expect_silence(QUIET).await;
    ada.expect_silence(QUIET).await;
}

#[tokio::test]
async fn invalid_names_get_name_error_and_no_name() {
    let server = TestServer::start().await;
    let mut client = SioClient::connect(&server, NS).await;
    let too_long = "n".repeat(33);
    let cases: Vec<Vec<Value>> = vec![
        vec![],
        vec![json!(null)],
        vec![json!("")],
        vec![json!("   ")],
        vec![json!(too_long)],
        vec![json!("tab\there")],
        vec![json!("line\nbreak")],
        vec![json!(7)],
        vec![json!(["Ada"])],
        vec![json!({"name": "Ada"})],
    ];
    for args in cases {
        client.emit("name", args.clone()).await;
        let reason = client.expect("nameError").await;
        let reason = reason[0]
            .as_str()
            .unwrap_or_else(|| panic!("{args:?}: no reason"));
        assert!(
            reason.len() > 10 && reason.ends_with('.'),
            "{args:?}: {reason}"
        );
    }
    client.expect_silence(QUIET).await;
    // 32 characters (not bytes) is still fine.
    client.emit("name", vec![json!("é".repeat(32))]).await;
    client.expect("name").await;
}

#[tokio::test]
async fn renaming_follows_the_same_rules_and_frees_the_old_name() {
    let server = TestServer::start().await;
    let mut ada = named(&server, "Ada").await;
    let _grace = named(&server, "Grace").await;
    ada.emit("name", vec![json!("grace")]).await;
    ada.expect("nameError").await;
    ada.emit("name", vec![json!("Lovelace")]).await;
    assert_eq!(ada.expect("name").await, vec![json!("Lovelace")]);
    ada.expect("history").await;
    // "Ada" is free again.
    named(&server, "ADA").await;
}

#[tokio::test]
async fn messages_carry_the_server_known_sender_to_everyone() {
    let server = TestServer::start().await;
    let mut bob = named(&server, "Bob").await;
    let mut ada = RawClient::connect(&server, NS).await;
    ada.emit("name", json!(["Ada"])).await;
    ada.expect("name").await;
    ada.expect("history").await;

    ada.emit("message", json!(["hello, <b>Bob</b>"])).await;
    let expected = vec![
        json!({"id": ada.sid, "name": "Ada"}),
        json!("hello, <b>Bob</b>"),
    ];
    assert_eq!(bob.expect("message").await, expected);
    assert_eq!(
        ada.expect("message").await,
        expected,
        "the sender gets it too"
    );
}

#[tokio::test]
async fn an_unnamed_sender_is_dropped_and_told_why() {
    let server = TestServer::start().await;
    let mut bob = named(&server, "Bob").await;
    let mut anonymous = SioClient::connect(&server, NS).await;
    anonymous.emit("message", vec![json!("hi")]).await;
    let reason = anonymous.expect("chatError").await;
    assert!(reason[0].as_str().unwrap().contains("name"));
    bob.expect_silence(QUIET).await;
}

#[tokio::test]
async fn message_text_must_be_one_to_two_thousand_characters() {
    let server = TestServer::start().await;
    let mut ada = named(&server, "Ada").await;
    let mut bob = named(&server, "Bob").await;
    for bad in [
        vec![],
        vec![json!(null)],
        vec![json!("")],
        vec![json!(1)],
        vec![json!({"text": "x"})],
        vec![json!("x".repeat(2001))],
    ] {
        ada.emit("message", bad).await;
        ada.expect("chatError").await;
    }
    bob.expect_silence(QUIET).await;
    ada.emit("message", vec![json!("é".repeat(2000))]).await;
    assert_eq!(bob.expect("message").await[1], json!("é".repeat(2000)));
}

#[tokio::test]
async fn a_message_sent_with_an_ack_gets_a_receipt() {
    let server = TestServer::start().await;
    let mut ada = RawClient::connect(&server, NS).await;
    ada.emit("name", json!(["Ada"])).await;
    ada.expect("name").await;
    ada.expect("history").await;
    ada.send_frame(r#"42/chat,7["message","hi"]"#)
        .await
        .unwrap();
    assert_eq!(
        ada.next_packet().await.unwrap(),
        r#"2,["message",{"id":"SID","name":"Ada"},"hi"]"#.replace("SID", &ada.sid)
    );
    assert_eq!(ada.next_packet().await.unwrap(), r#"3,7[{"ok":true}]"#);
    ada.send_frame(r#"42/chat,8["message",""]"#).await.unwrap();
    assert!(ada
        .next_packet()
        .await
        .unwrap()
        .starts_with(r#"2,["chatError","#));
    let refused = ada.next_packet().await.unwrap();
    assert!(
        refused.starts_with(r#"3,8[{"ok":false,"error":"#),
        "{refused}"
    );
}

#[tokio::test]
async fn history_is_the_latest_fifty_oldest_first() {
    // 55 messages at once: more than a person's burst.
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    let mut ada = named(&server, "Ada").await;
    for n in 0..55 {
        ada.emit("message", vec![json!(format!("m{n}"))]).await;
        ada.expect("message").await;
    }
    let mut late = SioClient::connect(&server, NS).await;
    late.emit("name", vec![json!("Late")]).await;
    late.expect("name").await;
    let history = late.expect("history").await;
    let entries = history[0].as_array().unwrap();
    assert_eq!(entries.len(), 50);
    assert_eq!(entries[0]["text"], "m5");
    assert_eq!(entries[49]["text"], "m54");
    assert_eq!(entries[0]["sender"]["name"], "Ada");
    assert!(entries[0]["sender"]["id"].is_string());
    assert!(entries[0]["at"].as_i64().unwrap() <= entries[49]["at"].as_i64().unwrap());
}

#[tokio::test]
async fn history_survives_a_clean_restart() {
    let server = TestServer::start().await;
    let mut ada = named(&server, "Ada").await;
    for n in 0..3 {
        ada.emit("message", vec![json!(format!("before restart {n}"))])
            .await;
        ada.expect("message").await;
    }
    let data = server.stop().await;

    let server = TestServer::start_in(data).await;
    let mut back = SioClient::connect(&server, NS).await;
    back.emit("name", vec![json!("Ada")]).await;
    assert_eq!(
        back.expect("name").await,
        vec![json!("Ada")],
        "names do not survive; history does"
    );
    let history = back.expect("history").await;
    let texts: Vec<&str> = history[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["before restart 0", "before restart 1", "before restart 2"]
    );
}

#[tokio::test]
async fn a_name_is_free_again_once_its_holder_leaves() {
    let server = TestServer::start().await;
    let mut watcher = chat_watcher(&server, "Watcher").await;
    let ada = named(&server, "Ada").await;
    ada.disconnect().await;
    // The disconnect is handled asynchronously: the others hear of it once the name is free.
    watcher.expect_among_others("left", json!(["Ada"])).await;
    let mut again = SioClient::connect(&server, NS).await;
    again.emit("name", vec![json!("Ada")]).await;
    assert_eq!(again.expect("name").await, vec![json!("Ada")]);
}

// A multi-threaded runtime, like the server's: handlers of one client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_right_after_name_is_handled_after_it() {
    let server = TestServer::start().await;
    for round in 0..20 {
        let mut client = RawClient::connect(&server, NS).await;
        // No waiting for the confirmation: events are handled in the order they were sent.
        client.emit("name", json!([format!("quick{round}")])).await;
        for n in 0..5 {
            client.emit("message", json!([format!("m{n}")])).await;
        }
        client.expect("name").await;
        client.expect("history").await;
        for n in 0..5 {
            assert_eq!(
                client.expect("message").await[1],
                json!(format!("m{n}")),
                "round {round}"
            );
        }
    }
}
