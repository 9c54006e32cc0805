//! Reading PostgreSQL rows back into storage types, and driver errors into storage errors.

use mxmod::types::{Event, OwnedRoomId, OwnedUserId, PresenceKind, RoomId, UserId, UserPresenceState};
use tokio_postgres::Row;

use crate::storage::{AppendError, CreateRoomError, PresenceRecord, StorageError, StoredEvent, UserRecord};

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(Box::new(error))
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Database(Box::new(error))
    }
}

impl From<tokio_postgres::Error> for AppendError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl From<tokio_postgres::Error> for CreateRoomError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// A stored value that does not read back as what was written.
pub(super) fn corrupt(error: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Corrupt(Box::new(error))
}

/// The columns [`event_row`] reads, in order.
pub(super) const EVENT_COLUMNS: &str = "json, stream_ordering, txn_id";

/// An event row of [`EVENT_COLUMNS`] whose columns start at `first`.
pub(super) fn event_row(row: &Row, first: usize) -> Result<StoredEvent, StorageError> {
    let json: String = row.try_get(first)?;
    let event: Event = serde_json::from_str(&json).map_err(corrupt)?;
    Ok(StoredEvent { stream_ordering: row.try_get(first + 1)?, event, txn_id: row.try_get(first + 2)? })
}

/// Rows of [`EVENT_COLUMNS`].
pub(super) fn event_rows(rows: &[Row]) -> Result<Vec<StoredEvent>, StorageError> {
    rows.iter().map(|row| event_row(row, 0)).collect()
}

pub(super) fn user_id(text: &str) -> Result<OwnedUserId, StorageError> {
    UserId::parse(text).map_err(corrupt)
}

pub(super) fn room_id(text: &str) -> Result<OwnedRoomId, StorageError> {
    RoomId::parse(text).map_err(corrupt)
}

/// A `users` row whose columns start at `first`: user_id, password_hash, is_admin,
/// shadow_banned, deactivated, creation_ts.
pub(super) fn user_row(row: &Row, first: usize) -> Result<UserRecord, StorageError> {
    Ok(UserRecord {
        user_id: user_id(row.try_get(first)?)?,
        password_hash: row.try_get(first + 1)?,
        is_admin: row.try_get(first + 2)?,
        shadow_banned: row.try_get(first + 3)?,
        deactivated: row.try_get(first + 4)?,
        creation_ts: row.try_get::<_, i64>(first + 5)? as u64,
    })
}

/// The columns [`presence_row`] reads, in order.
pub(super) const PRESENCE_COLUMNS: &str = "stream_id, user_id, state, status_msg, last_active_ts, currently_active";

pub(super) fn presence_row(row: &Row) -> Result<PresenceRecord, StorageError> {
    let state: &str = row.try_get(2)?;
    Ok(PresenceRecord {
        stream_id: row.try_get(0)?,
        state: UserPresenceState {
            user_id: user_id(row.try_get(1)?)?,
            state: presence_kind(state),
            status_msg: row.try_get(3)?,
            last_active_ts: row.try_get::<_, i64>(4)? as u64,
            currently_active: row.try_get(5)?,
        },
    })
}

fn presence_kind(text: &str) -> PresenceKind {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap_or(PresenceKind::Offline)
}

pub(super) fn presence_text(kind: PresenceKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "offline".to_owned())
}
