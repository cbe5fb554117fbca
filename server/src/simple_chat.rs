//! `/simple-chat`: every message to everyone, sender included (the seed's first chat).

use std::sync::Arc;

use app::protocol::chat::ChatText;
use app::protocol::simple_chat::{Message, SendMessage, SimpleChat};
use app::protocol::Rejection;
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;

use crate::contract::{self, Cx, Listener, Served, Shared};

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>) -> A::InitRes {
    contract::serve(io, shared, (), listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<SimpleChat, (), A>) {
    on.on::<SendMessage, _, _>(message);
}

async fn message<A: Adapter>(
    cx: Cx<SimpleChat, (), A>,
    (text,): (ChatText,),
) -> Result<(), Rejection> {
    cx.nsp.broadcast::<Message>(&(text,)).await;
    Ok(())
}
