//! The `mxmod` binary: the homeserver with the modules chosen by cargo features.

fn main() -> std::process::ExitCode {
    mxmod_app::main()
}
