//! `/chat`'s `message` takes the text and an optional id: the text alone is not enough.
use app::protocol::chat::{Chat, ChatText, SendMessage};
use app::typed::Socket;

fn page(socket: Socket<Chat>) {
    let _ = socket.emit::<SendMessage>((ChatText::parse("hi").unwrap(),));
}

fn main() {}
