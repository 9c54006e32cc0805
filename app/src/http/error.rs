//! [`ApiError`]: a Matrix error as an HTTP response.

use axum::response::{IntoResponse, Response};
use mxmod::{ErrCode, MatrixError};

use crate::storage::StorageError;

/// A Matrix error answer.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) MatrixError);

/// What handlers return.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: u16, errcode: ErrCode, error: impl Into<String>) -> Self {
        Self(MatrixError::new(status, errcode, error))
    }
    pub(crate) fn forbidden(error: impl Into<String>) -> Self {
        Self::new(403, ErrCode::FORBIDDEN, error)
    }
    pub(crate) fn not_found(error: impl Into<String>) -> Self {
        Self::new(404, ErrCode::NOT_FOUND, error)
    }
    pub(crate) fn bad_json(error: impl Into<String>) -> Self {
        Self::new(400, ErrCode::BAD_JSON, error)
    }
    pub(crate) fn invalid_param(error: impl Into<String>) -> Self {
        Self::new(400, ErrCode::INVALID_PARAM, error)
    }
    pub(crate) fn unrecognized() -> Self {
        Self::new(404, ErrCode::UNRECOGNIZED, "Unrecognized request")
    }
}

impl From<MatrixError> for ApiError {
    fn from(error: MatrixError) -> Self {
        Self(error)
    }
}

/// An error and its causes, `: `-separated, for logs.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        tracing::error!("{}", error_chain(&error));
        Self(MatrixError::internal())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = mxmod::web::error_response(&self.0).map(axum::body::Body::from);
        // A rate-limited answer also says when to retry in the standard header, in whole
        // seconds rounded up, as Synapse does.
        if self.0.status == 429 {
            if let Some(millis) = self.0.fields.get("retry_after_ms").and_then(serde_json::Value::as_u64) {
                response.headers_mut().insert(http::header::RETRY_AFTER, millis.div_ceil(1000).into());
            }
        }
        response
    }
}
