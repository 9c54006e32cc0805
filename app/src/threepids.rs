//! Users' third-party identifiers (e-mail addresses, phone numbers), set by server admins
//! through `PUT /_synapse/admin/v2/users/{user_id}` or by users through
//! `/account/3pid/add` (a validated email session) and `/account/3pid/delete`, with the
//! callbacks Synapse's
//! `AuthHandler` runs: adding one runs `on_add_user_third_party_identifier` then the
//! deprecated `on_threepid_bind`; removing one — also every one at deactivation — runs
//! `on_remove_user_third_party_identifier`. An identifier belongs to one user at most.

use mxmod::{types::UserId, ErrCode};
use serde_json::Value;

use crate::{
    http::{ApiError, ApiResult},
    state::{now_ms, AppState},
};

/// Most identifiers one request may set.
const MAX_THREEPIDS: usize = 100;

/// Longest medium or address accepted.
const MAX_FIELD: usize = 512;

/// The stored form of an address: e-mail addresses lower-cased, as Synapse's
/// `canonicalise_email` does.
fn canonical(medium: &str, address: &str) -> String {
    if medium == "email" {
        address.trim().to_lowercase()
    } else {
        address.to_owned()
    }
}

/// Longest email address accepted (Synapse's `MAX_EMAIL_ADDRESS_LENGTH`).
const MAX_EMAIL: usize = 500;

/// An email address as a client gives it, checked and in its stored form (Synapse's
/// `validate_email`): one `@` between a non-empty local part and domain, no spaces,
/// controls or angle brackets, at most 500 characters; lower-cased.
pub(crate) fn validate_email(address: &str) -> Result<String, String> {
    let address = canonical("email", address);
    let well_formed = address.len() <= MAX_EMAIL
        && address.split('@').count() == 2
        && address.split('@').all(|part| !part.is_empty())
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if well_formed {
        Ok(address)
    } else {
        Err("Unable to parse email address".to_owned())
    }
}

/// The `threepids` list of an admin request: `[{"medium", "address"}, ...]`.
pub(crate) fn parse_list(value: &Value) -> ApiResult<Vec<(String, String)>> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_json("`threepids` must be a list"));
    };
    if items.len() > MAX_THREEPIDS {
        return Err(ApiError::invalid_param(format!("At most {MAX_THREEPIDS} threepids")));
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        let field = |name: &str| match item.get(name) {
            Some(Value::String(text)) if !text.is_empty() && text.len() <= MAX_FIELD => Ok(text.as_str()),
            Some(_) => Err(ApiError::bad_json(format!("Invalid `{name}` in threepids"))),
            None => Err(ApiError::new(400, ErrCode::MISSING_PARAM, format!("Missing params: ['{name}']"))),
        };
        let medium = field("medium")?;
        let address = canonical(medium, field("address")?);
        if !parsed.iter().any(|(m, a)| m == medium && *a == address) {
            parsed.push((medium.to_owned(), address));
        }
    }
    Ok(parsed)
}

/// Adds one identifier to a user (400 `M_THREEPID_IN_USE` if another user holds it).
pub(crate) async fn add(state: &AppState, user_id: &UserId, medium: &str, address: &str) -> ApiResult<()> {
    if !state.storage.add_threepid(user_id, medium, address, now_ms()).await? {
        return Err(ApiError::new(400, ErrCode::custom("M_THREEPID_IN_USE"), "Third-party identifier already in use"));
    }
    let rules = &state.modules.callbacks().third_party_rules;
    rules.on_add_user_third_party_identifier(user_id, medium, address).await?;
    rules.on_threepid_bind(user_id, medium, address).await?;
    Ok(())
}

/// Removes one identifier of a user.
pub(crate) async fn remove(state: &AppState, user_id: &UserId, medium: &str, address: &str) -> ApiResult<()> {
    state.storage.remove_threepid(user_id, medium, address).await?;
    let rules = &state.modules.callbacks().third_party_rules;
    rules.on_remove_user_third_party_identifier(user_id, medium, address).await?;
    Ok(())
}

/// Makes `wanted` the user's identifiers: removes the others, then adds the new ones.
pub(crate) async fn replace(state: &AppState, user_id: &UserId, wanted: &[(String, String)]) -> ApiResult<()> {
    let current: Vec<(String, String)> =
        state.storage.threepids(user_id).await?.into_iter().map(|held| (held.medium, held.address)).collect();
    for (medium, address) in current.iter().filter(|held| !wanted.contains(held)) {
        remove(state, user_id, medium, address).await?;
    }
    for (medium, address) in wanted.iter().filter(|new| !current.contains(new)) {
        add(state, user_id, medium, address).await?;
    }
    Ok(())
}

/// Removes every identifier of a user (deactivation).
pub(crate) async fn remove_all(state: &AppState, user_id: &UserId) -> ApiResult<()> {
    replace(state, user_id, &[]).await
}
