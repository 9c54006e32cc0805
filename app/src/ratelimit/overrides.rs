//! `get_ratelimit_override_for_user` (`SYNAPSE.md` §6, A31): before a limiter acting for
//! a user counts an action, modules may replace its rate and burst for that user; a rate
//! of 0 exempts them. With no module implementing the callback the check is the plain
//! limiter's, with no `await` in between.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

use governor::{clock::Clock, middleware::NoOpMiddleware, RateLimiter};
use mxmod::{callbacks::ratelimit::get_ratelimit_override_for_user, types::UserId};

use super::{quota, store::Probe, store::ProbeStore, Limiter};
use crate::{config::RateLimit, http::ApiResult, state::AppState};

/// At most this many distinct overrides keep buckets per limiter; past it the buckets
/// start over (modules choose overrides, clients do not, so this is a safety bound).
const MAX_OVERRIDES: usize = 64;

type Bucket<C> = RateLimiter<Probe, ProbeStore, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The buckets per override `(per_second bits, burst)`.
type BucketsByOverride<C> = HashMap<(u64, u32), Arc<Bucket<C>>>;

/// The buckets of one limiter under each override `(per_second bits, burst)`.
pub(super) struct Overridden<C: Clock> {
    limiters: Mutex<BucketsByOverride<C>>,
}

impl<C: Clock> Default for Overridden<C> {
    fn default() -> Self {
        Self { limiters: Mutex::new(HashMap::new()) }
    }
}

impl<C: Clock + Clone> Overridden<C> {
    /// The buckets for this rate and burst, made on first use.
    pub(super) fn limiter(&self, limit: RateLimit, clock: &C) -> Arc<Bucket<C>> {
        let mut limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (limit.per_second.to_bits(), limit.burst_count);
        if !limiters.contains_key(&key) && limiters.len() >= MAX_OVERRIDES {
            limiters.clear();
        }
        limiters
            .entry(key)
            .or_insert_with(|| Arc::new(RateLimiter::new(quota(limit), ProbeStore::default(), clock.clone())))
            .clone()
    }

    /// Drops refilled keys (and override limiters holding none).
    pub(super) fn prune(&self) {
        let mut limiters = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        limiters.retain(|_, limiter| {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            !limiter.is_empty()
        });
    }
}

/// The limit a limiter applies to one user's actions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum UserLimit {
    /// The configured `rc_*` rate and burst.
    Configured,
    /// A module exempted the user (rate 0).
    Exempt,
    /// A module's rate and burst for this user.
    Override(RateLimit),
}

/// The limit of Synapse's limiter `name` (such as `rc_message`) for `user`: the first
/// module override, else the configured one.
pub(crate) async fn user_limit(state: &AppState, name: &str, user: &UserId) -> ApiResult<UserLimit> {
    let hooks = &state.modules.callbacks().ratelimit;
    if !get_ratelimit_override_for_user::is_implemented(hooks) {
        return Ok(UserLimit::Configured);
    }
    Ok(match hooks.get_ratelimit_override_for_user(user, name).await? {
        None => UserLimit::Configured,
        Some(limit) if limit.per_second <= 0.0 || !limit.per_second.is_finite() => UserLimit::Exempt,
        Some(limit) => UserLimit::Override(RateLimit::new(limit.per_second, limit.burst_count)),
    })
}

/// Performs one action of `user` on `limiter` (Synapse's limiter `name`), counted under
/// `key`, with the modules' override for that user. Without a module implementing the
/// callback this is the plain check, with no `await` in between.
pub(crate) async fn check_for_user(
    state: &AppState,
    limiter: &Limiter,
    name: &str,
    user: &UserId,
    key: impl Hash,
) -> ApiResult<()> {
    if !get_ratelimit_override_for_user::is_implemented(&state.modules.callbacks().ratelimit) {
        return Ok(limiter.check(key)?);
    }
    let limit = user_limit(state, name, user).await?;
    Ok(limiter.check_as(key, limit)?)
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn an_override_has_buckets_of_its_own() {
        let clock = FakeRelativeClock::default();
        let limiter = Limiter::with_clock(RateLimit::new(0.001, 1), clock);
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.check("alice").is_err());
        let generous = RateLimit::new(0.001, 3);
        for _ in 0..3 {
            assert!(limiter.check_as("alice", UserLimit::Override(generous)).is_ok());
        }
        assert!(limiter.check_as("alice", UserLimit::Override(generous)).is_err());
        assert!(limiter.check_as("alice", UserLimit::Exempt).is_ok());
    }

    #[test]
    fn override_buckets_are_bounded() {
        let clock = FakeRelativeClock::default();
        let overridden = Overridden::default();
        for burst in 1..=(MAX_OVERRIDES as u32 + 10) {
            let _ = overridden.limiter(RateLimit::new(1.0, burst), &clock);
        }
        assert!(overridden.limiters.lock().unwrap().len() <= MAX_OVERRIDES);
    }
}
