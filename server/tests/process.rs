//! What only the real binary in a process of its own shows: its memory after a flood, and
//! that an acknowledged message survives a SIGKILL.

mod common;

use std::time::{Duration, Instant};

use common::{ProcessServer, RawClient, SioClient};
use futures_util::FutureExt;
use rust_socketio::Payload;
use serde_json::json;

#[tokio::test]
async fn memory_comes_back_after_a_flood_and_the_flooder_is_gone() {
    let data = tempfile::tempdir().unwrap();
    let server = ProcessServer::start(data.path(), &["--no-rate-limits"]).await;
    let baseline = server.rss();
    let mut flooder = RawClient::connect(&server, "/chat").await;
    flooder.emit("name", json!(["Flood"])).await;
    flooder.expect("name").await;
    for n in 0..100_000 {
        let frame = format!("42/chat,[\"message\",\"{}\"]", "x".repeat(n % 500));
        if flooder.send_frame(frame).await.is_err() {
            break;
        }
    }
    flooder.expect_closed().await;
    // The name is free at once.
    let mut next = SioClient::connect(&server, "/chat").await;
    next.emit("name", vec![json!("Flood")]).await;
    next.expect("name").await;
    // And the memory goes back (jemalloc purges in the background).
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.rss() > baseline + 8 * 1024 * 1024 {
        assert!(
            Instant::now() < deadline,
            "RSS {} MB after the flood, {} MB before",
            server.rss() >> 20,
            baseline >> 20
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `count` messages as "Ada", each waiting for its acknowledgement; returns at the last.
async fn send_acknowledged(server: &ProcessServer, prefix: &str, count: usize) {
    let mut ada = SioClient::connect(server, "/chat").await;
    ada.emit("name", vec![json!("Ada")]).await;
    ada.expect("name").await;
    ada.expect("history").await;
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel::<Payload>();
    for n in 0..count {
        let acked_tx = acked_tx.clone();
        ada.client
            .emit_with_ack(
                "message",
                Payload::Text(vec![json!(format!("{prefix} {n}"))]),
                common::PATIENCE,
                move |payload, _| {
                    let _ = acked_tx.send(payload);
                    async {}.boxed()
                },
            )
            .await
            .unwrap();
        let receipt = tokio::time::timeout(common::PATIENCE, acked.recv())
            .await
            .unwrap()
            .unwrap();
        // rust_socketio hands over the acknowledgement's argument list as one array.
        let ok = match &receipt {
            Payload::Text(args) => args
                .first()
                .is_some_and(|list| list[0]["ok"] == json!(true)),
            _ => false,
        };
        assert!(ok, "message {n} was not acknowledged: {receipt:?}");
    }
}

#[tokio::test]
async fn an_acknowledged_message_survives_a_sigkill() {
    for trial in 0..20 {
        let data = tempfile::tempdir().unwrap();
        let server = ProcessServer::start(data.path(), &[]).await;
        // Within the rate a person may send (a burst of 20, the name claim included).
        send_acknowledged(&server, &format!("trial {trial}"), 19).await;
        // At the last acknowledgement, without a chance to flush.
        server.kill();
        let restarted = ProcessServer::start(data.path(), &[]).await;
        let mut reader = SioClient::connect(&restarted, "/chat").await;
        reader.emit("name", vec![json!("Reader")]).await;
        reader.expect("name").await;
        let history = reader.expect("history").await;
        let texts: Vec<&str> = history[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..19).map(|n| format!("trial {trial} {n}")).collect();
        assert_eq!(
            texts, expected,
            "trial {trial}: an acknowledged message was lost"
        );
    }
}
