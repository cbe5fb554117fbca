//! The message field both chat pages share.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::protocol::chat::ChatText;

/// The message field of both chats. `send` gets the validated text and a callback that clears
/// the field: call it once the message went (in `/chat`, once the server confirmed it), so an
/// unsent message is never lost. A text that cannot be sent is explained under the field.
/// `typed` hears every change of the field (for "is typing…").
#[component]
pub fn Composer(
    send: impl Fn(ChatText, Box<dyn Fn()>) + Copy + 'static,
    /// Whether Send is enabled.
    can_send: Signal<bool>,
    #[prop(optional)] typed: Option<Callback<String>>,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let typed = draft.get_untracked();
        match ChatText::parse(&typed) {
            Ok(text) => {
                error.set(None);
                send(
                    text,
                    Box::new(move || {
                        if draft.get_untracked() == typed {
                            draft.set(String::new());
                        }
                    }),
                );
            }
            Err(reason) => error.set(Some(reason.0)),
        }
    };
    let input = move |value: String| {
        if let Some(typed) = typed {
            typed.run(value.clone());
        }
        draft.set(value);
    };
    view! {
        <form class="composer" on:submit=submit>
            <label class="visually-hidden" for="message">"Message"</label>
            <input
                id="message"
                autocomplete="off"
                placeholder="Say something"
                maxlength="2000"
                prop:value=draft
                on:input:target=move |ev| input(ev.target().value())
            />
            <button type="submit" disabled=move || !can_send.get()>"Send"</button>
        </form>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}
