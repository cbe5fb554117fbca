//! Every page besides the home page, in one table: its path, its page, and what the home page
//! says of it. The router's routes, the home page's list and the server's answer to "is this a
//! page?" are all made from it.

use leptos::prelude::*;
use leptos_router::components::Route;
use leptos_router::path;
use leptos_router::MatchNestedRoutes;

use crate::pages::call::CallPage;
use crate::pages::chat::ChatPage;
use crate::pages::cursors::CursorsPage;
use crate::pages::draw::DrawPage;
use crate::pages::meet::MeetPage;
use crate::pages::remote::{ControllerPage, RemotePage};
use crate::pages::simple_chat::SimpleChatPage;
use crate::pages::trades::TradesPage;
use crate::pages::webcam::WebcamPage;
use crate::pages::webrtc::raw::{ReceiverRawPage, SenderRawPage};
use crate::pages::webrtc::simple::{PeerReceiverPage, PeerSenderPage};

/// One app on the home page.
pub(crate) struct AppLink {
    pub path: &'static str,
    pub title: &'static str,
    /// One line on what it shows.
    pub blurb: &'static str,
}

/// Declares the table (see below): `"path" => Page, "title": "blurb";` for an app the home
/// page lists, `"path" => Page;` for a page reached only from another one.
macro_rules! routes {
    ($($path:tt => $page:ident $(, $title:literal: $blurb:literal)?;)*) => {
        /// The apps the home page lists, in the table's order.
        pub(crate) const APPS: &[AppLink] = &[
            $($(AppLink { path: $path, title: $title, blurb: $blurb },)?)*
        ];

        /// Every path of the table.
        const PATHS: &[&str] = &[$($path),*];

        /// The table's routes, for the router.
        #[component(transparent)]
        pub(crate) fn TableRoutes() -> impl MatchNestedRoutes + Clone {
            routes!(@nested $($path => $page,)*)
        }
    };

    // Each route paired with the rest (a flat tuple of routes stops at 16), tried in order.
    (@nested $path:tt => $page:ident,) => {
        view! { <Route path=path!($path) view=$page/> }.into_inner()
    };
    (@nested $path:tt => $page:ident, $($rest:tt)+) => {
        (
            view! { <Route path=path!($path) view=$page/> }.into_inner(),
            routes!(@nested $($rest)*),
        )
    };
}

// In the order of the chapter; a path must come before any path it is a prefix of.
routes! {
    "/trades" => TradesPage, "Live trades":
        "Crypto trades over a WebSocket, next to a poller that misses most of them.";
    "/chat/simple" => SimpleChatPage, "Simple chat":
        "Everyone sees every message: socket.io's broadcast in its plainest form.";
    "/chat" => ChatPage, "Chat with nicknames":
        "Claim a unique name, then chat; the last 50 messages survive a restart.";
    "/cursors" => CursorsPage, "Shared cursors":
        "Everyone's pointer on everyone's screen, ten updates a second.";
    "/draw" => DrawPage, "Whiteboard":
        "Draw together with mouse, pen or finger; latecomers see the board so far.";
    "/remote" => RemotePage, "Phone as controller":
        "Scan a QR code and steer a ball, or play Squash, with touch or tilt.";
    // Opened from `/remote`'s QR code.
    "/remote/controller" => ControllerPage;
    "/webcam" => WebcamPage, "Webcam":
        "Your camera in the page: resolution, front or back, device, microphone, mirror.";
    "/webrtc/sender" => SenderRawPage, "WebRTC sender (raw)":
        "The seed's first call, written out with RTCPeerConnection: offer, answer, ICE.";
    "/webrtc/receiver" => ReceiverRawPage, "WebRTC receiver (raw)":
        "Answers the raw sender and shows its camera.";
    "/webrtc/peer-sender" => PeerSenderPage, "WebRTC sender (Peer)":
        "The same one-way call through Peer, Switchboard's Rust simple-peer.";
    "/webrtc/peer-receiver" => PeerReceiverPage, "WebRTC receiver (Peer)":
        "Answers the Peer sender and shows its camera.";
    "/call" => CallPage, "Video call":
        "A private two-way call by its own link: mute, camera off, a chat over the data channel.";
    "/meet" => MeetPage, "Video meeting":
        "Up to four people in a private or named room: everyone sees everyone, with a room chat.";
}

/// Whether the router has a page for `path`: the home page or one of the table's (the server
/// answers 404 for the rest).
pub fn is_page(path: &str) -> bool {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    path == "/" || PATHS.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_are_pages_and_others_are_not() {
        assert!(is_page("/"));
        assert!(is_page("/chat"));
        assert!(is_page("/chat/"));
        assert!(is_page("/chat/simple"));
        assert!(is_page("/remote/controller"));
        assert!(!is_page("/nope"));
        assert!(!is_page("/chat/simple/extra"));
    }

    #[test]
    fn the_home_page_lists_the_apps_but_not_the_controller() {
        assert_eq!(APPS.len(), PATHS.len() - 1);
        assert_eq!(APPS[0].path, "/trades");
        assert!(APPS.iter().all(|app| app.path != "/remote/controller"));
    }
}
