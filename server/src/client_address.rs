//! Who sent a request, when a balancer or proxy may stand between: behind one on the same
//! host (as `make cluster` runs HAProxy) every request comes from loopback, so "the client is
//! on loopback" would make what this computer alone may read (`/metrics`) public through it.
//!
//! The rule: a proxy's word about the client (its `X-Forwarded-For`) counts only from the
//! addresses named with `--trusted-proxy`; from any other loopback peer, a request that names
//! a forwarded client came through a proxy nobody configured, so its client is unknown.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The headers with which proxies name the client they forward for.
const FORWARDING_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    pub fn new(addresses: Vec<IpAddr>) -> Self {
        Self(addresses)
    }

    /// The address of the client behind `peer`, or `None` when it cannot be known.
    pub fn client_of(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<IpAddr> {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let peer_ip = peer.ip().to_canonical();
        if self.0.iter().any(|proxy| proxy.to_canonical() == peer_ip) {
            // The proxy appends the address it saw last: entries left of it are the
            // client's own claims.
            return headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|value| value.to_str().ok())
                .and_then(|list| list.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical());
        }
        let forwarded = FORWARDING_HEADERS
            .iter()
            .any(|name| headers.contains_key(*name));
        if forwarded && peer_ip.is_loopback() {
            return None;
        }
        Some(peer_ip)
    }

    /// True when the client is known to be on this computer.
    pub fn client_is_local(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        self.client_of(peer, headers)
            .is_some_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const LOCAL: &str = "127.0.0.1:40000";
    const AWAY: &str = "203.0.113.7:40000";

    #[test]
    fn a_direct_client_is_its_peer_address() {
        let none = TrustedProxies::default();
        assert!(none.client_is_local(LOCAL.parse().unwrap(), &HeaderMap::new()));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        assert!(none.client_is_local(mapped, &HeaderMap::new()));
        let mapped_proxy = TrustedProxies::new(vec!["127.0.0.1".parse().unwrap()]);
        let from_away = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert!(!mapped_proxy.client_is_local(mapped, &from_away));
        assert!(!none.client_is_local(AWAY.parse().unwrap(), &HeaderMap::new()));
    }

    #[test]
    fn a_forwarded_request_from_an_unconfigured_local_proxy_is_not_local() {
        let none = TrustedProxies::default();
        for name in FORWARDING_HEADERS {
            let forwarded = headers(&[(name, "203.0.113.7")]);
            assert!(
                !none.client_is_local(LOCAL.parse().unwrap(), &forwarded),
                "{name}"
            );
        }
    }

    #[test]
    fn a_trusted_proxy_names_the_client_by_the_last_forwarded_entry() {
        let haproxy = TrustedProxies::new(vec!["127.0.0.1".parse().unwrap()]);
        let peer = LOCAL.parse().unwrap();
        let from_away = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert!(!haproxy.client_is_local(peer, &from_away));
        // A client that claims loopback itself is not believed: the proxy appends the truth.
        let claims = headers(&[("x-forwarded-for", "127.0.0.1, 203.0.113.7")]);
        assert_eq!(haproxy.client_of(peer, &claims), "203.0.113.7".parse().ok());
        let split = headers(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(haproxy.client_of(peer, &split), "198.51.100.2".parse().ok());
        let from_here = headers(&[("x-forwarded-for", "127.0.0.1")]);
        assert!(haproxy.client_is_local(peer, &from_here));
        // Without the header the proxy did not say who it forwards for.
        assert_eq!(haproxy.client_of(peer, &HeaderMap::new()), None);
        assert_eq!(
            haproxy.client_of(peer, &headers(&[("x-forwarded-for", "nonsense")])),
            None
        );
    }
}
