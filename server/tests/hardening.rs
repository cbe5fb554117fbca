//! What a hostile or broken client can try, and what the server does about it: every rule of
//! the hardening in docs/ARCHITECTURE.md ("Security") has a test here, and each one ends by
//! checking that everyone else is still served.

mod common;

use std::time::{Duration, Instant};

use common::{chat_watcher, metric, RawClient, SioClient, TestServer, PATIENCE};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const QUIET: Duration = Duration::from_millis(300);

async fn others_still_chat(server: &TestServer) {
    let a = SioClient::connect(server, "/simple-chat").await;
    let mut b = SioClient::connect(server, "/simple-chat").await;
    a.emit("message", vec![json!("still here")]).await;
    assert_eq!(b.expect("message").await, vec![json!("still here")]);
}

/// Reads until the server closes the connection, for at most `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_page_of_another_origin_is_refused_before_any_session_exists() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let handshake = |origin: Option<&str>| {
        let mut request = http.get(format!(
            "{}/socket.io/?EIO=4&transport=polling",
            server.url()
        ));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send()
    };
    for foreign in ["https://evil.example", "http://localhost:1", "null"] {
        let refused = handshake(Some(foreign)).await.unwrap();
        assert_eq!(refused.status(), 403, "{foreign}");
        assert!(
            !refused.text().await.unwrap().starts_with('0'),
            "no session"
        );
    }
    // The WebSocket transport too.
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 403),
        "{refused:?}"
    );
    // Our own pages, and clients that send no Origin, get a session.
    let own = format!("http://127.0.0.1:{}", server.addr.port());
    for origin in [Some(own.as_str()), Some("http://localhost:0"), None] {
        let answer = handshake(origin).await.unwrap();
        if origin == Some("http://localhost:0") {
            assert_eq!(answer.status(), 403, "another port is another origin");
            continue;
        }
        assert_eq!(answer.status(), 200, "{origin:?}");
        assert!(answer.text().await.unwrap().starts_with("0{"), "{origin:?}");
    }
    assert_eq!(
        metric(&server, "switchboard_origins_refused_total").await,
        5.0
    );
}

#[tokio::test]
async fn origins_the_operator_lists_may_connect() {
    let server = TestServer::start_with(&["--allowed-origin", "https://course.example.org"]).await;
    let answer = reqwest::Client::new()
        .get(format!(
            "{}/socket.io/?EIO=4&transport=polling",
            server.url()
        ))
        .header("Origin", "https://course.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_client_over_its_rate_is_told_once_and_a_flood_is_cut_off() {
    let server = TestServer::start().await;
    let mut reader = SioClient::connect(&server, "/chat").await;
    reader.emit("name", vec![json!("Reader")]).await;
    reader.expect("name").await;
    reader.expect("history").await;
    let mut fast = RawClient::connect(&server, "/chat").await;
    fast.emit("name", json!(["Fast"])).await;
    fast.expect("name").await;
    fast.expect("history").await;
    // A paste of 30 lines: the burst (20, the name claim included) goes through.
    for n in 0..30 {
        fast.emit("message", json!([format!("line {n}")])).await;
    }
    let mut told = 0;
    let mut delivered = Vec::new();
    while let Ok(Some((event, args))) = tokio::time::timeout(QUIET, fast.next_event()).await {
        match event.as_str() {
            "chatError" => {
                assert!(args[0].as_str().unwrap().contains("slow down"), "{args:?}");
                told += 1;
            }
            "message" => delivered.push(args[1].as_str().unwrap().to_owned()),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(told, 1, "told to slow down once, not once per message");
    assert_eq!(delivered.len(), 19, "the burst of 20, less the name claim");
    assert_eq!(delivered[0], "line 0");
    for line in &delivered {
        assert_eq!(reader.expect("message").await[1], json!(line), "in order");
    }
    assert_eq!(
        metric(&server, "switchboard_rate_limited_total").await,
        11.0
    );
    // Pushing on far past it: disconnected.
    for n in 0..200 {
        if fast
            .send_frame(format!("42/chat,[\"message\",\"{n}\"]"))
            .await
            .is_err()
        {
            break;
        }
    }
    fast.expect_closed().await;
    assert_eq!(
        metric(&server, "switchboard_flooders_disconnected_total").await,
        1.0
    );
    // Of those 200, only what the rate refilled meanwhile reached anyone.
    let mut reached = 0;
    while tokio::time::timeout(QUIET, reader.next()).await.is_ok() {
        reached += 1;
    }
    assert!(reached < 20, "{reached} of the flood reached the reader");
    others_still_chat(&server).await;
}

#[tokio::test]
async fn a_name_is_free_as_soon_as_its_holder_is_gone_whatever_it_still_had_queued() {
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    let mut watcher = chat_watcher(&server, "Watcher").await;
    let mut holder = RawClient::connect(&server, "/chat").await;
    holder.emit("name", json!(["Quick"])).await;
    holder.expect("name").await;
    for n in 0..10 {
        holder.emit("message", json!([format!("bye {n}")])).await;
    }
    drop(holder);
    let left_at = Instant::now();
    // The others hear that it left once its name is free.
    watcher.expect_among_others("left", json!(["Quick"])).await;
    assert!(
        left_at.elapsed() < Duration::from_millis(500),
        "free only after {:?}",
        left_at.elapsed()
    );
    let mut next = SioClient::connect(&server, "/chat").await;
    next.emit("name", vec![json!("Quick")]).await;
    assert_eq!(next.expect("name").await, vec![json!("Quick")]);
}

#[tokio::test]
async fn a_flood_without_reading_is_disconnected_and_frees_its_name() {
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    let mut flooder = RawClient::connect(&server, "/chat").await;
    flooder.emit("name", json!(["Flood"])).await;
    flooder.expect("name").await;
    let mut sent = 0;
    for n in 0..100_000 {
        if flooder
            .send_frame(format!("42/chat,[\"message\",\"{n}\"]"))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    flooder.expect_closed().await;
    let disconnected = metric(&server, "switchboard_flooders_disconnected_total").await
        + metric(&server, "switchboard_slow_consumers_disconnected_total").await;
    assert_eq!(disconnected, 1.0, "after {sent} frames");
    let mut next = SioClient::connect(&server, "/chat").await;
    next.emit("name", vec![json!("Flood")]).await;
    next.expect("name").await;
    others_still_chat(&server).await;
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_disconnected_instead_of_missing_messages() {
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    // It joins and never reads again.
    let stuck = RawClient::connect(&server, "/simple-chat").await;
    let mut reader = SioClient::connect(&server, "/simple-chat").await;
    let sender = SioClient::connect(&server, "/simple-chat").await;
    // 6 KB each (2000 three-byte characters): the stuck reader's socket buffers fill first,
    // then the 128 packets the server queues for it.
    let text = "€".repeat(2000);
    let mut received = 0;
    for n in 0..10_000 {
        sender.emit("message", vec![json!(text)]).await;
        // Keep up, as a reading client does.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), async {
            Some(reader.next().await)
        })
        .await
        {
            received += 1;
        }
        if n % 100 == 99 && metric_now(&server).await >= 1.0 {
            break;
        }
    }
    assert_eq!(
        metric_now(&server).await,
        1.0,
        "the stuck reader was disconnected"
    );
    drop(stuck);
    // The one that reads got everything so far, and still gets what follows.
    sender.emit("message", vec![json!("after")]).await;
    loop {
        let args = reader.expect("message").await;
        received += 1;
        if args[0] == json!("after") {
            break;
        }
    }
    assert!(received > 1);
}

async fn metric_now(server: &TestServer) -> f64 {
    metric(server, "switchboard_slow_consumers_disconnected_total").await
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_connections() {
    let server = TestServer::start_with(&["--max-connections-per-ip", "3"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut fourth = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_within(&mut fourth, PATIENCE).await,
        "the fourth is closed at once"
    );
    // One leaves, and waits until the server has let go of it too (its count goes with it).
    let mut leaving = held.pop().unwrap();
    leaving.shutdown().await.unwrap();
    assert_eq!(leaving.read(&mut [0u8; 1]).await.unwrap(), 0, "closed");
    let mut again = TcpStream::connect(server.addr).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    again.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        metric(&server, "switchboard_connections_refused_total").await,
        1.0
    );
}

#[tokio::test]
async fn headers_that_trickle_in_are_cut_off() {
    let server = TestServer::start_with(&["--header-timeout", "0.5"]).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    // One header byte now and then, as a slowloris does.
    let trickle = async {
        for byte in b"Host: example.org\r\n".iter().cycle().take(40) {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    trickle.await;
    assert!(closed_within(&mut slow, PATIENCE).await, "still open");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        metric(&server, "switchboard_header_timeouts_total").await,
        1.0
    );
    assert!(server.healthy().await);
}

#[tokio::test]
async fn names_that_look_alike_are_one_name() {
    // Rate limits leave room for a person, not for 21 claims in a row; they are not what this
    // is about.
    let server = TestServer::start_with(&["--no-rate-limits"]).await;
    let mut alice = SioClient::connect(&server, "/chat").await;
    alice.emit("name", vec![json!("alice")]).await;
    alice.expect("name").await;
    let mut jose = SioClient::connect(&server, "/chat").await;
    jose.emit("name", vec![json!("josé")]).await;
    jose.expect("name").await;
    let lookalikes = [
        "alice\u{200b}", // zero-width space
        "al\u{ad}ice",   // soft hyphen
        "ａｌｉｃｅ",    // full-width letters
        "\u{430}lice",   // Cyrillic а
        "jose\u{301}",   // NFD josé
        "\u{202e}ecila", // right-to-left override
        "ALICE",
        "a\u{200d}lice", // zero-width joiner
        "al\u{456}ce",   // Cyrillic і
        "𝐚𝐥𝐢𝐜𝐞",         // mathematical bold
        "ⓐlice",         // circled letter
        "alice\u{fe0f}", // variation selector
        "\u{3164}alice", // Hangul filler
        "aIice",         // capital I for l
        "a1ice",         // digit one for l
        "al\u{131}ce",   // dotless ı
        "JOSÉ",
        "al\u{2060}ice", // word joiner
        "\u{200e}alice", // left-to-right mark
        "alice\u{a0}",   // trailing no-break space
        "ａlice",        // one full-width letter
    ];
    assert_eq!(lookalikes.len(), 21);
    let mut probe = SioClient::connect(&server, "/chat").await;
    for lookalike in lookalikes {
        probe.emit("name", vec![json!(lookalike)]).await;
        let reason = probe.expect("nameError").await;
        let reason = reason[0].as_str().unwrap();
        assert!(
            reason.contains("taken") || reason.contains("invisible"),
            "{lookalike:?}: {reason}"
        );
    }
    // A different name is still welcome, shown as typed (normalised).
    probe.emit("name", vec![json!("Ａlicia")]).await;
    assert_eq!(probe.expect("name").await, vec![json!("Alicia")]);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start().await;
    for path in ["/", "/chat", "/healthz", "/socket.io/socket.io.js"] {
        let response = reqwest::get(format!("{}{path}", server.url()))
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
}

#[tokio::test]
async fn a_huge_or_slow_market_answer_is_bounded_and_shared() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let upstream = axum::Router::new().route(
        "/api/v2/ticker/{pair}/",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                // Slow enough that concurrent requests overlap, and far larger than a ticker.
                tokio::time::sleep(Duration::from_millis(200)).await;
                "x".repeat(5_000_000)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let server = TestServer::start_with(&["--market-api", &api]).await;
    let answers = futures_util::future::join_all((0..50).map(|_| async {
        let response = reqwest::get(format!("{}/api/ticker/btcusd", server.url()))
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    }))
    .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one upstream call for 50 requests"
    );
    for (status, body) in answers {
        assert_eq!(status, 502);
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("--market demo"), "{error}");
        assert!(
            !error.contains("127.0.0.1") && !error.contains("http"),
            "{error}"
        );
    }
}
