//! `/webcam`: the camera with the constraints people can change (resolution, front/back, a
//! specific device, audio, mirror), and a clear message for each way it can fail.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use wasm_bindgen::JsCast;
use web_sys::MediaStreamTrack;

use crate::components::VideoView;
use crate::webrtc::js::from_js;
use crate::webrtc::media::{cameras, open_camera, stop, CameraRequest, Facing};
use crate::webrtc::signalling::StreamSlot;

/// The resolutions offered, as (width, height).
const SIZES: &[(u32, u32)] = &[(320, 240), (640, 480), (1280, 720), (1920, 1080)];

#[component]
pub fn WebcamPage() -> impl IntoView {
    let request = RwSignal::new(CameraRequest::default());
    let mirror = RwSignal::new(true);
    let stream: StreamSlot = RwSignal::new_local(None);
    let problem = RwSignal::new(None::<String>);
    let actual = RwSignal::new(None::<String>);
    let devices = RwSignal::new(Vec::<(String, String)>::new());

    // Which request the newest opening answers: an older one that finishes later (a busy
    // phone, quick changes) must not put back the camera the person just changed.
    let newest = StoredValue::new(0u32);
    // Reopens the camera whenever the request changes.
    Effect::new(move |_| {
        let wanted = request.get();
        if let Some(old) = stream.get_untracked() {
            stop(&old); // Some phones cannot open a second stream while the first runs.
        }
        newest.update_value(|n| *n += 1);
        let mine = newest.get_value();
        spawn_local(async move {
            let opened = open_camera(&wanted).await;
            if newest.try_get_value() != Some(mine) {
                if let Ok(stale) = &opened {
                    stop(stale);
                }
                return;
            }
            match opened {
                Ok(opened) => {
                    problem.set(None);
                    actual.set(describe(&opened));
                    stream.set(Some(opened));
                    devices.set(cameras().await); // Labels appear once access is allowed.
                }
                Err(error) => {
                    stream.set(None);
                    actual.set(None);
                    problem.set(Some(error.message()));
                }
            }
        });
    });
    on_cleanup(move || {
        if let Some(s) = stream.try_get_untracked().flatten() {
            stop(&s);
        }
    });

    let size_value = move || request.with(|r| format!("{}x{}", r.width, r.height));
    let set_size = move |value: String| {
        if let Some((w, h)) = value
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        {
            request.update(|r| (r.width, r.height) = (w, h));
        }
    };
    view! {
        <section class="webcam">
            <h1>"Webcam"</h1>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert" data-testid="camera-problem">{p}</p> })}
            <VideoView stream=stream label="My camera" local=true mirror=mirror/>
            <p class="muted" data-testid="actual-size">{move || actual.get().unwrap_or_default()}</p>
            <div class="camera-controls">
                <label>
                    "Resolution "
                    <select prop:value=size_value on:change:target=move |ev| set_size(ev.target().value())>
                        {SIZES.iter().map(|(w, h)| view! { <option value=format!("{w}x{h}")>{format!("{w} × {h}")}</option> }).collect_view()}
                    </select>
                </label>
                <div role="group" aria-label="Camera facing">
                    <button
                        aria-pressed=move || request.with(|r| r.device_id.is_none() && r.facing == Facing::User).to_string()
                        on:click=move |_| request.update(|r| { r.facing = Facing::User; r.device_id = None; })
                    >"Front"</button>
                    <button
                        aria-pressed=move || request.with(|r| r.device_id.is_none() && r.facing == Facing::Environment).to_string()
                        on:click=move |_| request.update(|r| { r.facing = Facing::Environment; r.device_id = None; })
                    >"Back"</button>
                </div>
                <label>
                    "Camera "
                    <select on:change:target=move |ev| {
                        let id = ev.target().value();
                        request.update(|r| r.device_id = (!id.is_empty()).then_some(id));
                    }>
                        <option value="">"Any"</option>
                        <For each=move || devices.get() key=|(id, _)| id.clone() let:device>
                            <option value=device.0.clone()>{device.1.clone()}</option>
                        </For>
                    </select>
                </label>
                <label>
                    <input type="checkbox" prop:checked=move || request.with(|r| r.audio)
                        on:change:target=move |ev| request.update(|r| r.audio = ev.target().checked())/>
                    " Microphone"
                </label>
                <label>
                    <input type="checkbox" prop:checked=mirror on:change:target=move |ev| mirror.set(ev.target().checked())/>
                    " Mirror"
                </label>
            </div>
        </section>
    }
}

/// "1280 × 720 · FaceTime HD Camera", from the video track's actual settings.
fn describe(stream: &web_sys::MediaStream) -> Option<String> {
    let track: MediaStreamTrack = stream.get_video_tracks().get(0).dyn_into().ok()?;
    let settings: Value = from_js(&track.get_settings())?;
    Some(format!(
        "{} × {} · {}",
        settings["width"],
        settings["height"],
        track.label()
    ))
}
