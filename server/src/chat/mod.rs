//! `/chat`: unique nicknames, messages to everyone with the sender's name, and a history that
//! survives restarts.

mod history;
mod names;

use std::convert::Infallible;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use app::protocol::chat::{
    parse_claim, parse_message, ChatError, ClaimName, History as HistoryEvent, HistoryEntry,
    Message, NameAccepted, NameError, SendMessage, NAMESPACE,
};
use app::protocol::{Event, RawArgs, Rejection};
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

pub use history::{History, HistoryError};
pub use names::Names;

use crate::events::{self, broadcast, emit, reject};
use crate::in_order::InOrder;

/// Everything `/chat` remembers. Cheap to clone.
#[derive(Clone)]
pub struct ChatState {
    pub names: Names,
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

/// Registers the namespace; `ChatState` must be in the socket.io state.
pub fn register(io: &SocketIo) {
    io.ns(NAMESPACE, events::connected.with(listen));
}

/// Registers the handlers before the client is told it is connected.
async fn listen(socket: SocketRef) -> Result<(), Infallible> {
    events::log_unknown_events(&socket);
    socket.on(ClaimName::NAME, on_claim);
    socket.on(SendMessage::NAME, on_message);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

async fn on_claim(
    socket: SocketRef,
    State(chat): State<ChatState>,
    turn: InOrder,
    Data(args): Data<RawArgs>,
) {
    let _turn = turn.wait().await;
    let claimed = parse_claim(&args)
        .and_then(|name| chat.names.claim(socket.id, name.clone()).map(|()| name));
    match claimed {
        Ok(name) => {
            emit::<NameAccepted>(&socket, &(name,));
            emit::<HistoryEvent>(&socket, &(chat.history.recent(),));
        }
        Err(rejection) => reject::<NameError>(&socket, ClaimName::NAME, rejection),
    }
}

async fn on_message(
    socket: SocketRef,
    io: SocketIo,
    State(chat): State<ChatState>,
    ack: AckSender,
    turn: InOrder,
    Data(args): Data<RawArgs>,
) {
    let _turn = turn.wait().await;
    let accepted = chat
        .names
        .sender(socket.id)
        .ok_or_else(|| Rejection::new("Choose a name before sending messages."))
        .and_then(|sender| Ok((sender, parse_message(&args)?)));
    let outcome = match accepted {
        Ok((sender, text)) => {
            chat.history.record(HistoryEntry {
                sender: sender.clone(),
                text: text.clone(),
                at: now_ms(),
            });
            broadcast::<Message>(&io, NAMESPACE, &(sender, text)).await;
            Ok(())
        }
        Err(rejection) => {
            reject::<ChatError>(&socket, SendMessage::NAME, rejection.clone());
            Err(rejection)
        }
    };
    events::acknowledge(ack, &socket, &outcome);
}

async fn on_disconnect(socket: SocketRef, State(chat): State<ChatState>, reason: DisconnectReason) {
    // After its last claim, or a name could outlive its holder.
    let _after_everything_it_sent = InOrder::after_all(&socket).await;
    chat.names.release(socket.id);
    events::log_disconnected(&socket, reason);
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
