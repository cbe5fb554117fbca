//! The browser side: one [`Socket`] per namespace over one WebSocket, with heartbeats,
//! acknowledgements, and reconnection with backoff. Its state is a Leptos signal, so every
//! page can show it.
//!
//! Browser callbacks never drop the closures or timers that are running them: teardown moves
//! them out and drops them in a later microtask ([`defer_drop`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use gloo_timers::callback::Timeout;
use gloo_timers::future::TimeoutFuture;
use leptos::logging::warn;
use leptos::prelude::{ArcRwSignal, GetUntracked, Set};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::backoff::Backoff;
use super::packet::{EnginePacket, Packet, ENGINE_PONG};
use crate::protocol::Event;

/// What the user should know about the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// First attempt, not yet confirmed by the server.
    Connecting,
    Connected,
    /// Lost; the next attempt is scheduled.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u32,
        reason: String,
    },
    /// The browser says there is no network; we keep retrying, and at once when it is back.
    Offline,
    /// The server refused this namespace; retrying would not help.
    Refused(String),
}

impl ConnectionState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }

    /// A short word for badges and CSS classes.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Offline => "offline",
            ConnectionState::Refused(_) => "refused",
        }
    }

    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            ConnectionState::Connecting => "Connecting…".into(),
            ConnectionState::Connected => "Connected".into(),
            ConnectionState::Reconnecting {
                attempt,
                retry_in_ms,
                reason,
            } => format!(
                "Reconnecting (attempt {attempt}, in {:.1} s): {reason}",
                *retry_in_ms as f64 / 1000.0
            ),
            ConnectionState::Offline => "Offline: no network. Retrying…".into(),
            ConnectionState::Refused(reason) => format!("Refused by the server: {reason}"),
        }
    }
}

/// Why an emit did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("not connected")]
    NotConnected,
    #[error("too large to send ({0} bytes)")]
    TooLarge(usize),
    #[error("the connection was lost before the server answered")]
    Lost,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server's answer was not understood")]
    BadReply,
}

type Handler = Rc<dyn Fn(&[Value])>;

/// How long an attempt may take before it counts as failed, in milliseconds.
const CONNECT_TIMEOUT_MS: u32 = 20_000;

/// A connection to one socket.io namespace of the server this page came from.
/// Cheap to clone; every clone is the same connection.
#[derive(Clone)]
pub struct Socket {
    inner: Rc<Inner>,
}

struct Inner {
    /// WebSocket URL of the Engine.IO endpoint.
    url: String,
    /// The namespace this socket joins, e.g. `/chat`.
    nsp: &'static str,
    /// Sent with every namespace connect (socket.io's `auth`).
    auth: Option<Value>,
    backoff: Backoff,
    /// Reactive connection state, read by the pages.
    state: ArcRwSignal<ConnectionState>,
    /// Our socket id in the namespace while connected.
    id: ArcRwSignal<Option<String>>,
    /// Event handlers by event name; they survive reconnects.
    handlers: RefCell<HashMap<&'static str, Vec<Handler>>>,
    /// Called after every successful namespace connect, reconnects included.
    on_connect: RefCell<Vec<Rc<dyn Fn()>>>,
    /// Emits waiting for the server's acknowledgement, by ack id.
    acks: RefCell<HashMap<u64, oneshot::Sender<Vec<Value>>>>,
    next_ack: Cell<u64>,
    /// Failed attempts since the last successful connect.
    attempt: Cell<u32>,
    /// Largest packet the server accepts (from its handshake).
    max_payload: Cell<u64>,
    /// Set by [`Socket::close`]: no more reconnects.
    closed: Cell<bool>,
    conn: RefCell<Option<Connection>>,
    retry: RefCell<Option<Timeout>>,
    heartbeat: RefCell<Option<Timeout>>,
    /// Allowed silence from the server before we call the connection dead, in ms.
    heartbeat_ms: Cell<u32>,
    online_listener: RefCell<Option<Closure<dyn FnMut()>>>,
}

/// One live WebSocket and the closures the browser calls on it.
struct Connection {
    ws: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// Drops `value` after the current browser callback has returned.
fn defer_drop<T: 'static>(value: T) {
    spawn_local(async move { drop(value) });
}

impl Socket {
    /// Connects to `namespace` on the server this page was loaded from.
    pub fn connect(namespace: &'static str) -> Self {
        Self::connect_with_auth(namespace, None)
    }

    /// Like [`Socket::connect`], sending `auth` with every namespace connect.
    pub fn connect_with_auth(namespace: &'static str, auth: Option<Value>) -> Self {
        let inner = Rc::new(Inner {
            url: engine_url(),
            nsp: namespace,
            auth,
            backoff: Backoff::default(),
            state: ArcRwSignal::new(ConnectionState::Connecting),
            id: ArcRwSignal::new(None),
            handlers: RefCell::default(),
            on_connect: RefCell::default(),
            acks: RefCell::default(),
            next_ack: Cell::new(0),
            attempt: Cell::new(0),
            max_payload: Cell::new(100_000),
            closed: Cell::new(false),
            conn: RefCell::default(),
            retry: RefCell::default(),
            heartbeat: RefCell::default(),
            heartbeat_ms: Cell::new(CONNECT_TIMEOUT_MS),
            online_listener: RefCell::default(),
        });
        inner.listen_for_network();
        // Opened in a microtask, so the caller registers its handlers first.
        let weak = Rc::downgrade(&inner);
        spawn_local(async move {
            if let Some(inner) = weak.upgrade() {
                inner.open();
            }
        });
        Socket { inner }
    }

    /// The connection state, reactive.
    pub fn state(&self) -> ArcRwSignal<ConnectionState> {
        self.inner.state.clone()
    }

    /// Our socket id while connected, reactive.
    pub fn id(&self) -> ArcRwSignal<Option<String>> {
        self.inner.id.clone()
    }

    /// Calls `handler` with the arguments of every `E` event from the server.
    pub fn on<E: Event>(&self, handler: impl Fn(E::Args) + 'static) {
        let decode: Handler = Rc::new(move |args: &[Value]| {
            match serde_json::from_value::<E::Args>(Value::Array(args.to_vec())) {
                Ok(args) => handler(args),
                Err(error) => {
                    warn!(
                        "socket.io: ignoring {:?} with unexpected arguments: {error}",
                        E::NAME
                    );
                }
            }
        });
        self.inner
            .handlers
            .borrow_mut()
            .entry(E::NAME)
            .or_default()
            .push(decode);
    }

    /// Calls `handler` after every successful connect, the first and each reconnect.
    pub fn on_connect(&self, handler: impl Fn() + 'static) {
        self.inner.on_connect.borrow_mut().push(Rc::new(handler));
    }

    /// Sends `E` to the server; fails at once when not connected (nothing is queued).
    pub fn emit<E: Event>(&self, args: E::Args) -> Result<(), EmitError> {
        let frame = self.inner.event_frame::<E>(&args, None)?;
        self.inner.send(&frame)
    }

    /// Sends `E` asking for an acknowledgement and waits for it up to `timeout_ms`.
    /// `R` is the acknowledgement's argument list as a tuple.
    pub async fn emit_with_ack<E: Event, R: DeserializeOwned>(
        &self,
        args: E::Args,
        timeout_ms: u32,
    ) -> Result<R, EmitError> {
        let id = self.inner.next_ack.get();
        self.inner.next_ack.set(id.wrapping_add(1));
        let frame = self.inner.event_frame::<E>(&args, Some(id))?;
        let (tx, rx) = oneshot::channel();
        self.inner.acks.borrow_mut().insert(id, tx);
        if let Err(error) = self.inner.send(&frame) {
            self.inner.acks.borrow_mut().remove(&id);
            return Err(error);
        }
        match select(rx, TimeoutFuture::new(timeout_ms)).await {
            Either::Left((Ok(reply), _)) => {
                serde_json::from_value(Value::Array(reply)).map_err(|_| EmitError::BadReply)
            }
            Either::Left((Err(_), _)) => Err(EmitError::Lost),
            Either::Right(_) => {
                self.inner.acks.borrow_mut().remove(&id);
                Err(EmitError::Timeout)
            }
        }
    }

    /// Leaves the namespace and stops reconnecting. Pages call this when they unmount.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return;
        }
        if inner.state.get_untracked().is_connected() {
            let _ = inner.send(
                &Packet::Disconnect {
                    nsp: inner.nsp.to_owned(),
                }
                .encode(),
            );
        }
        inner.teardown();
        defer_drop(inner.retry.take());
        if let Some(listener) = inner.online_listener.take() {
            if let Some(window) = web_sys::window() {
                let f = listener.as_ref().unchecked_ref();
                let _ = window.remove_event_listener_with_callback("online", f);
                let _ = window.remove_event_listener_with_callback("offline", f);
            }
            defer_drop(listener);
        }
        inner.state.set(ConnectionState::Offline);
    }
}

impl Inner {
    fn open(self: &Rc<Self>) {
        defer_drop(self.retry.take());
        if self.closed.get() || self.conn.borrow().is_some() {
            return;
        }
        let ws = match WebSocket::new(&self.url) {
            Ok(ws) => ws,
            Err(error) => {
                return self.schedule_reconnect(format!("cannot open a WebSocket: {error:?}"))
            }
        };
        let weak = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            match event.data().as_string() {
                Some(frame) => inner.receive(&frame),
                None => skipped("a binary frame"),
            }
        });
        let weak = Rc::downgrade(self);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if let Some(inner) = weak.upgrade() {
                let reason = match event.code() {
                    1000 | 1001 | 1005 => "the server closed the connection".to_owned(),
                    1006 => "the connection was lost".to_owned(),
                    1009 => "a message was too large".to_owned(),
                    code => format!("the connection closed (code {code})"),
                };
                inner.schedule_reconnect(reason);
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *self.conn.borrow_mut() = Some(Connection {
            ws,
            _on_message: on_message,
            _on_close: on_close,
        });
        // Until the server's handshake says otherwise, give it this long to answer.
        self.heartbeat_ms.set(CONNECT_TIMEOUT_MS);
        self.arm_heartbeat();
    }

    fn receive(self: &Rc<Self>, frame: &str) {
        let packet = match EnginePacket::decode(frame) {
            Ok(packet) => packet,
            Err(error) => return skipped(&error.to_string()),
        };
        match packet {
            EnginePacket::Open(handshake) => {
                self.max_payload.set(handshake.max_payload.max(1));
                let silence = handshake.ping_interval + handshake.ping_timeout;
                self.heartbeat_ms.set(silence.min(u32::MAX as u64) as u32);
                self.arm_heartbeat();
                let connect = Packet::Connect {
                    nsp: self.nsp.to_owned(),
                    data: self.auth.clone(),
                };
                let _ = self.send_raw(&connect.encode());
            }
            EnginePacket::Ping => {
                self.arm_heartbeat();
                let _ = self.send_raw(ENGINE_PONG);
            }
            EnginePacket::Close => self.schedule_reconnect("the server closed the session".into()),
            EnginePacket::Message(data) => match Packet::decode(&data) {
                Ok(packet) if packet.nsp() == self.nsp => self.dispatch(packet),
                Ok(_) => {}
                Err(error) => skipped(&error.to_string()),
            },
            EnginePacket::Pong | EnginePacket::Upgrade | EnginePacket::Noop => {}
        }
    }

    fn dispatch(self: &Rc<Self>, packet: Packet) {
        match packet {
            Packet::Connect { data, .. } => {
                let sid = data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.attempt.set(0);
                self.id.set(sid);
                self.state.set(ConnectionState::Connected);
                let callbacks: Vec<_> = self.on_connect.borrow().clone();
                for callback in callbacks {
                    callback();
                }
            }
            Packet::Event {
                event, args, ack, ..
            } => {
                let handlers = self
                    .handlers
                    .borrow()
                    .get(event.as_str())
                    .cloned()
                    .unwrap_or_default();
                for handler in handlers {
                    handler(&args);
                }
                if let Some(id) = ack {
                    // We never promise an answer; tell the server so it does not wait.
                    let reply = Packet::Ack {
                        nsp: self.nsp.to_owned(),
                        id,
                        args: vec![],
                    };
                    let _ = self.send_raw(&reply.encode());
                }
            }
            Packet::Ack { id, args, .. } => {
                if let Some(tx) = self.acks.borrow_mut().remove(&id) {
                    let _ = tx.send(args);
                }
            }
            Packet::ConnectError { message, .. } => {
                self.closed.set(true);
                self.teardown();
                self.state.set(ConnectionState::Refused(message));
            }
            Packet::Disconnect { .. } => {
                self.schedule_reconnect("the server ended the session".into())
            }
        }
    }

    fn event_frame<E: Event>(&self, args: &E::Args, ack: Option<u64>) -> Result<String, EmitError> {
        let args = match serde_json::to_value(args) {
            Ok(Value::Array(args)) => args,
            Ok(single) => vec![single],
            Err(_) => return Err(EmitError::BadReply),
        };
        let packet = Packet::Event {
            nsp: self.nsp.to_owned(),
            event: E::NAME.to_owned(),
            args,
            ack,
        };
        Ok(packet.encode())
    }

    /// Sends a socket.io packet; only while the namespace is connected.
    fn send(&self, frame: &str) -> Result<(), EmitError> {
        if !self.state.get_untracked().is_connected() {
            return Err(EmitError::NotConnected);
        }
        if frame.len() as u64 > self.max_payload.get() {
            return Err(EmitError::TooLarge(frame.len()));
        }
        self.send_raw(frame)
    }

    fn send_raw(&self, frame: &str) -> Result<(), EmitError> {
        let conn = self.conn.borrow();
        let conn = conn.as_ref().ok_or(EmitError::NotConnected)?;
        conn.ws
            .send_with_str(frame)
            .map_err(|_| EmitError::NotConnected)
    }

    /// Drops the connection, its heartbeat and every pending acknowledgement.
    fn teardown(&self) {
        defer_drop(self.conn.take());
        defer_drop(self.heartbeat.take());
        self.acks.borrow_mut().clear();
        self.id.set(None);
    }

    fn schedule_reconnect(self: &Rc<Self>, reason: String) {
        self.teardown();
        if self.closed.get() {
            return;
        }
        let attempt = self.attempt.get();
        self.attempt.set(attempt.saturating_add(1));
        let delay = self.backoff.delay_ms(attempt, js_sys::Math::random());
        // `navigator.onLine` is only a hint (it is false on a machine with nothing but
        // loopback, where a local server still works), so we keep retrying either way.
        self.state.set(if browser_online() {
            ConnectionState::Reconnecting {
                attempt: attempt + 1,
                retry_in_ms: delay,
                reason,
            }
        } else {
            ConnectionState::Offline
        });
        let weak = Rc::downgrade(self);
        let timer = Timeout::new(delay, move || reopen_later(weak));
        defer_drop(self.retry.replace(Some(timer)));
    }

    fn arm_heartbeat(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let timer = Timeout::new(self.heartbeat_ms.get(), move || {
            spawn_local(async move {
                if let Some(inner) = weak.upgrade() {
                    inner.schedule_reconnect("the server stopped answering".into());
                }
            })
        });
        defer_drop(self.heartbeat.replace(Some(timer)));
    }

    /// Shows `Offline` when the browser loses the network (a live connection is left alone:
    /// heartbeats tell whether it really died) and retries as soon as it is back.
    fn listen_for_network(self: &Rc<Self>) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let weak = Rc::downgrade(self);
        let listener = Closure::<dyn FnMut()>::new(move || {
            let Some(inner) = weak.upgrade() else { return };
            if inner.closed.get() {
                return;
            }
            if browser_online() {
                if !inner.state.get_untracked().is_connected() {
                    inner.attempt.set(0);
                    reopen_later(Rc::downgrade(&inner));
                }
            } else if !inner.state.get_untracked().is_connected() {
                inner.state.set(ConnectionState::Offline);
            }
        });
        let f = listener.as_ref().unchecked_ref();
        let _ = window.add_event_listener_with_callback("online", f);
        let _ = window.add_event_listener_with_callback("offline", f);
        *self.online_listener.borrow_mut() = Some(listener);
    }
}

fn reopen_later(weak: Weak<Inner>) {
    spawn_local(async move {
        if let Some(inner) = weak.upgrade() {
            inner.open();
        }
    });
}

/// A frame from the server we could not understand: logged, never fatal.
fn skipped(what: &str) {
    warn!("socket.io: skipped a frame from the server ({what})");
}

fn browser_online() -> bool {
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

/// Connects to `namespace` for as long as the calling component lives.
pub fn use_socket(namespace: &'static str) -> Socket {
    use_socket_with_auth(namespace, None)
}

/// [`use_socket`] with an `auth` payload.
pub fn use_socket_with_auth(namespace: &'static str, auth: Option<Value>) -> Socket {
    let socket = Socket::connect_with_auth(namespace, auth);
    let on_unmount = send_wrapper::SendWrapper::new(socket.clone());
    leptos::prelude::on_cleanup(move || on_unmount.close());
    socket
}
