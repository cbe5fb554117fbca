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

use super::{
    seed_camera, start_camera, use_ice_servers, use_signal_connection, ReceiverLayout,
    SenderLayout, StreamSlot,
};
use crate::config::IceServer;
use crate::protocol::signal::{
    IceCandidate, PeerAnswer, PeerAnswerFrom, PeerIce, PeerIceFrom, PeerOffer, PeerOfferFrom,
    SessionDescription,
};
use crate::socketio::Socket;
use crate::webrtc::js::{error_text, from_js, to_js};

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
    socket: &Socket,
    peer: String,
    ice: Vec<IceServer>,
    status: RwSignal<String>,
    remote: Option<StreamSlot>,
) -> Result<Connection, String> {
    let config: RtcConfiguration =
        to_js(&serde_json::json!({ "iceServers": ice })).unchecked_into();
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
        let _ = socket.emit::<PeerIce>((peer.clone(), candidate));
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
    socket: &Socket,
    current: StoredValue<Option<Connection>, LocalStorage>,
    status: RwSignal<String>,
) {
    socket.on::<PeerIceFrom>(move |(_me, candidate, _from)| {
        current.with_value(|c| {
            if let Some(c) = c {
                add_candidate(&c.pc, candidate, status)
            }
        })
    });
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
    let connection = use_signal_connection();
    let ice = use_ice_servers();
    let camera: StreamSlot = RwSignal::new_local(None);
    let problem = RwSignal::new(None::<String>);
    let status = RwSignal::new("Pick a peer to call.".to_owned());
    start_camera(seed_camera(), camera, problem);
    let current = StoredValue::new_local(None::<Connection>);
    let socket = connection.socket.clone();

    connection
        .socket
        .on::<PeerAnswerFrom>(move |(_me, answer, _from)| {
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
        });
    trickle_in(&connection.socket, current, status);

    let call = move |peer: String| {
        let Some(stream) = camera.get_untracked() else {
            return status.set("The camera is not ready yet.".into());
        };
        let made = connect(
            &socket,
            peer.clone(),
            ice.get_untracked().unwrap_or_default(),
            status,
            None,
        );
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
            match local_description(&pc, pc.create_offer()).await {
                Ok(offer) => {
                    let _ = socket.emit::<PeerOffer>((peer, offer));
                }
                Err(error) => status.set(format!("Could not make an offer: {error}")),
            }
        });
    };

    view! {
        <SenderLayout title="Sender" state=connection.socket.state() others=connection.others
            camera=camera problem=problem status=status call=call/>
    }
}

#[component]
pub fn ReceiverRawPage() -> impl IntoView {
    let connection = use_signal_connection();
    let ice = use_ice_servers();
    let remote: StreamSlot = RwSignal::new_local(None);
    let status = RwSignal::new("Waiting for a call…".to_owned());
    let current = StoredValue::new_local(None::<Connection>);
    let socket = connection.socket.clone();

    connection
        .socket
        .on::<PeerOfferFrom>(move |(_me, offer, from)| {
            let made = connect(
                &socket,
                from.clone(),
                ice.get_untracked().unwrap_or_default(),
                status,
                Some(remote),
            );
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
                match local_description(&pc, pc.create_answer()).await {
                    Ok(answer) => {
                        let _ = socket.emit::<PeerAnswer>((from, answer));
                    }
                    Err(error) => status.set(format!("Could not answer: {error}")),
                }
            });
        });
    trickle_in(&connection.socket, current, status);

    let my_id = connection.socket.id();
    view! {
        <ReceiverLayout title="Receiver" state=connection.socket.state() my_id=my_id remote=remote status=status/>
    }
}
