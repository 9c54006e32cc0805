//! The SQLite backend: a small pool of connections of its own to the server's WAL
//! file (the server's writer and readers have theirs), each call on tokio's blocking
//! threads, so no runtime worker waits on SQLite.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{types::Value as SqliteValue, Connection, ErrorCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{sql::Dialect, Backend, BoxFuture, DbError, Row, TransactionBackend, Value};

/// Connections to a file: enough for concurrent module reads; writes serialise in SQLite.
const FILE_CONNECTIONS: usize = 4;
/// How long a statement waits for another connection's write lock before [`DbError::Conflict`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool: idle connections, and permits bounding how many are out.
struct Pool {
    /// `None`: in memory, one connection, never reopened (it holds the data).
    path: Option<PathBuf>,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection taken from the pool; back into it on drop, rolled back first if a
/// transaction was left open (a cancelled call).
struct Lease {
    connection: Option<Connection>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn connection(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
                // A connection that cannot roll back is not handed out again (a file
                // connection is reopened on demand; closing it rolls back).
                if self.pool.path.is_some() {
                    return;
                }
            }
            self.pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(connection);
        }
    }
}

/// The SQLite [`Backend`].
pub(crate) struct SqliteBackend {
    pool: Arc<Pool>,
}

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

fn open_file(path: &PathBuf) -> Result<Connection, DbError> {
    let connection = Connection::open(path)
        .map_err(|error| DbError::Unavailable(format!("cannot open {}: {error}", path.display())))?;
    configure(&connection).map_err(sqlite_error)?;
    Ok(connection)
}

impl SqliteBackend {
    /// A pool on `path` (created if missing, switched to WAL mode).
    pub(crate) fn open(path: PathBuf) -> Result<Self, DbError> {
        let first = open_file(&path)?;
        first.pragma_update(None, "journal_mode", "WAL").map_err(sqlite_error)?;
        let pool = Pool {
            path: Some(path),
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(FILE_CONNECTIONS)),
        };
        Ok(Self { pool: Arc::new(pool) })
    }

    /// One private in-memory connection.
    pub(crate) fn in_memory() -> Result<Self, DbError> {
        let connection = Connection::open_in_memory().map_err(sqlite_error)?;
        configure(&connection).map_err(sqlite_error)?;
        let pool = Pool { path: None, idle: Mutex::new(vec![connection]), permits: Arc::new(Semaphore::new(1)) };
        Ok(Self { pool: Arc::new(pool) })
    }

    async fn lease(&self) -> Result<Lease, DbError> {
        let permit = self
            .pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Unavailable("the module database pool is closed".into()))?;
        let idle = self.pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let connection = match (idle, &self.pool.path) {
            (Some(connection), _) => connection,
            (None, Some(path)) => {
                let path = path.clone();
                run_blocking(move || open_file(&path)).await?
            }
            (None, None) => return Err(DbError::Unavailable("the in-memory module database was closed".into())),
        };
        Ok(Lease { connection: Some(connection), pool: self.pool.clone(), _permit: permit })
    }
}

/// Runs `work` on a blocking thread.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| DbError::Unavailable(format!("database task failed: {error}")))?
}

pub(crate) fn sqlite_error(error: rusqlite::Error) -> DbError {
    match &error {
        rusqlite::Error::SqliteFailure(code, _) => match code.code {
            ErrorCode::ConstraintViolation => DbError::Constraint(error.to_string()),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbError::Conflict(error.to_string()),
            ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::DiskFull | ErrorCode::SystemIoFailure => {
                DbError::Unavailable(error.to_string())
            }
            _ => DbError::Sql(error.to_string()),
        },
        _ => DbError::Sql(error.to_string()),
    }
}

fn to_sqlite(value: Value) -> SqliteValue {
    match value {
        Value::Null => SqliteValue::Null,
        Value::Integer(v) => SqliteValue::Integer(v),
        Value::Real(v) => SqliteValue::Real(v),
        Value::Text(v) => SqliteValue::Text(v),
        Value::Blob(v) => SqliteValue::Blob(v),
    }
}

fn from_sqlite(value: SqliteValue) -> Value {
    match value {
        SqliteValue::Null => Value::Null,
        SqliteValue::Integer(v) => Value::Integer(v),
        SqliteValue::Real(v) => Value::Real(v),
        SqliteValue::Text(v) => Value::Text(v),
        SqliteValue::Blob(v) => Value::Blob(v),
    }
}

fn execute(connection: &Connection, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
    let mut statement = connection.prepare_cached(sql).map_err(sqlite_error)?;
    let params = rusqlite::params_from_iter(params.into_iter().map(to_sqlite));
    if statement.column_count() == 0 {
        let changed = statement.execute(params).map_err(sqlite_error)?;
        return Ok(changed as u64);
    }
    // A statement with results (`SELECT`, `... RETURNING`) runs to its end, as on
    // PostgreSQL; the rows are dropped.
    let mut rows = statement.query(params).map_err(sqlite_error)?;
    while rows.next().map_err(sqlite_error)?.is_some() {}
    Ok(connection.changes())
}

fn query(connection: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
    let mut statement = connection.prepare_cached(sql).map_err(sqlite_error)?;
    let columns: Arc<[String]> = statement.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut rows =
        statement.query(rusqlite::params_from_iter(params.into_iter().map(to_sqlite))).map_err(sqlite_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let values = (0..width)
            .map(|index| row.get::<_, SqliteValue>(index).map(from_sqlite))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_error)?;
        out.push(Row::new(columns.clone(), values));
    }
    Ok(out)
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>> {
        Box::pin(async move {
            let mut lease = self.lease().await?;
            run_blocking(move || execute(lease.connection(), &sql, params)).await
        })
    }

    fn query(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>> {
        Box::pin(async move {
            let mut lease = self.lease().await?;
            run_blocking(move || query(lease.connection(), &sql, params)).await
        })
    }

    fn begin(&self, _instance_id: &str) -> BoxFuture<'_, Result<Box<dyn TransactionBackend>, DbError>> {
        Box::pin(async move {
            let lease = self.lease().await?;
            let lease = run_blocking(move || {
                let mut lease = lease;
                lease.connection().execute_batch("BEGIN IMMEDIATE").map_err(sqlite_error)?;
                Ok(lease)
            })
            .await?;
            Ok(Box::new(SqliteTransaction { lease: Some(lease) }) as Box<dyn TransactionBackend>)
        })
    }

    fn table_columns(&self, name: String) -> BoxFuture<'_, Result<Vec<String>, DbError>> {
        Box::pin(async move {
            let rows =
                self.query("SELECT name FROM pragma_table_info(?1) ORDER BY cid".to_owned(), vec![name.into()]).await?;
            rows.iter().map(|row| row.get::<String>(0)).collect()
        })
    }
}

/// A transaction holding its connection; each statement moves it to a blocking thread
/// and back. Cancelled mid-statement, the blocking thread drops the lease (rolling back).
struct SqliteTransaction {
    lease: Option<Lease>,
}

impl SqliteTransaction {
    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let mut lease = self.lease.take().ok_or_else(|| DbError::Unavailable("transaction already ended".into()))?;
        let (lease, result) = tokio::task::spawn_blocking(move || {
            let result = work(lease.connection());
            (lease, result)
        })
        .await
        .map_err(|error| DbError::Unavailable(format!("database task failed: {error}")))?;
        self.lease = Some(lease);
        result
    }

    fn finish(&mut self, sql: &'static str) -> BoxFuture<'static, Result<(), DbError>> {
        let lease = self.lease.take();
        Box::pin(async move {
            let mut lease = lease.ok_or_else(|| DbError::Unavailable("transaction already ended".into()))?;
            run_blocking(move || lease.connection().execute_batch(sql).map_err(sqlite_error)).await
        })
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        // Abandoned between statements: roll back on a blocking thread.
        if let Some(lease) = self.lease.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(lease))),
                Err(_) => drop(lease),
            }
        }
    }
}

impl TransactionBackend for SqliteTransaction {
    fn execute(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>> {
        Box::pin(self.run(move |connection| execute(connection, &sql, params)))
    }

    fn query(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>> {
        Box::pin(self.run(move |connection| query(connection, &sql, params)))
    }

    fn execute_batch(&mut self, sql: String) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(self.run(move |connection| connection.execute_batch(&sql).map_err(sqlite_error)))
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>> {
        self.finish("COMMIT")
    }

    fn rollback(mut self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>> {
        self.finish("ROLLBACK")
    }
}
