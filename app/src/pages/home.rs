//! `/`: what Switchboard is and a link to every app.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::routes::APPS;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="home">
            <h1>"Switchboard"</h1>
            <p class="lead">
                "Real-time web communication, one app at a time: open an app in two windows, "
                "or on your laptop and your phone, and watch them talk."
            </p>
            <ul class="apps">
                {APPS
                    .iter()
                    .map(|app| {
                        view! {
                            <li>
                                <A href=app.path>{app.title}</A>
                                <p>{app.blurb}</p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
