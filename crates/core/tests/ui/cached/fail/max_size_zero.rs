//! `max_size = 0`: a cache that can hold nothing.

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
    #[cached(max_size = 0)]
    async fn length(&self, text: String) -> usize {
        text.len()
    }
}

fn main() {}
