//! Only a relay goes to one named peer: `clients` is the server's list, not a relay.
use app::protocol::signal::Clients;
use app::typed::relay;

fn main() {
    let _ = relay::<Clients>;
}
