//! [`SfuConnection`]: a page's one WebRTC connection to the server's SFU. It sends the
//! camera once, in three simulcast layers ([`Layer`]), and the microphone; it receives every
//! other member's camera and microphone (a `MediaStream` per member, whose id is the member's
//! id) and shared screen (`<id>-screen`). The first offer goes to the server over `/meet`
//! ([`SfuEvent::Offer`]); after that, offers both ways travel over the connection's data
//! channel, as do layer wishes, mute state and chat.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::StreamExt;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelState, RtcPeerConnection, RtcPeerConnectionState, RtcRtpReceiver,
    RtcRtpTransceiver, RtcRtpTransceiverInit, RtcSessionDescriptionInit, RtcTrackEvent,
};

use super::js::{error_text, to_js};
use crate::config::IceConfig;
use crate::protocol::meet::{FromSfu, Layer, PeerMessage, ToSfu, SFU_CHANNEL};
use crate::protocol::PeerId;

type Callback = Closure<dyn FnMut(JsValue)>;

/// What an [`SfuConnection`] reports.
pub enum SfuEvent {
    /// The first offer: send it to the server (`media-offer`).
    Offer(String),
    /// Media and the data channel flow.
    Connected,
    /// Media stopped; `failed` once the browser gave up.
    Interrupted {
        failed: bool,
    },
    /// A member's camera and microphone (`screen` false) or shared screen.
    Stream {
        member: PeerId,
        screen: bool,
        stream: MediaStream,
    },
    /// A stream of [`SfuEvent::Stream`] has no live track left (its member stopped sharing
    /// the screen, or left).
    StreamEnded {
        member: PeerId,
        screen: bool,
    },
    /// What a member said (its state, a chat line).
    Said {
        from: PeerId,
        message: PeerMessage,
    },
    Error(String),
}

/// A description to apply, in order.
enum Step {
    /// The server's answer to our offer (the first, over `/meet`, or a later one).
    Answer(String),
    /// The server's offer: apply it and answer over the data channel.
    Offer(String),
    /// Make an offer of ours (we add or stop a screen share).
    Renegotiate,
}

/// The connection. Cheap to clone.
#[derive(Clone)]
pub struct SfuConnection {
    inner: Rc<Inner>,
}

struct Inner {
    pc: RtcPeerConnection,
    channel: RtcDataChannel,
    steps: RefCell<Option<UnboundedSender<Step>>>,
    on_event: Box<dyn Fn(SfuEvent)>,
    /// The first offer went out; later ones go over the data channel.
    offered: Cell<bool>,
    /// An offer of ours waits for the connection.
    renegotiate_later: Cell<bool>,
    /// Itself, for timers that must not keep it alive.
    me: RefCell<Weak<Inner>>,
    connected: Cell<bool>,
    closed: Cell<bool>,
    streams: RefCell<HashMap<String, (PeerId, bool, MediaStream)>>,
    /// Each member's microphone as it comes in, for its audio level.
    microphones: RefCell<HashMap<PeerId, RtcRtpReceiver>>,
    screen: RefCell<Option<RtcRtpTransceiver>>,
    callbacks: RefCell<Vec<Callback>>,
}

/// How long the server may take to answer one of our later offers.
const ANSWER_WITHIN_MS: u32 = 5_000;

/// The layers a camera is sent in: (layer, most kbit/s). Lower layers first, as browsers
/// expect them.
const LAYERS: [(Layer, u32); 3] = [
    (Layer::Low, 150),
    (Layer::Medium, 500),
    (Layer::High, 1_200),
];

impl SfuConnection {
    /// Opens the connection with our `stream` (camera and microphone, either or none) and
    /// makes the first offer (reported as [`SfuEvent::Offer`]).
    pub fn new(
        ice: IceConfig,
        stream: Option<MediaStream>,
        on_event: impl Fn(SfuEvent) + 'static,
    ) -> Result<SfuConnection, String> {
        let config: RtcConfiguration = to_js(&ice.rtc_configuration()).unchecked_into();
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(|e| error_text(&e))?;
        let channel = pc.create_data_channel(SFU_CHANNEL);
        let (steps, mut next) = unbounded::<Step>();
        let inner = Rc::new(Inner {
            pc,
            channel,
            steps: RefCell::new(Some(steps)),
            on_event: Box::new(on_event),
            offered: Cell::new(false),
            renegotiate_later: Cell::new(false),
            me: RefCell::new(Weak::new()),
            connected: Cell::new(false),
            closed: Cell::new(false),
            streams: RefCell::default(),
            microphones: RefCell::default(),
            screen: RefCell::new(None),
            callbacks: RefCell::default(),
        });
        *inner.me.borrow_mut() = Rc::downgrade(&inner);
        if let Some(stream) = &stream {
            inner.send_tracks(stream)?;
        }
        inner.listen();
        let weak = Rc::downgrade(&inner);
        spawn_local(async move {
            if let Some(inner) = weak.upgrade() {
                inner.offer().await;
            }
            while let Some(step) = next.next().await {
                let Some(inner) = weak.upgrade() else { break };
                inner.take(step).await;
            }
        });
        Ok(SfuConnection { inner })
    }

    /// The server's answer to our first offer.
    pub fn answer(&self, sdp: String) {
        self.inner.queue(Step::Answer(sdp));
    }

    /// Asks for `layer` of `member`'s camera.
    pub fn want(&self, member: &PeerId, layer: Layer) {
        let _ = self.inner.send(&ToSfu::Want {
            member: member.clone(),
            layer,
        });
    }

    /// Tells the others `message` (through the server).
    pub fn say(&self, message: &PeerMessage) -> Result<(), String> {
        self.inner.send(&ToSfu::Say {
            message: message.clone(),
        })
    }

    /// Sends `track` (a screen) as our second video, until [`SfuConnection::stop_screen`].
    pub fn share_screen(&self, track: &MediaStreamTrack) -> Result<(), String> {
        let stream = MediaStream::new().map_err(|e| error_text(&e))?;
        stream.add_track(track);
        let init: RtcRtpTransceiverInit =
            to_js(&json!({ "direction": "sendonly" })).unchecked_into();
        let _ = js_sys::Reflect::set(&init, &"streams".into(), &js_sys::Array::of1(&stream));
        let transceiver = self
            .inner
            .pc
            .add_transceiver_with_media_stream_track_and_init(track, &init);
        *self.inner.screen.borrow_mut() = Some(transceiver);
        self.inner.queue(Step::Renegotiate);
        Ok(())
    }

    /// Stops sending our screen.
    pub fn stop_screen(&self) {
        if let Some(transceiver) = self.inner.screen.borrow_mut().take() {
            if let Some(track) = transceiver.sender().track() {
                track.stop();
            }
            transceiver.stop();
            self.inner.queue(Step::Renegotiate);
        }
    }

    /// The audio level (0 to 1) of each member's microphone, from the level its last packets
    /// carried (`getSynchronizationSources`, which Chromium and Firefox both fill from the
    /// RTP header extension the SFU passes on; Firefox's `getStats` names no track).
    pub fn audio_levels(&self) -> Vec<(PeerId, f64)> {
        let level_of = |source: JsValue| {
            js_sys::Reflect::get(&source, &"audioLevel".into())
                .ok()
                .and_then(|level| level.as_f64())
        };
        self.inner
            .microphones
            .borrow()
            .iter()
            .filter_map(|(member, receiver)| {
                let level = receiver
                    .get_synchronization_sources()
                    .iter()
                    .filter_map(level_of)
                    .reduce(f64::max)?;
                Some((member.clone(), level))
            })
            .collect()
    }

    /// The connection's `getStats()` report (`None` once closed).
    pub async fn stats(&self) -> Option<JsValue> {
        if self.inner.closed.get() {
            return None;
        }
        JsFuture::from(self.inner.pc.get_stats()).await.ok()
    }

    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn emit(&self, event: SfuEvent) {
        if !self.closed.get() {
            (self.on_event)(event);
        }
    }

    fn queue(&self, step: Step) {
        if let Some(steps) = self.steps.borrow().as_ref() {
            let _ = steps.unbounded_send(step);
        }
    }

    fn send(&self, message: &ToSfu) -> Result<(), String> {
        if self.channel.ready_state() != RtcDataChannelState::Open {
            return Err("not connected to the meeting server yet".into());
        }
        let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
        self.channel
            .send_with_str(&text)
            .map_err(|e| error_text(&e))
    }

    /// The camera in three layers and the microphone, send-only.
    fn send_tracks(&self, stream: &MediaStream) -> Result<(), String> {
        let streams = js_sys::Array::of1(stream);
        for track in stream.get_tracks().iter() {
            let Ok(track) = track.dyn_into::<MediaStreamTrack>() else {
                continue;
            };
            let init = if track.kind() == "video" {
                let encodings: Vec<_> = LAYERS
                    .iter()
                    .map(|(layer, kbps)| {
                        json!({
                            "rid": layer.rid(),
                            "scaleResolutionDownBy": layer.scale_down_by(),
                            "maxBitrate": kbps * 1000,
                        })
                    })
                    .collect();
                json!({ "direction": "sendonly", "sendEncodings": encodings })
            } else {
                json!({ "direction": "sendonly" })
            };
            let init: RtcRtpTransceiverInit = to_js(&init).unchecked_into();
            let _ = js_sys::Reflect::set(&init, &"streams".into(), &streams);
            self.pc
                .add_transceiver_with_media_stream_track_and_init(&track, &init);
        }
        Ok(())
    }

    fn on(self: &Rc<Self>, handler: impl Fn(&Rc<Inner>, JsValue) + 'static) -> Callback {
        let weak: Weak<Inner> = Rc::downgrade(self);
        Closure::new(move |event: JsValue| {
            if let Some(inner) = weak.upgrade() {
                handler(&inner, event);
            }
        })
    }

    fn listen(self: &Rc<Self>) {
        let track = self.on(|inner, event| {
            let Ok(event) = event.dyn_into::<RtcTrackEvent>() else {
                return;
            };
            let Ok(stream) = event.streams().get(0).dyn_into::<MediaStream>() else {
                return;
            };
            let id = stream.id();
            let (member, screen) = match id.strip_suffix("-screen") {
                Some(member) => (member, true),
                None => (id.as_str(), false),
            };
            let Ok(member) = PeerId::parse(member) else {
                return;
            };
            if !screen && event.track().kind() == "audio" {
                inner
                    .microphones
                    .borrow_mut()
                    .insert(member.clone(), event.receiver());
            }
            let new = !inner.streams.borrow().contains_key(&id);
            if new {
                inner
                    .streams
                    .borrow_mut()
                    .insert(id, (member.clone(), screen, stream.clone()));
                inner.emit(SfuEvent::Stream {
                    member,
                    screen,
                    stream,
                });
            }
        });
        let state = self.on(|inner, _| match inner.pc.connection_state() {
            RtcPeerConnectionState::Connected => inner.connected_once(),
            RtcPeerConnectionState::Disconnected => inner.interrupted(false),
            RtcPeerConnectionState::Failed => inner.interrupted(true),
            _ => {}
        });
        let open = self.on(|inner, _| inner.connected_once());
        let message = self.on(|inner, event| {
            let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            else {
                return;
            };
            match serde_json::from_str::<FromSfu>(&text) {
                Ok(FromSfu::Offer { sdp }) => inner.queue(Step::Offer(sdp)),
                Ok(FromSfu::Answer { sdp }) => inner.queue(Step::Answer(sdp)),
                Ok(FromSfu::Said { from, message }) => inner.emit(SfuEvent::Said { from, message }),
                Err(_) => leptos::logging::warn!("sfu: an unreadable message"),
            }
        });
        self.pc.set_ontrack(Some(track.as_ref().unchecked_ref()));
        self.pc
            .set_onconnectionstatechange(Some(state.as_ref().unchecked_ref()));
        self.channel.set_onopen(Some(open.as_ref().unchecked_ref()));
        self.channel
            .set_onmessage(Some(message.as_ref().unchecked_ref()));
        self.callbacks
            .borrow_mut()
            .extend([track, state, open, message]);
    }

    fn connected_once(&self) {
        let ready = self.channel.ready_state() == RtcDataChannelState::Open
            && self.pc.connection_state() == RtcPeerConnectionState::Connected;
        if ready && !self.connected.replace(true) {
            self.emit(SfuEvent::Connected);
            // A screen shared before we were connected is offered now.
            if self.renegotiate_later.replace(false) {
                self.queue(Step::Renegotiate);
            }
        }
    }

    fn interrupted(&self, failed: bool) {
        self.connected.set(false);
        self.emit(SfuEvent::Interrupted { failed });
    }

    /// Makes an offer: the first is reported, later ones go over the data channel (once it
    /// is open: until then the change waits).
    async fn offer(&self) {
        if self.offered.get() && !self.connected.get() {
            self.renegotiate_later.set(true);
            return;
        }
        let offer = match JsFuture::from(self.pc.create_offer()).await {
            Ok(offer) => offer,
            Err(error) => return self.emit(SfuEvent::Error(error_text(&error))),
        };
        let offer: RtcSessionDescriptionInit = offer.unchecked_into();
        if let Err(error) = JsFuture::from(self.pc.set_local_description(&offer)).await {
            return self.emit(SfuEvent::Error(error_text(&error)));
        }
        let Some(sdp) = self.pc.local_description().map(|d| d.sdp()) else {
            return;
        };
        if self.offered.replace(true) {
            if let Err(error) = self.send(&ToSfu::Offer { sdp }) {
                self.emit(SfuEvent::Error(error));
                self.emit(SfuEvent::Interrupted { failed: true });
                return;
            }
            // An offer the server never answers would hold every later change back.
            let pc = self.pc.clone();
            let weak = self.me.borrow().clone();
            spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(ANSWER_WITHIN_MS).await;
                let unanswered = pc.signaling_state() == web_sys::RtcSignalingState::HaveLocalOffer;
                if let (true, Some(inner)) = (unanswered, weak.upgrade()) {
                    inner.emit(SfuEvent::Interrupted { failed: true });
                }
            });
        } else {
            self.emit(SfuEvent::Offer(sdp));
        }
    }

    async fn take(&self, step: Step) {
        if self.closed.get() {
            return;
        }
        match step {
            Step::Answer(sdp) => {
                if let Err(error) = self.apply("answer", &sdp).await {
                    self.emit(SfuEvent::Error(error));
                }
            }
            Step::Offer(sdp) => {
                // Offers crossed: ours wins. The server drops its own offer when ours comes,
                // answers ours, and offers its changes again after.
                if self.pc.signaling_state() == web_sys::RtcSignalingState::HaveLocalOffer {
                    return;
                }
                let answered = match self.apply("offer", &sdp).await {
                    Ok(()) => self.answer().await,
                    Err(error) => Err(error),
                };
                match answered.and_then(|sdp| self.send(&ToSfu::Answer { sdp })) {
                    Ok(()) => self.forget_ended_streams(),
                    // The server waits for this answer before it offers anything else: start
                    // afresh rather than never hear of a member again.
                    Err(error) => {
                        self.emit(SfuEvent::Error(error));
                        self.emit(SfuEvent::Interrupted { failed: true });
                    }
                }
            }
            Step::Renegotiate => self.offer().await,
        }
    }

    /// Reports the streams the server's offer stopped every track of.
    fn forget_ended_streams(&self) {
        let live = |stream: &MediaStream| {
            stream.get_tracks().iter().any(|t| {
                t.dyn_into::<MediaStreamTrack>()
                    .is_ok_and(|t| t.ready_state() == web_sys::MediaStreamTrackState::Live)
            })
        };
        let ended: Vec<(PeerId, bool)> = {
            let mut streams = self.streams.borrow_mut();
            let gone: Vec<String> = streams
                .iter()
                .filter(|(_, (_, _, stream))| !live(stream))
                .map(|(id, _)| id.clone())
                .collect();
            gone.iter()
                .filter_map(|id| streams.remove(id))
                .map(|(member, screen, _)| (member, screen))
                .collect()
        };
        for (member, screen) in ended {
            if !screen {
                self.microphones.borrow_mut().remove(&member);
            }
            self.emit(SfuEvent::StreamEnded { member, screen });
        }
    }

    async fn apply(&self, kind: &str, sdp: &str) -> Result<(), String> {
        let init: RtcSessionDescriptionInit =
            to_js(&json!({ "type": kind, "sdp": sdp })).unchecked_into();
        JsFuture::from(self.pc.set_remote_description(&init))
            .await
            .map(drop)
            .map_err(|e| format!("could not use the server's {kind}: {}", error_text(&e)))
    }

    async fn answer(&self) -> Result<String, String> {
        let answer = JsFuture::from(self.pc.create_answer())
            .await
            .map_err(|e| error_text(&e))?;
        let answer: RtcSessionDescriptionInit = answer.unchecked_into();
        JsFuture::from(self.pc.set_local_description(&answer))
            .await
            .map_err(|e| error_text(&e))?;
        self.pc
            .local_description()
            .map(|d| d.sdp())
            .ok_or_else(|| "no local description".into())
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // The browser's "sharing your screen" ends with the connection.
        if let Some(screen) = self.screen.borrow_mut().take() {
            if let Some(track) = screen.sender().track() {
                track.stop();
            }
        }
        self.steps.borrow_mut().take();
        self.channel.set_onopen(None);
        self.channel.set_onmessage(None);
        self.channel.close();
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        spawn_local(async move { drop(callbacks) });
    }
}
