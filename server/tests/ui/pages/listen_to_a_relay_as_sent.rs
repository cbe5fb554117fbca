//! A relay comes to its addressee as the event it is delivered as (`SignalFrom`, with the
//! sender's id), not as the client event its sender emitted.
use app::protocol::signal::{SignalEvent, Signalling};
use app::typed::Socket;

fn page(socket: Socket<Signalling>) {
    socket.on::<SignalEvent>(|_| {});
}

fn main() {}
