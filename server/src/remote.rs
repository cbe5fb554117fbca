//! `/remote`: a controller's `update(targetId, data)` reaches the one socket it names.

use std::convert::Infallible;

use app::protocol::remote::{parse_relay, Relay, Update, NAMESPACE};
use app::protocol::{Event, RawArgs, Rejection};
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::events::{self, emit};
use crate::in_order::InOrder;

pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, events::connected.with(listen));
}

/// Registers the handlers before the client is told it is connected.
async fn listen(socket: SocketRef) -> Result<(), Infallible> {
    events::log_unknown_events(&socket);
    socket.on(Relay::NAME, on_update);
    socket.on_disconnect(events::disconnected);
    Ok(())
}

async fn on_update(
    socket: SocketRef,
    io: SocketIo,
    ack: AckSender,
    turn: InOrder,
    Data(args): Data<RawArgs>,
) {
    let _turn = turn.wait().await;
    let outcome = parse_relay(&args)
        .inspect_err(|rejection| {
            tracing::warn!(ns = NAMESPACE, sid = %socket.id, reason = %rejection, "rejected input")
        })
        .and_then(|(target, data)| deliver(&io, &target, data));
    // Controllers that ask learn whether their desktop is there.
    events::acknowledge(ack, &socket, &outcome);
}

/// Sends `data` to the `/remote` socket `target` only.
fn deliver(io: &SocketIo, target: &str, data: Value) -> Result<(), Rejection> {
    let unknown = || {
        Rejection::new(
            "No desktop with this id is connected. Scan the code on the desktop page again.",
        )
    };
    let socket = events::socket_named(io, NAMESPACE, target).ok_or_else(unknown)?;
    emit::<Update>(&socket, &(data,));
    Ok(())
}
