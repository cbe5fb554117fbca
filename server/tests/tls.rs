//! HTTPS with the generated certificate: pages, the server function and socket.io's polling
//! transport answer over TLS, and a plain-HTTP client cannot disturb the listener.

use std::future::pending;

use server::self_signed;
use server::Config;
use server::Switchboard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn the_self_signed_mode_serves_https() {
    let data = tempfile::tempdir().unwrap();
    let config = Config::for_tests(data.path(), &["--tls", "self-signed"]);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let server = Switchboard::build(&config, addr).unwrap();
    let acceptor = self_signed(data.path(), &[]).unwrap();
    tokio::spawn(server.serve(tcp, Some(acceptor.into()), pending()));

    // A client that speaks plain HTTP to the TLS port fails its handshake; nothing else does.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut answer),
    )
    .await;

    // Our certificate is self-signed: the browser asks the user once; here we accept it.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(
        !response.headers().contains_key("strict-transport-security"),
        "no HSTS with a self-signed certificate: a browser could not make its exception again"
    );
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["ok"], true);
    let config: serde_json::Value = client
        .post(format!("{base}/api/site-config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["tls"], true,
        "pages learn that the server speaks HTTPS"
    );
    let open = client
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        open.starts_with("0{\"sid\""),
        "an Engine.IO handshake over HTTPS: {open}"
    );
    assert!(
        data.path().join("tls/cert.pem").exists(),
        "the certificate is kept in the data directory"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(data.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("tls/key.pem"), 0o600, "only its owner reads the key");
        assert_eq!(mode("chat.sqlite3"), 0o600, "nor the chat history");
    }
}
