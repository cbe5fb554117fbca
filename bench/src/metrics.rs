//! What the server itself counted during a scenario, from its `GET /metrics` (Prometheus text).
//!
//! The generator sees what arrived; the server knows what it refused to queue because a client
//! read too slowly, and how long a cursor tick took. The reference server has no `/metrics`:
//! its figures show as "-".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::Figure;

/// One reading of every sample, keyed by name with labels (`name{label="v"}`).
#[derive(Debug, Default)]
pub struct Scrape(HashMap<String, f64>);

impl Scrape {
    /// Reads `/metrics`; `None` when the server has none (or does not answer within 5 s).
    pub async fn read(addr: SocketAddr) -> Option<Scrape> {
        let fetch = async {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            // HTTP/1.0: the server closes the connection after the body, which ends the read.
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
                .await
                .ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await.ok()?;
            Some(response)
        };
        let response = tokio::time::timeout(Duration::from_secs(5), fetch)
            .await
            .ok()??;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.split_whitespace()
            .nth(1)
            .is_some_and(|status| status == "200")
            .then(|| Scrape::parse(body))
    }

    /// Parses the text exposition format; comment lines and unreadable values are skipped.
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Scrape(samples)
    }

    pub fn get(&self, sample: &str) -> Option<f64> {
        self.0.get(sample).copied()
    }
}

/// Counters read before and after a scenario's measured window.
pub struct MetricsWindow {
    addr: SocketAddr,
    before: Option<Scrape>,
}

/// What changed in the window.
pub struct Counted {
    before: Option<Scrape>,
    after: Option<Scrape>,
}

impl MetricsWindow {
    pub async fn start(addr: SocketAddr) -> MetricsWindow {
        MetricsWindow {
            addr,
            before: Scrape::read(addr).await,
        }
    }

    pub async fn finish(self) -> Counted {
        Counted {
            after: Scrape::read(self.addr).await,
            before: self.before,
        }
    }
}

impl Counted {
    /// How much `sample` grew in the window.
    pub fn delta(&self, sample: &str) -> Option<f64> {
        Some(self.after.as_ref()?.get(sample)? - self.before.as_ref()?.get(sample)?)
    }

    /// Deliveries the server dropped because a client's buffer was full.
    pub fn dropped(&self) -> Figure {
        Figure::new(
            "dropped (server's count)",
            self.delta("switchboard_dropped_deliveries_total"),
            "",
        )
    }

    /// The mean time the server took to build and send one `/cursors` tick.
    pub fn mean_tick(&self) -> Figure {
        let sum = self.delta("switchboard_cursor_tick_seconds_sum");
        let count = self.delta("switchboard_cursor_tick_seconds_count");
        let mean_ms = match (sum, count) {
            (Some(sum), Some(count)) if count > 0.0 => Some(sum / count * 1000.0),
            _ => None,
        };
        Figure::new("tick time (server's)", mean_ms, "ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_with_and_without_labels() {
        let text = "# HELP x y\n# TYPE x counter\n\
                    switchboard_events_out_total{namespace=\"/chat\"} 500\n\
                    switchboard_dropped_deliveries_total 3\n\
                    switchboard_cursor_tick_seconds_sum 0.001500\n\
                    broken line\n";
        let scrape = Scrape::parse(text);
        assert_eq!(
            scrape.get("switchboard_events_out_total{namespace=\"/chat\"}"),
            Some(500.0)
        );
        assert_eq!(
            scrape.get("switchboard_dropped_deliveries_total"),
            Some(3.0)
        );
        assert_eq!(
            scrape.get("switchboard_cursor_tick_seconds_sum"),
            Some(0.0015)
        );
        assert_eq!(scrape.get("broken"), None);
    }

    #[test]
    fn a_window_reports_growth_and_none_without_metrics() {
        let counted = Counted {
            before: Some(Scrape::parse(
                "switchboard_cursor_tick_seconds_sum 1.0\nswitchboard_cursor_tick_seconds_count 100\n",
            )),
            after: Some(Scrape::parse(
                "switchboard_cursor_tick_seconds_sum 1.5\nswitchboard_cursor_tick_seconds_count 200\n",
            )),
        };
        assert_eq!(counted.mean_tick().value, Some(5.0));
        let reference = Counted {
            before: None,
            after: None,
        };
        assert_eq!(reference.dropped().value, None);
    }
}
