//! A page connected to `/chat` cannot listen to an event of `/simple-chat`.
use app::protocol::chat::Chat;
use app::protocol::simple_chat::Message;
use app::typed::Socket;

fn page(socket: Socket<Chat>) {
    socket.on::<Message>(|_| {});
}

fn main() {}
