//! What every WebRTC page needs around its peers: the `/signal` connection with the list of the
//! other clients, and the camera in a slot (the ICE servers are [`super::ice`]'s).

use leptos::prelude::*;
use web_sys::MediaStream;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::media::{open_camera, CameraRequest};
use crate::protocol::signal::{ClientMap, Clients, Signalling};
use crate::protocol::{Payload, PeerId, RelayEvent, ServerEvent};
use crate::socketio::{use_socket, Socket};

/// A stream slot a page fills (MediaStream is not `Send`, hence local storage).
pub type StreamSlot = RwSignal<Option<MediaStream>, LocalStorage>;

/// `/signal`, with the other clients (everyone but us) as a signal.
pub struct SignallingConnection {
    pub socket: Socket<Signalling>,
    pub others: RwSignal<Vec<PeerId>>,
}

/// Connects to `/signal` for as long as the calling component lives.
pub fn use_signalling() -> SignallingConnection {
    let socket = use_socket::<Signalling>();
    let others = RwSignal::new(Vec::<PeerId>::new());
    let me = socket.id();
    socket.on::<Clients>(move |(clients,): (ClientMap,)| {
        let mine = me.get_untracked();
        others.set(
            clients
                .into_keys()
                .filter(|id| Some(id) != mine.as_ref())
                .map(PeerId::of_socket)
                .collect(),
        );
    });
    SignallingConnection { socket, others }
}

/// Sends `data` to the peer `to` through the relay `E`, or says in words why it did not go.
pub fn relay<E>(socket: &Socket<Signalling>, to: &PeerId, data: &E::Data) -> Result<(), String>
where
    E: RelayEvent<Namespace = Signalling>,
    E::Data: Serialize,
{
    let data = Payload::new(data).map_err(|e| e.to_string())?;
    socket
        .emit::<E>((to.clone(), data))
        .map_err(|e| e.to_string())
}

/// Opens the camera into `slot`, or explains why not in `error`.
pub fn start_camera(request: CameraRequest, slot: StreamSlot, error: RwSignal<Option<String>>) {
    leptos::task::spawn_local(async move {
        match open_camera(&request).await {
            Ok(stream) => {
                error.set(None);
                slot.set(Some(stream));
            }
            Err(e) => error.set(Some(e.message())),
        }
    });
}

/// Calls `handler` with the data and the sender of every relayed `D` this page receives; a
/// payload that cannot be read as `T` (another client wrote it) is reported to `unreadable`.
pub fn on_relayed<D, T>(
    socket: &Socket<Signalling>,
    unreadable: impl Fn(String) + 'static,
    handler: impl Fn(T, PeerId) + 'static,
) where
    D: ServerEvent<Namespace = Signalling, Args = (PeerId, Payload<T>, PeerId)>,
    T: DeserializeOwned + 'static,
{
    socket.on::<D>(move |(_to, data, from)| match data.decode() {
        Ok(data) => handler(data, from),
        Err(_) => unreadable(format!("A {} from {from} could not be read.", D::NAME)),
    });
}
