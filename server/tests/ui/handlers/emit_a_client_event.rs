//! The server cannot send an event that only pages send.
use app::protocol::chat::{Chat, ChatText, SendMessage};
use server::typed::Cx;

fn answer(cx: Cx<Chat, ()>, text: ChatText) {
    cx.nsp.emit::<SendMessage>(&cx.socket, &(text, None));
}

fn main() {}
