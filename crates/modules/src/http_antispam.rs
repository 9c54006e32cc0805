//! `http_antispam`: a port of synapse-http-antispam (maunium), the bridge between the
//! homeserver and an antispam service such as Meowlnir or Draupnir. Each spam-checker
//! callback becomes an HTTP request to the service.
//!
//! # Wire protocol
//!
//! A callback is `POST {base_url}/{callback name}` with its arguments as a JSON object
//! and, when configured, `Authorization: Bearer <token>`:
//!
//! | callback | body |
//! |---|---|
//! | `user_may_join_room` | `{"user", "room", "is_invited"}` |
//! | `user_may_invite` | `{"inviter", "invitee", "room_id"}` |
//! | `user_may_send_3pid_invite` | `{"inviter", "medium", "address", "room_id"}` |
//! | `user_may_create_room` | `{"user_id"}` |
//! | `user_may_create_room_alias` | `{"user_id", "room_alias"}` |
//! | `user_may_publish_room` | `{"user_id", "room_id"}` |
//! | `check_username_for_spam` | `{"user_profile": {"user_id", "display_name", "avatar_url"}, "requester_id"}` |
//! | `check_login_for_spam` | `{"user_id", "device_id", "initial_display_name", "request_info": [[user agent, ip], ...], "auth_provider_id"}` |
//! | `check_event_for_spam` | `{"event": <the event in client format, with event_id>}` |
//! | `federated_user_may_invite` | `{"event": <the invite event>}` |
//!
//! The answer decides:
//!
//! * any 2xx with a JSON body allows (`NOT_SPAM`); the body is ignored, `{}` will do;
//! * any other status with a JSON object body denies: its `errcode` (default
//!   `M_FORBIDDEN`) and every other field (`error` included) go to the client as they
//!   are, e.g. 403 `{"errcode": "M_FORBIDDEN", "error": "You are banned"}`;
//! * a body that is not a JSON object denies with `M_UNKNOWN` "Unexpected response from
//!   antispam server", and a failed request (connection refused, timeout after 30 s, a
//!   2xx that is not JSON) with `M_UNKNOWN` "Failed to connect to antispam server";
//!   unless the callback fails open (`fail_open`), in which case both allow.
//!   `check_event_for_spam` fails open unless `fail_open` sets it to `false`.
//!
//! For `check_username_for_spam`, a deny hides the user from the directory search.
//!
//! # Callbacks
//!
//! The ten spam-checker callbacks above; `check_registration_for_spam`,
//! `should_drop_federated_event`, `check_media_file_for_spam` and
//! `user_may_send_state_event` are not forwarded (as in the original). Synapse registers
//! only the `enabled_callbacks`; mxmod's registration is static, so every callback is
//! compiled in and a disabled one answers `NOT_SPAM` (allow) at once, with no request:
//! the same outcome, since an allowing module passes the decision to the next one.
//!
//! With `async`, a callback sends its request in the background and allows at once;
//! the service's answer is only logged.
//!
//! With `do_ping`, the module posts `{"id": "<8 random letters>"}` to
//! `{base_url}/ping` when it starts and expects `{"id": <the same>, "status": "ok"}`
//! back. The ping runs in the background, so start-up never waits for the service
//! (which may well start after the homeserver); a failed ping is logged and retried
//! every 5 seconds until one succeeds. [`HttpAntispam::ping_succeeded`] tells whether one
//! has.
//!
//! # Config
//!
//! ```yaml
//! modules:
//!   - module: http_antispam
//!     config:
//!       # The antispam service (required; http:// or https://, e.g. a local Meowlnir).
//!       base_url: "http://localhost:8080/_meowlnir/antispam/management"
//!       # Sent as `Authorization: Bearer <authorization>`. Default: none.
//!       authorization: "random string"
//!       # Or: a file holding the token (read at start-up, surrounding whitespace
//!       # trimmed); `authorization` wins if both are set. Default: none.
//!       authorization_path: /etc/mxmod/antispam-token
//!       # Callbacks asked; the others allow without a request. Default: all of them.
//!       enabled_callbacks: [user_may_invite, user_may_join_room]
//!       # Callbacks sent in the background, allowing at once. Default: none.
//!       async:
//!         user_may_join_room: true
//!       # Callbacks that allow when the service fails. Default:
//!       # {check_event_for_spam: true}; listing a callback overrides its default.
//!       fail_open:
//!         check_event_for_spam: true
//!       # Ping the service at start-up. Default: false.
//!       do_ping: false
//! ```
//!
//! Callback names anywhere in the config must be among the ten above; a typo is a config
//! error (the original ignores unknown names in `async` and `fail_open`).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use mxmod::{
    api::{HttpClient, HttpError},
    module, spam_checker,
    types::{Event, JsonObject, RequestInfo, RoomAliasId, RoomId, UserId, UserProfile},
    ConfigError, ErrCode, Module, ModuleApi, ModuleError, SpamCheck,
};
use rand::Rng;
use serde::{de::IgnoredAny, Deserialize};
use serde_json::{json, Value};

/// How long to wait between failed pings.
const PING_RETRY: Duration = Duration::from_secs(5);

/// A spam-checker callback the module forwards, by its Synapse name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AntispamCallback {
    /// `user_may_join_room`.
    UserMayJoinRoom,
    /// `user_may_invite`.
    UserMayInvite,
    /// `user_may_send_3pid_invite`.
    #[serde(rename = "user_may_send_3pid_invite")]
    UserMaySend3pidInvite,
    /// `user_may_create_room`.
    UserMayCreateRoom,
    /// `user_may_create_room_alias`.
    UserMayCreateRoomAlias,
    /// `user_may_publish_room`.
    UserMayPublishRoom,
    /// `check_username_for_spam`.
    CheckUsernameForSpam,
    /// `check_login_for_spam`.
    CheckLoginForSpam,
    /// `check_event_for_spam`.
    CheckEventForSpam,
    /// `federated_user_may_invite`.
    FederatedUserMayInvite,
}

impl AntispamCallback {
    /// Every forwarded callback.
    pub const ALL: [AntispamCallback; 10] = [
        Self::UserMayJoinRoom,
        Self::UserMayInvite,
        Self::UserMaySend3pidInvite,
        Self::UserMayCreateRoom,
        Self::UserMayCreateRoomAlias,
        Self::UserMayPublishRoom,
        Self::CheckUsernameForSpam,
        Self::CheckLoginForSpam,
        Self::CheckEventForSpam,
        Self::FederatedUserMayInvite,
    ];

    /// The Synapse name, which is also the last segment of the request path.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserMayJoinRoom => "user_may_join_room",
            Self::UserMayInvite => "user_may_invite",
            Self::UserMaySend3pidInvite => "user_may_send_3pid_invite",
            Self::UserMayCreateRoom => "user_may_create_room",
            Self::UserMayCreateRoomAlias => "user_may_create_room_alias",
            Self::UserMayPublishRoom => "user_may_publish_room",
            Self::CheckUsernameForSpam => "check_username_for_spam",
            Self::CheckLoginForSpam => "check_login_for_spam",
            Self::CheckEventForSpam => "check_event_for_spam",
            Self::FederatedUserMayInvite => "federated_user_may_invite",
        }
    }
}

/// The `config:` of `http_antispam`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAntispamConfig {
    /// The service; requests go to `{base_url}/{callback}`.
    pub base_url: String,
    /// The bearer token.
    #[serde(default)]
    pub authorization: Option<String>,
    /// A file holding the bearer token.
    #[serde(default)]
    pub authorization_path: Option<PathBuf>,
    /// The callbacks asked (default: all).
    #[serde(default)]
    pub enabled_callbacks: Option<Vec<AntispamCallback>>,
    /// Callbacks sent in the background.
    #[serde(default, rename = "async")]
    pub async_callbacks: BTreeMap<AntispamCallback, bool>,
    /// Callbacks that allow when the service fails.
    #[serde(default)]
    pub fail_open: BTreeMap<AntispamCallback, bool>,
    /// Ping the service at start-up.
    #[serde(default)]
    pub do_ping: bool,
}

/// How one callback is handled.
#[derive(Clone, Copy, Debug)]
struct Handling {
    enabled: bool,
    background: bool,
    fail_open: bool,
}

/// The HTTP antispam bridge.
pub struct HttpAntispam {
    base_url: String,
    /// `Bearer <token>`, if configured.
    authorization: Option<String>,
    handling: BTreeMap<AntispamCallback, Handling>,
    ping_ok: Arc<AtomicBool>,
    api: ModuleApi,
}

impl Module for HttpAntispam {
    type Config = HttpAntispamConfig;

    fn parse_config(mut config: HttpAntispamConfig) -> Result<HttpAntispamConfig, ConfigError> {
        HttpClient::check_url(&config.base_url)
            .map_err(|problem| ConfigError::at(["base_url"], format!("`base_url` {problem}")))?;
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        Ok(config)
    }

    fn new(config: HttpAntispamConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        let token = match (&config.authorization, &config.authorization_path) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    ModuleError::with_source(format!("cannot read `authorization_path` {}", path.display()), error)
                })?;
                Some(text.trim().to_owned())
            }
            (None, None) => None,
        };
        let handling = AntispamCallback::ALL
            .into_iter()
            .map(|callback| {
                let enabled = config.enabled_callbacks.as_ref().is_none_or(|enabled| enabled.contains(&callback));
                let background = config.async_callbacks.get(&callback).copied().unwrap_or(false);
                // Soft-failing every federated event when the service is down would be
                // worse than letting spam through: check_event_for_spam fails open.
                let default_open = callback == AntispamCallback::CheckEventForSpam;
                let fail_open = config.fail_open.get(&callback).copied().unwrap_or(default_open);
                (callback, Handling { enabled, background, fail_open })
            })
            .collect();
        let module = HttpAntispam {
            base_url: config.base_url,
            authorization: token.map(|token| format!("Bearer {token}")),
            handling,
            ping_ok: Arc::new(AtomicBool::new(false)),
            api,
        };
        if config.do_ping {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(ModuleError::new("`do_ping` needs the module to start inside the server's async runtime"));
            }
            module.api.spawn(ping_until_ok(
                module.api.http_client().clone(),
                format!("{}/ping", module.base_url),
                module.authorization.clone(),
                Arc::downgrade(&module.ping_ok),
                module.api.instance_name().to_owned(),
            ));
        }
        Ok(module)
    }
}

/// Pings the service until it answers as expected (or the module is gone).
async fn ping_until_ok(
    client: HttpClient,
    url: String,
    authorization: Option<String>,
    done: Weak<AtomicBool>,
    instance: String,
) {
    loop {
        let Some(flag) = done.upgrade() else { return };
        let id: String = rand::rng().sample_iter(rand::distr::Alphabetic).take(8).map(char::from).collect();
        let headers: Vec<(&str, &str)> = authorization.iter().map(|value| ("authorization", value.as_str())).collect();
        match client.post_json_get_json::<_, Value>(&url, &json!({ "id": id }), &headers).await {
            Ok(answer) if answer.get("id") == Some(&json!(id)) && answer.get("status") == Some(&json!("ok")) => {
                tracing::info!(module = instance, "pinged the antispam service with request ID {id}");
                flag.store(true, Ordering::SeqCst);
                return;
            }
            Ok(answer) => tracing::error!(
                module = instance,
                "unexpected ping answer from the antispam service (POST {url} with ID {id}): {answer}"
            ),
            Err(error) => tracing::error!(module = instance, "failed to ping the antispam service: {error}"),
        }
        drop(flag);
        tokio::time::sleep(PING_RETRY).await;
    }
}

/// A deny with `M_UNKNOWN` and this `error`.
fn unknown(message: &str) -> SpamCheck {
    let mut fields = JsonObject::new();
    fields.insert("error".to_owned(), Value::String(message.to_owned()));
    SpamCheck::DenyWithFields(ErrCode::UNKNOWN, fields)
}

/// The deny a non-2xx JSON object answer stands for: its `errcode` (default
/// `M_FORBIDDEN`) and the remaining fields.
fn deny_from(mut answer: JsonObject) -> SpamCheck {
    match answer.remove("errcode") {
        Some(Value::String(code)) => SpamCheck::DenyWithFields(ErrCode::custom(code), answer),
        Some(other) => {
            // Not a code: Synapse would pass it on as an extra field, over M_FORBIDDEN.
            answer.insert("errcode".to_owned(), other);
            SpamCheck::DenyWithFields(ErrCode::FORBIDDEN, answer)
        }
        None => SpamCheck::DenyWithFields(ErrCode::FORBIDDEN, answer),
    }
}

impl HttpAntispam {
    /// Whether a start-up ping has succeeded (always `false` without `do_ping`).
    pub fn ping_succeeded(&self) -> bool {
        self.ping_ok.load(Ordering::SeqCst)
    }

    /// Asks the service about one callback; see the module docs for the protocol.
    async fn ask(&self, callback: AntispamCallback, body: Value) -> SpamCheck {
        let handling = self.handling[&callback];
        if !handling.enabled {
            return SpamCheck::NOT_SPAM;
        }
        let url = format!("{}/{}", self.base_url, callback.name());
        let client = self.api.http_client();
        if handling.background {
            let client = client.clone();
            let authorization = self.authorization.clone();
            let instance = self.api.instance_name().to_owned();
            self.api.spawn(async move {
                let headers: Vec<(&str, &str)> =
                    authorization.iter().map(|value| ("authorization", value.as_str())).collect();
                if let Err(error) = client.post_json_get_json::<_, IgnoredAny>(&url, &body, &headers).await {
                    tracing::warn!(module = instance, "async antispam callback failed (POST {url}): {error}");
                }
            });
            return SpamCheck::NOT_SPAM;
        }
        let headers: Vec<(&str, &str)> =
            self.authorization.iter().map(|value| ("authorization", value.as_str())).collect();
        let instance = self.api.instance_name();
        let failure = match client.post_json_get_json::<_, IgnoredAny>(&url, &body, &headers).await {
            Ok(_) => return SpamCheck::NOT_SPAM,
            Err(HttpError::Status { body: answer, status, .. }) => match serde_json::from_slice::<Value>(&answer) {
                Ok(Value::Object(answer)) => return deny_from(answer),
                _ => {
                    tracing::warn!(
                        module = instance,
                        "unexpected answer from the antispam service: {status} {} (POST {url} with {body})",
                        String::from_utf8_lossy(&answer)
                    );
                    "Unexpected response from antispam server"
                }
            },
            Err(error) => {
                tracing::error!(
                    module = instance,
                    "failed to reach the antispam service (POST {url} with {body}): {error}"
                );
                "Failed to connect to antispam server"
            }
        };
        if handling.fail_open {
            SpamCheck::NOT_SPAM
        } else {
            unknown(failure)
        }
    }
}

#[module(name = "http_antispam")]
impl HttpAntispam {
    /// `POST {base_url}/user_may_join_room`.
    #[spam_checker]
    pub async fn user_may_join_room(&self, user: &UserId, room: &RoomId, is_invited: bool) -> SpamCheck {
        self.ask(AntispamCallback::UserMayJoinRoom, json!({ "user": user, "room": room, "is_invited": is_invited }))
            .await
    }

    /// `POST {base_url}/user_may_invite`.
    #[spam_checker]
    pub async fn user_may_invite(&self, inviter: &UserId, invitee: &UserId, room_id: &RoomId) -> SpamCheck {
        self.ask(AntispamCallback::UserMayInvite, json!({ "inviter": inviter, "invitee": invitee, "room_id": room_id }))
            .await
    }

    /// `POST {base_url}/user_may_send_3pid_invite`.
    #[spam_checker]
    pub async fn user_may_send_3pid_invite(
        &self,
        inviter: &UserId,
        medium: &str,
        address: &str,
        room_id: &RoomId,
    ) -> SpamCheck {
        let body = json!({ "inviter": inviter, "medium": medium, "address": address, "room_id": room_id });
        self.ask(AntispamCallback::UserMaySend3pidInvite, body).await
    }

    /// `POST {base_url}/user_may_create_room` (the user only, as in the original).
    #[spam_checker]
    pub async fn user_may_create_room(&self, user_id: &UserId, _room_config: &JsonObject) -> SpamCheck {
        self.ask(AntispamCallback::UserMayCreateRoom, json!({ "user_id": user_id })).await
    }

    /// `POST {base_url}/user_may_create_room_alias`.
    #[spam_checker]
    pub async fn user_may_create_room_alias(&self, user_id: &UserId, room_alias: &RoomAliasId) -> SpamCheck {
        self.ask(AntispamCallback::UserMayCreateRoomAlias, json!({ "user_id": user_id, "room_alias": room_alias }))
            .await
    }

    /// `POST {base_url}/user_may_publish_room`.
    #[spam_checker]
    pub async fn user_may_publish_room(&self, user_id: &UserId, room_id: &RoomId) -> SpamCheck {
        self.ask(AntispamCallback::UserMayPublishRoom, json!({ "user_id": user_id, "room_id": room_id })).await
    }

    /// `POST {base_url}/check_username_for_spam`; a deny hides the user.
    #[spam_checker]
    pub async fn check_username_for_spam(&self, user_profile: &UserProfile, requester_id: &UserId) -> bool {
        let body = json!({ "user_profile": user_profile, "requester_id": requester_id });
        !self.ask(AntispamCallback::CheckUsernameForSpam, body).await.is_not_spam()
    }

    /// `POST {base_url}/check_login_for_spam`.
    #[spam_checker]
    pub async fn check_login_for_spam(
        &self,
        user_id: &UserId,
        device_id: Option<&str>,
        initial_display_name: Option<&str>,
        request_info: &[RequestInfo],
        auth_provider_id: Option<&str>,
    ) -> SpamCheck {
        let request_info: Vec<(&str, std::net::IpAddr)> =
            request_info.iter().map(|info| (info.user_agent.as_str(), info.ip)).collect();
        let body = json!({
            "user_id": user_id,
            "device_id": device_id,
            "initial_display_name": initial_display_name,
            "request_info": request_info,
            "auth_provider_id": auth_provider_id,
        });
        self.ask(AntispamCallback::CheckLoginForSpam, body).await
    }

    /// `POST {base_url}/check_event_for_spam`.
    #[spam_checker]
    pub async fn check_event_for_spam(&self, event: &Event) -> SpamCheck {
        self.ask(AntispamCallback::CheckEventForSpam, json!({ "event": event.get_dict() })).await
    }

    /// `POST {base_url}/federated_user_may_invite`.
    #[spam_checker]
    pub async fn federated_user_may_invite(&self, event: &Event) -> SpamCheck {
        self.ask(AntispamCallback::FederatedUserMayInvite, json!({ "event": event.get_dict() })).await
    }
}

#[cfg(test)]
mod tests;
