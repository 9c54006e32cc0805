//! What a client's session needs beyond rooms, on PostgreSQL: room account data, read
//! receipts, forgotten rooms, past room state, event reports, devices, password changes,
//! push-rule documents, unread events and filters; and the redaction an append applies
//! to its target. Each write is one transaction; a read-modify-write first takes a
//! transaction-level advisory lock on what it modifies, so concurrent ones (from any
//! process) run one after the other.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Object, Transaction};
use mxmod::{
    types::{Event, JsonObject, OwnedEventId, OwnedRoomId, RoomId, StateMap, UserId},
    MatrixError,
};

use super::{
    changes::{Changes, RoomChange},
    positions::{allocate, Stream},
    rows::{corrupt, event_rows, room_id, user_id, EVENT_COLUMNS},
    writes::notify,
};
use crate::storage::{
    Device, EventReport, FilterError, Forget, LogOut, PushRulesEdit, Receipt, ReceiptRecord, RoomAccountData,
    StorageResult, StoredEvent, UpdateAccountData, MAX_FILTERS_PER_USER,
};

impl From<tokio_postgres::Error> for FilterError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Storage(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for FilterError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Storage(error.into())
    }
}

impl super::Failure for FilterError {
    fn is_database_failure(&self) -> bool {
        matches!(self, Self::Storage(_))
    }
}

/// Serialises the transactions that modify `key` until the caller's transaction ends
/// (single-key advisory locks; the stream positions use the two-key form).
async fn lock(transaction: &Transaction<'_>, key: &str) -> Result<(), tokio_postgres::Error> {
    let statement = transaction.prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").await?;
    transaction.execute(&statement, &[&key]).await.map(drop)
}

fn json(text: &str) -> StorageResult<JsonObject> {
    serde_json::from_str(text).map_err(corrupt)
}

/// Applies a redaction event, just stored in `transaction`, to the event it names in the
/// same room (if stored and not redacted yet): the pruned original replaces the stored
/// one. Returns the room state after, and whether the redaction changed it (the target
/// was in the current state).
pub(super) async fn apply_redaction(
    transaction: &Transaction<'_>,
    redaction: &Event,
    state: Arc<StateMap>,
) -> StorageResult<(Arc<StateMap>, bool)> {
    let Some(target_id) = crate::redaction::redacts(redaction) else { return Ok((state, false)) };
    let statement =
        transaction.prepare_cached("SELECT json FROM events WHERE event_id = $1 AND room_id = $2 FOR UPDATE").await?;
    let Some(row) = transaction.query_opt(&statement, &[&target_id, &redaction.room_id.as_str()]).await? else {
        return Ok((state, false));
    };
    let target: Event = serde_json::from_str(row.try_get(0)?).map_err(corrupt)?;
    if target.unsigned.contains_key("redacted_because") {
        return Ok((state, false));
    }
    let redacted = crate::redaction::redact(&target, redaction);
    let text = serde_json::to_string(&redacted).map_err(corrupt)?;
    let statement = transaction.prepare_cached("UPDATE events SET json = $2 WHERE event_id = $1").await?;
    transaction.execute(&statement, &[&target_id, &text]).await?;
    let in_state = redacted.state_key.as_ref().is_some_and(|key| {
        state.get(redacted.event_type.as_str(), key.as_str()).is_some_and(|event| event.event_id == redacted.event_id)
    });
    if !in_state {
        return Ok((state, false));
    }
    let mut changed = (*state).clone();
    changed.insert(redacted);
    Ok((Arc::new(changed), true))
}

async fn read_room_account_data(
    client: &impl GenericClient,
    user: &UserId,
    room: &RoomId,
    data_type: &str,
) -> StorageResult<Option<JsonObject>> {
    let statement = client
        .prepare_cached("SELECT content FROM room_account_data WHERE user_id = $1 AND room_id = $2 AND type = $3")
        .await?;
    let row = client.query_opt(&statement, &[&user.as_str(), &room.as_str(), &data_type]).await?;
    row.map(|row| json(row.try_get(0)?)).transpose()
}

/// `Storage::room_account_data`.
pub(super) async fn room_account_data(
    client: &Object,
    user: &UserId,
    room: &RoomId,
    data_type: &str,
) -> StorageResult<Option<JsonObject>> {
    read_room_account_data(client, user, room, data_type).await
}

/// `Storage::update_room_account_data`: at a new account-data position; wakes its user.
pub(super) async fn update_room_account_data(
    client: &mut Object,
    changes: &mut Changes,
    user: &UserId,
    room: &RoomId,
    data_type: &str,
    update: UpdateAccountData,
) -> StorageResult<Option<JsonObject>> {
    let transaction = client.transaction().await?;
    lock(&transaction, &format!("room_account_data\n{user}\n{room}\n{data_type}")).await?;
    let stored = read_room_account_data(&transaction, user, room, data_type).await?;
    let Some(content) = update(stored) else { return Ok(None) };
    let text = serde_json::to_string(&content).map_err(corrupt)?;
    let position = allocate(&transaction, Stream::AccountData).await?;
    changes.written.account_data = position;
    let statement = transaction
        .prepare_cached(
            "INSERT INTO room_account_data (user_id, room_id, type, content, stream_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id",
        )
        .await?;
    transaction.execute(&statement, &[&user.as_str(), &room.as_str(), &data_type, &text, &position]).await?;
    changes.users.push(user.to_owned());
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(Some(content))
}

/// `Storage::room_account_data_between`.
pub(super) async fn room_account_data_between(
    client: &Object,
    user: &UserId,
    since: i64,
    until: i64,
) -> StorageResult<Vec<RoomAccountData>> {
    let statement = client
        .prepare_cached(
            "SELECT room_id, type, content FROM room_account_data
             WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id",
        )
        .await?;
    let rows = client.query(&statement, &[&user.as_str(), &since, &until]).await?;
    rows.iter()
        .map(|row| {
            Ok(RoomAccountData {
                room_id: room_id(row.try_get(0)?)?,
                data_type: row.try_get(1)?,
                content: json(row.try_get(2)?)?,
            })
        })
        .collect()
}

/// `Storage::set_receipt`: under the lock of the receipt's kind (room, user, type,
/// thread), the stored receipt is replaced only when it points at an earlier event; a
/// position is drawn only for a receipt that is written.
pub(super) async fn set_receipt(
    client: &mut Object,
    changes: &mut Changes,
    receipt: &Receipt,
) -> StorageResult<Option<i64>> {
    let transaction = client.transaction().await?;
    let statement =
        transaction.prepare_cached("SELECT stream_ordering FROM events WHERE event_id = $1 AND room_id = $2").await?;
    let room = receipt.room_id.as_str();
    let Some(row) = transaction.query_opt(&statement, &[&receipt.event_id.as_str(), &room]).await? else {
        return Ok(None);
    };
    let event_position: i64 = row.try_get(0)?;
    let thread = receipt.thread_id.as_deref().unwrap_or_default();
    let (user, kind) = (receipt.user_id.as_str(), receipt.receipt_type.as_str());
    lock(&transaction, &format!("receipts\n{room}\n{user}\n{kind}\n{thread}")).await?;
    let statement = transaction
        .prepare_cached(
            "SELECT e.stream_ordering FROM receipts r JOIN events e ON e.event_id = r.event_id
             WHERE r.room_id = $1 AND r.user_id = $2 AND r.receipt_type = $3 AND r.thread_id = $4",
        )
        .await?;
    let existing = transaction.query_opt(&statement, &[&room, &user, &kind, &thread]).await?;
    if existing.map(|row| row.try_get::<_, i64>(0)).transpose()?.is_some_and(|existing| existing >= event_position) {
        return Ok(None);
    }
    let position = allocate(&transaction, Stream::Receipts).await?;
    let ts = i64::try_from(receipt.ts).unwrap_or(i64::MAX);
    let statement = transaction
        .prepare_cached(
            "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE
                 SET event_id = excluded.event_id, ts = excluded.ts, stream_id = excluded.stream_id",
        )
        .await?;
    transaction
        .execute(&statement, &[&room, &user, &kind, &thread, &receipt.event_id.as_str(), &ts, &position])
        .await?;
    changes.written.receipts = position;
    if receipt.receipt_type == "m.read.private" {
        changes.users.push(receipt.user_id.clone());
    } else {
        changes.rooms.push(RoomChange {
            room_id: receipt.room_id.clone(),
            state_version: None,
            invited: false,
            state: None,
        });
    }
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(Some(position))
}

/// `Storage::receipts_between`.
pub(super) async fn receipts_between(
    client: &Object,
    room_ids: &[OwnedRoomId],
    since: i64,
    until: i64,
) -> StorageResult<Vec<ReceiptRecord>> {
    let rooms: Vec<&str> = room_ids.iter().map(|room| room.as_str()).collect();
    let statement = client
        .prepare_cached(
            "SELECT stream_id, room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts
             WHERE stream_id > $1 AND stream_id <= $2 AND room_id = ANY($3) ORDER BY stream_id",
        )
        .await?;
    let rows = client.query(&statement, &[&since, &until, &rooms]).await?;
    rows.iter()
        .map(|row| {
            let thread_id: String = row.try_get(4)?;
            let event_id: String = row.try_get(5)?;
            Ok(ReceiptRecord {
                stream_id: row.try_get(0)?,
                receipt: Receipt {
                    room_id: room_id(row.try_get(1)?)?,
                    user_id: user_id(row.try_get(2)?)?,
                    receipt_type: row.try_get(3)?,
                    thread_id: (!thread_id.is_empty()).then_some(thread_id),
                    event_id: OwnedEventId::try_from(event_id).map_err(corrupt)?,
                    ts: u64::try_from(row.try_get::<_, i64>(6)?).unwrap_or_default(),
                },
            })
        })
        .collect()
}

/// `Storage::read_up_to`.
pub(super) async fn read_up_to(client: &Object, user: &UserId, room: &RoomId) -> StorageResult<Option<i64>> {
    let statement = client
        .prepare_cached(
            "SELECT max(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
             WHERE r.user_id = $1 AND r.room_id = $2 AND r.receipt_type IN ('m.read', 'm.read.private')",
        )
        .await?;
    Ok(client.query_one(&statement, &[&user.as_str(), &room.as_str()]).await?.try_get(0)?)
}

/// `Storage::forget_room`: the room row is share-locked first, so no membership change
/// (appends lock it for update) lands between the check and the write.
pub(super) async fn forget_room(client: &mut Object, user: &UserId, room: &RoomId) -> StorageResult<Forget> {
    let transaction = client.transaction().await?;
    transaction.execute("SELECT 1 FROM rooms WHERE room_id = $1 FOR SHARE", &[&room.as_str()]).await?;
    let statement = transaction
        .prepare_cached(
            "SELECT membership FROM current_state WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2",
        )
        .await?;
    let membership: Option<Option<String>> = transaction
        .query_opt(&statement, &[&room.as_str(), &user.as_str()])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    match membership.flatten() {
        Some(membership) if !matches!(membership.as_str(), "leave" | "ban") => {
            return Ok(Forget::StillInRoom(membership))
        }
        None => return Ok(Forget::Forgotten),
        Some(_) => {}
    }
    transaction
        .execute(
            "INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user.as_str(), &room.as_str()],
        )
        .await?;
    transaction.commit().await?;
    Ok(Forget::Forgotten)
}

/// `Storage::state_at` for a room known to exist: its state events up to `position`.
pub(super) async fn state_at(client: &Object, room: &RoomId, position: i64) -> StorageResult<StateMap> {
    let statement = client
        .prepare_cached(
            "SELECT json FROM events WHERE room_id = $1 AND stream_ordering <= $2
             AND (json::jsonb ->> 'state_key') IS NOT NULL ORDER BY stream_ordering",
        )
        .await?;
    let mut state = StateMap::new();
    for row in client.query(&statement, &[&room.as_str(), &position]).await? {
        state.insert(serde_json::from_str(row.try_get(0)?).map_err(corrupt)?);
    }
    Ok(state)
}

/// `Storage::report_event`.
pub(super) async fn report_event(client: &Object, report: &EventReport) -> StorageResult<()> {
    let received = i64::try_from(report.received_ts).unwrap_or(i64::MAX);
    client
        .execute(
            "INSERT INTO event_reports (received_ts, room_id, event_id, user_id, reason, score)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &received,
                &report.room_id.as_str(),
                &report.event_id.as_str(),
                &report.user_id.as_str(),
                &report.reason,
                &report.score,
            ],
        )
        .await?;
    Ok(())
}

/// `Storage::devices`.
pub(super) async fn devices(client: &Object, user: &UserId) -> StorageResult<Vec<Device>> {
    let statement = client
        .prepare_cached("SELECT device_id, display_name FROM devices WHERE user_id = $1 ORDER BY device_id")
        .await?;
    let rows = client.query(&statement, &[&user.as_str()]).await?;
    rows.iter().map(|row| Ok(Device { device_id: row.try_get(0)?, display_name: row.try_get(1)? })).collect()
}

/// `Storage::rename_device`.
pub(super) async fn rename_device(
    client: &Object,
    user: &UserId,
    device_id: &str,
    display_name: Option<&str>,
) -> StorageResult<bool> {
    let changed = client
        .execute(
            "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
            &[&user.as_str(), &device_id, &display_name],
        )
        .await?;
    Ok(changed > 0)
}

/// `Storage::delete_devices`: the devices and their tokens, in one transaction;
/// `(stored form, device)` of each deleted token.
pub(super) async fn delete_devices(
    client: &mut Object,
    user: &UserId,
    device_ids: &[String],
) -> StorageResult<Vec<(String, String)>> {
    let transaction = client.transaction().await?;
    transaction
        .execute("DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2)", &[&user.as_str(), &device_ids])
        .await?;
    let rows = transaction
        .query(
            "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = ANY($2) RETURNING token, device_id",
            &[&user.as_str(), &device_ids],
        )
        .await?;
    let deleted = rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<StorageResult<Vec<_>>>()?;
    transaction.commit().await?;
    Ok(deleted)
}

/// `Storage::set_password`: the hash and the devices and tokens `log_out` names, in one
/// transaction.
pub(super) async fn set_password(
    client: &mut Object,
    user: &UserId,
    password_hash: &str,
    log_out: LogOut<'_>,
) -> StorageResult<Vec<(String, String)>> {
    let transaction = client.transaction().await?;
    transaction
        .execute("UPDATE users SET password_hash = $2 WHERE user_id = $1", &[&user.as_str(), &password_hash])
        .await?;
    let deleted = end_sessions(&transaction, user, log_out).await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// `Storage::log_out_everywhere`: every device and token, in one transaction.
pub(super) async fn log_out_everywhere(client: &mut Object, user: &UserId) -> StorageResult<Vec<(String, String)>> {
    let transaction = client.transaction().await?;
    let deleted = end_sessions(&transaction, user, LogOut::Everything).await?;
    transaction.commit().await?;
    Ok(deleted)
}

/// Deletes the devices and tokens `log_out` names (in the caller's transaction):
/// `(stored form, device)` of each deleted token.
async fn end_sessions(
    transaction: &Transaction<'_>,
    user: &UserId,
    log_out: LogOut<'_>,
) -> StorageResult<Vec<(String, String)>> {
    // `IS DISTINCT FROM NULL` is true of every row: `Everything` keeps nothing.
    let (kept_device, kept_token) = match log_out {
        LogOut::Nothing => return Ok(Vec::new()),
        LogOut::AllBut { device_id, token } => (Some(device_id), Some(token)),
        LogOut::Everything => (None, None),
    };
    transaction
        .execute(
            "DELETE FROM devices WHERE user_id = $1 AND device_id IS DISTINCT FROM $2::TEXT",
            &[&user.as_str(), &kept_device],
        )
        .await?;
    let rows = transaction
        .query(
            "DELETE FROM access_tokens WHERE user_id = $1 AND token IS DISTINCT FROM $2::TEXT
             RETURNING token, device_id",
            &[&user.as_str(), &kept_token],
        )
        .await?;
    rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
}

async fn read_push_rules(client: &impl GenericClient, user: &UserId) -> StorageResult<JsonObject> {
    let statement = client.prepare_cached("SELECT rules FROM push_rules WHERE user_id = $1").await?;
    let row = client.query_opt(&statement, &[&user.as_str()]).await?;
    row.map(|row| json(row.try_get(0)?)).transpose().map(Option::unwrap_or_default)
}

/// `Storage::push_rules`.
pub(super) async fn push_rules(client: &Object, user: &UserId) -> StorageResult<JsonObject> {
    read_push_rules(client, user).await
}

/// `Storage::update_push_rules`: under the user's push-rule lock; wakes their syncs.
pub(super) async fn update_push_rules(
    client: &mut Object,
    changes: &mut Changes,
    user: &UserId,
    edit: PushRulesEdit,
) -> StorageResult<Result<(), MatrixError>> {
    let transaction = client.transaction().await?;
    lock(&transaction, &format!("push_rules\n{user}")).await?;
    let current = read_push_rules(&transaction, user).await?;
    let updated = match edit(current) {
        Ok(updated) => updated,
        Err(refused) => return Ok(Err(refused)),
    };
    let text = serde_json::to_string(&updated).map_err(corrupt)?;
    transaction
        .execute(
            "INSERT INTO push_rules (user_id, rules) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules",
            &[&user.as_str(), &text],
        )
        .await?;
    changes.users.push(user.to_owned());
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(Ok(()))
}

/// `Storage::unread_events`.
pub(super) async fn unread_events(
    client: &Object,
    user: &UserId,
    room: &RoomId,
    until: i64,
    limit: usize,
) -> StorageResult<Vec<StoredEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering <= $3 AND stream_ordering > greatest(
            coalesce((SELECT e.stream_ordering FROM current_state s JOIN events e ON e.event_id = s.event_id
                      WHERE s.room_id = $1 AND s.type = 'm.room.member' AND s.state_key = $2), $3),
            coalesce((SELECT max(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
                      WHERE r.user_id = $2 AND r.room_id = $1 AND r.receipt_type IN ('m.read', 'm.read.private')), 0))
         ORDER BY stream_ordering DESC LIMIT $4"
    );
    let statement = client.prepare_cached(&sql).await?;
    let mut events = event_rows(&client.query(&statement, &[&room.as_str(), &user.as_str(), &until, &limit]).await?)?;
    events.reverse();
    Ok(events)
}

/// `Storage::create_filter`: under the user's filter lock, so the count and the next ID
/// hold until the insert.
pub(super) async fn create_filter(client: &mut Object, user: &UserId, filter: &str) -> Result<u64, FilterError> {
    let transaction = client.transaction().await?;
    lock(&transaction, &format!("filters\n{user}")).await?;
    let existing = transaction
        .query_opt(
            "SELECT filter_id FROM filters WHERE user_id = $1 AND md5(json) = md5($2) AND json = $2",
            &[&user.as_str(), &filter],
        )
        .await?;
    if let Some(row) = existing {
        return Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or_default());
    }
    let row = transaction
        .query_one(
            "SELECT count(*), coalesce(max(filter_id), -1) + 1 FROM filters WHERE user_id = $1",
            &[&user.as_str()],
        )
        .await?;
    let (count, next): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_FILTERS_PER_USER {
        return Err(FilterError::TooMany);
    }
    transaction
        .execute(
            "INSERT INTO filters (user_id, filter_id, json) VALUES ($1, $2, $3)",
            &[&user.as_str(), &next, &filter],
        )
        .await?;
    transaction.commit().await?;
    Ok(u64::try_from(next).unwrap_or_default())
}

/// `Storage::filter`.
pub(super) async fn filter(client: &Object, user: &UserId, filter_id: u64) -> StorageResult<Option<String>> {
    let Ok(filter_id) = i64::try_from(filter_id) else { return Ok(None) };
    let row = client
        .query_opt("SELECT json FROM filters WHERE user_id = $1 AND filter_id = $2", &[&user.as_str(), &filter_id])
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}
