//! Behind a balancer on the same host every request comes from loopback: `/metrics`, which
//! answers this computer only, must not become public through it. A proxy's
//! `X-Forwarded-For` counts only from `--trusted-proxy` addresses; a forwarded request from
//! any other loopback peer is nobody's in particular; with `--metrics-bind` it has a listener
//! of its own and loopback counts for nothing on the main port. And the shipped HAProxy
//! configuration (`deploy/haproxy.cfg`, what `make cluster` runs) keeps `/metrics` in as it is.

mod common;

use std::process::{Child, Command, Stdio};

use common::{eventually, TestServer};
use reqwest::StatusCode;

async fn metrics_status(url: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new().get(format!("{url}/metrics"));
    if let Some(client) = forwarded_for {
        request = request.header("X-Forwarded-For", client);
    }
    request.send().await.expect("GET /metrics").status()
}

#[tokio::test]
async fn a_forwarded_request_from_an_unconfigured_proxy_is_refused() {
    let server = TestServer::start().await;
    assert_eq!(metrics_status(&server.url(), None).await, StatusCode::OK);
    assert_eq!(
        metrics_status(&server.url(), Some("203.0.113.7")).await,
        StatusCode::FORBIDDEN
    );
    // Even one that claims loopback: who forwarded it is unknown.
    assert_eq!(
        metrics_status(&server.url(), Some("127.0.0.1")).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client() {
    let server = TestServer::start_with(&["--trusted-proxy", "127.0.0.1"]).await;
    let url = server.url();
    assert_eq!(
        metrics_status(&url, Some("203.0.113.7")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        metrics_status(&url, Some("127.0.0.1, 203.0.113.7")).await,
        StatusCode::FORBIDDEN,
        "the proxy's own (last) entry counts, not the client's claim"
    );
    assert_eq!(
        metrics_status(&url, Some("127.0.0.1")).await,
        StatusCode::OK
    );
    assert_eq!(
        metrics_status(&url, None).await,
        StatusCode::FORBIDDEN,
        "a trusted proxy that does not say whom it forwards for"
    );
}

#[tokio::test]
async fn with_a_listener_of_its_own_metrics_leave_the_main_port() {
    let server = TestServer::start_with(&["--metrics-bind", "127.0.0.1:0"]).await;
    assert_eq!(
        metrics_status(&server.url(), None).await,
        StatusCode::FORBIDDEN
    );
    let own = format!("http://{}", server.metrics.expect("a metrics listener"));
    let text = reqwest::get(format!("{own}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("switchboard_connections"), "{text}");
    let elsewhere = reqwest::get(format!("{own}/healthz")).await.unwrap();
    assert_eq!(
        elsewhere.status(),
        StatusCode::NOT_FOUND,
        "only /metrics there"
    );
}

/// HAProxy with `deploy/haproxy.cfg`, its ports moved to free ones and its nodes replaced
/// by `node`; ended on drop.
struct HaProxy {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    async fn start(node: &str, edit: impl Fn(String) -> String) -> HaProxy {
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/haproxy.cfg"
        ))
        .expect("deploy/haproxy.cfg");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config: String = shipped
            .lines()
            .filter(|line| !line.trim_start().starts_with("server node2"))
            .map(|line| {
                line.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
                    .replace("127.0.0.1:3001", node)
                    // One node, whose health is not what is tested: a check that times out
                    // on a busy machine must not take it out.
                    .replace("default-server check ", "default-server ")
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            config.contains(node),
            "the shipped config names its nodes as expected"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, edit(config) + "\n").expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("haproxy (Debian's haproxy package; `make test` installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/healthz");
        eventually("HAProxy forwards to the node", async || {
            reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        HaProxy {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn metrics_stay_private_through_the_shipped_balancer() {
    let node = TestServer::start().await;
    let node_addr = node.url().trim_start_matches("http://").to_owned();
    let shipped = HaProxy::start(&node_addr, |config| config).await;
    assert_eq!(
        metrics_status(&shipped.url, None).await,
        StatusCode::NOT_FOUND
    );
    drop(shipped);

    // Without the balancer's own rule the node still refuses: HAProxy says whom it forwards
    // for, and this node trusts no proxy.
    let no_rule = HaProxy::start(&node_addr, |config| {
        config
            .lines()
            .filter(|line| !line.contains("path_beg /metrics"))
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await;
    assert_eq!(
        metrics_status(&no_rule.url, None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(metrics_status(&node.url(), None).await, StatusCode::OK);
}

#[tokio::test]
async fn a_node_that_trusts_the_balancer_refuses_its_remote_clients() {
    // As `make cluster` starts its nodes; the balancer's deny rule removed, and the client
    // made remote: HAProxy takes the source the test names (and puts it in X-Forwarded-For).
    let node = TestServer::start_with(&["--trusted-proxy", "127.0.0.1"]).await;
    let node_addr = node.url().trim_start_matches("http://").to_owned();
    let balancer = HaProxy::start(&node_addr, |config| {
        config
            .lines()
            .filter(|line| !line.contains("path_beg /metrics"))
            .map(|line| {
                if line.trim_start().starts_with("default_backend") {
                    format!("    http-request set-src hdr(x-test-source) if {{ req.hdr(x-test-source) -m found }}\n{line}")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await;
    let from = |source: &'static str| {
        let url = format!("{}/metrics", balancer.url);
        async move {
            let request = reqwest::Client::new()
                .get(url)
                .header("x-test-source", source);
            request.send().await.expect("GET /metrics").status()
        }
    };
    assert_eq!(from("203.0.113.7").await, StatusCode::FORBIDDEN);
    assert_eq!(
        from("127.0.0.1").await,
        StatusCode::OK,
        "a client on the node's own machine"
    );
}
