//! Module storage in the server's own database, on SQLite and on PostgreSQL alike
//! (Synapse modules use `api.run_db_interaction` on the homeserver's database).
//!
//! [`ModuleApi::db`](crate::ModuleApi::db) hands each module instance a [`ModuleDb`]:
//! async statements with bound parameters ([`ModuleDb::execute`], [`ModuleDb::query`],
//! [`ModuleDb::query_one`], [`ModuleDb::query_optional`]), transactions that are retried
//! on a serialization conflict ([`ModuleDb::transaction`]) and numbered migrations
//! applied once per instance ([`ModuleDb::migrate`]).
//!
//! # Tables are named through the handle
//!
//! Write every table (and index) name in braces: `{expiry}`. The handle rewrites it to
//! `mod_<id>__expiry`, where `<id>` is the instance's stable id (the `id:` of its
//! `modules:` entry, by default the module name). So two instances of one module keep
//! apart, the names survive reordering the `modules:` list, and no module table
//! collides with the server's. A name is lowercase letters, digits and `_`, and the
//! whole identifier at most 63 bytes.
//!
//! # The portable SQL subset
//!
//! Statements run unchanged on SQLite and PostgreSQL when they keep to:
//! - placeholders `$1`, `$2`, ... (`?` is refused; SQLite receives `?1`, `?2`, ...);
//! - column types `BIGINT` (any integer), `DOUBLE PRECISION`, `TEXT`, `BYTEA`, `BOOLEAN`
//!   (bound from `bool`, read as `bool`); parameters are converted to the column's type
//!   on PostgreSQL, so an integer binds to `INTEGER`, `SMALLINT` or `BOOLEAN`;
//! - `INSERT ... ON CONFLICT (...) DO NOTHING` / `DO UPDATE SET x = excluded.x` (not
//!   `INSERT OR IGNORE`/`REPLACE`), `CREATE TABLE IF NOT EXISTS`, `CREATE [UNIQUE] INDEX
//!   IF NOT EXISTS {name} ON {table} (...)`;
//! - aggregates that return integers (`count(*)`; `CAST(sum(x) AS BIGINT)`, since
//!   PostgreSQL's `sum` of `BIGINT` is `NUMERIC`, which is not read back);
//! - no `AUTOINCREMENT`/`SERIAL`, `RETURNING` is fine on both, no `{`/`?` outside
//!   string literals.
//!
//! # Transactions
//!
//! [`ModuleDb::transaction`] runs a closure in one transaction: `BEGIN IMMEDIATE` on
//! SQLite (writers are serialised); on PostgreSQL a session advisory lock per instance
//! (so one instance's transactions run one at a time, across processes too), then
//! `SERIALIZABLE`. A check-and-write belongs in one: read, decide, write, commit. A
//! concurrent writer outside the transaction either waits or makes it fail with
//! [`DbError::Conflict`], after which the closure is run again (up to five attempts, as
//! Synapse retries). Inside the closure use only the
//! [`Transaction`]; statements on the [`ModuleDb`] itself would wait for it.
//!
//! # Example
//!
//! ```
//! use mxmod::db::{Database, Migration, ModuleDb};
//!
//! const MIGRATIONS: &[Migration] = &[
//!     Migration::new(1, "CREATE TABLE IF NOT EXISTS {notes} (user_id TEXT PRIMARY KEY, body TEXT NOT NULL)"),
//!     Migration::new(2, "ALTER TABLE {notes} ADD COLUMN edits BIGINT NOT NULL DEFAULT 0"),
//! ];
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mxmod::db::DbError> {
//! // In a module, this is `api.db()?`; here, a private in-memory database.
//! let db: ModuleDb = Database::sqlite_in_memory()?.for_instance("notes_example");
//! db.migrate(MIGRATIONS).await?;
//! db.execute("INSERT INTO {notes} (user_id, body) VALUES ($1, $2)", &["@a:example.com".into(), "hi".into()])
//!     .await?;
//! // Check and write in one transaction.
//! let edits = db
//!     .transaction(|tx| {
//!         Box::pin(async move {
//!             let row = tx.query_one("SELECT edits FROM {notes} WHERE user_id = $1", &["@a:example.com".into()]).await?;
//!             let edits: i64 = row.get(0)?;
//!             tx.execute("UPDATE {notes} SET edits = $1 WHERE user_id = $2", &[(edits + 1).into(), "@a:example.com".into()])
//!                 .await?;
//!             Ok(edits + 1)
//!         })
//!     })
//!     .await?;
//! assert_eq!(edits, 1);
//! let body: Option<String> = db
//!     .query_optional("SELECT body FROM {notes} WHERE user_id = $1", &["@b:example.com".into()])
//!     .await?
//!     .map(|row| row.get(0))
//!     .transpose()?;
//! assert_eq!(body, None);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "sqlite")]
mod legacy;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod value;

use std::{fmt, path::PathBuf, sync::Arc};

pub use futures_util::future::BoxFuture;

use self::sql::{Dialect, Namespace};
pub use self::{
    migrate::Migration,
    value::{FromValue, Row, Value},
};

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The statement was refused: a syntax error, an unknown table, a type the
    /// portable subset does not have, an unportable placeholder.
    #[error("database error: {0}")]
    Sql(String),
    /// A constraint (unique key, `NOT NULL`, foreign key, check) refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// A concurrent transaction conflicted (serialization failure, deadlock, lock
    /// timeout); running the transaction again may succeed.
    #[error("conflict with a concurrent transaction: {0}")]
    Conflict(String),
    /// A row had no such column, or it held another type.
    #[error("cannot read the row: {0}")]
    Decode(String),
    /// `query_one` found no row.
    #[error("no row found")]
    NoRows,
    /// The database cannot be reached: no database configured, the pool or a
    /// connection failed, a blocking task was cancelled, a file could not be read.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

/// What a backend runs: statements already rewritten for its dialect.
pub(crate) trait Backend: Send + Sync {
    /// The placeholder syntax it takes.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the number of rows it changed.
    fn execute(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>>;
    /// Runs one statement; its rows.
    fn query(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>>;
    /// Starts a transaction of instance `instance_id`: transactions of one instance run
    /// one at a time (`BEGIN IMMEDIATE` on SQLite; an advisory lock, then
    /// `SERIALIZABLE`, on PostgreSQL).
    fn begin(&self, instance_id: &str) -> BoxFuture<'_, Result<Box<dyn TransactionBackend>, DbError>>;
    /// The columns of table `name` in the current schema; empty if there is no such table.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code, reason = "only the import of old SQLite files asks"))]
    fn table_columns(&self, name: String) -> BoxFuture<'_, Result<Vec<String>, DbError>>;
}

/// An open transaction of a backend. Dropped without `commit`/`rollback` (a cancelled
/// future), it rolls back without blocking the caller.
pub(crate) trait TransactionBackend: Send {
    /// Runs one statement; the number of rows it changed.
    fn execute(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>>;
    /// Runs one statement; its rows.
    fn query(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>>;
    /// Runs several `;`-separated statements without parameters (migrations).
    fn execute_batch(&mut self, sql: String) -> BoxFuture<'_, Result<(), DbError>>;
    /// Commits.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>>;
    /// Rolls back.
    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>>;
}

/// The server's database, shared by every module instance: SQLite or PostgreSQL.
/// Cheap to clone.
#[derive(Clone)]
pub struct Database {
    backend: Arc<dyn Backend>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database").field("dialect", &self.backend.dialect()).finish()
    }
}

impl Database {
    /// The server's SQLite file (the homeserver's main database, in WAL mode): a small
    /// pool of connections of its own, with a busy timeout, used on tokio's blocking threads.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(path: impl Into<PathBuf>) -> Result<Self, DbError> {
        Ok(Self { backend: Arc::new(sqlite::SqliteBackend::open(path.into())?) })
    }

    /// A private in-memory SQLite database (tests; `mxmod::testing`'s default).
    #[cfg(feature = "sqlite")]
    pub fn sqlite_in_memory() -> Result<Self, DbError> {
        Ok(Self { backend: Arc::new(sqlite::SqliteBackend::in_memory()?) })
    }

    /// The server's PostgreSQL database, through its connection pool.
    #[cfg(feature = "postgres")]
    pub fn postgres(pool: deadpool_postgres::Pool) -> Self {
        Self { backend: Arc::new(postgres::PostgresBackend::new(pool)) }
    }

    /// The handle of module instance `id` (`[a-z0-9_]`, at most 32 bytes, as the config
    /// loader checks it): its tables are `mod_<id>__<name>`.
    pub fn for_instance(&self, id: &str) -> ModuleDb {
        ModuleDb { backend: self.backend.clone(), namespace: Arc::new(Namespace::new(id)), legacy_file: None }
    }
}

/// A module instance's handle on the server's database (see the [module docs](self)).
/// Cheap to clone.
#[derive(Clone)]
pub struct ModuleDb {
    backend: Arc<dyn Backend>,
    namespace: Arc<Namespace>,
    /// The instance's database file from before module tables moved into the server's
    /// database, imported by [`ModuleDb::migrate`].
    legacy_file: Option<Arc<PathBuf>>,
}

impl fmt::Debug for ModuleDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleDb").field("instance", &self.namespace.id()).finish()
    }
}

impl ModuleDb {
    /// The same handle, importing `file` (an instance's own SQLite file of earlier
    /// versions) at the end of the next [`ModuleDb::migrate`].
    pub(crate) fn with_legacy_file(mut self, file: PathBuf) -> Self {
        self.legacy_file = Some(Arc::new(file));
        self
    }

    /// The real name of this instance's table `name` (`{name}` in statements), for
    /// messages and tools.
    pub fn table(&self, name: &str) -> Result<String, DbError> {
        self.namespace.table(name)
    }

    fn rewrite(&self, sql: &str) -> Result<String, DbError> {
        sql::rewrite(sql, Some(&self.namespace), self.backend.dialect())
    }

    /// Runs one statement outside any transaction; the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.backend.execute(self.rewrite(sql)?, params.to_vec()).await
    }

    /// Runs one statement; every row.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.backend.query(self.rewrite(sql)?, params.to_vec()).await
    }

    /// Runs one statement; its first row, or [`DbError::NoRows`].
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row, DbError> {
        self.query_optional(sql, params).await?.ok_or(DbError::NoRows)
    }

    /// Runs one statement; its first row, if any.
    pub async fn query_optional(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs `work` in one transaction and commits if it returns `Ok` (rolls back
    /// otherwise). On [`DbError::Conflict`] the transaction is rolled back and `work` runs
    /// again, up to five attempts in all. Write the closure as
    /// `|tx| Box::pin(async move { ... })`, cloning what it needs before `Box::pin`.
    pub async fn transaction<T, F>(&self, mut work: F) -> Result<T, DbError>
    where
        T: Send,
        F: for<'t> FnMut(&'t mut Transaction) -> BoxFuture<'t, Result<T, DbError>> + Send,
    {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            let result = self.attempt(&mut work).await;
            match result {
                Err(DbError::Conflict(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    // A short, growing pause lets the other transaction finish.
                    tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt<T, F>(&self, work: &mut F) -> Result<T, DbError>
    where
        F: for<'t> FnMut(&'t mut Transaction) -> BoxFuture<'t, Result<T, DbError>>,
    {
        let inner = self.backend.begin(self.namespace.id()).await?;
        let mut transaction =
            Transaction { inner: Some(inner), namespace: self.namespace.clone(), dialect: self.backend.dialect() };
        let result = work(&mut transaction).await;
        let inner = transaction.inner.take().ok_or_else(|| DbError::Unavailable("transaction already ended".into()))?;
        match result {
            Ok(value) => inner.commit().await.map(|()| value),
            Err(error) => {
                // The work's error is what the caller needs; a failed rollback ends
                // the connection's transaction anyway.
                let _ = inner.rollback().await;
                Err(error)
            }
        }
    }

    /// Applies the `migrations` this instance has not applied yet, in order, each in its
    /// own transaction together with its record (`mxmod_module_migrations`, keyed by
    /// instance id and version), so each runs once even with several processes starting
    /// together. A recorded version this list does not have (a newer module ran here)
    /// is an error. Then, once, imports the instance's SQLite file of earlier mxmod
    /// versions (`modules/<instance>.db` beside the server's database): the rows of each
    /// of its tables go into the table of the same `{name}` (same-named columns; rows
    /// that conflict with existing ones are skipped), and the file is renamed to
    /// `<instance>.db.imported`.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<(), DbError> {
        migrate::apply(self, migrations).await?;
        #[cfg(feature = "sqlite")]
        if let Some(file) = &self.legacy_file {
            legacy::import(self, file).await?;
        }
        Ok(())
    }
}

/// An open transaction ([`ModuleDb::transaction`]).
pub struct Transaction {
    inner: Option<Box<dyn TransactionBackend>>,
    namespace: Arc<Namespace>,
    dialect: Dialect,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("instance", &self.namespace.id()).finish()
    }
}

impl Transaction {
    fn parts(&mut self, sql: &str) -> Result<(&mut Box<dyn TransactionBackend>, String), DbError> {
        let sql = sql::rewrite(sql, Some(&self.namespace), self.dialect)?;
        let inner = self.inner.as_mut().ok_or_else(|| DbError::Unavailable("transaction already ended".into()))?;
        Ok((inner, sql))
    }

    /// Runs one statement; the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let (inner, sql) = self.parts(sql)?;
        inner.execute(sql, params.to_vec()).await
    }

    /// Runs one statement; every row.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let (inner, sql) = self.parts(sql)?;
        inner.query(sql, params.to_vec()).await
    }

    /// Runs one statement; its first row, or [`DbError::NoRows`].
    pub async fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, DbError> {
        self.query_optional(sql, params).await?.ok_or(DbError::NoRows)
    }

    /// Runs one statement; its first row, if any.
    pub async fn query_optional(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs several `;`-separated statements without parameters (migrations).
    pub(crate) async fn execute_batch(&mut self, sql: &str) -> Result<(), DbError> {
        let (inner, sql) = self.parts(sql)?;
        inner.execute_batch(sql).await
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
