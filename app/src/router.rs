//! The whole app: the header every page shares, and the router with the home page, the
//! table's pages (`routes.rs`) and the not-found page.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::pages::home::HomePage;
use crate::pages::not_found::NotFound;
use crate::routes::TableRoutes;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="site">
                <A href="/" attr:class="brand">"Switchboard"</A>
            </header>
            <main>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage/>
                    <TableRoutes/>
                </Routes>
            </main>
        </Router>
    }
}
