//! `bench`: drives a socket.io server with thousands of clients and prints what it measured.
//!
//! It is a benchmark, not a test: nothing here asserts a figure. Every scenario is bounded in
//! clients and seconds and talks to loopback only. The server under test runs as a separate
//! process (started here, pinned to CPU 0, with this generator on the other cores), so its CPU
//! time and memory can be read from `/proc`. `compare` runs every scenario on the course's Node
//! server and on Switchboard and prints both, with the ratio.
//!
//! Layout: `client` (a minimal Engine.IO/Socket.IO load client), `target` (starting and
//! measuring the server process), `metrics` (what the server counted, from `/metrics`), `stats` (percentiles, tables), one module per scenario.

mod abuse;
mod capacity;
mod chat;
mod client;
mod cursors;
mod histogram;
mod idle;
mod lean;
mod metrics;
mod sfu;
mod signal;
mod stats;
mod target;
mod turn;
mod turn_client;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use stats::{print_table, Figure};
use target::{Server, Target};

#[derive(Parser)]
#[command(name = "bench", about = "Benchmarks for Switchboard's socket.io apps")]
struct Cli {
    /// The Switchboard binary to start (release build).
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/switchboard"))]
    switchboard: PathBuf,
    /// The course's Node server (server.js, with `npm ci` done), for --server reference.
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/reference-seed-node"))]
    reference_dir: PathBuf,
    /// Which server a single scenario runs against.
    #[arg(long, global = true, value_enum, default_value_t = Which::Switchboard)]
    server: Which,
    /// Measure an already running server at this address instead of starting one
    /// (e.g. 127.0.0.1:3000); pass its --pid for CPU and memory figures.
    #[arg(long, global = true)]
    addr: Option<std::net::SocketAddr>,
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Start Switchboard with its per-client protections on (rate limits, connections per
    /// address), as a real deployment has them; otherwise they are lifted.
    #[arg(long, global = true)]
    protected: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Which {
    Switchboard,
    Reference,
}

#[derive(Subcommand)]
enum Scenario {
    /// N clients in /cursors, M of them moving at RATE Hz: broadcasts per client per second,
    /// gaps, server CPU, bytes per client per second.
    Cursors {
        #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
        clients: Vec<usize>,
        /// How many of them move (default: all).
        #[arg(long)]
        movers: Option<usize>,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Compact mode (Switchboard only).
        #[arg(long)]
        compact: bool,
    },
    /// N named clients in /chat, K sending R messages a second each.
    Chat {
        #[arg(long, default_value_t = 500)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        senders: usize,
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// N idle connections: memory per connection, and after they leave.
    Idle {
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        #[arg(long, default_value_t = 30)]
        settle: u64,
    },
    /// P pairs ping-ponging `signal` at a total rate (or as fast as they can with --max).
    Signal {
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        #[arg(long, default_value_t = 2000.0)]
        relays_per_s: f64,
        #[arg(long)]
        max: bool,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Quiet chatters' latency alone and while one client floods /chat (use --protected).
    Flood {
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// One /chat client that never reads among readers of large messages (use --protected).
    SlowConsumer {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Chat and cursors on one node, then the same load split over two nodes of a cluster
    /// (a Redis of its own): cross-node latency, CPU per node.
    Cluster,
    /// How much one core carries: the offered load rises ×FACTOR per step until p99 passes
    /// the limit or anything is lost or dropped (chat fan-out, then signalling relays).
    Capacity {
        /// chat, signal, or both.
        #[arg(long, value_delimiter = ',', default_value = "chat,signal")]
        loads: Vec<String>,
        #[arg(long, default_value_t = 500)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        senders: usize,
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Offered deliveries (chat) per second in the first step; signal starts at a tenth.
        #[arg(long, default_value_t = 10_000.0)]
        first: f64,
        #[arg(long, default_value_t = 1.5)]
        factor: f64,
        #[arg(long, default_value_t = 10)]
        step_seconds: u64,
        #[arg(long, default_value_t = 14)]
        max_steps: usize,
        #[arg(long, default_value_t = 100)]
        p99_ms: u64,
    },
    /// Every scenario of docs/PERFORMANCE.md, on the reference and on Switchboard.
    Compare,
    /// Relayed calls per core: our TURN relay and coturn (Debian's `turnserver`), each on
    /// CPU 0, calls of two allocations sending 1200 B at 1.5 Mbit/s each way, more calls per
    /// step until over 0.5 % is lost or the core is full.
    Turn {
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "25,50,100,150,200,250,300,400,500,650,800,1000,1250,1600,2000"
        )]
        calls: Vec<usize>,
        /// switchboard, coturn, or both.
        #[arg(long, value_delimiter = ',', default_value = "switchboard,coturn")]
        relays: Vec<String>,
        #[arg(long, default_value_t = 1)]
        warmup_seconds: u64,
        #[arg(long, default_value_t = 4)]
        step_seconds: u64,
        #[arg(long, default_value_t = 0.5)]
        loss_percent: f64,
    },
    /// Rooms of bots against the SFU: forwarded video streams, packets, CPU per packet,
    /// forwarding delay and loss, step by step.
    Sfu {
        #[arg(long, default_value_t = 10)]
        room_size: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,6,8,10,12,15")]
        rooms: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        warmup_seconds: u64,
        #[arg(long, default_value_t = 5)]
        step_seconds: u64,
        /// Bots publish their camera only (the shape); by default a microphone too.
        #[arg(long)]
        camera_only: bool,
        /// Passed on to the server, e.g. `--server-flag=--media-loops=2`.
        #[arg(long = "server-flag", allow_hyphen_values = true)]
        server_flags: Vec<String>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    target::pin_current_process_to_last_cpu();
    let server = match cli.server {
        Which::Switchboard if cli.protected => {
            Server::SwitchboardProtected(cli.switchboard.clone())
        }
        Which::Switchboard => Server::Switchboard(cli.switchboard.clone()),
        Which::Reference => Server::Reference(cli.reference_dir.clone()),
    };
    let start = || async {
        match cli.addr {
            Some(addr) => Target::existing(addr, cli.pid),
            None => Target::start(&server).await,
        }
    };
    match cli.scenario {
        Scenario::Cursors {
            clients,
            movers,
            rate,
            seconds,
            compact,
        } => {
            let mut rows = Vec::new();
            for n in clients {
                let target = start().await;
                let setup = cursor_setup(n, movers.unwrap_or(n).min(n), rate, seconds, compact);
                let report = cursors::run(&[&target], &setup).await;
                rows.push(report.row(&setup));
                target.stop().await;
            }
            let mode = if compact {
                "compact deltas"
            } else {
                "the full map"
            };
            println!(
                "\n/cursors on {} ({mode}), movers at {rate} Hz, {seconds} s measured per row\n",
                server.name()
            );
            print_table(&cursors::HEADER, &rows);
        }
        Scenario::Chat {
            clients,
            senders,
            rate,
            seconds,
        } => {
            let target = start().await;
            let figures = chat::run(
                &[&target],
                &chat::Setup {
                    clients,
                    senders,
                    rate_hz: rate,
                    seconds,
                },
            )
            .await;
            target.stop().await;
            print_figures(
                &format!(
                    "/chat on {}: {clients} clients, {senders} sending {rate}/s",
                    server.name()
                ),
                &figures,
            );
        }
        Scenario::Idle { clients, settle } => {
            let target = start().await;
            let setup = idle::Setup {
                clients,
                namespace: "/simple-chat",
                settle: Duration::from_secs(settle),
            };
            let figures = idle::run(&target, &setup).await;
            target.stop().await;
            print_figures(
                &format!("{clients} idle connections on {}", server.name()),
                &figures,
            );
        }
        Scenario::Signal {
            pairs,
            relays_per_s,
            max,
            seconds,
        } => {
            let target = start().await;
            let setup = signal::Setup {
                pairs,
                relays_per_s: (!max).then_some(relays_per_s),
                seconds,
            };
            let figures = signal::run(&target, &setup).await;
            target.stop().await;
            print_figures(
                &format!("/signal on {}: {pairs} pairs", server.name()),
                &figures,
            );
        }
        Scenario::Flood { messages, seconds } => {
            let target = start().await;
            let figures = abuse::flood(&target, messages, seconds).await;
            target.stop().await;
            print_figures(
                &format!("/chat flood of {messages} on {}", server.name()),
                &figures,
            );
        }
        Scenario::SlowConsumer { seconds } => {
            let target = start().await;
            let figures = abuse::slow_consumer(&target, seconds).await;
            target.stop().await;
            print_figures(
                &format!(
                    "/chat with one client that never reads, on {}",
                    server.name()
                ),
                &figures,
            );
        }
        Scenario::Capacity {
            ref loads,
            clients,
            senders,
            pairs,
            first,
            factor,
            step_seconds,
            max_steps,
            p99_ms,
        } => {
            for load in loads {
                let (load, first) = match load.as_str() {
                    "chat" => (capacity::Load::Chat { clients, senders }, first),
                    "signal" => (capacity::Load::Signal { pairs }, first / 10.0),
                    other => panic!("unknown load {other:?} (chat or signal)"),
                };
                eprintln!("capacity on {}", server.name());
                let target = start().await;
                let setup = capacity::Setup {
                    load,
                    first,
                    factor,
                    step: Duration::from_secs(step_seconds),
                    max_steps,
                    p99_limit: Duration::from_millis(p99_ms),
                };
                let report = capacity::run(&target, setup).await;
                target.stop().await;
                println!("\n{}", server.name());
                capacity::print(&report);
            }
        }
        Scenario::Turn {
            calls,
            ref relays,
            warmup_seconds,
            step_seconds,
            loss_percent,
        } => {
            let relays: Vec<turn::Relay> = relays
                .iter()
                .map(|name| match name.as_str() {
                    "switchboard" => turn::Relay::Switchboard(cli.switchboard.clone()),
                    "coturn" => turn::Relay::Coturn,
                    other => panic!("unknown relay {other:?} (switchboard or coturn)"),
                })
                .collect();
            let setup = turn::Setup {
                calls,
                warmup: Duration::from_secs(warmup_seconds),
                measure: Duration::from_secs(step_seconds),
                loss_limit: loss_percent,
            };
            let reports = tokio::task::spawn_blocking(move || {
                relays
                    .iter()
                    .map(|relay| turn::run(relay, &setup))
                    .collect::<Vec<_>>()
            })
            .await
            .expect("the TURN benchmark");
            for report in &reports {
                turn::print(report);
            }
            turn::summary(&reports, loss_percent);
        }
        Scenario::Sfu {
            room_size,
            ref rooms,
            warmup_seconds,
            step_seconds,
            camera_only,
            ref server_flags,
        } => {
            sfu::run(sfu::Setup {
                binary: cli.switchboard.clone(),
                room_size,
                rooms: rooms.clone(),
                warmup: Duration::from_secs(warmup_seconds),
                measure: Duration::from_secs(step_seconds),
                microphones: !camera_only,
                server_flags: server_flags.clone(),
            })
            .await
        }
        Scenario::Cluster => cluster(&cli).await,
        Scenario::Compare => compare(&cli).await,
    }
}

fn cursor_setup(
    clients: usize,
    movers: usize,
    rate: f64,
    seconds: u64,
    compact: bool,
) -> cursors::Setup {
    cursors::Setup {
        clients,
        movers,
        rate_hz: rate,
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(seconds),
        compact,
    }
}

fn print_figures(title: &str, figures: &[Figure]) {
    println!("\n{title}\n");
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|f| vec![f.name.clone(), f.show()])
        .collect();
    print_table(&["figure", "value"], &rows);
}

/// Runs one scenario on a freshly started server.
async fn measure<F, Fut>(server: &Server, scenario: F) -> Vec<Figure>
where
    F: FnOnce(Target) -> Fut,
    Fut: std::future::Future<Output = (Target, Vec<Figure>)>,
{
    eprintln!("  … {} ", server.name());
    let target = Target::start(server).await;
    let (target, figures) = scenario(target).await;
    target.stop().await;
    figures
}

/// Chat and cursors on one node and on two nodes of a cluster, in one table.
async fn cluster(cli: &Cli) {
    let chat_setup = chat::Setup {
        clients: 500,
        senders: 50,
        rate_hz: 2.0,
        seconds: 10,
    };
    let cursor_setup = cursor_setup(1000, 50, 20.0, 10, true);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |scenario: &str, figures: Vec<Figure>, setup: &str| {
        for figure in figures {
            rows.push(vec![
                scenario.to_owned(),
                setup.to_owned(),
                figure.name.clone(),
                figure.show(),
            ]);
        }
    };
    eprintln!("one node");
    let one = Target::start_switchboard(&cli.switchboard, true).await;
    add(
        "chat 500, 50×2 msg/s",
        chat::run(&[&one], &chat_setup).await,
        "one node",
    );
    add(
        "cursors 1000, 50 moving (compact)",
        cursors::run(&[&one], &cursor_setup).await.figures(),
        "one node",
    );
    one.stop().await;
    eprintln!("two nodes");
    let redis = target::Redis::start().await;
    let flags = ["--redis-url".to_owned(), redis.url.clone()];
    let a = Target::start_switchboard_with(&cli.switchboard, true, &flags).await;
    let b = Target::start_switchboard_with(&cli.switchboard, true, &flags).await;
    // Let the nodes hear each other before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    add(
        "chat 500, 50×2 msg/s",
        chat::run(&[&a, &b], &chat_setup).await,
        "two nodes",
    );
    add(
        "cursors 1000, 50 moving (compact)",
        cursors::run(&[&a, &b], &cursor_setup)
            .await
            .cluster_figures(),
        "two nodes",
    );
    a.stop().await;
    b.stop().await;
    drop(redis);
    println!("\nOne node, then the same load split over two nodes on one Redis (all on CPU 0)\n");
    print_table(&["scenario", "setup", "figure", "value"], &rows);
}

/// The scenarios and targets of docs/PERFORMANCE.md, on both servers, in one table.
async fn compare(cli: &Cli) {
    let reference = Server::Reference(cli.reference_dir.clone());
    let switchboard = Server::Switchboard(cli.switchboard.clone());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |scenario: &str, ours: Vec<Figure>, theirs: Vec<Figure>| {
        for (mine, other) in ours.iter().zip(&theirs) {
            let ratio = match (mine.value, other.value) {
                (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}", a / b),
                _ => "-".into(),
            };
            rows.push(vec![
                scenario.to_owned(),
                mine.name.clone(),
                other.show(),
                mine.show(),
                ratio,
            ]);
        }
    };

    let chat_setup = || chat::Setup {
        clients: 500,
        senders: 50,
        rate_hz: 2.0,
        seconds: 10,
    };
    eprintln!("chat fan-out");
    let theirs = measure(&reference, |t| async {
        let f = chat::run(&[&t], &chat_setup()).await;
        (t, f)
    })
    .await;
    let ours = measure(&switchboard, |t| async {
        let f = chat::run(&[&t], &chat_setup()).await;
        (t, f)
    })
    .await;
    add("chat 500 clients, 50×2 msg/s", ours, theirs);

    let idle_setup = || idle::Setup {
        clients: 5000,
        namespace: "/simple-chat",
        settle: Duration::from_secs(30),
    };
    eprintln!("idle connections");
    let theirs = measure(&reference, |t| async {
        let f = idle::run(&t, &idle_setup()).await;
        (t, f)
    })
    .await;
    let ours = measure(&switchboard, |t| async {
        let f = idle::run(&t, &idle_setup()).await;
        (t, f)
    })
    .await;
    add("5000 idle connections", ours, theirs);

    eprintln!("cursors");
    let theirs = measure(&reference, |t| async {
        let f = cursors::run(&[&t], &cursor_setup(1000, 50, 20.0, 10, false))
            .await
            .figures();
        (t, f)
    })
    .await;
    let full = measure(&switchboard, |t| async {
        let f = cursors::run(&[&t], &cursor_setup(1000, 50, 20.0, 10, false))
            .await
            .figures();
        (t, f)
    })
    .await;
    let compact = measure(&switchboard, |t| async {
        let f = cursors::run(&[&t], &cursor_setup(1000, 50, 20.0, 10, true))
            .await
            .figures();
        (t, f)
    })
    .await;
    add("cursors 1000, 50 moving (full map)", full, theirs.clone());
    add("cursors 1000, 50 moving (ours compact)", compact, theirs);

    eprintln!("signalling");
    let fixed = || signal::Setup {
        pairs: 100,
        relays_per_s: Some(2000.0),
        seconds: 10,
    };
    let theirs = measure(&reference, |t| async {
        let f = signal::run(&t, &fixed()).await;
        (t, f)
    })
    .await;
    let ours = measure(&switchboard, |t| async {
        let f = signal::run(&t, &fixed()).await;
        (t, f)
    })
    .await;
    add("signal 2000 relays/s (100 pairs)", ours, theirs);
    let flat_out = || signal::Setup {
        pairs: 100,
        relays_per_s: None,
        seconds: 5,
    };
    let theirs = measure(&reference, |t| async {
        let f = signal::run(&t, &flat_out()).await;
        (t, f)
    })
    .await;
    let ours = measure(&switchboard, |t| async {
        let f = signal::run(&t, &flat_out()).await;
        (t, f)
    })
    .await;
    add("signal as fast as possible (100 pairs)", ours, theirs);

    println!("\nSwitchboard against the course's Node server (same machine, same run; server on CPU 0)\n");
    print_table(
        &["scenario", "figure", "reference", "switchboard", "ratio"],
        &rows,
    );
}
