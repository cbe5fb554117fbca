//! `/chat`: unique nicknames, messages to everyone with the sender's name, and a history that
//! survives restarts.

mod history;
mod lookalike;
mod names;
mod shared_names;

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

pub use history::{History, HistoryError, SharedHistory, SqliteHistory};
use names::{LocalNames, Names};
use shared_names::SharedNames;

use crate::contract::{self, Cx, Listener, Served, Shared};

/// Everything `/chat` remembers. Cheap to clone.
#[derive(Clone)]
pub struct ChatState {
    /// Who is called what, among the connected clients.
    pub names: Names,
    /// The latest messages, kept across restarts.
    pub history: History,
}

impl ChatState {
    /// Single-node mode: names in memory, the history in SQLite in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ChatState, HistoryError> {
        Ok(ChatState {
            names: Names::Local(LocalNames::default()),
            history: History::Local(SqliteHistory::open(&data_dir.join("chat.sqlite3"))?),
        })
    }

    /// Cluster mode: names and history in Redis, the same for every node.
    pub fn shared(cluster: &Arc<crate::cluster::Cluster>) -> ChatState {
        ChatState {
            names: Names::Shared(SharedNames::new(cluster.clone())),
            history: History::Shared(SharedHistory {
                cluster: cluster.clone(),
            }),
        }
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
    cx.state.names.claim(cx.socket.id, name.clone()).await?;
    cx.reply::<NameAccepted>(&(name,));
    cx.reply::<HistoryEvent>(&(cx.state.history.recent().await,));
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
    cx.state.names.release(cx.socket.id).await;
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
