//! Ordering and failure policy across several module instances: FIRST-DENY stops at the
//! first deny, later modules are not called, panics and errors follow the policy.

use std::sync::Mutex;

use mxmod::{
    account_validity,
    callbacks::outcome::EventAllowed,
    module, spam_checker, third_party_rules,
    types::{Event, JsonObject, StateMap, UserId},
    CallbackError, ErrCode, MatrixError, Module, ModuleApi, ModuleError, SpamCheck,
};
use serde::Deserialize;

/// Calls seen by every `recorder` instance, in order: (instance label, callback).
static CALLS: Mutex<Vec<(String, &'static str)>> = Mutex::new(Vec::new());

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecorderConfig {
    /// What `user_may_create_room` answers: `allow`, `deny`, `error`, `panic`, `slow`
    /// (`yield`: `on_create_room` waits once before it edits the request).
    #[serde(default = "allow")]
    answer: String,
    #[serde(default)]
    expired: Option<bool>,
}

fn allow() -> String {
    "allow".to_owned()
}

struct Recorder {
    answer: String,
    expired: Option<bool>,
    api: ModuleApi,
}

impl Module for Recorder {
    type Config = RecorderConfig;

    fn new(config: RecorderConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Recorder { answer: config.answer, expired: config.expired, api })
    }
}

impl Recorder {
    fn record(&self, callback: &'static str) {
        CALLS.lock().unwrap().push((self.api.instance_name().to_owned(), callback));
    }
}

#[module(name = "recorder")]
impl Recorder {
    #[spam_checker]
    async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> Result<SpamCheck, CallbackError> {
        self.record("user_may_create_room");
        match self.answer.as_str() {
            "deny" => Ok(SpamCheck::Deny(ErrCode::custom("ORG_EXAMPLE_NOPE"))),
            "error" => Err(CallbackError::other("backend down")),
            "matrix_error" => Err(MatrixError::new(418, ErrCode::UNKNOWN, "teapot").into()),
            "panic" => panic!("recorder was told to panic"),
            "slow" => {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Ok(SpamCheck::NOT_SPAM)
            }
            _ => Ok(SpamCheck::NOT_SPAM),
        }
    }

    #[third_party_rules]
    async fn on_create_room(&self, _requester: &mxmod::types::Requester, content: &mut JsonObject, _admin: bool) {
        self.record("on_create_room");
        if self.answer == "yield" {
            // Waits once: the chain returns `Pending` holding this call's borrow of
            // `content`, and lends it to the next module only after this one is done.
            tokio::task::yield_now().await;
        }
        let name = self.api.instance_name().to_owned();
        content.entry("touched_by").or_insert_with(|| serde_json::json!([])).as_array_mut().unwrap().push(name.into());
    }

    #[third_party_rules]
    async fn check_event_allowed(&self, _event: &Event, _state: &StateMap) -> EventAllowed {
        self.record("check_event_allowed");
        EventAllowed::Allow
    }

    #[account_validity]
    async fn is_user_expired(&self, _user: &UserId) -> Option<bool> {
        self.record("is_user_expired");
        self.expired
    }
}

/// The tests share `CALLS`, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn harness(yaml: &str) -> mxmod::testing::Harness {
    CALLS.lock().unwrap().clear();
    mxmod::testing::Harness::from_yaml(yaml).unwrap_or_else(|error| panic!("{error}"))
}

fn calls() -> Vec<(String, &'static str)> {
    CALLS.lock().unwrap().clone()
}

fn user() -> mxmod::types::OwnedUserId {
    UserId::parse("@alice:example.com").unwrap()
}

#[tokio::test]
async fn first_deny_stops_the_chain_and_later_modules_are_not_called() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:
  - module: recorder
  - module: recorder
    id: recorder_2
    config: { answer: deny }
  - module: recorder
    id: recorder_3
",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!(
        (error.status, error.errcode.as_str(), error.error.as_str()),
        (403, "ORG_EXAMPLE_NOPE", "You are not permitted to create rooms")
    );
    assert_eq!(
        calls(),
        vec![("recorder".to_owned(), "user_may_create_room"), ("recorder#2".to_owned(), "user_may_create_room")]
    );
}

#[tokio::test]
async fn all_allow_asks_every_module_in_yaml_order() {
    let _serial = SERIAL.lock().await;
    let h = harness("modules:\n  - module: recorder\n  - module: recorder\n    id: recorder_2\n");
    h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap();
    let labels: Vec<String> = calls().into_iter().map(|(label, _)| label).collect();
    assert_eq!(labels, ["recorder", "recorder#2"]);
}

#[tokio::test]
async fn every_module_edits_the_create_room_request_in_turn() {
    let _serial = SERIAL.lock().await;
    let h = harness("modules:\n  - module: recorder\n  - module: recorder\n    id: recorder_2\n  - module: recorder\n    id: recorder_3\n");
    let requester = mxmod::types::Requester::new(user());
    let mut content = JsonObject::new();
    h.callbacks().third_party_rules.on_create_room(&requester, &mut content, false).await.unwrap();
    assert_eq!(content["touched_by"], serde_json::json!(["recorder", "recorder#2", "recorder#3"]));
}

#[tokio::test]
async fn a_module_that_waits_edits_the_request_before_the_next_one_does() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:
  - module: recorder
    config: { answer: yield }
  - module: recorder
    id: recorder_2
  - module: recorder
    id: recorder_3
    config: { answer: yield }
",
    );
    let requester = mxmod::types::Requester::new(user());
    let mut content = JsonObject::new();
    h.callbacks().third_party_rules.on_create_room(&requester, &mut content, false).await.unwrap();
    assert_eq!(content["touched_by"], serde_json::json!(["recorder", "recorder#2", "recorder#3"]));
}

#[tokio::test]
async fn an_error_fails_the_request_with_500_and_stops_the_chain() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:\n  - module: recorder\n    config: { answer: error }\n  - module: recorder\n    id: recorder_2\n",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!((error.status, error.errcode.as_str()), (500, "M_UNKNOWN"));
    assert_eq!(calls().len(), 1);
}

#[tokio::test]
async fn a_module_matrix_error_passes_through_verbatim() {
    let _serial = SERIAL.lock().await;
    let h = harness("modules:\n  - module: recorder\n    config: { answer: matrix_error }\n");
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!((error.status, error.error.as_str()), (418, "teapot"));
}

#[tokio::test]
async fn a_panic_is_caught_and_handled_like_an_error() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:\n  - module: recorder\n    config: { answer: panic }\n  - module: recorder\n    id: recorder_2\n",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!(error.status, 500);
    let stats = h.callbacks().stats();
    let (_, _, _, first) =
        stats.iter().find(|(_, name, module, _)| *name == "user_may_create_room" && &**module == "recorder").unwrap();
    assert_eq!((first.calls(), first.errors()), (1, 1));
}

#[tokio::test]
async fn on_error_allow_skips_a_failing_module() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:
  - module: recorder
    on_error: allow
    config: { answer: panic }
  - module: recorder
    id: recorder_2
    config: { answer: deny }
",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!(error.errcode.as_str(), "ORG_EXAMPLE_NOPE", "the second module decided");
    assert_eq!(calls().len(), 2);
}

#[tokio::test]
async fn on_error_deny_turns_a_failure_into_a_deny() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:\n  - module: recorder\n    on_error: deny\n    config: { answer: error }\n  - module: recorder\n    id: recorder_2\n",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!((error.status, error.errcode.as_str()), (403, "M_FORBIDDEN"));
    assert_eq!(calls().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_a_failure() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:\n  - module: recorder\n    timeout: 50ms\n    on_error: allow\n    config: { answer: slow }\n",
    );
    let started = std::time::Instant::now();
    h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "the 5 s callback was cut off");
}

#[tokio::test]
async fn after_a_timeout_the_chain_goes_on_with_the_next_module() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:
  - module: recorder
    timeout: 50ms
    on_error: allow
    config: { answer: slow }
  - module: recorder
    id: recorder_2
    config: { answer: deny }
",
    );
    let error = h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap_err();
    assert_eq!(error.errcode.as_str(), "ORG_EXAMPLE_NOPE", "the second module decided");
    let labels: Vec<String> = calls().into_iter().map(|(label, _)| label).collect();
    assert_eq!(labels, ["recorder", "recorder#2"]);
}

#[tokio::test]
async fn first_value_takes_the_first_module_with_an_opinion() {
    let _serial = SERIAL.lock().await;
    let h = harness(
        "modules:
  - module: recorder
  - module: recorder
    id: recorder_2
    config: { expired: true }
  - module: recorder
    id: recorder_3
    config: { expired: false }
",
    );
    let error = h.callbacks().account_validity.is_user_expired(&user()).await.unwrap();
    assert_eq!(error, Some(true));
    assert_eq!(calls().len(), 2, "the third module is not asked");
}

#[tokio::test]
async fn no_module_means_allowed_without_any_call() {
    let _serial = SERIAL.lock().await;
    let h = harness("modules: []\n");
    h.callbacks().spam_checker.user_may_create_room(&user(), &JsonObject::new()).await.unwrap();
    assert_eq!(h.callbacks().account_validity.is_user_expired(&user()).await.unwrap(), None);
    assert!(calls().is_empty());
}
