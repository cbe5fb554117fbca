//! The embedded STUN and TURN relay (`--turn`): for calls between networks that cannot reach
//! each other directly. It shares only the configuration and the metrics with the rest.
//!
//! Layout: `credentials` (short-lived REST credentials: the maker, the check, the secret),
//! `issuer` (the `iceServers` each page gets, with credentials made for it), `bounds` (quotas, bandwidth, which peers are served), `allocation` (the
//! state), `protocol` (STUN and TURN as a sans-IO state machine), `listener` (the sockets and
//! tasks on tokio). Built on the codec crates `stun-types` and `turn-types`.
//!
//! Architecture invariant: the relay never sends to a peer the client did not name with
//! CreatePermission or ChannelBind, and never to loopback (unless `--turn-allow-loopback`),
//! to non-unicast addresses or to the server's own listening ports.

mod allocation;
mod bounds;
pub(crate) mod credentials;
mod issuer;
mod listener;
mod protocol;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::metrics::RelayCounters;
use crate::tasks::Tasks;
use crate::StartError;

pub(crate) use issuer::{host_of, IceIssuer};

/// The REALM of the long-term credentials.
pub(crate) const REALM: &str = "switchboard";

/// A relay bound to its port, ready to run.
pub(crate) struct Relay {
    /// Where clients reach it (UDP and TCP).
    pub addr: SocketAddr,
    turn: protocol::Turn<listener::Sockets>,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    /// What it counts, for `/metrics`.
    pub counters: Arc<RelayCounters>,
    /// A TCP client that sends nothing for this long is closed.
    idle: Duration,
    max_connections: usize,
}

impl Relay {
    /// Binds the TURN port (UDP and TCP) as `config` says, for a server whose HTTP side
    /// listens on `http`, checking credentials made from `secret`. Runs inside tokio.
    /// `media` are the SFU's addresses: always a peer, whatever the address (a browser that
    /// reaches this server only through the relay must still reach its meetings).
    pub fn bind(
        config: &Config,
        http: SocketAddr,
        media: &[SocketAddr],
        secret: String,
    ) -> Result<Relay, StartError> {
        let counters = Arc::new(RelayCounters::default());
        let (udp, tcp) =
            bind_both(config.bind, config.turn_port).map_err(|source| StartError::Bind {
                addr: SocketAddr::new(config.bind, config.turn_port),
                source,
            })?;
        let addr = udp.local_addr()?;
        crate::net::enlarge_buffers(&udp);
        let relay_ip = config
            .turn_public_ip
            .unwrap_or_else(|| crate::net::reachable_ip(config.bind));
        let relay_bind = match (config.bind.is_unspecified(), relay_ip) {
            (false, _) => config.bind,
            (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let limits = bounds::Limits {
            max_allocations: config.turn_max_allocations,
            per_user: config.turn_user_allocations,
            per_ip: config.turn_address_allocations,
            bytes_per_second: config.turn_bandwidth_kbps * 1000 / 8,
            max_lifetime: Duration::from_secs(config.turn_max_lifetime.into()),
            ..bounds::Limits::default()
        };
        let idle = limits.max_lifetime + Duration::from_secs(60);
        let max_connections = limits.max_allocations;
        let policy = bounds::PeerPolicy {
            allow_loopback: config.turn_allow_loopback,
            allow_private: config.turn_allow_private,
            own_ips: own_ips(config),
            own_ports: vec![addr.port(), http.port()],
            our_sfu: media.to_vec(),
        };
        let settings = protocol::Settings {
            realm: REALM.to_owned(),
            secret,
            relay_ip,
            limits,
            policy,
        };
        let sockets = listener::Sockets {
            ip: relay_bind,
            ports: config.turn_relay_ports,
        };
        tracing::info!(
            %addr,
            %relay_ip,
            ports = ?config.turn_relay_ports,
            "TURN relay listening (UDP and TCP)"
        );
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let udp = tokio::net::UdpSocket::from_std(udp)?;
        let tcp = tokio::net::TcpListener::from_std(tcp)?;
        Ok(Relay {
            addr,
            turn: protocol::Turn::new(settings, sockets, counters.clone()),
            udp,
            tcp,
            counters,
            idle,
            max_connections,
        })
    }

    /// Starts its listener among the server's tasks; the server's stop ends it and every
    /// allocation's task with it.
    pub fn spawn(self, tasks: &Tasks) {
        tasks.spawn(listener::run(
            self.turn,
            self.udp,
            self.tcp,
            self.counters,
            self.idle,
            self.max_connections,
        ));
    }
}

/// The ICE side of a server: its own relay when `--turn` asks for one, and what makes every
/// page's `iceServers`.
pub(crate) struct Ice {
    pub relay: Option<Relay>,
    pub issuer: IceIssuer,
}

impl Ice {
    /// Binds the relay's port when `--turn` asks for it (inside tokio), checking credentials
    /// made from `secret` (see [`secret`], [`cluster_secret`]); checks that `--relay-only`
    /// has a relay to use.
    pub fn bind(
        config: &Config,
        http: SocketAddr,
        media: &[SocketAddr],
        secret: Option<String>,
    ) -> Result<Ice, StartError> {
        let relay = match (&secret, config.turn) {
            (Some(secret), true) => Some(Relay::bind(config, http, media, secret.clone())?),
            _ => None,
        };
        let issuer = IceIssuer::new(config, relay.as_ref().map(|r| r.addr.port()), secret);
        if config.relay_only && !issuer.has_turn() {
            return Err(StartError::RelayOnlyWithoutRelay);
        }
        if let Some(server) = issuer.unsigned_turn() {
            return Err(StartError::TurnWithoutCredentials(server.to_owned()));
        }
        Ok(Ice { relay, issuer })
    }
}

/// A user-id for one page's credentials (the relay's per-user quota counts by it): 64 random
/// bits, so one page cannot spend another's quota.
pub(crate) fn page_user_id() -> String {
    let mut bytes = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // Credentials stay valid; only the per-user quota is shared by every page.
        tracing::warn!("no randomness for a TURN user-id: pages share one");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret TURN credentials are made from, when anything needs one: our relay (`--turn`)
/// or an external TURN server that shares it (`--turn-secret` with `--ice-server turn:...`).
pub fn secret(config: &Config) -> std::io::Result<Option<String>> {
    if !config.turn && config.turn_secret.is_none() {
        return Ok(None);
    }
    credentials::load_or_create_secret(config.turn_secret.as_deref(), &config.data_dir).map(Some)
}

/// The cluster's secret: every node must accept the credentials any node issued (a page may
/// load from one node and reach another's relay). `--turn-secret` when given (the same on
/// every node); else the first node to start keeps its secret in Redis and the others take
/// it from there.
pub async fn cluster_secret(
    config: &Config,
    kv: &dyn crate::cluster::Kv,
) -> Result<Option<String>, StartError> {
    let Some(own) = secret(config)? else {
        return Ok(None);
    };
    if config.turn_secret.is_some() {
        return Ok(Some(own));
    }
    let key = format!("{}:turn-secret", crate::cluster::PREFIX);
    let unreachable = |e: crate::cluster::Unreachable| StartError::Cluster(e.0);
    // Kept for ten years, i.e. until Redis loses it (then the next node to start offers its
    // own, and nodes started before keep theirs: give --turn-secret to avoid that).
    kv.set_if_absent(&key, &own, Duration::from_secs(10 * 365 * 86_400))
        .await
        .map_err(unreachable)?;
    match kv.get(&key).await.map_err(unreachable)? {
        Some(shared) => Ok(Some(shared)),
        None => {
            tracing::warn!(
                "Redis lost the cluster's TURN secret as this node started: this node uses its \
                 own, and other nodes' relays refuse its pages' credentials; give every node \
                 the same --turn-secret"
            );
            Ok(Some(own))
        }
    }
}

/// The UDP and the TCP socket on one port (with port 0, a port free for both).
fn bind_both(
    ip: IpAddr,
    port: u16,
) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let attempts = if port == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = std::net::UdpSocket::bind((ip, port))?;
        match std::net::TcpListener::bind((ip, udp.local_addr()?.port())) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// This machine's addresses: a peer there on one of our ports would be ourselves.
fn own_ips(config: &Config) -> HashSet<IpAddr> {
    let mut ips: HashSet<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .collect();
    ips.insert(config.bind);
    ips.extend(config.turn_public_ip);
    ips.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
    ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
    ips
}
