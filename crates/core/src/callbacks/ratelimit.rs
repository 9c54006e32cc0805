//! Rate-limit callbacks (`register_ratelimit_callbacks`, `SYNAPSE.md` §6). Failures
//! propagate (500), as in Synapse.

use crate::{
    callbacks::{
        outcome::{DenySpec, RatelimitOverride},
        rules::FirstSome,
        FailurePolicy,
    },
    types::UserId,
};

crate::callbacks::define_category! {
    /// The rate-limit callbacks every module implements, in YAML order.
    category ratelimit, slice MXMOD_RATELIMIT_CALLBACKS, enum RatelimitCallback, struct RatelimitCallbacks;

    /// `get_ratelimit_override_for_user(user_id, limiter_name)`: every check of a
    /// limiter acting for a user (`rc_message`, `rc_joins.local`, `rc_invites.per_room`,
    /// `rc_invites.per_user`, `rc_invites.per_issuer`, `rc_media_create`). The first
    /// `Some` replaces the limiter's rate and burst for this check; `per_second == 0.0`
    /// exempts the user.
    fn get_ratelimit_override_for_user(user_id: &'a UserId, limiter_name: &'a str) -> Option<RatelimitOverride>
        where rule = FirstSome<RatelimitOverride>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;
}
