//! `/trades`: the demo market speaks Bitstamp's v2 protocol, and the ticker proxy serves the
//! market's REST ticker (demo, a fake upstream, or a clear error when the market is down).

mod common;

use std::time::Duration;

use axum::routing::get;
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn demo_feed(server: &TestServer) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/market/ws", server.addr))
        .await
        .expect("feed");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame, within `wait`; `None` on silence.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return Some(serde_json::from_str(&text).expect("JSON from the feed"))
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn subscribe_then_trades_on_that_channel_only_then_unsubscribe_stops_them() {
    let server = TestServer::start_with(&["--market", "demo"]).await;
    let mut ws = demo_feed(&server).await;
    send(
        &mut ws,
        json!({"event": "bts:subscribe", "data": {"channel": "live_trades_btcusd"}}),
    )
    .await;
    let ok = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ok["event"], "bts:subscription_succeeded");
    assert_eq!(ok["channel"], "live_trades_btcusd");

    for _ in 0..3 {
        let frame = next(&mut ws, Duration::from_secs(10))
            .await
            .expect("a trade");
        assert_eq!(frame["event"], "trade");
        assert_eq!(
            frame["channel"], "live_trades_btcusd",
            "only the subscribed channel"
        );
        let data = &frame["data"];
        for key in [
            "id",
            "amount",
            "price",
            "type",
            "buy_order_id",
            "sell_order_id",
        ] {
            assert!(data[key].is_number(), "{key} in {data}");
        }
        for key in ["timestamp", "microtimestamp", "amount_str", "price_str"] {
            assert!(data[key].is_string(), "{key} in {data}");
        }
        assert!(data["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
    }

    send(
        &mut ws,
        json!({"event": "bts:unsubscribe", "data": {"channel": "live_trades_btcusd"}}),
    )
    .await;
    // Trades already on their way may still arrive before the confirmation.
    loop {
        let frame = next(&mut ws, Duration::from_secs(5))
            .await
            .expect("unsubscription confirmed");
        if frame["event"] == "bts:unsubscription_succeeded" {
            break;
        }
        assert_eq!(frame["event"], "trade");
    }
    assert_eq!(
        next(&mut ws, Duration::from_secs(3)).await,
        None,
        "no trades after unsubscribing"
    );
}

#[tokio::test]
async fn heartbeats_are_answered_and_bad_requests_get_bts_error() {
    let server = TestServer::start_with(&["--market", "demo"]).await;
    let mut ws = demo_feed(&server).await;
    send(&mut ws, json!({"event": "bts:heartbeat"})).await;
    let reply = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply["event"], "bts:heartbeat");
    assert_eq!(reply["data"], json!({"status": "success"}));

    for bad in [
        json!({"event": "bts:subscribe", "data": {"channel": "live_trades_nope"}}),
        json!({"nope": 1}),
        json!([1]),
    ] {
        send(&mut ws, bad).await;
        let error = next(&mut ws, Duration::from_secs(5)).await.unwrap();
        assert_eq!(error["event"], "bts:error");
        assert!(error["data"]["message"].is_string());
    }
    ws.send(Message::text("not json at all")).await.unwrap();
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["event"],
        "bts:error"
    );
}

async fn get_json(url: String) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_tickers_are_strings_like_the_real_api() {
    let server = TestServer::start_with(&["--market", "demo"]).await;
    for url in [
        format!("{}/api/ticker/btcusd", server.url()),
        format!("{}/market/api/v2/ticker/ethbtc/", server.url()),
    ] {
        let (status, ticker) = get_json(url.clone()).await;
        assert_eq!(status, 200, "{url}");
        for key in ["last", "bid", "ask", "high", "low", "volume", "timestamp"] {
            let value = ticker[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a string in {ticker}"));
            assert!(value.parse::<f64>().is_ok(), "{key} = {value}");
        }
    }
    let (status, error) = get_json(format!("{}/api/ticker/nope", server.url())).await;
    assert_eq!(status, 404);
    assert!(error["error"].as_str().unwrap().contains("btcusd"));
}

#[tokio::test]
async fn the_ticker_proxy_fetches_the_markets_rest_api() {
    // A stand-in for Bitstamp's REST API, answering with the documented ticker.
    let upstream = axum::Router::new().route(
        "/api/v2/ticker/{pair}/",
        get(|| async {
            axum::Json(json!({"timestamp": "1700000000", "open": "43000.00", "high": "43500.00", "low": "42800.10",
                "last": "43210.55", "volume": "1234.56789012", "vwap": "43150.01", "bid": "43210.00", "ask": "43211.00",
                "side": "0", "open_24": "42900.00", "percent_change_24": "0.72"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, upstream).await });

    let server = TestServer::start_with(&["--market-api", &api]).await;
    let (status, ticker) = get_json(format!("{}/api/ticker/btcusd", server.url())).await;
    assert_eq!(status, 200);
    assert_eq!(
        ticker,
        json!({"last": "43210.55", "bid": "43210.00", "ask": "43211.00", "high": "43500.00",
        "low": "42800.10", "volume": "1234.56789012", "timestamp": "1700000000"})
    );
}

#[tokio::test]
async fn an_unreachable_market_is_a_clear_502() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = TestServer::start_with(&["--market-api", &api]).await;
    let (status, error) = get_json(format!("{}/api/ticker/btcusd", server.url())).await;
    assert_eq!(status, 502);
    assert!(
        error["error"].as_str().unwrap().contains("--market demo"),
        "{error}"
    );
}
