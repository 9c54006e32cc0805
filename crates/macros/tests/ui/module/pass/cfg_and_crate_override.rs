//! A `#[cfg]`-gated callback and a `#[cfg]`-gated impl block build either way (their
//! registrations are gated with them), and `crate = path` lets a crate that re-exports
//! `mxmod` under another name use the macros.

mod reexported {
    pub use mxmod as core_api;
}

use mxmod::{
    module, spam_checker,
    types::{JsonObject, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};

struct Gated;

impl Module for Gated {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Gated)
    }
}

#[module(name = "ui_cfg_gated")]
impl Gated {
    #[cfg(any())]
    #[spam_checker]
    async fn user_may_invite(&self, _inviter: &UserId, _invitee: &UserId, _room: &mxmod::types::RoomId) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }

    #[cfg(all())]
    #[spam_checker]
    async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

struct NeverBuilt;

#[module(name = "ui_cfg_never_built")]
#[cfg(any())]
impl NeverBuilt {
    #[spam_checker]
    async fn user_may_invite(&self, _inviter: &UserId, _invitee: &UserId, _room: &mxmod::types::RoomId) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

struct Renamed;

impl reexported::core_api::Module for Renamed {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Renamed)
    }
}

#[reexported::core_api::module(name = "ui_crate_override", crate = reexported::core_api)]
impl Renamed {
    #[reexported::core_api::spam_checker]
    async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }
}

fn main() {
    let _ = NeverBuilt;
    let harness = mxmod::testing::Harness::from_yaml(
        "modules:\n  - module: ui_cfg_gated\n  - module: ui_crate_override\n",
    )
    .unwrap();
    assert_eq!(harness.callbacks().spam_checker.implemented(), ["user_may_create_room"]);
    assert!(mxmod::registry::find_module("ui_cfg_never_built").is_none());
}
