//! Every page of Switchboard, in one place: the router and the list the home page shows.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::pages::call::CallPage;
use crate::pages::chat::ChatPage;
use crate::pages::cursors::CursorsPage;
use crate::pages::draw::DrawPage;
use crate::pages::home::HomePage;
use crate::pages::meet::MeetPage;
use crate::pages::not_found::NotFound;
use crate::pages::remote::{ControllerPage, RemotePage};
use crate::pages::simple_chat::SimpleChatPage;
use crate::pages::trades::TradesPage;
use crate::pages::webcam::WebcamPage;
use crate::pages::webrtc::raw::{ReceiverRawPage, SenderRawPage};
use crate::pages::webrtc::simple::{PeerReceiverPage, PeerSenderPage};

/// One app on the home page.
pub struct AppLink {
    pub path: &'static str,
    pub title: &'static str,
    /// One line on what it shows.
    pub blurb: &'static str,
}

/// The apps, in the order of the chapter.
pub const APPS: &[AppLink] = &[
    AppLink {
        path: "/trades",
        title: "Live trades",
        blurb: "Crypto trades over a WebSocket, next to a poller that misses most of them.",
    },
    AppLink {
        path: "/chat/simple",
        title: "Simple chat",
        blurb: "Everyone sees every message: socket.io's broadcast in its plainest form.",
    },
    AppLink {
        path: "/chat",
        title: "Chat with nicknames",
        blurb: "Claim a unique name, then chat; the last 50 messages survive a restart.",
    },
    AppLink {
        path: "/cursors",
        title: "Shared cursors",
        blurb: "Everyone's pointer on everyone's screen, ten updates a second.",
    },
    AppLink {
        path: "/draw",
        title: "Whiteboard",
        blurb: "Draw together with mouse, pen or finger; latecomers see the board so far.",
    },
    AppLink {
        path: "/remote",
        title: "Phone as controller",
        blurb: "Scan a QR code and steer a ball, or play Squash, with touch or tilt.",
    },
    AppLink {
        path: "/webcam",
        title: "Webcam",
        blurb: "Your camera in the page: resolution, front or back, device, microphone, mirror.",
    },
    AppLink {
        path: "/webrtc/sender",
        title: "WebRTC sender (raw)",
        blurb: "The seed's first call, written out with RTCPeerConnection: offer, answer, ICE.",
    },
    AppLink {
        path: "/webrtc/receiver",
        title: "WebRTC receiver (raw)",
        blurb: "Answers the raw sender and shows its camera.",
    },
    AppLink {
        path: "/webrtc/peer-sender",
        title: "WebRTC sender (Peer)",
        blurb: "The same one-way call through Peer, Switchboard's Rust simple-peer.",
    },
    AppLink {
        path: "/webrtc/peer-receiver",
        title: "WebRTC receiver (Peer)",
        blurb: "Answers the Peer sender and shows its camera.",
    },
    AppLink {
        path: "/call",
        title: "Video call",
        blurb: "A private two-way call by its own link: mute, camera off, a chat over the data channel.",
    },
    AppLink {
        path: "/meet",
        title: "Video meeting",
        blurb: "Up to four people in a private or named room: everyone sees everyone, with a room chat.",
    },
];

/// Paths the router serves besides the apps themselves.
const OTHER_PATHS: &[&str] = &["/", "/remote/controller"];

/// Whether the router has a page for `path` (the server answers 404 for the rest).
pub fn is_page(path: &str) -> bool {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    OTHER_PATHS.contains(&path) || APPS.iter().any(|app| app.path == path)
}

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
                    <Route path=path!("/trades") view=TradesPage/>
                    <Route path=path!("/chat/simple") view=SimpleChatPage/>
                    <Route path=path!("/chat") view=ChatPage/>
                    <Route path=path!("/cursors") view=CursorsPage/>
                    <Route path=path!("/draw") view=DrawPage/>
                    <Route path=path!("/remote") view=RemotePage/>
                    <Route path=path!("/remote/controller") view=ControllerPage/>
                    <Route path=path!("/webcam") view=WebcamPage/>
                    <Route path=path!("/webrtc/sender") view=SenderRawPage/>
                    <Route path=path!("/webrtc/receiver") view=ReceiverRawPage/>
                    <Route path=path!("/webrtc/peer-sender") view=PeerSenderPage/>
                    <Route path=path!("/webrtc/peer-receiver") view=PeerReceiverPage/>
                    <Route path=path!("/call") view=CallPage/>
                    <Route path=path!("/meet") view=MeetPage/>
                </Routes>
            </main>
        </Router>
    }
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
        assert!(!is_page("/nope"));
        assert!(!is_page("/chat/simple/extra"));
    }
}
