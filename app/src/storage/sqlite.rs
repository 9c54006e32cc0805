//! The SQLite implementation of [`Storage`]: one file in WAL mode with
//! `synchronous=FULL`; one writer thread doing group commit (`writer.rs`); a pool of
//! read-only connections on blocking threads (`readers.rs`); room current state kept in
//! memory ([`StateCache`]); numbered schema steps (`migrations.rs`).

mod hash_plain_access_tokens;
mod migrations;
mod readers;
mod rows;
mod writer;

use std::{path::Path, sync::Arc};

use mxmod::types::{
    Event, JsonObject, Membership, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState,
};
use rusqlite::{params, Connection, OptionalExtension};

use self::{
    readers::Readers,
    rows::{
        event_row, json_object, load_room_state, presence_row, presence_text, room_id, user_id, user_row, EVENT_COLUMNS,
    },
    writer::{WriteContext, Writer},
};
use super::{
    notifier::Notifier, state_cache::StateCache, AppendError, Appended, Authorise, CreateRoomError, MediaRecord,
    NewAccount, NewRoom, PresenceRecord, Profile, Session, Storage, StorageError, StorageResult, StoredEvent,
    StreamPositions, SyncWaiter, Threepid, TokenOwner, TxnClient, TxnKey, UserRecord,
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
        let writer = Writer::start(connection, cache.clone(), notifier.clone())?;
        Ok(Self { writer, readers: Readers::new(path.to_path_buf()), cache, notifier, durability })
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

fn txn_client(client: &TxnClient) -> String {
    match client {
        TxnClient::Device(device) => format!("device:{device}"),
        TxnClient::Token(token) => format!("token:{token}"),
    }
}

fn find_txn(connection: &Connection, key: &TxnKey) -> rusqlite::Result<Option<OwnedEventId>> {
    let found: Option<String> = connection
        .prepare_cached("SELECT event_id FROM event_txns WHERE user_id = ?1 AND client = ?2 AND path = ?3")?
        .query_row(params![key.user_id.as_str(), txn_client(&key.client), key.path], |row| row.get(0))
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
    }
    Ok(position)
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
        context
            .connection
            .prepare_cached(
                "INSERT INTO event_txns (user_id, client, path, event_id, created_ts) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                key.user_id.as_str(),
                txn_client(&key.client),
                key.path,
                event.event_id.as_str(),
                event.origin_server_ts as i64
            ])?;
    }
    let state_after = after_append(context, &event, before);
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

fn joined_rooms(connection: &Connection, user: &UserId) -> rusqlite::Result<Vec<OwnedRoomId>> {
    rooms_with(connection, user, "join")
}

fn rooms_with(connection: &Connection, user: &UserId, membership: &str) -> rusqlite::Result<Vec<OwnedRoomId>> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = ?1 AND membership = ?2",
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
                .execute(params![token, owner.user_id.as_str(), owner.device_id])
                .map(drop)
        })
        .await
    }

    async fn session(&self, token: &str) -> StorageResult<Option<Session>> {
        let token = token.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT t.device_id, u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated, u.creation_ts
                 FROM access_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token = ?1",
            )?
            .query_row([token], |row| Ok(Session { device_id: row.get(0)?, user: user_row(row, 1)? }))
            .optional()
        })
        .await
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
        self.writer.write(move |context| append(context, event, txn, authorise)).await
    }

    async fn txn_event(&self, key: &TxnKey) -> StorageResult<Option<OwnedEventId>> {
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
        let loaded = self.read(move |c| load_room_state(c, &owned)).await?;
        Ok(loaded.map(|state| self.cache.fill(room_id.to_owned(), Arc::new(state))))
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
                        (SELECT coalesce(max(stream_id), 0) FROM account_data)",
            )?
            .query_row([], |row| {
                Ok(StreamPositions { events: row.get(0)?, presence: row.get(1)?, account_data: row.get(2)? })
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
                    "INSERT OR REPLACE INTO account_data (user_id, type, content, stream_id)
                     VALUES (?1, ?2, ?3, (SELECT coalesce(max(stream_id), 0) + 1 FROM account_data))",
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

    async fn add_threepid(&self, user_id: &UserId, threepid: &Threepid) -> StorageResult<bool> {
        let (user_id, threepid) = (user_id.to_owned(), threepid.clone());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO user_threepids (user_id, medium, address, validated_at, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                user_id.as_str(),
                threepid.medium,
                threepid.address,
                threepid.validated_at as i64,
                threepid.added_at as i64
            ])
            .map(|inserted| inserted == 1)
        })
        .await
    }

    async fn threepids(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT medium, address, validated_at, added_at FROM user_threepids WHERE user_id = ?1
                 ORDER BY added_at, medium, address",
            )?;
            let rows = statement.query_map([user_id.as_str()], |row| {
                Ok(Threepid {
                    medium: row.get(0)?,
                    address: row.get(1)?,
                    validated_at: row.get::<_, i64>(2)? as u64,
                    added_at: row.get::<_, i64>(3)? as u64,
                })
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

    async fn delete_tokens_of_user(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>> {
        let user_id = user_id.to_owned();
        self.write(move |c| {
            let mut statement =
                c.prepare_cached("DELETE FROM access_tokens WHERE user_id = ?1 RETURNING token, device_id")?;
            let rows = statement.query_map([user_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn users_page(&self, from: Option<&UserId>, limit: usize) -> StorageResult<Vec<UserRecord>> {
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

    fn sync_waiter(&self, user_id: &UserId, all_presence: bool) -> SyncWaiter {
        self.notifier.subscribe(user_id, all_presence)
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
}
