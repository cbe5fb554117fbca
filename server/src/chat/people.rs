//! Who is in `/chat`, for the clients with the additions: the list after taking a name, and
//! one event per name taken, changed or given up. Each node tells its own clients. On one node
//! its names are everyone; in a cluster the other nodes' people come through [`Members`], so a
//! node that dies takes its people with it, and they are told to have left.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use app::protocol::chat::Nickname;
use socketioxide::socket::Sid;

use crate::cluster::Members;
use crate::sync::lock;

/// One change to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Joined(Nickname),
    Renamed(Nickname, Nickname),
    Left(Nickname),
}

/// Who is here. Cheap to clone.
#[derive(Clone, Default)]
pub struct People {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// This node's named sockets.
    here: Mutex<BTreeMap<Sid, Nickname>>,
    /// The other nodes' people, as this node last told its clients.
    told: Mutex<BTreeMap<String, Nickname>>,
    /// The other nodes, in a cluster.
    members: Option<Arc<Members>>,
}

impl People {
    pub fn clustered(members: Arc<Members>) -> People {
        People {
            inner: Arc::new(Inner {
                members: Some(members),
                ..Inner::default()
            }),
        }
    }

    /// `sid` has taken (or changed to) `name`.
    pub fn named(&self, sid: Sid, name: &Nickname) -> Option<Change> {
        let previous = lock(&self.inner.here).insert(sid, name.clone());
        if let Some(members) = &self.inner.members {
            members.joined_as(&sid.to_string(), name.as_str());
        }
        match previous {
            None => Some(Change::Joined(name.clone())),
            Some(old) if old != *name => Some(Change::Renamed(old, name.clone())),
            Some(_) => None,
        }
    }

    /// `sid` left; its name, if it had one.
    pub fn left(&self, sid: Sid) -> Option<Change> {
        let name = lock(&self.inner.here).remove(&sid)?;
        if let Some(members) = &self.inner.members {
            members.left(&sid.to_string());
        }
        Some(Change::Left(name))
    }

    /// Everyone named, on every node, by name.
    pub fn list(&self) -> Vec<Nickname> {
        let mut all: Vec<Nickname> = lock(&self.inner.here).values().cloned().collect();
        all.extend(lock(&self.inner.told).values().cloned());
        all.sort_by_key(Nickname::key);
        all
    }

    /// What changed on the other nodes since the last call (a cluster's news).
    pub fn remote_changes(&self) -> Vec<Change> {
        let Some(members) = &self.inner.members else {
            return Vec::new();
        };
        let now: BTreeMap<String, Nickname> = members
            .remote()
            .into_iter()
            .filter_map(|(id, name)| Some((id, Nickname::parse(&name).ok()?)))
            .collect();
        let mut told = lock(&self.inner.told);
        let mut changes = Vec::new();
        for (id, name) in &now {
            match told.get(id) {
                None => changes.push(Change::Joined(name.clone())),
                Some(old) if old != name => {
                    changes.push(Change::Renamed(old.clone(), name.clone()))
                }
                Some(_) => {}
            }
        }
        for (id, name) in told.iter() {
            if !now.contains_key(id) {
                changes.push(Change::Left(name.clone()));
            }
        }
        *told = now;
        changes
    }

    /// The other nodes' changes, as a counter that goes up (in a cluster).
    pub fn remote_news(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.members.as_ref().map(|m| m.remote_changes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Nickname {
        Nickname::parse(raw).unwrap()
    }

    #[test]
    fn joins_renames_and_departures() {
        let people = People::default();
        let (a, b) = (Sid::new(), Sid::new());
        assert_eq!(
            people.named(a, &name("Ada")),
            Some(Change::Joined(name("Ada")))
        );
        assert_eq!(
            people.named(b, &name("Bo")),
            Some(Change::Joined(name("Bo")))
        );
        assert_eq!(people.named(a, &name("Ada")), None, "the same name again");
        assert_eq!(
            people.named(a, &name("Ada L.")),
            Some(Change::Renamed(name("Ada"), name("Ada L.")))
        );
        assert_eq!(people.list(), [name("Ada L."), name("Bo")]);
        assert_eq!(people.left(b), Some(Change::Left(name("Bo"))));
        assert_eq!(people.left(b), None);
        assert_eq!(people.list(), [name("Ada L.")]);
    }
}
