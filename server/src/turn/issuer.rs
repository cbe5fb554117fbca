//! The `iceServers` each page gets: this server's own STUN and TURN (with `--turn`) and the
//! configured ones, with TURN credentials made for that one page. Nothing a page receives is
//! a password shared by every visitor: what one page copies expires with its TTL.

use app::{IceConfig, IceServer};

use super::credentials;
use crate::config::Config;

/// Makes the ICE part of every page's configuration.
#[derive(Clone)]
pub struct IceIssuer {
    /// `--ice-server`s, as given.
    configured: Vec<IceServer>,
    /// The port of our own relay, when it runs.
    own_port: Option<u16>,
    /// What credentials are made from (ours, or shared with an external coturn).
    secret: Option<String>,
    /// How long the credentials stay valid, in seconds.
    ttl: u64,
    relay_only: bool,
}

impl IceIssuer {
    pub fn new(config: &Config, own_port: Option<u16>, secret: Option<String>) -> IceIssuer {
        IceIssuer {
            configured: config.ice_servers(),
            own_port,
            secret,
            ttl: config.turn_credential_ttl,
            relay_only: config.relay_only,
        }
    }

    /// Whether pages get any TURN server (what `--relay-only` needs).
    pub fn has_turn(&self) -> bool {
        self.own_port.is_some() || self.configured.iter().any(|s| s.urls.starts_with("turn"))
    }

    /// The configuration for a page that reached this server as `host` (the name or address
    /// in its URL: the relay is on the same machine), at `now` (Unix seconds), for the
    /// credentials' user-id `user`.
    pub fn issue(&self, host: Option<&str>, now: u64, user: &str) -> IceConfig {
        let fresh = |urls: String, secret: &str| {
            let (username, credential) = credentials::credentials(secret, user, now, self.ttl);
            IceServer {
                urls,
                username: Some(username),
                credential: Some(credential),
            }
        };
        let mut servers = Vec::new();
        if let (Some(port), Some(secret), Some(host)) = (self.own_port, &self.secret, host) {
            servers.push(IceServer {
                urls: format!("stun:{host}:{port}"),
                username: None,
                credential: None,
            });
            for transport in ["udp", "tcp"] {
                servers.push(fresh(
                    format!("turn:{host}:{port}?transport={transport}"),
                    secret,
                ));
            }
        }
        for server in &self.configured {
            let is_turn = server.urls.starts_with("turn:") || server.urls.starts_with("turns:");
            match &self.secret {
                // An external TURN server that shares our secret (coturn's use-auth-secret).
                Some(secret) if is_turn && server.username.is_none() => {
                    servers.push(fresh(server.urls.clone(), secret));
                }
                _ => servers.push(server.clone()),
            }
        }
        IceConfig {
            servers,
            relay_only: self.relay_only,
        }
    }
}

/// The host part of a request's `Host` (a name, an IPv4 address or a bracketed IPv6 one),
/// without the port; `None` for anything else, so that nothing odd reaches a page's URLs.
pub fn host_of(authority: &str) -> Option<&str> {
    let host = match authority.strip_prefix('[') {
        Some(rest) => &authority[..rest.find(']')? + 2],
        None => authority.split(':').next()?,
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!host.is_empty() && host.len() <= 253 && host.chars().all(allowed)).then_some(host)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn issuer(args: &[&str], own_port: Option<u16>) -> IceIssuer {
        let config = Config::parse_from(std::iter::once("s").chain(args.iter().copied()));
        IceIssuer::new(&config, own_port, Some("s3cret".into()))
    }

    #[test]
    fn our_relay_comes_first_with_credentials_for_this_page_only() {
        let ice = issuer(&["--turn"], Some(3478)).issue(Some("example.org"), 1_000, "page1");
        let urls: Vec<_> = ice.servers.iter().map(|s| s.urls.as_str()).collect();
        assert_eq!(
            urls,
            [
                "stun:example.org:3478",
                "turn:example.org:3478?transport=udp",
                "turn:example.org:3478?transport=tcp"
            ]
        );
        let turn = &ice.servers[1];
        let username = turn.username.as_deref().unwrap_or_default();
        assert_eq!(username, "4600:page1", "valid for the default hour");
        assert_eq!(
            turn.credential.as_deref(),
            Some(credentials::password("s3cret", username).as_str())
        );
        let other = issuer(&["--turn"], Some(3478)).issue(Some("example.org"), 1_000, "page2");
        assert_ne!(other.servers[1].credential, turn.credential);
        assert!(!ice.relay_only);
    }

    #[test]
    fn an_external_turn_server_gets_fresh_credentials_and_fixed_ones_stay() {
        let ice = issuer(
            &[
                "--ice-server",
                "turn:coturn.example.org:3478",
                "--ice-server",
                "turn:ada:pw@other.example.org",
                "--ice-server",
                "stun:stun.example.org",
                "--relay-only",
            ],
            None,
        )
        .issue(Some("ignored"), 50, "u");
        assert_eq!(ice.servers.len(), 3, "no relay of our own without --turn");
        assert_eq!(ice.servers[0].username.as_deref(), Some("3650:u"));
        assert_eq!(ice.servers[1].credential.as_deref(), Some("pw"));
        assert_eq!(ice.servers[2].username, None);
        assert!(ice.relay_only);
    }

    #[test]
    fn hosts_are_names_or_addresses_without_the_port() {
        assert_eq!(host_of("example.org:8443"), Some("example.org"));
        assert_eq!(host_of("192.168.1.20"), Some("192.168.1.20"));
        assert_eq!(host_of("[::1]:3000"), Some("[::1]"));
        assert_eq!(host_of("[::1"), None);
        assert_eq!(host_of("evil.org?x=1"), None);
        assert_eq!(host_of(""), None);
    }
}
