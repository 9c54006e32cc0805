//! `extras`: a configurable module in the categories beyond the four seeds (password
//! auth provider, media repository, rate limit, account data, unsigned fields), so
//! black-box tests can drive each call site through the real binary. Like [`policy`](crate::policy)
//! it lives outside `mxmod-modules`.
//!
//! Config (all optional):
//!
//! | key | callback | effect |
//! |---|---|---|
//! | `pins: {user ID: pin}` | `auth_checkers`, `check_auth` | declares `org.example.pin` (field `pin`); a matching pin logs that user in |
//! | `threepid_passwords: {"medium:address": user ID}` | `check_3pid_auth` | the password `3pid-secret` logs that user in |
//! | `rename_registrations: {from: to}` | `get_username_for_registration` | registers `to` when the request asks for `from` |
//! | `displayname_prefix: text` | `get_displayname_for_registration` | the display name is the prefix and the requested username |
//! | `media_config: object` | `get_media_config_for_user` | the answer of `GET .../media/config` |
//! | `max_upload_size: n` | `is_user_allowed_to_upload_media_of_size` | uploads above `n` bytes are refused |
//! | `ratelimit_overrides: {user ID: [per_second, burst_count]}` | `get_ratelimit_override_for_user` | that user's rate and burst, for every limiter |
//! | `unsigned_test_key: bool` | `add_field_to_unsigned_callback` | adds `{"test_key": event_id}` (A32) |
//! | `denied_email_domains: [domain]` | `is_3pid_allowed` | email addresses in these domains are refused (A28) |
//!
//! `on_logged_out`, `on_account_data_updated` and the `on_logged_in` hook of a pin login
//! are recorded; `GET /_synapse/client/extras/calls` answers them as `[callback,
//! argument]` pairs. `GET /_synapse/client/extras/users?from=X&limit=N` answers
//! `ModuleApi::local_users`, `GET /_synapse/client/extras/threepids?user=X`
//! `ModuleApi::threepids_for_user`. `POST /_synapse/client/extras/send_mail` with
//! `{"recipient", "subject", "html", "text"}` calls `ModuleApi::send_mail`: `{}`, or 503
//! with the error.

use std::{collections::HashMap, sync::Mutex};

use mxmod::{
    account_data, add_extra_fields_to_unsigned_client_event, media_repository, module, password_auth_provider,
    ratelimit,
    types::{Event, JsonObject, RoomId, UserId},
    web::{self, WebRequest, WebResponse},
    web_resource, AuthResult, LoginType, Module, ModuleApi, ModuleError, RatelimitOverride,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The login type `extras` declares when it has pins.
pub const PIN_LOGIN_TYPE: &str = "org.example.pin";

/// The `config:` of `extras`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtrasConfig {
    #[serde(default)]
    pins: HashMap<String, String>,
    #[serde(default)]
    threepid_passwords: HashMap<String, String>,
    #[serde(default)]
    rename_registrations: HashMap<String, String>,
    #[serde(default)]
    displayname_prefix: Option<String>,
    #[serde(default)]
    media_config: Option<JsonObject>,
    #[serde(default)]
    max_upload_size: Option<u64>,
    #[serde(default)]
    ratelimit_overrides: HashMap<String, (f64, u32)>,
    #[serde(default)]
    unsigned_test_key: bool,
    #[serde(default)]
    denied_email_domains: Vec<String>,
}

/// The extras module.
pub struct Extras {
    config: ExtrasConfig,
    calls: std::sync::Arc<Mutex<Vec<Value>>>,
    api: ModuleApi,
}

impl Module for Extras {
    type Config = ExtrasConfig;

    fn new(config: ExtrasConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Extras { config, calls: std::sync::Arc::default(), api })
    }
}

fn record(calls: &Mutex<Vec<Value>>, callback: &str, argument: Value) {
    calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(json!([callback, argument]));
}

#[module(name = "extras")]
impl Extras {
    #[password_auth_provider]
    async fn auth_checkers(&self) -> Vec<LoginType> {
        if self.config.pins.is_empty() {
            Vec::new()
        } else {
            vec![LoginType::new(PIN_LOGIN_TYPE, &["pin"])]
        }
    }

    #[password_auth_provider]
    async fn check_auth(&self, username: &str, login_type: &str, login_dict: &JsonObject) -> Option<AuthResult> {
        if login_type != PIN_LOGIN_TYPE {
            return None;
        }
        let user_id = self.api.get_qualified_user_id(username)?;
        let pin = login_dict.get("pin").and_then(Value::as_str)?;
        if self.config.pins.get(user_id.as_str()).map(String::as_str) != Some(pin) {
            return None;
        }
        let calls = self.calls.clone();
        Some(AuthResult::user(user_id).with_on_logged_in(move |response| async move {
            record(&calls, "on_logged_in", json!([response.user_id, response.device_id]));
        }))
    }

    #[password_auth_provider]
    async fn check_3pid_auth(&self, medium: &str, address: &str, password: &str) -> Option<AuthResult> {
        let user = self.config.threepid_passwords.get(&format!("{medium}:{address}"))?;
        if password != "3pid-secret" {
            return None;
        }
        UserId::parse(user).ok().map(AuthResult::user)
    }

    #[password_auth_provider]
    async fn on_logged_out(&self, user_id: &UserId, device_id: Option<&str>, access_token: &str) {
        record(&self.calls, "on_logged_out", json!([user_id, device_id, access_token]));
    }

    #[password_auth_provider]
    async fn get_username_for_registration(&self, _uia_results: &JsonObject, params: &JsonObject) -> Option<String> {
        let asked = params.get("username").and_then(Value::as_str)?;
        self.config.rename_registrations.get(asked).cloned()
    }

    #[password_auth_provider]
    async fn get_displayname_for_registration(&self, _uia_results: &JsonObject, params: &JsonObject) -> Option<String> {
        let prefix = self.config.displayname_prefix.as_ref()?;
        let asked = params.get("username").and_then(Value::as_str).unwrap_or_default();
        Some(format!("{prefix}{asked}"))
    }

    #[password_auth_provider]
    async fn is_3pid_allowed(&self, medium: &str, address: &str, registration: bool) -> bool {
        record(&self.calls, "is_3pid_allowed", json!([medium, address, registration]));
        let domain = address.rsplit_once('@').map_or("", |(_, domain)| domain);
        !(medium == "email" && self.config.denied_email_domains.iter().any(|denied| denied == domain))
    }

    /// `POST /_synapse/client/extras/send_mail`: `ModuleApi::send_mail`.
    #[web_resource("/_synapse/client/extras/send_mail", method = "POST")]
    async fn send_mail(&self, request: WebRequest) -> Result<WebResponse, mxmod::MatrixError> {
        #[derive(Deserialize)]
        struct Mail {
            recipient: String,
            subject: String,
            html: String,
            text: String,
        }
        let mail: Mail = web::json_body(&request)?;
        Ok(match self.api.send_mail(&mail.recipient, &mail.subject, &mail.html, &mail.text).await {
            Ok(()) => web::json(200, &json!({})),
            Err(error) => web::json(503, &json!({ "errcode": "M_UNKNOWN", "error": error.to_string() })),
        })
    }

    #[media_repository]
    async fn get_media_config_for_user(&self, _user_id: &UserId) -> Option<JsonObject> {
        self.config.media_config.clone()
    }

    #[media_repository]
    async fn is_user_allowed_to_upload_media_of_size(&self, _user_id: &UserId, size: u64) -> bool {
        self.config.max_upload_size.is_none_or(|max| size <= max)
    }

    #[ratelimit]
    async fn get_ratelimit_override_for_user(
        &self,
        user_id: &UserId,
        _limiter_name: &str,
    ) -> Option<RatelimitOverride> {
        let (per_second, burst_count) = *self.config.ratelimit_overrides.get(user_id.as_str())?;
        Some(RatelimitOverride { per_second, burst_count })
    }

    #[account_data]
    async fn on_account_data_updated(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        account_data_type: &str,
        content: &JsonObject,
    ) {
        record(&self.calls, "on_account_data_updated", json!([user_id, room_id, account_data_type, content]));
    }

    #[add_extra_fields_to_unsigned_client_event]
    async fn add_field_to_unsigned_callback(&self, event: &Event) -> JsonObject {
        let mut fields = JsonObject::new();
        if self.config.unsigned_test_key {
            fields.insert("test_key".to_owned(), event.event_id.as_str().into());
        }
        fields
    }

    /// `GET /_synapse/client/extras/calls`.
    #[web_resource("/_synapse/client/extras/calls", method = "GET")]
    async fn calls(&self, _request: WebRequest) -> WebResponse {
        let calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        web::json(200, &calls)
    }

    /// `GET /_synapse/client/extras/users?from=X&limit=N`: `ModuleApi::local_users`.
    #[web_resource("/_synapse/client/extras/users", method = "GET")]
    async fn users(&self, request: WebRequest) -> Result<WebResponse, mxmod::CallbackError> {
        let from = web::query_param(&request, "from").and_then(|from| UserId::parse(from).ok());
        let limit = web::query_param(&request, "limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
        let users = self.api.local_users(from.as_deref(), limit).await?;
        let ids: Vec<&str> = users.iter().map(|user| user.user_id.as_str()).collect();
        Ok(web::json(200, &ids))
    }

    /// `GET /_synapse/client/extras/threepids?user=X`: `ModuleApi::threepids_for_user`.
    #[web_resource("/_synapse/client/extras/threepids", method = "GET")]
    async fn threepids(&self, request: WebRequest) -> Result<WebResponse, mxmod::CallbackError> {
        let Some(user) = web::query_param(&request, "user").and_then(|user| UserId::parse(user).ok()) else {
            return Ok(web::json(400, &json!({ "errcode": "M_INVALID_PARAM", "error": "user" })));
        };
        let threepids = self.api.threepids_for_user(&user).await?;
        let listed: Vec<Value> =
            threepids.iter().map(|t| json!({ "medium": t.medium, "address": t.address })).collect();
        Ok(web::json(200, &listed))
    }
}
