//! A custom homeserver binary: mxmod plus this package's `policy` module — the
//! three-line pattern for adding module crates from outside this repository.

use mxmod_tests as _;

fn main() -> std::process::ExitCode {
    mxmod_app::main()
}
