//! Serving a namespace: connecting, typed event handlers, disconnecting.
//!
//! Every event goes through the same steps before and after its handler, so handlers hold
//! only what their app does: take its turn (events run in the order the client sent them),
//! parse the raw arguments with the event's own parser, call the handler with the domain
//! value, and answer a refusal (the event's error event, if it has one; a receipt, when the
//! client asked for an acknowledgement; a log line).
//!
//! Handlers are registered in a connect *middleware*: socketioxide sends the client its
//! "connected" packet before it runs the connect handler, so a client that speaks at once
//! could otherwise find no handler listening.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use app::protocol::{
    ClientEvent, Namespace, PeerId, RawArgs, Receipt, Refusal, Rejection, ServerEvent,
};
use serde::de::DeserializeOwned;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{AckSender, Data, Event as EventName, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use super::limits::{Admission, Bucket};
use super::{InOrder, Nsp, Served, Shared, Waited};
use crate::metrics::Metrics;
use crate::sync::lock;

/// What a client sending too fast is told.
const SLOW_DOWN: &str = "You are sending too fast: please slow down.";

/// What a handler works with: the client that sent the event, its namespace, and the
/// namespace's state.
pub struct Cx<N, S, A: Adapter = LocalAdapter> {
    pub socket: SocketRef<A>,
    pub nsp: Nsp<N, A>,
    pub state: S,
}

impl<N: Namespace, S, A: Adapter> Cx<N, S, A> {
    /// Sends `E` to this client.
    pub fn reply<E: ServerEvent<Namespace = N>>(&self, args: &E::Args) {
        self.nsp.emit::<E>(&self.socket, args)
    }

    /// This client's id, as other clients name it.
    pub fn id(&self) -> PeerId {
        PeerId::of_socket(self.socket.id)
    }
}

/// Registers the handlers of one new socket (see [`serve`]).
pub struct Listener<N, S, A: Adapter = LocalAdapter> {
    socket: SocketRef<A>,
    nsp: Nsp<N, A>,
    state: S,
    /// What the client sent with its namespace connect (socket.io's `auth`).
    auth: Option<serde_json::Value>,
    /// The client's allowance in this namespace, shared by all its events.
    bucket: Option<Arc<Mutex<Bucket>>>,
    _namespace: PhantomData<fn() -> N>,
}

impl<N, S, A> Listener<N, S, A>
where
    N: Namespace,
    S: Clone + Send + Sync + 'static,
    A: Adapter,
{
    /// The socket being connected.
    pub fn socket(&self) -> &SocketRef<A> {
        &self.socket
    }

    /// The connect `auth` read as `T`, if the client sent one of that shape.
    pub fn auth<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.auth.clone()?).ok()
    }

    /// Handles every `E` the client sends with `handler`, which gets the parsed arguments.
    pub fn on<E, H, F>(&self, handler: H)
    where
        E: ClientEvent<Namespace = N>,
        E::Args: Send,
        H: Fn(Cx<N, S, A>, E::Args) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<(), Rejection>> + Send + 'static,
    {
        let (nsp, state) = (self.nsp.clone(), self.state.clone());
        let bucket = self.bucket.clone();
        self.socket.on(
            E::NAME,
            move |socket: SocketRef<A>,
                  ack: AckSender<A>,
                  turn: InOrder,
                  Data(raw): Data<RawArgs>| {
                let (nsp, state, handler) = (nsp.clone(), state.clone(), handler.clone());
                // Here, before the handler's task is spawned, events come in the order sent.
                let admission = bucket
                    .as_ref()
                    .map_or(Admission::Admitted, |b| lock(b).admit(Instant::now()));
                async move {
                    let metrics = nsp.metrics();
                    metrics.event_in(N::PATH);
                    match admission {
                        Admission::Admitted => {}
                        Admission::Refused { tell } => {
                            drop(turn);
                            metrics.rate_limited(N::PATH);
                            let slow_down = Rejection::new(SLOW_DOWN);
                            if tell {
                                refuse::<E, A>(metrics, &socket, &slow_down);
                            }
                            return acknowledge(ack, &socket, &Err(slow_down));
                        }
                        Admission::CutOff => return,
                        Admission::Abusive => {
                            drop(turn);
                            return disconnect(metrics, &socket, "sent far over its rate limit");
                        }
                    }
                    let _turn = match turn.wait().await {
                        Waited::Turn(turn) => turn,
                        Waited::Dropped => return,
                        Waited::Overflow => {
                            return disconnect(metrics, &socket, "had too many events waiting")
                        }
                    };
                    let outcome = match E::parse(&raw) {
                        Ok(args) => {
                            let cx = Cx {
                                socket: socket.clone(),
                                nsp: nsp.clone(),
                                state,
                            };
                            handler(cx, args).await
                        }
                        Err(rejection) => Err(rejection),
                    };
                    if let Err(rejection) = &outcome {
                        refuse::<E, A>(nsp.metrics(), &socket, rejection);
                    }
                    acknowledge(ack, &socket, &outcome);
                }
            },
        );
    }

    /// Runs `handler` when the client leaves, after every event it sent was handled.
    pub fn on_disconnect<H, F>(&self, handler: H)
    where
        H: Fn(Cx<N, S, A>, DisconnectReason) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (nsp, state) = (self.nsp.clone(), self.state.clone());
        self.socket
            .on_disconnect(move |socket: SocketRef<A>, reason: DisconnectReason| {
                let (nsp, state, handler) = (nsp.clone(), state.clone(), handler.clone());
                async move {
                    // What it still had waiting is dropped; what it was doing finishes first, so
                    // nothing is undone before it was done (a name released before its claim).
                    InOrder::close(&socket).await;
                    log_disconnected(nsp.metrics(), &socket, reason);
                    if let Some(members) = nsp.cluster_members() {
                        members.left(&socket.id.to_string());
                    }
                    let cx = Cx { socket, nsp, state };
                    handler(cx, reason).await;
                }
            });
    }
}

/// Serves namespace `N` with `state`: `listen` registers each new socket's handlers before the
/// client is told it is connected; `joined` runs once it has been told.
pub fn serve<N, S, A, J, JF>(
    io: &SocketIo<A>,
    shared: &Arc<Shared>,
    state: S,
    listen: fn(&Listener<N, S, A>),
    joined: J,
) -> A::InitRes
where
    N: Namespace,
    S: Clone + Send + Sync + 'static,
    A: Served,
    J: Fn(Cx<N, S, A>) -> JF + Clone + Send + Sync + 'static,
    JF: Future<Output = ()> + Send + 'static,
{
    let nsp = Nsp::<N, A>::new(io, shared);
    let rate = shared.limits.of(N::PATH);
    let middleware = {
        let (nsp, state) = (nsp.clone(), state.clone());
        move |socket: SocketRef<A>, TryData(auth): TryData<serde_json::Value>| {
            let listener = Listener {
                socket,
                nsp: nsp.clone(),
                state: state.clone(),
                auth: auth.ok(),
                bucket: rate.map(|rate| Arc::new(Mutex::new(Bucket::new(rate, Instant::now())))),
                _namespace: PhantomData,
            };
            async move {
                if let Some(cluster) = &listener.nsp.shared().cluster {
                    // Reachable from the other nodes: everyone on this node, and this socket.
                    // Joined here, before the client is told it is connected. The connect
                    // handler runs later, in a task of its own: on a busy node an event the
                    // client sent as soon as it was told (a page rejoining its meeting) was
                    // served first, while the socket was in neither room, and the socket
                    // heard its own `joined` (seen in a stress run of the Redis tests).
                    listener
                        .socket
                        .join([cluster.node_room(), listener.socket.id.to_string()]);
                }
                log_unknown_events(&listener.socket, listener.nsp.clone());
                // Counted and logged even where `listen` registers nothing for it.
                listener.on_disconnect(nothing_on_disconnect);
                listen(&listener);
                Ok::<(), Infallible>(())
            }
        }
    };
    let connected = move |socket: SocketRef<A>| {
        let cx = Cx {
            socket,
            nsp: nsp.clone(),
            state: state.clone(),
        };
        let joined = joined.clone();
        async move {
            if let Some(members) = cx.nsp.cluster_members() {
                members.joined(&cx.socket.id.to_string());
            }
            cx.nsp.metrics().connected(N::PATH);
            if cx.nsp.metrics().may_log_connection() {
                // Socket ids only at debug: who talks to whom is nobody's business at info.
                tracing::info!(ns = N::PATH, transport = ?cx.socket.transport_type(), "connected");
                tracing::debug!(ns = N::PATH, sid = %cx.socket.id, "connected");
            }
            joined(cx).await
        }
    };
    io.ns(N::PATH, connected.with(middleware))
}

/// A `joined` hook for namespaces with nothing to do once a client is connected.
pub async fn nothing<N, S, A: Adapter>(_: Cx<N, S, A>) {}

async fn nothing_on_disconnect<N, S, A: Adapter>(_: Cx<N, S, A>, _: DisconnectReason) {}

/// Tells the sender why its event was refused, if the event has an error event, and logs it.
fn refuse<E: ClientEvent, A: Adapter>(
    metrics: &Metrics,
    socket: &SocketRef<A>,
    rejection: &Rejection,
) {
    let ns = <E::Namespace as Namespace>::PATH;
    metrics.warn_input(ns, &socket.id, E::NAME, &rejection.0);
    if let Some(event) = <E::Refusal as Refusal<E::Namespace>>::EVENT {
        match socket.emit(event, &(&rejection.0,)) {
            Ok(()) => metrics.events_out(ns, 1),
            Err(error) => tracing::debug!(ns, sid = %socket.id, %error, "could not send a refusal"),
        }
    }
}

/// Answers a client that asked for an acknowledgement: `{ok: true}` or `{ok: false, error}`.
/// Clients that sent no ack id (the seed's pages) get nothing.
fn acknowledge<A: Adapter>(
    ack: AckSender<A>,
    socket: &SocketRef<A>,
    outcome: &Result<(), Rejection>,
) {
    let receipt = match outcome {
        Ok(()) => Receipt::delivered(),
        Err(rejection) => Receipt::refused(rejection),
    };
    if let Err(error) = ack.send(&(receipt,)) {
        tracing::debug!(ns = socket.ns(), sid = %socket.id, %error, "could not acknowledge an event");
    }
}

/// Disconnects a client that abuses the server, and says so once in the log.
fn disconnect<A: Adapter>(metrics: &Metrics, socket: &SocketRef<A>, why: &'static str) {
    metrics.abuser_disconnected(socket.ns());
    tracing::warn!(ns = socket.ns(), sid = %socket.id, why, "disconnecting a client");
    super::hang_up(socket);
}

/// Makes unknown events visible in the log instead of vanishing.
fn log_unknown_events<N: Namespace, A: Adapter>(socket: &SocketRef<A>, nsp: Nsp<N, A>) {
    socket.on_fallback(move |socket: SocketRef<A>, EventName(name): EventName| {
        let nsp = nsp.clone();
        async move {
            let name: String = name.chars().take(64).collect();
            let name = name.escape_debug().to_string();
            nsp.metrics()
                .warn_input(N::PATH, &socket.id, &name, "ignored an unknown event");
        }
    });
}

fn log_disconnected<A: Adapter>(
    metrics: &Metrics,
    socket: &SocketRef<A>,
    reason: DisconnectReason,
) {
    metrics.disconnected(socket.ns());
    if let DisconnectReason::PacketParsingError = reason {
        // It sent something that is not socket.io.
        metrics.warn_input(
            socket.ns(),
            &socket.id,
            "-",
            "a malformed packet; disconnected",
        );
    } else if metrics.may_log_connection() {
        tracing::info!(ns = socket.ns(), ?reason, "disconnected");
        tracing::debug!(ns = socket.ns(), sid = %socket.id, "disconnected");
    }
}
