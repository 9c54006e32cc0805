//! The seam between modules and the server they run in: room state, memberships, events,
//! account data, user lookups. The server implements [`Host`]; `mxmod::testing` uses
//! [`NoHost`] unless a test gives its own.

use std::{future::Future, pin::Pin};

use crate::types::{Event, JsonObject, Membership, OwnedUserId, ProfileInfo, RoomId, StateMap, UserId};

/// What a host call returns.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send + 'a>>;

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// This host does not offer the operation.
    #[error("{0} is not available here")]
    Unavailable(&'static str),
    /// The room, user or event does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The server refused (the Matrix error it would give a client).
    #[error("{0}")]
    Refused(crate::MatrixError),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// A local user as modules see it (Synapse's `get_userinfo_by_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// The user.
    pub user_id: OwnedUserId,
    /// Server admin.
    pub is_admin: bool,
    /// Deactivated.
    pub is_deactivated: bool,
    /// Shadow-banned.
    pub is_shadow_banned: bool,
    /// Registration time, milliseconds since the epoch.
    pub creation_ts: u64,
}

/// A third-party identifier bound to a local user (an entry of Synapse's
/// `get_threepids_for_user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Threepid {
    /// `email` or `msisdn`.
    pub medium: String,
    /// The address.
    pub address: String,
    /// When it was validated, milliseconds since the epoch.
    pub validated_at: u64,
    /// When it was added, milliseconds since the epoch.
    pub added_at: u64,
}

/// An event a module asks the server to send (Synapse's `create_and_send_event_into_room`).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The room.
    pub room_id: crate::types::OwnedRoomId,
    /// The sender (a local user).
    pub sender: OwnedUserId,
    /// The type.
    pub event_type: crate::types::EventType,
    /// `Some` for a state event.
    pub state_key: Option<crate::types::StateKey>,
    /// The content.
    pub content: JsonObject,
}

/// Server operations modules may call, through [`ModuleApi`](crate::ModuleApi).
pub trait Host: Send + Sync + 'static {
    /// The current state of a room.
    fn room_state<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, StateMap>;

    /// Whether the room is in the public room directory.
    fn is_room_published<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, bool>;

    /// Changes `target`'s membership (`invite`, `join`, `leave`) as `sender`, with the
    /// usual checks; the new member event.
    fn update_room_membership<'a>(
        &'a self,
        sender: &'a UserId,
        target: &'a UserId,
        room_id: &'a RoomId,
        membership: Membership,
    ) -> HostFuture<'a, Event>;

    /// Sends an event into a room as a local user.
    fn send_event(&self, event: NewEvent) -> HostFuture<'_, Event>;

    /// A user's global account data of one type.
    fn account_data<'a>(&'a self, user_id: &'a UserId, data_type: &'a str) -> HostFuture<'a, Option<JsonObject>>;

    /// Replaces a user's global account data of one type.
    fn set_account_data<'a>(
        &'a self,
        user_id: &'a UserId,
        data_type: &'a str,
        content: JsonObject,
    ) -> HostFuture<'a, ()>;

    /// A local user, if it exists.
    fn user_info<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, Option<UserInfo>>;

    /// The active local user an access token belongs to (Synapse's `get_user_by_req`).
    /// Hosts without users answer [`HostError::Unavailable`].
    fn user_for_access_token<'a>(&'a self, _token: &'a str) -> HostFuture<'a, Option<UserInfo>> {
        Box::pin(async { Err(HostError::Unavailable("access-token lookups")) })
    }

    /// A user's profile (Synapse's `get_profile_for_user`). Hosts without profiles answer
    /// [`HostError::Unavailable`].
    fn profile<'a>(&'a self, _user_id: &'a UserId) -> HostFuture<'a, ProfileInfo> {
        Box::pin(async { Err(HostError::Unavailable("profiles")) })
    }

    /// A local user's third-party identifiers, oldest first (Synapse's
    /// `get_threepids_for_user`). Hosts without them answer [`HostError::Unavailable`].
    fn threepids<'a>(&'a self, _user_id: &'a UserId) -> HostFuture<'a, Vec<Threepid>> {
        Box::pin(async { Err(HostError::Unavailable("third-party identifiers")) })
    }

    /// Local users (deactivated ones included) in user ID order after `from` (exclusive;
    /// `None` from the first), at most `limit`. Hosts without users answer
    /// [`HostError::Unavailable`].
    fn local_users<'a>(&'a self, _from: Option<&'a UserId>, _limit: usize) -> HostFuture<'a, Vec<UserInfo>> {
        Box::pin(async { Err(HostError::Unavailable("user listing")) })
    }
}

/// A host with no server behind it: every call is [`HostError::Unavailable`]. What
/// `mxmod::testing` uses unless a test supplies a host.
#[derive(Debug, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn room_state<'a>(&'a self, _: &'a RoomId) -> HostFuture<'a, StateMap> {
        Box::pin(async { Err(HostError::Unavailable("room state")) })
    }

    fn is_room_published<'a>(&'a self, _: &'a RoomId) -> HostFuture<'a, bool> {
        Box::pin(async { Err(HostError::Unavailable("the room directory")) })
    }

    fn update_room_membership<'a>(
        &'a self,
        _: &'a UserId,
        _: &'a UserId,
        _: &'a RoomId,
        _: Membership,
    ) -> HostFuture<'a, Event> {
        Box::pin(async { Err(HostError::Unavailable("membership updates")) })
    }

    fn send_event(&self, _: NewEvent) -> HostFuture<'_, Event> {
        Box::pin(async { Err(HostError::Unavailable("sending events")) })
    }

    fn account_data<'a>(&'a self, _: &'a UserId, _: &'a str) -> HostFuture<'a, Option<JsonObject>> {
        Box::pin(async { Err(HostError::Unavailable("account data")) })
    }

    fn set_account_data<'a>(&'a self, _: &'a UserId, _: &'a str, _: JsonObject) -> HostFuture<'a, ()> {
        Box::pin(async { Err(HostError::Unavailable("account data")) })
    }

    fn user_info<'a>(&'a self, _: &'a UserId) -> HostFuture<'a, Option<UserInfo>> {
        Box::pin(async { Err(HostError::Unavailable("user lookups")) })
    }
}
