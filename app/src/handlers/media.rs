//! Media: upload (with `check_media_file_for_spam`; deny → 400 `M_UNKNOWN` "Bad content")
//! and download. Files are durable (fsync) before the database row and the answer.

use std::{io::Write, sync::Arc};

use axum::{
    extract::{Request, State},
    response::{IntoResponse, Response},
    Json,
};
use mxmod::{
    types::{FileInfo, MediaFile},
    ErrCode,
};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult, Auth, MPath, MQuery},
    state::AppState,
    storage::MediaRecord,
};

/// `GET /media/v3/config`.
pub(super) async fn config(State(state): State<Arc<AppState>>, _auth: Auth) -> Json<Value> {
    Json(json!({ "m.upload.size": state.settings.max_upload_size }))
}

/// Upload query.
#[derive(Deserialize)]
pub(super) struct UploadQuery {
    filename: Option<String>,
}

/// `POST /_matrix/media/v3/upload`.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MQuery(query): MQuery<UploadQuery>,
    request: Request,
) -> ApiResult<Json<Value>> {
    // mxmod has no `/create`; an upload is how a client creates media (`rc_media_create`).
    state.limits.media_create.check(&auth.user_id)?;
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = usize::try_from(state.settings.max_upload_size).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| {
        ApiError::new(413, ErrCode::TOO_LARGE, format!("Upload request body is too large (over {limit} bytes)"))
    })?;
    let media_id = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let info = FileInfo {
        server_name: None,
        file_id: media_id.clone(),
        upload_name: query.filename.clone(),
        media_type: Some(content_type.clone()),
        media_length: bytes.len() as u64,
    };
    state
        .modules
        .callbacks()
        .spam_checker
        .check_media_file_for_spam(&MediaFile { bytes: bytes.clone() }, &info)
        .await?;
    let dir = state.settings.media_store.clone();
    let file_id = media_id.clone();
    let size = bytes.len() as u64;
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let temporary = dir.join(format!("{file_id}.part"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, dir.join(&file_id))?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(|error| ApiError::new(500, ErrCode::UNKNOWN, error.to_string()))?
    .map_err(|error| ApiError::new(500, ErrCode::UNKNOWN, format!("cannot store media: {error}")))?;
    let record = MediaRecord { media_id: media_id.clone(), content_type, upload_name: query.filename, size };
    state.storage.create_media(&record, &auth.user_id)?;
    Ok(Json(json!({ "content_uri": format!("mxc://{}/{media_id}", state.settings.server_name) })))
}

async fn serve_media(state: &AppState, server_name: &str, media_id: &str) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not found");
    if server_name != state.settings.server_name.as_str() || !media_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let record = state.storage.media(media_id)?.ok_or_else(not_found)?;
    let bytes = tokio::fs::read(state.settings.media_store.join(media_id)).await.map_err(|_| not_found())?;
    let mut headers = vec![(http::header::CONTENT_TYPE, record.content_type.clone())];
    if let Some(name) = &record.upload_name {
        headers.push((http::header::CONTENT_DISPOSITION, format!("inline; filename=\"{}\"", name.replace('"', ""))));
    }
    let mut response = bytes.into_response();
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// `GET /download/{server_name}/{media_id}`.
pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    MPath((server_name, media_id)): MPath<(String, String)>,
) -> ApiResult<Response> {
    serve_media(&state, &server_name, &media_id).await
}

/// `GET /download/{server_name}/{media_id}/{file_name}`.
pub(super) async fn download_named(
    State(state): State<Arc<AppState>>,
    MPath((server_name, media_id, _file_name)): MPath<(String, String, String)>,
) -> ApiResult<Response> {
    serve_media(&state, &server_name, &media_id).await
}
