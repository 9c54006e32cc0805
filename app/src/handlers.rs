//! The Client-Server API routes (`v3`, and `r0` where Synapse serves it), media, module
//! web resources and metrics. One file per area.

mod account;
mod directory;
mod media;
mod presence;
mod profile;
mod room;
mod sync;

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Router,
};
use mxmod::ErrCode;

use crate::{
    http::{ApiError, ApiResult},
    state::AppState,
};

/// The client API routes, mounted under each of `/_matrix/client/{v3,r0}`.
fn client_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/login", get(account::login_flows).post(account::login))
        .route("/logout", post(account::logout))
        .route("/register", post(account::register))
        .route("/account/whoami", get(account::whoami))
        .route("/account/deactivate", post(account::deactivate))
        .route("/createRoom", post(room::create_room))
        .route("/rooms/{room_id}/send/{event_type}/{txn_id}", put(room::send_message))
        .route("/rooms/{room_id}/state", get(room::get_state))
        .route("/rooms/{room_id}/state/{event_type}", get(room::get_state_event).put(room::put_state))
        .route("/rooms/{room_id}/state/{event_type}/", get(room::get_state_event).put(room::put_state))
        .route("/rooms/{room_id}/state/{event_type}/{state_key}", get(room::get_state_event).put(room::put_state))
        .route("/rooms/{room_id}/event/{event_id}", get(room::get_event))
        .route("/rooms/{room_id}/messages", get(room::messages))
        .route("/rooms/{room_id}/members", get(room::members))
        .route("/rooms/{room_id}/joined_members", get(room::joined_members))
        .route("/rooms/{room_id}/invite", post(room::invite))
        .route("/rooms/{room_id}/join", post(room::join))
        .route("/join/{room_id_or_alias}", post(room::join))
        .route("/rooms/{room_id}/leave", post(room::leave))
        .route("/joined_rooms", get(room::joined_rooms))
        .route(
            "/directory/room/{alias}",
            get(directory::get_alias).put(directory::put_alias).delete(directory::delete_alias),
        )
        .route("/directory/list/room/{room_id}", get(directory::get_visibility).put(directory::put_visibility))
        .route("/publicRooms", get(directory::public_rooms))
        .route("/user_directory/search", post(profile::search_users))
        .route("/profile/{user_id}", get(profile::get_profile))
        .route("/profile/{user_id}/{field}", get(profile::get_profile_field).put(profile::put_profile_field))
        .route(
            "/user/{user_id}/account_data/{data_type}",
            get(profile::get_account_data).put(profile::put_account_data),
        )
        .route("/presence/{user_id}/status", get(presence::get_status).put(presence::put_status))
        .route("/sync", get(sync::sync))
}

fn media_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/upload", post(media::upload))
        .route("/download/{server_name}/{media_id}", get(media::download))
        .route("/download/{server_name}/{media_id}/{file_name}", get(media::download_named))
        .route("/config", get(media::config))
}

/// The whole router.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/_matrix/client/versions", get(account::versions))
        .route("/_synapse/metrics", get(metrics))
        .nest("/_matrix/client/v3", client_routes())
        .nest("/_matrix/client/r0", client_routes())
        .nest("/_matrix/media/v3", media_routes())
        .nest("/_matrix/media/r0", media_routes())
        .nest("/_matrix/client/v1/media", media_routes())
        .fallback(module_resources)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state)
}

/// Everything outside the Matrix routes: a module's web resource, or 404 `M_UNRECOGNIZED`.
async fn module_resources(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if request.uri().path().starts_with("/_matrix/") {
        return ApiError::unrecognized().into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return ApiError::new(413, ErrCode::TOO_LARGE, "Request body too large").into_response();
    };
    match state.modules.routes().handle(http::Request::from_parts(parts, body)).await {
        Some(response) => response.map(axum::body::Body::from),
        None => ApiError::unrecognized().into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, ErrCode::UNRECOGNIZED, "Unrecognized request")
}

async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    if !state.settings.enable_metrics {
        return Err(ApiError::unrecognized());
    }
    let mut text = state.metrics.render(&state.modules);
    text.push_str(&format!(
        "# HELP mxmod_password_dummy_checks_total Password checks run against the dummy hash (no such account).\n\
         # TYPE mxmod_password_dummy_checks_total counter\nmxmod_password_dummy_checks_total {}\n",
        state.passwords.dummy_checks()
    ));
    Ok(([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Counts requests by route and status.
async fn count_requests(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| {
        if request.uri().path().starts_with("/_synapse/client/") {
            "module".to_owned()
        } else {
            "unmatched".to_owned()
        }
    });
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state.metrics.request(&method, &route, response.status().as_u16());
    response
}
