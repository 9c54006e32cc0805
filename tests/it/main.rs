//! Black-box tests: the real `mxmod` binary on a free loopback port, driven over HTTP.

mod support;

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
