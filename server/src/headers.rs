//! Security headers on every response: a Content-Security-Policy the app works under (its own
//! scripts and WebAssembly, its own socket.io and the market's feed), `nosniff`, no referrer,
//! and no framing by other sites; with a certificate browsers trust (ACME or the operator's
//! files), HSTS.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// What the policy allows beyond this server's own origin.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `'sha256-…'` of each inline script of `index.html` (Trunk's loader).
    script_hashes: Vec<String>,
    /// The market feed's origin, when it is not this server (`wss://ws.bitstamp.net`).
    market_origin: Option<String>,
    /// Whether to send `Strict-Transport-Security`: only over a trusted certificate (with a
    /// self-signed one, a browser that remembered HSTS could not make the exception again).
    hsts: bool,
}

impl Policy {
    pub fn new(script_hashes: Vec<String>, market_feed: &str, hsts: bool) -> Policy {
        let market_origin = market_feed
            .split_once("://")
            .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")));
        Policy {
            script_hashes,
            market_origin,
            hsts,
        }
    }

    /// The policy for a response to a request addressed to `host` (its `Host` header): the
    /// socket.io WebSocket of that host is named explicitly, as not every browser counts
    /// `ws:` under `'self'`.
    fn header(&self, host: Option<&str>) -> String {
        let mut connect = vec!["'self'".to_owned()];
        if let Some(host) = host.filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        }) {
            connect.push(format!("ws://{host}"));
            connect.push(format!("wss://{host}"));
        }
        connect.extend(self.market_origin.clone());
        let scripts = std::iter::once("'self' 'wasm-unsafe-eval'".to_owned())
            .chain(self.script_hashes.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "default-src 'self'; script-src {scripts}; style-src 'self'; \
             img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
             connect-src {}; font-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
            connect.join(" ")
        )
    }
}

/// Adds the security headers to every response.
pub async fn add(State(policy): State<Arc<Policy>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&policy.header(host.as_deref())) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if policy.hsts {
        // A year, the usual value; no includeSubDomains: other hosts of the domain are not ours.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// `'sha256-…'` for each inline `<script>` (one without `src`) of an HTML page.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::Engine;
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let body = &rest[tag_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = ring::digest::digest(&ring::digest::SHA256, &body.as_bytes()[..close]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
            hashes.push(format!("'sha256-{encoded}'"));
        }
        rest = &body[close..];
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_linked_ones_are_not() {
        let html = "<head><script type=\"module\">\nimport init from '/a.js';\n</script>\
                    <script src=\"/socket.io/socket.io.js\"></script></head>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 1);
        // sha256 of "\nimport init from '/a.js';\n", base64-encoded (checked with Python's hashlib).
        assert_eq!(
            hashes[0],
            "'sha256-nmdLyQ6u69OUSoW4i7ADiAWaKqSloTkmbl/K96XORko='"
        );
    }

    #[test]
    fn the_policy_allows_our_scripts_wasm_sockets_and_the_market_only() {
        let policy = Policy::new(vec!["'sha256-x'".into()], "wss://ws.bitstamp.net", false);
        let header = policy.header(Some("192.168.1.5:3000"));
        assert!(header.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-x';"));
        assert!(header.contains(
            "connect-src 'self' ws://192.168.1.5:3000 wss://192.168.1.5:3000 wss://ws.bitstamp.net;"
        ));
        assert!(header.contains("frame-ancestors 'none'"));
        assert!(!header.contains("unsafe-inline"));
        let demo = Policy::new(vec![], "/market/ws", false);
        assert!(demo
            .header(Some("bad host\""))
            .contains("connect-src 'self';"));
    }
}
