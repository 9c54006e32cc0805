//! trybuild UI tests: every misuse of the macros is a clear, spanned compile error
//! (`tests/ui/<macro>/fail/*.rs` with their `.stderr`), and every valid form compiles
//! (`pass/`). Kept in this package so the cases build against `mxmod` alone.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/*/pass/*.rs");
    cases.compile_fail("tests/ui/*/fail/*.rs");
}
