//! CORS on the Matrix APIs as Synapse answers it: every response carries
//! `Access-Control-Allow-Origin: *` and friends, and an `OPTIONS` request to any
//! `/_matrix/` path is answered 200 `{}` (a preflight needs nothing more).

//!
//! Applied by the connection layer (`connections.rs`) around the router, so it costs a
//! prefix check and four header inserts per request and no boxed middleware future.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue};

/// Synapse's `set_cors_headers`.
pub(crate) fn add_headers(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, Content-Type, Authorization, Date"),
    );
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Synapse-Trace-Id, Server"));
}

/// Whether a request to `path` gets CORS answers (the Matrix APIs).
pub(crate) fn applies(path: &str) -> bool {
    path.starts_with("/_matrix/")
}

/// The answer to an `OPTIONS` request on the Matrix APIs: 200 `{}` (tower-http's
/// `CorsLayer` answers only requests with the preflight headers, and with an empty body;
/// Synapse answers every `OPTIONS` with `{}`). [`add_headers`] is applied after.
pub(crate) fn preflight() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}
