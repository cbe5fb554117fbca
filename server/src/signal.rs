//! `/signal`: the WebRTC signalling server. Everyone gets the list of clients on every connect
//! and disconnect; `peerOffer`, `peerAnswer`, `peerIce` and `signal` go to the one peer they
//! name, stamped with the real sender's id. Payloads are relayed untouched (SDP is never parsed).

use std::sync::Arc;

use app::protocol::signal::{
    ClientMap, Clients, PeerAnswer, PeerEntry, PeerIce, PeerOffer, SignalEvent, Signalling,
};
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::contract::{self, Cx, Listener, Nsp, Served, Shared};
use crate::relay::relay;

/// Serialises the `clients` announcements: each one lists the namespace as it is when sent,
/// and two joins at once cannot deliver an older list last.
#[derive(Clone, Default)]
pub struct Roster {
    announcing: Arc<tokio::sync::Mutex<()>>,
}

impl Roster {
    async fn announce<A: Adapter>(&self, nsp: &Nsp<Signalling, A>) {
        let _one_at_a_time = self.announcing.lock().await;
        let clients: ClientMap = nsp
            .sockets()
            .into_iter()
            .map(|socket| {
                let id = socket.id.to_string();
                (id.clone(), PeerEntry { id })
            })
            .collect();
        nsp.broadcast::<Clients>(&(clients,)).await;
    }
}

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    contract::serve(io, shared, Roster::default(), listen::<A>, joined::<A>)
}

fn listen<A: Adapter>(on: &Listener<Signalling, Roster, A>) {
    on.on::<PeerOffer, _, _>(relay::<PeerOffer, Roster, A>);
    on.on::<PeerAnswer, _, _>(relay::<PeerAnswer, Roster, A>);
    on.on::<PeerIce, _, _>(relay::<PeerIce, Roster, A>);
    on.on::<SignalEvent, _, _>(relay::<SignalEvent, Roster, A>);
    on.on_disconnect(left::<A>);
}

async fn joined<A: Adapter>(cx: Cx<Signalling, Roster, A>) {
    cx.state.announce(&cx.nsp).await;
}

async fn left<A: Adapter>(cx: Cx<Signalling, Roster, A>, _: DisconnectReason) {
    // This socket is no longer `connected()`, so the list leaves it out.
    cx.state.announce(&cx.nsp).await;
}
