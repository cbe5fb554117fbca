//! The message list both chats show: newest at the bottom and scrolled into view.

use std::sync::atomic::{AtomicU64, Ordering};

use leptos::html::Ol;
use leptos::prelude::*;

/// One line of a chat log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatLine {
    /// Unique within the page (for keyed rendering).
    pub key: u64,
    /// Who said it; `None` in the anonymous chat and for quiet lines.
    pub from: Option<String>,
    pub text: String,
    /// Said by the person looking at the page.
    pub own: bool,
    /// Not a message but news about the room ("Ada joined"), shown quietly.
    pub quiet: bool,
}

impl ChatLine {
    /// A message.
    pub fn said(from: Option<String>, text: String, own: bool) -> ChatLine {
        ChatLine {
            key: next_key(),
            from,
            text,
            own,
            quiet: false,
        }
    }

    /// News about the room.
    pub fn quiet(text: impl Into<String>) -> ChatLine {
        ChatLine {
            key: next_key(),
            from: None,
            text: text.into(),
            own: false,
            quiet: true,
        }
    }
}

/// Keys are unique across the page, so lines can be inserted anywhere.
fn next_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Appends a message to a chat log.
pub fn append_line(lines: RwSignal<Vec<ChatLine>>, from: Option<String>, text: String, own: bool) {
    lines.update(|lines| lines.push(ChatLine::said(from, text, own)));
}

/// A read-only, auto-scrolling message log. Names and texts are rendered as text.
#[component]
pub fn ChatLog(#[prop(into)] lines: Signal<Vec<ChatLine>>) -> impl IntoView {
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
                <li class:own=line.own class:quiet=line.quiet>
                    {line.from.map(|from| view! { <span class="from">{format!("<{from}>")}</span>" " })}
                    <span class="text">{line.text}</span>
                </li>
            </For>
        </ol>
    }
}
