//! `/chat`'s `message` arrives as the text and an optional id: a handler must take both.
use app::protocol::chat::{Chat, ChatText, SendMessage};
use app::protocol::Rejection;
use server::typed::{Cx, Listener};

async fn message(_: Cx<Chat, ()>, _: (ChatText,)) -> Result<(), Rejection> {
    Ok(())
}

fn listen(on: &Listener<Chat, ()>) {
    on.on::<SendMessage, _, _>(message);
}

fn main() {}
