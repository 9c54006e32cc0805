//! Numbered schema steps per module instance, recorded in `mxmod_module_migrations`.

use super::{DbError, ModuleDb};

/// The table recording which steps each instance has applied (version 0: the instance's
/// old SQLite file was imported).
pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS mxmod_module_migrations (
    instance_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    applied_ts BIGINT NOT NULL,
    PRIMARY KEY (instance_id, version)
)";

/// One schema step: `;`-separated statements without parameters, table names in
/// braces. Steps are numbered from 1 and never change once shipped: a change is a new
/// step.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The step's number (from 1, increasing along the list).
    pub version: u32,
    /// Its statements.
    pub sql: &'static str,
}

impl Migration {
    /// Step `version` running `sql`.
    pub const fn new(version: u32, sql: &'static str) -> Self {
        Self { version, sql }
    }
}

/// Creates the record table (racing processes: one retry after a pause).
pub(crate) async fn ensure_table(db: &ModuleDb) -> Result<(), DbError> {
    match db.execute(MIGRATIONS_TABLE, &[]).await {
        Ok(_) => Ok(()),
        Err(_) => {
            // A concurrent `CREATE TABLE IF NOT EXISTS` on PostgreSQL can fail on the
            // catalogue's unique index; by now the other one has committed.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            db.execute(MIGRATIONS_TABLE, &[]).await.map(drop)
        }
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

pub(super) async fn apply(db: &ModuleDb, migrations: &[Migration]) -> Result<(), DbError> {
    if let Some(pair) = migrations.windows(2).find(|pair| pair[0].version >= pair[1].version) {
        return Err(DbError::Sql(format!(
            "migration {} follows {}: number the steps 1, 2, 3, ... in order",
            pair[1].version, pair[0].version
        )));
    }
    if migrations.first().is_some_and(|first| first.version == 0) {
        return Err(DbError::Sql("migrations are numbered from 1".to_owned()));
    }
    ensure_table(db).await?;
    let id = db.namespace.id().to_owned();
    let newest = db
        .query_one(
            "SELECT CAST(coalesce(max(version), 0) AS BIGINT) FROM mxmod_module_migrations WHERE instance_id = $1",
            &[id.as_str().into()],
        )
        .await?
        .get::<i64>(0)?;
    let known = migrations.last().map_or(0, |last| i64::from(last.version));
    if newest > known {
        return Err(DbError::Sql(format!(
            "module instance `{id}` has migration {newest} applied, but this version of the module knows only up to \
             {known}: was it started by a newer version?"
        )));
    }
    for migration in migrations.iter().filter(|m| i64::from(m.version) > newest) {
        let (id, version, sql) = (id.clone(), i64::from(migration.version), migration.sql);
        db.transaction(move |tx| {
            let id = id.clone();
            Box::pin(async move {
                let recorded = tx
                    .execute(
                        "INSERT INTO mxmod_module_migrations (instance_id, version, applied_ts) VALUES ($1, $2, $3)
                         ON CONFLICT (instance_id, version) DO NOTHING",
                        &[id.into(), version.into(), now_ms().into()],
                    )
                    .await?;
                // 0: another process applied it meanwhile.
                if recorded == 1 {
                    tx.execute_batch(sql).await?;
                }
                Ok(())
            })
        })
        .await
        .map_err(|error| match error {
            DbError::Sql(message) => DbError::Sql(format!("migration {version}: {message}")),
            other => other,
        })?;
    }
    Ok(())
}
