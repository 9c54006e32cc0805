//! The user's session: `/devices` (list, get, rename, delete; `POST /delete_devices`),
//! `POST /account/password`, and `/capabilities`. Deleting devices and changing the
//! password need user-interactive auth with `m.login.password` (a 401 with the flows
//! first, as Synapse answers); the password is checked on the password pool and failed
//! checks count against `rc_login.failed_attempts` of the account. Sessions are not
//! tracked: a request that carries the right password completes, whatever its
//! `session`. A password reset (`POST /account/password` without an access token) needs
//! `m.login.email.identity` instead: a validation session mailed by
//! `/account/password/email/requestToken`, which it uses up.

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mxmod::{types::OwnedUserId, ErrCode, MatrixError};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth_providers,
    http::{ApiError, ApiResult, Auth, JsonBody, MPath, MaybeAuth, OptionalJsonBody},
    rooms::ROOM_VERSION,
    state::AppState,
    storage::{Device, LogOut},
};

/// Longest device display name (Synapse's limit).
const MAX_DEVICE_NAME: usize = 100;
/// Most devices one `POST /delete_devices` may name.
const MAX_DELETE_DEVICES: usize = 1000;
/// Longest password (Synapse's limit).
const MAX_PASSWORD: usize = 512;

/// The user-interactive-auth answer: 401 with the password flow, and the error of a
/// failed attempt if any.
fn challenge(failure: Option<&str>) -> Response {
    challenge_for("m.login.password", failure.map(|failure| ("M_FORBIDDEN", failure)))
}

/// The user-interactive-auth answer: 401 with a one-`stage` flow, and the errcode and
/// error of a failed attempt if any.
fn challenge_for(stage: &str, failure: Option<(&str, &str)>) -> Response {
    let mut body = json!({
        "flows": [{ "stages": [stage] }],
        "params": {},
        "session": Alphanumeric.sample_string(&mut rand::rng(), 24),
    });
    if let Some((errcode, error)) = failure {
        body["errcode"] = errcode.into();
        body["error"] = error.into();
    }
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The stage a requester without an access token authenticates with (a password reset).
const EMAIL_IDENTITY: &str = "m.login.email.identity";

/// Checks the `m.login.email.identity` `auth` of a request without an access token
/// (Synapse's `EmailIdentityAuthChecker`): the session its `threepid_creds` name must be
/// validated, and is taken for good, so a mailed link resets a password once. `Ok(Ok(user))`
/// for the user holding the address; `Ok(Err(401 answer))` when the stage is missing or
/// the session is not (or no longer) validated; 404 `M_NOT_FOUND` when nobody holds the
/// address any more.
async fn email_identity_auth(state: &AppState, body_auth: Option<&Value>) -> ApiResult<Result<OwnedUserId, Response>> {
    let Some(body_auth) = body_auth.filter(|a| a.get("type").and_then(Value::as_str) == Some(EMAIL_IDENTITY)) else {
        return Ok(Err(challenge_for(EMAIL_IDENTITY, None)));
    };
    let credentials = body_auth.get("threepid_creds").or_else(|| body_auth.get("threePidCreds"));
    let field = |name: &str| credentials.and_then(|c| c.get(name)).and_then(Value::as_str);
    let (Some(sid), Some(client_secret)) = (field("sid"), field("client_secret")) else {
        return Err(ApiError::new(400, ErrCode::MISSING_PARAM, "Missing threepid_creds: sid and client_secret"));
    };
    let Some(session) = state.storage.take_validated_threepid_session(sid, client_secret).await? else {
        let failure = ("M_UNAUTHORIZED", "No validated 3pid session found");
        return Ok(Err(challenge_for(EMAIL_IDENTITY, Some(failure))));
    };
    match state.storage.user_by_threepid(&session.medium, &session.address).await? {
        Some(user_id) => Ok(Ok(user_id)),
        None => Err(ApiError::not_found("Email address not found")),
    }
}

/// Checks the `auth` of a request against the requester's password: `Ok(None)` when
/// it passed, `Ok(Some(401 answer))` when it is missing or wrong.
pub(super) async fn password_auth(
    state: &AppState,
    auth: &Auth,
    body_auth: Option<&Value>,
) -> ApiResult<Option<Response>> {
    let Some(body_auth) = body_auth.filter(|a| a.get("type").and_then(Value::as_str) == Some("m.login.password"))
    else {
        return Ok(Some(challenge(None)));
    };
    let named = body_auth
        .get("identifier")
        .and_then(|identifier| identifier.get("user"))
        .or_else(|| body_auth.get("user"))
        .and_then(Value::as_str);
    if let Some(named) = named {
        let full =
            if named.starts_with('@') { named.to_owned() } else { format!("@{named}:{}", state.settings.server_name) };
        if full != auth.user_id.as_str() {
            return Err(ApiError::forbidden("Invalid auth"));
        }
    }
    let Some(password) = body_auth.get("password").and_then(Value::as_str) else {
        return Ok(Some(challenge(None)));
    };
    let account = auth.user_id.as_str().to_lowercase();
    state.limits.login_failed_attempts.peek(&account)?;
    let stored = state.storage.user(&auth.user_id).await?.and_then(|user| user.password_hash);
    if !state.passwords.verify(password.to_owned(), stored).await {
        state.limits.login_failed_attempts.record(&account);
        return Ok(Some(challenge(Some("Invalid password"))));
    }
    Ok(None)
}

fn device_json(device: &Device) -> Value {
    json!({ "device_id": device.device_id, "display_name": device.display_name, "last_seen_ip": null, "last_seen_ts": null })
}

/// `GET /devices`.
pub(super) async fn list_devices(State(state): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    let devices = state.storage.devices(&auth.user_id).await?;
    Ok(Json(json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() })))
}

/// `GET /devices/{device_id}`.
pub(super) async fn get_device(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(device_id): MPath<String>,
) -> ApiResult<Json<Value>> {
    let devices = state.storage.devices(&auth.user_id).await?;
    let device =
        devices.iter().find(|d| d.device_id == device_id).ok_or_else(|| ApiError::not_found("No device found"))?;
    Ok(Json(device_json(device)))
}

/// The `PUT /devices/{device_id}` body.
#[derive(Default, Deserialize)]
pub(super) struct RenameRequest {
    display_name: Option<String>,
}

/// `PUT /devices/{device_id}`: renames a device.
pub(super) async fn rename_device(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(device_id): MPath<String>,
    OptionalJsonBody(body): OptionalJsonBody<RenameRequest>,
) -> ApiResult<Json<Value>> {
    if body.display_name.as_ref().is_some_and(|name| name.chars().count() > MAX_DEVICE_NAME) {
        let message = format!("Device display name is too long (max {MAX_DEVICE_NAME})");
        return Err(ApiError::new(400, ErrCode::TOO_LARGE, message));
    }
    if !state.storage.rename_device(&auth.user_id, &device_id, body.display_name.as_deref()).await? {
        return Err(ApiError::not_found("Unknown device"));
    }
    Ok(Json(json!({})))
}

/// A body that carries only user-interactive auth.
#[derive(Default, Deserialize)]
pub(super) struct AuthOnly {
    auth: Option<Value>,
}

/// `DELETE /devices/{device_id}`: after password auth, the device and its tokens go
/// (then `on_logged_out` per token, as Synapse's device deletion calls it).
pub(super) async fn delete_device(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(device_id): MPath<String>,
    OptionalJsonBody(body): OptionalJsonBody<AuthOnly>,
) -> ApiResult<Response> {
    if let Some(incomplete) = password_auth(&state, &auth, body.auth.as_ref()).await? {
        return Ok(incomplete);
    }
    let deleted = state.storage.delete_devices(&auth.user_id, &[device_id]).await?;
    auth_providers::tokens_logged_out(&state, &auth.user_id, &deleted).await;
    Ok(Json(json!({})).into_response())
}

/// The `POST /delete_devices` body.
#[derive(Deserialize)]
pub(super) struct DeleteDevicesRequest {
    devices: Vec<String>,
    auth: Option<Value>,
}

/// `POST /delete_devices`.
pub(super) async fn delete_devices(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    JsonBody(body): JsonBody<DeleteDevicesRequest>,
) -> ApiResult<Response> {
    if body.devices.len() > MAX_DELETE_DEVICES {
        return Err(ApiError::bad_json(format!("At most {MAX_DELETE_DEVICES} devices at once")));
    }
    if let Some(incomplete) = password_auth(&state, &auth, body.auth.as_ref()).await? {
        return Ok(incomplete);
    }
    let deleted = state.storage.delete_devices(&auth.user_id, &body.devices).await?;
    auth_providers::tokens_logged_out(&state, &auth.user_id, &deleted).await;
    Ok(Json(json!({})).into_response())
}

/// The `POST /account/password` body.
#[derive(Default, Deserialize)]
pub(super) struct PasswordRequest {
    new_password: Option<String>,
    logout_devices: Option<bool>,
    auth: Option<Value>,
}

/// `POST /account/password`. With an access token, after password auth; without one (a
/// user who forgot the password), after `m.login.email.identity` auth with a session
/// validated through `/account/password/email/requestToken`'s mail, for the user holding
/// the address (without an `email:` section there is no such flow: 401
/// `M_MISSING_TOKEN`). The new password is hashed on the pool and stored; unless
/// `logout_devices` is `false`, every other device and token of the user (every one, for
/// a reset by email) is logged out in the same transaction (then `on_logged_out` per token).
pub(super) async fn change_password(
    State(state): State<Arc<AppState>>,
    MaybeAuth(auth): MaybeAuth,
    OptionalJsonBody(body): OptionalJsonBody<PasswordRequest>,
) -> ApiResult<Response> {
    let password = |body: &PasswordRequest| {
        let password = body
            .new_password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing 'new_password'"))?;
        if password.len() > MAX_PASSWORD {
            return Err(ApiError::new(400, ErrCode::INVALID_PARAM, "Password too long"));
        }
        Ok(password)
    };
    let (user_id, password) = match &auth {
        Some(auth) => {
            if let Some(incomplete) = password_auth(&state, auth, body.auth.as_ref()).await? {
                return Ok(incomplete);
            }
            (auth.user_id.clone(), password(&body)?)
        }
        None if state.settings.mailer.is_none() => {
            return Err(ApiError::new(401, ErrCode::MISSING_TOKEN, "Missing access token"))
        }
        None => {
            if body.auth.is_none() {
                return Ok(challenge_for(EMAIL_IDENTITY, None));
            }
            // Checked before the stage takes the one-use session.
            let new_password = password(&body)?;
            match email_identity_auth(&state, body.auth.as_ref()).await? {
                Ok(user_id) => (user_id, new_password),
                Err(incomplete) => return Ok(incomplete),
            }
        }
    };
    let hash = state.passwords.hash(password).await.map_err(|error| {
        tracing::error!("{error}");
        ApiError(MatrixError::internal())
    })?;
    let log_out = match (&auth, body.logout_devices.unwrap_or(true)) {
        (_, false) => LogOut::Nothing,
        (Some(auth), true) => LogOut::AllBut { device_id: &auth.device_id, token: &auth.token_hash },
        (None, true) => LogOut::Everything,
    };
    let deleted = state.storage.set_password(&user_id, &hash, log_out).await?;
    auth_providers::tokens_logged_out(&state, &user_id, &deleted).await;
    Ok(Json(json!({})).into_response())
}

/// `GET /capabilities`.
pub(super) async fn capabilities(State(state): State<Arc<AppState>>, _auth: Auth) -> Json<Value> {
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.room_versions": { "default": ROOM_VERSION, "available": { ROOM_VERSION: "stable" } },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": state.settings.mailer.is_some() },
        }
    }))
}

/// `GET /thirdparty/protocols`: no bridges here, so no protocols.
pub(super) async fn thirdparty_protocols(_auth: Auth) -> Json<Value> {
    Json(json!({}))
}

/// `GET /voip/turnServer`: no TURN server is configured; Synapse answers `{}` then.
pub(super) async fn turn_server(_auth: Auth) -> Json<Value> {
    Json(json!({}))
}
