//! The seed's first version, kept beside the live feed to show what it misses: fetch the
//! ticker every 10 seconds (through our server, so no CORS) and count the trades the feed saw
//! that polling never showed.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::feed::Feed;
use super::format::group_thousands;
use crate::components::browser::use_interval;
use crate::protocol::trades::{Pair, Ticker};

/// The seed's polling period.
pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// What polling has shown for the current pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Polls {
    pub last: Option<Ticker>,
    pub error: Option<String>,
    /// Polls whose price was a trade the live feed saw: the trades polling "showed".
    pub shown: u32,
    /// Trades the feed had seen when polling began for this pair (not counted as missed).
    pub seen_before: u32,
}

impl Polls {
    /// How many of the feed's trades (since polling began) polling never showed.
    pub fn missed(&self, seen: u32) -> (u32, u32) {
        let total = seen.saturating_sub(self.seen_before);
        (total.saturating_sub(self.shown), total)
    }
}

#[component]
pub fn PollPanel(pair: RwSignal<Pair>, feed: Feed) -> impl IntoView {
    let polls = RwSignal::new(Polls::default());
    let next_in = RwSignal::new(0u64);

    let poll = move || {
        let asked_for = pair.get_untracked();
        spawn_local(async move {
            let result = fetch_ticker(asked_for).await;
            if pair.get_untracked() != asked_for {
                return; // The pair changed while we waited.
            }
            polls.update(|p| match result {
                Ok(ticker) => {
                    let price: Option<f64> = ticker.last.parse().ok();
                    let matches = feed.trades.with_untracked(|trades| {
                        trades.iter().take(10).any(|t| Some(t.price) == price)
                    });
                    if matches {
                        p.shown += 1;
                    }
                    p.last = Some(ticker);
                    p.error = None;
                }
                Err(error) => p.error = Some(error),
            });
        });
        next_in.set(POLL_EVERY.as_secs());
    };
    // A new pair starts a new count, and polls at once.
    Effect::new(move |_| {
        pair.track();
        polls.set(Polls {
            seen_before: feed.seen.get_untracked(),
            ..Polls::default()
        });
        poll();
    });
    use_interval(Duration::from_secs(1), move || {
        let left = next_in.get_untracked().saturating_sub(1);
        if left == 0 {
            poll();
        } else {
            next_in.set(left);
        }
    });

    let price = move || {
        polls.with(|p| {
            p.last.as_ref().map(|t| {
                format!(
                    "1 {} = {} {}",
                    pair.get().base(),
                    group_thousands(&t.last),
                    pair.get().quote()
                )
            })
        })
    };
    let missed = move || {
        let (missed, total) = polls.with(|p| p.missed(feed.seen.get()));
        format!("Polling missed {missed} of {total} trades")
    };
    view! {
        <section class="panel poll-panel" aria-labelledby="poll-title">
            <h2 id="poll-title">"Polling every 10 s"</h2>
            <p class="big-price muted" data-testid="poll-price">{move || price().unwrap_or_else(|| "…".into())}</p>
            <p class="muted">{move || format!("Next poll in {} s", next_in.get())}</p>
            <p class="missed" data-testid="missed">{missed}</p>
            {move || polls.with(|p| p.error.clone()).map(|e| view! { <p class="warning" role="alert">{e}</p> })}
            <p class="muted">
                "The ticker only ever shows the latest price: every trade between two polls is invisible to a poller. "
                "The WebSocket beside it receives each one as it happens."
            </p>
        </section>
    }
}

async fn fetch_ticker(pair: Pair) -> Result<Ticker, String> {
    let response = gloo_net::http::Request::get(&format!("/api/ticker/{}", pair.as_str()))
        .send()
        .await
        .map_err(|e| format!("The ticker request failed: {e}"))?;
    if response.ok() {
        return response
            .json::<Ticker>()
            .await
            .map_err(|e| format!("The ticker was not understood: {e}"));
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Err(body["error"].as_str().map_or_else(
        || format!("The ticker failed (HTTP {}).", response.status()),
        str::to_owned,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_counts_only_trades_since_polling_began() {
        let polls = Polls {
            shown: 4,
            seen_before: 10,
            ..Polls::default()
        };
        assert_eq!(polls.missed(51), (37, 41));
        assert_eq!(Polls::default().missed(0), (0, 0));
        assert_eq!(
            Polls {
                shown: 3,
                ..Polls::default()
            }
            .missed(2),
            (0, 2)
        );
    }
}
