//! Who is calling a web resource: the one Bearer-token reader of the project and a
//! constant-time secret check, for resources guarded by a shared secret.

use http::{header, HeaderMap, Uri};
use subtle::ConstantTimeEq;

use crate::{
    error::{ErrCode, MatrixError},
    web::WebRequest,
};

/// The token of an `Authorization: Bearer <token>` header, or `None` when there is no
/// such header, its scheme is not `Bearer` (compared case-insensitively, RFC 9110
/// §11.1) or the token is empty. Spaces around the token are ignored.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

/// The access token of a request as Synapse reads it: the Bearer header, else the
/// `access_token` query parameter.
pub fn access_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(token) = bearer_token(headers) {
        return Some(token.to_owned());
    }
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty())
}

/// Whether a presented secret equals the expected one, in time that does not depend on
/// where they differ (only on their lengths).
pub fn secret_matches(presented: &str, expected: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// Checks that a request carries `Authorization: Bearer <secret>`: 401
/// `M_MISSING_TOKEN` without a Bearer token, 401 `M_UNKNOWN_TOKEN` for a wrong one.
pub fn require_bearer_secret(request: &WebRequest, secret: &str) -> Result<(), MatrixError> {
    let token = bearer_token(request.headers())
        .ok_or_else(|| MatrixError::new(401, ErrCode::MISSING_TOKEN, "Missing access token"))?;
    if secret_matches(token, secret) {
        Ok(())
    } else {
        Err(MatrixError::new(401, ErrCode::UNKNOWN_TOKEN, "Unrecognised access token"))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_one_way() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer a b")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_query_parameter_is_the_fallback() {
        let uri: Uri = "/x?access_token=q%20t".parse().unwrap();
        assert_eq!(access_token(&HeaderMap::new(), &uri).as_deref(), Some("q t"));
        assert_eq!(access_token(&headers("Bearer h"), &uri).as_deref(), Some("h"));
        assert_eq!(access_token(&HeaderMap::new(), &"/x?access_token=".parse().unwrap()), None);
    }

    #[test]
    fn secrets_are_compared_whole() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cre", "s3cret"));
        assert!(!secret_matches("s3cret!", "s3cret"));
        assert!(!secret_matches("", "s3cret"));
        let request = |value: Option<&str>| {
            let mut builder = http::Request::post("/x");
            if let Some(value) = value {
                builder = builder.header(header::AUTHORIZATION, value);
            }
            builder.body(Bytes::new()).unwrap()
        };
        assert_eq!(require_bearer_secret(&request(None), "s").unwrap_err().errcode, ErrCode::MISSING_TOKEN);
        assert_eq!(require_bearer_secret(&request(Some("Bearer x")), "s").unwrap_err().errcode, ErrCode::UNKNOWN_TOKEN);
        assert!(require_bearer_secret(&request(Some("Bearer s")), "s").is_ok());
    }
}
