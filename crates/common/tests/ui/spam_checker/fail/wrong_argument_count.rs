//! A missing argument: `user_may_create_room` takes the user and the room config.

use mxmod::{module, spam_checker, types::UserId, Module, ModuleApi, ModuleError, SpamCheck};

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
    async fn user_may_create_room(&self, _user_id: &UserId) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

fn main() {}
