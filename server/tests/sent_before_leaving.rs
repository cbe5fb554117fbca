//! What a client sent just before it left is handled, in order, before its disconnect (as the
//! Node server does): a person who types, presses Enter and closes the tab. Every namespace:
//! chat messages (over WebSocket and long-polling) are broadcast and kept in the history,
//! simple-chat messages and whiteboard strokes reach the others, remote updates and
//! signals reach their target, and a meeting's `signal` before a `leave` is relayed first.

mod common;

use std::time::Duration;

use common::{RawClient, SioClient, TestServer, PATIENCE};
use serde_json::{json, Value};

const TRIALS: usize = 50;
const MESSAGES: usize = 10;

/// Connects to `/chat` and claims `name`; the history it was given.
async fn named_raw(server: &TestServer, name: &str) -> (RawClient, Vec<Value>) {
    let mut client = RawClient::connect(server, "/chat").await;
    client.emit("name", json!([name])).await;
    client.expect("name").await;
    let history = client.expect("history").await;
    (client, history[0].as_array().cloned().unwrap_or_default())
}

/// Waits for `count` chat messages; their texts in arrival order.
async fn texts(reader: &mut SioClient, count: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < count {
        let (event, args) = reader.next().await;
        if event == "message" {
            texts.push(args[1].as_str().unwrap_or_default().to_owned());
        }
    }
    texts
}

/// The texts of the latest history entries a newcomer gets.
async fn history_texts(server: &TestServer, newcomer: &str) -> Vec<String> {
    let (_client, history) = named_raw(server, newcomer).await;
    history
        .iter()
        .map(|entry| entry["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn lines(trial: usize) -> Vec<String> {
    (0..MESSAGES)
        .map(|n| format!("trial {trial} line {n}"))
        .collect()
}

#[tokio::test]
async fn chat_lines_sent_before_closing_over_a_websocket_are_broadcast_and_kept() {
    let server = TestServer::start().await;
    let mut reader = SioClient::connect(&server, "/chat").await;
    for trial in 0..TRIALS {
        let (mut writer, _) = named_raw(&server, &format!("ws{trial}")).await;
        for line in lines(trial) {
            writer.emit("message", json!([line])).await;
        }
        drop(writer); // the tab closes: no goodbye, the connection just ends
        assert_eq!(
            texts(&mut reader, MESSAGES).await,
            lines(trial),
            "trial {trial}"
        );
        let kept = history_texts(&server, &format!("check{trial}")).await;
        assert!(kept.ends_with(&lines(trial)), "trial {trial}: {kept:?}");
    }
}

/// A long-polling client written from the Engine.IO v4 spec: the one transport where a page
/// that closes sends its last packets and its close in separate requests.
struct Polling {
    http: reqwest::Client,
    url: String,
}

impl Polling {
    async fn open(server: &TestServer) -> Polling {
        let http = reqwest::Client::new();
        let base = format!("{}/socket.io/?EIO=4&transport=polling", server.url());
        let open = http.get(&base).send().await.unwrap().text().await.unwrap();
        let handshake: Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
        let url = format!("{base}&sid={}", handshake["sid"].as_str().unwrap());
        Polling { http, url }
    }

    async fn post(&self, packets: &[String]) {
        let body = packets.join("\u{1e}");
        let answer = self.http.post(&self.url).body(body).send().await.unwrap();
        assert!(answer.status().is_success());
    }

    /// Polls until a packet starting with `prefix` came.
    async fn until(&self, prefix: &str) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let text = self
                    .http
                    .get(&self.url)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                if text.split('\u{1e}').any(|p| p.starts_with(prefix)) {
                    return;
                }
            }
        })
        .await
        .expect("the packet came");
    }
}

#[tokio::test]
async fn chat_lines_sent_before_closing_over_long_polling_are_broadcast_and_kept() {
    let server = TestServer::start().await;
    let mut reader = SioClient::connect(&server, "/chat").await;
    for trial in 0..TRIALS {
        let client = Polling::open(&server).await;
        client.post(&["40/chat,".into()]).await;
        client.until("40/chat,").await;
        client
            .post(&[format!("42/chat,{}", json!(["name", format!("lp{trial}")]))])
            .await;
        client.until("42/chat,[\"history\"").await;
        let packets: Vec<String> = lines(trial)
            .iter()
            .map(|line| format!("42/chat,{}", json!(["message", line])))
            .collect();
        client.post(&packets).await;
        client.post(&["1".into()]).await; // the page closes its transport
        assert_eq!(
            texts(&mut reader, MESSAGES).await,
            lines(trial),
            "trial {trial}"
        );
        let kept = history_texts(&server, &format!("check{trial}")).await;
        assert!(kept.ends_with(&lines(trial)), "trial {trial}: {kept:?}");
    }
}

#[tokio::test]
async fn simple_chat_lines_and_strokes_sent_before_closing_reach_the_others() {
    let server = TestServer::start().await;
    let mut reader = RawClient::connect(&server, "/simple-chat").await;
    let mut writer = RawClient::connect(&server, "/simple-chat").await;
    for n in 0..MESSAGES {
        writer.emit("message", json!([format!("line {n}")])).await;
    }
    drop(writer);
    for n in 0..MESSAGES {
        assert_eq!(
            reader.expect("message").await,
            vec![json!(format!("line {n}"))]
        );
    }

    let mut watcher = RawClient::connect(&server, "/draw").await;
    watcher.expect("board").await;
    let mut painter = RawClient::connect(&server, "/draw").await;
    painter.expect("board").await;
    for n in 0..MESSAGES {
        let x = n as f64 / 100.0;
        painter
            .emit(
                "drawing",
                json!([{"x0": x, "y0": 0.1, "x1": 0.2, "y1": 0.3, "color": "red"}]),
            )
            .await;
    }
    drop(painter);
    for n in 0..MESSAGES {
        let stroke = watcher.expect("drawing").await;
        assert_eq!(stroke[0]["x0"], json!(n as f64 / 100.0));
    }
}

#[tokio::test]
async fn updates_and_signals_sent_before_closing_reach_their_target() {
    let server = TestServer::start().await;
    let mut desktop = RawClient::connect(&server, "/remote").await;
    let mut phone = RawClient::connect(&server, "/remote").await;
    for n in 0..MESSAGES {
        phone.emit("update", json!([desktop.sid, {"n": n}])).await;
    }
    drop(phone);
    for n in 0..MESSAGES {
        assert_eq!(desktop.expect("update").await, vec![json!({"n": n})]);
    }

    let mut callee = RawClient::connect(&server, "/signal").await;
    let mut caller = RawClient::connect(&server, "/signal").await;
    caller
        .emit(
            "peerOffer",
            json!([callee.sid, {"type": "offer", "sdp": "v=0"}]),
        )
        .await;
    drop(caller);
    let offer = loop {
        let (event, args) = tokio::time::timeout(PATIENCE, callee.next_event())
            .await
            .expect("the offer came")
            .expect("open");
        if event == "peerOffer" {
            break args;
        }
    };
    assert_eq!(offer[1], json!({"type": "offer", "sdp": "v=0"}));
}

#[tokio::test]
async fn a_meeting_signal_before_a_leave_is_relayed_before_the_leave() {
    let server = TestServer::start().await;
    let mut ada = RawClient::connect(&server, "/meet").await;
    ada.emit("join", json!(["standup", "Ada"])).await;
    ada.expect("room").await;
    let mut bo = RawClient::connect(&server, "/meet").await;
    bo.emit("join", json!(["standup", "Bo"])).await;
    bo.expect("room").await;
    ada.expect("joined").await;
    let bo_id = bo.sid.clone();
    bo.emit(
        "signal",
        json!([ada.sid, {"type": "candidate", "candidate": {"candidate": "c"}}]),
    )
    .await;
    bo.emit("leave", json!([])).await;
    drop(bo);
    assert_eq!(
        ada.expect("signal").await[0],
        json!(bo_id),
        "the signal first"
    );
    assert_eq!(
        ada.expect("left").await,
        vec![json!(bo_id)],
        "then the leave"
    );
    ada.expect_silence(Duration::from_millis(300)).await;
}
