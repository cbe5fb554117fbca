//! The `/cursors` scenario: N clients connected, M of them moving at a fixed rate; every client
//! counts the `update` broadcasts it receives, their spacing and their size.

use std::time::Duration;

use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::client::{connect_many, Conn, Frame};
use crate::metrics::Counted;
use crate::stats::{ms, percentile, Figure};
use crate::target::{measure_window, raise_open_files_limit, Target};

pub struct Setup {
    pub clients: usize,
    pub movers: usize,
    pub rate_hz: f64,
    pub warmup: Duration,
    pub measure: Duration,
    /// Ask for compact mode (Switchboard only): deltas instead of the full map.
    pub compact: bool,
}

pub const HEADER: [&str; 10] = [
    "clients",
    "movers",
    "ticks/client/s",
    "min ticks/s",
    "gap p50",
    "gap p99",
    "server CPU",
    "KB/client/s",
    "dropped",
    "tick (server)",
];

/// What one client saw in the measured window.
#[derive(Default)]
struct Seen {
    ticks: u64,
    bytes: u64,
    gaps: Vec<Duration>,
    dropped: bool,
}

pub struct Report {
    seen: Vec<Seen>,
    seconds: f64,
    cpu: Option<(f64, f64)>,
    /// Each node's CPU (one entry on a single server).
    node_cpus: Vec<Option<(f64, f64)>>,
    counted: Counted,
}

/// The scenario on one server, or on the nodes of a cluster: client `i` is on node `i % n`.
pub async fn run(targets: &[&Target], setup: &Setup) -> Report {
    raise_open_files_limit();
    let auth = setup.compact.then_some(r#"{"compact":true}"#);
    let nodes = targets.len();
    let mut per_node = Vec::new();
    for (n, target) in targets.iter().enumerate() {
        let count = (setup.clients + nodes - 1 - n) / nodes;
        per_node.push(
            connect_many(target.addr, "/cursors", count, auth)
                .await
                .into_iter(),
        );
    }
    let conns: Vec<Conn> = (0..setup.clients)
        .filter_map(|i| per_node[i % nodes].next())
        .collect();
    let from = Instant::now() + setup.warmup;
    let until = from + setup.measure;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let moving = i < setup.movers;
            let period = Duration::from_secs_f64(1.0 / setup.rate_hz);
            // Spread the movers over the period, as real people do not move in lockstep.
            let phase = period.mul_f64(i as f64 / setup.clients.max(1) as f64);
            tokio::spawn(drive(
                conn,
                moving.then_some((period, phase)),
                i,
                from,
                until,
            ))
        })
        .collect();
    let (counted, cpus) = measure_window(targets, from, until).await;
    let cpu = cpus[0];
    let mut seen = Vec::with_capacity(tasks.len());
    for task in tasks {
        seen.push(task.await.unwrap_or_default());
    }
    Report {
        seen,
        seconds: setup.measure.as_secs_f64(),
        cpu,
        node_cpus: cpus,
        counted,
    }
}

async fn drive(
    mut conn: Conn,
    moving: Option<(Duration, Duration)>,
    seed: usize,
    from: Instant,
    until: Instant,
) -> Seen {
    let (period, phase) = moving.unwrap_or((Duration::from_secs(3600), Duration::ZERO));
    let mut sends = tokio::time::interval_at(Instant::now() + phase, period);
    sends.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seen = Seen::default();
    let mut last: Option<Instant> = None;
    let mut position = Walk::new(seed);
    loop {
        tokio::select! {
            _ = sends.tick(), if moving.is_some() => {
                let (x, y) = position.step();
                if !conn.send(format!(r#"42/cursors,["update",{{"x":{x:.4},"y":{y:.4}}}]"#)).await {
                    seen.dropped = true;
                    break;
                }
            }
            frame = conn.next() => match frame {
                Frame::Packet(packet) if packet.starts_with("2/cursors,[\"update\"") || packet.starts_with("2/cursors,[\"delta\"") => {
                    let now = Instant::now();
                    if now >= from && now < until {
                        seen.ticks += 1;
                        seen.bytes += packet.len() as u64 + 1;
                        if let Some(previous) = last.filter(|t| *t >= from) {
                            seen.gaps.push(now - previous);
                        }
                    }
                    last = Some(now);
                }
                Frame::Closed => {
                    seen.dropped = Instant::now() < until;
                    break;
                }
                _ => {}
            },
            _ = sleep_until(until) => break,
        }
    }
    conn.close().await;
    seen
}

/// A cursor wandering around the page.
struct Walk {
    state: u64,
    x: f64,
    y: f64,
}

impl Walk {
    fn new(seed: usize) -> Walk {
        Walk {
            state: seed as u64 * 0x9E37_79B9_7F4A_7C15 + 1,
            x: 0.5,
            y: 0.5,
        }
    }

    fn step(&mut self) -> (f64, f64) {
        let mut next = || {
            // xorshift: deterministic and plenty for wandering.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            (self.state % 2001) as f64 / 1000.0 - 1.0
        };
        let (dx, dy) = (next() * 0.02, next() * 0.02);
        self.x = (self.x + dx).clamp(0.0, 1.0);
        self.y = (self.y + dy).clamp(0.0, 1.0);
        (self.x, self.y)
    }
}

/// What all clients saw, summed up.
struct Summary {
    mean_rate: f64,
    min_rate: f64,
    /// Every gap between two broadcasts, sorted.
    gaps: Vec<Duration>,
    bytes_per_client_s: f64,
    lost_clients: usize,
}

impl Report {
    fn summary(&self) -> Summary {
        let n = self.seen.len().max(1) as f64;
        let rates: Vec<f64> = self
            .seen
            .iter()
            .map(|s| s.ticks as f64 / self.seconds)
            .collect();
        let min_rate = rates.iter().cloned().fold(f64::INFINITY, f64::min);
        let mut gaps: Vec<Duration> = self
            .seen
            .iter()
            .flat_map(|s| s.gaps.iter().copied())
            .collect();
        gaps.sort();
        Summary {
            mean_rate: rates.iter().sum::<f64>() / n,
            min_rate: if min_rate.is_finite() { min_rate } else { 0.0 },
            gaps,
            bytes_per_client_s: self.seen.iter().map(|s| s.bytes).sum::<u64>() as f64
                / n
                / self.seconds,
            lost_clients: self.seen.iter().filter(|s| s.dropped).count(),
        }
    }

    /// The figures of the comparison table.
    pub fn figures(&self) -> Vec<Figure> {
        let s = self.summary();
        let gap = |p| percentile(&s.gaps, p).map(|d| d.as_secs_f64() * 1000.0);
        vec![
            Figure::new("ticks/client/s", Some(s.mean_rate), ""),
            Figure::new("gap p50", gap(50.0), "ms"),
            Figure::new("gap p99", gap(99.0), "ms"),
            Figure::new("KB/client/s", Some(s.bytes_per_client_s / 1024.0), "KB"),
            Figure::new("server CPU", self.cpu.map(|(_, share)| share * 100.0), "%"),
            Figure::new("clients lost", Some(s.lost_clients as f64), ""),
            self.counted.dropped(),
            self.counted.mean_tick(),
        ]
    }

    /// The figures of a cluster run: the same, with each node's CPU.
    pub fn cluster_figures(&self) -> Vec<Figure> {
        let mut figures = self.figures();
        figures.retain(|f| f.name != "server CPU");
        for (n, cpu) in self.node_cpus.iter().enumerate() {
            figures.push(Figure::new(
                format!("node {} CPU", n + 1),
                cpu.map(|(_, share)| share * 100.0),
                "%",
            ));
        }
        figures
    }

    /// One row of the scaling table (see [`HEADER`]).
    pub fn row(&self, setup: &Setup) -> Vec<String> {
        let s = self.summary();
        let clients = match s.lost_clients {
            0 => setup.clients.to_string(),
            lost => format!("{} ({lost} lost)", setup.clients),
        };
        vec![
            clients,
            setup.movers.to_string(),
            format!("{:.2}", s.mean_rate),
            format!("{:.2}", s.min_rate),
            ms(percentile(&s.gaps, 50.0)),
            ms(percentile(&s.gaps, 99.0)),
            self.cpu
                .map_or("-".into(), |(_, share)| format!("{:.0} %", share * 100.0)),
            format!("{:.1}", s.bytes_per_client_s / 1024.0),
            self.counted.dropped().show(),
            self.counted.mean_tick().show(),
        ]
    }
}
