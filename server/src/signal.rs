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
    /// Sends this node's clients the list of every client (of the whole cluster). Each node
    /// tells its own clients, on every change there or elsewhere.
    async fn announce<A: Adapter>(&self, nsp: &Nsp<Signalling, A>) {
        let _one_at_a_time = self.announcing.lock().await;
        let local = nsp
            .sockets()
            .into_iter()
            .map(|socket| socket.id.to_string());
        let ids: Vec<String> = match nsp.cluster_members() {
            Some(members) => members.all().into_iter().chain(local).collect(),
            None => local.collect(),
        };
        let clients: ClientMap = ids
            .into_iter()
            .map(|id| (id.clone(), PeerEntry { id }))
            .collect();
        nsp.broadcast_here::<Clients>(&(clients,));
    }
}

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    let roster = Roster::default();
    let nsp = Nsp::<Signalling, A>::new(io, shared);
    if let Some(members) = nsp.cluster_members() {
        // Somebody came or went on another node (or a node died): tell ours.
        let (mut changes, roster) = (members.remote_changes(), roster.clone());
        shared.tasks.spawn(async move {
            while changes.changed().await.is_ok() {
                roster.announce(&nsp).await;
            }
        });
    }
    contract::serve(io, shared, roster, listen::<A>, joined::<A>)
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
