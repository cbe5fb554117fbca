//! Who is called what in `/chat`: one name per socket, no two sockets with names that look
//! alike (ignoring case, see `lookalike.rs`).
//!
//! A page may send a secret with its connect (its [`SessionKey`]). A name held by a socket
//! with the same secret is handed over: it is the page's previous connection, which the
//! server has not yet noticed is gone (a phone that lost its network leaves no goodbye, and
//! its socket lives until the heartbeat fails). That socket is the *ghost* the caller ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use app::protocol::chat::{Nickname, Sender, SessionKey};
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
    /// (or one that looks just like it), unless that socket has the same `session`: then it
    /// is returned, nameless now, to be disconnected.
    pub async fn claim(
        &self,
        sid: Sid,
        name: Nickname,
        session: Option<&SessionKey>,
    ) -> Result<Option<Sid>, Rejection> {
        match self {
            Names::Local(names) => names.claim(sid, name, session),
            Names::Shared(names) => names.claim(sid, name, session).await,
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
    /// The session each named socket came with, if any.
    sessions: HashMap<Sid, SessionKey>,
}

impl LocalNames {
    /// Gives `name` to `sid`, releasing its previous one; refused when another socket has it,
    /// unless that one came with the same `session` (see the module's comment).
    pub fn claim(
        &self,
        sid: Sid,
        name: Nickname,
        session: Option<&SessionKey>,
    ) -> Result<Option<Sid>, Rejection> {
        let mut registry = self.lock();
        let keys = lookalike::keys(&name);
        let holders: Vec<Sid> = keys
            .iter()
            .filter_map(|key| registry.by_key.get(key).copied())
            .filter(|holder| *holder != sid)
            .collect();
        let ghost = match holders.first() {
            None => None,
            Some(&holder)
                if holders.iter().all(|h| *h == holder)
                    && session.is_some()
                    && registry.sessions.get(&holder) == session =>
            {
                registry.forget(holder);
                Some(holder)
            }
            Some(_) => return Err(lookalike::taken(&name)),
        };
        registry.forget(sid);
        for key in keys {
            registry.by_key.insert(key, sid);
        }
        registry.by_socket.insert(sid, name);
        if let Some(session) = session {
            registry.sessions.insert(sid, session.clone());
        }
        Ok(ghost)
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
        self.lock().forget(sid);
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.inner)
    }
}

impl Registry {
    /// `sid` holds no name any more.
    fn forget(&mut self, sid: Sid) {
        self.sessions.remove(&sid);
        if let Some(name) = self.by_socket.remove(&sid) {
            for key in lookalike::keys(&name) {
                if self.by_key.get(&key) == Some(&sid) {
                    self.by_key.remove(&key);
                }
            }
        }
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
        names.claim(a, name("Ada"), None).unwrap();
        let refused = names.claim(b, name("ADA"), None).unwrap_err();
        assert!(refused.0.contains("already taken"));
        assert_eq!(names.sender(a).unwrap().name.as_str(), "Ada");
        assert!(names.sender(b).is_none());
    }

    #[test]
    fn renaming_frees_the_old_name_and_may_change_case() {
        let names = LocalNames::default();
        let (a, b) = (Sid::new(), Sid::new());
        names.claim(a, name("Ada"), None).unwrap();
        names.claim(a, name("ada"), None).unwrap();
        names.claim(a, name("Grace"), None).unwrap();
        names.claim(b, name("Ada"), None).unwrap();
        assert_eq!(names.sender(a).unwrap().name.as_str(), "Grace");
        assert_eq!(names.sender(b).unwrap().name.as_str(), "Ada");
    }

    #[test]
    fn the_same_session_takes_its_name_back_from_its_ghost() {
        let names = LocalNames::default();
        let (ghost, page, stranger) = (Sid::new(), Sid::new(), Sid::new());
        let mine = SessionKey::parse("0123456789abcdef").unwrap();
        let theirs = SessionKey::parse("fedcba9876543210").unwrap();
        names.claim(ghost, name("Ada"), Some(&mine)).unwrap();
        assert!(names.claim(stranger, name("Ada"), Some(&theirs)).is_err());
        assert!(names.claim(stranger, name("Ada"), None).is_err());
        assert_eq!(names.claim(page, name("Ada"), Some(&mine)), Ok(Some(ghost)));
        assert!(names.sender(ghost).is_none(), "the ghost has no name now");
        names.release(ghost);
        assert!(
            names.claim(stranger, name("ada"), None).is_err(),
            "still the page's"
        );
    }

    #[test]
    fn leaving_frees_the_name() {
        let names = LocalNames::default();
        let (a, b) = (Sid::new(), Sid::new());
        names.claim(a, name("Ada"), None).unwrap();
        names.release(a);
        assert!(names.sender(a).is_none());
        names.claim(b, name("Ada"), None).unwrap();
    }
}
