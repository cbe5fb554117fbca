//! `/meet?room=<name>`: a video meeting. Everyone in the room sees and hears everyone else:
//! through the server's SFU (each page sends its camera once; rooms of up to 25 by default),
//! or, where the server says so, over a full mesh of WebRTC connections (rooms of four; the
//! server only keeps the room and relays signals). Mute and camera off show on the others'
//! grids; the room's text chat goes over the data channel(s). Through the SFU a person can
//! be pinned, the one speaking is highlighted, and a screen can be shared. Without a camera
//! it joins with the microphone alone, without either it joins to watch and chat. A room is a
//! name anyone who knows it can use; `New meeting` makes one nobody can guess.

mod grid;
mod media;

use std::rc::Rc;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::browser::random_id;
use crate::components::{
    append_line, use_media_switches, ChatLine, ChatLog, Composer, ConnectionBadge, Invite,
    MediaButtons, MediaSwitches,
};
use crate::protocol::call::NEW_ID_CHARS;
use crate::protocol::chat::ChatText;
use crate::protocol::meet::{
    Join, Joined, Leave, MediaAnswer, MediaOffer, Meet, MeetError, Member, MemberJoined,
    MemberLeft, MemberName, PeerMessage, RoomName, SendSignal, SessionDescription,
    Signal as SignalFrom,
};
use crate::protocol::{Nothing, Payload, PeerId, Rejection};
use crate::socketio::use_socket;
use crate::webrtc::ice::use_ice;
use crate::webrtc::media::open_for_call;
use crate::webrtc::mesh::{Links, Other, RoomSeat};
use crate::webrtc::sfu_room::SfuLinks;
use crate::webrtc::signalling::StreamSlot;
use grid::{Grid, ScreenButton};
use media::RoomMedia;

/// News of the room (held while our `room` reply is on its way, see [`RoomSeat`]).
enum RoomNews {
    Joined(Member),
    Left(PeerId),
}

fn other(member: Member) -> Other {
    Other {
        id: member.id,
        name: member.name.to_string(),
    }
}

#[component]
pub fn MeetPage() -> impl IntoView {
    let query = use_query_map();
    let room = move || query.with(|q| q.get("room")).map(|r| RoomName::parse(&r));
    move || match room() {
        Some(Ok(room)) => view! { <Meeting room=room/> }.into_any(),
        other => view! { <PickRoom invalid=other.is_some()/> }.into_any(),
    }
}

/// No room in the URL (or a malformed one): ask for one.
#[component]
fn PickRoom(invalid: bool) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(invalid.then(|| "That room name is not valid.".to_owned()));
    let navigate = leptos_router::hooks::use_navigate();
    let open = {
        let navigate = navigate.clone();
        move |room: &str| navigate(&format!("/meet?room={room}"), Default::default())
    };
    let go = {
        let open = open.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            match RoomName::parse(&draft.get_untracked()) {
                Ok(room) => open(room.as_str()),
                Err(why) => problem.set(Some(why.to_string())),
            }
        }
    };
    let new_meeting = move |_| match random_id(NEW_ID_CHARS) {
        Some(room) => open(&room),
        None => problem.set(Some(
            "This browser cannot make a private room (it has no secure random numbers).".into(),
        )),
    };
    view! {
        <section class="meet">
            <h1>"Video meeting"</h1>
            <p class="lead">"Everyone in a room sees and hears everyone else. Start a new meeting and share its link, or pick a room by name."</p>
            <button type="button" on:click=new_meeting>"New meeting"</button>
            <p class="muted">"A new meeting gets a room nobody can guess: only people with its link can join."</p>
            <form class="composer" on:submit=go>
                <label class="visually-hidden" for="room-name">"Room"</label>
                <input id="room-name" placeholder="Room, e.g. standup" prop:value=draft
                    on:input:target=move |ev| draft.set(ev.target().value())/>
                <button type="submit">"Open room"</button>
            </form>
            <p class="muted">"A room by name is open to anyone who knows or guesses the name."</p>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
        </section>
    }
}

#[component]
fn Meeting(room: RoomName) -> impl IntoView {
    let socket = use_socket::<Meet>();
    let state = socket.state();
    let socket = StoredValue::new_local(socket);
    let ice = use_ice();
    let media = RoomMedia::new();
    let camera: StreamSlot = RwSignal::new_local(None);
    let problem = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    // The name we joined with; `None` before joining and after leaving.
    let joined_as = RwSignal::new(None::<MemberName>);
    let me = RwSignal::new(None::<PeerId>);
    let switches = use_media_switches(camera);
    let MediaSwitches { muted, camera_off } = switches;
    let chat = RwSignal::new(Vec::<ChatLine>::new());
    let room = StoredValue::new(room);
    let seat = RoomSeat::<RoomNews>::default();

    let heard = Rc::new(move |name: String, text| append_line(chat, Some(name), text, false));
    let our_state = Rc::new(move || PeerMessage::State {
        muted: muted.get_untracked(),
        camera_off: camera_off.get_untracked(),
    });
    let mesh_links = {
        let (heard, our_state) = (heard.clone(), our_state.clone());
        move || Links {
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
            heard: heard.clone(),
            state: our_state.clone(),
        }
    };
    let sfu_links = move || SfuLinks {
        ice,
        stream: camera.get_untracked(),
        offer: Rc::new(move |sdp: String| {
            let sent = SessionDescription::parse(&sdp).and_then(|sdp| {
                socket
                    .with_value(|s| s.emit::<MediaOffer>((sdp,)))
                    .map_err(|e| Rejection::new(e.to_string()))
            });
            if let Err(error) = sent {
                notice.set(Some(format!(
                    "Could not reach the meeting server: {error}."
                )));
            }
        }),
        heard: heard.clone(),
        state: our_state.clone(),
        notice: Rc::new(move |text| notice.set(Some(text))),
    };
    let join = move || {
        if let Some(name) = joined_as.get_untracked() {
            let args = (room.get_value(), name);
            seat.ask();
            if socket.with_value(|s| s.emit::<Join>(args)).is_err() {
                notice.set(Some(
                    "Not connected: joining when the connection is back.".into(),
                ));
            }
        }
    };

    // Applies news of the room once we are in it; held while our reply is on its way.
    let news = move |news: RoomNews| match seat.news(news) {
        Some(RoomNews::Joined(member)) => {
            let name = member.name.to_string();
            if media.add(other(member), false) {
                append_line(chat, None, format!("{name} joined"), false);
            }
        }
        Some(RoomNews::Left(id)) => {
            if let Some(name) = media.remove(&id) {
                append_line(chat, None, format!("{name} left"), false);
            }
        }
        None => {}
    };

    socket.with_value(|s| {
        s.on::<Joined>(move |(view,)| {
            problem.set(None);
            me.set(Some(view.you));
            media.start(mesh_links(), sfu_links());
            // Those already there: we are the newer one, so we offer.
            for member in view.members {
                media.add(other(member), true);
            }
            for held in seat.entered() {
                news(held);
            }
        });
        s.on::<MemberJoined>(move |(member,)| news(RoomNews::Joined(member)));
        s.on::<MemberLeft>(move |(id,)| news(RoomNews::Left(id)));
        s.on::<SignalFrom>(move |(from, data)| match data.decode() {
            Ok(data) => media.mesh.signal(&from, data),
            Err(_) => notice.set(Some(format!("A signal from {from} could not be read."))),
        });
        s.on::<MediaAnswer>(move |(sdp,)| media.sfu.answer(sdp.to_string()));
        s.on::<MeetError>(move |(why,)| {
            problem.set(Some(why));
            // Out of the room for the others too (a refused media offer comes while seated).
            let _ = socket.with_value(|s| s.emit::<Leave>(Nothing));
            seat.leave();
            joined_as.set(None);
            media.clear();
        });
        // After a reconnect the server has forgotten us: join again (the others reconnect to us).
        s.on_connect(move || {
            media.clear();
            join();
        });
    });

    let draft_name = RwSignal::new(String::new());
    let enter = move |ev: SubmitEvent| {
        ev.prevent_default();
        let name = match MemberName::parse(&draft_name.get_untracked()) {
            Ok(name) => name,
            Err(why) => return problem.set(Some(why.to_string())),
        };
        problem.set(None);
        leptos::task::spawn_local(async move {
            let Some(meet) = ice.meet().await else {
                let _ = problem.try_set(Some(
                    "The server did not say how its meetings work: try again.".into(),
                ));
                return;
            };
            if media.via_sfu.try_set(meet.sfu).is_some() {
                return;
            }
            if camera.get_untracked().is_none() {
                let opened = open_for_call().await;
                camera_off.set(opened.camera_off);
                camera.set(opened.stream);
                notice.set(opened.notice);
            }
            joined_as.set(Some(name));
            join();
        });
    };
    let leave = move |_| {
        let _ = socket.with_value(|s| s.emit::<Leave>(Nothing));
        seat.leave();
        joined_as.set(None);
        media.clear();
        chat.set(Vec::new());
    };
    // Everyone sees our switches.
    Effect::new(move |_| {
        media.tell_all(&PeerMessage::State {
            muted: muted.get(),
            camera_off: camera_off.get(),
        });
    });
    on_cleanup(move || media.clear());

    let say = move |text: ChatText, clear: Box<dyn Fn()>| {
        let text = text.to_string();
        media.tell_all(&PeerMessage::Chat { text: text.clone() });
        append_line(chat, Some("you".into()), text, true);
        clear();
    };

    let in_room = move || joined_as.with(Option::is_some);

    view! {
        <section class="meet">
            <h1>"Meeting: " {room.get_value().to_string()}</h1>
            <ConnectionBadge state=state/>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert" data-testid="problem">{p}</p> })}
            <p class="notice" role="status" data-testid="notice">{move || notice.get()}</p>
            <Show when=in_room fallback=move || view! {
                <form class="composer" on:submit=enter>
                    <label class="visually-hidden" for="member-name">"Your name"</label>
                    <input id="member-name" placeholder="Your name" autocomplete="nickname" prop:value=draft_name
                        on:input:target=move |ev| draft_name.set(ev.target().value())/>
                    <button type="submit">"Join"</button>
                </form>
            }>
                <Grid media=media camera=camera switches=switches/>
                <div class="call-controls">
                    <MediaButtons switches=switches/>
                    <ScreenButton media=media notice=notice/>
                    <button class="danger" on:click=leave>"Leave"</button>
                </div>
                <div class="call-chat">
                    <ChatLog lines=chat/>
                    <Composer send=say can_send=Signal::stored(true)/>
                </div>
            </Show>
            <Invite path=Signal::derive(move || format!("/meet?room={}", room.get_value()))
                summary="Invite someone: this room's link and QR code" open=false/>
        </section>
    }
}
