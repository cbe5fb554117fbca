//! `/draw`: segments go to every other client, a late joiner gets the board, `clear` empties
//! it for everyone, and the board is bounded and survives a restart.

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, SioClient, TestServer, PATIENCE};
use serde_json::{json, Value};

const NS: &str = "/draw";
const QUIET: Duration = Duration::from_millis(300);

/// A segment as socket.io's whiteboard example sends it; `x` tells segments apart.
fn segment(x: f64) -> Value {
    json!({"x0": x, "y0": 0.25, "x1": 0.5, "y1": 0.75, "color": "blue"})
}

/// Connects and reads the (empty) board every client gets first.
async fn on_empty_board(server: &TestServer) -> SioClient {
    let mut client = SioClient::connect(server, NS).await;
    assert_eq!(client.expect("board").await, vec![json!([])]);
    client
}

/// The whole board a new client gets, however many pieces it comes in.
async fn board_of_new_client(server: &TestServer) -> (RawClient, Vec<Value>) {
    let mut client = RawClient::connect(server, NS).await;
    let mut segments = Vec::new();
    let mut first = client.expect("board").await;
    segments.append(first[0].as_array_mut().expect("a list of segments"));
    while let Ok(Some((event, mut args))) = tokio::time::timeout(QUIET, client.next_event()).await {
        assert_eq!(event, "board");
        segments.append(args[0].as_array_mut().expect("a list of segments"));
    }
    (client, segments)
}

/// Sends `segments`, the last with an acknowledgement, and waits for it: the server handles a
/// client's events in order, so all are on the board then.
async fn draw_all(client: &mut RawClient, segments: impl IntoIterator<Item = Value>) {
    let mut segments: Vec<Value> = segments.into_iter().collect();
    let last = segments.pop().expect("at least one");
    for s in segments {
        client.emit("drawing", json!([s])).await;
    }
    let acked = format!("42{},7{}", client.ns, json!(["drawing", last]));
    client.send_frame(acked).await.expect("send");
    let ack = tokio::time::timeout(PATIENCE, async {
        loop {
            match client.next_packet().await {
                Some(packet) if packet.starts_with("3,7") => return packet,
                Some(_) => continue,
                None => panic!("closed before the acknowledgement"),
            }
        }
    })
    .await
    .expect("no acknowledgement");
    assert!(ack.contains(r#""ok":true"#), "{ack}");
}

#[tokio::test]
async fn a_segment_reaches_every_other_client_but_not_its_sender() {
    let server = TestServer::start().await;
    let mut ada = on_empty_board(&server).await;
    let mut bo = on_empty_board(&server).await;
    let mut cy = on_empty_board(&server).await;
    ada.emit("drawing", vec![segment(0.1)]).await;
    // As sent, with the width the example's clients leave out.
    let expected =
        json!({"x0": 0.1, "y0": 0.25, "x1": 0.5, "y1": 0.75, "color": "blue", "width": 2});
    assert_eq!(bo.expect("drawing").await, vec![expected.clone()]);
    assert_eq!(cy.expect("drawing").await, vec![expected]);
    ada.expect_silence(QUIET).await;
    let wide = json!({"x0": 0, "y0": 1, "x1": 1, "y1": 0, "color": "#FF8800", "width": 16});
    bo.emit("drawing", vec![wide]).await;
    let got = ada.expect("drawing").await;
    assert_eq!(
        (&got[0]["color"], &got[0]["width"]),
        (&json!("#ff8800"), &json!(16))
    );
}

#[tokio::test]
async fn what_is_not_a_segment_goes_nowhere() {
    let server = TestServer::start().await;
    let ada = on_empty_board(&server).await;
    let mut bo = on_empty_board(&server).await;
    for bad in [
        vec![],
        vec![json!("0.1,0.2")],
        vec![json!({"x0": 0.1, "y0": 0.2, "x1": 0.3, "color": "red"})],
        vec![json!({"x0": 1.5, "y0": 0.2, "x1": 0.3, "y1": 0.3, "color": "red"})],
        vec![json!({"x0": -0.1, "y0": 0.2, "x1": 0.3, "y1": 0.3, "color": "red"})],
        vec![json!({"x0": "0", "y0": 0.2, "x1": 0.3, "y1": 0.3, "color": "red"})],
        vec![json!({"x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.3, "color": "javascript:1"})],
        vec![json!({"x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.3, "color": "red", "width": 3})],
    ] {
        ada.emit("drawing", bad).await;
    }
    bo.expect_silence(QUIET).await;
    ada.emit("drawing", vec![segment(0.9)]).await;
    assert_eq!(bo.expect("drawing").await[0]["x0"], json!(0.9));
    // Nothing of the refused ones was kept either.
    let (_, board) = board_of_new_client(&server).await;
    assert_eq!(board.len(), 1);
}

#[tokio::test]
async fn a_late_joiner_gets_the_board_and_clear_empties_it_for_everyone() {
    let server = TestServer::start().await;
    let mut ada = RawClient::connect(&server, NS).await;
    ada.expect("board").await;
    // Raw: the Rust client reads an event without arguments as a "message".
    let mut bo = RawClient::connect(&server, NS).await;
    bo.expect("board").await;
    draw_all(&mut ada, [0.1, 0.2, 0.3].map(segment)).await;
    let (_cy, board) = board_of_new_client(&server).await;
    let xs: Vec<&Value> = board.iter().map(|s| &s["x0"]).collect();
    assert_eq!(xs, [&json!(0.1), &json!(0.2), &json!(0.3)], "oldest first");

    for _ in 0..3 {
        bo.expect("drawing").await;
    }
    bo.emit("clear", json!([])).await;
    assert_eq!(ada.expect("clear").await, Vec::<Value>::new());
    assert_eq!(
        bo.expect("clear").await,
        Vec::<Value>::new(),
        "its sender too"
    );
    let (_, board) = board_of_new_client(&server).await;
    assert!(board.is_empty(), "{board:?}");
}

#[tokio::test]
async fn the_board_keeps_the_last_20000_segments() {
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    let mut ada = RawClient::connect(&server, NS).await;
    ada.expect("board").await;
    // In batches the server takes without a backlog (it bounds what may wait).
    let total = 20_050;
    for batch in (0..total).collect::<Vec<_>>().chunks(100) {
        draw_all(
            &mut ada,
            batch.iter().map(|&n| segment(n as f64 / 100_000.0)),
        )
        .await;
    }
    let (_, board) = board_of_new_client(&server).await;
    assert_eq!(board.len(), 20_000);
    assert_eq!(
        board[0]["x0"],
        json!(50.0 / 100_000.0),
        "the oldest went first"
    );
    assert_eq!(board[19_999]["x0"], json!(20_049.0 / 100_000.0));
}

#[tokio::test]
async fn the_board_survives_a_restart() {
    let server = TestServer::start().await;
    let mut ada = RawClient::connect(&server, NS).await;
    ada.expect("board").await;
    draw_all(&mut ada, [0.4, 0.6].map(segment)).await;
    let data = server.stop().await;
    let server = TestServer::start_in(data).await;
    let (_, board) = board_of_new_client(&server).await;
    let xs: Vec<&Value> = board.iter().map(|s| &s["x0"]).collect();
    assert_eq!(xs, [&json!(0.4), &json!(0.6)]);
}

#[tokio::test]
async fn a_flood_of_segments_is_cut_off_and_the_others_keep_drawing() {
    let server = TestServer::start().await;
    let mut bo = on_empty_board(&server).await;
    let cy = on_empty_board(&server).await;
    let mut flooder = RawClient::connect(&server, NS).await;
    flooder.expect("board").await;
    let started = Instant::now();
    for n in 0..2_000 {
        let frame = format!(
            "42{NS},{}",
            json!(["drawing", segment(n as f64 / 10_000.0)])
        );
        if flooder.send_frame(frame).await.is_err() {
            break;
        }
    }
    flooder.expect_closed().await;
    let flooded_for = started.elapsed().as_secs_f64();
    cy.emit("drawing", vec![segment(1.0)]).await;
    // Bo got the flooder's burst and what the rate refilled meanwhile, then Cy's segment.
    let mut from_flooder = 0;
    loop {
        let args = bo.expect("drawing").await;
        if args[0]["x0"] == json!(1.0) {
            break;
        }
        from_flooder += 1;
    }
    let allowed = 120.0 + 120.0 * (flooded_for + 0.5);
    assert!(
        (from_flooder as f64) <= allowed,
        "{from_flooder} of the flood's 2000 segments reached others (allowed {allowed})"
    );
}
