//! `/chat`: pick a unique name, then chat. Two screens, as the seed suggests: the chat screen
//! appears only once the server has confirmed the name, and a reconnect claims it again.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::{append_line, ChatLine, ChatLog, Composer, ConnectionBadge};
use crate::protocol::chat::{
    Chat, ChatError, ChatText, ClaimName, History, Message, NameAccepted, NameError, Nickname,
    Receipt, SendMessage,
};
use crate::socketio::use_socket;

/// How long a sent message may wait for the server's receipt, in milliseconds.
const RECEIPT_TIMEOUT_MS: u32 = 5000;

#[component]
pub fn ChatPage() -> impl IntoView {
    let socket = use_socket::<Chat>();
    // The name the server confirmed; `None` shows the name screen.
    let me = RwSignal::new(None::<Nickname>);
    // True while the name screen is shown on purpose to change a confirmed name.
    let renaming = RwSignal::new(false);
    let name_error = RwSignal::new(None::<String>);
    let lines = RwSignal::new(Vec::<ChatLine>::new());
    let chat_error = RwSignal::new(None::<String>);

    let is_me = move |name: &Nickname| {
        me.with_untracked(|me| me.as_ref().is_some_and(|me| me.key() == name.key()))
    };
    let push = move |from: &Nickname, text: ChatText| {
        append_line(lines, Some(from.to_string()), text.into(), is_me(from));
    };

    socket.on::<NameAccepted>(move |(name,)| {
        me.set(Some(name));
        renaming.set(false);
        name_error.set(None);
    });
    socket.on::<NameError>(move |(reason,)| {
        // A reconnect whose name was taken meanwhile lands back on the name screen.
        if !renaming.get_untracked() {
            me.set(None);
        }
        name_error.set(Some(reason));
    });
    socket.on::<History>(move |(entries,)| {
        lines.set(Vec::new());
        for entry in entries {
            push(&entry.sender.name, entry.text);
        }
    });
    socket.on::<Message>(move |(sender, text)| push(&sender.name, text));
    socket.on::<ChatError>(move |(reason,)| chat_error.set(Some(reason)));

    let state = socket.state();
    let socket = StoredValue::new_local(socket);
    socket.with_value(|s| {
        s.on_connect(move || {
            if let Some(name) = me.get_untracked() {
                // Just connected, so only a name too long for the server can fail here.
                if let Err(e) = socket.with_value(|s| s.emit::<ClaimName>((name,))) {
                    name_error.set(Some(format!("Your name could not be claimed again: {e}.")));
                }
            }
        })
    });

    let claim = move |raw: String| match Nickname::parse(&raw) {
        Ok(name) => {
            if let Err(e) = socket.with_value(|s| s.emit::<ClaimName>((name,))) {
                name_error.set(Some(format!("Not sent: {e}.")));
            }
        }
        Err(reason) => name_error.set(Some(reason.0)),
    };
    let send = move |text: ChatText, sent: Box<dyn Fn()>| {
        let socket = socket.get_value();
        spawn_local(async move {
            match socket
                .emit_with_ack::<SendMessage, (Receipt,)>((text,), RECEIPT_TIMEOUT_MS)
                .await
            {
                Ok((Receipt { ok: true, .. },)) => {
                    chat_error.set(None);
                    sent();
                }
                Ok((Receipt { error, .. },)) => chat_error.set(error.or(Some("Not sent.".into()))),
                Err(e) => chat_error.set(Some(format!("Not sent: {e}."))),
            }
        });
    };

    let connected = {
        let state = state.clone();
        Signal::derive(move || state.with(|s| s.is_connected()))
    };
    let chatting = move || me.with(Option::is_some) && !renaming.get();

    view! {
        <section class="chat">
            <h1>"Chat"</h1>
            <ConnectionBadge state=state/>
            <Show
                when=chatting
                fallback=move || view! { <NameForm claim=claim error=name_error connected=connected/> }
            >
                <p class="me">
                    "You are " <strong data-testid="my-name">{move || me.get().map(|n| n.to_string())}</strong>
                    " " <button class="link" on:click=move |_| renaming.set(true)>"change name"</button>
                </p>
                <ChatLog lines=lines/>
                <Composer send=send connected=connected/>
                {move || chat_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </Show>
        </section>
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
