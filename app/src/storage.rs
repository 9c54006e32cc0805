//! Storage: one interface ([`Storage`]) the server talks to, so PostgreSQL can be added
//! beside the SQLite implementation ([`sqlite::SqliteStorage`]). Every write that a 200
//! answer reports is committed (WAL, `synchronous=FULL`) before the answer.

mod hash_plain_access_tokens;
pub mod sqlite;

use mxmod::types::{Event, JsonObject, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId};

/// A storage failure (the request gets 500).
#[derive(Debug, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StorageError(pub String);

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        Self(error.to_string())
    }
}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// A stored user.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// The user.
    pub user_id: OwnedUserId,
    /// Argon2 PHC string; `None` for users who cannot log in with a password.
    pub password_hash: Option<String>,
    /// Server admin.
    pub is_admin: bool,
    /// Shadow-banned: their events reach nobody else.
    pub shadow_banned: bool,
    /// Deactivated.
    pub deactivated: bool,
    /// Registration time, ms since the epoch.
    pub creation_ts: u64,
}

/// Who an access token belongs to.
#[derive(Clone, Debug)]
pub struct TokenOwner {
    /// The user.
    pub user_id: OwnedUserId,
    /// The device.
    pub device_id: String,
}

/// What an access token stands for: its device and its user.
#[derive(Clone, Debug)]
pub struct Session {
    /// The device.
    pub device_id: String,
    /// The user.
    pub user: UserRecord,
}

/// A stored event with its position in the event stream.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Stream position (increasing).
    pub stream_ordering: i64,
    /// The event.
    pub event: Event,
    /// Transaction ID the sender used, for `unsigned.transaction_id`.
    pub txn_id: Option<String>,
}

/// A profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// `displayname`.
    pub displayname: Option<String>,
    /// `avatar_url`.
    pub avatar_url: Option<String>,
}

/// A stored presence state with its stream position.
#[derive(Clone, Debug)]
pub struct PresenceRecord {
    /// Stream position.
    pub stream_id: i64,
    /// The state.
    pub state: mxmod::types::UserPresenceState,
}

/// A stored media item.
#[derive(Clone, Debug)]
pub struct MediaRecord {
    /// Media ID (the part after `mxc://server/`).
    pub media_id: String,
    /// Content type given at upload.
    pub content_type: String,
    /// Filename given at upload.
    pub upload_name: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// The server's storage.
pub trait Storage: Send + Sync {
    /// Stores a new user; `false` if the ID is taken.
    fn create_user(&self, user: &UserRecord) -> StorageResult<bool>;
    /// A user.
    fn user(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>>;
    /// Marks a user (de)activated; deactivation also deletes their access tokens.
    fn set_deactivated(&self, user_id: &UserId, deactivated: bool) -> StorageResult<()>;
    /// Stores an access token for a device.
    fn create_token(&self, token: &str, owner: &TokenOwner) -> StorageResult<()>;
    /// The device and user an access token belongs to, in one lookup.
    fn session(&self, token: &str) -> StorageResult<Option<Session>>;
    /// Deletes a token.
    fn delete_token(&self, token: &str) -> StorageResult<()>;

    /// A user's profile.
    fn profile(&self, user_id: &UserId) -> StorageResult<Profile>;
    /// Replaces a user's profile.
    fn set_profile(&self, user_id: &UserId, profile: &Profile) -> StorageResult<()>;
    /// Users whose ID or display name contains `term` (case-insensitive), up to `limit`.
    fn search_users(&self, term: &str, limit: usize) -> StorageResult<Vec<(OwnedUserId, Profile)>>;

    /// Records a new room.
    fn create_room(&self, room_id: &RoomId, creator: &UserId) -> StorageResult<()>;
    /// Whether a room exists.
    fn room_exists(&self, room_id: &RoomId) -> StorageResult<bool>;
    /// Appends an event (and updates current state for a state event) atomically; with a
    /// transaction key `(user, device, txn_id)` also records it for idempotency.
    fn append_event(&self, event: &Event, txn: Option<(&UserId, &str, &str)>) -> StorageResult<i64>;
    /// The event a transaction ID already produced.
    fn txn_event(&self, user_id: &UserId, device_id: &str, txn_id: &str) -> StorageResult<Option<String>>;
    /// One event.
    fn event(&self, event_id: &str) -> StorageResult<Option<StoredEvent>>;
    /// A room's current state.
    fn current_state(&self, room_id: &RoomId) -> StorageResult<StateMap>;
    /// Events of these rooms after `since`, oldest first, at most `limit` per call.
    fn events_after(&self, room_ids: &[OwnedRoomId], since: i64, limit: usize) -> StorageResult<Vec<StoredEvent>>;
    /// A room's events before (`backwards`) or after `from`, up to `limit`, in that direction.
    fn room_events(
        &self,
        room_id: &RoomId,
        from: i64,
        backwards: bool,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>>;
    /// The highest stream position.
    fn max_stream_ordering(&self) -> StorageResult<i64>;
    /// Rooms where the user's current membership is `membership`.
    fn rooms_with_membership(&self, user_id: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>>;

    /// Points an alias at a room; `false` if taken.
    fn create_alias(&self, alias: &str, room_id: &RoomId, creator: &UserId) -> StorageResult<bool>;
    /// The room and creator of an alias.
    fn alias(&self, alias: &str) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>>;
    /// Removes an alias.
    fn delete_alias(&self, alias: &str) -> StorageResult<()>;
    /// Publishes or unpublishes a room.
    fn set_room_public(&self, room_id: &RoomId, public: bool) -> StorageResult<()>;
    /// Whether a room is published.
    fn room_is_public(&self, room_id: &RoomId) -> StorageResult<bool>;
    /// Published rooms.
    fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>>;

    /// Stores a presence state; returns its stream position.
    fn set_presence(&self, state: &mxmod::types::UserPresenceState) -> StorageResult<i64>;
    /// A user's presence.
    fn presence(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>>;
    /// Presence changes after `since`.
    fn presence_after(&self, since: i64) -> StorageResult<Vec<PresenceRecord>>;
    /// The highest presence stream position.
    fn max_presence_stream(&self) -> StorageResult<i64>;

    /// A user's global account data of one type.
    fn account_data(&self, user_id: &UserId, data_type: &str) -> StorageResult<Option<JsonObject>>;
    /// Replaces a user's global account data of one type.
    fn set_account_data(&self, user_id: &UserId, data_type: &str, content: &JsonObject) -> StorageResult<()>;
    /// A user's global account data entries written after stream position `since`
    /// (every entry for 0), as (type, content).
    fn account_data_after(&self, user_id: &UserId, since: i64) -> StorageResult<Vec<(String, JsonObject)>>;
    /// The highest account-data stream position.
    fn max_account_data_stream(&self) -> StorageResult<i64>;

    /// Records uploaded media (its file is already durable).
    fn create_media(&self, media: &MediaRecord, uploader: &UserId) -> StorageResult<()>;
    /// A media item.
    fn media(&self, media_id: &str) -> StorageResult<Option<MediaRecord>>;
}
