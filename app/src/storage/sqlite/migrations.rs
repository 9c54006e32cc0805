//! Numbered schema steps, tracked with `PRAGMA user_version`. Step `n` (1-based) of
//! [`MIGRATIONS`] brings a database from version `n - 1` to `n`, keeping every row;
//! opening runs the missing steps, each in its own transaction with its version bump.
//! A database with a version newer than this list is refused. To change the schema,
//! append a step (never edit a shipped one) and a test that runs it on rows written by
//! the previous version. The PostgreSQL backend follows the same numbered sequence.

use rusqlite::{Connection, Transaction};

use super::hash_plain_access_tokens::hash_plain_access_tokens;
use crate::storage::{StorageError, StorageResult};

/// One schema step.
pub(crate) struct Migration {
    /// What it does, for the log.
    pub(crate) name: &'static str,
    /// Applies it inside the step's transaction.
    pub(crate) apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

/// Every step, in order; the schema version is the number of steps applied.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { name: "the first schema", apply: baseline },
    Migration { name: "account data stream positions", apply: account_data_stream },
    Migration { name: "transactions keyed by request path, user and device", apply: txns_by_path },
    Migration { name: "access tokens stored as their SHA-256", apply: hash_plain_access_tokens },
    Migration { name: "clients A: devices, push rules and filters", apply: devices_push_rules_filters },
    Migration {
        name: "receipts, room account data, forgotten rooms and event reports",
        apply: ephemeral_and_moderation,
    },
    Migration { name: "blocked rooms and users' third-party identifiers (admin API)", apply: admin_api },
    Migration { name: "email validation sessions", apply: threepid_validation },
    Migration { name: "module reload generation", apply: module_reloads },
];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Runs the steps a database is missing.
pub(crate) fn migrate(connection: &mut Connection) -> StorageResult<()> {
    let database = |error: rusqlite::Error| StorageError::Database(Box::new(error));
    let found: u32 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(database)?;
    if found > latest_version() {
        return Err(StorageError::TooNew { found, known: latest_version() });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index + 1;
        let transaction = connection.transaction().map_err(database)?;
        (step.apply)(&transaction).map_err(database)?;
        transaction.pragma_update(None, "user_version", version).map_err(database)?;
        transaction.commit().map_err(database)?;
        tracing::info!("database schema: applied step {version} ({})", step.name);
    }
    if found < latest_version() {
        // Steps rewrite rows in place (plain access tokens become hashes); move the new
        // pages into the main file now, so the old bytes do not wait for a checkpoint.
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(database)?;
    }
    Ok(())
}

/// Step 1: the schema as it stood before versions were tracked. Databases written then
/// have version 0 and already hold these tables, hence `IF NOT EXISTS`.
fn baseline(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE IF NOT EXISTS users (
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
            user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (user_id, type));
        CREATE TABLE IF NOT EXISTS media (
            media_id TEXT PRIMARY KEY, content_type TEXT NOT NULL, upload_name TEXT, size INTEGER NOT NULL,
            user_id TEXT NOT NULL);",
    )
}

/// Step 2: account data gets stream positions (existing rows in row order, so an initial
/// sync still returns them and an incremental one does not), indexed for `max()`.
/// Unversioned databases of the last release may already have the column.
fn account_data_stream(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    let has_stream: bool = transaction.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('account_data') WHERE name = 'stream_id'",
        [],
        |row| row.get(0),
    )?;
    if !has_stream {
        transaction.execute_batch(
            "ALTER TABLE account_data ADD COLUMN stream_id INTEGER NOT NULL DEFAULT 0;
             UPDATE account_data SET stream_id = rowid;",
        )?;
    }
    transaction.execute_batch("CREATE INDEX IF NOT EXISTS account_data_stream ON account_data (stream_id);")
}

/// Step 3: transactions keyed by `(user, device, request path)` (MSC3970) instead of
/// `(user, device, txn_id)`, with the time they were used. Old rows get the path of the
/// send that made them, read from their event.
fn txns_by_path(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE event_txns (
            user_id TEXT NOT NULL, client TEXT NOT NULL, path TEXT NOT NULL, event_id TEXT NOT NULL,
            created_ts INTEGER NOT NULL, PRIMARY KEY (user_id, client, path));
         INSERT OR IGNORE INTO event_txns (user_id, client, path, event_id, created_ts)
            SELECT t.user_id, 'device:' || t.device_id,
                   '/rooms/' || e.room_id || '/send/' || json_extract(e.json, '$.type') || '/' || t.txn_id,
                   t.event_id, coalesce(json_extract(e.json, '$.origin_server_ts'), 0)
            FROM txns t JOIN events e ON e.event_id = t.event_id;
         DROP TABLE txns;",
    )
}

/// Step 5 (clients, part A): devices with their names (one row per device that has a
/// login, filled from the access tokens), each user's push-rule document, and filters.
fn devices_push_rules_filters(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE devices (
            user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT, PRIMARY KEY (user_id, device_id));
         INSERT OR IGNORE INTO devices (user_id, device_id) SELECT user_id, device_id FROM access_tokens;
         CREATE TABLE push_rules (user_id TEXT PRIMARY KEY, rules TEXT NOT NULL);
         CREATE TABLE filters (
            user_id TEXT NOT NULL, filter_id INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (user_id, filter_id));
         CREATE INDEX filters_by_json ON filters (user_id, json);",
    )
}

/// Step 6: read receipts (one per user, room, type and thread, with stream positions),
/// room account data (on the account-data stream), forgotten rooms and event reports.
/// New tables only: older rows are untouched.
fn ephemeral_and_moderation(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE receipts (
            room_id TEXT NOT NULL, user_id TEXT NOT NULL, receipt_type TEXT NOT NULL, thread_id TEXT NOT NULL,
            event_id TEXT NOT NULL, ts INTEGER NOT NULL, stream_id INTEGER NOT NULL,
            PRIMARY KEY (room_id, user_id, receipt_type, thread_id));
         CREATE INDEX receipts_stream ON receipts (stream_id);
         CREATE INDEX receipts_by_user ON receipts (user_id, room_id);
         CREATE TABLE room_account_data (
            user_id TEXT NOT NULL, room_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
            stream_id INTEGER NOT NULL, PRIMARY KEY (user_id, room_id, type));
         CREATE INDEX room_account_data_stream ON room_account_data (stream_id);
         CREATE TABLE forgotten_rooms (user_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (user_id, room_id));
         CREATE TABLE event_reports (
            id INTEGER PRIMARY KEY AUTOINCREMENT, received_ts INTEGER NOT NULL, room_id TEXT NOT NULL,
            event_id TEXT NOT NULL, user_id TEXT NOT NULL, reason TEXT, score INTEGER);",
    )
}

/// Step 7: the rooms a server admin blocked (Synapse's `blocked_rooms`) and the users'
/// third-party identifiers (Synapse's `user_threepids`; one user per identifier).
fn admin_api(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE blocked_rooms (room_id TEXT PRIMARY KEY, user_id TEXT NOT NULL);
         CREATE TABLE user_threepids (
            user_id TEXT NOT NULL, medium TEXT NOT NULL, address TEXT NOT NULL, added_at INTEGER NOT NULL,
            PRIMARY KEY (medium, address));
         CREATE INDEX user_threepids_by_user ON user_threepids (user_id);",
    )
}

/// Step 8: email validation sessions (Synapse's `threepid_validation_session` with its
/// latest `threepid_validation_token`); at most one unvalidated session per medium,
/// client secret and address.
fn threepid_validation(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(THREEPID_VALIDATION)
}

/// Step 9: the count of module reloads asked through the admin API. Several processes on
/// one PostgreSQL database read it to catch up on a reload they missed while their
/// notification connection was down; one SQLite process has nobody to tell, and keeps
/// the step so that both schemas have the same version numbers.
fn module_reloads(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(MODULE_RELOADS)
}

/// The DDL of step 9 (PostgreSQL's step 9 is the same text).
const MODULE_RELOADS: &str = "CREATE TABLE module_reloads (generation BIGINT NOT NULL);
     INSERT INTO module_reloads (generation) VALUES (0);";

/// The DDL of step 8 (PostgreSQL's step 8 is the same text).
const THREEPID_VALIDATION: &str = "CREATE TABLE threepid_validation_sessions (
        session_id TEXT PRIMARY KEY, medium TEXT NOT NULL, address TEXT NOT NULL, client_secret TEXT NOT NULL,
        last_send_attempt BIGINT NOT NULL, validated_at BIGINT, token TEXT NOT NULL, token_expires BIGINT NOT NULL,
        next_link TEXT);
     CREATE UNIQUE INDEX threepid_validation_open ON threepid_validation_sessions (medium, client_secret, address)
        WHERE validated_at IS NULL;
     CREATE INDEX threepid_validation_expiry ON threepid_validation_sessions (token_expires)
        WHERE validated_at IS NULL;";

#[cfg(test)]
mod tests {
    use super::*;

    /// A database brought to `version` by the first `version` steps.
    fn at_version(version: usize) -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        for (index, step) in MIGRATIONS.iter().enumerate().take(version) {
            let transaction = connection.transaction().unwrap();
            (step.apply)(&transaction).unwrap();
            transaction.pragma_update(None, "user_version", index + 1).unwrap();
            transaction.commit().unwrap();
        }
        connection
    }

    fn version(connection: &Connection) -> u32 {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn an_unversioned_database_of_the_last_release_is_brought_to_the_latest_version() {
        let mut connection = Connection::open_in_memory().unwrap();
        // What the last unversioned release wrote: the baseline plus the stream column.
        connection
            .execute_batch(
                "CREATE TABLE account_data (user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
                    stream_id INTEGER NOT NULL, PRIMARY KEY (user_id, type));
                 INSERT INTO account_data VALUES ('@a:x', 'm.direct', '{}', 7);",
            )
            .unwrap();
        migrate(&mut connection).unwrap();
        assert_eq!(version(&connection), latest_version());
        let kept: i64 = connection.query_row("SELECT stream_id FROM account_data", [], |row| row.get(0)).unwrap();
        assert_eq!(kept, 7);
        // Running again changes nothing.
        migrate(&mut connection).unwrap();
        assert_eq!(version(&connection), latest_version());
    }

    #[test]
    fn step_2_gives_old_account_data_positions_in_row_order() {
        let mut connection = at_version(1);
        connection
            .execute_batch(
                "INSERT INTO account_data VALUES ('@a:x', 'm.direct', '{\"v\":1}');
                 INSERT INTO account_data VALUES ('@a:x', 'm.push_rules', '{}');",
            )
            .unwrap();
        migrate(&mut connection).unwrap();
        let rows: Vec<(String, i64)> = connection
            .prepare("SELECT type, stream_id FROM account_data ORDER BY stream_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("m.direct".to_owned(), 1), ("m.push_rules".to_owned(), 2)]);
    }

    #[test]
    fn step_3_keys_old_transactions_by_the_path_of_their_send() {
        let mut connection = at_version(2);
        connection
            .execute_batch(
                "INSERT INTO events (event_id, room_id, json, txn_id) VALUES
                    ('$e1', '!r:x', '{\"type\":\"m.room.message\",\"origin_server_ts\":5}', 't1');
                 INSERT INTO txns VALUES ('@a:x', 'DEV', 't1', '$e1');",
            )
            .unwrap();
        migrate(&mut connection).unwrap();
        let row: (String, String, String, i64) = connection
            .query_row("SELECT user_id, client, path, created_ts FROM event_txns WHERE event_id = '$e1'", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap();
        assert_eq!(row, ("@a:x".into(), "device:DEV".into(), "/rooms/!r:x/send/m.room.message/t1".into(), 5));
        let old_table: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'txns'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(old_table, 0);
    }

    #[test]
    fn step_5_gives_every_logged_in_device_a_row() {
        let mut connection = at_version(4);
        connection
            .execute_batch(
                "INSERT INTO access_tokens VALUES ('h1', '@a:x', 'DEV1'), ('h2', '@a:x', 'DEV1'), ('h3', '@b:x', 'DEV2');",
            )
            .unwrap();
        migrate(&mut connection).unwrap();
        let rows: Vec<(String, String)> = connection
            .prepare("SELECT user_id, device_id FROM devices ORDER BY user_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("@a:x".to_owned(), "DEV1".to_owned()), ("@b:x".to_owned(), "DEV2".to_owned())]);
    }

    #[test]
    fn step_6_adds_its_tables_and_keeps_older_rows() {
        let mut connection = at_version(5);
        connection.execute_batch("INSERT INTO account_data VALUES ('@a:x', 'm.direct', '{}', 3);").unwrap();
        migrate(&mut connection).unwrap();
        let kept: i64 = connection.query_row("SELECT stream_id FROM account_data", [], |row| row.get(0)).unwrap();
        assert_eq!(kept, 3);
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'
                 AND name IN ('receipts', 'room_account_data', 'forgotten_rooms', 'event_reports')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tables, 4);
    }

    #[test]
    fn step_7_adds_blocked_rooms_and_threepids_and_keeps_rooms() {
        let mut connection = at_version(6);
        connection.execute_batch("INSERT INTO rooms (room_id, creator) VALUES ('!r:x', '@a:x');").unwrap();
        migrate(&mut connection).unwrap();
        connection.execute_batch("INSERT INTO blocked_rooms VALUES ('!r:x', '@admin:x');").unwrap();
        connection.execute_batch("INSERT INTO user_threepids VALUES ('@a:x', 'email', 'a@x', 1);").unwrap();
        let rooms: i64 = connection.query_row("SELECT count(*) FROM rooms", [], |row| row.get(0)).unwrap();
        assert_eq!(rooms, 1);
    }

    #[test]
    fn step_8_adds_validation_sessions_and_keeps_threepids() {
        let mut connection = at_version(7);
        connection.execute_batch("INSERT INTO user_threepids VALUES ('@a:x', 'email', 'a@x', 1);").unwrap();
        migrate(&mut connection).unwrap();
        connection
            .execute_batch(
                "INSERT INTO threepid_validation_sessions VALUES ('sid', 'email', 'a@x', 'cs', 1, NULL, 't', 9, NULL);",
            )
            .unwrap();
        let open_twice = connection.execute_batch(
            "INSERT INTO threepid_validation_sessions VALUES ('sid2', 'email', 'a@x', 'cs', 1, NULL, 't', 9, NULL);",
        );
        assert!(open_twice.is_err(), "one open session per medium, client secret and address");
        let kept: i64 = connection.query_row("SELECT count(*) FROM user_threepids", [], |row| row.get(0)).unwrap();
        assert_eq!(kept, 1);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let mut connection = at_version(MIGRATIONS.len());
        connection.pragma_update(None, "user_version", latest_version() + 1).unwrap();
        assert!(matches!(migrate(&mut connection), Err(StorageError::TooNew { .. })));
    }
}
