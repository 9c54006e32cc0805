//! trybuild UI tests of `mxmod-macros`: every misuse of the macros is a clear, spanned
//! compile error (`tests/ui/<macro>/fail/*.rs` with their `.stderr`).
//!
//! They live in this package because a proc-macro package's dev-dependencies are built a
//! second time, for the host. With no `pass` case, trybuild only type-checks (`cargo check`)
//! and never compiles the dependencies to machine code; the valid forms are ordinary tests
//! in `mxmod`'s `tests/authoring/valid_forms.rs`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*/fail/*.rs");
}
