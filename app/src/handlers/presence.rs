//! Presence: `PUT`/`GET /presence/{user_id}/status`. Routing through the presence router
//! happens in `/sync`.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::{
    types::{PresenceKind, UserId, UserPresenceState},
    InterestedUsers,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{extract_user, ApiError, ApiResult, Auth, JsonBody, MPath},
    state::{now_ms, AppState},
};

/// The `PUT /presence/{user_id}/status` body.
#[derive(Deserialize)]
pub(super) struct SetPresence {
    presence: PresenceKind,
    status_msg: Option<String>,
}

fn require_enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.presence_enabled {
        Ok(())
    } else {
        Err(ApiError::forbidden("Presence is disabled on this server"))
    }
}

/// `PUT /presence/{user_id}/status`.
pub(super) async fn put_status(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(user): MPath<String>,
    JsonBody(body): JsonBody<SetPresence>,
) -> ApiResult<Json<Value>> {
    require_enabled(&state)?;
    let user_id = extract_user(&user)?;
    if user_id != auth.user_id {
        return Err(ApiError::forbidden("Can only set your own presence state"));
    }
    let update = UserPresenceState {
        user_id,
        state: body.presence,
        status_msg: body.status_msg,
        last_active_ts: now_ms(),
        currently_active: body.presence == PresenceKind::Online,
    };
    // The users a presence router sends this update to, besides those sharing a room.
    let routed = state.modules.callbacks().presence_router.get_users_for_states(std::slice::from_ref(&update)).await?;
    state.storage.set_presence(&update, routed.into_keys().collect()).await?;
    Ok(Json(json!({})))
}

/// `GET /presence/{user_id}/status`.
pub(super) async fn get_status(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(user): MPath<String>,
) -> ApiResult<Json<Value>> {
    require_enabled(&state)?;
    let user_id = extract_user(&user)?;
    if !presence_visible(&state, &auth.user_id, &user_id).await? {
        return Err(ApiError::forbidden("You are not allowed to see their presence."));
    }
    let record =
        state.storage.presence(&user_id).await?.ok_or_else(|| ApiError::not_found("Presence state not found"))?;
    Ok(Json(presence_content(&record.state)))
}

/// Whether `observer` may see `observed`'s presence: themselves, a user they share a
/// joined room with (Synapse's `is_visible`; a stranger gets 403), or one the presence
/// router says they are interested in.
async fn presence_visible(state: &AppState, observer: &UserId, observed: &UserId) -> ApiResult<bool> {
    if observer == observed {
        return Ok(true);
    }
    let router = &state.modules.callbacks().presence_router;
    match router.get_interested_users(observer).await? {
        InterestedUsers::All => return Ok(true),
        InterestedUsers::Users(users) if users.contains(observed) => return Ok(true),
        InterestedUsers::Users(_) => {}
    }
    let theirs = state.storage.rooms_with_membership(observed, "join").await?;
    if theirs.is_empty() {
        return Ok(false);
    }
    let mine = state.storage.rooms_with_membership(observer, "join").await?;
    Ok(mine.iter().any(|room| theirs.contains(room)))
}

/// The `content` of an `m.presence` event.
pub(super) fn presence_content(state: &UserPresenceState) -> Value {
    json!({
        "presence": state.state,
        "status_msg": state.status_msg,
        "last_active_ago": now_ms().saturating_sub(state.last_active_ts),
        "currently_active": state.currently_active,
    })
}
