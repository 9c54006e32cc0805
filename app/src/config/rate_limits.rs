//! The `rc_*` keys: Synapse's rate-limit settings. Each setting is `per_second` and
//! `burst_count`; a key left out takes the default of the limiter it configures (as
//! Synapse's `RatelimitSettings.parse` does), and a setting left out is all defaults.

use mxmod::config::ConfigProblem;
use serde::Deserialize;

use super::HomeserverConfig;

/// One limiter's parameters: a sustained rate and the burst allowed on top of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Actions per second in the long run.
    pub per_second: f64,
    /// Actions allowed at once.
    pub burst_count: u32,
}

impl RateLimit {
    /// A rate and a burst.
    pub const fn new(per_second: f64, burst_count: u32) -> Self {
        Self { per_second, burst_count }
    }
}

/// One rate-limit setting as written.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct RateLimitConfig {
    /// `per_second`: actions per second in the long run (> 0).
    pub per_second: Option<f64>,
    /// `burst_count`: actions allowed at once (>= 1; a fraction is cut off, as in Synapse).
    pub burst_count: Option<f64>,
}

impl RateLimitConfig {
    /// The setting, with the keys left out taken from `default`.
    pub fn resolve(&self, default: RateLimit) -> RateLimit {
        RateLimit {
            per_second: self.per_second.unwrap_or(default.per_second),
            // `as` saturates: 1e12 becomes u32::MAX, which is "no burst limit".
            burst_count: self.burst_count.map_or(default.burst_count, |burst| burst as u32),
        }
    }

    fn problems(&self, key: &str, text: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Some(rate) = self.per_second.filter(|rate| !(rate.is_finite() && *rate > 0.0)) {
            let message = format!("`per_second` must be a number above 0, not {rate}");
            problems.push(ConfigProblem::located(text, &format!("{key}.per_second"), &message));
        }
        if let Some(burst) = self.burst_count.filter(|burst| burst.is_nan() || *burst < 1.0) {
            let message = format!("`burst_count` must be at least 1, not {burst}");
            problems.push(ConfigProblem::located(text, &format!("{key}.burst_count"), &message));
        }
        problems
    }
}

/// `rc_login`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct LoginRateLimits {
    /// `address`: login attempts per client address.
    #[serde(default)]
    pub address: RateLimitConfig,
    /// `account`: successful logins per account.
    #[serde(default)]
    pub account: RateLimitConfig,
    /// `failed_attempts`: failed logins per account.
    #[serde(default)]
    pub failed_attempts: RateLimitConfig,
}

/// `rc_joins` (only `local`: mxmod does not federate).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct JoinRateLimits {
    /// `local`: joins per local user.
    #[serde(default)]
    pub local: RateLimitConfig,
}

/// `rc_invites`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct InviteRateLimits {
    /// `per_room`: invites sent into one room.
    #[serde(default)]
    pub per_room: RateLimitConfig,
    /// `per_user`: invites one user receives.
    #[serde(default)]
    pub per_user: RateLimitConfig,
    /// `per_issuer`: invites one user sends.
    #[serde(default)]
    pub per_issuer: RateLimitConfig,
}

/// Every out-of-range `rc_*` value, located in the file.
pub(super) fn problems(config: &HomeserverConfig, text: &str) -> Vec<ConfigProblem> {
    [
        ("rc_message", &config.rc_message),
        ("rc_registration", &config.rc_registration),
        ("rc_login.address", &config.rc_login.address),
        ("rc_login.account", &config.rc_login.account),
        ("rc_login.failed_attempts", &config.rc_login.failed_attempts),
        ("rc_joins.local", &config.rc_joins.local),
        ("rc_invites.per_room", &config.rc_invites.per_room),
        ("rc_invites.per_user", &config.rc_invites.per_user),
        ("rc_invites.per_issuer", &config.rc_invites.per_issuer),
        ("rc_media_create", &config.rc_media_create),
        ("rc_3pid_validation", &config.rc_3pid_validation),
    ]
    .into_iter()
    .flat_map(|(key, setting)| setting.problems(key, text))
    .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::load_text;

    const DEFAULT: RateLimit = RateLimit::new(0.17, 3);

    #[test]
    fn left_out_keys_take_the_default_and_given_ones_override_it() {
        let text = "server_name: a.b\nrc_message: { burst_count: 20.7 }\nrc_login:\n  address: { per_second: 1 }\n";
        let loaded = load_text(text, "hs.yaml", PathBuf::new()).unwrap();
        let config = &loaded.homeserver;
        assert_eq!(config.rc_message.resolve(DEFAULT), RateLimit::new(0.17, 20));
        assert_eq!(config.rc_login.address.resolve(DEFAULT), RateLimit::new(1.0, 3));
        assert_eq!(config.rc_login.account.resolve(DEFAULT), DEFAULT);
        assert_eq!(config.rc_media_create.resolve(DEFAULT), DEFAULT);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn rates_and_bursts_out_of_range_are_located_problems() {
        let text = "server_name: a.b\nrc_invites:\n  per_user:\n    per_second: 0\n    burst_count: 0.5\n";
        let shown = load_text(text, "hs.yaml", PathBuf::new()).unwrap_err().to_string();
        assert!(shown.contains("`per_second` must be a number above 0, not 0"), "{shown}");
        assert!(shown.contains("`burst_count` must be at least 1, not 0.5"), "{shown}");
        assert!(shown.contains("hs.yaml:4:") && shown.contains("hs.yaml:5:"), "{shown}");
    }
}
