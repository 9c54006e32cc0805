//! The `mxmod` command line: run (the default), check-config, list-modules,
//! generate-config, register-user. Configuration and start-up errors exit with code 2.

mod register_user;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{config, exit, EXIT_CONFIG};

/// The mxmod homeserver: a small Matrix homeserver running compiled-in modules.
#[derive(Parser)]
#[command(name = "mxmod", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with no `-c`, on the embedded default config).
    Run {
        /// The homeserver.yaml to use.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Check a config file: list every problem; exit 0 if it is fine, 2 otherwise.
    CheckConfig {
        /// The homeserver.yaml to check.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// List the modules compiled into this binary.
    ListModules,
    /// Print a commented configuration to start from.
    GenerateConfig,
    /// Create a user, e.g. the first server admin (like Synapse's
    /// `register_new_matrix_user`): online through a running server's shared-secret
    /// registration, or offline in the database.
    RegisterUser(register_user::RegisterUserArgs),
}

/// The `mxmod` entry point; custom binaries call it too.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run { config: None }) {
        Command::Run { config } => run(config),
        Command::CheckConfig { config } => check_config(config),
        Command::ListModules => {
            print!("{}", list_modules());
            ExitCode::SUCCESS
        }
        Command::GenerateConfig => {
            print!("{}", config::DEFAULT_CONFIG);
            ExitCode::SUCCESS
        }
        Command::RegisterUser(args) => {
            crate::linked_modules();
            register_user::run(args)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MXMOD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

fn load(path: Option<PathBuf>) -> Result<config::Loaded, ExitCode> {
    let loaded = match &path {
        Some(path) => config::load_file(path),
        None => config::load_default(),
    };
    match loaded {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            Ok(loaded)
        }
        Err(problems) => {
            eprintln!("error: the configuration has problems:\n{problems}");
            Err(exit(EXIT_CONFIG))
        }
    }
}

fn run(path: Option<PathBuf>) -> ExitCode {
    init_logging();
    crate::linked_modules();
    if let Err(error) = mxmod::registry::check_unique_names() {
        eprintln!("error: {error}");
        return exit(EXIT_CONFIG);
    }
    let loaded = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match crate::serve(loaded).await {
            Ok(server) => {
                for address in &server.addresses {
                    eprintln!("mxmod: listening on http://{address}");
                }
                server.wait().await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                exit(EXIT_CONFIG)
            }
        }
    })
}

fn check_config(path: PathBuf) -> ExitCode {
    crate::linked_modules();
    match config::load_file(&path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                println!("warning: {warning}");
            }
            println!("{}: OK ({} modules)", path.display(), loaded.modules.len());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!("{} problem(s) found", problems.problems.len());
            exit(EXIT_CONFIG)
        }
    }
}

/// The `list-modules` text.
fn list_modules() -> String {
    let enabled = crate::linked_modules();
    let mut out = String::new();
    if enabled.is_empty() {
        out.push_str("no modules are compiled into this binary\n");
    }
    for summary in mxmod::registry::summaries() {
        let d = summary.descriptor;
        let feature = if mxmod_modules::SHIPPED.contains(&d.name) {
            format!("feature `{}` of mxmod-modules", d.name)
        } else {
            format!("crate {}", d.crate_name)
        };
        out.push_str(&format!("{} ({feature})\n", d.name));
        for (category, callback) in &summary.callbacks {
            out.push_str(&format!("  callback  {category}.{callback}\n"));
        }
        for path in &summary.web_paths {
            out.push_str(&format!("  resource  {path}\n"));
        }
        for (method, size) in &summary.caches {
            out.push_str(&format!("  cache     {method} (max {size} entries)\n"));
        }
    }
    out
}
