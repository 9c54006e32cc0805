//! The sessions of recently used access tokens, in memory, so that authenticating a
//! request takes no trip to a reader thread (each hop to the blocking pool is two thread
//! wake-ups: about half of a send's CPU in a profile). Synapse caches
//! `get_user_by_access_token` the same way.
//!
//! **Never stale.** Temporary triggers on the write connection call `mxmod_sessions_changed()`
//! for every insert, update or delete on `access_tokens` and `users`, whatever statement
//! made it, which moves a generation counter on; an entry is used only while the
//! generation it was read at is current. The writer moves the counter once more after such
//! a transaction commits or rolls back ([`SessionCache::after_transaction`]), so a reader
//! that read the rows before the commit can never serve them afterwards. SQLite has one
//! writer, in this process; PostgreSQL, shared by several processes, does not use this cache.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use rusqlite::{functions::FunctionFlags, Connection};

use crate::storage::Session;

/// Most sessions kept; when full, the cache starts again empty.
const CAPACITY: usize = 10_000;

/// Sessions by token, each with the generation it was read at.
#[derive(Default)]
pub(super) struct SessionCache {
    generation: AtomicU64,
    /// A session row changed in the open write transaction.
    changed: AtomicBool,
    entries: RwLock<HashMap<String, (u64, Session)>>,
}

impl SessionCache {
    /// Makes `connection` (the write connection) report every change to the rows a session
    /// is read from.
    pub(super) fn watch(self: &Arc<Self>, connection: &Connection) -> rusqlite::Result<()> {
        let cache = self.clone();
        connection.create_scalar_function("mxmod_sessions_changed", 0, FunctionFlags::SQLITE_UTF8, move |_| {
            cache.changed.store(true, Ordering::SeqCst);
            cache.generation.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        })?;
        for table in ["access_tokens", "users"] {
            for change in ["INSERT", "UPDATE", "DELETE"] {
                connection.execute_batch(&format!(
                    "CREATE TEMP TRIGGER IF NOT EXISTS mxmod_sessions_{table}_{change} AFTER {change} ON main.{table}
                     BEGIN SELECT mxmod_sessions_changed(); END;"
                ))?;
            }
        }
        Ok(())
    }

    /// The generation to read a session at: pass it to [`SessionCache::insert`].
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The session of `token`, if it was read at the current generation.
    pub(super) fn get(&self, token: &str) -> Option<Session> {
        let generation = self.generation();
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(token).filter(|(read_at, _)| *read_at == generation).map(|(_, session)| session.clone())
    }

    /// Keeps a session read at `generation`, unless a change came since.
    pub(super) fn insert(&self, token: String, generation: u64, session: Session) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.generation() != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token, (generation, session));
    }

    /// Called by the writer after each transaction ends: if a session row changed in it,
    /// every session read before now is outdated.
    pub(super) fn after_transaction(&self) {
        if self.changed.swap(false, Ordering::SeqCst) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::UserRecord;

    fn session(device: &str) -> Session {
        Session {
            device_id: device.to_owned(),
            user: UserRecord {
                user_id: mxmod::types::UserId::parse("@a:b.c").unwrap(),
                password_hash: None,
                is_admin: false,
                shadow_banned: false,
                deactivated: false,
                creation_ts: 0,
            },
        }
    }

    fn connection() -> (Connection, Arc<SessionCache>) {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE users (user_id TEXT PRIMARY KEY, deactivated INTEGER);
                 CREATE TABLE access_tokens (token TEXT PRIMARY KEY, user_id TEXT);
                 CREATE TABLE events (id INTEGER);",
            )
            .unwrap();
        let cache = Arc::new(SessionCache::default());
        cache.watch(&connection).unwrap();
        (connection, cache)
    }

    #[test]
    fn a_change_to_a_token_or_user_row_outdates_every_cached_session() {
        let (connection, cache) = connection();
        for change in [
            "INSERT INTO users VALUES ('@a:b.c', 0)",
            "UPDATE users SET deactivated = 1",
            "INSERT INTO access_tokens VALUES ('t', '@a:b.c')",
            "INSERT OR REPLACE INTO access_tokens VALUES ('t', '@a:b.c')",
            "UPDATE access_tokens SET user_id = '@a:b.c'",
            "DELETE FROM access_tokens",
            "DELETE FROM users",
        ] {
            cache.insert("t".to_owned(), cache.generation(), session("D"));
            assert!(cache.get("t").is_some());
            connection.execute_batch(change).unwrap();
            assert!(cache.get("t").is_none(), "`{change}` left the session cached");
            cache.after_transaction();
        }
        // Other tables leave it alone.
        cache.insert("t".to_owned(), cache.generation(), session("D"));
        connection.execute_batch("INSERT INTO events VALUES (1)").unwrap();
        cache.after_transaction();
        assert_eq!(cache.get("t").map(|session| session.device_id), Some("D".to_owned()));
    }

    /// A reader that took its generation after the change but read the rows before the
    /// commit (WAL: it still sees the old rows) cannot serve them once the commit is done.
    #[test]
    fn a_session_read_during_a_changing_transaction_is_not_served_after_it() {
        let (connection, cache) = connection();
        connection
            .execute_batch("INSERT INTO users VALUES ('@a:b.c', 0); INSERT INTO access_tokens VALUES ('t', '@a:b.c');")
            .unwrap();
        cache.after_transaction();
        connection.execute_batch("BEGIN; DELETE FROM access_tokens;").unwrap();
        let read_at = cache.generation();
        cache.insert("t".to_owned(), read_at, session("old rows"));
        connection.execute_batch("COMMIT").unwrap();
        cache.after_transaction();
        assert!(cache.get("t").is_none());
        // And one that took its generation before the change is never kept.
        let before = cache.generation();
        connection.execute_batch("DELETE FROM users").unwrap();
        cache.insert("t".to_owned(), before, session("old rows"));
        assert!(cache.get("t").is_none());
    }
}
