//! `account_validity`: accounts expire after a period unless renewed, after
//! synapse-email-account-validity. Some time before an account expires, its owner gets
//! a notice with a renewal link; an expired account gets 403 `ORG_MATRIX_EXPIRED_ACCOUNT`
//! on every authenticated request until it is renewed.
//!
//! # Callbacks
//!
//! * `on_user_registration` (account validity): a new user expires `period` from now.
//! * `is_user_expired` (account validity): `true` once the expiration time has passed.
//!   The answer comes from a `#[cached]` lookup of the module's table
//!   ([`AccountValidity::get_expiration_ts_for_user`]), invalidated by every write. A
//!   local user the module does not track yet (one registered before the module was
//!   enabled) starts being tracked here, expiring `period` from now minus up to 10 %,
//!   spread like the original spreads the users it imports at start-up. Remote users:
//!   no opinion (`None`).
//! * `on_add_user_third_party_identifier` / `on_remove_user_third_party_identifier`
//!   (third-party rules): keep the email addresses notices go to.
//!
//! Every `check_interval` (30 minutes), a background task sends a notice to each user
//! whose account expires within `renew_at` (or has expired) and who was not notified
//! for the current period, to each of the user's email addresses, with a link to
//! `{public_baseurl}_synapse/client/account_validity/renew?token=<32 letters>`. Users
//! without an address are skipped (and looked at again next time). Notices go through
//! the homeserver's `email:` settings (`ModuleApi::send_mail`, as the original sends
//! through Synapse's mailer); a server without `email:` writes them to its log, to be
//! delivered by hand.
//!
//! # Paths
//!
//! * `GET /_synapse/client/account_validity/renew?token=T`: renews the account the
//!   token belongs to: it now expires `period` from now. 200 with an HTML page saying
//!   until when; the same page (without renewing again) for a token already used; 400
//!   "Invalid renewal token." for an unknown one. No access token needed.
//! * `POST /_synapse/client/account_validity/admin` with
//!   `Authorization: Bearer <admin_secret>` and `{"user_id": "@u:example.com",
//!   "expiration_ts": <ms, default now + period>, "enable_renewal_emails": <bool, default
//!   true>, "emails": [<addresses>]}` sets a user's expiration time (and, with `emails`,
//!   replaces the user's notice addresses); answers `{"expiration_ts": ...}`.
//! * `POST /_synapse/client/account_validity/send_mail` with the same authorization and
//!   `{"user_id": ...}` sends the user a notice now; answers `{}`.
//!
//! Without `admin_secret`, the two `POST` resources answer 403. A missing token is 401
//! `M_MISSING_TOKEN`, a wrong one 401 `M_UNKNOWN_TOKEN`.
//!
//! # Config
//!
//! ```yaml
//! modules:
//!   - module: account_validity
//!     config:
//!       # How long an account stays valid without renewal (required). Durations are
//!       # Synapse's: a number of milliseconds, or digits with s, m, h, d, w or y.
//!       period: 6w
//!       # How long before expiry the notice goes out (required).
//!       renew_at: 1w
//!       # Subject of the notice; `%(app)s` becomes `app_name`.
//!       # Default: "Renew your %(app)s account".
//!       renew_email_subject: "Renew your %(app)s account"
//!       # The application name in notices. Default: the server's `email.app_name`
//!       # (Matrix without one).
//!       app_name: Matrix
//!       # Renewal by link (true) is the only mode: renewal by short code needs
//!       # authenticated requests. Default: true.
//!       send_links: true
//!       # Bearer token of the admin and send_mail resources. Default: none (disabled).
//!       admin_secret: "change me"
//!       # How often expiring accounts are looked for. Default: 30m.
//!       check_interval: 30m
//! ```
//!
//! The SMTP server and the sender are the homeserver's (`email:` in `homeserver.yaml`:
//! `smtp_host`, `smtp_port`, `smtp_user`, `smtp_pass`, `notif_from`, ...). The module's
//! own `smtp:` of earlier versions is refused at start-up with a pointer there.
//!
//! # Differences from the original
//!
//! The module cannot authenticate a request's access token nor read a user's profile or
//! 3PIDs through `ModuleApi`, so: `send_mail` and `admin` take the shared
//! `admin_secret` instead of a user's or an admin's access token (and `send_mail` names
//! the user); renewal by short code (`send_links: false`) is refused at start-up; the
//! notice greets the user by Matrix ID; addresses come from the 3PID callbacks or the
//! admin resource. Dates are UTC. Paths are under `/_synapse/client/account_validity`
//! (the original: `/_synapse/client/email_account_validity`).

mod notice;
mod store;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use mxmod::{
    account_validity,
    cache::CacheHandle,
    cached,
    config::ConfigDuration,
    mail::MailError,
    module, third_party_rules,
    types::UserId,
    web::{self, WebRequest, WebResponse},
    web_resource, CallbackError, ConfigError, ErrCode, MatrixError, Module, ModuleApi, ModuleError,
};
use rand::Rng;
use serde::Deserialize;

pub use self::notice::format_date;
use self::{notice::Notice, store::Store};

/// The `config:` of `account_validity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountValidityConfig {
    /// How long an account stays valid (required).
    #[serde(default)]
    pub period: Option<ConfigDuration>,
    /// How long before expiry the notice goes out (required).
    #[serde(default)]
    pub renew_at: Option<ConfigDuration>,
    /// The notice's subject.
    #[serde(default)]
    pub renew_email_subject: Option<String>,
    /// Renewal by link; must be true.
    #[serde(default = "yes")]
    pub send_links: bool,
    /// The application name in notices (default: the server's `email.app_name`).
    #[serde(default)]
    pub app_name: Option<String>,
    /// Bearer token of the admin resources.
    #[serde(default)]
    pub admin_secret: Option<String>,
    /// How often expiring accounts are looked for.
    #[serde(default = "default_check_interval")]
    pub check_interval: ConfigDuration,
    /// The SMTP settings of earlier versions, refused: notices go through the server's
    /// `email:` section.
    #[serde(default)]
    pub smtp: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

fn default_check_interval() -> ConfigDuration {
    ConfigDuration::from_millis(30 * 60 * 1000)
}

/// The module's `#[cached]` expiration lookup: user ID → expiration time.
type ExpiryCache = CacheHandle<String, Option<i64>>;

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A renewal-link token: 32 ASCII letters.
fn is_link_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphabetic())
}

fn new_link_token() -> String {
    rand::rng().sample_iter(rand::distr::Alphabetic).take(32).map(char::from).collect()
}

/// What the module and its background task share.
struct Core {
    api: ModuleApi,
    period: i64,
    renew_at: i64,
    subject: String,
    store: Store,
    /// Held for a whole notice run, so the periodic task and an explicit run never
    /// notify the same user twice.
    notice_run: tokio::sync::Mutex<()>,
}

impl Core {
    /// Starts tracking a local user met for the first time: expiry `period` from now,
    /// minus up to 10 % so that the notices of imported users are spread out.
    async fn start_tracking(&self, user_id: &str, cache: &ExpiryCache) -> Result<i64, CallbackError> {
        let latest = now_ms().saturating_add(self.period);
        let spread = self.period / 10;
        let expiration_ts = if spread > 0 { rand::rng().random_range(latest - spread..latest) } else { latest };
        let stored = self.store.insert_if_absent(user_id, expiration_ts).await?;
        cache.invalidate(&user_id.to_owned());
        Ok(stored)
    }

    /// Sets a user's validity state; the new expiration time (Synapse's
    /// `renew_account_for_user`). Without `renewal_token` the user's token is cleared.
    async fn renew_account_for_user(
        &self,
        cache: &ExpiryCache,
        user_id: &str,
        expiration_ts: Option<i64>,
        email_sent: bool,
        renewal_token: Option<String>,
    ) -> Result<i64, CallbackError> {
        let now = now_ms();
        let expiration_ts = expiration_ts.unwrap_or_else(|| now.saturating_add(self.period));
        let stored =
            self.store.set_account_validity(user_id, expiration_ts, email_sent, renewal_token, Some(now)).await;
        cache.invalidate(&user_id.to_owned());
        stored?;
        Ok(expiration_ts)
    }

    /// A fresh link token stored for the user (5 attempts at a unique one).
    async fn generate_link_token(&self, cache: &ExpiryCache, user_id: &str) -> Result<String, CallbackError> {
        let mut last_error = None;
        for _ in 0..5 {
            let token = new_link_token();
            let stored = self.store.set_renewal_token(user_id, &token).await;
            cache.invalidate(&user_id.to_owned());
            match stored {
                Ok(true) => return Ok(token),
                Ok(false) => {
                    return Err(MatrixError::new(
                        400,
                        ErrCode::UNKNOWN,
                        format!("User has no expiration time: {user_id}"),
                    )
                    .into())
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(match last_error {
            Some(error) => CallbackError::other(error),
            None => CallbackError::other("Couldn't generate a unique string as refresh string."),
        })
    }

    /// Sends a notice to every address of the user, then records it; `false` if the user
    /// has no address (nothing is sent or recorded).
    async fn send_renewal_email(
        &self,
        cache: &ExpiryCache,
        user_id: &str,
        expiration_ts: i64,
    ) -> Result<bool, CallbackError> {
        let addresses = self.store.addresses(user_id).await?;
        if addresses.is_empty() {
            return Ok(false);
        }
        let token = self.generate_link_token(cache, user_id).await?;
        let url = format!("{}_synapse/client/account_validity/renew?token={token}", self.api.public_baseurl());
        let notice = Notice::render(&self.subject, user_id, expiration_ts, &url);
        for address in &addresses {
            self.deliver(address, &notice).await?;
        }
        let recorded = self.store.set_email_sent(user_id, true).await;
        cache.invalidate(&user_id.to_owned());
        recorded?;
        Ok(true)
    }

    /// Mails a notice to one address through the server's `email:` settings; without
    /// them, writes it to the log (and it counts as sent).
    async fn deliver(&self, address: &str, notice: &Notice) -> Result<(), CallbackError> {
        match self.api.send_mail(address, &notice.subject, &notice.html, &notice.text).await {
            Ok(()) => Ok(()),
            Err(MailError::NotConfigured) => {
                tracing::info!(
                    module = self.api.instance_name(),
                    "account validity notice for {address} (the server has no `email:` section): {}\n{}",
                    notice.subject,
                    notice.text
                );
                Ok(())
            }
            Err(error) => Err(CallbackError::other(error)),
        }
    }

    /// Notifies every user due for a notice; how many were notified.
    async fn send_renewal_notices(&self, cache: &ExpiryCache) -> Result<usize, CallbackError> {
        let _one_run_at_a_time = self.notice_run.lock().await;
        let due = self.store.users_expiring_soon(now_ms(), self.renew_at).await?;
        let mut sent = 0;
        for (user_id, expiration_ts) in due {
            match self.send_renewal_email(cache, &user_id, expiration_ts).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(module = self.api.instance_name(), "renewal notice for {user_id} failed: {error}")
                }
            }
        }
        Ok(sent)
    }
}

/// The account-validity module.
pub struct AccountValidity {
    api: ModuleApi,
    core: Arc<Core>,
    admin_secret: Option<String>,
    /// The cache of `get_expiration_ts_for_user`.
    expirations: CacheHandle<String, Option<i64>>,
}

impl Module for AccountValidity {
    type Config = AccountValidityConfig;

    fn parse_config(config: AccountValidityConfig) -> Result<AccountValidityConfig, ConfigError> {
        if config.period.is_none() {
            return Err(ConfigError::new("`period` is required: how long an account stays valid, e.g. `6w`"));
        }
        if config.renew_at.is_none() {
            return Err(ConfigError::new("`renew_at` is required: how long before expiry to send a notice, e.g. `1w`"));
        }
        if !config.send_links {
            return Err(ConfigError::at(
                ["send_links"],
                "only `send_links: true` is supported: renewal by short code needs authenticated requests, which \
                 modules cannot check",
            ));
        }
        if config.check_interval.is_zero() {
            return Err(ConfigError::at(["check_interval"], "`check_interval` must be longer than zero"));
        }
        if config.admin_secret.as_deref() == Some("") {
            return Err(ConfigError::at(["admin_secret"], "`admin_secret` must not be empty"));
        }
        if config.smtp.is_some() {
            return Err(ConfigError::at(
                ["smtp"],
                "`smtp` moved to the homeserver's `email:` section (smtp_host, smtp_port, smtp_user, smtp_pass, \
                 notif_from): notices go through the server's mail settings, as in Synapse",
            ));
        }
        Ok(config)
    }

    fn new(config: AccountValidityConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ModuleError::new("account_validity must start inside the server's async runtime"));
        }
        let db = api.db().map_err(|error| ModuleError::with_source("cannot open the module database", error))?;
        let app_name = config.app_name.as_deref().unwrap_or_else(|| api.email_app_name()).to_owned();
        let subject = config.renew_email_subject.as_deref().unwrap_or("Renew your %(app)s account");
        let core = Arc::new(Core {
            api: api.clone(),
            period: config.period.map_or(0, ConfigDuration::as_millis_i64),
            renew_at: config.renew_at.map_or(0, ConfigDuration::as_millis_i64),
            subject: subject.replace("%(app)s", &app_name),
            store: Store::new(db),
            notice_run: tokio::sync::Mutex::new(()),
        });
        let expirations = Self::get_expiration_ts_for_user_new_cache(&api);
        let module = AccountValidity { api, core, admin_secret: config.admin_secret, expirations };
        let (core, cache) = (module.core.clone(), module.get_expiration_ts_for_user_cache().clone());
        // The schema (and the import of an old per-module file) at start, not at first use.
        let migrating = core.clone();
        module.api.spawn(async move {
            if let Err(error) = migrating.store.db().await {
                tracing::warn!(module = migrating.api.instance_name(), "migrating the module's tables failed: {error}");
            }
        });
        // Stopped with the module: `spawn_periodic` tasks end at shutdown.
        module.api.spawn_periodic(config.check_interval.as_duration(), move || {
            let (core, cache) = (core.clone(), cache.clone());
            async move {
                if let Err(error) = core.send_renewal_notices(&cache).await {
                    tracing::warn!(module = core.api.instance_name(), "looking for expiring accounts failed: {error}");
                }
            }
        });
        Ok(module)
    }
}

/// `Authorization: Bearer <admin_secret>`, compared in constant time; 403 when the
/// module has no `admin_secret`.
fn check_admin(secret: Option<&str>, request: &WebRequest) -> Result<(), MatrixError> {
    let Some(secret) = secret else {
        return Err(MatrixError::new(
            403,
            ErrCode::FORBIDDEN,
            "This resource is disabled: the module has no `admin_secret`",
        ));
    };
    web::require_bearer_secret(request, secret)
}

fn parse_user_id(user_id: Option<String>) -> Result<mxmod::types::OwnedUserId, MatrixError> {
    let user_id = user_id
        .ok_or_else(|| MatrixError::new(400, ErrCode::UNKNOWN, "Missing property 'user_id' in the request body"))?;
    UserId::parse(&user_id)
        .map_err(|_| MatrixError::new(400, ErrCode::INVALID_PARAM, format!("Invalid user ID: {user_id}")))
}

/// The body of the admin resource.
#[derive(Deserialize)]
struct AdminRequest {
    user_id: Option<String>,
    expiration_ts: Option<i64>,
    enable_renewal_emails: Option<bool>,
    emails: Option<Vec<String>>,
}

/// The body of the send_mail resource.
#[derive(Deserialize)]
struct SendMailRequest {
    user_id: Option<String>,
}

#[module(name = "account_validity")]
impl AccountValidity {
    /// The user's expiration time in milliseconds, if the module tracks the user.
    /// Cached per user; every write to the user's row invalidates the entry.
    #[cached(max_size = 10000, cache = expirations)]
    pub async fn get_expiration_ts_for_user(&self, user_id: String) -> Result<Option<i64>, CallbackError> {
        Ok(self.core.store.expiration_ts(&user_id).await?)
    }

    /// Sends the notices due now (what the periodic task does); how many users were
    /// notified.
    pub async fn send_renewal_notices(&self) -> Result<usize, CallbackError> {
        self.core.send_renewal_notices(self.get_expiration_ts_for_user_cache()).await
    }

    /// Whether the user's notice for the current period went out (`None`: not tracked).
    pub async fn renewal_notice_sent(&self, user_id: &UserId) -> Result<Option<bool>, CallbackError> {
        Ok(self.core.store.email_sent(user_id.as_str()).await?)
    }

    /// The addresses the user's notices go to.
    pub async fn notice_addresses(&self, user_id: &UserId) -> Result<Vec<String>, CallbackError> {
        Ok(self.core.store.addresses(user_id.as_str()).await?)
    }

    /// Expired once the expiration time has passed; see the module docs.
    #[account_validity]
    pub async fn is_user_expired(&self, user_id: &UserId) -> Result<Option<bool>, CallbackError> {
        let expiration_ts = match self.get_expiration_ts_for_user(user_id.to_string()).await? {
            Some(expiration_ts) => expiration_ts,
            None if self.api.is_mine(user_id) => {
                self.core.start_tracking(user_id.as_str(), self.get_expiration_ts_for_user_cache()).await?
            }
            None => return Ok(None),
        };
        Ok(Some(now_ms() >= expiration_ts))
    }

    /// A new user expires `period` from now.
    #[account_validity]
    pub async fn on_user_registration(&self, user_id: &UserId) -> Result<(), CallbackError> {
        let expiration_ts = now_ms().saturating_add(self.core.period);
        let stored = self.core.store.set_expiration_date(user_id.as_str(), expiration_ts).await;
        self.get_expiration_ts_for_user_cache().invalidate(&user_id.to_string());
        Ok(stored?)
    }

    /// Remembers an email address for notices.
    #[third_party_rules]
    pub async fn on_add_user_third_party_identifier(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
    ) -> Result<(), CallbackError> {
        if medium != "email" {
            return Ok(());
        }
        Ok(self.core.store.add_address(user_id.as_str(), address).await?)
    }

    /// Forgets an email address.
    #[third_party_rules]
    pub async fn on_remove_user_third_party_identifier(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
    ) -> Result<(), CallbackError> {
        if medium != "email" {
            return Ok(());
        }
        Ok(self.core.store.remove_address(user_id.as_str(), address).await?)
    }

    /// # `GET /_synapse/client/account_validity/renew?token=T`
    ///
    /// Renews the account the link token belongs to.
    #[web_resource("/_synapse/client/account_validity/renew", method = "GET")]
    pub async fn renew(&self, request: WebRequest) -> Result<WebResponse, CallbackError> {
        let token = web::query_param(&request, "token")
            .ok_or_else(|| MatrixError::new(400, ErrCode::MISSING_PARAM, "Missing renewal token"))?;
        // Short codes need an authenticated request, which modules cannot check: only
        // link tokens can be valid here.
        if !is_link_token(&token) {
            return Ok(web::html(400, notice::INVALID_TOKEN_PAGE));
        }
        let Some(owner) = self.core.store.token_owner(&token).await? else {
            return Ok(web::html(400, notice::INVALID_TOKEN_PAGE));
        };
        if owner.used_ts.is_some() {
            tracing::info!(
                module = self.api.instance_name(),
                "{} tried to renew with a token used before",
                owner.user_id
            );
            return Ok(web::html(200, notice::previously_renewed_page(owner.expiration_ts)));
        }
        let cache = self.get_expiration_ts_for_user_cache();
        // The token is kept (marked used) so that a second click shows the page again.
        let expiration_ts = self.core.renew_account_for_user(cache, &owner.user_id, None, false, Some(token)).await?;
        Ok(web::html(200, notice::renewed_page(expiration_ts)))
    }

    /// # `POST /_synapse/client/account_validity/admin`
    ///
    /// Sets a user's expiration time (and notice addresses); needs `admin_secret`.
    #[web_resource("/_synapse/client/account_validity/admin", method = "POST")]
    pub async fn admin(&self, request: WebRequest) -> Result<WebResponse, CallbackError> {
        check_admin(self.admin_secret.as_deref(), &request)?;
        let body: AdminRequest = web::json_body(&request)?;
        let user_id = parse_user_id(body.user_id)?;
        let cache = self.get_expiration_ts_for_user_cache();
        let email_sent = !body.enable_renewal_emails.unwrap_or(true);
        let expiration_ts =
            self.core.renew_account_for_user(cache, user_id.as_str(), body.expiration_ts, email_sent, None).await?;
        if let Some(emails) = body.emails {
            self.core.store.set_addresses(user_id.as_str(), emails).await?;
        }
        Ok(web::json(200, &serde_json::json!({ "expiration_ts": expiration_ts })))
    }

    /// # `POST /_synapse/client/account_validity/send_mail`
    ///
    /// Sends a user a renewal notice now; needs `admin_secret`.
    #[web_resource("/_synapse/client/account_validity/send_mail", method = "POST")]
    pub async fn send_mail(&self, request: WebRequest) -> Result<WebResponse, CallbackError> {
        check_admin(self.admin_secret.as_deref(), &request)?;
        let body: SendMailRequest = web::json_body(&request)?;
        let user_id = parse_user_id(body.user_id)?;
        let Some(expiration_ts) = self.get_expiration_ts_for_user(user_id.to_string()).await? else {
            return Err(
                MatrixError::new(400, ErrCode::UNKNOWN, format!("User has no expiration time: {user_id}")).into()
            );
        };
        let cache = self.get_expiration_ts_for_user_cache();
        self.core.send_renewal_email(cache, user_id.as_str(), expiration_ts).await?;
        Ok(web::json(200, &serde_json::json!({})))
    }
}

#[cfg(test)]
mod tests;
