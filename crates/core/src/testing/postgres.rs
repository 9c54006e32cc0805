//! A fresh PostgreSQL database per test, for module storage on PostgreSQL.

use std::str::FromStr;

use crate::db::Database;

/// A database `mxmod_test_<random>` created on the server `MXMOD_TEST_POSTGRES_URL` names,
/// dropped (with its connections) when this is dropped.
pub struct TestPostgres {
    admin: tokio_postgres::Config,
    name: String,
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for TestPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPostgres").field("name", &self.name).finish()
    }
}

impl TestPostgres {
    /// Creates the database; `None`, with a printed note naming `test`, when
    /// `MXMOD_TEST_POSTGRES_URL` is unset. Panics when the server cannot be reached.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("MXMOD_TEST_POSTGRES_URL") else {
            // Straight to the process's stderr, past the test harness's capture, so the
            // note shows in a passing run.
            use std::io::Write as _;
            let _ =
                writeln!(std::io::stderr(), "note: {test} on PostgreSQL skipped: MXMOD_TEST_POSTGRES_URL is not set");
            return None;
        };
        let admin = tokio_postgres::Config::from_str(&url).expect("MXMOD_TEST_POSTGRES_URL is a PostgreSQL URL");
        let (client, connection) = admin.connect(tokio_postgres::NoTls).await.expect("PostgreSQL is reachable");
        tokio::spawn(connection);
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name = format!("mxmod_test_{}_{}", std::process::id(), nonce % 1_000_000_000_000);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        let mut config = admin.clone();
        config.dbname(&name);
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(manager).max_size(8).build().expect("a pool");
        Some(Self { admin, name, pool })
    }

    /// The database, for [`HarnessBuilder::database`](super::HarnessBuilder::database).
    pub fn database(&self) -> Database {
        Database::postgres(self.pool.clone())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.pool.close();
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Dropped inside a runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let (client, connection) = admin.connect(tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: the test database {} was not dropped", self.name);
        }
    }
}
