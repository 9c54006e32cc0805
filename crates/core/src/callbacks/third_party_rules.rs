//! Third-party event rules callbacks (`register_third_party_rules_callbacks`,
//! `SYNAPSE.md` §3.2).

use crate::{
    callbacks::{
        outcome::{DenyShape, DenySpec, EventAllowed},
        rules::{All, FirstDenyOrReplace, FirstFalse},
        FailurePolicy,
    },
    error::ErrCode,
    types::{Event, JsonObject, ProfileInfo, Requester, RoomId, StateMap, UserId},
};

crate::callbacks::define_category! {
    /// The third-party-rules callbacks every module implements, in YAML order.
    category third_party_rules, slice MXMOD_THIRD_PARTY_RULES_CALLBACKS, enum ThirdPartyRulesCallback, struct ThirdPartyRulesCallbacks;

    /// `check_event_allowed(event, state_events)`: every locally built event, with the
    /// room state before it. The first deny (403 `M_FORBIDDEN` "This event is not allowed
    /// in this context") or replacement ends the chain. A failure is a 500 unless the
    /// module returned its own `MatrixError`.
    fn check_event_allowed(event: &'a Event, state_events: &'a StateMap) -> EventAllowed
        where rule = FirstDenyOrReplace,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This event is not allowed in this context", DenyShape::Fixed),
        on_error = FailurePolicy::INTERNAL;

    /// `on_create_room(requester, request_content, is_requester_admin)`: `POST
    /// /createRoom`, before validation; edits to `request_content` take effect. A failure
    /// stops creation: the module's `MatrixError`, else 403 `M_UNKNOWN` "Room creation
    /// forbidden with these parameters".
    fn on_create_room(requester: &'a Requester, request_content: &'a mut JsonObject, is_requester_admin: bool) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Propagate { status: 403, errcode: ErrCode::UNKNOWN, error: "Room creation forbidden with these parameters" };

    /// `check_threepid_can_be_invited(medium, address, state_events)`: a 3PID invite.
    /// `false` → 403 `M_FORBIDDEN`. Failures are ignored (fail open).
    fn check_threepid_can_be_invited(medium: &'a str, address: &'a str, state_events: &'a StateMap) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "This third-party identifier can not be invited in this room", DenyShape::Fixed),
        on_error = FailurePolicy::Ignore;

    /// `check_visibility_can_be_modified(room_id, state_events, new_visibility)`:
    /// `createRoom` and publishing to the directory. `false` → 403 `M_UNKNOWN`. Failures
    /// are ignored (fail open).
    fn check_visibility_can_be_modified(room_id: &'a RoomId, state_events: &'a StateMap, new_visibility: &'a str) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(403, ErrCode::UNKNOWN, "Room visibility value not allowed.", DenyShape::Fixed),
        on_error = FailurePolicy::Ignore;

    /// `on_new_event(event, state_events)`: after an event is persisted. ALL; failures
    /// are logged and ignored.
    fn on_new_event(event: &'a Event, state_events: &'a StateMap) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `check_can_shutdown_room(user_id, room_id)`: an admin shuts a room down (`None`
    /// for the server itself). `false` → 403. Failures are ignored.
    fn check_can_shutdown_room(user_id: Option<&'a UserId>, room_id: &'a RoomId) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Shutdown of this room is forbidden", DenyShape::Fixed),
        on_error = FailurePolicy::Ignore;

    /// `check_can_deactivate_user(user_id, by_admin)`: self or admin deactivation.
    /// `false` → 403. Failures are ignored.
    fn check_can_deactivate_user(user_id: &'a UserId, by_admin: bool) -> bool
        where rule = FirstFalse,
        deny = DenySpec::new(403, ErrCode::FORBIDDEN, "Deactivation of this user is forbidden", DenyShape::Fixed),
        on_error = FailurePolicy::Ignore;

    /// `on_profile_update(user_id, new_profile, by_admin, deactivation)`: a display name
    /// or avatar changed. ALL; failures ignored.
    fn on_profile_update(user_id: &'a UserId, new_profile: &'a ProfileInfo, by_admin: bool, deactivation: bool) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `on_user_deactivation_status_changed(user_id, deactivated, by_admin)`. ALL;
    /// failures ignored.
    fn on_user_deactivation_status_changed(user_id: &'a UserId, deactivated: bool, by_admin: bool) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `on_threepid_bind(user_id, medium, address)` (deprecated): a 3PID was bound. ALL.
    fn on_threepid_bind(user_id: &'a UserId, medium: &'a str, address: &'a str) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `on_add_user_third_party_identifier(user_id, medium, address)`: a 3PID was added.
    /// ALL.
    fn on_add_user_third_party_identifier(user_id: &'a UserId, medium: &'a str, address: &'a str) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;

    /// `on_remove_user_third_party_identifier(user_id, medium, address)`: a 3PID was
    /// removed (also on deactivation). ALL.
    fn on_remove_user_third_party_identifier(user_id: &'a UserId, medium: &'a str, address: &'a str) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;
}
