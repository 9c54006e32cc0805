//! `#[module]` without `name`.

use mxmod::{
    module, spam_checker,
    types::{JsonObject, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};

struct Demo;

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo)
    }
}

#[module]
impl Demo {
    #[spam_checker]
    async fn user_may_create_room(&self, _user_id: &UserId, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

fn main() {}
