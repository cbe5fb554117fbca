//! One person's connection to the SFU: its `Rtc`, the tracks it publishes, the tracks of the
//! others it receives (one m-line each, added and stopped by the server's own offers over the
//! data channel), and which layer of each camera it gets.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use app::protocol::meet::{FromSfu, Layer, PeerMessage, RoomName, ToSfu};
use app::protocol::PeerId;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::{RtpPacket, RtpWrite, Ssrc};
use str0m::{Event, IceConnectionState, Output, Rtc};

use super::layer::{self, DownlinkCap, LayerSet};
use super::rtp::{Packet, Rewriter};
use super::Counters;

/// The engine's name for a connection (a member who reconnects gets a new one).
pub type ClientId = u64;

/// Tracks one person may publish: a microphone, a camera and a shared screen.
const MAX_TRACKS_IN: usize = 3;
/// Largest data channel message we read, in bytes (an offer of a full room is about 30 KB,
/// and stopped m-lines stay in it until the connection is made afresh).
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Data channel messages one person may send a second (state, chat, layer wishes, SDP);
/// beyond, they are dropped: each chat line is written to everyone in the room.
const MAX_MESSAGES_PER_SECOND: u32 = 50;
/// Messages waiting for a member's data channel; beyond, its connection is closed (it takes
/// nothing, or never opened its channel) and its page connects afresh.
const MAX_OUTBOX: usize = 512;
/// Longest chat line passed on, in characters.
const MAX_CHAT_CHARS: usize = 2000;
/// A publisher is asked for a keyframe of one layer at most this often.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);

/// A track someone publishes, as the others' connections refer to it.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: ClientId,
    pub member: PeerId,
    pub mid: Mid,
    pub kind: MediaKind,
    /// Its second video track: a shared screen.
    pub screen: bool,
}

impl Source {
    /// The stream receivers see it in (`MediaStream.id` in a page): the member's id for its
    /// camera and microphone, `<id>-screen` for its screen (a socket id is 16 characters, so
    /// never ends so). Letters, digits, `-` and `_` only: a `~` did not reach the page.
    fn stream_id(&self) -> String {
        if self.screen {
            format!("{}-screen", self.member)
        } else {
            self.member.to_string()
        }
    }

    /// The track id receivers see (`MediaStreamTrack.id` in a page).
    fn track_id(&self) -> String {
        let what = match (self.kind, self.screen) {
            (MediaKind::Audio, _) => "microphone",
            (MediaKind::Video, false) => "camera",
            (MediaKind::Video, true) => "screen",
        };
        format!("{}-{what}", self.member)
    }
}

/// What a publisher sends on one track.
#[derive(Debug)]
struct TrackIn {
    source: Source,
    sending: LayerSet,
    keyframe_asked: HashMap<Option<Rid>, Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

/// One track of another member this client receives.
#[derive(Debug)]
struct TrackOut {
    source: Source,
    state: OutState,
    /// The layer forwarded now (`None` before the first keyframe, and for tracks without
    /// simulcast, where `started` says whether one came).
    current: Option<Layer>,
    started: bool,
    /// The layer its page asked for (a copy of `Client::wants`, read for every packet).
    wanted: Option<Layer>,
    /// This receiver's numbering of the track.
    rewriter: Rewriter,
    /// The payload type it has on this connection, once open.
    pt: Option<Pt>,
}

/// What a client's output means for the others; the engine passes it on. Media, the most
/// frequent, is the largest: boxing it would cost an allocation per packet.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Propagated {
    TrackOpened(Source),
    /// A track it stopped sending (a screen share ended).
    TrackClosed(Source),
    Media {
        origin: ClientId,
        packet: Packet,
        sending: LayerSet,
    },
    KeyframeRequest {
        publisher: ClientId,
        mid: Mid,
        rid: Option<Rid>,
    },
    Said(PeerMessage),
    /// Its data channel opened: it can be told the others' state.
    ChannelOpened,
    /// It answered our offer: the tracks in it are open (or stopped) now.
    Negotiated,
}

pub struct Client {
    pub id: ClientId,
    pub member: PeerId,
    pub room: RoomName,
    pub rtc: Rtc,
    channel: Option<ChannelId>,
    pending: Option<SdpPendingOffer>,
    tracks_in: Vec<TrackIn>,
    /// Which track and layer each incoming SSRC is (asked of str0m once per SSRC).
    ssrcs: Vec<(Ssrc, Mid, Option<Rid>)>,
    tracks_out: Vec<TrackOut>,
    wants: HashMap<PeerId, Layer>,
    cap: DownlinkCap,
    /// Its last state message, replayed to whoever joins later.
    pub state: Option<PeerMessage>,
    /// Messages for its data channel until it opens (or has room again).
    outbox: VecDeque<String>,
    /// Messages it sent in the current second.
    messages: (Instant, u32),
    /// Loss its receiver reports gave in the current statistics interval: (when, sum, count).
    loss: Option<(Instant, f32, u32)>,
    pub next_timeout: Instant,
    /// Packets were written since it was last given the time: str0m sends a written
    /// packet only once time moves on (its send queue stamps packets in `handle_timeout`).
    pub written: bool,
}

impl Client {
    pub fn new(id: ClientId, member: PeerId, room: RoomName, rtc: Rtc, now: Instant) -> Client {
        Client {
            id,
            member,
            room,
            rtc,
            channel: None,
            pending: None,
            tracks_in: Vec::new(),
            ssrcs: Vec::new(),
            tracks_out: Vec::new(),
            wants: HashMap::new(),
            cap: DownlinkCap::default(),
            state: None,
            outbox: VecDeque::new(),
            messages: (now, 0),
            loss: None,
            next_timeout: now,
            written: false,
        }
    }

    /// The tracks it publishes (for a newcomer, who receives them all).
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.tracks_in.iter().map(|t| &t.source)
    }

    pub fn publishes(&self) -> bool {
        !self.tracks_in.is_empty()
    }

    /// Starts receiving another member's track (the next offer adds it).
    pub fn subscribe(&mut self, source: Source) {
        self.tracks_out.push(TrackOut {
            wanted: self.wants.get(&source.member).copied(),
            source,
            state: OutState::ToOpen,
            current: None,
            started: false,
            rewriter: Rewriter::default(),
            pt: None,
        });
    }

    /// Stops receiving every track of a client that went (`mid` `None`), or one of them.
    pub fn unsubscribe(&mut self, origin: ClientId, mid: Option<Mid>) {
        self.tracks_out.retain_mut(|track| {
            if track.source.origin != origin || mid.is_some_and(|m| m != track.source.mid) {
                return true;
            }
            match track.state {
                OutState::ToOpen => false,
                OutState::Negotiating(mid) | OutState::Open(mid) => {
                    track.state = OutState::ToStop(mid);
                    true
                }
                OutState::ToStop(_) | OutState::NegotiatingStop(_) => true,
            }
        });
        let received: std::collections::HashSet<&PeerId> =
            self.tracks_out.iter().map(|t| &t.source.member).collect();
        self.wants.retain(|member, _| received.contains(member));
    }

    pub fn subscriptions(&self) -> usize {
        self.tracks_out
            .iter()
            .filter(|t| matches!(t.state, OutState::Open(_)))
            .count()
    }

    /// Sends a message over its data channel (or holds it until the channel opens).
    pub fn tell(&mut self, message: &FromSfu) {
        let Ok(text) = serde_json::to_string(message) else {
            return;
        };
        if self.outbox.len() >= MAX_OUTBOX {
            tracing::warn!(member = %self.member, "SFU: a data channel that takes nothing: closed");
            self.rtc.disconnect();
            return;
        }
        self.outbox.push_back(text);
        self.flush_outbox();
    }

    fn flush_outbox(&mut self) {
        let Some(mut channel) = self.channel.and_then(|id| self.rtc.channel(id)) else {
            return;
        };
        while let Some(text) = self.outbox.front() {
            match channel.write(false, text.as_bytes()) {
                Ok(true) => {
                    self.outbox.pop_front();
                }
                // Its buffer is full: the rest waits for `ChannelBufferedAmountLow`.
                Ok(false) | Err(_) => break,
            }
        }
    }

    /// Offers the tracks that came and stops those that went, when no offer is out.
    fn negotiate(&mut self) {
        if self.channel.is_none() || self.pending.is_some() {
            return;
        }
        let mut change = self.rtc.sdp_api();
        for track in &mut self.tracks_out {
            match track.state {
                OutState::ToOpen => {
                    let mid = change.add_media(
                        track.source.kind,
                        Direction::SendOnly,
                        Some(track.source.stream_id()),
                        Some(track.source.track_id()),
                        None,
                    );
                    track.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    change.stop_media(mid);
                    track.state = OutState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        self.pending = Some(pending);
        self.tell(&FromSfu::Offer {
            sdp: offer.to_sdp_string(),
        });
    }

    /// Polls its `Rtc` for one output, after offering what changed. `Ok(None)` means
    /// nothing for the others (a packet was sent, or an event kept to itself).
    pub fn poll(
        &mut self,
        counters: &Counters,
        send: &mut impl FnMut(std::net::SocketAddr, str0m::net::DatagramSend),
    ) -> Result<Polled, str0m::RtcError> {
        self.negotiate();
        Ok(match self.rtc.poll_output()? {
            Output::Timeout(at) => {
                self.next_timeout = at;
                Polled::Timeout
            }
            Output::Transmit(transmit) => {
                send(transmit.destination, transmit.contents);
                Polled::Nothing
            }
            Output::Event(event) => match self.on_event(event, counters) {
                Some(p) => Polled::Propagate(p),
                None => Polled::Nothing,
            },
        })
    }

    fn on_event(&mut self, event: Event, counters: &Counters) -> Option<Propagated> {
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.rtc.disconnect();
                None
            }
            Event::MediaAdded(added) => self.on_media_added(added.mid, added.kind, counters),
            Event::MediaChanged(changed) if !changed.direction.is_receiving() => {
                let at = self
                    .tracks_in
                    .iter()
                    .position(|t| t.source.mid == changed.mid)?;
                Some(Propagated::TrackClosed(self.tracks_in.remove(at).source))
            }
            // Packets lost for good show as a gap at the receivers, whose keyframe requests
            // come back here.
            Event::RtpPacket(packet) => self.on_media_in(packet),
            Event::StreamPaused(paused) => {
                let layer = paused.rid.as_deref().and_then(Layer::from_rid)?;
                let track = self
                    .tracks_in
                    .iter_mut()
                    .find(|t| t.source.mid == paused.mid)?;
                track.sending.set(layer, !paused.paused);
                None
            }
            Event::KeyframeRequest(request) => {
                let track = self
                    .tracks_out
                    .iter()
                    .find(|t| t.state == OutState::Open(request.mid))?;
                Some(Propagated::KeyframeRequest {
                    publisher: track.source.origin,
                    mid: track.source.mid,
                    rid: track.current.map(|l| l.rid().into()),
                })
            }
            Event::MediaEgressStats(stats) => {
                let video = self.tracks_out.iter().any(|t| {
                    t.state == OutState::Open(stats.mid) && t.source.kind == MediaKind::Video
                });
                if let (true, Some(loss)) = (video, stats.loss) {
                    self.report_loss(loss, stats.timestamp, counters);
                }
                None
            }
            Event::ChannelOpen(id, _) => {
                self.channel = Some(id);
                if let Some(mut channel) = self.rtc.channel(id) {
                    channel.set_buffered_amount_low_threshold(MAX_MESSAGE_BYTES);
                }
                self.flush_outbox();
                Some(Propagated::ChannelOpened)
            }
            Event::ChannelData(data) => {
                let now = Instant::now();
                if now.duration_since(self.messages.0) >= Duration::from_secs(1) {
                    self.messages = (now, 0);
                }
                self.messages.1 += 1;
                if self.messages.1 > MAX_MESSAGES_PER_SECOND {
                    counters.add(&counters.bad_messages, 1);
                    return None;
                }
                if data.data.len() > MAX_MESSAGE_BYTES {
                    counters.add(&counters.bad_messages, 1);
                    return None;
                }
                match serde_json::from_slice::<ToSfu>(&data.data) {
                    Ok(message) => self.on_message(message, counters),
                    Err(_) => {
                        counters.add(&counters.bad_messages, 1);
                        None
                    }
                }
            }
            Event::ChannelBufferedAmountLow(_) => {
                self.flush_outbox();
                None
            }
            _ => None,
        }
    }

    /// Takes one video track's loss; the mean over a statistics interval moves the cap (at
    /// most one step an interval, whatever the number of tiles).
    fn report_loss(&mut self, loss: f32, at: Instant, counters: &Counters) {
        match &mut self.loss {
            Some((interval, sum, n)) if *interval == at => {
                *sum += loss;
                *n += 1;
                return;
            }
            _ => {}
        }
        if let Some((interval, sum, n)) = self.loss.replace((at, loss, 1)) {
            if self.cap.report(sum / n as f32, interval) {
                counters.add(&counters.downlink_moves, 1);
            }
        }
    }

    fn on_media_added(
        &mut self,
        mid: Mid,
        kind: MediaKind,
        counters: &Counters,
    ) -> Option<Propagated> {
        // Our direction: a track the page sends is one we receive.
        let direction = self.rtc.media(mid).map(|m| m.direction());
        if direction != Some(Direction::RecvOnly) {
            return None;
        }
        tracing::debug!(member = %self.member, ?mid, ?kind, "SFU: a track in");
        if self.tracks_in.len() >= MAX_TRACKS_IN {
            counters.add(&counters.refused_tracks, 1);
            return None;
        }
        let videos = self
            .tracks_in
            .iter()
            .filter(|t| t.source.kind == MediaKind::Video)
            .count();
        let source = Source {
            origin: self.id,
            member: self.member.clone(),
            mid,
            kind,
            screen: kind == MediaKind::Video && videos > 0,
        };
        self.tracks_in.push(TrackIn {
            source: source.clone(),
            sending: LayerSet::default(),
            keyframe_asked: HashMap::new(),
        });
        Some(Propagated::TrackOpened(source))
    }

    fn on_media_in(&mut self, packet: RtpPacket) -> Option<Propagated> {
        let ssrc = packet.header.ssrc;
        let (mid, rid) = match self.ssrcs.iter().find(|(s, ..)| *s == ssrc) {
            Some((_, mid, rid)) => (*mid, *rid),
            None => {
                let mut api = self.rtc.direct_api();
                let stream = api.stream_rx(&ssrc)?;
                let (mid, rid) = (stream.mid(), stream.rid());
                // A layer restarted under a new SSRC replaces its old one.
                self.ssrcs.retain(|(_, m, r)| (*m, *r) != (mid, rid));
                self.ssrcs.push((ssrc, mid, rid));
                (mid, rid)
            }
        };
        let track = self.tracks_in.iter_mut().find(|t| t.source.mid == mid)?;
        if let Some(layer) = rid.as_deref().and_then(Layer::from_rid) {
            track.sending.set(layer, true);
        }
        Some(Propagated::Media {
            origin: self.id,
            sending: track.sending,
            packet: Packet::new(packet, mid, rid, track.source.kind),
        })
    }

    fn on_message(&mut self, message: ToSfu, counters: &Counters) -> Option<Propagated> {
        match message {
            ToSfu::Offer { sdp } => {
                let answer = SdpOffer::from_sdp_string(&sdp)
                    .map_err(|e| e.to_string())
                    .and_then(|offer| self.accept_offer(offer));
                match answer {
                    Ok(answer) => self.tell(&FromSfu::Answer {
                        sdp: answer.to_sdp_string(),
                    }),
                    Err(error) => {
                        tracing::warn!(member = %self.member, %error, "SFU: an offer refused");
                        counters.add(&counters.bad_messages, 1);
                    }
                }
                None
            }
            ToSfu::Answer { sdp } => {
                let accepted = match (SdpAnswer::from_sdp_string(&sdp), self.pending.take()) {
                    (Ok(answer), Some(pending)) => {
                        self.rtc.sdp_api().accept_answer(pending, answer).is_ok()
                    }
                    _ => false,
                };
                self.settle(accepted);
                if !accepted {
                    // The two sides no longer agree on the session: the page starts afresh.
                    tracing::warn!(member = %self.member, "SFU: an answer refused: connection closed");
                    counters.add(&counters.bad_messages, 1);
                    self.rtc.disconnect();
                    return None;
                }
                Some(Propagated::Negotiated)
            }
            ToSfu::Want { member, layer } => {
                let mut known = false;
                for track in self.tracks_out.iter_mut() {
                    if track.source.member == member {
                        track.wanted = Some(layer);
                        known = true;
                    }
                }
                if known {
                    self.wants.insert(member, layer);
                }
                None
            }
            ToSfu::Say { message } => {
                if let PeerMessage::Chat { text } = &message {
                    if text.chars().count() > MAX_CHAT_CHARS {
                        counters.add(&counters.bad_messages, 1);
                        return None;
                    }
                }
                if matches!(message, PeerMessage::State { .. }) {
                    self.state = Some(message.clone());
                }
                Some(Propagated::Said(message))
            }
        }
    }

    /// Accepts the page's own offer (it shares or stops sharing its screen). An offer of
    /// ours still out is void then: its tracks are offered again.
    pub fn accept_offer(&mut self, offer: SdpOffer) -> Result<SdpAnswer, String> {
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        if self.pending.take().is_some() {
            self.settle(false);
        }
        Ok(answer)
    }

    /// After our offer was answered (or voided): the tracks in it are open (or to offer
    /// again).
    fn settle(&mut self, answered: bool) {
        for track in &mut self.tracks_out {
            track.state = match (track.state, answered) {
                (OutState::Negotiating(mid), true) => OutState::Open(mid),
                (OutState::Negotiating(_), false) => OutState::ToOpen,
                (OutState::NegotiatingStop(mid), false) => OutState::ToStop(mid),
                (state, _) => state,
            };
        }
        if answered {
            self.tracks_out
                .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
        }
    }

    /// Forwards another member's packet, if this client receives that track and (for a
    /// camera) that layer. Returns the keyframe request to make when it waits for one.
    pub fn forward(
        &mut self,
        origin: ClientId,
        packet: &Packet,
        sending: LayerSet,
        counters: &Counters,
    ) -> Option<Propagated> {
        let track = self
            .tracks_out
            .iter_mut()
            .find(|t| t.source.origin == origin && t.source.mid == packet.mid)?;
        let OutState::Open(mid) = track.state else {
            return None;
        };
        let video = track.source.kind == MediaKind::Video;
        let clock_rate = if video { 90_000 } else { 48_000 };
        let ask = |rid: Option<Rid>| Propagated::KeyframeRequest {
            publisher: origin,
            mid: packet.mid,
            rid,
        };
        match packet.rid.as_deref().map(Layer::from_rid) {
            // A rid we never asked for.
            Some(None) => return None,
            Some(Some(layer)) => {
                let wanted = track.wanted.unwrap_or(if track.source.screen {
                    Layer::High
                } else {
                    Layer::Low
                });
                let target = layer::choose(wanted, self.cap.get(), sending)?;
                if track.current == Some(layer) && !track.rewriter.follows(packet) {
                    // The sender restarted this layer: go on from its next keyframe.
                    track.current = None;
                }
                if track.current != Some(layer) {
                    if layer != target {
                        return None;
                    }
                    if !packet.keyframe {
                        return Some(ask(packet.rid));
                    }
                    if track.current.is_some() {
                        counters.add(&counters.layer_switches, 1);
                    }
                    track.current = Some(layer);
                    track.rewriter.start(packet, clock_rate);
                }
            }
            None if !track.started || !track.rewriter.follows(packet) => {
                if video && !packet.keyframe {
                    return Some(ask(None));
                }
                track.started = true;
                track.rewriter.start(packet, clock_rate);
            }
            None => {}
        }
        let out = track.rewriter.rewrite(packet)?;
        let pt = match track.pt {
            Some(pt) => pt,
            None => {
                let codec = if video { Codec::Vp8 } else { Codec::Opus };
                let pt = payload_type(&self.rtc, mid, codec)?;
                track.pt = Some(pt);
                pt
            }
        };
        let mut write = RtpWrite::new(
            pt,
            out.seq.into(),
            out.timestamp,
            packet.arrival,
            packet.payload.clone(),
        )
        .marker(packet.marker)
        .ext_vals(packet.ext_vals())
        .nackable(video);
        if let Some(patch) = out.vp8 {
            write = write.vp8_patch(patch);
        }
        self.rtc
            .direct_api()
            .stream_tx_by_mid(mid, None)?
            .write_rtp(write);
        self.written = true;
        counters.add(&counters.forwarded_packets, 1);
        None
    }

    /// Asks its browser for a keyframe of one of its tracks, unless asked just now.
    pub fn request_keyframe(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        now: Instant,
        counters: &Counters,
    ) {
        let Some(track) = self.tracks_in.iter_mut().find(|t| t.source.mid == mid) else {
            return;
        };
        if let Some(at) = track.keyframe_asked.get(&rid) {
            if now.duration_since(*at) < KEYFRAME_INTERVAL {
                return;
            }
        }
        // Before its first packet a layer has no stream to ask on: asked at its next packet.
        if let Some(stream) = self.rtc.direct_api().stream_rx_by_mid(mid, rid) {
            // Browsers take PLI for VP8 (and it is the one our offers and answers announce).
            stream.request_keyframe(KeyframeRequestKind::Pli);
            track.keyframe_asked.insert(rid, now);
            counters.add(&counters.keyframe_requests, 1);
        }
    }
}

/// A connection's payload type for `codec` on one of its m-lines.
fn payload_type(rtc: &Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let accepted = rtc.media(mid)?.remote_pts();
    rtc.codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == codec && accepted.contains(&p.pt()))
        .map(|p| p.pt())
}

/// One step of [`Client::poll`].
#[allow(clippy::large_enum_variant)]
pub enum Polled {
    /// Nothing more until this client's `next_timeout`.
    Timeout,
    Nothing,
    Propagate(Propagated),
}
