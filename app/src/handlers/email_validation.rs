//! Email validation, as Synapse does it without an identity server: a client asks for a
//! token to be mailed (`.../email/requestToken`), the owner of the address follows the
//! link in the mail (`.../email/submit_token`), and the session is validated; then
//! `POST /account/3pid/add` binds the validated address to the requester (after password
//! user-interactive auth), and `POST /account/3pid/delete` unbinds one. A password reset
//! (`/account/password/email/requestToken`) mails an address a user already holds, and
//! its link opens a confirmation page whose form validates the session; the reset itself
//! is `POST /account/password` (`session.rs`).
//!
//! `requestToken` runs the password auth providers' `is_3pid_allowed` (403
//! `M_THREEPID_DENIED` on the first `false`; not for a password reset, as in Synapse), is
//! rate limited per client address and per email address (`rc_3pid_validation`), refuses
//! an address a user already holds (400 `M_THREEPID_IN_USE`; for a reset, one nobody
//! holds, 400 `M_THREEPID_NOT_FOUND`), and mails a token only for a `send_attempt` higher
//! than the session's last one (a repeat answers the same `sid` without a mail). Without
//! an `email:` section the server validates nothing: 400,
//! `M_THREEPID_MEDIUM_NOT_SUPPORTED` for adding an address, `M_UNKNOWN` for registration
//! and resets (Synapse's answers). A `next_link` (an `http`/`https` URL) is where the
//! validation page redirects, with `sid` added.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    Json,
};
use mxmod::{mail::MailError, types::JsonObject, ErrCode};
use rand::{
    distr::{Alphabetic, SampleString},
    Rng as _,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult, Auth, ClientIp, FormPairs, JsonBody},
    state::{now_ms, AppState},
    storage::{ValidationFailure, ValidationRequest},
    threepids,
};

/// Longest `client_secret` (the spec's limit).
const MAX_CLIENT_SECRET: usize = 255;

/// Longest `next_link` accepted.
const MAX_NEXT_LINK: usize = 2048;

/// Why the token is asked for: the mail's wording and its link differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// `POST /register/email/requestToken`.
    Registration,
    /// `POST /account/3pid/email/requestToken`.
    AddThreepid,
    /// `POST /account/password/email/requestToken`.
    PasswordReset,
}

/// The path of the link a password reset mail carries (Synapse's): a page that asks the
/// owner to confirm, then validates the session when the form is sent.
pub(super) const PASSWORD_RESET_LINK: &str = "/_synapse/client/password_reset/email/submit_token";

impl Purpose {
    /// The path segment of the mailed link (Synapse's).
    fn link_path(self) -> &'static str {
        match self {
            Purpose::Registration => "_matrix/client/unstable/registration/email/submit_token",
            Purpose::AddThreepid => "_matrix/client/unstable/add_threepid/email/submit_token",
            Purpose::PasswordReset => &PASSWORD_RESET_LINK[1..],
        }
    }

    /// Synapse's answer when the server has no `email:` section.
    fn disabled(self) -> ApiError {
        match self {
            Purpose::Registration => {
                ApiError::new(400, ErrCode::UNKNOWN, "Email-based registration has been disabled on this server")
            }
            Purpose::AddThreepid => ApiError::new(
                400,
                ErrCode::custom("M_THREEPID_MEDIUM_NOT_SUPPORTED"),
                "Adding an email to your account is disabled on this server",
            ),
            Purpose::PasswordReset => {
                ApiError::new(400, ErrCode::UNKNOWN, "Email-based password resets have been disabled on this server")
            }
        }
    }

    /// The mail's subject after `[server name] `.
    fn subject(self) -> &'static str {
        match self {
            Purpose::Registration | Purpose::AddThreepid => "Validate your email",
            Purpose::PasswordReset => "Password reset",
        }
    }

    /// The mail's first paragraph, up to the link: what was asked, and what the link does.
    fn reason(self) -> &'static str {
        match self {
            Purpose::Registration => {
                "You have asked us to register this email with a new Matrix account. If this was you, please click \
                 the link below to confirm your email address:"
            }
            Purpose::AddThreepid => {
                "You have asked us to add this email to your Matrix account. If this was you, please click the link \
                 below to confirm your email address:"
            }
            Purpose::PasswordReset => {
                "A password reset request has been received for your Matrix account. If this was you, please click \
                 the link below to confirm resetting your password:"
            }
        }
    }

    /// The mail's paragraph after the link.
    fn otherwise(self) -> &'static str {
        match self {
            Purpose::Registration | Purpose::AddThreepid => "If this was not you, you can safely disregard this email.",
            Purpose::PasswordReset => {
                "If this was not you, DO NOT click the link above and instead contact your server administrator."
            }
        }
    }
}

/// A checked `requestToken` body.
#[derive(Debug, PartialEq, Eq)]
struct TokenRequest {
    client_secret: String,
    /// Canonical form.
    email: String,
    send_attempt: i64,
    next_link: Option<String>,
}

/// Checks a `requestToken` body as Synapse does: every parameter present (400
/// `M_MISSING_PARAM`), `client_secret` of the spec's characters `[0-9a-zA-Z.=_-]` and at
/// most 255 of them, an email address that parses, an integer `send_attempt`, an optional
/// `http`/`https` `next_link` (400 `M_INVALID_PARAM`).
fn parse_request(body: &JsonObject) -> ApiResult<TokenRequest> {
    let missing: Vec<&str> =
        ["client_secret", "email", "send_attempt"].into_iter().filter(|key| !body.contains_key(*key)).collect();
    if !missing.is_empty() {
        return Err(ApiError::new(400, ErrCode::MISSING_PARAM, format!("Missing params: {missing:?}")));
    }
    let client_secret = match &body["client_secret"] {
        Value::String(secret) if valid_client_secret(secret) => secret.clone(),
        _ => return Err(ApiError::invalid_param("Invalid client_secret parameter")),
    };
    let email = match &body["email"] {
        Value::String(address) => threepids::validate_email(address).map_err(ApiError::invalid_param)?,
        _ => return Err(ApiError::invalid_param("`email` must be a string")),
    };
    let send_attempt =
        body["send_attempt"].as_i64().ok_or_else(|| ApiError::invalid_param("`send_attempt` must be an integer"))?;
    let next_link = match body.get("next_link") {
        None | Some(Value::Null) => None,
        Some(Value::String(link)) if valid_next_link(link) => Some(link.clone()),
        Some(_) => return Err(ApiError::invalid_param("`next_link` must be an http or https URL")),
    };
    Ok(TokenRequest { client_secret, email, send_attempt, next_link })
}

/// The spec's `client_secret`: 1 to 255 characters of `[0-9a-zA-Z.=_-]`.
fn valid_client_secret(secret: &str) -> bool {
    !secret.is_empty()
        && secret.len() <= MAX_CLIENT_SECRET
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'=' | b'_' | b'-'))
}

/// An absolute `http`/`https` URL without spaces or controls (no `javascript:` or `file:`
/// redirect from the server's own page).
fn valid_next_link(link: &str) -> bool {
    let rest = link.strip_prefix("https://").or_else(|| link.strip_prefix("http://"));
    link.len() <= MAX_NEXT_LINK
        && rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && !link.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `next_link` with the session's `sid` added to its query, as Synapse does.
fn with_sid(next_link: &str, sid: &str) -> String {
    let separator = if next_link.contains('?') { '&' } else { '?' };
    format!("{next_link}{separator}sid={}", form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>())
}

/// # `POST /_matrix/client/v3/register/email/requestToken`
pub(super) async fn register_request_token(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    request_token(&state, ip, &body, Purpose::Registration).await
}

/// # `POST /_matrix/client/v3/account/3pid/email/requestToken`
///
/// Unauthenticated, as in the spec and Synapse: the session proves the address, and the
/// user it is added to authenticates when it is used.
pub(super) async fn add_threepid_request_token(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    request_token(&state, ip, &body, Purpose::AddThreepid).await
}

/// # `POST /_matrix/client/v3/account/password/email/requestToken`
///
/// Unauthenticated: mails a link to an address a user holds, so that its owner can set a
/// new password (Synapse's `EmailPasswordRequestTokenRestServlet`). An address nobody
/// holds is 400 `M_THREEPID_NOT_FOUND`, or, with `request_token_inhibit_3pid_errors`, a
/// made-up `sid` after a pause and no mail.
pub(super) async fn password_request_token(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    JsonBody(body): JsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    request_token(&state, ip, &body, Purpose::PasswordReset).await
}

/// As Synapse answers a request the server will not act on, when
/// `request_token_inhibit_3pid_errors` hides why: a made-up `sid`, after a wait that looks
/// like sending a mail; no session exists behind it.
async fn inhibited_answer() -> Json<Value> {
    let wait = Duration::from_millis(rand::rng().random_range(100..=1000));
    tokio::time::sleep(wait).await;
    Json(json!({ "sid": Alphabetic.sample_string(&mut rand::rng(), 16) }))
}

async fn request_token(state: &AppState, ip: ClientIp, body: &JsonObject, purpose: Purpose) -> ApiResult<Json<Value>> {
    let Some(mailer) = state.settings.mailer.clone() else { return Err(purpose.disabled()) };
    let request = parse_request(body)?;
    if purpose != Purpose::PasswordReset {
        // Synapse asks the modules about an address to be added, not about a reset.
        let registration = purpose == Purpose::Registration;
        let callbacks = state.modules.callbacks();
        callbacks.password_auth_provider.is_3pid_allowed("email", &request.email, registration).await?;
    }
    state.limits.threepid_validation.check((1u8, ip.0))?;
    state.limits.threepid_validation.check((2u8, request.email.as_str()))?;
    let held = state.storage.user_by_threepid("email", &request.email).await?.is_some();
    match (purpose, held) {
        (Purpose::PasswordReset, false) if state.settings.request_token_inhibit_3pid_errors => {
            return Ok(inhibited_answer().await)
        }
        (Purpose::PasswordReset, false) => {
            return Err(ApiError::new(400, ErrCode::custom("M_THREEPID_NOT_FOUND"), "Email not found"))
        }
        (Purpose::Registration | Purpose::AddThreepid, true) if state.settings.request_token_inhibit_3pid_errors => {
            return Ok(inhibited_answer().await)
        }
        (Purpose::Registration | Purpose::AddThreepid, true) => {
            return Err(ApiError::new(400, ErrCode::custom("M_THREEPID_IN_USE"), "Email is already in use"))
        }
        _ => {}
    }
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    let lifetime = i64::try_from(mailer.validation_token_lifetime().as_millis()).unwrap_or(i64::MAX);
    let token = Alphabetic.sample_string(&mut rand::rng(), 32);
    let session_id = Alphabetic.sample_string(&mut rand::rng(), 16);
    let started = state
        .storage
        .start_threepid_validation(ValidationRequest {
            medium: "email".to_owned(),
            address: request.email.clone(),
            client_secret: request.client_secret.clone(),
            send_attempt: request.send_attempt,
            session_id,
            token: token.clone(),
            next_link: request.next_link.clone(),
            token_expires: now.saturating_add(lifetime),
            now,
        })
        .await?;
    if started.send {
        let link = format!(
            "{}{}?token={token}&client_secret={}&sid={}",
            state.settings.public_baseurl,
            purpose.link_path(),
            form_urlencoded::byte_serialize(request.client_secret.as_bytes()).collect::<String>(),
            started.session_id,
        );
        let subject = format!("[{}] {}", state.settings.server_name, purpose.subject());
        let (text, html) = validation_mail(purpose, &link);
        if let Err(error) = mailer.send(&request.email, &subject, &html, &text).await {
            // Nobody received this token: the next attempt starts afresh.
            state.storage.abandon_threepid_validation(&started.session_id).await?;
            tracing::warn!("validation mail to {} failed: {error}", request.email);
            return Err(match error {
                MailError::Address { message, .. } => {
                    ApiError::invalid_param(format!("Invalid email address: {message}"))
                }
                _ => ApiError::new(500, ErrCode::UNKNOWN, "An error was encountered when sending the email"),
            });
        }
    }
    Ok(Json(json!({ "sid": started.session_id })))
}

/// The `POST /account/3pid/add` body.
#[derive(Debug, Deserialize)]
pub(super) struct AddThreepid {
    client_secret: Option<String>,
    sid: Option<String>,
    auth: Option<Value>,
}

/// # `POST /_matrix/client/v3/account/3pid/add`
///
/// After password user-interactive auth, binds the address of a validated session to the
/// requester (Synapse's `AddThreepidRestServlet`), running
/// `on_add_user_third_party_identifier` and `on_threepid_bind`: 400
/// `M_THREEPID_AUTH_FAILED` "No validated 3pid session found" for a session that is unknown
/// or not validated, 400 `M_THREEPID_IN_USE` for an address another user holds.
pub(super) async fn add_threepid(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    JsonBody(body): JsonBody<AddThreepid>,
) -> ApiResult<Response> {
    if state.settings.mailer.is_none() {
        return Err(Purpose::AddThreepid.disabled());
    }
    let (Some(client_secret), Some(sid)) = (body.client_secret, body.sid) else {
        return Err(ApiError::new(400, ErrCode::MISSING_PARAM, "Missing params: client_secret and sid"));
    };
    if !valid_client_secret(&client_secret) {
        return Err(ApiError::invalid_param("Invalid client_secret parameter"));
    }
    if let Some(incomplete) = super::session::password_auth(&state, &auth, body.auth.as_ref()).await? {
        return Ok(incomplete);
    }
    let Some(validated) = state.storage.validated_threepid_session(&sid, &client_secret).await? else {
        return Err(ApiError::new(400, ErrCode::custom("M_THREEPID_AUTH_FAILED"), "No validated 3pid session found"));
    };
    threepids::add(&state, &auth.user_id, &validated.medium, &validated.address).await?;
    Ok(Json(json!({})).into_response())
}

/// The `POST /account/3pid/delete` body.
#[derive(Debug, Deserialize)]
pub(super) struct DeleteThreepid {
    medium: String,
    address: String,
}

/// # `POST /_matrix/client/v3/account/3pid/delete`
///
/// Unbinds one of the requester's identifiers (Synapse's `ThreepidDeleteRestServlet`),
/// running `on_remove_user_third_party_identifier`. There is no identity server to unbind
/// from: `id_server_unbind_result` is `no-support`.
pub(super) async fn delete_threepid(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    JsonBody(body): JsonBody<DeleteThreepid>,
) -> ApiResult<Json<Value>> {
    if state.settings.mailer.is_none() {
        return Err(ApiError::new(400, ErrCode::FORBIDDEN, "3PID changes are disabled on this server"));
    }
    let address = if body.medium == "email" {
        threepids::validate_email(&body.address).map_err(ApiError::invalid_param)?
    } else {
        body.address
    };
    threepids::remove(&state, &auth.user_id, &body.medium, &address).await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

/// The validation mail, text and HTML (after Synapse's `registration.txt`,
/// `add_threepid.txt` and `password_reset.txt` templates).
fn validation_mail(purpose: Purpose, link: &str) -> (String, String) {
    let (reason, otherwise) = (purpose.reason(), purpose.otherwise());
    let text = format!("Hello there,\n\n{reason}\n\n{link}\n\n{otherwise}\n\nThank you.\n");
    let link = html_escape(link);
    let label = match purpose {
        Purpose::Registration | Purpose::AddThreepid => "Verify Your Email Address",
        Purpose::PasswordReset => "Reset Your Password",
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<body>\n<p>Hello there,</p>\n<p>{reason}</p>\n<p><a \
         href=\"{link}\">{label}</a></p>\n<p>{otherwise}</p>\n<p>Thank you.</p>\n</body>\n</html>\n"
    );
    (text, html)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The query of a mailed link.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SubmitToken {
    sid: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

/// A link's three parameters, checked: 400 `M_MISSING_PARAM` / `M_INVALID_PARAM`.
struct Link {
    sid: String,
    client_secret: String,
    token: String,
}

impl SubmitToken {
    fn checked(self) -> ApiResult<Link> {
        let (Some(sid), Some(client_secret), Some(token)) = (self.sid, self.client_secret, self.token) else {
            return Err(ApiError::new(400, ErrCode::MISSING_PARAM, "Missing params: sid, client_secret and token"));
        };
        if !valid_client_secret(&client_secret) {
            return Err(ApiError::invalid_param("Invalid client_secret parameter"));
        }
        if sid.len() > MAX_CLIENT_SECRET || token.len() > MAX_CLIENT_SECRET {
            return Err(ApiError::invalid_param("Invalid sid or token parameter"));
        }
        Ok(Link { sid, client_secret, token })
    }
}

/// A small HTML page of the server's own.
fn page(status: StatusCode, body: &str) -> Response {
    (status, Html(format!("<!doctype html>\n<html lang=\"en\">\n<body>\n{body}\n</body>\n</html>\n"))).into_response()
}

/// # `GET /_matrix/client/unstable/registration/email/submit_token`
/// # `GET /_matrix/client/unstable/add_threepid/email/submit_token`
///
/// The link in a validation mail: validates the session (Synapse's
/// `RegistrationSubmitTokenServlet` and `AddThreepidEmailSubmitTokenServlet`). 302 to the
/// session's `next_link` (with `sid`), or 200 with a page saying so; 400 with a page giving
/// the reason for an unknown session, a wrong token or an expired one; 400
/// `M_MISSING_PARAM` / `M_INVALID_PARAM` for a malformed link.
pub(super) async fn submit_token(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SubmitToken>,
) -> ApiResult<Response> {
    if state.settings.mailer.is_none() {
        return Err(ApiError::new(400, ErrCode::UNKNOWN, "Email validation is disabled on this server"));
    }
    validate(&state, query.checked()?, "Your email has now been validated, please return to your client.").await
}

/// # `GET /_synapse/client/password_reset/email/submit_token`
///
/// The link in a password reset mail: a page asking its owner to confirm, whose form sends
/// the same parameters back by `POST` (Synapse's `PasswordResetSubmitTokenResource`), so
/// that a mail scanner that follows links validates nothing.
pub(super) async fn password_reset_confirmation(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SubmitToken>,
) -> ApiResult<Response> {
    if state.settings.mailer.is_none() {
        return Err(Purpose::PasswordReset.disabled());
    }
    let link = query.checked()?;
    let hidden =
        |name: &str, value: &str| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\"/>", html_escape(value));
    let form = format!(
        "<form method=\"post\">\n{}\n{}\n{}\n<p>You have asked to <strong>reset \
         your Matrix account's password</strong>. Click the button below to confirm. If you did not mean to, close \
         this page and your password will not be changed.</p>\n<p><button type=\"submit\">Confirm changing my \
         password</button></p>\n</form>",
        hidden("sid", &link.sid),
        hidden("token", &link.token),
        hidden("client_secret", &link.client_secret),
    );
    Ok(page(StatusCode::OK, &form))
}

/// # `POST /_synapse/client/password_reset/email/submit_token`
///
/// The confirmation page's form (its fields, or else the query's): validates the session,
/// answering as [`submit_token`] does.
pub(super) async fn password_reset_submit(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SubmitToken>,
    FormPairs(form): FormPairs,
) -> ApiResult<Response> {
    if state.settings.mailer.is_none() {
        return Err(Purpose::PasswordReset.disabled());
    }
    let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let fields = SubmitToken {
        sid: field("sid").or(query.sid),
        client_secret: field("client_secret").or(query.client_secret),
        token: field("token").or(query.token),
    };
    let validated = "Your email has now been validated, please return to your client to reset your password. You \
                     may now close this window.";
    validate(&state, fields.checked()?, validated).await
}

/// Validates the session a link names: 302 to its `next_link` (with `sid`), or 200 with
/// `validated`; 400 with a page giving the reason it failed.
async fn validate(state: &AppState, link: Link, validated: &str) -> ApiResult<Response> {
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    let outcome = state.storage.validate_threepid_session(&link.sid, &link.client_secret, &link.token, now).await?;
    Ok(match outcome {
        Ok(session) => match session.next_link {
            Some(next_link) => {
                (StatusCode::FOUND, [(http::header::LOCATION, with_sid(&next_link, &link.sid))], "").into_response()
            }
            None => page(StatusCode::OK, &format!("<p>{validated}</p>")),
        },
        Err(failure) => {
            let reason = match failure {
                ValidationFailure::UnknownSession => "Unknown session_id",
                ValidationFailure::WrongToken => "Validation token not found or has expired",
                ValidationFailure::Expired => "This token has expired. Please request a new one",
            };
            page(
                StatusCode::BAD_REQUEST,
                &format!("<p>The request failed for the following reason: {reason}. No changes have been made.</p>"),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => unreachable!("a JSON object literal"),
        }
    }

    fn errcode(result: ApiResult<TokenRequest>) -> String {
        result.unwrap_err().0.errcode.as_str().to_owned()
    }

    #[test]
    fn a_request_is_checked_as_the_spec_says() {
        let ok =
            parse_request(&body(json!({"client_secret": "a.b=c_d-9", "email": " Foo@Test.COM ", "send_attempt": 1})));
        assert_eq!(
            ok.unwrap(),
            TokenRequest {
                client_secret: "a.b=c_d-9".to_owned(),
                email: "foo@test.com".to_owned(),
                send_attempt: 1,
                next_link: None
            }
        );
        assert_eq!(errcode(parse_request(&body(json!({"email": "a@b.c", "send_attempt": 1})))), "M_MISSING_PARAM");
        for secret in [json!("has space"), json!(""), json!("x".repeat(256)), json!("ü"), json!(7)] {
            let request = body(json!({"client_secret": secret, "email": "a@b.c", "send_attempt": 1}));
            assert_eq!(errcode(parse_request(&request)), "M_INVALID_PARAM", "{secret}");
        }
        assert!(parse_request(&body(json!({"client_secret": "x".repeat(255), "email": "a@b.c", "send_attempt": 1})))
            .is_ok());
        for email in [json!("no-at-sign"), json!("a@b@c"), json!("@b.c"), json!("a@"), json!(["a@b.c"])] {
            let request = body(json!({"client_secret": "s", "email": email, "send_attempt": 1}));
            assert_eq!(errcode(parse_request(&request)), "M_INVALID_PARAM", "{email}");
        }
        for attempt in [json!("1"), json!(1.5), json!(null)] {
            let request = body(json!({"client_secret": "s", "email": "a@b.c", "send_attempt": attempt}));
            assert_eq!(errcode(parse_request(&request)), "M_INVALID_PARAM", "{attempt}");
        }
        let linked = |link: Value| {
            parse_request(&body(json!({"client_secret": "s", "email": "a@b.c", "send_attempt": 1, "next_link": link})))
        };
        assert_eq!(
            linked(json!("https://client.example/x?y=1")).unwrap().next_link.as_deref(),
            Some("https://client.example/x?y=1")
        );
        for bad in [
            json!("javascript:alert(1)"),
            json!("file:///etc/passwd"),
            json!("https://"),
            json!("https:///x"),
            json!("https://a b"),
            json!(3),
        ] {
            assert_eq!(errcode(linked(bad.clone())), "M_INVALID_PARAM", "{bad}");
        }
        assert_eq!(with_sid("https://c.example/done", "S1"), "https://c.example/done?sid=S1");
        assert_eq!(with_sid("https://c.example/done?a=1", "S1"), "https://c.example/done?a=1&sid=S1");
    }

    #[test]
    fn the_mail_carries_the_link_escaped_in_html() {
        let (text, html) = validation_mail(Purpose::Registration, "https://h/x?token=T&sid=S");
        assert!(text.contains("register this email") && text.contains("\n\nhttps://h/x?token=T&sid=S\n\n"), "{text}");
        assert!(html.contains("href=\"https://h/x?token=T&amp;sid=S\""), "{html}");
        assert!(validation_mail(Purpose::AddThreepid, "l").0.contains("add this email to your Matrix account"));
        let (text, html) = validation_mail(Purpose::PasswordReset, "https://h/r?token=T&sid=S");
        assert!(text.contains("confirm resetting your password:\n\nhttps://h/r?token=T&sid=S\n\n"), "{text}");
        assert!(text.contains("DO NOT click the link above"), "{text}");
        assert!(html.contains(">Reset Your Password</a>"), "{html}");
    }
}
