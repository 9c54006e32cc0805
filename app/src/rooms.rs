//! Room semantics: creating rooms, sending events, memberships, with every module
//! callback at the point Synapse calls it. On the send path third-party rules
//! (`check_event_allowed`) run before the spam checker (`check_event_for_spam`), as in
//! Synapse; `on_new_event` runs after the event is stored.

use std::sync::Arc;

use mxmod::{
    types::{
        Event, EventId, JsonObject, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, Requester, RoomAliasId,
        RoomId, StateMap, UserId,
    },
    ErrCode,
};
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult},
    state::{now_ms, AppState},
};

/// The room version new rooms get.
pub(crate) const ROOM_VERSION: &str = "10";

/// Who is acting, as the send path needs it.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub(crate) user_id: OwnedUserId,
    pub(crate) device_id: Option<String>,
    pub(crate) shadow_banned: bool,
    pub(crate) is_admin: bool,
}

impl From<&crate::http::Auth> for Actor {
    fn from(auth: &crate::http::Auth) -> Self {
        Self {
            user_id: auth.user_id.clone(),
            device_id: Some(auth.device_id.clone()),
            shadow_banned: auth.shadow_banned,
            is_admin: auth.is_admin,
        }
    }
}

fn new_event_id(state: &AppState) -> OwnedEventId {
    EventId::new_v1(&state.settings.server_name)
}

/// Builds an event of this server (not yet stored).
pub(crate) fn build_event(
    state: &AppState,
    room_id: &RoomId,
    sender: &UserId,
    event_type: &str,
    state_key: Option<&str>,
    content: JsonObject,
) -> Event {
    Event {
        event_id: new_event_id(state),
        room_id: room_id.to_owned(),
        sender: sender.to_owned(),
        event_type: event_type.into(),
        state_key: state_key.map(str::to_owned),
        content,
        origin_server_ts: now_ms(),
        unsigned: JsonObject::new(),
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// The membership of `user` in a room state.
pub(crate) fn membership_of(room_state: &StateMap, user: &UserId) -> Option<String> {
    room_state.get("m.room.member", user.as_str()).and_then(|e| e.membership()).map(|m| m.as_str().to_owned())
}

fn power_levels(room_state: &StateMap) -> JsonObject {
    room_state.get("m.room.power_levels", "").map(|e| e.content.clone()).unwrap_or_default()
}

fn level(value: Option<&Value>, default: i64) -> i64 {
    value.and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).unwrap_or(default)
}

/// A user's power level.
pub(crate) fn user_level(room_state: &StateMap, user: &UserId) -> i64 {
    let levels = power_levels(room_state);
    if levels.is_empty() {
        // Before power levels exist, the creator has full power.
        let creator = room_state.get("m.room.create", "").map(|e| e.sender.clone());
        return if creator.as_deref() == Some(user) { 100 } else { 0 };
    }
    let users_default = level(levels.get("users_default"), 0);
    level(levels.get("users").and_then(|u| u.get(user.as_str())), users_default)
}

fn required_level(room_state: &StateMap, event_type: &str, is_state: bool) -> i64 {
    let levels = power_levels(room_state);
    let default =
        if is_state { level(levels.get("state_default"), 50) } else { level(levels.get("events_default"), 0) };
    level(levels.get("events").and_then(|e| e.get(event_type)), default)
}

fn named_level(room_state: &StateMap, name: &str, default: i64) -> i64 {
    level(power_levels(room_state).get(name), default)
}

/// Stores a local event through the module checks: `check_event_allowed` (which may
/// replace the content), then `check_event_for_spam` for non-membership events; after
/// storing, `on_new_event` runs in the background.
pub(crate) async fn persist(
    state: &Arc<AppState>,
    mut event: Event,
    txn: Option<(&UserId, &str, &str)>,
    spam_check: bool,
) -> ApiResult<Event> {
    let room_state = state.storage.current_state(&event.room_id)?;
    let callbacks = state.modules.callbacks();
    if let Some(replacement) = callbacks.third_party_rules.check_event_allowed(&event, &room_state).await? {
        // Only the content of a local event can be replaced (as in Synapse).
        match replacement.get("content") {
            Some(Value::Object(content)) => event.content = content.clone(),
            _ => return Err(ApiError::new(500, ErrCode::UNKNOWN, "A module returned an invalid replacement event")),
        }
    }
    if spam_check {
        callbacks.spam_checker.check_event_for_spam(&event).await?;
    }
    state.storage.append_event(&event, txn)?;
    state.notify_change();
    state.metrics.event_stored();
    // The state after the event, derived rather than read back.
    let mut after = room_state;
    if event.is_state() {
        after.insert(event.clone());
    }
    let task_state = state.clone();
    let stored = event.clone();
    tokio::spawn(async move {
        if let Err(error) = task_state.modules.callbacks().third_party_rules.on_new_event(&stored, &after).await {
            tracing::warn!("on_new_event failed: {error}");
        }
    });
    Ok(event)
}

/// A room that must exist.
fn require_room(state: &AppState, room_id: &RoomId) -> ApiResult<StateMap> {
    if !state.storage.room_exists(room_id)? {
        return Err(ApiError::not_found("Unknown room"));
    }
    Ok(state.storage.current_state(room_id)?)
}

/// `PUT /rooms/{id}/send/{type}/{txn}` and `PUT /rooms/{id}/state/{type}/{key}`.
pub(crate) async fn send(
    state: &Arc<AppState>,
    actor: &Actor,
    room_id: &RoomId,
    event_type: &str,
    state_key: Option<&str>,
    content: JsonObject,
    txn_id: Option<&str>,
) -> ApiResult<OwnedEventId> {
    if let (Some(txn_id), Some(device)) = (txn_id, actor.device_id.as_deref()) {
        if let Some(existing) = state.storage.txn_event(&actor.user_id, device, txn_id)? {
            return EventId::parse(existing.as_str()).map_err(|_| ApiError(mxmod::MatrixError::internal()));
        }
    }
    if event_type == "m.room.member" {
        let target = state_key.ok_or_else(|| ApiError::bad_json("m.room.member needs a state key"))?;
        let target: OwnedUserId = crate::http::extract_user(target)?;
        let membership = content.get("membership").and_then(Value::as_str).unwrap_or_default().to_owned();
        let event = update_membership(state, actor, &target, room_id, &membership, content).await?;
        return Ok(event.event_id);
    }
    let callbacks = state.modules.callbacks();
    if let Some(key) = state_key {
        callbacks
            .spam_checker
            .user_may_send_state_event(&actor.user_id, room_id, &event_type.into(), key, &content)
            .await?;
    }
    let room_state = require_room(state, room_id)?;
    if membership_of(&room_state, &actor.user_id).as_deref() != Some("join") {
        return Err(ApiError::forbidden(format!("User {} not in room {room_id}", actor.user_id)));
    }
    let needed = required_level(&room_state, event_type, state_key.is_some());
    if user_level(&room_state, &actor.user_id) < needed {
        return Err(ApiError::forbidden(format!(
            "You don't have permission to post that to the room. user_level ({}) < send_level ({needed})",
            user_level(&room_state, &actor.user_id)
        )));
    }
    if actor.shadow_banned {
        // Synapse answers shadow-banned senders with a made-up event ID and sends nothing.
        return Ok(new_event_id(state));
    }
    let event = build_event(state, room_id, &actor.user_id, event_type, state_key, content);
    let txn = match (txn_id, actor.device_id.as_deref()) {
        (Some(txn_id), Some(device)) => Some((&*actor.user_id, device, txn_id)),
        _ => None,
    };
    Ok(persist(state, event, txn, true).await?.event_id)
}

/// Membership changes: `invite`, `join`, `leave`, `ban`, with `user_may_invite` and
/// `user_may_join_room`.
pub(crate) async fn update_membership(
    state: &Arc<AppState>,
    actor: &Actor,
    target: &UserId,
    room_id: &RoomId,
    membership: &str,
    extra: JsonObject,
) -> ApiResult<Event> {
    let room_state = require_room(state, room_id)?;
    let callbacks = state.modules.callbacks();
    let current = membership_of(&room_state, target);
    let actor_membership = membership_of(&room_state, &actor.user_id);
    match membership {
        "join" => {
            if target != actor.user_id {
                return Err(ApiError::forbidden("You cannot make another user join"));
            }
            match current.as_deref() {
                Some("ban") => return Err(ApiError::forbidden("You are banned from this room")),
                Some("join") => {
                    if let Some(event) = room_state.get("m.room.member", target.as_str()) {
                        return Ok(event.clone());
                    }
                }
                _ => {}
            }
            let is_invited = current.as_deref() == Some("invite");
            let join_rule = room_state
                .get("m.room.join_rules", "")
                .and_then(|e| e.content.get("join_rule").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "invite".to_owned());
            if join_rule != "public" && !is_invited {
                return Err(ApiError::forbidden("You are not invited to this room."));
            }
            callbacks.spam_checker.user_may_join_room(target, room_id, is_invited).await?;
        }
        "invite" => {
            if actor_membership.as_deref() != Some("join") {
                return Err(ApiError::forbidden(format!("User {} not in room {room_id}", actor.user_id)));
            }
            match current.as_deref() {
                Some("join") => return Err(ApiError::forbidden(format!("{target} is already in the room."))),
                Some("ban") => return Err(ApiError::forbidden(format!("{target} is banned from the room"))),
                _ => {}
            }
            if user_level(&room_state, &actor.user_id) < named_level(&room_state, "invite", 0) {
                return Err(ApiError::forbidden("You don't have permission to invite users"));
            }
            callbacks.spam_checker.user_may_invite(&actor.user_id, target, room_id).await?;
            if actor.shadow_banned {
                // Invites from shadow-banned users are dropped silently.
                return Ok(build_event(state, room_id, &actor.user_id, "m.room.member", Some(target.as_str()), extra));
            }
        }
        "leave" => {
            if target == actor.user_id {
                if !matches!(current.as_deref(), Some("join" | "invite")) {
                    return Err(ApiError::forbidden(format!("User {target} not in room {room_id}")));
                }
            } else if actor_membership.as_deref() != Some("join")
                || user_level(&room_state, &actor.user_id) < named_level(&room_state, "kick", 50)
                || user_level(&room_state, &actor.user_id) <= user_level(&room_state, target)
            {
                return Err(ApiError::forbidden("You don't have permission to kick this user"));
            }
        }
        "ban" => {
            if actor_membership.as_deref() != Some("join")
                || user_level(&room_state, &actor.user_id) < named_level(&room_state, "ban", 50)
                || user_level(&room_state, &actor.user_id) <= user_level(&room_state, target)
            {
                return Err(ApiError::forbidden("You don't have permission to ban this user"));
            }
        }
        other => return Err(ApiError::bad_json(format!("Unknown membership `{other}`"))),
    }
    let mut content = extra;
    content.insert("membership".to_owned(), membership.into());
    if membership == "join" {
        let profile = state.storage.profile(target)?;
        if let Some(name) = profile.displayname {
            content.entry("displayname").or_insert(name.into());
        }
        if let Some(avatar) = profile.avatar_url {
            content.entry("avatar_url").or_insert(avatar.into());
        }
    }
    let event = build_event(state, room_id, &actor.user_id, "m.room.member", Some(target.as_str()), content);
    persist(state, event, None, false).await
}

/// What `POST /createRoom` produced.
pub(crate) struct CreatedRoom {
    pub(crate) room_id: OwnedRoomId,
    pub(crate) alias: Option<OwnedRoomAliasId>,
}

/// `POST /createRoom`: `on_create_room` (may edit the request), `user_may_create_room`,
/// `user_may_create_room_alias`, `user_may_publish_room`, then the initial events.
pub(crate) async fn create_room(
    state: &Arc<AppState>,
    actor: &Actor,
    mut request: JsonObject,
) -> ApiResult<CreatedRoom> {
    let callbacks = state.modules.callbacks();
    let mut requester = Requester::new(actor.user_id.clone());
    requester.device_id = actor.device_id.as_deref().map(Into::into);
    requester.shadow_banned = actor.shadow_banned;
    callbacks.third_party_rules.on_create_room(&requester, &mut request, actor.is_admin).await?;
    callbacks.spam_checker.user_may_create_room(&actor.user_id, &request).await?;

    let string = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
    let alias = match string("room_alias_name") {
        Some(local) => {
            let alias: OwnedRoomAliasId = RoomAliasId::parse(format!("#{local}:{}", state.settings.server_name))
                .map_err(|_| ApiError::invalid_param("Invalid characters in room alias"))?;
            if state.storage.alias(alias.as_str())?.is_some() {
                return Err(ApiError::new(400, ErrCode::ROOM_IN_USE, "Room alias already taken"));
            }
            callbacks.spam_checker.user_may_create_room_alias(&actor.user_id, &alias).await?;
            Some(alias)
        }
        None => None,
    };
    let visibility = string("visibility").unwrap_or_else(|| "private".to_owned());
    if !matches!(visibility.as_str(), "public" | "private") {
        return Err(ApiError::bad_json("`visibility` must be `public` or `private`"));
    }
    let preset = string("preset").unwrap_or_else(|| {
        if visibility == "public" {
            "public_chat".to_owned()
        } else {
            "private_chat".to_owned()
        }
    });
    let invites: Vec<OwnedUserId> = match request.get("invite") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| ApiError::bad_json("`invite` must list user IDs"))
                    .and_then(crate::http::extract_user)
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(ApiError::bad_json("`invite` must be a list of user IDs")),
    };
    let initial_state: Vec<JsonObject> = match request.get("initial_state") {
        None => Vec::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|_| ApiError::bad_json("`initial_state` must be a list of state events"))?,
    };
    let room_id = mxmod::types::RoomId::new_v1(&state.settings.server_name);
    if visibility == "public" {
        callbacks.spam_checker.user_may_publish_room(&actor.user_id, &room_id).await?;
    }
    state.storage.create_room(&room_id, &actor.user_id)?;
    // As in Synapse, after the room ID is stored and before any event.
    callbacks.third_party_rules.check_visibility_can_be_modified(&room_id, &StateMap::new(), &visibility).await?;

    let creator = &actor.user_id;
    let mut create_content = object(request.get("creation_content").cloned().unwrap_or(json!({})));
    create_content.insert("creator".to_owned(), creator.as_str().into());
    create_content.insert("room_version".to_owned(), ROOM_VERSION.into());
    let mut users = serde_json::Map::new();
    users.insert(creator.to_string(), 100.into());
    if preset == "trusted_private_chat" {
        for invitee in &invites {
            users.insert(invitee.to_string(), 100.into());
        }
    }
    let mut power = object(json!({
        "users": users, "users_default": 0, "events": {
            "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100, "m.room.server_acl": 100,
            "m.room.encryption": 100
        },
        "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": 0
    }));
    if let Some(Value::Object(overrides)) = request.get("power_level_content_override") {
        for (key, value) in overrides {
            power.insert(key.clone(), value.clone());
        }
    }
    let join_rule = if preset == "public_chat" { "public" } else { "invite" };
    let mut events: Vec<(String, String, JsonObject)> = vec![
        ("m.room.create".into(), String::new(), create_content),
        ("m.room.member".into(), creator.to_string(), object(json!({"membership": "join"}))),
        ("m.room.power_levels".into(), String::new(), power),
    ];
    if let Some(alias) = &alias {
        events.push(("m.room.canonical_alias".into(), String::new(), object(json!({"alias": alias}))));
    }
    events.push(("m.room.join_rules".into(), String::new(), object(json!({"join_rule": join_rule}))));
    events.push(("m.room.history_visibility".into(), String::new(), object(json!({"history_visibility": "shared"}))));
    for item in initial_state {
        let event_type = item.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let state_key = item.get("state_key").and_then(Value::as_str).unwrap_or_default().to_owned();
        let content = object(item.get("content").cloned().unwrap_or(json!({})));
        if event_type.is_empty() {
            return Err(ApiError::bad_json("every `initial_state` event needs a `type`"));
        }
        events.push((event_type, state_key, content));
    }
    if let Some(name) = string("name") {
        events.push(("m.room.name".into(), String::new(), object(json!({"name": name}))));
    }
    if let Some(topic) = string("topic") {
        events.push(("m.room.topic".into(), String::new(), object(json!({"topic": topic}))));
    }
    for (event_type, state_key, mut content) in events {
        if event_type == "m.room.member" {
            let profile = state.storage.profile(creator)?;
            if let Some(name) = profile.displayname {
                content.insert("displayname".to_owned(), name.into());
            }
        }
        let event = build_event(state, &room_id, creator, &event_type, Some(&state_key), content);
        persist(state, event, None, false).await?;
    }
    if let Some(alias) = &alias {
        state.storage.create_alias(alias.as_str(), &room_id, creator)?;
    }
    if visibility == "public" {
        state.storage.set_room_public(&room_id, true)?;
    }
    for invitee in invites {
        let mut extra = JsonObject::new();
        if request.get("is_direct").and_then(Value::as_bool) == Some(true) {
            extra.insert("is_direct".to_owned(), true.into());
        }
        update_membership(state, actor, &invitee, &room_id, "invite", extra).await?;
    }
    Ok(CreatedRoom { room_id, alias })
}

/// Resolves a room ID or a local alias.
pub(crate) fn resolve_room(state: &AppState, id_or_alias: &str) -> ApiResult<OwnedRoomId> {
    if id_or_alias.starts_with('#') {
        let alias = RoomAliasId::parse(id_or_alias).map_err(|_| ApiError::invalid_param("Invalid room alias"))?;
        return state
            .storage
            .alias(alias.as_str())?
            .map(|(room, _)| room)
            .ok_or_else(|| ApiError::not_found(format!("Room alias {alias} not found")));
    }
    RoomId::parse(id_or_alias)
        .map_err(|_| ApiError::invalid_param(format!("`{id_or_alias}` is not a room ID or alias")))
}

/// The event as a client sees it.
pub(crate) fn client_event(event: &Event, txn_id: Option<&str>, viewer: Option<&UserId>) -> Value {
    let mut value = Value::Object(event.get_dict());
    if let (Some(txn_id), Some(viewer)) = (txn_id, viewer) {
        if viewer == event.sender {
            value["unsigned"]["transaction_id"] = txn_id.into();
        }
    }
    value
}
