//! The SQLite implementation of [`Storage`]: one file, WAL, `synchronous=FULL`, one
//! connection behind a mutex (SQLite serialises writers anyway).

use std::{path::Path, sync::Mutex};

use mxmod::types::{
    Event, JsonObject, OwnedRoomId, OwnedUserId, PresenceKind, RoomId, StateMap, UserId, UserPresenceState,
};
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    MediaRecord, PresenceRecord, Profile, Session, Storage, StorageError, StorageResult, StoredEvent, TokenOwner,
    UserRecord,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, password_hash TEXT, is_admin INTEGER NOT NULL DEFAULT 0,
    shadow_banned INTEGER NOT NULL DEFAULT 0, deactivated INTEGER NOT NULL DEFAULT 0, creation_ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS access_tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, displayname TEXT, avatar_url TEXT);
CREATE TABLE IF NOT EXISTS rooms (room_id TEXT PRIMARY KEY, creator TEXT NOT NULL, is_public INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (
    stream_ordering INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
    json TEXT NOT NULL, txn_id TEXT);
CREATE INDEX IF NOT EXISTS events_by_room ON events (room_id, stream_ordering);
CREATE TABLE IF NOT EXISTS current_state (
    room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL,
    membership TEXT, PRIMARY KEY (room_id, type, state_key));
CREATE INDEX IF NOT EXISTS current_state_members ON current_state (state_key, type, membership);
CREATE TABLE IF NOT EXISTS txns (
    user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id));
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, room_id TEXT NOT NULL, creator TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS presence (
    stream_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
    status_msg TEXT, last_active_ts INTEGER NOT NULL, currently_active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS account_data (
    user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, stream_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, type));
CREATE TABLE IF NOT EXISTS media (
    media_id TEXT PRIMARY KEY, content_type TEXT NOT NULL, upload_name TEXT, size INTEGER NOT NULL, user_id TEXT NOT NULL);
";

/// SQLite storage.
pub struct SqliteStorage {
    connection: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens (creating) the database file and its schema.
    pub fn open(path: &Path) -> StorageResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|error| StorageError(format!("{}: {error}", dir.display())))?;
        }
        let mut connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        migrate(&mut connection)?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StorageResult<T> {
        let mut connection = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut connection).map_err(StorageError::from)
    }
}

/// Brings a database written by an earlier version up to [`SCHEMA`], keeping every row:
/// account data without a stream position gets one (its row order), so an initial sync
/// still returns it and an incremental sync does not; access tokens stored in plain text
/// are replaced by their hash.
fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let has_stream: bool = connection.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('account_data') WHERE name = 'stream_id'",
        [],
        |row| row.get(0),
    )?;
    let transaction = connection.transaction()?;
    if !has_stream {
        transaction.execute_batch(
            "ALTER TABLE account_data ADD COLUMN stream_id INTEGER NOT NULL DEFAULT 0;
             UPDATE account_data SET stream_id = rowid;",
        )?;
    }
    // For `max(stream_id)`, read by every sync and every write; a user's own rows are
    // found through the primary key.
    transaction.execute_batch("CREATE INDEX IF NOT EXISTS account_data_stream ON account_data (stream_id);")?;
    super::hash_plain_access_tokens::hash_plain_access_tokens(&transaction)?;
    transaction.commit()
}

fn parse_event(json: &str, stream_ordering: i64, txn_id: Option<String>) -> rusqlite::Result<StoredEvent> {
    let event: Event = serde_json::from_str(json)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))?;
    Ok(StoredEvent { stream_ordering, event, txn_id })
}

fn user_id(text: String) -> rusqlite::Result<OwnedUserId> {
    UserId::parse(text.as_str())
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))
}

fn room_id(text: String) -> rusqlite::Result<OwnedRoomId> {
    RoomId::parse(text.as_str())
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))
}

fn json_object(text: &str) -> rusqlite::Result<JsonObject> {
    serde_json::from_str(text)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))
}

fn presence_kind(text: &str) -> PresenceKind {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap_or(PresenceKind::Offline)
}

fn presence_text(kind: PresenceKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "offline".to_owned())
}

const EVENT_COLUMNS: &str = "json, stream_ordering, txn_id";

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let json: String = row.get(0)?;
    parse_event(&json, row.get(1)?, row.get(2)?)
}

impl Storage for SqliteStorage {
    fn create_user(&self, user: &UserRecord) -> StorageResult<bool> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT OR IGNORE INTO users (user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    user.user_id.as_str(),
                    user.password_hash,
                    user.is_admin,
                    user.shadow_banned,
                    user.deactivated,
                    user.creation_ts as i64
                ],
            )?;
            Ok(inserted == 1)
        })
    }

    fn user(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts FROM users WHERE user_id = ?1",
                [user_id.as_str()],
                |row| user_row(row, 0),
            )
            .optional()
        })
    }

    fn set_deactivated(&self, user_id: &UserId, deactivated: bool) -> StorageResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("UPDATE users SET deactivated = ?2 WHERE user_id = ?1", params![user_id.as_str(), deactivated])?;
            if deactivated {
                tx.execute("DELETE FROM access_tokens WHERE user_id = ?1", [user_id.as_str()])?;
            }
            tx.commit()
        })
    }

    fn create_token(&self, token: &str, owner: &TokenOwner) -> StorageResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO access_tokens (token, user_id, device_id) VALUES (?1, ?2, ?3)",
                params![token, owner.user_id.as_str(), owner.device_id],
            )
            .map(drop)
        })
    }

    fn session(&self, token: &str) -> StorageResult<Option<Session>> {
        self.with(|c| {
            c.query_row(
                "SELECT t.device_id, u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated, u.creation_ts
                 FROM access_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token = ?1",
                [token],
                |row| Ok(Session { device_id: row.get(0)?, user: user_row(row, 1)? }),
            )
            .optional()
        })
    }

    fn delete_token(&self, token: &str) -> StorageResult<()> {
        self.with(|c| c.execute("DELETE FROM access_tokens WHERE token = ?1", [token]).map(drop))
    }

    fn profile(&self, user_id: &UserId) -> StorageResult<Profile> {
        self.with(|c| {
            c.query_row("SELECT displayname, avatar_url FROM profiles WHERE user_id = ?1", [user_id.as_str()], |row| {
                Ok(Profile { displayname: row.get(0)?, avatar_url: row.get(1)? })
            })
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    fn set_profile(&self, user_id: &UserId, profile: &Profile) -> StorageResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
                params![user_id.as_str(), profile.displayname, profile.avatar_url],
            )
            .map(drop)
        })
    }

    fn search_users(&self, term: &str, limit: usize) -> StorageResult<Vec<(OwnedUserId, Profile)>> {
        let pattern = format!("%{}%", term.to_lowercase().replace(['%', '_'], ""));
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT u.user_id, p.displayname, p.avatar_url FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
                 WHERE u.deactivated = 0 AND (lower(u.user_id) LIKE ?1 OR lower(coalesce(p.displayname, '')) LIKE ?1)
                 ORDER BY u.user_id LIMIT ?2",
            )?;
            let rows = statement.query_map(params![pattern, limit as i64], |row| {
                Ok((user_id(row.get(0)?)?, Profile { displayname: row.get(1)?, avatar_url: row.get(2)? }))
            })?;
            rows.collect()
        })
    }

    fn create_room(&self, room_id: &RoomId, creator: &UserId) -> StorageResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO rooms (room_id, creator) VALUES (?1, ?2)",
                params![room_id.as_str(), creator.as_str()],
            )
            .map(drop)
        })
    }

    fn room_exists(&self, room_id: &RoomId) -> StorageResult<bool> {
        self.with(|c| {
            c.query_row("SELECT 1 FROM rooms WHERE room_id = ?1", [room_id.as_str()], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    fn append_event(&self, event: &Event, txn: Option<(&UserId, &str, &str)>) -> StorageResult<i64> {
        let json = serde_json::to_string(event).map_err(|error| StorageError(error.to_string()))?;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO events (event_id, room_id, json, txn_id) VALUES (?1, ?2, ?3, ?4)",
                params![event.event_id.as_str(), event.room_id.as_str(), json, txn.map(|(_, _, t)| t)],
            )?;
            let position = tx.last_insert_rowid();
            if let Some(state_key) = &event.state_key {
                tx.execute(
                    "INSERT INTO current_state (room_id, type, state_key, event_id, membership) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership",
                    params![event.room_id.as_str(), event.event_type, state_key, event.event_id.as_str(), event.membership()],
                )?;
            }
            if let Some((user, device, txn_id)) = txn {
                tx.execute(
                    "INSERT INTO txns (user_id, device_id, txn_id, event_id) VALUES (?1, ?2, ?3, ?4)",
                    params![user.as_str(), device, txn_id, event.event_id.as_str()],
                )?;
            }
            tx.commit()?;
            Ok(position)
        })
    }

    fn txn_event(&self, user_id: &UserId, device_id: &str, txn_id: &str) -> StorageResult<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT event_id FROM txns WHERE user_id = ?1 AND device_id = ?2 AND txn_id = ?3",
                params![user_id.as_str(), device_id, txn_id],
                |row| row.get(0),
            )
            .optional()
        })
    }

    fn event(&self, event_id: &str) -> StorageResult<Option<StoredEvent>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"), [event_id], event_row)
                .optional()
        })
    }

    fn current_state(&self, room_id: &RoomId) -> StorageResult<StateMap> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT e.json, e.stream_ordering, e.txn_id FROM current_state s JOIN events e ON e.event_id = s.event_id
                 WHERE s.room_id = ?1 ORDER BY e.stream_ordering",
            )?;
            let rows = statement.query_map([room_id.as_str()], event_row)?;
            rows.map(|row| row.map(|stored| stored.event)).collect()
        })
    }

    fn events_after(&self, room_ids: &[OwnedRoomId], since: i64, limit: usize) -> StorageResult<Vec<StoredEvent>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; room_ids.len()].join(", ");
        self.with(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering > ? AND room_id IN ({placeholders})
                 ORDER BY stream_ordering LIMIT ?"
            ))?;
            let mut values: Vec<rusqlite::types::Value> = vec![since.into()];
            values.extend(room_ids.iter().map(|r| rusqlite::types::Value::Text(r.to_string())));
            values.push((limit as i64).into());
            let rows = statement.query_map(rusqlite::params_from_iter(values), event_row)?;
            rows.collect()
        })
    }

    fn room_events(
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
        self.with(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params![room_id.as_str(), from, limit as i64], event_row)?;
            rows.collect()
        })
    }

    fn max_stream_ordering(&self) -> StorageResult<i64> {
        self.with(|c| c.query_row("SELECT coalesce(max(stream_ordering), 0) FROM events", [], |row| row.get(0)))
    }

    fn rooms_with_membership(&self, user_id: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = ?1 AND membership = ?2",
            )?;
            let rows = statement.query_map(params![user_id.as_str(), membership], |row| room_id(row.get(0)?))?;
            rows.collect()
        })
    }

    fn create_alias(&self, alias: &str, room_id: &RoomId, creator: &UserId) -> StorageResult<bool> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)",
                params![alias, room_id.as_str(), creator.as_str()],
            )
            .map(|n| n == 1)
        })
    }

    fn alias(&self, alias: &str) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>> {
        self.with(|c| {
            c.query_row("SELECT room_id, creator FROM aliases WHERE alias = ?1", [alias], |row| {
                Ok((room_id(row.get(0)?)?, user_id(row.get(1)?)?))
            })
            .optional()
        })
    }

    fn delete_alias(&self, alias: &str) -> StorageResult<()> {
        self.with(|c| c.execute("DELETE FROM aliases WHERE alias = ?1", [alias]).map(drop))
    }

    fn set_room_public(&self, room_id: &RoomId, public: bool) -> StorageResult<()> {
        self.with(|c| {
            c.execute("UPDATE rooms SET is_public = ?2 WHERE room_id = ?1", params![room_id.as_str(), public]).map(drop)
        })
    }

    fn room_is_public(&self, room_id: &RoomId) -> StorageResult<bool> {
        self.with(|c| {
            c.query_row("SELECT is_public FROM rooms WHERE room_id = ?1", [room_id.as_str()], |row| row.get(0))
                .optional()
                .map(Option::unwrap_or_default)
        })
    }

    fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")?;
            let rows = statement.query_map([], |row| room_id(row.get(0)?))?;
            rows.collect()
        })
    }

    fn set_presence(&self, state: &UserPresenceState) -> StorageResult<i64> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO presence (user_id, state, status_msg, last_active_ts, currently_active)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    state.user_id.as_str(),
                    presence_text(state.state),
                    state.status_msg,
                    state.last_active_ts as i64,
                    state.currently_active
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn presence(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT stream_id, user_id, state, status_msg, last_active_ts, currently_active FROM presence WHERE user_id = ?1",
                [user_id.as_str()],
                presence_row,
            )
            .optional()
        })
    }

    fn presence_after(&self, since: i64) -> StorageResult<Vec<PresenceRecord>> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT stream_id, user_id, state, status_msg, last_active_ts, currently_active FROM presence
                 WHERE stream_id > ?1 ORDER BY stream_id",
            )?;
            let rows = statement.query_map([since], presence_row)?;
            rows.collect()
        })
    }

    fn max_presence_stream(&self) -> StorageResult<i64> {
        self.with(|c| c.query_row("SELECT coalesce(max(stream_id), 0) FROM presence", [], |row| row.get(0)))
    }

    fn max_account_data_stream(&self) -> StorageResult<i64> {
        self.with(|c| c.query_row("SELECT coalesce(max(stream_id), 0) FROM account_data", [], |row| row.get(0)))
    }

    fn account_data(&self, user_id: &UserId, data_type: &str) -> StorageResult<Option<JsonObject>> {
        self.with(|c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT content FROM account_data WHERE user_id = ?1 AND type = ?2",
                    params![user_id.as_str(), data_type],
                    |row| row.get(0),
                )
                .optional()?;
            text.map(|text| json_object(&text)).transpose()
        })
    }

    fn set_account_data(&self, user_id: &UserId, data_type: &str, content: &JsonObject) -> StorageResult<()> {
        let text = serde_json::to_string(content).map_err(|error| StorageError(error.to_string()))?;
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO account_data (user_id, type, content, stream_id)
                 VALUES (?1, ?2, ?3, (SELECT coalesce(max(stream_id), 0) + 1 FROM account_data))",
                params![user_id.as_str(), data_type, text],
            )
            .map(drop)
        })
    }

    fn account_data_after(&self, user_id: &UserId, since: i64) -> StorageResult<Vec<(String, JsonObject)>> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT type, content FROM account_data WHERE user_id = ?1 AND stream_id > ?2 ORDER BY stream_id",
            )?;
            let rows = statement.query_map(params![user_id.as_str(), since], |row| {
                let content: String = row.get(1)?;
                Ok((row.get(0)?, json_object(&content)?))
            })?;
            rows.collect()
        })
    }

    fn create_media(&self, media: &MediaRecord, uploader: &UserId) -> StorageResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO media (media_id, content_type, upload_name, size, user_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![media.media_id, media.content_type, media.upload_name, media.size as i64, uploader.as_str()],
            )
            .map(drop)
        })
    }

    fn media(&self, media_id: &str) -> StorageResult<Option<MediaRecord>> {
        self.with(|c| {
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
    }
}

/// A `users` row whose columns start at `first`: user_id, password_hash, is_admin,
/// shadow_banned, deactivated, creation_ts.
fn user_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        user_id: user_id(row.get(first)?)?,
        password_hash: row.get(first + 1)?,
        is_admin: row.get(first + 2)?,
        shadow_banned: row.get(first + 3)?,
        deactivated: row.get(first + 4)?,
        creation_ts: row.get::<_, i64>(first + 5)? as u64,
    })
}

fn presence_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PresenceRecord> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> OwnedUserId {
        UserId::parse("@alice:example.com").unwrap()
    }

    fn content(value: serde_json::Value) -> JsonObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn account_data_positions_order_writes_and_a_rewrite_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("homeserver.db")).unwrap();
        let alice = alice();
        assert_eq!(storage.max_account_data_stream().unwrap(), 0);
        storage.set_account_data(&alice, "m.direct", &content(serde_json::json!({"v": 1}))).unwrap();
        storage.set_account_data(&alice, "m.push_rules", &content(serde_json::json!({}))).unwrap();
        let seen = storage.max_account_data_stream().unwrap();
        assert_eq!(seen, 2);
        storage.set_account_data(&alice, "m.direct", &content(serde_json::json!({"v": 2}))).unwrap();
        let all: Vec<String> = storage.account_data_after(&alice, 0).unwrap().into_iter().map(|(t, _)| t).collect();
        assert_eq!(all, ["m.push_rules", "m.direct"]);
        let news = storage.account_data_after(&alice, seen).unwrap();
        assert_eq!(news, vec![("m.direct".to_owned(), content(serde_json::json!({"v": 2})))]);
        let bob = UserId::parse("@bob:example.com").unwrap();
        assert!(storage.account_data_after(&bob, 0).unwrap().is_empty());
    }

    #[test]
    fn account_data_written_before_stream_positions_is_kept_and_sent_on_initial_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE account_data (
                     user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (user_id, type));
                 INSERT INTO account_data VALUES ('@alice:example.com', 'm.direct', '{\"@bob:example.com\": []}');",
            )
            .unwrap();
        }
        let storage = SqliteStorage::open(&path).unwrap();
        let alice = alice();
        let kept = storage.account_data_after(&alice, 0).unwrap();
        assert_eq!(kept, vec![("m.direct".to_owned(), content(serde_json::json!({"@bob:example.com": []})))]);
        let seen = storage.max_account_data_stream().unwrap();
        assert!(seen > 0);
        assert!(storage.account_data_after(&alice, seen).unwrap().is_empty());
        storage.set_account_data(&alice, "m.ignored_user_list", &content(serde_json::json!({}))).unwrap();
        assert_eq!(storage.account_data_after(&alice, seen).unwrap().len(), 1);
        // Opening again migrates nothing twice.
        drop(storage);
        let reopened = SqliteStorage::open(&path).unwrap();
        assert_eq!(reopened.account_data_after(&alice, 0).unwrap().len(), 2);
    }
}
