//! Mute and camera off for our own camera stream: the state, the tracks it switches, and
//! the two buttons. The call and the meeting share them.

use leptos::prelude::*;

use crate::webrtc::media::set_enabled;
use crate::webrtc::signalling::StreamSlot;

/// Whether our microphone is muted and our camera off.
#[derive(Clone, Copy)]
pub struct MediaSwitches {
    pub muted: RwSignal<bool>,
    pub camera_off: RwSignal<bool>,
}

/// Switches for `stream`: its audio and video tracks follow them, also for a stream that
/// arrives later.
pub fn use_media_switches(stream: StreamSlot) -> MediaSwitches {
    let switches = MediaSwitches {
        muted: RwSignal::new(false),
        camera_off: RwSignal::new(false),
    };
    Effect::new(move |_| {
        if let Some(stream) = stream.get() {
            set_enabled(&stream, "audio", !switches.muted.get());
            set_enabled(&stream, "video", !switches.camera_off.get());
        }
    });
    switches
}

/// The Mute / Camera off buttons (pressed while on).
#[component]
pub fn MediaButtons(switches: MediaSwitches) -> impl IntoView {
    let MediaSwitches { muted, camera_off } = switches;
    view! {
        <button aria-pressed=move || muted.get().to_string() on:click=move |_| muted.update(|m| *m = !*m)>
            {move || if muted.get() { "Unmute" } else { "Mute" }}
        </button>
        <button aria-pressed=move || camera_off.get().to_string() on:click=move |_| camera_off.update(|c| *c = !*c)>
            {move || if camera_off.get() { "Camera on" } else { "Camera off" }}
        </button>
    }
}
