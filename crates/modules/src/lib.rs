//! The modules shipped with mxmod. Each is a cargo feature of this crate (and of
//! `mxmod-app`). The `default` set is every shipped module, so the standard `mxmod`
//! binary holds them all; its embedded config enables `demo`, `list_spam_checker` and
//! `custom_presence_router`, and an operator's `homeserver.yaml` names the ones it wants.
//! A slimmer binary: `cargo build -p mxmod-app --no-default-features --features a,b`.
//!
//! | feature / module | what it does |
//! |---|---|
//! | `demo` | Synapse's documentation example: `@evilguy` may not create rooms; `GET /_synapse/client/demo/hello?name=X` answers `{"hello": "X"}` |
//! | `list_spam_checker` | denies events from `evil_users`; `GET /_synapse/client/list_spam_checker/is_evil?user=X` |
//! | `event_censorer` | posts each local event to an HTTP endpoint and applies the content it returns |
//! | `custom_presence_router` | routes presence between users named in config |
//! | `user_department` | looks up users' departments (cached), keeps invites within a department, invalidates on demand |
//! | `account_validity` | after synapse-email-account-validity: accounts expire after a period unless renewed through a mailed link |
//! | `auto_accept_invite` | port of synapse-auto-accept-invite: local users join the rooms they are invited to, optionally DMs only |
//! | `http_antispam` | port of synapse-http-antispam: asks an HTTP antispam service (Meowlnir, Draupnir) about every spam-checker callback |
//! | `domain_rule_checker` | port of synapse-domain-rule-checker: allows or refuses invites and joins by the users' domains |
//! | `shared_secret_auth` | port of matrix-synapse-shared-secret-auth: logs a user in with an HMAC of their ID under a shared secret |
//!
//! The last five are ports of real Synapse modules, each documented on its own page.
//! Being compiled in enables nothing: each is a site policy an operator opts into by
//! listing it (and three of them need a service, a domain policy or an SMTP relay).

#[cfg(feature = "account_validity")]
pub mod account_validity;
#[cfg(feature = "auto_accept_invite")]
pub mod auto_accept_invite;
#[cfg(feature = "custom_presence_router")]
pub mod custom_presence_router;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "domain_rule_checker")]
pub mod domain_rule_checker;
#[cfg(feature = "event_censorer")]
pub mod event_censorer;
#[cfg(feature = "http_antispam")]
pub mod http_antispam;
#[cfg(feature = "list_spam_checker")]
pub mod list_spam_checker;
#[cfg(feature = "shared_secret_auth")]
pub mod shared_secret_auth;
#[cfg(feature = "user_department")]
pub mod user_department;

#[cfg(all(test, any(feature = "event_censorer", feature = "http_antispam", feature = "user_department")))]
#[allow(dead_code, reason = "shared test support: each module's tests use a part of it")]
mod test_http;

/// Every module this crate ships, whether or not its feature is enabled.
pub const SHIPPED: &[&str] = &[
    "account_validity",
    "auto_accept_invite",
    "custom_presence_router",
    "demo",
    "domain_rule_checker",
    "event_censorer",
    "http_antispam",
    "list_spam_checker",
    "shared_secret_auth",
    "user_department",
];

/// The modules whose features are enabled in this build. Calling it also makes sure
/// this crate — and so every enabled module's registry entries — is linked.
pub fn enabled() -> Vec<&'static str> {
    let flags = [
        ("account_validity", cfg!(feature = "account_validity")),
        ("auto_accept_invite", cfg!(feature = "auto_accept_invite")),
        ("custom_presence_router", cfg!(feature = "custom_presence_router")),
        ("demo", cfg!(feature = "demo")),
        ("domain_rule_checker", cfg!(feature = "domain_rule_checker")),
        ("event_censorer", cfg!(feature = "event_censorer")),
        ("http_antispam", cfg!(feature = "http_antispam")),
        ("list_spam_checker", cfg!(feature = "list_spam_checker")),
        ("shared_secret_auth", cfg!(feature = "shared_secret_auth")),
        ("user_department", cfg!(feature = "user_department")),
    ];
    flags.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    /// Every enabled feature's module reached the registry through linkme, emitted via
    /// `mxmod`'s re-export from this separate crate.
    #[test]
    fn every_enabled_module_is_in_the_registry() {
        for name in super::enabled() {
            assert!(mxmod::registry::find_module(name).is_some(), "module `{name}` is enabled but not registered");
        }
        for descriptor in mxmod::registry::compiled_in() {
            assert_eq!(descriptor.crate_name, "mxmod-modules");
            assert!(super::SHIPPED.contains(&descriptor.name));
        }
    }
}
