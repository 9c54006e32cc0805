//! `faulty`: a module whose callbacks fail on command, one way per server — returning an
//! error, panicking, or hanging — so black-box tests can check that each category
//! follows its failure policy whichever way the failure happens.
//!
//! Config: `fail: error | panic | hang`. A callback fails only for its trigger, so the
//! rest of the server keeps working around it:
//!
//! | callback | category | fails when | policy (SYNAPSE.md §3.5) |
//! |---|---|---|---|
//! | `on_create_room` | third-party rules | the requester's localpart starts with `faulty` | 403 `M_UNKNOWN` |
//! | `user_may_join_room` | spam checker | the user's localpart starts with `faulty` | 500 `M_UNKNOWN` |
//! | `check_event_allowed` | third-party rules | `content.body` is `fault-allowed` | 500 `M_UNKNOWN` |
//! | `on_new_event` | third-party rules | `content.body` is `fault-new` | ignored |
//! | `check_visibility_can_be_modified` | third-party rules | the new visibility is `public` | fail open |
//! | `is_user_expired` | account validity | the localpart starts with `expiredfault` | 500 `M_UNKNOWN` |
//! | `is_user_allowed_to_upload_media_of_size` | media repository | the localpart starts with `faulty` | 500 `M_UNKNOWN` |
//! | `get_username_for_registration` | password auth provider | the requested username starts with `faultyreg` | 500 `M_UNKNOWN` |
//! | `on_account_data_updated` | account data | the type is `org.example.fault` | ignored |
//! | `add_field_to_unsigned_callback` | unsigned fields | `content.body` is `fault-unsigned` | 500 `M_UNKNOWN` |

use mxmod::{
    account_data, account_validity, add_extra_fields_to_unsigned_client_event, media_repository, module,
    password_auth_provider, spam_checker, third_party_rules,
    types::{Event, JsonObject, Requester, RoomId, StateMap, UserId},
    CallbackError, EventAllowed, Module, ModuleApi, ModuleError, SpamCheck,
};
use serde::Deserialize;
use serde_json::Value;

/// How a triggered callback fails.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fail {
    /// Returns an error that is not a Matrix error (Synapse: an exception).
    Error,
    /// Panics.
    Panic,
    /// Never answers (the module entry's `timeout:` cuts it).
    Hang,
}

/// The `config:` of `faulty`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultyConfig {
    fail: Fail,
}

/// The faulty module.
pub struct Faulty {
    fail: Fail,
}

impl Module for Faulty {
    type Config = FaultyConfig;

    fn new(config: FaultyConfig, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Faulty { fail: config.fail })
    }
}

impl Faulty {
    /// Fails the configured way when `triggered`, else answers `fine`.
    async fn fail_if<T>(&self, triggered: bool, fine: T) -> Result<T, CallbackError> {
        if !triggered {
            return Ok(fine);
        }
        match self.fail {
            Fail::Error => Err(CallbackError::other("the faulty module failed on purpose")),
            Fail::Panic => panic!("the faulty module panicked on purpose"),
            Fail::Hang => std::future::pending().await,
        }
    }
}

fn local_starts(user: &UserId, prefix: &str) -> bool {
    user.localpart().starts_with(prefix)
}

fn body_is(event: &Event, text: &str) -> bool {
    event.content.get("body").and_then(Value::as_str) == Some(text)
}

#[module(name = "faulty")]
impl Faulty {
    #[third_party_rules]
    async fn on_create_room(
        &self,
        requester: &Requester,
        _request: &mut JsonObject,
        _is_admin: bool,
    ) -> Result<(), CallbackError> {
        self.fail_if(local_starts(&requester.user_id, "faulty"), ()).await
    }

    #[spam_checker]
    async fn user_may_join_room(
        &self,
        user: &UserId,
        _room: &RoomId,
        _is_invited: bool,
    ) -> Result<SpamCheck, CallbackError> {
        self.fail_if(local_starts(user, "faulty"), SpamCheck::NOT_SPAM).await
    }

    #[third_party_rules]
    async fn check_event_allowed(&self, event: &Event, _state: &StateMap) -> Result<EventAllowed, CallbackError> {
        self.fail_if(body_is(event, "fault-allowed"), EventAllowed::Allow).await
    }

    #[third_party_rules]
    async fn on_new_event(&self, event: &Event, _state: &StateMap) -> Result<(), CallbackError> {
        self.fail_if(body_is(event, "fault-new"), ()).await
    }

    #[third_party_rules]
    async fn check_visibility_can_be_modified(
        &self,
        _room: &RoomId,
        _state: &StateMap,
        visibility: &str,
    ) -> Result<bool, CallbackError> {
        self.fail_if(visibility == "public", true).await
    }

    #[account_validity]
    async fn is_user_expired(&self, user: &UserId) -> Result<Option<bool>, CallbackError> {
        self.fail_if(local_starts(user, "expiredfault"), None).await
    }

    #[media_repository]
    async fn is_user_allowed_to_upload_media_of_size(&self, user: &UserId, _size: u64) -> Result<bool, CallbackError> {
        self.fail_if(local_starts(user, "faulty"), true).await
    }

    #[password_auth_provider]
    async fn get_username_for_registration(
        &self,
        _uia_results: &JsonObject,
        params: &JsonObject,
    ) -> Result<Option<String>, CallbackError> {
        let requested = params.get("username").and_then(Value::as_str).unwrap_or_default();
        self.fail_if(requested.starts_with("faultyreg"), None).await
    }

    #[account_data]
    async fn on_account_data_updated(
        &self,
        _user: &UserId,
        _room: Option<&RoomId>,
        kind: &str,
        _content: &JsonObject,
    ) -> Result<(), CallbackError> {
        self.fail_if(kind == "org.example.fault", ()).await
    }

    #[add_extra_fields_to_unsigned_client_event]
    async fn add_field_to_unsigned_callback(&self, event: &Event) -> Result<JsonObject, CallbackError> {
        self.fail_if(body_is(event, "fault-unsigned"), JsonObject::new()).await
    }
}
