//! Synapse's admin API under `/_synapse/admin`: shared-secret registration, users
//! (list, query, create or modify, deactivate), room deletion, and mxmod's module
//! reload. Everything but registration is for server admins only (403 `M_FORBIDDEN`).

mod register;
mod reload;
mod room_delete;
mod users;

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};
use mxmod::{types::OwnedUserId, ErrCode};

pub(crate) use self::room_delete::DeleteTasks;
pub(super) use self::{
    register::{register_nonce, register_with_shared_secret},
    reload::reload_modules,
    room_delete::{delete_room, delete_status, room_delete_status},
    users::{deactivate_user, get_user, list_users, put_user},
};
use super::account;
use crate::{
    access_token,
    http::{extract_user, ApiError, ApiResult, Auth},
    state::{now_ms, AppState},
    storage::{NewAccount, Profile, UserRecord},
};

/// An authenticated server admin; anyone else is answered 403 `M_FORBIDDEN`.
pub(super) struct AdminAuth(pub(super) Auth);

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let auth = Auth::from_request_parts(parts, state).await?;
        if !auth.is_admin {
            return Err(ApiError::new(403, ErrCode::FORBIDDEN, "You are not a server admin"));
        }
        Ok(AdminAuth(auth))
    }
}

/// A user ID from the path that must be of this server (400 `what` otherwise).
fn local_user(state: &AppState, text: &str, what: &str) -> ApiResult<OwnedUserId> {
    let user_id = extract_user(text)?;
    if user_id.server_name() != state.settings.server_name {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, what));
    }
    Ok(user_id)
}

/// An account an admin creates (shared-secret registration, `PUT /v2/users/{id}`).
struct NewLocalUser {
    user_id: OwnedUserId,
    password: Option<String>,
    admin: bool,
    displayname: Option<String>,
    /// Issue an access token and device for it.
    login: bool,
}

/// Creates the account in one transaction (user, profile, first token), as Synapse's
/// `register_user` with `by_admin`: no registration spam check, then
/// `on_user_registration`. 400 `M_USER_IN_USE` if the ID is taken. Returns the
/// `(access token, device)` when `login`.
async fn create_local_user(state: &Arc<AppState>, new: NewLocalUser) -> ApiResult<Option<(String, String)>> {
    if state.storage.user(&new.user_id).await?.is_some() {
        return Err(ApiError::new(400, ErrCode::USER_IN_USE, "User ID already taken."));
    }
    let password_hash = match new.password {
        Some(password) => Some(account::hash_password(state, password).await?),
        None => None,
    };
    let record = UserRecord {
        user_id: new.user_id.clone(),
        password_hash,
        is_admin: new.admin,
        shadow_banned: false,
        deactivated: false,
        creation_ts: now_ms(),
    };
    let displayname = new.displayname.unwrap_or_else(|| new.user_id.localpart().to_owned());
    let profile = Profile { displayname: Some(displayname), avatar_url: None };
    let login = new.login.then(|| account::new_login(None));
    let stored_login = login.as_ref().map(|(token, device)| (access_token::stored_form(token), device.clone()));
    if !state.storage.register(NewAccount { user: record, profile, login: stored_login }).await? {
        return Err(ApiError::new(400, ErrCode::USER_IN_USE, "User ID already taken."));
    }
    state.modules.callbacks().account_validity.on_user_registration(&new.user_id).await?;
    Ok(login)
}
