//! Switchboard's server: the web app's files, its server functions, and every socket.io
//! namespace, on one port.
//!
//! Layout:
//! - [`config`]: flags and environment; [`net`]: the URLs that reach us; [`tls`]: HTTPS.
//! - [`site`]: static files (compressed once) and the page fallback; [`metrics`]: `/metrics`.
//! - One module per socket.io namespace, each with `register(io, ..)`: `simple_chat`, `chat`,
//!   `cursors`, `remote`, `signal` (`relay` is what the last two share). `trades` is plain
//!   HTTP and WebSocket (the ticker proxy and the demo market).
//!   `contract` is the typed layer they all stand on: handlers get parsed domain values, in
//!   the order each client sent them, and send only their own namespace's events.
//! - [`Switchboard`] wires it all: [`Switchboard::build`] makes the router,
//!   [`Switchboard::serve`] runs it on a listener the caller owns until a shutdown future
//!   completes. [`start`] is what the binary does with them.
//!
//! Architecture invariant: handlers see only parsed domain types from `app::protocol`; raw
//! client input is parsed in exactly one place per event (its `ClientEvent::parse`).

mod accept;
mod chat;
pub mod config;
mod contract;
mod cursors;
mod headers;
mod metrics;
mod net;
mod origin;
mod private;
mod relay;
mod remote;
mod shutdown;
mod signal;
mod simple_chat;
mod site;
mod sync;
pub mod tls;
mod trades;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::config::SiteConfig;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use socketioxide::SocketIo;

use crate::chat::ChatState;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::site::Site;

/// Largest Engine.IO packet a client may send (a 2000-character chat message, an SDP offer
/// or a cursor update all fit many times over). Larger ones close the connection.
pub const MAX_PAYLOAD: u64 = 64 * 1024;

/// Initial WebSocket read buffer per connection, in bytes. Our frames are small; a larger one
/// grows on demand, and 4 KB idle buffers add up over thousands of connections.
const WS_READ_BUFFER: usize = 512;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    History(#[from] chat::HistoryError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid --log-level: {0}")]
    LogLevel(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A built server, ready to serve.
pub struct Switchboard {
    router: Router,
    /// Closed first on shutdown, so every client sees a clean disconnect.
    io: SocketIo,
    /// Flushed last on shutdown, so no broadcast message is lost.
    chat: ChatState,
    /// Loops that run beside the requests (the `/cursors` ticker, ...), stopped on shutdown.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// How many connections are taken.
    connection_limits: accept::ConnectionLimits,
    /// What every namespace shares; its counters are also counted by the accept loop.
    shared: Arc<contract::Shared>,
}

/// What axum's handlers share.
#[derive(Clone)]
struct HttpState {
    site: Site,
    /// Handed to server functions as Leptos context.
    site_config: SiteConfig,
    /// This server's counters, for `/metrics`.
    shared: Arc<contract::Shared>,
    /// Who may read `/metrics`.
    metrics_access: MetricsAccess,
}

/// `/metrics` answers loopback clients; others only with the token, or when it is public.
#[derive(Clone)]
struct MetricsAccess {
    token: Option<String>,
    public: bool,
}

impl MetricsAccess {
    fn allows(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        if self.public || peer.ip().is_loopback() {
            return true;
        }
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match (&self.token, presented) {
            (Some(token), Some(presented)) => same_secret(token, presented),
            _ => false,
        }
    }
}

impl Switchboard {
    /// Opens the stores in the data directory and builds the router for a server reachable
    /// at `local` (needed for the URLs shown to phones). Must run inside a tokio runtime: it
    /// starts the `/cursors` broadcast loop.
    pub fn build(config: &Config, local: SocketAddr) -> Result<Switchboard, StartError> {
        private::create_dir(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let chat = ChatState::open(&config.data_dir)?;
        let trades = trades::Trades::new(config);
        let shared = Arc::new(contract::Shared {
            metrics: Metrics::default(),
            limits: config.limits(),
        });
        let (io_service, io) = SocketIo::builder()
            .max_payload(MAX_PAYLOAD)
            .ws_max_message_size(MAX_PAYLOAD as usize)
            .ws_read_buffer_size(WS_READ_BUFFER)
            .ws_max_frame_size(MAX_PAYLOAD as usize)
            .ping_interval(Duration::from_secs(25))
            .ping_timeout(Duration::from_secs(20))
            .build_svc();
        simple_chat::register(&io, &shared);
        chat::register(&io, &shared, chat.clone());
        let ((), cursor_ticker) = cursors::register(&io, &shared);
        remote::register(&io, &shared);
        signal::register(&io, &shared);
        let background = vec![cursor_ticker, metrics::spawn_housekeeping(shared.clone())];

        let site_config = SiteConfig {
            lan_urls: net::lan_urls(local, config.serves_tls(), config.public_url.as_deref()),
            loopback_only: local.ip().is_loopback(),
            tls: config.serves_tls(),
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            market_feed: trades.feed_url.clone(),
            market_name: trades.market_name.clone(),
            ice_servers: config.ice_servers(),
        };
        let site = Site::load(&config.site_dir);
        let policy = Arc::new(headers::Policy::new(
            site.inline_script_hashes(),
            &trades.feed_url,
        ));
        let origins = origin::OriginCheck {
            allowed: Arc::new(origin::AllowedOrigins::new(
                local,
                config.serves_tls(),
                config.public_url.as_deref(),
                &config.allowed_origins,
            )),
            shared: shared.clone(),
        };
        let state = HttpState {
            site,
            site_config,
            shared: shared.clone(),
            metrics_access: MetricsAccess {
                token: config.metrics_token.clone(),
                public: config.metrics_public,
            },
        };
        let socket_io = tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(origins, origin::check))
            .map_request(detach_request)
            .service(io_service);
        let router = Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(serve_metrics))
            .route("/api/{*server_fn}", any(server_fn))
            .route_service("/socket.io/", socket_io)
            .fallback(site_file)
            .with_state(state)
            .merge(trades.routes())
            .layer(axum::middleware::from_fn_with_state(policy, headers::add));
        Ok(Switchboard {
            router,
            io,
            chat,
            background,
            connection_limits: accept::ConnectionLimits {
                per_ip: config.max_connections_per_ip,
                total: config.max_connections,
                header_timeout: Duration::from_secs_f64(config.header_timeout),
            },
            shared,
        })
    }

    /// Serves on `listener` (over TLS with `tls`) until `shutdown` completes, then
    /// disconnects every client and saves what is pending.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Switchboard {
            router,
            io,
            chat,
            background,
            connection_limits,
            shared,
        } = self;
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting clients");
            io.close().await;
        };
        let served =
            accept::serve(listener, tls, router, connection_limits, shared, graceful).await;
        for task in background {
            task.abort();
        }
        served?;
        chat.history.flush().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What the binary does: listen as configured, print where to go, serve until Ctrl-C/SIGTERM.
pub async fn start(config: Config) -> Result<(), StartError> {
    let addr = SocketAddr::new(config.bind, config.port);
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = tcp.local_addr()?;
    let server = Switchboard::build(&config, local)?;
    print_urls(&config, local);
    let acceptor = if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        Some(tls::from_files(cert, key)?)
    } else if config.tls == config::TlsMode::SelfSigned {
        Some(tls::self_signed(&config.data_dir, &net::lan_addresses())?)
    } else {
        None
    };
    server.serve(tcp, acceptor, shutdown::requested()).await?;
    Ok(())
}

fn print_urls(config: &Config, local: SocketAddr) {
    let tls = config.serves_tls();
    println!("\nSwitchboard is running.");
    println!("  On this computer:  {}", net::local_url(local, tls));
    let lan = net::lan_urls(local, tls, config.public_url.as_deref());
    for url in &lan {
        if local.ip().is_loopback() && config.public_url.is_none() {
            println!(
                "  On your network:   {url}  (not reachable yet: restart with --bind 0.0.0.0)"
            );
        } else {
            println!("  On your network:   {url}");
        }
    }
    if !tls && !lan.is_empty() {
        println!("  Phones need HTTPS for the camera and the gyroscope: add --tls self-signed.");
    }
    println!("Press Ctrl-C to stop.\n");
}

/// Copies what socketioxide keeps of a connection's first request (URI and headers) into
/// allocations of its own. As hyper parses them they point into the connection's read buffer
/// (16 KB or more), which would otherwise stay alive for as long as the WebSocket is open.
fn detach_request<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    parts.headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
            let value = axum::http::HeaderValue::from_bytes(value.as_bytes()).ok()?;
            Some((name, value))
        })
        .collect();
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    // An extension, too, keeps the read buffer alive; the upgrade handle is the one needed,
    // and the means to hang up on the client (see `contract::hang_up`).
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let hangup = parts.extensions.remove::<accept::Hangup>();
    parts.extensions = Default::default();
    if let Some(upgrade) = upgrade {
        parts.extensions.insert(upgrade);
    }
    if let Some(hangup) = hangup {
        parts.extensions.insert(hangup);
    }
    Request::from_parts(parts, body)
}

/// Compares two secrets in constant time (their digests, byte by byte, all bytes always).
fn same_secret(a: &str, b: &str) -> bool {
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let (a, b) = (digest(a), digest(b));
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |differ, (x, y)| differ | (x ^ y))
        == 0
}

async fn serve_metrics(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !state.metrics_access.allows(peer, &headers) {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "/metrics answers this computer only; elsewhere send the --metrics-token as a bearer token.",
        )
            .into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.shared.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true }))
}

async fn server_fn(State(state): State<HttpState>, request: Request<Body>) -> impl IntoResponse {
    let site_config = state.site_config.clone();
    leptos_axum::handle_server_fns_with_context(
        move || leptos::prelude::provide_context(site_config.clone()),
        request,
    )
    .await
}

async fn site_file(
    State(state): State<HttpState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    state.site.respond(&method, &uri, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_answer_this_computer_and_elsewhere_only_the_token() {
        let (home, away): (SocketAddr, SocketAddr) = (
            "127.0.0.1:5000".parse().unwrap(),
            "192.168.1.9:5000".parse().unwrap(),
        );
        let bearer = |token: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
            headers
        };
        let closed = MetricsAccess {
            token: None,
            public: false,
        };
        assert!(closed.allows(home, &HeaderMap::new()));
        assert!(!closed.allows(away, &HeaderMap::new()));
        assert!(!closed.allows(away, &bearer("")));
        let token = MetricsAccess {
            token: Some("s3cret".into()),
            public: false,
        };
        assert!(token.allows(away, &bearer("s3cret")));
        assert!(!token.allows(away, &bearer("s3cre")));
        assert!(!token.allows(away, &HeaderMap::new()));
        let public = MetricsAccess {
            token: None,
            public: true,
        };
        assert!(public.allows(away, &HeaderMap::new()));
    }
}
