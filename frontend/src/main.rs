//! The wasm entry point: mounts Switchboard's app into the page Trunk built.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
