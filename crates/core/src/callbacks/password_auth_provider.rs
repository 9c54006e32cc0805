//! Password auth provider callbacks (`register_password_auth_provider_callbacks`,
//! `SYNAPSE.md` §6).
//!
//! Synapse's `auth_checkers` is a dict from `(login_type, fields)` to a checker. Here it
//! is two callbacks: `auth_checkers` declares the [`LoginType`]s a module handles (asked
//! when `GET /login` lists flows and when `POST /login` arrives), and `check_auth` is the
//! checker. The server calls `check_auth` only for a declared login type, once every
//! declared field is present; a module declaring several types (or sharing a type with
//! another module) is asked for each of them and answers `None` for the ones it leaves to
//! others.

use crate::{
    callbacks::{
        outcome::{AuthResult, DenyShape, DenySpec, LoginType},
        rules::{All, Concat, FirstFalse, FirstSome},
        FailurePolicy,
    },
    error::ErrCode,
    types::{JsonObject, UserId},
};

crate::callbacks::define_category! {
    /// The password auth provider callbacks every module implements, in YAML order.
    category password_auth_provider, slice MXMOD_PASSWORD_AUTH_PROVIDER_CALLBACKS, enum PasswordAuthProviderCallback, struct PasswordAuthProviderCallbacks;

    /// `auth_checkers`' keys: the login types this module handles and the fields each
    /// needs. They appear in `GET /login` (after `m.login.password`). Every module's list,
    /// in YAML order; a failing module declares nothing.
    fn auth_checkers() -> Vec<LoginType>
        where rule = Concat<LoginType>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `auth_checkers`' checker `check_auth(username, login_type, login_dict)`: `POST
    /// /login` with a declared type. `username` is the request's `identifier.user` (or
    /// `user`) as given, a localpart or a user ID. The first `Some` logs that user in;
    /// when none answers, `m.login.password` falls back to the local password, any other
    /// type is 403 `M_FORBIDDEN` "Invalid username or password". A failing checker is
    /// logged and the next one is asked.
    fn check_auth(username: &'a str, login_type: &'a str, login_dict: &'a JsonObject) -> Option<AuthResult>
        where rule = FirstSome<AuthResult>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `check_3pid_auth(medium, address, password)`: `POST /login` with an
    /// `m.id.thirdparty` identifier and a password, before the local 3PID lookup. The
    /// first `Some` logs that user in. A failing callback is logged and the next one is
    /// asked.
    fn check_3pid_auth(medium: &'a str, address: &'a str, password: &'a str) -> Option<AuthResult>
        where rule = FirstSome<AuthResult>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `on_logged_out(user_id, device_id, access_token)`: an access token was revoked by
    /// `/logout` or `/logout/all` (once per token). ALL; failures are logged.
    fn on_logged_out(user_id: &'a UserId, device_id: Option<&'a str>, access_token: &'a str) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `get_username_for_registration(uia_results, params)`: `POST /register` after its
    /// user-interactive auth; `params` is the request body without `auth`. The first
    /// `Some` is the localpart to register (the request's `username` otherwise).
    fn get_username_for_registration(uia_results: &'a JsonObject, params: &'a JsonObject) -> Option<String>
        where rule = FirstSome<String>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Propagate { status: 500, errcode: ErrCode::UNKNOWN, error: "Internal Server Error" };

    /// `get_displayname_for_registration(uia_results, params)`: as above; the first
    /// `Some` is the new user's display name (the localpart otherwise).
    fn get_displayname_for_registration(uia_results: &'a JsonObject, params: &'a JsonObject) -> Option<String>
        where rule = FirstSome<String>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Propagate { status: 500, errcode: ErrCode::UNKNOWN, error: "Internal Server Error" };

    /// `is_3pid_allowed(medium, address, registration)`: a 3PID is about to be
    /// validated (`.../email/requestToken`). The first `false` → 403
    /// `M_THREEPID_DENIED`.
    fn is_3pid_allowed(medium: &'a str, address: &'a str, registration: bool) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(403, ErrCode::THREEPID_DENIED, "Third party identifier is not allowed", DenyShape::Fixed),
        on_error = FailurePolicy::Propagate { status: 500, errcode: ErrCode::UNKNOWN, error: "Internal Server Error" };
}
