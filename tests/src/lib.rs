//! Test-only package: black-box tests of the `mxmod` binary (`it/`), the loopback load
//! generator (`benches/load.rs`), and [`policy`], a module crate from outside `mxmod-modules`
//! linked into the custom binary `mxmod-policy-server` (`src/bin/`), the way an
//! operator adds their own modules with `mxmod_app`.

pub mod extras;
pub mod faulty;
pub mod policy;
