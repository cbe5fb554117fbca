//! `/chat`: unique nicknames, messages to everyone with the sender's name, and a history that
//! survives restarts; and, for clients that ask for them (auth `{"plus": true}`), who is here,
//! who is typing, message ids, and exactly what was missed after a short disconnect.

mod history;
mod lookalike;
mod names;
mod people;
mod resume;
mod shared_history;
mod shared_names;
mod sqlite;
mod typing;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::protocol::chat::{
    Chat, ChatOptions, ChatText, ClaimName, History as HistoryEvent, HistoryEntry, Joined, Left,
    Message, MessageMeta, Missed, NameAccepted, Nickname, Outgoing, People as PeopleEvent, Renamed,
    Resume, Said, SendMessage, SessionKey, SomeoneTyping, Typing as TypingEvent,
};
use app::protocol::Rejection;
use socketioxide::adapter::Adapter;
use socketioxide::socket::{DisconnectReason, Sid};
use socketioxide::SocketIo;

pub use history::{History, HistoryError, SharedHistory, SqliteHistory};
use names::{LocalNames, Names};
use people::{Change, People};
use shared_names::SharedNames;
use typing::Typing;

use crate::contract::{self, Cx, Listener, Nsp, Served, Shared};

/// The room of the clients that asked for the additions (from their connect on): they get
/// messages with ids, and nothing in the course's form.
const PLUS: &str = "chat:plus";
/// The room of those among them who have a name: they hear who comes, goes and types.
const HERE: &str = "chat:here";

/// Everything `/chat` remembers. Cheap to clone.
#[derive(Clone)]
pub struct ChatState {
    /// Who is called what, among the connected clients.
    pub names: Names,
    /// The messages, kept across restarts.
    pub history: History,
    /// Who is here, for the clients with the additions.
    people: People,
    /// Who is typing, on this node.
    typing: Typing,
}

impl ChatState {
    /// Single-node mode: names in memory, the history in SQLite in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ChatState, HistoryError> {
        Ok(ChatState {
            names: Names::Local(LocalNames::default()),
            history: History::Local(SqliteHistory::open(&data_dir.join("chat.sqlite3"))?),
            people: People::default(),
            typing: Typing::default(),
        })
    }

    /// Cluster mode: names and history in Redis, the same for every node.
    pub fn shared(cluster: &Arc<crate::cluster::Cluster>) -> ChatState {
        let members = cluster.start_members("/chat#people");
        ChatState {
            names: Names::Shared(SharedNames::new(cluster.clone())),
            history: History::Shared(SharedHistory {
                cluster: cluster.clone(),
            }),
            people: People::clustered(members),
            typing: Typing::default(),
        }
    }
}

type ChatCx<A> = Cx<Chat, ChatState, A>;

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>, chat: ChatState) -> A::InitRes {
    let nsp = Nsp::<Chat, A>::new(io, shared);
    shared
        .tasks
        .spawn(lapse_typists(nsp.clone(), chat.typing.clone()));
    if let Some(mut news) = chat.people.remote_news() {
        let (nsp, people) = (nsp.clone(), chat.people.clone());
        shared.tasks.spawn(async move {
            while news.changed().await.is_ok() {
                for change in people.remote_changes() {
                    tell_here(&nsp, change);
                }
            }
        });
    }
    contract::serve(io, shared, chat, listen::<A>, contract::nothing)
}

fn listen<A: Adapter>(on: &Listener<Chat, ChatState, A>) {
    let options = on.auth::<ChatOptions>().unwrap_or_default();
    if options.plus {
        on.socket().join(PLUS);
    }
    if let Some(session) = options.session {
        on.socket().extensions.insert(session);
    }
    on.on::<ClaimName, _, _>(claim);
    on.on::<SendMessage, _, _>(message);
    on.on::<TypingEvent, _, _>(typing);
    on.on_disconnect(leave);
}

fn is_plus<A: Adapter>(cx: &ChatCx<A>) -> bool {
    cx.socket.rooms().iter().any(|room| room == PLUS)
}

/// The name is the claimant's (and only its) once no one else holds it. A client with the
/// additions then learns who is here, and what it missed if it says what it saw last.
async fn claim<A: Adapter>(
    cx: ChatCx<A>,
    (name, resume): (Nickname, Option<Resume>),
) -> Result<(), Rejection> {
    let session = cx.socket.extensions.get::<SessionKey>();
    let ghost = cx
        .state
        .names
        .claim(cx.socket.id, name.clone(), session.as_ref())
        .await?;
    cx.reply::<NameAccepted>(&(name.clone(),));
    // Since its connect, it has had every message broadcast: what it missed before that is
    // stored by now. (One in both comes twice; the page keeps one per id.)
    if !is_plus(&cx) {
        let recent = history::course_form(cx.state.history.recent().await);
        cx.reply::<HistoryEvent>(&(recent,));
    } else {
        let missed = match resume {
            Some(Resume { last_seen }) => cx.state.history.since(last_seen).await,
            None => None,
        };
        match missed {
            Some(missed) => cx.reply::<Missed>(&(missed,)),
            None => cx.reply::<HistoryEvent>(&(cx.state.history.recent().await,)),
        }
    }
    // The others hear of it (a page back on a new connection is neither news nor gone);
    // a client with the additions gets the list, itself included.
    let gone = match ghost {
        Some(ghost) => retire(&cx, ghost).await,
        None => None,
    };
    match (gone, cx.state.people.named(cx.socket.id, &name)) {
        (Some(Change::Left(old)), Some(Change::Joined(new))) if old == new => {}
        (gone, came) => gone
            .into_iter()
            .chain(came)
            .for_each(|c| tell_here(&cx.nsp, c)),
    }
    if is_plus(&cx) {
        cx.socket.join(HERE);
        cx.reply::<PeopleEvent>(&(cx.state.people.list(),));
    }
    Ok(())
}

/// Ends the page's previous connection, which held the name until now; who it was, if here.
async fn retire<A: Adapter>(cx: &ChatCx<A>, ghost: Sid) -> Option<Change> {
    tracing::info!("a name moved to its page's new connection");
    tracing::debug!(%ghost, sid = %cx.socket.id, "a name moved to its page's new connection");
    let gone = cx.state.people.left(ghost);
    if let Some(name) = cx.state.typing.stop(ghost) {
        cx.nsp
            .broadcast_in::<SomeoneTyping>(HERE, &(name, false))
            .await;
    }
    cx.nsp.hang_up(ghost).await;
    gone
}

async fn message<A: Adapter>(
    cx: ChatCx<A>,
    (text, outgoing): (ChatText, Option<Outgoing>),
) -> Result<(), Rejection> {
    let sender = cx
        .state
        .names
        .sender(cx.socket.id)
        .ok_or_else(|| Rejection::new("Choose a name before sending messages."))?;
    if let Some(Outgoing { client_id }) = &outgoing {
        // Per name: nobody can silence another's messages by guessing their ids.
        let sent = format!("{}:{client_id}", sender.name.key());
        if !cx.state.history.first_time(&sent).await {
            // Sent again after a lost acknowledgement: it was delivered the first time.
            return Ok(());
        }
    }
    let Ok(id) = cx.state.history.next_id().await else {
        // The cluster's store is out of reach: the people of this node still get it, in the
        // course's form (there is no id to give it).
        cx.nsp.broadcast::<Message>(&(sender, text)).await;
        return Err(Rejection::new(
            "Your message was shown to the people connected here but could not be saved.",
        ));
    };
    let at = now_ms();
    let saved = cx.state.history.record(HistoryEntry {
        sender: sender.clone(),
        text: text.clone(),
        at,
        id: Some(id),
    });
    if let Some(name) = cx.state.typing.stop(cx.socket.id) {
        cx.nsp
            .broadcast_in::<SomeoneTyping>(HERE, &(name, false))
            .await;
    }
    cx.nsp
        .broadcast_in::<Said>(
            PLUS,
            &(sender.clone(), text.clone(), MessageMeta { id, at }),
        )
        .await;
    cx.nsp
        .broadcast_outside::<Message>(PLUS, &(sender, text))
        .await;
    // Acknowledged only once it would survive a crash.
    saved
        .await
        .map_err(|_| Rejection::new("Your message was shown but could not be saved."))
}

/// Typing from a named client with the additions is passed on; anything else is ignored.
async fn typing<A: Adapter>(cx: ChatCx<A>, (typing,): (bool,)) -> Result<(), Rejection> {
    let Some(sender) = cx.state.names.sender(cx.socket.id) else {
        return Ok(());
    };
    if is_plus(&cx) && cx.state.typing.says(cx.socket.id, &sender.name, typing) {
        cx.nsp
            .broadcast_in::<SomeoneTyping>(HERE, &(sender.name, typing))
            .await;
    }
    Ok(())
}

async fn leave<A: Adapter>(cx: ChatCx<A>, _: DisconnectReason) {
    cx.state.names.release(cx.socket.id).await;
    if let Some(name) = cx.state.typing.stop(cx.socket.id) {
        cx.nsp
            .broadcast_in::<SomeoneTyping>(HERE, &(name, false))
            .await;
    }
    if let Some(change) = cx.state.people.left(cx.socket.id) {
        tell_here(&cx.nsp, change);
    }
}

/// Tells this node's clients with the additions who came, changed name, or went. (Each
/// node tells its own: a node that dies takes its people with it, and the others say so.)
fn tell_here<A: Adapter>(nsp: &Nsp<Chat, A>, change: Change) {
    match change {
        Change::Joined(name) => nsp.broadcast_here_in::<Joined>(HERE, &(name,)),
        Change::Renamed(old, new) => nsp.broadcast_here_in::<Renamed>(HERE, &(old, new)),
        Change::Left(name) => nsp.broadcast_here_in::<Left>(HERE, &(name,)),
    }
}

/// How often lapsed typing states are looked for: one lapses at most this long after its time.
const LAPSES_EVERY: Duration = Duration::from_millis(500);

/// Tells everyone when a typist's state lapsed (its page went quiet for 5 s).
async fn lapse_typists<A: Adapter>(nsp: Nsp<Chat, A>, typing: Typing) {
    let mut every = tokio::time::interval(LAPSES_EVERY);
    loop {
        every.tick().await;
        for name in typing.lapsed() {
            nsp.broadcast_in::<SomeoneTyping>(HERE, &(name, false))
                .await;
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::TaskOwner;

    // Paused clock: the lapse is checked at the very times it is due, without waiting 5 s.
    #[tokio::test(start_paused = true)]
    async fn the_server_lets_a_typing_state_lapse_by_itself() {
        let owner = TaskOwner::new();
        let shared = Shared::for_tests(owner.tasks());
        let dir = tempfile::tempdir().expect("temp dir");
        let chat = ChatState::open(dir.path()).expect("history");
        let (_service, io) = SocketIo::builder().build_svc();
        register(&io, &shared, chat.clone());
        let (sid, ada) = (Sid::new(), Nickname::parse("Ada").expect("a name"));
        assert!(chat.typing.says(sid, &ada, true));
        tokio::time::sleep(typing::EXPIRES_AFTER - Duration::from_millis(1)).await;
        assert!(chat.typing.is_typing(sid), "not before its time");
        tokio::time::sleep(LAPSES_EVERY).await;
        assert!(!chat.typing.is_typing(sid), "lapsed, by the server alone");
    }
}
