//! What a meeting shows: a shared screen large, then a tile per person (ours first), the
//! count, and through the SFU a Pin button per tile, the one speaking outlined and the
//! connection's quality. Up to 25 tiles fit a desktop's grid; a phone pages through them
//! (swipe: a scroll-snapping row of three-row columns, in the style sheet).

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::MediaStream;

use super::media::RoomMedia;
use crate::components::{MediaSwitches, VideoView};
use crate::webrtc::js::{error_name, error_text};
use crate::webrtc::mesh::Link;
use crate::webrtc::quality;
use crate::webrtc::signalling::StreamSlot;

fn people(n: usize) -> String {
    match n {
        1 => "Only you are here.".to_owned(),
        n => format!("{n} people in this meeting"),
    }
}

#[component]
pub fn Grid(media: RoomMedia, camera: StreamSlot, switches: MediaSwitches) -> impl IntoView {
    let MediaSwitches { muted, camera_off } = switches;
    let sfu = media.sfu;
    let via_sfu = media.via_sfu;
    let count = move || media.members().len() + 1;
    let many = Signal::derive(move || count() > 4);
    // The first screen shared, shown large to everyone.
    let screen: StreamSlot = RwSignal::new_local(None);
    let screen_of = RwSignal::new(String::new());
    Effect::new(move |_| {
        let first = sfu.screens.with(|s| s.first().cloned());
        let owner = first.as_ref().and_then(|s| {
            media
                .members()
                .into_iter()
                .find(|(o, _)| o.id == s.member)
                .map(|(o, _)| o.name)
        });
        screen.set(first.map(|s| s.stream));
        screen_of.set(owner.unwrap_or_else(|| "Someone".into()));
    });
    let server_quality =
        quality::watch_stats(move || sfu.connection().map(|c| async move { c.stats().await }));
    view! {
        <p class="meet-count" data-testid="count">{move || people(count())}</p>
        <Show when=move || screen.with(Option::is_some)>
            <figure class="meet-screen" data-testid="screen">
                <VideoView stream=screen label="Shared screen"/>
                <figcaption>{move || format!("{}'s screen", screen_of.get())}</figcaption>
            </figure>
        </Show>
        <div class="meet-grid" data-testid="grid" class:many=many>
            <figure class="meet-tile mine" data-name="you">
                <VideoView stream=camera label="My camera" local=true/>
                <figcaption>"You" {move || muted.get().then_some(" · muted")} {move || camera_off.get().then_some(" · camera off")}</figcaption>
            </figure>
            <For each=move || media.members() key=|(m, _)| m.id.clone() let:entry>
                {
                    let (member, tile) = entry;
                    let id = member.id.clone();
                    let quality = {
                        let id = id.clone();
                        quality::watch(move || media.mesh.peer(&id))
                    };
                    let pinned = {
                        let id = id.clone();
                        Memo::new(move |_| sfu.pinned.with(|p| p.as_ref() == Some(&id)))
                    };
                    let speaking = {
                        let id = id.clone();
                        Memo::new(move |_| sfu.speaking.with(|s| s.as_ref() == Some(&id)))
                    };
                    let pin = {
                        let id = id.clone();
                        move |_| sfu.toggle_pin(&id)
                    };
                    let name = member.name.clone();
                    view! {
                        <figure class="meet-tile" data-name=member.name.clone()
                            class:waiting=move || tile.link.get() != Link::Connected
                            class:failed=move || matches!(tile.link.get(), Link::Failed | Link::Lost)
                            class:pinned=pinned
                            class:speaking=speaking>
                            <VideoView stream=tile.stream label="Member camera"/>
                            <figcaption>
                                <span class="name">{member.name.clone()}</span>
                                {move || tile.muted.get().then(|| view! { <span class="badge" data-testid="muted">" · muted"</span> })}
                                {move || tile.camera_off.get().then(|| view! { <span class="badge" data-testid="camera-off">" · camera off"</span> })}
                                {move || match tile.link.get() {
                                    Link::Connecting => " · connecting…",
                                    Link::Reconnecting => " · reconnecting…",
                                    _ => "",
                                }}
                                {move || {
                                    let why = match tile.link.get() {
                                        Link::Failed => "could not connect to",
                                        Link::Lost => "could not reconnect to",
                                        _ => return None,
                                    };
                                    Some(view! {
                                        <span class="problem" role="alert">{format!(" · {why} {name}")}</span>
                                    })
                                }}
                                <Show when=move || via_sfu.get()>
                                    <button type="button" class="pin" on:click=pin.clone()
                                        aria-pressed=move || pinned.get().to_string()>
                                        {move || if pinned.get() { "Unpin" } else { "Pin" }}
                                    </button>
                                </Show>
                                <small class="muted quality" data-testid="tile-quality">{move || quality.get()}</small>
                            </figcaption>
                        </figure>
                    }
                }
            </For>
        </div>
        <Show when=move || via_sfu.get()>
            <small class="muted quality" data-testid="server-quality">
                {move || server_quality.get().map(|q| format!("Through the meeting server: {q}"))}
            </small>
        </Show>
    }
}

/// Share screen / Stop sharing, through the SFU and where the browser can share a screen.
#[component]
pub fn ScreenButton(media: RoomMedia, notice: RwSignal<Option<String>>) -> impl IntoView {
    let sfu = media.sfu;
    let can_share = display_media().is_some();
    let toggle = move |_| {
        if sfu.sharing.get_untracked() {
            sfu.stop_screen();
            return;
        }
        leptos::task::spawn_local(async move {
            match pick_screen().await {
                Ok(stream) => {
                    if let Err(error) = sfu.share_screen(&stream) {
                        crate::webrtc::media::stop(&stream);
                        let _ =
                            notice.try_set(Some(format!("Could not share the screen: {error}.")));
                    }
                }
                // Closing the browser's picker is not a problem.
                Err(error) if error == "NotAllowedError" => {}
                Err(error) => {
                    let _ = notice.try_set(Some(format!("Could not share the screen: {error}.")));
                }
            }
        });
    };
    view! {
        <Show when=move || can_share && media.via_sfu.get()>
            <button type="button" on:click=toggle aria-pressed=move || sfu.sharing.get().to_string()>
                {move || if sfu.sharing.get() { "Stop sharing" } else { "Share screen" }}
            </button>
        </Show>
    }
}

fn display_media() -> Option<web_sys::MediaDevices> {
    let devices = web_sys::window()?.navigator().media_devices().ok()?;
    let has = js_sys::Reflect::has(&devices, &"getDisplayMedia".into()).unwrap_or(false);
    has.then_some(devices)
}

/// Asks the browser for a screen, a window or a tab; `Err` holds the error's name or text.
async fn pick_screen() -> Result<MediaStream, String> {
    let devices = display_media().ok_or("this browser cannot share a screen")?;
    let promise = devices.get_display_media().map_err(|e| error_text(&e))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|e| error_name(&e).unwrap_or_else(|| error_text(&e)))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|_| "no screen stream".to_owned())
}
