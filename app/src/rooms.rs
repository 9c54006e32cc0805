//! Room semantics: creating rooms, sending events, memberships, with every module
//! callback at the point Synapse calls it. On the send path third-party rules
//! (`check_event_allowed`) run before the spam checker (`check_event_for_spam`), as in
//! Synapse; `on_new_event` runs after the event is stored. The authorisation checks run
//! before the callbacks and again inside the append's transaction. Room upgrades are in
//! `rooms/upgrade.rs`.

mod upgrade;

use std::sync::Arc;

use mxmod::{
    types::{
        Event, EventId, JsonObject, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, Requester, RoomAliasId,
        RoomId, StateKey, StateMap, UserId,
    },
    ErrCode,
};
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult},
    state::{now_ms, AppState},
    storage::{AppendError, Appended, Authorise, CreateRoomError, NewRoom, TxnKey},
};

/// The room version new rooms get.
pub(crate) const ROOM_VERSION: &str = "10";

pub(crate) use self::upgrade::{upgrade_room, UpgradesInProgress};

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
        state_key: state_key.map(StateKey::from),
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

/// Whether `sender` may send a non-membership event of this type, against `room_state`:
/// joined, with the power level the type needs. Checked before the module callbacks and
/// again at append time, against the state the event lands on.
pub(crate) fn authorise_send(
    room_state: &StateMap,
    sender: &UserId,
    event_type: &str,
    is_state: bool,
) -> ApiResult<()> {
    if membership_of(room_state, sender).as_deref() != Some("join") {
        return Err(ApiError::forbidden(format!("User {sender} not in room {}", room_of(room_state))));
    }
    let needed = required_level(room_state, event_type, is_state);
    let have = user_level(room_state, sender);
    if have < needed {
        return Err(ApiError::forbidden(format!(
            "You don't have permission to post that to the room. user_level ({have}) < send_level ({needed})"
        )));
    }
    Ok(())
}

/// Whether `sender` may set `target`'s membership to `membership` against `room_state`.
/// Checked before the module callbacks and again at append time.
pub(crate) fn authorise_membership(
    room_state: &StateMap,
    sender: &UserId,
    target: &UserId,
    membership: &str,
) -> ApiResult<()> {
    let current = membership_of(room_state, target);
    let sender_membership = membership_of(room_state, sender);
    let room = room_of(room_state);
    match membership {
        "join" => {
            if target != sender {
                return Err(ApiError::forbidden("You cannot make another user join"));
            }
            match current.as_deref() {
                Some("ban") => return Err(ApiError::forbidden("You are banned from this room")),
                Some("join" | "invite") => return Ok(()),
                _ => {}
            }
            let join_rule = room_state
                .get("m.room.join_rules", "")
                .and_then(|e| e.content.get("join_rule").and_then(Value::as_str))
                .unwrap_or("invite");
            if join_rule != "public" {
                return Err(ApiError::forbidden("You are not invited to this room."));
            }
        }
        "invite" => {
            if sender_membership.as_deref() != Some("join") {
                return Err(ApiError::forbidden(format!("User {sender} not in room {room}")));
            }
            match current.as_deref() {
                Some("join") => return Err(ApiError::forbidden(format!("{target} is already in the room."))),
                Some("ban") => return Err(ApiError::forbidden(format!("{target} is banned from the room"))),
                _ => {}
            }
            if user_level(room_state, sender) < named_level(room_state, "invite", 0) {
                return Err(ApiError::forbidden("You don't have permission to invite users"));
            }
        }
        "leave" => {
            if target == sender {
                if !matches!(current.as_deref(), Some("join" | "invite")) {
                    return Err(ApiError::forbidden(format!("User {target} not in room {room}")));
                }
            } else if sender_membership.as_deref() != Some("join")
                || (current.as_deref() == Some("ban")
                    && user_level(room_state, sender) < named_level(room_state, "ban", 50))
                || user_level(room_state, sender) < named_level(room_state, "kick", 50)
                || user_level(room_state, sender) <= user_level(room_state, target)
            {
                return Err(ApiError::forbidden("You don't have permission to kick this user"));
            }
        }
        "ban" => {
            if sender_membership.as_deref() != Some("join")
                || user_level(room_state, sender) < named_level(room_state, "ban", 50)
                || user_level(room_state, sender) <= user_level(room_state, target)
            {
                return Err(ApiError::forbidden("You don't have permission to ban this user"));
            }
        }
        other => return Err(ApiError::bad_json(format!("Unknown membership `{other}`"))),
    }
    Ok(())
}

/// The room a state belongs to, for error texts.
fn room_of(room_state: &StateMap) -> String {
    room_state.iter().next().map(|(_, e)| e.room_id.to_string()).unwrap_or_default()
}

/// Stores a local event through the module checks: `check_event_allowed` (which may
/// replace the content), then `check_event_for_spam` for non-membership events. The
/// callbacks run outside any transaction, against `room_state`; `authorise` then runs
/// again in the append's transaction against the state the event lands on, so a ban
/// that lands while the event waits in a callback refuses it. After storing,
/// `on_new_event` runs in the background. A repeated transaction answers the first event.
async fn persist(
    state: &Arc<AppState>,
    mut event: Event,
    room_state: &StateMap,
    txn: Option<TxnKey>,
    spam_check: bool,
    authorise: Authorise,
) -> ApiResult<Event> {
    let callbacks = state.modules.callbacks();
    if let Some(replacement) = callbacks.third_party_rules.check_event_allowed(&event, room_state).await? {
        event.content = replacement_content(&replacement)?;
    }
    crate::validate::event(&event, room_state)?;
    if spam_check {
        callbacks.spam_checker.check_event_for_spam(&event).await?;
    }
    match state.storage.append_local_event(event, txn, authorise).await {
        Ok(Appended::Stored { event: stored, state_after }) => {
            state.metrics.event_stored();
            let task_state = state.clone();
            let event = stored.event.clone();
            tokio::spawn(async move {
                let rules = &task_state.modules.callbacks().third_party_rules;
                if let Err(error) = rules.on_new_event(&stored.event, &state_after).await {
                    tracing::warn!("on_new_event failed: {error}");
                }
            });
            Ok(event)
        }
        Ok(Appended::Duplicate(event_id)) => state
            .storage
            .event(event_id.as_str())
            .await?
            .map(|stored| stored.event)
            .ok_or_else(|| ApiError(mxmod::MatrixError::internal())),
        Err(AppendError::Refused(error)) => Err(ApiError(error)),
        Err(AppendError::UnknownRoom) => Err(ApiError::not_found("Unknown room")),
        Err(AppendError::Storage(error)) => Err(error.into()),
    }
}

/// The content of a replacement event from `check_event_allowed`: only the content of a
/// local event can be replaced (as in Synapse).
fn replacement_content(replacement: &JsonObject) -> ApiResult<JsonObject> {
    match replacement.get("content") {
        Some(Value::Object(content)) => Ok(content.clone()),
        _ => Err(ApiError::new(500, ErrCode::UNKNOWN, "A module returned an invalid replacement event")),
    }
}

/// A room that must exist: its current state.
async fn require_room(state: &AppState, room_id: &RoomId) -> ApiResult<Arc<StateMap>> {
    state.storage.current_state(room_id).await?.ok_or_else(|| ApiError::not_found("Unknown room"))
}

/// `PUT /rooms/{id}/send/{type}/{txn}` and `PUT /rooms/{id}/state/{type}/{key}`.
pub(crate) async fn send(
    state: &Arc<AppState>,
    actor: &Actor,
    room_id: &RoomId,
    event_type: &str,
    state_key: Option<&str>,
    content: JsonObject,
    txn: Option<TxnKey>,
) -> ApiResult<OwnedEventId> {
    if let Some(key) = &txn {
        // A retry after the first answered: no module runs again.
        if let Some(existing) = state.storage.txn_event(key).await? {
            return Ok(existing);
        }
    }
    if actor.shadow_banned && event_type != "m.room.member" {
        // As Synapse: before any membership or power check, a delay and a made-up event ID.
        crate::shadow_ban::delay(&state.settings.limits).await;
        return Ok(new_event_id(state));
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
            .user_may_send_state_event(&actor.user_id, room_id, &event_type.into(), &key.into(), &content)
            .await?;
    }
    let room_state = require_room(state, room_id).await?;
    authorise_send(&room_state, &actor.user_id, event_type, state_key.is_some())?;
    let event = build_event(state, room_id, &actor.user_id, event_type, state_key, content);
    let (sender, kind, is_state) = (actor.user_id.clone(), event_type.to_owned(), state_key.is_some());
    let authorise: Authorise =
        Box::new(move |now| authorise_send(now, &sender, &kind, is_state).map_err(|error| error.0));
    Ok(persist(state, event, &room_state, txn, true, authorise).await?.event_id)
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
    crate::validate::membership_content(&extra)?;
    if matches!(membership, "join" | "invite") && state.storage.room_blocked(room_id).await? {
        return Err(ApiError::forbidden("This room has been blocked on this server"));
    }
    if membership == "invite" && actor.shadow_banned {
        // As Synapse: before any other check, a delay, then an answer as if invited.
        crate::shadow_ban::delay(&state.settings.limits).await;
        return Ok(build_event(state, room_id, &actor.user_id, "m.room.member", Some(target.as_str()), extra));
    }
    let room_state = require_room(state, room_id).await?;
    let callbacks = state.modules.callbacks();
    let current = membership_of(&room_state, target);
    if membership == "join" && target == actor.user_id && current.as_deref() == Some("join") {
        if let Some(event) = room_state.get("m.room.member", target.as_str()) {
            return Ok(event.clone());
        }
    }
    authorise_membership(&room_state, &actor.user_id, target, membership)?;
    match membership {
        "join" => {
            let is_invited = current.as_deref() == Some("invite");
            callbacks.spam_checker.user_may_join_room(target, room_id, is_invited).await?;
        }
        "invite" => {
            callbacks.spam_checker.user_may_invite(&actor.user_id, target, room_id).await?;
        }
        _ => {}
    }
    let mut content = extra;
    content.insert("membership".to_owned(), membership.into());
    if membership == "join" {
        let profile = state.storage.profile(target).await?;
        if let Some(name) = profile.displayname {
            content.entry("displayname").or_insert(name.into());
        }
        if let Some(avatar) = profile.avatar_url {
            content.entry("avatar_url").or_insert(avatar.into());
        }
    }
    let event = build_event(state, room_id, &actor.user_id, "m.room.member", Some(target.as_str()), content);
    let (sender, target, wanted) = (actor.user_id.clone(), target.to_owned(), membership.to_owned());
    let authorise: Authorise =
        Box::new(move |now| authorise_membership(now, &sender, &target, &wanted).map_err(|error| error.0));
    let stored = persist(state, event, &room_state, None, false, authorise).await?;
    if membership != "join" {
        // Whoever is no longer in the room stops typing in it.
        if let (Some(after), Ok(target)) = (
            state.storage.current_state(room_id).await?,
            UserId::parse(stored.state_key.as_deref().unwrap_or_default()),
        ) {
            state.typing.set(&after, room_id, &target, None);
        }
    }
    Ok(stored)
}

/// Carries a profile change into the user's own join event in one room (Synapse's
/// `_update_join_states`): `content` is the new membership content. No spam check runs,
/// and the append is refused if the user is no longer joined when it lands.
pub(crate) async fn update_own_join(
    state: &Arc<AppState>,
    user: &UserId,
    room_id: &RoomId,
    room_state: &StateMap,
    content: JsonObject,
) -> ApiResult<Event> {
    let event = build_event(state, room_id, user, "m.room.member", Some(user.as_str()), content);
    let member = user.to_owned();
    let authorise: Authorise = Box::new(move |now| match membership_of(now, &member).as_deref() {
        Some("join") => Ok(()),
        _ => Err(ApiError::forbidden(format!("User {member} not in room")).0),
    });
    persist(state, event, room_state, None, false, authorise).await
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
    crate::validate::create_room_request(&request, &actor.user_id, state.settings.server_name.as_str())?;
    callbacks.spam_checker.user_may_create_room(&actor.user_id, &request).await?;

    let string = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
    let alias = match string("room_alias_name") {
        Some(local) => {
            let alias: OwnedRoomAliasId = RoomAliasId::parse(format!("#{local}:{}", state.settings.server_name))
                .map_err(|_| ApiError::invalid_param("Invalid characters in room alias"))?;
            if state.storage.alias(alias.as_str()).await?.is_some() {
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
    let invites = if actor.shadow_banned && !invites.is_empty() {
        // As Synapse: the room is made, without its invites, after a delay.
        crate::shadow_ban::delay(&state.settings.limits).await;
        Vec::new()
    } else {
        invites
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
    // Synapse asks after storing the room ID and before any event; here nothing is
    // stored until every check has passed, so the room is written in one transaction.
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
    let initial = initial_events(state, &room_id, creator, events).await?;
    let new_room = NewRoom {
        room_id: room_id.clone(),
        creator: creator.clone(),
        events: initial,
        alias: alias.as_ref().map(|alias| alias.to_string()),
        public: visibility == "public",
    };
    let stored = match state.storage.create_room(new_room).await {
        Ok(stored) => stored,
        Err(CreateRoomError::AliasTaken) => {
            return Err(ApiError::new(400, ErrCode::ROOM_IN_USE, "Room alias already taken"))
        }
        Err(CreateRoomError::RoomTaken) => return Err(ApiError::new(500, ErrCode::UNKNOWN, "Room ID collision")),
        Err(CreateRoomError::Storage(error)) => return Err(error.into()),
    };
    spawn_on_new_events(state, stored);
    for invitee in invites {
        let mut extra = JsonObject::new();
        if request.get("is_direct").and_then(Value::as_bool) == Some(true) {
            extra.insert("is_direct".to_owned(), true.into());
        }
        update_membership(state, actor, &invitee, &room_id, "invite", extra).await?;
    }
    Ok(CreatedRoom { room_id, alias })
}

/// The initial events of a new room, built in order by `creator` (whose join carries
/// their display name), each through `check_event_allowed` (which may replace its
/// content) and the event checks against the state before it. Nothing is stored.
async fn initial_events(
    state: &Arc<AppState>,
    room_id: &RoomId,
    creator: &UserId,
    events: Vec<(String, String, JsonObject)>,
) -> ApiResult<Vec<Event>> {
    let callbacks = state.modules.callbacks();
    let displayname = state.storage.profile(creator).await?.displayname;
    let mut room_state = StateMap::new();
    let mut initial = Vec::with_capacity(events.len());
    for (event_type, state_key, mut content) in events {
        if event_type == "m.room.member" {
            if let Some(name) = &displayname {
                content.insert("displayname".to_owned(), name.clone().into());
            }
        }
        let mut event = build_event(state, room_id, creator, &event_type, Some(&state_key), content);
        if let Some(replacement) = callbacks.third_party_rules.check_event_allowed(&event, &room_state).await? {
            event.content = replacement_content(&replacement)?;
        }
        crate::validate::event(&event, &room_state)?;
        room_state.insert(event.clone());
        initial.push(event);
    }
    Ok(initial)
}

/// Runs `on_new_event` for a new room's stored initial events, in order, in the
/// background.
fn spawn_on_new_events(state: &Arc<AppState>, stored: Vec<crate::storage::StoredEvent>) {
    let task_state = state.clone();
    tokio::spawn(async move {
        let rules = &task_state.modules.callbacks().third_party_rules;
        let mut after = StateMap::new();
        for stored in stored {
            task_state.metrics.event_stored();
            after.insert(stored.event.clone());
            if let Err(error) = rules.on_new_event(&stored.event, &after).await {
                tracing::warn!("on_new_event failed: {error}");
            }
        }
    });
}

/// Resolves a room ID or a local alias.
pub(crate) async fn resolve_room(state: &AppState, id_or_alias: &str) -> ApiResult<OwnedRoomId> {
    if id_or_alias.starts_with('#') {
        let alias = RoomAliasId::parse(id_or_alias).map_err(|_| ApiError::invalid_param("Invalid room alias"))?;
        return state
            .storage
            .alias(alias.as_str())
            .await?
            .map(|(room, _)| room)
            .ok_or_else(|| ApiError::not_found(format!("Room alias {alias} not found")));
    }
    RoomId::parse(id_or_alias)
        .map_err(|_| ApiError::invalid_param(format!("`{id_or_alias}` is not a room ID or alias")))
}

/// Whether `sender` may redact an event of `original_sender` against `room_state`: their
/// own events, or anyone's with the `redact` power level (Synapse's check on top of the
/// room version's auth rules).
pub(crate) fn authorise_redaction(
    room_state: &StateMap,
    sender: &UserId,
    original_sender: Option<&UserId>,
) -> ApiResult<()> {
    authorise_send(room_state, sender, "m.room.redaction", false)?;
    if original_sender != Some(sender) && user_level(room_state, sender) < named_level(room_state, "redact", 50) {
        return Err(ApiError::forbidden("You don't have permission to redact events"));
    }
    Ok(())
}

/// `PUT /rooms/{id}/redact/{eventId}/{txnId}`: an `m.room.redaction` event through the send
/// path (`check_event_allowed`, `check_event_for_spam`, then `on_new_event`), with the
/// transaction idempotency of a send. Storing it redacts the original in the same
/// transaction. An event this server does not know is redacted as Synapse does: the
/// redaction is stored, and nothing else changes.
pub(crate) async fn redact(
    state: &Arc<AppState>,
    actor: &Actor,
    room_id: &RoomId,
    redacts: &EventId,
    mut content: JsonObject,
    txn: TxnKey,
) -> ApiResult<OwnedEventId> {
    if let Some(existing) = state.storage.txn_event(&txn).await? {
        return Ok(existing);
    }
    if actor.shadow_banned {
        crate::shadow_ban::delay(&state.settings.limits).await;
        return Ok(new_event_id(state));
    }
    let room_state = require_room(state, room_id).await?;
    authorise_send(&room_state, &actor.user_id, "m.room.redaction", false)?;
    let original = state.storage.event(redacts.as_str()).await?;
    if let Some(original) = &original {
        if original.event.room_id != room_id {
            return Err(ApiError::new(400, ErrCode::UNKNOWN, "Cannot redact event from a different room"));
        }
    }
    let original_sender = original.map(|stored| stored.event.sender);
    authorise_redaction(&room_state, &actor.user_id, original_sender.as_deref())?;
    content.insert("redacts".to_owned(), redacts.as_str().into());
    let event = build_event(state, room_id, &actor.user_id, "m.room.redaction", None, content);
    let sender = actor.user_id.clone();
    let authorise: Authorise =
        Box::new(move |now| authorise_redaction(now, &sender, original_sender.as_deref()).map_err(|error| error.0));
    Ok(persist(state, event, &room_state, Some(txn), true, authorise).await?.event_id)
}

/// The event as a client sees it. A redaction also carries `redacts` at the top level,
/// where room versions up to 10 put it (this server keeps it in `content`, as version 11
/// does, and clients read either).
pub(crate) fn client_event(event: &Event, txn_id: Option<&str>, viewer: Option<&UserId>) -> Value {
    let mut value = Value::Object(event.get_dict());
    if let Some(redacts) = crate::redaction::redacts(event) {
        value["redacts"] = redacts.into();
    }
    if let (Some(txn_id), Some(viewer)) = (txn_id, viewer) {
        if viewer == event.sender {
            value["unsigned"]["transaction_id"] = txn_id.into();
        }
    }
    value
}
