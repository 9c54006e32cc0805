//! Room account data and tags: `GET/PUT /user/{userId}/rooms/{roomId}/account_data/{type}`
//! and `GET /user/{userId}/rooms/{roomId}/tags`, `PUT/DELETE .../tags/{tag}`. Tags are
//! the `m.tag` room account data (`{"tags": {tag: content}}`), the form `/sync` delivers
//! them in; each tag change is one read-modify-write in one storage transaction.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::{
    types::{JsonObject, OwnedRoomId, OwnedUserId},
    ErrCode,
};
use serde_json::{json, Value};

use crate::{
    http::{extract_user, ApiError, ApiResult, Auth, JsonBody, MPath},
    state::AppState,
    storage::UpdateAccountData,
};

/// The room account data type tags are kept in.
const TAGS: &str = "m.tag";

/// The user (who must be the requester, else 403 with `denied`) and the room of the path.
fn owner_and_room(auth: &Auth, user: &str, room: &str, denied: &str) -> ApiResult<(OwnedUserId, OwnedRoomId)> {
    let user_id = extract_user(user)?;
    if user_id != auth.user_id {
        return Err(ApiError::forbidden(denied));
    }
    let room_id =
        OwnedRoomId::try_from(room).map_err(|_| ApiError::invalid_param(format!("{room} is not a valid room ID")))?;
    Ok((user_id, room_id))
}

/// `GET /user/{user_id}/rooms/{room_id}/account_data/{type}`.
pub(super) async fn get_room_account_data(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, room, data_type)): MPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (user_id, room_id) = owner_and_room(&auth, &user, &room, "Cannot get account data for other users.")?;
    state
        .storage
        .room_account_data(&user_id, &room_id, &data_type)
        .await?
        .map(|content| Json(Value::Object(content)))
        .ok_or_else(|| ApiError::not_found("Room account data not found"))
}

/// `PUT /user/{user_id}/rooms/{room_id}/account_data/{type}`; `m.fully_read` only through
/// `/read_markers` (405 `M_BAD_JSON`, as Synapse answers).
pub(super) async fn put_room_account_data(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, room, data_type)): MPath<(String, String, String)>,
    JsonBody(content): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let (user_id, room_id) = owner_and_room(&auth, &user, &room, "Cannot add account data for other users.")?;
    if data_type == "m.fully_read" {
        return Err(ApiError::new(
            405,
            ErrCode::BAD_JSON,
            "Cannot set m.fully_read through this API. Use /rooms/!roomId:server.name/read_markers",
        ));
    }
    let update: UpdateAccountData = Box::new(move |_| Some(content));
    state.storage.update_room_account_data(&user_id, &room_id, &data_type, update).await?;
    // The `on_account_data_updated` callback belongs here once it exists.
    Ok(Json(json!({})))
}

/// `GET /user/{user_id}/rooms/{room_id}/tags`.
pub(super) async fn get_tags(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, room)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (user_id, room_id) = owner_and_room(&auth, &user, &room, "Cannot get tags for other users.")?;
    let stored = state.storage.room_account_data(&user_id, &room_id, TAGS).await?;
    let tags = stored.and_then(|mut content| content.remove("tags")).filter(Value::is_object);
    Ok(Json(json!({ "tags": tags.unwrap_or_else(|| json!({})) })))
}

/// The stored tags of `m.tag` content (an object, or empty when missing or malformed).
fn tags_of(content: Option<JsonObject>) -> JsonObject {
    match content.and_then(|mut content| content.remove("tags")) {
        Some(Value::Object(tags)) => tags,
        _ => JsonObject::new(),
    }
}

fn with_tags(tags: JsonObject) -> JsonObject {
    let mut content = JsonObject::new();
    content.insert("tags".to_owned(), Value::Object(tags));
    content
}

/// `PUT /user/{user_id}/rooms/{room_id}/tags/{tag}`: the body is the tag's content
/// (`order`, ...).
pub(super) async fn put_tag(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, room, tag)): MPath<(String, String, String)>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let (user_id, room_id) = owner_and_room(&auth, &user, &room, "Cannot add tags for other users.")?;
    if body.get("order").is_some_and(|order| !order.is_number()) {
        return Err(ApiError::bad_json("`order` must be a number"));
    }
    let update: UpdateAccountData = Box::new(move |stored| {
        let mut tags = tags_of(stored);
        tags.insert(tag, Value::Object(body));
        Some(with_tags(tags))
    });
    state.storage.update_room_account_data(&user_id, &room_id, TAGS, update).await?;
    // The `on_account_data_updated` callback belongs here once it exists.
    Ok(Json(json!({})))
}

/// `DELETE /user/{user_id}/rooms/{room_id}/tags/{tag}`: removing a missing tag changes
/// nothing and answers 200, as Synapse does.
pub(super) async fn delete_tag(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user, room, tag)): MPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (user_id, room_id) = owner_and_room(&auth, &user, &room, "Cannot add tags for other users.")?;
    let update: UpdateAccountData = Box::new(move |stored| {
        let mut tags = tags_of(stored);
        tags.remove(&tag).map(|_| with_tags(tags))
    });
    state.storage.update_room_account_data(&user_id, &room_id, TAGS, update).await?;
    // The `on_account_data_updated` callback belongs here once it exists.
    Ok(Json(json!({})))
}
