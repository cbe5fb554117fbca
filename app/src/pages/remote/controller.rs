//! `/remote/controller?id=<desktop socket id>[&player=2]`: the phone side. Touch (or mouse) moves are sent
//! as fractions of the pad; tilt mode sends the gyroscope instead. The page checks every few
//! seconds that its desktop is still there and says so when it is not.

use std::time::Duration;

use leptos::ev::PointerEvent;
use leptos::html::Div;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::components::browser::{use_frame_throttle, use_interval};
use crate::components::ConnectionBadge;
use crate::protocol::remote::{Player, Remote, SendUpdate, Steer, SteerSource};
use crate::protocol::{Payload, PeerId, Receipt};
use crate::socketio::{use_socket, EmitError};

/// How often the controller asks the server whether its desktop is still connected.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Degrees of tilt from the centre to the edge of the screen.
const TILT_RANGE_DEG: f64 = 30.0;

#[component]
pub fn ControllerPage() -> impl IntoView {
    let query = use_query_map();
    let target = move || {
        query
            .with(|q| q.get("id"))
            .map(|id| PeerId::parse(id.trim()))
    };
    // The second phone of a game for two; any other value is player 1.
    let player = move || match query.with(|q| q.get("player")).as_deref() {
        Some("2") => Player::Two,
        _ => Player::One,
    };
    move || match target() {
        Some(Ok(id)) => view! { <Steering target=id player=player()/> }.into_any(),
        missing_or_malformed => view! {
            <section class="controller-missing">
                <h1>"Controller"</h1>
                <p class="warning" role="alert">
                    {if missing_or_malformed.is_some() {
                        "This link does not name a screen to steer. Open "
                    } else {
                        "This page needs to know which screen to steer. Open "
                    }}
                    <A href="/remote">"the desktop page"</A>
                    " on your computer and scan its QR code (or open the link it shows)."
                </p>
            </section>
        }
        .into_any(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Touch,
    Tilt,
}

#[component]
fn Steering(target: PeerId, player: Player) -> impl IntoView {
    let socket = use_socket::<Remote>();
    let state = socket.state();
    let socket = StoredValue::new_local(socket);
    let target = StoredValue::new(target);
    // Why steering cannot work right now (unknown desktop, no gyroscope, ...).
    let problem = RwSignal::new(None::<String>);
    let mode = RwSignal::new(Mode::Touch);
    // Where the finger (or the tilt) points, as fractions of the pad.
    let pointer = RwSignal::new(None::<(f64, f64)>);
    let last = StoredValue::new(Steer {
        x: 0.5,
        y: 0.5,
        source: SteerSource::Touch,
        player,
    });

    let send = use_frame_throttle(move |steer: Steer| {
        last.set_value(steer);
        pointer.set(Some((steer.x, steer.y)));
        let sent = Payload::new(&steer)
            .map_err(|_| EmitError::Unencodable)
            .and_then(|data| {
                socket.with_value(|s| s.emit::<SendUpdate>((target.get_value(), data)))
            });
        match sent {
            // The badge says we are offline; the next move after reconnecting goes out.
            Ok(()) | Err(EmitError::NotConnected) => {}
            Err(error) => problem.set(Some(format!("Steering was not sent: {error}."))),
        }
    });

    // Asks for an acknowledgement: the server says whether the desktop is connected.
    let probe = move || {
        let socket = socket.get_value();
        let Ok(steer) = Payload::new(&last.get_value()) else {
            return;
        };
        let args = (target.get_value(), steer);
        spawn_local(async move {
            match socket
                .emit_with_ack::<SendUpdate, (Receipt,)>(args, 3000)
                .await
            {
                Ok((receipt,)) => problem.set(receipt.error),
                Err(EmitError::NotConnected) => {}
                Err(error) => problem.set(Some(format!("The server did not confirm: {error}."))),
            }
        });
    };
    socket.with_value(|s| s.on_connect(probe));
    use_interval(PROBE_EVERY, probe);

    let pad = NodeRef::<Div>::new();
    let touch_send = send.clone();
    let on_pointer = move |e: PointerEvent| {
        if mode.get_untracked() != Mode::Touch {
            return;
        }
        let Some(pad) = pad.get_untracked() else {
            return;
        };
        let rect = pad.get_bounding_client_rect();
        let x = (e.client_x() as f64 - rect.left()) / rect.width().max(1.0);
        let y = (e.client_y() as f64 - rect.top()) / rect.height().max(1.0);
        touch_send(Steer {
            x: x.clamp(0.0, 1.0),
            y: y.clamp(0.0, 1.0),
            source: SteerSource::Touch,
            player,
        });
    };
    let on_move = on_pointer.clone();

    // Tilt: the first reading after switching on (or re-centring) is the neutral position.
    let centre = StoredValue::new(None::<(f64, f64)>);
    let tilt_listener = window_event_listener_untyped("deviceorientation", move |event| {
        if mode.get_untracked() != Mode::Tilt {
            return;
        }
        let Ok(event) = event.dyn_into::<web_sys::DeviceOrientationEvent>() else {
            return;
        };
        let (Some(beta), Some(gamma)) = (event.beta(), event.gamma()) else {
            return;
        };
        let (beta0, gamma0) = centre.get_value().unwrap_or_else(|| {
            centre.set_value(Some((beta, gamma)));
            (beta, gamma)
        });
        let to_fraction = |deg: f64| (0.5 + deg / (2.0 * TILT_RANGE_DEG)).clamp(0.0, 1.0);
        send(Steer {
            x: to_fraction(gamma - gamma0),
            y: to_fraction(beta - beta0),
            source: SteerSource::Tilt,
            player,
        });
    });
    on_cleanup(move || tilt_listener.remove());

    let use_tilt = move |_| {
        spawn_local(async move {
            match tilt_permission().await {
                Ok(()) => {
                    centre.set_value(None);
                    problem.set(None);
                    mode.set(Mode::Tilt);
                }
                Err(reason) => problem.set(Some(reason)),
            }
        })
    };

    view! {
        <section class="controller">
            <div class="controller-bar">
                <ConnectionBadge state=state/>
                {(player == Player::Two).then(|| view! { <strong class="player" data-testid="player">"Player 2"</strong> })}
                <div class="modes" role="group" aria-label="Steer with">
                    <button aria-pressed=move || (mode.get() == Mode::Touch).to_string() on:click=move |_| mode.set(Mode::Touch)>
                        "Touch"
                    </button>
                    <button aria-pressed=move || (mode.get() == Mode::Tilt).to_string() on:click=use_tilt>
                        "Tilt"
                    </button>
                    <Show when=move || mode.get() == Mode::Tilt>
                        <button class="secondary" on:click=move |_| centre.set_value(None)>"Re-centre"</button>
                    </Show>
                </div>
            </div>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert" data-testid="problem">{p}</p> })}
            <div class="pad" node_ref=pad data-testid="pad" on:pointerdown=on_pointer on:pointermove=on_move>
                <p class="pad-hint">
                    {move || match mode.get() {
                        Mode::Touch => "Drag here to steer",
                        Mode::Tilt => "Tilt your phone to steer",
                    }}
                </p>
                {move || pointer.get().map(|(x, y)| view! {
                    <div class="crosshair" style:left=format!("{:.2}%", x * 100.0) style:top=format!("{:.2}%", y * 100.0)></div>
                })}
            </div>
        </section>
    }
}

/// Makes sure orientation events can arrive: they need a secure page, and iOS asks the user
/// (only from a tap, which is why this runs from the Tilt button).
async fn tilt_permission() -> Result<(), String> {
    let window = window();
    if !window.is_secure_context() {
        return Err("Tilt needs a secure page: open this controller over HTTPS (start the server with --tls self-signed).".into());
    }
    let constructor = js_sys::Reflect::get(&window, &JsValue::from_str("DeviceOrientationEvent"))
        .unwrap_or(JsValue::UNDEFINED);
    if constructor.is_undefined() {
        return Err("This browser gives no access to the gyroscope.".into());
    }
    let request = js_sys::Reflect::get(&constructor, &JsValue::from_str("requestPermission"))
        .unwrap_or(JsValue::UNDEFINED);
    let Some(request) = request.dyn_ref::<js_sys::Function>() else {
        return Ok(()); // Only iOS asks; elsewhere events simply arrive.
    };
    let answer = match request.call0(&constructor).map(js_sys::Promise::from) {
        Ok(promise) => JsFuture::from(promise).await,
        Err(error) => Err(error),
    };
    match answer.ok().and_then(|a| a.as_string()).as_deref() {
        Some("granted") => Ok(()),
        _ => Err("Motion access was not allowed. Allow it for this site in your browser's settings, then tap Tilt again.".into()),
    }
}
