//! A `/meet` handler cannot deliver `/signal`'s `signal` to a member, though both are called so.
use app::protocol::meet::Meet;
use app::protocol::signal::{SignalData, SignalFrom};
use app::protocol::{Payload, PeerId};
use server::typed::Cx;

fn deliver(cx: Cx<Meet, ()>, to: PeerId, data: Payload<SignalData>) {
    let from = cx.id();
    cx.nsp.emit::<SignalFrom>(&cx.socket, &(to, data, from));
}

fn main() {}
