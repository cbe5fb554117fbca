//! The message list both chats show: newest at the bottom and scrolled into view.

use leptos::html::Ol;
use leptos::prelude::*;

/// One line of a chat log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatLine {
    /// Unique within the log (for keyed rendering).
    pub key: u64,
    /// Who said it; `None` in the anonymous chat.
    pub from: Option<String>,
    pub text: String,
    /// Said by the person looking at the page.
    pub own: bool,
}

/// Appends a line to a chat log.
pub fn append_line(lines: RwSignal<Vec<ChatLine>>, from: Option<String>, text: String, own: bool) {
    lines.update(|lines| {
        let key = lines.last().map_or(0, |l| l.key + 1);
        lines.push(ChatLine {
            key,
            from,
            text,
            own,
        });
    });
}

/// A read-only, auto-scrolling message log. Names and texts are rendered as text.
#[component]
pub fn ChatLog(lines: RwSignal<Vec<ChatLine>>) -> impl IntoView {
    let list = NodeRef::<Ol>::new();
    Effect::new(move |_| {
        lines.track();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    view! {
        <ol class="chat-log" node_ref=list role="log" aria-live="polite" aria-label="Conversation">
            <For each=move || lines.get() key=|line| line.key let:line>
                <li class:own=line.own>
                    {line.from.map(|from| view! { <span class="from">{format!("<{from}>")}</span>" " })}
                    <span class="text">{line.text}</span>
                </li>
            </For>
        </ol>
    }
}
