//! # mxmod: Synapse's module system as a compile-time static registry
//!
//! A module is a Rust type. Its `impl` block carries `#[module(name = "...")]`, and its
//! methods carry one category attribute each: [`spam_checker`], [`third_party_rules`],
//! [`account_validity`], [`presence_router`], [`password_auth_provider`],
//! [`media_repository`], [`ratelimit`], [`account_data`],
//! [`add_extra_fields_to_unsigned_client_event`], [`web_resource`] or [`cached`](macro@cached). The macros
//! put one entry per method into link-time slices ([linkme]); the server instantiates the
//! modules its `homeserver.yaml` names, in listed order, and calls them through
//! [`callbacks::Callbacks`]. Nothing is registered by hand and nothing is looked up by
//! string at call time. The Rust signature of every callback is in
//! [`callbacks::reference`]; [`testing`] runs modules in tests without a server; [`db`] is
//! a module's storage in the server's database (SQLite or PostgreSQL).
//!
//! The headline example of Synapse's documentation, in Rust: `@evilguy` may not create
//! rooms, and `/_synapse/client/demo/hello?name=Bob` answers `{"hello": "Bob"}`.
//!
//! ```
//! use mxmod::{module, spam_checker, web_resource, Module, ModuleApi, ModuleError, SpamCheck};
//! use mxmod::types::{JsonObject, UserId};
//! use mxmod::web::{self, WebRequest, WebResponse};
//!
//! #[derive(serde::Deserialize)]
//! struct DemoConfig {
//!     #[serde(default = "default_denied")]
//!     denied_users: Vec<String>,
//! }
//!
//! fn default_denied() -> Vec<String> {
//!     vec!["@evilguy:example.com".to_owned()]
//! }
//!
//! struct Demo {
//!     config: DemoConfig,
//! }
//!
//! impl Module for Demo {
//!     type Config = DemoConfig;
//!
//!     fn new(config: DemoConfig, _api: ModuleApi) -> Result<Self, ModuleError> {
//!         Ok(Demo { config })
//!     }
//! }
//!
//! #[module(name = "readme_demo")]
//! impl Demo {
//!     #[spam_checker]
//!     async fn user_may_create_room(&self, user_id: &UserId, _config: &JsonObject) -> SpamCheck {
//!         if self.config.denied_users.iter().any(|denied| denied == user_id.as_str()) {
//!             SpamCheck::Deny(mxmod::ErrCode::FORBIDDEN)
//!         } else {
//!             SpamCheck::NOT_SPAM
//!         }
//!     }
//!
//!     #[web_resource("/_synapse/client/demo/hello", method = "GET")]
//!     async fn hello(&self, request: WebRequest) -> WebResponse {
//!         let name = web::query_param(&request, "name").unwrap_or_default();
//!         web::json(200, &serde_json::json!({ "hello": name }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let harness = mxmod::testing::Harness::from_yaml("modules:\n  - module: readme_demo\n").unwrap();
//! let evil = UserId::parse("@evilguy:example.com").unwrap();
//! let denied = harness.callbacks().spam_checker.user_may_create_room(&evil, &JsonObject::new()).await;
//! assert_eq!(denied.unwrap_err().status, 403);
//!
//! let reply = harness.get("/_synapse/client/demo/hello?name=Bob").await.unwrap();
//! assert_eq!(reply.body().as_ref(), br#"{"hello":"Bob"}"#);
//! let post = mxmod::http::Request::post("/_synapse/client/demo/hello").body(Default::default()).unwrap();
//! assert_eq!(harness.request(post).await.unwrap().status(), 405, "only GET (and HEAD) are served");
//! # }
//! ```
//!
//! ## Cargo features
//!
//! What a module sees is always here: the traits, [`ModuleApi`], [`db`]'s handle, the
//! registry and [`testing`]. The implementations that pull in large dependencies are
//! behind features, all on by default:
//!
//! | feature | gives | pulls in |
//! |---|---|---|
//! | `http-client` | `ModuleApi::http_client` | hyper's client, rustls, ring |
//! | `mail` | `ModuleApi::send_mail`, `mail` | lettre |
//! | `sqlite` | `db::Database::sqlite` (and `testing`'s in-memory database) | rusqlite, bundled SQLite |
//! | `postgres` | `db::Database::postgres` | tokio-postgres, deadpool |
//!
//! A module that needs neither HTTP nor mail depends on
//! `mxmod = { version = "…", default-features = false }` and builds none of them; the
//! server turns on the features it implements.

#[allow(unused_extern_crates)] // lets `::mxmod::...` in generated code resolve inside this crate
extern crate self as mxmod;

pub mod api;
pub mod cache;
pub mod callbacks;
pub mod cluster;
pub mod config;
pub mod db;
mod error;
#[cfg(feature = "mail")]
pub mod mail;
pub mod module;
pub mod registry;
pub mod testing;
pub mod types;
pub mod web;

#[doc(hidden)]
pub mod __private;

/// The `bytes` crate of [`web::WebRequest`] and [`web::WebResponse`] bodies.
pub use bytes;
/// The `http` crate whose types web resources take and answer, so an author needs no
/// version of their own.
pub use http;

#[cfg(feature = "http-client")]
pub use api::HttpError;
pub use api::{HostError, ModuleApi};
pub use callbacks::{
    outcome::{
        AuthResult, EventAllowed, InterestedUsers, IntoCallbackResult, LoginResponse, LoginType, OnLoggedIn,
        RatelimitOverride, RegistrationBehaviour, SpamCheck,
    },
    rules::PresenceRouting,
};
pub use db::{DbError, ModuleDb};
pub use error::{CallbackError, ConfigError, ErrCode, MatrixError, ModuleError, WebError};
pub use module::Module;
/// Registers an `async` method as an account-data callback (inside `#[module]`).
pub use mxmod_macros::account_data;
/// Registers an `async` method as an account-validity callback (inside `#[module]`).
pub use mxmod_macros::account_validity;
/// Registers an `async` method as an unsigned-field callback (inside `#[module]`).
pub use mxmod_macros::add_extra_fields_to_unsigned_client_event;
/// Caches an `async` method's results per instance in an LRU (inside `#[module]`).
pub use mxmod_macros::cached;
/// Registers an `async` method as a media-repository callback (inside `#[module]`).
pub use mxmod_macros::media_repository;
/// Marks an `impl` block as a module: `#[module(name = "...")]`. See the crate docs.
pub use mxmod_macros::module;
/// Registers an `async` method as a password auth provider callback (inside `#[module]`).
pub use mxmod_macros::password_auth_provider;
/// Registers an `async` method as a presence-router callback (inside `#[module]`).
pub use mxmod_macros::presence_router;
/// Registers an `async` method as a rate-limit callback (inside `#[module]`).
pub use mxmod_macros::ratelimit;
/// Registers an `async` method as a spam-checker callback (inside `#[module]`).
pub use mxmod_macros::spam_checker;
/// Registers an `async` method as a third-party-rules callback (inside `#[module]`).
pub use mxmod_macros::third_party_rules;
/// Serves an `async` method at a path: `#[web_resource("/_synapse/client/...")]` for every
/// HTTP method, or `#[web_resource("/_synapse/client/...", method = "GET")]` for one (other
/// methods of the path get 405 with `Allow`; `HEAD` is answered by the `GET` handler).
pub use mxmod_macros::web_resource;
pub use web::{WebRequest, WebResponse};
