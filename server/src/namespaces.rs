//! Every socket.io namespace the server serves, in one table: the module that serves it, its
//! `Namespace` type (whose path it is served at) and how fast one client may send to it by
//! default. Registration, the metrics' namespaces, the rate limits and the names
//! `--rate-limit` accepts all come from it; any other namespace is refused.

use std::sync::Arc;

use app::protocol::call::Call;
use app::protocol::chat::Chat;
use app::protocol::cursors::Cursors;
use app::protocol::draw::Draw;
use app::protocol::meet::Meet;
use app::protocol::remote::Remote;
use app::protocol::signal::Signalling;
use app::protocol::simple_chat::SimpleChat;
use app::protocol::Namespace;
use socketioxide::SocketIo;

use crate::chat::ChatState;
use crate::contract::{Limits, Rate, Served, Shared};
use crate::draw::Board;
use crate::{call, chat, cursors, draw, meet, remote, signal, simple_chat};

/// What namespaces keep beyond their connections, for those whose entry asks for it.
pub struct Stores {
    pub chat: ChatState,
    pub board: Board,
}

/// One namespace of the table.
struct Entry {
    path: &'static str,
    /// How fast one client may send to it, unless `--rate-limit` says otherwise.
    rate: Rate,
}

/// Declares the table (see below): `module: NamespaceType, per_second/burst;`, and
/// `, with store` when the module's `register` takes that store.
macro_rules! namespaces {
    ($($module:ident: $namespace:ty, $per_second:literal / $burst:literal
        $(, with $store:ident)?;)*) => {
        const TABLE: &[Entry] = &[$(Entry {
            path: <$namespace as Namespace>::PATH,
            rate: Rate { per_second: $per_second, burst: $burst },
        }),*];

        /// Registers every namespace on `io`; returns their adapters' initialisations (to
        /// await, for adapters that need it).
        pub fn register_all<A: Served>(
            io: &SocketIo<A>,
            shared: &Arc<Shared>,
            stores: &Stores,
        ) -> Vec<A::InitRes> {
            vec![$($module::register(io, shared $(, stores.$store.clone())?)),*]
        }
    };
}

// The order is the order of `/metrics`.
namespaces! {
    simple_chat: SimpleChat, 10.0 / 20.0;
    draw: Draw, 120.0 / 120.0, with board;
    meet: Meet, 100.0 / 100.0;
    call: Call, 100.0 / 100.0;
    chat: Chat, 10.0 / 20.0, with chat;
    cursors: Cursors, 120.0 / 120.0;
    remote: Remote, 120.0 / 120.0;
    signal: Signalling, 100.0 / 100.0;
}

/// The path of every namespace, in the table's order.
pub fn paths() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|entry| entry.path)
}

/// Every namespace at its default rate: room for a person pasting quickly and for test suites
/// that send bursts of about 20 events (the chats); a page's pointer, pen or a phone's
/// gyroscope (one event per animation frame, up to 120 Hz screens); and the ICE candidates of
/// a call starting.
pub fn default_limits() -> Limits {
    Limits::new(TABLE.iter().map(|entry| (entry.path, entry.rate)))
}
