//! The ticker for the polling panel: fetched from the market's REST API (cached briefly, so many
//! open pages cost the market one request per pair every two seconds), or from the demo market.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::trades::{number_text, Pair, Ticker};
use serde_json::Value;

use super::{DemoMarket, TickerError};
use crate::sync::lock;

/// How long a fetched ticker is reused.
const CACHE_FOR: Duration = Duration::from_secs(2);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub enum TickerSource {
    Upstream {
        /// e.g. `https://www.bitstamp.net`
        api: String,
        http: reqwest::Client,
        cache: Arc<Mutex<HashMap<Pair, (Instant, Ticker)>>>,
    },
    Demo(DemoMarket),
}

impl TickerSource {
    pub fn upstream(api: &str) -> TickerSource {
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        TickerSource::Upstream {
            api: api.trim_end_matches('/').to_owned(),
            http,
            cache: Arc::default(),
        }
    }

    pub async fn get(&self, pair: Pair) -> Result<Ticker, TickerError> {
        match self {
            TickerSource::Demo(demo) => Ok(demo.ticker(pair)),
            TickerSource::Upstream { api, http, cache } => {
                let cached = lock(cache)
                    .get(&pair)
                    .filter(|(at, _)| at.elapsed() < CACHE_FOR)
                    .map(|(_, t)| t.clone());
                if let Some(ticker) = cached {
                    return Ok(ticker);
                }
                let ticker = fetch(http, api, pair).await?;
                lock(cache).insert(pair, (Instant::now(), ticker.clone()));
                Ok(ticker)
            }
        }
    }
}

async fn fetch(http: &reqwest::Client, api: &str, pair: Pair) -> Result<Ticker, TickerError> {
    let url = format!("{api}/api/v2/ticker/{}/", pair.as_str());
    let unreachable = |why: String| {
        TickerError::Upstream(format!(
            "Cannot get the ticker from {url} ({why}). Without internet, start the server with --market demo."
        ))
    };
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("HTTP {}", response.status())));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| unreachable(format!("not JSON: {e}")))?;
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
