//! `mxmod::db` behaves the same on SQLite and PostgreSQL: every case runs on a fresh
//! SQLite file and, when `MXMOD_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL
//! database (`CREATE DATABASE mxmod_test_<random>`, dropped after). Without the
//! variable the PostgreSQL cases print a note and pass.

use std::{future::Future, sync::Arc, time::Duration};

use mxmod::{
    db::{Database, DbError, Migration, ModuleDb, Value},
    testing::TestPostgres,
};

const STEPS: &[Migration] = &[
    Migration::new(
        1,
        "CREATE TABLE IF NOT EXISTS {things} (
             id BIGINT PRIMARY KEY, name TEXT UNIQUE, score DOUBLE PRECISION, data BYTEA, flag BOOLEAN, small INTEGER
         )",
    ),
    Migration::new(2, "CREATE TABLE IF NOT EXISTS {counter} (k TEXT PRIMARY KEY, n BIGINT NOT NULL)"),
];

async fn fresh(database: &Database, id: &str) -> ModuleDb {
    let db = database.for_instance(id);
    db.migrate(STEPS).await.unwrap();
    db
}

async fn values_round_trip(database: Database) {
    let db = fresh(&database, "types").await;
    let inserted = db
        .execute(
            "INSERT INTO {things} (id, name, score, data, flag, small) VALUES ($1, $2, $3, $4, $5, $6)",
            &[1.into(), "one".into(), 1.5.into(), vec![0_u8, 255].into(), true.into(), 7.into()],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    db.execute("INSERT INTO {things} (id) VALUES ($1)", &[2.into()]).await.unwrap();
    let row = db
        .query_one("SELECT id, name, score, data, flag, small FROM {things} WHERE id = $1", &[1.into()])
        .await
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 1);
    assert_eq!(row.get::<String>(1).unwrap(), "one");
    assert_eq!(row.get::<f64>(2).unwrap(), 1.5);
    assert_eq!(row.get::<Vec<u8>>(3).unwrap(), vec![0, 255]);
    assert!(row.get::<bool>(4).unwrap());
    assert_eq!(row.get_named::<i32>("small").unwrap(), 7);
    let empty = db.query_one("SELECT name, flag FROM {things} WHERE id = $1", &[2.into()]).await.unwrap();
    assert_eq!(empty.values(), &[Value::Null, Value::Null]);
    assert_eq!(empty.get::<Option<String>>(0).unwrap(), None);
    assert!(matches!(db.query_one("SELECT id FROM {things} WHERE id = $1", &[3.into()]).await, Err(DbError::NoRows)));
    assert!(db.query_optional("SELECT id FROM {things} WHERE id = $1", &[3.into()]).await.unwrap().is_none());
    let count = db.query_one("SELECT count(*) FROM {things} WHERE flag = $1", &[true.into()]).await.unwrap();
    assert_eq!(count.get::<i64>(0).unwrap(), 1);
    assert_eq!(db.execute("UPDATE {things} SET small = $1", &[9.into()]).await.unwrap(), 2);
    let returning = "UPDATE {things} SET small = $1 WHERE id = $2 RETURNING id";
    assert_eq!(db.execute(returning, &[10.into(), 1.into()]).await.unwrap(), 1, "rows of `execute` are dropped");
}

async fn errors_are_typed(database: Database) {
    let db = fresh(&database, "errors").await;
    db.execute("INSERT INTO {things} (id, name) VALUES ($1, $2)", &[1.into(), "a".into()]).await.unwrap();
    let taken = db.execute("INSERT INTO {things} (id, name) VALUES ($1, $2)", &[2.into(), "a".into()]).await;
    assert!(matches!(taken, Err(DbError::Constraint(_))), "{taken:?}");
    let unknown = db.query("SELECT * FROM {no_such_table}", &[]).await;
    assert!(matches!(unknown, Err(DbError::Sql(_))), "{unknown:?}");
    let question = db.query("SELECT * FROM {things} WHERE id = ?", &[1.into()]).await;
    assert!(matches!(question, Err(DbError::Sql(ref m)) if m.contains("$1")), "{question:?}");
    let decode = db.query_one("SELECT name FROM {things}", &[]).await.unwrap().get::<i64>(0);
    assert!(matches!(decode, Err(DbError::Decode(_))), "{decode:?}");
}

async fn transactions_commit_or_roll_back(database: Database) {
    let db = fresh(&database, "tx").await;
    let failed: Result<(), DbError> = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO {counter} (k, n) VALUES ($1, $2)", &["a".into(), 1.into()]).await?;
                Err(DbError::Sql("the work failed".into()))
            })
        })
        .await;
    assert!(failed.is_err());
    assert!(db.query("SELECT * FROM {counter}", &[]).await.unwrap().is_empty(), "rolled back");
    let n = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO {counter} (k, n) VALUES ($1, $2)", &["a".into(), 1.into()]).await?;
                tx.query_one("SELECT n FROM {counter} WHERE k = $1", &["a".into()]).await?.get::<i64>(0)
            })
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(db.query("SELECT * FROM {counter}", &[]).await.unwrap().len(), 1, "committed");
}

/// Sixteen concurrent read-then-write increments, each in one transaction: none lost and
/// none refused (one instance's transactions run one at a time on both backends).
async fn check_and_write_is_atomic(database: Database) {
    let db = fresh(&database, "race").await;
    db.execute("INSERT INTO {counter} (k, n) VALUES ($1, 0)", &["c".into()]).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                db.transaction(|tx| {
                    Box::pin(async move {
                        let n: i64 =
                            tx.query_one("SELECT n FROM {counter} WHERE k = $1", &["c".into()]).await?.get(0)?;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        tx.execute("UPDATE {counter} SET n = $1 WHERE k = $2", &[(n + 1).into(), "c".into()]).await
                    })
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1);
    }
    let n: i64 = db.query_one("SELECT n FROM {counter} WHERE k = $1", &["c".into()]).await.unwrap().get(0).unwrap();
    assert_eq!(n, 16, "no increment was lost");
}

async fn migrations_run_once_per_instance(database: Database) {
    let first = fresh(&database, "mig_a").await;
    first.migrate(STEPS).await.unwrap();
    first.execute("INSERT INTO {counter} (k, n) VALUES ($1, 1)", &["x".into()]).await.unwrap();
    // A second instance has tables of its own under the same names.
    let second = fresh(&database, "mig_b").await;
    assert!(second.query("SELECT * FROM {counter}", &[]).await.unwrap().is_empty());
    // A new step runs once, on the existing rows.
    let more: Vec<Migration> = STEPS
        .iter()
        .copied()
        .chain([Migration::new(3, "ALTER TABLE {counter} ADD COLUMN note TEXT NOT NULL DEFAULT 'new'")])
        .collect();
    first.migrate(&more).await.unwrap();
    first.migrate(&more).await.unwrap();
    let note: String = first.query_one("SELECT note FROM {counter}", &[]).await.unwrap().get(0).unwrap();
    assert_eq!(note, "new");
    // An older module version refuses a database a newer one migrated.
    let older = first.migrate(STEPS).await.unwrap_err().to_string();
    assert!(older.contains("migration 3 applied"), "{older}");
    let unordered = [Migration::new(2, "SELECT 1"), Migration::new(1, "SELECT 1")];
    assert!(second.migrate(&unordered).await.is_err());
    assert_eq!(first.table("counter").unwrap(), "mod_mig_a__counter");
}

async fn a_cancelled_transaction_leaves_nothing(database: Database) {
    let db = fresh(&database, "cancel").await;
    let work = db.transaction(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO {counter} (k, n) VALUES ($1, 1)", &["gone".into()]).await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    });
    assert!(tokio::time::timeout(Duration::from_millis(300), work).await.is_err());
    let rows = tokio::time::timeout(Duration::from_secs(10), db.query("SELECT * FROM {counter}", &[]))
        .await
        .expect("the database is usable after a cancelled transaction")
        .unwrap();
    assert!(rows.is_empty());
    db.execute("INSERT INTO {counter} (k, n) VALUES ($1, 1)", &["gone".into()]).await.unwrap();
}

/// Runs `case` on a fresh SQLite file beside nothing else.
async fn on_sqlite<F: Future<Output = ()>>(case: impl FnOnce(Database) -> F) {
    let dir = tempfile::tempdir().unwrap();
    case(Database::sqlite(dir.path().join("homeserver.db")).unwrap()).await;
}

/// Runs `case` on a fresh PostgreSQL database, dropped afterwards (also when the case
/// panics); a note and nothing else without `MXMOD_TEST_POSTGRES_URL`.
async fn on_postgres<F: Future<Output = ()>>(name: &str, case: impl FnOnce(Database) -> F) {
    let Some(postgres) = TestPostgres::create(name).await else {
        return;
    };
    case(postgres.database()).await;
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::on_sqlite(super::$case).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::on_postgres(stringify!($case), super::$case).await;
            })*
        }
    };
}

on_both_backends!(
    values_round_trip,
    errors_are_typed,
    transactions_commit_or_roll_back,
    check_and_write_is_atomic,
    migrations_run_once_per_instance,
    a_cancelled_transaction_leaves_nothing,
);

#[test]
fn handles_are_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<ModuleDb>();
    assert_send_sync::<Database>();
    let _ = Arc::new(());
}
