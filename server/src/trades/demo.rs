//! The demo market (`--market demo`): random-walk prices and trades at irregular intervals for
//! every pair, served over Bitstamp's WebSocket API v2 (`/market/ws`) and REST ticker
//! (`/market/api/v2/ticker/<pair>/`), so the trades page works without internet. Now and then
//! it asks a client to reconnect, as the real feed does.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::protocol::trades::{heartbeat_reply, FeedRequest, Pair, Side, Ticker, Trade};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::task::AbortOnDropHandle;

use super::Trades;
use crate::tasks::Tasks;

/// Largest frame a client may send the demo market.
const MAX_CLIENT_FRAME: usize = 4096;

/// Every pair's simulation. Cheap to clone; the simulations stop when the last clone is gone,
/// or with the server.
#[derive(Clone)]
pub struct DemoMarket {
    pairs: Arc<HashMap<Pair, Arc<Simulation>>>,
    /// The server's tasks: the simulations, and each feed client.
    tasks: Tasks,
}

struct Simulation {
    trades: broadcast::Sender<Trade>,
    book: Mutex<Book>,
}

/// The state of one pair's market.
struct Book {
    last: f64,
    high: f64,
    low: f64,
    volume: f64,
    /// Decimal places prices are quoted with.
    decimals: usize,
    next_id: u64,
}

impl DemoMarket {
    /// Starts one simulation task per pair, in `tasks`.
    pub fn start(tasks: &Tasks) -> DemoMarket {
        let mut pairs = HashMap::new();
        for pair in Pair::all() {
            let (price, decimals) = opening(pair);
            let simulation = Arc::new(Simulation {
                trades: broadcast::channel(256).0,
                book: Mutex::new(Book {
                    last: price,
                    high: price,
                    low: price,
                    volume: 0.0,
                    decimals,
                    next_id: 1,
                }),
            });
            tasks.spawn(simulate(pair, Arc::downgrade(&simulation)));
            pairs.insert(pair, simulation);
        }
        DemoMarket {
            pairs: Arc::new(pairs),
            tasks: tasks.clone(),
        }
    }

    /// The REST ticker of `pair`: `last` is always the latest trade's price.
    pub fn ticker(&self, pair: Pair) -> Ticker {
        let Some(simulation) = self.pairs.get(&pair) else {
            return Ticker {
                last: "0".into(),
                bid: "0".into(),
                ask: "0".into(),
                high: "0".into(),
                low: "0".into(),
                volume: "0".into(),
                timestamp: now().0.to_string(),
            };
        };
        let book = simulation.lock();
        let tick = 10f64.powi(-(book.decimals as i32));
        let price = |v: f64| format!("{v:.*}", book.decimals);
        Ticker {
            last: price(book.last),
            bid: price(book.last - tick),
            ask: price(book.last + tick),
            high: price(book.high),
            low: price(book.low),
            volume: format!("{:.8}", book.volume),
            timestamp: now().0.to_string(),
        }
    }

    /// Serves one WebSocket client until it leaves.
    async fn serve(self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (feed, mut trades) = mpsc::channel::<(Pair, Trade)>(256);
        // Each subscription's forwarder ends when it is removed, or with this client.
        let mut subscriptions: HashMap<Pair, AbortOnDropHandle<()>> = HashMap::new();
        let mut rng = Rng::new();
        // Like the real feed, ask for a reconnect now and then (after 1 to 3 minutes).
        let reconnect_at = Instant::now() + Duration::from_secs(60 + rng.below(120));
        let mut asked_to_reconnect = false;
        loop {
            let outgoing = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => Some(self.answer(&text, &mut subscriptions, &feed)),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => None,
                },
                Some((pair, trade)) = trades.recv() => subscriptions
                    .contains_key(&pair)
                    .then(|| json!({"event": "trade", "channel": pair.channel(), "data": trade.to_data()}).to_string()),
                () = sleep_until(reconnect_at), if !asked_to_reconnect => {
                    asked_to_reconnect = true;
                    Some(json!({"event": "bts:request_reconnect", "channel": "", "data": ""}).to_string())
                }
            };
            if let Some(frame) = outgoing {
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        }
    }

    /// The answer to one client frame; subscriptions start or stop here.
    fn answer(
        &self,
        frame: &str,
        subscriptions: &mut HashMap<Pair, AbortOnDropHandle<()>>,
        feed: &mpsc::Sender<(Pair, Trade)>,
    ) -> String {
        match FeedRequest::parse(frame) {
            Ok(FeedRequest::Subscribe(pair)) => {
                if let (false, Some(simulation)) =
                    (subscriptions.contains_key(&pair), self.pairs.get(&pair))
                {
                    let mut receiver = simulation.trades.subscribe();
                    let feed = feed.clone();
                    subscriptions.insert(
                        pair,
                        AbortOnDropHandle::new(tokio::spawn(async move {
                            loop {
                                match receiver.recv().await {
                                    Ok(trade) => {
                                        if feed.send((pair, trade)).await.is_err() {
                                            break;
                                        }
                                    }
                                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                    Err(broadcast::error::RecvError::Closed) => break,
                                }
                            }
                        })),
                    );
                }
                json!({"event": "bts:subscription_succeeded", "channel": pair.channel(), "data": {}}).to_string()
            }
            Ok(FeedRequest::Unsubscribe(pair)) => {
                // Dropping the forwarder's handle ends it.
                subscriptions.remove(&pair);
                json!({"event": "bts:unsubscription_succeeded", "channel": pair.channel(), "data": {}}).to_string()
            }
            Ok(FeedRequest::Heartbeat) => heartbeat_reply(),
            Err(reason) => {
                tracing::warn!(%reason, "demo market: bad request");
                json!({"event": "bts:error", "channel": "", "data": {"code": null, "message": format!("Bad request: {reason}.")}})
                    .to_string()
            }
        }
    }
}

/// `GET /market/ws`: the demo feed.
pub async fn socket(State(trades): State<Trades>, upgrade: WebSocketUpgrade) -> Response {
    match trades.demo {
        Some(demo) => upgrade
            .max_message_size(MAX_CLIENT_FRAME)
            // Served among the server's tasks (axum's upgrade task would outlive a stop).
            .on_upgrade(move |socket| async move {
                let tasks = demo.tasks.clone();
                tasks.spawn(demo.serve(socket));
            }),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /market/api/v2/ticker/{pair}/`: the demo REST ticker.
pub async fn rest_ticker(State(trades): State<Trades>, Path(pair): Path<String>) -> Response {
    match (trades.demo, Pair::parse(&pair)) {
        (Some(demo), Ok(pair)) => Json(demo.ticker(pair)).into_response(),
        (None, _) => StatusCode::NOT_FOUND.into_response(),
        (_, Err(rejection)) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": rejection.0}))).into_response()
        }
    }
}

impl Simulation {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        crate::sync::lock(&self.book)
    }
}

/// Makes trades for `pair` at irregular intervals until the market is dropped.
async fn simulate(pair: Pair, simulation: Weak<Simulation>) {
    let mut rng = Rng::new();
    // Busier pairs trade more often.
    let mean_gap_ms = if pair.as_str() == "btcusd" {
        600.0
    } else {
        1200.0
    };
    loop {
        let gap = (-mean_gap_ms * (1.0 - rng.unit()).ln()).clamp(40.0, 5000.0);
        sleep(Duration::from_millis(gap as u64)).await;
        let Some(simulation) = simulation.upgrade() else {
            break;
        };
        let trade = {
            let mut book = simulation.lock();
            // A small random walk, in relative terms (about 0.04 % per trade).
            let change = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 0.0008;
            let tick = 10f64.powi(-(book.decimals as i32));
            book.last = (book.last * (1.0 + change)).max(tick);
            book.high = book.high.max(book.last);
            book.low = book.low.min(book.last);
            let amount = (0.0001 + rng.unit().powi(3) * 0.8 * scale_of(pair)).max(0.00000001);
            book.volume += amount;
            let id = book.next_id;
            book.next_id += 1;
            let (seconds, micros) = now();
            Trade {
                id,
                timestamp: seconds,
                microtimestamp: micros,
                amount,
                amount_str: format!("{amount:.8}"),
                price: format!("{:.*}", book.decimals, book.last)
                    .parse()
                    .unwrap_or(book.last),
                price_str: format!("{:.*}", book.decimals, book.last),
                side: if rng.unit() < 0.5 {
                    Side::Buy
                } else {
                    Side::Sell
                },
            }
        };
        // Nobody listening is fine: the ticker still moves.
        let _ = simulation.trades.send(trade);
    }
}

/// Opening price and quoted decimals of each pair.
fn opening(pair: Pair) -> (f64, usize) {
    match pair.as_str() {
        "btcusd" => (43_210.55, 2),
        "btceur" => (39_870.10, 2),
        "ethusd" => (2_315.40, 2),
        "etheur" => (2_136.85, 2),
        "ethbtc" => (0.053_581_20, 8),
        "xrpusd" => (0.621_45, 5),
        "ltcusd" => (72.35, 2),
        _ => (100.0, 2),
    }
}

/// Typical trade size, in units of the base currency.
fn scale_of(pair: Pair) -> f64 {
    match pair.base().as_str() {
        "BTC" => 1.0,
        "ETH" => 10.0,
        "XRP" => 5000.0,
        _ => 50.0,
    }
}

/// (seconds, microseconds) since the Unix epoch.
fn now() -> (i64, i64) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs() as i64, since.as_micros() as i64)
}

/// xorshift64*, seeded from the OS-keyed hasher: plenty for a simulated market.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng(RandomState::new().hash_one(0u8) | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.unit() * n as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_numbers_stay_in_range() {
        let mut rng = Rng::new();
        for _ in 0..1000 {
            let v = rng.unit();
            assert!((0.0..1.0).contains(&v));
            assert!(rng.below(10) < 10);
        }
    }

    // Paused clock: the market trades as fast as the test reads, and nothing trades between
    // the trade and the ticker.
    #[tokio::test(start_paused = true)]
    async fn the_ticker_follows_the_trades() {
        let owner = crate::tasks::TaskOwner::new();
        let market = DemoMarket::start(owner.tasks());
        let pair = Pair::parse("btcusd").unwrap();
        let mut trades = market.pairs[&pair].trades.subscribe();
        let trade = tokio::time::timeout(Duration::from_secs(10), trades.recv())
            .await
            .unwrap()
            .unwrap();
        let ticker = market.ticker(pair);
        assert_eq!(ticker.last, trade.price_str);
        assert!(ticker.bid.parse::<f64>().unwrap() < ticker.ask.parse::<f64>().unwrap());
    }
}
