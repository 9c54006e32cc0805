//! A fresh PostgreSQL database per test, for unit and black-box tests alike: created on
//! the server `MXMOD_TEST_POSTGRES_URL` names, dropped (with its connections) when the
//! guard drops. Without the variable, [`TestDatabase::create`] prints a note and answers
//! `None`, so a machine without PostgreSQL still passes `cargo test`; with it set, a
//! server that cannot be reached fails the test.

use crate::config::PostgresSettings;

/// The variable holding the test server's URL
/// (`postgresql://postgres@127.0.0.1:5432/test`).
pub const TEST_URL_VARIABLE: &str = "MXMOD_TEST_POSTGRES_URL";

/// A database that exists until this guard drops.
#[derive(Debug)]
pub struct TestDatabase {
    admin: PostgresSettings,
    /// Settings that connect to the fresh database.
    pub settings: PostgresSettings,
}

/// Runs `sql` on the admin database from a thread of its own (callable from sync code and
/// from inside a runtime alike).
fn admin_statement(admin: &PostgresSettings, sql: String) -> Result<(), String> {
    let config = super::connection_config(admin);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
            let driver = tokio::spawn(connection);
            let outcome = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = driver.await;
            outcome
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the admin thread panicked".to_owned()))
}

impl TestDatabase {
    /// Creates `mxmod_test_<random>`; `None` (with a printed note) when the variable is
    /// not set. Panics when it is set but the server refuses.
    pub fn create() -> Option<Self> {
        let Ok(url) = std::env::var(TEST_URL_VARIABLE) else {
            // Written to the real stderr (not the test's captured output), once.
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| {
                use std::io::Write;
                let note = format!("skipped: {TEST_URL_VARIABLE} not set (the PostgreSQL tests did not run)\n");
                let _ = std::io::stderr().write_all(note.as_bytes());
            });
            return None;
        };
        let admin = PostgresSettings::from_url(&url)
            .unwrap_or_else(|| panic!("{TEST_URL_VARIABLE} is not a postgresql://user@host:port/db URL: {url}"));
        let name = format!("mxmod_test_{:016x}", rand::random::<u64>());
        admin_statement(&admin, format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|error| panic!("cannot create a test database on {url}: {error}"));
        let settings = PostgresSettings { dbname: name, ..admin.clone() };
        Some(Self { admin, settings })
    }

    /// The `database:` section of a `homeserver.yaml` that uses this database.
    pub fn homeserver_yaml(&self) -> String {
        let s = &self.settings;
        let password = s.password.as_deref().map(|p| format!(", password: \"{p}\"")).unwrap_or_default();
        format!(
            "database:\n  name: psycopg2\n  args: {{user: \"{}\"{password}, dbname: \"{}\", host: \"{}\", port: {}, cp_min: {}, cp_max: {}}}\n",
            s.user, s.dbname, s.host, s.port, s.cp_min, s.cp_max
        )
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.settings.dbname);
        if let Err(error) = admin_statement(&self.admin, sql) {
            eprintln!("cannot drop the test database {}: {error}", self.settings.dbname);
        }
    }
}
