//! Profiles, the user directory and account data, with `on_profile_update` and
//! `check_username_for_spam` (which filters search results silently).

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::types::{JsonObject, OwnedUserId, ProfileInfo, UserProfile};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{extract_user, ApiError, ApiResult, Auth, JsonBody, MPath},
    rooms,
    state::AppState,
    storage::Profile,
};

async fn known_user(state: &AppState, user: &str) -> ApiResult<OwnedUserId> {
    let user_id = extract_user(user)?;
    if state.storage.user(&user_id).await?.is_none() {
        return Err(ApiError::not_found("Profile was not found"));
    }
    Ok(user_id)
}

/// `GET /profile/{user_id}`.
pub(super) async fn get_profile(
    State(state): State<Arc<AppState>>,
    MPath(user): MPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = known_user(&state, &user).await?;
    let profile = state.storage.profile(&user_id).await?;
    let mut answer = serde_json::Map::new();
    if let Some(name) = profile.displayname {
        answer.insert("displayname".to_owned(), name.into());
    }
    if let Some(avatar) = profile.avatar_url {
        answer.insert("avatar_url".to_owned(), avatar.into());
    }
    Ok(Json(Value::Object(answer)))
}

/// `GET /profile/{user_id}/{displayname|avatar_url}`.
pub(super) async fn get_profile_field(
    State(state): State<Arc<AppState>>,
    MPath((user, field)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = known_user(&state, &user).await?;
    let profile = state.storage.profile(&user_id).await?;
    let value = match field.as_str() {
        "displayname" => profile.displayname,
        "avatar_url" => profile.avatar_url,
        _ => return Err(ApiError::unrecognized()),
    };
    match value {
        Some(value) => Ok(Json(json!({ field: value }))),
        None => Err(ApiError::not_found("Profile field not set")),
    }
}

/// `PUT /profile/{user_id}/{displayname|avatar_url}`.
pub(super) async fn put_profile_field(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, field)): MPath<(String, String)>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let user_id = extract_user(&user)?;
    if user_id != auth.user_id {
        return Err(ApiError::forbidden("Cannot set another user's profile"));
    }
    let value = match body.get(&field) {
        Some(Value::String(text)) => {
            crate::validate::profile_field(&field, text)?;
            Some(text.clone())
        }
        Some(Value::Null) | None => None,
        Some(_) => return Err(ApiError::bad_json(format!("`{field}` must be a string"))),
    };
    set_profile_field(&state, &user_id, auth.shadow_banned, &field, value, false).await?;
    Ok(Json(json!({})))
}

/// Sets one profile field (`displayname` or `avatar_url`; `None` clears it) of a local
/// user, for the user themself or (`by_admin`) a server admin: stored, then
/// `on_profile_update`, then carried into the user's join events.
pub(super) async fn set_profile_field(
    state: &Arc<AppState>,
    user_id: &OwnedUserId,
    shadow_banned: bool,
    field: &str,
    value: Option<String>,
    by_admin: bool,
) -> ApiResult<()> {
    let mut profile = state.storage.profile(user_id).await?;
    match field {
        "displayname" => profile.displayname = value,
        "avatar_url" => profile.avatar_url = value,
        _ => return Err(ApiError::unrecognized()),
    }
    state.storage.set_profile(user_id, &profile).await?;
    let avatar_url = profile.avatar_url.as_deref().map(Into::into);
    let info = ProfileInfo { display_name: profile.displayname.clone(), avatar_url };
    state.modules.callbacks().third_party_rules.on_profile_update(user_id, &info, by_admin, false).await?;
    update_join_states(state, user_id, shadow_banned, &profile).await;
    Ok(())
}

/// Carries a profile change into the user's membership event in every room they are
/// joined to (Synapse's `_update_join_states`); a room that refuses is logged and
/// skipped. A shadow-banned user's change is saved but not carried, after the delay.
async fn update_join_states(state: &Arc<AppState>, user_id: &OwnedUserId, shadow_banned: bool, profile: &Profile) {
    if shadow_banned {
        crate::shadow_ban::delay(&state.settings.limits).await;
        return;
    }
    let rooms = match state.storage.rooms_with_membership(user_id, "join").await {
        Ok(rooms) => rooms,
        Err(error) => return tracing::warn!("cannot list the rooms of {}: {error}", user_id),
    };
    for room_id in rooms {
        let Ok(Some(room_state)) = state.storage.current_state(&room_id).await else { continue };
        let Some(current) = room_state.get("m.room.member", user_id.as_str()) else { continue };
        let mut content = current.content.clone();
        for (key, value) in [("displayname", &profile.displayname), ("avatar_url", &profile.avatar_url)] {
            match value {
                Some(value) => content.insert(key.to_owned(), value.clone().into()),
                None => content.remove(key),
            };
        }
        if let Err(error) = rooms::update_own_join(state, user_id, &room_id, &room_state, content).await {
            tracing::warn!("cannot update the membership of {} in {room_id}: {:?}", user_id, error.0);
        }
    }
}

/// The `POST /user_directory/search` body.
#[derive(Deserialize)]
pub(super) struct SearchRequest {
    search_term: String,
    #[serde(default = "ten")]
    limit: usize,
}

fn ten() -> usize {
    10
}

/// `POST /user_directory/search`: users the spam checker flags are left out silently.
pub(super) async fn search_users(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    JsonBody(body): JsonBody<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let limit = body.limit.clamp(1, 100);
    let candidates = state.storage.search_users(&body.search_term, limit + 1).await?;
    let limited = candidates.len() > limit;
    let spam = &state.modules.callbacks().spam_checker;
    let mut results = Vec::new();
    for (user_id, profile) in candidates.into_iter().take(limit) {
        let shown = UserProfile {
            user_id: user_id.clone(),
            display_name: profile.displayname.clone(),
            avatar_url: profile.avatar_url.as_deref().map(Into::into),
        };
        if spam.check_username_for_spam(&shown, &auth.user_id).await? {
            continue;
        }
        results
            .push(json!({ "user_id": user_id, "display_name": profile.displayname, "avatar_url": profile.avatar_url }));
    }
    Ok(Json(json!({ "limited": limited, "results": results })))
}

/// `GET /user/{user_id}/account_data/{type}`.
pub(super) async fn get_account_data(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, data_type)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user_id = extract_user(&user)?;
    if user_id != auth.user_id {
        return Err(ApiError::forbidden("Cannot get account data for other users."));
    }
    state
        .storage
        .account_data(&user_id, &data_type)
        .await?
        .map(|content| Json(Value::Object(content)))
        .ok_or_else(|| ApiError::not_found("Account data not found"))
}

/// `PUT /user/{user_id}/account_data/{type}`.
pub(super) async fn put_account_data(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, data_type)): MPath<(String, String)>,
    JsonBody(content): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let user_id = extract_user(&user)?;
    if user_id != auth.user_id {
        return Err(ApiError::forbidden("Cannot add account data for other users."));
    }
    state.storage.set_account_data(&user_id, &data_type, &content).await?;
    crate::account_data::account_data_updated(&state, &user_id, None, &data_type, &content).await;
    Ok(Json(json!({})))
}
