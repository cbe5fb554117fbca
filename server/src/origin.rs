//! Which web pages may open a socket.io connection: the server's own (against cross-site
//! WebSocket hijacking, where a page on any other site opens `/chat` as its visitor), and the
//! origins the operator lists. Clients that send no `Origin` (native clients, scripts) are not
//! browsers acting for someone else, and are let in.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::contract::Shared;

/// The origins allowed to connect, as `scheme://host[:port]` in lower case.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    origins: HashSet<String>,
}

impl AllowedOrigins {
    /// The server's own origins when it listens on `local` (the loopback names, and the LAN
    /// addresses it shows phones), `public_url`, and every `extra` origin.
    pub fn new(local: SocketAddr, tls: bool, public_url: Option<&str>, extra: &[String]) -> Self {
        let port = local.port();
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        let mut add_ip = |ip: IpAddr| {
            hosts.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            })
        };
        if !local.ip().is_unspecified() {
            add_ip(local.ip());
        }
        for ip in crate::net::lan_addresses() {
            add_ip(ip);
        }
        let scheme = if tls { "https" } else { "http" };
        let mut origins: HashSet<String> = hosts
            .iter()
            .map(|host| normalise(&format!("{scheme}://{host}:{port}")))
            .collect();
        origins.extend(
            public_url
                .into_iter()
                .chain(extra.iter().map(String::as_str))
                .map(normalise),
        );
        AllowedOrigins { origins }
    }

    /// Whether a page at `origin` (an `Origin` header's value) may connect.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.contains(&normalise(origin))
    }
}

/// `scheme://host[:port]` in lower case, without a default port or a trailing slash or path.
fn normalise(origin: &str) -> String {
    let origin = origin.trim().to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin.as_str()));
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = match (scheme, authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host,
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

/// What the origin check needs.
#[derive(Clone)]
pub struct OriginCheck {
    pub allowed: Arc<AllowedOrigins>,
    pub shared: Arc<Shared>,
}

/// Refuses a socket.io request from a page of another origin with 403, before any socket.io
/// session exists.
pub async fn check(State(check): State<OriginCheck>, request: Request, next: Next) -> Response {
    let refused = request
        .headers()
        .get(header::ORIGIN)
        .map(|origin| origin.to_str().is_ok_and(|o| check.allowed.allows(o)))
        .is_some_and(|allowed| !allowed);
    if refused {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("(not text)")
            .chars()
            .take(100)
            .collect::<String>();
        check.shared.metrics.origin_refused();
        check.shared.metrics.warn_input(
            "-",
            &origin,
            "handshake",
            "refused a page of another origin (allow it with --allowed-origin)",
        );
        return (
            StatusCode::FORBIDDEN,
            "This page's origin may not connect here. The server's operator can allow it with --allowed-origin.",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> AllowedOrigins {
        AllowedOrigins::new(
            "127.0.0.1:3000".parse().unwrap(),
            false,
            Some("https://chat.example.org/"),
            &["https://course.example.com".to_owned()],
        )
    }

    #[test]
    fn our_own_pages_and_the_listed_ones_may_connect() {
        let allowed = origins();
        for origin in [
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "HTTP://LOCALHOST:3000",
            "http://[::1]:3000",
            "https://chat.example.org",
            "https://chat.example.org:443",
            "https://course.example.com",
        ] {
            assert!(allowed.allows(origin), "{origin}");
        }
    }

    #[test]
    fn other_sites_may_not() {
        let allowed = origins();
        for origin in [
            "https://evil.example",
            "http://localhost:3001",
            "http://127.0.0.1:3000.evil.example",
            "https://127.0.0.1:3000",
            "null",
            "",
            "http://chat.example.org",
        ] {
            assert!(!allowed.allows(origin), "{origin}");
        }
    }
}
