//! `demo`: the example of Synapse's module documentation.
//!
//! * `user_may_create_room` (spam checker): the users in `denied_users` may not create
//!   rooms (403 `M_FORBIDDEN` "You are not permitted to create rooms").
//! * `GET /_synapse/client/demo/hello?name=X` answers `{"hello": "X"}`.
//!
//! Config:
//!
//! ```yaml
//! modules:
//!   - module: demo
//!     config:
//!       # Users who may not create rooms. Default: ["@evilguy:example.com"].
//!       denied_users: ["@evilguy:example.com"]
//! ```

use mxmod::{
    module, spam_checker,
    types::{JsonObject, OwnedUserId, UserId},
    web::{self, WebRequest, WebResponse},
    web_resource, ErrCode, MatrixError, Module, ModuleApi, ModuleError, SpamCheck,
};
use serde::{Deserialize, Serialize};

/// The `config:` of `demo`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Users who may not create rooms.
    #[serde(default = "default_denied_users")]
    pub denied_users: Vec<OwnedUserId>,
}

fn default_denied_users() -> Vec<OwnedUserId> {
    vec![UserId::parse("@evilguy:example.com").expect("a valid user ID")]
}

/// The demo module.
pub struct Demo {
    config: DemoConfig,
}

impl Module for Demo {
    type Config = DemoConfig;

    fn new(config: DemoConfig, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo { config })
    }
}

#[module(name = "demo")]
impl Demo {
    /// Denies room creation to `denied_users`.
    #[spam_checker]
    pub async fn user_may_create_room(&self, user_id: &UserId, _room_config: &JsonObject) -> SpamCheck {
        if self.config.denied_users.iter().any(|denied| denied == user_id) {
            SpamCheck::Deny(ErrCode::FORBIDDEN)
        } else {
            SpamCheck::NOT_SPAM
        }
    }

    /// `GET /_synapse/client/demo/hello?name=X` → `{"hello": "X"}`.
    #[web_resource("/_synapse/client/demo/hello", method = "GET")]
    pub async fn hello(&self, request: WebRequest) -> Result<WebResponse, MatrixError> {
        let name = web::query_param(&request, "name")
            .ok_or_else(|| MatrixError::new(400, ErrCode::MISSING_PARAM, "Missing query parameter `name`"))?;
        Ok(web::json(200, &Hello { hello: &name }))
    }
}

/// The answer of `hello`, serialized straight from the name (no JSON map built first).
#[derive(Serialize)]
struct Hello<'a> {
    hello: &'a str,
}

#[cfg(test)]
mod tests {
    use mxmod::testing::Harness;

    use super::*;

    #[tokio::test]
    async fn evilguy_may_not_create_rooms_but_others_may() {
        let harness = Harness::from_yaml("modules:\n  - module: demo\n").unwrap();
        let spam = &harness.callbacks().spam_checker;
        let evil = UserId::parse("@evilguy:example.com").unwrap();
        let error = spam.user_may_create_room(&evil, &JsonObject::new()).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (403, "M_FORBIDDEN"));
        assert_eq!(error.error, "You are not permitted to create rooms");
        let alice = UserId::parse("@alice:example.com").unwrap();
        spam.user_may_create_room(&alice, &JsonObject::new()).await.unwrap();
    }

    #[tokio::test]
    async fn the_denied_list_is_configurable() {
        let harness = Harness::from_yaml(
            "modules:\n  - module: demo\n    config:\n      denied_users: ['@mallory:example.com']\n",
        )
        .unwrap();
        let spam = &harness.callbacks().spam_checker;
        let evil = UserId::parse("@evilguy:example.com").unwrap();
        spam.user_may_create_room(&evil, &JsonObject::new()).await.unwrap();
        let mallory = UserId::parse("@mallory:example.com").unwrap();
        assert!(spam.user_may_create_room(&mallory, &JsonObject::new()).await.is_err());
    }

    #[tokio::test]
    async fn hello_greets_by_name_and_requires_one() {
        let harness = Harness::from_yaml("modules:\n  - module: demo\n").unwrap();
        let reply = harness.get("/_synapse/client/demo/hello?name=Bob").await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body().as_ref(), br#"{"hello":"Bob"}"#);
        let missing = harness.get("/_synapse/client/demo/hello").await.unwrap();
        assert_eq!(missing.status(), 400);
        assert!(harness.get("/_synapse/client/other").await.is_none());
    }

    #[test]
    fn a_bad_user_id_in_config_is_located() {
        let error =
            Harness::from_yaml("modules:\n  - module: demo\n    config:\n      denied_users: [nobody]\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("test.yaml:4:"), "{text}");
        assert!(text.contains("modules[0].config.denied_users[0]"), "{text}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        let error = Harness::from_yaml("modules:\n  - module: demo\n    config:\n      colour: blue\n").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("test.yaml:4:7: modules[0].config"), "{text}");
        assert!(text.contains("colour"), "{text}");
    }
}
