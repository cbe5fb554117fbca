//! `/cursors`: everyone's pointer on everyone's screen, moved smoothly between the server's
//! 100 ms ticks. Mouse and touch both steer; updates go out at most once per frame. The page
//! asks for compact mode: a snapshot on joining, then only what changed.

use leptos::ev;
use leptos::prelude::*;

use crate::components::browser::{colour_for, use_frame_throttle, use_window_listener};
use crate::components::ConnectionBadge;
use crate::protocol::cursors::{CursorMap, CursorOptions, Cursors, DeltaEvent, Move, Position};
use crate::socketio::{use_socket_with_auth, EmitError};

#[component]
pub fn CursorsPage() -> impl IntoView {
    let options = serde_json::to_value(CursorOptions { compact: true }).ok();
    let socket = use_socket_with_auth::<Cursors>(options);
    let cursors = RwSignal::new(CursorMap::new());
    socket.on::<DeltaEvent>(move |(delta,)| cursors.update(|map| delta.apply(map)));
    // Every (re)connection starts with a full snapshot.
    socket.on_connect(move || cursors.set(CursorMap::new()));
    let my_id = socket.id();
    let state = socket.state();
    let socket = StoredValue::new_local(socket);

    let send = use_frame_throttle(move |position: Position| {
        match socket.with_value(|s| s.emit::<Move>((position,))) {
            // Dropped while disconnected (the badge says so): the next move after
            // reconnecting says where we are.
            Ok(()) | Err(EmitError::NotConnected) => {}
            Err(error) => leptos::logging::warn!("cursor position not sent: {error}"),
        }
    });
    // Fractions of the window, like the seed, so the course's own page shares the space.
    let at = move |x: i32, y: i32| {
        let (w, h) = (window().inner_width(), window().inner_height());
        let size = |v: Result<wasm_bindgen::JsValue, _>| {
            v.ok().and_then(|v| v.as_f64()).unwrap_or(1.0).max(1.0)
        };
        Position::clamped(x as f64 / size(w), y as f64 / size(h))
    };
    let on_pointer = send.clone();
    use_window_listener(ev::pointermove, move |e| {
        on_pointer(at(e.client_x(), e.client_y()))
    });
    use_window_listener(ev::touchmove, move |e| {
        if let Some(touch) = e.touches().get(0) {
            send(at(touch.client_x(), touch.client_y()));
        }
    });

    let ids = Memo::new(move |_| {
        let mut ids: Vec<String> = cursors.with(|m| m.keys().cloned().collect());
        ids.sort();
        ids
    });
    let me = my_id.clone();
    let for_dots = my_id.clone();
    let count = move || cursors.with(|m| m.len());

    view! {
        <section class="cursors-page">
            <h1>"Shared cursors"</h1>
            <ConnectionBadge state=state/>
            <p class="lead">
                "Move your mouse or finger: everyone here sees it. "
                <span data-testid="people">{move || match count() {
                    1 => "Only you so far.".to_owned(),
                    n => format!("{n} people here."),
                }}</span>
            </p>
            <p class="you">
                "You are "
                <span class="swatch" style:background=move || me.get().map(|id| colour_for(&id))></span>
                " " <code data-testid="my-id">{move || my_id.get().unwrap_or_default()}</code>
            </p>
            <div class="cursor-layer" aria-hidden="true">
                <For each=move || ids.get() key=|id| id.clone() let:id>
                    <CursorDot id=id cursors=cursors mine=for_dots.clone()/>
                </For>
            </div>
        </section>
    }
}

/// One cursor, placed by its position in the latest map.
#[component]
fn CursorDot(
    id: String,
    cursors: RwSignal<CursorMap>,
    mine: ArcRwSignal<Option<String>>,
) -> impl IntoView {
    let colour = colour_for(&id);
    let is_mine = {
        let id = id.clone();
        move || mine.with(|m| m.as_deref() == Some(id.as_str()))
    };
    let position = {
        let id = id.clone();
        move || cursors.with(|m| m.get(&id).map(|c| (c.x, c.y)))
    };
    let left = {
        let position = position.clone();
        move || position().map(|(x, _)| format!("{:.3}%", x * 100.0))
    };
    let top = move || position().map(|(_, y)| format!("{:.3}%", y * 100.0));
    view! {
        <div class="cursor" class:mine=is_mine data-id=id style:left=left style:top=top style:background=colour>
            <span class="label">"you"</span>
        </div>
    }
}
