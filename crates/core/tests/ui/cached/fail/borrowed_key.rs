//! A `&str` argument, which cannot be a cache key.

use mxmod::{cached, module, Module, ModuleApi, ModuleError};

struct Demo {
    api: ModuleApi,
}

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo { api })
    }
}

#[module(name = "demo")]
impl Demo {
    #[cached]
    async fn length(&self, text: &str) -> usize {
        text.len()
    }
}

fn main() {}
