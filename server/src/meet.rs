//! `/meet`: rooms of up to four for a video meeting. The server keeps who is in which room,
//! tells a room's members of joins and leaves, and relays WebRTC signals between members of
//! one room only, untouched. In a cluster each node's members carry their room and name in the
//! node's member list, so a room can span nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::protocol::meet::{
    Join, Joined, Leave, Meet, Member, MemberJoined, MemberLeft, MemberName, RoomName, RoomView,
    SendSignal, ROOM_CAPACITY,
};
use app::protocol::{Nothing, Payload, PeerId, Rejection, RelayEvent};
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::cluster::Members;
use crate::contract::{self, Cx, Listener, Nsp, Served, Shared};
use crate::relay::relay;
use crate::sync::lock;

/// Who is in which room. Cheap to clone.
#[derive(Clone, Default)]
pub struct Rooms {
    /// This node's members, by socket id.
    here: Arc<Mutex<HashMap<PeerId, (RoomName, MemberName)>>>,
    /// The other nodes' members, in cluster mode (labelled with their room and name).
    elsewhere: Option<Arc<Members>>,
}

/// A member's label in the cluster's member list: its room and name.
fn label(room: &RoomName, name: &MemberName) -> String {
    serde_json::to_string(&(room, name)).unwrap_or_default()
}

fn read_label(label: &str) -> Option<(RoomName, MemberName)> {
    serde_json::from_str(label).ok()
}

/// The socket.io room of a meeting's members (how events reach all of them, on every node).
fn channel(room: &RoomName) -> String {
    format!("meet:{room}")
}

impl Rooms {
    /// The members of `room` on every node, oldest first on this one.
    fn members_of(
        here: &HashMap<PeerId, (RoomName, MemberName)>,
        elsewhere: Option<&Arc<Members>>,
        room: &RoomName,
    ) -> Vec<Member> {
        let local = here
            .iter()
            .filter(|(_, (r, _))| r == room)
            .map(|(id, (_, name))| Member {
                id: id.clone(),
                name: name.clone(),
            });
        let remote = elsewhere
            .map(|members| members.remote())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(id, label)| {
                let (r, name) = read_label(&label)?;
                (r == *room).then(|| Member {
                    id: PeerId::of_socket(id),
                    name,
                })
            });
        local.chain(remote).collect()
    }

    /// Adds `id` to `room` if there is space; the members who were there before it.
    fn enter(
        &self,
        id: &PeerId,
        room: &RoomName,
        name: &MemberName,
    ) -> Result<Vec<Member>, Rejection> {
        let mut here = lock(&self.here);
        let members = Self::members_of(&here, self.elsewhere.as_ref(), room);
        if members.len() >= ROOM_CAPACITY {
            return Err(Rejection::new(format!(
                "This room is full: {ROOM_CAPACITY} people are in it already."
            )));
        }
        here.insert(id.clone(), (room.clone(), name.clone()));
        if let Some(elsewhere) = &self.elsewhere {
            elsewhere.joined_as(id.as_str(), &label(room, name));
        }
        Ok(members)
    }

    /// Takes `id` out of its room; the room it was in. A socket that stays connected keeps
    /// its place in the member list, without a room.
    fn exit(&self, id: &PeerId, stays: bool) -> Option<RoomName> {
        let (room, _) = lock(&self.here).remove(id)?;
        if let Some(elsewhere) = self.elsewhere.as_ref().filter(|_| stays) {
            elsewhere.joined(id.as_str());
        }
        Some(room)
    }

    /// Whether `b` is in `a`'s room (on this node or another): what a relay may cross.
    fn same_room(&self, a: &PeerId, b: &PeerId) -> bool {
        let here = lock(&self.here);
        let Some((room, _)) = here.get(a) else {
            return false;
        };
        if let Some((theirs, _)) = here.get(b) {
            return theirs == room;
        }
        self.elsewhere
            .as_ref()
            .and_then(|members| members.remote_label(b.as_str()))
            .and_then(|label| read_label(&label))
            .is_some_and(|(theirs, _)| theirs == *room)
    }
}

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    let nsp = Nsp::<Meet, A>::new(io, shared);
    let rooms = Rooms {
        here: Arc::default(),
        elsewhere: nsp.cluster_members().cloned(),
    };
    contract::serve(io, shared, rooms, listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Meet, Rooms, A>) {
    on.on::<Join, _, _>(join);
    on.on::<Leave, _, _>(leave);
    on.on::<SendSignal, _, _>(signal);
    on.on_disconnect(gone::<A>);
}

async fn join<A: Adapter>(
    cx: Cx<Meet, Rooms, A>,
    (room, name): (RoomName, MemberName),
) -> Result<(), Rejection> {
    let me = cx.id();
    exit(&cx, true).await;
    let members = cx.state.enter(&me, &room, &name)?;
    cx.reply::<Joined>(&(RoomView {
        room: room.clone(),
        you: me.clone(),
        members,
    },));
    let joined = Member { id: me, name };
    cx.nsp
        .broadcast_in::<MemberJoined>(&channel(&room), &(joined,))
        .await;
    cx.socket.join(channel(&room));
    Ok(())
}

async fn leave<A: Adapter>(cx: Cx<Meet, Rooms, A>, _: Nothing) -> Result<(), Rejection> {
    exit(&cx, true).await;
    Ok(())
}

async fn gone<A: Adapter>(cx: Cx<Meet, Rooms, A>, _: DisconnectReason) {
    exit(&cx, false).await;
}

/// Takes the client out of its room, if it is in one, and tells the others.
async fn exit<A: Adapter>(cx: &Cx<Meet, Rooms, A>, stays: bool) {
    let me = cx.id();
    if let Some(room) = cx.state.exit(&me, stays) {
        cx.socket.leave(channel(&room));
        cx.nsp
            .broadcast_in::<MemberLeft>(&channel(&room), &(me,))
            .await;
    }
}

/// Relays a signal to another member of the sender's room, and to nobody else.
async fn signal<A: Adapter>(
    cx: Cx<Meet, Rooms, A>,
    (to, data): (PeerId, Payload<app::protocol::signal::SignalData>),
) -> Result<(), Rejection> {
    if !cx.state.same_room(&cx.id(), &to) {
        return Err(Rejection::new(SendSignal::RULES.unknown_target));
    }
    relay::<SendSignal, Rooms, A>(cx, (to, data)).await
}
