//! Cluster mode (`--redis-url`): several Switchboard processes act as one server through
//! Redis, the engine socket.io users already run for it.
//!
//! - socket.io packets between nodes (a chat message for everyone, a relay to a socket on
//!   another node) go through socketioxide's own Redis adapter (`socketioxide-redis`, fred
//!   driver); every handler is generic over the adapter.
//! - [`Kv`] (`kv.rs`): the state nodes share in Redis (names, the chat history).
//! - [`Bus`] (`bus.rs`): messages that are not socket.io packets (cursor moves, who is
//!   connected where), over the adapter's own pub/sub driver.
//! - [`Members`] (`members.rs`): every namespace's sockets across the cluster, with the node
//!   that holds each, kept by heartbeats so a dead node's sockets disappear.
//!
//! Without `--redis-url` none of this exists: single-node mode is the embedded default.

mod bus;
mod kv;
mod members;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::protocol::{remote, signal, Namespace};

use crate::tasks::Tasks;

pub use bus::{Bus, DriverBus, MemoryDriver, MemoryHub};
pub use kv::{Kv, KvResult, MemoryKv, RedisKv, Seat, Unreachable};
pub use members::Members;

/// How long a request to Redis may take before it counts as failed: a missing node or Redis
/// must not stall every lookup.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How long opening a connection and the first subscriptions may take.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Nodes say they are alive this often; one silent for [`NODE_TIMEOUT`] is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
pub const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// Channel and key prefix of everything Switchboard keeps in Redis.
pub const PREFIX: &str = "switchboard";
/// Messages from other nodes that may wait to be read (see [`connect`]).
const SUBSCRIBER_QUEUE: usize = 1024;

/// This node's view of the cluster. Cheap to share (`Arc`).
pub struct Cluster {
    /// This node's id (socketioxide's server id), unique in the cluster.
    pub node: String,
    /// The shared state.
    pub kv: Arc<dyn Kv>,
    /// The other nodes, for what is not a socket.io packet.
    pub bus: Arc<dyn Bus>,
    /// Whether Redis answers, how fast, and how many nodes are heard.
    pub health: Arc<ClusterHealth>,
    /// Who is connected where, for the namespaces that relay to one socket.
    members: HashMap<&'static str, Arc<Members>>,
    /// The node's tasks: what follows the other nodes runs here.
    pub tasks: Tasks,
}

impl Cluster {
    /// Joins the cluster as `node` (must run inside a tokio runtime: it starts following the
    /// other nodes, in `tasks`).
    pub fn new(node: String, kv: Arc<dyn Kv>, bus: Arc<dyn Bus>, tasks: Tasks) -> Cluster {
        let health = Arc::new(ClusterHealth::default());
        let mut cluster = Cluster {
            node,
            kv,
            bus,
            health,
            members: HashMap::new(),
            tasks,
        };
        for path in [remote::Remote::PATH, signal::Signalling::PATH] {
            let members = cluster.start_members(path);
            cluster.members.insert(path, members);
        }
        cluster
    }

    /// Starts following who is connected to `ns` (a namespace, or a part of one) on every node.
    pub fn start_members(&self, ns: &str) -> Arc<Members> {
        Members::start(
            &self.node,
            self.bus.clone(),
            self.health.clone(),
            ns,
            &self.tasks,
        )
    }

    /// Who is connected to namespace `path` across the cluster, if it is followed.
    pub fn members(&self, path: &str) -> Option<&Arc<Members>> {
        self.members.get(path)
    }

    /// Times a request to Redis, and notes whether Redis answered.
    pub async fn request<T>(
        &self,
        request: impl std::future::Future<Output = KvResult<T>>,
    ) -> KvResult<T> {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Unreachable("no answer within a second".into())),
        };
        self.health.took(started.elapsed());
        self.health.reachable(outcome.is_ok());
        outcome
    }

    /// The list at `key`, each item read as JSON (an unreadable one is skipped); empty when
    /// Redis does not answer, which is logged as `what` not being readable.
    pub async fn read_list<T: serde::de::DeserializeOwned>(&self, key: &str, what: &str) -> Vec<T> {
        match self.request(self.kv.list(key)).await {
            Ok(items) => items
                .iter()
                .filter_map(|item| serde_json::from_str(item).ok())
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "{what} could not be read");
                Vec::new()
            }
        }
    }

    /// The room every socket of this node is in: broadcasting "except it" reaches the other
    /// nodes only (this node delivers to its own sockets itself).
    pub fn node_room(&self) -> String {
        format!("node:{}", self.node)
    }
}

/// The cluster as this node sees it: whether Redis answers (logged once when it goes and once
/// when it is back), how fast, and how many other nodes it hears.
#[derive(Default)]
pub struct ClusterHealth {
    down: AtomicBool,
    requests: AtomicU64,
    request_micros: AtomicU64,
    request_micros_max: AtomicU64,
    /// Other nodes heard from within [`NODE_TIMEOUT`].
    nodes_seen: AtomicU64,
}

impl ClusterHealth {
    pub fn reachable(&self, reachable: bool) {
        let was_down = self.down.swap(!reachable, Relaxed);
        match (was_down, reachable) {
            (false, false) => tracing::error!(
                "Redis cannot be reached: each node serves its own clients until it is back"
            ),
            (true, true) => tracing::info!("Redis is back: the nodes act as one again"),
            _ => {}
        }
    }

    pub fn is_up(&self) -> bool {
        !self.down.load(Relaxed)
    }

    fn took(&self, took: Duration) {
        let micros = took.as_micros() as u64;
        self.requests.fetch_add(1, Relaxed);
        self.request_micros.fetch_add(micros, Relaxed);
        self.request_micros_max.fetch_max(micros, Relaxed);
    }

    pub fn set_nodes_seen(&self, nodes: usize) {
        self.nodes_seen.store(nodes as u64, Relaxed);
    }

    /// Prometheus lines for `/metrics`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let seconds = |micros: u64| micros as f64 / 1e6;
        let _ = write!(
            out,
            "# HELP switchboard_redis_connected Whether this node reaches the cluster's Redis.\n\
             # TYPE switchboard_redis_connected gauge\n\
             switchboard_redis_connected {}\n\
             # HELP switchboard_cluster_nodes_seen Other nodes heard from in the last few seconds.\n\
             # TYPE switchboard_cluster_nodes_seen gauge\n\
             switchboard_cluster_nodes_seen {}\n\
             # HELP switchboard_redis_request_seconds Time of this node's requests to Redis.\n\
             # TYPE switchboard_redis_request_seconds summary\n\
             switchboard_redis_request_seconds_sum {:.6}\n\
             switchboard_redis_request_seconds_count {}\n\
             # HELP switchboard_redis_request_seconds_max The slowest request to Redis so far.\n\
             # TYPE switchboard_redis_request_seconds_max gauge\n\
             switchboard_redis_request_seconds_max {:.6}\n",
            u8::from(self.is_up()),
            self.nodes_seen.load(Relaxed),
            seconds(self.request_micros.load(Relaxed)),
            self.requests.load(Relaxed),
            seconds(self.request_micros_max.load(Relaxed)),
        );
    }
}

/// The fred clients of a node that runs against a real Redis.
#[derive(Clone)]
pub struct RedisClients {
    /// Commands (names, history).
    pub commands: fred::clients::Client,
    /// The adapter's and the bus's subscriptions.
    pub subscriber: fred::clients::SubscriberClient,
}

impl RedisClients {
    /// The node has started: from now on a command answers within [`REQUEST_TIMEOUT`] or
    /// fails (what the pages wait for is never held up by a Redis that went away).
    pub fn started(&self) {
        fn answer_within_a_request(client: &impl fred::prelude::ClientLike) {
            // Each keeps the rest of its own settings (the subscriber's longer queue).
            let mut performance = client.perf_config();
            performance.default_command_timeout = REQUEST_TIMEOUT;
            client.update_perf_config(performance);
        }
        answer_within_a_request(&self.commands);
        answer_within_a_request(&self.subscriber);
    }

    /// Closes both connections: fred's own tasks end with them.
    pub async fn quit(self) {
        use fred::interfaces::ClientLike;
        let (commands, subscriber) =
            futures_util::join!(self.commands.quit(), self.subscriber.quit());
        for error in [commands.err(), subscriber.err()].into_iter().flatten() {
            tracing::debug!(%error, "a Redis connection did not close cleanly");
        }
    }
}

/// Subscribes again to every channel after each reconnect. (fred's own `manage_subscriptions`
/// sends `SUBSCRIBE` and `PSUBSCRIBE` even with nothing to subscribe to; Redis refuses those,
/// and it stops before the shard channels, which are the only ones socketioxide's adapter
/// and we use: cross-node traffic would then never come back.)
async fn resubscribe(subscriber: fred::clients::SubscriberClient) {
    use fred::interfaces::{EventInterface, PubsubInterface};
    let mut reconnects = subscriber.reconnect_rx();
    loop {
        match reconnects.recv().await {
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        let shard: Vec<String> = subscriber
            .tracked_shard_channels()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let plain: Vec<String> = subscriber
            .tracked_channels()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let patterns: Vec<String> = subscriber
            .tracked_patterns()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let mut outcome = Ok(());
        if !shard.is_empty() {
            outcome = outcome.and(subscriber.ssubscribe(shard).await);
        }
        if !plain.is_empty() {
            outcome = outcome.and(subscriber.subscribe(plain).await);
        }
        if !patterns.is_empty() {
            outcome = outcome.and(subscriber.psubscribe(patterns).await);
        }
        if let Err(error) = outcome {
            tracing::error!(%error, "could not subscribe again after Redis came back");
        }
    }
}

/// Why Redis could not be used at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--redis-url {url:?} is not a Redis URL: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// Connects to Redis at `url`: clients that reconnect by themselves (every half second,
/// forever), answer within [`REQUEST_TIMEOUT`] or fail, and resubscribe after a reconnect
/// (a loop in `tasks`).
pub async fn connect(url: &str, tasks: &Tasks) -> Result<RedisClients, ConnectError> {
    use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
    use fred::types::RespVersion;
    let mut config = Config::from_url(url).map_err(|e| ConnectError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    // socketioxide-redis's drivers speak RESP3 (Redis 7 and later).
    config.version = RespVersion::RESP3;
    let builder = || {
        let mut builder = Builder::from_config(config.clone());
        builder
            .with_performance_config(|performance| {
                // Until the node has started (see `RedisClients::started`): a busy machine may
                // take longer than a request to subscribe every namespace.
                performance.default_command_timeout = STARTUP_TIMEOUT;
            })
            .with_connection_config(|connection| {
                // Only for opening a connection: a busy machine may take longer than a request.
                connection.connection_timeout = STARTUP_TIMEOUT;
            })
            .set_policy(ReconnectPolicy::new_constant(0, 500));
        builder
    };
    let unreachable = |e: fred::error::Error| ConnectError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let commands = builder().build().map_err(unreachable)?;
    let subscriber = builder()
        .with_performance_config(|performance| {
            // Every message the node hears (each socket.io broadcast from another node, each
            // cursor move) passes through one of fred's broadcast channels, whose default of
            // 32 dropped messages whenever the task that reads it waited a moment: a busy
            // node lost a burst of `joined` (seen in a CI run). As many as the adapter's own
            // queue behind it holds.
            performance.broadcast_channel_capacity = SUBSCRIBER_QUEUE;
        })
        .build_subscriber_client()
        .map_err(unreachable)?;
    commands.init().await.map_err(unreachable)?;
    // After Redis comes back, subscribe again to every channel (the adapter's and ours).
    tasks.spawn(resubscribe(subscriber.clone()));
    Ok(RedisClients {
        commands,
        subscriber,
    })
}
