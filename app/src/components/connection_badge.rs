//! Shows a socket's connection state, so nobody types into a dead connection unawares.

use leptos::prelude::*;

use crate::connection::ConnectionState;

/// A small status line: "Connected", "Reconnecting (attempt 2, in 1.3 s): ...".
#[component]
pub fn ConnectionBadge(
    /// The connection's state ([`crate::socketio::Socket::state`], or any other connection).
    #[prop(into)]
    state: Signal<ConnectionState>,
) -> impl IntoView {
    let kind = move || format!("connection {}", state.with(ConnectionState::kind));
    let text = move || state.with(ConnectionState::describe);
    view! {
        <p class=kind role="status" aria-live="polite" data-testid="connection">
            <span class="dot" aria-hidden="true"></span>
            {text}
        </p>
    }
}
