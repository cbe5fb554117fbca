//! Interop with the reference implementation: coturn's own test client, `turnutils_uclient`
//! (Debian's `coturn` package), relays through our relay in client-to-client mode. It
//! computes REST credentials from the secret itself (`-W`), as coturn's use-auth-secret.

mod common;

use std::process::{Command, Output};

use common::TestServer;

const SECRET: &str = "coturn-interop";

/// What `turnutils_uclient` reported: messages sent, received, and lost.
#[derive(Debug, PartialEq, Eq)]
struct Report {
    sent: u64,
    received: u64,
    lost: u64,
}

/// Runs coturn's client against `port` with `secret`, two clients of 20 messages of 120
/// bytes that ChannelBind to each other's relayed addresses (`-y`); `-t` for TCP.
fn uclient(port: u16, secret: &str, tcp: bool) -> (Output, String) {
    let mut command = Command::new("timeout");
    command
        .arg("60")
        .arg("turnutils_uclient")
        .args(["-y", "-c"]);
    if tcp {
        command.arg("-t");
    }
    command.args(["-W", secret, "-u", "alice", "-p", &port.to_string()]);
    command.args(["-n", "20", "-m", "2", "-l", "120", "127.0.0.1"]);
    let output = command.output().expect("run timeout(1)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// The totals it prints last. It exits 0 even when packets were lost, so they are read.
fn report(text: &str) -> Option<Report> {
    let number_after = |key: &str| -> Option<u64> {
        let at = text.rfind(key)? + key.len();
        let digits: String = text[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some(Report {
        sent: number_after("tot_send_msgs=")?,
        received: number_after("tot_recv_msgs=")?,
        lost: number_after("Total lost packets")?,
    })
}

fn require_uclient() {
    let found = Command::new("sh")
        .args(["-c", "command -v turnutils_uclient"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "turnutils_uclient is missing: install it with `apt-get install coturn` \
         (scripts/tools.sh test does), then stop the coturn service it may start"
    );
}

async fn relay() -> (TestServer, u16) {
    let server = TestServer::start_with(&[
        "--turn",
        "--turn-port",
        "0",
        "--turn-allow-loopback",
        "--turn-secret",
        SECRET,
    ])
    .await;
    let port = server.turn.expect("the relay runs").port();
    (server, port)
}

#[tokio::test(flavor = "multi_thread")]
async fn coturns_client_relays_through_us_over_udp_and_tcp_without_loss() {
    require_uclient();
    let (server, port) = relay().await;
    for tcp in [false, true] {
        let (output, text) = tokio::task::spawn_blocking(move || uclient(port, SECRET, tcp))
            .await
            .unwrap();
        let report = report(&text).unwrap_or_else(|| panic!("no totals (tcp: {tcp}):\n{text}"));
        println!("turnutils_uclient (tcp: {tcp}): {report:?}");
        assert!(output.status.success(), "tcp: {tcp}\n{text}");
        assert_eq!(
            report,
            Report {
                sent: 40,
                received: 40,
                lost: 0
            },
            "tcp: {tcp}\n{text}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn coturns_client_with_a_wrong_secret_gets_no_allocation() {
    require_uclient();
    let (server, port) = relay().await;
    let (output, text) = tokio::task::spawn_blocking(move || uclient(port, "wrong", false))
        .await
        .unwrap();
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("Cannot complete Allocation"), "{text}");
    assert!(report(&text).is_none_or(|r| r.received == 0), "{text}");
    server.stop().await;
}
