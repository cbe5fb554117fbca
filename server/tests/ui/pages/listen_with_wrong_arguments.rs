//! `/chat`'s `message` brings the sender and the text: a handler for the text alone is wrong.
use app::protocol::chat::{Chat, ChatText, Message};
use app::typed::Socket;

fn page(socket: Socket<Chat>) {
    socket.on::<Message>(|(_text,): (ChatText,)| {});
}

fn main() {}
