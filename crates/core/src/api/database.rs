//! A module's own SQLite database (Synapse modules use `api.run_db_interaction`): one
//! file per module instance under the server's data directory, in memory for tests.
//! Queries run on tokio's blocking pool.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

pub use rusqlite;

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task failed (panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
}

/// A module instance's database.
#[derive(Clone)]
pub struct ModuleDatabase {
    connection: Arc<Mutex<rusqlite::Connection>>,
}

impl ModuleDatabase {
    /// Opens (creating) the database file, in WAL mode with full sync.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, DatabaseError> {
        Ok(Self { connection: Arc::new(Mutex::new(rusqlite::Connection::open_in_memory()?)) })
    }

    /// Runs `work` with the connection on the blocking pool (Synapse's
    /// `run_db_interaction`). Use a transaction inside for several statements.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DatabaseError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|error| DatabaseError::Task(error.to_string()))?
        .map_err(DatabaseError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_statements_off_the_runtime() {
        let db = ModuleDatabase::in_memory().unwrap();
        db.run(|c| c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (41);")).await.unwrap();
        let x: i64 = db.run(|c| c.query_row("SELECT x + 1 FROM t", [], |row| row.get(0))).await.unwrap();
        assert_eq!(x, 42);
    }
}
