//! `/meet`: rooms for a video meeting. The server keeps who is in which room (`rooms.rs`: in
//! this process, or in the cluster's Redis, so a room can span nodes) and tells a room's
//! members of joins and leaves. The media go one of two ways (`--meet-media`): through the
//! server's SFU (`sfu/`, rooms of up to `--meet-capacity`; in a cluster, the SFU of the node
//! that holds the room), which a seated member's `media-offer` connects it to; or in a mesh of
//! up to four, browser to browser, for which the server relays WebRTC signals between members
//! of one room only, untouched.

use std::sync::Arc;

use app::protocol::meet::{
    Join, Joined, Leave, MediaAnswer, MediaOffer, Meet, Member, MemberJoined, MemberLeft,
    MemberName, RoomName, RoomView, SendSignal, SessionDescription, Signal,
};
use app::protocol::{Nothing, Payload, PeerId, Rejection, RelayEvent};
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::contract::{self, Cx, Listener, Served, Shared};
use crate::rooms::Rooms;

/// Who sits in which meeting room.
type MeetRooms = Rooms<RoomName, Member>;

/// The socket.io room of a meeting's members (how events reach all of them, on every node).
fn channel(room: &RoomName) -> String {
    format!("meet:{room}")
}

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    let rooms = MeetRooms::new("meet", shared.meet.capacity, shared.cluster.clone());
    contract::serve(io, shared, rooms, listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Meet, MeetRooms, A>) {
    on.on::<Join, _, _>(join);
    on.on::<Leave, _, _>(leave);
    on.on::<SendSignal, _, _>(signal);
    on.on::<MediaOffer, _, _>(media);
    on.on_disconnect(gone::<A>);
}

/// Seats the client in a room and tells it and the room.
///
/// The invariant the pages build on: of any two members A and B of a room, the one seated
/// later finds the other in its `room` reply, and the one seated earlier hears `joined` of
/// the later one; never neither. Why it holds, on one node and across a cluster:
/// - Seats are taken in one order everyone agrees on (`rooms.rs`: one lock in a process,
///   one Redis script in a cluster), and a seat is taken together with reading the others.
/// - The newcomer joins the room's channel *before* it takes its seat, and announces itself
///   *after*. So every member seated before it is in the channel when it announces itself,
///   and every member seated after it finds it in its reply.
/// - Leaving mirrors it (see [`exit`]): out of the channel, then the seat freed, then `left`
///   announced. Whoever was seated while the leaver still sat hears `left`; whoever came
///   after does not find it in its reply. No ghost either way.
///
/// What the network may still do, the page absorbs: an early member's own `joined` can reach
/// a later one who already had it in its reply (deduplicated: the later one offers, the earlier
/// one waits for its offer), and in a cluster a `joined` or `left` can overtake the `room`
/// reply (they travel over different Redis connections): the page holds those until its reply
/// has come, then applies them.
async fn join<A: Adapter>(
    cx: Cx<Meet, MeetRooms, A>,
    (room, name): (RoomName, MemberName),
) -> Result<(), Rejection> {
    let me = cx.id();
    if let Some(current) = cx.state.room_of(&me) {
        return Err(Rejection::new(format!(
            "You are in the room {current} already: leave it first."
        )));
    }
    cx.socket.join(channel(&room));
    let member = Member {
        id: me.clone(),
        name,
    };
    let entered = match cx.state.enter(&me, &room, member.clone(), None).await {
        Ok(entered) => entered,
        Err(no_seat) => {
            cx.socket.leave(channel(&room));
            let capacity = cx.nsp.shared().meet.capacity;
            return Err(no_seat.rejection(&format!(
                "This room is full: {capacity} people are in it already."
            )));
        }
    };
    cx.reply::<Joined>(&(RoomView {
        room: room.clone(),
        you: me,
        members: entered.others,
    },));
    cx.nsp
        .broadcast_in_from::<MemberJoined>(&cx.socket, &channel(&room), &(member,))
        .await;
    Ok(())
}

async fn leave<A: Adapter>(cx: Cx<Meet, MeetRooms, A>, _: Nothing) -> Result<(), Rejection> {
    exit(&cx).await;
    Ok(())
}

async fn gone<A: Adapter>(cx: Cx<Meet, MeetRooms, A>, _: DisconnectReason) {
    exit(&cx).await;
}

/// Takes the client out of its room, if it is in one, and tells the others: out of the
/// channel first, then the seat freed, then `left` (the order [`join`] relies on).
async fn exit<A: Adapter>(cx: &Cx<Meet, MeetRooms, A>) {
    let me = cx.id();
    let Some(room) = cx.state.room_of(&me) else {
        return;
    };
    cx.socket.leave(channel(&room));
    if let Some(sfu) = &cx.nsp.shared().meet.sfu {
        sfu.leave(me.clone());
    }
    cx.state.exit(&me).await;
    cx.nsp
        .broadcast_in::<MemberLeft>(&channel(&room), &(me,))
        .await;
}

/// Relays a signal to another member of the sender's room, and to nobody else.
async fn signal<A: Adapter>(
    cx: Cx<Meet, MeetRooms, A>,
    (to, data): (PeerId, Payload<app::protocol::signal::SignalData>),
) -> Result<(), Rejection> {
    let me = cx.id();
    if !cx.state.same_room(&me, &to).await {
        cx.nsp.metrics().misaddressed();
        return Err(Rejection::new(SendSignal::RULES.unknown_target));
    }
    let args = SendSignal::delivered(to.clone(), data, me);
    match cx.nsp.socket(&to) {
        Some(peer) => cx.nsp.emit::<Signal>(&peer, &args),
        // Seated, so connected to some node (until its lease runs out).
        None => cx.nsp.emit_elsewhere::<Signal>(&to, &args).await,
    }
    Ok(())
}

/// Connects a seated member to the SFU: its offer in, the server's answer out.
async fn media<A: Adapter>(
    cx: Cx<Meet, MeetRooms, A>,
    (offer,): (SessionDescription,),
) -> Result<(), Rejection> {
    let Some(sfu) = cx.nsp.shared().meet.sfu.clone() else {
        return Err(Rejection::new(
            "This server's meetings are browser to browser: send signals, not a media offer.",
        ));
    };
    let me = cx.id();
    let Some(room) = cx.state.room_of(&me) else {
        return Err(Rejection::new("Join a room before you send your media."));
    };
    let answer = sfu
        .join(room, me, offer.into())
        .await
        .map_err(Rejection::new)?;
    let answer = SessionDescription::parse(&answer)?;
    cx.reply::<MediaAnswer>(&(answer,));
    Ok(())
}
