//! Testing modules without a server: build modules from a YAML snippet, call their
//! callbacks and web resources directly.
//!
//! ```
//! use mxmod::{module, spam_checker, Module, ModuleApi, ModuleError, SpamCheck, testing::Harness};
//! use mxmod::types::{RoomId, UserId};
//!
//! struct NoInvites;
//!
//! impl Module for NoInvites {
//!     type Config = serde_json::Value;
//!     fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
//!         Ok(NoInvites)
//!     }
//! }
//!
//! #[module(name = "no_invites")]
//! impl NoInvites {
//!     #[spam_checker]
//!     async fn user_may_invite(&self, _from: &UserId, _to: &UserId, _room: &RoomId) -> SpamCheck {
//!         SpamCheck::Deny(mxmod::ErrCode::FORBIDDEN)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let harness = Harness::from_yaml("modules:\n  - module: no_invites\n").unwrap();
//! let (alice, bob) = (UserId::parse("@alice:example.com").unwrap(), UserId::parse("@bob:example.com").unwrap());
//! let room = RoomId::parse("!room:example.com").unwrap();
//! let error = harness.callbacks().spam_checker.user_may_invite(&alice, &bob, &room).await.unwrap_err();
//! assert_eq!(error.error, "Invites have been disabled on this server");
//! # }
//! ```

mod event;
mod host;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "mail")]
mod smtp;

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;

#[cfg(feature = "postgres")]
pub use self::postgres::TestPostgres;
#[cfg(feature = "mail")]
pub use self::smtp::{smtp_sink, SentMail};
pub use self::{
    event::EventBuilder,
    host::{MembershipCall, TestHost},
};
use crate::{
    api::{Host, ServerInfo},
    callbacks::Callbacks,
    config,
    registry::{Registry, StartOptions, StartupError},
    types::{JsonObject, OwnedServerName},
    web::{WebRequest, WebResponse},
};

/// The server name test harnesses use unless told otherwise.
pub const TEST_SERVER_NAME: &str = "example.com";

/// A server name given to a harness, or the config error a bad one is.
fn test_server_name(server_name: &str) -> Result<OwnedServerName, StartupError> {
    OwnedServerName::try_from(server_name).map_err(|error| {
        StartupError::Config(config::ConfigProblems {
            file: "test.yaml".to_owned(),
            problems: vec![config::ConfigProblem::unlocated("server_name", &error.to_string())],
        })
    })
}

/// Running modules built from a YAML snippet, for tests. Dropping it shuts the modules
/// down (their shutdown hooks run, their background tasks stop).
#[derive(Debug)]
pub struct Harness {
    registry: Registry,
}

/// How a [`Harness`] starts: [`Harness::builder`], then any of the settings, then
/// [`HarnessBuilder::start`]. Every setting defaults to what the server does with a
/// minimal `homeserver.yaml`.
#[must_use = "a builder does nothing until `start`"]
pub struct HarnessBuilder {
    yaml: String,
    server_name: String,
    timed: bool,
    host: Option<Arc<dyn Host>>,
    data_dir: Option<PathBuf>,
    database: Option<crate::db::Database>,
    #[cfg(feature = "mail")]
    mailer: Option<Arc<crate::mail::Mailer>>,
}

impl HarnessBuilder {
    /// The server's SMTP settings, as its `email:` section gives them (default: none,
    /// [`ModuleApi::send_mail`](crate::ModuleApi::send_mail) fails with
    /// [`MailError::NotConfigured`](crate::mail::MailError::NotConfigured)). Point it at a
    /// loopback SMTP sink to see what a module sends.
    #[cfg(feature = "mail")]
    pub fn email(mut self, config: &crate::mail::EmailConfig) -> Result<Self, crate::mail::MailError> {
        let mailer = crate::mail::Mailer::new(config, &self.server_name, crate::mail::DEFAULT_SEND_TIMEOUT)?;
        self.mailer = Some(Arc::new(mailer));
        Ok(self)
    }

    /// The server name (default `example.com`).
    pub fn server_name(mut self, server_name: &str) -> Self {
        self.server_name = server_name.to_owned();
        self
    }

    /// Measure callback latencies, as the server does with `enable_metrics: true`
    /// (default `false`, as the server's default: a call reads no clock).
    pub fn timed(mut self, timed: bool) -> Self {
        self.timed = timed;
        self
    }

    /// The server the modules call through [`ModuleApi`](crate::ModuleApi) (default: none,
    /// every call is `HostError::Unavailable`); usually a [`TestHost`].
    pub fn host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = Some(host);
        self
    }

    /// A server data directory: module tables go to its `homeserver.db` (unless
    /// [`HarnessBuilder::database`] names another database), and instances' SQLite files
    /// of earlier versions are imported from its `modules/` (default: a private
    /// in-memory database, nothing to import).
    pub fn data_dir(mut self, data_dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(data_dir.into());
        self
    }

    /// The database module tables live in, e.g. a PostgreSQL one (default: see
    /// [`HarnessBuilder::data_dir`]).
    pub fn database(mut self, database: crate::db::Database) -> Self {
        self.database = Some(database);
        self
    }

    /// Parses the YAML and starts its modules in order.
    pub fn start(self) -> Result<Harness, StartupError> {
        let mut options = StartOptions::new(ServerInfo::new(test_server_name(&self.server_name)?));
        options.timed = self.timed;
        options.database = match (self.database, &self.data_dir) {
            (Some(database), _) => Some(database),
            #[cfg(feature = "sqlite")]
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir).map_err(|error| {
                    crate::db::DbError::Unavailable(format!("cannot create {}: {error}", dir.display()))
                })?;
                Some(crate::db::Database::sqlite(dir.join("homeserver.db"))?)
            }
            #[cfg(feature = "sqlite")]
            (None, None) => Some(crate::db::Database::sqlite_in_memory()?),
            #[cfg(not(feature = "sqlite"))]
            (None, _) => None,
        };
        options.data_dir = self.data_dir;
        if let Some(host) = self.host {
            options.host = host;
        }
        #[cfg(feature = "mail")]
        {
            options.mailer = self.mailer;
        }
        let entries = config::load_modules(&self.yaml, "test.yaml")?;
        Ok(Harness { registry: Registry::start(entries, &options)? })
    }
}

impl Harness {
    /// A builder for the modules of a `modules:` YAML snippet.
    pub fn builder(yaml: &str) -> HarnessBuilder {
        HarnessBuilder {
            yaml: yaml.to_owned(),
            server_name: TEST_SERVER_NAME.to_owned(),
            timed: false,
            host: None,
            data_dir: None,
            database: None,
            #[cfg(feature = "mail")]
            mailer: None,
        }
    }

    /// The modules of a `modules:` YAML snippet with every default:
    /// `Harness::builder(yaml).start()`.
    pub fn from_yaml(yaml: &str) -> Result<Self, StartupError> {
        Self::builder(yaml).start()
    }

    /// The callbacks of every category, to call as the server would.
    pub fn callbacks(&self) -> &Callbacks {
        self.registry.callbacks()
    }

    /// The registry (instances, routes, caches).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The `n`-th instance of module type `T`.
    pub fn module<T: 'static>(&self, n: usize) -> Option<&T> {
        self.registry.module(n)
    }

    /// Sends a request to the module web resources; `None` if no module serves its path.
    pub async fn request(&self, request: WebRequest) -> Option<WebResponse> {
        self.registry.routes().handle(request).await
    }

    /// `GET path_and_query` on the module web resources.
    pub async fn get(&self, path_and_query: &str) -> Option<WebResponse> {
        let request = http::Request::get(path_and_query).body(Bytes::new()).ok()?;
        self.request(request).await
    }

    /// `POST path_and_query` with a JSON body on the module web resources.
    pub async fn post_json(&self, path_and_query: &str, body: &serde_json::Value) -> Option<WebResponse> {
        let request = http::Request::post(path_and_query)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body.to_string()))
            .ok()?;
        self.request(request).await
    }
}

/// A JSON value that must be an object, for test data; panics otherwise (a bug in the test).
pub fn json_object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(object) => object,
        other => panic!("not a JSON object: {other}"),
    }
}

/// Waits (polling every 10 ms) until `done` holds, for at most `limit`; whether it held.
/// For effects of background tasks.
pub async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}
