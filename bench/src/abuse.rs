//! What one bad client does to everyone else in `/chat`.
//!
//! - `flood`: quiet chatters measure their latency, first alone, then while one client sends
//!   20 000 messages as fast as it can: how much slower the others get, whether they lose
//!   anything, how much of the flood reaches them, and whether the flooder is cut off.
//! - `slow-consumer`: readers and senders chat with large messages while one client joins and
//!   never reads: whether (and when) the server lets it go, what it costs the server's memory,
//!   and whether the others lose anything meanwhile.
//!
//! Run against a server with its protections on (`--protected`); pass an older binary with
//! `--switchboard` to measure the "before".

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::client::{connect_many, Conn, Frame};
use crate::metrics::Scrape;
use crate::stats::{percentile, Figure};
use crate::target::{raise_open_files_limit, CpuWindow, Target};

/// Quiet chatters: how many, how many of them send, how often.
const QUIET_CLIENTS: usize = 50;
const QUIET_SENDERS: usize = 10;
const QUIET_RATE_HZ: f64 = 2.0;

#[derive(Default)]
struct Seen {
    sent: u64,
    /// Quiet messages received, and their latencies.
    received: u64,
    latencies: Vec<Duration>,
    /// Flood messages received.
    flood: u64,
}

/// Names every connection `prefix{i}`, all at once.
async fn name_all(conns: &mut [Conn], prefix: &str) {
    let named = conns.iter_mut().enumerate().map(|(i, conn)| async move {
        conn.send(format!(r#"42/chat,["name","{prefix}{i}"]"#))
            .await;
        loop {
            match conn.next().await {
                Frame::Packet(p) if p.starts_with(r#"2/chat,["name""#) => return,
                Frame::Closed => panic!("a bench client was refused its name"),
                _ => {}
            }
        }
    });
    futures_util::future::join_all(named).await;
}

/// Runs the quiet chatters for `seconds` from `start`; returns what each saw.
fn chat_quietly(
    conns: Vec<Conn>,
    start: Instant,
    seconds: u64,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let stop_sending = start + Duration::from_secs(seconds);
    let stop = stop_sending + Duration::from_secs(2);
    conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            tokio::spawn(async move {
                let period = Duration::from_secs_f64(1.0 / QUIET_RATE_HZ);
                let phase = period.mul_f64(i as f64 / QUIET_SENDERS as f64);
                let mut sends = tokio::time::interval_at(start + phase, period);
                let mut seen = Seen::default();
                let epoch = start - Duration::from_secs(60);
                loop {
                    tokio::select! {
                        _ = sends.tick(), if i < QUIET_SENDERS && Instant::now() < stop_sending => {
                            let at = epoch.elapsed().as_micros();
                            if !conn.send(format!(r#"42/chat,["message","{at} {i}"]"#)).await {
                                break;
                            }
                            seen.sent += 1;
                        }
                        frame = conn.next() => match frame {
                            Frame::Packet(p) if p.starts_with(r#"2/chat,["message""#) => {
                                let text = p.trim_end_matches("\"]").rsplit('"').next().unwrap_or("");
                                if text.starts_with("flood") {
                                    seen.flood += 1;
                                } else if let Some(at) = text.split(' ').next().and_then(|t| t.parse::<u64>().ok()) {
                                    let now = epoch.elapsed().as_micros() as u64;
                                    seen.latencies.push(Duration::from_micros(now.saturating_sub(at)));
                                    seen.received += 1;
                                }
                            }
                            Frame::Closed => break,
                            _ => {}
                        },
                        _ = sleep_until(stop) => break,
                    }
                }
                conn.close().await;
                seen
            })
        })
        .collect()
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Seen>>) -> (u64, u64, Vec<Duration>, u64) {
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap_or_default());
    }
    let sent = seen.iter().map(|s| s.sent).sum::<u64>();
    let received = seen.iter().map(|s| s.received).sum::<u64>();
    let flood = seen.iter().map(|s| s.flood).sum::<u64>();
    let mut latencies: Vec<Duration> = seen.into_iter().flat_map(|s| s.latencies).collect();
    latencies.sort();
    (sent, received, latencies, flood)
}

fn ms(latencies: &[Duration], p: f64) -> Option<f64> {
    percentile(latencies, p).map(|d| d.as_secs_f64() * 1000.0)
}

/// The quiet chatters alone, then with a flooder sending `flood` messages as fast as it can.
pub async fn flood(target: &Target, flood: u64, seconds: u64) -> Vec<Figure> {
    raise_open_files_limit();
    let mut figures = Vec::new();
    for with_flood in [false, true] {
        let mut conns = connect_many(target.addr, "/chat", QUIET_CLIENTS, None).await;
        let prefix = if with_flood { "f" } else { "q" };
        name_all(&mut conns, prefix).await;
        let start = Instant::now() + Duration::from_millis(300);
        let tasks = chat_quietly(conns, start, seconds);
        let addr = target.addr;
        let flooder = with_flood.then(|| {
            tokio::spawn(async move {
                let mut flooder = connect_many(addr, "/chat", 1, None).await;
                name_all(&mut flooder, "flooder").await;
                let mut conn = flooder.pop().expect("one flooder");
                sleep_until(start + Duration::from_millis(500)).await;
                let mut sent = 0u64;
                while sent < flood {
                    if !conn
                        .send(format!(r#"42/chat,["message","flood {sent}"]"#))
                        .await
                    {
                        break;
                    }
                    sent += 1;
                }
                // Cut off means the server closed the connection.
                let cut_off = tokio::time::timeout(Duration::from_secs(3), async {
                    loop {
                        if let Frame::Closed = conn.next().await {
                            return;
                        }
                    }
                })
                .await
                .is_ok();
                (sent, cut_off)
            })
        });
        let window = CpuWindow::start(target);
        let (sent, received, latencies, flooded) = collect(tasks).await;
        let cpu = window.finish(target);
        let lost = (sent * QUIET_CLIENTS as u64).saturating_sub(received);
        let label = if with_flood {
            "under the flood"
        } else {
            "quiet"
        };
        figures.push(Figure::new(
            format!("others' p50, {label}"),
            ms(&latencies, 50.0),
            "ms",
        ));
        figures.push(Figure::new(
            format!("others' p99, {label}"),
            ms(&latencies, 99.0),
            "ms",
        ));
        figures.push(Figure::new(
            format!("others' messages lost, {label}"),
            Some(lost as f64),
            "",
        ));
        figures.push(Figure::new(
            format!("server CPU, {label}"),
            cpu.map(|(_, s)| s * 100.0),
            "%",
        ));
        if let Some(flooder) = flooder {
            let (sent, cut_off) = flooder.await.unwrap_or((0, false));
            figures.push(Figure::new("flood messages sent", Some(sent as f64), ""));
            figures.push(Figure::new(
                "flood messages reaching each other client",
                Some(flooded as f64 / QUIET_CLIENTS as f64),
                "",
            ));
            figures.push(Figure::new(
                "flooder cut off (1 = yes)",
                Some(f64::from(u8::from(cut_off))),
                "",
            ));
        }
    }
    figures
}

/// Readers and senders of large messages, and one client that joins and never reads.
pub async fn slow_consumer(target: &Target, seconds: u64) -> Vec<Figure> {
    // Light enough that this generator reads everything it is sent (1.2 MB/s in all).
    const READERS: usize = 15;
    const SENDERS: usize = 5;
    const RATE_HZ: f64 = 10.0;
    raise_open_files_limit();
    let connections = |scrape: &Option<Scrape>| {
        scrape
            .as_ref()
            .and_then(|s| s.get(r#"switchboard_connections{namespace="/chat"}"#))
    };
    let mut readers = connect_many(target.addr, "/chat", READERS + SENDERS, None).await;
    name_all(&mut readers, "r").await;
    let mut stuck = connect_many(target.addr, "/chat", 1, None).await;
    name_all(&mut stuck, "stuck").await;
    let before = Scrape::read(target.addr).await;
    let rss_before = target.rss_bytes();
    // 6 KB a message (2000 three-byte characters).
    let text = "€".repeat(2000);
    let start = Instant::now() + Duration::from_millis(300);
    let stop_sending = start + Duration::from_secs(seconds);
    let stop = stop_sending + Duration::from_secs(2);
    let tasks: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let text = text.clone();
            tokio::spawn(async move {
                let period = Duration::from_secs_f64(1.0 / RATE_HZ);
                let mut sends = tokio::time::interval_at(start, period);
                let (mut sent, mut received, mut cut_off) = (0u64, 0u64, false);
                loop {
                    tokio::select! {
                        _ = sends.tick(), if i >= READERS && Instant::now() < stop_sending => {
                            if !conn.send(format!(r#"42/chat,["message","{text}"]"#)).await {
                                break;
                            }
                            sent += 1;
                        }
                        frame = conn.next() => match frame {
                            Frame::Packet(p) if p.starts_with(r#"2/chat,["message""#) => received += 1,
                            Frame::Closed => {
                                cut_off = true;
                                break;
                            }
                            _ => {}
                        },
                        _ = sleep_until(stop) => break,
                    }
                }
                conn.close().await;
                (sent, received, cut_off)
            })
        })
        .collect();
    // Watch for the stuck client to be let go.
    let mut let_go_after = None;
    let mut peak_rss = rss_before;
    let counted_before = connections(&before);
    while Instant::now() < stop_sending {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak_rss = peak_rss.max(target.rss_bytes());
        let now = Scrape::read(target.addr).await;
        if let_go_after.is_none() && connections(&now) < counted_before {
            let_go_after = Some(start.elapsed().as_secs_f64());
        }
    }
    let after = Scrape::read(target.addr).await;
    let (mut sent, mut received, mut readers_cut_off) = (0u64, 0u64, 0u64);
    for task in tasks {
        let (s, r, cut_off) = task.await.unwrap_or_default();
        sent += s;
        received += r;
        readers_cut_off += u64::from(cut_off);
    }
    drop(stuck);
    let dropped = match (&before, &after) {
        (Some(b), Some(a)) => a
            .get("switchboard_dropped_deliveries_total")
            .zip(b.get("switchboard_dropped_deliveries_total"))
            .map(|(a, b)| a - b),
        _ => None,
    };
    let lost = (sent * (READERS + SENDERS) as u64).saturating_sub(received);
    vec![
        Figure::new("stuck client let go after", let_go_after, "s"),
        Figure::new("deliveries the server dropped", dropped, ""),
        Figure::new("readers' messages lost", Some(lost as f64), ""),
        Figure::new("readers disconnected", Some(readers_cut_off as f64), ""),
        Figure::new(
            "server memory growth (peak)",
            rss_before
                .zip(peak_rss)
                .map(|(b, p)| (p.saturating_sub(b)) as f64 / 1e6),
            "MB",
        ),
    ]
}
