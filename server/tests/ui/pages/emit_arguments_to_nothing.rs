//! `leave` takes no arguments: a page sends `Nothing`, not `()` (which would be one `null`).
use app::protocol::meet::{Leave, Meet};
use app::typed::Socket;

fn page(socket: Socket<Meet>) {
    let _ = socket.emit::<Leave>(());
}

fn main() {}
