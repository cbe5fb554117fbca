//! The relay `/remote`, `/signal` and `/meet` share: a payload goes to the one socket its
//! sender names, untouched, stamped with the sender's id where the contract says so, on
//! whichever node of a cluster that socket is.

use app::protocol::{Payload, PeerId, Rejection, RelayEvent};
use socketioxide::adapter::Adapter;

use crate::contract::Cx;

/// Delivers `R`'s payload to the socket it names; refused (and so acknowledged as refused)
/// when that socket is not connected.
pub async fn relay<R: RelayEvent, S, A: Adapter>(
    cx: Cx<R::Namespace, S, A>,
    (to, data): (PeerId, Payload<R::Data>),
) -> Result<(), Rejection> {
    let args = R::delivered(to.clone(), data, cx.id());
    match cx.nsp.socket(&to) {
        Some(peer) => cx.nsp.emit::<R::Delivered>(&peer, &args),
        // In a cluster it may be connected to another node.
        None if cx.nsp.emit_remote::<R::Delivered>(&to, &args).await => {}
        None => return Err(Rejection::new(R::RULES.unknown_target)),
    }
    Ok(())
}
