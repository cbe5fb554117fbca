//! `/chat`'s `message` goes out with its sender and its text: the text alone is not enough.
use app::protocol::chat::{Chat, ChatText, Message};
use server::typed::Nsp;

async fn tell_everyone(nsp: Nsp<Chat>, text: ChatText) {
    let args = (text,);
    nsp.broadcast::<Message>(&args).await;
}

fn main() {}
