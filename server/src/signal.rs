//! `/signal`: the WebRTC signalling server. Everyone gets the list of clients on every connect
//! and disconnect; `peerOffer`, `peerAnswer`, `peerIce` and `signal` go to the one peer they
//! name, stamped with the real sender's id. Payloads are relayed untouched (SDP is never parsed).

use std::convert::Infallible;
use std::sync::Arc;

use app::protocol::signal::{
    parse_relay, ClientMap, Clients, PeerAnswer, PeerEntry, PeerIce, PeerOffer, Relayed,
    SignalEvent, NAMESPACE,
};
use app::protocol::{Event, RawArgs, Rejection};
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::events::{self, broadcast, emit};
use crate::in_order::InOrder;

/// Serialises the `clients` announcements: each one lists the namespace as it is when sent,
/// and two joins at once cannot deliver an older list last.
#[derive(Clone, Default)]
pub struct Roster {
    announcing: Arc<tokio::sync::Mutex<()>>,
}

impl Roster {
    async fn announce(&self, io: &SocketIo) {
        let _one_at_a_time = self.announcing.lock().await;
        let clients: ClientMap = io
            .of(NAMESPACE)
            .map(|ns| ns.sockets())
            .unwrap_or_default()
            .into_iter()
            .filter(|socket| socket.connected())
            .map(|socket| {
                (
                    socket.id.to_string(),
                    PeerEntry {
                        id: socket.id.to_string(),
                    },
                )
            })
            .collect();
        broadcast::<Clients>(io, NAMESPACE, &(clients,)).await;
    }
}

/// Registers the namespace; `Roster` must be in the socket.io state.
pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, on_connect.with(listen));
}

/// Registers the handlers before the client is told it is connected.
async fn listen(socket: SocketRef) -> Result<(), Infallible> {
    events::log_unknown_events(&socket);
    socket.on(PeerOffer::NAME, on_relay::<PeerOffer>);
    socket.on(PeerAnswer::NAME, on_relay::<PeerAnswer>);
    socket.on(PeerIce::NAME, on_relay::<PeerIce>);
    socket.on(SignalEvent::NAME, on_relay::<SignalEvent>);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

async fn on_connect(socket: SocketRef, io: SocketIo, State(roster): State<Roster>) {
    events::log_connected(&socket);
    roster.announce(&io).await;
}

async fn on_disconnect(
    socket: SocketRef,
    io: SocketIo,
    State(roster): State<Roster>,
    reason: DisconnectReason,
) {
    let _after_everything_it_sent = InOrder::after_all(&socket).await;
    events::log_disconnected(&socket, reason);
    // This socket is no longer `connected()`, so the list leaves it out.
    roster.announce(&io).await;
}

/// Relays `E` to the peer it names; an acknowledgement, when asked for, says whether it went.
async fn on_relay<E: Event>(
    socket: SocketRef,
    io: SocketIo,
    ack: AckSender,
    turn: InOrder,
    Data(args): Data<RawArgs>,
) {
    let _turn = turn.wait().await;
    let outcome = parse_relay(&args)
        .inspect_err(|rejection| {
            tracing::warn!(ns = NAMESPACE, sid = %socket.id, event = E::NAME, reason = %rejection, "rejected input")
        })
        .and_then(|(target, payload)| {
            let peer = events::socket_named(&io, NAMESPACE, &target)
                .ok_or_else(|| Rejection::new("That peer is not connected."))?;
            emit::<Relayed<E>>(&peer, &(target, payload, socket.id.to_string()));
            Ok(())
        });
    events::acknowledge(ack, &socket, &outcome);
}
