//! `/meet?room=<name>`: a video meeting for up to four. Everyone in the room sees and hears
//! everyone else over a full mesh of WebRTC connections; the server only keeps the room and
//! relays signals. Mute and camera off show on the others' grids; the room's text chat goes
//! over the data channels. Without a camera it joins with the microphone alone, without
//! either it joins to watch and chat. A room is a name anyone who knows it can use; `New
//! meeting` makes one nobody can guess.

use std::rc::Rc;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::browser::random_id;
use crate::components::{
    append_line, use_media_switches, ChatLine, ChatLog, Composer, ConnectionBadge, Invite,
    MediaButtons, MediaSwitches, VideoView,
};
use crate::protocol::call::NEW_ID_CHARS;
use crate::protocol::chat::ChatText;
use crate::protocol::meet::{
    Join, Joined, Leave, Meet, MeetError, Member, MemberJoined, MemberLeft, MemberName,
    PeerMessage, RoomName, SendSignal, Signal as SignalFrom, ROOM_CAPACITY,
};
use crate::protocol::{Nothing, Payload, PeerId};
use crate::socketio::use_socket;
use crate::webrtc::ice::use_ice;
use crate::webrtc::media::open_for_call;
use crate::webrtc::mesh::{Link, Links, Mesh, Other, RoomSeat};
use crate::webrtc::quality;
use crate::webrtc::signalling::StreamSlot;

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
            <p class="lead">{format!("Up to {ROOM_CAPACITY} people see and hear each other. Start a new meeting and share its link, or pick a room by name.")}</p>
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
    let mesh = Mesh::new();
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
        heard: Rc::new(move |name: String, text| append_line(chat, Some(name), text, false)),
        state: Rc::new(move || PeerMessage::State {
            muted: muted.get_untracked(),
            camera_off: camera_off.get_untracked(),
        }),
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
            if mesh.add(other(member), false) {
                append_line(chat, None, format!("{name} joined"), false);
            }
        }
        Some(RoomNews::Left(id)) => {
            let name = mesh.members.with_untracked(|m| {
                m.iter()
                    .find(|(member, _)| member.id == id)
                    .map(|(member, _)| member.name.clone())
            });
            if let Some(name) = name {
                append_line(chat, None, format!("{name} left"), false);
            }
            mesh.remove(&id);
        }
        None => {}
    };

    socket.with_value(|s| {
        s.on::<Joined>(move |(view,)| {
            problem.set(None);
            me.set(Some(view.you));
            mesh.start(links());
            // Those already there: we are the newer one, so we offer.
            for member in view.members {
                mesh.add(other(member), true);
            }
            for held in seat.entered() {
                news(held);
            }
        });
        s.on::<MemberJoined>(move |(member,)| news(RoomNews::Joined(member)));
        s.on::<MemberLeft>(move |(id,)| news(RoomNews::Left(id)));
        s.on::<SignalFrom>(move |(from, data)| match data.decode() {
            Ok(data) => mesh.signal(&from, data),
            Err(_) => notice.set(Some(format!("A signal from {from} could not be read."))),
        });
        s.on::<MeetError>(move |(why,)| {
            problem.set(Some(why));
            seat.leave();
            joined_as.set(None);
            mesh.clear();
        });
        // After a reconnect the server has forgotten us: join again (the others reconnect to us).
        s.on_connect(move || {
            mesh.clear();
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
        mesh.clear();
        chat.set(Vec::new());
    };
    // Everyone sees our switches.
    Effect::new(move |_| {
        mesh.tell_all(&PeerMessage::State {
            muted: muted.get(),
            camera_off: camera_off.get(),
        });
    });
    on_cleanup(move || mesh.clear());

    let say = move |text: ChatText, clear: Box<dyn Fn()>| {
        let text = text.to_string();
        mesh.tell_all(&PeerMessage::Chat { text: text.clone() });
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
                <div class="meet-grid" data-testid="grid">
                    <figure class="meet-tile mine" data-name="you">
                        <VideoView stream=camera label="My camera" local=true/>
                        <figcaption>"You" {move || muted.get().then_some(" · muted")} {move || camera_off.get().then_some(" · camera off")}</figcaption>
                    </figure>
                    <For each=move || mesh.members.get() key=|(m, _)| m.id.clone() let:entry>
                        {
                            let (member, tile) = entry;
                            let id = member.id.clone();
                            let quality = quality::watch(move || mesh.peer(&id));
                            view! {
                                <figure class="meet-tile" data-name=member.name.to_string()
                                    class:waiting=move || tile.link.get() != Link::Connected
                                    class:failed=move || matches!(tile.link.get(), Link::Failed | Link::Lost)>
                                    <VideoView stream=tile.stream label="Member camera"/>
                                    <figcaption>
                                        <span class="name">{member.name.to_string()}</span>
                                        {move || tile.muted.get().then(|| view! { <span class="badge" data-testid="muted">" · muted"</span> })}
                                        {move || tile.camera_off.get().then(|| view! { <span class="badge" data-testid="camera-off">" · camera off"</span> })}
                                        {move || match tile.link.get() {
                                            Link::Connecting => " · connecting…",
                                            Link::Reconnecting => " · reconnecting…",
                                            _ => "",
                                        }}
                                        {
                                            let name = member.name.to_string();
                                            move || {
                                                let why = match tile.link.get() {
                                                    Link::Failed => "could not connect to",
                                                    Link::Lost => "could not reconnect to",
                                                    _ => return None,
                                                };
                                                Some(view! {
                                                    <span class="problem" role="alert">{format!(" · {why} {name}")}</span>
                                                })
                                            }
                                        }
                                        <small class="muted quality" data-testid="tile-quality">{move || quality.get()}</small>
                                    </figcaption>
                                </figure>
                            }
                        }
                    </For>
                </div>
                <div class="call-controls">
                    <MediaButtons switches=switches/>
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
