//! Rooms of a few members (a `/meet` meeting): who sits in which room. A seat is taken in one
//! atomic step with reading who sits there already, under this process's lock on one node and
//! in one Redis script in a cluster, so there is one order of arrivals that every node agrees
//! on (see `meet.rs` for the invariant the handlers build on it).
//!
//! In a cluster a seat is a lease its node renews; a node that dies stops renewing, and its
//! members' seats are free within [`LEASE`].

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use app::protocol::{PeerId, Rejection};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cluster::{Cluster, Seat, PREFIX};
use crate::sync::lock;

/// How long a seat outlives its node's last renewal, and how often nodes renew.
const LEASE: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// A seat given.
pub struct Entered<E> {
    /// The entries of those seated before, oldest first.
    pub others: Vec<E>,
    /// The member whose seat was taken over (the same page's previous connection), if any:
    /// it is still a member until it leaves (so the others hear `left`), without a seat.
    pub replaced: Option<PeerId>,
}

/// Why a seat was not given.
#[derive(Debug)]
pub enum NoSeat {
    /// Every seat of the room is taken.
    Full,
    /// The cluster's Redis did not answer.
    Unreachable,
}

/// The rooms of one namespace, with entries `E` (what the others learn of a member). Cheap to
/// clone; clones share the rooms.
pub struct Rooms<R, E> {
    inner: Arc<Inner<R, E>>,
}

impl<R, E> Clone for Rooms<R, E> {
    fn clone(&self) -> Self {
        Rooms {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<R, E> {
    /// Seats per room.
    capacity: usize,
    /// Names the namespace's keys in Redis (`meet`).
    kind: &'static str,
    /// This node's members: their room and entry, and in one process every room's seats.
    here: Mutex<Here<R, E>>,
    /// The cluster whose Redis holds the seats, in cluster mode.
    cluster: Option<Arc<Cluster>>,
}

struct Here<R, E> {
    members: HashMap<PeerId, Member<R, E>>,
    /// One process only: each room's seats, oldest first.
    seats: HashMap<R, Vec<PeerId>>,
}

struct Member<R, E> {
    room: R,
    entry: E,
    /// The page's secret its next connection may take the seat over with.
    claim: Option<String>,
}

impl<R, E> Rooms<R, E>
where
    R: Clone + Eq + Hash + Display + Send + Sync + 'static,
    E: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Rooms of `capacity` seats, kept in this process or (with `cluster`) in its Redis.
    pub fn new(kind: &'static str, capacity: usize, cluster: Option<Arc<Cluster>>) -> Self {
        let rooms = Rooms {
            inner: Arc::new(Inner {
                capacity,
                kind,
                here: Mutex::new(Here {
                    members: HashMap::new(),
                    seats: HashMap::new(),
                }),
                cluster,
            }),
        };
        if let Some(cluster) = &rooms.inner.cluster {
            cluster.tasks.spawn(renew(Arc::downgrade(&rooms.inner)));
        }
        rooms
    }

    /// The room this node's member `id` is in.
    pub fn room_of(&self, id: &PeerId) -> Option<R> {
        lock(&self.inner.here)
            .members
            .get(id)
            .map(|member| member.room.clone())
    }

    /// Seats `id` in `room` with `entry`, taking over the seat held with the same `claim` if
    /// there is one.
    pub async fn enter(
        &self,
        id: &PeerId,
        room: &R,
        entry: E,
        claim: Option<&str>,
    ) -> Result<Entered<E>, NoSeat> {
        let member = Member {
            room: room.clone(),
            entry: entry.clone(),
            claim: claim.map(str::to_owned),
        };
        let Some(cluster) = &self.inner.cluster else {
            let mut here = lock(&self.inner.here);
            let Here { members, seats } = &mut *here;
            let seated = seats.entry(room.clone()).or_default();
            let replaced = claim.and_then(|claim| {
                let at = seated.iter().position(|other| {
                    members.get(other).and_then(|m| m.claim.as_deref()) == Some(claim)
                })?;
                Some(seated.remove(at))
            });
            if seated.len() >= self.inner.capacity {
                return Err(NoSeat::Full);
            }
            let others = seated
                .iter()
                .filter_map(|other| members.get(other).map(|m| m.entry.clone()))
                .collect();
            seated.push(id.clone());
            members.insert(id.clone(), member);
            return Ok(Entered { others, replaced });
        };
        let json = serde_json::to_string(&entry).map_err(|_| NoSeat::Unreachable)?;
        let seat = Seat {
            id: id.as_str(),
            entry: &json,
            claim,
            cap: self.inner.capacity,
            ttl: LEASE,
        };
        let taken = cluster
            .request(cluster.kv.take_seat(&self.key(room), seat))
            .await
            .map_err(|_| NoSeat::Unreachable)?;
        let seated = taken.ok_or(NoSeat::Full)?;
        lock(&self.inner.here).members.insert(id.clone(), member);
        Ok(Entered {
            others: seated
                .others
                .iter()
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect(),
            replaced: seated.replaced.map(PeerId::of_socket),
        })
    }

    /// Frees `id`'s seat; the room it was in.
    pub async fn exit(&self, id: &PeerId) -> Option<R> {
        let room = {
            let mut here = lock(&self.inner.here);
            let room = here.members.remove(id)?.room;
            if let Some(seated) = here.seats.get_mut(&room) {
                seated.retain(|other| other != id);
                if seated.is_empty() {
                    here.seats.remove(&room);
                }
            }
            room
        };
        if let Some(cluster) = &self.inner.cluster {
            // Should Redis not answer, the lease runs out: nobody renews it any more.
            let _ = cluster
                .request(cluster.kv.free_seat(&self.key(&room), id.as_str()))
                .await;
        }
        Some(room)
    }

    /// Whether `b` sits in the room of this node's member `a`.
    pub async fn same_room(&self, a: &PeerId, b: &PeerId) -> bool {
        let room = {
            let here = lock(&self.inner.here);
            let Some(ours) = here.members.get(a) else {
                return false;
            };
            if let Some(theirs) = here.members.get(b) {
                return theirs.room == ours.room;
            }
            ours.room.clone()
        };
        match &self.inner.cluster {
            Some(cluster) => cluster
                .request(cluster.kv.has_seat(&self.key(&room), b.as_str()))
                .await
                .unwrap_or(false),
            None => false,
        }
    }

    fn key(&self, room: &R) -> String {
        format!("{PREFIX}:{}:{room}", self.inner.kind)
    }
}

impl NoSeat {
    /// What the member who asked is told; `full` says the room is full in its app's words.
    pub fn rejection(&self, full: &str) -> Rejection {
        match self {
            NoSeat::Full => Rejection::new(full),
            NoSeat::Unreachable => Rejection::new(
                "Rooms cannot be joined right now (the server cannot reach its shared store). Please try again in a moment.",
            ),
        }
    }
}

/// Renews this node's seats until its rooms are dropped.
async fn renew<R, E>(inner: Weak<Inner<R, E>>)
where
    R: Clone + Eq + Hash + Display + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut every = tokio::time::interval(RENEW_EVERY);
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let Some(cluster) = &inner.cluster else {
            return;
        };
        let mut by_room: HashMap<R, Vec<String>> = HashMap::new();
        for (id, member) in &lock(&inner.here).members {
            by_room
                .entry(member.room.clone())
                .or_default()
                .push(id.to_string());
        }
        for (room, ids) in by_room {
            let key = format!("{PREFIX}:{}:{room}", inner.kind);
            let _ = cluster
                .request(cluster.kv.renew_seats(&key, &ids, LEASE))
                .await;
        }
    }
}
