//! `/chat/simple`: the seed's first chat. Anonymous; every message goes to everyone.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::{ChatLine, ChatLog, ConnectionBadge};
use crate::protocol::chat::ChatText;
use crate::protocol::simple_chat::{self, ChatError, Message, SendMessage};
use crate::socketio::use_socket;

#[component]
pub fn SimpleChatPage() -> impl IntoView {
    let socket = use_socket(simple_chat::NAMESPACE);
    let lines = RwSignal::new(Vec::<ChatLine>::new());
    let error = RwSignal::new(None::<String>);
    let draft = RwSignal::new(String::new());

    socket.on::<Message>(move |(text,)| {
        lines.update(|lines| {
            let key = lines.last().map_or(0, |l| l.key + 1);
            lines.push(ChatLine {
                key,
                from: None,
                text: text.into(),
                own: false,
            });
        })
    });
    socket.on::<ChatError>(move |(reason,)| error.set(Some(reason)));

    let state = socket.state();
    let connected = {
        let state = state.clone();
        move || state.with(|s| s.is_connected())
    };
    let socket = StoredValue::new_local(socket);
    let send = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = match ChatText::parse(&draft.get_untracked()) {
            Ok(text) => text,
            Err(reason) => return error.set(Some(reason.0)),
        };
        match socket.with_value(|s| s.emit::<SendMessage>((text,))) {
            Ok(()) => {
                draft.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(format!("Not sent: {e}."))),
        }
    };

    view! {
        <section class="chat simple-chat">
            <h1>"Simple chat"</h1>
            <ConnectionBadge state=state/>
            <ChatLog lines=lines/>
            <form class="composer" on:submit=send>
                <label class="visually-hidden" for="message">"Message"</label>
                <input
                    id="message"
                    autocomplete="off"
                    placeholder="Say something"
                    maxlength="2000"
                    prop:value=draft
                    on:input:target=move |ev| draft.set(ev.target().value())
                />
                <button type="submit" disabled=move || !connected()>"Send"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
