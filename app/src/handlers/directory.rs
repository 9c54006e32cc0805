//! The room directory: aliases, published rooms, `/publicRooms`, with
//! `user_may_create_room_alias`, `user_may_publish_room` and
//! `check_visibility_can_be_modified`.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::{
    types::{OwnedRoomAliasId, OwnedRoomId, RoomAliasId},
    ErrCode,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{parse_id, ApiError, ApiResult, Auth, JsonBody, MPath},
    rooms::{membership_of, user_level},
    state::AppState,
};

fn alias_id(text: &str) -> ApiResult<OwnedRoomAliasId> {
    RoomAliasId::parse(text).map_err(|_| ApiError::invalid_param(format!("`{text}` is not a valid room alias")))
}

/// `GET /directory/room/{alias}`.
pub(super) async fn get_alias(
    State(state): State<Arc<AppState>>,
    MPath(alias): MPath<String>,
) -> ApiResult<Json<Value>> {
    let alias = alias_id(&alias)?;
    let (room_id, _) = state
        .storage
        .alias(alias.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Room alias {alias} not found")))?;
    Ok(Json(json!({ "room_id": room_id, "servers": [state.settings.server_name] })))
}

/// The `PUT /directory/room/{alias}` body.
#[derive(Deserialize)]
pub(super) struct PutAlias {
    room_id: String,
}

/// `PUT /directory/room/{alias}`.
pub(super) async fn put_alias(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(alias): MPath<String>,
    JsonBody(body): JsonBody<PutAlias>,
) -> ApiResult<Json<Value>> {
    crate::validate::alias(&alias)?;
    let alias = alias_id(&alias)?;
    if alias.server_name() != state.settings.server_name {
        return Err(ApiError::invalid_param("Room alias must be local"));
    }
    let room_id: OwnedRoomId = parse_id(&body.room_id, "room ID")?;
    if !state.storage.room_exists(&room_id).await? {
        return Err(ApiError::not_found("Unknown room"));
    }
    state.modules.callbacks().spam_checker.user_may_create_room_alias(&auth.user_id, &alias).await?;
    if !state.storage.create_alias(alias.as_str(), &room_id, &auth.user_id).await? {
        return Err(ApiError::new(409, ErrCode::UNKNOWN, format!("Room alias {alias} already exists")));
    }
    Ok(Json(json!({})))
}

/// `DELETE /directory/room/{alias}`: its creator or a server admin.
pub(super) async fn delete_alias(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(alias): MPath<String>,
) -> ApiResult<Json<Value>> {
    let alias = alias_id(&alias)?;
    let (_, creator) = state
        .storage
        .alias(alias.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Room alias {alias} not found")))?;
    if creator != auth.user_id && !auth.is_admin {
        return Err(ApiError::forbidden("You don't have permission to delete the alias."));
    }
    state.storage.delete_alias(alias.as_str()).await?;
    Ok(Json(json!({})))
}

/// `GET /directory/list/room/{room_id}`.
pub(super) async fn get_visibility(
    State(state): State<Arc<AppState>>,
    MPath(room): MPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id: OwnedRoomId = parse_id(&room, "room ID")?;
    if !state.storage.room_exists(&room_id).await? {
        return Err(ApiError::not_found("Unknown room"));
    }
    let visibility = if state.storage.room_is_public(&room_id).await? { "public" } else { "private" };
    Ok(Json(json!({ "visibility": visibility })))
}

/// The `PUT /directory/list/room/{room_id}` body.
#[derive(Deserialize)]
pub(super) struct PutVisibility {
    visibility: String,
}

/// `PUT /directory/list/room/{room_id}`: room members with the power to change the
/// canonical alias; `user_may_publish_room` then `check_visibility_can_be_modified`.
pub(super) async fn put_visibility(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<PutVisibility>,
) -> ApiResult<Json<Value>> {
    let room_id: OwnedRoomId = parse_id(&room, "room ID")?;
    if !matches!(body.visibility.as_str(), "public" | "private") {
        return Err(ApiError::invalid_param("`visibility` must be `public` or `private`"));
    }
    let room_state = state.storage.current_state(&room_id).await?.ok_or_else(|| ApiError::not_found("Unknown room"))?;
    if membership_of(&room_state, &auth.user_id).as_deref() != Some("join")
        || user_level(&room_state, &auth.user_id) < 50
    {
        return Err(ApiError::forbidden("You don't have permission to change this room's visibility"));
    }
    let callbacks = state.modules.callbacks();
    if body.visibility == "public" {
        callbacks.spam_checker.user_may_publish_room(&auth.user_id, &room_id).await?;
        // Synapse asks only when publishing, with its own message.
        callbacks
            .third_party_rules
            .check_visibility_can_be_modified(&room_id, &room_state, &body.visibility)
            .await
            .map_err(|mut error| {
                if error.errcode == ErrCode::UNKNOWN && error.status == 403 {
                    error.error = "Not allowed to publish room".to_owned();
                }
                error
            })?;
    }
    state.storage.set_room_public(&room_id, body.visibility == "public").await?;
    Ok(Json(json!({})))
}

/// `GET /publicRooms`.
pub(super) async fn public_rooms(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let mut chunk = Vec::new();
    for room_id in state.storage.public_rooms().await? {
        let Some(room_state) = state.storage.current_state(&room_id).await? else { continue };
        let text = |event_type: &str, key: &str| {
            room_state.get(event_type, "").and_then(|e| e.content.get(key)).cloned().unwrap_or(Value::Null)
        };
        let joined = room_state.iter().filter(|(_, e)| e.membership() == Some(mxmod::types::Membership::Join)).count();
        chunk.push(json!({
            "room_id": room_id,
            "name": text("m.room.name", "name"),
            "topic": text("m.room.topic", "topic"),
            "canonical_alias": text("m.room.canonical_alias", "alias"),
            "join_rule": text("m.room.join_rules", "join_rule"),
            "num_joined_members": joined,
            "world_readable": false,
            "guest_can_join": false,
        }));
    }
    let total = chunk.len();
    Ok(Json(json!({ "chunk": chunk, "total_room_count_estimate": total })))
}
