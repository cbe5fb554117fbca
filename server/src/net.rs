//! Which addresses reach this server: what it prints at startup and what a phone is shown.

use std::net::{IpAddr, SocketAddr};

/// This machine's addresses that other devices on the network can use: IPv4, not loopback,
/// not link-local. Private (home/office) networks first.
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        })
        .collect();
    found.sort_by_key(|ip| match ip {
        IpAddr::V4(v4) => (!v4.is_private(), *v4),
        IpAddr::V6(_) => (true, std::net::Ipv4Addr::UNSPECIFIED),
    });
    found.dedup();
    found
}

/// The address other machines reach a server bound to `bind` at: `bind` itself, or the
/// first LAN address when it is 0.0.0.0 (loopback when there is none). The relay and the SFU
/// hand it to browsers.
pub fn reachable_ip(bind: IpAddr) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    lan_addresses()
        .first()
        .copied()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// Socket buffers a UDP listener (the relay's, the SFU's) asks for; the kernel caps them at
/// net.core.rmem_max and wmem_max, 4 MB on Debian. One socket carries every client, so the
/// default 208 KB,
/// about 90 packets of media, overflowed after a few milliseconds without a turn on the CPU
/// (`bench turn`: 4.5 % lost at 100 calls with the core 30 % busy).
const LISTENER_BUFFER: usize = 4 << 20;

pub fn enlarge_buffers(udp: &std::net::UdpSocket) {
    let socket = socket2::SockRef::from(udp);
    for (which, result) in [
        ("receive", socket.set_recv_buffer_size(LISTENER_BUFFER)),
        ("send", socket.set_send_buffer_size(LISTENER_BUFFER)),
    ] {
        if let Err(error) = result {
            tracing::warn!(%error, "cannot enlarge a UDP listener's {which} buffer");
        }
    }
}

/// Base URLs (no trailing slash) under which phones reach a server listening on `local`.
pub fn lan_urls(local: SocketAddr, tls: bool, public_url: Option<&str>) -> Vec<String> {
    if let Some(url) = public_url {
        return vec![url.trim_end_matches('/').to_owned()];
    }
    let scheme = if tls { "https" } else { "http" };
    let addresses = if local.ip().is_unspecified() || local.ip().is_loopback() {
        lan_addresses()
    } else {
        vec![local.ip()]
    };
    addresses
        .into_iter()
        .map(|ip| format!("{scheme}://{}", SocketAddr::new(ip, local.port())))
        .collect()
}

/// The URL to open on this computer.
pub fn local_url(local: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), local.port())
    } else {
        local
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_wins_over_found_addresses() {
        let urls = lan_urls(
            "0.0.0.0:3000".parse().unwrap(),
            false,
            Some("https://sb.example.org/"),
        );
        assert_eq!(urls, vec!["https://sb.example.org"]);
    }

    #[test]
    fn a_specific_bind_address_is_the_only_lan_url() {
        let urls = lan_urls("192.168.1.7:4000".parse().unwrap(), true, None);
        assert_eq!(urls, vec!["https://192.168.1.7:4000"]);
    }

    #[test]
    fn loopback_is_never_offered_to_phones() {
        let urls = lan_urls("127.0.0.1:3000".parse().unwrap(), false, None);
        assert!(urls.iter().all(|u| !u.contains("127.0.0.1")));
    }

    #[test]
    fn the_local_url_of_a_wildcard_bind_is_loopback() {
        assert_eq!(
            local_url("0.0.0.0:3000".parse().unwrap(), false),
            "http://127.0.0.1:3000"
        );
    }
}

#[cfg(test)]
mod listener_buffers {
    use super::*;

    #[test]
    fn a_udp_listener_asks_for_buffers_for_many_clients() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let before = socket2::SockRef::from(&udp)
            .recv_buffer_size()
            .expect("size");
        crate::net::enlarge_buffers(&udp);
        let after = socket2::SockRef::from(&udp)
            .recv_buffer_size()
            .expect("size");
        // The kernel caps the request at net.core.rmem_max (and reports twice what it keeps).
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            after >= before.max(2 * cap.min(LISTENER_BUFFER)),
            "{before} → {after}"
        );
    }
}
