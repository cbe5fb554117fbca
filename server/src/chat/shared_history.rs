//! The history of a cluster, in Redis, the same for every node: ids from one counter, the
//! latest messages in a capped list, those of the last two minutes (for a resume) in a longer
//! one, and senders' message ids as keys that expire. How durable it is depends on Redis's
//! persistence (`appendonly yes` keeps it across a Redis restart).

use std::sync::Arc;

use app::protocol::chat::{HistoryEntry, HISTORY_LEN};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::resume::{missed, window_start_ms, NotSaved, RESUME_CAP, SENT_FOR};
use crate::cluster::{Cluster, PREFIX};

#[derive(Clone)]
pub struct SharedHistory {
    pub cluster: Arc<Cluster>,
}

fn key(what: &str) -> String {
    format!("{PREFIX}:chat:{what}")
}

impl SharedHistory {
    pub async fn next_id(&self) -> Result<u64, NotSaved> {
        let cluster = &self.cluster;
        let id = cluster
            .request(cluster.kv.increment(&key("last-id")))
            .await
            .map_err(|_| NotSaved)?;
        u64::try_from(id).map_err(|_| NotSaved)
    }

    pub async fn recent(&self) -> Vec<HistoryEntry> {
        self.list("history").await
    }

    pub async fn since(&self, last_seen: u64) -> Option<Vec<HistoryEntry>> {
        let from = window_start_ms();
        let kept: Vec<HistoryEntry> = self
            .list("recent")
            .await
            .into_iter()
            .filter(|e| e.at >= from)
            .collect();
        let cluster = &self.cluster;
        let newest = cluster
            .request(cluster.kv.get(&key("last-id")))
            .await
            .ok()?
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        missed(&kept, last_seen, newest)
    }

    pub async fn first_time(&self, client_id: &str) -> bool {
        let cluster = &self.cluster;
        let sent = key(&format!("sent:{client_id}"));
        // Unreachable: deliver it (a rare duplicate beats a lost message).
        cluster
            .request(cluster.kv.set_if_absent(&sent, "1", SENT_FOR))
            .await
            .unwrap_or(true)
    }

    pub fn record(&self, entry: HistoryEntry) -> BoxFuture<'static, Result<(), NotSaved>> {
        let cluster = self.cluster.clone();
        async move {
            let item = serde_json::to_string(&entry).map_err(|_| NotSaved)?;
            cluster
                .request(cluster.kv.push_capped(&key("recent"), &item, RESUME_CAP))
                .await
                .map_err(|_| NotSaved)?;
            cluster
                .request(cluster.kv.push_capped(&key("history"), &item, HISTORY_LEN))
                .await
                .map_err(|_| NotSaved)
        }
        .boxed()
    }

    async fn list(&self, what: &str) -> Vec<HistoryEntry> {
        self.cluster.read_list(&key(what), "the chat history").await
    }
}
