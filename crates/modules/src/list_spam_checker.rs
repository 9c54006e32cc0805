//! `list_spam_checker`: the spam-checker example of Synapse's documentation.
//!
//! * `check_event_for_spam`: events sent by a user in `evil_users` are rejected (403
//!   `M_FORBIDDEN` "This message has been rejected as probable spam").
//! * `GET /_synapse/client/list_spam_checker/is_evil?user=X` answers `{"evil": bool}`.
//!
//! Config:
//!
//! ```yaml
//! modules:
//!   - module: list_spam_checker
//!     config:
//!       # Users whose events are rejected. Default: none.
//!       evil_users: ["@mallory:example.com"]
//! ```

use mxmod::{
    module, spam_checker,
    types::{Event, OwnedUserId},
    web::{self, WebRequest, WebResponse},
    web_resource, ErrCode, MatrixError, Module, ModuleApi, ModuleError, SpamCheck,
};
use serde::Deserialize;

/// The `config:` of `list_spam_checker`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSpamCheckerConfig {
    /// Users whose events are rejected.
    #[serde(default)]
    pub evil_users: Vec<OwnedUserId>,
}

/// The list spam checker.
pub struct ListSpamChecker {
    evil_users: Vec<OwnedUserId>,
}

impl Module for ListSpamChecker {
    type Config = ListSpamCheckerConfig;

    fn new(config: ListSpamCheckerConfig, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(ListSpamChecker { evil_users: config.evil_users })
    }
}

#[module(name = "list_spam_checker")]
impl ListSpamChecker {
    /// Rejects events whose sender is listed.
    #[spam_checker]
    pub async fn check_event_for_spam(&self, event: &Event) -> SpamCheck {
        if self.evil_users.contains(&event.sender) {
            SpamCheck::Deny(ErrCode::FORBIDDEN)
        } else {
            SpamCheck::NOT_SPAM
        }
    }

    /// `GET /_synapse/client/list_spam_checker/is_evil?user=X` → `{"evil": bool}`.
    #[web_resource("/_synapse/client/list_spam_checker/is_evil", method = "GET")]
    pub async fn is_evil(&self, request: WebRequest) -> Result<WebResponse, MatrixError> {
        let user = web::query_param(&request, "user")
            .ok_or_else(|| MatrixError::new(400, ErrCode::MISSING_PARAM, "Missing query parameter `user`"))?;
        let evil = self.evil_users.iter().any(|evil| evil.as_str() == user);
        Ok(web::json(200, &serde_json::json!({ "evil": evil })))
    }
}

#[cfg(test)]
mod tests {
    use mxmod::testing::Harness;

    use super::*;

    const YAML: &str =
        "modules:\n  - module: list_spam_checker\n    config:\n      evil_users: ['@mallory:example.com']\n";

    fn event_from(sender: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "event_id": "$1", "room_id": "!r:example.com", "sender": sender,
            "type": "m.room.message", "content": {"body": "hi"}, "origin_server_ts": 1
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn events_from_evil_users_are_rejected() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let spam = &harness.callbacks().spam_checker;
        let error = spam.check_event_for_spam(&event_from("@mallory:example.com")).await.unwrap_err();
        assert_eq!((error.status, error.error.as_str()), (403, "This message has been rejected as probable spam"));
        spam.check_event_for_spam(&event_from("@alice:example.com")).await.unwrap();
    }

    #[tokio::test]
    async fn is_evil_answers_for_any_user() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let evil =
            harness.get("/_synapse/client/list_spam_checker/is_evil?user=%40mallory%3Aexample.com").await.unwrap();
        assert_eq!(evil.body().as_ref(), br#"{"evil":true}"#);
        let good = harness.get("/_synapse/client/list_spam_checker/is_evil?user=@alice:example.com").await.unwrap();
        assert_eq!(good.body().as_ref(), br#"{"evil":false}"#);
    }
}
