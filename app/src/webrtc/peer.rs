//! [`Peer`]: one WebRTC connection to one other browser, in the spirit of simple-peer. It
//! emits the signals to forward to the other side ([`PeerEvent::Signal`]) and takes theirs
//! ([`Peer::signal`]); it reports the connection, the remote stream, data-channel messages,
//! errors and the end. Negotiation follows MDN's perfect-negotiation pattern, so both sides
//! may start at once (see [`super::negotiation`]).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::StreamExt;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelState, RtcIceCandidateInit, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSessionDescriptionInit,
    RtcSignalingState, RtcTrackEvent,
};

use super::js::{error_text, from_js, to_js};
use super::negotiation::{decide, Decision, Negotiation};
use crate::config::IceConfig;
use crate::protocol::signal::{IceCandidate, SessionDescription, SignalData};

/// A browser callback taking one event.
type Callback = Closure<dyn FnMut(JsValue)>;

/// How a [`Peer`] starts.
pub struct PeerOptions {
    /// The initiator offers first; the other side waits for that offer before it negotiates.
    pub initiator: bool,
    /// Which side yields when both offer at once; the two peers must disagree. simple-peer has
    /// no such option: by default the initiator is the impolite one.
    pub polite: bool,
    pub ice: IceConfig,
    /// Our camera and microphone, if we send any.
    pub stream: Option<MediaStream>,
    /// Open a text data channel (both sides must agree).
    pub data_channel: bool,
}

impl PeerOptions {
    pub fn new(initiator: bool, ice: IceConfig) -> Self {
        PeerOptions {
            initiator,
            polite: !initiator,
            ice,
            stream: None,
            data_channel: false,
        }
    }
}

/// What a [`Peer`] reports.
pub enum PeerEvent {
    /// Forward this to the other peer (through `/signal`'s `signal` event).
    Signal(SignalData),
    /// Media can flow (and the data channel is open, if there is one).
    Connect,
    /// The other side's media.
    Stream(MediaStream),
    /// A data-channel message.
    Data(String),
    /// Media stopped flowing (the network changed or broke). It may come back by itself, or
    /// after [`Peer::restart_ice`]; `failed` once the browser has given up on every path.
    /// A `Connect` follows when it is back.
    Interrupted { failed: bool },
    /// Something went wrong; a `Close` follows when the connection cannot go on.
    Error(String),
    /// The connection is over (after [`Peer::destroy`], or when it failed).
    Close,
}

/// A connection to one other peer. Cheap to clone; clones are the same connection.
#[derive(Clone)]
pub struct Peer {
    inner: Rc<Inner>,
}

struct Inner {
    pc: RtcPeerConnection,
    initiator: bool,
    polite: bool,
    /// Perfect negotiation's state (see MDN).
    making_offer: Cell<bool>,
    ignore_offer: Cell<bool>,
    applying_answer: Cell<bool>,
    channel: RefCell<Option<RtcDataChannel>>,
    /// Remote signals, applied one after the other in arrival order.
    incoming: RefCell<Option<UnboundedSender<SignalData>>>,
    on_event: Box<dyn Fn(PeerEvent)>,
    connected: Cell<bool>,
    destroyed: Cell<bool>,
    streams_seen: RefCell<HashSet<String>>,
    /// The browser's callbacks, kept alive for as long as the connection is.
    callbacks: RefCell<Vec<Callback>>,
}

impl Peer {
    /// Creates the connection; with `initiator`, the first offer follows as a `Signal`.
    pub fn new(
        options: PeerOptions,
        on_event: impl Fn(PeerEvent) + 'static,
    ) -> Result<Peer, String> {
        let config: RtcConfiguration = to_js(&options.ice.rtc_configuration()).unchecked_into();
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(|e| error_text(&e))?;
        let (tx, mut rx) = unbounded::<SignalData>();
        let inner = Rc::new(Inner {
            pc,
            initiator: options.initiator,
            polite: options.polite,
            making_offer: Cell::new(false),
            ignore_offer: Cell::new(false),
            applying_answer: Cell::new(false),
            channel: RefCell::new(None),
            incoming: RefCell::new(Some(tx)),
            on_event: Box::new(on_event),
            connected: Cell::new(false),
            destroyed: Cell::new(false),
            streams_seen: RefCell::default(),
            callbacks: RefCell::default(),
        });
        inner.listen();
        if options.data_channel {
            inner.open_channel();
        }
        if let Some(stream) = &options.stream {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                    inner.pc.add_track_0(&track, stream);
                }
            }
        }
        let weak = Rc::downgrade(&inner);
        spawn_local(async move {
            while let Some(signal) = rx.next().await {
                let Some(inner) = weak.upgrade() else { break };
                inner.apply(signal).await;
            }
        });
        Ok(Peer { inner })
    }

    /// Takes a signal the other peer emitted.
    pub fn signal(&self, data: SignalData) {
        if let Some(tx) = self.inner.incoming.borrow().as_ref() {
            let _ = tx.unbounded_send(data);
        }
    }

    /// Sends text over the data channel.
    pub fn send(&self, text: &str) -> Result<(), String> {
        let channel = self.inner.channel.borrow();
        match channel.as_ref() {
            Some(channel) if channel.ready_state() == RtcDataChannelState::Open => {
                channel.send_with_str(text).map_err(|e| error_text(&e))
            }
            Some(_) => Err("the connection is not open yet".into()),
            None => Err("this peer has no data channel".into()),
        }
    }

    /// The connection's `getStats()` report (`None` once it is closed).
    pub async fn stats(&self) -> Option<JsValue> {
        JsFuture::from(self.inner.pc.get_stats()).await.ok()
    }

    /// Uses `ice` from now on (fresh TURN credentials): for the paths it finds at its next
    /// ICE restart; the path in use stays.
    pub fn renew(&self, ice: &IceConfig) -> Result<(), String> {
        let config: RtcConfiguration = to_js(&ice.rtc_configuration()).unchecked_into();
        self.inner
            .pc
            .set_configuration_with_configuration(&config)
            .map_err(|e| error_text(&e))
    }

    /// Looks for a new path with `ice` (an ICE restart): the next offer, made at once by
    /// `negotiationneeded`, asks for new candidates on both sides; media resumes over
    /// whatever path works now, on the same connection.
    pub fn restart_ice(&self, ice: &IceConfig) -> Result<(), String> {
        self.renew(ice)?;
        let method = js_sys::Reflect::get(&self.inner.pc, &JsValue::from_str("restartIce"))
            .ok()
            .and_then(|m| m.dyn_into::<js_sys::Function>().ok())
            .ok_or("this browser cannot restart ICE")?;
        method
            .call0(&self.inner.pc)
            .map(drop)
            .map_err(|e| error_text(&e))
    }

    /// Whether media flows now.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.get()
    }

    /// Whether it is closed (by [`Peer::destroy`]).
    pub fn is_closed(&self) -> bool {
        self.inner.destroyed.get()
    }

    /// Closes the connection and reports `Close` (once).
    pub fn destroy(&self) {
        self.inner.destroy();
    }
}

impl Inner {
    fn emit(&self, event: PeerEvent) {
        if !self.destroyed.get() {
            (self.on_event)(event);
        }
    }

    fn on(
        self: &Rc<Self>,
        handler: impl Fn(&Rc<Inner>, JsValue) + 'static,
    ) -> Closure<dyn FnMut(JsValue)> {
        let weak: Weak<Inner> = Rc::downgrade(self);
        Closure::new(move |event: JsValue| {
            if let Some(inner) = weak.upgrade() {
                handler(&inner, event);
            }
        })
    }

    /// Wires the peer connection's events.
    fn listen(self: &Rc<Self>) {
        let negotiation_needed = self.on(|inner, _| {
            let inner = inner.clone();
            spawn_local(async move { inner.offer().await });
        });
        let ice_candidate = self.on(|inner, event| {
            let Ok(event) = event.dyn_into::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            // `None` marks the end of gathering; simple-peer does not forward it either.
            let Some(candidate) = event.candidate() else {
                return;
            };
            if let Some(candidate) = from_js::<IceCandidate>(&candidate.to_json()) {
                inner.emit(PeerEvent::Signal(SignalData::Candidate { candidate }));
            }
        });
        let track = self.on(|inner, event| {
            let Ok(event) = event.dyn_into::<RtcTrackEvent>() else {
                return;
            };
            play_as_soon_as_decoded(&event);
            let stream = match event.streams().get(0).dyn_into::<MediaStream>() {
                Ok(stream) => stream,
                // A track without a stream still deserves one.
                Err(_) => match MediaStream::new_with_tracks(&js_sys::Array::of1(&event.track())) {
                    Ok(stream) => stream,
                    Err(_) => return,
                },
            };
            if inner.streams_seen.borrow_mut().insert(stream.id()) {
                inner.emit(PeerEvent::Stream(stream));
            }
        });
        let state = self.on(|inner, _| match inner.pc.connection_state() {
            RtcPeerConnectionState::Connected => inner.connected_once(),
            // Whoever owns the connection decides: an ICE restart, or a fresh connection.
            RtcPeerConnectionState::Disconnected => inner.interrupted(false),
            RtcPeerConnectionState::Failed => inner.interrupted(true),
            RtcPeerConnectionState::Closed => inner.destroy(),
            _ => {}
        });
        self.pc
            .set_onnegotiationneeded(Some(negotiation_needed.as_ref().unchecked_ref()));
        self.pc
            .set_onicecandidate(Some(ice_candidate.as_ref().unchecked_ref()));
        self.pc.set_ontrack(Some(track.as_ref().unchecked_ref()));
        self.pc
            .set_onconnectionstatechange(Some(state.as_ref().unchecked_ref()));
        self.callbacks
            .borrow_mut()
            .extend([negotiation_needed, ice_candidate, track, state]);
    }

    /// A negotiated channel (same id on both sides), so neither side has to announce it.
    fn open_channel(self: &Rc<Self>) {
        let init: RtcDataChannelInit =
            to_js(&json!({ "negotiated": true, "id": 0 })).unchecked_into();
        let channel = self
            .pc
            .create_data_channel_with_data_channel_dict("data", &init);
        let open = self.on(|inner, _| inner.connected_once());
        let message = self.on(|inner, event| {
            if let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                inner.emit(PeerEvent::Data(text));
            }
        });
        channel.set_onopen(Some(open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(message.as_ref().unchecked_ref()));
        self.callbacks.borrow_mut().extend([open, message]);
        *self.channel.borrow_mut() = Some(channel);
    }

    /// `Connect` once media can flow and the data channel (if any) is open.
    fn connected_once(&self) {
        let channel_ready = self
            .channel
            .borrow()
            .as_ref()
            .is_none_or(|c| c.ready_state() == RtcDataChannelState::Open);
        let media_ready = self.pc.connection_state() == RtcPeerConnectionState::Connected;
        if channel_ready && media_ready && !self.connected.replace(true) {
            self.emit(PeerEvent::Connect);
        }
    }

    /// Media stopped: `Connect` again once it is back.
    fn interrupted(&self, failed: bool) {
        self.connected.set(false);
        self.emit(PeerEvent::Interrupted { failed });
    }

    /// Answers `negotiationneeded`: make an offer (the initiator at once; the other side only
    /// once the conversation has started, so that it never offers first).
    async fn offer(self: Rc<Self>) {
        if self.destroyed.get() || (!self.initiator && self.pc.remote_description().is_none()) {
            return;
        }
        self.making_offer.set(true);
        let result = self.set_local_description().await;
        self.making_offer.set(false);
        match result {
            Ok(description) => self.emit(PeerEvent::Signal(description.into())),
            Err(error) => self.emit(PeerEvent::Error(format!(
                "could not make an offer: {error}"
            ))),
        }
    }

    /// Applies one remote signal (called in arrival order).
    async fn apply(self: Rc<Self>, signal: SignalData) {
        if self.destroyed.get() {
            return;
        }
        if let Some(description) = signal.description() {
            let now = Negotiation {
                making_offer: self.making_offer.get(),
                stable: self.pc.signaling_state() == RtcSignalingState::Stable,
                applying_answer: self.applying_answer.get(),
            };
            let answer = match decide(description.kind, self.polite, now) {
                Decision::Ignore => {
                    self.ignore_offer.set(true);
                    return;
                }
                Decision::Apply { answer } => answer,
            };
            self.ignore_offer.set(false);
            self.applying_answer.set(!answer);
            let init: RtcSessionDescriptionInit = to_js(&description).unchecked_into();
            let applied = JsFuture::from(self.pc.set_remote_description(&init)).await;
            self.applying_answer.set(false);
            if let Err(error) = applied {
                return self.emit(PeerEvent::Error(format!(
                    "could not use the other side's description: {}",
                    error_text(&error)
                )));
            }
            if answer {
                match self.set_local_description().await {
                    Ok(local) => self.emit(PeerEvent::Signal(local.into())),
                    Err(error) => self.emit(PeerEvent::Error(format!("could not answer: {error}"))),
                }
            }
        } else if let SignalData::Candidate { candidate } = signal {
            let init: RtcIceCandidateInit = to_js(&candidate).unchecked_into();
            let added = JsFuture::from(
                self.pc
                    .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
            )
            .await;
            // Candidates of an offer we ignored are expected to fail.
            if let (Err(error), false) = (added, self.ignore_offer.get()) {
                self.emit(PeerEvent::Error(format!(
                    "could not use a network candidate: {}",
                    error_text(&error)
                )));
            }
        }
    }

    /// `setLocalDescription()` without arguments: the browser makes the right offer or answer
    /// (and rolls back a colliding offer of ours when we are polite).
    async fn set_local_description(&self) -> Result<SessionDescription, String> {
        let method = js_sys::Reflect::get(&self.pc, &JsValue::from_str("setLocalDescription"))
            .map_err(|e| error_text(&e))?;
        let method: js_sys::Function = method
            .dyn_into()
            .map_err(|_| "setLocalDescription is missing".to_owned())?;
        let promise: js_sys::Promise = method
            .call0(&self.pc)
            .map_err(|e| error_text(&e))?
            .unchecked_into();
        JsFuture::from(promise).await.map_err(|e| error_text(&e))?;
        let local = self.pc.local_description().ok_or("no local description")?;
        from_js(&local.to_json()).ok_or_else(|| "an unreadable local description".into())
    }

    fn destroy(&self) {
        if self.destroyed.get() {
            return;
        }
        (self.on_event)(PeerEvent::Close);
        self.destroyed.set(true);
        self.incoming.borrow_mut().take();
        if let Some(channel) = self.channel.borrow_mut().take() {
            channel.set_onopen(None);
            channel.set_onmessage(None);
            channel.close();
        }
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
        // This may run inside one of these callbacks: drop them once it has returned.
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        spawn_local(async move { drop(callbacks) });
    }
}

/// Asks the browser to hold no frames back for smoothing (`jitterBufferTarget` 0 ms): a call
/// shows its first frame sooner (measured in `bench/browser/call-latency.mjs`), and the
/// buffer still grows by itself on a jittery network. A browser without the hint ignores it.
fn play_as_soon_as_decoded(event: &RtcTrackEvent) {
    if let Ok(receiver) = js_sys::Reflect::get(event, &JsValue::from_str("receiver")) {
        let _ = js_sys::Reflect::set(
            &receiver,
            &JsValue::from_str("jitterBufferTarget"),
            &JsValue::from_f64(0.0),
        );
    }
}
