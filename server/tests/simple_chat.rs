//! `/simple-chat`: message(text) goes to everyone, sender included, unchanged.

mod common;

use std::time::Duration;

use common::{SioClient, TestServer};
use serde_json::json;

const NS: &str = "/simple-chat";

#[tokio::test]
async fn a_message_reaches_everyone_including_the_sender_unchanged() {
    let server = TestServer::start().await;
    let mut alice = SioClient::connect(&server, NS).await;
    let mut bob = SioClient::connect(&server, NS).await;
    let text = "  hello <b>world</b> 🎉 ";
    alice.emit("message", vec![json!(text)]).await;
    assert_eq!(alice.expect("message").await, vec![json!(text)]);
    assert_eq!(bob.expect("message").await, vec![json!(text)]);
}

#[tokio::test]
async fn messages_that_are_not_text_go_nowhere_and_the_sender_is_told() {
    let server = TestServer::start().await;
    let mut alice = SioClient::connect(&server, NS).await;
    let mut bob = SioClient::connect(&server, NS).await;
    for bad in [
        vec![],
        vec![json!(null)],
        vec![json!(42)],
        vec![json!(["a"])],
        vec![json!({"a": 1})],
        vec![json!("")],
        vec![json!("x".repeat(2001))],
    ] {
        alice.emit("message", bad).await;
        let reason = alice.expect("chatError").await;
        assert!(reason[0].as_str().is_some_and(|r| !r.is_empty()));
    }
    bob.expect_silence(Duration::from_millis(300)).await;
    alice.emit("message", vec![json!("still works")]).await;
    assert_eq!(bob.expect("message").await, vec![json!("still works")]);
}

#[tokio::test]
async fn long_polling_clients_chat_with_websocket_clients() {
    let server = TestServer::start().await;
    let mut ws = SioClient::connect(&server, NS).await;
    let mut polling = SioClient::connect_polling(&server, NS).await;
    polling.emit("message", vec![json!("over polling")]).await;
    assert_eq!(ws.expect("message").await, vec![json!("over polling")]);
    assert_eq!(polling.expect("message").await, vec![json!("over polling")]);
}
