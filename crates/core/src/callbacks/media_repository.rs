//! Media repository callbacks (`register_media_repository_callbacks`, `SYNAPSE.md` §6).
//! Failures propagate (500), as in Synapse.

use crate::{
    callbacks::{
        outcome::{DenyShape, DenySpec},
        rules::{FirstFalse, FirstSome},
        FailurePolicy,
    },
    error::ErrCode,
    types::{JsonObject, UserId},
};

crate::callbacks::define_category! {
    /// The media repository callbacks every module implements, in YAML order.
    category media_repository, slice MXMOD_MEDIA_REPOSITORY_CALLBACKS, enum MediaRepositoryCallback, struct MediaRepositoryCallbacks;

    /// `get_media_config_for_user(user_id)`: `GET /_matrix/client/v1/media/config` and
    /// `/_matrix/media/v3/config`. The first `Some` is the whole answer body.
    fn get_media_config_for_user(user_id: &'a UserId) -> Option<JsonObject>
        where rule = FirstSome<JsonObject>,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;

    /// `is_user_allowed_to_upload_media_of_size(user_id, size)`: an upload of `size`
    /// bytes (its `Content-Length`, before the body is read; else the bytes received).
    /// The first `false` → 413 `M_TOO_LARGE` "Upload request body is too large".
    fn is_user_allowed_to_upload_media_of_size(user_id: &'a UserId, size: u64) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(413, ErrCode::TOO_LARGE, "Upload request body is too large", DenyShape::Fixed),
        on_error = FailurePolicy::INTERNAL;
}
