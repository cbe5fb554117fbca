//! The ICE servers a page uses, from the server and kept fresh: the TURN credentials in them
//! expire, so the page fetches a new configuration before they do, hands it to every open
//! connection and makes new connections with it. An ICE restart asks for one at once.

use std::time::Duration;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

use super::Peer;
use crate::config::{get_site_config, IceConfig, MeetConfig};

/// Share of the credentials' lifetime after which a fresh configuration is fetched.
const RENEW_AT: f64 = 0.8;
/// How soon to ask again when the server could not be asked.
const RETRY_AFTER: Duration = Duration::from_secs(15);

/// A page's ICE configuration. Cheap to copy; lives as long as the component that made it.
#[derive(Clone, Copy)]
pub struct Ice {
    /// The latest answer (`None` until the first one).
    config: RwSignal<Option<IceConfig>>,
    /// Whether the first answer is in (changes once, unlike `config`).
    known: Memo<bool>,
    /// Connections to renew: those made through [`Ice::track`] and not closed yet.
    open: StoredValue<Vec<Peer>, LocalStorage>,
    /// How `/meet` carries media, from the same answer (`None` until it comes).
    meet: RwSignal<Option<MeetConfig>>,
}

/// The page's ICE configuration, fetched now and again before its credentials expire.
pub fn use_ice() -> Ice {
    let config = RwSignal::new(None::<IceConfig>);
    let ice = Ice {
        config,
        known: Memo::new(move |_| config.with(Option::is_some)),
        open: StoredValue::new_local(Vec::new()),
        meet: RwSignal::new(None),
    };
    leptos::task::spawn_local(async move {
        loop {
            let Some(wait) = ice.fetch().await else { break };
            TimeoutFuture::new(wait.as_millis().try_into().unwrap_or(u32::MAX)).await;
        }
    });
    ice
}

impl Ice {
    /// Whether the server's answer is known (changes once, unlike the configuration).
    pub fn known(&self) -> Memo<bool> {
        self.known
    }

    /// The configuration for a connection made now. Until (or when) the server's answer is
    /// not known, [`IceConfig`]'s default: relayed paths only, through no server.
    pub fn now(&self) -> IceConfig {
        // (A timer may ask after the page is gone.)
        self.config
            .try_get_untracked()
            .flatten()
            .unwrap_or_default()
    }

    /// How `/meet` carries media: asks the server if its answer is not in yet (`None` when
    /// it does not answer).
    pub async fn meet(&self) -> Option<MeetConfig> {
        if let Some(meet) = self.meet.try_get_untracked().flatten() {
            return Some(meet);
        }
        self.fetch().await;
        self.meet.try_get_untracked().flatten()
    }

    /// Keeps `peer` up to date with every renewal while it is open.
    pub fn track(&self, peer: &Peer) {
        self.open.try_update_value(|open| {
            open.retain(|p| !p.is_closed());
            open.push(peer.clone());
        });
    }

    /// Fetches a configuration now (for an ICE restart: its credentials are the freshest).
    pub async fn fresh(&self) -> IceConfig {
        self.fetch().await;
        self.now()
    }

    /// Fetches the configuration, renews the open connections with it; when to fetch again
    /// (`None` once the page is gone, or when nothing in it expires).
    async fn fetch(&self) -> Option<Duration> {
        let answer = get_site_config().await.map(|site| {
            let _ = self.meet.try_set(Some(site.meet));
            site.ice
        });
        if self.config.is_disposed() {
            return None;
        }
        let fresh = match answer {
            Ok(fresh) => fresh,
            // Keep what we have (its credentials may still be good), and ask again soon.
            Err(_) if self.config.with_untracked(Option::is_some) => return Some(RETRY_AFTER),
            Err(_) => {
                self.config.try_set(Some(IceConfig::default()));
                return Some(RETRY_AFTER);
            }
        };
        let wait = renew_in(&fresh);
        let open: Vec<Peer> = self.open.try_get_value().unwrap_or_default();
        for peer in open.iter().filter(|p| !p.is_closed()) {
            if let Err(error) = peer.renew(&fresh) {
                leptos::logging::warn!("ice: a connection kept its old servers: {error}");
            }
        }
        self.config.try_set(Some(fresh));
        wait
    }
}

/// When to fetch a configuration again: at [`RENEW_AT`] of its credentials' lifetime, so that
/// a connection made or restarted late in it still has time to allocate a relay.
pub fn renew_in(config: &IceConfig) -> Option<Duration> {
    let seconds = config.expires_in_seconds? as f64 * RENEW_AT;
    Some(Duration::from_secs_f64(seconds.max(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring(seconds: Option<u64>) -> IceConfig {
        IceConfig {
            expires_in_seconds: seconds,
            ..IceConfig::default()
        }
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        assert_eq!(
            renew_in(&expiring(Some(3600))),
            Some(Duration::from_secs(2880))
        );
        assert_eq!(renew_in(&expiring(Some(20))), Some(Duration::from_secs(16)));
        assert_eq!(
            renew_in(&expiring(Some(0))),
            Some(Duration::from_secs(1)),
            "never in a busy loop"
        );
        assert_eq!(renew_in(&expiring(None)), None, "nothing expires");
    }
}
