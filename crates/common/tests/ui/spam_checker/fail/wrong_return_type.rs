//! The wrong return type: spam checks answer `SpamCheck`, not `bool`.

use mxmod::{
    module, spam_checker,
    types::{JsonObject, UserId},
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
    async fn user_may_create_room(&self, _user_id: &UserId, _config: &JsonObject) -> bool {
        true
    }
}

fn main() {}
