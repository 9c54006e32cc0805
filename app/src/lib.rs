//! # mxmod-app: the homeserver that runs mxmod modules
//!
//! A small Matrix homeserver (Client-Server API v3, SQLite storage) whose job is to call
//! every module callback where Synapse calls it. The `mxmod` binary is this crate's
//! [`main`]; a binary with extra module crates from outside this repository is three
//! lines — link the module crate and call [`main`]:
//!
//! ```no_run
//! // main.rs of a custom server; Cargo.toml depends on mxmod-app and my_module.
//! use my_module as _; // links the module's registry entries
//! # mod my_module {}
//! fn main() -> std::process::ExitCode { mxmod_app::main() }
//! ```

mod access_token;
mod account_data;
mod auth_providers;
mod cli;
mod client_events;
pub mod config;
mod filter;
mod handlers;
mod host;
mod http;
mod metrics;
mod modules;
mod password;
mod push;
mod ratelimit;
mod redaction;
mod reload;
mod rooms;
mod server;
mod shadow_ban;
mod shared_secret;
mod state;
pub mod storage;
mod threepids;
mod typing;
mod validate;

use std::process::ExitCode;

pub use cli::main;
pub use server::{serve, Server};

/// The modules this binary holds (from `mxmod-modules` features and any linked crate).
pub fn linked_modules() -> Vec<&'static str> {
    // Referencing mxmod-modules keeps its registry entries linked.
    let _enabled = mxmod_modules::enabled();
    mxmod::registry::compiled_in().iter().map(|d| d.name).collect()
}

/// Exit code for configuration and start-up errors.
pub const EXIT_CONFIG: u8 = 2;

fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
