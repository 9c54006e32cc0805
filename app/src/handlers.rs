//! The Client-Server API routes (`v3`, and `r0` where Synapse serves it), media, module
//! web resources and metrics. One file per area.

mod account;
mod admin;
mod directory;
mod email_validation;
mod ephemeral;
mod filters;
mod front;
mod media;
mod moderation;
mod presence;
mod profile;
mod push_rules;
mod room;
mod room_account_data;
mod room_extras;
mod session;
mod sync;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    handler::Handler,
    response::{IntoResponse, Response},
    routing::{delete, get, post, put, MethodRouter},
    Router,
};
use mxmod::ErrCode;
use tower_layer::Layer;

pub(crate) use self::admin::DeleteTasks;
pub(crate) use self::front::FrontDoor;
use crate::{
    http::{ApiError, ApiResult},
    metrics::{CountLayer, RequestMetrics, CONTENT_TYPE as METRICS_CONTENT_TYPE},
    state::AppState,
};

/// The router being built: each route is added under the current prefix with its
/// 405 answer and, when metrics are on, its own request counters (registered here, once,
/// so a request never looks its label up).
struct Routes<'m> {
    router: Router<Arc<AppState>>,
    /// Every path added, for the front door (`front.rs`).
    paths: matchit::Router<()>,
    prefix: &'static str,
    metrics: Option<&'m RequestMetrics>,
}

impl Routes<'_> {
    /// Adds `path` (under the current prefix).
    fn route(mut self, path: &str, methods: MethodRouter<Arc<AppState>>) -> Self {
        let path = format!("{}{path}", self.prefix);
        let methods = methods.fallback(method_not_allowed);
        let methods = match self.metrics {
            Some(metrics) => methods.layer(CountLayer::route(metrics, &path)),
            None => methods,
        };
        self.router = self.router.route(&path, methods);
        // axum has just accepted the same path (it panics on a conflict, as this does).
        if let Err(error) = self.paths.insert(path.as_str(), ()) {
            panic!("route `{path}` conflicts with another: {error}");
        }
        self
    }

    /// Routes added next go under `prefix`.
    fn under(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }
}

/// The client API routes, added under each of `/_matrix/client/{v3,r0}`.
fn client_routes(routes: Routes<'_>) -> Routes<'_> {
    routes
        .route("/login", get(account::login_flows).post(account::login))
        .route("/logout", post(account::logout))
        .route("/logout/all", post(account::logout_all))
        .route("/account/3pid", get(account::threepids))
        .route("/register", post(account::register))
        .route("/register/email/requestToken", post(email_validation::register_request_token))
        .route("/account/3pid/email/requestToken", post(email_validation::add_threepid_request_token))
        .route("/account/password/email/requestToken", post(email_validation::password_request_token))
        .route("/account/3pid/add", post(email_validation::add_threepid))
        .route("/account/3pid/delete", post(email_validation::delete_threepid))
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
        .route("/rooms/{room_id}/upgrade", post(room::upgrade))
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
        .route("/pushrules/", get(push_rules::get_all))
        .route("/pushrules/{scope}/", get(push_rules::get_scope))
        .route("/pushrules/{scope}/{kind}/", get(push_rules::get_kind))
        .route(
            "/pushrules/{scope}/{kind}/{rule_id}",
            get(push_rules::get_rule).put(push_rules::put_rule).delete(push_rules::delete_rule),
        )
        .route(
            "/pushrules/{scope}/{kind}/{rule_id}/{attribute}",
            get(push_rules::get_attribute).put(push_rules::put_attribute),
        )
        .route("/capabilities", get(session::capabilities))
        .route("/devices", get(session::list_devices))
        .route(
            "/devices/{device_id}",
            get(session::get_device).put(session::rename_device).delete(session::delete_device),
        )
        .route("/delete_devices", post(session::delete_devices))
        .route("/account/password", post(session::change_password))
        .route("/user/{user_id}/filter", post(filters::create_filter))
        .route("/user/{user_id}/filter/{filter_id}", get(filters::get_filter))
        .route("/thirdparty/protocols", get(session::thirdparty_protocols))
        .route("/voip/turnServer", get(session::turn_server))
        .route("/rooms/{room_id}/typing/{user_id}", put(ephemeral::typing))
        .route("/rooms/{room_id}/receipt/{receipt_type}/{event_id}", post(ephemeral::post_receipt))
        .route("/rooms/{room_id}/read_markers", post(ephemeral::read_markers))
        .route(
            "/user/{user_id}/rooms/{room_id}/account_data/{data_type}",
            get(room_account_data::get_room_account_data).put(room_account_data::put_room_account_data),
        )
        .route("/user/{user_id}/rooms/{room_id}/tags", get(room_account_data::get_tags))
        .route(
            "/user/{user_id}/rooms/{room_id}/tags/{tag}",
            put(room_account_data::put_tag).delete(room_account_data::delete_tag),
        )
        .route("/rooms/{room_id}/kick", post(moderation::kick))
        .route("/rooms/{room_id}/ban", post(moderation::ban))
        .route("/rooms/{room_id}/unban", post(moderation::unban))
        .route("/rooms/{room_id}/forget", post(moderation::forget))
        .route("/rooms/{room_id}/redact/{event_id}/{txn_id}", put(moderation::redact))
        .route("/rooms/{room_id}/context/{event_id}", get(moderation::context))
        .route("/rooms/{room_id}/report/{event_id}", post(moderation::report))
}

/// `/_matrix/media/{v3,r0}`: upload; downloads there are refused as Synapse refuses
/// authenticated media on them.
fn media_routes(routes: Routes<'_>) -> Routes<'_> {
    routes
        .route("/upload", post(media::upload))
        .route("/download/{server_name}/{media_id}", get(media::legacy_download))
        .route("/download/{server_name}/{media_id}/{file_name}", get(media::legacy_download))
        .route("/config", get(media::config))
}

/// `/_matrix/client/v1/media`: authenticated media.
fn authenticated_media_routes(routes: Routes<'_>) -> Routes<'_> {
    routes
        .route("/download/{server_name}/{media_id}", get(media::download))
        .route("/download/{server_name}/{media_id}/{file_name}", get(media::download_named))
        .route("/config", get(media::config))
}

/// Synapse's admin API, added under `/_synapse/admin`.
fn admin_routes(routes: Routes<'_>) -> Routes<'_> {
    routes
        .route("/v1/register", get(admin::register_nonce).post(admin::register_with_shared_secret))
        .route("/v1/deactivate/{user_id}", post(admin::deactivate_user))
        .route("/v2/users", get(admin::list_users))
        .route("/v2/users/{user_id}", get(admin::get_user).put(admin::put_user))
        .route("/v2/rooms/{room_id}", delete(admin::delete_room))
        .route("/v2/rooms/{room_id}/delete_status", get(admin::room_delete_status))
        .route("/v2/rooms/delete_status/{delete_id}", get(admin::delete_status))
        .route("/v1/mxmod/reload", post(admin::reload_modules))
}

/// What serves requests: axum's router, and the front door that answers some of them
/// before it (`front.rs`).
#[derive(Clone)]
pub(crate) struct App {
    /// Every route, and the module fallback.
    pub(crate) router: Router,
    /// The requests answered without the router.
    pub(crate) front: Arc<FrontDoor>,
}

/// The whole router, and its front door.
pub(crate) fn router(state: Arc<AppState>) -> App {
    let counted = state.settings.enable_metrics.then(|| state.metrics.requests());
    let routes = Routes { router: Router::new(), paths: matchit::Router::new(), prefix: "", metrics: counted }
        .route(front::VERSIONS_PATH, get(account::versions))
        .route("/_synapse/metrics", get(metrics))
        .route("/_matrix/client/unstable/registration/email/submit_token", get(email_validation::submit_token))
        .route("/_matrix/client/unstable/add_threepid/email/submit_token", get(email_validation::submit_token))
        .route(
            email_validation::PASSWORD_RESET_LINK,
            get(email_validation::password_reset_confirmation).post(email_validation::password_reset_submit),
        );
    let routes = client_routes(routes.under("/_matrix/client/v3"));
    let routes = client_routes(routes.under("/_matrix/client/r0"));
    let routes = media_routes(routes.under("/_matrix/media/v3"));
    let routes = media_routes(routes.under("/_matrix/media/r0"));
    let routes = authenticated_media_routes(routes.under("/_matrix/client/v1/media"));
    let routes = admin_routes(routes.under("/_synapse/admin"));
    // The fallback is a service built once, not a handler turned into one per request.
    let fallback = module_fallback.with_state(state.clone());
    let router = match counted {
        Some(metrics) => routes.router.fallback_service(CountLayer::fallback(metrics).layer(fallback)),
        None => routes.router.fallback_service(fallback),
    };
    let front = Arc::new(FrontDoor::new(routes.paths, &state));
    // CORS is answered by the connection layer (`http/cors.rs`), around this router.
    App { router: router.with_state(state), front }
}

/// Everything outside the app's routes: a module's web resource, or 404 `M_UNRECOGNIZED`.
async fn module_fallback(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if request.uri().path().starts_with("/_matrix/") {
        return ApiError::unrecognized().into_response();
    }
    module_resources(&state, request).await.map(axum::body::Body::new)
}

/// The body of an answer served in front of axum's router: bytes known in full (a module's
/// answer, `/versions`), written as they are, or an error's axum body.
pub(crate) type AnswerBody = http_body_util::Either<http_body_util::Full<bytes::Bytes>, axum::body::Body>;

/// An answer whose bytes are known in full.
pub(crate) fn full_answer(response: http::Response<bytes::Bytes>) -> http::Response<AnswerBody> {
    response.map(|bytes| AnswerBody::Left(http_body_util::Full::new(bytes)))
}

/// An axum answer, as an [`AnswerBody`].
pub(crate) fn axum_answer(response: Response) -> http::Response<AnswerBody> {
    response.map(AnswerBody::Right)
}

/// A module's web resource, or 404 `M_UNRECOGNIZED` if no module mounted the path.
async fn module_resources(state: &AppState, request: Request) -> http::Response<AnswerBody> {
    let (parts, body) = request.into_parts();
    // A request without a body (every GET) skips the collector.
    let body = if axum::body::HttpBody::is_end_stream(&body) {
        bytes::Bytes::new()
    } else {
        match axum::body::to_bytes(body, 1024 * 1024).await {
            Ok(body) => body,
            Err(_) => {
                return axum_answer(ApiError::new(413, ErrCode::TOO_LARGE, "Request body too large").into_response())
            }
        }
    };
    let modules = state.modules.current();
    match modules.routes().handle(http::Request::from_parts(parts, body)).await {
        Some(response) => full_answer(response),
        None => axum_answer(ApiError::unrecognized().into_response()),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, ErrCode::UNRECOGNIZED, "Unrecognized request")
}

async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    if !state.settings.enable_metrics {
        return Err(ApiError::unrecognized());
    }
    let text = state.metrics.render(&state.modules.current(), state.passwords.dummy_checks());
    Ok(([(http::header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}
