//! The meeting's full mesh: one [`Peer`] per other member, each with the tile that shows it.
//! The newer member of a pair offers; who is polite follows from the two ids, so two members
//! never both are.

use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use web_sys::MediaStream;

use crate::config::IceServer;
use crate::protocol::meet::{Member, MemberName, PeerMessage};
use crate::protocol::signal::SignalData;
use crate::protocol::PeerId;
use crate::webrtc::negotiation::polite;
use crate::webrtc::signalling::StreamSlot;
use crate::webrtc::{Peer, PeerEvent, PeerOptions};

/// What the grid shows of another member.
#[derive(Clone, Copy)]
pub struct Tile {
    pub stream: StreamSlot,
    pub muted: RwSignal<bool>,
    pub camera_off: RwSignal<bool>,
    pub connected: RwSignal<bool>,
}

/// Everyone else in the room, in the order they came.
#[derive(Clone, Copy)]
pub struct Mesh {
    pub members: RwSignal<Vec<(Member, Tile)>>,
    peers: StoredValue<HashMap<PeerId, Peer>, LocalStorage>,
}

/// Sends a signal to a member through the server.
pub type Say = Rc<dyn Fn(&PeerId, SignalData)>;

/// What the mesh needs from the page.
#[derive(Clone)]
pub struct Links {
    pub me: PeerId,
    pub ice_servers: Vec<IceServer>,
    pub stream: Option<MediaStream>,
    pub say: Say,
    /// A chat line from a member (their name, the text).
    pub heard: Rc<dyn Fn(MemberName, String)>,
    /// Our state, sent to each member once connected.
    pub state: Rc<dyn Fn() -> PeerMessage>,
}

impl Mesh {
    pub fn new() -> Mesh {
        Mesh {
            members: RwSignal::new(Vec::new()),
            peers: StoredValue::new_local(HashMap::new()),
        }
    }

    /// Adds `member` and connects to it; we offer if `we_offer` (we are the newcomer).
    pub fn add(&self, member: Member, we_offer: bool, links: &Links) {
        if self.peers.with_value(|p| p.contains_key(&member.id)) {
            return;
        }
        let tile = Tile {
            stream: RwSignal::new_local(None),
            muted: RwSignal::new(false),
            camera_off: RwSignal::new(false),
            connected: RwSignal::new(false),
        };
        let options = PeerOptions {
            initiator: we_offer,
            polite: polite(links.me.as_str(), member.id.as_str()),
            ice_servers: links.ice_servers.clone(),
            stream: links.stream.clone(),
            data_channel: true,
        };
        let (id, name, mesh, links) =
            (member.id.clone(), member.name.clone(), *self, links.clone());
        let created = Peer::new(options, move |event| match event {
            PeerEvent::Signal(data) => (links.say)(&id, data),
            PeerEvent::Connect => {
                tile.connected.set(true);
                mesh.tell(&id, &(links.state)());
            }
            PeerEvent::Stream(stream) => tile.stream.set(Some(stream)),
            PeerEvent::Data(text) => match serde_json::from_str::<PeerMessage>(&text) {
                Ok(PeerMessage::State { muted, camera_off }) => {
                    tile.muted.set(muted);
                    tile.camera_off.set(camera_off);
                }
                Ok(PeerMessage::Chat { text }) => (links.heard)(name.clone(), text),
                Err(_) => leptos::logging::warn!("meet: an unreadable message from {id}"),
            },
            PeerEvent::Error(error) => leptos::logging::warn!("meet: {id}: {error}"),
            // The connection failed or ended: the member is gone from our grid.
            PeerEvent::Close => mesh.remove(&id),
        });
        match created {
            Ok(peer) => {
                self.peers
                    .update_value(|p| drop(p.insert(member.id.clone(), peer)));
                self.members.update(|m| m.push((member, tile)));
            }
            Err(error) => leptos::logging::warn!("meet: no connection to {}: {error}", member.id),
        }
    }

    /// Hands a member's signal to its connection.
    pub fn signal(&self, from: &PeerId, data: SignalData) {
        if let Some(peer) = self.peers.with_value(|p| p.get(from).cloned()) {
            peer.signal(data);
        }
    }

    pub fn remove(&self, id: &PeerId) {
        let peer = self.peers.try_update_value(|p| p.remove(id)).flatten();
        self.members
            .update(|m| m.retain(|(member, _)| member.id != *id));
        if let Some(peer) = peer {
            peer.destroy();
        }
    }

    pub fn clear(&self) {
        let ids: Vec<PeerId> = self.peers.with_value(|p| p.keys().cloned().collect());
        for id in ids {
            self.remove(&id);
        }
        self.members.set(Vec::new());
    }

    /// Sends `message` to one member, if connected.
    fn tell(&self, to: &PeerId, message: &PeerMessage) {
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        if let Some(peer) = self.peers.with_value(|p| p.get(to).cloned()) {
            let _ = peer.send(&text);
        }
    }

    /// Sends `message` to every connected member; how many it reached.
    pub fn tell_all(&self, message: &PeerMessage) -> usize {
        let Ok(text) = serde_json::to_string(message) else {
            return 0;
        };
        let peers: Vec<Peer> = self.peers.with_value(|p| p.values().cloned().collect());
        peers.iter().filter(|peer| peer.send(&text).is_ok()).count()
    }
}
