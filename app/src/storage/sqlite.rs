//! The SQLite implementation of [`Storage`]: one file in WAL mode with
//! `synchronous=FULL`; one writer thread doing group commit (`writer.rs`); a pool of
//! read-only connections on blocking threads (`readers.rs`); room current state kept in
//! memory ([`StateCache`]); numbered schema steps (`migrations.rs`).

mod client_settings;
mod hash_plain_access_tokens;
mod migrations;
mod readers;
mod rows;
mod session_cache;
mod threepid_validation;
mod txn_filter;
mod txn_retention;
mod writer;

use std::{path::Path, sync::Arc};

use mxmod::types::{
    Event, JsonObject, Membership, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState,
};
use mxmod::MatrixError;
use rusqlite::{params, Connection, OptionalExtension};

use self::{
    readers::Readers,
    rows::{
        event_row, json_object, load_room_state, presence_row, presence_text, room_id, user_id, user_row, EVENT_COLUMNS,
    },
    writer::{WriteContext, Writer},
};
use super::{
    notifier::Notifier, state_cache::StateCache, AppendError, Appended, Authorise, CreateRoomError, Device,
    EventReport, FilterError, Forget, LogOut, MediaRecord, NewAccount, NewRoom, PresenceRecord, Profile, PushRulesEdit,
    Receipt, ReceiptRecord, RoomAccountData, Session, Storage, StorageError, StorageResult, StoredEvent,
    StreamPositions, SyncWaiter, Threepid, TokenOwner, TxnKey, UpdateAccountData, UserQuery, UserRecord,
    ValidatedThreepid, ValidationFailure, ValidationRequest, ValidationStarted,
};

/// The durability settings in force on the write connection, read back from SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durability {
    /// `PRAGMA journal_mode` (`wal`).
    pub journal_mode: String,
    /// `PRAGMA synchronous` (2 = `FULL`).
    pub synchronous: i64,
}

/// SQLite storage.
pub struct SqliteStorage {
    writer: Writer,
    sessions: Arc<session_cache::SessionCache>,
    txns: Arc<txn_filter::TxnFilter>,
    readers: Arc<Readers>,
    cache: Arc<StateCache>,
    notifier: Arc<Notifier>,
    durability: Durability,
}

impl SqliteStorage {
    /// Opens (creating) the database file, brings its schema up to date and starts the
    /// writer thread.
    pub fn open(path: &Path) -> StorageResult<Self> {
        let open_error = |path: &Path| {
            let path = path.display().to_string();
            move |source: rusqlite::Error| StorageError::Open { path, source: Box::new(source) }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| StorageError::Open { path: dir.display().to_string(), source: Box::new(source) })?;
        }
        let mut connection = Connection::open(path).map_err(open_error(path))?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(open_error(path))?;
        connection.pragma_update(None, "synchronous", "FULL").map_err(open_error(path))?;
        connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_error(path))?;
        connection.set_prepared_statement_cache_capacity(64);
        migrations::migrate(&mut connection)?;
        let durability = Durability {
            journal_mode: connection
                .query_row("PRAGMA journal_mode", [], |row| row.get(0))
                .map_err(open_error(path))?,
            synchronous: connection.query_row("PRAGMA synchronous", [], |row| row.get(0)).map_err(open_error(path))?,
        };
        let cache = Arc::new(StateCache::default());
        let notifier = Arc::new(Notifier::default());
        let sessions = Arc::new(session_cache::SessionCache::default());
        sessions.watch(&connection).map_err(open_error(path))?;
        let txns = Arc::new(txn_filter::TxnFilter::load(&connection).map_err(open_error(path))?);
        let writer = Writer::start(connection, cache.clone(), notifier.clone(), sessions.clone())?;
        Ok(Self { writer, sessions, txns, readers: Readers::new(path.to_path_buf()), cache, notifier, durability })
    }

    /// The durability settings in force (for the start-up log and the crash test).
    pub fn durability(&self) -> &Durability {
        &self.durability
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StorageResult<T> {
        self.readers.read(work).await
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StorageResult<T> {
        self.writer.write(move |context| work(context.connection).map_err(StorageError::from)).await
    }
}

fn find_txn(connection: &Connection, key: &TxnKey) -> rusqlite::Result<Option<OwnedEventId>> {
    let client = key.client.stored_parts();
    let found: Option<String> = connection
        .prepare_cached("SELECT event_id FROM event_txns WHERE user_id = ?1 AND client = ?2 || ?3 AND path = ?4")?
        .query_row(params![key.user_id.as_str(), client[0], client[1], key.path], |row| row.get(0))
        .optional()?;
    found.map(|id| OwnedEventId::try_from(id).map_err(rows::corrupt)).transpose()
}

/// Inserts an event and its state change; the caller has authorised it.
fn insert_event(connection: &Connection, event: &Event, txn_id: Option<&str>) -> rusqlite::Result<i64> {
    let json = serde_json::to_string(event).map_err(rows::corrupt)?;
    connection
        .prepare_cached("INSERT INTO events (event_id, room_id, json, txn_id) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![event.event_id.as_str(), event.room_id.as_str(), json, txn_id])?;
    let position = connection.last_insert_rowid();
    if let Some(state_key) = &event.state_key {
        connection
            .prepare_cached(
                "INSERT INTO current_state (room_id, type, state_key, event_id, membership) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership",
            )?
            .execute(params![event.room_id.as_str(), event.event_type.as_str(), state_key.as_str(), event.event_id.as_str(), event.membership().map(Membership::as_str)])?;
        if event.event_type == "m.room.member" {
            // A new membership brings a forgotten room back.
            connection
                .prepare_cached("DELETE FROM forgotten_rooms WHERE user_id = ?1 AND room_id = ?2")?
                .execute(params![state_key.as_str(), event.room_id.as_str()])?;
        }
    }
    Ok(position)
}

/// The next position of the account-data stream, which global and room account data share.
const NEXT_ACCOUNT_DATA_STREAM_ID: &str = "(SELECT max((SELECT coalesce(max(stream_id), 0) FROM account_data),
                                                (SELECT coalesce(max(stream_id), 0) FROM room_account_data)) + 1)";

/// Applies a stored redaction event to the event it names in the same room (if stored
/// and not redacted yet): the pruned original replaces the stored one, and the room's
/// current state when it holds it. Returns the room state after.
fn apply_redaction(
    context: &mut WriteContext<'_>,
    redaction: &Event,
    state: Arc<StateMap>,
) -> rusqlite::Result<Arc<StateMap>> {
    let Some(target_id) = crate::redaction::redacts(redaction) else { return Ok(state) };
    let stored: Option<String> = context
        .connection
        .prepare_cached("SELECT json FROM events WHERE event_id = ?1 AND room_id = ?2")?
        .query_row(params![target_id, redaction.room_id.as_str()], |row| row.get(0))
        .optional()?;
    let Some(json) = stored else { return Ok(state) };
    let target: Event = serde_json::from_str(&json).map_err(rows::corrupt)?;
    if target.unsigned.contains_key("redacted_because") {
        return Ok(state);
    }
    let redacted = crate::redaction::redact(&target, redaction);
    let json = serde_json::to_string(&redacted).map_err(rows::corrupt)?;
    context
        .connection
        .prepare_cached("UPDATE events SET json = ?2 WHERE event_id = ?1")?
        .execute(params![target_id, json])?;
    let in_state = match &redacted.state_key {
        Some(key) => {
            state.get(redacted.event_type.as_str(), key.as_str()).is_some_and(|e| e.event_id == redacted.event_id)
        }
        None => false,
    };
    if !in_state {
        return Ok(state);
    }
    let mut changed = (*state).clone();
    changed.insert(redacted);
    let changed = Arc::new(changed);
    context.set_room_state(redaction.room_id.clone(), changed.clone());
    Ok(changed)
}

/// After a stored event: the room's new state (for a state event) and whom to wake.
fn after_append(context: &mut WriteContext<'_>, event: &Event, before: Arc<StateMap>) -> Arc<StateMap> {
    let after = if event.is_state() {
        let mut state = (*before).clone();
        state.insert(event.clone());
        let state = Arc::new(state);
        context.set_room_state(event.room_id.clone(), state.clone());
        state
    } else {
        before
    };
    context.wake_room(&event.room_id, after.clone(), event.is_state());
    if event.event_type == "m.room.member" {
        if let Some(Ok(target)) = event.state_key.as_deref().map(UserId::parse) {
            // A user who left or was banned sees their own membership change.
            context.wake_user(target);
        }
    }
    after
}

fn append(
    context: &mut WriteContext<'_>,
    event: Event,
    txn: Option<TxnKey>,
    authorise: Authorise,
    txns: &txn_filter::TxnFilter,
) -> Result<Appended, AppendError> {
    if let Some(key) = &txn {
        if let Some(existing) = find_txn(context.connection, key)? {
            return Ok(Appended::Duplicate(existing));
        }
    }
    let before = context.room_state(&event.room_id)?.ok_or(AppendError::UnknownRoom)?;
    authorise(&before).map_err(AppendError::Refused)?;
    let position = insert_event(context.connection, &event, txn.as_ref().map(|key| key.txn_id.as_str()))?;
    if let Some(key) = &txn {
        let client = key.client.stored_parts();
        context
            .connection
            .prepare_cached(
                "INSERT INTO event_txns (user_id, client, path, event_id, created_ts)
                 VALUES (?1, ?2 || ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key.user_id.as_str(),
                client[0],
                client[1],
                key.path,
                event.event_id.as_str(),
                event.origin_server_ts as i64
            ])?;
        // Before the send is answered, so a retry of it always reads the table.
        txns.insert(key.user_id.as_str(), client, &key.path);
    }
    let state_after = after_append(context, &event, before);
    let state_after = apply_redaction(context, &event, state_after)?;
    let txn_id = txn.map(|key| key.txn_id);
    Ok(Appended::Stored { event: StoredEvent { stream_ordering: position, event, txn_id }, state_after })
}

fn create_room(context: &mut WriteContext<'_>, room: NewRoom) -> Result<Vec<StoredEvent>, CreateRoomError> {
    let connection = context.connection;
    let inserted = connection
        .prepare_cached("INSERT OR IGNORE INTO rooms (room_id, creator, is_public) VALUES (?1, ?2, ?3)")?
        .execute(params![room.room_id.as_str(), room.creator.as_str(), room.public])?;
    if inserted == 0 {
        return Err(CreateRoomError::RoomTaken);
    }
    if let Some(alias) = &room.alias {
        let inserted = connection
            .prepare_cached("INSERT OR IGNORE INTO aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)")?
            .execute(params![alias, room.room_id.as_str(), room.creator.as_str()])?;
        if inserted == 0 {
            return Err(CreateRoomError::AliasTaken);
        }
    }
    let mut state = StateMap::new();
    let mut stored = Vec::with_capacity(room.events.len());
    for event in room.events {
        let position = insert_event(connection, &event, None)?;
        state.insert(event.clone());
        stored.push(StoredEvent { stream_ordering: position, event, txn_id: None });
    }
    let state = Arc::new(state);
    context.set_room_state(room.room_id.clone(), state.clone());
    context.wake_room(&room.room_id, state, true);
    Ok(stored)
}

fn set_presence(
    context: &mut WriteContext<'_>,
    state: &UserPresenceState,
    also_wake: Vec<OwnedUserId>,
) -> StorageResult<i64> {
    let connection = context.connection;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO presence (user_id, state, status_msg, last_active_ts, currently_active)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            state.user_id.as_str(),
            presence_text(state.state),
            state.status_msg,
            state.last_active_ts as i64,
            state.currently_active
        ])?;
    let position = connection.last_insert_rowid();
    let rooms = joined_rooms(connection, &state.user_id)?;
    for room in rooms {
        if let Some(room_state) = context.room_state(&room)? {
            context.wake_room(&room, room_state, false);
        }
    }
    context.wake_user(state.user_id.clone());
    for user in also_wake {
        context.wake_user(user);
    }
    context.wake_presence_watchers();
    Ok(position)
}

fn read_room_account_data(
    connection: &Connection,
    user: &UserId,
    room: &RoomId,
    data_type: &str,
) -> rusqlite::Result<Option<JsonObject>> {
    let text: Option<String> = connection
        .prepare_cached("SELECT content FROM room_account_data WHERE user_id = ?1 AND room_id = ?2 AND type = ?3")?
        .query_row(params![user.as_str(), room.as_str(), data_type], |row| row.get(0))
        .optional()?;
    text.map(|text| json_object(&text)).transpose()
}

/// Stores a receipt unless the stored one of the same kind points at a later event.
fn set_receipt(context: &mut WriteContext<'_>, receipt: &Receipt) -> rusqlite::Result<Option<i64>> {
    let connection = context.connection;
    let position: Option<i64> = connection
        .prepare_cached("SELECT stream_ordering FROM events WHERE event_id = ?1 AND room_id = ?2")?
        .query_row(params![receipt.event_id.as_str(), receipt.room_id.as_str()], |row| row.get(0))
        .optional()?;
    let Some(position) = position else { return Ok(None) };
    let thread = receipt.thread_id.as_deref().unwrap_or_default();
    let existing: Option<i64> = connection
        .prepare_cached(
            "SELECT e.stream_ordering FROM receipts r JOIN events e ON e.event_id = r.event_id
             WHERE r.room_id = ?1 AND r.user_id = ?2 AND r.receipt_type = ?3 AND r.thread_id = ?4",
        )?
        .query_row(params![receipt.room_id.as_str(), receipt.user_id.as_str(), receipt.receipt_type, thread], |row| {
            row.get(0)
        })
        .optional()?;
    if existing.is_some_and(|existing| existing >= position) {
        return Ok(None);
    }
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT coalesce(max(stream_id), 0) + 1 FROM receipts))",
        )?
        .execute(params![
            receipt.room_id.as_str(),
            receipt.user_id.as_str(),
            receipt.receipt_type,
            thread,
            receipt.event_id.as_str(),
            receipt.ts as i64
        ])?;
    let stream_id = connection.query_row("SELECT max(stream_id) FROM receipts", [], |row| row.get(0))?;
    if receipt.receipt_type == "m.read.private" {
        context.wake_user(receipt.user_id.clone());
    } else if let Some(state) = context.room_state(&receipt.room_id)? {
        context.wake_room(&receipt.room_id, state, false);
    }
    Ok(Some(stream_id))
}

fn joined_rooms(connection: &Connection, user: &UserId) -> rusqlite::Result<Vec<OwnedRoomId>> {
    rooms_with(connection, user, "join")
}

fn rooms_with(connection: &Connection, user: &UserId, membership: &str) -> rusqlite::Result<Vec<OwnedRoomId>> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id FROM current_state c WHERE type = 'm.room.member' AND state_key = ?1 AND membership = ?2
         AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = ?1 AND f.room_id = c.room_id)",
    )?;
    let rows = statement.query_map(params![user.as_str(), membership], |row| room_id(row.get(0)?))?;
    rows.collect()
}

#[async_trait::async_trait]
impl Storage for SqliteStorage {
    async fn register(&self, account: NewAccount) -> StorageResult<bool> {
        self.write(move |c| {
            let user = &account.user;
            let inserted = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO users (user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    user.user_id.as_str(),
                    user.password_hash,
                    user.is_admin,
                    user.shadow_banned,
                    user.deactivated,
                    user.creation_ts as i64
                ])?;
            if inserted == 0 {
                return Ok(false);
            }
            c.prepare_cached(
                "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
            )?
            .execute(params![user.user_id.as_str(), account.profile.displayname, account.profile.avatar_url])?;
            if let Some((token, device_id)) = &account.login {
                c.prepare_cached("INSERT INTO access_tokens (token, user_id, device_id) VALUES (?1, ?2, ?3)")?
                    .execute(params![token, user.user_id.as_str(), device_id])?;
                client_settings::note_device(c, user.user_id.as_str(), device_id)?;
            }
            Ok(true)
        })
        .await
    }

    async fn user(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts FROM users WHERE user_id = ?1",
            )?
            .query_row([user_id.as_str()], |row| user_row(row, 0))
            .optional()
        })
        .await
    }

    async fn set_deactivated(&self, user_id: &UserId, deactivated: bool) -> StorageResult<()> {
        let user_id = user_id.to_owned();
        self.write(move |c| {
            c.execute("UPDATE users SET deactivated = ?2 WHERE user_id = ?1", params![user_id.as_str(), deactivated])?;
            if deactivated {
                c.execute("DELETE FROM access_tokens WHERE user_id = ?1", [user_id.as_str()])?;
            }
            Ok(())
        })
        .await
    }

    async fn create_token(&self, token: &str, owner: &TokenOwner) -> StorageResult<()> {
        let (token, owner) = (token.to_owned(), owner.clone());
        self.write(move |c| {
            c.prepare_cached("INSERT INTO access_tokens (token, user_id, device_id) VALUES (?1, ?2, ?3)")?
                .execute(params![token, owner.user_id.as_str(), owner.device_id])?;
            client_settings::note_device(c, owner.user_id.as_str(), &owner.device_id)
        })
        .await
    }

    async fn session(&self, token: &str) -> StorageResult<Option<Session>> {
        if let Some(session) = self.sessions.get(token) {
            return Ok(Some(session));
        }
        let generation = self.sessions.generation();
        let read_token = token.to_owned();
        let session = self.read(move |c| {
            c.prepare_cached(
                "SELECT t.device_id, u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated, u.creation_ts
                 FROM access_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token = ?1",
            )?
            .query_row([read_token], |row| Ok(Session { device_id: row.get(0)?, user: user_row(row, 1)? }))
            .optional()
        })
        .await?;
        if let Some(session) = &session {
            self.sessions.insert(token.to_owned(), generation, session.clone());
        }
        Ok(session)
    }

    async fn delete_token(&self, token: &str) -> StorageResult<()> {
        let token = token.to_owned();
        self.write(move |c| c.execute("DELETE FROM access_tokens WHERE token = ?1", [token]).map(drop)).await
    }

    async fn profile(&self, user_id: &UserId) -> StorageResult<Profile> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT displayname, avatar_url FROM profiles WHERE user_id = ?1")?
                .query_row([user_id.as_str()], |row| Ok(Profile { displayname: row.get(0)?, avatar_url: row.get(1)? }))
                .optional()
                .map(Option::unwrap_or_default)
        })
        .await
    }

    async fn set_profile(&self, user_id: &UserId, profile: &Profile) -> StorageResult<()> {
        let (user_id, profile) = (user_id.to_owned(), profile.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
                params![user_id.as_str(), profile.displayname, profile.avatar_url],
            )
            .map(drop)
        })
        .await
    }

    async fn search_users(&self, term: &str, limit: usize) -> StorageResult<Vec<(OwnedUserId, Profile)>> {
        // A substring match with `instr`: wildcards in the term are plain characters, and
        // no term length makes a pattern too complex.
        let pattern = term.to_lowercase();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT u.user_id, p.displayname, p.avatar_url FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
                 WHERE u.deactivated = 0 AND (instr(lower(u.user_id), ?1) > 0 OR instr(lower(coalesce(p.displayname, '')), ?1) > 0)
                 ORDER BY u.user_id LIMIT ?2",
            )?;
            let rows = statement.query_map(params![pattern, limit as i64], |row| {
                Ok((user_id(row.get(0)?)?, Profile { displayname: row.get(1)?, avatar_url: row.get(2)? }))
            })?;
            rows.collect()
        })
        .await
    }

    async fn create_room(&self, room: NewRoom) -> Result<Vec<StoredEvent>, CreateRoomError> {
        self.writer.write(move |context| create_room(context, room)).await
    }

    async fn room_exists(&self, room_id: &RoomId) -> StorageResult<bool> {
        Ok(self.current_state(room_id).await?.is_some())
    }

    async fn append_local_event(
        &self,
        event: Event,
        txn: Option<TxnKey>,
        authorise: Authorise,
    ) -> Result<Appended, AppendError> {
        let txns = self.txns.clone();
        self.writer.write(move |context| append(context, event, txn, authorise, &txns)).await
    }

    async fn txn_event(&self, key: &TxnKey) -> StorageResult<Option<OwnedEventId>> {
        if !self.txns.may_contain(key.user_id.as_str(), key.client.stored_parts(), &key.path) {
            return Ok(None);
        }
        let key = key.clone();
        self.read(move |c| find_txn(c, &key)).await
    }

    async fn event(&self, event_id: &str) -> StorageResult<Option<StoredEvent>> {
        let event_id = event_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"))?
                .query_row([event_id], event_row)
                .optional()
        })
        .await
    }

    async fn current_state(&self, room_id: &RoomId) -> StorageResult<Option<Arc<StateMap>>> {
        if let Some(state) = self.cache.get(room_id) {
            return Ok(Some(state));
        }
        let owned = room_id.to_owned();
        let epoch = self.cache.read_epoch();
        let loaded = self.read(move |c| load_room_state(c, &owned)).await?;
        Ok(loaded.map(|state| self.cache.fill(room_id.to_owned(), Arc::new(state), epoch)))
    }

    async fn events_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        if room_ids.is_empty() || until <= since {
            return Ok(Vec::new());
        }
        let room_ids = room_ids.to_vec();
        self.read(move |c| {
            let placeholders = vec!["?"; room_ids.len()].join(", ");
            let mut statement = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering > ? AND stream_ordering <= ?
                 AND room_id IN ({placeholders}) ORDER BY stream_ordering LIMIT ?"
            ))?;
            let mut values: Vec<rusqlite::types::Value> = vec![since.into(), until.into()];
            values.extend(room_ids.iter().map(|r| rusqlite::types::Value::Text(r.to_string())));
            values.push((limit as i64).into());
            let rows = statement.query_map(rusqlite::params_from_iter(values), event_row)?;
            rows.collect()
        })
        .await
    }

    async fn room_events(
        &self,
        room_id: &RoomId,
        from: i64,
        backwards: bool,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        let sql = if backwards {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ?1 AND stream_ordering <= ?2 ORDER BY stream_ordering DESC LIMIT ?3"
            )
        } else {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ?1 AND stream_ordering > ?2 ORDER BY stream_ordering ASC LIMIT ?3"
            )
        };
        let room_id = room_id.to_owned();
        self.read(move |c| {
            let mut statement = c.prepare_cached(&sql)?;
            let rows = statement.query_map(params![room_id.as_str(), from, limit as i64], event_row)?;
            rows.collect()
        })
        .await
    }

    async fn stream_positions(&self) -> StorageResult<StreamPositions> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT (SELECT coalesce(max(stream_ordering), 0) FROM events),
                        (SELECT coalesce(max(stream_id), 0) FROM presence),
                        max((SELECT coalesce(max(stream_id), 0) FROM account_data),
                            (SELECT coalesce(max(stream_id), 0) FROM room_account_data)),
                        (SELECT coalesce(max(stream_id), 0) FROM receipts)",
            )?
            .query_row([], |row| {
                Ok(StreamPositions {
                    events: row.get(0)?,
                    presence: row.get(1)?,
                    account_data: row.get(2)?,
                    receipts: row.get(3)?,
                })
            })
        })
        .await
    }

    async fn rooms_with_membership(&self, user_id: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>> {
        let (user_id, membership) = (user_id.to_owned(), membership.to_owned());
        self.read(move |c| rooms_with(c, &user_id, &membership)).await
    }

    async fn create_alias(&self, alias: &str, room_id: &RoomId, creator: &UserId) -> StorageResult<bool> {
        let (alias, room_id, creator) = (alias.to_owned(), room_id.to_owned(), creator.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)",
                params![alias, room_id.as_str(), creator.as_str()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn alias(&self, alias: &str) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>> {
        let alias = alias.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT room_id, creator FROM aliases WHERE alias = ?1")?
                .query_row([alias], |row| Ok((room_id(row.get(0)?)?, user_id(row.get(1)?)?)))
                .optional()
        })
        .await
    }

    async fn delete_alias(&self, alias: &str) -> StorageResult<()> {
        let alias = alias.to_owned();
        self.write(move |c| c.execute("DELETE FROM aliases WHERE alias = ?1", [alias]).map(drop)).await
    }

    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> StorageResult<()> {
        let room_id = room_id.to_owned();
        self.write(move |c| {
            c.execute("UPDATE rooms SET is_public = ?2 WHERE room_id = ?1", params![room_id.as_str(), public]).map(drop)
        })
        .await
    }

    async fn room_is_public(&self, room_id: &RoomId) -> StorageResult<bool> {
        let room_id = room_id.to_owned();
        self.read(move |c| {
            c.query_row("SELECT is_public FROM rooms WHERE room_id = ?1", [room_id.as_str()], |row| row.get(0))
                .optional()
                .map(Option::unwrap_or_default)
        })
        .await
    }

    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>> {
        self.read(|c| {
            let mut statement = c.prepare_cached("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")?;
            let rows = statement.query_map([], |row| room_id(row.get(0)?))?;
            rows.collect()
        })
        .await
    }

    async fn set_presence(&self, state: &UserPresenceState, also_wake: Vec<OwnedUserId>) -> StorageResult<i64> {
        let state = state.clone();
        self.writer.write(move |context| set_presence(context, &state, also_wake)).await
    }

    async fn presence(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT stream_id, user_id, state, status_msg, last_active_ts, currently_active FROM presence WHERE user_id = ?1",
            )?
            .query_row([user_id.as_str()], presence_row)
            .optional()
        })
        .await
    }

    async fn presence_between(&self, since: i64, until: i64) -> StorageResult<Vec<PresenceRecord>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT stream_id, user_id, state, status_msg, last_active_ts, currently_active FROM presence
                 WHERE stream_id > ?1 AND stream_id <= ?2 ORDER BY stream_id",
            )?;
            let rows = statement.query_map([since, until], presence_row)?;
            rows.collect()
        })
        .await
    }

    async fn account_data(&self, user_id: &UserId, data_type: &str) -> StorageResult<Option<JsonObject>> {
        let (user_id, data_type) = (user_id.to_owned(), data_type.to_owned());
        self.read(move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT content FROM account_data WHERE user_id = ?1 AND type = ?2")?
                .query_row(params![user_id.as_str(), data_type], |row| row.get(0))
                .optional()?;
            text.map(|text| json_object(&text)).transpose()
        })
        .await
    }

    async fn set_account_data(&self, user_id: &UserId, data_type: &str, content: &JsonObject) -> StorageResult<()> {
        let text = serde_json::to_string(content).map_err(|error| StorageError::Corrupt(Box::new(error)))?;
        let (user_id, data_type) = (user_id.to_owned(), data_type.to_owned());
        self.writer
            .write(move |context| {
                context.connection.execute(
                    &format!(
                        "INSERT OR REPLACE INTO account_data (user_id, type, content, stream_id)
                         VALUES (?1, ?2, ?3, {NEXT_ACCOUNT_DATA_STREAM_ID})"
                    ),
                    params![user_id.as_str(), data_type, text],
                )?;
                context.wake_user(user_id);
                Ok::<_, StorageError>(())
            })
            .await
    }

    async fn account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<(String, JsonObject)>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT type, content FROM account_data WHERE user_id = ?1 AND stream_id > ?2 AND stream_id <= ?3
                 ORDER BY stream_id",
            )?;
            let rows = statement.query_map(params![user_id.as_str(), since, until], |row| {
                let content: String = row.get(1)?;
                Ok((row.get(0)?, json_object(&content)?))
            })?;
            rows.collect()
        })
        .await
    }

    async fn user_by_threepid(&self, medium: &str, address: &str) -> StorageResult<Option<OwnedUserId>> {
        let (medium, address) = (medium.to_owned(), address.to_owned());
        let found: Option<String> = self
            .read(move |c| {
                c.prepare_cached("SELECT user_id FROM user_threepids WHERE medium = ?1 AND address = ?2")?
                    .query_row(params![medium, address], |row| row.get(0))
                    .optional()
            })
            .await?;
        found.map(|user| UserId::parse(user).map_err(|error| StorageError::Corrupt(Box::new(error)))).transpose()
    }

    async fn log_out_everywhere(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>> {
        let user_id = user_id.to_owned();
        self.write(move |c| client_settings::end_sessions(c, &user_id, LogOut::Everything)).await
    }

    async fn users_after(&self, from: Option<&UserId>, limit: usize) -> StorageResult<Vec<UserRecord>> {
        let from = from.map(|user| user.as_str().to_owned()).unwrap_or_default();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts FROM users
                 WHERE user_id > ?1 ORDER BY user_id LIMIT ?2",
            )?;
            let rows = statement.query_map(params![from, limit as i64], |row| user_row(row, 0))?;
            rows.collect()
        })
        .await
    }

    async fn create_media(&self, media: &MediaRecord, uploader: &UserId) -> StorageResult<()> {
        let (media, uploader) = (media.clone(), uploader.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT INTO media (media_id, content_type, upload_name, size, user_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![media.media_id, media.content_type, media.upload_name, media.size as i64, uploader.as_str()],
            )
            .map(drop)
        })
        .await
    }

    async fn media(&self, media_id: &str) -> StorageResult<Option<MediaRecord>> {
        let media_id = media_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT media_id, content_type, upload_name, size FROM media WHERE media_id = ?1",
                [media_id],
                |row| {
                    Ok(MediaRecord {
                        media_id: row.get(0)?,
                        content_type: row.get(1)?,
                        upload_name: row.get(2)?,
                        size: row.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn devices(&self, user_id: &UserId) -> StorageResult<Vec<Device>> {
        let user_id = user_id.to_owned();
        self.read(move |c| client_settings::devices(c, &user_id)).await
    }

    async fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StorageResult<bool> {
        let (user_id, device_id, name) = (user_id.to_owned(), device_id.to_owned(), display_name.map(str::to_owned));
        self.write(move |c| client_settings::rename_device(c, &user_id, &device_id, name.as_deref())).await
    }

    async fn delete_devices(&self, user_id: &UserId, device_ids: &[String]) -> StorageResult<Vec<(String, String)>> {
        let (user_id, device_ids) = (user_id.to_owned(), device_ids.to_vec());
        self.write(move |c| client_settings::delete_devices(c, &user_id, &device_ids)).await
    }

    async fn set_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        log_out: LogOut<'_>,
    ) -> StorageResult<Vec<(String, String)>> {
        let (user_id, hash) = (user_id.to_owned(), password_hash.to_owned());
        // The writer runs on its own thread: the kept device and token go there owned.
        let everything = log_out == LogOut::Everything;
        let kept = match log_out {
            LogOut::AllBut { device_id, token } => Some((device_id.to_owned(), token.to_owned())),
            LogOut::Nothing | LogOut::Everything => None,
        };
        self.write(move |c| {
            let log_out = match &kept {
                Some((device_id, token)) => LogOut::AllBut { device_id, token },
                None if everything => LogOut::Everything,
                None => LogOut::Nothing,
            };
            client_settings::set_password(c, &user_id, &hash, log_out)
        })
        .await
    }

    async fn set_admin(&self, user_id: &UserId, admin: bool) -> StorageResult<()> {
        let user_id = user_id.to_owned();
        self.write(move |c| {
            c.execute("UPDATE users SET is_admin = ?2 WHERE user_id = ?1", params![user_id.as_str(), admin]).map(drop)
        })
        .await
    }

    async fn push_rules(&self, user_id: &UserId) -> StorageResult<JsonObject> {
        let user_id = user_id.to_owned();
        self.read(move |c| client_settings::push_rules(c, &user_id)).await
    }

    async fn update_push_rules(&self, user_id: &UserId, edit: PushRulesEdit) -> StorageResult<Result<(), MatrixError>> {
        let user_id = user_id.to_owned();
        self.writer.write(move |context| client_settings::update_push_rules(context, &user_id, edit)).await
    }

    async fn unread_events(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        let (user_id, room_id) = (user_id.to_owned(), room_id.to_owned());
        self.read(move |c| client_settings::unread_events(c, &user_id, &room_id, until, limit)).await
    }

    async fn create_filter(&self, user_id: &UserId, filter: &str) -> Result<u64, FilterError> {
        let (user_id, filter) = (user_id.to_owned(), filter.to_owned());
        self.writer.write(move |context| client_settings::create_filter(context.connection, &user_id, &filter)).await
    }

    async fn filter(&self, user_id: &UserId, filter_id: u64) -> StorageResult<Option<String>> {
        let user_id = user_id.to_owned();
        self.read(move |c| client_settings::filter(c, &user_id, filter_id)).await
    }

    async fn users_page(&self, query: &UserQuery) -> StorageResult<(Vec<(UserRecord, Profile)>, u64)> {
        let query = query.clone();
        self.read(move |c| {
            // Substring matches with `instr`, as `search_users`: no pattern characters.
            const MATCHING: &str = "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
                WHERE (?1 OR u.deactivated = 0)
                  AND (?2 IS NULL OR instr(lower(u.user_id), ?2) > 0)
                  AND (?3 IS NULL OR instr(lower(u.user_id), ?3) > 0 OR instr(lower(coalesce(p.displayname, '')), ?3) > 0)";
            let user_filter = query.user_id.as_deref().map(str::to_lowercase);
            let name_filter = query.name.as_deref().map(str::to_lowercase);
            let total: i64 = c.prepare_cached(&format!("SELECT count(*) {MATCHING}"))?.query_row(
                params![query.deactivated, user_filter, name_filter],
                |row| row.get(0),
            )?;
            let mut statement = c.prepare_cached(&format!(
                "SELECT u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated, u.creation_ts,
                        p.displayname, p.avatar_url {MATCHING} ORDER BY u.user_id LIMIT ?4 OFFSET ?5"
            ))?;
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let from = i64::try_from(query.from).unwrap_or(i64::MAX);
            let rows = statement
                .query_map(params![query.deactivated, user_filter, name_filter, limit, from], |row| {
                    Ok((user_row(row, 0)?, Profile { displayname: row.get(6)?, avatar_url: row.get(7)? }))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn set_room_blocked(&self, room_id: &RoomId, by: Option<&UserId>) -> StorageResult<()> {
        let (room_id, by) = (room_id.to_owned(), by.map(UserId::to_owned));
        self.write(move |c| match &by {
            Some(admin) => c
                .execute(
                    "INSERT INTO blocked_rooms (room_id, user_id) VALUES (?1, ?2)
                     ON CONFLICT (room_id) DO UPDATE SET user_id = excluded.user_id",
                    params![room_id.as_str(), admin.as_str()],
                )
                .map(drop),
            None => c.execute("DELETE FROM blocked_rooms WHERE room_id = ?1", [room_id.as_str()]).map(drop),
        })
        .await
    }

    async fn room_blocked(&self, room_id: &RoomId) -> StorageResult<bool> {
        let room_id = room_id.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM blocked_rooms WHERE room_id = ?1")?
                .query_row([room_id.as_str()], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
        })
        .await
    }

    async fn threepids(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT medium, address, added_at FROM user_threepids WHERE user_id = ?1 ORDER BY added_at, rowid",
            )?
            .query_map([user_id.as_str()], |row| {
                let added_at = row.get::<_, i64>(2)?.max(0) as u64;
                // Admins' identifiers need no validation, users' are validated just before they
                // are added: `validated_at` is not kept apart from `added_at`.
                Ok(Threepid { medium: row.get(0)?, address: row.get(1)?, validated_at: added_at, added_at })
            })?
            .collect()
        })
        .await
    }

    async fn add_threepid(&self, user_id: &UserId, medium: &str, address: &str, added_at: u64) -> StorageResult<bool> {
        let (user_id, medium, address) = (user_id.to_owned(), medium.to_owned(), address.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO user_threepids (user_id, medium, address, added_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                user_id.as_str(),
                medium,
                address,
                i64::try_from(added_at).unwrap_or(i64::MAX)
            ])?;
            let holder: String = c
                .prepare_cached("SELECT user_id FROM user_threepids WHERE medium = ?1 AND address = ?2")?
                .query_row(params![medium, address], |row| row.get(0))?;
            Ok(holder == user_id.as_str())
        })
        .await
    }

    async fn remove_threepid(&self, user_id: &UserId, medium: &str, address: &str) -> StorageResult<()> {
        let (user_id, medium, address) = (user_id.to_owned(), medium.to_owned(), address.to_owned());
        self.write(move |c| {
            c.execute(
                "DELETE FROM user_threepids WHERE user_id = ?1 AND medium = ?2 AND address = ?3",
                params![user_id.as_str(), medium, address],
            )
            .map(drop)
        })
        .await
    }

    async fn start_threepid_validation(&self, request: ValidationRequest) -> StorageResult<ValidationStarted> {
        self.write(move |c| threepid_validation::start(c, &request)).await
    }

    async fn abandon_threepid_validation(&self, session_id: &str) -> StorageResult<()> {
        let session_id = session_id.to_owned();
        self.write(move |c| threepid_validation::abandon(c, &session_id)).await
    }

    async fn validate_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
        token: &str,
        now: i64,
    ) -> StorageResult<Result<ValidatedThreepid, ValidationFailure>> {
        let (session_id, client_secret, token) = (session_id.to_owned(), client_secret.to_owned(), token.to_owned());
        self.write(move |c| threepid_validation::validate(c, &session_id, &client_secret, &token, now)).await
    }

    async fn validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>> {
        let (session_id, client_secret) = (session_id.to_owned(), client_secret.to_owned());
        self.read(move |c| threepid_validation::validated(c, &session_id, &client_secret)).await
    }

    async fn take_validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>> {
        let (session_id, client_secret) = (session_id.to_owned(), client_secret.to_owned());
        self.write(move |c| threepid_validation::take_validated(c, &session_id, &client_secret)).await
    }

    async fn room_aliases(&self, room_id: &RoomId) -> StorageResult<Vec<String>> {
        let room_id = room_id.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT alias FROM aliases WHERE room_id = ?1 ORDER BY alias")?
                .query_map([room_id.as_str()], |row| row.get(0))?
                .collect()
        })
        .await
    }

    async fn purge_room(&self, room_id: &RoomId) -> StorageResult<()> {
        let room_id = room_id.to_owned();
        self.writer
            .write(move |context| {
                let room = room_id.as_str();
                for statement in [
                    "DELETE FROM event_txns WHERE event_id IN (SELECT event_id FROM events WHERE room_id = ?1)",
                    "DELETE FROM events WHERE room_id = ?1",
                    "DELETE FROM current_state WHERE room_id = ?1",
                    "DELETE FROM aliases WHERE room_id = ?1",
                    "DELETE FROM rooms WHERE room_id = ?1",
                ] {
                    context.connection.prepare_cached(statement)?.execute([room])?;
                }
                context.purge_room(room_id);
                Ok::<_, StorageError>(())
            })
            .await
    }

    fn sync_waiter(&self, user_id: &UserId, all_presence: bool) -> SyncWaiter {
        self.notifier.subscribe(user_id, all_presence)
    }

    fn wake_users(&self, user_ids: &[OwnedUserId]) {
        self.notifier.wake(user_ids.iter().map(|user| user.as_str()));
    }

    async fn update_room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
        update: UpdateAccountData,
    ) -> StorageResult<Option<JsonObject>> {
        let (user_id, room_id, data_type) = (user_id.to_owned(), room_id.to_owned(), data_type.to_owned());
        self.writer
            .write(move |context| {
                let stored = read_room_account_data(context.connection, &user_id, &room_id, &data_type)?;
                let Some(content) = update(stored) else { return Ok(None) };
                let text = serde_json::to_string(&content).map_err(rows::corrupt)?;
                context.connection.execute(
                    &format!(
                        "INSERT OR REPLACE INTO room_account_data (user_id, room_id, type, content, stream_id)
                         VALUES (?1, ?2, ?3, ?4, {NEXT_ACCOUNT_DATA_STREAM_ID})"
                    ),
                    params![user_id.as_str(), room_id.as_str(), data_type, text],
                )?;
                context.wake_user(user_id);
                Ok::<_, StorageError>(Some(content))
            })
            .await
    }

    async fn room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
    ) -> StorageResult<Option<JsonObject>> {
        let (user_id, room_id, data_type) = (user_id.to_owned(), room_id.to_owned(), data_type.to_owned());
        self.read(move |c| read_room_account_data(c, &user_id, &room_id, &data_type)).await
    }

    async fn room_account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<RoomAccountData>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT room_id, type, content FROM room_account_data
                 WHERE user_id = ?1 AND stream_id > ?2 AND stream_id <= ?3 ORDER BY stream_id",
            )?;
            let rows = statement.query_map(params![user_id.as_str(), since, until], |row| {
                let content: String = row.get(2)?;
                Ok(RoomAccountData {
                    room_id: room_id(row.get(0)?)?,
                    data_type: row.get(1)?,
                    content: json_object(&content)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn set_receipt(&self, receipt: Receipt) -> StorageResult<Option<i64>> {
        self.writer.write(move |context| set_receipt(context, &receipt).map_err(StorageError::from)).await
    }

    async fn receipts_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<ReceiptRecord>> {
        if room_ids.is_empty() || until <= since {
            return Ok(Vec::new());
        }
        let room_ids = room_ids.to_vec();
        self.read(move |c| {
            let placeholders = vec!["?"; room_ids.len()].join(", ");
            let mut statement = c.prepare_cached(&format!(
                "SELECT stream_id, room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts
                 WHERE stream_id > ? AND stream_id <= ? AND room_id IN ({placeholders}) ORDER BY stream_id"
            ))?;
            let mut values: Vec<rusqlite::types::Value> = vec![since.into(), until.into()];
            values.extend(room_ids.iter().map(|r| rusqlite::types::Value::Text(r.to_string())));
            let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
                let thread_id: String = row.get(4)?;
                let event_id: String = row.get(5)?;
                Ok(ReceiptRecord {
                    stream_id: row.get(0)?,
                    receipt: Receipt {
                        room_id: room_id(row.get(1)?)?,
                        user_id: user_id(row.get(2)?)?,
                        receipt_type: row.get(3)?,
                        thread_id: (!thread_id.is_empty()).then_some(thread_id),
                        event_id: OwnedEventId::try_from(event_id).map_err(rows::corrupt)?,
                        ts: row.get::<_, i64>(6)? as u64,
                    },
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn read_up_to(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Option<i64>> {
        let (user_id, room_id) = (user_id.to_owned(), room_id.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT max(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
                 WHERE r.user_id = ?1 AND r.room_id = ?2 AND r.receipt_type IN ('m.read', 'm.read.private')",
            )?
            .query_row(params![user_id.as_str(), room_id.as_str()], |row| row.get(0))
        })
        .await
    }

    async fn forget_room(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Forget> {
        let (user_id, room_id) = (user_id.to_owned(), room_id.to_owned());
        self.write(move |c| {
            let membership: Option<Option<String>> = c
                .prepare_cached(
                    "SELECT membership FROM current_state WHERE room_id = ?1 AND type = 'm.room.member' AND state_key = ?2",
                )?
                .query_row(params![room_id.as_str(), user_id.as_str()], |row| row.get(0))
                .optional()?;
            match membership.flatten() {
                Some(membership) if !matches!(membership.as_str(), "leave" | "ban") => {
                    return Ok(Forget::StillInRoom(membership))
                }
                None => return Ok(Forget::Forgotten),
                Some(_) => {}
            }
            c.prepare_cached("INSERT OR IGNORE INTO forgotten_rooms (user_id, room_id) VALUES (?1, ?2)")?
                .execute(params![user_id.as_str(), room_id.as_str()])?;
            Ok(Forget::Forgotten)
        })
        .await
    }

    async fn state_at(&self, room_id: &RoomId, position: i64) -> StorageResult<Option<StateMap>> {
        if self.current_state(room_id).await?.is_none() {
            return Ok(None);
        }
        let room_id = room_id.to_owned();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT json FROM events WHERE room_id = ?1 AND stream_ordering <= ?2
                 AND json_extract(json, '$.state_key') IS NOT NULL ORDER BY stream_ordering",
            )?;
            let mut rows = statement.query(params![room_id.as_str(), position])?;
            let mut state = StateMap::new();
            while let Some(row) = rows.next()? {
                let json: String = row.get(0)?;
                state.insert(serde_json::from_str(&json).map_err(rows::corrupt)?);
            }
            Ok(Some(state))
        })
        .await
    }

    async fn report_event(&self, report: EventReport) -> StorageResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO event_reports (received_ts, room_id, event_id, user_id, reason, score)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                report.received_ts as i64,
                report.room_id.as_str(),
                report.event_id.as_str(),
                report.user_id.as_str(),
                report.reason,
                report.score
            ])
            .map(drop)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::storage_conformance_suite!(|dir: &Path| SqliteStorage::open(&dir.join("homeserver.db")).unwrap());

    #[tokio::test]
    async fn the_write_connection_runs_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("homeserver.db")).unwrap();
        assert_eq!(storage.durability(), &Durability { journal_mode: "wal".to_owned(), synchronous: 2 });
    }

    /// The transaction-key filter starts from the keys already stored: a retry after a
    /// restart still finds its event (the append's own check would hide a filter that
    /// forgot them, at the cost of running the module callbacks again).
    #[tokio::test]
    async fn a_transaction_stored_before_a_restart_is_found_after_it() {
        use crate::storage::conformance::{allow, message, room_with_members, txn, user};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        let alice = user("alice");
        let (room, key, event) = {
            let storage = SqliteStorage::open(&path).unwrap();
            let room = room_with_members(&storage, 1, false).await;
            let key = txn(&alice, "DEV", &room, "t1");
            let event = message(&room, &alice, "one");
            storage.append_local_event(event.clone(), Some(key.clone()), allow()).await.unwrap();
            (room, key, event)
        };
        let storage = SqliteStorage::open(&path).unwrap();
        assert_eq!(storage.txn_event(&key).await.unwrap(), Some(event.event_id));
        assert_eq!(storage.txn_event(&txn(&alice, "DEV", &room, "t2")).await.unwrap(), None);
    }
}
