//! Black-box tests: the real `mxmod` binary on a free loopback port, driven over HTTP.

mod support;

mod callbacks;
mod cli;
mod client;
mod durability;
mod login_flood;
mod ratelimit;
mod server;
mod shipped;
mod sync;
