//! The one-way WebRTC pages of the chapter: the seed's raw sender/receiver (`raw`) and the
//! same through `Peer` (`simple`), with the layouts both pairs share.

pub(crate) mod raw;
pub(crate) mod simple;

use leptos::prelude::*;

use crate::components::{ConnectionBadge, PeerPicker, VideoView};
use crate::config::get_site_config;
use crate::connection::ConnectionState;
use crate::protocol::signal::Signalling;
use crate::protocol::PeerId;
use crate::socketio::Socket;
use crate::webrtc::ice::{use_ice, Ice};
use crate::webrtc::media::CameraRequest;
use crate::webrtc::signalling::{start_camera, use_signalling, StreamSlot};

/// What both sender pages start with: `/signal` and its other clients, the ICE servers, the
/// seed's camera, and a status line.
#[derive(Clone)]
pub struct SenderSide {
    pub socket: Socket<Signalling>,
    pub others: RwSignal<Vec<PeerId>>,
    pub ice: Ice,
    pub camera: StreamSlot,
    /// Why the camera cannot be used, if it cannot.
    pub problem: RwSignal<Option<String>>,
    pub status: RwSignal<String>,
}

impl SenderSide {
    pub fn open() -> SenderSide {
        let connection = use_signalling();
        let side = SenderSide {
            socket: connection.socket,
            others: connection.others,
            ice: use_ice(),
            camera: RwSignal::new_local(None),
            problem: RwSignal::new(None),
            status: RwSignal::new("Pick a peer to call.".to_owned()),
        };
        start_camera(seed_camera(), side.camera, side.problem);
        side
    }
}

/// What both receiver pages start with: `/signal`, the ICE servers, a slot for the caller's
/// video, and a status line.
#[derive(Clone)]
pub struct ReceiverSide {
    pub socket: Socket<Signalling>,
    pub ice: Ice,
    pub remote: StreamSlot,
    pub status: RwSignal<String>,
}

impl ReceiverSide {
    pub fn open() -> ReceiverSide {
        ReceiverSide {
            socket: use_signalling().socket,
            ice: use_ice(),
            remote: RwSignal::new_local(None),
            status: RwSignal::new("Waiting for a call…".to_owned()),
        }
    }
}

/// The camera the seed's sender asks for: 1280×720 with sound.
pub fn seed_camera() -> CameraRequest {
    CameraRequest {
        width: 1280,
        height: 720,
        audio: true,
        ..CameraRequest::default()
    }
}

/// The sender pages: our camera, the peers to call, and how it goes.
#[component]
pub fn SenderLayout(
    title: &'static str,
    side: SenderSide,
    call: impl Fn(PeerId) + 'static,
    /// The call's quality line (the `Peer` pages), if the page shows one.
    #[prop(optional)]
    quality: Option<ReadSignal<Option<String>>>,
) -> impl IntoView {
    let state: Signal<ConnectionState> = side.socket.state().into();
    let SenderSide {
        others,
        camera,
        problem,
        status,
        ..
    } = side;
    view! {
        <section class="webrtc">
            <h1>{title}</h1>
            <ConnectionBadge state=state/>
            <PublicLobbyNote/>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
            <VideoView stream=camera label="My camera" local=true/>
            <PeerPicker others=others choose=call/>
            <p class="muted" data-testid="status">{move || status.get()}</p>
            <QualityLine quality=quality/>
        </section>
    }
}

/// The receiver pages: our id (for the sender to pick), their camera, and how it goes.
#[component]
pub fn ReceiverLayout(
    title: &'static str,
    side: ReceiverSide,
    /// The call's quality line (the `Peer` pages), if the page shows one.
    #[prop(optional)]
    quality: Option<ReadSignal<Option<String>>>,
) -> impl IntoView {
    let state: Signal<ConnectionState> = side.socket.state().into();
    let my_id: Signal<Option<String>> = side.socket.id().into();
    let ReceiverSide { remote, status, .. } = side;
    view! {
        <section class="webrtc">
            <h1>{title}</h1>
            <ConnectionBadge state=state/>
            <PublicLobbyNote/>
            <p class="muted">"Your id: " <code data-testid="my-id">{move || my_id.get().unwrap_or_default()}</code></p>
            <VideoView stream=remote label="Their camera"/>
            <p class="muted" data-testid="status">{move || status.get()}</p>
            <QualityLine quality=quality/>
        </section>
    }
}

/// How the call goes (see [`crate::webrtc::quality`]), while there is one.
#[component]
fn QualityLine(quality: Option<ReadSignal<Option<String>>>) -> impl IntoView {
    quality.map(|quality| {
        move || {
            quality.get().map(|line| {
                view! { <p class="muted quality" data-testid="peer-quality">{line}</p> }
            })
        }
    })
}

/// These pages speak the course's `/signal`, where every client is on one public list. On a
/// server others can reach (bound beyond loopback, or with `--public-url`), say so, and point
/// to the private call.
#[component]
fn PublicLobbyNote() -> impl IntoView {
    let config = LocalResource::new(get_site_config);
    move || {
        let config = config.get()?.ok()?;
        let public = !config.loopback_only || config.public_url.is_some();
        public.then(|| view! {
            <p class="notice" data-testid="public-lobby">
                "Everyone on this server can see you here and call you. To talk to one person only, "
                <a href="/call">"start a private call"</a> "."
            </p>
        })
    }
}
