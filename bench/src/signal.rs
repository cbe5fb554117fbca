//! Signalling: P pairs of `/signal` clients ping-pong `signal` relays, at a fixed total rate
//! and as fast as they can; each round trip is timed by the side that started it.

use std::time::Duration;

use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::client::{connect_many, Conn, Frame};
use crate::metrics::MetricsWindow;
use crate::stats::{percentile, Figure};
use crate::target::{raise_open_files_limit, CpuWindow, Target};

pub struct Setup {
    pub pairs: usize,
    /// Relays per second in total (each round trip is two), or `None` for as fast as possible.
    pub relays_per_s: Option<f64>,
    pub seconds: u64,
}

#[derive(Default)]
struct Seen {
    relays: u64,
    rtts: Vec<Duration>,
}

pub async fn run(target: &Target, setup: &Setup) -> Vec<Figure> {
    raise_open_files_limit();
    let conns = connect_many(target.addr, "/signal", setup.pairs * 2, None).await;
    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(500);
    let stop = start + Duration::from_secs(setup.seconds);
    let mut conns = conns.into_iter();
    let mut tasks = Vec::new();
    let round_trip_every = setup
        .relays_per_s
        .map(|r| Duration::from_secs_f64(2.0 * setup.pairs as f64 / r));
    for i in 0..setup.pairs {
        let (Some(a), Some(b)) = (conns.next(), conns.next()) else {
            break;
        };
        let (a_id, b_id) = (a.sid.clone(), b.sid.clone());
        let phase =
            round_trip_every.map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / setup.pairs as f64));
        tasks.push(tokio::spawn(caller(
            a,
            b_id,
            round_trip_every,
            start + phase,
            stop,
            epoch,
        )));
        tasks.push(tokio::spawn(answerer(b, a_id, stop)));
    }
    sleep_until(start).await;
    let counting = MetricsWindow::start(target.addr).await;
    let window = CpuWindow::start(target);
    sleep_until(stop).await;
    let cpu = window.finish(target);
    let counted = counting.finish().await;
    let mut seen = Seen::default();
    for task in tasks {
        let s = task.await.unwrap_or_default();
        seen.relays += s.relays;
        seen.rtts.extend(s.rtts);
    }
    seen.rtts.sort();
    let ms = |p| percentile(&seen.rtts, p).map(|d| d.as_secs_f64() * 1000.0);
    vec![
        Figure::new(
            "relays/s",
            Some(seen.relays as f64 / setup.seconds as f64),
            "",
        ),
        Figure::new("RTT p50", ms(50.0), "ms"),
        Figure::new("RTT p99", ms(99.0), "ms"),
        Figure::new("server CPU", cpu.map(|(_, share)| share * 100.0), "%"),
        Figure::new(
            "CPU per relay",
            cpu.map(|(used, _)| used * 1e6 / seen.relays.max(1) as f64),
            "µs",
        ),
        counted.dropped(),
    ]
}

/// Sends a ping to `peer` on every tick (or as soon as the last pong came back) and times it.
async fn caller(
    mut conn: Conn,
    peer: String,
    every: Option<Duration>,
    start: Instant,
    stop: Instant,
    epoch: Instant,
) -> Seen {
    let mut ticks = tokio::time::interval_at(start, every.unwrap_or(Duration::from_secs(3600)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    let ping = |sent_at: u128| format!(r#"42/signal,["signal","{peer}",{{"t":{sent_at}}}]"#);
    sleep_until(start).await;
    if every.is_none() && !conn.send(ping(epoch.elapsed().as_micros())).await {
        return seen;
    }
    loop {
        tokio::select! {
            _ = ticks.tick(), if every.is_some() => {
                if !conn.send(ping(epoch.elapsed().as_micros())).await {
                    break;
                }
            }
            frame = conn.next() => match frame {
                Frame::Packet(packet) if packet.starts_with(r#"2/signal,["signal""#) => {
                    if let Some(sent_at) = packet.split(r#"{"t":"#).nth(1).and_then(|rest| rest.split('}').next()).and_then(|t| t.parse::<u64>().ok()) {
                        let now = epoch.elapsed().as_micros() as u64;
                        seen.rtts.push(Duration::from_micros(now.saturating_sub(sent_at)));
                        seen.relays += 2;
                    }
                    if every.is_none() && Instant::now() < stop && !conn.send(ping(epoch.elapsed().as_micros())).await {
                        break;
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
}

/// Sends every ping straight back to `peer`.
async fn answerer(mut conn: Conn, peer: String, stop: Instant) -> Seen {
    loop {
        tokio::select! {
            frame = conn.next() => match frame {
                Frame::Packet(packet) if packet.starts_with(r#"2/signal,["signal""#) => {
                    let payload = packet.split(",{").nth(1).map(|p| format!("{{{}", p.trim_end_matches(|c| c != '}')));
                    if let Some(payload) = payload {
                        if !conn.send(format!(r#"42/signal,["signal","{peer}",{payload}]"#)).await {
                            break;
                        }
                    }
                }
                Frame::Closed => break,
                _ => {}
            },
            _ = sleep_until(stop + Duration::from_secs(1)) => break,
        }
    }
    conn.close().await;
    Seen::default()
}
