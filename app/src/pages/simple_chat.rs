//! `/chat/simple`: the seed's first chat. Anonymous; every message goes to everyone.

use leptos::prelude::*;

use crate::components::{append_line, ChatLine, ChatLog, Composer, ConnectionBadge};
use crate::protocol::chat::ChatText;
use crate::protocol::simple_chat::{ChatError, Message, SendMessage, SimpleChat};
use crate::socketio::use_socket;

#[component]
pub fn SimpleChatPage() -> impl IntoView {
    let socket = use_socket::<SimpleChat>();
    let lines = RwSignal::new(Vec::<ChatLine>::new());
    let error = RwSignal::new(None::<String>);

    socket.on::<Message>(move |(text,)| append_line(lines, None, text.into(), false));
    socket.on::<ChatError>(move |(reason,)| error.set(Some(reason)));

    let state = socket.state();
    let connected = {
        let state = state.clone();
        Signal::derive(move || state.with(|s| s.is_connected()))
    };
    let socket = StoredValue::new_local(socket);
    let send = move |text: ChatText, sent: Box<dyn Fn()>| match socket
        .with_value(|s| s.emit::<SendMessage>((text,)))
    {
        Ok(()) => {
            error.set(None);
            sent();
        }
        Err(e) => error.set(Some(format!("Not sent: {e}."))),
    };

    view! {
        <section class="chat simple-chat">
            <h1>"Simple chat"</h1>
            <ConnectionBadge state=state/>
            <ChatLog lines=lines/>
            <Composer send=send can_send=connected/>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
