//! A page cannot send an event that only the server sends.
use app::protocol::chat::{Chat, ChatText, Message, Nickname, Sender};
use app::typed::Socket;

fn page(socket: Socket<Chat>) {
    let from = Sender { id: "x".into(), name: Nickname::parse("Ada").unwrap() };
    let _ = socket.emit::<Message>((from, ChatText::parse("hi").unwrap()));
}

fn main() {}
