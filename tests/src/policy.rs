//! `policy`: a configurable module that allows or denies every guarded operation on
//! command and records the notification callbacks, so black-box tests can drive each
//! endpoint both ways. It lives outside `mxmod-modules` on purpose.
//!
//! Config (all optional):
//!
//! | key | callback | effect |
//! |---|---|---|
//! | `deny_registration: [localpart]` | `check_registration_for_spam` | DENY (429) |
//! | `shadow_ban_registration: [localpart]` | `check_registration_for_spam` | SHADOW_BAN |
//! | `deny_login: [user]` | `check_login_for_spam` | `M_LIMIT_EXCEEDED` + `{"extra": "value"}` |
//! | `expired_users: [user]` | `is_user_expired` | expired |
//! | `deny_media_containing: text` | `check_media_file_for_spam` | FORBIDDEN when the bytes contain it |
//! | `hidden_from_directory: [user]` | `check_username_for_spam` | left out of searches |
//! | `deny_aliases: [alias]` | `user_may_create_room_alias` | FORBIDDEN |
//! | `deny_publish: bool` | `user_may_publish_room` | FORBIDDEN |
//! | `deny_joins: [user]` | `user_may_join_room` | `M_CONSENT_NOT_GIVEN` |
//! | `deny_invites_to: [user]` | `user_may_invite` | FORBIDDEN |
//! | `deny_3pid_invites: bool` | `user_may_send_3pid_invite` | FORBIDDEN |
//! | `deny_threepids: [address]` | `check_threepid_can_be_invited` | false |
//! | `deny_state_types: [type]` | `user_may_send_state_event` | FORBIDDEN |
//! | `forbidden_event_types: [type]` | `check_event_allowed` | deny |
//! | `uppercase_bodies: bool` | `check_event_allowed` | replaces `content.body` with its upper case |
//! | `default_topic: text` | `on_create_room` | adds a topic to the request when it has none |
//! | `deny_visibility_changes: bool` | `check_visibility_can_be_modified` | false |
//! | `deny_deactivation: [user]` | `check_can_deactivate_user` | false |
//! | `slow_spam_check: {body: text, millis: n}` | `check_event_for_spam` | waits `n` ms on a body containing `text`, then answers |
//! | `spam_event_types: [type]` | `check_event_for_spam` | FORBIDDEN |
//! | `spam_bodies: [text]` | `check_event_for_spam` | FORBIDDEN when the body contains one |
//! | `deny_room_creation: [user]` | `user_may_create_room` | FORBIDDEN (every call is recorded with its `room_config`) |
//! | `deny_room_shutdown: bool` | `check_can_shutdown_room` | false (every call is recorded) |
//! | `generation: text` | — | names this instance: `GET /_synapse/client/policy/generation` answers it, and its shutdown hook adds it to `GET /_synapse/client/policy/shutdowns` (process-wide) |
//!
//! `GET /_synapse/client/policy/calls` answers the recorded notification calls
//! (`on_user_registration`, `on_user_login`, `on_new_event`, `on_profile_update`,
//! `on_user_deactivation_status_changed`, `on_threepid_bind`,
//! `on_add_user_third_party_identifier`, `on_remove_user_third_party_identifier`) as a
//! JSON list of `[callback, argument]` pairs; `GET /_synapse/client/policy/me` answers
//! who the request's access token belongs to; `GET /_synapse/client/policy/client_ips`
//! answers the `ip` of each `request_info` the registration and login checks were given,
//! as `[callback, ip]` pairs.

use std::sync::Mutex;

use mxmod::{
    account_validity, module, spam_checker, third_party_rules,
    types::{
        Event, FileInfo, JsonObject, MediaFile, ProfileInfo, RequestInfo, Requester, RoomAliasId, RoomId, StateKey,
        StateMap, ThreepidInfo, UserId, UserProfile,
    },
    web::{self, WebRequest, WebResponse},
    web_resource, ErrCode, EventAllowed, Module, ModuleApi, ModuleError, RegistrationBehaviour, SpamCheck,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The `config:` of `policy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default)]
    deny_registration: Vec<String>,
    #[serde(default)]
    shadow_ban_registration: Vec<String>,
    #[serde(default)]
    deny_login: Vec<String>,
    #[serde(default)]
    expired_users: Vec<String>,
    #[serde(default)]
    deny_media_containing: Option<String>,
    #[serde(default)]
    hidden_from_directory: Vec<String>,
    #[serde(default)]
    deny_aliases: Vec<String>,
    #[serde(default)]
    deny_publish: bool,
    #[serde(default)]
    deny_joins: Vec<String>,
    #[serde(default)]
    deny_invites_to: Vec<String>,
    #[serde(default)]
    deny_3pid_invites: bool,
    #[serde(default)]
    deny_threepids: Vec<String>,
    #[serde(default)]
    deny_state_types: Vec<String>,
    #[serde(default)]
    forbidden_event_types: Vec<String>,
    #[serde(default)]
    uppercase_bodies: bool,
    #[serde(default)]
    default_topic: Option<String>,
    #[serde(default)]
    deny_visibility_changes: bool,
    #[serde(default)]
    deny_deactivation: Vec<String>,
    #[serde(default)]
    slow_spam_check: Option<SlowSpamCheck>,
    #[serde(default)]
    spam_event_types: Vec<String>,
    #[serde(default)]
    spam_bodies: Vec<String>,
    #[serde(default)]
    deny_room_creation: Vec<String>,
    #[serde(default)]
    deny_room_shutdown: bool,
    #[serde(default)]
    generation: String,
}

/// The `generation` of every instance whose shutdown hook ran, process-wide (a reload
/// replaces the instance that could remember it).
static SHUTDOWNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `slow_spam_check`: a spam checker that takes its time on some messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowSpamCheck {
    body: String,
    millis: u64,
}

/// The policy module.
pub struct Policy {
    config: PolicyConfig,
    calls: Mutex<Vec<Value>>,
    client_ips: Mutex<Vec<Value>>,
    api: ModuleApi,
}

impl Module for Policy {
    type Config = PolicyConfig;

    fn new(config: PolicyConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        let generation = config.generation.clone();
        api.on_shutdown(move || SHUTDOWNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(generation));
        Ok(Policy { config, calls: Mutex::new(Vec::new()), client_ips: Mutex::new(Vec::new()), api })
    }
}

fn listed(list: &[String], item: &str) -> bool {
    list.iter().any(|entry| entry == item)
}

fn deny_if(condition: bool, code: ErrCode) -> SpamCheck {
    if condition {
        SpamCheck::Deny(code)
    } else {
        SpamCheck::NOT_SPAM
    }
}

impl Policy {
    fn record(&self, callback: &str, argument: Value) {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(json!([callback, argument]));
    }

    fn record_ips(&self, callback: &str, request_info: &[RequestInfo]) {
        let mut ips = self.client_ips.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ips.extend(request_info.iter().map(|info| json!([callback, info.ip.to_string()])));
    }
}

#[module(name = "policy")]
impl Policy {
    #[spam_checker]
    async fn check_registration_for_spam(
        &self,
        _email: Option<&ThreepidInfo>,
        username: Option<&str>,
        request_info: &[RequestInfo],
        _auth_provider_id: Option<&str>,
    ) -> RegistrationBehaviour {
        self.record_ips("check_registration_for_spam", request_info);
        let name = username.unwrap_or_default();
        if listed(&self.config.deny_registration, name) {
            RegistrationBehaviour::Deny
        } else if listed(&self.config.shadow_ban_registration, name) {
            RegistrationBehaviour::ShadowBan
        } else {
            RegistrationBehaviour::Allow
        }
    }

    #[spam_checker]
    async fn check_login_for_spam(
        &self,
        user_id: &UserId,
        _device_id: Option<&str>,
        _initial_display_name: Option<&str>,
        request_info: &[RequestInfo],
        _auth_provider_id: Option<&str>,
    ) -> SpamCheck {
        self.record_ips("check_login_for_spam", request_info);
        if listed(&self.config.deny_login, user_id.as_str()) {
            let fields = json!({ "extra": "value" }).as_object().cloned().unwrap_or_default();
            SpamCheck::DenyWithFields(ErrCode::LIMIT_EXCEEDED, fields)
        } else {
            SpamCheck::NOT_SPAM
        }
    }

    #[account_validity]
    async fn is_user_expired(&self, user_id: &UserId) -> Option<bool> {
        listed(&self.config.expired_users, user_id.as_str()).then_some(true)
    }

    #[account_validity]
    async fn on_user_registration(&self, user_id: &UserId) {
        self.record("on_user_registration", json!(user_id));
    }

    #[account_validity]
    async fn on_user_login(&self, user_id: &UserId, auth_provider_type: Option<&str>, _auth_provider_id: Option<&str>) {
        self.record("on_user_login", json!([user_id, auth_provider_type]));
    }

    #[spam_checker]
    async fn check_media_file_for_spam(&self, file: &MediaFile, _info: &FileInfo) -> SpamCheck {
        let Some(needle) = self.config.deny_media_containing.as_deref().filter(|needle| !needle.is_empty()) else {
            return SpamCheck::NOT_SPAM;
        };
        // Chunk by chunk, keeping the needle's length minus one byte of the previous chunk
        // so a needle across a chunk boundary is found too.
        let (needle, mut tail, mut evil) = (needle.as_bytes(), Vec::new(), false);
        let scanned = file
            .write_chunks_to(|chunk| {
                tail.extend_from_slice(chunk);
                evil |= tail.windows(needle.len()).any(|window| window == needle);
                let keep = tail.len().min(needle.len() - 1);
                tail.drain(..tail.len() - keep);
            })
            .await;
        deny_if(scanned.is_err() || evil, ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn check_username_for_spam(&self, profile: &UserProfile, _requester: &UserId) -> bool {
        listed(&self.config.hidden_from_directory, profile.user_id.as_str())
    }

    #[spam_checker]
    async fn user_may_create_room_alias(&self, _user: &UserId, alias: &RoomAliasId) -> SpamCheck {
        deny_if(listed(&self.config.deny_aliases, alias.as_str()), ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn user_may_publish_room(&self, _user: &UserId, _room: &RoomId) -> SpamCheck {
        deny_if(self.config.deny_publish, ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn user_may_join_room(&self, user: &UserId, _room: &RoomId, _is_invited: bool) -> SpamCheck {
        deny_if(listed(&self.config.deny_joins, user.as_str()), ErrCode::CONSENT_NOT_GIVEN)
    }

    #[spam_checker]
    async fn user_may_invite(&self, _inviter: &UserId, invitee: &UserId, _room: &RoomId) -> SpamCheck {
        deny_if(listed(&self.config.deny_invites_to, invitee.as_str()), ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn user_may_send_3pid_invite(
        &self,
        _inviter: &UserId,
        _medium: &str,
        _address: &str,
        _room: &RoomId,
    ) -> SpamCheck {
        deny_if(self.config.deny_3pid_invites, ErrCode::FORBIDDEN)
    }

    #[third_party_rules]
    async fn check_threepid_can_be_invited(&self, _medium: &str, address: &str, _state: &StateMap) -> bool {
        !listed(&self.config.deny_threepids, address)
    }

    #[spam_checker]
    async fn user_may_send_state_event(
        &self,
        _user: &UserId,
        _room: &RoomId,
        event_type: &str,
        _state_key: &StateKey,
        _content: &JsonObject,
    ) -> SpamCheck {
        deny_if(listed(&self.config.deny_state_types, event_type), ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn check_event_for_spam(&self, event: &Event) -> SpamCheck {
        let body = event.content.get("body").and_then(Value::as_str).unwrap_or_default();
        if let Some(slow) = self.config.slow_spam_check.as_ref().filter(|slow| body.contains(&slow.body)) {
            tokio::time::sleep(std::time::Duration::from_millis(slow.millis)).await;
        }
        let spam_type = listed(&self.config.spam_event_types, &event.event_type);
        let spam_body = self.config.spam_bodies.iter().any(|spam| body.contains(spam.as_str()));
        deny_if(spam_type || spam_body, ErrCode::FORBIDDEN)
    }

    #[spam_checker]
    async fn user_may_create_room(&self, user: &UserId, room_config: &JsonObject) -> SpamCheck {
        self.record("user_may_create_room", json!([user, room_config]));
        deny_if(listed(&self.config.deny_room_creation, user.as_str()), ErrCode::FORBIDDEN)
    }

    #[third_party_rules]
    async fn on_threepid_bind(&self, user: &UserId, medium: &str, address: &str) {
        self.record("on_threepid_bind", json!([user, medium, address]));
    }

    #[third_party_rules]
    async fn on_add_user_third_party_identifier(&self, user: &UserId, medium: &str, address: &str) {
        self.record("on_add_user_third_party_identifier", json!([user, medium, address]));
    }

    #[third_party_rules]
    async fn on_remove_user_third_party_identifier(&self, user: &UserId, medium: &str, address: &str) {
        self.record("on_remove_user_third_party_identifier", json!([user, medium, address]));
    }

    #[third_party_rules]
    async fn check_can_shutdown_room(&self, user: Option<&UserId>, room: &RoomId) -> bool {
        self.record("check_can_shutdown_room", json!([user, room]));
        !self.config.deny_room_shutdown
    }

    #[third_party_rules]
    async fn check_event_allowed(&self, event: &Event, _state: &StateMap) -> EventAllowed {
        if listed(&self.config.forbidden_event_types, &event.event_type) {
            return EventAllowed::Deny;
        }
        let body = event.content.get("body").and_then(Value::as_str);
        match body {
            Some(body) if self.config.uppercase_bodies => {
                let mut dict = event.get_dict();
                dict["content"]["body"] = body.to_uppercase().into();
                EventAllowed::Replace(dict)
            }
            _ => EventAllowed::Allow,
        }
    }

    #[third_party_rules]
    async fn on_create_room(&self, _requester: &Requester, request: &mut JsonObject, _is_admin: bool) {
        if let Some(topic) = &self.config.default_topic {
            request.entry("topic").or_insert_with(|| topic.clone().into());
        }
    }

    #[third_party_rules]
    async fn check_visibility_can_be_modified(&self, _room: &RoomId, _state: &StateMap, _visibility: &str) -> bool {
        !self.config.deny_visibility_changes
    }

    #[third_party_rules]
    async fn on_new_event(&self, event: &Event, _state: &StateMap) {
        self.record("on_new_event", json!(event.event_type));
    }

    #[third_party_rules]
    async fn on_profile_update(&self, user_id: &UserId, profile: &ProfileInfo, by_admin: bool, deactivation: bool) {
        self.record("on_profile_update", json!([user_id, profile.display_name, by_admin, deactivation]));
    }

    #[third_party_rules]
    async fn check_can_deactivate_user(&self, user_id: &UserId, _by_admin: bool) -> bool {
        !listed(&self.config.deny_deactivation, user_id.as_str())
    }

    #[third_party_rules]
    async fn on_user_deactivation_status_changed(&self, user_id: &UserId, deactivated: bool, by_admin: bool) {
        self.record("on_user_deactivation_status_changed", json!([user_id, deactivated, by_admin]));
    }

    /// `GET /_synapse/client/policy/me`: who the access token belongs to, with their
    /// display name (`ModuleApi::authenticate` and `profile`).
    #[web_resource("/_synapse/client/policy/me", method = "GET")]
    async fn me(&self, request: WebRequest) -> Result<WebResponse, mxmod::CallbackError> {
        let user = self.api.authenticate(&request).await?;
        let profile = self.api.profile(&user.user_id).await?;
        Ok(web::json(200, &json!({ "user_id": user.user_id, "displayname": profile.display_name })))
    }

    /// `GET /_synapse/client/policy/client_ips`: the `ip` of every `request_info` seen.
    #[web_resource("/_synapse/client/policy/client_ips", method = "GET")]
    async fn client_ips(&self, _request: WebRequest) -> WebResponse {
        let ips = self.client_ips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        web::json(200, &ips)
    }

    /// `GET /_synapse/client/policy/generation`: the `generation` of the serving instance.
    #[web_resource("/_synapse/client/policy/generation", method = "GET")]
    async fn generation(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &json!(self.config.generation))
    }

    /// `GET /_synapse/client/policy/shutdowns`: the generations shut down so far.
    #[web_resource("/_synapse/client/policy/shutdowns", method = "GET")]
    async fn shutdowns(&self, _request: WebRequest) -> WebResponse {
        let shutdowns = SHUTDOWNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        web::json(200, &shutdowns)
    }

    /// `GET /_synapse/client/policy/calls`.
    #[web_resource("/_synapse/client/policy/calls", method = "GET")]
    async fn calls(&self, _request: WebRequest) -> WebResponse {
        let calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        web::json(200, &calls)
    }
}
