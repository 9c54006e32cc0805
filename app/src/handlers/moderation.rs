//! Moderation: kick, ban, unban (membership changes through the send path, with the
//! power-level checks of the auth rules and Synapse's `M_BAD_STATE` answers), forget,
//! redactions, `/context` and event reports.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::{
    types::{JsonObject, OwnedEventId, OwnedUserId, RoomId},
    ErrCode,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{extract_user, parse_id, ApiError, ApiResult, Auth, JsonBody, MPath, MQuery, OptionalJsonBody},
    rooms::{self, client_event, membership_of, Actor},
    state::{now_ms, AppState},
    storage::{EventReport, Forget, TxnClient, TxnKey},
};

fn room_id(text: &str) -> ApiResult<mxmod::types::OwnedRoomId> {
    parse_id(text, "room ID")
}

fn event_id(text: &str) -> ApiResult<OwnedEventId> {
    parse_id::<OwnedEventId>(text, "event ID")
}

/// The body of `kick`, `ban` and `unban`.
#[derive(Deserialize)]
pub(super) struct TargetRequest {
    user_id: Option<String>,
    reason: Option<String>,
}

impl TargetRequest {
    fn target(&self) -> ApiResult<OwnedUserId> {
        let user = self
            .user_id
            .as_deref()
            .ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing params: ['user_id']"))?;
        extract_user(user)
    }

    fn extra(self) -> JsonObject {
        let mut extra = JsonObject::new();
        if let Some(reason) = self.reason {
            extra.insert("reason".to_owned(), reason.into());
        }
        extra
    }
}

/// The membership actions of this file, for Synapse's checks on the target's current
/// membership (`M_BAD_STATE`) made before the auth rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Kick,
    Ban,
    Unban,
}

async fn act(state: &Arc<AppState>, auth: &Auth, room: &str, body: TargetRequest, action: Action) -> ApiResult<()> {
    let room_id = room_id(room)?;
    let target = body.target()?;
    let room_state = state.storage.current_state(&room_id).await?.ok_or_else(|| ApiError::not_found("Unknown room"))?;
    let current = membership_of(&room_state, &target);
    let bad_state = |text: String| ApiError::new(403, ErrCode::custom("M_BAD_STATE"), text);
    match (action, current.as_deref()) {
        (Action::Unban, Some("ban")) | (Action::Ban, _) => {}
        (Action::Unban, current) => {
            return Err(bad_state(format!(
                "Cannot unban user who was not banned (membership={})",
                current.unwrap_or("None")
            )))
        }
        (Action::Kick, Some("ban")) => return Err(bad_state("Cannot kick user who was banned".to_owned())),
        (Action::Kick, _) => {}
    }
    let membership = if action == Action::Ban { "ban" } else { "leave" };
    rooms::update_membership(state, &Actor::from(auth), &target, &room_id, membership, body.extra()).await?;
    Ok(())
}

/// `POST /rooms/{room_id}/kick`.
pub(super) async fn kick(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<TargetRequest>,
) -> ApiResult<Json<Value>> {
    act(&state, &auth, &room, body, Action::Kick).await?;
    Ok(Json(json!({})))
}

/// `POST /rooms/{room_id}/ban`.
pub(super) async fn ban(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<TargetRequest>,
) -> ApiResult<Json<Value>> {
    act(&state, &auth, &room, body, Action::Ban).await?;
    Ok(Json(json!({})))
}

/// `POST /rooms/{room_id}/unban`.
pub(super) async fn unban(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<TargetRequest>,
) -> ApiResult<Json<Value>> {
    act(&state, &auth, &room, body, Action::Unban).await?;
    Ok(Json(json!({})))
}

/// `POST /rooms/{room_id}/forget`: only after leaving (400 while still in the room, as
/// Synapse answers); the room then leaves the user's `/sync`.
pub(super) async fn forget(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    OptionalJsonBody(_body): OptionalJsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    match state.storage.forget_room(&auth.user_id, &room_id).await? {
        Forget::Forgotten => Ok(Json(json!({}))),
        Forget::StillInRoom(_) => {
            Err(ApiError::new(400, ErrCode::UNKNOWN, format!("User {} in room {room_id}", auth.user_id)))
        }
    }
}

/// `PUT /rooms/{room_id}/redact/{event_id}/{txn_id}`: counted against `rc_message` like a
/// send; a retried transaction answers the first redaction.
pub(super) async fn redact(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, event, txn_id)): MPath<(String, String, String)>,
    JsonBody(content): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let redacts = event_id(&event)?;
    if content.get("reason").is_some_and(|reason| !reason.is_string()) {
        return Err(ApiError::bad_json("`reason` must be a string"));
    }
    let client = TxnClient::Device(auth.device_id.clone());
    let txn = TxnKey::redact(auth.user_id.clone(), client, &room_id, redacts.as_str(), &txn_id);
    if let Err(limited) = state.limits.message.check(&auth.user_id) {
        if state.storage.txn_event(&txn).await?.is_none() {
            return Err(limited.into());
        }
    }
    let event_id = rooms::redact(&state, &Actor::from(&auth), &room_id, &redacts, content, txn).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

/// `POST /rooms/{room_id}/report/{event_id}`: 404 for an event that does not exist or
/// that the reporter cannot see (Synapse answers both alike).
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, event)): MPath<(String, String)>,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let reason = match body.get("reason") {
        None => None,
        Some(Value::String(reason)) => Some(reason.clone()),
        Some(_) => return Err(ApiError::bad_json("Param 'reason' must be a string")),
    };
    let score = match body.get("score") {
        None => None,
        Some(score) => Some(score.as_i64().ok_or_else(|| ApiError::bad_json("Param 'score' must be an integer"))?),
    };
    let not_found = || ApiError::not_found("Unable to report event: it does not exist or you aren't able to see it.");
    let visible = match state.storage.current_state(&room_id).await? {
        Some(room_state) => membership_of(&room_state, &auth.user_id).as_deref() == Some("join"),
        None => false,
    };
    let stored = state.storage.event(&event).await?.filter(|stored| visible && stored.event.room_id == room_id);
    let stored = stored.ok_or_else(not_found)?;
    let report = EventReport {
        room_id,
        event_id: stored.event.event_id,
        user_id: auth.user_id.clone(),
        reason,
        score,
        received_ts: now_ms(),
    };
    state.storage.report_event(report).await?;
    Ok(Json(json!({})))
}

/// Most events `/context` returns around its event.
const MAX_CONTEXT_LIMIT: usize = 100;

/// `GET /rooms/{room_id}/context/{event_id}` query.
#[derive(Deserialize)]
pub(super) struct ContextQuery {
    limit: Option<usize>,
}

/// `GET /rooms/{room_id}/context/{event_id}`: the event, up to `limit` events around it
/// (half before, half after, as Synapse splits it), the room state at the last event
/// returned, and pagination tokens for `/messages`. Members only.
pub(super) async fn context(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, event)): MPath<(String, String)>,
    MQuery(query): MQuery<ContextQuery>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    joined(&state, &auth, &room_id).await?;
    let limit = query.limit.unwrap_or(10).min(MAX_CONTEXT_LIMIT);
    let stored = state
        .storage
        .event(&event)
        .await?
        .filter(|stored| stored.event.room_id == room_id)
        .ok_or_else(|| ApiError::not_found("Event not found."))?;
    let position = stored.stream_ordering;
    let before_limit = limit / 2;
    let after_limit = limit - before_limit;
    let before = if before_limit == 0 {
        Vec::new()
    } else {
        state.storage.room_events(&room_id, position - 1, true, before_limit).await?
    };
    let after = if after_limit == 0 {
        Vec::new()
    } else {
        state.storage.room_events(&room_id, position, false, after_limit).await?
    };
    let first = before.last().map_or(position, |e| e.stream_ordering);
    let last = after.last().map_or(position, |e| e.stream_ordering);
    let room_state = state.storage.state_at(&room_id, last).await?.unwrap_or_default();
    let me = Some(auth.user_id.as_ref());
    let render = |events: &[crate::storage::StoredEvent]| -> Vec<Value> {
        events.iter().map(|e| client_event(&e.event, e.txn_id.as_deref(), me)).collect()
    };
    Ok(Json(json!({
        "event": client_event(&stored.event, stored.txn_id.as_deref(), me),
        "events_before": render(&before),
        "events_after": render(&after),
        "state": room_state.iter().map(|(_, e)| client_event(e, None, None)).collect::<Vec<_>>(),
        "start": format!("t{}", first - 1),
        "end": format!("t{last}"),
    })))
}

/// 403 unless the user is joined to the room.
async fn joined(state: &AppState, auth: &Auth, room_id: &RoomId) -> ApiResult<()> {
    let room_state = state.storage.current_state(room_id).await?;
    match room_state.as_deref().and_then(|s| membership_of(s, &auth.user_id)).as_deref() {
        Some("join") => Ok(()),
        _ => Err(ApiError::forbidden(format!("User {} not in room {room_id}", auth.user_id))),
    }
}
