//! Typing notifications, read receipts and read markers: `PUT /rooms/{id}/typing/{userId}`,
//! `POST /rooms/{id}/receipt/{type}/{eventId}` and `POST /rooms/{id}/read_markers`, with
//! Synapse's checks and answers. What they write reaches `/sync` as the room's ephemeral
//! events (`m.typing`, `m.receipt`) and room account data (`m.fully_read`).

use std::{sync::Arc, time::Duration};

use axum::{extract::State, Json};
use mxmod::{
    types::{JsonObject, OwnedEventId, OwnedRoomId, RoomId},
    ErrCode,
};
use serde_json::{json, Value};

use crate::{
    http::{extract_user, parse_id, ApiError, ApiResult, Auth, JsonBody, MPath},
    rooms::membership_of,
    state::{now_ms, AppState},
    storage::{Receipt, StoredEvent},
    typing::{DEFAULT_TIMEOUT, MAX_TIMEOUT},
};

/// `m.read`, the receipt everyone in the room sees.
const READ: &str = "m.read";
/// `m.read.private`, seen only by its user.
const READ_PRIVATE: &str = "m.read.private";
/// `m.fully_read`, the read marker (room account data).
const FULLY_READ: &str = "m.fully_read";

/// 403 unless the user is joined to the room (Synapse's `check_user_in_room`).
async fn require_joined(state: &AppState, auth: &Auth, room_id: &RoomId) -> ApiResult<Arc<mxmod::types::StateMap>> {
    let not_in_room = || ApiError::forbidden(format!("User {} not in room {room_id}", auth.user_id));
    let room_state = state.storage.current_state(room_id).await?.ok_or_else(not_in_room)?;
    match membership_of(&room_state, &auth.user_id).as_deref() {
        Some("join") => Ok(room_state),
        _ => Err(not_in_room()),
    }
}

/// `PUT /rooms/{room_id}/typing/{user_id}`: `{typing, timeout}`, the timeout capped at two
/// minutes (Synapse's cap, 30 s when absent). Only for oneself (400 `M_FORBIDDEN`, as
/// Synapse's `AuthError(400)`), only in a room one has joined (403).
pub(super) async fn typing(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, user)): MPath<(String, String)>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id: OwnedRoomId = parse_id(&room, "room ID")?;
    let target = extract_user(&user)?;
    let typing = body
        .get("typing")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::bad_json("`typing` must be true or false"))?;
    let timeout = match body.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT,
        Some(value) => Duration::from_millis(
            value.as_u64().ok_or_else(|| ApiError::bad_json("`timeout` must be a non-negative integer"))?,
        ),
    };
    if target.server_name() != state.settings.server_name {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "User is not hosted on this homeserver"));
    }
    if target != auth.user_id {
        return Err(ApiError::new(400, ErrCode::FORBIDDEN, "Cannot set another user's typing state"));
    }
    if auth.shadow_banned {
        // As Synapse: a delay, then an answer as if it worked.
        crate::shadow_ban::delay(&state.settings.limits).await;
        return Ok(Json(json!({})));
    }
    let room_state = require_joined(&state, &auth, &room_id).await?;
    let until = typing.then(|| tokio::time::Instant::now() + timeout.min(MAX_TIMEOUT));
    state.typing.set(&room_state, &room_id, &auth.user_id, until);
    Ok(Json(json!({})))
}

/// Whether `event` belongs to `thread_id` as a receipt's thread (Synapse's
/// `_is_event_in_thread`, for events this server holds: `main` is every event outside a
/// thread; a thread is its root and the events with an `m.thread` relation to it).
fn in_thread(event: &StoredEvent, thread_id: &str) -> bool {
    let relation = event.event.content.get("m.relates_to");
    let thread_root = relation
        .filter(|relation| relation.get("rel_type").and_then(Value::as_str) == Some("m.thread"))
        .and_then(|relation| relation.get("event_id").and_then(Value::as_str));
    match thread_id {
        "main" => thread_root.is_none(),
        thread => thread_root == Some(thread) || event.event.event_id.as_str() == thread,
    }
}

/// Stores a receipt after Synapse's checks: the user must be joined (403); an event this
/// server does not know in the room is ignored (200, nothing stored).
async fn receipt(
    state: &AppState,
    auth: &Auth,
    room_id: &RoomId,
    receipt_type: &str,
    event_id: OwnedEventId,
    thread_id: Option<String>,
) -> ApiResult<()> {
    require_joined(state, auth, room_id).await?;
    let Some(event) = state.storage.event(event_id.as_str()).await?.filter(|e| e.event.room_id == room_id) else {
        return Ok(());
    };
    if let Some(thread) = &thread_id {
        if !in_thread(&event, thread) {
            return Err(ApiError::invalid_param(format!("event_id {event_id} is not related to thread {thread}")));
        }
    }
    let receipt = Receipt {
        room_id: room_id.to_owned(),
        user_id: auth.user_id.clone(),
        receipt_type: receipt_type.to_owned(),
        thread_id,
        event_id,
        ts: now_ms(),
    };
    state.storage.set_receipt(receipt).await?;
    Ok(())
}

/// Moves the read marker (`m.fully_read` room account data) to `event_id`, never back:
/// 404 for an event not in the room, as Synapse's `get_event_ordering` answers.
async fn read_marker(state: &AppState, auth: &Auth, room_id: &RoomId, event_id: &OwnedEventId) -> ApiResult<()> {
    let not_found = || ApiError::not_found("Event not found");
    let new = state.storage.event(event_id.as_str()).await?.filter(|e| e.event.room_id == room_id);
    let new_position = new.ok_or_else(not_found)?.stream_ordering;
    let existing = state.storage.room_account_data(&auth.user_id, room_id, FULLY_READ).await?;
    let old_position = match existing.as_ref().and_then(|c| c.get("event_id")).and_then(Value::as_str) {
        Some(old) => state.storage.event(old).await?.filter(|e| e.event.room_id == room_id).map(|e| e.stream_ordering),
        None => None,
    };
    if old_position.is_some_and(|old| old >= new_position) {
        return Ok(());
    }
    let mut content = JsonObject::new();
    content.insert("event_id".to_owned(), event_id.as_str().into());
    // Written only if the marker is still the one compared with above.
    let update: crate::storage::UpdateAccountData = Box::new(move |stored| (stored == existing).then_some(content));
    state.storage.update_room_account_data(&auth.user_id, room_id, FULLY_READ, update).await?;
    // The `on_account_data_updated` callback belongs here once it exists.
    Ok(())
}

/// `POST /rooms/{room_id}/receipt/{receipt_type}/{event_id}`: `m.read`, `m.read.private`
/// (seen only by the user) or `m.fully_read` (the read marker), with an optional
/// `thread_id`.
pub(super) async fn post_receipt(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, receipt_type, event)): MPath<(String, String, String)>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let ids = RoomId::parse(room.as_str()).ok().zip(OwnedEventId::try_from(event.as_str()).ok());
    let Some((room_id, event_id)) = ids else {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "A valid room ID and event ID must be specified"));
    };
    if ![READ, READ_PRIVATE, FULLY_READ].contains(&receipt_type.as_str()) {
        return Err(ApiError::new(
            400,
            ErrCode::UNKNOWN,
            format!("Receipt type must be {READ}, {READ_PRIVATE}, {FULLY_READ}"),
        ));
    }
    let thread_id = match body.get("thread_id") {
        None => None,
        Some(Value::String(thread)) if !thread.is_empty() => Some(thread.clone()),
        Some(_) => return Err(ApiError::invalid_param("thread_id field must be a non-empty string")),
    };
    if receipt_type == FULLY_READ {
        if thread_id.is_some() {
            return Err(ApiError::invalid_param(format!("thread_id is not compatible with {FULLY_READ} receipts.")));
        }
        read_marker(&state, &auth, &room_id, &event_id).await?;
    } else {
        receipt(&state, &auth, &room_id, &receipt_type, event_id, thread_id).await?;
    }
    Ok(Json(json!({})))
}

/// `POST /rooms/{room_id}/read_markers`: `m.fully_read`, `m.read` and `m.read.private`,
/// each optional; other keys are ignored, as Synapse ignores them.
pub(super) async fn read_markers(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id: OwnedRoomId = parse_id(&room, "room ID")?;
    let mut wanted = Vec::new();
    for receipt_type in [READ, READ_PRIVATE, FULLY_READ] {
        match body.get(receipt_type) {
            None | Some(Value::Null) => {}
            Some(Value::String(event)) => wanted.push((receipt_type, parse_id::<OwnedEventId>(event, "event ID")?)),
            Some(_) => return Err(ApiError::bad_json(format!("`{receipt_type}` must be an event ID"))),
        }
    }
    for (receipt_type, event_id) in wanted {
        if receipt_type == FULLY_READ {
            read_marker(&state, &auth, &room_id, &event_id).await?;
        } else {
            receipt(&state, &auth, &room_id, receipt_type, event_id, None).await?;
        }
    }
    Ok(Json(json!({})))
}
