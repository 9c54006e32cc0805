//! The PostgreSQL backend: statements on a `deadpool-postgres` pool (prepared once per
//! connection), parameters converted to the types PostgreSQL infers for them, column
//! values read back into the five [`Value`] classes.

use std::{error::Error as StdError, sync::Arc};

use bytes::BytesMut;
use deadpool_postgres::{Object, Pool};
use tokio_postgres::{
    error::SqlState,
    types::{to_sql_checked, IsNull, ToSql, Type},
};

use super::{sql::Dialect, Backend, BoxFuture, DbError, Row, TransactionBackend, Value};

/// The PostgreSQL [`Backend`].
pub(crate) struct PostgresBackend {
    pool: Pool,
}

impl PostgresBackend {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(|error| DbError::Unavailable(format!("PostgreSQL pool: {error}")))
    }
}

fn postgres_error(error: tokio_postgres::Error) -> DbError {
    let message = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => error.to_string(),
    };
    match error.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::LOCK_NOT_AVAILABLE =>
        {
            DbError::Conflict(message)
        }
        Some(code) if code.code().starts_with("23") => DbError::Constraint(message),
        Some(_) => DbError::Sql(message),
        None if error.is_closed() => DbError::Unavailable(message),
        None => DbError::Sql(message),
    }
}

/// A [`Value`] bound as the type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
struct Param(Value);

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let refused = || -> Box<dyn StdError + Sync + Send> {
            format!("cannot bind a {} value to a parameter of type {ty}", self.0.kind()).into()
        };
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v).map_err(|_| refused())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v).map_err(|_| refused())?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => Err(refused()),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => Err(refused()),
            },
            Value::Text(v) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => v.as_str().to_sql(ty, out),
                _ => Err(refused()),
            },
            Value::Blob(v) => match *ty {
                Type::BYTEA => v.as_slice().to_sql(ty, out),
                _ => Err(refused()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, with a message naming both types.
        true
    }

    to_sql_checked!();
}

fn read_row(row: &tokio_postgres::Row, columns: &Arc<[String]>) -> Result<Row, DbError> {
    let decode = |index: usize, error: tokio_postgres::Error| DbError::Decode(format!("column {index}: {error}"));
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::BOOL => row.try_get::<_, Option<bool>>(index).map(|v| v.map(|b| Value::Integer(b.into()))),
            Type::INT2 => row.try_get::<_, Option<i16>>(index).map(|v| v.map(|n| Value::Integer(n.into()))),
            Type::INT4 => row.try_get::<_, Option<i32>>(index).map(|v| v.map(|n| Value::Integer(n.into()))),
            Type::INT8 => row.try_get::<_, Option<i64>>(index).map(|v| v.map(Value::Integer)),
            Type::OID => row.try_get::<_, Option<u32>>(index).map(|v| v.map(|n| Value::Integer(n.into()))),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(index).map(|v| v.map(|n| Value::Real(n.into()))),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(index).map(|v| v.map(Value::Real)),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                row.try_get::<_, Option<String>>(index).map(|v| v.map(Value::Text))
            }
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index).map(|v| v.map(Value::Blob)),
            ref other => {
                return Err(DbError::Decode(format!(
                    "column {index} ({}) has type {other}, outside the portable subset; CAST it in the query",
                    column.name()
                )))
            }
        }
        .map_err(|error| decode(index, error))?;
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(columns.clone(), values))
}

async fn execute(client: &Object, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
    let statement = client.prepare_cached(sql).await.map_err(postgres_error)?;
    let params: Vec<Param> = params.into_iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    client.execute(&statement, &refs).await.map_err(postgres_error)
}

async fn query(client: &Object, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
    let statement = client.prepare_cached(sql).await.map_err(postgres_error)?;
    let columns: Arc<[String]> = statement.columns().iter().map(|c| c.name().to_owned()).collect();
    let params: Vec<Param> = params.into_iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&statement, &refs).await.map_err(postgres_error)?;
    rows.iter().map(|row| read_row(row, &columns)).collect()
}

impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>> {
        Box::pin(async move { execute(&self.client().await?, &sql, params).await })
    }

    fn query(&self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>> {
        Box::pin(async move { query(&self.client().await?, &sql, params).await })
    }

    fn begin(&self, instance_id: &str) -> BoxFuture<'_, Result<Box<dyn TransactionBackend>, DbError>> {
        let key = lock_key(instance_id);
        Box::pin(async move {
            let client = self.client().await?;
            // Taken before `BEGIN`, so the transaction's snapshot is taken after the lock:
            // the previous transaction of this instance is fully visible.
            let transaction = PostgresTransaction { client: Some(client), key };
            let client = transaction.client()?;
            client.batch_execute(&format!("SELECT pg_advisory_lock({key})")).await.map_err(postgres_error)?;
            client.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE").await.map_err(postgres_error)?;
            Ok(Box::new(transaction) as Box<dyn TransactionBackend>)
        })
    }

    fn table_columns(&self, name: String) -> BoxFuture<'_, Result<Vec<String>, DbError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
                        .to_owned(),
                    vec![name.into()],
                )
                .await?;
            rows.iter().map(|row| row.get::<String>(0)).collect()
        })
    }
}

/// The advisory lock key of an instance: FNV-1a of `mxmod:<id>` (a collision only
/// serialises two instances' transactions).
fn lock_key(instance_id: &str) -> i64 {
    let hash = format!("mxmod:{instance_id}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// A transaction on one pooled connection, holding its instance's advisory lock.
/// Dropped unfinished (a cancelled future), the connection is taken out of the pool and
/// closed, which rolls the transaction back and releases the lock.
struct PostgresTransaction {
    client: Option<Object>,
    key: i64,
}

impl PostgresTransaction {
    fn client(&self) -> Result<&Object, DbError> {
        self.client.as_ref().ok_or_else(|| DbError::Unavailable("transaction already ended".into()))
    }

    fn finish(&mut self, sql: &'static str) -> BoxFuture<'static, Result<(), DbError>> {
        let client = self.client.take();
        let key = self.key;
        Box::pin(async move {
            let client = client.ok_or_else(|| DbError::Unavailable("transaction already ended".into()))?;
            let ended = client.batch_execute(sql).await;
            // After a failed COMMIT the transaction is over too; the lock goes either way.
            let unlocked = client.batch_execute(&format!("SELECT pg_advisory_unlock({key})")).await;
            match (ended, unlocked) {
                (Ok(()), Ok(())) => Ok(()),
                (Err(error), Ok(())) => Err(postgres_error(error)),
                (ended, Err(error)) => {
                    // The lock may still be held: do not pool the connection again.
                    drop(Object::take(client));
                    Err(postgres_error(ended.err().unwrap_or(error)))
                }
            }
        })
    }
}

impl Drop for PostgresTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl TransactionBackend for PostgresTransaction {
    fn execute(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<u64, DbError>> {
        Box::pin(async move { execute(self.client()?, &sql, params).await })
    }

    fn query(&mut self, sql: String, params: Vec<Value>) -> BoxFuture<'_, Result<Vec<Row>, DbError>> {
        Box::pin(async move { query(self.client()?, &sql, params).await })
    }

    fn execute_batch(&mut self, sql: String) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(async move { self.client()?.batch_execute(&sql).await.map_err(postgres_error) })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>> {
        self.finish("COMMIT")
    }

    fn rollback(mut self: Box<Self>) -> BoxFuture<'static, Result<(), DbError>> {
        self.finish("ROLLBACK")
    }
}
