//! A room's full mesh: one [`Peer`] per other member, each with the tile that shows it, and
//! what heals a pair the network (or timing) broke.
//!
//! Rules, the same on every page that uses it:
//! - One connection per pair. The newer member of a pair offers (the server's `room` reply
//!   names the older ones); who is polite follows from the two ids, so when both offer at
//!   once perfect negotiation still ends in one connection.
//! - A signal from a member not known yet (its `joined` is still on its way) is kept, in
//!   order, and handed over when it is added; kept signals are bounded and expire.
//! - A pair not connected within [`CONNECT_WITHIN`] is tried again with a fresh connection,
//!   driven by its offering side: it drops its connection, sends `bye` (on a mesh, "forget our
//!   connection: a new offer follows"), and offers again. After [`ATTEMPTS`] the tile says
//!   "could not connect to NAME" instead of staying empty for good.
//! - A connected pair whose media stops (the network changed: Wi-Fi to mobile data, a relay
//!   restarted) is reconnecting. If it is not back within [`RESTART_AFTER`] (at once when the
//!   browser says it failed), its offering side restarts ICE on the same connection with a
//!   fresh ICE configuration, and again each [`CONNECT_WITHIN`] it stays away; the last of
//!   the [`ATTEMPTS`] is a fresh connection as above; then the tile says "could not reconnect
//!   to NAME".

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use web_sys::MediaStream;

use super::ice::Ice;
use super::negotiation::polite;
use super::signalling::StreamSlot;
use super::{Peer, PeerEvent, PeerOptions};
use crate::protocol::meet::PeerMessage;
use crate::protocol::signal::SignalData;
use crate::protocol::PeerId;

/// How long a pair may take to connect before its offering side starts afresh.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(8);
/// Connections an offering side tries before it gives up on a member.
pub const ATTEMPTS: u32 = 3;
/// How long a connected pair's media may stop before its offering side restarts ICE (a short
/// gap often heals by itself, and a restart costs a round of signalling).
pub const RESTART_AFTER: Duration = Duration::from_secs(2);
/// Signals kept per member not known yet, and for how long (ms).
const KEEP_SIGNALS: usize = 64;
const KEEP_SIGNALS_MS: f64 = 15_000.0;

/// Where a pair's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    /// It was connected and its media stopped: an ICE restart (or a fresh connection) is
    /// under way.
    Reconnecting,
    /// Every attempt to connect failed; the tile says so.
    Failed,
    /// It was connected, and every attempt to reconnect failed.
    Lost,
}

/// Another member of the room, as the mesh knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    pub id: PeerId,
    /// What the page calls it ("Ada", "the other person").
    pub name: String,
}

/// What the grid shows of another member.
#[derive(Clone, Copy)]
pub struct Tile {
    pub stream: StreamSlot,
    pub muted: RwSignal<bool>,
    pub camera_off: RwSignal<bool>,
    pub link: RwSignal<Link>,
}

/// Sends a signal to a member through the server.
pub type Say = Rc<dyn Fn(&PeerId, SignalData)>;

/// What the mesh needs from the page.
#[derive(Clone)]
pub struct Links {
    pub me: PeerId,
    pub ice: Ice,
    pub stream: Option<MediaStream>,
    pub say: Say,
    /// A chat line from a member (their name, the text).
    pub heard: Rc<dyn Fn(String, String)>,
    /// Our state, sent to each member once connected.
    pub state: Rc<dyn Fn() -> PeerMessage>,
}

/// One member's connection.
struct Conn {
    peer: Option<Peer>,
    /// Bumped for every fresh connection: events of an older one are ignored.
    generation: u32,
    /// We offer (we are the newer of the pair).
    offering: bool,
    /// Timers that ran out since the last connection.
    expired: u32,
    /// Interruptions of this pair so far: a reconnection's timer belongs to one of them.
    interruptions: u32,
    /// The generation that connected last (an ICE restart only helps a connection that did).
    connected: Option<u32>,
    tile: Tile,
    name: String,
}

/// Where a page is with its room: out, asked to join (news of the room is held until the
/// reply comes: in a cluster it can overtake the reply), or in. Cheap to copy.
pub struct RoomSeat<N: 'static> {
    state: StoredValue<SeatState<N>, LocalStorage>,
}

impl<N> Clone for RoomSeat<N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N> Copy for RoomSeat<N> {}

enum SeatState<N> {
    Out,
    Asked(Vec<N>),
    In,
}

impl<N: 'static> Default for RoomSeat<N> {
    fn default() -> Self {
        RoomSeat {
            state: StoredValue::new_local(SeatState::Out),
        }
    }
}

impl<N: 'static> RoomSeat<N> {
    /// We asked to join: hold the room's news until the reply.
    pub fn ask(&self) {
        self.state.set_value(SeatState::Asked(Vec::new()));
    }

    /// We left, or were refused: the room's news is none of ours.
    pub fn leave(&self) {
        self.state.set_value(SeatState::Out);
    }

    /// News of the room: returned when it is to be applied now; held (or dropped) otherwise.
    pub fn news(&self, news: N) -> Option<N> {
        self.state
            .try_update_value(|state| match state {
                SeatState::Asked(held) => {
                    held.push(news);
                    None
                }
                SeatState::In => Some(news),
                SeatState::Out => None,
            })
            .flatten()
    }

    /// The reply came: we are in; the news held meanwhile, to apply in order.
    pub fn entered(&self) -> Vec<N> {
        match self
            .state
            .try_update_value(|state| std::mem::replace(state, SeatState::In))
        {
            Some(SeatState::Asked(held)) => held,
            _ => Vec::new(),
        }
    }
}

/// Signals from a member not known yet.
struct Kept {
    since: f64,
    signals: Vec<SignalData>,
}

/// Everyone else in the room, in the order they came. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Mesh {
    pub members: RwSignal<Vec<(Other, Tile)>>,
    conns: StoredValue<HashMap<PeerId, Conn>, LocalStorage>,
    kept: StoredValue<HashMap<PeerId, Kept>, LocalStorage>,
    links: StoredValue<Option<Links>, LocalStorage>,
}

impl Default for Mesh {
    fn default() -> Self {
        Self::new()
    }
}

impl Mesh {
    pub fn new() -> Mesh {
        Mesh {
            members: RwSignal::new(Vec::new()),
            conns: StoredValue::new_local(HashMap::new()),
            kept: StoredValue::new_local(HashMap::new()),
            links: StoredValue::new_local(None),
        }
    }

    /// Starts over in a room: everyone known is dropped; `links` serve the new connections.
    pub fn start(&self, links: Links) {
        self.clear();
        self.links.set_value(Some(links));
    }

    /// Adds `member` and connects to it; we offer if `offering` (we are the newer one). A
    /// member known already is left as it is (the server may tell of it twice); whether it
    /// was new.
    pub fn add(&self, member: Other, offering: bool) -> bool {
        if self.conns.with_value(|c| c.contains_key(&member.id)) {
            return false;
        }
        let tile = Tile {
            stream: RwSignal::new_local(None),
            muted: RwSignal::new(false),
            camera_off: RwSignal::new(false),
            link: RwSignal::new(Link::Connecting),
        };
        let conn = Conn {
            peer: None,
            generation: 0,
            offering,
            expired: 0,
            interruptions: 0,
            connected: None,
            tile,
            name: member.name.clone(),
        };
        let id = member.id.clone();
        self.conns
            .update_value(|c| drop(c.insert(id.clone(), conn)));
        self.members.update(|m| m.push((member, tile)));
        self.connect(&id);
        let kept = self.kept.try_update_value(|k| k.remove(&id)).flatten();
        if let Some(kept) = kept.filter(|k| js_sys::Date::now() - k.since < KEEP_SIGNALS_MS) {
            for signal in kept.signals {
                self.signal(&id, signal);
            }
        }
        true
    }

    /// The connection to `id`, while there is one.
    pub fn peer(&self, id: &PeerId) -> Option<Peer> {
        self.conns
            .with_value(|c| c.get(id).and_then(|conn| conn.peer.clone()))
    }

    /// Hands a member's signal to its connection (or keeps it until the member is known).
    pub fn signal(&self, from: &PeerId, data: SignalData) {
        if !self.conns.with_value(|c| c.contains_key(from)) {
            return self.keep(from, data);
        }
        if data == SignalData::Bye {
            // Its side started afresh: so do we, and wait for its new offer.
            return self.restart(from, false);
        }
        let (peer, link) = self
            .conns
            .with_value(|c| {
                c.get(from)
                    .map(|c| (c.peer.clone(), c.tile.link.get_untracked()))
            })
            .unwrap_or((None, Link::Connecting));
        match peer {
            Some(peer) => peer.signal(data),
            // It gave up on us before, and offers again.
            None if matches!(link, Link::Failed | Link::Lost) => {
                self.restart(from, false);
                self.signal(from, data);
            }
            None => {}
        }
    }

    fn keep(&self, from: &PeerId, data: SignalData) {
        self.kept.update_value(|kept| {
            let now = js_sys::Date::now();
            kept.retain(|_, k| now - k.since < KEEP_SIGNALS_MS);
            let entry = kept.entry(from.clone()).or_insert_with(|| Kept {
                since: now,
                signals: Vec::new(),
            });
            if entry.signals.len() < KEEP_SIGNALS {
                entry.signals.push(data);
            }
        });
    }

    pub fn remove(&self, id: &PeerId) {
        self.kept.update_value(|k| drop(k.remove(id)));
        let conn = self.conns.try_update_value(|c| c.remove(id)).flatten();
        self.members
            .update(|m| m.retain(|(member, _)| member.id != *id));
        if let Some(peer) = conn.and_then(|c| c.peer) {
            peer.destroy();
        }
    }

    pub fn clear(&self) {
        let ids: Vec<PeerId> = self.conns.with_value(|c| c.keys().cloned().collect());
        for id in ids {
            self.remove(&id);
        }
        self.kept.update_value(HashMap::clear);
        self.members.set(Vec::new());
    }

    /// Drops the connection to `id` and opens a fresh one; `announce` tells the other side
    /// first (we are the offering side starting over).
    fn restart(&self, id: &PeerId, announce: bool) {
        let old = self
            .conns
            .try_update_value(|c| {
                let conn = c.get_mut(id)?;
                conn.generation += 1;
                if conn.tile.link.get_untracked() != Link::Reconnecting {
                    conn.tile.link.set(Link::Connecting);
                }
                conn.tile.stream.set(None);
                conn.peer.take()
            })
            .flatten();
        if let Some(old) = old {
            old.destroy();
        }
        if announce {
            if let Some(links) = self.links.get_value() {
                (links.say)(id, SignalData::Bye);
            }
        }
        self.connect(id);
    }

    /// Opens the connection of `id`'s current generation, and times it.
    fn connect(&self, id: &PeerId) {
        let Some(links) = self.links.get_value() else {
            return;
        };
        let Some((generation, offering, tile, name)) = self.conns.with_value(|c| {
            c.get(id)
                .map(|c| (c.generation, c.offering, c.tile, c.name.clone()))
        }) else {
            return;
        };
        let options = PeerOptions {
            initiator: offering,
            polite: polite(links.me.as_str(), id.as_str()),
            ice: links.ice.now(),
            stream: links.stream.clone(),
            data_channel: true,
        };
        let (mesh, other, said) = (*self, id.clone(), links.clone());
        let created = Peer::new(options, move |event| {
            if !mesh.is_current(&other, generation) {
                return;
            }
            match event {
                PeerEvent::Signal(data) => (said.say)(&other, data),
                PeerEvent::Connect => {
                    mesh.conns.update_value(|c| {
                        if let Some(c) = c.get_mut(&other) {
                            c.expired = 0;
                            c.connected = Some(generation);
                        }
                    });
                    tile.link.set(Link::Connected);
                    mesh.tell(&other, &(said.state)());
                }
                PeerEvent::Stream(stream) => tile.stream.set(Some(stream)),
                PeerEvent::Data(text) => match serde_json::from_str::<PeerMessage>(&text) {
                    Ok(PeerMessage::State { muted, camera_off }) => {
                        tile.muted.set(muted);
                        tile.camera_off.set(camera_off);
                    }
                    Ok(PeerMessage::Chat { text }) => (said.heard)(name.clone(), text),
                    Err(_) => leptos::logging::warn!("mesh: an unreadable message from {other}"),
                },
                PeerEvent::Interrupted { failed } => mesh.interrupted(&other, generation, failed),
                PeerEvent::Error(error) => leptos::logging::warn!("mesh: {other}: {error}"),
                PeerEvent::Close => mesh.lost(&other, generation),
            }
        });
        match created {
            Ok(peer) => {
                links.ice.track(&peer);
                self.conns.update_value(|c| {
                    if let Some(conn) = c.get_mut(id) {
                        conn.peer = Some(peer);
                    }
                });
                let (mesh, id) = (*self, id.clone());
                set_timeout(move || mesh.expire(&id, generation), CONNECT_WITHIN);
            }
            Err(error) => {
                leptos::logging::warn!("mesh: no connection to {id}: {error}");
                tile.link.set(Link::Failed);
            }
        }
    }

    fn is_current(&self, id: &PeerId, generation: u32) -> bool {
        self.conns
            .with_value(|c| c.get(id).is_some_and(|c| c.generation == generation))
    }

    /// `id`'s connection of `generation` has not connected in time.
    fn expire(&self, id: &PeerId, generation: u32) {
        let Some((offering, expired, link, restartable)) = self
            .conns
            .try_update_value(|c| {
                let conn = c.get_mut(id).filter(|c| c.generation == generation)?;
                let now = conn.tile.link.get_untracked();
                if !matches!(now, Link::Connecting | Link::Reconnecting) {
                    return None;
                }
                conn.expired += 1;
                let restartable = now == Link::Reconnecting && conn.connected == Some(generation);
                let episode = conn.interruptions;
                Some((
                    conn.offering,
                    conn.expired,
                    conn.tile.link,
                    restartable.then_some(episode),
                ))
            })
            .flatten()
        else {
            return;
        };
        if let (true, Some(episode)) = (offering && expired + 1 < ATTEMPTS, restartable) {
            self.reconnect(id, generation, episode, Duration::ZERO);
        } else if offering && expired < ATTEMPTS {
            self.restart(id, true);
        } else if !offering && expired <= ATTEMPTS {
            // The offering side drives the retries; we wait for its next one.
            let (mesh, id) = (*self, id.clone());
            set_timeout(move || mesh.expire(&id, generation), CONNECT_WITHIN);
        } else {
            self.give_up(id, link);
        }
    }

    /// `id`'s connection of `generation` stopped carrying media.
    fn interrupted(&self, id: &PeerId, generation: u32, failed: bool) {
        let Some((link, episode)) = self
            .conns
            .try_update_value(|c| {
                let conn = c.get_mut(id).filter(|c| c.generation == generation)?;
                let link = conn.tile.link.get_untracked();
                if link == Link::Connected {
                    conn.expired = 0;
                    conn.interruptions += 1;
                    conn.tile.link.set(Link::Reconnecting);
                }
                Some((link, conn.interruptions))
            })
            .flatten()
        else {
            return;
        };
        match link {
            // It never connected: the offering side starts afresh at once, as before.
            Link::Connecting if failed => self.lost(id, generation),
            Link::Connected => {
                let wait = if failed {
                    Duration::ZERO
                } else {
                    RESTART_AFTER
                };
                self.reconnect(id, generation, episode, wait);
            }
            // A reconnection's own timers pace it (a restart with the relay still away fails
            // at once, and should not use up the attempts).
            _ => {}
        }
    }

    /// After `wait`, the offering side restarts ICE; both sides give the connection
    /// [`CONNECT_WITHIN`] more to come back (timers of interruption `episode` only).
    fn reconnect(&self, id: &PeerId, generation: u32, episode: u32, wait: Duration) {
        let offering = self
            .conns
            .try_with_value(|c| c.get(id).is_some_and(|c| c.offering))
            .unwrap_or(false);
        let (mesh, id) = (*self, id.clone());
        if offering {
            let (mesh, id) = (mesh, id.clone());
            set_timeout(move || mesh.restart_ice(&id, generation), wait);
        }
        set_timeout(
            move || {
                // (Timers outlive the page: everything is read with `try_`.)
                let same = mesh
                    .conns
                    .try_with_value(|c| c.get(&id).is_some_and(|c| c.interruptions == episode))
                    .unwrap_or(false);
                if same {
                    mesh.expire(&id, generation);
                }
            },
            wait + CONNECT_WITHIN,
        );
    }

    /// Restarts ICE on `id`'s connection of `generation`, if it is still reconnecting, with
    /// the freshest ICE configuration.
    fn restart_ice(&self, id: &PeerId, generation: u32) {
        let Some(links) = self.links.try_get_value().flatten() else {
            return;
        };
        let (mesh, id) = (*self, id.clone());
        leptos::task::spawn_local(async move {
            let config = links.ice.fresh().await;
            let peer = mesh.conns.try_with_value(|c| {
                c.get(&id)
                    .filter(|c| c.generation == generation)
                    .filter(|c| c.tile.link.get_untracked() == Link::Reconnecting)
                    .and_then(|c| c.peer.clone())
            });
            if let Some(Err(error)) = peer.flatten().map(|peer| peer.restart_ice(&config)) {
                leptos::logging::warn!("mesh: {id}: no ICE restart: {error}");
            }
        });
    }

    /// `id`'s connection of `generation` failed or closed by itself.
    fn lost(&self, id: &PeerId, generation: u32) {
        let Some((offering, expired, link)) = self
            .conns
            .try_update_value(|c| {
                let conn = c.get_mut(id).filter(|c| c.generation == generation)?;
                conn.expired += 1;
                Some((conn.offering, conn.expired, conn.tile.link))
            })
            .flatten()
        else {
            return;
        };
        if expired < ATTEMPTS {
            // The offering side announces its fresh start; the other just gets ready for it.
            self.restart(id, offering);
        } else {
            self.give_up(id, link);
        }
    }

    fn give_up(&self, id: &PeerId, link: RwSignal<Link>) {
        let peer = self
            .conns
            .try_update_value(|c| {
                let conn = c.get_mut(id)?;
                // Its `Close` is ours, not news.
                conn.generation += 1;
                conn.peer.take()
            })
            .flatten();
        link.update(|link| {
            *link = match link {
                Link::Reconnecting | Link::Lost => Link::Lost,
                _ => Link::Failed,
            }
        });
        if let Some(peer) = peer {
            peer.destroy();
        }
    }

    /// Sends `message` to one member, if connected.
    fn tell(&self, to: &PeerId, message: &PeerMessage) {
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        if let Some(peer) = self
            .conns
            .with_value(|c| c.get(to).and_then(|c| c.peer.clone()))
        {
            let _ = peer.send(&text);
        }
    }

    /// Sends `message` to every connected member; how many it reached.
    pub fn tell_all(&self, message: &PeerMessage) -> usize {
        let Ok(text) = serde_json::to_string(message) else {
            return 0;
        };
        let peers: Vec<Peer> = self
            .conns
            .with_value(|c| c.values().filter_map(|c| c.peer.clone()).collect());
        peers.iter().filter(|peer| peer.send(&text).is_ok()).count()
    }
}
