//! Account-validity callbacks (`register_account_validity_callbacks`, `SYNAPSE.md` §3.3).
//! Failures propagate (500), as in Synapse.

use crate::{
    callbacks::{
        outcome::{DenyShape, DenySpec},
        rules::{All, FirstValue},
        FailurePolicy,
    },
    error::ErrCode,
    types::UserId,
};

crate::callbacks::define_category! {
    /// The account-validity callbacks every module implements, in YAML order.
    category account_validity, slice MXMOD_ACCOUNT_VALIDITY_CALLBACKS, enum AccountValidityCallback, struct AccountValidityCallbacks;

    /// `is_user_expired(user_id)`: every authenticated request but logout. The first
    /// `Some` decides; `Some(true)` → 403 `ORG_MATRIX_EXPIRED_ACCOUNT` "User account has
    /// expired". FIRST-VALUE.
    fn is_user_expired(user_id: &'a UserId) -> Option<bool>
        where rule = FirstValue,
        deny = DenySpec::new(403, ErrCode::EXPIRED_ACCOUNT, "User account has expired", DenyShape::Fixed),
        on_error = FailurePolicy::INTERNAL;

    /// `on_user_registration(user_id)`: right after a user is stored. ALL.
    fn on_user_registration(user_id: &'a UserId) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;

    /// `on_user_login(user_id, auth_provider_type, auth_provider_id)`: after a login
    /// created its access token. ALL.
    fn on_user_login(user_id: &'a UserId, auth_provider_type: Option<&'a str>, auth_provider_id: Option<&'a str>) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;
}
