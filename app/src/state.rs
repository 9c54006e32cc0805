//! The shared state of a running server: settings, storage (with the `/sync` wake-ups
//! behind it), modules, metrics, rate limits and the password pool.

use std::{path::PathBuf, sync::Arc};

use mxmod::{registry::Registry, types::OwnedServerName};

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
}

/// Everything a request handler needs.
pub(crate) struct AppState {
    pub(crate) settings: Settings,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) modules: Registry,
    pub(crate) metrics: Metrics,
    /// The `rc_*` rate limiters.
    pub(crate) limits: Arc<RateLimits>,
    /// Argon2 off the async workers.
    pub(crate) passwords: Passwords,
    /// Who is typing (per-process, in memory).
    pub(crate) typing: Arc<crate::typing::Typing>,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
