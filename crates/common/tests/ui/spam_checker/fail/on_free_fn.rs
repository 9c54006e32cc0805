//! `#[spam_checker]` on a free function.

use mxmod::{
    spam_checker,
    types::{JsonObject, UserId},
    SpamCheck,
};

#[spam_checker]
async fn user_may_create_room(_user_id: &UserId, _config: &JsonObject) -> SpamCheck {
    SpamCheck::NOT_SPAM
}

fn main() {}
