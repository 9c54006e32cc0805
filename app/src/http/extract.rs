//! Extractors: access tokens (with the account-validity check), JSON bodies with the
//! body limit, and path/query parameters, each failing with the Matrix error.

use std::sync::Arc;

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::request::Parts,
};
use mxmod::{types::OwnedUserId, ErrCode, MatrixError};
use serde::de::DeserializeOwned;

use super::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest non-media request body.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// An authenticated local user.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    pub(crate) user_id: OwnedUserId,
    pub(crate) device_id: String,
    /// The stored form of the request's access token (never the token itself).
    pub(crate) token_hash: String,
    pub(crate) shadow_banned: bool,
    pub(crate) is_admin: bool,
}

/// An authenticated user whose account may have expired (only `/logout` uses it).
pub(crate) struct AuthNoExpiry(pub(crate) Auth);

async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Auth> {
    let token = mxmod::web::access_token(&parts.headers, &parts.uri)
        .ok_or_else(|| ApiError::new(401, ErrCode::MISSING_TOKEN, "Missing access token"))?;
    let unknown = || ApiError::new(401, ErrCode::UNKNOWN_TOKEN, "Unknown access token").with_soft_logout();
    let token_hash = crate::access_token::stored_form(&token);
    let session = state.storage.session(&token_hash).await?.ok_or_else(unknown)?;
    let user = session.user;
    if user.deactivated {
        return Err(unknown());
    }
    Ok(Auth {
        user_id: user.user_id,
        device_id: session.device_id,
        token_hash,
        shadow_banned: user.shadow_banned,
        is_admin: user.is_admin,
    })
}

impl ApiError {
    fn with_soft_logout(mut self) -> Self {
        self.0.fields.insert("soft_logout".to_owned(), false.into());
        self
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let auth = authenticate(parts, state).await?;
        let expired = state.modules.callbacks().account_validity.is_user_expired(&auth.user_id).await?;
        if expired == Some(true) {
            return Err(ApiError(MatrixError::new(403, ErrCode::EXPIRED_ACCOUNT, "User account has expired")));
        }
        Ok(auth)
    }
}

/// The requester if the request carries an access token, `None` if it carries none
/// (`POST /account/password`, which a user who forgot the password calls without one); a
/// token that is unknown or expired still fails as for [`Auth`].
pub(crate) struct MaybeAuth(pub(crate) Option<Auth>);

impl FromRequestParts<Arc<AppState>> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        if mxmod::web::access_token(&parts.headers, &parts.uri).is_none() {
            return Ok(MaybeAuth(None));
        }
        Auth::from_request_parts(parts, state).await.map(|auth| MaybeAuth(Some(auth)))
    }
}

impl FromRequestParts<Arc<AppState>> for AuthNoExpiry {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        authenticate(parts, state).await.map(AuthNoExpiry)
    }
}

async fn body_bytes(request: Request, limit: usize) -> ApiResult<bytes::Bytes> {
    // A body announced larger than the limit is refused before any of it is read.
    let declared =
        request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::new(413, ErrCode::TOO_LARGE, "Request body is too large"));
    }
    axum::body::to_bytes(request.into_body(), limit).await.map_err(|error| body_error(&error))
}

/// The answer to a request body that could not be read: 413 `M_TOO_LARGE` past a limit,
/// 408 `M_UNKNOWN` when the client was too slow sending it, 400 otherwise.
pub(crate) fn body_error(error: &axum::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return ApiError::new(413, ErrCode::TOO_LARGE, "Request body is too large");
        }
        if current.is::<super::connections::BodyTimedOut>() {
            return ApiError::new(408, ErrCode::UNKNOWN, "Timed out reading the request body");
        }
        cause = current.source();
    }
    ApiError::new(400, ErrCode::UNKNOWN, format!("Cannot read the request body: {error}"))
}

/// A JSON object body parsed as `T`: 400 `M_NOT_JSON` if it is not JSON, 400
/// `M_BAD_JSON` if it does not fit, 413 `M_TOO_LARGE` over the limit.
pub(crate) struct JsonBody<T>(pub(crate) T);

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::new(400, ErrCode::NOT_JSON, "Content not JSON."))?;
    if !value.is_object() {
        return Err(ApiError::bad_json("Content must be a JSON object."));
    }
    serde_json::from_value(value).map_err(|error| ApiError::bad_json(error.to_string()))
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &Arc<AppState>) -> ApiResult<Self> {
        let bytes = body_bytes(request, JSON_BODY_LIMIT).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Largest form body (the forms on the server's own pages carry a few short fields).
const FORM_BODY_LIMIT: usize = 16 * 1024;

/// The name-value pairs of an `application/x-www-form-urlencoded` body (a form on one of
/// the server's own pages), in order; 413 `M_TOO_LARGE` over 16 KiB.
pub(crate) struct FormPairs(pub(crate) Vec<(String, String)>);

impl FromRequest<Arc<AppState>> for FormPairs {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &Arc<AppState>) -> ApiResult<Self> {
        let bytes = body_bytes(request, FORM_BODY_LIMIT).await?;
        Ok(FormPairs(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

/// Like [`JsonBody`], but an empty body is `T::default()` (endpoints whose body is optional).
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned + Default> FromRequest<Arc<AppState>> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &Arc<AppState>) -> ApiResult<Self> {
        let bytes = body_bytes(request, JSON_BODY_LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// Path parameters; a malformed one is 400 `M_INVALID_PARAM`.
pub(crate) struct MPath<T>(pub(crate) T);

impl<T: DeserializeOwned + Send> FromRequestParts<Arc<AppState>> for MPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| MPath(value))
            .map_err(|rejection| ApiError::invalid_param(rejection.body_text()))
    }
}

/// Query parameters; a malformed one is 400 `M_INVALID_PARAM`.
pub(crate) struct MQuery<T>(pub(crate) T);

impl<T: DeserializeOwned + Send> FromRequestParts<Arc<AppState>> for MQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| MQuery(value))
            .map_err(|rejection| ApiError::invalid_param(rejection.body_text()))
    }
}

/// Parses a Matrix ID with ruma, or 400 `M_INVALID_PARAM`.
pub(crate) fn parse_id<T>(text: &str, what: &str) -> ApiResult<T>
where
    T: for<'a> TryFrom<&'a str>,
{
    T::try_from(text).map_err(|_| ApiError::invalid_param(format!("`{text}` is not a valid {what}")))
}

/// A user ID, or 400 `M_INVALID_PARAM`.
pub(crate) fn extract_user(text: &str) -> ApiResult<OwnedUserId> {
    mxmod::types::UserId::parse(text).map_err(|_| ApiError::invalid_param(format!("`{text}` is not a valid user ID")))
}
