//! The relay `/remote` and `/signal` share: a payload goes to the one socket its sender names,
//! untouched, stamped with the sender's id where the contract says so.

use app::protocol::{Payload, PeerId, Rejection, RelayEvent};
use socketioxide::adapter::Adapter;

use crate::contract::Cx;

/// Delivers `R`'s payload to the socket it names; refused (and so acknowledged as refused)
/// when that socket is not connected.
pub async fn relay<R: RelayEvent, S, A: Adapter>(
    cx: Cx<R::Namespace, S, A>,
    (to, data): (PeerId, Payload<R::Data>),
) -> Result<(), Rejection> {
    let peer = cx
        .nsp
        .socket(&to)
        .ok_or_else(|| Rejection::new(R::RULES.unknown_target))?;
    cx.nsp
        .emit::<R::Delivered>(&peer, &R::delivered(to, data, cx.id()));
    Ok(())
}
