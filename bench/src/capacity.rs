//! Capacity: how much one core carries. The offered load rises step by step (×`factor` per
//! step) until a step's delivery p99 passes the limit or anything is lost or dropped; each
//! step prints offered and delivered per second, p50/p99, and the CPU of the server and of this
//! generator (so the table says which side ran out). The connections stay up across steps.
//!
//! Two loads: `/chat` fan-out (every message reaches every client) and `/signal` relays (pairs
//! ping-pong; a relay is one hop, a round trip two). Both use the lean client (`lean.rs`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::histogram::Histogram;
use crate::lean::{connect_many, find, LeanConn, Read};
use crate::metrics::MetricsWindow;
use crate::stats::{print_table, Figure};
use crate::target::{raise_open_files_limit, CpuWindow, Target};

#[derive(Clone, Copy)]
pub enum Load {
    /// `clients` named in `/chat`, `senders` of them sending.
    Chat { clients: usize, senders: usize },
    /// `pairs` of `/signal` clients: one pings, the other sends it straight back.
    Signal { pairs: usize },
}

pub struct Setup {
    pub load: Load,
    /// Offered deliveries (chat) or relays (signal) per second in the first step.
    pub first: f64,
    pub factor: f64,
    pub step: Duration,
    pub max_steps: usize,
    pub p99_limit: Duration,
}

/// Late arrivals of a step still count for this long after it ends; later they are lost.
const GRACE: Duration = Duration::from_secs(1);

/// What one step saw.
#[derive(Default)]
struct Tally {
    /// Messages (chat) or pings (signal) sent.
    sent: AtomicU64,
    /// Deliveries (chat) or round trips (signal) that came back.
    received: AtomicU64,
    latency: Histogram,
}

/// The load over time, shared by every client task.
struct Schedule {
    begin: Instant,
    setup: Setup,
    tallies: Vec<Tally>,
}

impl Schedule {
    fn step_at(&self, t: Instant) -> Option<usize> {
        let since = t.checked_duration_since(self.begin)?;
        let step = (since.as_secs_f64() / self.setup.step.as_secs_f64()) as usize;
        (step < self.setup.max_steps).then_some(step)
    }

    fn offered(&self, step: usize) -> f64 {
        self.setup.first * self.setup.factor.powi(step as i32)
    }

    /// How often each sending client sends in `step`.
    fn interval(&self, step: usize) -> Duration {
        let per_client_per_s = match self.setup.load {
            Load::Chat { clients, senders } => {
                self.offered(step) / (senders as f64 * clients as f64)
            }
            // Each ping is two relays.
            Load::Signal { pairs } => self.offered(step) / 2.0 / pairs as f64,
        };
        Duration::from_secs_f64(1.0 / per_client_per_s)
    }

    /// A sender's next send after one at `at` in `step`: a step's first send is at the new
    /// rate (at low rates an interval can be as long as a step).
    fn next_send(&self, at: Instant, step: usize, spread: f64) -> Instant {
        let next = at + self.interval(step);
        let boundary = self.step_start(step + 1);
        if next < boundary {
            next
        } else {
            boundary + self.interval(step + 1).mul_f64(spread)
        }
    }

    fn step_start(&self, step: usize) -> Instant {
        self.begin + self.setup.step * step as u32
    }
}

pub struct Report {
    pub title: String,
    pub rows: Vec<Vec<String>>,
    /// The last step that held: its offered and delivered load per second.
    pub held: Option<(f64, f64)>,
}

pub const HEADER: [&str; 10] = [
    "step",
    "offered/s",
    "delivered/s",
    "lost",
    "dropped",
    "cut off",
    "p50",
    "p99",
    "server CPU",
    "generator CPU",
];

pub async fn run(target: &Target, setup: Setup) -> Report {
    raise_open_files_limit();
    let (title, unit) = match setup.load {
        Load::Chat { clients, senders } => (
            format!("/chat, {clients} clients, {senders} sending"),
            "deliveries",
        ),
        Load::Signal { pairs } => (format!("/signal, {pairs} pairs ping-ponging"), "relays"),
    };
    let (done_tx, done) = watch::channel(false);
    let conns = match setup.load {
        Load::Chat { clients, .. } => {
            name_all(connect_many(target.addr, "/chat", clients).await).await
        }
        Load::Signal { pairs } => connect_many(target.addr, "/signal", pairs * 2).await,
    };
    let schedule = Arc::new(Schedule {
        begin: Instant::now() + Duration::from_millis(500),
        tallies: (0..setup.max_steps).map(|_| Tally::default()).collect(),
        setup,
    });
    let tasks = spawn_clients(conns, &schedule, &done);

    // This process, measured through /proc like the server.
    let generator = Target::existing(target.addr, Some(std::process::id()));
    let mut rows = Vec::new();
    let mut held = None;
    let mut pending: Option<(usize, StepWindow)> = None;
    for step in 0..=schedule.setup.max_steps {
        sleep_until(schedule.step_start(step)).await;
        // The window of the step that just ended closes as the next one opens.
        let ended = match pending.take() {
            Some((s, window)) => Some((s, window.finish(target, &generator).await)),
            None => None,
        };
        if step < schedule.setup.max_steps {
            pending = Some((step, StepWindow::start(target, &generator).await));
        }
        let Some((s, measured)) = ended else { continue };
        tokio::time::sleep(GRACE).await;
        let (row, ok) = schedule.judge(s, &measured);
        eprintln!("  {}", row.join("  "));
        rows.push(row);
        if !ok {
            break;
        }
        held = Some((schedule.offered(s), schedule.delivered(s)));
    }
    let _ = done_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Report {
        title: format!(
            "{title}: offered {unit} ×{} per {} s step",
            schedule.setup.factor,
            schedule.setup.step.as_secs()
        ),
        rows,
        held,
    }
}

/// CPU and the server's own counts over one step.
struct StepWindow {
    server: CpuWindow,
    generator: CpuWindow,
    metrics: MetricsWindow,
}

struct Measured {
    server_cpu: Option<f64>,
    generator_cpu: Option<f64>,
    dropped: Option<f64>,
    /// Clients the server disconnected because their buffer was full.
    cut_off: Option<f64>,
}

impl StepWindow {
    async fn start(target: &Target, generator: &Target) -> StepWindow {
        StepWindow {
            server: CpuWindow::start(target),
            generator: CpuWindow::start(generator),
            metrics: MetricsWindow::start(target.addr).await,
        }
    }

    async fn finish(self, target: &Target, generator: &Target) -> Measured {
        let server_cpu = self.server.finish(target).map(|(_, share)| share);
        let generator_cpu = self.generator.finish(generator).map(|(_, share)| share);
        let counted = self.metrics.finish().await;
        Measured {
            server_cpu,
            generator_cpu,
            dropped: counted.dropped().value,
            cut_off: counted.delta("switchboard_slow_consumers_disconnected_total"),
        }
    }
}

impl Schedule {
    fn delivered(&self, step: usize) -> f64 {
        let tally = &self.tallies[step];
        let per_round = match self.setup.load {
            Load::Chat { .. } => 1.0,
            Load::Signal { .. } => 2.0,
        };
        tally.received.load(Relaxed) as f64 * per_round / self.setup.step.as_secs_f64()
    }

    /// A step's row, and whether it held (p99 within the limit, nothing lost or dropped).
    fn judge(&self, step: usize, measured: &Measured) -> (Vec<String>, bool) {
        let tally = &self.tallies[step];
        let sent = tally.sent.load(Relaxed);
        let expected = match self.setup.load {
            Load::Chat { clients, .. } => sent * clients as u64,
            Load::Signal { .. } => sent,
        };
        let lost = expected.saturating_sub(tally.received.load(Relaxed));
        let p50 = tally.latency.percentile(50.0);
        let p99 = tally.latency.percentile(99.0);
        let dropped = measured.dropped.unwrap_or(0.0) + measured.cut_off.unwrap_or(0.0);
        let ok = lost == 0 && dropped == 0.0 && p99.is_some_and(|p| p <= self.setup.p99_limit);
        let ms =
            |d: Option<Duration>| Figure::new("", d.map(|d| d.as_secs_f64() * 1e3), "ms").show();
        let percent = |share: Option<f64>| Figure::new("", share.map(|s| s * 100.0), "%").show();
        let row = vec![
            (step + 1).to_string(),
            format!("{:.0}", self.offered(step)),
            format!("{:.0}", self.delivered(step)),
            lost.to_string(),
            measured.dropped.map_or("-".into(), |d| format!("{d:.0}")),
            measured.cut_off.map_or("-".into(), |d| format!("{d:.0}")),
            ms(p50),
            ms(p99),
            percent(measured.server_cpu),
            percent(measured.generator_cpu),
        ];
        (row, ok)
    }
}

/// Names every chat client (in parallel), each confirmed before the load starts.
async fn name_all(mut conns: Vec<LeanConn>) -> Vec<LeanConn> {
    let naming = conns.iter_mut().enumerate().map(|(i, conn)| async move {
        conn.send(format!(r#"42/chat,["name","c{i}"]"#).as_bytes())
            .await
            .ok()?;
        loop {
            let mut answer = None;
            conn.packets(|p| {
                if p.starts_with(br#"2/chat,["name""#) {
                    answer = Some(true);
                } else if p.starts_with(br#"2/chat,["nameError""#) {
                    answer = Some(false);
                }
            });
            if let Some(ok) = answer {
                return ok.then_some(());
            }
            if let Read::Closed = conn.read().await {
                return None;
            }
        }
    });
    let named = futures_util::future::join_all(naming).await;
    assert!(
        named.iter().all(Option::is_some),
        "every client gets its name"
    );
    conns
}

fn spawn_clients(
    conns: Vec<LeanConn>,
    schedule: &Arc<Schedule>,
    done: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    match schedule.setup.load {
        Load::Chat { senders, .. } => {
            for (i, conn) in conns.into_iter().enumerate() {
                // Senders spread over the first interval instead of all at once.
                let phase =
                    (i < senders).then(|| schedule.interval(0).mul_f64(i as f64 / senders as f64));
                let peer = None;
                tasks.push(tokio::spawn(client(
                    conn,
                    peer,
                    phase,
                    schedule.clone(),
                    done.clone(),
                )));
            }
        }
        Load::Signal { pairs } => {
            let mut conns = conns.into_iter();
            for i in 0..pairs {
                let (Some(caller), Some(answerer)) = (conns.next(), conns.next()) else {
                    break;
                };
                let phase = schedule.interval(0).mul_f64(i as f64 / pairs as f64);
                let (to_answerer, to_caller) = (answerer.sid.clone(), caller.sid.clone());
                tasks.push(tokio::spawn(client(
                    caller,
                    Some(to_answerer),
                    Some(phase),
                    schedule.clone(),
                    done.clone(),
                )));
                tasks.push(tokio::spawn(client(
                    answerer,
                    Some(to_caller),
                    None,
                    schedule.clone(),
                    done.clone(),
                )));
            }
        }
    }
    tasks
}

/// One client: sends on the schedule when it has a `phase` (chat senders, signal callers),
/// and measures what comes back; a signal answerer (`peer` without `phase`) echoes.
async fn client(
    mut conn: LeanConn,
    peer: Option<String>,
    phase: Option<Duration>,
    schedule: Arc<Schedule>,
    mut done: watch::Receiver<bool>,
) {
    let epoch = schedule.begin;
    // Where in each interval this client sends, so that senders stay spread at every rate.
    let spread = phase.map_or(0.0, |p| {
        p.as_secs_f64() / schedule.interval(0).as_secs_f64()
    });
    let mut next = phase.map(|p| schedule.begin + p);
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    let mut out: Vec<Vec<u8>> = Vec::new();
    loop {
        tokio::select! {
            read = conn.read() => {
                if let Read::Closed = read {
                    return;
                }
                let now = micros_since(epoch);
                conn.packets(|packet| match (&peer, phase) {
                    (None, _) => chat_arrived(packet, now, &schedule),
                    (Some(_), Some(_)) => pong_arrived(packet, now, &schedule),
                    (Some(peer), None) => {
                        if let Some(echo) = echo(packet, peer) {
                            out.push(echo);
                        }
                    }
                });
                for frame in out.drain(..) {
                    if conn.send(&frame).await.is_err() {
                        return;
                    }
                }
                if !conn.answer_pings().await {
                    return;
                }
            }
            _ = sleep_until(next.unwrap_or(far)), if next.is_some() => {
                let at = next.unwrap_or(far);
                let Some(step) = schedule.step_at(at) else {
                    next = None;
                    continue;
                };
                let sent_at = micros_since(epoch);
                let frame = match &peer {
                    None => format!(r#"42/chat,["message","{sent_at} {step}"]"#),
                    Some(peer) => format!(r#"42/signal,["signal","{peer}",{{"t":{sent_at},"s":{step}}}]"#),
                };
                if conn.send(frame.as_bytes()).await.is_err() {
                    return;
                }
                schedule.tallies[step].sent.fetch_add(1, Relaxed);
                next = Some(schedule.next_send(at, step, spread));
            }
            _ = done.changed() => return,
        }
    }
}

fn micros_since(epoch: Instant) -> u64 {
    Instant::now().saturating_duration_since(epoch).as_micros() as u64
}

/// A chat delivery: `2/chat,["message",{…},"<sent µs> <step>"]`.
fn chat_arrived(packet: &[u8], now: u64, schedule: &Schedule) {
    let Some(body) = packet.strip_prefix(br#"2/chat,["message""#) else {
        return;
    };
    let Some(text) = body.strip_suffix(br#""]"#) else {
        return;
    };
    let text = match text.iter().rposition(|b| *b == b'"') {
        Some(quote) => &text[quote + 1..],
        None => return,
    };
    let mut words = text.split(|b| *b == b' ');
    if let (Some(sent), Some(step)) = (words.next().and_then(number), words.next().and_then(number))
    {
        record(schedule, step as usize, now.saturating_sub(sent));
    }
}

/// A ping back at its caller: `2/signal,["signal",…{"t":<sent µs>,"s":<step>}]`.
fn pong_arrived(packet: &[u8], now: u64, schedule: &Schedule) {
    if !packet.starts_with(br#"2/signal,["signal""#) {
        return;
    }
    let field = |name: &[u8]| {
        let at = find(packet, name)? + name.len();
        let digits = packet[at..].iter().position(|b| !b.is_ascii_digit())?;
        number(&packet[at..at + digits])
    };
    if let (Some(sent), Some(step)) = (field(br#""t":"#), field(br#""s":"#)) {
        record(schedule, step as usize, now.saturating_sub(sent));
    }
}

/// The `signal` to send back to `peer` for a ping (its data object as it came).
fn echo(packet: &[u8], peer: &str) -> Option<Vec<u8>> {
    if !packet.starts_with(br#"2/signal,["signal""#) {
        return None;
    }
    let from = find(packet, br#"{"t":"#)?;
    let to = packet.iter().rposition(|b| *b == b'}')? + 1;
    let mut frame = format!(r#"42/signal,["signal","{peer}","#).into_bytes();
    frame.extend_from_slice(packet.get(from..to)?);
    frame.push(b']');
    Some(frame)
}

fn record(schedule: &Schedule, step: usize, micros: u64) {
    if let Some(tally) = schedule.tallies.get(step) {
        tally.received.fetch_add(1, Relaxed);
        tally.latency.record(micros);
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub fn print(report: &Report) {
    println!("\n{}\n", report.title);
    print_table(&HEADER, &report.rows);
    match report.held {
        Some((offered, delivered)) => println!(
            "\nlast step that held: {offered:.0} offered, {delivered:.0} delivered per second"
        ),
        None => println!("\nno step held"),
    }
}
