//! Any path without a page.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="not-found">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address."</p>
            <p><A href="/">"Back to all apps"</A></p>
        </section>
    }
}
