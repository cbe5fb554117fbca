//! `/draw`: a shared whiteboard. Each segment goes to every other client at once, and onto the
//! board that a client gets when it connects; `clear` empties it for everyone.

mod board;

use std::sync::Arc;
use std::time::Duration;

use app::protocol::draw::{Board as BoardEvent, Clear, Cleared, Draw, Drawing, Drawn, Segment};
use app::protocol::{Nothing, Rejection};
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;

pub use board::Board;

use crate::contract::{self, Cx, Listener, Served, Shared};
use crate::tasks::Tasks;

/// A board goes out in pieces of this many segments (about 50 KB each), so no single packet
/// is large whatever the transport.
const BOARD_PIECE: usize = 500;

/// How often a changed board is saved (one node): what a crash can lose.
pub const SAVE_EVERY: Duration = Duration::from_secs(2);

pub fn register<A: Served>(io: &SocketIo<A>, shared: &Arc<Shared>, board: Board) -> A::InitRes {
    contract::serve(io, shared, board, listen::<A>, joined::<A>)
}

/// Saves the board every [`SAVE_EVERY`] while it changes, in `tasks`.
pub fn spawn_saver(board: Board, tasks: &Tasks) {
    let saves = tasks.clone();
    tasks.spawn(async move {
        let mut every = tokio::time::interval(SAVE_EVERY);
        loop {
            every.tick().await;
            let board = board.clone();
            // Tracked apart: a save under way when the server stops ends before the last one.
            let _ = saves.spawn_blocking(move || board.save()).await;
        }
    });
}

fn listen<A: Adapter>(on: &Listener<Draw, Board, A>) {
    on.on::<Drawing, _, _>(drawing);
    on.on::<Clear, _, _>(clear);
}

/// A new client gets the board, oldest first (at least one piece, even if empty).
async fn joined<A: Adapter>(cx: Cx<Draw, Board, A>) {
    let segments = cx.state.segments().await;
    let mut pieces = segments.chunks(BOARD_PIECE);
    let first = pieces.next().unwrap_or_default();
    for piece in std::iter::once(first).chain(pieces) {
        cx.reply::<BoardEvent>(&(piece.to_vec(),));
    }
}

async fn drawing<A: Adapter>(
    cx: Cx<Draw, Board, A>,
    (segment,): (Segment,),
) -> Result<(), Rejection> {
    // On the board first: whoever has seen a segment finds it there when they reconnect.
    cx.state.add(&segment).await;
    cx.nsp
        .broadcast_from::<Drawn>(&cx.socket, &(segment,))
        .await;
    Ok(())
}

async fn clear<A: Adapter>(cx: Cx<Draw, Board, A>, _: Nothing) -> Result<(), Rejection> {
    cx.state.clear().await;
    cx.nsp.broadcast::<Cleared>(&Nothing).await;
    Ok(())
}
