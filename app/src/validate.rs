//! Input limits and rules every event and user-supplied string passes, with Synapse's
//! values and errcodes: event size, field lengths, canonical JSON, the `state_key` auth
//! rules, membership content, profile fields, aliases and the `createRoom` body.

use mxmod::{
    types::{Event, JsonObject, StateMap, UserId},
    ErrCode,
};
use serde_json::Value;

use crate::http::{ApiError, ApiResult};

/// Largest event, as JSON (the spec's and Synapse's `MAX_PDU_SIZE`).
pub(crate) const MAX_EVENT_SIZE: usize = 65_536;
/// Largest `type`, `state_key`, `sender`, `room_id` and `event_id`, in bytes.
pub(crate) const MAX_EVENT_FIELD: usize = 255;
/// Largest display name, in characters (Synapse's `MAX_DISPLAYNAME_LEN`).
pub(crate) const MAX_DISPLAYNAME: usize = 256;
/// Largest avatar URL, in characters (Synapse's `MAX_AVATAR_URL_LEN`).
pub(crate) const MAX_AVATAR_URL: usize = 1000;
/// Largest room alias, in characters (Synapse's `MAX_ALIAS_LENGTH`).
pub(crate) const MAX_ALIAS: usize = 255;
/// Canonical JSON integers lie in ±(2^53 - 1).
const CANONICAL_INT_MAX: i64 = (1 << 53) - 1;

fn too_large(error: impl Into<String>) -> ApiError {
    ApiError::new(413, ErrCode::TOO_LARGE, error)
}

/// Checks an event before it is stored, whichever path built it (send, state, membership,
/// `createRoom`): sizes (413 `M_TOO_LARGE`), canonical JSON (400 `M_BAD_JSON`), the auth
/// rules about `state_key` and `m.room.create` (403 `M_FORBIDDEN`), and the lengths of
/// the profile fields a membership event carries (400 `M_BAD_JSON`).
pub(crate) fn event(event: &Event, room_state: &StateMap) -> ApiResult<()> {
    for (field, value) in [
        ("type", event.event_type.as_str()),
        ("state_key", event.state_key.as_deref().unwrap_or_default()),
        ("sender", event.sender.as_str()),
        ("room_id", event.room_id.as_str()),
        ("event_id", event.event_id.as_str()),
    ] {
        if value.len() > MAX_EVENT_FIELD {
            return Err(too_large(format!("'{field}' too large")));
        }
    }
    canonical_json(&event.content)?;
    let size = serde_json::to_vec(event).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_EVENT_SIZE {
        return Err(too_large("event too large"));
    }
    if let Some(state_key) = event.state_key.as_deref() {
        let room_has_state = room_state.iter().next().is_some();
        state_rules(&event.event_type, state_key, &event.content, &event.sender, room_has_state)?;
    }
    if event.event_type == "m.room.member" {
        membership_content(&event.content)?;
    }
    Ok(())
}

/// Canonical JSON: integers in ±(2^53 - 1), no floats (Synapse's `validate_canonicaljson`).
pub(crate) fn canonical_json(content: &JsonObject) -> ApiResult<()> {
    let mut pending: Vec<&Value> = content.values().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::Number(number) => match number.as_i64() {
                Some(int) if (-CANONICAL_INT_MAX..=CANONICAL_INT_MAX).contains(&int) => {}
                Some(_) => return Err(ApiError::bad_json("JSON integer out of range")),
                None if number.is_u64() => return Err(ApiError::bad_json("JSON integer out of range")),
                None => return Err(ApiError::bad_json("Bad JSON value: float")),
            },
            Value::Array(list) => pending.extend(list),
            Value::Object(map) => pending.extend(map.values()),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
        }
    }
    Ok(())
}

/// The auth rules on state: `m.room.create` only as a room's first event; a `state_key`
/// that is a user ID only by that user (other users' memberships go through the
/// membership rules); a membership of `join` or `knock` only by the user themselves.
fn state_rules(
    event_type: &str,
    state_key: &str,
    content: &JsonObject,
    sender: &UserId,
    room_has_state: bool,
) -> ApiResult<()> {
    if event_type == "m.room.create" {
        if room_has_state {
            return Err(ApiError::forbidden("The room already has a create event"));
        }
        return Ok(());
    }
    if event_type == "m.room.member" {
        let target =
            UserId::parse(state_key).map_err(|_| ApiError::bad_json("m.room.member needs a user ID as state key"))?;
        let membership = content.get("membership").and_then(Value::as_str);
        if membership == Some("invite") && target.server_name() != sender.server_name() {
            // Inviting a remote user needs federation, which this server does not speak:
            // Synapse's answer with an empty `federation_domain_whitelist`.
            return Err(ApiError::forbidden(format!("Federation denied with {}.", target.server_name())));
        }
        if matches!(membership, Some("join" | "knock")) && state_key != sender.as_str() {
            return Err(ApiError::forbidden("You cannot make another user join"));
        }
        if !matches!(membership, Some("join" | "knock" | "invite" | "leave" | "ban")) {
            return Err(ApiError::bad_json("Invalid membership"));
        }
        return Ok(());
    }
    if state_key.starts_with('@') && state_key != sender.as_str() {
        return Err(ApiError::forbidden("You are not allowed to set others state"));
    }
    Ok(())
}

/// The profile fields a membership event may carry (400 `M_BAD_JSON`, as Synapse's
/// membership handler answers).
pub(crate) fn membership_content(content: &JsonObject) -> ApiResult<()> {
    if let Some(name) = content.get("displayname").and_then(Value::as_str) {
        if name.chars().count() > MAX_DISPLAYNAME {
            return Err(ApiError::bad_json(format!("Displayname is too long (max {MAX_DISPLAYNAME})")));
        }
    }
    if let Some(url) = content.get("avatar_url").and_then(Value::as_str) {
        if url.chars().count() > MAX_AVATAR_URL {
            return Err(ApiError::bad_json(format!("Avatar URL is too long (max {MAX_AVATAR_URL})")));
        }
    }
    Ok(())
}

/// A new profile field (`PUT /profile/...`): 400 `M_UNKNOWN` over the limit, as
/// Synapse's profile handler answers.
pub(crate) fn profile_field(field: &str, value: &str) -> ApiResult<()> {
    let (limit, what) = match field {
        "displayname" => (MAX_DISPLAYNAME, "Displayname"),
        "avatar_url" => (MAX_AVATAR_URL, "Avatar URL"),
        _ => return Ok(()),
    };
    if value.chars().count() > limit {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, format!("{what} is too long (max {limit})")));
    }
    Ok(())
}

/// A room alias a user asks for (400 `M_INVALID_PARAM` over 255 characters).
pub(crate) fn alias(alias: &str) -> ApiResult<()> {
    if alias.chars().count() > MAX_ALIAS {
        return Err(ApiError::invalid_param(format!("Can't create aliases longer than {MAX_ALIAS} characters")));
    }
    Ok(())
}

/// The `POST /createRoom` body: each known key has its type (400 `M_BAD_JSON`), the
/// preset and visibility are known values, and every `initial_state` entry is a state
/// event with a string type, a string state key and an object content.
/// The `creator`'s `initial_state` events pass the state rules before the room exists,
/// so a refused one leaves no half-made room.
pub(crate) fn create_room_request(request: &JsonObject, creator: &UserId, server_name: &str) -> ApiResult<()> {
    let wrong = |key: &str, what: &str| ApiError::bad_json(format!("`{key}` must be {what}"));
    for key in ["name", "topic", "room_alias_name", "room_version"] {
        if request.get(key).is_some_and(|v| !v.is_string()) {
            return Err(wrong(key, "a string"));
        }
    }
    for key in ["creation_content", "power_level_content_override"] {
        if request.get(key).is_some_and(|v| !v.is_object()) {
            return Err(wrong(key, "an object"));
        }
    }
    if request.get("is_direct").is_some_and(|v| !v.is_boolean()) {
        return Err(wrong("is_direct", "a boolean"));
    }
    match request.get("preset") {
        None | Some(Value::Null) => {}
        Some(Value::String(preset))
            if matches!(preset.as_str(), "private_chat" | "public_chat" | "trusted_private_chat") => {}
        Some(Value::String(preset)) => return Err(ApiError::bad_json(format!("'{preset}' is not a valid preset"))),
        Some(_) => return Err(wrong("preset", "a string")),
    }
    match request.get("visibility") {
        None => {}
        Some(Value::String(visibility)) if matches!(visibility.as_str(), "public" | "private") => {}
        Some(_) => return Err(wrong("visibility", "`public` or `private`")),
    }
    match request.get("invite") {
        None => {}
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {}
        Some(_) => return Err(wrong("invite", "a list of user IDs")),
    }
    if let Some(Value::String(local)) = request.get("room_alias_name") {
        alias(&format!("#{local}:{server_name}"))?;
    }
    match request.get("initial_state") {
        None => Ok(()),
        Some(Value::Array(list)) => list.iter().try_for_each(|entry| initial_state_entry(entry, creator)),
        Some(_) => Err(wrong("initial_state", "a list of state events")),
    }
}

fn initial_state_entry(entry: &Value, creator: &UserId) -> ApiResult<()> {
    let invalid = || {
        ApiError::bad_json(
            "every `initial_state` event needs a string `type`, a string `state_key` and an object `content`",
        )
    };
    let Value::Object(entry) = entry else { return Err(invalid()) };
    let type_ok = entry.get("type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    let key_ok = entry.get("state_key").is_none_or(Value::is_string);
    let content_ok = entry.get("content").is_none_or(Value::is_object);
    if !(type_ok && key_ok && content_ok) {
        return Err(invalid());
    }
    let event_type = entry.get("type").and_then(Value::as_str).unwrap_or_default();
    let state_key = entry.get("state_key").and_then(Value::as_str).unwrap_or_default();
    let empty = JsonObject::new();
    let content = entry.get("content").and_then(Value::as_object).unwrap_or(&empty);
    canonical_json(content)?;
    // The create event exists by the time initial state is sent.
    state_rules(event_type, state_key, content, creator, true)
}

/// Whether a localpart may be given to a new account: non-empty, made of
/// `a-z 0-9 . _ = - /` (Synapse's rule for registration).
pub(crate) fn new_localpart(localpart: &str) -> bool {
    !localpart.is_empty()
        && localpart.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/".contains(c))
}
