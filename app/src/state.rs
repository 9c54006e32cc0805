//! The shared state of a running server: settings, storage (with the `/sync` wake-ups
//! behind it), modules, metrics, rate limits and the password pool.

use std::{path::PathBuf, sync::Arc};

use mxmod::types::OwnedServerName;

use crate::{metrics::Metrics, password::Passwords, ratelimit::RateLimits, storage::Storage};

/// Settings the request handlers read.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) server_name: OwnedServerName,
    pub(crate) max_upload_size: u64,
    pub(crate) enable_registration: bool,
    pub(crate) presence_enabled: bool,
    pub(crate) enable_metrics: bool,
    pub(crate) media_store: PathBuf,
    pub(crate) limits: crate::config::LimitsConfig,
    /// `registration_shared_secret`.
    pub(crate) registration_shared_secret: Option<String>,
    /// `public_baseurl`, ending in `/` (links in mails).
    pub(crate) public_baseurl: String,
    /// The `email:` section's SMTP server; `None`: no mail, email validation off.
    pub(crate) mailer: Option<Arc<mxmod::mail::Mailer>>,
    /// `request_token_inhibit_3pid_errors`.
    pub(crate) request_token_inhibit_3pid_errors: bool,
}

/// Everything a request handler needs.
pub(crate) struct AppState {
    pub(crate) settings: Settings,
    pub(crate) storage: Arc<dyn Storage>,
    /// The running modules, replaceable by a reload.
    pub(crate) modules: crate::modules::LiveModules,
    /// Reloads the modules (`SIGHUP`, the admin API).
    pub(crate) reloader: crate::reload::Reloader,
    pub(crate) metrics: Metrics,
    /// The `rc_*` rate limiters.
    pub(crate) limits: Arc<RateLimits>,
    /// Argon2 off the async workers.
    pub(crate) passwords: Passwords,
    /// Who is typing (per-process, in memory).
    pub(crate) typing: Arc<crate::typing::Typing>,
    /// Outstanding shared-secret registration nonces.
    pub(crate) nonces: crate::shared_secret::Nonces,
    /// The admin API's room deletions and their status.
    pub(crate) deletions: crate::handlers::DeleteTasks,
    /// Rooms being upgraded now.
    pub(crate) upgrades: crate::rooms::UpgradesInProgress,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
