//! `/cursors`: the 100 ms broadcast of every cursor, validation, and removal.

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, SioClient, TestServer};
use futures_util::future::join_all;
use serde_json::{json, Map, Value};

const NS: &str = "/cursors";

/// The next `update` broadcast as a map.
async fn next_map(client: &mut RawClient) -> Map<String, Value> {
    let args = client.expect("update").await;
    args[0].as_object().expect("a map").clone()
}

/// Waits (up to 20 ticks) for a broadcast satisfying `check`.
async fn map_where(
    client: &mut RawClient,
    check: impl Fn(&Map<String, Value>) -> bool,
) -> Map<String, Value> {
    for _ in 0..20 {
        let map = next_map(client).await;
        if check(&map) {
            return map;
        }
    }
    panic!("no broadcast matched within 20 ticks");
}

#[tokio::test]
async fn every_client_gets_the_map_about_every_100_ms() {
    let server = TestServer::start().await;
    let mut clients = vec![];
    for _ in 0..3 {
        clients.push(RawClient::connect(&server, NS).await);
    }
    let gaps = join_all(clients.iter_mut().map(|client| async move {
        let mut stamps = vec![];
        for _ in 0..16 {
            client.expect("update").await;
            stamps.push(Instant::now());
        }
        let mut gaps: Vec<Duration> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort();
        gaps[gaps.len() / 2]
    }))
    .await;
    for median in gaps {
        assert!(
            median >= Duration::from_millis(70) && median <= Duration::from_millis(140),
            "median gap {median:?}"
        );
    }
}

#[tokio::test]
async fn the_map_holds_every_client_with_its_position_and_drops_those_who_leave() {
    let server = TestServer::start().await;
    let mut observer = RawClient::connect(&server, NS).await;
    let mover = SioClient::connect(&server, NS).await;
    let map = map_where(&mut observer, |m| m.len() == 2).await;
    let own = &map[&observer.sid];
    assert_eq!(own["id"], json!(observer.sid));
    for key in ["x", "y"] {
        let v = own[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "a random start inside the page");
    }
    let mover_id = map.keys().find(|id| **id != observer.sid).unwrap().clone();

    mover
        .emit("update", vec![json!({"x": 0.25, "y": 0.75})])
        .await;
    let map = map_where(&mut observer, |m| m[&mover_id]["x"] == json!(0.25)).await;
    assert_eq!(
        map[&mover_id],
        json!({"id": mover_id, "x": 0.25, "y": 0.75})
    );

    mover.disconnect().await;
    map_where(&mut observer, |m| {
        !m.contains_key(&mover_id) && m.len() == 1
    })
    .await;
}

#[tokio::test]
async fn bad_updates_never_change_the_stored_position() {
    let server = TestServer::start().await;
    let mut client = RawClient::connect(&server, NS).await;
    client.emit("update", json!([{"x": 0.5, "y": 0.5}])).await;
    let id = client.sid.clone();
    map_where(&mut client, |m| m[&id]["x"] == json!(0.5)).await;

    let bad = [
        json!([]),
        json!([null]),
        json!(["0.1,0.1"]),
        json!([[0.1, 0.1]]),
        json!([[{"x": 0.1, "y": 0.1}]]),
        json!([{"x": "0.1", "y": 0.1}]),
        json!([{"x": 0.1}]),
        json!([{"x": -0.1, "y": 0.1}]),
        json!([{"x": 0.1, "y": 1.5}]),
        json!([{"x": {"x": 0.1}, "y": 0.1}]),
        json!([{"x": 1e300, "y": 0.1}]),
    ];
    for args in bad {
        client.emit("update", args).await;
    }
    for _ in 0..3 {
        let map = next_map(&mut client).await;
        assert_eq!(map[&id], json!({"id": id, "x": 0.5, "y": 0.5}));
    }
}

#[tokio::test]
async fn a_frame_that_is_not_json_disconnects_its_sender_and_nobody_else() {
    let server = TestServer::start().await;
    let mut observer = RawClient::connect(&server, NS).await;
    observer.emit("update", json!([{"x": 0.5, "y": 0.5}])).await;
    let mut bad = RawClient::connect(&server, NS).await;
    let bad_id = bad.sid.clone();
    // NaN is not JSON, but nothing stops a client from sending the bare token.
    bad.send_frame(r#"42/cursors,["update",{"x":NaN,"y":0.1}]"#)
        .await
        .unwrap();
    bad.expect_closed().await;
    let id = observer.sid.clone();
    let map = map_where(&mut observer, |m| {
        !m.contains_key(&bad_id) && m[&id]["x"] == json!(0.5)
    })
    .await;
    assert_eq!(map[&id], json!({"id": id, "x": 0.5, "y": 0.5}));
}

#[tokio::test]
async fn five_hundred_rapid_connects_and_disconnects_leave_no_stale_cursor() {
    let server = TestServer::start().await;
    for _ in 0..10 {
        let churn = (0..50).map(|i| {
            let server = &server;
            async move {
                let mut client = RawClient::connect(server, NS).await;
                if i % 2 == 0 {
                    client.emit("update", json!([{"x": 0.1, "y": 0.1}])).await;
                }
            }
        });
        join_all(churn).await;
    }
    // A newcomer's map soon holds only itself (disconnects are processed asynchronously).
    let mut observer = RawClient::connect(&server, NS).await;
    let id = observer.sid.clone();
    let map = map_where(&mut observer, |m| m.len() == 1).await;
    assert!(map.contains_key(&id));
    // And it stays that way.
    for _ in 0..3 {
        assert_eq!(next_map(&mut observer).await.len(), 1);
    }
}

/// The next `delta` as (moved ids → [x, y], left ids).
async fn next_delta(client: &mut RawClient) -> (Map<String, Value>, Vec<String>) {
    let args = client.expect("delta").await;
    let moved = args[0]["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry[0].as_str().unwrap().to_owned(),
                json!([entry[1], entry[2]]),
            )
        })
        .collect();
    let left = args[0]["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    (moved, left)
}

#[tokio::test]
async fn compact_clients_get_a_snapshot_then_only_what_changed() {
    let server = TestServer::start().await;
    let mut seed_style = RawClient::connect(&server, NS).await;
    seed_style
        .emit("update", json!([{"x": 0.5, "y": 0.25}]))
        .await;
    let id = seed_style.sid.clone();
    map_where(&mut seed_style, |m| m[&id]["x"] == json!(0.5)).await;

    let mut compact = RawClient::connect_with_auth(&server, NS, Some(r#"{"compact":true}"#)).await;
    // First: everyone, itself included.
    let (everyone, left) = next_delta(&mut compact).await;
    assert!(
        everyone.contains_key(&compact.sid) && everyone.contains_key(&seed_style.sid),
        "{everyone:?}"
    );
    assert_eq!(everyone[&seed_style.sid], json!([0.5, 0.25]));
    assert!(left.is_empty());

    // A move shows up once, rounded to four decimals; then nothing while nothing changes.
    seed_style
        .emit("update", json!([{"x": 0.123456, "y": 0.9}]))
        .await;
    loop {
        let (moved, _) = next_delta(&mut compact).await;
        if let Some(position) = moved.get(&seed_style.sid) {
            assert_eq!(position, &json!([0.1235, 0.9]));
            break;
        }
    }
    compact.expect_silence(Duration::from_millis(400)).await;

    let gone = seed_style.sid.clone();
    drop(seed_style);
    let (_, left) = next_delta(&mut compact).await;
    assert_eq!(left, vec![gone]);
}

#[tokio::test]
async fn compact_clients_never_get_the_full_map_and_full_clients_never_get_deltas() {
    let server = TestServer::start().await;
    let mut compact = RawClient::connect_with_auth(&server, NS, Some(r#"{"compact":true}"#)).await;
    let mut full = RawClient::connect(&server, NS).await;
    full.emit("update", json!([{"x": 0.3, "y": 0.3}])).await;
    let compact_events = events_for(&mut compact, Duration::from_millis(700)).await;
    assert!(
        !compact_events.is_empty() && compact_events.iter().all(|e| e == "delta"),
        "{compact_events:?}"
    );
    let full_events = events_for(&mut full, Duration::from_millis(700)).await;
    assert!(
        full_events.len() >= 4 && full_events.iter().all(|e| e == "update"),
        "{full_events:?}"
    );
}

/// The names of the events a client receives in the next `window`.
async fn events_for(client: &mut RawClient, window: Duration) -> Vec<String> {
    let until = tokio::time::Instant::now() + window;
    let mut events = Vec::new();
    while let Ok(Some((event, _))) = tokio::time::timeout_at(until, client.next_event()).await {
        events.push(event);
    }
    events
}
