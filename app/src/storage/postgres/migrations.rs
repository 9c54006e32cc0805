//! The PostgreSQL dialect of the numbered schema steps of `sqlite/migrations.rs`: step
//! `n` here does what step `n` there does, and the version (the number of steps applied)
//! is kept in `schema_version`. Several processes may start at once: each step runs in
//! its own transaction under an advisory lock, re-reading the version first, so a step
//! runs once. A database with a newer version is refused.
//!
//! Dialect differences: positions come from sequences (`events_stream`,
//! `presence_stream`, `account_data_stream`, `receipts_stream`) instead of `AUTOINCREMENT`/`max() + 1`;
//! `rooms.state_position` versions a room's state for the in-memory caches of several
//! processes; flags are `BOOLEAN`.

use tokio_postgres::Transaction;

use crate::{
    access_token::{is_stored_form, stored_form},
    storage::{StorageError, StorageResult},
};

/// The advisory-lock key migrations run under (`'mxmg'`).
const MIGRATION_LOCK: i64 = 0x6d78_6d67;

/// A step's future.
type StepFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>>;

/// One schema step.
struct Migration {
    /// What it does, for the log.
    name: &'static str,
    /// Applies it inside the step's transaction.
    apply: for<'a> fn(&'a Transaction<'a>) -> StepFuture<'a>,
}

/// Every step, in the order (and with the numbers) of the SQLite steps.
const MIGRATIONS: &[Migration] = &[
    Migration { name: "the first schema", apply: |t| Box::pin(baseline(t)) },
    Migration { name: "account data stream positions", apply: |t| Box::pin(account_data_stream(t)) },
    Migration { name: "transactions keyed by request path, user and device", apply: |t| Box::pin(txns_by_path(t)) },
    Migration { name: "access tokens stored as their SHA-256", apply: |t| Box::pin(hash_plain_access_tokens(t)) },
    Migration {
        name: "clients A: devices, push rules and filters",
        apply: |t| Box::pin(devices_push_rules_filters(t)),
    },
    Migration {
        name: "receipts, room account data, forgotten rooms and event reports",
        apply: |t| Box::pin(ephemeral_and_moderation(t)),
    },
    Migration {
        name: "blocked rooms and users' third-party identifiers (admin API)",
        apply: |t| Box::pin(admin_api(t)),
    },
    Migration { name: "email validation sessions", apply: |t| Box::pin(threepid_validation(t)) },
    Migration { name: "module reload generation", apply: |t| Box::pin(module_reloads(t)) },
];

/// The newest schema version this build knows (equal to the SQLite one).
pub(super) fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Runs the steps the database is missing.
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> StorageResult<()> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").await.or_else(
        |error| {
            // Two processes creating the table at once: the loser sees a unique violation.
            if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                Ok(())
            } else {
                Err(error)
            }
        },
    )?;
    loop {
        let transaction = client.transaction().await?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        let found: Option<i32> =
            transaction.query_opt("SELECT version FROM schema_version", &[]).await?.map(|row| row.get(0));
        let found = found.unwrap_or(0).max(0) as u32;
        if found > latest_version() {
            return Err(StorageError::TooNew { found, known: latest_version() });
        }
        let Some(step) = MIGRATIONS.get(found as usize) else { return Ok(()) };
        (step.apply)(&transaction).await?;
        let version = (found + 1) as i32;
        if found == 0 {
            transaction.execute("DELETE FROM schema_version", &[]).await?;
            transaction.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&version]).await?;
        } else {
            transaction.execute("UPDATE schema_version SET version = $1", &[&version]).await?;
        }
        transaction.commit().await?;
        tracing::info!("database schema: applied step {version} ({})", step.name);
    }
}

/// Step 1: the first schema.
async fn baseline(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE users (
                user_id TEXT PRIMARY KEY, password_hash TEXT, is_admin BOOLEAN NOT NULL DEFAULT FALSE,
                shadow_banned BOOLEAN NOT NULL DEFAULT FALSE, deactivated BOOLEAN NOT NULL DEFAULT FALSE,
                creation_ts BIGINT NOT NULL);
            CREATE TABLE access_tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL);
            CREATE INDEX access_tokens_by_user ON access_tokens (user_id);
            CREATE TABLE profiles (user_id TEXT PRIMARY KEY, displayname TEXT, avatar_url TEXT);
            CREATE TABLE rooms (
                room_id TEXT PRIMARY KEY, creator TEXT NOT NULL, is_public BOOLEAN NOT NULL DEFAULT FALSE,
                state_position BIGINT NOT NULL DEFAULT 0);
            CREATE SEQUENCE events_stream;
            CREATE TABLE events (
                stream_ordering BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
                json TEXT NOT NULL, txn_id TEXT);
            CREATE INDEX events_by_room ON events (room_id, stream_ordering);
            CREATE TABLE current_state (
                room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL,
                membership TEXT, PRIMARY KEY (room_id, type, state_key));
            CREATE INDEX current_state_members ON current_state (state_key, type, membership);
            CREATE TABLE txns (
                user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, event_id TEXT NOT NULL,
                PRIMARY KEY (user_id, device_id, txn_id));
            CREATE TABLE aliases (alias TEXT PRIMARY KEY, room_id TEXT NOT NULL, creator TEXT NOT NULL);
            CREATE SEQUENCE presence_stream;
            CREATE TABLE presence (
                user_id TEXT PRIMARY KEY, stream_id BIGINT NOT NULL, state TEXT NOT NULL, status_msg TEXT,
                last_active_ts BIGINT NOT NULL, currently_active BOOLEAN NOT NULL);
            CREATE INDEX presence_stream_order ON presence (stream_id);
            CREATE TABLE account_data (
                user_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (user_id, type));
            CREATE TABLE media (
                media_id TEXT PRIMARY KEY, content_type TEXT NOT NULL, upload_name TEXT, size BIGINT NOT NULL,
                user_id TEXT NOT NULL);",
        )
        .await
}

/// Step 2: account data gets stream positions from their own sequence (existing rows
/// numbered in storage order), indexed.
async fn account_data_stream(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE SEQUENCE account_data_stream;
             ALTER TABLE account_data ADD COLUMN stream_id BIGINT NOT NULL DEFAULT 0;
             UPDATE account_data SET stream_id = nextval('account_data_stream');
             ALTER TABLE account_data ALTER COLUMN stream_id DROP DEFAULT;
             CREATE INDEX account_data_stream_order ON account_data (stream_id);",
        )
        .await
}

/// Step 3: transactions keyed by `(user, device, request path)` (MSC3970), with the time
/// they were used; old rows get the path of the send that made them.
async fn txns_by_path(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE event_txns (
                user_id TEXT NOT NULL, client TEXT NOT NULL, path TEXT NOT NULL, event_id TEXT NOT NULL,
                created_ts BIGINT NOT NULL, PRIMARY KEY (user_id, client, path));
             INSERT INTO event_txns (user_id, client, path, event_id, created_ts)
                SELECT t.user_id, 'device:' || t.device_id,
                       '/rooms/' || e.room_id || '/send/' || (e.json::jsonb ->> 'type') || '/' || t.txn_id,
                       t.event_id, coalesce((e.json::jsonb ->> 'origin_server_ts')::bigint, 0)
                FROM txns t JOIN events e ON e.event_id = t.event_id
                ON CONFLICT DO NOTHING;
             DROP TABLE txns;",
        )
        .await
}

/// Step 4: access tokens stored in plain text are replaced by their stored form.
async fn hash_plain_access_tokens(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let rows = transaction.query("SELECT token FROM access_tokens", &[]).await?;
    let update = transaction.prepare("UPDATE access_tokens SET token = $2 WHERE token = $1").await?;
    for row in rows {
        let token: String = row.get(0);
        if !is_stored_form(&token) {
            transaction.execute(&update, &[&token, &stored_form(&token)]).await?;
        }
    }
    Ok(())
}

/// Step 5 (clients, part A): devices with their names (one row per device that has a
/// login, filled from the access tokens), each user's push-rule document, and filters.
async fn devices_push_rules_filters(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE devices (
                user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT, PRIMARY KEY (user_id, device_id));
             INSERT INTO devices (user_id, device_id) SELECT DISTINCT user_id, device_id FROM access_tokens
                ON CONFLICT DO NOTHING;
             CREATE TABLE push_rules (user_id TEXT PRIMARY KEY, rules TEXT NOT NULL);
             CREATE TABLE filters (
                user_id TEXT NOT NULL, filter_id BIGINT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (user_id, filter_id));
             CREATE INDEX filters_by_json ON filters (user_id, md5(json));",
        )
        .await
}

/// Step 6: read receipts (one per user, room, type and thread, positioned by their own
/// sequence), room account data (on the account-data sequence), forgotten rooms and
/// event reports. New tables only.
async fn ephemeral_and_moderation(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE SEQUENCE receipts_stream;
             CREATE TABLE receipts (
                room_id TEXT NOT NULL, user_id TEXT NOT NULL, receipt_type TEXT NOT NULL, thread_id TEXT NOT NULL,
                event_id TEXT NOT NULL, ts BIGINT NOT NULL, stream_id BIGINT NOT NULL,
                PRIMARY KEY (room_id, user_id, receipt_type, thread_id));
             CREATE INDEX receipts_stream_order ON receipts (stream_id);
             CREATE INDEX receipts_by_user ON receipts (user_id, room_id);
             CREATE TABLE room_account_data (
                user_id TEXT NOT NULL, room_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
                stream_id BIGINT NOT NULL, PRIMARY KEY (user_id, room_id, type));
             CREATE INDEX room_account_data_stream_order ON room_account_data (stream_id);
             CREATE TABLE forgotten_rooms (user_id TEXT NOT NULL, room_id TEXT NOT NULL, PRIMARY KEY (user_id, room_id));
             CREATE TABLE event_reports (
                id BIGSERIAL PRIMARY KEY, received_ts BIGINT NOT NULL, room_id TEXT NOT NULL,
                event_id TEXT NOT NULL, user_id TEXT NOT NULL, reason TEXT, score BIGINT);",
        )
        .await
}

/// Step 7: the rooms a server admin blocked and the users' third-party identifiers (one
/// user per identifier).
async fn admin_api(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE blocked_rooms (room_id TEXT PRIMARY KEY, user_id TEXT NOT NULL);
             CREATE TABLE user_threepids (
                user_id TEXT NOT NULL, medium TEXT NOT NULL, address TEXT NOT NULL, added_at BIGINT NOT NULL,
                id BIGSERIAL, PRIMARY KEY (medium, address));
             CREATE INDEX user_threepids_by_user ON user_threepids (user_id);",
        )
        .await
}

/// Step 8: email validation sessions (Synapse's `threepid_validation_session` with its
/// latest `threepid_validation_token`); at most one unvalidated session per medium,
/// client secret and address.
async fn threepid_validation(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE threepid_validation_sessions (
                session_id TEXT PRIMARY KEY, medium TEXT NOT NULL, address TEXT NOT NULL, client_secret TEXT NOT NULL,
                last_send_attempt BIGINT NOT NULL, validated_at BIGINT, token TEXT NOT NULL,
                token_expires BIGINT NOT NULL, next_link TEXT);
             CREATE UNIQUE INDEX threepid_validation_open
                ON threepid_validation_sessions (medium, client_secret, address) WHERE validated_at IS NULL;
             CREATE INDEX threepid_validation_expiry ON threepid_validation_sessions (token_expires)
                WHERE validated_at IS NULL;",
        )
        .await
}

/// Step 9: the count of module reloads asked through the admin API (`request_reload`
/// bumps it in the statement that notifies): a process whose notification connection
/// was down compares it with the last it applied when it listens again.
async fn module_reloads(transaction: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "CREATE TABLE module_reloads (generation BIGINT NOT NULL);
             INSERT INTO module_reloads (generation) VALUES (0);",
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::postgres::{connection_config, test_database::TestDatabase};

    /// A connection to a fresh database brought to `version` by the first steps.
    async fn at_version(database: &TestDatabase, version: usize) -> tokio_postgres::Client {
        let (mut client, connection) =
            connection_config(&database.settings).connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute("CREATE TABLE schema_version (version INTEGER NOT NULL)").await.unwrap();
        for (index, step) in MIGRATIONS.iter().enumerate().take(version) {
            let transaction = client.transaction().await.unwrap();
            (step.apply)(&transaction).await.unwrap();
            transaction.execute("DELETE FROM schema_version", &[]).await.unwrap();
            let version = (index + 1) as i32;
            transaction.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&version]).await.unwrap();
            transaction.commit().await.unwrap();
        }
        client
    }

    /// The rows of `sql`, every column as text (`NULL` as `None`), in the query's order.
    async fn rows_as_text(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
        client
            .query(sql, &[])
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
            .iter()
            .map(|row| (0..row.len()).map(|column| row.get::<_, Option<String>>(column)).collect())
            .collect()
    }

    async fn version(client: &tokio_postgres::Client) -> u32 {
        let version: i32 = client.query_one("SELECT version FROM schema_version", &[]).await.unwrap().get(0);
        version as u32
    }

    /// Rows in the tables every version since step 6 has, written with explicit columns so
    /// they stay valid while later steps only add columns or tables.
    const ROWS_OF_STEP_6: &str = "
        INSERT INTO users (user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts)
            VALUES ('@a:x', '$argon2id$hash', TRUE, FALSE, FALSE, 11), ('@b:x', NULL, FALSE, TRUE, TRUE, 12);
        INSERT INTO access_tokens (token, user_id, device_id)
            VALUES ('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', '@a:x', 'DEV1');
        INSERT INTO devices (user_id, device_id, display_name) VALUES ('@a:x', 'DEV1', 'phone');
        INSERT INTO profiles (user_id, displayname, avatar_url) VALUES ('@a:x', 'Alice', 'mxc://x/a');
        INSERT INTO rooms (room_id, creator, is_public, state_position) VALUES ('!r:x', '@a:x', TRUE, 4);
        INSERT INTO events (stream_ordering, event_id, room_id, json, txn_id)
            VALUES (nextval('events_stream'), '$e1', '!r:x', '{\"type\":\"m.room.message\"}', 't1');
        INSERT INTO current_state (room_id, type, state_key, event_id, membership)
            VALUES ('!r:x', 'm.room.member', '@a:x', '$e0', 'join');
        INSERT INTO event_txns (user_id, client, path, event_id, created_ts)
            VALUES ('@a:x', 'device:DEV1', '/rooms/!r:x/send/m.room.message/t1', '$e1', 5);
        INSERT INTO aliases (alias, room_id, creator) VALUES ('#r:x', '!r:x', '@a:x');
        INSERT INTO presence (user_id, stream_id, state, status_msg, last_active_ts, currently_active)
            VALUES ('@a:x', nextval('presence_stream'), 'online', 'hi', 7, TRUE);
        INSERT INTO account_data (user_id, type, content, stream_id)
            VALUES ('@a:x', 'm.direct', '{}', nextval('account_data_stream'));
        INSERT INTO media (media_id, content_type, upload_name, size, user_id)
            VALUES ('m1', 'image/png', 'a.png', 10, '@a:x');
        INSERT INTO push_rules (user_id, rules) VALUES ('@a:x', '{\"global\":{}}');
        INSERT INTO filters (user_id, filter_id, json) VALUES ('@a:x', 0, '{}');
        INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id)
            VALUES ('!r:x', '@a:x', 'm.read', 'main', '$e1', 8, nextval('receipts_stream'));
        INSERT INTO room_account_data (user_id, room_id, type, content, stream_id)
            VALUES ('@a:x', '!r:x', 'm.tag', '{}', nextval('account_data_stream'));
        INSERT INTO forgotten_rooms (user_id, room_id) VALUES ('@b:x', '!r:x');
        INSERT INTO event_reports (received_ts, room_id, event_id, user_id, reason, score)
            VALUES (9, '!r:x', '$e1', '@b:x', 'spam', -100);";

    /// Every table of the database and its columns, as `information_schema` lists them.
    async fn tables_and_columns(client: &tokio_postgres::Client) -> Vec<(String, Vec<String>)> {
        let rows = client
            .query(
                "SELECT table_name::text, array_agg(column_name::text ORDER BY ordinal_position)
                 FROM information_schema.columns WHERE table_schema = 'public'
                 GROUP BY table_name ORDER BY table_name",
                &[],
            )
            .await
            .unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    }

    /// Upgrading from the version before the latest keeps every row of every table of
    /// that version, column for column (generic: it reads the tables and columns from the
    /// database, so a new step is covered without changing this test; a step that must
    /// rewrite rows gets a test of its own and an exception here).
    #[tokio::test]
    async fn the_previous_version_is_upgraded_to_the_latest_keeping_every_row() {
        let Some(database) = TestDatabase::create() else { return };
        let previous = latest_version() as usize - 1;
        assert!(previous >= 6, "the fixture needs the tables of step 6");
        let mut client = at_version(&database, previous).await;
        client.batch_execute(ROWS_OF_STEP_6).await.unwrap();
        // `schema_version` is the one table whose row an upgrade changes.
        let before: Vec<_> =
            tables_and_columns(&client).await.into_iter().filter(|(table, _)| table != "schema_version").collect();
        let mut rows_before = Vec::new();
        for (table, columns) in &before {
            let sql = select_all_as_text(table, columns);
            rows_before.push(rows_as_text(&client, &sql).await);
        }
        let filled = rows_before.iter().filter(|rows| !rows.is_empty()).count();
        assert!(filled >= 18, "the fixture fills the tables: {filled} of {}", before.len());

        migrate(&mut client).await.unwrap();
        assert_eq!(version(&client).await, latest_version());
        for ((table, columns), rows) in before.iter().zip(&rows_before) {
            let sql = select_all_as_text(table, columns);
            assert_eq!(&rows_as_text(&client, &sql).await, rows, "the rows of `{table}` after the upgrade");
        }
        // The sequences go on after the kept rows.
        let next: i64 = client.query_one("SELECT nextval('events_stream')", &[]).await.unwrap().get(0);
        assert_eq!(next, 2);
        // Running the steps again changes nothing.
        migrate(&mut client).await.unwrap();
        assert_eq!(version(&client).await, latest_version());
    }

    /// `SELECT` of `columns` of `table`, each as text, ordered by all of them.
    fn select_all_as_text(table: &str, columns: &[String]) -> String {
        let columns: Vec<String> = columns.iter().map(|column| format!("\"{column}\"::text")).collect();
        let order: Vec<String> = (1..=columns.len()).map(|n| n.to_string()).collect();
        format!("SELECT {} FROM \"{table}\" ORDER BY {}", columns.join(", "), order.join(", "))
    }

    #[tokio::test]
    async fn step_2_gives_old_account_data_positions_in_row_order() {
        let Some(database) = TestDatabase::create() else { return };
        let mut client = at_version(&database, 1).await;
        client
            .batch_execute(
                "INSERT INTO account_data VALUES ('@a:x', 'm.direct', '{\"v\":1}');
                 INSERT INTO account_data VALUES ('@a:x', 'm.push_rules', '{}');",
            )
            .await
            .unwrap();
        migrate(&mut client).await.unwrap();
        let rows =
            rows_as_text(&client, "SELECT type, content, stream_id::text FROM account_data ORDER BY stream_id").await;
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            rows,
            [vec![some("m.direct"), some("{\"v\":1}"), some("1")], vec![some("m.push_rules"), some("{}"), some("2")]]
        );
        let next: i64 = client.query_one("SELECT nextval('account_data_stream')", &[]).await.unwrap().get(0);
        assert_eq!(next, 3, "new account data is positioned after the old");
    }

    #[tokio::test]
    async fn step_3_keys_old_transactions_by_the_path_of_their_send() {
        let Some(database) = TestDatabase::create() else { return };
        let mut client = at_version(&database, 2).await;
        client
            .batch_execute(
                "INSERT INTO events (stream_ordering, event_id, room_id, json, txn_id) VALUES
                    (1, '$e1', '!r:x', '{\"type\":\"m.room.message\",\"origin_server_ts\":5}', 't1'),
                    (2, '$e2', '!r:x', '{\"type\":\"m.reaction\"}', 't2');
                 INSERT INTO txns VALUES ('@a:x', 'DEV', 't1', '$e1'), ('@a:x', 'DEV', 't2', '$e2'),
                    ('@a:x', 'DEV', 'gone', '$missing');",
            )
            .await
            .unwrap();
        migrate(&mut client).await.unwrap();
        let rows = rows_as_text(
            &client,
            "SELECT event_id, user_id, client, path, created_ts::text FROM event_txns ORDER BY event_id",
        )
        .await;
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            rows,
            [
                vec![
                    some("$e1"),
                    some("@a:x"),
                    some("device:DEV"),
                    some("/rooms/!r:x/send/m.room.message/t1"),
                    some("5")
                ],
                vec![some("$e2"), some("@a:x"), some("device:DEV"), some("/rooms/!r:x/send/m.reaction/t2"), some("0")],
            ],
            "a transaction whose event is gone is dropped"
        );
        let old_table: i64 =
            client.query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'txns'", &[]).await.unwrap().get(0);
        assert_eq!(old_table, 0);
    }

    #[tokio::test]
    async fn step_4_stores_plain_access_tokens_as_their_hash_and_keeps_hashed_ones() {
        let Some(database) = TestDatabase::create() else { return };
        let mut client = at_version(&database, 3).await;
        let (plain, hashed) = ("mxt_issuedbyanearlierversion0000000", stored_form("mxt_issuedlater"));
        client
            .execute("INSERT INTO access_tokens VALUES ($1, '@a:x', 'OLD'), ($2, '@a:x', 'NEW')", &[&plain, &hashed])
            .await
            .unwrap();
        migrate(&mut client).await.unwrap();
        let rows = rows_as_text(&client, "SELECT device_id, token FROM access_tokens ORDER BY device_id").await;
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(rows, [vec![some("NEW"), some(&hashed)], vec![some("OLD"), some(&stored_form(plain))]]);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused() {
        let Some(database) = TestDatabase::create() else { return };
        let mut client = at_version(&database, MIGRATIONS.len()).await;
        let newer = (latest_version() + 1) as i32;
        client.execute("UPDATE schema_version SET version = $1", &[&newer]).await.unwrap();
        let refused = migrate(&mut client).await;
        assert!(
            matches!(refused, Err(StorageError::TooNew { found, known }) if found == latest_version() + 1 && known == latest_version()),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn step_5_gives_every_logged_in_device_a_row_and_steps_6_and_7_keep_older_rows() {
        let Some(database) = TestDatabase::create() else { return };
        let mut client = at_version(&database, 4).await;
        client
            .batch_execute(
                "INSERT INTO access_tokens VALUES ('h1', '@a:x', 'DEV1'), ('h2', '@a:x', 'DEV1'), ('h3', '@b:x', 'DEV2');
                 INSERT INTO rooms (room_id, creator) VALUES ('!r:x', '@a:x');",
            )
            .await
            .unwrap();
        migrate(&mut client).await.unwrap();
        let devices: Vec<(String, String)> = client
            .query("SELECT user_id, device_id FROM devices ORDER BY user_id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        assert_eq!(devices, [("@a:x".to_owned(), "DEV1".to_owned()), ("@b:x".to_owned(), "DEV2".to_owned())]);
        let version: i32 = client.query_one("SELECT version FROM schema_version", &[]).await.unwrap().get(0);
        assert_eq!(version as u32, latest_version());
        let rooms: i64 = client.query_one("SELECT count(*) FROM rooms", &[]).await.unwrap().get(0);
        assert_eq!(rooms, 1);
        let receipts: i64 = client.query_one("SELECT nextval('receipts_stream')", &[]).await.unwrap().get(0);
        assert_eq!(receipts, 1);
        client
            .batch_execute(
                "INSERT INTO threepid_validation_sessions VALUES ('s', 'email', 'a@x', 'cs', 1, NULL, 't', 9, NULL)",
            )
            .await
            .unwrap();
    }
}
