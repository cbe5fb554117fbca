//! What every integration test needs: a real server on a free port, clients that talk to it,
//! and receiving with a timeout instead of sleeping.
//!
//! Two kinds of client: [`SioClient`] is `rust_socketio`, a socket.io client written by
//! others; [`RawClient`] writes Engine.IO/Socket.IO frames by hand from the protocol spec,
//! for what a well-behaved library would never send (and to learn a socket's own id, which
//! `rust_socketio` does not expose).

#![allow(dead_code)]

pub mod rooms;
pub mod sfu_bot;
pub mod turn;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use server::Config;
use server::Switchboard;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Waits until `check` holds, asking again every few milliseconds (for a state that no event
/// announces: nodes that heard each other, a name freed by a disconnect).
pub async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    eventually_within(PATIENCE, what, check).await;
}

/// [`eventually`], for a state that must come sooner than [`PATIENCE`].
pub async fn eventually_within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of the metric line that starts with `name` (e.g. `switchboard_connections{namespace="/chat"}`)
/// in the server's `/metrics`.
pub async fn metric(server: &impl Reachable, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Connections to namespace `ns` the server counts: it has handled the disconnect of every
/// client it no longer counts.
pub async fn connections(server: &impl Reachable, ns: &str) -> f64 {
    metric(
        server,
        &format!("switchboard_connections{{namespace=\"{ns}\"}}"),
    )
    .await
}

/// A server running in this process on 127.0.0.1 and a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The TURN relay's address (UDP and TCP), when started with `--turn`.
    pub turn: Option<SocketAddr>,
    /// `/metrics`' own address, when started with `--metrics-bind`.
    pub metrics: Option<SocketAddr>,
    data_dir: TempDir,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_in(tempfile::tempdir().expect("temp dir")).await
    }

    /// Starts with further flags, e.g. `["--market", "demo"]`.
    pub async fn start_with(flags: &[&str]) -> TestServer {
        Self::launch(tempfile::tempdir().expect("temp dir"), flags).await
    }

    /// Starts on an existing data directory (to test what survives a restart).
    pub async fn start_in(data_dir: TempDir) -> TestServer {
        Self::launch(data_dir, &[]).await
    }

    /// Starts one node of a cluster on `redis` (in memory, or a real one).
    pub async fn start_clustered(redis: server::ClusterRedis, flags: &[&str]) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_tests(data_dir.path(), flags);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = Switchboard::build_clustered(&config, addr, redis)
            .await
            .expect("build a cluster node");
        Self::run(server, listener, data_dir)
    }

    async fn launch(data_dir: TempDir, flags: &[&str]) -> TestServer {
        let config = Config::for_tests(data_dir.path(), flags);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Switchboard::build(&config, listener.local_addr().expect("addr"))
            .expect("build server");
        Self::run(server, listener, data_dir)
    }

    fn run(server: Switchboard, listener: TcpListener, data_dir: TempDir) -> TestServer {
        let addr = listener.local_addr().expect("addr");
        let turn = server.turn_addr();
        let metrics = server.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, None, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            turn,
            metrics,
            data_dir,
            stop,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully and hands back the data directory.
    pub async fn stop(self) -> TempDir {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("server did not stop in time")
            .expect("server task")
            .expect("server error");
        self.data_dir
    }

    /// Whether the server still answers HTTP.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/healthz", self.url());
        matches!(reqwest::get(url).await, Ok(r) if r.status().is_success())
    }
}

/// A server the clients below can reach: in this process, or a process of its own.
pub trait Reachable {
    fn addr(&self) -> SocketAddr;
    fn url(&self) -> String {
        format!("http://{}", self.addr())
    }
}

impl Reachable for TestServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The real binary in a process of its own: for what only a process shows (its memory, a
/// SIGKILL). Killed when dropped.
pub struct ProcessServer {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl ProcessServer {
    /// Starts `switchboard` on a free port with `data_dir` and `flags`, and waits until it
    /// answers.
    pub async fn start(data_dir: &std::path::Path, flags: &[&str]) -> ProcessServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "--port",
                "0",
                "--media-port",
                "0",
                "--log-level",
                "warn",
                "--site-dir",
            ])
            .arg(data_dir.join("no-site"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start the switchboard binary");
        let stdout = child.stdout.take().expect("stdout");
        let (found, url) = std::sync::mpsc::channel();
        // Reads all it prints (a closed pipe would make its next line fail), and passes on
        // the address in "  On this computer:  http://127.0.0.1:PORT". With
        // SWITCHBOARD_TEST_LOGS set, its log is shown too.
        let show = std::env::var_os("SWITCHBOARD_TEST_LOGS").is_some();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if show {
                    eprintln!("[server] {line}");
                }
                let addr = line
                    .trim()
                    .strip_prefix("On this computer:")
                    .and_then(|url| {
                        url.trim()
                            .strip_prefix("http://")?
                            .parse::<SocketAddr>()
                            .ok()
                    });
                if let Some(addr) = addr {
                    let _ = found.send(addr);
                }
            }
        });
        let addr = url
            .recv_timeout(Duration::from_secs(30))
            .expect("the server printed its URL");
        let server = ProcessServer { child, addr };
        let healthz = format!("{}/healthz", server.url());
        eventually("the server answers", async || {
            reqwest::get(&healthz).await.is_ok()
        })
        .await;
        server
    }

    /// Its resident memory, in bytes (from /proc).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGSTOP (`pause`) and SIGCONT (`resume`): a node that stalls for a moment, as on a
    /// busy machine, while the others go on.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = std::process::Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {which} failed");
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Reachable for ProcessServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A `/chat` client (the course's contract) named `name`, past the history that comes with it.
pub async fn named(server: &impl Reachable, name: &str) -> SioClient {
    let mut client = SioClient::connect(server, "/chat").await;
    client.emit("name", vec![serde_json::json!(name)]).await;
    assert_eq!(
        client.expect("name").await,
        vec![serde_json::json!(name)],
        "{name}"
    );
    client.expect("history").await;
    client
}

/// A `/chat` client with the additions (auth `plus`), named `name`, past what comes with its
/// name: it hears who leaves, once their name is free again.
pub async fn chat_watcher(server: &impl Reachable, name: &str) -> RawClient {
    let mut watcher = RawClient::connect_with_auth(server, "/chat", Some(r#"{"plus":true}"#)).await;
    watcher.emit("name", serde_json::json!([name])).await;
    watcher.expect("name").await;
    watcher.expect("history").await;
    watcher.expect("people").await;
    watcher
}

/// One received event: its name and arguments.
pub type Received = (String, Vec<Value>);

/// A `rust_socketio` client connected to one namespace, with its events in a queue.
pub struct SioClient {
    pub client: Client,
    events: mpsc::UnboundedReceiver<Received>,
}

impl SioClient {
    pub async fn connect(server: &impl Reachable, ns: &str) -> SioClient {
        Self::try_connect(server, ns)
            .await
            .expect("namespace connect")
    }

    /// Connects over HTTP long-polling only.
    pub async fn connect_polling(server: &impl Reachable, ns: &str) -> SioClient {
        Self::try_connect_with(server, ns, TransportType::Polling)
            .await
            .expect("namespace connect")
    }

    /// Connects and waits for the namespace to accept; `Err` carries the server's refusal.
    pub async fn try_connect(server: &impl Reachable, ns: &str) -> Result<SioClient, String> {
        Self::try_connect_with(server, ns, TransportType::Websocket).await
    }

    async fn try_connect_with(
        server: &impl Reachable,
        ns: &str,
        transport: TransportType,
    ) -> Result<SioClient, String> {
        let (tx, events) = mpsc::unbounded_channel();
        let (outcome_tx, outcome) = mpsc::unbounded_channel::<Result<(), String>>();
        let error_tx = outcome_tx.clone();
        let client = ClientBuilder::new(server.url())
            .namespace(ns)
            .transport_type(transport)
            .reconnect(false)
            .on(Event::Connect, move |_, _| {
                let _ = outcome_tx.send(Ok(()));
                async {}.boxed()
            })
            .on(Event::Error, move |payload, _| {
                let _ = error_tx.send(Err(format!("{payload:?}")));
                async {}.boxed()
            })
            .on_any(move |event, payload, _| {
                if let Payload::Text(args) = payload {
                    let _ = tx.send((String::from(event), args));
                }
                async {}.boxed()
            })
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let mut outcome = outcome;
        match tokio::time::timeout(PATIENCE, outcome.recv()).await {
            Ok(Some(Ok(()))) => Ok(SioClient { client, events }),
            Ok(Some(Err(error))) => Err(error),
            _ => Err("no answer to the namespace connect".into()),
        }
    }

    pub async fn emit(&self, event: &str, args: Vec<Value>) {
        self.client
            .emit(event, Payload::Text(args))
            .await
            .expect("emit");
    }

    /// The next event, whatever it is.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("timed out waiting for an event")
            .expect("client closed")
    }

    /// The next event, if one comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event, which must be `event`; returns its arguments.
    pub async fn expect(&mut self, event: &str) -> Vec<Value> {
        let (name, args) = self.next().await;
        assert_eq!(name, event, "expected {event:?}, got {name:?} {args:?}");
        args
    }

    /// Asserts that nothing arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(event)) = tokio::time::timeout(quiet, self.events.recv()).await {
            panic!("expected silence, got {event:?}");
        }
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client speaking raw Engine.IO/Socket.IO text frames over a WebSocket.
pub struct RawClient {
    ws: WsStream,
    pub ns: String,
    /// The socket id the namespace gave us.
    pub sid: String,
}

impl RawClient {
    /// Opens the WebSocket, answers the handshake and joins `ns` (with optional auth JSON).
    pub async fn connect(server: &impl Reachable, ns: &str) -> RawClient {
        Self::connect_with_auth(server, ns, None).await
    }

    pub async fn connect_with_auth(
        server: &impl Reachable,
        ns: &str,
        auth: Option<&str>,
    ) -> RawClient {
        let mut ws = Self::open(server).await;
        ws.send(WsMessage::text(format!("40{ns},{}", auth.unwrap_or(""))))
            .await
            .expect("send connect");
        let prefix = format!("40{ns},");
        let frame = tokio::time::timeout(PATIENCE, async {
            loop {
                match next_text(&mut ws).await {
                    Some(ping) if ping == "2" => {
                        let _ = ws.send(WsMessage::text("3")).await;
                    }
                    other => return other,
                }
            }
        })
        .await
        .expect("no answer to the namespace connect")
        .expect("closed instead of answering the namespace connect");
        let sid = frame
            .strip_prefix(&prefix)
            .and_then(|json| serde_json::from_str::<Value>(json).ok())
            .and_then(|v| v["sid"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("namespace {ns} refused: {frame}"));
        RawClient {
            ws,
            ns: ns.to_owned(),
            sid,
        }
    }

    /// Opens the WebSocket and reads the Engine.IO open packet, without joining a namespace.
    pub async fn open(server: &impl Reachable) -> WsStream {
        let url = format!(
            "ws://{}/socket.io/?EIO=4&transport=websocket",
            server.addr()
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        let open = tokio::time::timeout(PATIENCE, next_text(&mut ws))
            .await
            .expect("no engine.io open packet")
            .expect("closed before the open packet");
        assert!(
            open.starts_with("0{"),
            "expected the open packet, got {open}"
        );
        ws
    }

    /// Sends one text frame exactly as given.
    pub async fn send_frame(&mut self, frame: impl Into<String>) -> Result<(), String> {
        self.ws
            .send(WsMessage::text(frame.into()))
            .await
            .map_err(|e| e.to_string())
    }

    /// Emits `event` with `args` (a JSON array of the arguments).
    pub async fn emit(&mut self, event: &str, args: Value) {
        let mut list = vec![Value::from(event)];
        list.extend(args.as_array().cloned().unwrap_or_default());
        let frame = format!("42{},{}", self.ns, Value::Array(list));
        self.send_frame(frame).await.expect("send event");
    }

    /// The next Socket.IO packet of our namespace as raw text after the namespace (pings are
    /// answered on the way); `None` when the connection closed.
    pub async fn next_packet(&mut self) -> Option<String> {
        loop {
            let frame = next_text(&mut self.ws).await?;
            if frame == "2" {
                let _ = self.ws.send(WsMessage::text("3")).await;
                continue;
            }
            if let Some(rest) = frame.strip_prefix('4') {
                if let Some(packet) = rest.get(1..).and_then(|r| r.strip_prefix(self.ns.as_str())) {
                    return Some(format!("{}{packet}", &rest[..1]));
                }
            }
        }
    }

    /// The next event (pings are answered on the way); `None` when the connection closed.
    pub async fn next_event(&mut self) -> Option<Received> {
        let prefix = format!("42{},", self.ns);
        loop {
            let frame = next_text(&mut self.ws).await?;
            if frame == "2" {
                let _ = self.ws.send(WsMessage::text("3")).await;
                continue;
            }
            if let Some(json) = frame.strip_prefix(&prefix) {
                let mut list: Vec<Value> = serde_json::from_str(json).expect("event JSON");
                let name = list.remove(0).as_str().expect("event name").to_owned();
                return Some((name, list));
            }
        }
    }

    pub async fn expect(&mut self, event: &str) -> Vec<Value> {
        let (name, args) = tokio::time::timeout(PATIENCE, self.next_event())
            .await
            .expect("timed out waiting for an event")
            .expect("connection closed");
        assert_eq!(name, event, "expected {event:?}, got {name:?} {args:?}");
        args
    }

    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(event)) = tokio::time::timeout(quiet, self.next_event()).await {
            panic!("expected silence, got {event:?}");
        }
    }

    /// Sends `/remote` `update` with `data` to the socket `target` until the server
    /// acknowledges it (in a cluster, a node learns of another node's sockets within a
    /// heartbeat).
    pub async fn update_until_acknowledged(&mut self, target: &str, data: &str) {
        eventually("the update is acknowledged", async || {
            self.send_frame(format!(r#"42/remote,1["update","{target}",{data}]"#))
                .await
                .expect("send update");
            let ack = tokio::time::timeout(PATIENCE, self.next_packet())
                .await
                .expect("an acknowledgement")
                .expect("connection open");
            ack.contains(r#""ok":true"#)
        })
        .await;
    }

    /// Skips other events until `event` with `args` arrives.
    pub async fn expect_among_others(&mut self, event: &str, args: Value) {
        let wanted = tokio::time::timeout(PATIENCE, async {
            loop {
                match self.next_event().await {
                    Some((name, got)) if name == event && Value::Array(got.clone()) == args => {
                        return true
                    }
                    Some(_) => continue,
                    None => return false,
                }
            }
        })
        .await;
        assert!(
            matches!(wanted, Ok(true)),
            "no {event:?} {args} (connection closed or timed out)"
        );
    }

    /// Waits until the server closes the connection.
    pub async fn expect_closed(&mut self) {
        let closed = tokio::time::timeout(PATIENCE, async {
            while self.next_event().await.is_some() {}
        })
        .await;
        assert!(closed.is_ok(), "the server kept the connection open");
    }
}

/// The next text frame; `None` once the connection is closed. Callers bound the wait.
async fn next_text(ws: &mut WsStream) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(WsMessage::Text(text)) => return Some(text.to_string()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
