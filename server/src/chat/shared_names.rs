//! Names in cluster mode: unique across every node, claimed atomically in Redis.
//!
//! Each look-alike key of a name (`lookalike.rs`) is one Redis key, set only if absent, to
//! `<node>:<socket>:<session>`, with a time to live the holding node renews. A claim with
//! the holder's session takes the key over (compare-and-set) and names the ghost socket, on
//! whichever node it is. A rename claims the new
//! name before it releases the old one; a release deletes a key only if it still holds our
//! value. A node that dies stops renewing: its names are free within [`TTL`]. When Redis
//! cannot be reached, a claim is refused (never two holders of one name).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use app::protocol::chat::{Nickname, Sender, SessionKey};
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
    /// This node's named sockets: their name, the keys they hold, and the value in them.
    held: Mutex<HashMap<Sid, Held>>,
}

struct Held {
    name: Nickname,
    keys: Vec<String>,
    value: String,
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
    /// Starts renewing this node's names, in the node's tasks (must run inside a tokio
    /// runtime).
    pub fn new(cluster: Arc<Cluster>) -> SharedNames {
        let tasks = cluster.tasks.clone();
        let names = SharedNames {
            inner: Arc::new(Inner {
                cluster,
                held: Mutex::default(),
            }),
        };
        tasks.spawn(renew(Arc::downgrade(&names.inner)));
        names
    }

    fn value(&self, sid: Sid, session: Option<&SessionKey>) -> String {
        let session = session.map_or("", SessionKey::as_str);
        format!("{}:{sid}:{session}", self.inner.cluster.node)
    }

    /// Gives `name` to `sid`: the new keys first, then the old ones go. Keys held by a
    /// socket with the same `session` are taken over; that socket is returned.
    pub async fn claim(
        &self,
        sid: Sid,
        name: Nickname,
        session: Option<&SessionKey>,
    ) -> Result<Option<Sid>, Rejection> {
        let value = self.value(sid, session);
        let wanted: Vec<String> = lookalike::keys(&name).iter().map(|k| key(k)).collect();
        let previous = lock(&self.inner.held)
            .get(&sid)
            .map(|held| (held.keys.clone(), held.value.clone()));
        let cluster = &self.inner.cluster;
        let mut taken_now = Vec::new();
        let mut ghost = None;
        let mut refusal = None;
        for key in &wanted {
            if previous
                .as_ref()
                .is_some_and(|(keys, v)| keys.contains(key) && *v == value)
            {
                continue;
            }
            match cluster
                .request(cluster.kv.set_if_absent(key, &value, TTL))
                .await
            {
                Ok(true) => {
                    taken_now.push(key.clone());
                    continue;
                }
                Ok(false) => {}
                Err(_) => {
                    refusal = Some(unreachable());
                    break;
                }
            }
            let holder = cluster.request(cluster.kv.get(key)).await.ok().flatten();
            let Some(holder) = holder else {
                refusal = Some(lookalike::taken(&name));
                break;
            };
            match ghost_of(&holder, &value, session) {
                // Ours already (a rename that keeps a key, or a new session on the same socket).
                _ if holder.split(':').nth(1) == Some(&sid.to_string()) => {
                    let replaced =
                        cluster.request(cluster.kv.replace_if(key, &holder, &value, TTL));
                    if !matches!(replaced.await, Ok(true)) {
                        refusal = Some(unreachable());
                        break;
                    }
                }
                Some(other) if ghost.is_none_or(|g| g == other) => {
                    let replaced =
                        cluster.request(cluster.kv.replace_if(key, &holder, &value, TTL));
                    if !matches!(replaced.await, Ok(true)) {
                        refusal = Some(lookalike::taken(&name));
                        break;
                    }
                    taken_now.push(key.clone());
                    ghost = Some(other);
                }
                _ => {
                    refusal = Some(lookalike::taken(&name));
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
        if let Some((keys, old_value)) = &previous {
            for key in keys.iter().filter(|key| !wanted.contains(key)) {
                let _ = cluster.request(cluster.kv.delete_if(key, old_value)).await;
            }
        }
        let mut held = lock(&self.inner.held);
        if let Some(ghost) = ghost {
            // On this node, the ghost's entry goes now (its keys are ours already).
            held.remove(&ghost);
        }
        held.insert(
            sid,
            Held {
                name,
                keys: wanted,
                value,
            },
        );
        Ok(ghost)
    }

    pub fn sender(&self, sid: Sid) -> Option<Sender> {
        let held = lock(&self.inner.held);
        Some(Sender {
            id: sid.to_string(),
            name: held.get(&sid)?.name.clone(),
        })
    }

    /// Frees the name of a socket that left.
    pub async fn release(&self, sid: Sid) {
        let Some(held) = lock(&self.inner.held).remove(&sid) else {
            return;
        };
        let cluster = &self.inner.cluster;
        for key in held.keys {
            let _ = cluster
                .request(cluster.kv.delete_if(&key, &held.value))
                .await;
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
        let held: Vec<(Sid, Vec<String>, String)> = lock(&inner.held)
            .iter()
            .map(|(sid, held)| (*sid, held.keys.clone(), held.value.clone()))
            .collect();
        for (sid, keys, value) in held {
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
                        // Or taken over by the same page's newer connection.
                        tracing::warn!(%sid, key, "a name was lost while Redis was out of reach");
                    }
                }
            }
        }
    }
}

/// The socket holding a key with value `holder`, if it came with our `session` (and so is a
/// previous connection of the claiming page); never when either has no session.
fn ghost_of(holder: &str, ours: &str, session: Option<&SessionKey>) -> Option<Sid> {
    let session = session?.as_str();
    let mut parts = holder.splitn(3, ':');
    let (_node, sid, theirs) = (parts.next()?, parts.next()?, parts.next()?);
    (theirs == session && holder != ours).then(|| sid.parse().ok())?
}
