//! What a page needs to know about the server it came from, fetched through a server function.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Server facts the pages show or use. The server provides one as context.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SiteConfig {
    /// Base URLs (scheme, host, port) under which phones on the same network reach this
    /// server; `--public-url` replaces them. Empty when none is known.
    pub lan_urls: Vec<String>,
    /// True when the server listens on loopback only, so no phone can reach it whatever URL
    /// it is shown.
    pub loopback_only: bool,
    /// True when the server speaks HTTPS itself (needed by phones for camera and gyroscope).
    pub tls: bool,
    /// The operator's `--public-url`, which phones should use whatever else is known.
    pub public_url: Option<String>,
    /// The live trades feed (Bitstamp WebSocket API v2): an absolute `wss://` URL, or a path
    /// on this server for the demo market.
    pub market_feed: String,
    /// Who runs that feed, for messages ("ws.bitstamp.net", "the built-in demo market").
    pub market_name: String,
    /// How WebRTC pages find a path to each other (fresh TURN credentials in every answer).
    pub ice: IceConfig,
    /// How `/meet` carries its media.
    #[serde(default)]
    pub meet: MeetConfig,
}

/// How `/meet` carries a meeting's media: through the server's SFU (each page sends its
/// camera once, to the server) or over a full mesh between the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetConfig {
    pub sfu: bool,
    /// How many people a room holds.
    pub capacity: usize,
}

/// A mesh of four: what a server says that runs no SFU (and what a page assumes until the
/// server has said).
impl Default for MeetConfig {
    fn default() -> Self {
        MeetConfig {
            sfu: false,
            capacity: crate::protocol::meet::ROOM_CAPACITY,
        }
    }
}

/// The ICE part of an `RTCConfiguration`: which STUN/TURN servers, and whether only relayed
/// paths may be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceConfig {
    /// `RTCConfiguration.iceServers`: the server's own relay (with credentials made for this
    /// page) and the configured ones.
    pub servers: Vec<IceServer>,
    /// `iceTransportPolicy: "relay"` (`--relay-only`): peers never learn each other's
    /// addresses; every call goes through the relay.
    pub relay_only: bool,
    /// Seconds until the TURN credentials in `servers` expire (none when there are none): a
    /// page fetches a fresh configuration before then. Absent in older answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// What a page uses while (or when) the server's answer is not known: no servers and relayed
/// paths only. Such a connection cannot connect, and says so; it never goes direct on a
/// server started with `--relay-only` because its answer was late or lost.
impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            servers: Vec::new(),
            relay_only: true,
            expires_in_seconds: None,
        }
    }
}

impl IceConfig {
    /// The `RTCConfiguration` a peer connection is made with.
    pub fn rtc_configuration(&self) -> serde_json::Value {
        let policy = if self.relay_only { "relay" } else { "all" };
        serde_json::json!({ "iceServers": self.servers, "iceTransportPolicy": policy })
    }
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl IceServer {
    /// Reads `stun:host:port`, or `turn:user:password@host:port` (credentials before the `@`).
    pub fn parse(raw: &str) -> Result<IceServer, String> {
        let (scheme, rest) = raw
            .split_once(':')
            .ok_or_else(|| format!("{raw}: expected stun:, turn: or turns:"))?;
        if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") {
            return Err(format!("{raw}: expected stun:, turn: or turns:"));
        }
        match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let (username, credential) = credentials
                    .split_once(':')
                    .ok_or_else(|| format!("{raw}: credentials must be user:password@"))?;
                Ok(IceServer {
                    urls: format!("{scheme}:{host}"),
                    username: Some(username.to_owned()),
                    credential: Some(credential.to_owned()),
                })
            }
            None if rest.is_empty() => Err(format!("{raw}: no host")),
            None => Ok(IceServer {
                urls: raw.to_owned(),
                username: None,
                credential: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_servers_parse_with_and_without_credentials() {
        assert_eq!(
            IceServer::parse("stun:stun.l.google.com:19302").unwrap(),
            IceServer {
                urls: "stun:stun.l.google.com:19302".into(),
                username: None,
                credential: None
            }
        );
        let turn = IceServer::parse("turn:ada:s3cret@turn.example.org:3478?transport=udp").unwrap();
        assert_eq!(turn.urls, "turn:turn.example.org:3478?transport=udp");
        assert_eq!(
            (turn.username.as_deref(), turn.credential.as_deref()),
            (Some("ada"), Some("s3cret"))
        );
        assert!(IceServer::parse("http://example.org").is_err());
        assert!(IceServer::parse("turn:nopassword@host").is_err());
        assert!(IceServer::parse("stun:").is_err());
    }

    #[test]
    fn an_answer_without_an_expiry_still_reads() {
        let old: IceConfig = serde_json::from_str(r#"{"servers":[],"relay_only":false}"#).unwrap();
        assert_eq!(old.expires_in_seconds, None);
        let json = serde_json::to_string(&IceConfig::default()).unwrap();
        assert!(!json.contains("expires_in_seconds"), "{json}");
    }
}

/// The running server's [`SiteConfig`].
#[server(prefix = "/api", endpoint = "site-config")]
pub async fn get_site_config() -> Result<SiteConfig, ServerFnError> {
    use_context::<SiteConfig>()
        .ok_or_else(|| ServerFnError::new("the server has no site configuration"))
}
