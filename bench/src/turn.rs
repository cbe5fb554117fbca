//! `bench turn`: how many relayed calls one core carries, on our relay and on coturn in the
//! same run. A call is two TURN allocations bound to each other by channels (two browsers
//! that both relay), each sending media-like packets (1200 B at 1.5 Mbit/s, about 156 a
//! second) as ChannelData. The number of calls rises step by step until more than 0.5 % is
//! lost or the relay's core is full.
//!
//! The relay runs pinned to CPU 0 (its CPU time read from `/proc`), this generator on the
//! others: one thread sends on a schedule, one reads every socket through epoll.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::histogram::Histogram;
use crate::stats::print_table;
use crate::turn_client::{self, Allocation};

const SECRET: &str = "bench-secret";
/// A call's media, each way: 1.5 Mbit/s in 1200-byte packets.
const PAYLOAD: usize = 1200;
const PACKETS_PER_SECOND: f64 = 1_500_000.0 / 8.0 / PAYLOAD as f64;
/// Relay ports of both servers: below the kernel's ephemeral range, which the generator's
/// own sockets use.
const RELAY_PORTS: (u16, u16) = (20_000, 29_999);
const CHANNEL: u16 = 0x4000;
const MAX_STEPS: usize = 32;

/// Which relay runs.
#[derive(Debug, Clone)]
pub enum Relay {
    Switchboard(PathBuf),
    /// Debian's `turnserver` (package coturn), started here; never its system service.
    Coturn,
}

impl Relay {
    pub fn name(&self) -> &'static str {
        match self {
            Relay::Switchboard(_) => "switchboard",
            Relay::Coturn => "coturn",
        }
    }
}

pub struct Setup {
    /// Calls at each step.
    pub calls: Vec<usize>,
    pub warmup: Duration,
    pub measure: Duration,
    /// Stop (and count the step as not held) above this share lost, in percent.
    pub loss_limit: f64,
}

/// What one step measured.
pub struct Step {
    pub calls: usize,
    pub relayed_per_s: f64,
    /// Of one core.
    pub server_cpu: Option<f64>,
    pub micros_per_packet: Option<f64>,
    pub loss_percent: f64,
    pub p99: Option<Duration>,
    pub generator_cpu: Option<f64>,
    /// Share of the offered packets the generator managed to send.
    pub sent_share: f64,
}

impl Step {
    fn held(&self, loss_limit: f64) -> bool {
        self.loss_percent <= loss_limit
    }

    fn row(&self) -> Vec<String> {
        let percent = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.0} %", v * 100.0));
        vec![
            self.calls.to_string(),
            format!("{:.0}", self.relayed_per_s),
            percent(self.server_cpu),
            self.micros_per_packet
                .map_or("-".into(), |v| format!("{v:.2}")),
            format!("{:.2} %", self.loss_percent),
            crate::stats::ms(self.p99),
            percent(self.generator_cpu),
            format!("{:.0} %", self.sent_share * 100.0),
        ]
    }
}

pub const HEADER: [&str; 8] = [
    "calls",
    "relayed pkt/s",
    "server CPU",
    "µs CPU/pkt",
    "loss",
    "p99",
    "generator CPU",
    "offered sent",
];

pub struct Report {
    pub relay: &'static str,
    pub steps: Vec<Step>,
    /// The most calls held (loss within the limit).
    pub held: Option<usize>,
    /// Calls one full core would carry at the CPU cost per packet of the busiest step held.
    pub per_core_estimate: Option<f64>,
}

/// Starts `relay`, steps the load up as `setup` says, stops it.
pub fn run(relay: &Relay, setup: &Setup) -> Report {
    crate::target::raise_open_files_limit();
    // On a shared machine, other processes on CPU 0 would take turns from the relay (and its
    // losses would be theirs): this thread, the relay it starts and the generator's threads
    // run at nice -10 when allowed (root), both relays alike.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
    let server = RelayProcess::start(relay);
    let load = Load::new(server.addr);
    let mut steps = Vec::new();
    for (index, &calls) in setup.calls.iter().enumerate().take(MAX_STEPS) {
        if let Err(error) = load.grow(calls) {
            eprintln!("  {}: cannot set up {calls} calls: {error}", relay.name());
            break;
        }
        let step = load.step(index, calls, &server, setup);
        eprintln!("  {} {:?}", relay.name(), step.row());
        let saturated = step.server_cpu.is_some_and(|cpu| cpu >= 0.95);
        let held = step.held(setup.loss_limit);
        steps.push(step);
        if !held || saturated {
            break;
        }
    }
    load.stop();
    drop(server);
    let busiest = steps.iter().rfind(|s| s.held(setup.loss_limit));
    Report {
        relay: relay.name(),
        held: busiest.map(|s| s.calls),
        per_core_estimate: busiest
            .and_then(|s| s.micros_per_packet)
            .map(|us| 1e6 / (us * 2.0 * PACKETS_PER_SECOND)),
        steps,
    }
}

pub fn print(report: &Report) {
    println!(
        "\n{}: calls of 2 × {PACKETS_PER_SECOND:.0} packets/s of {PAYLOAD} B, relay on CPU 0\n",
        report.relay
    );
    let rows: Vec<Vec<String>> = report.steps.iter().map(Step::row).collect();
    print_table(&HEADER, &rows);
}

/// The relay's process, pinned to CPU 0; killed when dropped.
struct RelayProcess {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl RelayProcess {
    fn start(relay: &Relay) -> RelayProcess {
        let port = free_udp_and_tcp_port();
        let dir = std::env::temp_dir().join(format!(
            "bench-turn-{}-{}",
            relay.name(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let relay_ports = format!("{}-{}", RELAY_PORTS.0, RELAY_PORTS.1);
        let (program, args): (&Path, Vec<String>) = match relay {
            Relay::Switchboard(binary) => {
                let site = dir.join("no-site");
                let _ = std::fs::create_dir_all(&site);
                let many = "100000".to_owned();
                let http = std::iter::repeat_with(crate::target::free_port)
                    .find(|&p| p != port)
                    .unwrap_or_default();
                let args = [
                    "--port",
                    &http.to_string(),
                    "--media-port",
                    "0",
                    "--data-dir",
                    &dir.display().to_string(),
                    "--site-dir",
                    &site.display().to_string(),
                    "--log-level",
                    "warn",
                    "--turn",
                    "--turn-port",
                    &port.to_string(),
                    "--turn-secret",
                    SECRET,
                    "--turn-allow-loopback",
                    "--turn-relay-ports",
                    &relay_ports,
                    // Every allocation comes from 127.0.0.1: the per-address bound is lifted.
                    "--turn-max-allocations",
                    &many,
                    "--turn-address-allocations",
                    &many,
                ]
                .map(str::to_owned)
                .to_vec();
                (binary, args)
            }
            Relay::Coturn => {
                let file = |name: &str| dir.join(name).display().to_string();
                let args = [
                    "-n",
                    "--listening-ip",
                    "127.0.0.1",
                    "--relay-ip",
                    "127.0.0.1",
                    "--listening-port",
                    &port.to_string(),
                    "--min-port",
                    &RELAY_PORTS.0.to_string(),
                    "--max-port",
                    &RELAY_PORTS.1.to_string(),
                    "--use-auth-secret",
                    "--static-auth-secret",
                    SECRET,
                    "--realm",
                    "bench",
                    "--allow-loopback-peers",
                    "--no-cli",
                    "--no-tls",
                    "--no-dtls",
                    "--no-tcp-relay",
                    "--no-stdout-log",
                    "--simple-log",
                    "--log-file",
                    &file("turn.log"),
                    "--pidfile",
                    &file("turnserver.pid"),
                    "--userdb",
                    &file("turndb"),
                ]
                .map(str::to_owned)
                .to_vec();
                (Path::new("turnserver"), args)
            }
        };
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(program).args(&args);
        // coturn writes its log to the file; what it prints is noise ("Protocol not
        // supported" for SCTP).
        let stderr = match relay {
            Relay::Switchboard(_) => Stdio::inherit(),
            Relay::Coturn => Stdio::null(),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program:?} under taskset: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while turn_client::binding(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{} does not answer on {addr}",
                relay.name()
            );
        }
        RelayProcess { child, addr, dir }
    }

    fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// utime + stime of a `/proc/.../stat`, in seconds.
fn cpu_seconds_of(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(
        ticks
            / if per_second > 0 {
                per_second as f64
            } else {
                100.0
            },
    )
}

/// A port free for UDP and TCP both (our relay takes both).
fn free_udp_and_tcp_port() -> u16 {
    loop {
        let port = crate::target::free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// What the reader counted, per step (the step's number travels in every packet).
struct Tally {
    sent: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
    received_total: AtomicU64,
    latency: Vec<Histogram>,
}

/// The calls set up so far and the threads that read them.
struct Load {
    server: SocketAddr,
    /// Each call's two sockets, in call order: flow 2i is A → B of call i, 2i + 1 is B → A.
    sockets: std::sync::Mutex<Vec<Arc<UdpSocket>>>,
    epoll: i32,
    tally: Arc<Tally>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    reader: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Load {
    fn new(server: SocketAddr) -> Load {
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(epoll >= 0, "epoll_create1");
        let tally = Arc::new(Tally {
            sent: (0..MAX_STEPS).map(|_| AtomicU64::new(0)).collect(),
            received: (0..MAX_STEPS).map(|_| AtomicU64::new(0)).collect(),
            received_total: AtomicU64::new(0),
            latency: (0..MAX_STEPS).map(|_| Histogram::default()).collect(),
        });
        let epoch = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || read_all(epoll, &tally, epoch, &stop))
        };
        Load {
            server,
            sockets: std::sync::Mutex::new(Vec::new()),
            epoll,
            tally,
            epoch,
            stop,
            reader: std::sync::Mutex::new(Some(reader)),
        }
    }

    /// Sets up calls until there are `calls`.
    fn grow(&self, calls: usize) -> std::io::Result<()> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        for call in sockets.len() / 2..calls {
            let mut a = Allocation::new(self.server, SECRET, &format!("call{call}a"))?;
            let mut b = Allocation::new(self.server, SECRET, &format!("call{call}b"))?;
            a.bind_channel(b.relayed, CHANNEL)?;
            b.bind_channel(a.relayed, CHANNEL)?;
            for allocation in [a, b] {
                let socket = allocation.socket;
                socket.set_nonblocking(true)?;
                let mut event = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: socket.as_raw_fd() as u64,
                };
                let added = unsafe {
                    libc::epoll_ctl(
                        self.epoll,
                        libc::EPOLL_CTL_ADD,
                        socket.as_raw_fd(),
                        &mut event,
                    )
                };
                if added != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                sockets.push(Arc::new(socket));
            }
        }
        Ok(())
    }

    /// Sends for the warm-up and the measurement, then waits for stragglers.
    fn step(&self, index: usize, calls: usize, server: &RelayProcess, setup: &Setup) -> Step {
        let sockets: Vec<Arc<UdpSocket>> = self
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let total = setup.warmup + setup.measure;
        let rate = sockets.len() as f64 * PACKETS_PER_SECOND;
        let (tally, epoch) = (&self.tally, self.epoch);
        let own = format!("/proc/{}/stat", std::process::id());
        let (measured, sent) = std::thread::scope(|scope| {
            let sender = scope.spawn(|| send(&sockets, index, rate, total, tally, epoch));
            std::thread::sleep(setup.warmup);
            let start = Instant::now();
            let (cpu0, own0) = (server.cpu_seconds(), cpu_seconds_of(&own));
            let relayed0 = tally.received_total.load(Relaxed);
            std::thread::sleep(setup.measure);
            let window = start.elapsed().as_secs_f64();
            let (cpu1, own1) = (server.cpu_seconds(), cpu_seconds_of(&own));
            let relayed = tally.received_total.load(Relaxed) - relayed0;
            let sent = sender.join().unwrap_or(0);
            let used = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
            ((relayed, window, used(cpu0, cpu1), used(own0, own1)), sent)
        });
        std::thread::sleep(Duration::from_millis(300));
        let (relayed, window, server_cpu, own_cpu) = measured;
        let received = tally.received[index].load(Relaxed);
        Step {
            calls,
            relayed_per_s: relayed as f64 / window,
            server_cpu: server_cpu.map(|s| s / window),
            micros_per_packet: server_cpu
                .filter(|_| relayed > 0)
                .map(|s| s * 1e6 / relayed as f64),
            loss_percent: if sent == 0 {
                100.0
            } else {
                100.0 * (1.0 - received as f64 / sent as f64).max(0.0)
            },
            p99: tally.latency[index].percentile(99.0),
            // The sender and the reader: of the generator's one core.
            generator_cpu: own_cpu.map(|s| s / window),
            sent_share: sent as f64 / (rate * total.as_secs_f64()),
        }
    }

    fn stop(&self) {
        self.stop.store(true, Relaxed);
        if let Some(reader) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = reader.join();
        }
        unsafe { libc::close(self.epoll) };
    }
}

/// Sends `rate` packets a second for `duration`, round robin over the flows (so each gets
/// its share), in small bursts; the number sent.
fn send(
    sockets: &[Arc<UdpSocket>],
    step: usize,
    rate: f64,
    duration: Duration,
    tally: &Tally,
    epoch: Instant,
) -> u64 {
    let mut payload = vec![0u8; PAYLOAD];
    payload[4..8].copy_from_slice(&(step as u32).to_be_bytes());
    let mut frame = turn_client::channel_data(CHANNEL, &payload);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut skipped: u64 = 0;
    let mut next = 0;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = (elapsed.as_secs_f64() * rate) as u64;
        // Media is paced: after a stall of this thread, what fell more than 5 ms behind is
        // skipped (and shows as less than 100 % offered sent), never sent in one burst.
        let behind = due.saturating_sub(sent + skipped);
        let five_ms = (rate / 200.0) as u64 + 1;
        skipped += behind.saturating_sub(five_ms);
        while sent + skipped < due {
            let flow = next % sockets.len();
            next += 1;
            frame[4..8].copy_from_slice(&(flow as u32).to_be_bytes());
            let now = epoch.elapsed().as_nanos() as u64;
            frame[12..20].copy_from_slice(&now.to_be_bytes());
            // A full send buffer counts as sent and lost, as on a real network.
            let _ = sockets[flow].send(&frame);
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(250));
    }
    tally.sent[step].fetch_add(sent, Relaxed);
    sent
}

/// Reads every socket registered with `epoll` until `stop`: counts and times what arrives.
fn read_all(epoll: i32, tally: &Tally, epoch: Instant, stop: &AtomicBool) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = [0u8; 2048];
    while !stop.load(Relaxed) {
        let ready =
            unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, 100) };
        for event in events.iter().take(ready.max(0) as usize) {
            let fd = event.u64 as i32;
            loop {
                let n = unsafe {
                    libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                };
                if n <= 0 {
                    break;
                }
                let Some(payload) = turn_client::channel_payload(&buf[..n as usize]) else {
                    continue;
                };
                if payload.len() < 16 {
                    continue;
                }
                let step =
                    u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]) as usize;
                let mut sent_at = [0u8; 8];
                sent_at.copy_from_slice(&payload[8..16]);
                let sent_at = u64::from_be_bytes(sent_at);
                if step >= MAX_STEPS {
                    continue;
                }
                let now = epoch.elapsed().as_nanos() as u64;
                tally.received[step].fetch_add(1, Relaxed);
                tally.received_total.fetch_add(1, Relaxed);
                tally.latency[step].record(now.saturating_sub(sent_at) / 1000);
            }
        }
    }
}

/// The calls each relay held, side by side.
pub fn summary(reports: &[Report], loss_limit: f64) {
    println!("\nRelayed calls per core (held: the most calls with at most {loss_limit} % lost)\n");
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.relay.to_owned(),
                r.held.map_or("-".into(), |c| c.to_string()),
                r.per_core_estimate
                    .map_or("-".into(), |c| format!("{c:.0}")),
            ]
        })
        .collect();
    print_table(
        &["relay", "calls held", "calls per full core (from µs/pkt)"],
        &rows,
    );
}
