//! `#[module]` on the `impl` block of a type that does not implement `mxmod::Module`.

use mxmod::{
    module, spam_checker,
    types::{JsonObject, UserId},
    SpamCheck,
};

struct Demo;

#[module(name = "demo")]
impl Demo {
    #[spam_checker]
    async fn user_may_create_room(&self, _user_id: &UserId, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

fn main() {}
