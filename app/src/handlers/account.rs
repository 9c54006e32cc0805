//! Registration, login, logout, whoami and `/versions`, with `check_registration_for_spam`,
//! `on_user_registration`, `check_login_for_spam` and `on_user_login`. Registration and
//! login are rate limited as in Synapse (`rc_registration`, `rc_login.*`), and passwords
//! are hashed on the password pool.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use mxmod::{
    types::{JsonObject, OwnedUserId, RequestInfo, UserId},
    ErrCode, RegistrationBehaviour,
};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    access_token, auth_providers,
    http::{ApiError, ApiResult, Auth, AuthNoExpiry, ClientIp, JsonBody},
    state::{now_ms, AppState},
    storage::{NewAccount, Profile, TokenOwner, UserRecord},
};

/// The `/versions` answer, serialized once: it never changes while the server runs.
static VERSIONS: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let versions = json!({
        "versions": ["r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10"],
        "unstable_features": {}
    });
    serde_json::to_vec(&versions).unwrap_or_default()
});

/// `GET /_matrix/client/versions`.
pub(super) async fn versions() -> Response {
    versions_answer().map(axum::body::Body::from)
}

/// `/versions`' answer: its bytes are serialized once.
pub(super) fn versions_answer() -> http::Response<bytes::Bytes> {
    let mut response = http::Response::new(bytes::Bytes::from_static(VERSIONS.as_slice()));
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// `GET /login`: `m.login.password` and the login types password auth providers declare.
pub(super) async fn login_flows(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "flows": auth_providers::login_flows(&state).await }))
}

fn random_string(length: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), length)
}

/// What modules see of the request: its user agent and the client's address.
fn request_info(headers: &HeaderMap, ip: ClientIp) -> Vec<RequestInfo> {
    let user_agent = headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    vec![RequestInfo { user_agent: user_agent.to_owned(), ip: ip.0 }]
}

pub(super) async fn hash_password(state: &AppState, password: String) -> ApiResult<String> {
    state.passwords.hash(password).await.map_err(|error| {
        tracing::error!("{error}");
        ApiError(mxmod::MatrixError::internal())
    })
}

/// Checks a password against a user's stored hash; a missing user or one without a
/// password is checked against the dummy hash, so both take the same time.
async fn password_matches(state: &AppState, user: Option<&UserRecord>, password: &str) -> bool {
    let stored = user.and_then(|user| user.password_hash.clone());
    state.passwords.verify(password.to_owned(), stored).await
}

/// A new access token and the device it is for (the client's, or a new one). The token
/// goes to the client; storage keeps only [`access_token::stored_form`] of it.
pub(super) fn new_login(device_id: Option<String>) -> (String, String) {
    (access_token::issue(), device_id.unwrap_or_else(|| random_string(10).to_uppercase()))
}

async fn new_session(state: &AppState, user_id: &UserId, device_id: Option<String>) -> ApiResult<(String, String)> {
    let (token, device_id) = new_login(device_id);
    let owner = TokenOwner { user_id: user_id.to_owned(), device_id: device_id.clone() };
    state.storage.create_token(&access_token::stored_form(&token), &owner).await?;
    Ok((token, device_id))
}

/// The user ID a new local account with this localpart gets: 400 `M_INVALID_USERNAME`
/// unless it is made of `a-z 0-9 . _ = - /` (Synapse's rule for new accounts).
pub(super) fn local_user_id(state: &AppState, localpart: &str) -> ApiResult<OwnedUserId> {
    let valid_localpart = crate::validate::new_localpart(localpart);
    UserId::parse(format!("@{localpart}:{}", state.settings.server_name)).ok().filter(|_| valid_localpart).ok_or_else(
        || ApiError::new(400, ErrCode::INVALID_USERNAME, "User ID can only contain characters a-z, 0-9, or '=_-./'"),
    )
}

/// The `POST /register` body.
#[derive(Deserialize)]
pub(super) struct RegisterRequest {
    username: Option<String>,
    password: Option<String>,
    auth: Option<Value>,
    device_id: Option<String>,
    #[serde(default)]
    inhibit_login: bool,
}

/// `POST /register`: user-interactive auth with `m.login.dummy`. `rc_registration` is
/// per client address: checked on every request, used up by each account created.
pub(super) async fn register(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(mut params): JsonBody<JsonObject>,
) -> ApiResult<Response> {
    if !state.settings.enable_registration {
        return Err(ApiError::forbidden("Registration has been disabled"));
    }
    let body: RegisterRequest =
        serde_json::from_value(Value::Object(params.clone())).map_err(|e| ApiError::bad_json(e.to_string()))?;
    params.remove("auth");
    state.limits.registration.peek(ip)?;
    let completed =
        body.auth.as_ref().and_then(|auth| auth.get("type")).and_then(Value::as_str) == Some("m.login.dummy");
    if !completed {
        let challenge =
            json!({ "flows": [{ "stages": ["m.login.dummy"] }], "params": {}, "session": random_string(24) });
        return Ok((StatusCode::UNAUTHORIZED, Json(challenge)).into_response());
    }
    // What the completed stages answered, as Synapse hands them to password auth providers.
    let uia_results: JsonObject = [("m.login.dummy".to_owned(), Value::Bool(true))].into_iter().collect();
    let (module_username, module_displayname) =
        auth_providers::registration_names(&state, &uia_results, &params).await?;
    let localpart = module_username.or(body.username).unwrap_or_else(|| random_string(12).to_lowercase());
    let user_id = local_user_id(&state, &localpart)?;
    let password = body.password.ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing `password`"))?;
    if state.storage.user(&user_id).await?.is_some() {
        return Err(ApiError::new(400, ErrCode::USER_IN_USE, "User ID already taken."));
    }
    let callbacks = state.modules.callbacks();
    let behaviour = callbacks
        .spam_checker
        .check_registration_for_spam(None, Some(&localpart), &request_info(&headers, ip), None)
        .await?;
    let shadow_banned = match behaviour {
        RegistrationBehaviour::Deny => return Err(ApiError::new(429, ErrCode::UNKNOWN, "Rate limited")),
        RegistrationBehaviour::ShadowBan => true,
        RegistrationBehaviour::Allow => false,
    };
    state.limits.registration.check(ip)?;
    let record = UserRecord {
        user_id: user_id.clone(),
        password_hash: Some(hash_password(&state, password).await?),
        is_admin: false,
        shadow_banned,
        deactivated: false,
        creation_ts: now_ms(),
    };
    let login = (!body.inhibit_login).then(|| new_login(body.device_id));
    let profile = Profile { displayname: Some(module_displayname.unwrap_or(localpart)), avatar_url: None };
    // The user, profile and token in one transaction: a failure leaves no half account.
    let stored_login = login.as_ref().map(|(token, device)| (access_token::stored_form(token), device.clone()));
    if !state.storage.register(NewAccount { user: record, profile, login: stored_login }).await? {
        return Err(ApiError::new(400, ErrCode::USER_IN_USE, "User ID already taken."));
    }
    callbacks.account_validity.on_user_registration(&user_id).await?;
    let Some((token, device_id)) = login else {
        return Ok(Json(json!({ "user_id": user_id, "home_server": state.settings.server_name })).into_response());
    };
    Ok(Json(json!({
        "user_id": user_id, "access_token": token, "device_id": device_id, "home_server": state.settings.server_name
    }))
    .into_response())
}

/// The `POST /login` body.
#[derive(Deserialize)]
pub(super) struct LoginRequest {
    #[serde(rename = "type")]
    kind: String,
    identifier: Option<Value>,
    user: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
}

/// `POST /login` with `m.login.password` or a login type a password auth provider
/// declares, limited as in Synapse: every attempt by `rc_login.address` (per client
/// address); per account, a successful one by `rc_login.account` and a failed one by
/// `rc_login.failed_attempts`, which once used up refuses every attempt on that account,
/// right password or not, until it refills. Modules' checkers are asked first (FIRST-VALUE);
/// `m.login.password` falls back to the local password.
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(submission): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    state.limits.login_address.check(ip)?;
    let body: LoginRequest =
        serde_json::from_value(Value::Object(submission.clone())).map_err(|e| ApiError::bad_json(e.to_string()))?;
    let declared = auth_providers::declared_login_types(&state).await;
    if body.kind != auth_providers::PASSWORD && !declared.iter().any(|d| d.login_type == body.kind) {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, format!("Unknown login type {}", body.kind)));
    }
    let identifier = body.identifier.as_ref();
    let (user_id, on_logged_in) =
        if identifier.and_then(|i| i.get("type")).and_then(Value::as_str) == Some("m.id.thirdparty") {
            threepid_login(&state, &body).await?
        } else {
            user_login(&state, &body, &declared, &submission).await?
        };
    let callbacks = state.modules.callbacks();
    callbacks
        .spam_checker
        .check_login_for_spam(
            &user_id,
            body.device_id.as_deref(),
            body.initial_device_display_name.as_deref(),
            &request_info(&headers, ip),
            None,
        )
        .await?;
    // A new device gets the name the client offers (an existing one keeps its name).
    let known = match &body.device_id {
        Some(id) => state.storage.devices(&user_id).await?.iter().any(|device| &device.device_id == id),
        None => false,
    };
    let (token, device_id) = new_session(&state, &user_id, body.device_id).await?;
    let offered = body.initial_device_display_name.filter(|name| name.chars().count() <= 100);
    if let (false, Some(name)) = (known, offered) {
        state.storage.rename_device(&user_id, &device_id, Some(&name)).await?;
    }
    callbacks.account_validity.on_user_login(&user_id, Some(&body.kind), None).await?;
    if let Some(hook) = on_logged_in {
        let response = mxmod::LoginResponse {
            user_id: user_id.clone(),
            access_token: token.clone(),
            device_id: device_id.clone(),
            home_server: state.settings.server_name.to_string(),
        };
        hook(response).await;
    }
    Ok(Json(json!({
        "user_id": user_id, "access_token": token, "device_id": device_id, "home_server": state.settings.server_name
    })))
}

/// A logged-in user and the module's hook to run once the token exists.
type LoggedIn = (OwnedUserId, Option<mxmod::OnLoggedIn>);

/// A login by `m.id.user` identifier (or the legacy `user`): modules' checkers for the
/// type, then the local password for `m.login.password`. A failure counts against
/// `rc_login.failed_attempts`; a success against `rc_login.account`.
async fn user_login(
    state: &AppState,
    body: &LoginRequest,
    declared: &[mxmod::LoginType],
    submission: &JsonObject,
) -> ApiResult<LoggedIn> {
    let name = body
        .identifier
        .as_ref()
        .and_then(|identifier| identifier.get("user"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| body.user.clone())
        .ok_or_else(|| ApiError::bad_json("Missing `identifier.user`"))?;
    let full = if name.starts_with('@') { name.clone() } else { format!("@{name}:{}", state.settings.server_name) };
    let account = full.to_lowercase();
    state.limits.login_failed_attempts.peek(&account)?;
    let failed = || {
        state.limits.login_failed_attempts.record(&account);
        ApiError::forbidden("Invalid username or password")
    };
    let checked = auth_providers::check_login(state, declared, &body.kind, &name, submission).await?;
    let logged_in = match checked {
        Some(result) => {
            let user = existing_local_user(state, &result.user_id).await?.ok_or_else(failed)?;
            (user, result.on_logged_in)
        }
        None if body.kind == auth_providers::PASSWORD => {
            let password = body
                .password
                .as_deref()
                .ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing `password`"))?;
            let user_id = UserId::parse(full.as_str()).ok();
            let user = match &user_id {
                Some(user_id) => state.storage.user(user_id).await?,
                None => None,
            };
            let (Some(user_id), Some(user), true) =
                (user_id, &user, password_matches(state, user.as_ref(), password).await)
            else {
                return Err(failed());
            };
            if user.deactivated {
                return Err(deactivated());
            }
            (user_id, None)
        }
        None => return Err(failed()),
    };
    state.limits.login_account.check(&account)?;
    Ok(logged_in)
}

/// A login by `m.id.thirdparty` identifier and password: `check_3pid_auth`, then the
/// local 3PID's user and password.
async fn threepid_login(state: &AppState, body: &LoginRequest) -> ApiResult<LoggedIn> {
    if body.kind != auth_providers::PASSWORD {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "Only m.login.password is supported with third-party IDs"));
    }
    let identifier = body.identifier.as_ref();
    let field = |key: &str| identifier.and_then(|i| i.get(key)).and_then(Value::as_str).map(str::to_owned);
    let (Some(medium), Some(address)) = (field("medium"), field("address")) else {
        return Err(ApiError::new(400, ErrCode::MISSING_PARAM, "Invalid thirdparty identifier"));
    };
    let password =
        body.password.as_deref().ok_or_else(|| ApiError::new(400, ErrCode::MISSING_PARAM, "Missing `password`"))?;
    let account = format!("{medium}:{address}").to_lowercase();
    state.limits.login_failed_attempts.peek(&account)?;
    let failed = || {
        state.limits.login_failed_attempts.record(&account);
        ApiError::forbidden("Invalid username or password")
    };
    if let Some(result) = auth_providers::check_3pid_login(state, &medium, &address, password).await? {
        let user = existing_local_user(state, &result.user_id).await?.ok_or_else(failed)?;
        state.limits.login_account.check(user.as_str().to_lowercase())?;
        return Ok((user, result.on_logged_in));
    }
    let owner = state.storage.user_by_threepid(&medium, &address).await?;
    let user = match &owner {
        Some(user_id) => state.storage.user(user_id).await?,
        None => None,
    };
    let (Some(user_id), Some(user), true) = (owner, &user, password_matches(state, user.as_ref(), password).await)
    else {
        return Err(failed());
    };
    if user.deactivated {
        return Err(deactivated());
    }
    state.limits.login_account.check(user_id.as_str().to_lowercase())?;
    Ok((user_id, None))
}

fn deactivated() -> ApiError {
    ApiError::new(403, ErrCode::USER_DEACTIVATED, "This account has been deactivated")
}

/// The user a module's checker named, if it is a local account; a deactivated one is
/// 403 `M_USER_DEACTIVATED`.
async fn existing_local_user(state: &AppState, user_id: &UserId) -> ApiResult<Option<OwnedUserId>> {
    if user_id.server_name() != state.settings.server_name {
        tracing::warn!("a password auth provider named the remote user {user_id}; login refused");
        return Ok(None);
    }
    match state.storage.user(user_id).await? {
        Some(user) if user.deactivated => Err(deactivated()),
        Some(_) => Ok(Some(user_id.to_owned())),
        None => {
            tracing::warn!("a password auth provider named the unknown user {user_id}; login refused");
            Ok(None)
        }
    }
}

/// `POST /logout` (allowed for expired accounts): deletes the request's token, then
/// `on_logged_out`.
pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    AuthNoExpiry(auth): AuthNoExpiry,
    headers: HeaderMap,
    uri: http::Uri,
) -> ApiResult<Json<Value>> {
    state.storage.delete_token(&auth.token_hash).await?;
    let token = mxmod::web::access_token(&headers, &uri).unwrap_or_default();
    auth_providers::logged_out(&state, &auth.user_id, Some(&auth.device_id), &token).await;
    Ok(Json(json!({})))
}

/// `POST /logout/all` (allowed for expired accounts): deletes every token of the user,
/// then `on_logged_out` once per token. Tokens are stored hashed, so only the request's
/// own token reaches the module as the client sent it; the others as their stored
/// SHA-256 form.
pub(super) async fn logout_all(
    State(state): State<Arc<AppState>>,
    AuthNoExpiry(auth): AuthNoExpiry,
    headers: HeaderMap,
    uri: http::Uri,
) -> ApiResult<Json<Value>> {
    let deleted = state.storage.log_out_everywhere(&auth.user_id).await?;
    let own = mxmod::web::access_token(&headers, &uri).unwrap_or_default();
    for (stored, device_id) in deleted {
        let token = if stored == auth.token_hash { own.as_str() } else { stored.as_str() };
        auth_providers::logged_out(&state, &auth.user_id, Some(&device_id), token).await;
    }
    Ok(Json(json!({})))
}

/// `GET /account/3pid`: the user's third-party identifiers.
pub(super) async fn threepids(State(state): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    let threepids: Vec<Value> = state
        .storage
        .threepids(&auth.user_id)
        .await?
        .into_iter()
        .map(|t| json!({ "medium": t.medium, "address": t.address, "validated_at": t.validated_at, "added_at": t.added_at }))
        .collect();
    Ok(Json(json!({ "threepids": threepids })))
}

/// `GET /account/whoami`.
pub(super) async fn whoami(auth: Auth) -> Json<Value> {
    Json(json!({ "user_id": auth.user_id, "device_id": auth.device_id, "is_guest": false }))
}

/// The `POST /account/deactivate` body.
#[derive(Deserialize)]
pub(super) struct DeactivateRequest {
    auth: Option<Value>,
    #[serde(default)]
    erase: bool,
}

/// `POST /account/deactivate`: password user-interactive auth, then
/// `check_can_deactivate_user`; on success the profile is erased if asked
/// (`on_profile_update` with `deactivation`), every room is left, the tokens are
/// deleted and `on_user_deactivation_status_changed` runs.
pub(super) async fn deactivate(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    JsonBody(body): JsonBody<DeactivateRequest>,
) -> ApiResult<Response> {
    let password = body
        .auth
        .as_ref()
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("m.login.password"))
        .and_then(|a| a.get("password"))
        .and_then(Value::as_str);
    let Some(password) = password else {
        let challenge =
            json!({ "flows": [{ "stages": ["m.login.password"] }], "params": {}, "session": random_string(24) });
        return Ok((StatusCode::UNAUTHORIZED, Json(challenge)).into_response());
    };
    let user = state.storage.user(&auth.user_id).await?.ok_or_else(|| ApiError::forbidden("Unknown user"))?;
    if !password_matches(&state, Some(&user), password).await {
        return Err(ApiError::forbidden("Invalid password"));
    }
    deactivate_account(&state, &user, body.erase, false).await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })).into_response())
}

/// Deactivates an account as Synapse's `DeactivateAccountHandler` does, for the user
/// themself or (`by_admin`) a server admin: `check_can_deactivate_user` (a refusal is 403
/// `M_FORBIDDEN`); the third-party identifiers are removed; with `erase` the profile is emptied (`on_profile_update` with
/// `deactivation`); every joined and invited room is left; the access tokens are deleted;
/// then `on_user_deactivation_status_changed`.
pub(super) async fn deactivate_account(
    state: &Arc<AppState>,
    user: &UserRecord,
    erase: bool,
    by_admin: bool,
) -> ApiResult<()> {
    let callbacks = state.modules.callbacks();
    let rules = &callbacks.third_party_rules;
    let user_id = &user.user_id;
    rules.check_can_deactivate_user(user_id, by_admin).await?;
    crate::threepids::remove_all(state, user_id).await?;
    if erase {
        state.storage.set_profile(user_id, &Profile::default()).await?;
        let empty = mxmod::types::ProfileInfo { display_name: None, avatar_url: None };
        rules.on_profile_update(user_id, &empty, by_admin, true).await?;
    }
    // The user leaves as themself, as Synapse's handler does.
    let actor = crate::rooms::Actor {
        user_id: user_id.clone(),
        device_id: None,
        shadow_banned: user.shadow_banned,
        is_admin: user.is_admin,
    };
    for membership in ["join", "invite"] {
        for room_id in state.storage.rooms_with_membership(user_id, membership).await? {
            let leave = crate::rooms::update_membership(
                state,
                &actor,
                user_id,
                &room_id,
                "leave",
                mxmod::types::JsonObject::new(),
            );
            if let Err(error) = leave.await {
                tracing::warn!("deactivation of {user_id}: leaving {room_id} failed: {:?}", error.0);
            }
        }
    }
    state.storage.set_deactivated(user_id, true).await?;
    rules.on_user_deactivation_status_changed(user_id, true, by_admin).await?;
    Ok(())
}
