//! The `iceServers` each page gets: this server's own STUN and TURN (with `--turn`) and the
//! configured ones, with TURN credentials made for that one page. Nothing a page receives is
//! a password shared by every visitor: what one page copies expires with its TTL.

use std::net::{Ipv4Addr, Ipv6Addr};

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
    /// What our relay's credentials are made from.
    secret: Option<String>,
    /// The `--turn-secret` given, shared with an external TURN server (never a generated one:
    /// that one no coturn can know).
    shared_secret: Option<String>,
    /// Where pages reach this server when the operator said (`--public-url`), else `None`:
    /// each page's own URL tells.
    public_host: Option<String>,
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
            shared_secret: config.turn_secret.clone().filter(|s| !s.is_empty()),
            public_host: config
                .site_url()
                .as_deref()
                .and_then(|url| url.split_once("://"))
                .and_then(|(_, rest)| host_of(rest.split('/').next().unwrap_or_default()))
                .map(str::to_owned),
            ttl: config.turn_credential_ttl,
            relay_only: config.relay_only,
        }
    }

    /// Whether pages get any TURN server (what `--relay-only` needs).
    pub fn has_turn(&self) -> bool {
        self.own_port.is_some() || self.configured.iter().any(is_turn)
    }

    /// A configured TURN server without a password and no `--turn-secret` to make one with:
    /// browsers refuse such a configuration, so the server refuses to start with it.
    pub fn unsigned_turn(&self) -> Option<&str> {
        let unsigned = |s: &&IceServer| is_turn(s) && s.username.is_none();
        match self.shared_secret {
            Some(_) => None,
            None => self
                .configured
                .iter()
                .find(unsigned)
                .map(|s| s.urls.as_str()),
        }
    }

    /// The configuration for a page that reached this server as `host` (the name or address
    /// in its URL: the relay is on the same machine), at `now` (Unix seconds), for the
    /// credentials' user-id `user`.
    pub fn issue(&self, host: Option<&str>, now: u64, user: &str) -> IceConfig {
        let host = self.public_host.as_deref().or(host);
        let mut expires = None;
        let mut fresh = |urls: String, secret: &str| {
            expires = Some(self.ttl);
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
            match &self.shared_secret {
                // An external TURN server that shares our secret (coturn's use-auth-secret).
                Some(secret) if is_turn(server) && server.username.is_none() => {
                    servers.push(fresh(server.urls.clone(), secret));
                }
                _ => servers.push(server.clone()),
            }
        }
        IceConfig {
            servers,
            relay_only: self.relay_only,
            expires_in_seconds: expires,
        }
    }
}

fn is_turn(server: &IceServer) -> bool {
    server.urls.starts_with("turn:") || server.urls.starts_with("turns:")
}

/// The host part of a request's `Host` (a DNS name, an IPv4 address or a bracketed IPv6 one),
/// without the port; `None` for anything else, so that nothing odd reaches a page's URLs.
pub fn host_of(authority: &str) -> Option<&str> {
    let port_ok = |port: Option<&str>| port.is_none_or(|p| p.parse::<u16>().is_ok());
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        let valid = ip.parse::<Ipv6Addr>().is_ok() && port_ok(port);
        return valid.then(|| &authority[..ip.len() + 2]);
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let name = host.len() <= 253 && host.split('.').all(label);
    (port_ok(port) && (name || host.parse::<Ipv4Addr>().is_ok())).then_some(host)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn issuer(args: &[&str], own_port: Option<u16>) -> IceIssuer {
        let config = Config::parse_from(std::iter::once("s").chain(args.iter().copied()));
        let secret = config.turn_secret.clone().or(Some("generated".into()));
        IceIssuer::new(&config, own_port, secret)
    }

    #[test]
    fn our_relay_comes_first_with_credentials_for_this_page_only() {
        let ice = issuer(&["--turn", "--turn-secret", "s3cret"], Some(3478)).issue(
            Some("example.org"),
            1_000,
            "page1",
        );
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
        let other = issuer(&["--turn", "--turn-secret", "s3cret"], Some(3478)).issue(
            Some("example.org"),
            1_000,
            "page2",
        );
        assert_ne!(other.servers[1].credential, turn.credential);
        assert!(!ice.relay_only);
        assert_eq!(
            ice.expires_in_seconds,
            Some(3600),
            "pages renew before then"
        );
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
                "--turn-secret",
                "s3cret",
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
        let fixed = issuer(&["--ice-server", "turn:ada:pw@other.example.org"], None);
        assert_eq!(fixed.issue(None, 50, "u").expires_in_seconds, None);
    }

    #[test]
    fn a_turn_server_without_password_needs_the_secret_it_shares() {
        let unsigned = ["--turn", "--ice-server", "turn:coturn.example.org"];
        assert_eq!(
            issuer(&unsigned, Some(3478)).unsigned_turn(),
            Some("turn:coturn.example.org"),
            "a generated secret is no coturn's"
        );
        let shared = [&unsigned[..], &["--turn-secret", "s3cret"]].concat();
        assert_eq!(issuer(&shared, Some(3478)).unsigned_turn(), None);
    }

    #[test]
    fn the_public_url_names_the_relay_whatever_host_a_page_used() {
        let ice = issuer(
            &["--turn", "--public-url", "https://calls.example.org:8443/"],
            Some(3478),
        )
        .issue(Some("10.0.0.5"), 0, "u");
        assert_eq!(ice.servers[0].urls, "stun:calls.example.org:3478");
    }

    #[test]
    fn hosts_are_names_or_addresses_without_the_port() {
        assert_eq!(host_of("example.org:8443"), Some("example.org"));
        assert_eq!(host_of("192.168.1.20"), Some("192.168.1.20"));
        assert_eq!(host_of("[::1]:3000"), Some("[::1]"));
        assert_eq!(host_of("[2001:db8::7]"), Some("[2001:db8::7]"));
        for bad in [
            "[::1",
            "[::1]junk",
            "[x]",
            "a]b",
            "evil.org?x=1",
            "evil.org:80x",
            "a..b",
            "-a.org",
            "",
        ] {
            assert_eq!(host_of(bad), None, "{bad}");
        }
    }
}
