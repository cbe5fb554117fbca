//! `/webrtc/peer-sender` and `/webrtc/peer-receiver`: the same one-way call as the raw pages,
//! through [`Peer`]: one `signal` event carries offers, answers and candidates alike.

use leptos::prelude::*;

use super::{ReceiverLayout, ReceiverSide, SenderLayout, SenderSide};
use crate::protocol::signal::{SignalData, SignalEvent, SignalFrom, Signalling};
use crate::protocol::PeerId;
use crate::socketio::Socket;
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

/// Reports a peer's events on the page: its status line and (for the receiver) the video.
fn on_peer_event(
    socket: Socket<Signalling>,
    to: PeerId,
    status: RwSignal<String>,
    remote: Option<StreamSlot>,
) -> impl Fn(PeerEvent) + 'static {
    move |event| match event {
        PeerEvent::Signal(data) => {
            if let Err(error) = relay::<SignalEvent>(&socket, &to, &data) {
                status.set(format!("A signal to {to} was not sent: {error}."));
            }
        }
        PeerEvent::Connect => status.set(format!("Connected to {to}.")),
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
            ..PeerOptions::new(true, ice.get_untracked().unwrap_or_default())
        };
        match Peer::new(
            options,
            on_peer_event(socket.clone(), to.clone(), status, None),
        ) {
            Ok(peer) => {
                status.set(format!("Calling {to}…"));
                current.set_value(Some((to, peer)));
            }
            Err(error) => status.set(error),
        }
    };

    view! {
        <SenderLayout title="Sender (Peer)" side=side call=call/>
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
                let options = PeerOptions::new(false, ice.get_untracked().unwrap_or_default());
                match Peer::new(
                    options,
                    on_peer_event(socket.clone(), from.clone(), status, Some(remote)),
                ) {
                    Ok(peer) => current.set_value(Some((from.clone(), peer))),
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

    view! {
        <ReceiverLayout title="Receiver (Peer)" side=side/>
    }
}
