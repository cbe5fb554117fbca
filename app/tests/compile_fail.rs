//! What a page must not be able to write about the wire contract does not compile, and each
//! case fails for its own reason: the expected compiler output is in `ui/*.stderr` beside it
//! (regenerate with `TRYBUILD=overwrite cargo test -p app --test compile_fail`, then read it).

#[test]
fn pages_break_no_contract() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
