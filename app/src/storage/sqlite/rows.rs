//! Reading rows back into storage types, and rusqlite errors into storage errors.

use mxmod::types::{
    Event, JsonObject, OwnedRoomId, OwnedUserId, PresenceKind, RoomId, StateMap, UserId, UserPresenceState,
};
use rusqlite::{Connection, OptionalExtension};

use crate::storage::{AppendError, CreateRoomError, PresenceRecord, StorageError, StoredEvent, UserRecord};

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        match error {
            rusqlite::Error::FromSqlConversionFailure(_, _, cause) => Self::Corrupt(cause),
            other => Self::Database(Box::new(other)),
        }
    }
}

impl From<rusqlite::Error> for AppendError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl From<rusqlite::Error> for CreateRoomError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// A value that does not read back as what was stored.
pub(super) fn corrupt(error: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
}

pub(super) fn parse_event(json: &str, stream_ordering: i64, txn_id: Option<String>) -> rusqlite::Result<StoredEvent> {
    let event: Event = serde_json::from_str(json).map_err(corrupt)?;
    Ok(StoredEvent { stream_ordering, event, txn_id })
}

pub(super) fn user_id(text: String) -> rusqlite::Result<OwnedUserId> {
    UserId::parse(text.as_str()).map_err(corrupt)
}

pub(super) fn room_id(text: String) -> rusqlite::Result<OwnedRoomId> {
    RoomId::parse(text.as_str()).map_err(corrupt)
}

pub(super) fn json_object(text: &str) -> rusqlite::Result<JsonObject> {
    serde_json::from_str(text).map_err(corrupt)
}

pub(super) fn presence_kind(text: &str) -> PresenceKind {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap_or(PresenceKind::Offline)
}

pub(super) fn presence_text(kind: PresenceKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "offline".to_owned())
}

/// The columns [`event_row`] reads.
pub(super) const EVENT_COLUMNS: &str = "json, stream_ordering, txn_id";

pub(super) fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let json: String = row.get(0)?;
    parse_event(&json, row.get(1)?, row.get(2)?)
}

/// A `users` row whose columns start at `first`: user_id, password_hash, is_admin,
/// shadow_banned, deactivated, creation_ts.
pub(super) fn user_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user_id: user_id(row.get(first)?)?,
        password_hash: row.get(first + 1)?,
        is_admin: row.get(first + 2)?,
        shadow_banned: row.get(first + 3)?,
        deactivated: row.get(first + 4)?,
        creation_ts: row.get::<_, i64>(first + 5)? as u64,
    })
}

pub(super) fn presence_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PresenceRecord> {
    let state: String = row.get(2)?;
    Ok(PresenceRecord {
        stream_id: row.get(0)?,
        state: UserPresenceState {
            user_id: user_id(row.get(1)?)?,
            state: presence_kind(&state),
            status_msg: row.get(3)?,
            last_active_ts: row.get::<_, i64>(4)? as u64,
            currently_active: row.get(5)?,
        },
    })
}

/// A room's current state read from the database; `None` for an unknown room.
pub(super) fn load_room_state(connection: &Connection, room_id: &RoomId) -> rusqlite::Result<Option<StateMap>> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM rooms WHERE room_id = ?1")?
        .query_row([room_id.as_str()], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let mut statement = connection.prepare_cached(
        "SELECT e.json, e.stream_ordering, e.txn_id FROM current_state s JOIN events e ON e.event_id = s.event_id
         WHERE s.room_id = ?1 ORDER BY e.stream_ordering",
    )?;
    let mut state = StateMap::new();
    for stored in statement.query_map([room_id.as_str()], event_row)? {
        state.insert(stored?.event);
    }
    Ok(Some(state))
}
