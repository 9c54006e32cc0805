//! Behaviour tests of `shared_secret_auth`, after the original module's README and code.

use std::sync::Arc;

use mxmod::{
    testing::{Harness, TestHost},
    types::JsonObject,
};
use serde_json::json;

use super::token_for;

const ALICE: &str = "@alice:example.com";

fn yaml(config: &str) -> String {
    let indented: String = config.lines().map(|line| format!("      {line}\n")).collect();
    format!("modules:\n  - module: shared_secret_auth\n    config:\n{indented}")
}

fn harness(config: &str) -> Harness {
    let host = TestHost::new();
    host.add_user(ALICE, false);
    let host: Arc<dyn mxmod::api::Host> = host;
    Harness::builder(&yaml(config)).host(host).start().unwrap()
}

fn dict(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// The user the module logs in, if any.
async fn check(harness: &Harness, username: &str, login_type: &str, login_dict: serde_json::Value) -> Option<String> {
    let providers = &harness.callbacks().password_auth_provider;
    let answer = providers.check_auth(username, login_type, &dict(login_dict)).await.unwrap();
    answer.map(|result| result.user_id.to_string())
}

#[test]
fn the_token_is_the_hex_hmac_sha512_of_the_full_user_id() {
    // hmac.new(b"secret", b"@alice:example.com", hashlib.sha512).hexdigest()
    assert_eq!(
        token_for("secret", ALICE).unwrap(),
        "63cd27ec02e50c9a4f120189978d2c318beac6310bef6655fdd306d195765a06\
         96032ce1365e8da9c60efb47c82c75fb26e2a9ba17de566a00e6ae64b9a3944a"
    );
}

#[tokio::test]
async fn by_default_only_the_devture_login_type_is_declared() {
    let harness = harness("shared_secret: secret");
    let declared = harness.callbacks().password_auth_provider.auth_checkers().await.unwrap();
    assert_eq!(declared, [mxmod::LoginType::new("com.devture.shared_secret_auth", &["token"])]);
    let both = harness_with_password();
    let declared = both.callbacks().password_auth_provider.auth_checkers().await.unwrap();
    let types: Vec<&str> = declared.iter().map(|t| t.login_type.as_str()).collect();
    assert_eq!(types, ["com.devture.shared_secret_auth", "m.login.password"]);
}

fn harness_with_password() -> Harness {
    harness("shared_secret: secret\nm_login_password_support_enabled: true")
}

#[tokio::test]
async fn a_good_token_logs_in_by_localpart_or_full_id() {
    let harness = harness("shared_secret: secret");
    let token = token_for("secret", ALICE).unwrap();
    let kind = "com.devture.shared_secret_auth";
    assert_eq!(check(&harness, "alice", kind, json!({ "token": token })).await.as_deref(), Some(ALICE));
    assert_eq!(check(&harness, ALICE, kind, json!({ "token": token })).await.as_deref(), Some(ALICE));
}

#[tokio::test]
async fn a_bad_token_a_missing_user_or_a_disabled_type_is_not_this_modules() {
    let harness = harness("shared_secret: secret");
    let kind = "com.devture.shared_secret_auth";
    let wrong_secret = token_for("other", ALICE).unwrap();
    assert_eq!(check(&harness, "alice", kind, json!({ "token": wrong_secret })).await, None);
    assert_eq!(check(&harness, "alice", kind, json!({ "token": 42 })).await, None);
    let bob = token_for("secret", "@bob:example.com").unwrap();
    assert_eq!(check(&harness, "bob", kind, json!({ "token": bob })).await, None, "bob does not exist");
    let good = token_for("secret", ALICE).unwrap();
    assert_eq!(check(&harness, "alice", "m.login.password", json!({ "password": good })).await, None);
}

#[tokio::test]
async fn the_password_variant_takes_the_token_as_password() {
    let harness = harness_with_password();
    let good = token_for("secret", ALICE).unwrap();
    assert_eq!(check(&harness, "alice", "m.login.password", json!({ "password": good })).await.as_deref(), Some(ALICE));
    assert_eq!(check(&harness, "alice", "m.login.password", json!({ "password": "hunter2" })).await, None);
}

#[test]
fn config_needs_a_secret_and_a_login_type() {
    let error = Harness::builder(&yaml("m_login_password_support_enabled: true")).start().err().unwrap();
    assert!(error.to_string().contains("shared_secret"), "{error}");
    let none = "shared_secret: s\ncom_devture_shared_secret_auth_support_enabled: false";
    let error = Harness::builder(&yaml(none)).start().err().unwrap();
    assert!(error.to_string().contains("At least one login type must be enabled"), "{error}");
}
