//! `/webrtc/peer-sender` and `/webrtc/peer-receiver`: the same one-way call as the raw pages,
//! through [`Peer`]: one `signal` event carries offers, answers and candidates alike. A call
//! whose media stops is restarted (ICE) by the sender, as on `/call`; a quality line shows
//! how it goes.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;

use super::{ReceiverLayout, ReceiverSide, SenderLayout, SenderSide};
use crate::protocol::signal::{SignalData, SignalEvent, SignalFrom, Signalling};
use crate::protocol::PeerId;
use crate::socketio::Socket;
use crate::webrtc::ice::Ice;
use crate::webrtc::mesh::{ATTEMPTS, CONNECT_WITHIN, RESTART_AFTER};
use crate::webrtc::quality;
use crate::webrtc::signalling::{on_relayed, relay, StreamSlot};
use crate::webrtc::{Peer, PeerEvent, PeerOptions};

/// The call in progress, if any: the other side's id and the connection to it.
type CurrentCall = StoredValue<Option<(PeerId, Peer)>, LocalStorage>;

/// Ends the call in progress, if any.
fn hang_up(current: CurrentCall) {
    current.with_value(|call| {
        if let Some((_, peer)) = call {
            peer.destroy()
        }
    });
}

async fn sleep(time: Duration) {
    gloo_timers::future::TimeoutFuture::new(time.as_millis().try_into().unwrap_or(u32::MAX)).await
}

/// The connection of the call in progress, if any.
fn current_peer(current: CurrentCall) -> Option<Peer> {
    current.with_value(|c| c.as_ref().map(|(_, peer)| peer.clone()))
}

/// What a peer's events do to the page. The sender (`restarts` given) restarts ICE when the
/// media stops, up to [`ATTEMPTS`] times, each given [`CONNECT_WITHIN`]; the receiver
/// answers its offers.
struct OnPeer {
    socket: Socket<Signalling>,
    to: PeerId,
    status: RwSignal<String>,
    /// The receiver's video slot.
    remote: Option<StreamSlot>,
    current: CurrentCall,
    restarts: Option<Ice>,
}

/// Reports a peer's events on the page: its status line and (for the receiver) the video.
fn on_peer_event(on: OnPeer) -> impl Fn(PeerEvent) + 'static {
    let OnPeer {
        socket,
        to,
        status,
        remote,
        current,
        restarts,
    } = on;
    let was_connected = Rc::new(Cell::new(false));
    // A restart loop runs (one at a time, however many interruptions it sees).
    let restarting = Rc::new(Cell::new(false));
    move |event| match event {
        PeerEvent::Signal(data) => {
            if let Err(error) = relay::<SignalEvent>(&socket, &to, &data) {
                status.set(format!("A signal to {to} was not sent: {error}."));
            }
        }
        PeerEvent::Connect => {
            was_connected.set(true);
            status.set(format!("Connected to {to}."));
        }
        PeerEvent::Interrupted { failed } if !was_connected.get() => {
            if failed {
                hang_up(current);
                status.set(format!("Could not connect to {to} (no network path)."));
            }
        }
        PeerEvent::Interrupted { failed } => {
            status.set(format!("Reconnecting to {to}…"));
            let (Some(ice), Some(peer)) = (restarts, current_peer(current)) else {
                return;
            };
            if restarting.replace(true) {
                return;
            }
            let (restarting, to) = (restarting.clone(), to.clone());
            let wait = if failed {
                Duration::ZERO
            } else {
                RESTART_AFTER
            };
            leptos::task::spawn_local(async move {
                sleep(wait).await;
                for _ in 0..ATTEMPTS {
                    if peer.is_closed() || peer.is_connected() {
                        return restarting.set(false);
                    }
                    if let Err(error) = peer.restart_ice(&ice.fresh().await) {
                        leptos::logging::warn!("no ICE restart: {error}");
                    }
                    sleep(CONNECT_WITHIN).await;
                }
                restarting.set(false);
                if !peer.is_closed() && !peer.is_connected() {
                    peer.destroy();
                    status.try_set(format!("Could not reconnect to {to}."));
                }
            });
        }
        PeerEvent::Stream(stream) => {
            if let Some(remote) = remote {
                remote.set(Some(stream));
            }
        }
        PeerEvent::Error(error) => status.set(format!("Error: {error}")),
        PeerEvent::Close => status.set("The connection closed.".into()),
        PeerEvent::Data(_) => {}
    }
}

#[component]
pub fn PeerSenderPage() -> impl IntoView {
    let side = SenderSide::open();
    let SenderSide {
        ice,
        camera,
        status,
        ..
    } = side.clone();
    let current: CurrentCall = StoredValue::new_local(None);
    let socket = side.socket.clone();

    on_relayed::<SignalFrom, _>(
        &side.socket,
        move |p| status.set(p),
        move |data, from| {
            current.with_value(|c| match c {
                Some((peer_id, peer)) if *peer_id == from => peer.signal(data),
                _ => {}
            })
        },
    );
    on_cleanup(move || hang_up(current));

    let call = move |to: PeerId| {
        let Some(stream) = camera.get_untracked() else {
            return status.set("The camera is not ready yet.".into());
        };
        hang_up(current);
        let options = PeerOptions {
            stream: Some(stream),
            ..PeerOptions::new(true, ice.now())
        };
        let on = OnPeer {
            socket: socket.clone(),
            to: to.clone(),
            status,
            remote: None,
            current,
            restarts: Some(ice),
        };
        match Peer::new(options, on_peer_event(on)) {
            Ok(peer) => {
                ice.track(&peer);
                status.set(format!("Calling {to}…"));
                current.set_value(Some((to, peer)));
            }
            Err(error) => status.set(error),
        }
    };

    let quality = quality::watch(move || current_peer(current));
    view! {
        <SenderLayout title="Sender (Peer)" side=side call=call quality=quality/>
    }
}

#[component]
pub fn PeerReceiverPage() -> impl IntoView {
    let side = ReceiverSide::open();
    let ReceiverSide {
        ice,
        remote,
        status,
        ..
    } = side.clone();
    let current: CurrentCall = StoredValue::new_local(None);
    let socket = side.socket.clone();

    on_relayed::<SignalFrom, _>(
        &side.socket,
        move |p| status.set(p),
        move |data: SignalData, from| {
            // A new offer from someone else starts a new call (as the seed's receiver does).
            let fresh = current.with_value(|c| !matches!(c, Some((id, _)) if *id == from));
            if fresh && matches!(data, SignalData::Offer { .. }) {
                hang_up(current);
                let options = PeerOptions::new(false, ice.now());
                let on = OnPeer {
                    socket: socket.clone(),
                    to: from.clone(),
                    status,
                    remote: Some(remote),
                    current,
                    restarts: None,
                };
                match Peer::new(options, on_peer_event(on)) {
                    Ok(peer) => {
                        ice.track(&peer);
                        current.set_value(Some((from.clone(), peer)));
                    }
                    Err(error) => return status.set(error),
                }
                status.set(format!("Answering {from}…"));
            }
            current.with_value(|c| match c {
                Some((id, peer)) if *id == from => peer.signal(data),
                _ => {}
            });
        },
    );
    on_cleanup(move || hang_up(current));

    let quality = quality::watch(move || current_peer(current));
    view! {
        <ReceiverLayout title="Receiver (Peer)" side=side quality=quality/>
    }
}
