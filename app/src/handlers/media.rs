//! Media: upload (with `check_media_file_for_spam`; deny → 400 `M_UNKNOWN` "Bad content")
//! and download. Both stream between the socket and the file, so a file's size never
//! becomes memory; files are durable (fsync) before the database row and the answer.
//! Downloads carry Synapse's sandboxing headers and need an access token
//! (`/_matrix/client/v1/media`); the legacy unauthenticated download answers 404, as
//! Synapse does with `enable_authenticated_media: true`.

use std::{path::Path, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    Json,
};
use futures_util::StreamExt;
use http::{header, HeaderValue};
use mxmod::{
    types::{FileInfo, MediaFile},
    ErrCode,
};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    http::{ApiError, ApiResult, Auth, MPath, MQuery},
    state::AppState,
    storage::MediaRecord,
};

/// `GET /media/v3/config` and `GET /client/v1/media/config`: a module's
/// `get_media_config_for_user` answer, else the server's.
pub(super) async fn config(State(state): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    let hooks = &state.modules.callbacks().media_repository;
    if let Some(config) = hooks.get_media_config_for_user(&auth.user_id).await? {
        return Ok(Json(Value::Object(config)));
    }
    Ok(Json(json!({ "m.upload.size": state.settings.max_upload_size })))
}

/// `is_user_allowed_to_upload_media_of_size`: 413 `M_TOO_LARGE` when a module refuses.
async fn check_upload_size(state: &AppState, auth: &Auth, size: u64) -> ApiResult<()> {
    let hooks = &state.modules.callbacks().media_repository;
    Ok(hooks.is_user_allowed_to_upload_media_of_size(&auth.user_id, size).await?)
}

/// Upload query.
#[derive(Deserialize)]
pub(super) struct UploadQuery {
    filename: Option<String>,
}

/// `POST /_matrix/media/v3/upload`: the body is written to a temporary file as it
/// arrives (never held whole), refused with 413 `M_TOO_LARGE` past `max_upload_size`.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MQuery(query): MQuery<UploadQuery>,
    request: Request,
) -> ApiResult<Json<Value>> {
    // mxmod has no `/create`; an upload is how a client creates media (`rc_media_create`).
    crate::ratelimit::check_for_user(
        &state,
        &state.limits.media_create,
        "rc_media_create",
        &auth.user_id,
        &auth.user_id,
    )
    .await?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = state.settings.max_upload_size;
    let too_large =
        || ApiError::new(413, ErrCode::TOO_LARGE, format!("Upload request body is too large (over {limit} bytes)"));
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    // Asked before the body is read when its length is declared, else once it is in.
    if let Some(length) = declared {
        check_upload_size(&state, &auth, length).await?;
    }
    let media_id = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let dir = state.settings.media_store.clone();
    let store_error =
        |error: std::io::Error| ApiError::new(500, ErrCode::UNKNOWN, format!("cannot store media: {error}"));
    tokio::fs::create_dir_all(&dir).await.map_err(store_error)?;
    let temporary = dir.join(format!("{media_id}.part"));
    let written = receive(request.into_body(), &temporary, limit).await;
    let size = match written {
        Ok(size) => size,
        Err(error) => {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(match error {
                Received::TooLarge => too_large(),
                Received::Body(error) => error,
                Received::Io(error) => store_error(error),
            });
        }
    };
    if declared.is_none() {
        if let Err(error) = check_upload_size(&state, &auth, size).await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(error);
        }
    }
    let info = FileInfo {
        server_name: None,
        file_id: media_id.clone(),
        upload_name: query.filename.clone(),
        media_type: Some(content_type.clone()),
        media_length: size,
    };
    if let Err(error) = check_for_spam(&state, &temporary, &info).await {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(error);
    }
    let file_id = media_id.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::rename(&temporary, dir.join(&file_id))?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(|error| ApiError::new(500, ErrCode::UNKNOWN, error.to_string()))?
    .map_err(store_error)?;
    let record = MediaRecord { media_id: media_id.clone(), content_type, upload_name: query.filename, size };
    state.storage.create_media(&record, &auth.user_id).await?;
    Ok(Json(json!({ "content_uri": format!("mxc://{}/{media_id}", state.settings.server_name) })))
}

/// Why receiving an upload stopped.
enum Received {
    TooLarge,
    Body(ApiError),
    Io(std::io::Error),
}

/// Writes the body to `path` chunk by chunk and fsyncs it; the number of bytes.
async fn receive(body: Body, path: &Path, limit: u64) -> Result<u64, Received> {
    let mut file = tokio::fs::File::create(path).await.map_err(Received::Io)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| Received::Body(crate::http::body_error(&error)))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Received::TooLarge);
        }
        file.write_all(&chunk).await.map_err(Received::Io)?;
    }
    file.sync_all().await.map_err(Received::Io)?;
    Ok(size)
}

/// `check_media_file_for_spam` on the file as written to disk: a module reads it in
/// chunks ([`MediaFile::write_chunks_to`]), so nothing holds the whole upload in memory.
async fn check_for_spam(state: &AppState, path: &Path, info: &FileInfo) -> ApiResult<()> {
    state.modules.callbacks().spam_checker.check_media_file_for_spam(&MediaFile::from_path(path), info).await?;
    Ok(())
}

/// Types a browser may show inline (Synapse's `INLINE_CONTENT_TYPES`); any other type
/// is served as an attachment.
const INLINE_CONTENT_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// The sandbox every media answer is served in (Synapse's download resource).
const MEDIA_CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
                         style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/// `inline` for a safe type, `attachment` otherwise, with the file name (RFC 6266).
fn content_disposition(content_type: &str, file_name: Option<&str>) -> String {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let kind = if INLINE_CONTENT_TYPES.contains(&essence.as_str()) { "inline" } else { "attachment" };
    let Some(name) = file_name.filter(|name| !name.is_empty()) else { return kind.to_owned() };
    let is_token = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b));
    if is_token {
        return format!("{kind}; filename={name}");
    }
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename*=utf-8''{encoded}")
}

/// Chunk size of a streamed download.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

async fn serve_media(
    state: &AppState,
    server_name: &str,
    media_id: &str,
    file_name: Option<&str>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not found");
    if server_name != state.settings.server_name.as_str() || !media_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let record = state.storage.media(media_id).await?.ok_or_else(not_found)?;
    let file = tokio::fs::File::open(state.settings.media_store.join(media_id)).await.map_err(|_| not_found())?;
    let length = file.metadata().await.map_err(|_| not_found())?.len();
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0; DOWNLOAD_CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    let name = file_name.or(record.upload_name.as_deref());
    for (key, value) in [
        (header::CONTENT_TYPE, record.content_type.clone()),
        (header::CONTENT_LENGTH, length.to_string()),
        (header::CONTENT_DISPOSITION, content_disposition(&record.content_type, name)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(key, value);
        }
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(MEDIA_CSP));
    headers.insert("x-content-security-policy", HeaderValue::from_static("sandbox;"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public,max-age=86400,s-maxage=86400"));
    Ok(response)
}

/// `GET /_matrix/client/v1/media/download/{server_name}/{media_id}` (token required).
pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    MPath((server_name, media_id)): MPath<(String, String)>,
) -> ApiResult<Response> {
    serve_media(&state, &server_name, &media_id, None).await
}

/// `GET /_matrix/client/v1/media/download/{server_name}/{media_id}/{file_name}`.
pub(super) async fn download_named(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    MPath((server_name, media_id, file_name)): MPath<(String, String, String)>,
) -> ApiResult<Response> {
    serve_media(&state, &server_name, &media_id, Some(&file_name)).await
}

/// `GET /_matrix/media/{v3,r0}/download/...`: media this server stores is authenticated
/// media, which Synapse (with `enable_authenticated_media: true`, its default) does not
/// serve here: 404 `M_NOT_FOUND`.
pub(super) async fn legacy_download() -> ApiError {
    ApiError::not_found("Not found")
}
