//! Devices, password changes, push-rule documents, filters and the unread events that
//! notification counts are computed on: the SQLite side of what a client's session needs
//! beyond rooms. Each write is one statement group run by the writer in its savepoint.

use mxmod::{
    types::{JsonObject, RoomId, UserId},
    MatrixError,
};
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    rows::{event_row, json_object, EVENT_COLUMNS},
    writer::WriteContext,
};
use crate::storage::{Device, FilterError, LogOut, PushRulesEdit, StorageError, StoredEvent, MAX_FILTERS_PER_USER};

/// Records a device (once) when a login creates a token for it.
pub(super) fn note_device(connection: &Connection, user_id: &str, device_id: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached("INSERT OR IGNORE INTO devices (user_id, device_id) VALUES (?1, ?2)")?
        .execute(params![user_id, device_id])
        .map(drop)
}

pub(super) fn devices(connection: &Connection, user_id: &UserId) -> rusqlite::Result<Vec<Device>> {
    let mut statement = connection
        .prepare_cached("SELECT device_id, display_name FROM devices WHERE user_id = ?1 ORDER BY device_id")?;
    let rows = statement
        .query_map([user_id.as_str()], |row| Ok(Device { device_id: row.get(0)?, display_name: row.get(1)? }))?;
    rows.collect()
}

pub(super) fn rename_device(
    connection: &Connection,
    user_id: &UserId,
    device_id: &str,
    display_name: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = connection
        .prepare_cached("UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2")?
        .execute(params![user_id.as_str(), device_id, display_name])?;
    Ok(changed > 0)
}

pub(super) fn delete_devices(
    connection: &Connection,
    user_id: &UserId,
    device_ids: &[String],
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut deleted = Vec::new();
    for device_id in device_ids {
        connection
            .prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2")?
            .execute(params![user_id.as_str(), device_id])?;
        let mut statement = connection.prepare_cached(
            "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2 RETURNING token, device_id",
        )?;
        let rows = statement.query_map(params![user_id.as_str(), device_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
        for row in rows {
            deleted.push(row?);
        }
    }
    Ok(deleted)
}

/// `Storage::set_password`, in the writer's transaction.
pub(super) fn set_password(
    connection: &Connection,
    user_id: &UserId,
    password_hash: &str,
    log_out: LogOut<'_>,
) -> rusqlite::Result<Vec<(String, String)>> {
    connection
        .prepare_cached("UPDATE users SET password_hash = ?2 WHERE user_id = ?1")?
        .execute(params![user_id.as_str(), password_hash])?;
    end_sessions(connection, user_id, log_out)
}

/// Deletes the devices and tokens `log_out` names (in the caller's transaction):
/// `(stored form, device)` of each deleted token.
pub(super) fn end_sessions(
    connection: &Connection,
    user_id: &UserId,
    log_out: LogOut<'_>,
) -> rusqlite::Result<Vec<(String, String)>> {
    // `IS NOT NULL` is true of every row: `Everything` keeps nothing.
    let (kept_device, kept_token) = match log_out {
        LogOut::Nothing => return Ok(Vec::new()),
        LogOut::AllBut { device_id, token } => (Some(device_id), Some(token)),
        LogOut::Everything => (None, None),
    };
    connection
        .prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id IS NOT ?2")?
        .execute(params![user_id.as_str(), kept_device])?;
    let mut statement = connection.prepare_cached(
        "DELETE FROM access_tokens WHERE user_id = ?1 AND token IS NOT ?2 RETURNING token, device_id",
    )?;
    let rows = statement.query_map(params![user_id.as_str(), kept_token], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

pub(super) fn push_rules(connection: &Connection, user_id: &UserId) -> rusqlite::Result<JsonObject> {
    let text: Option<String> = connection
        .prepare_cached("SELECT rules FROM push_rules WHERE user_id = ?1")?
        .query_row([user_id.as_str()], |row| row.get(0))
        .optional()?;
    text.map(|text| json_object(&text)).transpose().map(Option::unwrap_or_default)
}

pub(super) fn update_push_rules(
    context: &mut WriteContext<'_>,
    user_id: &UserId,
    edit: PushRulesEdit,
) -> Result<Result<(), MatrixError>, StorageError> {
    let current = push_rules(context.connection, user_id)?;
    let updated = match edit(current) {
        Ok(updated) => updated,
        Err(refused) => return Ok(Err(refused)),
    };
    let text = serde_json::to_string(&updated).map_err(|error| StorageError::Corrupt(Box::new(error)))?;
    context
        .connection
        .prepare_cached(
            "INSERT INTO push_rules (user_id, rules) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules",
        )?
        .execute(params![user_id.as_str(), text])?;
    context.wake_user(user_id.to_owned());
    Ok(Ok(()))
}

pub(super) fn unread_events(
    connection: &Connection,
    user_id: &UserId,
    room_id: &RoomId,
    until: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ?1 AND stream_ordering <= ?3 AND stream_ordering > max(
            coalesce((SELECT e.stream_ordering FROM current_state s JOIN events e ON e.event_id = s.event_id
                      WHERE s.room_id = ?1 AND s.type = 'm.room.member' AND s.state_key = ?2), ?3),
            coalesce((SELECT max(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
                      WHERE r.user_id = ?2 AND r.room_id = ?1 AND r.receipt_type IN ('m.read', 'm.read.private')), 0))
         ORDER BY stream_ordering DESC LIMIT ?4"
    ))?;
    let rows = statement.query_map(params![room_id.as_str(), user_id.as_str(), until, limit as i64], event_row)?;
    let mut events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    events.reverse();
    Ok(events)
}

pub(super) fn create_filter(connection: &Connection, user_id: &UserId, filter: &str) -> Result<u64, FilterError> {
    let existing: Option<i64> = connection
        .prepare_cached("SELECT filter_id FROM filters WHERE user_id = ?1 AND json = ?2")?
        .query_row(params![user_id.as_str(), filter], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id as u64);
    }
    let (count, next): (i64, i64) = connection
        .prepare_cached("SELECT count(*), coalesce(max(filter_id), -1) + 1 FROM filters WHERE user_id = ?1")?
        .query_row([user_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    if count as usize >= MAX_FILTERS_PER_USER {
        return Err(FilterError::TooMany);
    }
    connection
        .prepare_cached("INSERT INTO filters (user_id, filter_id, json) VALUES (?1, ?2, ?3)")?
        .execute(params![user_id.as_str(), next, filter])?;
    Ok(next as u64)
}

pub(super) fn filter(connection: &Connection, user_id: &UserId, filter_id: u64) -> rusqlite::Result<Option<String>> {
    let Ok(filter_id) = i64::try_from(filter_id) else { return Ok(None) };
    connection
        .prepare_cached("SELECT json FROM filters WHERE user_id = ?1 AND filter_id = ?2")?
        .query_row(params![user_id.as_str(), filter_id], |row| row.get(0))
        .optional()
}

impl From<rusqlite::Error> for FilterError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Storage(error.into())
    }
}
