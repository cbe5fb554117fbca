//! Command-line flags, each also settable from the environment or a `.env` file.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Switchboard: real-time web communication, one app at a time.
#[derive(Debug, Clone, Parser)]
#[command(name = "switchboard", version, about, max_term_width = 100)]
pub struct Config {
    /// Address to listen on. The default keeps the server private to this computer; use
    /// 0.0.0.0 to let phones on your network connect.
    #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SWITCHBOARD_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Directory for the chat history and the self-signed certificate; created if missing.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,server::chat=debug".
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info")]
    pub log_level: String,

    /// Serve HTTPS. self-signed: a certificate generated for localhost and this machine's LAN
    /// addresses (kept in the data directory, so a browser's exception survives restarts);
    /// acme: a real one for --domain, from Let's Encrypt. Phones need HTTPS for the camera and
    /// the gyroscope.
    #[arg(long, env = "SWITCHBOARD_TLS", value_enum, default_value_t = TlsMode::Off,
          conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls: TlsMode,

    /// With --tls acme: a name to get the certificate for (repeat for several). Its DNS must
    /// point at this server, and TCP port 443 must reach it: the CA validates there
    /// (TLS-ALPN-01), nothing needs port 80.
    #[arg(long = "domain", env = "SWITCHBOARD_DOMAINS", value_delimiter = ',',
          value_parser = parse_domain)]
    pub domains: Vec<String>,

    /// With --tls acme: how the CA may reach you about the certificates, e.g.
    /// mailto:admin@example.org (repeat for several).
    #[arg(long = "acme-contact", env = "SWITCHBOARD_ACME_CONTACT", value_delimiter = ',',
          value_parser = parse_contact)]
    pub acme_contacts: Vec<String>,

    /// With --tls acme: the CA's ACME directory URL. Default: Let's Encrypt; "staging" is
    /// Let's Encrypt's staging directory (untrusted certificates, generous rate limits: try a
    /// setup there first).
    #[arg(long, env = "SWITCHBOARD_ACME_DIRECTORY", default_value = "production",
          value_parser = parse_acme_directory)]
    pub acme_directory: String,

    /// With --tls acme: trust this CA certificate (PEM) for the ACME directory's own HTTPS,
    /// instead of the public roots: for a CA you run yourself, or test servers like pebble.
    #[arg(long, env = "SWITCHBOARD_ACME_DIRECTORY_CA")]
    pub acme_directory_ca: Option<PathBuf>,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) for --tls-cert.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The URL phones should open (e.g. https://switchboard.example.org), instead of the
    /// LAN addresses the server finds itself. Use it behind a proxy or a tunnel.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where live trades come from: the real Bitstamp, or a simulated market inside this
    /// server that speaks the same protocol (no internet needed).
    #[arg(long, env = "SWITCHBOARD_MARKET", value_enum, default_value_t = MarketMode::Bitstamp)]
    pub market: MarketMode,

    /// The market's WebSocket feed (Bitstamp API v2), when --market bitstamp.
    #[arg(
        long,
        env = "SWITCHBOARD_MARKET_WS",
        default_value = "wss://ws.bitstamp.net"
    )]
    pub market_ws: String,

    /// The market's REST API base (the ticker is `<base>/api/v2/ticker/<pair>/`), when
    /// --market bitstamp.
    #[arg(
        long,
        env = "SWITCHBOARD_MARKET_API",
        default_value = "https://www.bitstamp.net"
    )]
    pub market_api: String,

    /// Another STUN or TURN server for WebRTC calls (repeat for several), such as a coturn:
    /// turn:host:3478 (with --turn-secret, each page gets fresh credentials for it) or
    /// turn:user:password@host:3478 (one fixed password, seen by every page). Default: none;
    /// --turn adds this server's own.
    #[arg(long = "ice-server", env = "SWITCHBOARD_ICE_SERVERS", value_delimiter = ',',
          value_parser = parse_ice_server)]
    pub ice_servers: Vec<app::IceServer>,

    /// Ignore the --ice-server list (and SWITCHBOARD_ICE_SERVERS): pages then get only the
    /// own relay of --turn, if any.
    #[arg(long, env = "SWITCHBOARD_NO_ICE_SERVERS")]
    pub no_ice_servers: bool,

    /// Let calls use relayed paths only (iceTransportPolicy "relay"): the two sides never
    /// learn each other's addresses. Needs --turn or a TURN --ice-server.
    #[arg(long, env = "SWITCHBOARD_RELAY_ONLY")]
    pub relay_only: bool,

    /// How fast one client may send to a namespace: NAME=RATE/BURST (events per second, and
    /// how many at once), e.g. chat=10/20. Repeat for several. Defaults: chat and simple-chat
    /// 10/20, cursors and remote 120/120, signal 100/100.
    #[arg(long = "rate-limit", env = "SWITCHBOARD_RATE_LIMITS", value_delimiter = ',',
          value_parser = parse_rate_limit)]
    pub rate_limits: Vec<(String, crate::contract::Rate)>,

    /// A web origin (scheme://host[:port]) besides the server's own whose pages may connect
    /// to socket.io, e.g. https://course.example.org. Repeat for several. Pages of other
    /// origins are refused (clients that send no Origin, like native apps, are not).
    #[arg(
        long = "allowed-origin",
        env = "SWITCHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// A bearer token that lets other computers read /metrics (it always answers this one).
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Let anyone read /metrics (e.g. when a firewall already keeps others out).
    #[arg(long, env = "SWITCHBOARD_METRICS_PUBLIC")]
    pub metrics_public: bool,

    /// Serve /metrics on this address of its own (e.g. 127.0.0.1:9100), to whoever reaches it,
    /// and no longer to loopback on the main port: behind a proxy on the same host, loopback
    /// is everyone.
    #[arg(long, env = "SWITCHBOARD_METRICS_BIND")]
    pub metrics_bind: Option<std::net::SocketAddr>,

    /// A balancer or proxy in front of this node (repeatable): its X-Forwarded-For names the
    /// client. From loopback without it, a forwarded request is not taken as this computer's.
    #[arg(
        long = "trusted-proxy",
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Connections one client address may hold (0: no limit). A classroom behind one NAT
    /// shares an address, and every open page holds one or two.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP",
        default_value_t = 512
    )]
    pub max_connections_per_ip: usize,

    /// Connections the server holds in all (0: no limit); more are closed at once.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Seconds a client may take to send its request headers; slower ones are closed (a
    /// "slowloris" holds connections open by trickling them).
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT", default_value_t = 5.0,
          value_parser = parse_seconds)]
    pub header_timeout: f64,

    /// No rate limits at all (for benchmarks that measure the server flat out).
    #[arg(long, env = "SWITCHBOARD_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,

    /// Run as one node of a cluster: several Switchboard processes that share this Redis
    /// (e.g. redis://127.0.0.1:6379) act as one server. Each keeps its own --port and
    /// --data-dir; put a balancer with sticky sessions in front (deploy/haproxy.cfg).
    #[arg(long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Serve the web app from this directory (Trunk's output) instead of the copy built into
    /// the binary: for development, where `make frontend` rebuilds it.
    #[arg(long, env = "SWITCHBOARD_SITE_DIR")]
    pub site_dir: Option<PathBuf>,

    /// Run a STUN and TURN relay too (UDP and TCP on --turn-port), for calls between
    /// networks that cannot reach each other directly. Credentials are short-lived (the TURN
    /// REST scheme, as coturn's use-auth-secret), made from --turn-secret.
    #[arg(long, env = "SWITCHBOARD_TURN")]
    pub turn: bool,

    /// The relay's port, UDP and TCP (0 picks a free one).
    #[arg(long, env = "SWITCHBOARD_TURN_PORT", default_value_t = 3478)]
    pub turn_port: u16,

    /// The address relayed candidates carry: this machine's public address when it is behind
    /// a 1:1 NAT (cloud VMs). Default: --bind, or the first LAN address when --bind is 0.0.0.0.
    #[arg(long, env = "SWITCHBOARD_TURN_PUBLIC_IP")]
    pub turn_public_ip: Option<IpAddr>,

    /// UDP ports the relay allocates from, MIN-MAX.
    #[arg(long, env = "SWITCHBOARD_TURN_RELAY_PORTS", default_value = "49152-65535",
          value_parser = parse_port_range)]
    pub turn_relay_ports: (u16, u16),

    /// The secret shared with whoever issues credentials (coturn's static-auth-secret).
    /// Default: one generated on first start and kept in the data directory (0600).
    #[arg(long, env = "SWITCHBOARD_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Relay to peers on loopback addresses too (only for tests on one machine, like coturn's
    /// --allow-loopback-peers).
    #[arg(long, env = "SWITCHBOARD_TURN_ALLOW_LOOPBACK")]
    pub turn_allow_loopback: bool,

    /// Relay to peers on private addresses too (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7). Off by default: anyone who opens a page gets credentials, and the relay must
    /// not be their way into the server's own network. Calls between two users of this relay
    /// need no such peer (they meet inside it).
    #[arg(long, env = "SWITCHBOARD_TURN_ALLOW_PRIVATE")]
    pub turn_allow_private: bool,

    /// Seconds the credentials this server issues stay valid (at most a day).
    #[arg(long, env = "SWITCHBOARD_TURN_CREDENTIAL_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub turn_credential_ttl: u64,

    /// Allocations the relay holds in all; more are refused (508).
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_ALLOCATIONS", default_value_t = 1000)]
    pub turn_max_allocations: usize,

    /// Allocations one user (the user-id of the credentials) may hold; more are refused (486).
    #[arg(long, env = "SWITCHBOARD_TURN_USER_ALLOCATIONS", default_value_t = 16)]
    pub turn_user_allocations: usize,

    /// Allocations the clients at one IP address may hold together; more are refused (486).
    /// Every page gets credentials of its own, so this is what bounds one machine (or one
    /// network behind a NAT: a class of 30 in a meeting holds about 100).
    #[arg(
        long,
        env = "SWITCHBOARD_TURN_ADDRESS_ALLOCATIONS",
        default_value_t = 100
    )]
    pub turn_address_allocations: usize,

    /// Bandwidth of one allocation, both directions together, in kbit/s; packets beyond it
    /// are dropped.
    #[arg(long, env = "SWITCHBOARD_TURN_BANDWIDTH_KBPS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub turn_bandwidth_kbps: u64,

    /// The longest lifetime an allocation gets, in seconds (a client refreshes it before it
    /// ends); RFC 8656's default lifetime is 600.
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_LIFETIME", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(60..=3600))]
    pub turn_max_lifetime: u32,

    /// How /meet carries a meeting's media: `sfu`, through this server (each person sends
    /// one camera, rooms of up to --meet-capacity), or `mesh`, browser to browser (rooms of
    /// 4, no media through the server). In a cluster a room's media live on one node.
    #[arg(long, env = "SWITCHBOARD_MEET_MEDIA", value_enum, default_value_t = MeetMedia::Sfu)]
    pub meet_media: MeetMedia,

    /// How many people one /meet room holds when its media go through the SFU.
    #[arg(long, env = "SWITCHBOARD_MEET_CAPACITY", default_value_t = 25,
          value_parser = clap::value_parser!(u16).range(2..=100))]
    pub meet_capacity: u16,

    /// The SFU's UDP port: every meeting's media, in and out (0 picks a free one).
    #[arg(long, env = "SWITCHBOARD_MEDIA_PORT", default_value_t = 3479)]
    pub media_port: u16,

    /// How many loops the SFU runs, each a task with its own UDP port (--media-port, the
    /// next port, and so on): a room's media stay on one loop, rooms are spread over them.
    /// One loop takes about one core at full load.
    #[arg(long, env = "SWITCHBOARD_MEDIA_LOOPS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub media_loops: u16,

    /// The address the SFU gives browsers to send media to: this machine's public address
    /// when it is behind a 1:1 NAT (cloud VMs). Default: --bind, or the first LAN address
    /// when --bind is 0.0.0.0 (as --turn-public-ip).
    #[arg(long, env = "SWITCHBOARD_MEDIA_PUBLIC_IP")]
    pub media_public_ip: Option<IpAddr>,
}

/// How /meet carries its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MeetMedia {
    /// Through the server's selective forwarding unit.
    Sfu,
    /// Browser to browser, every pair connected (rooms of 4).
    Mesh,
}

/// Where the trades page gets its market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MarketMode {
    /// Bitstamp (or whatever --market-ws / --market-api point at).
    Bitstamp,
    /// The built-in simulated market.
    Demo,
}

/// How the server speaks TLS itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Plain HTTP (production runs behind a TLS-terminating proxy).
    Off,
    /// HTTPS with a generated, self-signed certificate.
    SelfSigned,
    /// HTTPS with a certificate from Let's Encrypt (or --acme-directory) for the --domain
    /// names, renewed while the server runs.
    Acme,
}

/// Let's Encrypt's ACME directories.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

fn parse_acme_directory(raw: &str) -> Result<String, String> {
    match raw {
        "production" => Ok(LETS_ENCRYPT.to_owned()),
        "staging" => Ok(LETS_ENCRYPT_STAGING.to_owned()),
        url if url.starts_with("https://") => Ok(url.to_owned()),
        _ => Err(format!(
            "{raw:?} is not an https:// URL of an ACME directory (nor \"production\" or \"staging\")"
        )),
    }
}

/// A DNS name a CA can issue for: letters, digits and hyphens in dot-separated labels.
fn parse_domain(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(name)
    } else {
        Err(format!(
            "{raw:?} is not a domain name such as switchboard.example.org"
        ))
    }
}

/// An ACME contact URL; a bare e-mail address becomes `mailto:`.
fn parse_contact(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let address = raw.strip_prefix("mailto:").unwrap_or(raw);
    match address.split_once('@') {
        Some((user, host)) if !user.is_empty() && host.contains('.') && !address.contains(' ') => {
            Ok(format!("mailto:{address}"))
        }
        _ => Err(format!(
            "{raw:?} is not an e-mail contact such as mailto:admin@example.org"
        )),
    }
}

fn parse_seconds(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .ok_or_else(|| format!("{raw:?} is not a number of seconds"))
}

fn parse_port_range(raw: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{raw:?} is not a port range MIN-MAX, e.g. 49152-65535");
    let (min, max) = raw.split_once('-').ok_or_else(bad)?;
    let min: u16 = min.trim().parse().map_err(|_| bad())?;
    let max: u16 = max.trim().parse().map_err(|_| bad())?;
    if min == 0 || min > max {
        return Err(bad());
    }
    Ok((min, max))
}

fn parse_rate_limit(raw: &str) -> Result<(String, crate::contract::Rate), String> {
    let (name, rate) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not NAME=RATE/BURST, e.g. chat=10/20"))?;
    let rate = rate.parse()?;
    crate::namespaces::default_limits().set(name.trim(), rate)?;
    Ok((name.trim().to_owned(), rate))
}

fn parse_ice_server(raw: &str) -> Result<app::IceServer, String> {
    app::IceServer::parse(raw)
}

impl Config {
    /// The ICE servers pages should use.
    pub fn ice_servers(&self) -> Vec<app::IceServer> {
        if self.no_ice_servers {
            Vec::new()
        } else {
            self.ice_servers.clone()
        }
    }

    /// How fast clients may send, per namespace.
    pub fn limits(&self) -> crate::contract::Limits {
        if self.no_rate_limits {
            return crate::contract::Limits::none();
        }
        let mut limits = crate::namespaces::default_limits();
        for (name, rate) in &self.rate_limits {
            // Checked when the flag was read.
            let _ = limits.set(name, *rate);
        }
        limits
    }

    /// A configuration for tests: loopback, a free port, the given data directory, and any
    /// further flags.
    pub fn for_tests(data_dir: &std::path::Path, extra: &[&str]) -> Self {
        let mut args: Vec<std::ffi::OsString> = vec![
            "switchboard".into(),
            "--port".into(),
            "0".into(),
            "--data-dir".into(),
            data_dir.into(),
            "--media-port".into(),
            "0".into(),
        ];
        args.extend(extra.iter().map(Into::into));
        Config::parse_from(args)
    }

    /// Whether the server itself serves HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.tls != TlsMode::Off || self.tls_cert.is_some()
    }

    /// Whether it serves a certificate browsers trust by themselves (from ACME or the
    /// operator's files): then browsers are told to come back over HTTPS only (HSTS).
    pub fn trusted_certificate(&self) -> bool {
        self.tls == TlsMode::Acme || self.tls_cert.is_some()
    }

    /// The URL phones should open: --public-url, or with --tls acme the first --domain (and
    /// --port, when it is not 443).
    pub fn site_url(&self) -> Option<String> {
        if let Some(url) = &self.public_url {
            return Some(url.trim_end_matches('/').to_owned());
        }
        self.acme_origins().into_iter().next()
    }

    /// With --tls acme, the origin of each --domain.
    pub fn acme_origins(&self) -> Vec<String> {
        if self.tls != TlsMode::Acme {
            return Vec::new();
        }
        let port = match self.port {
            0 | 443 => String::new(),
            port => format!(":{port}"),
        };
        self.domains
            .iter()
            .map(|domain| format!("https://{domain}{port}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_private_and_plain() {
        let config = Config::parse_from(["switchboard"]);
        assert_eq!(config.bind.to_string(), "127.0.0.1");
        assert_eq!(config.port, 3000);
        assert!(!config.serves_tls());
    }

    #[test]
    fn ice_servers_are_none_by_default_and_can_be_several() {
        let config = Config::parse_from(["s"]);
        assert!(
            config.ice_servers().is_empty(),
            "no third party learns who calls"
        );
        assert!(
            Config::parse_from(["s", "--no-ice-servers", "--ice-server", "stun:a:1"])
                .ice_servers()
                .is_empty()
        );
        let several = Config::parse_from([
            "s",
            "--ice-server",
            "stun:a:1",
            "--ice-server",
            "turn:u:p@b:2",
        ]);
        assert_eq!(several.ice_servers().len(), 2);
        assert!(Config::try_parse_from(["s", "--ice-server", "ftp:x"]).is_err());
    }

    #[test]
    fn turn_is_off_unless_asked_and_takes_a_port_range() {
        let config = Config::parse_from(["s"]);
        assert!(!config.turn);
        assert_eq!(config.turn_port, 3478);
        assert_eq!(config.turn_relay_ports, (49152, 65535));
        assert!(!config.turn_allow_loopback);
        let set = Config::parse_from(["s", "--turn", "--turn-relay-ports", "40000-40100"]);
        assert!(set.turn);
        assert_eq!(set.turn_relay_ports, (40000, 40100));
        for bad in ["40100-40000", "0-10", "40000", "a-b"] {
            assert!(Config::try_parse_from(["s", "--turn-relay-ports", bad]).is_err());
        }
    }

    #[test]
    fn cert_and_key_go_together_and_exclude_self_signed() {
        assert!(Config::try_parse_from(["s", "--tls-cert", "c.pem"]).is_err());
        assert!(Config::try_parse_from([
            "s",
            "--tls",
            "self-signed",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_err());
        let files =
            Config::try_parse_from(["s", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert!(files.serves_tls() && files.trusted_certificate());
        let own = Config::parse_from(["s", "--tls", "self-signed"]);
        assert!(own.serves_tls() && !own.trusted_certificate());
    }

    #[test]
    fn acme_takes_domains_contacts_and_a_directory() {
        let config = Config::parse_from([
            "s",
            "--tls",
            "acme",
            "--domain",
            "Switchboard.Example.org",
            "--domain",
            "b.example.org",
            "--acme-contact",
            "admin@example.org",
            "--port",
            "443",
        ]);
        assert!(config.serves_tls() && config.trusted_certificate());
        assert_eq!(config.domains, ["switchboard.example.org", "b.example.org"]);
        assert_eq!(config.acme_contacts, ["mailto:admin@example.org"]);
        assert_eq!(config.acme_directory, LETS_ENCRYPT, "production by default");
        assert_eq!(
            config.site_url().as_deref(),
            Some("https://switchboard.example.org")
        );
        let staging = Config::parse_from(["s", "--acme-directory", "staging"]);
        assert_eq!(staging.acme_directory, LETS_ENCRYPT_STAGING);
        for (flag, bad) in [
            ("--domain", "not a name"),
            ("--domain", "-x.org"),
            ("--acme-contact", "admin"),
            ("--acme-directory", "http://plain.example/dir"),
        ] {
            assert!(
                Config::try_parse_from(["s", flag, bad]).is_err(),
                "{flag} {bad}"
            );
        }
    }
}
