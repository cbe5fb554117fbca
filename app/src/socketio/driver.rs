//! The browser half of the client: one task per socket that carries out what its
//! [`Session`](super::session::Session) asks (open and close the WebSocket, send frames,
//! deliver events) and feeds it what happens (frames, closes, time, the network).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures_channel::oneshot;
use futures_util::{pin_mut, select, FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::{ArcRwSignal, Set};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

use super::session::{Output, Session};
use super::EmitError;
use crate::connection::ConnectionState;

/// A listener of one event: it decodes the arguments' JSON itself.
pub(super) type Handler = Rc<dyn Fn(&str)>;

/// One socket's state: the driver runs it, the page's `Socket` handles hold it.
pub(super) struct Shared {
    /// The protocol state (borrowed briefly, never across an `.await` or a callback).
    pub session: RefCell<Session>,
    /// Handlers by event name, each decoding the arguments' JSON itself; they survive reconnects.
    pub handlers: RefCell<HashMap<&'static str, Vec<Handler>>>,
    /// Called after every successful namespace connect, reconnects included.
    pub on_connect: RefCell<Vec<Rc<dyn Fn()>>>,
    /// Emits waiting for their acknowledgement, by ack id.
    pub replies: RefCell<HashMap<u64, oneshot::Sender<Result<String, EmitError>>>>,
    /// Reactive connection state, read by the pages.
    pub state: ArcRwSignal<ConnectionState>,
    /// Our socket id in the namespace while connected.
    pub id: ArcRwSignal<Option<String>>,
}

/// What a page's socket tells its driver.
pub(super) enum Command {
    /// The session has something new to do (an emit, a close).
    Wake,
}

/// What woke the driver.
enum Input {
    Frame(Option<Result<Message, WebSocketError>>),
    Command(Option<Command>),
    Network(Option<bool>),
    Timer,
}

pub(super) fn spawn(shared: Rc<Shared>, inbox: UnboundedReceiver<Command>) {
    spawn_local(run(shared, inbox));
}

async fn run(shared: Rc<Shared>, mut inbox: UnboundedReceiver<Command>) {
    let url = engine_url();
    let (network_tx, mut network) = mpsc::unbounded();
    let _network = NetworkListener::new(network_tx);
    let mut transport: Option<WebSocket> = None;
    loop {
        while let Some(output) = next_output(&shared) {
            carry_out(output, &shared, &url, &mut transport).await;
        }
        if shared.session.borrow().is_finished() {
            return;
        }
        let delay_ms = shared
            .session
            .borrow()
            .next_wake()
            .map(|at| (at - js_sys::Date::now()).clamp(0.0, f64::from(i32::MAX)) as u32);
        let input = wait(&mut transport, &mut inbox, &mut network, delay_ms).await;
        if matches!(input, Input::Command(None)) {
            // Every handle of this socket is gone: leave the namespace.
            shared.session.borrow_mut().close();
        }
        feed(&shared, input);
    }
}

fn next_output(shared: &Shared) -> Option<Output> {
    shared.session.borrow_mut().poll_output()
}

async fn carry_out(output: Output, shared: &Shared, url: &str, transport: &mut Option<WebSocket>) {
    match output {
        Output::Open => match WebSocket::open(url) {
            Ok(ws) => *transport = Some(ws),
            Err(_) => shared
                .session
                .borrow_mut()
                .handle_close(1006, js_sys::Date::now()),
        },
        Output::Drop => *transport = None,
        Output::Send(frame) => {
            let Some(ws) = transport.as_mut() else { return };
            if ws.send(Message::Text(frame)).await.is_err() {
                shared
                    .session
                    .borrow_mut()
                    .handle_close(1006, js_sys::Date::now());
            }
        }
        Output::State(state) => {
            if !state.is_connected() {
                shared.id.set(None);
            }
            shared.state.set(state);
        }
        Output::Joined { sid } => {
            shared.id.set(Some(sid));
            let callbacks = shared.on_connect.borrow().clone();
            for callback in callbacks {
                callback();
            }
        }
        Output::Event { name, args } => {
            let handlers = shared
                .handlers
                .borrow()
                .get(name.as_str())
                .cloned()
                .unwrap_or_default();
            for handler in handlers {
                handler(&args);
            }
        }
        Output::Reply { id, result } => {
            if let Some(waiting) = shared.replies.borrow_mut().remove(&id) {
                let _ = waiting.send(result);
            }
        }
    }
}

async fn wait(
    transport: &mut Option<WebSocket>,
    inbox: &mut UnboundedReceiver<Command>,
    network: &mut UnboundedReceiver<bool>,
    delay_ms: Option<u32>,
) -> Input {
    let frame = async {
        match transport.as_mut() {
            Some(ws) => ws.next().await,
            None => std::future::pending().await,
        }
    }
    .fuse();
    let timer = async {
        match delay_ms {
            Some(ms) => TimeoutFuture::new(ms).await,
            None => std::future::pending().await,
        }
    }
    .fuse();
    let command = inbox.next().fuse();
    let online = network.next().fuse();
    pin_mut!(frame, timer, command, online);
    select! {
        frame = frame => Input::Frame(frame),
        command = command => Input::Command(command),
        online = online => Input::Network(online),
        () = timer => Input::Timer,
    }
}

fn feed(shared: &Shared, input: Input) {
    let now = js_sys::Date::now();
    let mut session = shared.session.borrow_mut();
    match input {
        Input::Frame(Some(Ok(Message::Text(frame)))) => session.handle_frame(&frame, now),
        Input::Frame(Some(Ok(Message::Bytes(_)))) => {
            leptos::logging::warn!("socket.io: skipped a binary frame (not supported)")
        }
        // An error event is followed by the close event, which says more.
        Input::Frame(Some(Err(WebSocketError::ConnectionError))) => {}
        Input::Frame(Some(Err(WebSocketError::ConnectionClose(close)))) => {
            session.handle_close(close.code, now)
        }
        Input::Frame(Some(Err(_))) | Input::Frame(None) => session.handle_close(1006, now),
        Input::Network(Some(online)) => session.handle_network(online, now),
        Input::Command(_) | Input::Network(None) => {}
        Input::Timer => {}
    }
    session.handle_timeout(now);
}

/// Forwards the browser's `online` / `offline` events while it lives.
struct NetworkListener {
    listener: Option<Closure<dyn FnMut()>>,
}

impl NetworkListener {
    fn new(changes: UnboundedSender<bool>) -> NetworkListener {
        let Some(window) = web_sys::window() else {
            return NetworkListener { listener: None };
        };
        let listener = Closure::<dyn FnMut()>::new(move || {
            let _ = changes.unbounded_send(browser_online());
        });
        let f = listener.as_ref().unchecked_ref();
        let _ = window.add_event_listener_with_callback("online", f);
        let _ = window.add_event_listener_with_callback("offline", f);
        NetworkListener {
            listener: Some(listener),
        }
    }
}

impl Drop for NetworkListener {
    fn drop(&mut self) {
        if let (Some(window), Some(listener)) = (web_sys::window(), self.listener.as_ref()) {
            let f = listener.as_ref().unchecked_ref();
            let _ = window.remove_event_listener_with_callback("online", f);
            let _ = window.remove_event_listener_with_callback("offline", f);
        }
    }
}

pub(super) fn browser_online() -> bool {
    web_sys::window()
        .map(|w| w.navigator().on_line())
        .unwrap_or(true)
}

/// `ws(s)://<this host>/socket.io/?EIO=4&transport=websocket`
fn engine_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let secure = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    let host = location.and_then(|l| l.host().ok()).unwrap_or_default();
    let scheme = if secure { "wss" } else { "ws" };
    format!("{scheme}://{host}/socket.io/?EIO=4&transport=websocket")
}
