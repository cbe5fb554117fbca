//! `/chat`: unique nicknames, messages to everyone with the sender's name, and a history that
//! survives restarts.

mod history;
mod lookalike;
mod names;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use app::protocol::chat::{
    Chat, ChatText, ClaimName, History as HistoryEvent, HistoryEntry, Message, NameAccepted,
    Nickname, SendMessage,
};
use app::protocol::Rejection;
use socketioxide::adapter::Adapter;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

pub use history::{History, HistoryError};
use names::Names;

use crate::contract::{self, Cx, Listener, Served, Shared};

/// Everything `/chat` remembers. Cheap to clone.
#[derive(Clone)]
pub struct ChatState {
    /// Who is called what, among the connected clients.
    names: Names,
    /// The latest messages, kept across restarts.
    pub history: History,
}

impl ChatState {
    /// Opens the history database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ChatState, HistoryError> {
        Ok(ChatState {
            names: Names::default(),
            history: History::open(&data_dir.join("chat.sqlite3"))?,
        })
    }
}

type ChatCx<A> = Cx<Chat, ChatState, A>;

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>, chat: ChatState) -> A::InitRes {
    contract::serve(io, shared, chat, listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Chat, ChatState, A>) {
    on.on::<ClaimName, _, _>(claim);
    on.on::<SendMessage, _, _>(message);
    on.on_disconnect(leave);
}

/// The name is the claimant's (and only its) once no one else holds it.
async fn claim<A: Adapter>(cx: ChatCx<A>, (name,): (Nickname,)) -> Result<(), Rejection> {
    cx.state.names.claim(cx.socket.id, name.clone())?;
    cx.reply::<NameAccepted>(&(name,));
    cx.reply::<HistoryEvent>(&(cx.state.history.recent(),));
    Ok(())
}

async fn message<A: Adapter>(cx: ChatCx<A>, (text,): (ChatText,)) -> Result<(), Rejection> {
    let sender = cx
        .state
        .names
        .sender(cx.socket.id)
        .ok_or_else(|| Rejection::new("Choose a name before sending messages."))?;
    let saved = cx.state.history.record(HistoryEntry {
        sender: sender.clone(),
        text: text.clone(),
        at: now_ms(),
    });
    cx.nsp.broadcast::<Message>(&(sender, text)).await;
    // Acknowledged only once it would survive a crash.
    saved
        .await
        .map_err(|_| Rejection::new("Your message was shown but could not be saved."))
}

async fn leave<A: Adapter>(cx: ChatCx<A>, _: DisconnectReason) {
    cx.state.names.release(cx.socket.id);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
