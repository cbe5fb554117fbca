//! The server embeds the official socket.io browser client (npm `socket.io-client`), so that
//! the course's own pages can load `/socket.io/socket.io.js` from Switchboard unchanged.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/socket.io-client/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("socket.io.js").is_file() {
        panic!(
            "\n\nThe socket.io browser client is missing ({}).\n\
             Install it from the npm registry first: run `npm ci` in the repository root \
             (`make run` and `make test` do this for you).\n\n",
            dist.display()
        );
    }
}
