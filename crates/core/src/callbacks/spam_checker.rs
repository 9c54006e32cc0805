//! Spam-checker callbacks (`register_spam_checker_callbacks`, `SYNAPSE.md` §3.1).
//!
//! Every callback is FIRST-DENY (the first module that does not answer `NOT_SPAM` ends
//! the chain) unless its row says otherwise. A failing callback fails the request with
//! 500 `M_UNKNOWN`, or with the module's own [`MatrixError`](crate::MatrixError).

use crate::{
    callbacks::{
        outcome::{DenyShape, DenySpec, RegistrationBehaviour, SpamCheck},
        rules::{FirstDeny, FirstNonAllow, FirstTrue},
        FailurePolicy,
    },
    error::ErrCode,
    types::{
        Event, EventType, FileInfo, JsonObject, MediaFile, RequestInfo, RoomAliasId, RoomId, StateKey, ThreepidInfo,
        UserId, UserProfile,
    },
};

crate::callbacks::define_category! {
    /// The spam-checker callbacks every module implements, in YAML order.
    category spam_checker, slice MXMOD_SPAM_CHECKER_CALLBACKS, enum SpamCheckerCallback, struct SpamCheckerCallbacks;

    /// `check_event_for_spam(event)`: a local non-membership event is about to be sent
    /// (`PUT .../send/...`, `PUT .../state/...`). Deny → 403 "This message has been
    /// rejected as probable spam" with the module's errcode and fields, or the
    /// deprecated message as `error`.
    fn check_event_for_spam(event: &'a Event) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This message has been rejected as probable spam", DenyShape::Event),
        on_error = FailurePolicy::INTERNAL;

    /// `should_drop_federated_event(event)`: a federated event arrives; `true` drops it
    /// silently. FIRST-TRUTHY.
    fn should_drop_federated_event(event: &'a Event) -> bool
        where rule = FirstTrue,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_join_room(user_id, room_id, is_invited)`: a local user joins a room (not
    /// the creator's own join). Deny → 403 "Not allowed to join this room".
    fn user_may_join_room(user_id: &'a UserId, room_id: &'a RoomId, is_invited: bool) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Not allowed to join this room", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_invite(inviter, invitee, room_id)`: a local user invites someone. Deny →
    /// 403 "Invites have been disabled on this server".
    fn user_may_invite(inviter: &'a UserId, invitee: &'a UserId, room_id: &'a RoomId) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Invites have been disabled on this server", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `federated_user_may_invite(event)`: an invite arrives over federation (then
    /// `user_may_invite` is asked too). Deny → 403 "This user is not permitted to send
    /// invites to this server/user".
    fn federated_user_may_invite(event: &'a Event) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This user is not permitted to send invites to this server/user", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_send_3pid_invite(inviter, medium, address, room_id)`: an invite by email
    /// or phone number. Deny → 403 "Cannot send threepid invite".
    fn user_may_send_3pid_invite(inviter: &'a UserId, medium: &'a str, address: &'a str, room_id: &'a RoomId) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Cannot send threepid invite", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_create_room(user_id, room_config)`: `POST /createRoom`, after
    /// `on_create_room`; `room_config` is a copy of the request body. Deny → 403 "You
    /// are not permitted to create rooms".
    fn user_may_create_room(user_id: &'a UserId, room_config: &'a JsonObject) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "You are not permitted to create rooms", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_create_room_alias(user_id, room_alias)`: `PUT /directory/room/{alias}`
    /// and `createRoom` with `room_alias_name`. Deny → 403 "This user is not permitted to
    /// create this alias".
    fn user_may_create_room_alias(user_id: &'a UserId, room_alias: &'a RoomAliasId) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This user is not permitted to create this alias", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_publish_room(user_id, room_id)`: `PUT /directory/list/room/{id}`, for
    /// both visibilities. Deny → 403 "This user is not permitted to publish rooms to the
    /// room list".
    fn user_may_publish_room(user_id: &'a UserId, room_id: &'a RoomId) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This user is not permitted to publish rooms to the room list", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;

    /// `user_may_send_state_event(user_id, room_id, event_type, state_key, content)`:
    /// `PUT /rooms/{id}/state/{type}/{key}`. Only `NOT_SPAM` or an errcode are valid;
    /// extra fields make the answer a plain `M_FORBIDDEN`. Deny → 403 "You are not
    /// permitted to send the state event".
    fn user_may_send_state_event(user_id: &'a UserId, room_id: &'a RoomId, event_type: &'a EventType, state_key: &'a StateKey, content: &'a JsonObject) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "You are not permitted to send the state event", DenyShape::CodeOnly),
        on_error = FailurePolicy::INTERNAL;

    /// `check_username_for_spam(user_profile, requester_id)`: each user-directory search
    /// result; `true` removes it silently. FIRST-TRUTHY.
    fn check_username_for_spam(user_profile: &'a UserProfile, requester_id: &'a UserId) -> bool
        where rule = FirstTrue,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;

    /// `check_registration_for_spam(email_threepid, username, request_info,
    /// auth_provider_id)`: every registration. `DENY` → 429 `M_UNKNOWN` "Rate limited";
    /// `SHADOW_BAN` registers a shadow-banned user. FIRST-NON-ALLOW.
    fn check_registration_for_spam(email_threepid: Option<&'a ThreepidInfo>, username: Option<&'a str>, request_info: &'a [RequestInfo], auth_provider_id: Option<&'a str>) -> RegistrationBehaviour
        where rule = FirstNonAllow,
        deny = DenySpec::new(429, ErrCode::UNKNOWN, "Rate limited", DenyShape::Fixed),
        on_error = FailurePolicy::INTERNAL;

    /// `check_media_file_for_spam(file_wrapper, file_info)`: every stored upload. Deny →
    /// 400 `M_UNKNOWN` "Bad content" (the module's errcode and fields are dropped).
    fn check_media_file_for_spam(file_wrapper: &'a MediaFile, file_info: &'a FileInfo) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(400, ErrCode::UNKNOWN, "Bad content", DenyShape::Fixed),
        on_error = FailurePolicy::INTERNAL;

    /// `check_login_for_spam(user_id, device_id, initial_display_name, request_info,
    /// auth_provider_id)`: a login whose credentials were valid. Deny → 403 "Login was
    /// blocked by the server".
    fn check_login_for_spam(user_id: &'a UserId, device_id: Option<&'a str>, initial_display_name: Option<&'a str>, request_info: &'a [RequestInfo], auth_provider_id: Option<&'a str>) -> SpamCheck
        where rule = FirstDeny,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Login was blocked by the server", DenyShape::CodeAndFields),
        on_error = FailurePolicy::INTERNAL;
}
