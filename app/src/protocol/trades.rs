//! `/trades`: the Bitstamp WebSocket API v2 (live trades) and REST ticker, as Switchboard's page
//! and demo market speak them. Not socket.io: a plain WebSocket with JSON frames.
//!
//! Documented frames handled: `bts:subscribe` / `bts:unsubscribe` (client → feed);
//! `bts:subscription_succeeded`, `bts:unsubscription_succeeded`, `trade`,
//! `bts:request_reconnect`, `bts:error`, `bts:heartbeat` (feed → client). Anything else is an
//! unknown event, to be skipped and counted, never a crash.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Rejection;

/// The pairs the page offers (and the server proxies tickers for).
pub(crate) const PAIRS: &[&str] = &[
    "btcusd", "btceur", "ethusd", "etheur", "ethbtc", "xrpusd", "ltcusd",
];

/// A currency pair Switchboard knows, e.g. `btcusd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Pair(&'static str);

impl Pair {
    pub fn parse(raw: &str) -> Result<Pair, Rejection> {
        PAIRS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(raw))
            .map(|p| Pair(p))
            .ok_or_else(|| {
                Rejection::new(format!(
                    "Unknown pair “{raw}”; known pairs: {}.",
                    PAIRS.join(", ")
                ))
            })
    }

    pub fn all() -> impl Iterator<Item = Pair> {
        PAIRS.iter().map(|p| Pair(p))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// `BTC` of `btcusd`.
    pub fn base(&self) -> String {
        self.0[..3].to_uppercase()
    }

    /// `USD` of `btcusd`.
    pub fn quote(&self) -> String {
        self.0[3..].to_uppercase()
    }

    /// The feed channel of this pair's trades.
    pub fn channel(&self) -> String {
        format!("live_trades_{}", self.0)
    }

    /// The pair a `live_trades_<pair>` channel is about.
    pub(crate) fn from_channel(channel: &str) -> Option<Pair> {
        Pair::parse(channel.strip_prefix("live_trades_")?).ok()
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair("btcusd")
    }
}

/// Buy or sell, from the taker's side (`type` 0 = buy, 1 = sell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

/// One trade as the feed reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub id: u64,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// Microseconds since the Unix epoch.
    pub microtimestamp: i64,
    pub amount: f64,
    pub amount_str: String,
    pub price: f64,
    pub price_str: String,
    pub side: Side,
}

impl Trade {
    /// Reads the `data` of a `trade` event; every field must be there and make sense.
    pub(crate) fn from_data(data: &Value) -> Result<Trade, String> {
        let field = |key: &str| data.get(key).ok_or_else(|| format!("trade without {key}"));
        let number = |key: &str| {
            field(key)?
                .as_f64()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{key} is not a number"))
        };
        // Bitstamp sends timestamps as strings of digits; accept numbers too.
        let integer = |key: &str| -> Result<i64, String> {
            number_text(field(key)?)
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| format!("{key} is not an integer"))
        };
        let text = |key: &str| {
            field(key)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{key} is not a string"))
        };
        let side = match field("type")?.as_u64() {
            Some(0) => Side::Buy,
            Some(1) => Side::Sell,
            _ => return Err("type is neither 0 (buy) nor 1 (sell)".into()),
        };
        let trade = Trade {
            id: field("id")?
                .as_u64()
                .ok_or("id is not a positive integer")?,
            timestamp: integer("timestamp")?,
            microtimestamp: integer("microtimestamp")?,
            amount: number("amount")?,
            amount_str: text("amount_str")?,
            price: number("price")?,
            price_str: text("price_str")?,
            side,
        };
        if trade.price <= 0.0 || trade.amount <= 0.0 {
            return Err("price and amount must be positive".into());
        }
        Ok(trade)
    }

    /// The `data` of a `trade` event for this trade (what the demo market sends).
    pub fn to_data(&self) -> Value {
        json!({
            "id": self.id,
            "timestamp": self.timestamp.to_string(),
            "amount": self.amount,
            "amount_str": self.amount_str,
            "price": self.price,
            "price_str": self.price_str,
            "type": match self.side { Side::Buy => 0, Side::Sell => 1 },
            "microtimestamp": self.microtimestamp.to_string(),
            "buy_order_id": self.id * 2,
            "sell_order_id": self.id * 2 + 1,
        })
    }
}

/// A frame from the feed, understood.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FeedEvent {
    Subscribed {
        channel: String,
    },
    Unsubscribed {
        channel: String,
    },
    Trade {
        channel: String,
        trade: Trade,
    },
    /// The feed asks us to reconnect now (and subscribe again).
    RequestReconnect,
    Error {
        message: String,
    },
    /// The answer to our heartbeat.
    Heartbeat,
    /// A well-formed event this client does not use.
    Unknown {
        event: String,
    },
}

impl FeedEvent {
    /// Parses one text frame. `Err` for anything that is not a well-formed event.
    pub fn parse(frame: &str) -> Result<FeedEvent, String> {
        let value: Value = serde_json::from_str(frame).map_err(|e| format!("not JSON: {e}"))?;
        let event = value
            .get("event")
            .and_then(Value::as_str)
            .ok_or("no event name")?;
        let channel = || {
            value
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let data = value.get("data").unwrap_or(&Value::Null);
        Ok(match event {
            "bts:subscription_succeeded" => FeedEvent::Subscribed { channel: channel() },
            "bts:unsubscription_succeeded" => FeedEvent::Unsubscribed { channel: channel() },
            "trade" => FeedEvent::Trade {
                channel: channel(),
                trade: Trade::from_data(data)?,
            },
            "bts:request_reconnect" => FeedEvent::RequestReconnect,
            "bts:error" => FeedEvent::Error {
                message: data
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the feed reported an error")
                    .to_owned(),
            },
            "bts:heartbeat" => FeedEvent::Heartbeat,
            other => FeedEvent::Unknown {
                event: other.chars().take(64).collect(),
            },
        })
    }
}

/// A frame the client sends to the feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedRequest {
    Subscribe(Pair),
    Unsubscribe(Pair),
    Heartbeat,
}

impl FeedRequest {
    pub(crate) fn to_json(self) -> String {
        match self {
            FeedRequest::Subscribe(pair) => {
                json!({"event": "bts:subscribe", "data": {"channel": pair.channel()}})
            }
            FeedRequest::Unsubscribe(pair) => {
                json!({"event": "bts:unsubscribe", "data": {"channel": pair.channel()}})
            }
            FeedRequest::Heartbeat => json!({"event": "bts:heartbeat"}),
        }
        .to_string()
    }

    /// Reads a client's frame (the demo market's side).
    pub fn parse(frame: &str) -> Result<FeedRequest, String> {
        let value: Value = serde_json::from_str(frame).map_err(|e| format!("not JSON: {e}"))?;
        let event = value
            .get("event")
            .and_then(Value::as_str)
            .ok_or("no event name")?;
        let pair = || {
            let channel = value
                .pointer("/data/channel")
                .and_then(Value::as_str)
                .ok_or("no channel")?;
            Pair::from_channel(channel).ok_or_else(|| format!("unknown channel {channel}"))
        };
        match event {
            "bts:subscribe" => Ok(FeedRequest::Subscribe(pair()?)),
            "bts:unsubscribe" => Ok(FeedRequest::Unsubscribe(pair()?)),
            "bts:heartbeat" => Ok(FeedRequest::Heartbeat),
            other => Err(format!("unknown event {other}")),
        }
    }
}

/// The feed's answer to a heartbeat.
pub fn heartbeat_reply() -> String {
    json!({"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}}).to_string()
}

/// A number Bitstamp may write as a string or as a number, as its text.
pub fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The REST ticker (`/api/v2/ticker/<pair>/`): every number as a string, like the real API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticker {
    pub last: String,
    pub bid: String,
    pub ask: String,
    pub high: String,
    pub low: String,
    pub volume: String,
    pub timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames written from Bitstamp's documentation of the v2 WebSocket API.
    const TRADE: &str = r#"{"data": {"id": 311284532, "timestamp": "1700000000", "amount": 0.0125, "amount_str": "0.01250000", "price": 43210.55, "price_str": "43210.55", "type": 1, "microtimestamp": "1700000000123456", "buy_order_id": 1690000000000001, "sell_order_id": 1690000000000002}, "channel": "live_trades_btcusd", "event": "trade"}"#;

    #[test]
    fn parses_a_documented_trade() {
        let FeedEvent::Trade { channel, trade } = FeedEvent::parse(TRADE).unwrap() else {
            panic!()
        };
        assert_eq!(channel, "live_trades_btcusd");
        assert_eq!(trade.id, 311284532);
        assert_eq!(trade.timestamp, 1_700_000_000);
        assert_eq!(trade.microtimestamp, 1_700_000_000_123_456);
        assert_eq!(trade.price_str, "43210.55");
        assert_eq!(trade.amount_str, "0.01250000");
        assert_eq!(trade.side, Side::Sell);
    }

    #[test]
    fn parses_the_control_events() {
        let cases = [
            (
                r#"{"event": "bts:subscription_succeeded", "channel": "live_trades_btcusd", "data": {}}"#,
                FeedEvent::Subscribed {
                    channel: "live_trades_btcusd".into(),
                },
            ),
            (
                r#"{"event": "bts:unsubscription_succeeded", "channel": "live_trades_btcusd", "data": {}}"#,
                FeedEvent::Unsubscribed {
                    channel: "live_trades_btcusd".into(),
                },
            ),
            (
                r#"{"event": "bts:request_reconnect", "channel": "", "data": ""}"#,
                FeedEvent::RequestReconnect,
            ),
            (
                r#"{"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}}"#,
                FeedEvent::Heartbeat,
            ),
            (
                r#"{"event": "bts:error", "channel": "", "data": {"code": null, "message": "Bad subscription string."}}"#,
                FeedEvent::Error {
                    message: "Bad subscription string.".into(),
                },
            ),
            (
                r#"{"event": "data", "channel": "order_book_btcusd", "data": {}}"#,
                FeedEvent::Unknown {
                    event: "data".into(),
                },
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(FeedEvent::parse(frame).unwrap(), expected, "{frame}");
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for frame in [
            "",
            "not json",
            "[1,2]",
            "{}",
            r#"{"event": 5}"#,
            r#"{"event": "trade", "channel": "live_trades_btcusd"}"#,
            r#"{"event": "trade", "data": {"id": 1, "timestamp": "x", "amount": 1, "amount_str": "1", "price": 1, "price_str": "1", "type": 0, "microtimestamp": "1"}}"#,
            r#"{"event": "trade", "data": {"id": 1, "timestamp": "1", "amount": 1, "amount_str": "1", "price": -1, "price_str": "-1", "type": 0, "microtimestamp": "1"}}"#,
            r#"{"event": "trade", "data": {"id": 1, "timestamp": "1", "amount": 1, "amount_str": "1", "price": 1, "price_str": "1", "type": 7, "microtimestamp": "1"}}"#,
            r#"{"event": "trade", "data": {"id": -4, "timestamp": "1", "amount": 1, "amount_str": "1", "price": 1, "price_str": "1", "type": 0, "microtimestamp": "1"}}"#,
        ] {
            assert!(FeedEvent::parse(frame).is_err(), "{frame}");
        }
    }

    #[test]
    fn a_trade_survives_the_round_trip_through_the_feed_format() {
        let FeedEvent::Trade { trade, .. } = FeedEvent::parse(TRADE).unwrap() else {
            panic!()
        };
        assert_eq!(Trade::from_data(&trade.to_data()).unwrap(), trade);
    }

    #[test]
    fn requests_have_the_documented_shape() {
        let pair = Pair::parse("btcusd").unwrap();
        assert_eq!(
            FeedRequest::Subscribe(pair).to_json(),
            r#"{"data":{"channel":"live_trades_btcusd"},"event":"bts:subscribe"}"#
        );
        assert_eq!(
            FeedRequest::parse(&FeedRequest::Unsubscribe(pair).to_json()).unwrap(),
            FeedRequest::Unsubscribe(pair)
        );
        assert_eq!(
            FeedRequest::parse(r#"{"event":"bts:heartbeat"}"#).unwrap(),
            FeedRequest::Heartbeat
        );
        assert!(FeedRequest::parse(
            r#"{"event":"bts:subscribe","data":{"channel":"live_trades_nope"}}"#
        )
        .is_err());
    }

    #[test]
    fn pairs_are_a_known_list() {
        let pair = Pair::parse("ETHBTC").unwrap();
        assert_eq!(
            (pair.as_str(), pair.base(), pair.quote()),
            ("ethbtc", "ETH".into(), "BTC".into())
        );
        assert!(Pair::parse("../../etc").is_err());
        assert_eq!(
            Pair::from_channel("live_trades_btceur"),
            Some(Pair::parse("btceur").unwrap())
        );
    }
}
