//! Switchboard's server: the web app's files, its server functions, and every socket.io
//! namespace, on one port.
//!
//! Layout:
//! - `config`: flags and environment; `net`: the URLs that reach us; `tls`: HTTPS, with
//!   `acme` for `--tls acme` (certificates ordered and renewed by a task of the server).
//! - `accept`: the accept loop and what every connection must keep to; `http`: health,
//!   metrics, server functions; `site`: static files (compressed once) and the page fallback;
//!   `origin` and `headers`: who may connect, and the security headers.
//! - One module per socket.io namespace, each with `register(io, ..)`: `simple_chat`, `chat`,
//!   `cursors`, `draw`, `remote`, `signal`, `meet`, `call` (`relay` is what `remote` and
//!   `signal` share); `namespaces`: the table of them all (module, path, rate). `trades` is
//!   plain HTTP and WebSocket (the ticker proxy and the demo market). `contract` is the typed
//!   layer they all stand on: handlers get parsed domain values, in the order each client
//!   sent them, and send only their own namespace's events.
//! - `turn`: the embedded STUN and TURN relay (`--turn`), on its own port; it shares only
//!   the configuration and the metrics.
//! - `sfu`: the selective forwarding unit `/meet` rooms send their media through (one UDP
//!   port, `--media-port`); `meet` signals it.
//! - `cluster`: cluster mode (`--redis-url`): socketioxide's Redis adapter, and what nodes
//!   share besides socket.io packets.
//! - [`Switchboard`] wires it all: [`Switchboard::build`] (one process) or
//!   [`Switchboard::build_clustered`] make the router, [`Switchboard::serve`] runs it on a
//!   listener the caller owns until a shutdown future completes. [`start`] is what the binary
//!   does with them.
//!
//! Every module is private; the root exports what the binary and the tests use (`Config`,
//! the in-memory Redis of cluster tests, `self_signed`, `configured_tls` and `Tls`,
//! `turn_credentials`, `namespace_paths`, and `typed`, hidden, for the compile-fail tests), so
//! the compiler reports what nothing uses.
//!
//! Architecture invariant: handlers see only parsed domain types from `app::protocol`; raw
//! client input is parsed in exactly one place per event (its `ClientEvent::parse`).

mod accept;
mod acme;
mod call;
mod chat;
mod client_address;
mod cluster;
mod config;
mod contract;
mod cursors;
mod draw;
mod hangup;
mod headers;
mod http;
mod meet;
mod metrics;
mod namespaces;
mod net;
mod origin;
mod private;
mod relay;
mod remote;
mod rooms;
mod sfu;
mod shutdown;
mod signal;
mod simple_chat;
mod site;
mod sync;
mod tasks;
mod tls;
mod trades;
mod turn;

pub use cluster::{MemoryDriver, MemoryHub, MemoryKv};
pub use config::Config;
pub use namespaces::paths as namespace_paths;
pub use tls::{self_signed, Tls};
pub use turn::credentials::credentials as turn_credentials;

/// The typed handles of the contract layer, public only for the compile-fail tests
/// (`server/tests/ui/handlers/`), which must name them from outside the crate to show that a handler
/// or an emit that breaks the wire contract does not compile. Not an API: the rest of
/// `contract` stays private, so the compiler still reports its dead code.
#[doc(hidden)]
pub mod typed {
    pub use crate::contract::{Cx, Listener, Nsp};
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::SiteConfig;
use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use socketioxide::adapter::{Emitter, LocalAdapter};
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_redis::drivers::Driver;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

use crate::chat::ChatState;
use crate::cluster::Cluster;
use crate::contract::Served;
use crate::metrics::Metrics;
use crate::namespaces::Stores;
use crate::site::Site;
use crate::tasks::TaskOwner;

/// Largest Engine.IO packet a client may send (a 2000-character chat message, an SDP offer
/// or a cursor update all fit many times over). Larger ones close the connection.
const MAX_PAYLOAD: u64 = 64 * 1024;

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
    Redis(#[from] cluster::ConnectError),
    #[error("cannot join the cluster: {0}")]
    Cluster(String),
    #[error("--media-port {port} with --media-loops {loops} runs past port 65535")]
    MediaPorts { port: u16, loops: u16 },
    #[error("--relay-only needs a relay: add --turn, or a TURN --ice-server")]
    RelayOnlyWithoutRelay,
    #[error("--tls acme needs the names to get a certificate for: add --domain NAME (its DNS must point at this server)")]
    AcmeWithoutDomain,
    #[error("--ice-server {0} has no password: give it as turn:user:password@host, or give the --turn-secret it shares (coturn's static-auth-secret)")]
    TurnWithoutCredentials(String),
    #[error("cannot listen for /metrics on {addr} (--metrics-bind): {source}")]
    MetricsBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where a clustered server's Redis is: a real one at a URL, or a stand-in in memory shared by
/// several servers in one process (tests): a driver of a `MemoryHub`, and the shared `MemoryKv`.
pub enum ClusterRedis {
    At(String),
    InMemory {
        driver: cluster::MemoryDriver,
        kv: cluster::MemoryKv,
    },
}

/// A built server, ready to serve.
pub struct Switchboard {
    router: Router,
    /// Closes every socket.io client; first on shutdown, so every client sees a clean
    /// disconnect (and in a cluster reconnects to another node).
    close_clients: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>,
    /// Flushed last on shutdown, so no broadcast message is lost; its names released.
    chat: ChatState,
    /// Saved last on shutdown, like the chat.
    board: draw::Board,
    /// Every task of this server (loops beside the requests, connections): ended on shutdown,
    /// or when the server is dropped.
    tasks: TaskOwner,
    /// How many connections are taken.
    connection_limits: accept::ConnectionLimits,
    /// What every namespace shares; its counters are also counted by the accept loop.
    shared: Arc<contract::Shared>,
    /// Where the TURN relay listens (UDP and TCP), with `--turn`; its task is one of `tasks`.
    turn: Option<SocketAddr>,
    /// Where `/metrics` has a listener of its own, with `--metrics-bind`.
    metrics: Option<SocketAddr>,
}

/// socket.io as every server configures it, before its adapter is chosen.
fn socket_io_builder() -> SocketIoBuilder<LocalAdapter> {
    SocketIo::builder()
        .max_payload(MAX_PAYLOAD)
        .ws_max_message_size(MAX_PAYLOAD as usize)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .ws_max_frame_size(MAX_PAYLOAD as usize)
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
}

impl Switchboard {
    /// One process: opens the stores in the data directory and builds the router for a
    /// server reachable at `local` (needed for the URLs shown to phones). Must run inside a
    /// tokio runtime: it starts the `/cursors` broadcast loop.
    pub fn build(config: &Config, local: SocketAddr) -> Result<Switchboard, StartError> {
        create_data_dir(config)?;
        let chat = ChatState::open(&config.data_dir)?;
        let board = draw::Board::open(&config.data_dir);
        let (service, io) = socket_io_builder().build_svc();
        let tasks = TaskOwner::new();
        let state = NodeState {
            cluster: None,
            stores: Stores { chat, board },
            turn_secret: turn::secret(config)?,
        };
        let (server, _ready) = assemble(config, local, service, io, state, tasks)?;
        Ok(server)
    }

    /// Where the TURN relay listens (UDP and TCP), when it runs (`--turn`).
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.turn
    }

    /// Where the SFU takes meetings' media (UDP), when meetings go through it.
    pub fn media_addr(&self) -> Option<SocketAddr> {
        self.shared.meet.sfu.as_ref().map(|route| route.sfu.addr)
    }

    /// Where `/metrics` has a listener of its own (`--metrics-bind`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// One node of a cluster: names, history and everything between nodes go through
    /// `redis`; each node keeps its own `--port` and `--data-dir`.
    pub async fn build_clustered(
        config: &Config,
        local: SocketAddr,
        redis: ClusterRedis,
    ) -> Result<Switchboard, StartError> {
        create_data_dir(config)?;
        let tasks = TaskOwner::new();
        match redis {
            ClusterRedis::At(url) => {
                let clients = cluster::connect(&url, tasks.tasks()).await?;
                let driver =
                    socketioxide_redis::drivers::fred::FredDriver::new(clients.subscriber.clone())
                        .await
                        .map_err(|e| StartError::Cluster(e.to_string()))?;
                let kv = Arc::new(cluster::RedisKv {
                    client: clients.commands.clone(),
                });
                join_cluster(config, local, driver, kv, tasks, Some(clients)).await
            }
            ClusterRedis::InMemory { driver, kv } => {
                join_cluster(config, local, driver, Arc::new(kv), tasks, None).await
            }
        }
    }

    /// Serves on `listener` (over TLS with `tls`, see [`configured_tls`]) until `shutdown`
    /// completes, then disconnects every client and saves what is pending. With ACME, the
    /// certificate is ordered and renewed by one of the server's tasks from here on.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Tls>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Switchboard {
            router,
            close_clients,
            chat,
            board,
            tasks,
            connection_limits,
            shared,
            turn: _,
            metrics: _,
        } = self;
        let tls = tls.map(|tls| tls.start(tasks.tasks()));
        let leaving = chat.clone();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting clients");
            close_clients().await;
            // In a cluster, this node's names are free for the others at once.
            leaving.names.release_all().await;
        };
        let served =
            accept::serve(listener, tls, router, connection_limits, shared, graceful).await;
        // The loops, and connections still busy after the drain, end here; a board save in
        // progress finishes first (it is one of the tasks).
        tasks.stop().await;
        served?;
        chat.history.flush().await;
        let _ = tokio::task::spawn_blocking(move || board.save()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn create_data_dir(config: &Config) -> Result<(), StartError> {
    private::create_dir(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })
}

/// Builds a node on socketioxide's Redis adapter over `driver`; its `redis` clients, if it
/// has its own, are closed when it stops.
async fn join_cluster<D: Driver>(
    config: &Config,
    local: SocketAddr,
    driver: D,
    kv: Arc<dyn cluster::Kv>,
    tasks: TaskOwner,
    redis: Option<cluster::RedisClients>,
) -> Result<Switchboard, StartError> {
    let adapter = RedisAdapterCtr::new_with_driver(
        driver.clone(),
        RedisAdapterConfig::new()
            .with_request_timeout(cluster::REQUEST_TIMEOUT)
            .with_prefix(format!("{}-socket.io", cluster::PREFIX)),
    );
    let (service, io) = socket_io_builder()
        .with_adapter::<CustomRedisAdapter<Emitter, D>>(adapter)
        .build_svc();
    let started = redis.clone();
    // The adapter's subscriptions end with the node, served or not: its tasks (socketioxide's,
    // not ours) end when their channels close.
    tasks.tasks().on_stop({
        let io = io.clone();
        async move {
            let leave = async {
                io.close().await;
                if let Some(redis) = redis {
                    redis.quit().await;
                }
            };
            if tokio::time::timeout(cluster::REQUEST_TIMEOUT * 2, leave)
                .await
                .is_err()
            {
                tracing::warn!("stopped waiting for Redis to see this node leave");
            }
        }
    });
    let secret = turn::cluster_secret(config, &*kv).await?;
    let cluster = Arc::new(Cluster::new(
        io.config().server_id.to_string(),
        kv,
        Arc::new(cluster::DriverBus(driver)),
        tasks.tasks().clone(),
    ));
    let state = NodeState {
        stores: Stores {
            chat: ChatState::shared(&cluster),
            board: draw::Board::shared(&cluster),
        },
        cluster: Some(cluster),
        turn_secret: secret,
    };
    let (server, ready) = assemble(config, local, service, io, state, tasks)?;
    for namespace in ready {
        namespace
            .await
            .map_err(|e| StartError::Cluster(format!("{e:?}")))?;
    }
    if let Some(redis) = started {
        redis.started();
    }
    Ok(server)
}

/// Binds `/metrics`' own listener on `addr` and serves it among `tasks`; where it listens.
fn serve_metrics_apart(
    addr: SocketAddr,
    shared: &Arc<contract::Shared>,
    tasks: &tasks::Tasks,
) -> Result<SocketAddr, StartError> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| StartError::MetricsBind { addr, source })?;
    let bound = listener.local_addr()?;
    let router = http::metrics_only(shared.clone());
    tasks.spawn(async move {
        let served = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => axum::serve(listener, router).await,
            Err(error) => Err(error),
        };
        if let Err(error) = served {
            tracing::error!("/metrics on {bound} stopped: {error}");
        }
    });
    Ok(bound)
}

/// Where a node keeps its state: its own memory and data directory when alone, the
/// cluster's Redis in a cluster.
struct NodeState {
    cluster: Option<Arc<Cluster>>,
    stores: Stores,
    /// What TURN credentials are made from (one for the whole cluster).
    turn_secret: Option<String>,
}

/// Registers every namespace on `io`, binds the relay if asked, and builds the router around
/// `service`; returns the namespaces' adapter initialisations (to await, for adapters that
/// need it).
fn assemble<A: Served, S>(
    config: &Config,
    local: SocketAddr,
    service: S,
    io: SocketIo<A>,
    state: NodeState,
    tasks: TaskOwner,
) -> Result<(Switchboard, Vec<A::InitRes>), StartError>
where
    S: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse + 'static,
    S::Future: Send + 'static,
{
    let NodeState {
        cluster,
        stores,
        turn_secret,
    } = state;
    let sfu = match config.meet_media {
        config::MeetMedia::Sfu => Some(sfu::bind(config)?),
        config::MeetMedia::Mesh => None,
    };
    let media = sfu.as_ref().map(|s| s.sfu.addresses()).unwrap_or_default();
    let ice = turn::Ice::bind(config, local, &media, turn_secret)?;
    let trades = trades::Trades::new(config, tasks.tasks());
    let meet = contract::MeetSettings {
        sfu: sfu
            .as_ref()
            .map(|bound| sfu::MediaRoute::new(bound.sfu.clone(), cluster.clone(), tasks.tasks())),
        capacity: match sfu {
            Some(_) => config.meet_capacity.into(),
            None => app::protocol::meet::ROOM_CAPACITY,
        },
    };
    let shared = Arc::new(contract::Shared {
        metrics: Metrics::new(
            namespaces::paths(),
            ice.relay
                .as_ref()
                .map(|relay| relay.counters.clone())
                .unwrap_or_default(),
            meet.sfu
                .as_ref()
                .map(|route| route.sfu.counters.clone())
                .unwrap_or_default(),
        ),
        limits: config.limits(),
        cluster,
        tasks: tasks.tasks().clone(),
        meet: meet.clone(),
    });
    if let Some(sfu) = sfu {
        sfu.spawn(tasks.tasks());
    }
    let ready = namespaces::register_all(&io, &shared, &stores);
    let Stores { chat, board } = stores;
    draw::spawn_saver(board.clone(), tasks.tasks());
    let turn_addr = ice.relay.as_ref().map(|relay| relay.addr);
    if let Some(relay) = ice.relay {
        relay.spawn(tasks.tasks());
    }
    shared.spawn_housekeeping();
    let metrics_addr = match config.metrics_bind {
        Some(addr) => Some(serve_metrics_apart(addr, &shared, tasks.tasks())?),
        None => None,
    };

    let site_config = SiteConfig {
        lan_urls: net::lan_urls(local, config.serves_tls(), config.site_url().as_deref()),
        loopback_only: local.ip().is_loopback(),
        tls: config.serves_tls(),
        public_url: config.site_url(),
        market_feed: trades.feed_url.clone(),
        market_name: trades.market_name.clone(),
        ice: Default::default(),
        meet: app::MeetConfig {
            sfu: meet.sfu.is_some(),
            capacity: meet.capacity,
        },
    };
    let site = match &config.site_dir {
        Some(dir) => Site::load(dir),
        None => Site::built_in(),
    };
    let policy = Arc::new(headers::Policy::new(
        site.inline_script_hashes(),
        &trades.feed_url,
        config.trusted_certificate(),
    ));
    let origins = origin::OriginCheck {
        allowed: Arc::new(origin::AllowedOrigins::new(
            local,
            config.serves_tls(),
            config.site_url().as_deref(),
            &[config.allowed_origins.clone(), config.acme_origins()].concat(),
        )),
        shared: shared.clone(),
    };
    let state = http::HttpState {
        site,
        site_config,
        ice: ice.issuer,
        shared: shared.clone(),
        metrics_access: http::MetricsAccess {
            token: config.metrics_token.clone(),
            public: config.metrics_public,
            proxies: client_address::TrustedProxies::new(config.trusted_proxies.clone()),
            local: config.metrics_bind.is_none(),
        },
    };
    let socket_io = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(origins, origin::check))
        .map_request(http::detach_request)
        .service(service);
    let router = http::routes(state)
        .route_service("/socket.io/", socket_io)
        .merge(trades.routes())
        .layer(axum::middleware::from_fn_with_state(policy, headers::add));
    let server = Switchboard {
        router,
        close_clients: Box::new(move || async move { io.close().await }.boxed()),
        chat,
        board,
        tasks,
        connection_limits: accept::ConnectionLimits {
            per_ip: config.max_connections_per_ip,
            total: config.max_connections,
            header_timeout: Duration::from_secs_f64(config.header_timeout),
        },
        shared,
        turn: turn_addr,
        metrics: metrics_addr,
    };
    Ok((server, ready))
}

/// What the binary does: listen as configured (alone, or as a node of the cluster at
/// `--redis-url`), print where to go, serve until Ctrl-C/SIGTERM.
pub async fn start(config: Config) -> Result<(), StartError> {
    let tls = configured_tls(&config)?;
    let addr = SocketAddr::new(config.bind, config.port);
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = tcp.local_addr()?;
    let server = match &config.redis_url {
        Some(url) => {
            Switchboard::build_clustered(&config, local, ClusterRedis::At(url.clone())).await?
        }
        None => Switchboard::build(&config, local)?,
    };
    print_urls(&config, local, server.turn_addr(), server.media_addr());
    server.serve(tcp, tls, shutdown::requested()).await?;
    Ok(())
}

/// How the server speaks TLS as configured: the operator's files, the self-signed
/// certificate (made now if needed), ACME (ordered once the server runs), or not at all.
pub fn configured_tls(config: &Config) -> Result<Option<Tls>, StartError> {
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        return Ok(Some(tls::from_files(cert, key)?.into()));
    }
    match config.tls {
        config::TlsMode::Off => Ok(None),
        config::TlsMode::SelfSigned => {
            create_data_dir(config)?;
            let acceptor = tls::self_signed(&config.data_dir, &net::lan_addresses())?;
            Ok(Some(acceptor.into()))
        }
        config::TlsMode::Acme if config.domains.is_empty() => Err(StartError::AcmeWithoutDomain),
        config::TlsMode::Acme => {
            create_data_dir(config)?;
            Ok(Some(Tls::Acme(Box::new(acme::Acme::new(config)?))))
        }
    }
}

fn print_urls(
    config: &Config,
    local: SocketAddr,
    turn: Option<SocketAddr>,
    media: Option<SocketAddr>,
) {
    let tls = config.serves_tls();
    println!("\nSwitchboard is running.");
    println!("  On this computer:  {}", net::local_url(local, tls));
    let lan = net::lan_urls(local, tls, config.site_url().as_deref());
    for url in &lan {
        if local.ip().is_loopback() && config.site_url().is_none() {
            println!(
                "  On your network:   {url}  (not reachable yet: restart with --bind 0.0.0.0)"
            );
        } else {
            println!("  On your network:   {url}");
        }
    }
    if let Some(turn) = turn {
        println!("  TURN relay:        {turn} (UDP and TCP)");
    }
    if let Some(media) = media {
        println!("  Meetings' media:   {media} (UDP)");
    }
    if !tls && !lan.is_empty() {
        println!("  Phones need HTTPS for the camera and the gyroscope: add --tls self-signed.");
    }
    println!("Press Ctrl-C to stop.\n");
}
