//! `#[cached(cache = cache)]` on a method that is not `async`.

use mxmod::{cached, module, Module, ModuleApi, ModuleError};

struct Demo {
    cache: mxmod::cache::CacheHandle<String, usize>,
}

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo { cache: mxmod::cache::CacheHandle::new(api.server_name().as_str().len()) })
    }
}

#[module(name = "demo")]
impl Demo {
    #[cached(cache = cache)]
    fn length(&self, text: String) -> usize {
        text.len()
    }
}

fn main() {}
