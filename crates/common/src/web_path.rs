//! The rules for a web-resource mount path, in one place: the macros check
//! `#[web_resource("/path")]` literals with them at compile time, and `mxmod`'s
//! `ResourcePath::parse` checks run-time paths with them.

/// What is wrong with a mount path, if anything.
pub fn problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("it must start with `/`")
    } else if path == "/_matrix" || path.starts_with("/_matrix/") {
        Some("paths under `/_matrix/` belong to the Matrix APIs; use `/_synapse/client/<module>/...`")
    } else if path.len() > 1 && path.ends_with('/') {
        Some("it must not end with `/`")
    } else if path.contains("//") {
        Some("it must not contain an empty segment (`//`)")
    } else if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it must not contain `?`, `#`, whitespace or control characters")
    } else {
        None
    }
}

/// The HTTP methods a web resource may name (`method = "GET"`); `HEAD` is answered from
/// `GET`.
pub const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// What is wrong with a `method = "..."` value, if anything.
pub fn method_problem(method: &str) -> Option<&'static str> {
    if METHODS.contains(&method) {
        None
    } else if method == "HEAD" {
        Some("`HEAD` is answered from the `GET` handler; name `GET`")
    } else {
        Some("expected one of `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`")
    }
}
