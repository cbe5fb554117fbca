//! A room whose media go through the server's SFU: one [`SfuConnection`] for the whole room,
//! a tile per other member (the same [`Tile`] as a mesh's), a shared screen shown large, who
//! is pinned and who is speaking, and which layer of each camera to ask for.
//!
//! Rules:
//! - Streams and states can come before the member's `joined` (they travel another way):
//!   they are kept and given to its tile when it comes.
//! - The pinned member, or else the one speaking, gets the high layer; the others the medium
//!   one in a room of up to four tiles, the low one beyond (their tiles are small).
//! - A connection that stops is reconnecting; after [`RESTART_AFTER`] (at once when the
//!   browser says it failed) a fresh connection is made, which the server takes in place of
//!   the old one; after [`ATTEMPTS`] the page says the meeting's media are lost.

use std::collections::HashMap;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack};

use super::ice::Ice;
use super::mesh::{Link, Other, Tile, ATTEMPTS, CONNECT_WITHIN, RESTART_AFTER};
use super::sfu::{SfuConnection, SfuEvent};
use crate::protocol::meet::{Layer, PeerMessage};
use crate::protocol::PeerId;

/// How often audio levels are read for the active speaker.
const SPEAKER_EVERY_MS: u32 = 1_000;
/// An audio level (0 to 1) above which someone counts as speaking.
const SPEAKING: f64 = 0.02;
/// Tiles up to which cameras come at the medium layer.
const FEW_TILES: usize = 4;

/// What the room needs from the page.
#[derive(Clone)]
pub struct SfuLinks {
    pub ice: Ice,
    pub stream: Option<MediaStream>,
    /// Sends the first offer to the server (`media-offer`).
    pub offer: Rc<dyn Fn(String)>,
    /// A chat line from a member (their name, the text).
    pub heard: Rc<dyn Fn(String, String)>,
    /// Our state, sent once connected.
    pub state: Rc<dyn Fn() -> PeerMessage>,
    /// Something for the page's notice line.
    pub notice: Rc<dyn Fn(String)>,
}

/// What came for a member before its `joined`.
#[derive(Default)]
struct Early {
    stream: Option<MediaStream>,
    state: Option<(bool, bool)>,
}

/// A screen someone shares.
#[derive(Clone)]
pub struct Screen {
    pub member: PeerId,
    pub stream: MediaStream,
}

/// The room. Cheap to copy.
#[derive(Clone, Copy)]
pub struct SfuRoom {
    pub members: RwSignal<Vec<(Other, Tile)>>,
    /// Our connection to the server.
    pub link: RwSignal<Link>,
    pub screens: RwSignal<Vec<Screen>, LocalStorage>,
    pub pinned: RwSignal<Option<PeerId>>,
    pub speaking: RwSignal<Option<PeerId>>,
    /// Our own screen share, while it lasts.
    pub sharing: RwSignal<bool>,
    conn: StoredValue<Option<SfuConnection>, LocalStorage>,
    links: StoredValue<Option<SfuLinks>, LocalStorage>,
    early: StoredValue<HashMap<PeerId, Early>, LocalStorage>,
    wanted: StoredValue<HashMap<PeerId, Layer>, LocalStorage>,
    /// Bumped for every fresh connection: events of an older one are ignored.
    generation: StoredValue<u32>,
    attempts: StoredValue<u32>,
    /// First offers sent and not answered yet: the server answers them in order, so only
    /// the answer that brings this to 0 is for the connection we have now.
    owed: StoredValue<u32>,
    /// Whether a connection of this meeting ever worked (then failing is "lost").
    ever_connected: StoredValue<bool>,
}

impl Default for SfuRoom {
    fn default() -> Self {
        Self::new()
    }
}

impl SfuRoom {
    pub fn new() -> SfuRoom {
        let room = SfuRoom {
            members: RwSignal::new(Vec::new()),
            link: RwSignal::new(Link::Connecting),
            screens: RwSignal::new_local(Vec::new()),
            pinned: RwSignal::new(None),
            speaking: RwSignal::new(None),
            sharing: RwSignal::new(false),
            conn: StoredValue::new_local(None),
            links: StoredValue::new_local(None),
            early: StoredValue::new_local(HashMap::new()),
            wanted: StoredValue::new_local(HashMap::new()),
            generation: StoredValue::new(0),
            attempts: StoredValue::new(0),
            owed: StoredValue::new(0),
            ever_connected: StoredValue::new(false),
        };
        room.watch_speakers();
        Effect::new(move |_| {
            room.pinned.track();
            room.speaking.track();
            room.members.with(|m| m.len());
            room.ask_layers();
        });
        room
    }

    /// Starts over in a room: connects to the server with `links`.
    pub fn start(&self, links: SfuLinks) {
        self.clear();
        self.links.set_value(Some(links));
        self.attempts.set_value(0);
        self.owed.set_value(0);
        self.ever_connected.set_value(false);
        self.connect();
    }

    /// The server's answer to a first offer: used if it is the one to our latest.
    pub fn answer(&self, sdp: String) {
        let owed = self.owed.get_value().saturating_sub(1);
        self.owed.set_value(owed);
        if owed > 0 {
            return;
        }
        if let Some(conn) = self.conn.get_value() {
            conn.answer(sdp);
        }
    }

    /// Adds a member's tile (with what came for it already); whether it was new.
    pub fn add(&self, member: Other) -> bool {
        if self
            .members
            .with_untracked(|m| m.iter().any(|(o, _)| o.id == member.id))
        {
            return false;
        }
        let early = self
            .early
            .try_update_value(|e| e.remove(&member.id))
            .flatten()
            .unwrap_or_default();
        let (muted, camera_off) = early.state.unwrap_or_default();
        let tile = Tile {
            stream: RwSignal::new_local(early.stream),
            muted: RwSignal::new(muted),
            camera_off: RwSignal::new(camera_off),
            link: RwSignal::new(self.link.get_untracked()),
        };
        self.members.update(|m| m.push((member, tile)));
        true
    }

    pub fn remove(&self, id: &PeerId) {
        self.members.update(|m| m.retain(|(o, _)| o.id != *id));
        self.screens.update(|s| s.retain(|s| s.member != *id));
        self.early.update_value(|e| drop(e.remove(id)));
        self.wanted.update_value(|w| {
            w.remove(id);
        });
        if self.pinned.get_untracked().as_ref() == Some(id) {
            self.pinned.set(None);
        }
    }

    pub fn clear(&self) {
        if let Some(conn) = self.conn.try_update_value(Option::take).flatten() {
            conn.close();
        }
        self.generation.update_value(|g| *g += 1);
        self.members.set(Vec::new());
        self.screens.set(Vec::new());
        self.early.update_value(HashMap::clear);
        self.wanted.update_value(HashMap::clear);
        self.pinned.set(None);
        self.sharing.set(false);
    }

    /// Tells everyone `message`; how many it reached (all or none: one connection).
    pub fn tell_all(&self, message: &PeerMessage) -> usize {
        match self.conn.get_value().map(|c| c.say(message)) {
            Some(Ok(())) => self.members.with_untracked(Vec::len),
            _ => 0,
        }
    }

    /// Pins `id` (shown large, at the high layer), or unpins it.
    pub fn toggle_pin(&self, id: &PeerId) {
        self.pinned.update(|p| {
            *p = match p {
                Some(now) if now == id => None,
                _ => Some(id.clone()),
            }
        });
    }

    /// Shares `stream`'s video (from `getDisplayMedia`) with the room.
    pub fn share_screen(&self, stream: &MediaStream) -> Result<(), String> {
        let conn = self
            .conn
            .get_value()
            .ok_or("not connected to the meeting")?;
        let track = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map_err(|_| "no screen was chosen".to_owned())?;
        // The browser's own "Stop sharing" ends the track.
        let room = *self;
        let ended = wasm_bindgen::closure::Closure::once_into_js(move || room.stop_screen());
        track.set_onended(Some(ended.unchecked_ref()));
        conn.share_screen(&track)?;
        let _ = self.sharing.try_set(true);
        Ok(())
    }

    pub fn stop_screen(&self) {
        if let Some(conn) = self.conn.try_get_value().flatten() {
            conn.stop_screen();
        }
        let _ = self.sharing.try_set(false);
    }

    /// The connection, for its quality line.
    pub fn connection(&self) -> Option<SfuConnection> {
        self.conn.try_get_value().flatten()
    }

    fn connect(&self) {
        let Some(links) = self.links.get_value() else {
            return;
        };
        self.generation.update_value(|g| *g += 1);
        let generation = self.generation.get_value();
        let room = *self;
        let said = links.clone();
        let created = SfuConnection::new(links.ice.now(), links.stream.clone(), move |event| {
            if room.generation.try_get_value() != Some(generation) {
                return;
            }
            room.on_event(event, &said);
        });
        match created {
            Ok(conn) => {
                if let Some(old) = self.conn.try_update_value(|c| c.replace(conn)).flatten() {
                    old.close();
                }
                self.set_link(if self.ever_connected.get_value() {
                    Link::Reconnecting
                } else {
                    Link::Connecting
                });
                // A new connection carries no screen: sharing ended with the old one.
                let _ = self.sharing.try_set(false);
                let room = *self;
                set_timeout(move || room.expire(generation), CONNECT_WITHIN);
            }
            Err(error) => {
                (links.notice)(format!("No connection to the meeting: {error}."));
                self.set_link(Link::Failed);
            }
        }
    }

    fn set_link(&self, link: Link) {
        let _ = self.link.try_set(link);
        self.members.with_untracked(|m| {
            for (_, tile) in m {
                let _ = tile.link.try_set(link);
            }
        });
    }

    fn on_event(&self, event: SfuEvent, links: &SfuLinks) {
        match event {
            SfuEvent::Offer(sdp) => {
                self.owed.update_value(|owed| *owed += 1);
                (links.offer)(sdp)
            }
            SfuEvent::Connected => {
                self.attempts.set_value(0);
                self.ever_connected.set_value(true);
                self.set_link(Link::Connected);
                if let Some(conn) = self.conn.get_value() {
                    let _ = conn.say(&(links.state)());
                }
                self.wanted.update_value(HashMap::clear);
                self.ask_layers();
            }
            SfuEvent::Interrupted { failed } => {
                if self.ever_connected.get_value() {
                    self.set_link(Link::Reconnecting);
                }
                let generation = self.generation.get_value();
                let room = *self;
                let wait = if failed {
                    std::time::Duration::ZERO
                } else {
                    RESTART_AFTER
                };
                set_timeout(
                    move || {
                        let same = room.generation.try_get_value() == Some(generation);
                        if same && room.link.get_untracked() != Link::Connected {
                            room.reconnect();
                        }
                    },
                    wait,
                );
            }
            SfuEvent::Stream {
                member,
                screen: true,
                stream,
            } => self.screens.update(|s| s.push(Screen { member, stream })),
            SfuEvent::Stream { member, stream, .. } => match self.tile(&member) {
                Some(tile) => tile.stream.set(Some(stream)),
                None => self.early.update_value(|e| {
                    e.entry(member).or_default().stream = Some(stream);
                }),
            },
            SfuEvent::StreamEnded { member, screen } => {
                if screen {
                    self.screens.update(|s| s.retain(|s| s.member != member));
                } else if let Some(tile) = self.tile(&member) {
                    tile.stream.set(None);
                }
            }
            SfuEvent::Said { from, message } => match message {
                PeerMessage::State { muted, camera_off } => match self.tile(&from) {
                    Some(tile) => {
                        tile.muted.set(muted);
                        tile.camera_off.set(camera_off);
                    }
                    None => self.early.update_value(|e| {
                        e.entry(from).or_default().state = Some((muted, camera_off));
                    }),
                },
                PeerMessage::Chat { text } => {
                    let name = self.members.with_untracked(|m| {
                        m.iter()
                            .find(|(o, _)| o.id == from)
                            .map(|(o, _)| o.name.clone())
                    });
                    (links.heard)(name.unwrap_or_else(|| "someone".into()), text);
                }
            },
            SfuEvent::Error(error) => leptos::logging::warn!("sfu: {error}"),
        }
    }

    fn tile(&self, id: &PeerId) -> Option<Tile> {
        self.members
            .with_untracked(|m| m.iter().find(|(o, _)| o.id == *id).map(|(_, t)| *t))
    }

    /// The connection of `generation` has not connected in time.
    fn expire(&self, generation: u32) {
        let same = self.generation.try_get_value() == Some(generation);
        if same && self.link.get_untracked() != Link::Connected {
            self.reconnect();
        }
    }

    fn reconnect(&self) {
        let attempts = self.attempts.get_value() + 1;
        self.attempts.set_value(attempts);
        if attempts >= ATTEMPTS {
            let lost = if self.ever_connected.get_value() {
                Link::Lost
            } else {
                Link::Failed
            };
            if let Some(conn) = self.conn.try_update_value(Option::take).flatten() {
                conn.close();
            }
            self.set_link(lost);
            return;
        }
        self.connect();
    }

    /// Asks the server for each camera's layer, where it changed.
    fn ask_layers(&self) {
        let Some(conn) = self.conn.try_get_value().flatten() else {
            return;
        };
        let focus = self
            .pinned
            .get_untracked()
            .or_else(|| self.speaking.get_untracked());
        let ids: Vec<PeerId> = self
            .members
            .with_untracked(|m| m.iter().map(|(o, _)| o.id.clone()).collect());
        let rest = if ids.len() <= FEW_TILES {
            Layer::Medium
        } else {
            Layer::Low
        };
        for id in ids {
            let layer = if focus.as_ref() == Some(&id) {
                Layer::High
            } else {
                rest
            };
            let changed = self
                .wanted
                .try_update_value(|w| w.insert(id.clone(), layer) != Some(layer))
                .unwrap_or(false);
            if changed {
                conn.want(&id, layer);
            }
        }
    }

    /// Reads the incoming audio levels every second; the loudest member above
    /// [`SPEAKING`] is the one speaking.
    fn watch_speakers(&self) {
        let room = *self;
        leptos::task::spawn_local(async move {
            loop {
                TimeoutFuture::new(SPEAKER_EVERY_MS).await;
                if room.speaking.is_disposed() {
                    break;
                }
                let Some(conn) = room.connection() else {
                    continue;
                };
                let loudest = loudest(conn.audio_levels());
                if room.speaking.try_get_untracked() != Some(loudest.clone()) {
                    let _ = room.speaking.try_set(loudest);
                }
            }
        });
    }
}

/// The member whose microphone is loudest above [`SPEAKING`].
fn loudest(levels: Vec<(PeerId, f64)>) -> Option<PeerId> {
    levels
        .into_iter()
        .filter(|(_, level)| *level >= SPEAKING)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(member, _)| member)
}
