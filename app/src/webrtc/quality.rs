//! How a call is going, from `RTCPeerConnection.getStats()`: which path its media takes
//! (direct, through a STUN-discovered address, or through the relay), the round trip, what
//! was lost and how fast video arrives. One short line under the call.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use serde::Deserialize;
use wasm_bindgen::JsValue;

use super::js::from_js;
use super::Peer;

/// How often the line is read again.
const EVERY_MS: u32 = 2_000;

/// The quality line of the connection `peer` returns (none while there is no connection),
/// read again every [`EVERY_MS`] for as long as the calling component lives.
pub fn watch(peer: impl Fn() -> Option<Peer> + 'static) -> ReadSignal<Option<String>> {
    watch_stats(move || peer().map(|peer| async move { peer.stats().await }))
}

/// The quality line of whatever connection `stats` reads a `getStats()` report of.
pub fn watch_stats<F>(stats: impl Fn() -> Option<F> + 'static) -> ReadSignal<Option<String>>
where
    F: std::future::Future<Output = Option<JsValue>> + 'static,
{
    let (line, set_line) = signal(None::<String>);
    leptos::task::spawn_local(async move {
        let mut meter = Meter::default();
        loop {
            TimeoutFuture::new(EVERY_MS).await;
            if set_line.is_disposed() {
                break;
            }
            let report = match stats() {
                Some(reading) => reading.await,
                None => None,
            };
            if set_line.is_disposed() {
                break;
            }
            match report {
                Some(report) => set_line.set(Some(meter.read(&report).line())),
                None => {
                    meter = Meter::default();
                    set_line.set(None);
                }
            }
        }
    });
    line
}

/// The path a connection's media takes, from the two ends of its selected candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Host to host: one machine or one network.
    Direct,
    /// Through an address a NAT gave one side (learnt by STUN: a server-reflexive candidate).
    ThroughNat,
    /// Through a TURN relay.
    Relayed,
}

impl Path {
    fn of(local: &str, remote: &str) -> Path {
        // A peer-reflexive candidate is often only a host hidden behind an mDNS name: it says
        // nothing of a NAT, so only server-reflexive ones count as "through STUN".
        match (local, remote) {
            ("relay", _) | (_, "relay") => Path::Relayed,
            ("srflx", _) | (_, "srflx") => Path::ThroughNat,
            _ => Path::Direct,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::ThroughNat => "through a STUN-discovered address",
            Path::Relayed => "relayed through the TURN server",
        }
    }
}

/// One reading of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    pub path: Option<Path>,
    pub round_trip_ms: Option<f64>,
    /// Of the packets that should have arrived so far, the share that did not.
    pub lost_percent: f64,
    /// Media received since the previous reading, kbit/s.
    pub kbps_in: Option<f64>,
}

impl Quality {
    /// "relayed through the TURN server · 12 ms · 0.0% lost · 1420 kbit/s".
    pub fn line(&self) -> String {
        let mut parts = vec![self.path.map_or("finding a path", Path::words).to_owned()];
        if let Some(rtt) = self.round_trip_ms {
            parts.push(format!("{rtt:.0} ms"));
        }
        parts.push(format!("{:.1}% lost", self.lost_percent));
        if let Some(kbps) = self.kbps_in {
            parts.push(format!("{kbps:.0} kbit/s"));
        }
        parts.join(" · ")
    }
}

/// The fields of the stats we read (each stats type has some of them).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Stat {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    timestamp: f64,
    selected_candidate_pair_id: Option<String>,
    local_candidate_id: Option<String>,
    remote_candidate_id: Option<String>,
    nominated: bool,
    selected: bool,
    state: Option<String>,
    current_round_trip_time: Option<f64>,
    candidate_type: Option<String>,
    packets_received: f64,
    packets_lost: f64,
    bytes_received: f64,
}

/// Reads a connection's stats over time: bitrate needs the previous reading.
#[derive(Default)]
pub struct Meter {
    previous: Option<(f64, f64)>,
}

impl Meter {
    /// A reading from a `getStats()` report.
    pub fn read(&mut self, report: &JsValue) -> Quality {
        let stats: Vec<Stat> = js_sys::try_iter(report)
            .ok()
            .flatten()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| from_js::<(String, Stat)>(&entry).map(|(_, stat)| stat))
            .collect();
        self.reading(&stats)
    }

    fn reading(&mut self, stats: &[Stat]) -> Quality {
        let find = |id: &str| stats.iter().find(|s| s.id == id);
        // Chromium names the selected pair in the transport; Firefox marks it `selected`.
        let pair = stats
            .iter()
            .filter(|s| s.kind == "transport")
            .find_map(|t| t.selected_candidate_pair_id.as_deref().and_then(find))
            .or_else(|| {
                let pairs = || stats.iter().filter(|s| s.kind == "candidate-pair");
                pairs().find(|s| s.selected).or_else(|| {
                    pairs().find(|s| s.nominated && s.state.as_deref() == Some("succeeded"))
                })
            });
        let candidate_type = |id: &Option<String>| {
            id.as_deref()
                .and_then(find)
                .and_then(|c| c.candidate_type.clone())
        };
        let path = pair.and_then(|pair| {
            let local = candidate_type(&pair.local_candidate_id)?;
            let remote = candidate_type(&pair.remote_candidate_id)?;
            Some(Path::of(&local, &remote))
        });
        let inbound = stats.iter().filter(|s| s.kind == "inbound-rtp");
        let (received, lost, bytes) = inbound.fold((0.0, 0.0, 0.0), |(r, l, b), s| {
            (
                r + s.packets_received,
                l + s.packets_lost.max(0.0),
                b + s.bytes_received,
            )
        });
        let now = stats.iter().map(|s| s.timestamp).fold(0.0, f64::max);
        let kbps_in = self
            .previous
            .filter(|&(at, _)| now > at)
            .map(|(at, before)| (bytes - before).max(0.0) * 8.0 / (now - at));
        self.previous = Some((now, bytes));
        Quality {
            path,
            round_trip_ms: pair
                .and_then(|p| p.current_round_trip_time)
                .map(|s| s * 1000.0),
            lost_percent: if received + lost > 0.0 {
                100.0 * lost / (received + lost)
            } else {
                0.0
            },
            kbps_in,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(kind: &str, id: &str) -> Stat {
        Stat {
            kind: kind.into(),
            id: id.into(),
            timestamp: 1000.0,
            ..Stat::default()
        }
    }

    fn call(local: &str, remote: &str, bytes: f64, at: f64) -> Vec<Stat> {
        vec![
            Stat {
                selected_candidate_pair_id: Some("p".into()),
                ..stat("transport", "t")
            },
            Stat {
                local_candidate_id: Some("l".into()),
                remote_candidate_id: Some("r".into()),
                current_round_trip_time: Some(0.012),
                ..stat("candidate-pair", "p")
            },
            Stat {
                candidate_type: Some(local.into()),
                ..stat("local-candidate", "l")
            },
            Stat {
                candidate_type: Some(remote.into()),
                ..stat("remote-candidate", "r")
            },
            Stat {
                packets_received: 990.0,
                packets_lost: 10.0,
                bytes_received: bytes,
                timestamp: at,
                ..stat("inbound-rtp", "v")
            },
        ]
    }

    #[test]
    fn the_line_says_the_path_the_round_trip_the_loss_and_the_rate() {
        let mut meter = Meter::default();
        let first = meter.reading(&call("relay", "host", 0.0, 1000.0));
        assert_eq!(first.path, Some(Path::Relayed));
        assert_eq!(first.kbps_in, None, "no rate before a second reading");
        let second = meter.reading(&call("relay", "host", 250_000.0, 3000.0));
        assert_eq!(
            second.line(),
            "relayed through the TURN server · 12 ms · 1.0% lost · 1000 kbit/s"
        );
    }

    #[test]
    fn paths_follow_the_candidate_types() {
        let mut meter = Meter::default();
        let direct = meter.reading(&call("host", "host", 0.0, 1.0));
        assert_eq!(direct.path, Some(Path::Direct));
        let nat = meter.reading(&call("srflx", "prflx", 0.0, 2.0));
        assert_eq!(nat.path, Some(Path::ThroughNat));
        let mdns = meter.reading(&call("host", "prflx", 0.0, 3.0));
        assert_eq!(mdns.path, Some(Path::Direct));
        assert_eq!(Meter::default().reading(&[]).path, None);
    }
}
