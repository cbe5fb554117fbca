//! Idle connections: N clients connect and stay (answering pings); what each costs the server
//! in resident memory, and how much of it comes back 30 seconds after they all leave.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::sleep;

use crate::client::{connect_many, Frame};
use crate::stats::Figure;
use crate::target::{raise_open_files_limit, Target};

pub struct Setup {
    pub clients: usize,
    pub namespace: &'static str,
    /// How long to wait after everyone left before measuring again.
    pub settle: Duration,
}

pub async fn run(target: &Target, setup: &Setup) -> Vec<Figure> {
    raise_open_files_limit();
    sleep(Duration::from_secs(2)).await;
    let baseline = target.rss_bytes();
    let conns = connect_many(target.addr, setup.namespace, setup.clients, None).await;
    let (leave, left) = watch::channel(false);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let mut left = left.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        frame = conn.next() => if let Frame::Closed = frame { break },
                        _ = left.changed() => break,
                    }
                }
                conn.close().await;
            })
        })
        .collect();
    sleep(Duration::from_secs(3)).await;
    let connected = target.rss_bytes();
    let _ = leave.send(true);
    for task in tasks {
        let _ = task.await;
    }
    sleep(setup.settle).await;
    let after = target.rss_bytes();

    let kb = |b: u64| b as f64 / 1024.0;
    let per_connection = match (baseline, connected) {
        (Some(base), Some(full)) => Some(kb(full.saturating_sub(base)) / setup.clients as f64),
        _ => None,
    };
    let returned = match (baseline, after) {
        (Some(base), Some(after)) => Some((after as f64 / base as f64 - 1.0) * 100.0),
        _ => None,
    };
    vec![
        Figure::new("RSS before", baseline.map(|b| kb(b) / 1024.0), "MB"),
        Figure::new("RSS connected", connected.map(|b| kb(b) / 1024.0), "MB"),
        Figure::new("RSS per connection", per_connection, "KB"),
        Figure::new(
            format!("RSS {} s after leaving", setup.settle.as_secs()),
            after.map(|b| kb(b) / 1024.0),
            "MB",
        ),
        Figure::new("above baseline then", returned, "%"),
    ]
}
