//! trybuild UI tests: every misuse of the macros is a clear, spanned compile error
//! (`tests/ui/<macro>/fail/*.rs` with their `.stderr`), and every valid form compiles
//! (`pass/`). Kept in the macros package, whose only dev-dependencies are `mxmod` (without its
//! optional features), `serde_json` and trybuild, so trybuild's dependency build is small.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/*/pass/*.rs");
    cases.compile_fail("tests/ui/*/fail/*.rs");
}
