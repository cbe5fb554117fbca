//! `/simple-chat`: every message to everyone, sender included (the seed's first chat).

use std::convert::Infallible;

use app::protocol::simple_chat::{parse_message, ChatError, Message, SendMessage, NAMESPACE};
use app::protocol::{Event, RawArgs};
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::events::{self, broadcast, reject};
use crate::in_order::InOrder;

pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, events::connected.with(listen));
}

/// Registers the handlers before the client is told it is connected.
async fn listen(socket: SocketRef) -> Result<(), Infallible> {
    events::log_unknown_events(&socket);
    socket.on(SendMessage::NAME, on_message);
    socket.on_disconnect(events::disconnected);
    Ok(())
}

async fn on_message(socket: SocketRef, io: SocketIo, turn: InOrder, Data(args): Data<RawArgs>) {
    let _turn = turn.wait().await;
    match parse_message(&args) {
        Ok(text) => broadcast::<Message>(&io, NAMESPACE, &(text,)).await,
        Err(rejection) => reject::<ChatError>(&socket, SendMessage::NAME, rejection),
    }
}
