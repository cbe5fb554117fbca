//! The ticker for the polling panel: fetched from the market's REST API, or from the demo
//! market. Many open pages cost the market one request per pair a second: an answer is reused
//! for a second, and requests that arrive while it is being fetched wait for that one fetch.
//! An upstream answer larger than a ticker could be is cut off, not read into memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::trades::{number_text, Pair, Ticker};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde_json::Value;

use super::{DemoMarket, TickerError};
use crate::sync::lock;

/// How long a fetched ticker is reused.
const CACHE_FOR: Duration = Duration::from_secs(1);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// A ticker is a few hundred bytes; anything past this is not one.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// An answer of the market (or why there is none), and when it came.
type Answer = (Instant, Result<Ticker, TickerError>);

/// One fetch that every request for its pair waits on.
type Fetch = Shared<BoxFuture<'static, Result<Ticker, TickerError>>>;

#[derive(Clone)]
pub enum TickerSource {
    Upstream(Arc<Upstream>),
    Demo(DemoMarket),
}

pub struct Upstream {
    /// e.g. `https://www.bitstamp.net`
    api: String,
    http: reqwest::Client,
    /// The latest answer per pair (a failure too), and when it came.
    cache: Mutex<HashMap<Pair, Answer>>,
    /// The fetch under way per pair.
    in_flight: Mutex<HashMap<Pair, Fetch>>,
}

impl TickerSource {
    pub fn upstream(api: &str) -> TickerSource {
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        TickerSource::Upstream(Arc::new(Upstream {
            api: api.trim_end_matches('/').to_owned(),
            http,
            cache: Mutex::default(),
            in_flight: Mutex::default(),
        }))
    }

    pub async fn get(&self, pair: Pair) -> Result<Ticker, TickerError> {
        match self {
            TickerSource::Demo(demo) => Ok(demo.ticker(pair)),
            TickerSource::Upstream(upstream) => upstream.clone().get(pair).await,
        }
    }
}

impl Upstream {
    async fn get(self: Arc<Self>, pair: Pair) -> Result<Ticker, TickerError> {
        let cached = lock(&self.cache)
            .get(&pair)
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, answer)| answer.clone());
        if let Some(answer) = cached {
            return answer;
        }
        let fetch = lock(&self.in_flight)
            .entry(pair)
            .or_insert_with(|| {
                let upstream = self.clone();
                async move {
                    let fetched = fetch(&upstream.http, &upstream.api, pair).await;
                    lock(&upstream.cache).insert(pair, (Instant::now(), fetched.clone()));
                    lock(&upstream.in_flight).remove(&pair);
                    fetched
                }
                .boxed()
                .shared()
            })
            .clone();
        fetch.await
    }
}

async fn fetch(http: &reqwest::Client, api: &str, pair: Pair) -> Result<Ticker, TickerError> {
    let url = format!("{api}/api/v2/ticker/{}/", pair.as_str());
    // The page is told that the market is unreachable; the log says where and why.
    let unreachable = |why: String| {
        tracing::warn!(%url, why, "the market's ticker could not be fetched");
        TickerError::Upstream(
            "The market cannot be reached right now. Without internet, start the server with --market demo.".into(),
        )
    };
    let mut response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(unreachable(format!(
                "an answer over {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| unreachable(format!("not JSON: {e}")))?;
    ticker_from(&body).ok_or_else(|| unreachable("an unexpected answer".into()))
}

/// Reads the fields the page uses; numbers and strings are both accepted, strings are served.
fn ticker_from(body: &Value) -> Option<Ticker> {
    let field = |key: &str| number_text(body.get(key)?);
    Some(Ticker {
        last: field("last")?,
        bid: field("bid")?,
        ask: field("ask")?,
        high: field("high")?,
        low: field("low")?,
        volume: field("volume")?,
        timestamp: field("timestamp")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_ticker() {
        let body = json!({"timestamp": "1700000000", "open": "43000.00", "high": "43500.00", "low": "42800.10",
            "last": "43210.55", "volume": "1234.56789012", "vwap": "43150.01", "bid": "43210.00", "ask": "43211.00",
            "side": "0", "open_24": "42900.00", "percent_change_24": "0.72"});
        let ticker = ticker_from(&body).unwrap();
        assert_eq!(ticker.last, "43210.55");
        assert_eq!(ticker.timestamp, "1700000000");
        assert!(ticker_from(&json!({"last": "1"})).is_none());
        assert_eq!(ticker_from(&json!({"last": 1.5, "bid": 1, "ask": 2, "high": 3, "low": 1, "volume": 9, "timestamp": 5})).unwrap().last, "1.5");
    }
}
