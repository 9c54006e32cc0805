//! `POST /user/{userId}/filter` and `GET /user/{userId}/filter/{filterId}`: filters
//! stored per user, checked before they are stored (`filter.rs`), an identical filter
//! answering its first ID.

use std::sync::Arc;

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::{
    filter::Filter,
    http::{ApiError, ApiResult, Auth, JsonBody, MPath},
    state::AppState,
    storage::{FilterError, MAX_FILTERS_PER_USER},
};

/// `POST /user/{userId}/filter`.
pub(super) async fn create_filter(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(user_id): MPath<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if user_id != auth.user_id.as_str() {
        return Err(ApiError::forbidden("Cannot create filters for other users"));
    }
    let (_, canonical) = Filter::parse(&body)?;
    match state.storage.create_filter(&auth.user_id, &canonical).await {
        Ok(id) => Ok(Json(json!({ "filter_id": id.to_string() }))),
        Err(FilterError::TooMany) => Err(ApiError::new(
            400,
            mxmod::ErrCode::RESOURCE_LIMIT_EXCEEDED,
            format!("A user may store at most {MAX_FILTERS_PER_USER} filters"),
        )),
        Err(FilterError::Storage(error)) => Err(error.into()),
    }
}

/// A filter ID as Synapse takes it: a decimal integer, else 400 `M_INVALID_PARAM`.
pub(crate) fn parse_filter_id(text: &str) -> ApiResult<u64> {
    text.parse().map_err(|_| ApiError::invalid_param("Invalid filter_id"))
}

/// `GET /user/{userId}/filter/{filterId}`.
pub(super) async fn get_filter(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((user_id, filter_id)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    if user_id != auth.user_id.as_str() {
        return Err(ApiError::forbidden("Cannot get filters for other users"));
    }
    let filter_id = parse_filter_id(&filter_id)?;
    let stored = state.storage.filter(&auth.user_id, filter_id).await?;
    let text = stored.ok_or_else(|| ApiError::not_found("No such filter"))?;
    serde_json::from_str(&text).map(Json).map_err(|error| {
        tracing::error!("stored filter {filter_id} of {} cannot be read: {error}", auth.user_id);
        ApiError(mxmod::MatrixError::internal())
    })
}
