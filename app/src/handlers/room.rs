//! Rooms: create, send, state, events, messages, members and memberships. Creating rooms
//! and sending events count against `rc_message`, joins against `rc_joins.local`, invites
//! against `rc_invites.*`.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::types::{JsonObject, OwnedUserId, RoomId, StateMap};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    client_events::{client_events, one_client_event},
    http::{extract_user, parse_id, ApiError, ApiResult, Auth, JsonBody, MPath, MQuery, OptionalJsonBody},
    ratelimit,
    rooms::{self, membership_of, Actor},
    state::AppState,
    storage::{TxnClient, TxnKey},
};

fn room_id(text: &str) -> ApiResult<mxmod::types::OwnedRoomId> {
    parse_id(text, "room ID")
}

/// The room's state if the user may see it (joined, or left with history before).
async fn visible_state(state: &AppState, auth: &Auth, room_id: &RoomId) -> ApiResult<Arc<StateMap>> {
    let not_in_room = || ApiError::forbidden(format!("User {} not in room {room_id}", auth.user_id));
    let room_state = state.storage.current_state(room_id).await?.ok_or_else(not_in_room)?;
    match membership_of(&room_state, &auth.user_id).as_deref() {
        Some("join") => Ok(room_state),
        _ => Err(not_in_room()),
    }
}

/// `POST /createRoom`.
pub(super) async fn create_room(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    OptionalJsonBody(body): OptionalJsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    ratelimit::check_for_user(&state, &state.limits.message, "rc_message", &auth.user_id, &auth.user_id).await?;
    let created = rooms::create_room(&state, &Actor::from(&auth), body).await?;
    let mut answer = json!({ "room_id": created.room_id });
    if let Some(alias) = created.alias {
        answer["room_alias"] = alias.as_str().into();
    }
    Ok(Json(answer))
}

/// The `POST /rooms/{room_id}/upgrade` body.
#[derive(serde::Deserialize)]
pub(super) struct UpgradeRequest {
    new_version: String,
}

/// `POST /rooms/{room_id}/upgrade` (rate limited as a request, like Synapse's).
pub(super) async fn upgrade(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<UpgradeRequest>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    state.limits.message.check(&auth.user_id)?;
    let new_room = rooms::upgrade_room(&state, &Actor::from(&auth), &room_id, &body.new_version).await?;
    Ok(Json(json!({ "replacement_room": new_room })))
}

/// `PUT /rooms/{room_id}/send/{event_type}/{txn_id}`.
pub(super) async fn send_message(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, event_type, txn_id)): MPath<(String, String, String)>,
    JsonBody(content): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let txn =
        TxnKey::send(auth.user_id.clone(), TxnClient::Device(auth.device_id.clone()), &room_id, &event_type, &txn_id);
    if let Err(limited) =
        ratelimit::check_for_user(&state, &state.limits.message, "rc_message", &auth.user_id, &auth.user_id).await
    {
        // A retried transaction only returns the event it already made.
        if state.storage.txn_event(&txn).await?.is_none() {
            return Err(limited);
        }
    }
    let event_id = rooms::send(&state, &Actor::from(&auth), &room_id, &event_type, None, content, Some(txn)).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

/// The path of a state event; `state_key` is empty when the path ends at the type.
#[derive(Deserialize)]
pub(super) struct StatePath {
    room_id: String,
    event_type: String,
    #[serde(default)]
    state_key: String,
}

/// `PUT /rooms/{room_id}/state/{event_type}[/{state_key}]`.
pub(super) async fn put_state(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(path): MPath<StatePath>,
    JsonBody(content): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&path.room_id)?;
    ratelimit::check_for_user(&state, &state.limits.message, "rc_message", &auth.user_id, &auth.user_id).await?;
    let actor = Actor::from(&auth);
    let event_id =
        rooms::send(&state, &actor, &room_id, &path.event_type, Some(&path.state_key), content, None).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

/// `GET /rooms/{room_id}/state`.
pub(super) async fn get_state(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let room_state = visible_state(&state, &auth, &room_id).await?;
    let served: Vec<_> = room_state.iter().map(|(_, event)| (event, None)).collect();
    let events = client_events(&state, served, None).await?;
    Ok(Json(Value::Array(events)))
}

/// `GET /rooms/{room_id}/state/{event_type}[/{state_key}]`: the event's content.
pub(super) async fn get_state_event(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(path): MPath<StatePath>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&path.room_id)?;
    let room_state = visible_state(&state, &auth, &room_id).await?;
    room_state
        .get(&path.event_type, &path.state_key)
        .map(|event| Json(Value::Object(event.content.clone())))
        .ok_or_else(|| ApiError::not_found("Event not found."))
}

/// `GET /rooms/{room_id}/event/{event_id}`.
pub(super) async fn get_event(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((room, event_id)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    visible_state(&state, &auth, &room_id).await?;
    let stored = state
        .storage
        .event(&event_id)
        .await?
        .filter(|stored| stored.event.room_id == room_id)
        .ok_or_else(|| ApiError::not_found("Could not find event"))?;
    Ok(Json(one_client_event(&state, &stored.event, stored.txn_id.as_deref(), Some(&auth.user_id)).await?))
}

/// `GET /rooms/{room_id}/messages` query.
#[derive(Deserialize)]
pub(super) struct MessagesQuery {
    from: Option<String>,
    dir: Option<String>,
    limit: Option<usize>,
}

/// Parses a pagination or sync token (`s<events>_<presence>` or `t<events>`).
pub(super) fn stream_position(token: &str) -> ApiResult<i64> {
    let digits = token.trim_start_matches(['s', 't']);
    let digits = digits.split('_').next().unwrap_or_default();
    digits.parse().map_err(|_| ApiError::invalid_param(format!("Invalid token `{token}`")))
}

/// `GET /rooms/{room_id}/messages`: pagination in both directions.
pub(super) async fn messages(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    MQuery(query): MQuery<MessagesQuery>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    visible_state(&state, &auth, &room_id).await?;
    let backwards = match query.dir.as_deref() {
        None | Some("b") => true,
        Some("f") => false,
        Some(other) => return Err(ApiError::invalid_param(format!("Unknown dir `{other}`"))),
    };
    let limit = query.limit.unwrap_or(10).clamp(1, 1000);
    let from = match &query.from {
        Some(token) => stream_position(token)?,
        None if backwards => state.storage.stream_positions().await?.events,
        None => 0,
    };
    let events = state.storage.room_events(&room_id, from, backwards, limit).await?;
    let end = match events.last() {
        Some(last) if events.len() == limit => Some(if backwards {
            format!("t{}", last.stream_ordering - 1)
        } else {
            format!("t{}", last.stream_ordering)
        }),
        _ => None,
    };
    let served: Vec<_> = events.iter().map(|stored| (&stored.event, stored.txn_id.as_deref())).collect();
    let chunk = client_events(&state, served, Some(&auth.user_id)).await?;
    let mut answer = json!({ "start": format!("t{from}"), "chunk": chunk });
    if let Some(end) = end {
        answer["end"] = end.into();
    }
    Ok(Json(answer))
}

/// `GET /rooms/{room_id}/members`.
pub(super) async fn members(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let room_state = visible_state(&state, &auth, &room_id).await?;
    let members: Vec<_> = room_state
        .iter()
        .filter(|((event_type, _), _)| event_type == "m.room.member")
        .map(|(_, event)| (event, None))
        .collect();
    let chunk = client_events(&state, members, None).await?;
    Ok(Json(json!({ "chunk": chunk })))
}

/// `GET /rooms/{room_id}/joined_members`.
pub(super) async fn joined_members(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let room_state = visible_state(&state, &auth, &room_id).await?;
    let mut joined = serde_json::Map::new();
    for (_, event) in room_state.iter().filter(|(_, e)| e.membership() == Some(mxmod::types::Membership::Join)) {
        joined.insert(
            event.state_key.as_deref().unwrap_or_default().to_owned(),
            json!({ "display_name": event.content.get("displayname"), "avatar_url": event.content.get("avatar_url") }),
        );
    }
    Ok(Json(json!({ "joined": joined })))
}

/// `GET /joined_rooms`.
pub(super) async fn joined_rooms(State(state): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    let rooms = state.storage.rooms_with_membership(&auth.user_id, "join").await?;
    Ok(Json(json!({ "joined_rooms": rooms })))
}

/// The `POST /rooms/{room_id}/invite` body: a user, or a third-party ID.
#[derive(Deserialize)]
pub(super) struct InviteRequest {
    user_id: Option<String>,
    medium: Option<String>,
    address: Option<String>,
    reason: Option<String>,
}

/// `POST /rooms/{room_id}/invite`: `user_may_invite`, or for a third-party ID
/// `user_may_send_3pid_invite` and `check_threepid_can_be_invited`.
pub(super) async fn invite(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    JsonBody(body): JsonBody<InviteRequest>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let actor = Actor::from(&auth);
    let mut extra = JsonObject::new();
    if let Some(reason) = body.reason {
        extra.insert("reason".to_owned(), reason.into());
    }
    match (body.user_id, body.medium, body.address) {
        (Some(user), _, _) => {
            let invitee: OwnedUserId = extract_user(&user)?;
            let limits = &state.limits;
            let limit = |name| ratelimit::user_limit(&state, name, &auth.user_id);
            let (per_issuer, per_room, per_user) = (
                limit("rc_invites.per_issuer").await?,
                limit("rc_invites.per_room").await?,
                limit("rc_invites.per_user").await?,
            );
            // Look at all three first, so a refusal by one uses up none of the others.
            limits.invites_per_issuer.peek_as(&auth.user_id, per_issuer)?;
            limits.invites_per_room.peek_as(&room_id, per_room)?;
            limits.invites_per_user.peek_as(&invitee, per_user)?;
            limits.invites_per_issuer.check_as(&auth.user_id, per_issuer)?;
            limits.invites_per_room.check_as(&room_id, per_room)?;
            limits.invites_per_user.check_as(&invitee, per_user)?;
            rooms::update_membership(&state, &actor, &invitee, &room_id, "invite", extra).await?;
        }
        (None, Some(medium), Some(address)) => {
            let callbacks = state.modules.callbacks();
            callbacks.spam_checker.user_may_send_3pid_invite(&auth.user_id, &medium, &address, &room_id).await?;
            let room_state = visible_state(&state, &auth, &room_id).await?;
            callbacks.third_party_rules.check_threepid_can_be_invited(&medium, &address, &room_state).await?;
            if auth.shadow_banned {
                crate::shadow_ban::delay(&state.settings.limits).await;
                return Ok(Json(json!({})));
            }
            // No identity server is configured: the invite is recorded as a
            // third-party invite event whose token only this server knows.
            let token = rand::distr::SampleString::sample_string(&rand::distr::Alphanumeric, &mut rand::rng(), 24);
            let display = address.split('@').next().map(|local| format!("{local}@...")).unwrap_or_default();
            let content =
                json!({ "display_name": display, "key_validity_url": "", "public_key": "", "medium": medium });
            rooms::send(
                &state,
                &actor,
                &room_id,
                "m.room.third_party_invite",
                Some(&token),
                content.as_object().cloned().unwrap_or_default(),
                None,
            )
            .await?;
        }
        _ => return Err(ApiError::bad_json("Give `user_id`, or `medium` and `address`")),
    }
    Ok(Json(json!({})))
}

/// `POST /join/{room_id_or_alias}` and `POST /rooms/{room_id}/join`.
pub(super) async fn join(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(target): MPath<String>,
    OptionalJsonBody(_body): OptionalJsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = rooms::resolve_room(&state, &target).await?;
    if let Err(limited) =
        ratelimit::check_for_user(&state, &state.limits.joins_local, "rc_joins.local", &auth.user_id, &auth.user_id)
            .await
    {
        // Joining a room one is already in changes nothing and is not limited.
        if !state.storage.rooms_with_membership(&auth.user_id, "join").await?.contains(&room_id) {
            return Err(limited);
        }
    }
    rooms::update_membership(&state, &Actor::from(&auth), &auth.user_id, &room_id, "join", JsonObject::new()).await?;
    Ok(Json(json!({ "room_id": room_id })))
}

/// `POST /rooms/{room_id}/leave`.
pub(super) async fn leave(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(room): MPath<String>,
    OptionalJsonBody(_body): OptionalJsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    rooms::update_membership(&state, &Actor::from(&auth), &auth.user_id, &room_id, "leave", JsonObject::new()).await?;
    Ok(Json(json!({})))
}
