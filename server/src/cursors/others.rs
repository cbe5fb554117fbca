//! The cursors of the other nodes of a cluster. Every tick each node publishes what moved and
//! left among its own clients (one message per node per tick, never one per client), and its
//! whole map once a second; a node silent for [`NODE_TIMEOUT`] is gone, and so are its cursors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, NODE_TIMEOUT, PREFIX};
use crate::sync::lock;

/// Ticks between two whole maps (a newcomer node learns everyone within a second).
pub const FULL_EVERY: u64 = 10;

/// One node's tick.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tick {
    pub node: String,
    /// `[id, x, y]` of the cursors that moved (or, with `all`, of every cursor).
    pub moved: Vec<(String, f64, f64)>,
    pub left: Vec<String>,
    /// `moved` is the node's whole map.
    #[serde(default)]
    pub all: bool,
}

/// What the other nodes' cursors are, and what changed since this node's last tick.
#[derive(Default)]
pub struct Others {
    nodes: HashMap<String, Node>,
    moved: BTreeMap<String, (f64, f64)>,
    left: BTreeSet<String>,
}

struct Node {
    heard: Instant,
    cursors: HashMap<String, (f64, f64)>,
}

/// Changes since the last time they were taken.
pub struct Heard {
    pub moved: BTreeMap<String, (f64, f64)>,
    pub left: BTreeSet<String>,
}

impl Others {
    fn apply(&mut self, tick: Tick) {
        let node = self.nodes.entry(tick.node).or_insert_with(|| Node {
            heard: Instant::now(),
            cursors: HashMap::new(),
        });
        node.heard = Instant::now();
        if tick.all {
            let now: HashMap<String, (f64, f64)> = tick
                .moved
                .iter()
                .map(|(id, x, y)| (id.clone(), (*x, *y)))
                .collect();
            for id in node.cursors.keys().filter(|id| !now.contains_key(*id)) {
                self.left.insert(id.clone());
                self.moved.remove(id);
            }
            for (id, at) in &now {
                if node.cursors.get(id) != Some(at) {
                    self.moved.insert(id.clone(), *at);
                    self.left.remove(id);
                }
            }
            node.cursors = now;
            return;
        }
        for (id, x, y) in tick.moved {
            node.cursors.insert(id.clone(), (x, y));
            self.left.remove(&id);
            self.moved.insert(id, (x, y));
        }
        for id in tick.left {
            node.cursors.remove(&id);
            self.moved.remove(&id);
            self.left.insert(id);
        }
    }

    /// Drops the nodes not heard from lately (their cursors leave) and takes what changed.
    pub fn take(&mut self) -> Heard {
        let silent: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.heard.elapsed() >= NODE_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            if let Some(node) = self.nodes.remove(&id) {
                for cursor in node.cursors.into_keys() {
                    self.moved.remove(&cursor);
                    self.left.insert(cursor);
                }
            }
        }
        Heard {
            moved: std::mem::take(&mut self.moved),
            left: std::mem::take(&mut self.left),
        }
    }

    /// Every cursor of the other nodes.
    pub fn all(&self) -> impl Iterator<Item = (&String, &(f64, f64))> {
        self.nodes.values().flat_map(|node| node.cursors.iter())
    }
}

fn channel() -> String {
    format!("{PREFIX}:cursors")
}

/// Follows the other nodes' ticks into `others` for as long as it exists (a loop for the
/// node's tasks).
pub async fn follow(cluster: Arc<Cluster>, others: Weak<Mutex<Others>>) {
    let mut heard = loop {
        match cluster.bus.subscribe(&channel()).await {
            Ok(stream) => break stream,
            Err(error) => {
                tracing::warn!(%error, "cannot follow the other nodes' cursors yet; retrying");
                tokio::time::sleep(crate::cluster::HEARTBEAT).await;
            }
        }
    };
    while let Some(message) = heard.next().await {
        let Some(others) = others.upgrade() else {
            return;
        };
        match serde_json::from_slice::<Tick>(&message) {
            Ok(tick) if tick.node != cluster.node => lock(&others).apply(tick),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "an unreadable cursor tick from another node"),
        }
    }
}

/// Tells the other nodes about this node's tick.
pub async fn publish(cluster: &Cluster, tick: Tick) {
    let Ok(message) = serde_json::to_vec(&tick) else {
        return;
    };
    let sent = cluster.bus.publish(&channel(), message).await;
    cluster.health.reachable(sent.is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(node: &str, moved: &[(&str, f64)], left: &[&str], all: bool) -> Tick {
        Tick {
            node: node.into(),
            moved: moved
                .iter()
                .map(|(id, x)| (id.to_string(), *x, 0.5))
                .collect(),
            left: left.iter().map(|id| id.to_string()).collect(),
            all,
        }
    }

    #[test]
    fn moves_and_leaves_are_merged_and_a_whole_map_repairs_what_was_missed() {
        let mut others = Others::default();
        others.apply(tick("b", &[("x", 0.1), ("y", 0.2)], &[], false));
        let heard = others.take();
        assert_eq!(heard.moved.len(), 2);
        assert_eq!(others.all().count(), 2);
        // A missed "left y" is repaired by the next whole map.
        others.apply(tick("b", &[("x", 0.3)], &[], true));
        let heard = others.take();
        assert_eq!(heard.moved.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(heard.left.iter().collect::<Vec<_>>(), ["y"]);
        others.apply(tick("b", &[], &["x"], false));
        assert_eq!(others.take().left.iter().collect::<Vec<_>>(), ["x"]);
        assert_eq!(others.all().count(), 0);
    }
}
