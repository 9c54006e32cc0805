//! `GET/POST /_synapse/admin/v1/register`: Synapse's shared-secret registration. `GET`
//! hands out a nonce; `POST` creates an account (admin or not) when its `mac` is the
//! HMAC-SHA1 of the nonce, username, password and admin flag keyed with
//! `registration_shared_secret`. Each nonce is single-use and expires after a minute.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::{types::JsonObject, ErrCode};
use serde_json::{json, Value};

use super::{create_local_user, NewLocalUser};
use crate::{
    handlers::account,
    http::{ApiError, ApiResult, JsonBody},
    shared_secret,
    state::AppState,
};

/// Longest username and password accepted (Synapse's limit).
const MAX_FIELD: usize = 512;

/// The user types Synapse knows.
const USER_TYPES: [&str; 2] = ["support", "bot"];

/// `GET /_synapse/admin/v1/register`: a new nonce.
pub(in crate::handlers) async fn register_nonce(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let nonce = state
        .nonces
        .issue()
        .ok_or_else(|| ApiError::new(429, ErrCode::LIMIT_EXCEEDED, "Too many registration nonces outstanding"))?;
    Ok(Json(json!({ "nonce": nonce })))
}

/// A required string field of at most [`MAX_FIELD`] bytes without NUL.
fn field<'a>(body: &'a JsonObject, name: &str, invalid: &str) -> ApiResult<&'a str> {
    match body.get(name) {
        None => Err(ApiError::bad_json(format!("{name} must be specified"))),
        Some(Value::String(text)) if text.len() <= MAX_FIELD && !text.contains('\0') => Ok(text),
        Some(_) => Err(ApiError::new(400, ErrCode::UNKNOWN, invalid)),
    }
}

/// `POST /_synapse/admin/v1/register`, checked in Synapse's order; the password is
/// hashed only once the MAC matched.
pub(in crate::handlers) async fn register_with_shared_secret(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let Some(secret) = state.settings.registration_shared_secret.as_deref() else {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "Shared secret registration is not enabled"));
    };
    let nonce = match body.get("nonce") {
        None => return Err(ApiError::bad_json("nonce must be specified")),
        Some(nonce) => nonce.as_str().unwrap_or_default(),
    };
    // Used up here, even if the rest of the request is refused.
    if nonce.is_empty() || !state.nonces.take(nonce) {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "unrecognised nonce"));
    }
    let username = field(&body, "username", "Invalid username")?;
    let password = field(&body, "password", "Invalid password")?;
    let admin = body.get("admin").is_some_and(truthy);
    let user_type = match body.get("user_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(kind)) if USER_TYPES.contains(&kind.as_str()) => Some(kind.as_str()),
        Some(_) => return Err(ApiError::new(400, ErrCode::UNKNOWN, "Invalid user type")),
    };
    let displayname = match body.get("displayname") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            crate::validate::profile_field("displayname", name)?;
            Some(name.clone())
        }
        Some(_) => return Err(ApiError::bad_json("displayname must be a string")),
    };
    let Some(received) = body.get("mac") else {
        return Err(ApiError::bad_json("mac must be specified"));
    };
    let expected = shared_secret::mac(secret, nonce, username, password, admin, user_type);
    if !shared_secret::mac_matches(&expected, received.as_str().unwrap_or_default()) {
        return Err(ApiError::new(403, ErrCode::FORBIDDEN, "HMAC incorrect"));
    }
    let user_id = account::local_user_id(&state, &username.to_lowercase())?;
    let inhibit_login = body.get("inhibit_login").and_then(Value::as_bool).unwrap_or(false);
    let new = NewLocalUser {
        user_id: user_id.clone(),
        password: Some(password.to_owned()),
        admin,
        displayname,
        login: !inhibit_login,
    };
    let login = create_local_user(&state, new).await?;
    let home_server = &state.settings.server_name;
    Ok(Json(match login {
        Some((token, device_id)) => {
            json!({ "user_id": user_id, "home_server": home_server, "access_token": token, "device_id": device_id })
        }
        None => json!({ "user_id": user_id, "home_server": home_server }),
    }))
}

/// Python truthiness of a JSON value, as Synapse reads `admin`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}
