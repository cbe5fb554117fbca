//! Choosing another client of `/signal` to call.

use leptos::prelude::*;

use crate::protocol::PeerId;

/// A `<select>` of the other clients, like the seed's ("Select Peer To Call").
#[component]
pub fn PeerPicker(
    others: RwSignal<Vec<PeerId>>,
    choose: impl Fn(PeerId) + 'static,
) -> impl IntoView {
    view! {
        <label class="peer-picker">
            "Peer "
            <select on:input:target=move |ev| {
                if let Ok(peer) = PeerId::parse(&ev.target().value()) {
                    choose(peer);
                }
            }>
                <option value="">"--- Select Peer To Call ---"</option>
                <For each=move || others.get() key=|id| id.clone() let:id>
                    <option value=id.to_string()>{id.to_string()}</option>
                </For>
            </select>
        </label>
        <Show when=move || others.with(Vec::is_empty)>
            <p class="muted">"Nobody else is here yet: open the other page in another window or on your phone."</p>
        </Show>
    }
}
