//! A small pool of read-only WAL connections. Reads run on tokio's blocking threads, so
//! no runtime worker waits on SQLite, and never wait behind the writer's fsync (WAL
//! readers see the last committed state).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::storage::{StorageError, StorageResult};

/// Read connections open at most at once.
const READERS: usize = 4;

/// The read pool.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self { path, idle: Mutex::new(Vec::new()), permits: Semaphore::new(READERS) })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }

    /// Runs `work` on a read connection on a blocking thread.
    pub(super) async fn read<T>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StorageResult<T>
    where
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| StorageError::Stopped)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let connection = match idle {
                Some(connection) => connection,
                None => pool.open()?,
            };
            let outcome = work(&connection);
            pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(connection);
            Ok(outcome?)
        })
        .await
        .map_err(|_| StorageError::Stopped)?
    }
}
