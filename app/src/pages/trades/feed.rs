//! The live feed: one WebSocket to the market (Bitstamp API v2), subscribed to the selected
//! pair. It answers heartbeats, resubscribes after every reconnect, reconnects at once when
//! the feed asks (`bts:request_reconnect`) and with backoff when the connection drops, and
//! skips (and counts) frames it does not understand.

use std::collections::VecDeque;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::future::{select as select_future, Either};
use futures_util::stream::{self, select, StreamExt};
use futures_util::SinkExt;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use leptos::prelude::*;

use crate::connection::{Backoff, ConnectionState};
use crate::protocol::trades::{FeedEvent, FeedRequest, Pair, Trade};

/// Trades kept for the list.
pub const LIST_LEN: usize = 50;
/// Seconds of history the chart shows.
pub const CHART_SECONDS: f64 = 300.0;
/// How often we send a heartbeat, and how long the answer may take, in milliseconds.
const HEARTBEAT_EVERY_MS: u32 = 15_000;
const HEARTBEAT_ANSWER_MS: f64 = 10_000.0;
/// How long opening the connection may take, in milliseconds.
const CONNECT_TIMEOUT_MS: u32 = 10_000;

/// What the page shows of the feed. Every field is a signal; the driver writes them.
#[derive(Clone, Copy)]
pub struct Feed {
    pub state: RwSignal<ConnectionState>,
    /// Latest first.
    pub trades: RwSignal<VecDeque<Trade>>,
    /// (seconds since the epoch, price) for the chart, oldest first.
    pub points: RwSignal<Vec<(f64, f64)>>,
    /// Trades seen for the current pair since it was selected.
    pub seen: RwSignal<u32>,
    /// Frames skipped because they were malformed or unknown.
    pub skipped: RwSignal<u32>,
    /// The channel the feed confirmed.
    pub subscribed: RwSignal<Option<String>>,
    /// The last `bts:error` message.
    pub error: RwSignal<Option<String>>,
    /// Whether the feed was ever reached (to tell "down" from "unreachable").
    pub ever_connected: RwSignal<bool>,
}

impl Feed {
    pub fn new() -> Feed {
        Feed {
            state: RwSignal::new(ConnectionState::Connecting),
            trades: RwSignal::new(VecDeque::new()),
            points: RwSignal::new(Vec::new()),
            seen: RwSignal::new(0),
            skipped: RwSignal::new(0),
            subscribed: RwSignal::new(None),
            error: RwSignal::new(None),
            ever_connected: RwSignal::new(false),
        }
    }

    /// Forgets the previous pair's trades.
    pub fn reset(&self) {
        self.trades.set(VecDeque::new());
        self.points.set(Vec::new());
        self.seen.set(0);
        self.subscribed.set(None);
    }

    fn record(&self, trade: Trade) {
        let at = trade.microtimestamp as f64 / 1e6;
        self.points.update(|points| {
            points.push((at, trade.price));
            let oldest = at - CHART_SECONDS;
            let stale = points.iter().take_while(|(t, _)| *t < oldest).count();
            points.drain(..stale);
        });
        self.trades.update(|trades| {
            trades.push_front(trade);
            trades.truncate(LIST_LEN);
        });
        self.seen.update(|n| *n += 1);
    }
}

/// What the page asks of the driver.
pub enum Command {
    /// Leave `from`'s channel and join the current pair's.
    Switch { from: Pair },
}

/// Why a connection ended.
enum Ended {
    /// The feed asked us to reconnect: do it now.
    Asked,
    /// It dropped or went silent: back off.
    Lost(String),
}

/// Runs the feed at `url` until the page goes away (the caller aborts this future).
pub async fn drive(
    url: String,
    pair: RwSignal<Pair>,
    feed: Feed,
    mut commands: UnboundedReceiver<Command>,
) {
    let backoff = Backoff::default();
    let mut attempt = 0u32;
    loop {
        let ended = match WebSocket::open(&url) {
            Ok(ws) => connection(ws, pair, feed, &mut commands, &mut attempt).await,
            Err(error) => Ended::Lost(format!("cannot open {url}: {error}")),
        };
        feed.subscribed.set(None);
        let reason = match ended {
            Ended::Asked => continue,
            Ended::Lost(reason) => reason,
        };
        let delay = backoff.delay_ms(attempt, js_sys::Math::random());
        attempt = attempt.saturating_add(1);
        feed.state.set(ConnectionState::Reconnecting {
            attempt,
            retry_in_ms: delay,
            reason,
        });
        TimeoutFuture::new(delay).await;
    }
}

enum Input {
    Frame(Result<Message, WebSocketError>),
    Closed,
    Command(Command),
    Tick,
}

async fn connection(
    ws: WebSocket,
    pair: RwSignal<Pair>,
    feed: Feed,
    commands: &mut UnboundedReceiver<Command>,
    attempt: &mut u32,
) -> Ended {
    let (mut write, mut read) = ws.split();
    // Switches asked for while we were away are already reflected in `pair`.
    while commands.try_recv().is_ok() {}
    // Sending waits for the socket to open; a socket that fails first only says so on the
    // read side, so both are watched (and the whole attempt is bounded).
    let subscribe = FeedRequest::Subscribe(pair.get_untracked()).to_json();
    let opened = {
        let send = write.send(Message::Text(subscribe));
        let failed = read.next();
        let timeout = TimeoutFuture::new(CONNECT_TIMEOUT_MS);
        futures_util::pin_mut!(send, failed);
        match select_future(send, select_future(failed, timeout)).await {
            Either::Left((Ok(()), _)) => Ok(()),
            Either::Left((Err(error), _)) => Err(format!("{error}")),
            Either::Right((Either::Left((Some(Err(error)), _)), _)) => Err(describe(&error)),
            Either::Right((Either::Left(_), _)) => Err("the feed closed the connection".into()),
            Either::Right((Either::Right(_), _)) => Err("the feed did not answer".into()),
        }
    };
    if let Err(reason) = opened {
        return Ended::Lost(reason);
    }
    let frames = read.map(Input::Frame).chain(stream::iter([Input::Closed]));
    let ticks = IntervalStream::new(HEARTBEAT_EVERY_MS).map(|()| Input::Tick);
    let mut inputs = select(frames, select(commands.by_ref().map(Input::Command), ticks));
    let mut heartbeat_sent: Option<f64> = None;
    while let Some(input) = inputs.next().await {
        let outgoing = match input {
            Input::Frame(Ok(Message::Text(text))) => match FeedEvent::parse(&text) {
                Ok(FeedEvent::Subscribed { channel }) => {
                    *attempt = 0;
                    feed.ever_connected.set(true);
                    feed.error.set(None);
                    feed.state.set(ConnectionState::Connected);
                    feed.subscribed.set(Some(channel));
                    None
                }
                Ok(FeedEvent::Trade { channel, trade }) => {
                    if channel == pair.get_untracked().channel() {
                        feed.record(trade);
                    }
                    None
                }
                Ok(FeedEvent::RequestReconnect) => return Ended::Asked,
                Ok(FeedEvent::Heartbeat) => {
                    heartbeat_sent = None;
                    None
                }
                Ok(FeedEvent::Error { message }) => {
                    feed.error.set(Some(message));
                    None
                }
                Ok(FeedEvent::Unsubscribed { .. }) => None,
                Ok(FeedEvent::Unknown { .. }) | Err(_) => {
                    feed.skipped.update(|n| *n += 1);
                    None
                }
            },
            Input::Frame(Ok(Message::Bytes(_))) => {
                feed.skipped.update(|n| *n += 1);
                None
            }
            Input::Frame(Err(error)) => return Ended::Lost(describe(&error)),
            Input::Closed => return Ended::Lost("the feed closed the connection".into()),
            Input::Command(Command::Switch { from }) => {
                let to = pair.get_untracked();
                Some(vec![
                    FeedRequest::Unsubscribe(from).to_json(),
                    FeedRequest::Subscribe(to).to_json(),
                ])
            }
            Input::Tick => {
                let now = js_sys::Date::now();
                if heartbeat_sent.is_some_and(|sent| now - sent > HEARTBEAT_ANSWER_MS) {
                    return Ended::Lost("the feed stopped answering heartbeats".into());
                }
                heartbeat_sent.get_or_insert(now);
                Some(vec![FeedRequest::Heartbeat.to_json()])
            }
        };
        for frame in outgoing.into_iter().flatten() {
            if let Err(error) = write.send(Message::Text(frame)).await {
                return Ended::Lost(format!("{error}"));
            }
        }
    }
    Ended::Lost("the feed closed the connection".into())
}

fn describe(error: &WebSocketError) -> String {
    match error {
        WebSocketError::ConnectionError => "the connection failed".into(),
        WebSocketError::ConnectionClose(close) if close.was_clean => {
            "the feed closed the connection".into()
        }
        WebSocketError::ConnectionClose(close) => {
            format!("the connection dropped (code {})", close.code)
        }
        other => other.to_string(),
    }
}
