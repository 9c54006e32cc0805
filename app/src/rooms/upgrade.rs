//! `POST /rooms/{roomId}/upgrade`, as Synapse's `RoomCreationHandler.upgrade_room`:
//! the upgrader must be allowed to send `m.room.tombstone` in the old room;
//! `user_may_create_room` is asked for the new room (with the copied state as its
//! `initial_state`; `on_create_room` is not called, as in Synapse's
//! `clone_existing_room`); the new room gets a create event naming its predecessor, the
//! state Synapse copies (join rules, name, topic, history visibility, guest access,
//! avatar, encryption, server ACL, power levels — with the upgrader raised to the level
//! needed to send it all, and space children for a space), each through
//! `check_event_allowed`, then the old room's bans. The tombstone is sent in the old
//! room, the aliases (and the local ones of `m.room.canonical_alias`) and the directory
//! entry move, the old room's power levels are restricted and the new room's restored.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

use mxmod::{
    types::{JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, StateMap, UserId},
    ErrCode,
};
use serde_json::{json, Value};

use super::{
    authorise_send, build_event, initial_events, object, persist, require_room, spawn_on_new_events, update_membership,
    Actor, ROOM_VERSION,
};
use crate::{
    http::{ApiError, ApiResult},
    state::AppState,
    storage::{Authorise, CreateRoomError, NewRoom},
};

/// The state Synapse copies into the new room (`types_to_copy`).
const COPIED_STATE: [&str; 9] = [
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.power_levels",
];

/// Rooms being upgraded now: a second upgrade of one of them is refused until the first
/// ends.
#[derive(Default)]
pub(crate) struct UpgradesInProgress {
    rooms: Mutex<HashSet<OwnedRoomId>>,
}

/// Marks a room as being upgraded while alive.
struct UpgradeGuard<'a> {
    upgrades: &'a UpgradesInProgress,
    room_id: OwnedRoomId,
}

impl UpgradesInProgress {
    fn begin(&self, room_id: &RoomId) -> ApiResult<UpgradeGuard<'_>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if !rooms.insert(room_id.to_owned()) {
            return Err(ApiError::new(400, ErrCode::UNKNOWN, "An upgrade for this room is currently in progress"));
        }
        Ok(UpgradeGuard { upgrades: self, room_id: room_id.to_owned() })
    }
}

impl Drop for UpgradeGuard<'_> {
    fn drop(&mut self) {
        self.upgrades.rooms.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.room_id);
    }
}

fn int(value: Option<&Value>, default: i64) -> i64 {
    match value {
        Some(Value::Number(number)) => number.as_i64().unwrap_or(default),
        Some(Value::String(text)) => text.trim().parse().unwrap_or(default),
        _ => default,
    }
}

/// The old room's power levels with the upgrader raised to the level needed to send
/// every copied event (Synapse's `needed_power_level`).
fn raised_power_levels(power_levels: &JsonObject, user: &UserId) -> JsonObject {
    let mut raised = power_levels.clone();
    let event_levels = match power_levels.get("events") {
        Some(Value::Object(events)) => events.values().map(|level| int(Some(level), 0)).max().unwrap_or(0),
        _ => 0,
    };
    let needed = int(power_levels.get("state_default"), 50).max(int(power_levels.get("ban"), 50)).max(event_levels);
    let users_default = int(power_levels.get("users_default"), 0);
    let users = raised.entry("users").or_insert_with(|| json!({}));
    if !users.is_object() {
        *users = json!({});
    }
    if let Value::Object(users) = users {
        let current = int(users.get(user.as_str()), users_default);
        if current < needed {
            users.insert(user.to_string(), needed.into());
        }
    }
    raised
}

/// The old room's power levels with sending and inviting restricted to moderators
/// (Synapse's `_update_upgraded_room_pls`); `None` if they already were.
fn restricted_power_levels(power_levels: &JsonObject) -> Option<JsonObject> {
    let restricted_level = (int(power_levels.get("users_default"), 0) + 1).max(50);
    let mut restricted = power_levels.clone();
    let mut updated = false;
    for key in ["invite", "events_default"] {
        if int(power_levels.get(key), 0) < restricted_level {
            restricted.insert(key.to_owned(), restricted_level.into());
            updated = true;
        }
    }
    updated.then_some(restricted)
}

/// Stores a state event in a room through the send path's checks
/// (`check_event_allowed`, `check_event_for_spam`, authorisation in the transaction).
async fn send_state(
    state: &Arc<AppState>,
    actor: &Actor,
    room_id: &RoomId,
    event_type: &str,
    content: JsonObject,
) -> ApiResult<()> {
    let room_state = require_room(state, room_id).await?;
    authorise_send(&room_state, &actor.user_id, event_type, true)?;
    let event = build_event(state, room_id, &actor.user_id, event_type, Some(""), content);
    let (sender, kind) = (actor.user_id.clone(), event_type.to_owned());
    let authorise: Authorise = Box::new(move |now| authorise_send(now, &sender, &kind, true).map_err(|e| e.0));
    persist(state, event, &room_state, None, true, authorise).await.map(drop)
}

/// Upgrades `old_room` to `new_version`; returns the new room's ID.
pub(crate) async fn upgrade_room(
    state: &Arc<AppState>,
    actor: &Actor,
    old_room: &RoomId,
    new_version: &str,
) -> ApiResult<OwnedRoomId> {
    if new_version != ROOM_VERSION {
        return Err(ApiError::new(
            400,
            ErrCode::custom("M_UNSUPPORTED_ROOM_VERSION"),
            "Your homeserver does not support this room version",
        ));
    }
    let _upgrading = state.upgrades.begin(old_room)?;
    let old_state = require_room(state, old_room).await?;
    let user = &actor.user_id;
    let new_room = RoomId::new_v1(&state.settings.server_name);
    // The upgrader must be in the room with the level to send the tombstone.
    authorise_send(&old_state, user, "m.room.tombstone", true)?;
    let tombstone_content = object(json!({ "body": "This room has been replaced", "replacement_room": new_room }));
    let tombstone = build_event(state, old_room, user, "m.room.tombstone", Some(""), tombstone_content);
    if actor.shadow_banned {
        // As Synapse: after the delay, an answer naming a room that is never made.
        crate::shadow_ban::delay(&state.settings.limits).await;
        return Ok(new_room);
    }

    let old_create = old_state.get("m.room.create", "").map(|event| event.content.clone()).unwrap_or_default();
    let mut creation_content = object(json!({
        "room_version": ROOM_VERSION,
        "predecessor": { "room_id": old_room, "event_id": tombstone.event_id },
    }));
    if old_create.get("m.federate") == Some(&Value::Bool(false)) {
        creation_content.insert("m.federate".to_owned(), false.into());
    }
    let room_type = old_create.get("type").cloned();
    if let Some(room_type) = &room_type {
        creation_content.insert("type".to_owned(), room_type.clone());
    }
    let is_space = room_type.as_ref().and_then(Value::as_str) == Some("m.space");
    let mut copied: Vec<(String, String, JsonObject)> = Vec::new();
    for (key, event) in old_state.iter() {
        let (event_type, state_key) = (key.0.as_str(), key.1.as_str());
        let wanted = (COPIED_STATE.contains(&event_type) && state_key.is_empty())
            || (is_space && event_type == "m.space.child" && !event.content.is_empty());
        if wanted {
            copied.push((event_type.to_owned(), state_key.to_owned(), event.content.clone()));
        }
    }
    let room_config = object(json!({
        "creation_content": creation_content,
        "initial_state": copied
            .iter()
            .map(|(event_type, state_key, content)| json!({ "type": event_type, "state_key": state_key, "content": content }))
            .collect::<Vec<_>>(),
    }));
    let callbacks = state.modules.callbacks();
    callbacks.spam_checker.user_may_create_room(user, &room_config).await?;

    let original_power = copied
        .iter()
        .find(|(event_type, _, _)| event_type == "m.room.power_levels")
        .map(|(_, _, content)| content.clone());
    let mut create_content = creation_content;
    create_content.insert("creator".to_owned(), user.as_str().into());
    let mut events = vec![
        ("m.room.create".to_owned(), String::new(), create_content),
        ("m.room.member".to_owned(), user.to_string(), object(json!({ "membership": "join" }))),
    ];
    if let Some(power) = &original_power {
        events.push(("m.room.power_levels".to_owned(), String::new(), raised_power_levels(power, user)));
    }
    let has = |event_type: &str| copied.iter().any(|(copied_type, _, _)| copied_type == event_type);
    // What the private-chat preset adds when the old room had none of it.
    let preset = [
        ("m.room.join_rules", json!({ "join_rule": "invite" })),
        ("m.room.history_visibility", json!({ "history_visibility": "shared" })),
        ("m.room.guest_access", json!({ "guest_access": "can_join" })),
    ];
    for (event_type, content) in preset {
        if !has(event_type) {
            events.push((event_type.to_owned(), String::new(), object(content)));
        }
    }
    events.extend(copied.iter().filter(|(event_type, _, _)| event_type != "m.room.power_levels").cloned());
    let initial = initial_events(state, &new_room, user, events).await?;
    let was_public = state.storage.room_is_public(old_room).await?;
    let created =
        NewRoom { room_id: new_room.clone(), creator: user.clone(), events: initial, alias: None, public: was_public };
    let stored = match state.storage.create_room(created).await {
        Ok(stored) => stored,
        Err(CreateRoomError::RoomTaken | CreateRoomError::AliasTaken) => {
            return Err(ApiError::new(500, ErrCode::UNKNOWN, "Room ID collision"))
        }
        Err(CreateRoomError::Storage(error)) => return Err(error.into()),
    };
    spawn_on_new_events(state, stored);
    copy_bans(state, actor, &old_state, &new_room).await;

    // The tombstone the new room's create event names, through the send path's checks.
    let (sender, kind) = (user.clone(), "m.room.tombstone");
    let authorise: Authorise = Box::new(move |now| authorise_send(now, &sender, kind, true).map_err(|e| e.0));
    persist(state, tombstone, &old_state, None, true, authorise).await?;

    move_aliases(state, old_room, &new_room).await?;
    move_canonical_alias(state, actor, &old_state, old_room, &new_room).await;
    if was_public {
        state.storage.set_room_public(old_room, false).await?;
    }
    if let Some(power) = original_power {
        if let Some(restricted) = restricted_power_levels(&power) {
            if let Err(error) = send_state(state, actor, old_room, "m.room.power_levels", restricted).await {
                tracing::warn!("upgrade of {old_room}: cannot restrict its power levels: {:?}", error.0);
            }
        }
        send_state(state, actor, &new_room, "m.room.power_levels", power).await?;
    }
    Ok(new_room)
}

/// Bans in the new room everyone banned in the old one (Synapse transfers only bans).
async fn copy_bans(state: &Arc<AppState>, actor: &Actor, old_state: &StateMap, new_room: &RoomId) {
    let banned: Vec<(OwnedUserId, JsonObject)> = old_state
        .iter()
        .filter(|(_, event)| event.membership() == Some(Membership::Ban))
        .filter_map(|((_, key), event)| Some((UserId::parse(key.as_str()).ok()?, event.content.clone())))
        .collect();
    for (target, mut content) in banned {
        content.remove("membership");
        if let Err(error) = update_membership(state, actor, &target, new_room, "ban", content).await {
            tracing::warn!("upgrade to {new_room}: cannot carry the ban of {target}: {:?}", error.0);
        }
    }
}

/// Moves the local aliases of the old room's `m.room.canonical_alias` into one for the
/// new room (Synapse's `_move_aliases_to_new_room`); a refusal is logged, as there.
async fn move_canonical_alias(
    state: &Arc<AppState>,
    actor: &Actor,
    old_state: &StateMap,
    old_room: &RoomId,
    new_room: &RoomId,
) {
    let Some(canonical) = old_state.get("m.room.canonical_alias", "") else { return };
    let local = |alias: &Value| {
        alias
            .as_str()
            .and_then(|alias| RoomAliasId::parse(alias).ok())
            .is_some_and(|alias| alias.server_name() == state.settings.server_name)
    };
    let mut old_content = canonical.content.clone();
    let mut new_content = JsonObject::new();
    if let Some(alias) = canonical.content.get("alias").filter(|alias| local(alias)) {
        new_content.insert("alias".to_owned(), alias.clone());
        old_content.remove("alias");
    }
    if let Some(Value::Array(alt_aliases)) = canonical.content.get("alt_aliases") {
        let (moved, kept): (Vec<Value>, Vec<Value>) = alt_aliases.iter().cloned().partition(|alias| local(alias));
        if !moved.is_empty() {
            new_content.insert("alt_aliases".to_owned(), moved.into());
        }
        if kept.is_empty() {
            old_content.remove("alt_aliases");
        } else {
            old_content.insert("alt_aliases".to_owned(), kept.into());
        }
    }
    for (room_id, content) in [(old_room, old_content), (new_room, new_content)] {
        if let Err(error) = send_state(state, actor, room_id, "m.room.canonical_alias", content).await {
            tracing::warn!("upgrade of {old_room}: cannot update the canonical alias of {room_id}: {:?}", error.0);
        }
    }
}

/// Points the old room's local aliases at the new room.
async fn move_aliases(state: &Arc<AppState>, old_room: &RoomId, new_room: &RoomId) -> ApiResult<()> {
    for alias in state.storage.room_aliases(old_room).await? {
        let Some((_, creator)) = state.storage.alias(&alias).await? else { continue };
        state.storage.delete_alias(&alias).await?;
        if !state.storage.create_alias(&alias, new_room, &creator).await? {
            tracing::warn!("upgrade to {new_room}: alias {alias} was taken meanwhile");
        }
    }
    Ok(())
}
