//! `/call`: private calls of two, by link. A call is a room of two (`rooms.rs`, so it spans
//! the nodes of a cluster); the server tells a member when the other joins or leaves and
//! relays WebRTC signals to the other member of one's own call only. No list of sockets is
//! ever sent: a call page learns the id of the one person in its call, nobody else's.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use app::protocol::call::{
    Call, CallId, CallView, Join, Joined, Leave, MemberJoined, MemberLeft, SendSignal, Signal,
    CALL_CAPACITY,
};
use app::protocol::chat::SessionKey;
use app::protocol::signal::SignalData;
use app::protocol::{Nothing, Payload, PeerId, Rejection, RelayEvent};
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::contract::{self, Admission, Bucket, Cx, Listener, Rate, Served, Shared};
use crate::rooms::Rooms;
use crate::sync::lock;

/// Calls one connection may join: ten at once, then one every six seconds. A person who
/// hangs up and rejoins is never held back; a script opening calls by the thousand is.
const JOINS: Rate = Rate {
    per_second: 1.0 / 6.0,
    burst: 10.0,
};

/// Who is in which call (an entry is the member's id: there is nothing else to tell).
type Calls = Rooms<CallId, PeerId>;

/// The socket.io room of a call's members.
fn channel(call: &CallId) -> String {
    format!("call:{call}")
}

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    let calls = Calls::new("call", CALL_CAPACITY, shared.cluster.clone());
    contract::serve(io, shared, calls, listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Call, Calls, A>) {
    on.on::<Join, _, _>(join);
    on.on::<Leave, _, _>(leave);
    on.on::<SendSignal, _, _>(signal);
    on.on_disconnect(gone::<A>);
}

/// Joins a call, with the same invariant and order as a meeting (see `meet.rs`): in the
/// call's channel before taking the seat, announced after. A seat held with the same session
/// key is the page's previous connection (a reload the server has not noticed yet): it is
/// taken over, and that connection is closed.
async fn join<A: Adapter>(
    cx: Cx<Call, Calls, A>,
    (call, session): (CallId, Option<SessionKey>),
) -> Result<(), Rejection> {
    let me = cx.id();
    if cx.state.room_of(&me).is_some() {
        return Err(Rejection::new("You are in a call already: leave it first."));
    }
    if !may_join(&cx) {
        return Err(Rejection::new(
            "You are joining calls too fast: please wait a few seconds.",
        ));
    }
    cx.socket.join(channel(&call));
    let claim = session.as_ref().map(SessionKey::as_str);
    let entered = match cx.state.enter(&me, &call, me.clone(), claim).await {
        Ok(entered) => entered,
        Err(no_seat) => {
            cx.socket.leave(channel(&call));
            return Err(no_seat.rejection(
                "This call is full: two people are in it already. Start a call of your own.",
            ));
        }
    };
    if let Some(previous) = entered.replaced.and_then(|id| id.as_str().parse().ok()) {
        cx.nsp.hang_up(previous).await;
    }
    cx.reply::<Joined>(&(CallView {
        call: call.clone(),
        you: me.clone(),
        others: entered.others,
    },));
    cx.nsp
        .broadcast_in_from::<MemberJoined>(&cx.socket, &channel(&call), &(me,))
        .await;
    Ok(())
}

/// Takes one of the connection's joins (see [`JOINS`]).
fn may_join<A: Adapter>(cx: &Cx<Call, Calls, A>) -> bool {
    let joins = cx
        .socket
        .extensions
        .get::<Arc<Mutex<Bucket>>>()
        .unwrap_or_else(|| {
            let bucket = Arc::new(Mutex::new(Bucket::new(JOINS, Instant::now())));
            cx.socket.extensions.insert(bucket.clone());
            bucket
        });
    let admitted = matches!(lock(&joins).admit(Instant::now()), Admission::Admitted);
    admitted
}

async fn leave<A: Adapter>(cx: Cx<Call, Calls, A>, _: Nothing) -> Result<(), Rejection> {
    exit(&cx).await;
    Ok(())
}

async fn gone<A: Adapter>(cx: Cx<Call, Calls, A>, _: DisconnectReason) {
    exit(&cx).await;
}

/// Out of the channel, then the seat freed, then `left` (as in `meet.rs`).
async fn exit<A: Adapter>(cx: &Cx<Call, Calls, A>) {
    let me = cx.id();
    let Some(call) = cx.state.room_of(&me) else {
        return;
    };
    cx.socket.leave(channel(&call));
    cx.state.exit(&me).await;
    cx.nsp
        .broadcast_in::<MemberLeft>(&channel(&call), &(me,))
        .await;
}

/// Relays a signal to the other member of the sender's call; anyone else is refused (the
/// sender gets `callError`) and counted.
async fn signal<A: Adapter>(
    cx: Cx<Call, Calls, A>,
    (to, data): (PeerId, Payload<SignalData>),
) -> Result<(), Rejection> {
    let me = cx.id();
    if !cx.state.same_room(&me, &to).await {
        cx.nsp.metrics().misaddressed();
        return Err(Rejection::new(SendSignal::RULES.unknown_target));
    }
    let args = SendSignal::delivered(to.clone(), data, me);
    match cx.nsp.socket(&to) {
        Some(peer) => cx.nsp.emit::<Signal>(&peer, &args),
        None => cx.nsp.emit_elsewhere::<Signal>(&to, &args).await,
    }
    Ok(())
}
