//! `shared_secret_auth`: a port of matrix-synapse-shared-secret-auth (devture). A system
//! that knows the server's shared secret logs in as any existing local user: the
//! "password" is the HMAC-SHA512 of the user's full ID keyed with the secret, in lower-case
//! hex.
//!
//! # Callbacks
//!
//! * `auth_checkers` (password auth provider) declares the enabled login types:
//!   `com.devture.shared_secret_auth` with the field `token` (on by default) and
//!   `m.login.password` with the field `password` (off by default). Both appear in
//!   `GET /login`.
//! * `check_auth`: for an enabled type, the user (a localpart or a full ID) is qualified
//!   on this server, the token is compared in constant time with the HMAC of that ID, and
//!   the user must exist. Then the login succeeds as that user; otherwise the module
//!   answers "not me", so another module or the local password may still accept an
//!   `m.login.password` request, and a `com.devture.shared_secret_auth` one is 403
//!   `M_FORBIDDEN` "Invalid username or password".
//!
//! # Config
//!
//! ```yaml
//! modules:
//!   - module: shared_secret_auth
//!     config:
//!       # Required: the secret the token is an HMAC under.
//!       shared_secret: "YOUR_SHARED_SECRET_GOES_HERE"
//!       # Accept the token as the password of `m.login.password` logins. Default: false.
//!       m_login_password_support_enabled: false
//!       # Offer the `com.devture.shared_secret_auth` login type. Default: true.
//!       com_devture_shared_secret_auth_support_enabled: true
//! ```
//!
//! At least one login type must be enabled. A client obtains a token as in the original
//! README: `hmac.new(secret, "@user:server", sha512).hexdigest()`, then `POST /login` with
//! `{"type": "com.devture.shared_secret_auth", "identifier": {"type": "m.id.user",
//! "user": "@user:server"}, "token": "<hex>"}`.

use hmac::{Hmac, Mac};
use mxmod::{
    api::HostError,
    module, password_auth_provider,
    types::{JsonObject, UserId},
    AuthResult, ConfigError, LoginType, Module, ModuleApi, ModuleError,
};
use serde::Deserialize;
use sha2::Sha512;

/// The module's own login type.
pub const LOGIN_TYPE: &str = "com.devture.shared_secret_auth";
/// The standard password login type, optionally handled.
pub const PASSWORD_LOGIN_TYPE: &str = "m.login.password";

/// The `config:` of `shared_secret_auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSecretAuthConfig {
    /// The secret tokens are HMACs under (required).
    #[serde(default)]
    pub shared_secret: Option<String>,
    /// Accept tokens as `m.login.password` passwords.
    #[serde(default)]
    pub m_login_password_support_enabled: bool,
    /// Offer `com.devture.shared_secret_auth`.
    #[serde(default = "enabled")]
    pub com_devture_shared_secret_auth_support_enabled: bool,
}

fn enabled() -> bool {
    true
}

/// The module.
pub struct SharedSecretAuth {
    secret: String,
    login_types: Vec<LoginType>,
    api: ModuleApi,
}

/// The token for `user_id` under `secret`: HMAC-SHA512, lower-case hex (`None` only if
/// the HMAC refused the key, which it does for no length).
pub fn token_for(secret: &str, user_id: &str) -> Option<String> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(user_id.as_bytes());
    Some(mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect())
}

impl Module for SharedSecretAuth {
    type Config = SharedSecretAuthConfig;

    fn parse_config(config: SharedSecretAuthConfig) -> Result<SharedSecretAuthConfig, ConfigError> {
        if config.shared_secret.is_none() {
            return Err(ConfigError::at(["shared_secret"], "Required `shared_secret` configuration key not found"));
        }
        if !config.m_login_password_support_enabled && !config.com_devture_shared_secret_auth_support_enabled {
            return Err(ConfigError::new("At least one login type must be enabled"));
        }
        Ok(config)
    }

    fn new(config: SharedSecretAuthConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        let secret = config.shared_secret.ok_or_else(|| ModuleError::new("`shared_secret` is required"))?;
        let mut login_types = Vec::new();
        if config.com_devture_shared_secret_auth_support_enabled {
            login_types.push(LoginType::new(LOGIN_TYPE, &["token"]));
        }
        if config.m_login_password_support_enabled {
            login_types.push(LoginType::new(PASSWORD_LOGIN_TYPE, &["password"]));
        }
        let names: Vec<&str> = login_types.iter().map(|t| t.login_type.as_str()).collect();
        tracing::info!("shared_secret_auth: enabled login types: {names:?}");
        Ok(Self { secret, login_types, api })
    }
}

impl SharedSecretAuth {
    /// The request field holding the token for an enabled login type.
    fn token_field(&self, login_type: &str) -> Option<&'static str> {
        let enabled = self.login_types.iter().any(|t| t.login_type == login_type);
        match login_type {
            LOGIN_TYPE if enabled => Some("token"),
            PASSWORD_LOGIN_TYPE if enabled => Some("password"),
            _ => None,
        }
    }

    fn token_matches(&self, user_id: &UserId, token: &str) -> bool {
        token_for(&self.secret, user_id.as_str()).is_some_and(|expected| mxmod::web::secret_matches(token, &expected))
    }
}

#[module(name = "shared_secret_auth")]
impl SharedSecretAuth {
    #[password_auth_provider]
    async fn auth_checkers(&self) -> Vec<LoginType> {
        self.login_types.clone()
    }

    #[password_auth_provider]
    async fn check_auth(
        &self,
        username: &str,
        login_type: &str,
        login_dict: &JsonObject,
    ) -> Result<Option<AuthResult>, HostError> {
        let Some(field) = self.token_field(login_type) else { return Ok(None) };
        let Some(token) = login_dict.get(field).and_then(serde_json::Value::as_str) else { return Ok(None) };
        tracing::info!("shared_secret_auth: authenticating user `{username}` with login type `{login_type}`");
        let Some(user_id) = self.api.get_qualified_user_id(username) else { return Ok(None) };
        if !self.token_matches(&user_id, token) {
            tracing::info!("shared_secret_auth: bad hmac value for user: {user_id}");
            return Ok(None);
        }
        if self.api.user_info(&user_id).await?.is_none() {
            tracing::info!("shared_secret_auth: refusing to authenticate missing user: {user_id}");
            return Ok(None);
        }
        tracing::info!("shared_secret_auth: authenticated user: {user_id}");
        Ok(Some(AuthResult::user(user_id)))
    }
}

#[cfg(test)]
mod tests;
