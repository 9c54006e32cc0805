//! `database:` as Synapse reads it: `name: sqlite3` (the default) with
//! `args: {database: <file>}`, or `name: psycopg2` with libpq-style
//! `args: {user, password, dbname, host, port, cp_min, cp_max}`. Checked values become a
//! [`DatabaseBackend`]; problems carry line:column like the rest of the file.

use std::path::PathBuf;

use mxmod::config::ConfigProblem;
use serde::Deserialize;

/// Most pooled connections one process may open (`cp_max`).
pub(super) const MAX_POOL_SIZE: usize = 1000;

/// `database`.
#[derive(Debug, Deserialize)]
pub struct DatabaseConfig {
    /// `sqlite3` or `psycopg2` (PostgreSQL).
    #[serde(default = "default_db_name")]
    pub name: String,
    /// `args`.
    #[serde(default)]
    pub args: DatabaseArgs,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { name: default_db_name(), args: DatabaseArgs::default() }
    }
}

/// `database.args`: the union of both engines' keys; [`DatabaseConfig::backend`] picks
/// the ones of the configured engine.
#[derive(Debug, Default, Deserialize)]
pub struct DatabaseArgs {
    /// SQLite: the database file. PostgreSQL: a synonym of `dbname` (as in psycopg2).
    #[serde(default)]
    pub database: Option<String>,
    /// PostgreSQL role.
    #[serde(default)]
    pub user: Option<String>,
    /// PostgreSQL password.
    #[serde(default)]
    pub password: Option<String>,
    /// PostgreSQL database name.
    #[serde(default)]
    pub dbname: Option<String>,
    /// PostgreSQL host name, address, or socket directory (starting with `/`).
    #[serde(default)]
    pub host: Option<String>,
    /// PostgreSQL port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Connections opened at start-up.
    #[serde(default)]
    pub cp_min: Option<usize>,
    /// Most connections in the pool.
    #[serde(default)]
    pub cp_max: Option<usize>,
}

/// The engine the `database:` section selects, with its checked settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseBackend {
    /// One SQLite file (relative paths resolve against the config file's directory).
    Sqlite(PathBuf),
    /// A PostgreSQL server shared by every process configured with it.
    Postgres(PostgresSettings),
}

/// Connection settings of the PostgreSQL backend.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// Role.
    pub user: String,
    /// Password, if the server asks for one.
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
    /// Host name, address or socket directory.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connections opened at start-up.
    pub cp_min: usize,
    /// Most connections in the pool.
    pub cp_max: usize,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("PostgresSettings")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("dbname", &self.dbname)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("cp_min", &self.cp_min)
            .field("cp_max", &self.cp_max)
            .finish()
    }
}

impl PostgresSettings {
    /// Settings from a `postgresql://user[:password]@host[:port]/dbname` URL (what
    /// `MXMOD_TEST_POSTGRES_URL` holds), with a pool of 2 to 10.
    pub fn from_url(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://"))?;
        let (authority, dbname) = rest.split_once('/')?;
        let (credentials, address) = authority.rsplit_once('@')?;
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_owned())),
            None => (credentials, None),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (address, 5432),
        };
        let dbname = dbname.split('?').next().unwrap_or_default();
        if user.is_empty() || host.is_empty() || dbname.is_empty() {
            return None;
        }
        Some(Self {
            user: user.to_owned(),
            password,
            dbname: dbname.to_owned(),
            host: host.to_owned(),
            port,
            cp_min: 2,
            cp_max: 10,
        })
    }
}

fn default_db_name() -> String {
    "sqlite3".to_owned()
}

const DEFAULT_SQLITE_PATH: &str = "./mxmod-data/homeserver.db";

impl DatabaseConfig {
    /// The selected engine; `None` when [`DatabaseConfig::problems`] reports any.
    pub fn backend(&self) -> Option<DatabaseBackend> {
        let args = &self.args;
        match self.name.as_str() {
            "sqlite3" => {
                Some(DatabaseBackend::Sqlite(PathBuf::from(args.database.as_deref().unwrap_or(DEFAULT_SQLITE_PATH))))
            }
            "psycopg2" => {
                let cp_min = args.cp_min.unwrap_or(5);
                let cp_max = args.cp_max.unwrap_or(10.max(cp_min));
                Some(DatabaseBackend::Postgres(PostgresSettings {
                    user: args.user.clone()?,
                    password: args.password.clone(),
                    dbname: args.dbname.clone().or_else(|| args.database.clone())?,
                    host: args.host.clone().unwrap_or_else(|| "localhost".to_owned()),
                    port: args.port.unwrap_or(5432),
                    cp_min,
                    cp_max,
                }))
            }
            _ => None,
        }
    }

    /// Every problem of the section, located in `text`.
    pub fn problems(&self, text: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let args = &self.args;
        match self.name.as_str() {
            "sqlite3" => {
                if args.database.as_deref() == Some("") {
                    problems.push(ConfigProblem::located(text, "database.args.database", "the file name is empty"));
                }
            }
            "psycopg2" => {
                if args.user.as_deref().unwrap_or_default().is_empty() {
                    problems.push(ConfigProblem::located(
                        text,
                        "database.args",
                        "PostgreSQL needs `user` (the role to connect as)",
                    ));
                }
                if args.dbname.as_deref().or(args.database.as_deref()).unwrap_or_default().is_empty() {
                    problems.push(ConfigProblem::located(
                        text,
                        "database.args",
                        "PostgreSQL needs `dbname` (the database to use)",
                    ));
                }
                if args.host.as_deref() == Some("") {
                    problems.push(ConfigProblem::located(text, "database.args.host", "the host is empty"));
                }
                if args.port == Some(0) {
                    problems.push(ConfigProblem::located(text, "database.args.port", "port 0 is not a server port"));
                }
                let cp_min = args.cp_min.unwrap_or(5);
                let cp_max = args.cp_max.unwrap_or(10.max(cp_min));
                if cp_max == 0 || cp_max > MAX_POOL_SIZE {
                    problems.push(ConfigProblem::located(
                        text,
                        "database.args.cp_max",
                        &format!("`cp_max` must be between 1 and {MAX_POOL_SIZE}"),
                    ));
                } else if cp_min > cp_max {
                    problems.push(ConfigProblem::located(
                        text,
                        "database.args.cp_min",
                        &format!("`cp_min` ({cp_min}) is larger than `cp_max` ({cp_max})"),
                    ));
                }
            }
            other => problems.push(ConfigProblem::located(
                text,
                "database.name",
                &format!("database `{other}` is not supported; use `sqlite3` or `psycopg2` (PostgreSQL)"),
            )),
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_url_gives_its_settings() {
        let settings = PostgresSettings::from_url("postgresql://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!((settings.user.as_str(), settings.host.as_str(), settings.port), ("postgres", "127.0.0.1", 5432));
        assert_eq!(settings.dbname, "test");
        assert_eq!(settings.password, None);
        let with_password = PostgresSettings::from_url("postgres://u:p@db/x").unwrap();
        assert_eq!((with_password.password.as_deref(), with_password.port), (Some("p"), 5432));
        assert!(PostgresSettings::from_url("mysql://u@h/x").is_none());
    }

    #[test]
    fn the_password_is_not_printed() {
        let settings = PostgresSettings::from_url("postgres://u:secret@db/x").unwrap();
        assert!(!format!("{settings:?}").contains("secret"));
    }

    fn load(database: &str) -> Result<crate::config::Loaded, String> {
        let text = format!("server_name: a.b\ndatabase:\n{database}");
        crate::config::load_text(&text, "hs.yaml", PathBuf::new()).map_err(|problems| problems.to_string())
    }

    #[test]
    fn sqlite3_is_the_default() {
        let loaded = crate::config::load_text("server_name: a.b\n", "hs.yaml", PathBuf::new()).unwrap();
        assert_eq!(loaded.homeserver.database.backend(), Some(DatabaseBackend::Sqlite(DEFAULT_SQLITE_PATH.into())));
    }

    #[test]
    fn psycopg2_reads_synapses_keys() {
        let loaded = load(
            "  name: psycopg2\n  args: {user: synapse_user, password: pw, dbname: synapse, host: db.local, port: 5433, cp_min: 2, cp_max: 4}\n",
        )
        .unwrap();
        let Some(DatabaseBackend::Postgres(settings)) = loaded.homeserver.database.backend() else { panic!() };
        assert_eq!(
            (settings.user.as_str(), settings.dbname.as_str(), settings.host.as_str(), settings.port),
            ("synapse_user", "synapse", "db.local", 5433)
        );
        assert_eq!((settings.cp_min, settings.cp_max, settings.password.as_deref()), (2, 4, Some("pw")));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn bad_database_values_are_located() {
        let shown =
            load("  name: psycopg2\n  args:\n    user: u\n    dbname: d\n    cp_min: 20\n    cp_max: 5\n").unwrap_err();
        assert!(shown.contains("hs.yaml:7:") && shown.contains("`cp_min` (20) is larger"), "{shown}");
        let shown = load("  name: psycopg2\n  args:\n    user: u\n    dbname: d\n    port: lots\n").unwrap_err();
        assert!(shown.contains("hs.yaml:7:"), "{shown}");
        let shown = load("  name: psycopg2\n  args: {host: h}\n").unwrap_err();
        assert!(shown.contains("needs `user`") && shown.contains("needs `dbname`"), "{shown}");
        let shown = load("  name: mysql\n").unwrap_err();
        assert!(shown.contains("hs.yaml:3:") && shown.contains("`mysql` is not supported"), "{shown}");
    }
}
