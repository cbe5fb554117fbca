//! Who is called what in `/chat`: one name per socket, no two sockets with names that look
//! alike (ignoring case, see `lookalike.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use app::protocol::chat::{Nickname, Sender};
use app::protocol::Rejection;
use socketioxide::socket::Sid;

use super::lookalike;
use crate::sync::lock;

/// Who is called what: in this process (single-node mode), or in Redis (cluster mode).
#[derive(Clone)]
pub enum Names {
    Local(LocalNames),
    Shared(super::shared_names::SharedNames),
}

impl Names {
    /// Gives `name` to `sid`, releasing its previous one; refused when another socket has it
    /// (or one that looks just like it).
    pub async fn claim(&self, sid: Sid, name: Nickname) -> Result<(), Rejection> {
        match self {
            Names::Local(names) => names.claim(sid, name),
            Names::Shared(names) => names.claim(sid, name).await,
        }
    }

    /// The sender as the chat shows it, if `sid` (a socket of this node) has a name.
    pub fn sender(&self, sid: Sid) -> Option<Sender> {
        match self {
            Names::Local(names) => names.sender(sid),
            Names::Shared(names) => names.sender(sid),
        }
    }

    /// Frees the name of a socket that left.
    pub async fn release(&self, sid: Sid) {
        match self {
            Names::Local(names) => names.release(sid),
            Names::Shared(names) => names.release(sid).await,
        }
    }

    /// Frees every name this server holds (it is stopping): in a cluster, the other nodes'
    /// clients may take them at once.
    pub async fn release_all(&self) {
        if let Names::Shared(names) = self {
            names.release_all().await;
        }
    }
}

/// The names of one process's clients. Cheap to clone; clones share the registry.
#[derive(Clone, Default)]
pub struct LocalNames {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    /// Each named socket's name.
    by_socket: HashMap<Sid, Nickname>,
    /// Which socket holds a name, by each of its look-alike keys.
    by_key: HashMap<String, Sid>,
}

impl LocalNames {
    /// Gives `name` to `sid`, releasing its previous one; refused when another socket has it.
    pub fn claim(&self, sid: Sid, name: Nickname) -> Result<(), Rejection> {
        let mut registry = self.lock();
        let keys = lookalike::keys(&name);
        let taken = keys.iter().any(|key| {
            registry
                .by_key
                .get(key)
                .is_some_and(|holder| *holder != sid)
        });
        if taken {
            return Err(Rejection::new(format!(
                "The name “{name}” is already taken (or one that looks just like it). Please choose another."
            )));
        }
        if let Some(previous) = registry.by_socket.insert(sid, name) {
            for key in lookalike::keys(&previous) {
                registry.by_key.remove(&key);
            }
        }
        for key in keys {
            registry.by_key.insert(key, sid);
        }
        Ok(())
    }

    /// The sender as the chat shows it, if `sid` has a name.
    pub fn sender(&self, sid: Sid) -> Option<Sender> {
        let registry = self.lock();
        let name = registry.by_socket.get(&sid)?.clone();
        Some(Sender {
            id: sid.to_string(),
            name,
        })
    }

    /// Frees the name of a socket that left.
    pub fn release(&self, sid: Sid) {
        let mut registry = self.lock();
        if let Some(name) = registry.by_socket.remove(&sid) {
            for key in lookalike::keys(&name) {
                registry.by_key.remove(&key);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Nickname {
        Nickname::parse(raw).unwrap()
    }

    #[test]
    fn a_name_is_unique_ignoring_case() {
        let names = LocalNames::default();
        let (a, b) = (Sid::new(), Sid::new());
        names.claim(a, name("Ada")).unwrap();
        let refused = names.claim(b, name("ADA")).unwrap_err();
        assert!(refused.0.contains("already taken"));
        assert_eq!(names.sender(a).unwrap().name.as_str(), "Ada");
        assert!(names.sender(b).is_none());
    }

    #[test]
    fn renaming_frees_the_old_name_and_may_change_case() {
        let names = LocalNames::default();
        let (a, b) = (Sid::new(), Sid::new());
        names.claim(a, name("Ada")).unwrap();
        names.claim(a, name("ada")).unwrap();
        names.claim(a, name("Grace")).unwrap();
        names.claim(b, name("Ada")).unwrap();
        assert_eq!(names.sender(a).unwrap().name.as_str(), "Grace");
        assert_eq!(names.sender(b).unwrap().name.as_str(), "Ada");
    }

    #[test]
    fn leaving_frees_the_name() {
        let names = LocalNames::default();
        let (a, b) = (Sid::new(), Sid::new());
        names.claim(a, name("Ada")).unwrap();
        names.release(a);
        assert!(names.sender(a).is_none());
        names.claim(b, name("Ada")).unwrap();
    }
}
