//! Typed emits and the connection lifecycle every namespace shares.
//!
//! Handlers emit only through these helpers, with an [`Event`] from `app::protocol`, so an
//! event name or argument list can never drift from what the pages expect. They also count
//! what goes out (and what could not, because a client read too slowly) for `/metrics`.
//!
//! Every namespace registers its event handlers in a connect *middleware*: socketioxide sends
//! the client its "connected" packet before it runs the connect handler, so a client that
//! speaks at once could otherwise find no handler listening.

use app::protocol::{Event, Receipt, Rejection};
use socketioxide::extract::{AckSender, Event as EventName, SocketRef};
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo};

use crate::in_order::InOrder;
use crate::metrics::METRICS;

/// Sends `E` to one socket. A failure (the socket just left, or its buffer is full) is logged
/// and counted.
pub fn emit<E: Event>(socket: &SocketRef, args: &E::Args) {
    match socket.emit(E::NAME, args) {
        Ok(()) => METRICS.events_out(socket.ns(), 1),
        Err(SendError::Socket(SocketError::InternalChannelFull)) => METRICS.dropped(socket.ns(), 1),
        Err(error) => {
            tracing::warn!(ns = socket.ns(), sid = %socket.id, event = E::NAME, %error, "emit failed")
        }
    }
}

/// Sends `E` to every socket of namespace `ns` (the packet is encoded once).
pub async fn broadcast<E: Event>(io: &SocketIo, ns: &str, args: &E::Args) {
    send_to_all::<E>(io, ns, None, args).await
}

/// Sends `E` to every socket of `room` in namespace `ns`.
pub async fn broadcast_to<E: Event>(io: &SocketIo, ns: &str, room: &'static str, args: &E::Args) {
    send_to_all::<E>(io, ns, Some(room), args).await
}

async fn send_to_all<E: Event>(
    io: &SocketIo,
    ns: &str,
    room: Option<&'static str>,
    args: &E::Args,
) {
    let Some(operators) = io.of(ns) else {
        tracing::error!(
            ns,
            event = E::NAME,
            "broadcast to a namespace that does not exist"
        );
        return;
    };
    let operators = match room {
        Some(room) => operators.within(room),
        None => operators,
    };
    let recipients = operators.clone().sockets().len();
    let failed = match operators.emit(E::NAME, args).await {
        Ok(()) => 0,
        Err(BroadcastError::Socket(errors)) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            if full > 0 {
                METRICS.dropped(ns, full);
            }
            errors.len()
        }
        Err(error) => {
            tracing::warn!(ns, event = E::NAME, %error, "broadcast failed");
            recipients
        }
    };
    METRICS.events_out(ns, recipients.saturating_sub(failed));
}

/// The socket of namespace `ns` whose id a client named, if it is connected.
pub fn socket_named(io: &SocketIo, ns: &str, id: &str) -> Option<SocketRef> {
    let sid: Sid = id.parse().ok()?;
    io.of(ns)?.get_socket(sid)
}

/// Tells the sender why `event` was refused, through the error event `E`, and logs it.
pub fn reject<E: Event<Args = (String,)>>(socket: &SocketRef, event: &str, rejection: Rejection) {
    tracing::warn!(ns = socket.ns(), sid = %socket.id, event, reason = %rejection, "rejected input");
    emit::<E>(socket, &(rejection.0,));
}

/// Answers a client that asked for an acknowledgement: `{ok: true}` or `{ok: false, error}`.
/// Clients that sent no ack id (the seed's pages) get nothing.
pub fn acknowledge(ack: AckSender, socket: &SocketRef, outcome: &Result<(), Rejection>) {
    let receipt = match outcome {
        Ok(()) => Receipt::delivered(),
        Err(rejection) => Receipt::refused(rejection),
    };
    if let Err(error) = ack.send(&(receipt,)) {
        tracing::debug!(ns = socket.ns(), sid = %socket.id, %error, "could not acknowledge an event");
    }
}

/// Makes unknown events visible in the log instead of vanishing (call from `listen`).
pub fn log_unknown_events(socket: &SocketRef) {
    socket.on_fallback(|socket: SocketRef, EventName(name): EventName| async move {
        let name: String = name.chars().take(64).collect();
        tracing::warn!(ns = socket.ns(), sid = %socket.id, event = %name.escape_debug(), "ignored an unknown event");
    });
}

/// The connect handler of namespaces with nothing more to do on connect (it counts and logs).
pub async fn connected(socket: SocketRef) {
    log_connected(&socket);
}

pub fn log_connected(socket: &SocketRef) {
    METRICS.connected(socket.ns());
    tracing::info!(ns = socket.ns(), sid = %socket.id, transport = ?socket.transport_type(), "connected");
}

/// The disconnect handler of namespaces with nothing more to do on disconnect.
pub async fn disconnected(socket: SocketRef, reason: DisconnectReason) {
    let _after_everything_it_sent = InOrder::after_all(&socket).await;
    log_disconnected(&socket, reason);
}

pub fn log_disconnected(socket: &SocketRef, reason: DisconnectReason) {
    METRICS.disconnected(socket.ns());
    tracing::info!(ns = socket.ns(), sid = %socket.id, ?reason, "disconnected");
}
