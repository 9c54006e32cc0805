//! Black-box tests: the real `mxmod` binary on a free loopback port, driven over HTTP.

mod support;

mod abuse;
mod callbacks;
mod categories;
mod cli;
mod client;
mod config_load;
mod dashboard;
mod durability;
mod faulty;
mod login_flood;
mod metrics;
mod races;
mod ratelimit;
mod server;
mod shipped;
mod startup;
mod sync;
