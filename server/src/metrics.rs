//! What `GET /metrics` reports (Prometheus text format): connections and events per namespace,
//! deliveries dropped because a client read too slowly, the cursor tick's duration and the
//! process's resident memory.
//!
//! Each server has its own counters (part of its state), so a test reads exactly what its own
//! server did. The same place rate-limits warnings about bad input, so that a hostile client
//! cannot fill the disk with log lines.

use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Warnings about bad input logged in full per second; the rest are counted in one line.
const WARNINGS_PER_SECOND: u64 = 5;
/// Lines about connections and disconnections logged in full per second.
const CONNECTION_LINES_PER_SECOND: u64 = 50;

/// How many lines of one kind may be logged per second; the rest are counted.
#[derive(Default)]
struct LogBudget {
    /// The second (since the epoch) being counted.
    second: AtomicU64,
    used: AtomicU64,
    /// Lines held back since the last summary.
    suppressed: AtomicU64,
}

impl LogBudget {
    fn allow(&self, per_second: u64) -> bool {
        self.roll_over();
        if self.used.fetch_add(1, Relaxed) < per_second {
            true
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            false
        }
    }

    /// Starts a new second's budget if one has begun.
    fn roll_over(&self) {
        let now = epoch_seconds();
        let second = self.second.load(Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.used.store(0, Relaxed);
        }
    }

    /// How many lines were held back since the last call, if any (called once a second).
    fn flush(&self) -> Option<u64> {
        self.roll_over();
        Some(self.suppressed.swap(0, Relaxed)).filter(|n| *n > 0)
    }
}

#[derive(Default)]
pub struct Metrics {
    /// The counts of each namespace, by path.
    namespaces: Vec<(&'static str, Namespace)>,
    /// Deliveries socketioxide refused because the client's 128-packet buffer was full.
    dropped: AtomicU64,
    /// When drops were last logged (seconds since the epoch), to log them once a second.
    dropped_logged_at: AtomicU64,
    dropped_since_log: AtomicU64,
    tick_count: AtomicU64,
    tick_micros_sum: AtomicU64,
    tick_micros_max: AtomicU64,
    /// Client events refused as malformed, invalid or unknown.
    refused: AtomicU64,
    /// Client events refused because their sender went over its rate.
    rate_limited: AtomicU64,
    /// Signals dropped because they named someone outside the sender's call or room.
    misaddressed: AtomicU64,
    /// Clients disconnected because their outgoing buffer was full.
    slow_consumers: AtomicU64,
    /// Clients disconnected for flooding (far over their rate, or too many events waiting).
    abusers: AtomicU64,
    /// Connections closed at once: over a connection limit, or out of file descriptors.
    connections_refused: AtomicU64,
    /// Connections closed because their request headers did not arrive in time.
    header_timeouts: AtomicU64,
    /// socket.io requests refused because they came from a page of another origin.
    origins_refused: AtomicU64,
    /// Warnings about bad input: a few a second in full.
    input_warnings: LogBudget,
    /// Lines about connections and disconnections: a few dozen a second in full.
    connection_lines: LogBudget,
    /// The TURN relay's counters (all zero without `--turn`); the relay holds a reference.
    pub relay: std::sync::Arc<RelayCounters>,
    /// The SFU's counters (all zero when meetings mesh); the SFU holds a reference.
    pub sfu: std::sync::Arc<SfuCounters>,
}

/// What the SFU counts (`server/src/sfu/`): gauges the loop sets, counters it adds to.
#[derive(Debug, Default)]
pub struct SfuCounters {
    pub rooms: AtomicU64,
    pub publishers: AtomicU64,
    pub subscriptions: AtomicU64,
    pub received_packets: AtomicU64,
    pub sent_packets: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub forwarded_packets: AtomicU64,
    pub layer_switches: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub downlink_moves: AtomicU64,
    pub dropped_packets: AtomicU64,
    pub over_rate_packets: AtomicU64,
    pub refused_offers: AtomicU64,
    pub refused_tracks: AtomicU64,
    pub bad_messages: AtomicU64,
}

impl SfuCounters {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Moves a gauge several loops share from one loop's `old` share to its `new` one.
    pub fn shift(&self, gauge: &AtomicU64, old: u64, new: u64) {
        if new >= old {
            gauge.fetch_add(new - old, Relaxed);
        } else {
            gauge.fetch_sub(old - new, Relaxed);
        }
    }

    fn render(&self, family: &mut dyn FnMut(&str, &str, &str, String)) {
        let read = |counter: &AtomicU64| counter.load(Relaxed).to_string();
        for (name, help, gauge) in [
            (
                "switchboard_sfu_rooms",
                "Meeting rooms with media through the SFU now.",
                &self.rooms,
            ),
            (
                "switchboard_sfu_publishers",
                "People sending media to the SFU now.",
                &self.publishers,
            ),
            (
                "switchboard_sfu_subscriptions",
                "Tracks the SFU forwards now (one per track and receiver).",
                &self.subscriptions,
            ),
        ] {
            family(name, "gauge", help, read(gauge));
        }
        for (name, help, counter) in [
            (
                "switchboard_sfu_received_packets_total",
                "UDP packets the SFU received.",
                &self.received_packets,
            ),
            (
                "switchboard_sfu_sent_packets_total",
                "UDP packets the SFU sent (forwarded media, RTCP, STUN, DTLS).",
                &self.sent_packets,
            ),
            (
                "switchboard_sfu_sent_bytes_total",
                "Bytes the SFU sent.",
                &self.sent_bytes,
            ),
            (
                "switchboard_sfu_forwarded_packets_total",
                "RTP packets the SFU forwarded, one per receiver.",
                &self.forwarded_packets,
            ),
            (
                "switchboard_sfu_layer_switches_total",
                "Times a receiver moved to another simulcast layer of a camera.",
                &self.layer_switches,
            ),
            (
                "switchboard_sfu_keyframe_requests_total",
                "Keyframe requests (PLI or FIR) the SFU sent to senders.",
                &self.keyframe_requests,
            ),
            (
                "switchboard_sfu_downlink_moves_total",
                "Times a receiver's loss moved its layer cap.",
                &self.downlink_moves,
            ),
            (
                "switchboard_sfu_dropped_packets_total",
                "Packets the SFU dropped: unknown sender, malformed, or not sendable.",
                &self.dropped_packets,
            ),
            (
                "switchboard_sfu_over_rate_packets_total",
                "Packets dropped because their sender sent more than its rate.",
                &self.over_rate_packets,
            ),
            (
                "switchboard_sfu_refused_offers_total",
                "Offers refused: not SDP, too many media sections, no common codec.",
                &self.refused_offers,
            ),
            (
                "switchboard_sfu_refused_tracks_total",
                "Tracks beyond a person's microphone, camera and screen, not forwarded.",
                &self.refused_tracks,
            ),
            (
                "switchboard_sfu_bad_messages_total",
                "Data channel messages the SFU could not use.",
                &self.bad_messages,
            ),
        ] {
            family(name, "counter", help, read(counter));
        }
    }
}

/// What the TURN relay counts (`server/src/turn/`).
#[derive(Default)]
pub struct RelayCounters {
    /// Allocations now.
    pub allocations: AtomicI64,
    /// Allocations made since the start.
    pub allocations_total: AtomicU64,
    /// Payload bytes relayed, both directions.
    pub bytes: AtomicU64,
    /// Packets relayed, both directions.
    pub packets: AtomicU64,
    /// Requests refused for their credentials: forged, expired, or another user's.
    pub rejected_auth: AtomicU64,
    /// Permissions, channels or sends refused for their peer (loopback, our own ports, ...).
    pub rejected_peers: AtomicU64,
    /// Allocations refused for a quota (per user, in all) or no free relay port.
    pub refused_allocations: AtomicU64,
    /// Packets dropped: malformed, over an allocation's bandwidth, without permission, or
    /// requests without valid credentials beyond their address's answers (see `turn::bounds`).
    pub dropped: AtomicU64,
}

impl RelayCounters {
    fn render(&self, family: &mut dyn FnMut(&str, &str, &str, String)) {
        let read = |counter: &AtomicU64| counter.load(Relaxed).to_string();
        family(
            "switchboard_turn_allocations",
            "gauge",
            "TURN allocations now.",
            self.allocations.load(Relaxed).to_string(),
        );
        for (name, help, counter) in [
            (
                "switchboard_turn_allocations_total",
                "TURN allocations made.",
                &self.allocations_total,
            ),
            (
                "switchboard_turn_relayed_bytes_total",
                "Payload bytes relayed by TURN, both directions.",
                &self.bytes,
            ),
            (
                "switchboard_turn_relayed_packets_total",
                "Packets relayed by TURN, both directions.",
                &self.packets,
            ),
            (
                "switchboard_turn_rejected_auth_total",
                "TURN requests refused for forged, expired or another user's credentials.",
                &self.rejected_auth,
            ),
            (
                "switchboard_turn_rejected_peers_total",
                "TURN permissions, channels or sends refused for their peer address.",
                &self.rejected_peers,
            ),
            (
                "switchboard_turn_refused_allocations_total",
                "TURN allocations refused: over a quota, or no free relay port.",
                &self.refused_allocations,
            ),
            (
                "switchboard_turn_dropped_packets_total",
                "TURN packets dropped: malformed, over bandwidth, without permission, or unauthenticated requests beyond their address's rate.",
                &self.dropped,
            ),
        ] {
            family(name, "counter", help, read(counter));
        }
    }
}

#[derive(Default)]
struct Namespace {
    connections: AtomicI64,
    events_in: AtomicU64,
    events_out: AtomicU64,
}

impl Metrics {
    /// Counters for these namespaces (by path), reported in this order, and the relay's,
    /// read from `relay` (the relay counts into it).
    pub fn new(
        namespaces: impl IntoIterator<Item = &'static str>,
        relay: std::sync::Arc<RelayCounters>,
        sfu: std::sync::Arc<SfuCounters>,
    ) -> Metrics {
        Metrics {
            relay,
            sfu,
            namespaces: namespaces
                .into_iter()
                .map(|path| (path, Namespace::default()))
                .collect(),
            ..Metrics::default()
        }
    }

    fn namespace(&self, ns: &str) -> Option<&Namespace> {
        self.namespaces
            .iter()
            .find(|(path, _)| *path == ns)
            .map(|(_, n)| n)
    }

    pub fn connected(&self, ns: &str) {
        if let Some(n) = self.namespace(ns) {
            n.connections.fetch_add(1, Relaxed);
        }
    }

    pub fn disconnected(&self, ns: &str) {
        if let Some(n) = self.namespace(ns) {
            n.connections.fetch_sub(1, Relaxed);
        }
    }

    pub fn event_in(&self, ns: &str) {
        if let Some(n) = self.namespace(ns) {
            n.events_in.fetch_add(1, Relaxed);
        }
    }

    pub fn events_out(&self, ns: &str, count: usize) {
        if let Some(n) = self.namespace(ns) {
            n.events_out.fetch_add(count as u64, Relaxed);
        }
    }

    /// Counts deliveries dropped in `ns` and logs them, at most once a second.
    pub fn dropped(&self, ns: &str, count: usize) {
        self.dropped.fetch_add(count as u64, Relaxed);
        let pending = self.dropped_since_log.fetch_add(count as u64, Relaxed) + count as u64;
        let now = epoch_seconds();
        let last = self.dropped_logged_at.load(Relaxed);
        if now > last
            && self
                .dropped_logged_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.dropped_since_log.fetch_sub(pending, Relaxed);
            tracing::warn!(
                ns,
                dropped = pending,
                "deliveries dropped: some clients read too slowly (their buffer was full)"
            );
        }
    }

    pub fn rate_limited(&self, _ns: &str) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    /// A signal named someone outside its sender's call or room, and was dropped.
    pub fn misaddressed(&self) {
        self.misaddressed.fetch_add(1, Relaxed);
    }

    pub fn slow_consumer(&self, _ns: &str) {
        self.slow_consumers.fetch_add(1, Relaxed);
    }

    pub fn abuser_disconnected(&self, _ns: &str) {
        self.abusers.fetch_add(1, Relaxed);
    }

    pub fn connection_refused(&self, _why: &str) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    pub fn origin_refused(&self) {
        self.origins_refused.fetch_add(1, Relaxed);
    }

    pub fn header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts a refused client event and logs why: the first few each second in full, the
    /// rest as one count a second later.
    pub fn warn_input(&self, ns: &str, sid: &dyn Display, event: &str, reason: &str) {
        self.refused.fetch_add(1, Relaxed);
        if self.input_warnings.allow(WARNINGS_PER_SECOND) {
            tracing::warn!(ns, %sid, event, reason, "refused input");
        }
    }

    /// Whether a line about a connection may be logged now (the rest are counted, and the
    /// count logged a second later): 20 000 connections must not write 20 000 lines.
    pub fn may_log_connection(&self) -> bool {
        self.connection_lines.allow(CONNECTION_LINES_PER_SECOND)
    }

    /// Logs how many lines were held back, once a new second has begun.
    pub fn flush_warnings(&self) {
        if let Some(suppressed) = self.input_warnings.flush() {
            tracing::warn!(
                suppressed,
                "refused more input than is logged one by one (see switchboard_refused_input_total)"
            );
        }
        if let Some(suppressed) = self.connection_lines.flush() {
            tracing::info!(
                suppressed,
                "more connections came and went than are logged one by one (see switchboard_connections)"
            );
        }
    }

    pub fn tick_took(&self, took: Duration) {
        let micros = took.as_micros() as u64;
        self.tick_count.fetch_add(1, Relaxed);
        self.tick_micros_sum.fetch_add(micros, Relaxed);
        self.tick_micros_max.fetch_max(micros, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut family =
            |name: &str,
             kind: &str,
             help: &str,
             values: &mut dyn Iterator<Item = (String, String)>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (labels, value) in values {
                    let _ = writeln!(out, "{name}{labels} {value}");
                }
            };
        let per_namespace = |read: fn(&Namespace) -> String| {
            self.namespaces
                .iter()
                .map(move |(ns, n)| (format!("{{namespace=\"{ns}\"}}"), read(n)))
        };
        family(
            "switchboard_connections",
            "gauge",
            "Connected sockets.",
            &mut per_namespace(|n| n.connections.load(Relaxed).to_string()),
        );
        family(
            "switchboard_events_in_total",
            "counter",
            "Events received from clients.",
            &mut per_namespace(|n| n.events_in.load(Relaxed).to_string()),
        );
        family(
            "switchboard_events_out_total",
            "counter",
            "Events sent to clients (a broadcast counts each recipient).",
            &mut per_namespace(|n| n.events_out.load(Relaxed).to_string()),
        );
        family(
            "switchboard_dropped_deliveries_total",
            "counter",
            "Events not delivered because the client's buffer was full.",
            &mut unlabelled(self.dropped.load(Relaxed)),
        );
        family(
            "switchboard_refused_input_total",
            "counter",
            "Client events refused as malformed, invalid or unknown.",
            &mut unlabelled(self.refused.load(Relaxed)),
        );
        family(
            "switchboard_rate_limited_total",
            "counter",
            "Client events refused because their sender went over its rate.",
            &mut unlabelled(self.rate_limited.load(Relaxed)),
        );
        family(
            "switchboard_misaddressed_signals_total",
            "counter",
            "Signals dropped because they named someone outside the sender's call or meeting.",
            &mut std::iter::once((String::new(), self.misaddressed.load(Relaxed).to_string())),
        );
        family(
            "switchboard_slow_consumers_disconnected_total",
            "counter",
            "Clients disconnected because they read too slowly (their buffer was full).",
            &mut unlabelled(self.slow_consumers.load(Relaxed)),
        );
        family(
            "switchboard_flooders_disconnected_total",
            "counter",
            "Clients disconnected for sending far over their rate or with too many events waiting.",
            &mut unlabelled(self.abusers.load(Relaxed)),
        );
        family(
            "switchboard_connections_refused_total",
            "counter",
            "Connections closed at once: over a connection limit, or out of file descriptors.",
            &mut unlabelled(self.connections_refused.load(Relaxed)),
        );
        family(
            "switchboard_header_timeouts_total",
            "counter",
            "Connections closed because their request headers did not arrive in time (slowloris).",
            &mut unlabelled(self.header_timeouts.load(Relaxed)),
        );
        family(
            "switchboard_origins_refused_total",
            "counter",
            "socket.io requests refused because they came from a page of another origin.",
            &mut unlabelled(self.origins_refused.load(Relaxed)),
        );
        let seconds = |micros: u64| format!("{:.6}", micros as f64 / 1e6);
        family(
            "switchboard_cursor_tick_seconds",
            "summary",
            "Time to build and send one /cursors tick.",
            &mut [
                (
                    "_sum".to_owned(),
                    seconds(self.tick_micros_sum.load(Relaxed)),
                ),
                (
                    "_count".to_owned(),
                    self.tick_count.load(Relaxed).to_string(),
                ),
            ]
            .into_iter(),
        );
        family(
            "switchboard_cursor_tick_seconds_max",
            "gauge",
            "The longest /cursors tick so far.",
            &mut unlabelled(seconds(self.tick_micros_max.load(Relaxed))),
        );
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            family(
                name,
                kind,
                help,
                &mut std::iter::once((String::new(), value)),
            );
        };
        self.relay.render(&mut one);
        self.sfu.render(&mut one);
        family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of this process.",
            &mut unlabelled(resident_bytes()),
        );
        out
    }
}

/// The one value of a family without labels.
fn unlabelled(value: impl std::fmt::Display) -> std::iter::Once<(String, String)> {
    std::iter::once((String::new(), value.to_string()))
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// VmRSS of this process (0 where /proc is not available).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_in_prometheus_text() {
        let metrics = Metrics::new(["/chat"], Default::default(), Default::default());
        metrics.connected("/chat");
        metrics.event_in("/chat");
        metrics.events_out("/chat", 500);
        metrics.dropped("/chat", 3);
        metrics.tick_took(Duration::from_micros(1500));
        metrics.connected("/not-a-namespace");
        let text = metrics.render();
        assert!(
            text.contains("switchboard_connections{namespace=\"/chat\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("switchboard_events_in_total{namespace=\"/chat\"} 1\n"));
        assert!(text.contains("switchboard_events_out_total{namespace=\"/chat\"} 500\n"));
        assert!(text.contains("switchboard_dropped_deliveries_total 3\n"));
        assert!(text.contains("switchboard_cursor_tick_seconds_sum 0.001500\n"));
        assert!(text.contains("switchboard_cursor_tick_seconds_count 1\n"));
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge"));
        assert!(text.contains("switchboard_turn_allocations 0\n"));
        assert!(text.contains("switchboard_turn_rejected_peers_total 0\n"));
        assert!(resident_bytes() > 0);
    }
}
