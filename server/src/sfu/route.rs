//! Where a member's media go: this node's SFU alone, or, in a cluster, the SFU of the node
//! that holds the room. A room lives on one node (the first to claim it in Redis, a lease its
//! node renews while the room has media there); a member whose socket is on another node has
//! its first offer carried there and the answer back over the cluster's pub/sub, and then
//! talks to that node's SFU directly (UDP, the data channel). Only the first offer and the
//! leave cross between nodes. A node that dies ends its rooms' media; its lease runs out within
//! [`LEASE`], and the pages' reconnection claims the room anew on a node that lives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::meet::RoomName;
use app::protocol::PeerId;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Sfu;
use crate::cluster::{Cluster, PREFIX};
use crate::sync::lock;
use crate::tasks::Tasks;

/// How long a room stays on a node after the node last said it holds it.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a node renews the rooms it holds.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How long a node waits for another node's SFU to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What nodes ask each other's SFU.
#[derive(Serialize, Deserialize)]
enum Ask {
    Join {
        id: u64,
        from: String,
        room: RoomName,
        member: PeerId,
        offer: String,
    },
    Leave {
        member: PeerId,
    },
}

#[derive(Serialize, Deserialize)]
struct Answer {
    id: u64,
    answer: Result<String, String>,
}

/// The `/meet` handlers' way to the SFU. Cheap to share (`Arc`).
pub struct MediaRoute {
    pub sfu: Sfu,
    cluster: Option<Arc<Cluster>>,
    /// Requests to other nodes waiting for their answer.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<String, String>>>>,
    next_id: AtomicU64,
    /// Members whose media are on another node, and which.
    elsewhere: Mutex<HashMap<PeerId, String>>,
    /// Rooms this node claimed, with how many renewals in a row found no media of theirs
    /// here (a lease is given up at the second: a room is claimed just before its first
    /// member's connection is made).
    claimed: Mutex<HashMap<RoomName, u8>>,
}

fn home_key(room: &RoomName) -> String {
    format!("{PREFIX}:sfu-home:{room}")
}

fn asks(node: &str) -> String {
    format!("{PREFIX}:sfu-ask:{node}")
}

fn answers(node: &str) -> String {
    format!("{PREFIX}:sfu-answer:{node}")
}

impl MediaRoute {
    /// This node's SFU, and in a cluster, the tasks that answer the other nodes and renew
    /// this node's rooms.
    pub fn new(sfu: Sfu, cluster: Option<Arc<Cluster>>, tasks: &Tasks) -> Arc<MediaRoute> {
        let route = Arc::new(MediaRoute {
            sfu,
            cluster: cluster.clone(),
            waiting: Mutex::default(),
            next_id: AtomicU64::new(1),
            elsewhere: Mutex::default(),
            claimed: Mutex::default(),
        });
        if cluster.is_some() {
            tasks.spawn(route.clone().serve_asks());
            tasks.spawn(route.clone().take_answers());
            tasks.spawn(route.clone().renew_leases());
        }
        route
    }

    /// A seated member's first offer, to the SFU that holds its room; the answer.
    pub async fn join(
        &self,
        room: RoomName,
        member: PeerId,
        offer: String,
    ) -> Result<String, String> {
        let Some(cluster) = &self.cluster else {
            return self.sfu.join(room, member, offer).await;
        };
        let home = self.home(cluster, &room).await?;
        if home == cluster.node {
            lock(&self.elsewhere).remove(&member);
            return self.sfu.join(room, member, offer).await;
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let ask = Ask::Join {
            id,
            from: cluster.node.clone(),
            room,
            member: member.clone(),
            offer,
        };
        let sent = tell(cluster, &home, &ask).await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(ANSWER_WITHIN, rx).await,
            Err(error) => Ok(Ok(Err(error))),
        };
        lock(&self.waiting).remove(&id);
        match answer {
            Ok(Ok(answer)) => {
                if answer.is_ok() {
                    lock(&self.elsewhere).insert(member, home);
                }
                answer
            }
            _ => Err("The meeting's server did not answer: try again in a few seconds.".into()),
        }
    }

    /// Ends a member's media, wherever they are.
    pub fn leave(&self, member: PeerId) {
        let home = lock(&self.elsewhere).remove(&member);
        match (home, &self.cluster) {
            (Some(home), Some(cluster)) => {
                let cluster = cluster.clone();
                tokio::spawn(async move {
                    let _ = tell(&cluster, &home, &Ask::Leave { member }).await;
                });
            }
            _ => self.sfu.leave(member),
        }
    }

    /// The node that holds `room`: the one that claimed it, or this one if none has.
    async fn home(&self, cluster: &Cluster, room: &RoomName) -> Result<String, String> {
        let key = home_key(room);
        let unreachable = |_| "The meeting's server cannot be reached: try again.".to_owned();
        let claimed = cluster
            .request(cluster.kv.set_if_absent(&key, &cluster.node, LEASE))
            .await
            .map_err(unreachable)?;
        if claimed {
            lock(&self.claimed).insert(room.clone(), 0);
            return Ok(cluster.node.clone());
        }
        match cluster
            .request(cluster.kv.get(&key))
            .await
            .map_err(unreachable)?
        {
            Some(node) => {
                if node == cluster.node {
                    lock(&self.claimed).insert(room.clone(), 0);
                }
                Ok(node)
            }
            // It ran out just now: claim it.
            None => Box::pin(self.home(cluster, room)).await,
        }
    }

    /// Answers other nodes' joins and leaves for rooms held here.
    async fn serve_asks(self: Arc<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let Ok(mut stream) = cluster.bus.subscribe(&asks(&cluster.node)).await else {
            tracing::warn!("SFU: cannot hear the other nodes: their members' media stay there");
            return;
        };
        while let Some(message) = stream.next().await {
            match serde_json::from_slice::<Ask>(&message) {
                Ok(Ask::Join {
                    id,
                    from,
                    room,
                    member,
                    offer,
                }) => {
                    let (route, cluster) = (self.clone(), cluster.clone());
                    tokio::spawn(async move {
                        lock(&route.claimed).insert(room.clone(), 0);
                        let answer = route.sfu.join(room, member, offer).await;
                        let reply = serde_json::to_vec(&Answer { id, answer }).unwrap_or_default();
                        let _ = cluster.bus.publish(&answers(&from), reply).await;
                    });
                }
                Ok(Ask::Leave { member }) => self.sfu.leave(member),
                Err(_) => tracing::warn!("SFU: an unreadable message from another node"),
            }
        }
    }

    /// Hands other nodes' answers to the joins waiting for them.
    async fn take_answers(self: Arc<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let Ok(mut stream) = cluster.bus.subscribe(&answers(&cluster.node)).await else {
            return;
        };
        while let Some(message) = stream.next().await {
            if let Ok(Answer { id, answer }) = serde_json::from_slice(&message) {
                if let Some(waiting) = lock(&self.waiting).remove(&id) {
                    let _ = waiting.send(answer);
                }
            }
        }
    }

    /// Keeps the leases of the rooms whose media are here; gives up those that emptied.
    async fn renew_leases(self: Arc<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let mut every = tokio::time::interval(RENEW_EVERY);
        loop {
            every.tick().await;
            let held = self.sfu.rooms().await;
            let (renew, give_up): (Vec<RoomName>, Vec<RoomName>) = {
                let mut claimed = lock(&self.claimed);
                for (room, misses) in claimed.iter_mut() {
                    *misses = if held.contains(room) { 0 } else { *misses + 1 };
                }
                let gone: Vec<RoomName> = claimed
                    .iter()
                    .filter(|(_, misses)| **misses >= 2)
                    .map(|(room, _)| room.clone())
                    .collect();
                for room in &gone {
                    claimed.remove(room);
                }
                (claimed.keys().cloned().collect(), gone)
            };
            for room in renew {
                let _ = cluster
                    .request(cluster.kv.renew_if(&home_key(&room), &cluster.node, LEASE))
                    .await;
            }
            for room in give_up {
                let _ = cluster
                    .request(cluster.kv.delete_if(&home_key(&room), &cluster.node))
                    .await;
            }
        }
    }
}

/// Publishes an [`Ask`] to one node.
async fn tell(cluster: &Cluster, node: &str, ask: &Ask) -> Result<(), String> {
    let message = serde_json::to_vec(ask).map_err(|e| e.to_string())?;
    cluster
        .bus
        .publish(&asks(node), message)
        .await
        .map_err(|_| "The meeting's server cannot be reached: try again.".to_owned())
}
