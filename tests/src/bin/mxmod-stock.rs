//! The stock `mxmod` binary — `mxmod-app`'s `main` with its default modules — built in this
//! package so that the black-box tests and benchmarks get it from their own build
//! (`CARGO_BIN_EXE_mxmod-stock`). A nested `cargo build -p mxmod-app` unifies features over
//! fewer packages, and so compiled much of the dependency graph a second time.

fn main() -> std::process::ExitCode {
    mxmod_app::main()
}
