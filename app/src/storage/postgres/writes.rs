//! The domain writes, each one transaction: check and write together, with the `NOTIFY`
//! of what changed sent before the commit.

use std::sync::Arc;

use deadpool_postgres::{Object, Transaction};
use mxmod::types::{Event, Membership, OwnedUserId, UserId, UserPresenceState};

use super::{
    changes::{Changes, RoomChange, CHANNEL},
    find_txn, load_room_state,
    positions::{allocate, Stream},
    rooms_with,
    rows::presence_text,
    Shared,
};
use crate::storage::{
    AppendError, Appended, Authorise, CreateRoomError, NewAccount, NewRoom, StorageResult, StoredEvent, TxnKey,
};

/// Sends the change notification inside the transaction (delivered at commit, or never).
pub(super) async fn notify(transaction: &Transaction<'_>, changes: &Changes) -> Result<(), tokio_postgres::Error> {
    let statement = transaction.prepare_cached("SELECT pg_notify($1, $2)").await?;
    transaction.execute(&statement, &[&CHANNEL, &changes.payload()]).await.map(drop)
}

/// Inserts an event at `position` and its state change; the caller has authorised it.
pub(super) async fn insert_event(
    transaction: &Transaction<'_>,
    event: &Event,
    position: i64,
    txn_id: Option<&str>,
) -> StorageResult<()> {
    let json = serde_json::to_string(event).map_err(super::rows::corrupt)?;
    let statement = transaction
        .prepare_cached(
            "INSERT INTO events (stream_ordering, event_id, room_id, json, txn_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    transaction
        .execute(&statement, &[&position, &event.event_id.as_str(), &event.room_id.as_str(), &json, &txn_id])
        .await?;
    if let Some(state_key) = &event.state_key {
        let statement = transaction
            .prepare_cached(
                "INSERT INTO current_state (room_id, type, state_key, event_id, membership) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (room_id, type, state_key)
                 DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership",
            )
            .await?;
        let membership = event.membership().map(Membership::as_str);
        transaction
            .execute(
                &statement,
                &[
                    &event.room_id.as_str(),
                    &event.event_type.as_str(),
                    &state_key.as_str(),
                    &event.event_id.as_str(),
                    &membership,
                ],
            )
            .await?;
        if event.event_type == "m.room.member" {
            // A new membership brings a forgotten room back.
            let statement =
                transaction.prepare_cached("DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2").await?;
            transaction.execute(&statement, &[&state_key.as_str(), &event.room_id.as_str()]).await?;
        }
    }
    Ok(())
}

/// `Storage::register`.
pub(super) async fn register(client: &mut Object, account: &NewAccount) -> StorageResult<bool> {
    let transaction = client.transaction().await?;
    let user = &account.user;
    let statement = transaction
        .prepare_cached(
            "INSERT INTO users (user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .await?;
    let creation_ts = i64::try_from(user.creation_ts).unwrap_or(i64::MAX);
    let inserted = transaction
        .execute(
            &statement,
            &[
                &user.user_id.as_str(),
                &user.password_hash,
                &user.is_admin,
                &user.shadow_banned,
                &user.deactivated,
                &creation_ts,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let statement = transaction
        .prepare_cached(
            "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
        )
        .await?;
    let profile = &account.profile;
    transaction.execute(&statement, &[&user.user_id.as_str(), &profile.displayname, &profile.avatar_url]).await?;
    if let Some((token, device_id)) = &account.login {
        let statement = transaction
            .prepare_cached("INSERT INTO access_tokens (token, user_id, device_id) VALUES ($1, $2, $3)")
            .await?;
        transaction.execute(&statement, &[token, &user.user_id.as_str(), device_id]).await?;
        let statement = transaction
            .prepare_cached("INSERT INTO devices (user_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .await?;
        transaction.execute(&statement, &[&user.user_id.as_str(), device_id]).await?;
    }
    transaction.commit().await?;
    Ok(true)
}

/// `Storage::set_deactivated`.
pub(super) async fn set_deactivated(client: &mut Object, user_id: &UserId, deactivated: bool) -> StorageResult<()> {
    let transaction = client.transaction().await?;
    transaction
        .execute("UPDATE users SET deactivated = $2 WHERE user_id = $1", &[&user_id.as_str(), &deactivated])
        .await?;
    if deactivated {
        transaction.execute("DELETE FROM access_tokens WHERE user_id = $1", &[&user_id.as_str()]).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// `Storage::append_local_event`: the room row is locked first, so the transaction key,
/// the state the authorisation sees and the append are one step for every process.
pub(super) async fn append(
    shared: &Shared,
    client: &mut Object,
    event: Event,
    txn: Option<TxnKey>,
    authorise: Authorise,
    changes: &mut Changes,
) -> Result<Appended, AppendError> {
    let transaction = client.transaction().await?;
    let lock = transaction.prepare_cached("SELECT state_position FROM rooms WHERE room_id = $1 FOR UPDATE").await?;
    let room_id = &event.room_id;
    let Some(row) = transaction.query_opt(&lock, &[&room_id.as_str()]).await? else {
        return Err(AppendError::UnknownRoom);
    };
    let version: i64 = row.try_get(0)?;
    if let Some(key) = &txn {
        if let Some(existing) = find_txn(&transaction, key).await? {
            return Ok(Appended::Duplicate(existing));
        }
    }
    let before = match shared.states.get(room_id) {
        Some((cached, state)) if cached == version => state,
        _ => {
            let (loaded, state) = load_room_state(&transaction, room_id).await?.ok_or(AppendError::UnknownRoom)?;
            let state = Arc::new(state);
            shared.states.offer(room_id, loaded, state.clone());
            state
        }
    };
    authorise(&before).map_err(AppendError::Refused)?;
    let position = allocate(&transaction, Stream::Events).await?;
    changes.written.events = position;
    insert_event(&transaction, &event, position, txn.as_ref().map(|key| key.txn_id.as_str())).await?;
    if let Some(key) = &txn {
        let statement = transaction
            .prepare_cached(
                "INSERT INTO event_txns (user_id, client, path, event_id, created_ts) VALUES ($1, $2 || $3, $4, $5, $6)",
            )
            .await?;
        let created = i64::try_from(event.origin_server_ts).unwrap_or(i64::MAX);
        let [kind, id] = key.client.stored_parts();
        transaction
            .execute(&statement, &[&key.user_id.as_str(), &kind, &id, &key.path, &event.event_id.as_str(), &created])
            .await?;
    }
    let state_after = if event.is_state() {
        let statement = transaction.prepare_cached("UPDATE rooms SET state_position = $2 WHERE room_id = $1").await?;
        transaction.execute(&statement, &[&room_id.as_str(), &position]).await?;
        let mut state = (*before).clone();
        state.insert(event.clone());
        Arc::new(state)
    } else {
        before
    };
    let (state_after, redacted_state) = super::client_data::apply_redaction(&transaction, &event, state_after).await?;
    if redacted_state {
        let statement = transaction.prepare_cached("UPDATE rooms SET state_position = $2 WHERE room_id = $1").await?;
        transaction.execute(&statement, &[&room_id.as_str(), &position]).await?;
    }
    changes.room(room_id.clone(), state_after.clone(), event.is_state());
    if event.is_state() || redacted_state {
        changes.state_changed(room_id, position);
    }
    if event.event_type == "m.room.member" {
        if let Some(Ok(target)) = event.state_key.as_deref().map(UserId::parse) {
            // A user who left or was banned sees their own membership change.
            changes.users.push(target);
        }
    }
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    let txn_id = txn.map(|key| key.txn_id);
    Ok(Appended::Stored { event: StoredEvent { stream_ordering: position, event, txn_id }, state_after })
}

/// `Storage::create_room`: room row, alias and initial events together, or nothing.
pub(super) async fn create_room(
    client: &mut Object,
    room: NewRoom,
    changes: &mut Changes,
) -> Result<Vec<StoredEvent>, CreateRoomError> {
    let transaction = client.transaction().await?;
    let inserted = transaction
        .execute(
            "INSERT INTO rooms (room_id, creator, is_public) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&room.room_id.as_str(), &room.creator.as_str(), &room.public],
        )
        .await?;
    if inserted == 0 {
        return Err(CreateRoomError::RoomTaken);
    }
    if let Some(alias) = &room.alias {
        let inserted = transaction
            .execute(
                "INSERT INTO aliases (alias, room_id, creator) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[alias, &room.room_id.as_str(), &room.creator.as_str()],
            )
            .await?;
        if inserted == 0 {
            return Err(CreateRoomError::AliasTaken);
        }
    }
    let mut state = mxmod::types::StateMap::new();
    let mut stored = Vec::with_capacity(room.events.len());
    let mut state_position = 0;
    for event in room.events {
        let position = allocate(&transaction, Stream::Events).await?;
        changes.written.events = position;
        insert_event(&transaction, &event, position, None).await?;
        if event.is_state() {
            state_position = position;
            state.insert(event.clone());
        }
        stored.push(StoredEvent { stream_ordering: position, event, txn_id: None });
    }
    transaction
        .execute("UPDATE rooms SET state_position = $2 WHERE room_id = $1", &[&room.room_id.as_str(), &state_position])
        .await?;
    changes.room(room.room_id.clone(), Arc::new(state), true);
    changes.state_changed(&room.room_id, state_position);
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(stored)
}

/// `Storage::set_presence`: stored at a new presence position; wakes the user's rooms,
/// the user, the users a presence router chose and the syncs interested in everyone.
pub(super) async fn set_presence(
    shared: &Shared,
    client: &mut Object,
    state: &UserPresenceState,
    also_wake: Vec<OwnedUserId>,
    changes: &mut Changes,
) -> StorageResult<i64> {
    let transaction = client.transaction().await?;
    let position = allocate(&transaction, Stream::Presence).await?;
    changes.written.presence = position;
    let statement = transaction
        .prepare_cached(
            "INSERT INTO presence (user_id, stream_id, state, status_msg, last_active_ts, currently_active)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, state = excluded.state,
                 status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts,
                 currently_active = excluded.currently_active",
        )
        .await?;
    let last_active = i64::try_from(state.last_active_ts).unwrap_or(i64::MAX);
    transaction
        .execute(
            &statement,
            &[
                &state.user_id.as_str(),
                &position,
                &presence_text(state.state),
                &state.status_msg,
                &last_active,
                &state.currently_active,
            ],
        )
        .await?;
    for room_id in rooms_with(&transaction, &state.user_id, "join").await? {
        changes.rooms.push(RoomChange { room_id, state_version: None, invited: false, state: None });
    }
    changes.users.push(state.user_id.clone());
    changes.users.extend(also_wake);
    changes.presence = true;
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    // This process wakes the rooms' members from its own copy of their state.
    for change in &mut changes.rooms {
        change.state = match shared.states.get(&change.room_id) {
            Some((_, state)) => Some(state),
            None => load_room_state(&*client, &change.room_id)
                .await?
                .map(|(version, state)| shared.states.offer(&change.room_id, version, Arc::new(state))),
        };
    }
    Ok(position)
}

/// `Storage::set_account_data`: replaced at a new account-data position; wakes its user.
pub(super) async fn set_account_data(
    client: &mut Object,
    user_id: &UserId,
    data_type: &str,
    content: &str,
    changes: &mut Changes,
) -> StorageResult<()> {
    let transaction = client.transaction().await?;
    let position = allocate(&transaction, Stream::AccountData).await?;
    changes.written.account_data = position;
    transaction
        .execute(
            "INSERT INTO account_data (user_id, type, content, stream_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id",
            &[&user_id.as_str(), &data_type, &content, &position],
        )
        .await?;
    changes.users.push(user_id.to_owned());
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(())
}
