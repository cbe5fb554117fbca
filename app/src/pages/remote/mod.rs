//! `/remote`: the desktop side of "phone as controller". It shows a ball (or the Squash game)
//! that a phone steers, and the link, as text and QR code, that turns a phone into the
//! controller for this very page. In the game a second phone, with the second code, plays
//! player 2.

mod controller;
mod squash;

use std::time::Duration;

use leptos::prelude::*;

pub use controller::ControllerPage;

use crate::components::browser::use_interval;
use crate::components::{phone_base, qr_svg, ConnectionBadge};
use crate::config::get_site_config;
use crate::protocol::remote::{controller_path, Player, Remote, Steer, Update};
use crate::socketio::use_socket;
use squash::SquashGame;

/// A controller counts as "sending" for this long after its last update, in milliseconds
/// (controllers also confirm they are there every 2 s).
const SENDING_WINDOW_MS: f64 = 3000.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ball,
    Squash,
}

#[component]
pub fn RemotePage() -> impl IntoView {
    let socket = use_socket::<Remote>();
    // Each player's latest steering, and when it came.
    let steer = [RwSignal::new(None::<Steer>), RwSignal::new(None::<Steer>)];
    let last_seen = [RwSignal::new(None::<f64>), RwSignal::new(None::<f64>)];
    let now = RwSignal::new(js_sys::Date::now());
    use_interval(Duration::from_millis(500), move || {
        now.set(js_sys::Date::now())
    });
    socket.on::<Update>(move |(data,)| {
        if let Some(s) = Steer::from_payload(&data) {
            steer[s.player.index()].set(Some(s));
            last_seen[s.player.index()].set(Some(js_sys::Date::now()));
        }
    });
    let state = socket.state();
    let my_id = RwSignal::from(socket.id());

    let config = LocalResource::new(get_site_config);
    let link = move |player: Player| {
        let id = my_id.get()?;
        let config = config.get().map(|result| result.unwrap_or_default())?;
        let location = window().location();
        let (origin, host) = (
            location.origin().unwrap_or_default(),
            location.hostname().unwrap_or_default(),
        );
        let base = phone_base(&config, &origin, &host);
        Some((
            format!("{}{}", base.base, controller_path(&id, player)),
            base.warning,
            config,
        ))
    };
    let sending = move |player: Player| {
        last_seen[player.index()]
            .get()
            .is_some_and(|t| now.get() - t < SENDING_WINDOW_MS)
    };
    let stage = RwSignal::new(Stage::Ball);
    let steer_x = Signal::derive(move || steer[0].get().map(|s| s.x));
    // Player 2's paddle is in the game while player 2's phone is there.
    let top_x = Signal::derive(move || {
        let x = steer[1].get().map_or(0.5, |s| s.x);
        sending(Player::Two).then_some(x)
    });
    let in_game = move || stage.get() == Stage::Squash;

    view! {
        <section class="remote">
            <h1>"Phone as controller"</h1>
            <ConnectionBadge state=state/>
            <div class="remote-grid">
                <div class="stage-column">
                    <div class="tabs" role="tablist">
                        <StageTab stage=stage value=Stage::Ball label="Ball"/>
                        <StageTab stage=stage value=Stage::Squash label="Squash"/>
                    </div>
                    <Show when=move || stage.get() == Stage::Ball fallback=move || view! { <SquashGame steer_x=steer_x top_x=top_x/> }>
                        <BallStage steer=steer[0]/>
                    </Show>
                    <p class="controller-status" class:live=move || sending(Player::One) data-testid="controller-status" role="status">
                        {move || match (sending(Player::One), in_game()) {
                            (true, false) => "Controller connected: steering",
                            (true, true) => "Player 1: steering",
                            (false, false) => "Waiting for a controller…",
                            (false, true) => "Waiting for player 1…",
                        }}
                    </p>
                    <Show when=in_game>
                        <p class="controller-status" class:live=move || sending(Player::Two) data-testid="player-2-status" role="status">
                            {move || if sending(Player::Two) {
                                "Player 2: steering"
                            } else {
                                "Waiting for player 2… (alone, the top is a wall)"
                            }}
                        </p>
                    </Show>
                </div>
                <aside class="link-panel">
                    <h2>{move || if in_game() { "Player 1: scan with your phone" } else { "Steer from your phone" }}</h2>
                    {move || match link(Player::One) {
                        None => view! { <p class="muted">"Preparing your link…"</p> }.into_any(),
                        Some((url, warning, config)) => view! {
                            <ControllerLink url=url testid=""/>
                            {warning.map(|w| view! { <p class="warning">{w}</p> })}
                            {(!config.tls).then(|| view! {
                                <p class="muted">
                                    "Tilt steering on a phone needs HTTPS: start the server with "
                                    <code>"--tls self-signed"</code> "."
                                </p>
                            })}
                        }.into_any(),
                    }}
                    <Show when=in_game>
                        <h2>"Player 2: scan with a second phone"</h2>
                        {move || link(Player::Two).map(|(url, _, _)| view! { <ControllerLink url=url testid="-2"/> })}
                    </Show>
                </aside>
            </div>
        </section>
    }
}

/// A controller's link as a QR code and as text (test ids `qr` and `controller-url`, with
/// `testid` appended).
#[component]
fn ControllerLink(url: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="qr" data-testid=format!("qr{testid}") inner_html=qr_svg(&url).unwrap_or_default()></div>
        <p class="url">
            <a data-testid=format!("controller-url{testid}") href=url.clone() target="_blank" rel="noopener">{url.clone()}</a>
        </p>
    }
}

#[component]
fn StageTab(stage: RwSignal<Stage>, value: Stage, label: &'static str) -> impl IntoView {
    view! {
        <button
            role="tab"
            class="tab"
            aria-selected=move || (stage.get() == value).to_string()
            on:click=move |_| stage.set(value)
        >
            {label}
        </button>
    }
}

/// The seed's app: one ball that goes where the controller points.
#[component]
fn BallStage(steer: RwSignal<Option<Steer>>) -> impl IntoView {
    let left = move || format!("{:.3}%", steer.get().map_or(0.5, |s| s.x) * 100.0);
    let top = move || format!("{:.3}%", steer.get().map_or(0.5, |s| s.y) * 100.0);
    view! {
        <div class="ball-stage" data-testid="stage">
            <div class="ball" data-testid="ball" style:left=left style:top=top></div>
        </div>
    }
}
