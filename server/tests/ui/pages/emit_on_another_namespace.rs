//! A page connected to `/signal` cannot send `/meet`'s `signal`, though both are called so.
use app::protocol::meet::SendSignal;
use app::protocol::signal::{SignalData, Signalling};
use app::protocol::{Payload, PeerId};
use app::typed::Socket;

fn page(socket: Socket<Signalling>) {
    let to = PeerId::parse("abc").unwrap();
    let _ = socket.emit::<SendSignal>((to, Payload::new(&SignalData::Bye).unwrap()));
}

fn main() {}
