//! CORS on the Matrix APIs as Synapse answers it: every response carries
//! `Access-Control-Allow-Origin: *` and friends, and an `OPTIONS` request to any
//! `/_matrix/` path is answered 200 `{}` (a preflight needs nothing more).

use axum::{
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderMap, HeaderValue, Method};

/// Synapse's `set_cors_headers`.
fn add_headers(headers: &mut HeaderMap) {
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

/// The middleware: preflights end here; other requests get the headers on their answer.
/// (tower-http's `CorsLayer` answers only requests with the preflight headers, and with
/// an empty body; Synapse answers every `OPTIONS` with `{}`.)
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/_matrix/") {
        return next.run(request).await;
    }
    let mut response = if request.method() == Method::OPTIONS {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        next.run(request).await
    };
    add_headers(response.headers_mut());
    response
}
