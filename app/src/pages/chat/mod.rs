//! `/chat`: pick a unique name, then chat. Two screens, as the seed suggests: the chat screen
//! appears only once the server has confirmed the name, and a reconnect claims it again.
//!
//! The page asks for the additions to the course's contract (docs/PROTOCOL.md): who is here,
//! who is typing, and, after a reconnect, exactly the messages it missed. A message sent while
//! the connection is away waits and goes once it is back, with an id of its own so that the
//! server delivers it once even if it has to be sent again.

mod outbox;
mod presence;
mod transcript;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::browser::{random_id, use_interval};
use crate::components::{ChatLog, Composer, ConnectionBadge};
use crate::protocol::chat::{
    Chat, ChatError, ChatText, ClaimName, History, Joined, Left, Message, Missed, NameAccepted,
    NameError, Nickname, People as PeopleEvent, Renamed, Resume, Said, SomeoneTyping, Typing,
};
use crate::socketio::{use_socket_with_auth, Socket};
use outbox::Outbox;
use presence::{People, Typer, Typists, IDLE_MS};
use transcript::Transcript;

#[component]
pub fn ChatPage() -> impl IntoView {
    let auth = serde_json::json!({ "plus": true, "session": random_id(24) });
    let socket = use_socket_with_auth::<Chat>(Some(auth));
    // The name the server confirmed; `None` shows the name screen.
    let me = RwSignal::new(None::<Nickname>);
    // True while the name screen is shown on purpose to change a confirmed name.
    let renaming = RwSignal::new(false);
    let name_error = RwSignal::new(None::<String>);
    let chat_error = RwSignal::new(None::<String>);
    let transcript = RwSignal::new(Transcript::default());
    let people = RwSignal::new(People::default());
    let typists = RwSignal::new(Typists::default());

    let is_me = move |name: &Nickname| {
        me.with_untracked(|me| me.as_ref().is_some_and(|me| me.key() == name.key()))
    };
    let state = socket.state();
    let outbox = Outbox::new(socket.clone(), chat_error);
    let socket = StoredValue::new_local(socket);
    let claim = move |name: Nickname| {
        let resume = transcript
            .with_untracked(Transcript::last_seen)
            .map(|last_seen| Resume { last_seen });
        socket.with_value(|s| s.emit::<ClaimName>((name, resume)))
    };

    listen_for_names(&socket.get_value(), me, renaming, name_error, outbox);
    listen_for_messages(&socket.get_value(), transcript, is_me);
    listen_for_people(&socket.get_value(), people, typists, transcript, is_me);
    socket.with_value(|s| s.on::<ChatError>(move |(reason,)| chat_error.set(Some(reason))));
    socket.with_value(|s| {
        s.on_connect(move || {
            outbox.connection_changed(false);
            typists.update(Typists::clear);
            if let Some(name) = me.get_untracked() {
                transcript.update(Transcript::reconnected);
                // Just connected, so only a name too long for the server can fail here.
                if let Err(e) = claim(name) {
                    name_error.set(Some(format!("Your name could not be claimed again: {e}.")));
                }
            }
        })
    });
    Effect::new({
        let state = state.clone();
        move |_| {
            if !state.with(|s| s.is_connected()) {
                outbox.connection_changed(false);
            }
        }
    });
    use_interval(std::time::Duration::from_secs(1), move || {
        let now = js_sys::Date::now();
        if typists.with_untracked(|t| t.has_lapsed(now)) {
            typists.update(|t| t.prune(now));
        }
    });

    let claim_typed = move |raw: String| match Nickname::parse(&raw) {
        Ok(name) => {
            if let Err(e) = claim(name) {
                name_error.set(Some(format!("Not sent: {e}.")));
            }
        }
        Err(reason) => name_error.set(Some(reason.0)),
    };
    let typed = use_typing_signal(socket);
    let send = move |text: ChatText, sent: Box<dyn Fn()>| {
        if let Some(typing) = typed.stop() {
            let _ = socket.with_value(|s| s.emit::<Typing>((typing,)));
        }
        outbox.send(text, sent);
    };

    let connected = {
        let state = state.clone();
        Signal::derive(move || state.with(|s| s.is_connected()))
    };
    let chatting = move || me.with(Option::is_some) && !renaming.get();
    let lines = Signal::derive(move || transcript.with(|t| t.lines.clone()));
    let typing_line = move || typists.with(Typists::describe);
    let away = move || !connected.get() || outbox.is_waiting();

    view! {
        <section class="chat">
            <h1>"Chat"</h1>
            <ConnectionBadge state=state/>
            <Show
                when=chatting
                fallback=move || view! { <NameForm claim=claim_typed error=name_error connected=connected/> }
            >
                <p class="me">
                    "You are " <strong data-testid="my-name">{move || me.get().map(|n| n.to_string())}</strong>
                    " " <button class="link" on:click=move |_| renaming.set(true)>"change name"</button>
                </p>
                <div class="chat-room">
                    <PeopleList people=people me=me/>
                    <div class="chat-main">
                        <ChatLog lines=lines/>
                        <p class="typing" aria-live="polite" data-testid="typing">{typing_line}</p>
                        <Show when=away>
                            <p class="note" role="status" data-testid="away">
                                {move || away_note(connected.get(), outbox.is_waiting())}
                            </p>
                        </Show>
                        <Composer send=send can_send=Signal::derive(|| true) typed=Callback::new(move |v: String| typed.typed(&v))/>
                        {move || chat_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                    </div>
                </div>
            </Show>
        </section>
    }
}

fn away_note(connected: bool, waiting: bool) -> &'static str {
    match (connected, waiting) {
        (false, true) => "Reconnecting… your message will be sent once the connection is back.",
        (false, false) => "Reconnecting… what you type is kept.",
        (true, _) => "Sending your message…",
    }
}

/// The server's answers to a claim.
fn listen_for_names(
    socket: &Socket<Chat>,
    me: RwSignal<Option<Nickname>>,
    renaming: RwSignal<bool>,
    name_error: RwSignal<Option<String>>,
    outbox: Outbox,
) {
    socket.on::<NameAccepted>(move |(name,)| {
        me.set(Some(name));
        renaming.set(false);
        name_error.set(None);
        // Named on this connection: what waited can go.
        outbox.connection_changed(true);
    });
    socket.on::<NameError>(move |(reason,)| {
        // A reconnect whose name was taken meanwhile lands back on the name screen.
        if !renaming.get_untracked() {
            me.set(None);
        }
        name_error.set(Some(reason));
    });
}

/// Messages, live and replayed.
fn listen_for_messages(
    socket: &Socket<Chat>,
    transcript: RwSignal<Transcript>,
    is_me: impl Fn(&Nickname) -> bool + Copy + 'static,
) {
    socket.on::<History>(move |(entries,)| transcript.update(|t| t.history(entries, is_me)));
    socket.on::<Missed>(move |(entries,)| transcript.update(|t| t.missed(entries, is_me)));
    socket.on::<Said>(move |(sender, text, meta)| {
        let own = is_me(&sender.name);
        transcript.update(|t| t.said(&sender.name, text.into(), Some(meta.id), own));
    });
    // What a server without the additions sends.
    socket.on::<Message>(move |(sender, text)| {
        let own = is_me(&sender.name);
        transcript.update(|t| t.said(&sender.name, text.into(), None, own));
    });
}

/// Who is here and who is typing.
fn listen_for_people(
    socket: &Socket<Chat>,
    people: RwSignal<People>,
    typists: RwSignal<Typists>,
    transcript: RwSignal<Transcript>,
    is_me: impl Fn(&Nickname) -> bool + Copy + 'static,
) {
    socket.on::<PeopleEvent>(move |(list,)| people.set(People(list)));
    socket.on::<Joined>(move |(name,)| {
        transcript.update(|t| t.news(format!("{name} joined")));
        people.update(|p| p.joined(name));
    });
    socket.on::<Renamed>(move |(old, new)| {
        transcript.update(|t| t.news(format!("{old} is now {new}")));
        typists.update(|t| t.heard(old.clone(), false, 0.0));
        people.update(|p| p.renamed(&old, new));
    });
    socket.on::<Left>(move |(name,)| {
        transcript.update(|t| t.news(format!("{name} left")));
        typists.update(|t| t.heard(name.clone(), false, 0.0));
        people.update(|p| p.left(&name));
    });
    socket.on::<SomeoneTyping>(move |(name, typing)| {
        if !is_me(&name) {
            typists.update(|t| t.heard(name, typing, js_sys::Date::now()));
        }
    });
}

/// Tells the server when the user types: "started" at most every 2 s while keys are
/// pressed, "stopped" when the field empties, a message goes, or after 3 s without a key.
#[derive(Clone, Copy)]
struct TypingSignal {
    typer: StoredValue<Typer>,
    socket: StoredValue<Socket<Chat>, LocalStorage>,
    idle: StoredValue<Option<gloo_timers::callback::Timeout>, LocalStorage>,
}

fn use_typing_signal(socket: StoredValue<Socket<Chat>, LocalStorage>) -> TypingSignal {
    TypingSignal {
        typer: StoredValue::new(Typer::default()),
        socket,
        idle: StoredValue::new_local(None),
    }
}

impl TypingSignal {
    fn typed(self, value: &str) {
        let now = js_sys::Date::now();
        let send = self
            .typer
            .try_update_value(|t| t.typed(value.is_empty(), now))
            .flatten();
        self.emit(send);
        let pause = (!value.is_empty()).then(|| {
            gloo_timers::callback::Timeout::new(IDLE_MS, move || {
                let send = self.stop();
                self.emit(send);
            })
        });
        // Replacing the timer cancels the previous one.
        self.idle.set_value(pause);
    }

    /// Stops typing; what to send, if anything.
    fn stop(self) -> Option<bool> {
        self.typer.try_update_value(Typer::stopped).flatten()
    }

    fn emit(self, typing: Option<bool>) {
        if let Some(typing) = typing {
            // Offline, it is simply not said (the server lets it lapse).
            let _ = self.socket.try_with_value(|s| s.emit::<Typing>((typing,)));
        }
    }
}

/// Who is here: a count and the names; on a narrow screen, folded under the count.
#[component]
fn PeopleList(people: RwSignal<People>, me: RwSignal<Option<Nickname>>) -> impl IntoView {
    let wide = window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w >= 700.0);
    let count = move || match people.with(|p| p.0.len()) {
        1 => "1 person here".to_owned(),
        n => format!("{n} people here"),
    };
    view! {
        <details class="people" open=wide data-testid="people">
            <summary data-testid="people-count">{count}</summary>
            <ul>
                <For each=move || people.get().0 key=|name| name.clone() let:name>
                    <li class:me=move || me.with(|me| me.as_ref() == Some(&name))>{name.to_string()}</li>
                </For>
            </ul>
        </details>
    }
}

/// The name screen: the server's `nameError` shows inline under the field.
#[component]
fn NameForm(
    claim: impl Fn(String) + Copy + 'static,
    error: RwSignal<Option<String>>,
    connected: Signal<bool>,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        claim(draft.get_untracked());
    };
    view! {
        <form class="name-form" on:submit=submit>
            <label for="name">"Your name"</label>
            <div class="row">
                <input
                    id="name"
                    autocomplete="nickname"
                    maxlength="64"
                    placeholder="e.g. Ada"
                    aria-describedby="name-error"
                    prop:value=draft
                    on:input:target=move |ev| draft.set(ev.target().value())
                />
                <button type="submit" disabled=move || !connected.get()>"Join"</button>
            </div>
            <p id="name-error" class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
