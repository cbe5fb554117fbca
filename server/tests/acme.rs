//! `--tls acme` against Debian's pebble (Let's Encrypt's test CA), with the real binary: pebble
//! really validates (TLS-ALPN-01: it dials our HTTPS port), the certificate is trusted through
//! pebble's root, a restart reuses the cached one, a renewal swaps it while a WebSocket stays
//! open, and a domain that points elsewhere fails with a message that says so.
//!
//! Needs `pebble` and `pebble-challtestsrv` (Debian's `pebble` package; `scripts/tools.sh test`
//! installs it). `SWITCHBOARD_TEST_LOGS=1` shows what the processes print.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long one ACME step may take: an order takes a few seconds on loopback.
const PATIENCE: Duration = Duration::from_secs(60);

/// The mode every file of the cache must have, and its directory.
const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

#[tokio::test]
async fn a_fresh_server_gets_a_trusted_certificate_and_a_restart_reuses_it() {
    let port = free_port();
    let pebble = Pebble::start(port, None, None).await;
    let data = tempfile::tempdir().unwrap();

    let server = start_server(data.path(), port, &pebble, "localhost");
    let first = wait_for_certificate(port, &pebble, None).await;
    server
        .wait_for_line("ACME: serving a new certificate")
        .await;
    server
        .wait_for_line("ACME: answering a validation connection")
        .await;

    // What a browser that trusts the CA does: HTTPS without a warning, and HSTS.
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pebble.root_pem).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("an HTTPS request with the CA's certificate");
    assert!(response.status().is_success());
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // The account key and the certificate (with its key) are its user's only.
    server.wait_for_line("ACME: certificate saved").await;
    let cache = data.path().join("acme");
    assert_eq!(mode(&cache), PRIVATE_DIR);
    let files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        2,
        "an account key and a certificate: {files:?}"
    );
    for file in &files {
        assert_eq!(mode(file), PRIVATE_FILE, "{}", file.display());
    }

    // A restart on the same data directory serves the same certificate, ordering nothing.
    drop(server);
    let restarted = start_server(data.path(), port, &pebble, "localhost");
    restarted
        .wait_for_line("ACME: serving the cached certificate")
        .await;
    let again = wait_for_certificate(port, &pebble, None).await;
    assert_eq!(again, first, "the cached certificate");
    let log = restarted.log();
    assert!(
        !log.contains("serving a new certificate") && !log.contains("validation connection"),
        "no new order after a restart:\n{log}"
    );
    assert_eq!(
        pebble.process.count("Added order"),
        1,
        "pebble saw one order"
    );
}

#[tokio::test]
async fn a_renewal_swaps_the_certificate_while_a_websocket_stays_open() {
    let port = free_port();
    // 30-second certificates: rustls-acme renews at 2/3 of the validity, after 20 s.
    let pebble = Pebble::start(port, Some(30), None).await;
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), port, &pebble, "localhost");
    let first = wait_for_certificate(port, &pebble, None).await;
    let mut socket = EngineIo::open(port, &pebble).await;

    let renewed = wait_for_certificate(port, &pebble, Some(&first)).await;
    assert_ne!(renewed, first);
    assert!(server.count("ACME: serving a new certificate") >= 2);

    // The WebSocket opened under the old certificate still carries a namespace connect.
    socket.send("40/chat,");
    let answer = socket.receive().await;
    assert!(
        answer.starts_with("40/chat,{\"sid\""),
        "the namespace answered over the old connection: {answer}"
    );
}

#[tokio::test]
async fn a_domain_that_does_not_point_at_the_server_fails_with_a_clear_message() {
    let port = free_port();
    // pebble asks pebble-challtestsrv for every name, which answers 127.0.0.2: nothing
    // listens there (the server is on 127.0.0.1).
    let dns_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dns = Process::spawn(
        "pebble-challtestsrv",
        Command::new("pebble-challtestsrv").args([
            "-defaultIPv4",
            "127.0.0.2",
            "-defaultIPv6",
            "",
            "-dns01",
            &dns_addr.to_string(),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            &format!("127.0.0.1:{}", free_port()),
        ]),
    );
    dns.wait_for_line("Starting challenge servers").await;
    let pebble = Pebble::start(port, None, Some(dns_addr)).await;
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), port, &pebble, "switchboard.test");
    let line = server
        .wait_for_line("ACME validation for switchboard.test failed")
        .await;
    assert!(
        line.contains(
            "does switchboard.test resolve to this server, and does TCP port 443 reach it?"
        ),
        "{line}"
    );
    assert!(
        line.contains("127.0.0.2"),
        "the CA's reason names where it went: {line}"
    );
    assert!(
        presented(port, &pebble).await.is_err(),
        "no certificate was served"
    );
}

#[test]
fn acme_without_a_domain_does_not_start() {
    let data = tempfile::tempdir().unwrap();
    let config = server::Config::for_tests(data.path(), &["--tls", "acme"]);
    let error = server::configured_tls(&config).err().expect("an error");
    assert!(
        error.to_string().contains("add --domain NAME"),
        "it says what is missing: {error}"
    );
}

/// Runs the switchboard binary with `--tls acme` for `domain` against `pebble`.
fn start_server(data: &Path, port: u16, pebble: &Pebble, domain: &str) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args([
            "--port",
            &port.to_string(),
            "--media-port",
            "0",
            "--log-level",
            "info",
        ])
        .arg("--site-dir")
        .arg(data.join("no-site"))
        .arg("--data-dir")
        .arg(data)
        .args(["--tls", "acme", "--domain", domain])
        .args(["--acme-contact", "mailto:ops@example.org"])
        .args(["--acme-directory", &pebble.directory])
        .arg("--acme-directory-ca")
        .arg(&pebble.api_ca);
    Process::spawn("switchboard", &mut command)
}

/// Pebble on free ports, validating on `tls_port`, with its API certificate made here.
struct Pebble {
    /// The ACME directory URL.
    directory: String,
    /// The certificate of pebble's own HTTPS API (what --acme-directory-ca names).
    api_ca: PathBuf,
    /// The root pebble signs certificates with (new at every start).
    root_pem: Vec<u8>,
    roots: Arc<rustls::RootCertStore>,
    process: Process,
    _files: tempfile::TempDir,
}

impl Pebble {
    async fn start(tls_port: u16, validity: Option<u64>, dns: Option<SocketAddr>) -> Pebble {
        let files = tempfile::tempdir().unwrap();
        let api = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let (api_ca, api_key) = (files.path().join("api.pem"), files.path().join("api.key"));
        std::fs::write(&api_ca, api.cert.pem()).unwrap();
        std::fs::write(&api_key, api.signing_key.serialize_pem()).unwrap();
        let (listen, management) = (free_port(), free_port());
        let mut settings = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": api_ca,
            "privateKey": api_key,
            // HTTP-01 is not what we answer: a port nothing listens on.
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(seconds) = validity {
            settings["certificateValidityPeriod"] = seconds.into();
        }
        let config = files.path().join("pebble.json");
        std::fs::write(
            &config,
            serde_json::json!({ "pebble": settings }).to_string(),
        )
        .unwrap();
        let mut command = Command::new("pebble");
        command
            .arg("-config")
            .arg(&config)
            // No random sleeps before validating, no nonces rejected on purpose.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0");
        if let Some(dns) = dns {
            command.args(["-dnsserver", &dns.to_string()]);
        }
        let process = Process::spawn("pebble", &mut command);

        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(api.cert.pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let directory = format!("https://127.0.0.1:{listen}/dir");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !matches!(client.get(&directory).send().await, Ok(r) if r.status().is_success()) {
            assert!(
                process.running() && tokio::time::Instant::now() < deadline,
                "pebble did not start:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let root_pem = client
            .get(format!("https://127.0.0.1:{management}/roots/0"))
            .send()
            .await
            .expect("pebble's root")
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut root_pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        assert!(!roots.is_empty(), "pebble's root is PEM");
        Pebble {
            directory,
            api_ca,
            root_pem,
            roots: Arc::new(roots),
            process,
            _files: files,
        }
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth(),
        )
    }

    /// A TLS connection to the server on `port` as `localhost`, verified against pebble's root.
    async fn connect(
        &self,
        port: u16,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        tokio_rustls::TlsConnector::from(self.client_config())
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The certificate the server on `port` presents, once it is one pebble's root vouches for
/// (and not `other_than`).
async fn wait_for_certificate(
    port: u16,
    pebble: &Pebble,
    other_than: Option<&CertificateDer<'static>>,
) -> CertificateDer<'static> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let last = match presented(port, pebble).await {
            Ok(cert) if Some(&cert) != other_than => return cert,
            Ok(_) => "still the old certificate".to_owned(),
            Err(error) => error,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "no trusted certificate on port {port}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn presented(port: u16, pebble: &Pebble) -> Result<CertificateDer<'static>, String> {
    let tls = pebble.connect(port).await?;
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?;
    Ok(certs[0].clone().into_owned())
}

/// An Engine.IO WebSocket over a TLS connection that trusts pebble's root; it answers the
/// server's pings by itself.
struct EngineIo {
    outgoing: mpsc::UnboundedSender<String>,
    incoming: mpsc::UnboundedReceiver<String>,
}

impl EngineIo {
    async fn open(port: u16, pebble: &Pebble) -> EngineIo {
        let tls = pebble.connect(port).await.expect("a TLS connection");
        let url = format!("wss://localhost:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("a WebSocket");
        let (mut sink, mut stream) = ws.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        let (received, incoming) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(text) = to_send.recv() => {
                        if sink.send(Message::text(text)).await.is_err() { break }
                    }
                    message = stream.next() => match message {
                        Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                            if sink.send(Message::text("3")).await.is_err() { break }
                        }
                        Some(Ok(Message::Text(text))) => {
                            let _ = received.send(text.to_string());
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        });
        let mut socket = EngineIo { outgoing, incoming };
        let open = socket.receive().await;
        assert!(open.starts_with("0{\"sid\""), "Engine.IO open: {open}");
        socket
    }

    fn send(&self, text: &str) {
        self.outgoing
            .send(text.to_owned())
            .expect("the socket is open");
    }

    async fn receive(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.incoming.recv())
            .await
            .expect("a message in time")
            .expect("the socket stayed open")
    }
}

/// A child process, killed when dropped, whose output (stdout and stderr) is kept.
struct Process {
    child: Child,
    name: &'static str,
    output: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Process {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "{name} is not installed: `apt-get install pebble` (scripts/tools.sh test installs it)"
            ),
            Err(error) => panic!("cannot start {name}: {error}"),
        };
        let output = Arc::new(Mutex::new(Vec::new()));
        let show = std::env::var_os("SWITCHBOARD_TEST_LOGS").is_some();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for stream in streams {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if show {
                        eprintln!("[{name}] {line}");
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        Process {
            child,
            name,
            output,
        }
    }

    fn log(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    fn find(&self, needle: &str) -> Option<String> {
        let output = self.output.lock().unwrap();
        output.iter().find(|line| line.contains(needle)).cloned()
    }

    fn count(&self, needle: &str) -> usize {
        let output = self.output.lock().unwrap();
        output.iter().filter(|line| line.contains(needle)).count()
    }

    fn running(&self) -> bool {
        // `try_wait` needs `&mut`; /proc tells without reaping.
        Path::new(&format!("/proc/{}/status", self.child.id())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
                .unwrap_or_default()
                .contains("State:\tZ")
    }

    /// The first line that contains `needle`, once the process has printed it.
    async fn wait_for_line(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.find(needle) {
                return line;
            }
            assert!(
                self.running(),
                "{} exited before printing {needle:?}:\n{}",
                self.name,
                self.log()
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never printed {needle:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
