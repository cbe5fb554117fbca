//! `/signal`: the clients list, and relays that reach only their addressee, stamped with the
//! real sender's id.

mod common;

use std::time::Duration;

use common::{RawClient, SioClient, TestServer};
use serde_json::{json, Value};

const NS: &str = "/signal";
const QUIET: Duration = Duration::from_millis(300);

/// The ids in a `clients` map, sorted.
fn ids(args: &[Value]) -> Vec<String> {
    let map = args[0].as_object().expect("a map");
    for (id, entry) in map {
        assert_eq!(entry, &json!({"id": id}));
    }
    let mut ids: Vec<String> = map.keys().cloned().collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn everyone_gets_the_clients_list_on_every_connect_and_disconnect() {
    let server = TestServer::start().await;
    let mut a = RawClient::connect(&server, NS).await;
    assert_eq!(ids(&a.expect("clients").await), vec![a.sid.clone()]);
    let mut b = RawClient::connect(&server, NS).await;
    let both = sorted(vec![a.sid.clone(), b.sid.clone()]);
    assert_eq!(ids(&a.expect("clients").await), both);
    assert_eq!(ids(&b.expect("clients").await), both);
    let gone = b.sid.clone();
    drop(b);
    let after = ids(&a.expect("clients").await);
    assert_eq!(after, vec![a.sid.clone()], "{gone} left");
}

/// A (rust_socketio) and B, C (raw clients, whose ids we know), clients lists consumed.
async fn three(server: &TestServer) -> (SioClient, String, RawClient, RawClient) {
    let mut b = RawClient::connect(server, NS).await;
    b.expect("clients").await;
    let mut c = RawClient::connect(server, NS).await;
    b.expect("clients").await;
    c.expect("clients").await;
    let mut a = SioClient::connect(server, NS).await;
    let all = ids(&a.expect("clients").await);
    b.expect("clients").await;
    c.expect("clients").await;
    let a_id = all
        .into_iter()
        .find(|id| *id != b.sid && *id != c.sid)
        .expect("a's id");
    (a, a_id, b, c)
}

#[tokio::test]
async fn each_relay_reaches_only_its_addressee_with_the_real_sender_id() {
    let server = TestServer::start().await;
    let (mut a, a_id, mut b, mut c) = three(&server).await;
    let payloads = [
        (
            "peerOffer",
            json!({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}),
        ),
        ("peerAnswer", json!({"type": "answer", "sdp": "v=0\r\n"})),
        (
            "peerIce",
            json!({"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}),
        ),
        ("peerIce", json!(null)),
        ("signal", json!({"type": "offer", "sdp": "v=0\r\n"})),
    ];
    for (event, payload) in payloads {
        a.emit(event, vec![json!(b.sid), payload.clone()]).await;
        assert_eq!(
            b.expect(event).await,
            vec![json!(b.sid), payload, json!(a_id)],
            "{event}"
        );
    }
    // A third argument cannot forge the sender.
    a.emit(
        "signal",
        vec![json!(b.sid), json!({"type": "bye"}), json!(c.sid)],
    )
    .await;
    assert_eq!(
        b.expect("signal").await,
        vec![json!(b.sid), json!({"type": "bye"}), json!(a_id)]
    );
    c.expect_silence(QUIET).await;
    a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn unknown_list_or_non_string_peer_ids_and_oversized_payloads_deliver_nothing() {
    let server = TestServer::start().await;
    let (a, _a_id, mut b, mut c) = three(&server).await;
    let big = json!({"type": "offer", "sdp": "x".repeat(40_000)});
    for event in ["peerOffer", "peerAnswer", "peerIce", "signal"] {
        for args in [
            vec![],
            vec![json!(b.sid)],
            vec![json!("no-such-peer"), json!({})],
            vec![json!("AAAAAAAAAAAAAAAA"), json!({})],
            vec![json!([b.sid, c.sid]), json!({})],
            vec![json!(42), json!({})],
            vec![json!({"id": b.sid}), json!({})],
            vec![json!(b.sid), big.clone()],
        ] {
            a.emit(event, args).await;
        }
    }
    b.expect_silence(QUIET).await;
    c.expect_silence(QUIET).await;
    a.emit("signal", vec![json!(c.sid), json!({"type": "busy"})])
        .await;
    assert_eq!(
        c.expect("signal").await[1],
        json!({"type": "busy"}),
        "still relaying afterwards"
    );
}

#[tokio::test]
async fn a_megabyte_payload_disconnects_only_its_sender() {
    let server = TestServer::start().await;
    let mut b = RawClient::connect(&server, NS).await;
    b.expect("clients").await;
    let mut flooder = RawClient::connect(&server, NS).await;
    b.expect("clients").await;
    let huge = "s".repeat(2 * 1024 * 1024);
    let _ = flooder
        .send_frame(format!(
            r#"42/signal,["peerOffer","{}",{{"sdp":"{huge}"}}]"#,
            b.sid
        ))
        .await;
    flooder.expect_closed().await;
    // B hears that the flooder left, and nothing else.
    assert_eq!(ids(&b.expect("clients").await), vec![b.sid.clone()]);
    b.expect_silence(QUIET).await;
    assert!(server.healthy().await);
}

#[tokio::test]
async fn signallers_that_ask_learn_whether_the_peer_is_there() {
    let server = TestServer::start().await;
    let mut a = RawClient::connect(&server, NS).await;
    a.expect("clients").await;
    a.send_frame(r#"42/signal,5["signal","AAAAAAAAAAAAAAAA",{"type":"bye"}]"#)
        .await
        .unwrap();
    let refused = a.next_packet().await.unwrap();
    assert!(refused.starts_with(r#"3,5[{"ok":false"#), "{refused}");
}

// A multi-threaded runtime, like the server's: handlers of one client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_arrive_in_the_order_they_were_sent() {
    let server = TestServer::start().await;
    let mut b = RawClient::connect(&server, NS).await;
    b.expect("clients").await;
    let mut a = RawClient::connect(&server, NS).await;
    b.expect("clients").await;
    // Back to back, as a browser trickles an offer and its candidates (fewer than the
    // 128 packets a socket may have queued, since B reads only afterwards).
    for n in 0..100 {
        let event = if n % 3 == 0 { "peerOffer" } else { "peerIce" };
        a.emit(event, json!([b.sid, {"n": n}])).await;
    }
    for n in 0..100 {
        let (_, args) = tokio::time::timeout(common::PATIENCE, b.next_event())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(args[1], json!({"n": n}), "relay {n} out of order");
    }
}
