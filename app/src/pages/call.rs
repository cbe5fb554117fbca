//! `/call`: the chapter's final app, private. `Start a call` opens a call of its own at
//! `/call?c=<id>` (an id nobody can guess) and shows its link and QR code; whoever opens the
//! link joins, and the two see and hear each other, can mute, turn the camera off and chat
//! over the data channel. A third person is told the call is full. Nobody else sees the call
//! or can ring it. Leaving and coming back (a reload) on the same link works.

use std::rc::Rc;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::components::browser::random_id;
use crate::components::{
    append_line, use_media_switches, ChatLine, ChatLog, Composer, ConnectionBadge, Invite,
    MediaButtons, MediaSwitches, VideoView,
};
use crate::connection::ConnectionState;
use crate::protocol::call::{
    Call, CallError, CallId, Join, Joined, Leave, MemberJoined, MemberLeft, SendSignal,
    Signal as SignalFrom, NEW_ID_CHARS,
};
use crate::protocol::chat::{ChatText, SessionKey};
use crate::protocol::meet::PeerMessage;
use crate::protocol::{Nothing, Payload, PeerId};
use crate::socketio::use_socket;
use crate::webrtc::ice::use_ice;
use crate::webrtc::media::open_for_call;
use crate::webrtc::mesh::{Link, Links, Mesh, Other, RoomSeat};
use crate::webrtc::quality;
use crate::webrtc::signalling::StreamSlot;

/// What the page calls the one other person.
const THEM: &str = "the other person";

#[component]
pub fn CallPage() -> impl IntoView {
    let query = use_query_map();
    let call = move || query.with(|q| q.get("c")).map(|c| CallId::parse(&c));
    move || match call() {
        Some(Ok(call)) => view! { <InCall call=call/> }.into_any(),
        other => view! { <StartCall invalid=other.is_some()/> }.into_any(),
    }
}

/// No call in the URL (or a malformed one): start one.
#[component]
fn StartCall(invalid: bool) -> impl IntoView {
    let problem =
        RwSignal::new(invalid.then(|| {
            "That call link is not valid: check it, or start a call of your own.".to_owned()
        }));
    let navigate = use_navigate();
    let start = move |_| match random_id(NEW_ID_CHARS) {
        Some(id) => navigate(&format!("/call?c={id}"), Default::default()),
        None => problem.set(Some(
            "This browser cannot make a private call (it has no secure random numbers).".into(),
        )),
    };
    view! {
        <section class="call">
            <h1>"Video call"</h1>
            <p class="lead">"A private video call between two people. Start one and send its link: \
                whoever opens it joins you. Nobody else can see you or call you."</p>
            <button type="button" on:click=start>"Start a call"</button>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert" data-testid="problem">{p}</p> })}
        </section>
    }
}

/// The same tab's key across reloads (sessionStorage survives a reload, not a new tab), so
/// that its next connection takes its seat back.
fn session_key() -> Option<SessionKey> {
    const KEY: &str = "switchboard.call-session";
    let storage = window().session_storage().ok()??;
    let known = storage.get_item(KEY).ok().flatten();
    let key = known.or_else(|| {
        let fresh = random_id(24)?;
        storage.set_item(KEY, &fresh).ok()?;
        Some(fresh)
    })?;
    SessionKey::parse(&key).ok()
}

/// News of the call (held while our reply is on its way, see [`RoomSeat`]).
enum CallNews {
    Joined(PeerId),
    Left(PeerId),
}

fn them(id: PeerId) -> Other {
    Other {
        id,
        name: THEM.to_owned(),
    }
}

#[component]
fn InCall(call: CallId) -> impl IntoView {
    let socket = use_socket::<Call>();
    let connection = RwSignal::from(socket.state());
    let socket = StoredValue::new_local(socket);
    let ice = use_ice();
    let mesh = Mesh::new();
    let seat = RoomSeat::<CallNews>::default();
    let camera: StreamSlot = RwSignal::new_local(None);
    // The camera was asked for (opened or not): we may join.
    let ready = RwSignal::new(false);
    let switches = use_media_switches(camera);
    let MediaSwitches { muted, camera_off } = switches;
    let problem = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let chat = RwSignal::new(Vec::<ChatLine>::new());
    // We want to be in the call (false after hanging up or a refusal).
    let wanted = RwSignal::new(true);
    // The server has us in the call.
    let joined = RwSignal::new(false);
    let me = RwSignal::new(None::<PeerId>);
    let call = StoredValue::new(call);
    let key = StoredValue::new(session_key());

    leptos::task::spawn_local(async move {
        let opened = open_for_call().await;
        camera_off.set(opened.camera_off);
        camera.set(opened.stream);
        notice.set(opened.notice);
        ready.set(true);
    });

    let links = move || Links {
        me: me.get_untracked().unwrap_or_else(|| PeerId::of_socket("")),
        ice,
        stream: camera.get_untracked(),
        say: Rc::new(move |to: &PeerId, data| {
            let sent = Payload::new(&data)
                .map_err(|e| e.to_string())
                .and_then(|data| {
                    socket
                        .with_value(|s| s.emit::<SendSignal>((to.clone(), data)))
                        .map_err(|e| e.to_string())
                });
            if let Err(error) = sent {
                notice.set(Some(format!("A signal was not sent: {error}.")));
            }
        }),
        heard: Rc::new(move |_, text| append_line(chat, Some("them".into()), text, false)),
        state: Rc::new(move || PeerMessage::State {
            muted: muted.get_untracked(),
            camera_off: camera_off.get_untracked(),
        }),
    };
    let join = move || {
        // Not before the server's ICE configuration is known (its relay-only rule with it).
        if !wanted.get_untracked() || !ready.get_untracked() || !ice.known().get_untracked() {
            return;
        }
        seat.ask();
        let args = (call.get_value(), key.get_value());
        if socket.with_value(|s| s.emit::<Join>(args)).is_err() {
            notice.set(Some(
                "Not connected: joining when the connection is back.".into(),
            ));
        }
    };
    let news = move |news: CallNews| match seat.news(news) {
        Some(CallNews::Joined(id)) => {
            // A new face clears "The other person left the call."
            let new = mesh.add(them(id), false);
            if new {
                notice.set(None);
            }
        }
        Some(CallNews::Left(id)) => {
            if mesh
                .members
                .with_untracked(|m| m.iter().any(|(o, _)| o.id == id))
            {
                notice.set(Some("The other person left the call.".into()));
                chat.set(Vec::new());
            }
            mesh.remove(&id);
        }
        None => {}
    };

    socket.with_value(|s| {
        s.on::<Joined>(move |(view,)| {
            problem.set(None);
            joined.set(true);
            me.set(Some(view.you));
            mesh.start(links());
            // Whoever is there already: we are the newer one, so we offer.
            for other in view.others {
                mesh.add(them(other), true);
            }
            for held in seat.entered() {
                news(held);
            }
        });
        s.on::<MemberJoined>(move |(id,)| news(CallNews::Joined(id)));
        s.on::<MemberLeft>(move |(id,)| news(CallNews::Left(id)));
        s.on::<SignalFrom>(move |(from, data)| match data.decode() {
            Ok(data) => mesh.signal(&from, data),
            Err(_) => notice.set(Some(
                "A signal from the other person could not be read.".into(),
            )),
        });
        s.on::<CallError>(move |(why,)| {
            if joined.get_untracked() {
                // A signal that did not go (the other person just left).
                notice.set(Some(why));
            } else {
                problem.set(Some(why));
                seat.leave();
                wanted.set(false);
            }
        });
        // After a reconnect the server has forgotten us: join again.
        s.on_connect(move || {
            joined.set(false);
            mesh.clear();
            join();
        });
    });
    // Join once the camera is settled, if connected by then.
    Effect::new(move |_| {
        if ready.get() && ice.known().get() && connection.get() == ConnectionState::Connected {
            join();
        }
    });
    // The other person sees our switches.
    Effect::new(move |_| {
        mesh.tell_all(&PeerMessage::State {
            muted: muted.get(),
            camera_off: camera_off.get(),
        });
    });
    on_cleanup(move || mesh.clear());

    let hang_up = move |_| {
        let _ = socket.with_value(|s| s.emit::<Leave>(Nothing));
        seat.leave();
        wanted.set(false);
        joined.set(false);
        mesh.clear();
        chat.set(Vec::new());
        notice.set(Some("You left the call.".into()));
    };
    let rejoin = move |_| {
        wanted.set(true);
        notice.set(None);
        join();
    };
    let say = move |text: ChatText, clear: Box<dyn Fn()>| {
        let text = text.to_string();
        if mesh.tell_all(&PeerMessage::Chat { text: text.clone() }) == 0 {
            return notice.set(Some("Not sent: the other person is not connected.".into()));
        }
        append_line(chat, Some("you".into()), text, true);
        clear();
    };

    let other = move || mesh.members.with(|m| m.first().map(|(_, tile)| *tile));
    let link = move || other().map(|tile| tile.link.get());
    let state_line = move || {
        if !wanted.get() {
            return "You are not in the call.";
        }
        match (joined.get(), link()) {
            (false, _) => "Joining…",
            (true, None) => "Waiting for someone to open the link…",
            (true, Some(Link::Connecting)) => "Connecting…",
            (true, Some(Link::Connected)) => "In a call",
            (true, Some(Link::Reconnecting)) => "Reconnecting…",
            (true, Some(Link::Failed)) => "Could not connect to the other person.",
            (true, Some(Link::Lost)) => "Could not reconnect to the other person.",
        }
    };
    let empty: StreamSlot = RwSignal::new_local(None);
    let remote = move || other().map_or(empty, |tile| tile.stream);
    // Chat and the quality line stay while it reconnects.
    let connected = move || matches!(link(), Some(Link::Connected | Link::Reconnecting));
    let quality = quality::watch(move || {
        let id = mesh
            .members
            .with_untracked(|m| m.first().map(|(o, _)| o.id.clone()))?;
        mesh.peer(&id)
    });

    view! {
        <section class="call">
            <h1>"Video call"</h1>
            <ConnectionBadge state=connection/>
            {move || problem.get().map(|p| view! {
                <p class="warning" role="alert" data-testid="problem">{p}</p>
                <p><a href="/call">"Start a call of your own"</a></p>
            })}
            <p class="notice" role="status" data-testid="notice">{move || notice.get()}</p>
            <p data-testid="call-state">{state_line}</p>
            <div class="call-videos">
                {move || view! { <VideoView stream=remote() label="Their camera"/> }}
                <VideoView stream=camera label="My camera" local=true/>
            </div>
            <Show when=connected>
                <p class="muted quality" data-testid="call-quality">{move || quality.get()}</p>
            </Show>
            <p class="muted" data-testid="their-state">
                {move || other().map(|tile| match (tile.muted.get(), tile.camera_off.get()) {
                    (true, true) => "They are muted, with the camera off.",
                    (true, false) => "They are muted.",
                    (false, true) => "Their camera is off.",
                    (false, false) => "",
                })}
            </p>
            <div class="call-controls">
                <Show when=move || wanted.get() fallback=move || view! {
                    <button on:click=rejoin>"Rejoin"</button>
                    <a href="/call">"Start a new call"</a>
                }>
                    <MediaButtons switches=switches/>
                    <button class="danger" on:click=hang_up>"Hang up"</button>
                </Show>
            </div>
            <Show when=connected>
                <div class="call-chat">
                    <ChatLog lines=chat/>
                    <Composer send=say can_send=Signal::stored(true)/>
                </div>
            </Show>
            <Show when=move || wanted.get() && problem.with(Option::is_none)>
                <Invite path=Signal::derive(move || format!("/call?c={}", call.get_value()))
                    summary="Invite someone: this call's link and QR code"
                    open=Signal::derive(move || joined.get() && other().is_none())/>
                <p class="muted">"Only whoever has this link can join: send it to the one person you want to talk to."</p>
            </Show>
        </section>
    }
}
