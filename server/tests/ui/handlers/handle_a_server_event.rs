//! The server cannot handle an event that only it sends.
use app::protocol::chat::{Chat, ChatText, Message, Sender};
use app::protocol::Rejection;
use server::typed::{Cx, Listener};

async fn said(_: Cx<Chat, ()>, _: (Sender, ChatText)) -> Result<(), Rejection> {
    Ok(())
}

fn listen(on: &Listener<Chat, ()>) {
    on.on::<Message, _, _>(said);
}

fn main() {}
