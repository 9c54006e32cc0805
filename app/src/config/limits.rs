//! `limits:` — what one client may hold of the server: connections, how long reading a
//! request may take, and the shadow-ban delay. mxmod's own section (Synapse has no
//! equivalent keys); every value has a safe default.

use std::time::Duration;

use serde::Deserialize;

/// The `limits:` section. Times are whole milliseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections per listener; at the cap the oldest idle connection is closed
    /// for a new one, and a new one is refused when none is idle.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, once its headers are in.
    pub body_read_timeout_ms: u64,
    /// How long a connection may sit idle between requests before it is closed.
    pub idle_timeout_ms: u64,
    /// The random delay before a shadow-banned user's request is answered, `[min, max]`.
    /// Synapse's 1–10 s by default; shorten it only in tests.
    pub shadow_ban_delay_ms: [u64; 2],
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            idle_timeout_ms: 90_000,
            shadow_ban_delay_ms: [1000, 10_000],
        }
    }
}

impl LimitsConfig {
    /// The header read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    /// The body read timeout.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
    /// The keep-alive idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}
