//! A page cannot listen to an event that only pages send.
use app::protocol::chat::{Chat, SendMessage};
use app::typed::Socket;

fn page(socket: Socket<Chat>) {
    socket.on::<SendMessage>(|_| {});
}

fn main() {}
