//! What callbacks return: allow, deny with an errcode, deny with an errcode and extra fields.

use std::collections::HashSet;

use crate::{
    error::{ErrCode, MatrixError},
    types::{JsonObject, OwnedUserId},
};

/// The answer of a spam-checker "may"/"check" callback (Synapse's `NOT_SPAM`, `Codes.X`,
/// `(Codes.X, dict)` and the deprecated string form), compared by value.
///
/// What the client sees on a deny depends on the callback; see [`DenySpec`] and the
/// callback catalogue in [`crate::callbacks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpamCheck {
    /// `NOT_SPAM`: allow, and ask the next module.
    NotSpam,
    /// Deny with this errcode.
    Deny(ErrCode),
    /// Deny with this errcode and these extra top-level JSON fields.
    DenyWithFields(ErrCode, JsonObject),
    /// Deprecated string form: deny with this `error` text and `M_FORBIDDEN`. Only
    /// `check_event_for_spam` honours the text; elsewhere it is Synapse's "invalid value",
    /// a plain `M_FORBIDDEN` deny.
    DenyWithMessage(String),
}

impl SpamCheck {
    /// Synapse's `NOT_SPAM`.
    pub const NOT_SPAM: SpamCheck = SpamCheck::NotSpam;

    /// The `check_*_for_spam` boolean polarity: `true` means spam (deny `M_FORBIDDEN`).
    pub fn from_is_spam(is_spam: bool) -> Self {
        if is_spam {
            Self::Deny(ErrCode::FORBIDDEN)
        } else {
            Self::NotSpam
        }
    }

    /// The deprecated `user_may_*` boolean polarity: `true` means allowed.
    pub fn from_may(allowed: bool) -> Self {
        Self::from_is_spam(!allowed)
    }

    /// Whether this lets the operation through.
    pub fn is_not_spam(&self) -> bool {
        matches!(self, Self::NotSpam)
    }

    /// The error a client receives for this answer from a callback with this deny
    /// behaviour, or `None` when it allows. This is the table of `SYNAPSE.md` §3.1.
    #[inline]
    pub fn into_error(self, deny: &DenySpec) -> Option<MatrixError> {
        let (errcode, fields, message) = match self {
            Self::NotSpam => return None,
            Self::Deny(code) => (code, JsonObject::new(), None),
            Self::DenyWithFields(code, fields) => match deny.shape {
                DenyShape::CodeOnly => (ErrCode::FORBIDDEN, JsonObject::new(), None),
                _ => (code, fields, None),
            },
            Self::DenyWithMessage(message) => match deny.shape {
                DenyShape::Event => (ErrCode::FORBIDDEN, JsonObject::new(), Some(message)),
                _ => (ErrCode::FORBIDDEN, JsonObject::new(), None),
            },
        };
        let error = message.unwrap_or_else(|| deny.error.to_owned());
        Some(match deny.shape {
            DenyShape::Fixed => MatrixError::new(deny.status, deny.errcode.clone(), error),
            _ => MatrixError::new(deny.status, errcode, error).with_fields(fields),
        })
    }
}

/// How a deny of one callback becomes a client error: status, default errcode, `error`
/// text, and which [`SpamCheck`] forms it honours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenySpec {
    /// HTTP status of the deny.
    pub status: u16,
    /// The errcode used by boolean denies (and by `Fixed`).
    pub errcode: ErrCode,
    /// The `error` text.
    pub error: &'static str,
    /// Which answer forms keep their errcode, fields and message.
    pub shape: DenyShape,
}

impl DenySpec {
    /// A deny with the given status, errcode, text and shape.
    pub const fn new(status: u16, errcode: ErrCode, error: &'static str, shape: DenyShape) -> Self {
        Self { status, errcode, error, shape }
    }

    /// For callbacks that never deny (notifications, routers).
    pub const NONE: DenySpec = DenySpec::new(403, ErrCode::FORBIDDEN, "Forbidden", DenyShape::Fixed);

    /// The error for a boolean or forced deny.
    pub fn error(&self) -> MatrixError {
        MatrixError::new(self.status, self.errcode.clone(), self.error)
    }
}

/// Which forms of [`SpamCheck`] a callback honours (the columns of `SYNAPSE.md` §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyShape {
    /// `check_event_for_spam`: errcode, extra fields and the deprecated message.
    Event,
    /// `user_may_*`, `check_login_for_spam`: errcode and extra fields.
    CodeAndFields,
    /// `user_may_send_state_event`: errcode only; fields make the answer invalid (`M_FORBIDDEN`).
    CodeOnly,
    /// Status, errcode and text are fixed whatever the module said (media upload: 400
    /// `M_UNKNOWN` "Bad content"; registration: 429 `M_UNKNOWN` "Rate limited").
    Fixed,
}

/// The answer of `check_registration_for_spam` (Synapse's `RegistrationBehaviour`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationBehaviour {
    /// Register normally.
    Allow,
    /// Register, but the user's actions reach nobody else.
    ShadowBan,
    /// Refuse (the client sees 429 `M_UNKNOWN` "Rate limited").
    Deny,
}

/// The answer of `check_event_allowed`.
#[derive(Clone, Debug, PartialEq)]
pub enum EventAllowed {
    /// Allow the event as it is; ask the next module.
    Allow,
    /// Refuse the event (403 `M_FORBIDDEN`).
    Deny,
    /// Allow the event with this replacement event dict (local events only); later
    /// modules are not asked.
    Replace(JsonObject),
}

/// The answer of `get_interested_users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterestedUsers {
    /// `PRESENCE_ALL_USERS`: every user's presence.
    All,
    /// These users' presence, on top of room-sharing.
    Users(HashSet<OwnedUserId>),
}

impl Default for InterestedUsers {
    fn default() -> Self {
        Self::Users(HashSet::new())
    }
}

/// A login type a password auth provider handles: Synapse's `auth_checkers` key
/// `(login_type, fields)`. The type is offered in `GET /login`; a `POST /login` of it must
/// carry every field (else 400 `M_UNKNOWN` "Missing parameters for login type ...").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginType {
    /// The `type` of the login request, such as `com.devture.shared_secret_auth`.
    pub login_type: String,
    /// The fields of the login request the checker needs.
    pub fields: Vec<String>,
}

impl LoginType {
    /// A login type and the fields its requests must carry.
    pub fn new(login_type: impl Into<String>, fields: &[&str]) -> Self {
        Self { login_type: login_type.into(), fields: fields.iter().map(|field| (*field).to_owned()).collect() }
    }
}

/// What the client is told after a successful login (Synapse's `LoginResponse`), as a
/// module's [`OnLoggedIn`] hook receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginResponse {
    /// The user who logged in.
    pub user_id: OwnedUserId,
    /// The access token issued.
    pub access_token: String,
    /// The device the token is for.
    pub device_id: String,
    /// The server name.
    pub home_server: String,
}

/// A module's hook run after a login it authenticated (the second element of Synapse's
/// `check_auth` answer).
pub type OnLoggedIn =
    Box<dyn FnOnce(LoginResponse) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// A password auth provider's "this is the user": Synapse's `(user_id, callback)`.
pub struct AuthResult {
    /// The user the request authenticates (must be a local, existing user).
    pub user_id: OwnedUserId,
    /// Run after the access token is issued, with what the client receives.
    pub on_logged_in: Option<OnLoggedIn>,
}

impl AuthResult {
    /// The request authenticates `user_id`.
    pub fn user(user_id: OwnedUserId) -> Self {
        Self { user_id, on_logged_in: None }
    }

    /// Also runs `hook` after the login succeeded.
    pub fn with_on_logged_in<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce(LoginResponse) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_logged_in = Some(Box::new(move |response| Box::pin(hook(response))));
        self
    }
}

impl std::fmt::Debug for AuthResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthResult")
            .field("user_id", &self.user_id)
            .field("on_logged_in", &self.on_logged_in.is_some())
            .finish()
    }
}

/// The answer of `get_ratelimit_override_for_user` (Synapse's `RatelimitOverride`): this
/// user's rate and burst for the named limiter. `per_second == 0.0` exempts the user.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatelimitOverride {
    /// Actions per second in the long run; `0.0` disables the limit for this user.
    pub per_second: f64,
    /// Actions allowed in a burst.
    pub burst_count: u32,
}

/// What a callback may return: its answer, or `Result<answer, E>` for a fallible one.
#[diagnostic::on_unimplemented(
    message = "a callback returning `{Self}` cannot answer with `{T}`",
    note = "return `{T}` or `Result<{T}, E>` where `E: Into<mxmod::CallbackError>`"
)]
pub trait IntoCallbackResult<T> {
    /// Normalises the return value.
    fn into_callback_result(self) -> Result<T, crate::error::CallbackError>;
}

impl<T> IntoCallbackResult<T> for T {
    fn into_callback_result(self) -> Result<T, crate::error::CallbackError> {
        Ok(self)
    }
}

impl<T, E: Into<crate::error::CallbackError>> IntoCallbackResult<T> for Result<T, E> {
    fn into_callback_result(self) -> Result<T, crate::error::CallbackError> {
        self.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: serde_json::Value) -> JsonObject {
        value.as_object().cloned().unwrap_or_default()
    }

    const EVENT: DenySpec =
        DenySpec::new(403, ErrCode::FORBIDDEN, "This message has been rejected as probable spam", DenyShape::Event);
    const MAY: DenySpec =
        DenySpec::new(403, ErrCode::FORBIDDEN, "You are not permitted to create rooms", DenyShape::CodeAndFields);
    const STATE: DenySpec =
        DenySpec::new(403, ErrCode::FORBIDDEN, "You are not permitted to send the state event", DenyShape::CodeOnly);
    const MEDIA: DenySpec = DenySpec::new(400, ErrCode::UNKNOWN, "Bad content", DenyShape::Fixed);

    // SYNAPSE.md §3.1 and A7: check_event_for_spam's answers, by value.
    #[test]
    fn event_spam_answers_map_like_synapse() {
        assert_eq!(SpamCheck::NotSpam.into_error(&EVENT), None);
        assert_eq!(SpamCheck::from_is_spam(false).into_error(&EVENT), None);
        let spam = SpamCheck::from_is_spam(true).into_error(&EVENT).unwrap();
        assert_eq!((spam.status, spam.errcode.as_str()), (403, "M_FORBIDDEN"));
        assert_eq!(spam.error, "This message has been rejected as probable spam");
        let text = SpamCheck::DenyWithMessage("ANY OTHER STRING".into()).into_error(&EVENT).unwrap();
        assert_eq!(text.to_json(), json!({"errcode": "M_FORBIDDEN", "error": "ANY OTHER STRING"}));
        let limit = SpamCheck::Deny(ErrCode::LIMIT_EXCEEDED).into_error(&EVENT).unwrap();
        assert_eq!(limit.errcode, ErrCode::LIMIT_EXCEEDED);
        let extra =
            SpamCheck::DenyWithFields(ErrCode::SERVER_NOT_TRUSTED, fields(json!({"additional_field": "12345"})))
                .into_error(&EVENT)
                .unwrap();
        assert_eq!(
            extra.to_json(),
            json!({
                "errcode": "M_SERVER_NOT_TRUSTED",
                "error": "This message has been rejected as probable spam",
                "additional_field": "12345"
            })
        );
    }

    // user_may_* polarity: true = allowed; a message form is "invalid" → plain M_FORBIDDEN.
    #[test]
    fn may_answers_use_allow_polarity() {
        assert_eq!(SpamCheck::from_may(true).into_error(&MAY), None);
        let denied = SpamCheck::from_may(false).into_error(&MAY).unwrap();
        assert_eq!(
            denied.to_json(),
            json!({"errcode": "M_FORBIDDEN", "error": "You are not permitted to create rooms"})
        );
        let invalid = SpamCheck::DenyWithMessage("nope".into()).into_error(&MAY).unwrap();
        assert_eq!(invalid.error, "You are not permitted to create rooms");
        let fields_kept = SpamCheck::DenyWithFields(ErrCode::BAD_ALIAS, fields(json!({"another_field": "12345"})))
            .into_error(&MAY)
            .unwrap();
        assert_eq!(fields_kept.fields.get("another_field"), Some(&json!("12345")));
        assert_eq!(fields_kept.errcode, ErrCode::BAD_ALIAS);
    }

    #[test]
    fn state_event_rejects_fields_and_media_is_fixed() {
        let state =
            SpamCheck::DenyWithFields(ErrCode::LIMIT_EXCEEDED, fields(json!({"x": 1}))).into_error(&STATE).unwrap();
        assert_eq!(
            state.to_json(),
            json!({"errcode": "M_FORBIDDEN", "error": "You are not permitted to send the state event"})
        );
        let media = SpamCheck::DenyWithFields(ErrCode::FORBIDDEN, fields(json!({"x": 1}))).into_error(&MEDIA).unwrap();
        assert_eq!(media.to_json(), json!({"errcode": "M_UNKNOWN", "error": "Bad content"}));
        assert_eq!(media.status, 400);
    }
}
