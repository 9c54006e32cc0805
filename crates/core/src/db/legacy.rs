//! Importing a module instance's own SQLite file, where module data lived before it
//! moved into the server's database: rows kept, the file renamed (never deleted).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rusqlite::{types::Value as SqliteValue, Connection};

use super::{migrate, sqlite::sqlite_error, DbError, ModuleDb, Value};

/// One table of the old file, restricted to the columns its new table has.
struct TableCopy {
    /// `INSERT INTO "mod_<id>__name" ("a", "b") VALUES ($1, $2) ON CONFLICT DO NOTHING`.
    insert: String,
    rows: Vec<Vec<Value>>,
}

/// What the import left: the old file's new name.
fn imported_name(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".imported");
    PathBuf::from(name)
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// One table of the old file, as read.
struct OldTable {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Every user table of the old file.
fn read_file(file: &Path) -> Result<Vec<OldTable>, DbError> {
    let connection = Connection::open(file)
        .map_err(|error| DbError::Unavailable(format!("cannot open {}: {error}", file.display())))?;
    let names: Vec<String> = {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(sqlite_error)?;
        let names = statement.query_map([], |row| row.get(0)).map_err(sqlite_error)?;
        names.collect::<rusqlite::Result<_>>().map_err(sqlite_error)?
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let mut statement = connection.prepare(&format!("SELECT * FROM {}", quote(&name))).map_err(sqlite_error)?;
        let columns: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let rows = statement
            .query_map([], |row| {
                (0..width)
                    .map(|index| {
                        row.get::<_, SqliteValue>(index).map(|value| match value {
                            SqliteValue::Null => Value::Null,
                            SqliteValue::Integer(v) => Value::Integer(v),
                            SqliteValue::Real(v) => Value::Real(v),
                            SqliteValue::Text(v) => Value::Text(v),
                            SqliteValue::Blob(v) => Value::Blob(v),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sqlite_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_error)?;
        tables.push(OldTable { name, columns, rows });
    }
    Ok(tables)
}

/// Imports `file` into `db`'s tables once (recorded as migration 0 of the instance),
/// then renames it to `<file>.imported`.
pub(super) async fn import(db: &ModuleDb, file: &Path) -> Result<(), DbError> {
    if !file.exists() {
        return Ok(());
    }
    let id = db.namespace.id().to_owned();
    migrate::ensure_table(db).await?;
    let done = db
        .query_optional(
            "SELECT version FROM mxmod_module_migrations WHERE instance_id = $1 AND version = 0",
            &[id.as_str().into()],
        )
        .await?
        .is_some();
    if !done {
        let path = file.to_owned();
        let tables = tokio::task::spawn_blocking(move || read_file(&path))
            .await
            .map_err(|error| DbError::Unavailable(format!("database task failed: {error}")))??;
        let mut copies = Vec::new();
        for OldTable { name, columns, rows } in tables {
            let Ok(target) = db.namespace.table(&name) else {
                tracing::warn!(instance = %id, "{}: table `{name}` has no portable name; not imported", file.display());
                continue;
            };
            let existing = db.backend.table_columns(target.clone()).await?;
            let shared: Vec<usize> = (0..columns.len()).filter(|&i| existing.contains(&columns[i])).collect();
            if shared.is_empty() {
                tracing::warn!(instance = %id, "{}: table `{name}` has no counterpart `{{{name}}}`; not imported", file.display());
                continue;
            }
            let names: Vec<String> = shared.iter().map(|&i| quote(&columns[i])).collect();
            let placeholders: Vec<String> = (1..=shared.len()).map(|n| format!("${n}")).collect();
            let insert = format!(
                "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                quote(&target),
                names.join(", "),
                placeholders.join(", ")
            );
            let rows = rows.into_iter().map(|row| shared.iter().map(|&i| row[i].clone()).collect()).collect();
            copies.push(TableCopy { insert, rows });
        }
        let copies = Arc::new(copies);
        let imported = db
            .transaction(move |tx| {
                let (id, copies) = (id.clone(), copies.clone());
                Box::pin(async move {
                    let marked = tx
                        .execute(
                            "INSERT INTO mxmod_module_migrations (instance_id, version, applied_ts) VALUES ($1, 0, $2)
                             ON CONFLICT (instance_id, version) DO NOTHING",
                            &[id.into(), migrate::now_ms().into()],
                        )
                        .await?;
                    if marked == 0 {
                        return Ok(0);
                    }
                    let mut count = 0;
                    for copy in copies.iter() {
                        for row in &copy.rows {
                            count += tx.execute(&copy.insert, row).await?;
                        }
                    }
                    Ok(count)
                })
            })
            .await?;
        tracing::info!(instance = db.namespace.id(), "imported {imported} rows from {}", file.display());
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut from = file.as_os_str().to_owned();
        from.push(suffix);
        let from = PathBuf::from(from);
        if from.exists() {
            let mut to = imported_name(file).into_os_string();
            to.push(suffix);
            std::fs::rename(&from, &to)
                .map_err(|error| DbError::Unavailable(format!("cannot rename {}: {error}", from.display())))?;
        }
    }
    Ok(())
}
