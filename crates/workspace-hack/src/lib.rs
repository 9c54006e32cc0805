//! No code: a dependency list. `cargo test --workspace` builds each third-party crate once,
//! with the union of the features every package asks of it. Built alone, one package asks
//! for fewer, and cargo compiles that crate, and everything above it, a second time:
//! `cargo test -p mxmod-modules --no-default-features --features NAME`, which
//! `cargo xtask new-module` tells a module author to run, compiled about seventy crates
//! again after a workspace build, and the end-to-end test of `new-module` did so on every
//! CI run. This crate lists those features (cargo-hakari generates the list), and
//! `mxmod-modules` names it as a dev-dependency, so its tests build on the workspace's
//! artifacts. Only tests depend on it: the crates a module or the server links are built
//! with the features they ask for.
