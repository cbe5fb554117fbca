//! `/signal`: the WebRTC signalling server. Everyone gets the list of clients on every connect
//! and disconnect; `peerOffer`, `peerAnswer`, `peerIce` and `signal` go to the one peer they
//! name, stamped with the real sender's id. Payloads are relayed untouched (SDP is never parsed).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use app::protocol::signal::{
    parse_relay, ClientMap, Clients, PeerAnswer, PeerEntry, PeerIce, PeerOffer, Relayed,
    SignalEvent, NAMESPACE,
};
use app::protocol::{Event, RawArgs, Receipt, Rejection};
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::SocketIo;

use crate::events::{self, broadcast, emit};

/// Who is connected to `/signal`. Cheap to clone.
#[derive(Clone, Default)]
pub struct Peers {
    ids: Arc<Mutex<BTreeSet<Sid>>>,
}

impl Peers {
    fn join(&self, sid: Sid) -> ClientMap {
        let mut ids = self.lock();
        ids.insert(sid);
        Self::map(&ids)
    }

    fn leave(&self, sid: Sid) -> ClientMap {
        let mut ids = self.lock();
        ids.remove(&sid);
        Self::map(&ids)
    }

    fn map(ids: &BTreeSet<Sid>) -> ClientMap {
        ids.iter()
            .map(|sid| {
                (
                    sid.to_string(),
                    PeerEntry {
                        id: sid.to_string(),
                    },
                )
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<Sid>> {
        self.ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Registers the namespace; `Peers` must be in the socket.io state.
pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, on_connect);
}

async fn on_connect(socket: SocketRef, io: SocketIo, State(peers): State<Peers>) {
    events::connected(&socket);
    socket.on(PeerOffer::NAME, on_relay::<PeerOffer>);
    socket.on(PeerAnswer::NAME, on_relay::<PeerAnswer>);
    socket.on(PeerIce::NAME, on_relay::<PeerIce>);
    socket.on(SignalEvent::NAME, on_relay::<SignalEvent>);
    socket.on_disconnect(on_disconnect);
    // The map is built under the lock, so concurrent joins never broadcast a stale list last.
    let clients = peers.join(socket.id);
    broadcast::<Clients>(&io, NAMESPACE, &(clients,)).await;
}

async fn on_disconnect(
    socket: SocketRef,
    io: SocketIo,
    State(peers): State<Peers>,
    reason: DisconnectReason,
) {
    events::disconnected(&socket, reason);
    let clients = peers.leave(socket.id);
    broadcast::<Clients>(&io, NAMESPACE, &(clients,)).await;
}

/// Relays `E` to the peer it names; an acknowledgement, when asked for, says whether it went.
async fn on_relay<E: Event>(
    socket: SocketRef,
    io: SocketIo,
    ack: AckSender,
    Data(args): Data<RawArgs>,
) {
    let outcome = parse_relay(&args)
        .inspect_err(|rejection| {
            tracing::warn!(ns = NAMESPACE, sid = %socket.id, event = E::NAME, reason = %rejection, "rejected input")
        })
        .and_then(|(target, payload)| {
            let unknown = || Rejection::new("That peer is not connected.");
            let sid: Sid = target.parse().map_err(|_| unknown())?;
            let peer = io.of(NAMESPACE).and_then(|ns| ns.get_socket(sid)).ok_or_else(unknown)?;
            emit::<Relayed<E>>(&peer, &(target, payload, socket.id.to_string()));
            Ok(())
        });
    let receipt = match &outcome {
        Ok(()) => Receipt::delivered(),
        Err(rejection) => Receipt::refused(rejection),
    };
    if let Err(error) = ack.send(&(receipt,)) {
        tracing::debug!(sid = %socket.id, %error, "could not acknowledge a signal");
    }
}
