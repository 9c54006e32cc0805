//! Two compiled-in modules with one name stop start-up with an error naming both
//! source locations (this test binary links exactly such a pair).

use mxmod::{
    module, spam_checker, testing::Harness, types::JsonObject, types::UserId, Module, ModuleApi, ModuleError, SpamCheck,
};

struct First;
struct Second;

impl Module for First {
    type Config = JsonObject;
    fn new(_: JsonObject, _: ModuleApi) -> Result<Self, ModuleError> {
        Ok(First)
    }
}

impl Module for Second {
    type Config = JsonObject;
    fn new(_: JsonObject, _: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Second)
    }
}

#[module(name = "twin")]
impl First {
    #[spam_checker]
    async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

#[module(name = "twin")]
impl Second {}

#[test]
fn duplicate_module_names_are_a_start_up_error_naming_both_places() {
    let error = Harness::from_yaml("modules: []\n").unwrap_err().to_string();
    assert!(error.starts_with("two modules are named `twin`"), "{error}");
    assert_eq!(error.matches("crates/core/tests/duplicate_names.rs:").count(), 2, "{error}");
    assert!(error.contains("rename one"), "{error}");
}
