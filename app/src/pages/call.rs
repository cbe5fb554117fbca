//! `/call`: the chapter's final app. One page for both sides: pick someone and call; both see
//! and hear each other, can mute, turn the camera off and chat over the data channel; hanging
//! up, the other side leaving and a failed connection all end the call with a message and
//! bring back the list. An incoming call is answered at once, as in the seed.

use std::time::Duration;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::{
    append_line, use_media_switches, ChatLine, ChatLog, ConnectionBadge, MediaButtons, VideoView,
};
use crate::protocol::signal::{SignalData, SignalEvent, SignalFrom};
use crate::protocol::PeerId;
use crate::webrtc::media::CameraRequest;
use crate::webrtc::negotiation::polite;
use crate::webrtc::signalling::{
    on_relayed, relay, start_camera, use_ice_servers, use_signalling, StreamSlot,
};
use crate::webrtc::{Peer, PeerEvent, PeerOptions};

/// How long a call may ring before we give up.
const RING_FOR: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallState {
    Idle,
    /// Setting up a call with this peer (we called, or they did).
    Ringing(PeerId),
    InCall(PeerId),
}

impl CallState {
    fn peer(&self) -> Option<&PeerId> {
        match self {
            CallState::Idle => None,
            CallState::Ringing(id) | CallState::InCall(id) => Some(id),
        }
    }
}

#[component]
pub fn CallPage() -> impl IntoView {
    let connection = use_signalling();
    let ice = use_ice_servers();
    let my_id: Signal<Option<String>> = connection.socket.id().into();
    let others = connection.others;
    let camera: StreamSlot = RwSignal::new_local(None);
    let remote: StreamSlot = RwSignal::new_local(None);
    let problem = RwSignal::new(None::<String>);
    let state = RwSignal::new(CallState::Idle);
    let notice = RwSignal::new(None::<String>);
    let chat = RwSignal::new(Vec::<ChatLine>::new());
    let switches = use_media_switches(camera);
    let peer = StoredValue::new_local(None::<Peer>);
    let socket = StoredValue::new_local(connection.socket.clone());
    start_camera(
        CameraRequest {
            audio: true,
            ..CameraRequest::default()
        },
        camera,
        problem,
    );

    let say = move |to: &PeerId, data: SignalData| {
        if let Err(error) = socket.with_value(|s| relay::<SignalEvent>(s, to, &data)) {
            notice.set(Some(format!("A signal to {to} was not sent: {error}.")));
        }
    };
    // Ends the current call (if any) and says why.
    let end = move |reason: String| {
        if state.get_untracked() != CallState::Idle {
            state.set(CallState::Idle);
            remote.set(None);
            notice.set(Some(reason));
        }
        // Destroying reports `Close`, which finds the call already over.
        if let Some(ended) = peer.try_update_value(Option::take).flatten() {
            ended.destroy();
        }
    };
    let add_line = move |from: &str, text: String, own: bool| {
        append_line(chat, Some(from.to_owned()), text, own)
    };
    // Starts a connection to `to`; we are the initiator when we place the call.
    let start = move |to: PeerId, initiator: bool| -> Result<Peer, String> {
        let me = my_id.get_untracked().unwrap_or_default();
        let options = PeerOptions {
            initiator,
            polite: polite(&me, to.as_str()),
            ice_servers: ice.get_untracked().unwrap_or_default(),
            stream: camera.get_untracked(),
            data_channel: true,
        };
        let other = to.clone();
        let created = Peer::new(options, move |event| match event {
            PeerEvent::Signal(data) => say(&other, data),
            PeerEvent::Connect => {
                notice.set(None);
                state.set(CallState::InCall(other.clone()));
            }
            PeerEvent::Stream(stream) => remote.set(Some(stream)),
            PeerEvent::Data(text) => add_line("them", text, false),
            PeerEvent::Error(error) => notice.set(Some(format!("Problem: {error}"))),
            PeerEvent::Close => {
                if state.get_untracked().peer() == Some(&other) {
                    end(format!("The call with {other} ended."));
                }
            }
        })?;
        chat.set(Vec::new());
        peer.set_value(Some(created.clone()));
        state.set(CallState::Ringing(to.clone()));
        set_timeout(
            move || {
                if state.get_untracked() == CallState::Ringing(to.clone()) {
                    say(&to, SignalData::Bye);
                    end(format!("No answer from {to}."));
                }
            },
            RING_FOR,
        );
        Ok(created)
    };
    let call = move |to: PeerId| {
        if state.get_untracked() != CallState::Idle {
            return;
        }
        if camera.with_untracked(Option::is_none) {
            return notice.set(Some("The camera is not ready yet.".into()));
        }
        notice.set(None);
        if let Err(error) = start(to, true) {
            notice.set(Some(error));
        }
    };
    let hang_up = move || {
        if let Some(to) = state.get_untracked().peer().cloned() {
            say(&to, SignalData::Bye);
            end(format!("You hung up on {to}."));
        }
    };

    on_relayed::<SignalFrom, _>(
        &connection.socket,
        move |p| notice.set(Some(p)),
        move |data: SignalData, from| {
            let current = state.get_untracked();
            match (&data, current.peer()) {
                (SignalData::Bye, Some(p)) if *p == from => end(format!("{from} hung up.")),
                (SignalData::Busy, Some(p)) if *p == from => {
                    end(format!("{from} is in another call."))
                }
                (SignalData::Bye | SignalData::Busy, _) => {}
                // A call comes in while we are free: answer it.
                (SignalData::Offer { .. }, None) => match start(from.clone(), false) {
                    Ok(answering) => answering.signal(data),
                    Err(error) => notice.set(Some(error)),
                },
                // The one we are talking to (or calling: both may call at once).
                (_, Some(p)) if *p == from => {
                    if let Some(current) = peer.with_value(Clone::clone) {
                        current.signal(data);
                    }
                }
                (SignalData::Offer { .. }, Some(_)) => say(&from, SignalData::Busy),
                _ => {}
            }
        },
    );
    // The other side closed its page (or lost its connection to the server).
    Effect::new(move |_| {
        let present = others.get();
        if let Some(p) = state.get_untracked().peer().cloned() {
            if !present.contains(&p) {
                end(format!("{p} left."));
            }
        }
    });
    on_cleanup(move || {
        if let Some(p) = peer.try_update_value(Option::take).flatten() {
            p.destroy();
        }
    });

    let draft = RwSignal::new(String::new());
    let send = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match peer.with_value(|p| p.as_ref().map(|p| p.send(&text))) {
            Some(Ok(())) => {
                add_line("you", text, true);
                draft.set(String::new());
            }
            Some(Err(error)) => notice.set(Some(format!("Not sent: {error}"))),
            None => {}
        }
    };
    let in_call = move || matches!(state.get(), CallState::InCall(_));

    view! {
        <section class="call">
            <h1>"Call"</h1>
            <ConnectionBadge state=connection.socket.state()/>
            <p class="muted">"You are " <code data-testid="my-id">{move || my_id.get().unwrap_or_default()}</code></p>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
            <p class="notice" role="status" data-testid="notice">{move || notice.get()}</p>
            <div class="call-videos">
                <VideoView stream=remote label="Their camera"/>
                <VideoView stream=camera label="My camera" local=true/>
            </div>
            {move || match state.get() {
                CallState::Idle => view! {
                    <h2>"Who to call"</h2>
                    <ul class="peer-list">
                        <For each=move || others.get() key=|id| id.clone() let:id>
                            <li>
                                <code>{id.to_string()}</code>
                                " "
                                <button on:click={
                                    let id = id.clone();
                                    move |_| call(id.clone())
                                }>"Call"</button>
                            </li>
                        </For>
                    </ul>
                    <Show when=move || others.with(Vec::is_empty)>
                        <p class="muted">"Nobody else is here yet: open this page in another window or on your phone."</p>
                    </Show>
                }.into_any(),
                CallState::Ringing(id) => view! {
                    <p data-testid="call-state">{format!("Connecting with {id}…")}</p>
                    <button class="danger" on:click=move |_| hang_up()>"Hang up"</button>
                }.into_any(),
                CallState::InCall(id) => view! {
                    <p data-testid="call-state">{format!("In a call with {id}")}</p>
                    <div class="call-controls">
                        <MediaButtons switches=switches/>
                        <button class="danger" on:click=move |_| hang_up()>"Hang up"</button>
                    </div>
                }.into_any(),
            }}
            <Show when=in_call>
                <div class="call-chat">
                    <ChatLog lines=chat/>
                    <form class="composer" on:submit=send>
                        <label class="visually-hidden" for="call-message">"Message"</label>
                        <input id="call-message" autocomplete="off" placeholder="Say something"
                            prop:value=draft on:input:target=move |ev| draft.set(ev.target().value())/>
                        <button type="submit">"Send"</button>
                    </form>
                </div>
            </Show>
        </section>
    }
}
