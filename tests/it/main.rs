//! Black-box tests: the real `mxmod` binary on a free loopback port, driven over HTTP.

mod support;

mod abuse;
mod callbacks;
mod cli;
mod client;
mod client_moderation;
mod config_load;
mod dashboard;
mod durability;
mod ephemeral;
mod faulty;
mod login_flood;
mod metrics;
mod moderation;
mod races;
mod ratelimit;
mod server;
mod shipped;
mod startup;
mod sync;
