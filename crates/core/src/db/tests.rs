//! SQLite-only behaviour: importing an old per-instance file, and a cancelled
//! transaction leaving nothing behind. The backend-neutral behaviours are in
//! `crates/core/tests/module_db.rs`, run on SQLite and PostgreSQL.

use std::time::Duration;

use super::*;

const STEPS: &[Migration] = &[Migration::new(
    1,
    "CREATE TABLE IF NOT EXISTS {expiry} (user_id TEXT PRIMARY KEY, ts BIGINT NOT NULL, sent BOOLEAN NOT NULL)",
)];

#[tokio::test]
async fn an_old_instance_file_is_imported_once_and_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("modules").join("av.db");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE expiry (user_id TEXT PRIMARY KEY, ts BIGINT NOT NULL, sent BOOLEAN NOT NULL, gone TEXT);
             INSERT INTO expiry VALUES ('@a:x', 1, 0, 'dropped'), ('@b:x', 2, 1, NULL);
             CREATE TABLE unrelated (x INTEGER);",
        )
        .unwrap();
    }
    let database = Database::sqlite(dir.path().join("homeserver.db")).unwrap();
    let db = database.for_instance("av").with_legacy_file(old.clone());
    db.migrate(STEPS).await.unwrap();
    let rows = db.query("SELECT user_id, ts, sent FROM {expiry} ORDER BY user_id", &[]).await.unwrap();
    let read: Vec<(String, i64, bool)> =
        rows.iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap())).collect();
    assert_eq!(read, vec![("@a:x".into(), 1, false), ("@b:x".into(), 2, true)]);
    assert!(!old.exists(), "the old file is renamed");
    assert!(dir.path().join("modules").join("av.db.imported").exists(), "and kept");

    // A later start does not import again, even if an old file appears again.
    db.execute("DELETE FROM {expiry}", &[]).await.unwrap();
    std::fs::copy(dir.path().join("modules").join("av.db.imported"), &old).unwrap();
    database.for_instance("av").with_legacy_file(old.clone()).migrate(STEPS).await.unwrap();
    assert!(db.query("SELECT * FROM {expiry}", &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cancelled_transaction_rolls_back_and_frees_its_connection() {
    let db = Database::sqlite_in_memory().unwrap().for_instance("t");
    db.migrate(STEPS).await.unwrap();
    let work = db.transaction(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO {expiry} VALUES ($1, 1, $2)", &["@a:x".into(), false.into()]).await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    });
    assert!(tokio::time::timeout(Duration::from_millis(200), work).await.is_err());
    // The one in-memory connection is back, without the row.
    let count = tokio::time::timeout(Duration::from_secs(5), db.query_one("SELECT count(*) FROM {expiry}", &[]))
        .await
        .expect("the connection was returned")
        .unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 0);
}
