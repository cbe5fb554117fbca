//! `/trades`: the ticker proxy the polling panel uses (`GET /api/ticker/<pair>`), and with
//! `--market demo` a simulated market that speaks Bitstamp's WebSocket and REST protocols.
//! The live feed itself goes straight from the browser to the market.

mod demo;
mod ticker;

use app::protocol::trades::Ticker;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::config::{Config, MarketMode};
use crate::tasks::Tasks;
pub use demo::DemoMarket;
use ticker::TickerSource;

/// What the trades routes share. Cheap to clone.
#[derive(Clone)]
pub struct Trades {
    tickers: TickerSource,
    demo: Option<DemoMarket>,
    /// What the page is told: the feed URL (a path on this server for the demo market).
    pub feed_url: String,
    pub market_name: String,
}

impl Trades {
    /// Must run inside a tokio runtime (the demo market starts its simulation, in `tasks`).
    pub fn new(config: &Config, tasks: &Tasks) -> Trades {
        match config.market {
            MarketMode::Demo => {
                let demo = DemoMarket::start(tasks);
                Trades {
                    tickers: TickerSource::Demo(demo.clone()),
                    demo: Some(demo),
                    feed_url: "/market/ws".into(),
                    market_name: "the built-in demo market".into(),
                }
            }
            MarketMode::Bitstamp => Trades {
                tickers: TickerSource::upstream(&config.market_api),
                demo: None,
                feed_url: config.market_ws.clone(),
                market_name: host_of(&config.market_ws),
            },
        }
    }

    /// `/api/ticker/{pair}`, and the demo market's own endpoints when it runs.
    pub fn routes(&self) -> Router {
        let mut router = Router::new().route("/api/ticker/{pair}", get(proxy_ticker));
        if self.demo.is_some() {
            router = router
                .route("/market/ws", get(demo::socket))
                .route("/market/api/v2/ticker/{pair}/", get(demo::rest_ticker));
        }
        router.with_state(self.clone())
    }
}

/// Why a ticker could not be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TickerError {
    #[error("{0}")]
    UnknownPair(String),
    #[error("{0}")]
    Upstream(String),
}

impl IntoResponse for TickerError {
    fn into_response(self) -> Response {
        let status = match self {
            TickerError::UnknownPair(_) => StatusCode::NOT_FOUND,
            TickerError::Upstream(_) => StatusCode::BAD_GATEWAY,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

async fn proxy_ticker(
    State(trades): State<Trades>,
    Path(pair): Path<String>,
) -> Result<Json<Ticker>, TickerError> {
    let pair =
        app::protocol::trades::Pair::parse(&pair).map_err(|r| TickerError::UnknownPair(r.0))?;
    trades.tickers.get(pair).await.map(Json)
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or(url)
        .to_owned()
}
