//! Who is connected to one namespace anywhere in the cluster, and on which node (each with a
//! label, for `/chat` its name).
//!
//! Each node tells the others when one of its sockets joins or leaves, and repeats its whole
//! list every [`HEARTBEAT`]; a node not heard from for [`NODE_TIMEOUT`] is gone, and so are its
//! sockets. Whoever cares (the `/signal` client list) is told of every change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Bus, ClusterHealth, HEARTBEAT, NODE_TIMEOUT, PREFIX};
use crate::sync::lock;
use crate::tasks::Tasks;

/// One node's news about its sockets.
#[derive(Debug, Serialize, Deserialize)]
struct News {
    node: String,
    /// Sockets that joined (or changed label), with their labels.
    #[serde(default)]
    joined: BTreeMap<String, String>,
    #[serde(default)]
    left: Vec<String>,
    /// Its whole list (a heartbeat), replacing what was known of it.
    #[serde(default)]
    all: Option<BTreeMap<String, String>>,
}

/// One namespace's sockets across the cluster.
pub struct Members {
    /// This node's id.
    node: String,
    bus: Arc<dyn Bus>,
    health: Arc<ClusterHealth>,
    channel: String,
    state: Mutex<State>,
    /// Bumped on every change on another node.
    remote_changes: watch::Sender<u64>,
    /// The node's tasks: the listening and heartbeat loops, and each publish.
    tasks: Tasks,
}

#[derive(Default)]
struct State {
    local: BTreeMap<String, String>,
    /// Other nodes' sockets, and when each node was last heard from.
    remote: HashMap<String, (Instant, BTreeMap<String, String>)>,
}

impl Members {
    /// Starts following namespace `ns`, in `tasks` (must run inside a tokio runtime).
    pub fn start(
        node: &str,
        bus: Arc<dyn Bus>,
        health: Arc<ClusterHealth>,
        ns: &str,
        tasks: &Tasks,
    ) -> Arc<Members> {
        let members = Arc::new(Members {
            channel: format!("{PREFIX}:members:{ns}"),
            node: node.to_owned(),
            bus,
            health,
            state: Mutex::default(),
            remote_changes: watch::Sender::new(0),
            tasks: tasks.clone(),
        });
        tasks.spawn(listen(
            members.bus.clone(),
            members.channel.clone(),
            Arc::downgrade(&members),
        ));
        tasks.spawn(heartbeat(Arc::downgrade(&members)));
        members
    }

    pub fn joined(&self, id: &str) {
        self.joined_as(id, "");
    }

    /// A socket of this node joined (or changed its label).
    pub fn joined_as(&self, id: &str, label: &str) {
        lock(&self.state)
            .local
            .insert(id.to_owned(), label.to_owned());
        self.publish(News {
            node: self.node.clone(),
            joined: BTreeMap::from([(id.to_owned(), label.to_owned())]),
            left: vec![],
            all: None,
        });
    }

    pub fn left(&self, id: &str) {
        lock(&self.state).local.remove(id);
        self.publish(News {
            node: self.node.clone(),
            joined: BTreeMap::new(),
            left: vec![id.to_owned()],
            all: None,
        });
    }

    /// Every socket of the namespace, on every node.
    pub fn all(&self) -> BTreeSet<String> {
        let state = lock(&self.state);
        let mut all: BTreeSet<String> = state.local.keys().cloned().collect();
        for (_, ids) in state.remote.values() {
            all.extend(ids.keys().cloned());
        }
        all
    }

    /// The other nodes' sockets, with their labels.
    pub fn remote(&self) -> BTreeMap<String, String> {
        lock(&self.state)
            .remote
            .values()
            .flat_map(|(_, ids)| ids.clone())
            .collect()
    }

    /// Whether a socket with this id is connected on another node.
    pub fn is_remote(&self, id: &str) -> bool {
        lock(&self.state)
            .remote
            .values()
            .any(|(_, ids)| ids.contains_key(id))
    }

    /// How many other nodes were heard from lately.
    pub fn nodes_seen(&self) -> usize {
        lock(&self.state).remote.len()
    }

    /// Changes on the other nodes (a socket came or went, a node died), as a counter.
    pub fn remote_changes(&self) -> watch::Receiver<u64> {
        self.remote_changes.subscribe()
    }

    fn bump(&self) {
        self.remote_changes.send_modify(|n| *n += 1);
    }

    fn publish(&self, news: News) {
        let Ok(message) = serde_json::to_vec(&news) else {
            return;
        };
        let (bus, channel, health) = (self.bus.clone(), self.channel.clone(), self.health.clone());
        // Not awaited by the caller (a handler must not wait for Redis), but the node's: a
        // stopped node publishes nothing more.
        self.tasks.spawn(async move {
            // A failed publish is logged (once, by the health); the heartbeat repairs it.
            let sent = bus.publish(&channel, message).await;
            health.reachable(sent.is_ok());
        });
    }

    fn hear(&self, news: News) {
        if news.node == self.node {
            return;
        }
        let mut state = lock(&self.state);
        let known = state
            .remote
            .entry(news.node)
            .or_insert_with(|| (Instant::now(), BTreeMap::new()));
        known.0 = Instant::now();
        let before = known.1.clone();
        if let Some(all) = news.all {
            known.1 = all;
        }
        known.1.extend(news.joined);
        for id in &news.left {
            known.1.remove(id);
        }
        let changed = known.1 != before;
        drop(state);
        if changed {
            self.bump();
        }
    }

    /// Forgets nodes not heard from lately; whether any was forgotten with sockets.
    fn forget_silent_nodes(&self) -> bool {
        let mut state = lock(&self.state);
        let before = state.remote.len();
        let mut lost_sockets = false;
        state.remote.retain(|_, (heard, ids)| {
            let alive = heard.elapsed() < NODE_TIMEOUT;
            lost_sockets |= !alive && !ids.is_empty();
            alive
        });
        if state.remote.len() != before {
            tracing::warn!(
                gone = before - state.remote.len(),
                "a node stopped answering: its sockets are gone"
            );
        }
        lost_sockets
    }
}

async fn listen(bus: Arc<dyn Bus>, channel: String, members: std::sync::Weak<Members>) {
    let mut heard = loop {
        match bus.subscribe(&channel).await {
            Ok(stream) => break stream,
            Err(error) => {
                tracing::warn!(%error, channel, "cannot follow the other nodes yet; retrying");
                tokio::time::sleep(HEARTBEAT).await;
            }
        }
    };
    while let Some(message) = heard.next().await {
        let Some(members) = members.upgrade() else {
            return;
        };
        match serde_json::from_slice::<News>(&message) {
            Ok(news) => members.hear(news),
            Err(error) => tracing::warn!(%error, "unreadable news from another node"),
        }
    }
}

async fn heartbeat(members: std::sync::Weak<Members>) {
    let mut beats = tokio::time::interval(HEARTBEAT);
    loop {
        beats.tick().await;
        let Some(members) = members.upgrade() else {
            return;
        };
        let all = lock(&members.state).local.clone();
        members.publish(News {
            node: members.node.clone(),
            joined: BTreeMap::new(),
            left: vec![],
            all: Some(all),
        });
        if members.forget_silent_nodes() {
            members.bump();
        }
        members.health.set_nodes_seen(members.nodes_seen());
    }
}
