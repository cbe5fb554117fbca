//! `/simple-chat`: every message to everyone, sender included (the seed's first chat).

use app::protocol::simple_chat::{parse_message, ChatError, Message, SendMessage, NAMESPACE};
use app::protocol::{Event, RawArgs};
use socketioxide::extract::{Data, SocketRef};
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

use crate::events::{self, broadcast, reject};

pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, on_connect);
}

async fn on_connect(socket: SocketRef) {
    events::connected(&socket);
    socket.on(SendMessage::NAME, on_message);
    socket.on_disconnect(|socket: SocketRef, reason: DisconnectReason| async move {
        events::disconnected(&socket, reason)
    });
}

async fn on_message(socket: SocketRef, io: SocketIo, Data(args): Data<RawArgs>) {
    match parse_message(&args) {
        Ok(text) => broadcast::<Message>(&io, NAMESPACE, &(text,)).await,
        Err(rejection) => reject::<ChatError>(&socket, SendMessage::NAME, rejection),
    }
}
