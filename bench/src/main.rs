//! `bench`: drives a socket.io server with thousands of clients and prints what it measured.
//!
//! It is a benchmark, not a test: nothing here asserts a figure. Every scenario is bounded in
//! clients and seconds and talks to loopback only. The server under test runs as a separate
//! process (started here, pinned to CPU 0, with this generator on CPU 1 when the machine has
//! two cores), so its CPU time can be read from `/proc`.
//!
//! Layout: `client` (a minimal Engine.IO/Socket.IO load client), `target` (starting and
//! measuring the server process), `stats` (percentiles, tables), one module per scenario.

mod client;
mod cursors;
mod stats;
mod target;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bench", about = "Benchmarks for Switchboard's socket.io apps")]
struct Cli {
    /// The Switchboard binary to start (release build).
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/switchboard"))]
    switchboard: PathBuf,
    /// Measure an already running server at this address instead of starting one
    /// (e.g. 127.0.0.1:3000); pass its --pid for CPU figures.
    #[arg(long, global = true)]
    addr: Option<std::net::SocketAddr>,
    #[arg(long, global = true)]
    pid: Option<u32>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N clients in /cursors, each moving at RATE Hz: broadcasts per client per second, gaps,
    /// server CPU, bytes per client per second.
    Cursors {
        /// Client counts to run, one after the other.
        #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
        clients: Vec<usize>,
        /// How many of them move (default: all).
        #[arg(long)]
        movers: Option<usize>,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds measured per run (after a 2 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    target::pin_current_process_to_last_cpu();
    match cli.scenario {
        Scenario::Cursors {
            clients,
            movers,
            rate,
            seconds,
        } => {
            let mut rows = Vec::new();
            for n in clients {
                let server = match cli.addr {
                    Some(addr) => target::Target::existing(addr, cli.pid),
                    None => target::Target::start_switchboard(&cli.switchboard).await,
                };
                let setup = cursors::Setup {
                    clients: n,
                    movers: movers.unwrap_or(n).min(n),
                    rate_hz: rate,
                    warmup: Duration::from_secs(2),
                    measure: Duration::from_secs(seconds),
                };
                let report = cursors::run(&server, &setup).await;
                rows.push(report.row(&setup));
                server.stop().await;
            }
            println!(
                "\n/cursors: every client moving at {rate} Hz, {seconds} s measured per row\n"
            );
            stats::print_table(&cursors::HEADER, &rows);
        }
    }
}
