//! Black-box tests: the real `mxmod` binary on a free loopback port, driven over HTTP.

mod support;

/// The binaries `support` starts: the stock `mxmod` and the custom one with the test modules.
pub(crate) const STOCK_BINARY: &str = env!("CARGO_BIN_EXE_mxmod-stock");
pub(crate) const POLICY_BINARY: &str = env!("CARGO_BIN_EXE_mxmod-policy-server");

mod abuse;
mod admin;
mod callbacks;
mod categories;
mod cli;
mod client;
mod client_moderation;
mod config_load;
mod dashboard;
mod durability;
mod email;
mod ephemeral;
mod faulty;
mod js_sdk;
mod login_flood;
mod metrics;
mod moderation;
mod module_storage;
mod postgres;
mod push_rules;
mod races;
mod ratelimit;
mod reload;
mod server;
mod session;
mod shipped;
mod startup;
mod sync;
mod upgrade;
