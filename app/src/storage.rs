//! Storage: one async interface ([`Storage`]) the server talks to, made of domain-level
//! atomic operations, so a second backend (PostgreSQL) can sit beside the SQLite one
//! ([`sqlite::SqliteStorage`]) without changing callers. Every write a 200 answer reports
//! is committed before the answer. The `/sync` wake-ups ([`notifier`]) and the in-memory
//! room state ([`state_cache`]) sit behind the same seam: handlers reach them only
//! through [`Storage`].

#[cfg(test)]
pub(crate) mod conformance;
pub mod notifier;
pub mod postgres;
pub mod sqlite;
pub mod state_cache;

use std::sync::Arc;

use mxmod::{
    types::{Event, JsonObject, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState},
    MatrixError,
};

pub use notifier::SyncWaiter;

/// A boxed error cause, kept as the `source` of a [`StorageError`].
pub type BoxedCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure (the request gets 500). The cause is kept as the error's `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database refused or failed a statement.
    #[error("database error")]
    Database(#[source] BoxedCause),
    /// A stored value could not be read back (bad JSON, bad ID).
    #[error("stored data cannot be read")]
    Corrupt(#[source] BoxedCause),
    /// The database file or its directory could not be opened or prepared.
    #[error("cannot open the database {path}")]
    Open {
        /// The file or directory.
        path: String,
        /// What failed.
        #[source]
        source: BoxedCause,
    },
    /// The database was written by a newer version of mxmod.
    #[error("the database schema is version {found}, newer than this mxmod knows ({known})")]
    TooNew {
        /// The version in the file.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The background writer or reader pool is gone (the server is shutting down).
    #[error("the storage executor has stopped")]
    Stopped,
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

/// A new account written in one transaction: the user, their profile and, unless login
/// is inhibited, their first access token.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// The user.
    pub user: UserRecord,
    /// Their initial profile.
    pub profile: Profile,
    /// `(stored form of the access token, device)` of the first login, if any.
    pub login: Option<(String, String)>,
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

/// Who a transaction ID belongs to besides the user: the device, or for an access token
/// without a device the token (MSC3970).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxnClient {
    /// A device ID.
    Device(String),
    /// An access-token identifier, for tokens without a device.
    Token(String),
}

impl TxnClient {
    /// How the client is stored (`device:ID` or `token:ID`), in two parts that the SQL
    /// joins (`? || ?`), so that a send formats no string for it.
    pub(crate) fn stored_parts(&self) -> [&str; 2] {
        match self {
            TxnClient::Device(device) => ["device:", device],
            TxnClient::Token(token) => ["token:", token],
        }
    }
}

/// The key a client transaction is remembered under: the request path (room, event type
/// and transaction ID included, without the API version prefix), the user and the
/// device, as Synapse keys it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxnKey {
    /// The sender.
    pub user_id: OwnedUserId,
    /// Their device (or token).
    pub client: TxnClient,
    /// `/rooms/{room}/send/{type}/{txn}`.
    pub path: String,
    /// The client's transaction ID (reported back in `unsigned.transaction_id`).
    pub txn_id: String,
}

impl TxnKey {
    /// The key of `PUT /rooms/{room}/send/{type}/{txn}`.
    pub fn send(user_id: OwnedUserId, client: TxnClient, room_id: &RoomId, event_type: &str, txn_id: &str) -> Self {
        Self {
            user_id,
            client,
            path: format!("/rooms/{room_id}/send/{event_type}/{txn_id}"),
            txn_id: txn_id.to_owned(),
        }
    }

    /// The key of `PUT /rooms/{room}/redact/{event}/{txn}`.
    pub fn redact(user_id: OwnedUserId, client: TxnClient, room_id: &RoomId, event_id: &str, txn_id: &str) -> Self {
        Self {
            user_id,
            client,
            path: format!("/rooms/{room_id}/redact/{event_id}/{txn_id}"),
            txn_id: txn_id.to_owned(),
        }
    }
}

/// Authorises an event against the room's current state at append time; runs inside the
/// storage transaction, so the state it sees is the state the event is appended to.
pub type Authorise = Box<dyn FnOnce(&StateMap) -> Result<(), MatrixError> + Send>;

/// What appending a local event did.
#[derive(Clone, Debug)]
pub enum Appended {
    /// The event is stored; `state_after` is the room state including it.
    Stored {
        /// The stored event.
        event: StoredEvent,
        /// The room's state after the event.
        state_after: Arc<StateMap>,
    },
    /// The transaction key was used before: the event it produced.
    Duplicate(OwnedEventId),
}

/// Why an append did not store the event.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The authorisation refused it against the current state.
    #[error("refused: {}", .0.error)]
    Refused(MatrixError),
    /// The room does not exist.
    #[error("unknown room")]
    UnknownRoom,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A room created in one transaction: the room row, every initial event (with the current
/// state), the alias and the directory flag.
#[derive(Clone, Debug)]
pub struct NewRoom {
    /// The room.
    pub room_id: OwnedRoomId,
    /// Its creator.
    pub creator: OwnedUserId,
    /// The initial events, in order.
    pub events: Vec<Event>,
    /// A local alias to point at the room.
    pub alias: Option<String>,
    /// Published in the room directory.
    pub public: bool,
}

/// Why a room could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRoomError {
    /// The alias is taken (nothing was written).
    #[error("room alias already taken")]
    AliasTaken,
    /// The room ID exists already (nothing was written).
    #[error("room ID already taken")]
    RoomTaken,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The current positions of the three streams `/sync` tokens carry, read together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamPositions {
    /// Events.
    pub events: i64,
    /// Presence.
    pub presence: i64,
    /// Global account data.
    pub account_data: i64,
    /// Read receipts.
    pub receipts: i64,
}

/// A read receipt of a local user: `m.read` or `m.read.private`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The room.
    pub room_id: OwnedRoomId,
    /// Who read.
    pub user_id: OwnedUserId,
    /// `m.read` or `m.read.private` (seen only by `user_id`).
    pub receipt_type: String,
    /// The thread (`main` or a thread root's ID); `None` for an unthreaded receipt.
    pub thread_id: Option<String>,
    /// The event read up to.
    pub event_id: OwnedEventId,
    /// When, ms since the epoch.
    pub ts: u64,
}

/// A stored receipt with its position in the receipt stream.
#[derive(Clone, Debug)]
pub struct ReceiptRecord {
    /// Stream position.
    pub stream_id: i64,
    /// The receipt.
    pub receipt: Receipt,
}

/// A user's room account data entry of one type.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomAccountData {
    /// The room.
    pub room_id: OwnedRoomId,
    /// The type (`m.tag`, `m.fully_read`, ...).
    pub data_type: String,
    /// The content.
    pub content: JsonObject,
}

/// Computes new room account data from the stored one (`None`: none stored); answering
/// `None` leaves it unchanged. Runs inside the write's transaction.
pub type UpdateAccountData = Box<dyn FnOnce(Option<JsonObject>) -> Option<JsonObject> + Send>;

/// What `forget_room` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forget {
    /// The room is forgotten (or the user never had a membership in it).
    Forgotten,
    /// The user is still in the room with this membership; nothing was written.
    StillInRoom(String),
}

/// An event reported by a user (`POST /rooms/{id}/report/{eventId}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventReport {
    /// The room.
    pub room_id: OwnedRoomId,
    /// The reported event.
    pub event_id: OwnedEventId,
    /// The reporter.
    pub user_id: OwnedUserId,
    /// Their reason.
    pub reason: Option<String>,
    /// Their score (-100 most offensive to 0).
    pub score: Option<i64>,
    /// When, ms since the epoch.
    pub received_ts: u64,
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
    pub state: UserPresenceState,
}

/// A third-party identifier bound to a user (Synapse's `user_threepids` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Threepid {
    /// `email` or `msisdn`.
    pub medium: String,
    /// The address, as validated (emails lower-cased by the caller).
    pub address: String,
    /// When it was validated, ms since the epoch.
    pub validated_at: u64,
    /// When it was added, ms since the epoch.
    pub added_at: u64,
}

/// A request for an email validation mail (Synapse's `send_threepid_validation`): the
/// session continues an unvalidated one of the same `(medium, client_secret, address)`,
/// or starts as `session_id`.
#[derive(Clone, Debug)]
pub struct ValidationRequest {
    /// `email`.
    pub medium: String,
    /// The address (canonical form).
    pub address: String,
    /// The client's secret.
    pub client_secret: String,
    /// The client's attempt counter: a mail goes out only for one higher than the last.
    pub send_attempt: i64,
    /// The ID a new session gets.
    pub session_id: String,
    /// The token the mail will carry (replaces the session's earlier one).
    pub token: String,
    /// Where the validation page sends the browser (replaces the session's earlier one).
    pub next_link: Option<String>,
    /// When the token stops working, ms since the epoch.
    pub token_expires: i64,
    /// Now, ms since the epoch (unvalidated sessions whose token expired before are dropped).
    pub now: i64,
}

/// What [`Storage::start_threepid_validation`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationStarted {
    /// The session (new or continued).
    pub session_id: String,
    /// Whether to send the mail: `false` for a `send_attempt` already seen.
    pub send: bool,
}

/// A validated session's identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedThreepid {
    /// `email`.
    pub medium: String,
    /// The address.
    pub address: String,
    /// When it was validated, ms since the epoch.
    pub validated_at: i64,
    /// Where to send the browser once validated.
    pub next_link: Option<String>,
}

/// Why a token did not validate its session (Synapse's `ThreepidValidationError`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationFailure {
    /// No session with this ID and client secret.
    UnknownSession,
    /// The token is not the session's.
    WrongToken,
    /// The token has expired.
    Expired,
}

/// Checks a submitted token against a session's row, as both backends do: `Ok(Some(t))`
/// for a session validated at `t` before, `Ok(None)` when the token validates it now.
pub(crate) fn check_validation_token(
    validated_at: Option<i64>,
    stored_token: &str,
    token_expires: i64,
    token: &str,
    now: i64,
) -> Result<Option<i64>, ValidationFailure> {
    use subtle::ConstantTimeEq;
    if let Some(validated_at) = validated_at {
        return Ok(Some(validated_at));
    }
    if !bool::from(stored_token.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ValidationFailure::WrongToken);
    }
    if token_expires < now {
        return Err(ValidationFailure::Expired);
    }
    Ok(None)
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

/// Which of a user's sessions a password change ends. A session ended is a device
/// deleted with every access token of it, so `/devices` lists no device that cannot be
/// used any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogOut<'a> {
    /// Every device stays logged in.
    Nothing,
    /// Every device and access token of the user but this device and this token: the
    /// requester's own session (`POST /account/password`). Other tokens of the kept
    /// device are deleted too.
    AllBut {
        /// The device kept.
        device_id: &'a str,
        /// The access token kept (stored form).
        token: &'a str,
    },
    /// Every device and access token of the user (an admin's password reset, or a user's
    /// by email).
    Everything,
}

/// A device of a user: its ID and the name the user gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device ID.
    pub device_id: String,
    /// The display name, if any.
    pub display_name: Option<String>,
}

/// Changes a user's push-rule document inside the write transaction: gets the stored
/// document (empty for a user who changed nothing) and returns the one to store, or
/// refuses the change (nothing is written).
pub type PushRulesEdit = Box<dyn FnOnce(JsonObject) -> Result<JsonObject, MatrixError> + Send>;

/// Why a filter was not stored.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The user holds [`MAX_FILTERS_PER_USER`] filters already.
    #[error("too many filters")]
    TooMany,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Most filters one user may store (identical filters share one ID).
pub const MAX_FILTERS_PER_USER: usize = 1000;

/// A page of the admin user list (`GET /_synapse/admin/v2/users`), ordered by user ID.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// How many matching users to skip.
    pub from: u64,
    /// At most this many users.
    pub limit: u64,
    /// Only users whose ID contains this (case-insensitive).
    pub user_id: Option<String>,
    /// Only users whose ID or display name contains this (case-insensitive).
    pub name: Option<String>,
    /// Include deactivated users.
    pub deactivated: bool,
}

/// The server's storage. Every method is async and never blocks a runtime worker; every
/// write is one atomic operation; writes wake the `/sync` requests that will see them.
#[async_trait::async_trait]
pub trait Storage: Send + Sync {
    /// Writes a new account (user, profile, first token) atomically; `false` if the ID is
    /// taken (then nothing is written).
    async fn register(&self, account: NewAccount) -> StorageResult<bool>;
    /// A user.
    async fn user(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>>;
    /// Marks a user (de)activated; deactivation also deletes their access tokens.
    async fn set_deactivated(&self, user_id: &UserId, deactivated: bool) -> StorageResult<()>;
    /// Stores an access token for a device.
    async fn create_token(&self, token: &str, owner: &TokenOwner) -> StorageResult<()>;
    /// The device and user an access token belongs to, in one lookup.
    async fn session(&self, token: &str) -> StorageResult<Option<Session>>;
    /// Deletes a token.
    async fn delete_token(&self, token: &str) -> StorageResult<()>;

    /// A user's profile.
    async fn profile(&self, user_id: &UserId) -> StorageResult<Profile>;
    /// Replaces a user's profile.
    async fn set_profile(&self, user_id: &UserId, profile: &Profile) -> StorageResult<()>;
    /// Users whose ID or display name contains `term` (case-insensitive), up to `limit`.
    async fn search_users(&self, term: &str, limit: usize) -> StorageResult<Vec<(OwnedUserId, Profile)>>;

    /// Creates a room with its initial events, alias and directory flag in one
    /// transaction: all of it is stored, or none.
    async fn create_room(&self, room: NewRoom) -> Result<Vec<StoredEvent>, CreateRoomError>;
    /// Whether a room exists.
    async fn room_exists(&self, room_id: &RoomId) -> StorageResult<bool>;
    /// Appends a local event in one transaction: a transaction key already used answers
    /// [`Appended::Duplicate`]; otherwise `authorise` runs against the room's current state
    /// (no other write to the room in between) and the event, its state change and its
    /// key are stored together. An `m.room.redaction` also redacts the event it names in
    /// the same room in that transaction (the algorithm is in `redaction.rs`): the stored original keeps
    /// only the keys its type keeps and gains `unsigned.redacted_because`, in the current
    /// state too when it is a state event.
    async fn append_local_event(
        &self,
        event: Event,
        txn: Option<TxnKey>,
        authorise: Authorise,
    ) -> Result<Appended, AppendError>;
    /// The event a transaction key already produced.
    async fn txn_event(&self, key: &TxnKey) -> StorageResult<Option<OwnedEventId>>;
    /// One event.
    async fn event(&self, event_id: &str) -> StorageResult<Option<StoredEvent>>;
    /// A room's current state (from memory once loaded); `None` for an unknown room.
    async fn current_state(&self, room_id: &RoomId) -> StorageResult<Option<Arc<StateMap>>>;
    /// Events of these rooms with `since < position <= until`, oldest first, at most
    /// `limit`.
    async fn events_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>>;
    /// A room's events before (`backwards`, position `<= from`) or after `from`, up to
    /// `limit`, in that direction.
    async fn room_events(
        &self,
        room_id: &RoomId,
        from: i64,
        backwards: bool,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>>;
    /// The current positions of the event, presence and account-data streams.
    async fn stream_positions(&self) -> StorageResult<StreamPositions>;
    /// Rooms where the user's current membership is `membership`, without the rooms the
    /// user forgot (see [`Storage::forget_room`]).
    async fn rooms_with_membership(&self, user_id: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>>;

    /// Points an alias at a room; `false` if taken.
    async fn create_alias(&self, alias: &str, room_id: &RoomId, creator: &UserId) -> StorageResult<bool>;
    /// The room and creator of an alias.
    async fn alias(&self, alias: &str) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>>;
    /// Removes an alias.
    async fn delete_alias(&self, alias: &str) -> StorageResult<()>;
    /// Publishes or unpublishes a room.
    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> StorageResult<()>;
    /// Whether a room is published.
    async fn room_is_public(&self, room_id: &RoomId) -> StorageResult<bool>;
    /// Published rooms.
    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>>;

    /// Stores a presence state and wakes the syncs that may see it (users sharing a room,
    /// and `also_wake`, which a presence router chose); returns its stream position.
    async fn set_presence(&self, state: &UserPresenceState, also_wake: Vec<OwnedUserId>) -> StorageResult<i64>;
    /// A user's presence.
    async fn presence(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>>;
    /// Presence changes with `since < position <= until`.
    async fn presence_between(&self, since: i64, until: i64) -> StorageResult<Vec<PresenceRecord>>;

    /// A user's global account data of one type.
    async fn account_data(&self, user_id: &UserId, data_type: &str) -> StorageResult<Option<JsonObject>>;
    /// Replaces a user's global account data of one type and wakes their syncs.
    async fn set_account_data(&self, user_id: &UserId, data_type: &str, content: &JsonObject) -> StorageResult<()>;
    /// A user's global account data entries with `since < position <= until` (every
    /// entry up to `until` for 0), as (type, content).
    async fn account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<(String, JsonObject)>>;

    /// Replaces a user's room account data of one type with what `update` computes from
    /// the stored content, in one transaction, and wakes their syncs; returns the new
    /// content (`None`: `update` left it unchanged). Shares the account-data stream.
    async fn update_room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
        update: UpdateAccountData,
    ) -> StorageResult<Option<JsonObject>>;
    /// A user's room account data of one type.
    async fn room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
    ) -> StorageResult<Option<JsonObject>>;
    /// A user's room account data entries with `since < position <= until` (every entry
    /// up to `until` for 0).
    async fn room_account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<RoomAccountData>>;

    /// Stores a read receipt, replacing the user's receipt of that type and thread in the
    /// room, unless that one is for a later event (or the event is not in the room): then
    /// nothing is written and the answer is `None`. Wakes the room's joined members, or
    /// for `m.read.private` only the user. Returns the receipt's stream position.
    async fn set_receipt(&self, receipt: Receipt) -> StorageResult<Option<i64>>;
    /// Receipts of these rooms with `since < position <= until`.
    async fn receipts_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<ReceiptRecord>>;
    /// The event-stream position of the event the user's latest `m.read` or
    /// `m.read.private` receipt in the room points at (for unread counts: events after
    /// it are unread); `None` without a receipt.
    async fn read_up_to(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Option<i64>>;

    /// Forgets a room for a user whose membership is `leave` or `ban` (or who never had
    /// one): it leaves their `/sync` until their membership changes again. Checked and
    /// written in one transaction.
    async fn forget_room(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Forget>;
    /// The room state as of event-stream position `position` (the state events up to
    /// it); `None` for an unknown room.
    async fn state_at(&self, room_id: &RoomId, position: i64) -> StorageResult<Option<StateMap>>;
    /// Records a report of an event.
    async fn report_event(&self, report: EventReport) -> StorageResult<()>;

    /// Records uploaded media (its file is already durable).
    async fn create_media(&self, media: &MediaRecord, uploader: &UserId) -> StorageResult<()>;
    /// A media item.
    async fn media(&self, media_id: &str) -> StorageResult<Option<MediaRecord>>;

    /// A user's devices (every device with a login, and its name).
    async fn devices(&self, user_id: &UserId) -> StorageResult<Vec<Device>>;
    /// Names a device; `false` if the user has no such device.
    async fn rename_device(&self, user_id: &UserId, device_id: &str, display_name: Option<&str>)
        -> StorageResult<bool>;
    /// Deletes these devices of the user and every access token of theirs, in one
    /// transaction (a deleted device is logged out): `(stored form, device)` of each
    /// deleted token, for `on_logged_out`.
    async fn delete_devices(&self, user_id: &UserId, device_ids: &[String]) -> StorageResult<Vec<(String, String)>>;
    /// Replaces a user's password hash and, in the same transaction, deletes the devices
    /// and access tokens `log_out` names (`POST /account/password`, the admin API's
    /// password reset): `(stored form, device)` of each deleted token.
    async fn set_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        log_out: LogOut<'_>,
    ) -> StorageResult<Vec<(String, String)>>;

    /// A user's push-rule document (what they changed from the server defaults), empty
    /// if they changed nothing.
    async fn push_rules(&self, user_id: &UserId) -> StorageResult<JsonObject>;
    /// Applies `edit` to a user's push-rule document in one transaction (no other change
    /// to their rules in between) and wakes their syncs; `Ok(Err)` when `edit` refused.
    async fn update_push_rules(&self, user_id: &UserId, edit: PushRulesEdit) -> StorageResult<Result<(), MatrixError>>;
    /// Events of a room the user has not read yet, newest `limit` of them, oldest first,
    /// none after `until`: those after their read position, which is their current
    /// membership event (read receipts move it forward). `/sync` counts notifications on
    /// them.
    async fn unread_events(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>>;

    /// Stores a filter (canonical JSON) for a user; answers its ID, the existing one for
    /// a filter they stored before.
    async fn create_filter(&self, user_id: &UserId, filter: &str) -> Result<u64, FilterError>;
    /// A user's filter (canonical JSON).
    async fn filter(&self, user_id: &UserId, filter_id: u64) -> StorageResult<Option<String>>;

    /// Sets or clears a user's server-admin flag.
    async fn set_admin(&self, user_id: &UserId, admin: bool) -> StorageResult<()>;
    /// The users matching `query` (with their profiles), and how many match in all.
    async fn users_page(&self, query: &UserQuery) -> StorageResult<(Vec<(UserRecord, Profile)>, u64)>;
    /// Blocks a room (`by`: the admin who did) or unblocks it (`None`): joins and invites
    /// to a blocked room are refused.
    async fn set_room_blocked(&self, room_id: &RoomId, by: Option<&UserId>) -> StorageResult<()>;
    /// Whether a room is blocked.
    async fn room_blocked(&self, room_id: &RoomId) -> StorageResult<bool>;
    /// A user's third-party identifiers, in the order added (validated when added:
    /// `validated_at` is `added_at`).
    async fn threepids(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>>;
    /// Records a third-party identifier of a user (at `added_at`, ms); `false` if another
    /// user holds it (then nothing is written). Adding one the user holds is a no-op.
    async fn add_threepid(&self, user_id: &UserId, medium: &str, address: &str, added_at: u64) -> StorageResult<bool>;
    /// Removes a third-party identifier of a user.
    async fn remove_threepid(&self, user_id: &UserId, medium: &str, address: &str) -> StorageResult<()>;
    /// The local aliases pointing at a room.
    async fn room_aliases(&self, room_id: &RoomId) -> StorageResult<Vec<String>>;
    /// Deletes a room with its events, state, transaction keys and aliases, in one
    /// transaction; appends queued behind it find the room unknown.
    async fn purge_room(&self, room_id: &RoomId) -> StorageResult<()>;
    /// The user a third-party identifier is bound to.
    async fn user_by_threepid(&self, medium: &str, address: &str) -> StorageResult<Option<OwnedUserId>>;
    /// Starts or continues an email validation session in one transaction (dropping
    /// unvalidated sessions whose token expired): an unvalidated session of the same
    /// medium, client secret and address is continued (with the new token when
    /// `send_attempt` is higher than its last one), otherwise a new one is stored.
    async fn start_threepid_validation(&self, request: ValidationRequest) -> StorageResult<ValidationStarted>;
    /// Forgets a session whose mail could not be sent.
    async fn abandon_threepid_validation(&self, session_id: &str) -> StorageResult<()>;
    /// Validates a session with the token mailed for it (Synapse's
    /// `validate_threepid_session`), in one transaction; a session validated before
    /// stays validated.
    async fn validate_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
        token: &str,
        now: i64,
    ) -> StorageResult<Result<ValidatedThreepid, ValidationFailure>>;
    /// A session validated before, by its ID and client secret (Synapse's
    /// `get_threepid_validation_session(..., validated=True)`); `None` for an unknown or
    /// unvalidated one.
    async fn validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>>;
    /// Takes a validated session for good, in one statement (Synapse deletes the session
    /// an `m.login.email.identity` stage used): of two requests naming it at once, one
    /// gets it and the other `None`, as for an unknown or unvalidated one.
    async fn take_validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>>;
    /// Deletes every device and access token of a user in one transaction
    /// (`/logout/all`): `(stored form, device)` of each deleted token.
    async fn log_out_everywhere(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>>;
    /// Local users in user ID order after `from` (exclusive; `None` from the start), at
    /// most `limit` (`ModuleApi::local_users`).
    async fn users_after(&self, from: Option<&UserId>, limit: usize) -> StorageResult<Vec<UserRecord>>;

    /// A waiter woken when something this user's `/sync` will see is written (an event in
    /// a room they are in or were just removed from, their account data, presence they
    /// share a room with); with `all_presence` also on every presence change (a presence
    /// router made them interested in everyone). Subscribe before reading, then wait.
    fn sync_waiter(&self, user_id: &UserId, all_presence: bool) -> SyncWaiter;
    /// Wakes these users' parked syncs for a change held in this process's memory, not
    /// in the database (typing notifications).
    fn wake_users(&self, user_ids: &[OwnedUserId]);
}
