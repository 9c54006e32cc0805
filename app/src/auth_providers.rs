//! Password auth providers in the login flow (`SYNAPSE.md` §6): the login types modules
//! declare, their checkers, `check_3pid_auth` and `on_logged_out`. `handlers/account.rs`
//! calls these; with no module in the category nothing here awaits.

use mxmod::{
    callbacks::password_auth_provider::{self, PasswordAuthProviderCallbacks},
    types::{JsonObject, UserId},
    AuthResult, ErrCode, LoginType,
};
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult},
    state::AppState,
};

/// The login type the server itself handles with the local password.
pub(crate) const PASSWORD: &str = "m.login.password";

/// The password auth providers of the registry serving this request.
struct Providers(crate::modules::CallbacksGuard);

impl std::ops::Deref for Providers {
    type Target = PasswordAuthProviderCallbacks;

    fn deref(&self) -> &PasswordAuthProviderCallbacks {
        &self.0.password_auth_provider
    }
}

fn providers(state: &AppState) -> Providers {
    Providers(state.modules.callbacks())
}

/// Every login type modules declare, in YAML order (empty without a module).
pub(crate) async fn declared_login_types(state: &AppState) -> Vec<LoginType> {
    let providers = providers(state);
    if !password_auth_provider::auth_checkers::is_implemented(&providers) {
        return Vec::new();
    }
    // `auth_checkers` failures are ignored (that module declares nothing), so this is Ok.
    providers.auth_checkers().await.unwrap_or_default()
}

/// The `flows` of `GET /login`: `m.login.password` first, then each declared type once.
pub(crate) async fn login_flows(state: &AppState) -> Vec<Value> {
    let mut types = vec![PASSWORD.to_owned()];
    for declared in declared_login_types(state).await {
        if !types.contains(&declared.login_type) {
            types.push(declared.login_type);
        }
    }
    types.into_iter().map(|kind| json!({ "type": kind })).collect()
}

/// The fields a declared login type needs: the first declaration's (Synapse keeps one
/// field list per type).
fn fields_of<'a>(declared: &'a [LoginType], login_type: &str) -> Option<&'a [String]> {
    declared.iter().find(|d| d.login_type == login_type).map(|d| d.fields.as_slice())
}

/// Asks the modules' checkers about a login of a declared type. `None` when the type is
/// not declared or no checker recognised the request. A declared type whose fields are
/// missing is 400 `M_UNKNOWN` "Missing parameters for login type ...", as in Synapse.
pub(crate) async fn check_login(
    state: &AppState,
    declared: &[LoginType],
    login_type: &str,
    username: &str,
    submission: &JsonObject,
) -> ApiResult<Option<AuthResult>> {
    let Some(fields) = fields_of(declared, login_type) else { return Ok(None) };
    let missing: Vec<&str> =
        fields.iter().filter(|f| !submission.contains_key(f.as_str())).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            400,
            ErrCode::UNKNOWN,
            format!("Missing parameters for login type {login_type}: {missing:?}"),
        ));
    }
    let login_dict: JsonObject = fields
        .iter()
        .filter_map(|field| submission.get(field.as_str()).map(|value| (field.clone(), value.clone())))
        .collect();
    Ok(providers(state).check_auth(username, login_type, &login_dict).await?)
}

/// `check_3pid_auth` for an `m.id.thirdparty` login with a password.
pub(crate) async fn check_3pid_login(
    state: &AppState,
    medium: &str,
    address: &str,
    password: &str,
) -> ApiResult<Option<AuthResult>> {
    let providers = providers(state);
    if !password_auth_provider::check_3pid_auth::is_implemented(&providers) {
        return Ok(None);
    }
    Ok(providers.check_3pid_auth(medium, address, password).await?)
}

/// `on_logged_out` for one revoked token (failures are logged by the hook).
pub(crate) async fn logged_out(state: &AppState, user_id: &UserId, device_id: Option<&str>, access_token: &str) {
    let _ = providers(state).on_logged_out(user_id, device_id, access_token).await;
}

/// `on_logged_out` once per token a password change or a device deletion deleted,
/// `(stored form, device)`, as Synapse does: tokens are stored hashed, so the module gets
/// the stored form.
pub(crate) async fn tokens_logged_out(state: &AppState, user_id: &UserId, deleted: &[(String, String)]) {
    let providers = providers(state);
    for (stored, device_id) in deleted {
        let _ = providers.on_logged_out(user_id, Some(device_id), stored).await;
    }
}

/// `get_username_for_registration` and `get_displayname_for_registration` after the
/// user-interactive auth of `POST /register`: `(localpart, display name)` overrides.
pub(crate) async fn registration_names(
    state: &AppState,
    uia_results: &JsonObject,
    params: &JsonObject,
) -> ApiResult<(Option<String>, Option<String>)> {
    let providers = providers(state);
    let username = providers.get_username_for_registration(uia_results, params).await?;
    let displayname = providers.get_displayname_for_registration(uia_results, params).await?;
    Ok((username, displayname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_declared_twice_keeps_its_first_fields() {
        let declared = [LoginType::new("x.token", &["token"]), LoginType::new("x.token", &["other"])];
        assert_eq!(fields_of(&declared, "x.token"), Some(&["token".to_owned()][..]));
        assert_eq!(fields_of(&declared, "m.login.password"), None);
    }
}
