//! The HTTP side of the server: health, metrics, server functions, the site's files, and
//! the request socket.io keeps of each connection.

use std::net::SocketAddr;
use std::sync::Arc;

use app::SiteConfig;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};

use crate::client_address::TrustedProxies;
use crate::contract;
use crate::hangup::Hangup;
use crate::site::Site;

/// The routes besides socket.io's and the trades': health, metrics, server functions, and
/// the site's files for everything else.
pub fn routes(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(serve_metrics))
        .route("/api/{*server_fn}", any(server_fn))
        .fallback(site_file)
        .with_state(state)
}

/// What axum's handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub site: Site,
    /// Handed to server functions as Leptos context, with the ICE part made per request.
    pub site_config: SiteConfig,
    /// Makes each page's `iceServers` (fresh TURN credentials every time).
    pub ice: crate::turn::IceIssuer,
    /// This server's counters, for `/metrics`.
    pub shared: Arc<contract::Shared>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
}

/// `/metrics` answers clients on this computer (see `client_address` for those behind a
/// proxy) unless it has a listener of its own (`--metrics-bind`); others only with the
/// token, or when it is public.
#[derive(Clone)]
pub struct MetricsAccess {
    pub token: Option<String>,
    pub public: bool,
    pub proxies: TrustedProxies,
    /// Whether this computer reads it on the main port (no `--metrics-bind`).
    pub local: bool,
}

impl MetricsAccess {
    fn allows(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        let local = self.local && self.proxies.client_is_local(peer, headers);
        if self.public || local {
            return true;
        }
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match (&self.token, presented) {
            (Some(token), Some(presented)) => same_secret(token, presented),
            _ => false,
        }
    }
}

/// The request headers the engine reads (the WebSocket handshake's key; a polling POST's
/// type). Everything else (cookies, user agent, languages) would be kept for the whole
/// connection for nobody: the Origin check has run before this.
const HEADERS_THE_ENGINE_READS: [axum::http::HeaderName; 2] = [
    axum::http::header::SEC_WEBSOCKET_KEY,
    axum::http::header::CONTENT_TYPE,
];

/// Copies what socketioxide keeps of a connection's first request (URI and the headers it
/// reads) into allocations of its own. As hyper parses them they point into the connection's
/// read buffer (16 KB or more), which would otherwise stay alive for as long as the WebSocket
/// is open.
pub fn detach_request<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let mut headers = axum::http::HeaderMap::with_capacity(HEADERS_THE_ENGINE_READS.len());
    for name in HEADERS_THE_ENGINE_READS {
        let value = parts.headers.get(&name);
        if let Some(value) =
            value.and_then(|v| axum::http::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(name, value);
        }
    }
    parts.headers = headers;
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    // An extension, too, keeps the read buffer alive; the upgrade handle is the one needed,
    // and the means to hang up on the client (see `contract::hang_up`).
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let hangup = parts.extensions.remove::<Hangup>();
    parts.extensions = Default::default();
    if let Some(upgrade) = upgrade {
        parts.extensions.insert(upgrade);
    }
    if let Some(hangup) = hangup {
        parts.extensions.insert(hangup);
    }
    Request::from_parts(parts, body)
}

/// Compares two secrets in constant time (their digests, byte by byte, all bytes always).
fn same_secret(a: &str, b: &str) -> bool {
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let (a, b) = (digest(a), digest(b));
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |differ, (x, y)| differ | (x ^ y))
        == 0
}

async fn serve_metrics(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !state.metrics_access.allows(peer, &headers) {
        return (
            axum::http::StatusCode::FORBIDDEN,
            "/metrics answers this computer only (on its --metrics-bind address, if any); elsewhere send the --metrics-token as a bearer token.",
        )
            .into_response();
    }
    metrics_response(&state.shared)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true }))
}

async fn server_fn(State(state): State<HttpState>, request: Request<Body>) -> impl IntoResponse {
    let mut site_config = state.site_config.clone();
    site_config.ice = page_ice(&state.ice, &request);
    leptos_axum::handle_server_fns_with_context(
        move || leptos::prelude::provide_context(site_config.clone()),
        request,
    )
    .await
}

/// The ICE configuration for the page that sent `request`: the relay is reached under the
/// same host name as the page, and the credentials carry a user-id of their own.
fn page_ice(issuer: &crate::turn::IceIssuer, request: &Request<Body>) -> app::IceConfig {
    let authority = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let host = authority.and_then(crate::turn::host_of);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    issuer.issue(host, now, &crate::turn::page_user_id())
}

async fn site_file(
    State(state): State<HttpState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    state.site.respond(&method, &uri, &headers)
}

/// This node's counters, and in cluster mode its view of the cluster.
/// `/metrics` alone, for its own listener (`--metrics-bind`): whoever reaches that address
/// reads it, so it is bound where only the scraper can.
pub fn metrics_only(shared: Arc<contract::Shared>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(shared): State<Arc<contract::Shared>>| async move {
                metrics_response(&shared)
            }),
        )
        .with_state(shared)
}

fn metrics_response(shared: &contract::Shared) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        render_metrics(shared),
    )
        .into_response()
}

fn render_metrics(shared: &contract::Shared) -> String {
    let mut text = shared.metrics.render();
    if let Some(cluster) = &shared.cluster {
        cluster.health.render(&mut text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_answer_this_computer_and_elsewhere_only_the_token() {
        let (home, away): (SocketAddr, SocketAddr) = (
            "127.0.0.1:5000".parse().unwrap(),
            "192.168.1.9:5000".parse().unwrap(),
        );
        let bearer = |token: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
            headers
        };
        let closed = MetricsAccess {
            token: None,
            public: false,
            proxies: TrustedProxies::default(),
            local: true,
        };
        assert!(closed.allows(home, &HeaderMap::new()));
        assert!(!closed.allows(away, &HeaderMap::new()));
        assert!(!closed.allows(away, &bearer("")));
        let token = MetricsAccess {
            token: Some("s3cret".into()),
            public: false,
            proxies: TrustedProxies::default(),
            local: true,
        };
        assert!(token.allows(away, &bearer("s3cret")));
        assert!(!token.allows(away, &bearer("s3cre")));
        assert!(!token.allows(away, &HeaderMap::new()));
        let public = MetricsAccess {
            token: None,
            public: true,
            proxies: TrustedProxies::default(),
            local: true,
        };
        assert!(public.allows(away, &HeaderMap::new()));
    }
}
