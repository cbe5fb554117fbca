//! Names in cluster mode: unique across every node, claimed atomically in Redis.
//!
//! Each look-alike key of a name (`lookalike.rs`) is one Redis key, set only if absent, to
//! `<node>:<socket>`, with a time to live the holding node renews. A rename claims the new
//! name before it releases the old one; a release deletes a key only if it still holds our
//! value. A node that dies stops renewing: its names are free within [`TTL`]. When Redis
//! cannot be reached, a claim is refused (never two holders of one name).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use app::protocol::chat::{Nickname, Sender};
use app::protocol::Rejection;
use socketioxide::socket::Sid;

use super::lookalike;
use crate::cluster::{Cluster, PREFIX};
use crate::sync::lock;

/// How long a name outlives its node's last renewal, and how often nodes renew.
pub const TTL: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// This node's names, held in Redis. Cheap to clone.
#[derive(Clone)]
pub struct SharedNames {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Arc<Cluster>,
    /// This node's named sockets: their name and the keys they hold.
    held: Mutex<HashMap<Sid, (Nickname, Vec<String>)>>,
}

fn key(lookalike: &str) -> String {
    format!("{PREFIX}:name:{lookalike}")
}

fn unreachable() -> Rejection {
    Rejection::new(
        "Names cannot be checked right now (the server cannot reach its shared store). Please try again in a moment.",
    )
}

impl SharedNames {
    /// Starts renewing this node's names (must run inside a tokio runtime).
    pub fn new(cluster: Arc<Cluster>) -> SharedNames {
        let names = SharedNames {
            inner: Arc::new(Inner {
                cluster,
                held: Mutex::default(),
            }),
        };
        tokio::spawn(renew(Arc::downgrade(&names.inner)));
        names
    }

    fn value(&self, sid: Sid) -> String {
        format!("{}:{sid}", self.inner.cluster.node)
    }

    /// Gives `name` to `sid`: the new keys first, then the old ones go.
    pub async fn claim(&self, sid: Sid, name: Nickname) -> Result<(), Rejection> {
        let value = self.value(sid);
        let wanted: Vec<String> = lookalike::keys(&name).iter().map(|k| key(k)).collect();
        let previous = lock(&self.inner.held)
            .get(&sid)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_default();
        let cluster = &self.inner.cluster;
        let mut taken_now = Vec::new();
        let mut refusal = None;
        for key in wanted.iter().filter(|key| !previous.contains(key)) {
            match cluster
                .request(cluster.kv.set_if_absent(key, &value, TTL))
                .await
            {
                Ok(true) => taken_now.push(key.clone()),
                // Ours already (the same socket, a key both names share).
                Ok(false)
                    if cluster
                        .request(cluster.kv.get(key))
                        .await
                        .ok()
                        .flatten()
                        .as_deref()
                        == Some(&value) => {}
                Ok(false) => {
                    refusal = Some(Rejection::new(format!(
                        "The name “{name}” is already taken (or one that looks just like it). Please choose another."
                    )));
                    break;
                }
                Err(_) => {
                    refusal = Some(unreachable());
                    break;
                }
            }
        }
        if let Some(refusal) = refusal {
            for key in taken_now {
                let _ = cluster.request(cluster.kv.delete_if(&key, &value)).await;
            }
            return Err(refusal);
        }
        for key in previous.iter().filter(|key| !wanted.contains(key)) {
            let _ = cluster.request(cluster.kv.delete_if(key, &value)).await;
        }
        lock(&self.inner.held).insert(sid, (name, wanted));
        Ok(())
    }

    pub fn sender(&self, sid: Sid) -> Option<Sender> {
        let held = lock(&self.inner.held);
        let (name, _) = held.get(&sid)?;
        Some(Sender {
            id: sid.to_string(),
            name: name.clone(),
        })
    }

    /// Frees the name of a socket that left.
    pub async fn release(&self, sid: Sid) {
        let Some((_, keys)) = lock(&self.inner.held).remove(&sid) else {
            return;
        };
        let (cluster, value) = (&self.inner.cluster, self.value(sid));
        for key in keys {
            let _ = cluster.request(cluster.kv.delete_if(&key, &value)).await;
        }
    }
}

impl SharedNames {
    /// Frees every name of this node.
    pub async fn release_all(&self) {
        let sids: Vec<Sid> = lock(&self.inner.held).keys().copied().collect();
        for sid in sids {
            self.release(sid).await;
        }
    }
}

/// Renews this node's keys until its names are dropped.
async fn renew(inner: Weak<Inner>) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let held: Vec<(Sid, Vec<String>)> = lock(&inner.held)
            .iter()
            .map(|(sid, (_, keys))| (*sid, keys.clone()))
            .collect();
        for (sid, keys) in held {
            let value = format!("{}:{sid}", inner.cluster.node);
            for key in keys {
                let renewed = inner
                    .cluster
                    .request(inner.cluster.kv.renew_if(&key, &value, TTL))
                    .await;
                if let Ok(false) = renewed {
                    // It expired while Redis was out of reach; take it back if still free.
                    let retaken = inner
                        .cluster
                        .request(inner.cluster.kv.set_if_absent(&key, &value, TTL))
                        .await;
                    if let Ok(false) = retaken {
                        tracing::warn!(%sid, key, "a name was lost while Redis was out of reach");
                    }
                }
            }
        }
    }
}
