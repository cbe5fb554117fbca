//! `/webrtc/sender` and `/webrtc/receiver`: the seed's first WebRTC flow, written out with the
//! browser's RTCPeerConnection. The sender offers (`peerOffer`), the receiver answers
//! (`peerAnswer`), both trickle ICE candidates (`peerIce`), and the receiver shows the video.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcIceCandidateInit, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcSessionDescriptionInit, RtcTrackEvent,
};

use super::{ReceiverLayout, ReceiverSide, SenderLayout, SenderSide};
use crate::config::IceConfig;
use crate::protocol::signal::{
    IceCandidate, PeerAnswer, PeerAnswerFrom, PeerIce, PeerIceFrom, PeerOffer, PeerOfferFrom,
    SessionDescription, Signalling,
};
use crate::protocol::PeerId;
use crate::socketio::Socket;
use crate::webrtc::js::{error_text, from_js, to_js};
use crate::webrtc::signalling::{on_relayed, relay, StreamSlot};

/// One raw connection and the callbacks it needs kept alive.
struct Connection {
    pc: RtcPeerConnection,
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
    }
}

/// A peer connection that trickles its candidates to `peer` over `peerIce`, reports its state
/// in `status`, and (for the receiver) shows remote tracks in `remote`.
fn connect(
    socket: &Socket<Signalling>,
    peer: PeerId,
    ice: IceConfig,
    status: RwSignal<String>,
    remote: Option<StreamSlot>,
) -> Result<Connection, String> {
    let config: RtcConfiguration = to_js(&ice.rtc_configuration()).unchecked_into();
    let pc = RtcPeerConnection::new_with_configuration(&config).map_err(|e| error_text(&e))?;
    let socket = socket.clone();
    let on_ice = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let Ok(event) = event.dyn_into::<RtcPeerConnectionIceEvent>() else {
            return;
        };
        // The seed forwards the final `null` too; so do we.
        let candidate = event
            .candidate()
            .and_then(|c| from_js::<IceCandidate>(&c.to_json()));
        if let Err(error) = relay::<PeerIce>(&socket, &peer, &candidate) {
            status.set(format!("A candidate was not sent: {error}."));
        }
    });
    let on_track = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let (Some(remote), Ok(event)) = (remote, event.dyn_into::<RtcTrackEvent>()) else {
            return;
        };
        if let Ok(stream) = event.streams().get(0).dyn_into::<MediaStream>() {
            remote.set(Some(stream));
        }
    });
    let watched = pc.clone();
    let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
        status.set(format!("Connection: {:?}", watched.connection_state()).to_lowercase());
    });
    pc.set_onicecandidate(Some(on_ice.as_ref().unchecked_ref()));
    pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
    pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
    Ok(Connection {
        pc,
        _callbacks: vec![on_ice, on_track, on_state],
    })
}

/// Applies a remote description; the promise is created at once, so that candidates applied
/// right after it queue behind it in the connection.
fn set_remote(pc: &RtcPeerConnection, description: &SessionDescription) -> JsFuture {
    let init: RtcSessionDescriptionInit = to_js(description).unchecked_into();
    JsFuture::from(pc.set_remote_description(&init))
}

/// Adds the peer's trickled candidates (`peerIce`) to the current connection.
fn trickle_in(
    socket: &Socket<Signalling>,
    current: StoredValue<Option<Connection>, LocalStorage>,
    status: RwSignal<String>,
) {
    on_relayed::<PeerIceFrom, _>(
        socket,
        move |p| status.set(p),
        move |candidate, _from| {
            current.with_value(|c| {
                if let Some(c) = c {
                    add_candidate(&c.pc, candidate, status)
                }
            })
        },
    );
}

fn add_candidate(
    pc: &RtcPeerConnection,
    candidate: Option<IceCandidate>,
    status: RwSignal<String>,
) {
    // `null` means "no more candidates": nothing to add.
    let Some(candidate) = candidate else { return };
    let init: RtcIceCandidateInit = to_js(&candidate).unchecked_into();
    let added = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)));
    spawn_local(async move {
        if let Err(error) = added.await {
            status.set(format!(
                "A candidate could not be added: {}",
                error_text(&error)
            ));
        }
    });
}

async fn local_description(
    pc: &RtcPeerConnection,
    promise: js_sys::Promise,
) -> Result<SessionDescription, String> {
    let created = JsFuture::from(promise).await.map_err(|e| error_text(&e))?;
    let init: RtcSessionDescriptionInit = created.unchecked_into();
    JsFuture::from(pc.set_local_description(&init))
        .await
        .map_err(|e| error_text(&e))?;
    let local = pc.local_description().ok_or("no local description")?;
    from_js(&local.to_json()).ok_or_else(|| "an unreadable description".into())
}

#[component]
pub fn SenderRawPage() -> impl IntoView {
    let side = SenderSide::open();
    let SenderSide {
        ice,
        camera,
        status,
        ..
    } = side.clone();
    let current = StoredValue::new_local(None::<Connection>);
    let socket = side.socket.clone();

    on_relayed::<PeerAnswerFrom, _>(
        &side.socket,
        move |p| status.set(p),
        move |answer: SessionDescription, _from| {
            current.with_value(|c| {
                if let Some(c) = c {
                    let applied = set_remote(&c.pc, &answer);
                    spawn_local(async move {
                        if let Err(error) = applied.await {
                            status.set(format!(
                                "The answer could not be used: {}",
                                error_text(&error)
                            ));
                        }
                    });
                }
            })
        },
    );
    trickle_in(&side.socket, current, status);

    let call = move |peer: PeerId| {
        let Some(stream) = camera.get_untracked() else {
            return status.set("The camera is not ready yet.".into());
        };
        let made = connect(&socket, peer.clone(), ice.now(), status, None);
        let c = match made {
            Ok(c) => c,
            Err(error) => return status.set(error),
        };
        for track in stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                c.pc.add_track_0(&track, &stream);
            }
        }
        let pc = c.pc.clone();
        current.set_value(Some(c)); // Drops (closes) any previous call.
        status.set(format!("Calling {peer}…"));
        let socket = socket.clone();
        spawn_local(async move {
            let sent = local_description(&pc, pc.create_offer())
                .await
                .map_err(|error| format!("Could not make an offer: {error}"))
                .and_then(|offer| {
                    relay::<PeerOffer>(&socket, &peer, &offer)
                        .map_err(|error| format!("The offer was not sent: {error}."))
                });
            if let Err(problem) = sent {
                status.set(problem);
            }
        });
    };

    view! {
        <SenderLayout title="Sender" side=side call=call/>
    }
}

#[component]
pub fn ReceiverRawPage() -> impl IntoView {
    let side = ReceiverSide::open();
    let ReceiverSide {
        ice,
        remote,
        status,
        ..
    } = side.clone();
    let current = StoredValue::new_local(None::<Connection>);
    let socket = side.socket.clone();

    on_relayed::<PeerOfferFrom, _>(
        &side.socket,
        move |p| status.set(p),
        move |offer: SessionDescription, from| {
            let made = connect(&socket, from.clone(), ice.now(), status, Some(remote));
            let c = match made {
                Ok(c) => c,
                Err(error) => return status.set(error),
            };
            let pc = c.pc.clone();
            let applied = set_remote(&pc, &offer);
            current.set_value(Some(c));
            status.set(format!("Answering {from}…"));
            let socket = socket.clone();
            spawn_local(async move {
                if let Err(error) = applied.await {
                    return status.set(format!(
                        "The offer could not be used: {}",
                        error_text(&error)
                    ));
                }
                let sent = local_description(&pc, pc.create_answer())
                    .await
                    .map_err(|error| format!("Could not answer: {error}"))
                    .and_then(|answer| {
                        relay::<PeerAnswer>(&socket, &from, &answer)
                            .map_err(|error| format!("The answer was not sent: {error}."))
                    });
                if let Err(problem) = sent {
                    status.set(problem);
                }
            });
        },
    );
    trickle_in(&side.socket, current, status);

    view! {
        <ReceiverLayout title="Receiver" side=side/>
    }
}
