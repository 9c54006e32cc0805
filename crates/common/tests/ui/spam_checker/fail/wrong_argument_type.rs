//! An argument of the wrong type: `user_id` is `&UserId`, not `&str`.

use mxmod::{module, spam_checker, types::JsonObject, Module, ModuleApi, ModuleError, SpamCheck};

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
    async fn user_may_create_room(&self, _user_id: &str, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

fn main() {}
