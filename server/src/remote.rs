//! `/remote`: a controller's `update(targetId, data)` reaches the one socket it names.

use std::sync::Arc;

use app::protocol::remote::{Remote, SendUpdate};
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;

use crate::contract::{self, Listener, Served, Shared};
use crate::relay::relay;

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    contract::serve(io, shared, (), listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Remote, (), A>) {
    on.on::<SendUpdate, _, _>(relay::<SendUpdate, (), A>);
}
