//! Where a meeting's media go, as the page sees it: a mesh of connections to every other
//! member, or one connection to the server's SFU. The server says which (`SiteConfig::meet`);
//! the page asks both the same things.

use leptos::prelude::*;

use crate::protocol::meet::PeerMessage;
use crate::protocol::PeerId;
use crate::webrtc::mesh::{Links, Mesh, Other, Tile};
use crate::webrtc::sfu_room::{SfuLinks, SfuRoom};

/// Both ways a room's media can go; `sfu` says which one is in use. Cheap to copy.
#[derive(Clone, Copy)]
pub struct RoomMedia {
    pub mesh: Mesh,
    pub sfu: SfuRoom,
    pub via_sfu: RwSignal<bool>,
}

impl RoomMedia {
    pub fn new() -> RoomMedia {
        RoomMedia {
            mesh: Mesh::new(),
            sfu: SfuRoom::new(),
            via_sfu: RwSignal::new(false),
        }
    }

    /// The other members and their tiles (tracked).
    pub fn members(&self) -> Vec<(Other, Tile)> {
        if self.via_sfu.get() {
            self.sfu.members.get()
        } else {
            self.mesh.members.get()
        }
    }

    fn members_untracked(&self) -> Vec<(Other, Tile)> {
        if self.via_sfu.get_untracked() {
            self.sfu.members.get_untracked()
        } else {
            self.mesh.members.get_untracked()
        }
    }

    /// We are in the room: connect (to the server, or later to each member).
    pub fn start(&self, mesh: Links, sfu: SfuLinks) {
        if self.via_sfu.get_untracked() {
            self.sfu.start(sfu);
        } else {
            self.mesh.start(mesh);
        }
    }

    /// A member to show (and in a mesh, connect to: we offer if `offering`); whether it was
    /// new.
    pub fn add(&self, member: Other, offering: bool) -> bool {
        if self.via_sfu.get_untracked() {
            self.sfu.add(member)
        } else {
            self.mesh.add(member, offering)
        }
    }

    /// Takes a member out; its name, if it was there.
    pub fn remove(&self, id: &PeerId) -> Option<String> {
        let name = self
            .members_untracked()
            .into_iter()
            .find(|(member, _)| member.id == *id)
            .map(|(member, _)| member.name);
        self.mesh.remove(id);
        self.sfu.remove(id);
        name
    }

    pub fn clear(&self) {
        self.mesh.clear();
        self.sfu.clear();
    }

    pub fn tell_all(&self, message: &PeerMessage) -> usize {
        if self.via_sfu.get_untracked() {
            self.sfu.tell_all(message)
        } else {
            self.mesh.tell_all(message)
        }
    }
}
