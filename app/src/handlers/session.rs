//! The user's session: `/devices` (list, get, rename, delete; `POST /delete_devices`),
//! `POST /account/password`, and `/capabilities`. Deleting devices and changing the
//! password need user-interactive auth with `m.login.password` (a 401 with the flows
//! first, as Synapse answers); the password is checked on the password pool and failed
//! checks count against `rc_login.failed_attempts` of the account. Sessions are not
//! tracked: a request that carries the right password completes, whatever its
//! `session`.

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mxmod::{ErrCode, MatrixError};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth_providers,
    http::{ApiError, ApiResult, Auth, JsonBody, MPath, OptionalJsonBody},
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
    let mut body = json!({
        "flows": [{ "stages": ["m.login.password"] }],
        "params": {},
        "session": Alphanumeric.sample_string(&mut rand::rng(), 24),
    });
    if let Some(failure) = failure {
        body["errcode"] = "M_FORBIDDEN".into();
        body["error"] = failure.into();
    }
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
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

/// `POST /account/password`: after password auth, the new password is hashed on the
/// pool and stored; unless `logout_devices` is `false`, every other device and token of
/// the user is logged out in the same transaction (then `on_logged_out` per token).
pub(super) async fn change_password(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    OptionalJsonBody(body): OptionalJsonBody<PasswordRequest>,
) -> ApiResult<Response> {
    if let Some(incomplete) = password_auth(&state, &auth, body.auth.as_ref()).await? {
        return Ok(incomplete);
    }
    let password = body
        .new_password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing 'new_password'"))?;
    if password.len() > MAX_PASSWORD {
        return Err(ApiError::new(400, ErrCode::INVALID_PARAM, "Password too long"));
    }
    let hash = state.passwords.hash(password).await.map_err(|error| {
        tracing::error!("{error}");
        ApiError(MatrixError::internal())
    })?;
    let log_out = if body.logout_devices.unwrap_or(true) {
        LogOut::AllBut { device_id: &auth.device_id, token: &auth.token_hash }
    } else {
        LogOut::Nothing
    };
    let deleted = state.storage.set_password(&auth.user_id, &hash, log_out).await?;
    auth_providers::tokens_logged_out(&state, &auth.user_id, &deleted).await;
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
