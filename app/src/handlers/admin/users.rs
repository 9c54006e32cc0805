//! Users: `GET /_synapse/admin/v2/users` (paginated list), `GET/PUT
//! /_synapse/admin/v2/users/{user_id}` (query; create or modify) and `POST
//! /_synapse/admin/v1/deactivate/{user_id}`, with Synapse's parameters, answers and
//! callbacks: a display name or avatar change runs `on_profile_update` with `by_admin`,
//! deactivation goes through `check_can_deactivate_user` with `by_admin`, and
//! (re)activation runs `on_user_deactivation_status_changed` with `by_admin`.

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mxmod::{
    types::{JsonObject, OwnedUserId},
    ErrCode,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{create_local_user, local_user, AdminAuth, NewLocalUser};
use crate::{
    auth_providers,
    handlers::{account, profile},
    http::{ApiError, ApiResult, JsonBody, MPath, MQuery, OptionalJsonBody},
    state::AppState,
    storage::{LogOut, Profile, UserQuery, UserRecord},
    threepids,
};

/// Most users one page lists, whatever `limit` asks.
const MAX_PAGE: u64 = 1000;

/// Longest password accepted (Synapse's limit).
const MAX_PASSWORD: usize = 512;

/// A user as the admin API shows it.
fn user_json(user: &UserRecord, profile: &Profile) -> Value {
    json!({
        "name": user.user_id,
        "displayname": profile.displayname,
        "avatar_url": profile.avatar_url,
        "admin": user.is_admin,
        "deactivated": user.deactivated,
        "shadow_banned": user.shadow_banned,
        "locked": false,
        "is_guest": false,
        "user_type": null,
        "creation_ts": user.creation_ts,
    })
}

/// The `GET /_synapse/admin/v2/users` query (every value is a string in the URL).
#[derive(Deserialize)]
pub(in crate::handlers) struct ListQuery {
    from: Option<String>,
    limit: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    guests: Option<String>,
    deactivated: Option<String>,
}

fn non_negative(value: Option<&str>, name: &str, default: u64) -> ApiResult<u64> {
    match value {
        None => Ok(default),
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::new(
                400,
                ErrCode::INVALID_PARAM,
                format!("Query parameter {name} must be a string representing a positive integer."),
            )
        }),
    }
}

fn boolean(value: Option<&str>, name: &str) -> ApiResult<Option<bool>> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::new(
            400,
            ErrCode::INVALID_PARAM,
            format!("Boolean query parameter {name:?} must be one of ['true', 'false']"),
        )),
    }
}

/// `GET /_synapse/admin/v2/users?from=&limit=&user_id=&name=&guests=&deactivated=`:
/// ordered by user ID; `next_token` when more follow. There are no guest accounts, so
/// `guests` changes nothing.
pub(in crate::handlers) async fn list_users(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    MQuery(query): MQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let from = non_negative(query.from.as_deref(), "from", 0)?;
    let limit = non_negative(query.limit.as_deref(), "limit", 100)?.min(MAX_PAGE);
    boolean(query.guests.as_deref(), "guests")?;
    let deactivated = boolean(query.deactivated.as_deref(), "deactivated")?.unwrap_or(false);
    let page = UserQuery { from, limit, user_id: query.user_id, name: query.name, deactivated };
    let (users, total) = state.storage.users_page(&page).await?;
    let listed = users.len() as u64;
    let mut answer = json!({
        "users": users.iter().map(|(user, profile)| user_json(user, profile)).collect::<Vec<_>>(),
        "total": total,
    });
    if from.saturating_add(limit) < total {
        answer["next_token"] = (from + listed).to_string().into();
    }
    Ok(Json(answer))
}

/// `GET /_synapse/admin/v2/users/{user_id}`.
pub(in crate::handlers) async fn get_user(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    MPath(user): MPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = local_user(&state, &user, "Can only look up local users")?;
    Ok(Json(user_details(&state, &user_id).await?.ok_or_else(|| ApiError::not_found("User not found"))?))
}

async fn user_details(state: &AppState, user_id: &OwnedUserId) -> ApiResult<Option<Value>> {
    let Some(user) = state.storage.user(user_id).await? else { return Ok(None) };
    let profile = state.storage.profile(user_id).await?;
    let mut details = user_json(&user, &profile);
    let threepids = state.storage.threepids(user_id).await?;
    details["threepids"] = threepids
        .into_iter()
        .map(|held| {
            json!({
                "medium": held.medium,
                "address": held.address,
                "added_at": held.added_at,
                "validated_at": held.validated_at,
            })
        })
        .collect();
    Ok(Some(details))
}

/// A boolean field of the `PUT` body (`Some` when given).
fn flag(body: &JsonObject, name: &str, message: &str, code: ErrCode) -> ApiResult<Option<bool>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(ApiError::new(400, code, message)),
    }
}

/// A profile field of the `PUT` body: `Some(None)` clears it.
fn profile_value(body: &JsonObject, name: &str) -> ApiResult<Option<Option<String>>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => {
            crate::validate::profile_field(name, text)?;
            Ok(Some(Some(text.clone())))
        }
        Some(_) => Err(ApiError::bad_json(format!("`{name}` must be a string"))),
    }
}

/// `PUT /_synapse/admin/v2/users/{user_id}`: modifies an existing user (200) or creates
/// one (201), with Synapse's fields `password`, `logout_devices`, `displayname`,
/// `avatar_url`, `admin`, `deactivated` and `threepids` (which run the identifier
/// callbacks). External IDs are not stored by mxmod: a non-empty `external_ids` is
/// refused.
pub(in crate::handlers) async fn put_user(
    State(state): State<Arc<AppState>>,
    AdminAuth(admin): AdminAuth,
    MPath(user): MPath<String>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Response> {
    let user_id = local_user(&state, &user, "This endpoint can only be used with local users")?;
    match body.get("external_ids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.is_empty() => {}
        Some(_) => return Err(ApiError::invalid_param("`external_ids` are not stored by this server")),
    }
    let threepids = match body.get("threepids") {
        None | Some(Value::Null) => None,
        Some(list) => Some(threepids::parse_list(list)?),
    };
    if let Some(kind) = body.get("user_type").filter(|kind| !kind.is_null()) {
        if !matches!(kind.as_str(), Some("support" | "bot")) {
            return Err(ApiError::new(400, ErrCode::UNKNOWN, "Invalid user type"));
        }
    }
    let set_admin = flag(&body, "admin", "Param 'admin' must be a boolean, if given", ErrCode::BAD_JSON)?;
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(password)) if password.len() <= MAX_PASSWORD => Some(password.clone()),
        Some(_) => return Err(ApiError::new(400, ErrCode::UNKNOWN, "Invalid password")),
    };
    let logout_devices =
        flag(&body, "logout_devices", "'logout_devices' parameter is not of type boolean", ErrCode::UNKNOWN)?
            .unwrap_or(true);
    let deactivate = flag(&body, "deactivated", "'deactivated' parameter is not of type boolean", ErrCode::UNKNOWN)?;
    if flag(&body, "locked", "'locked' parameter is not of type boolean", ErrCode::UNKNOWN)? == Some(true) {
        return Err(ApiError::new(400, ErrCode::INVALID_PARAM, "Locking users is not supported by this server"));
    }
    let displayname = profile_value(&body, "displayname")?;
    let avatar_url = profile_value(&body, "avatar_url")?;

    let Some(existing) = state.storage.user(&user_id).await? else {
        let new = NewLocalUser {
            user_id: account::local_user_id(&state, user_id.localpart())?,
            password,
            admin: set_admin.unwrap_or(false),
            displayname: displayname.flatten(),
            login: false,
        };
        create_local_user(&state, new).await?;
        if let Some(threepids) = &threepids {
            threepids::replace(&state, &user_id, threepids).await?;
        }
        if let Some(Some(avatar)) = avatar_url {
            profile::set_profile_field(&state, &user_id, false, "avatar_url", Some(avatar), true).await?;
        }
        let details = user_details(&state, &user_id).await?.ok_or_else(|| ApiError::not_found("User not found"))?;
        return Ok((StatusCode::CREATED, Json(details)).into_response());
    };

    if deactivate == Some(false) && existing.deactivated && password.is_none() && existing.password_hash.is_none() {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "Must provide a password to re-activate an account."));
    }
    if let Some(name) = displayname {
        profile::set_profile_field(&state, &user_id, false, "displayname", name, true).await?;
    }
    if let Some(threepids) = &threepids {
        threepids::replace(&state, &user_id, threepids).await?;
    }
    if let Some(avatar) = avatar_url {
        profile::set_profile_field(&state, &user_id, false, "avatar_url", avatar, true).await?;
    }
    if let Some(set_admin) = set_admin.filter(|wanted| *wanted != existing.is_admin) {
        if user_id == admin.user_id && !set_admin {
            return Err(ApiError::new(400, ErrCode::UNKNOWN, "You may not demote yourself."));
        }
        state.storage.set_admin(&user_id, set_admin).await?;
    }
    if let Some(password) = password {
        let hash = account::hash_password(&state, password).await?;
        let log_out = if logout_devices { LogOut::Everything } else { LogOut::Nothing };
        let deleted = state.storage.set_password(&user_id, &hash, log_out).await?;
        auth_providers::tokens_logged_out(&state, &user_id, &deleted).await;
    }
    match deactivate {
        Some(true) if !existing.deactivated => account::deactivate_account(&state, &existing, false, true).await?,
        Some(false) if existing.deactivated => {
            state.storage.set_deactivated(&user_id, false).await?;
            let rules = &state.modules.callbacks().third_party_rules;
            rules.on_user_deactivation_status_changed(&user_id, false, true).await?;
        }
        _ => {}
    }
    let details = user_details(&state, &user_id).await?.ok_or_else(|| ApiError::not_found("User not found"))?;
    Ok(Json(details).into_response())
}

/// The `POST /_synapse/admin/v1/deactivate/{user_id}` body.
#[derive(Default, Deserialize)]
pub(in crate::handlers) struct DeactivateBody {
    #[serde(default)]
    erase: Option<Value>,
}

/// `POST /_synapse/admin/v1/deactivate/{user_id}` (`{"erase": bool}` optional).
pub(in crate::handlers) async fn deactivate_user(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    MPath(user): MPath<String>,
    OptionalJsonBody(body): OptionalJsonBody<DeactivateBody>,
) -> ApiResult<Json<Value>> {
    let user_id = local_user(&state, &user, "Can only deactivate local users")?;
    let user = state.storage.user(&user_id).await?.ok_or_else(|| ApiError::not_found("User not found"))?;
    let erase = match body.erase {
        None => false,
        Some(Value::Bool(erase)) => erase,
        Some(_) => return Err(ApiError::bad_json("Param 'erase' must be a boolean, if given")),
    };
    account::deactivate_account(&state, &user, erase, true).await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}
