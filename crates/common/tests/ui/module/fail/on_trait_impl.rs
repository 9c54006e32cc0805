//! `#[module]` on a trait impl instead of the inherent `impl` block.

use mxmod::{module, Module, ModuleApi, ModuleError};

struct Demo;

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo)
    }
}

trait Greet {
    fn greet(&self) -> &'static str;
}

#[module(name = "demo")]
impl Greet for Demo {
    fn greet(&self) -> &'static str {
        "hello"
    }
}

fn main() {}
