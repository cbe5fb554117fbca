//! `/remote`: update(targetId, data) reaches its target only; nothing else is delivered.

mod common;

use std::time::Duration;

use common::{connections, eventually, RawClient, SioClient, TestServer};
use serde_json::json;

const NS: &str = "/remote";
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn an_update_reaches_only_its_target_unchanged() {
    let server = TestServer::start().await;
    let mut desktop = RawClient::connect(&server, NS).await;
    let mut bystander = RawClient::connect(&server, NS).await;
    let mut controller = SioClient::connect(&server, NS).await;
    let data = json!({"x": 0.3, "y": 0.6, "anything": ["goes", {"here": true}]});
    controller
        .emit("update", vec![json!(desktop.sid), data.clone()])
        .await;
    assert_eq!(desktop.expect("update").await, vec![data]);
    bystander.expect_silence(QUIET).await;
    controller.expect_silence(QUIET).await;
}

#[tokio::test]
async fn bad_targets_and_data_deliver_nothing_to_anyone() {
    let server = TestServer::start().await;
    let mut desktop = RawClient::connect(&server, NS).await;
    let mut other = RawClient::connect(&server, NS).await;
    let mut controller = SioClient::connect(&server, NS).await;
    let (d, o) = (json!(desktop.sid), json!(other.sid));
    let cases = vec![
        vec![],
        vec![json!({"x": 0.5, "y": 0.5})],
        vec![json!(null), json!({"x": 0.5})],
        vec![json!(42), json!({"x": 0.5})],
        vec![json!([desktop.sid, other.sid]), json!({"x": 0.5})],
        vec![json!({"id": desktop.sid}), json!({"x": 0.5})],
        vec![json!("no-such-socket-id"), json!({"x": 0.5})],
        vec![json!("AAAAAAAAAAAAAAAA"), json!({"x": 0.5})],
        vec![d.clone()],
        vec![d.clone(), json!(null)],
        vec![d.clone(), json!("x".repeat(5000))],
    ];
    for args in cases {
        controller.emit("update", args).await;
    }
    desktop.expect_silence(QUIET).await;
    other.expect_silence(QUIET).await;
    controller.expect_silence(QUIET).await;
    // Still works for a good update afterwards.
    controller
        .emit("update", vec![o, json!({"x": 1, "y": 0})])
        .await;
    assert_eq!(other.expect("update").await, vec![json!({"x": 1, "y": 0})]);
}

#[tokio::test]
async fn a_two_megabyte_update_disconnects_its_sender_only() {
    let server = TestServer::start().await;
    let mut desktop = RawClient::connect(&server, NS).await;
    let mut flooder = RawClient::connect(&server, NS).await;
    let huge = "z".repeat(2 * 1024 * 1024);
    let _ = flooder
        .send_frame(format!(
            r#"42/remote,["update","{}",{{"blob":"{huge}"}}]"#,
            desktop.sid
        ))
        .await;
    flooder.expect_closed().await;
    desktop.expect_silence(QUIET).await;
    let controller = SioClient::connect(&server, NS).await;
    controller
        .emit(
            "update",
            vec![json!(desktop.sid), json!({"x": 0.5, "y": 0.5})],
        )
        .await;
    desktop.expect("update").await;
}

#[tokio::test]
async fn controllers_that_ask_learn_whether_their_desktop_is_there() {
    let server = TestServer::start().await;
    let desktop = RawClient::connect(&server, NS).await;
    let mut controller = RawClient::connect(&server, NS).await;
    controller
        .send_frame(format!(
            r#"42/remote,1["update","{}",{{"x":0.5,"y":0.5}}]"#,
            desktop.sid
        ))
        .await
        .unwrap();
    assert_eq!(
        controller.next_packet().await.unwrap(),
        r#"3,1[{"ok":true}]"#
    );
    let gone = desktop.sid.clone();
    drop(desktop);
    eventually("the server saw the desktop leave", async || {
        connections(&server, NS).await == 1.0
    })
    .await;
    controller
        .send_frame(format!(
            r#"42/remote,2["update","{gone}",{{"x":0.5,"y":0.5}}]"#
        ))
        .await
        .unwrap();
    let refused = controller.next_packet().await.unwrap();
    assert!(
        refused.starts_with(r#"3,2[{"ok":false,"error":"No desktop"#),
        "{refused}"
    );
}
