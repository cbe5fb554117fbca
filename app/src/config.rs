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
}

/// The running server's [`SiteConfig`].
#[server(prefix = "/api", endpoint = "site-config")]
pub async fn get_site_config() -> Result<SiteConfig, ServerFnError> {
    use_context::<SiteConfig>()
        .ok_or_else(|| ServerFnError::new("the server has no site configuration"))
}
