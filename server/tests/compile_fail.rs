//! What a page or a handler must not be able to write about the wire contract does not
//! compile, and each case fails for its own reason: the expected compiler output is in
//! `ui/*/*.stderr` beside it (regenerate with
//! `TRYBUILD=overwrite cargo test -p server --test compile_fail`, then read it).
//!
//! Both ends' cases live here, in one trybuild project: trybuild checks every dependency
//! again in a target directory of its own, and the server's dependencies include the app's,
//! so one project checks them once (two took about 1.7 + 4 minutes of `make test`).

#[test]
fn pages_and_handlers_break_no_contract() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/pages/*.rs");
    cases.compile_fail("tests/ui/handlers/*.rs");
}
