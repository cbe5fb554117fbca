//! What the server offers over plain HTTP, and namespaces that do not exist.

mod common;

use common::{SioClient, TestServer};

#[tokio::test]
async fn healthz_answers() {
    let server = TestServer::start().await;
    let body: serde_json::Value = reqwest::get(format!("{}/healthz", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ok"], true);
}

#[tokio::test]
async fn the_official_socket_io_client_is_served() {
    let server = TestServer::start().await;
    for file in ["socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"] {
        let response = reqwest::get(format!("{}/socket.io/{file}", server.url()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        let script = response.text().await.unwrap();
        assert!(
            script.contains("Socket") && script.len() > 30_000,
            "{file} is not the client"
        );
    }
}

#[tokio::test]
async fn every_apps_namespace_accepts_connections() {
    let server = TestServer::start().await;
    for ns in server::namespace_paths() {
        SioClient::try_connect(&server, ns)
            .await
            .unwrap_or_else(|e| panic!("{ns}: {e}"));
    }
}

#[tokio::test]
async fn a_namespace_that_does_not_exist_is_refused() {
    let server = TestServer::start().await;
    let refused = SioClient::try_connect(&server, "/nope")
        .await
        .err()
        .expect("connected to /nope");
    assert!(refused.contains("Invalid namespace"), "{refused}");
    // The default namespace does not exist either: the course's apps each have their own.
    let refused = SioClient::try_connect(&server, "/").await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn the_site_config_server_function_tells_pages_where_phones_connect() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let config: serde_json::Value = client
        .post(format!("{}/api/site-config", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["loopback_only"], true, "tests bind 127.0.0.1");
    assert_eq!(config["tls"], false);
    assert!(config["lan_urls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| !u.as_str().unwrap().contains("127.0.0.1")));
}

#[tokio::test]
async fn metrics_count_connections_and_events_in_prometheus_text() {
    let server = TestServer::start().await;
    let mut client = SioClient::connect(&server, "/simple-chat").await;
    let mut other = SioClient::connect(&server, "/simple-chat").await;
    client
        .emit("message", vec![serde_json::json!("counted")])
        .await;
    client.expect("message").await;
    other.expect("message").await;
    client.emit("message", vec![serde_json::json!(42)]).await;
    client.expect("chatError").await;
    let response = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let value = |line: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line} missing:\n{text}"))
    };
    // Each server counts for itself: exactly what this test did.
    assert_eq!(
        value(r#"switchboard_connections{namespace="/simple-chat"}"#),
        2.0
    );
    assert_eq!(value(r#"switchboard_connections{namespace="/chat"}"#), 0.0);
    assert_eq!(
        value(r#"switchboard_events_in_total{namespace="/simple-chat"}"#),
        2.0
    );
    // The message to both clients, and the refusal to its sender.
    assert_eq!(
        value(r#"switchboard_events_out_total{namespace="/simple-chat"}"#),
        3.0
    );
    assert_eq!(value("switchboard_refused_input_total"), 1.0);
    assert_eq!(value("switchboard_dropped_deliveries_total"), 0.0);
    assert!(value("process_resident_memory_bytes") > 1e6);
}
