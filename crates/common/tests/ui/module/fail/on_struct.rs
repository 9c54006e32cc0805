//! `#[module]` on the module's struct instead of its `impl` block.

use mxmod::module;

#[module(name = "demo")]
struct Demo;

fn main() {}
