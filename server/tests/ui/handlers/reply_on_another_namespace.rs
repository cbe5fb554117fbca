//! A `/chat` handler cannot answer with an event of `/simple-chat`.
use app::protocol::chat::{Chat, ChatText};
use app::protocol::simple_chat::Message;
use server::typed::Cx;

fn answer(cx: Cx<Chat, ()>, text: ChatText) {
    cx.reply::<Message>(&(text,));
}

fn main() {}
