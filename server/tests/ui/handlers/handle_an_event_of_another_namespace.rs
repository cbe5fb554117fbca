//! `/chat` has no handler for `/simple-chat`'s `message`, though both are called so.
use app::protocol::chat::{Chat, ChatText};
use app::protocol::simple_chat::SendMessage;
use app::protocol::Rejection;
use server::typed::{Cx, Listener};

async fn message(_: Cx<Chat, ()>, _: (ChatText,)) -> Result<(), Rejection> {
    Ok(())
}

fn listen(on: &Listener<Chat, ()>) {
    on.on::<SendMessage, _, _>(message);
}

fn main() {}
