//! `switchboard`: reads the configuration and runs the server (see `server::start`).

use std::process::ExitCode;

/// jemalloc, purging in a background thread: after thousands of clients leave, the memory
/// goes back to the system within seconds (glibc's malloc kept it; see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true\0";

use clap::Parser;
use server::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` file is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    let config = Config::parse();
    // The STUN codec warns about every malformed message it parses: from a hostile client,
    // that would be a line per packet. The relay counts them instead; a later directive of the
    // user's (e.g. stun_types=debug) still wins.
    let directives = format!("stun_types=error,turn_types=error,{}", config.log_level);
    let filter = match EnvFilter::try_new(&directives) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "switchboard: {}",
                server::StartError::LogLevel(error.to_string())
            );
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match server::start(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("switchboard: {error}");
            ExitCode::FAILURE
        }
    }
}
