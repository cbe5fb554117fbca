//! Who is typing in `/chat` (an addition for the clients that ask for it). A client says it
//! started (at most every second counts) and stopped; the server lets a state lapse after
//! [`EXPIRES_AFTER`] without a refresh, so a page that crashed cannot leave it on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::chat::Nickname;
use socketioxide::socket::Sid;
// tokio's clock, which a test can pause (it is the system's otherwise).
use tokio::time::Instant;

use crate::sync::lock;

/// A typing state lapses this long after its last refresh.
pub const EXPIRES_AFTER: Duration = Duration::from_secs(5);
/// "Started" again sooner than this is ignored (pages send it every 2 s while typing).
const MIN_REFRESH: Duration = Duration::from_millis(900);

/// This node's typists. Cheap to clone.
#[derive(Clone, Default)]
pub struct Typing {
    inner: Arc<Mutex<HashMap<Sid, Typist>>>,
}

struct Typist {
    name: Nickname,
    refreshed: Instant,
}

impl Typing {
    /// `sid` (called `name`) says it typed or stopped; whether the others should be told.
    pub fn says(&self, sid: Sid, name: &Nickname, typing: bool) -> bool {
        let mut typists = lock(&self.inner);
        if !typing {
            return typists.remove(&sid).is_some();
        }
        match typists.get_mut(&sid) {
            Some(typist) if typist.refreshed.elapsed() < MIN_REFRESH => false,
            Some(typist) => {
                typist.refreshed = Instant::now();
                // Still typing: the others already know (only the lapse time moves).
                let renamed = typist.name != *name;
                typist.name = name.clone();
                renamed
            }
            None => {
                typists.insert(
                    sid,
                    Typist {
                        name: name.clone(),
                        refreshed: Instant::now(),
                    },
                );
                true
            }
        }
    }

    /// `sid` left or sent a message: its name, if it was typing.
    pub fn stop(&self, sid: Sid) -> Option<Nickname> {
        lock(&self.inner).remove(&sid).map(|t| t.name)
    }

    /// Whether `sid` is typing, as far as this node knows.
    #[cfg(test)]
    pub fn is_typing(&self, sid: Sid) -> bool {
        lock(&self.inner).contains_key(&sid)
    }

    /// The typists whose state lapsed, removed.
    pub fn lapsed(&self) -> Vec<Nickname> {
        let mut typists = lock(&self.inner);
        let gone: Vec<Sid> = typists
            .iter()
            .filter(|(_, t)| t.refreshed.elapsed() >= EXPIRES_AFTER)
            .map(|(sid, _)| *sid)
            .collect();
        gone.into_iter()
            .filter_map(|sid| typists.remove(&sid).map(|t| t.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_is_told_once_refreshes_are_quiet_and_stopped_is_told() {
        let typing = Typing::default();
        let (sid, ada) = (Sid::new(), Nickname::parse("Ada").unwrap());
        assert!(typing.says(sid, &ada, true));
        assert!(!typing.says(sid, &ada, true), "too soon, and already known");
        assert!(typing.says(sid, &ada, false));
        assert!(!typing.says(sid, &ada, false), "already stopped");
        assert!(typing.lapsed().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_lapses_five_seconds_after_its_last_counted_refresh() {
        let typing = Typing::default();
        let (sid, ada) = (Sid::new(), Nickname::parse("Ada").unwrap());
        assert!(typing.says(sid, &ada, true));
        tokio::time::advance(MIN_REFRESH / 2).await;
        typing.says(sid, &ada, true);
        tokio::time::advance(EXPIRES_AFTER - MIN_REFRESH / 2).await;
        assert_eq!(
            typing.lapsed(),
            std::slice::from_ref(&ada),
            "a refresh too soon does not count"
        );
        assert!(typing.says(sid, &ada, true));
        tokio::time::advance(MIN_REFRESH).await;
        typing.says(sid, &ada, true);
        tokio::time::advance(EXPIRES_AFTER - Duration::from_millis(1)).await;
        assert!(typing.lapsed().is_empty(), "refreshed: not yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(typing.lapsed(), [ada]);
    }
}
