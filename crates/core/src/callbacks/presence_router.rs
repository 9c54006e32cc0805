//! Presence-router callbacks (`register_presence_router_callbacks`, `SYNAPSE.md` §3.4).
//! A module implements both or neither (checked at start-up). Failures are logged and
//! the module is skipped.

use crate::{
    callbacks::{
        outcome::{DenySpec, InterestedUsers},
        rules::{PresenceRouting, UnionByUser, UnionUsers},
        FailurePolicy,
    },
    types::{UserId, UserPresenceState},
};

crate::callbacks::define_category! {
    /// The presence-router callbacks every module implements, in YAML order.
    category presence_router, slice MXMOD_PRESENCE_ROUTER_CALLBACKS, enum PresenceRouterCallback, struct PresenceRouterCallbacks;

    /// `get_users_for_states(state_updates)`: which users (besides room-sharing ones)
    /// receive these presence updates. UNION per user.
    fn get_users_for_states(state_updates: &'a [UserPresenceState]) -> PresenceRouting
        where rule = UnionByUser,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `get_interested_users(user_id)`: whose presence this user sees (besides
    /// room-sharing ones), or everyone's. UNION; the first `All` wins.
    fn get_interested_users(user_id: &'a UserId) -> InterestedUsers
        where rule = UnionUsers,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;
}
