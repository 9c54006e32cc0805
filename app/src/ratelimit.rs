//! Rate limits with Synapse's config keys and defaults (`rc_message`, `rc_registration`,
//! `rc_login.*`, `rc_joins.local`, `rc_invites.*`, `rc_media_create`,
//! `rc_3pid_validation`), each a keyed
//! `governor` limiter. A limited request gets 429 `M_LIMIT_EXCEEDED` with `retry_after_ms`
//! and a `Retry-After` header, as Synapse answers.
//!
//! Memory stays bounded: a key whose bucket has refilled is indistinguishable from a new
//! one, and [`RateLimits::prune`] (run every minute by [`RateLimits::spawn_pruning`])
//! drops such keys, so a flood from a million addresses shrinks back once it stops.

mod overrides;
mod store;

use std::{
    hash::{BuildHasher, Hash},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use governor::{
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    Quota, RateLimiter,
};
use mxmod::{ErrCode, MatrixError};

pub(crate) use self::overrides::{check_for_user, user_limit, UserLimit};
use self::store::{Probe, ProbeStore};
use crate::{
    config::{HomeserverConfig, RateLimit},
    http::ApiError,
};

/// How often stale keys are dropped (Synapse prunes its buckets every minute too).
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

fn quota(limit: RateLimit) -> Quota {
    // Config validation refuses rates <= 0; a huge rate rounds to one action per nanosecond.
    let period = Duration::from_secs_f64(1.0 / limit.per_second).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst_count).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst)
}

/// Synapse's defaults (`synapse/config/ratelimiting.py`).
pub(crate) mod defaults {
    use super::RateLimit;

    /// `rc_message`.
    pub(crate) const MESSAGE: RateLimit = RateLimit::new(0.2, 10);
    /// `rc_registration`.
    pub(crate) const REGISTRATION: RateLimit = RateLimit::new(0.17, 3);
    /// `rc_login.address`.
    pub(crate) const LOGIN_ADDRESS: RateLimit = RateLimit::new(0.003, 5);
    /// `rc_login.account`.
    pub(crate) const LOGIN_ACCOUNT: RateLimit = RateLimit::new(0.003, 5);
    /// `rc_login.failed_attempts`.
    pub(crate) const LOGIN_FAILED_ATTEMPTS: RateLimit = RateLimit::new(0.17, 3);
    /// `rc_joins.local`.
    pub(crate) const JOINS_LOCAL: RateLimit = RateLimit::new(0.1, 10);
    /// `rc_invites.per_room`.
    pub(crate) const INVITES_PER_ROOM: RateLimit = RateLimit::new(0.3, 10);
    /// `rc_invites.per_user`.
    pub(crate) const INVITES_PER_USER: RateLimit = RateLimit::new(0.003, 5);
    /// `rc_invites.per_issuer`.
    pub(crate) const INVITES_PER_ISSUER: RateLimit = RateLimit::new(0.3, 10);
    /// `rc_media_create`.
    pub(crate) const MEDIA_CREATE: RateLimit = RateLimit::new(10.0, 50);
    /// `rc_3pid_validation`.
    pub(crate) const THREEPID_VALIDATION: RateLimit = RateLimit::new(0.003, 5);
}

/// A refused action: how long until it would be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LimitExceeded {
    /// Until the next action is allowed.
    pub(crate) retry_after: Duration,
}

impl From<LimitExceeded> for ApiError {
    fn from(limited: LimitExceeded) -> Self {
        let mut error = MatrixError::new(429, ErrCode::LIMIT_EXCEEDED, "Too Many Requests");
        // Rounded up, and never 0: a client told to wait 0 ms would be refused again.
        let millis = u64::try_from(limited.retry_after.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX).max(1);
        error.fields.insert("retry_after_ms".to_owned(), millis.into());
        ApiError(error)
    }
}

/// One keyed limiter. Keys are 64-bit fingerprints (SipHash with a per-limiter random
/// key) of whatever the limit is per: an address, a user, a room. So every stored key is
/// the same few bytes, and a client cannot choose keys that collide.
pub(crate) struct Limiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<Probe, ProbeStore, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    fingerprints: std::hash::RandomState,
    /// Buckets under the rates modules set for some users (`get_ratelimit_override_for_user`).
    overridden: overrides::Overridden<C>,
}

impl Limiter {
    /// A limiter on the real clock.
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiter<C> {
    /// A limiter on the given clock (tests use governor's fake clock).
    pub(crate) fn with_clock(limit: RateLimit, clock: C) -> Self {
        Self {
            limiter: RateLimiter::new(quota(limit), ProbeStore::default(), clock.clone()),
            clock,
            fingerprints: std::hash::RandomState::new(),
            overridden: overrides::Overridden::default(),
        }
    }

    /// Performs one action for `key` under the limit in force for its user.
    pub(crate) fn check_as(&self, key: impl Hash, limit: UserLimit) -> Result<(), LimitExceeded> {
        self.under(key, limit, false)
    }

    /// Whether one action for `key` would be allowed under the limit in force for its
    /// user, counting nothing.
    pub(crate) fn peek_as(&self, key: impl Hash, limit: UserLimit) -> Result<(), LimitExceeded> {
        self.under(key, limit, true)
    }

    fn under(&self, key: impl Hash, limit: UserLimit, dry_run: bool) -> Result<(), LimitExceeded> {
        match limit {
            UserLimit::Configured => self.answer(self.probe(key, dry_run)),
            UserLimit::Exempt => Ok(()),
            // A module's override counts in buckets of its own, kept per distinct override.
            UserLimit::Override(limit) => self
                .overridden
                .limiter(limit, &self.clock)
                .check_key(&self.probe(key, dry_run))
                .map_err(|not_until| LimitExceeded { retry_after: not_until.wait_time_from(self.clock.now()) }),
        }
    }

    fn probe(&self, key: impl Hash, dry_run: bool) -> Probe {
        Probe { fingerprint: self.fingerprints.hash_one(key), dry_run }
    }

    fn answer(&self, probe: Probe) -> Result<(), LimitExceeded> {
        self.limiter
            .check_key(&probe)
            .map_err(|not_until| LimitExceeded { retry_after: not_until.wait_time_from(self.clock.now()) })
    }

    /// Performs one action for `key`: allowed and counted, or refused and not counted.
    pub(crate) fn check(&self, key: impl Hash) -> Result<(), LimitExceeded> {
        self.answer(self.probe(key, false))
    }

    /// Whether one action for `key` would be allowed now, counting nothing (Synapse's
    /// `update=False`).
    pub(crate) fn peek(&self, key: impl Hash) -> Result<(), LimitExceeded> {
        self.answer(self.probe(key, true))
    }

    /// Records one action for `key` whether or not it is within the limit (a failed
    /// login happened; it counts even if it crosses the limit).
    pub(crate) fn record(&self, key: impl Hash) {
        let _ = self.check(key);
    }

    /// Drops the keys whose buckets have refilled.
    pub(crate) fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.overridden.prune();
    }

    /// Keys currently held.
    pub(crate) fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Every limiter the server applies, built from the `rc_*` config.
pub(crate) struct RateLimits {
    /// `rc_message`: events a user sends (messages, state, room creation), per user.
    pub(crate) message: Limiter,
    /// `rc_registration`: registrations, per client address.
    pub(crate) registration: Limiter,
    /// `rc_login.address`: login attempts, per client address.
    pub(crate) login_address: Limiter,
    /// `rc_login.account`: successful logins, per account.
    pub(crate) login_account: Limiter,
    /// `rc_login.failed_attempts`: failed logins, per account; once used up, every login
    /// to that account is refused until it refills, right password or not.
    pub(crate) login_failed_attempts: Limiter,
    /// `rc_joins.local`: joins, per user.
    pub(crate) joins_local: Limiter,
    /// `rc_invites.per_room`: invites into a room.
    pub(crate) invites_per_room: Limiter,
    /// `rc_invites.per_user`: invites a user receives.
    pub(crate) invites_per_user: Limiter,
    /// `rc_invites.per_issuer`: invites a user sends.
    pub(crate) invites_per_issuer: Limiter,
    /// `rc_media_create`: uploads, per user.
    pub(crate) media_create: Limiter,
    /// `rc_3pid_validation`: validation mails asked for, per client address and per
    /// email address (two keys of one limiter, as Synapse's one `Ratelimiter`).
    pub(crate) threepid_validation: Limiter,
}

impl RateLimits {
    /// The limiters for a config (keys left out take Synapse's defaults).
    pub(crate) fn new(config: &HomeserverConfig) -> Self {
        let limiter = |limit: RateLimit| Limiter::new(limit);
        Self {
            message: limiter(config.rc_message.resolve(defaults::MESSAGE)),
            registration: limiter(config.rc_registration.resolve(defaults::REGISTRATION)),
            login_address: limiter(config.rc_login.address.resolve(defaults::LOGIN_ADDRESS)),
            login_account: limiter(config.rc_login.account.resolve(defaults::LOGIN_ACCOUNT)),
            login_failed_attempts: limiter(config.rc_login.failed_attempts.resolve(defaults::LOGIN_FAILED_ATTEMPTS)),
            joins_local: limiter(config.rc_joins.local.resolve(defaults::JOINS_LOCAL)),
            invites_per_room: limiter(config.rc_invites.per_room.resolve(defaults::INVITES_PER_ROOM)),
            invites_per_user: limiter(config.rc_invites.per_user.resolve(defaults::INVITES_PER_USER)),
            invites_per_issuer: limiter(config.rc_invites.per_issuer.resolve(defaults::INVITES_PER_ISSUER)),
            media_create: limiter(config.rc_media_create.resolve(defaults::MEDIA_CREATE)),
            threepid_validation: limiter(config.rc_3pid_validation.resolve(defaults::THREEPID_VALIDATION)),
        }
    }

    fn all(&self) -> [&Limiter; 11] {
        [
            &self.message,
            &self.registration,
            &self.login_address,
            &self.login_account,
            &self.login_failed_attempts,
            &self.joins_local,
            &self.invites_per_room,
            &self.invites_per_user,
            &self.invites_per_issuer,
            &self.media_create,
            &self.threepid_validation,
        ]
    }

    /// Drops every limiter's refilled keys.
    pub(crate) fn prune(&self) {
        let mut kept = 0;
        for limiter in self.all() {
            limiter.prune();
            kept += limiter.len();
        }
        tracing::debug!("rate limits: {kept} keys still draining");
    }

    /// Prunes every minute for as long as the limits are in use.
    pub(crate) fn spawn_pruning(limits: &Arc<Self>) {
        let limits = Arc::downgrade(limits);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(limits) = limits.upgrade() else { return };
                limits.prune();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(limit: RateLimit) -> (Limiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (Limiter::with_clock(limit, clock.clone()), clock)
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_the_time_to_wait() {
        let (limiter, _) = limiter(defaults::REGISTRATION);
        for _ in 0..3 {
            assert_eq!(limiter.check("10.0.0.1"), Ok(()));
        }
        let refused = limiter.check("10.0.0.1").unwrap_err();
        // One action per 1/0.17 s, as Synapse's retry_after_ms says after a full burst.
        assert_eq!(refused.retry_after.as_millis(), (1000.0 / 0.17) as u128);
        assert_eq!(ApiError::from(refused).0.fields["retry_after_ms"], 5883);
    }

    #[test]
    fn the_bucket_refills_at_the_configured_rate() {
        let (limiter, clock) = limiter(RateLimit::new(1.0, 2));
        assert!(limiter.check("k").is_ok() && limiter.check("k").is_ok());
        assert!(limiter.check("k").is_err());
        clock.advance(Duration::from_millis(999));
        assert!(limiter.check("k").is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check("k").is_ok());
        assert!(limiter.check("k").is_err());
    }

    #[test]
    fn keys_are_independent() {
        let (limiter, _) = limiter(RateLimit::new(0.01, 1));
        assert!(limiter.check("@a:x").is_ok());
        assert!(limiter.check("@a:x").is_err());
        assert!(limiter.check("@b:x").is_ok());
    }

    #[test]
    fn peek_counts_nothing_and_sees_a_used_up_bucket() {
        let (limiter, _) = limiter(RateLimit::new(0.01, 2));
        for _ in 0..10 {
            assert!(limiter.peek("k").is_ok());
        }
        assert_eq!(limiter.len(), 0, "peeking at an unknown key stores nothing");
        limiter.record("k");
        limiter.record("k");
        limiter.record("k");
        assert!(limiter.peek("k").is_err());
        assert!(limiter.check("k").is_err());
    }

    #[test]
    fn refilled_keys_are_pruned_so_memory_is_bounded() {
        let (limiter, clock) = limiter(defaults::LOGIN_ADDRESS);
        for n in 0..100_000u32 {
            let _ = limiter.check(std::net::Ipv4Addr::from(n));
        }
        assert_eq!(limiter.len(), 100_000);
        limiter.prune();
        assert_eq!(limiter.len(), 100_000, "buckets still draining are kept");
        // rc_login.address refills one action per 1/0.003 s; after that (and one more
        // interval, governor's margin) every key is back to new.
        clock.advance(Duration::from_secs_f64(2.0 / 0.003) + Duration::from_secs(1));
        limiter.prune();
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn a_refusal_is_synapses_429() {
        let error = ApiError::from(LimitExceeded { retry_after: Duration::from_millis(1500) });
        assert_eq!(error.0.status, 429);
        assert_eq!(error.0.errcode, ErrCode::LIMIT_EXCEEDED);
        assert_eq!(error.0.fields["retry_after_ms"], 1500);
        let almost_now = ApiError::from(LimitExceeded { retry_after: Duration::from_micros(300) });
        assert_eq!(almost_now.0.fields["retry_after_ms"], 1);
    }
}
