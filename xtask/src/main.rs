//! `cargo xtask`: the repository's own tooling. One file per subcommand: scaffold a module
//! (`new_module.rs`), build a binary with chosen modules (`build.rs`), list the modules
//! (`list.rs`), run the test suite with its binaries side by side (`test.rs`), run what CI
//! runs (`ci.rs`), measure the request hot path against bare hyper (`bench_http.rs`),
//! measure PostgreSQL against SQLite and two processes against one (`bench_pg.rs`).
//! Shared helpers live in `workspace.rs`.

mod bench_http;
mod bench_pg;
mod build;
mod ci;
mod codegen;
mod list;
mod new_module;
mod test;
mod workspace;

use std::{fmt, process::ExitCode};

use clap::{Parser, Subcommand};

/// The mxmod repository's tooling: scaffold modules, build binaries with chosen modules, reproduce CI.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole test suite (`cargo test --workspace`), its test binaries side by side.
    Test,
    /// Scaffold a module: in crates/modules behind its own cargo feature, or as a standalone crate.
    NewModule(new_module::Args),
    /// Build the `mxmod` binary with exactly the chosen modules (no default set).
    Build(build::Args),
    /// List every module in crates/modules: feature, callback categories, web paths.
    List,
    /// Run what CI runs: `cargo fmt --check`, `cargo clippy -D warnings`, then the tests as `test` runs them.
    Ci,
    /// Generate the callback signature reference (crates/core/docs/callbacks.md) from the callback tables.
    Codegen(codegen::Args),
    /// Compare the release server with a bare hyper server under `wrk` (median ratios).
    BenchHttp(bench_http::Args),
    /// Durable sends on PostgreSQL (one and two processes) beside SQLite, and the cross-process wake-up and invalidation latencies.
    BenchPg(bench_pg::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = workspace::Workspace::find().and_then(|workspace| match cli.command {
        Command::Test => test::run(&workspace),
        Command::NewModule(args) => new_module::run(&workspace, &args),
        Command::Build(args) => build::run(&workspace, &args),
        Command::List => list::run(&workspace),
        Command::Ci => ci::run(&workspace),
        Command::Codegen(args) => codegen::run(&workspace, &args),
        Command::BenchHttp(args) => bench_http::run(&workspace, &args),
        Command::BenchPg(args) => bench_pg::run(&workspace, &args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A failure to report to the user: what is wrong and, where it helps, what to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Error(String);

impl Error {
    /// An error with this message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of an xtask step.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed_and_lists_every_subcommand() {
        Cli::command().debug_assert();
        let names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
        assert_eq!(names, ["test", "new-module", "build", "list", "ci", "codegen", "bench-http", "bench-pg"]);
        for mut subcommand in Cli::command().get_subcommands().cloned() {
            let help = subcommand.render_long_help().to_string();
            assert!(help.contains("Usage:"), "{help}");
        }
    }
}
