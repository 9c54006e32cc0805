//! A third-party-rules callback marked `#[spam_checker]`: the error names its category.

use mxmod::{
    module, spam_checker,
    types::{Event, StateMap},
    Module, ModuleApi, ModuleError,
};

struct Demo;

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo)
    }
}

#[module(name = "demo")]
impl Demo {
    #[spam_checker]
    async fn on_new_event(&self, _event: &Event, _state: &StateMap) {}
}

fn main() {}
