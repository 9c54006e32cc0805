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

use bytes::Bytes;

use crate::{
    api::ServerInfo,
    callbacks::Callbacks,
    config,
    registry::{Registry, StartOptions, StartupError},
    types::OwnedServerName,
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

/// Running modules built from a YAML snippet, for tests.
#[derive(Debug)]
pub struct Harness {
    registry: Registry,
}

impl Harness {
    /// Builds the modules of a `modules:` YAML snippet on server `example.com`.
    ///
    /// Callback latencies are measured (`timed: true`, as the server does with
    /// `enable_metrics: true`), so tests can read them from [`Callbacks::stats`].
    pub fn from_yaml(yaml: &str) -> Result<Self, StartupError> {
        Self::from_yaml_on(yaml, TEST_SERVER_NAME)
    }

    /// Builds the modules of a `modules:` YAML snippet on server `example.com` as the
    /// server does with `enable_metrics: false`: latencies are not measured
    /// (`timed: false`), so a call reads no clock. For benchmarks and allocation tests.
    pub fn from_yaml_untimed(yaml: &str) -> Result<Self, StartupError> {
        Self::start(yaml, StartOptions::new(ServerInfo::new(test_server_name(TEST_SERVER_NAME)?)))
    }

    /// Builds the modules of a `modules:` YAML snippet on the given server name, with
    /// latencies measured (see [`Harness::from_yaml`]).
    pub fn from_yaml_on(yaml: &str, server_name: &str) -> Result<Self, StartupError> {
        let mut options = StartOptions::new(ServerInfo::new(test_server_name(server_name)?));
        options.timed = true;
        Self::start(yaml, options)
    }

    /// Builds the modules of a `modules:` YAML snippet with full control of the options:
    /// a [`Host`](crate::api::Host) playing the server, a data directory, timing.
    pub fn start(yaml: &str, options: StartOptions) -> Result<Self, StartupError> {
        let entries = config::load_modules(yaml, "test.yaml")?;
        Ok(Self { registry: Registry::start(entries, &options)? })
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
