//! Two things go into the server binary at build time:
//!
//! - the official socket.io browser client (npm `socket.io-client`), so that the course's own
//!   pages can load `/socket.io/socket.io.js` from Switchboard unchanged;
//! - the built web app (Trunk's `dist/`, when it has been built), so that a release binary
//!   copied to another machine serves its pages with no files beside it. `--site-dir`
//!   still serves a directory instead (for development).

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not baked in when it is compiled: worktrees that share a
    // target directory share this script's binary too.
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..");
    let client = root.join("node_modules/socket.io-client/dist");
    println!("cargo:rerun-if-changed={}", client.display());
    if !client.join("socket.io.js").is_file() {
        panic!(
            "\n\nThe socket.io browser client is missing ({}).\n\
             Install it from the npm registry first: run `npm ci` in the repository root \
             (`make run` and `make test` do this for you).\n\n",
            client.display()
        );
    }
    embed_site(&root.join("dist"));
}

/// Writes `$OUT_DIR/site.rs`: `SITE`, every file of `dist` as (URL path, bytes).
fn embed_site(dist: &Path) {
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(dist, dist, &mut files);
    }
    files.sort();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut code = std::fs::File::create(out.join("site.rs")).expect("site.rs");
    writeln!(
        code,
        "/// The web app as built when this binary was (empty if it was not)."
    )
    .unwrap();
    writeln!(code, "pub const SITE: &[(&str, &[u8])] = &[").unwrap();
    for (url, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({url:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .fold(String::new(), |url, part| url + "/" + &part);
            out.push((url, path.canonicalize().unwrap_or(path)));
        }
    }
}
