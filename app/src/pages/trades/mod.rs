//! `/trades`: live crypto trades over a WebSocket next to the seed's 10-second poller, so the
//! difference is visible: a price, the last 50 trades and a chart that move with every trade,
//! and a count of the trades the poller never saw.

mod chart;
mod feed;
mod format;
mod poll;

use futures_util::future::{AbortHandle, Abortable};
use futures_util::FutureExt;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::ConnectionBadge;
use crate::config::get_site_config;
use crate::connection::ConnectionState;
use crate::protocol::trades::{Pair, Side, Trade, PAIRS};
use chart::PriceChart;
use feed::{Command, Feed};
use format::group_thousands;
use poll::PollPanel;

#[component]
pub fn TradesPage() -> impl IntoView {
    let config = LocalResource::new(get_site_config);
    view! {
        <section class="trades">
            <h1>"Live trades"</h1>
            {move || config.get().map(|config| match config {
                Ok(config) => view! {
                    <TradesApp feed_url=absolute_ws_url(&config.market_feed) market_name=config.market_name/>
                }.into_any(),
                Err(error) => view! {
                    <p class="warning" role="alert">{format!("Cannot load the market settings from the server: {error}")}</p>
                }.into_any(),
            })}
        </section>
    }
}

/// The feed for `feed_url` with the polling panel beside it.
#[component]
fn TradesApp(feed_url: String, market_name: String) -> impl IntoView {
    let unreachable_name = market_name.clone();
    let pair = RwSignal::new(Pair::default());
    let feed = Feed::new();
    let (commands, received) = futures_channel::mpsc::unbounded();
    let (stop, registration) = AbortHandle::new_pair();
    spawn_local(
        Abortable::new(
            feed::drive(feed_url.clone(), pair, feed, received),
            registration,
        )
        .map(|_| ()),
    );
    on_cleanup(move || stop.abort());
    let commands = StoredValue::new(commands);

    let choose = move |value: String| {
        let (Ok(to), from) = (Pair::parse(&value), pair.get_untracked()) else {
            return;
        };
        if to != from {
            feed.reset();
            pair.set(to);
            commands.with_value(|c| {
                let _ = c.unbounded_send(Command::Switch { from });
            });
        }
    };
    let unreachable = move || {
        !feed.ever_connected.get()
            && matches!(feed.state.get(), ConnectionState::Reconnecting { .. })
    };
    let latest = move || feed.trades.with(|t| t.front().cloned());
    let decimals = Signal::derive(move || {
        latest().map_or(2, |t| {
            t.price_str.split_once('.').map_or(0, |(_, f)| f.len())
        })
    });

    view! {
        <div class="trades-controls">
            <label>
                "Pair "
                <select on:change:target=move |ev| choose(ev.target().value())>
                    {PAIRS.iter().map(|p| {
                        let pair = Pair::parse(p).unwrap_or_default();
                        view! { <option value=*p>{format!("{}/{}", pair.base(), pair.quote())}</option> }
                    }).collect_view()}
                </select>
            </label>
            <ConnectionBadge state=feed.state/>
            <span class="muted">{format!("Feed: {market_name}")}</span>
        </div>
        <Show when=unreachable>
            <p class="warning" role="alert" data-testid="unreachable">
                {format!("Cannot reach the live feed at {unreachable_name}. ")}
                "No internet here? Start Switchboard with its built-in demo market: "
                <code>"make run ARGS='--market demo'"</code>
            </p>
        </Show>
        {move || feed.error.get().map(|e| view! { <p class="warning" role="alert">{format!("The feed reports: {e}")}</p> })}
        <div class="trades-grid">
            <section class="panel live-panel" aria-labelledby="live-title">
                <h2 id="live-title">"WebSocket: every trade"</h2>
                {move || match latest() {
                    None => view! { <p class="big-price muted" data-testid="latest-price">"Waiting for the first trade…"</p> }.into_any(),
                    Some(trade) => view! {
                        <p class=format!("big-price {}", side_class(trade.side)) data-testid="latest-price">
                            {format!("1 {} = {} {}", pair.get().base(), group_thousands(&trade.price_str), pair.get().quote())}
                        </p>
                    }.into_any(),
                }}
                <p class="muted">
                    "Channel " <code data-testid="channel">{move || feed.subscribed.get().unwrap_or_else(|| "…".into())}</code>
                    {move || format!(" · {} trades", feed.seen.get())}
                    {move || (feed.skipped.get() > 0).then(|| view! {
                        <span data-testid="skipped">{format!(" · skipped {} frames it did not understand", feed.skipped.get())}</span>
                    })}
                </p>
                <PriceChart points=feed.points decimals=decimals/>
                <TradeList trades=feed.trades/>
            </section>
            <PollPanel pair=pair feed=feed/>
        </div>
    }
}

/// The last trades, newest first.
#[component]
fn TradeList(trades: RwSignal<std::collections::VecDeque<Trade>>) -> impl IntoView {
    view! {
        <table class="trade-list">
            <thead><tr><th>"Time"</th><th>"Side"</th><th class="num">"Amount"</th><th class="num">"Price"</th></tr></thead>
            <tbody>
                <For each=move || trades.get() key=|t| t.id let:trade>
                    <tr data-testid="trade-row" class=side_class(trade.side)>
                        <td>{clock(trade.timestamp)}</td>
                        <td>{match trade.side { Side::Buy => "buy", Side::Sell => "sell" }}</td>
                        <td class="num">{trade.amount_str.clone()}</td>
                        <td class="num">{group_thousands(&trade.price_str)}</td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
}

fn side_class(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// `HH:MM:SS` in the viewer's time zone.
fn clock(seconds: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(seconds as f64 * 1000.0));
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// A feed given as a path on this server becomes a `ws(s)://` URL for this page's host.
fn absolute_ws_url(feed: &str) -> String {
    if !feed.starts_with('/') {
        return feed.to_owned();
    }
    let location = window().location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}{feed}", location.host().unwrap_or_default())
}
