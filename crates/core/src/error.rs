//! Errors: the Matrix error a client sees, and one enum per subsystem of the registry.

use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Matrix `errcode` such as `M_FORBIDDEN`, compared by value.
///
/// The associated constants are the codes Synapse's `synapse.api.errors.Codes` uses; any
/// other string (a module's own namespaced code) is built with [`ErrCode::custom`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrCode(Cow<'static, str>);

macro_rules! errcodes {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        impl ErrCode {
            $($(#[$doc])* pub const $name: ErrCode = ErrCode(Cow::Borrowed($text));)*
        }
    };
}

errcodes! {
    /// `M_FORBIDDEN`: the default code of every deny.
    FORBIDDEN = "M_FORBIDDEN";
    /// `M_UNKNOWN`.
    UNKNOWN = "M_UNKNOWN";
    /// `M_UNAUTHORIZED`.
    UNAUTHORIZED = "M_UNAUTHORIZED";
    /// `M_LIMIT_EXCEEDED`.
    LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED";
    /// `M_SERVER_NOT_TRUSTED`.
    SERVER_NOT_TRUSTED = "M_SERVER_NOT_TRUSTED";
    /// `M_CONSENT_NOT_GIVEN`.
    CONSENT_NOT_GIVEN = "M_CONSENT_NOT_GIVEN";
    /// `M_BAD_ALIAS`.
    BAD_ALIAS = "M_BAD_ALIAS";
    /// `ORG_MATRIX_EXPIRED_ACCOUNT`: the account-validity code.
    EXPIRED_ACCOUNT = "ORG_MATRIX_EXPIRED_ACCOUNT";
    /// `M_NOT_FOUND`.
    NOT_FOUND = "M_NOT_FOUND";
    /// `M_UNRECOGNIZED`.
    UNRECOGNIZED = "M_UNRECOGNIZED";
    /// `M_TOO_LARGE`.
    TOO_LARGE = "M_TOO_LARGE";
    /// `M_NOT_JSON`.
    NOT_JSON = "M_NOT_JSON";
    /// `M_BAD_JSON`.
    BAD_JSON = "M_BAD_JSON";
    /// `M_MISSING_TOKEN`.
    MISSING_TOKEN = "M_MISSING_TOKEN";
    /// `M_UNKNOWN_TOKEN`.
    UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN";
    /// `M_MISSING_PARAM`.
    MISSING_PARAM = "M_MISSING_PARAM";
    /// `M_INVALID_PARAM`.
    INVALID_PARAM = "M_INVALID_PARAM";
    /// `M_USER_IN_USE`.
    USER_IN_USE = "M_USER_IN_USE";
    /// `M_INVALID_USERNAME`.
    INVALID_USERNAME = "M_INVALID_USERNAME";
    /// `M_ROOM_IN_USE`.
    ROOM_IN_USE = "M_ROOM_IN_USE";
    /// `M_THREEPID_DENIED`.
    THREEPID_DENIED = "M_THREEPID_DENIED";
    /// `M_RESOURCE_LIMIT_EXCEEDED`.
    RESOURCE_LIMIT_EXCEEDED = "M_RESOURCE_LIMIT_EXCEEDED";
    /// `M_GUEST_ACCESS_FORBIDDEN`.
    GUEST_ACCESS_FORBIDDEN = "M_GUEST_ACCESS_FORBIDDEN";
    /// `M_USER_DEACTIVATED`.
    USER_DEACTIVATED = "M_USER_DEACTIVATED";
}

impl ErrCode {
    /// A code outside Synapse's list, e.g. a module's own `ORG_EXAMPLE_SPAM`.
    pub fn custom(code: impl Into<String>) -> Self {
        Self(Cow::Owned(code.into()))
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The error a Matrix client receives: an HTTP status and the JSON body
/// `{"errcode": ..., "error": ..., <extra fields>}` (Synapse's `SynapseError`).
///
/// A module returns one from a callback (as `Err(MatrixError)`) where Synapse lets a
/// module's `SynapseError` through verbatim, e.g. from `check_event_allowed` or
/// `on_create_room`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixError {
    /// The HTTP status code.
    pub status: u16,
    /// The Matrix `errcode`.
    pub errcode: ErrCode,
    /// The human-readable `error` text.
    pub error: String,
    /// Extra top-level JSON fields, written after `errcode` and `error`.
    pub fields: Map<String, Value>,
}

impl MatrixError {
    /// An error with no extra fields.
    pub fn new(status: u16, errcode: ErrCode, error: impl Into<String>) -> Self {
        Self { status, errcode, error: error.into(), fields: Map::new() }
    }

    /// Adds extra top-level fields to the JSON body.
    #[must_use]
    pub fn with_fields(mut self, fields: Map<String, Value>) -> Self {
        self.fields = fields;
        self
    }

    /// Synapse's answer to an unexpected failure: 500 `M_UNKNOWN` "Internal server error".
    pub fn internal() -> Self {
        Self::new(500, ErrCode::UNKNOWN, "Internal server error")
    }

    /// The JSON body, built like Synapse's `cs_error`: `error` and `errcode` first, then
    /// the extra fields (which may overwrite them, as in Synapse).
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("errcode".into(), Value::String(self.errcode.as_str().to_owned()));
        body.insert("error".into(), Value::String(self.error.clone()));
        for (key, value) in &self.fields {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.errcode, self.error)
    }
}

impl std::error::Error for MatrixError {}

/// What a callback may fail with: the Rust counterpart of a Python module raising.
///
/// `Matrix` is a `SynapseError` (let through verbatim where Synapse does so); `Other` is
/// any other exception, handled by the callback's failure policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The module chose the exact error the client sees (boxed: a callback's answer
    /// travels through `Result<T, CallbackError>`, which stays small).
    #[error(transparent)]
    Matrix(Box<MatrixError>),
    /// Anything else went wrong inside the module.
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<MatrixError> for CallbackError {
    fn from(error: MatrixError) -> Self {
        Self::Matrix(Box::new(error))
    }
}

impl CallbackError {
    /// Wraps any error as an unexpected module failure.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}

/// `?` on the errors of [`ModuleApi`](crate::ModuleApi) inside a callback or web
/// resource: each is an unexpected failure ([`CallbackError::Other`]), which the
/// callback's failure policy answers (500 `M_UNKNOWN`, or carry on where Synapse ignores
/// failures of that callback).
macro_rules! unexpected_failures {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CallbackError {
            fn from(error: $error) -> Self {
                Self::Other(Box::new(error))
            }
        }
    )*};
}

unexpected_failures!(crate::api::HostError, crate::db::DbError);
#[cfg(feature = "http-client")]
unexpected_failures!(crate::api::HttpError);

/// A module failed to start: returned from [`Module::new`](crate::Module::new).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ModuleError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ModuleError {
    /// An error with a message a person can act on.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error with a message and the underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { message: message.into(), source: Some(source.into()) }
    }
}

impl From<WebError> for ModuleError {
    fn from(error: WebError) -> Self {
        Self::with_source("web resource registration failed", error)
    }
}

/// A problem with web-resource registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The path is not a valid absolute resource path.
    #[error("invalid web resource path `{path}`: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP method is not one a web resource may serve.
    #[error("invalid web resource method `{method}`: {reason}")]
    InvalidMethod {
        /// The offending method.
        method: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `register_web_resource` was called once the server had started.
    #[error("module `{module}` tried to register web resource `{path}` after start-up; register it in `Module::new`")]
    AfterStartup {
        /// The module that tried.
        module: String,
        /// The path it tried to register.
        path: String,
    },
}

/// A module's configuration was rejected by its own validation (`parse_config`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong, for a person to fix.
    pub message: String,
    /// Key path below the module's `config`, e.g. `["evil_users", "1"]`.
    pub path: Vec<String>,
}

impl ConfigError {
    /// An error about the whole module config.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), path: Vec::new() }
    }

    /// An error about one key below the module's `config`.
    pub fn at(path: impl IntoIterator<Item = impl Into<String>>, message: impl Into<String>) -> Self {
        Self { message: message.into(), path: path.into_iter().map(Into::into).collect() }
    }
}
