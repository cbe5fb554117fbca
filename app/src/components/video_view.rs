//! A video element for a camera stream, with a tap-to-play fallback where autoplay is blocked.

use leptos::html::Video;
use leptos::prelude::*;

use crate::webrtc::js::error_text;
use crate::webrtc::signalling::StreamSlot;

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
