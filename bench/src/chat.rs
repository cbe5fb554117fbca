//! Chat fan-out: N named clients in `/chat`, K of them sending R messages a second for D
//! seconds. Every message carries its send time, so each receiver measures latency; every
//! client should get every message, so what is missing is counted as lost.

use std::time::Duration;

use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::client::{connect_many, Conn, Frame};
use crate::stats::{percentile, Figure};
use crate::target::{measure_window, raise_open_files_limit, Target};

pub struct Setup {
    pub clients: usize,
    pub senders: usize,
    pub rate_hz: f64,
    pub seconds: u64,
}

#[derive(Default)]
struct Seen {
    sent: u64,
    received: u64,
    latencies: Vec<Duration>,
    /// Latencies of the messages whose sender is on another node (a cluster run).
    cross_node: Vec<Duration>,
}

/// The scenario on one server, or on the nodes of a cluster: client `i` is on node `i % n`.
pub async fn run(targets: &[&Target], setup: &Setup) -> Vec<Figure> {
    raise_open_files_limit();
    let nodes = targets.len();
    let mut per_node = Vec::new();
    for (n, target) in targets.iter().enumerate() {
        let count = (setup.clients + nodes - 1 - n) / nodes;
        per_node.push(
            connect_many(target.addr, "/chat", count, None)
                .await
                .into_iter(),
        );
    }
    let mut conns: Vec<Conn> = (0..setup.clients)
        .filter_map(|i| per_node[i % nodes].next())
        .collect();
    // Names, in parallel, each confirmed before the clock starts.
    let named = conns.iter_mut().enumerate().map(|(i, conn)| async move {
        conn.send(format!(r#"42/chat,["name","b{i}"]"#)).await;
        loop {
            match conn.next().await {
                Frame::Packet(p) if p.starts_with(r#"2/chat,["name""#) => return true,
                Frame::Packet(p) if p.starts_with(r#"2/chat,["nameError""#) => return false,
                Frame::Closed => return false,
                _ => {}
            }
        }
    });
    let named = futures_util::future::join_all(named).await;
    assert!(
        named.iter().all(|ok| *ok),
        "every bench client gets its name"
    );

    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(500);
    let stop_sending = start + Duration::from_secs(setup.seconds);
    // Late deliveries still count; after this they are lost.
    let stop_listening = stop_sending + Duration::from_secs(2);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let sending = (i < setup.senders).then(|| Duration::from_secs_f64(1.0 / setup.rate_hz));
            // Senders spread over the period instead of all at once.
            let phase =
                Duration::from_secs_f64(i as f64 / setup.senders.max(1) as f64 / setup.rate_hz);
            tokio::spawn(drive(
                conn,
                (i, nodes),
                sending,
                phase,
                epoch,
                start,
                stop_sending,
                stop_listening,
            ))
        })
        .collect();
    let (counted, cpus) = measure_window(targets, start, stop_listening).await;
    let cpu = cpus[0];
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap_or_default());
    }

    let sent: u64 = seen.iter().map(|s| s.sent).sum();
    let received: u64 = seen.iter().map(|s| s.received).sum();
    let expected = sent * setup.clients as u64;
    let mut cross: Vec<Duration> = seen
        .iter()
        .flat_map(|s| s.cross_node.iter().copied())
        .collect();
    cross.sort();
    let mut latencies: Vec<Duration> = seen.into_iter().flat_map(|s| s.latencies).collect();
    latencies.sort();
    let ms = |p| percentile(&latencies, p).map(|d| d.as_secs_f64() * 1000.0);
    let deliveries_per_s = received as f64 / setup.seconds as f64;
    if nodes > 1 {
        let cross_ms = |p| percentile(&cross, p).map(|d| d.as_secs_f64() * 1000.0);
        let mut figures = vec![
            Figure::new("deliveries/s", Some(deliveries_per_s), ""),
            Figure::new("lost", Some(expected.saturating_sub(received) as f64), ""),
            Figure::new("same-node latency p50", ms(50.0), "ms"),
            Figure::new("same-node latency p99", ms(99.0), "ms"),
            Figure::new("cross-node latency p50", cross_ms(50.0), "ms"),
            Figure::new("cross-node latency p99", cross_ms(99.0), "ms"),
        ];
        // Each node delivers to its own half of the clients.
        for (n, cpu) in cpus.iter().enumerate() {
            figures.push(Figure::new(
                format!("node {} CPU per delivery", n + 1),
                cpu.map(|(used, _)| used * 1e6 / (received as f64 / nodes as f64).max(1.0)),
                "µs",
            ));
        }
        return figures;
    }
    vec![
        Figure::new("deliveries/s", Some(deliveries_per_s), ""),
        Figure::new("lost", Some(expected.saturating_sub(received) as f64), ""),
        counted.dropped(),
        Figure::new("latency p50", ms(50.0), "ms"),
        Figure::new("latency p95", ms(95.0), "ms"),
        Figure::new("latency p99", ms(99.0), "ms"),
        Figure::new("server CPU", cpu.map(|(_, share)| share * 100.0), "%"),
        Figure::new(
            "CPU per delivery",
            cpu.map(|(used, _)| used * 1e6 / received.max(1) as f64),
            "µs",
        ),
    ]
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    mut conn: Conn,
    (me, nodes): (usize, usize),
    sending: Option<Duration>,
    phase: Duration,
    epoch: Instant,
    start: Instant,
    stop_sending: Instant,
    stop_listening: Instant,
) -> Seen {
    let mut sends =
        tokio::time::interval_at(start + phase, sending.unwrap_or(Duration::from_secs(3600)));
    sends.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        tokio::select! {
            _ = sends.tick(), if sending.is_some() && Instant::now() < stop_sending => {
                let sent_at = epoch.elapsed().as_micros();
                if !conn.send(format!(r#"42/chat,["message","{sent_at} {me} {}"]"#, seen.sent)).await {
                    break;
                }
                seen.sent += 1;
            }
            frame = conn.next() => match frame {
                Frame::Packet(packet) if packet.starts_with(r#"2/chat,["message""#) => {
                    // The text is the last argument: `..."<micros> <sender> <seq>"]`.
                    let text = packet.trim_end_matches("\"]").rsplit('"').next().unwrap_or("");
                    let mut words = text.split(' ');
                    let sent_at = words.next().and_then(|t| t.parse::<u64>().ok());
                    let sender = words.next().and_then(|t| t.parse::<usize>().ok());
                    if let Some(sent_at) = sent_at {
                        let now = epoch.elapsed().as_micros() as u64;
                        let latency = Duration::from_micros(now.saturating_sub(sent_at));
                        if sender.is_some_and(|s| s % nodes != me % nodes) {
                            seen.cross_node.push(latency);
                        } else {
                            seen.latencies.push(latency);
                        }
                        seen.received += 1;
                    }
                }
                Frame::Closed => break,
                _ => {}
            },
            _ = sleep_until(stop_listening) => break,
        }
    }
    conn.close().await;
    seen
}
