//! What a page or a handler must not be able to write about the wire contract does not
//! compile, and each case fails for its own reason: the expected compiler output is in
//! `ui/*/*.stderr` beside it (regenerate with
//! `TRYBUILD=overwrite cargo test -p server --test compile_fail`, then read it).
//!
//! Both ends' cases live here, in one trybuild project: trybuild checks every dependency
//! again in a target directory of its own, and the server's dependencies include the app's,
//! so one project checks them once (two took about 1.7 + 4 minutes of `make test`), and
//! with the flags below it checks them once, not twice.

/// The flags trybuild compiles the cases with. It checks every dependency first with these
/// minus the last one, then again with all of them (a different fingerprint for cargo);
/// given as `CARGO_ENCODED_RUSTFLAGS`, which cargo takes over trybuild's `--config`, they
/// are the same for both, and the dependencies are checked once (about two of make test's
/// minutes). The cases' expected output was written with exactly these.
const TRYBUILD_FLAGS: [&str; 6] = [
    "--cfg",
    "trybuild",
    "--verbose",
    "-A",
    "dead_code",
    "--diagnostic-width=140",
];

#[test]
fn pages_and_handlers_break_no_contract() {
    // The only test of this binary: nothing else reads the environment meanwhile.
    std::env::set_var("CARGO_ENCODED_RUSTFLAGS", TRYBUILD_FLAGS.join("\x1f"));
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/pages/*.rs");
    cases.compile_fail("tests/ui/handlers/*.rs");
}
