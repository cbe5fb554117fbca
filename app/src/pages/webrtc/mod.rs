//! The WebRTC pages of the chapter: the seed's raw sender/receiver (`raw`), the same through
//! `Peer` (`simple`), and the pieces they and `/call` share: a video view with a
//! click-to-play fallback, the peer picker, and the `/signal` connection with its client list.

pub mod raw;
pub mod simple;

use leptos::html::Video;
use leptos::prelude::*;
use web_sys::MediaStream;

use crate::components::ConnectionBadge;
use crate::config::{get_site_config, IceServer};
use crate::protocol::signal::{self, ClientMap, Clients};
use crate::socketio::{use_socket, ConnectionState, Socket};
use crate::webrtc::js::error_text;
use crate::webrtc::media::{open_camera, CameraRequest};

/// A stream slot a page fills (MediaStream is not `Send`, hence local storage).
pub type StreamSlot = RwSignal<Option<MediaStream>, LocalStorage>;

/// `/signal`, with the other clients (everyone but us) as a signal.
pub struct SignalConnection {
    pub socket: Socket,
    pub others: RwSignal<Vec<String>>,
}

pub fn use_signal_connection() -> SignalConnection {
    let socket = use_socket(signal::NAMESPACE);
    let others = RwSignal::new(Vec::<String>::new());
    let me = socket.id();
    socket.on::<Clients>(move |(clients,): (ClientMap,)| {
        let mine = me.get_untracked();
        others.set(
            clients
                .into_keys()
                .filter(|id| Some(id) != mine.as_ref())
                .collect(),
        );
    });
    SignalConnection { socket, others }
}

/// The ICE servers the server was started with (empty until known).
pub fn use_ice_servers() -> Signal<Option<Vec<IceServer>>> {
    let config = LocalResource::new(get_site_config);
    Signal::derive(move || {
        config
            .get()
            .map(|c| c.map(|c| c.ice_servers).unwrap_or_default())
    })
}

/// Opens the camera into `slot`, or explains why not in `error`.
pub fn start_camera(request: CameraRequest, slot: StreamSlot, error: RwSignal<Option<String>>) {
    leptos::task::spawn_local(async move {
        match open_camera(&request).await {
            Ok(stream) => {
                error.set(None);
                slot.set(Some(stream));
            }
            Err(e) => error.set(Some(e.message())),
        }
    });
}

/// Shows a stream. Where the browser blocks autoplay, a button starts it.
#[component]
pub fn VideoView(
    stream: StreamSlot,
    /// What the video shows, for screen readers and tests.
    label: &'static str,
    /// Our own preview: muted (no echo) and mirrored like a mirror.
    #[prop(optional)]
    local: bool,
    #[prop(optional, into)] mirror: Option<Signal<bool>>,
) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let blocked = RwSignal::new(false);
    let play = move || {
        let Some(element) = video.get_untracked() else {
            return;
        };
        let Ok(promise) = element.play() else { return };
        leptos::task::spawn_local(async move {
            let result = wasm_bindgen_futures::JsFuture::from(promise).await;
            // Autoplay refused (a browser policy): a tap will do.
            blocked.set(
                result
                    .as_ref()
                    .err()
                    .is_some_and(|e| error_text(e).contains("NotAllowedError")),
            );
        });
    };
    Effect::new(move |_| {
        let current = stream.get();
        if let Some(element) = video.get() {
            element.set_src_object(current.as_ref());
            if current.is_some() {
                play();
            }
        }
    });
    let mirrored = move || local && mirror.is_none_or(|m| m.get());
    view! {
        <div class="video-view">
            <video
                node_ref=video
                aria-label=label
                data-testid=label
                autoplay
                playsinline
                prop:muted=local
                class:mirror=mirrored
                on:click=move |_| play()
            ></video>
            <Show when=move || blocked.get()>
                <button class="play-overlay" on:click=move |_| play()>"Tap to play"</button>
            </Show>
            <Show when=move || stream.with(Option::is_none)>
                <p class="video-placeholder">{label}</p>
            </Show>
        </div>
    }
}

/// A `<select>` of the other clients, like the seed's ("Select Peer To Call").
#[component]
pub fn PeerPicker(
    others: RwSignal<Vec<String>>,
    choose: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <label class="peer-picker">
            "Peer "
            <select on:input:target=move |ev| {
                let value = ev.target().value();
                if !value.is_empty() {
                    choose(value);
                }
            }>
                <option value="">"--- Select Peer To Call ---"</option>
                <For each=move || others.get() key=|id| id.clone() let:id>
                    <option value=id.clone()>{id.clone()}</option>
                </For>
            </select>
        </label>
        <Show when=move || others.with(Vec::is_empty)>
            <p class="muted">"Nobody else is here yet: open the other page in another window or on your phone."</p>
        </Show>
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
    #[prop(into)] state: Signal<ConnectionState>,
    others: RwSignal<Vec<String>>,
    camera: StreamSlot,
    problem: RwSignal<Option<String>>,
    status: RwSignal<String>,
    call: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <section class="webrtc">
            <h1>{title}</h1>
            <ConnectionBadge state=state/>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
            <VideoView stream=camera label="My camera" local=true/>
            <PeerPicker others=others choose=call/>
            <p class="muted" data-testid="status">{move || status.get()}</p>
        </section>
    }
}

/// The receiver pages: our id (for the sender to pick), their camera, and how it goes.
#[component]
pub fn ReceiverLayout(
    title: &'static str,
    #[prop(into)] state: Signal<ConnectionState>,
    #[prop(into)] my_id: Signal<Option<String>>,
    remote: StreamSlot,
    status: RwSignal<String>,
) -> impl IntoView {
    view! {
        <section class="webrtc">
            <h1>{title}</h1>
            <ConnectionBadge state=state/>
            <p class="muted">"Your id: " <code data-testid="my-id">{move || my_id.get().unwrap_or_default()}</code></p>
            <VideoView stream=remote label="Their camera"/>
            <p class="muted" data-testid="status">{move || status.get()}</p>
        </section>
    }
}
