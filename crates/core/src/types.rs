//! The values callbacks receive: Matrix identifiers (ruma's), events, room state, presence.

use std::{borrow::Cow, collections::BTreeMap, fmt, net::IpAddr, ops::Deref};

pub use ruma_common::{
    DeviceId, EventId, MxcUri, OwnedDeviceId, OwnedEventId, OwnedMxcUri, OwnedRoomAliasId, OwnedRoomId,
    OwnedServerName, OwnedUserId, RoomAliasId, RoomId, ServerName, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod media_file;

pub use media_file::MediaFile;

/// A JSON object, as Synapse's `JsonDict`.
pub type JsonObject = Map<String, Value>;

/// An event type such as `m.room.message`, compared by value with strings and other
/// event types. The associated constants are the types the server itself gives meaning to.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventType(Cow<'static, str>);

macro_rules! event_types {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        impl EventType {
            $($(#[$doc])* pub const $name: EventType = EventType(Cow::Borrowed($text));)*
        }
    };
}

event_types! {
    /// `m.room.create`.
    ROOM_CREATE = "m.room.create";
    /// `m.room.member`.
    ROOM_MEMBER = "m.room.member";
    /// `m.room.message`.
    ROOM_MESSAGE = "m.room.message";
    /// `m.room.power_levels`.
    ROOM_POWER_LEVELS = "m.room.power_levels";
    /// `m.room.join_rules`.
    ROOM_JOIN_RULES = "m.room.join_rules";
    /// `m.room.name`.
    ROOM_NAME = "m.room.name";
    /// `m.room.topic`.
    ROOM_TOPIC = "m.room.topic";
    /// `m.room.canonical_alias`.
    ROOM_CANONICAL_ALIAS = "m.room.canonical_alias";
    /// `m.room.history_visibility`.
    ROOM_HISTORY_VISIBILITY = "m.room.history_visibility";
    /// `m.room.encryption`.
    ROOM_ENCRYPTION = "m.room.encryption";
}

/// The shared surface of the string newtypes ([`EventType`], [`StateKey`]): the wire
/// text through `as_str`, `Deref<Target = str>` and `AsRef<str>`, conversions from
/// `&str` and `String`, equality with strings, and `Display`/`Debug` as the bare text.
macro_rules! string_newtype {
    ($name:ident, $what:literal) => {
        impl $name {
            #[doc = concat!("The ", $what, " as sent on the wire.")]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        /// A callback parameter written `&str` where the callback passes this type, as
        /// deref coercion would allow.
        #[diagnostic::do_not_recommend]
        impl<'a> crate::__private::CallbackArg<&'a $name> for &'a str {
            #[inline(always)]
            fn from_expected(argument: &'a $name) -> &'a str {
                argument
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(Cow::Owned(text.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(Cow::Owned(text))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
    };
}

string_newtype!(EventType, "type");

/// The state key of a state event: empty for room-wide state such as `m.room.name`, the
/// target's user ID for `m.room.member`. Compared by value with strings and other state
/// keys, and serialized as the bare string, so the wire format is that of a `String`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateKey(Cow<'static, str>);

impl StateKey {
    /// The empty state key, used by room-wide state events.
    pub const EMPTY: StateKey = StateKey(Cow::Borrowed(""));
}

string_newtype!(StateKey, "state key");

impl From<&UserId> for StateKey {
    fn from(user_id: &UserId) -> Self {
        Self::from(user_id.as_str())
    }
}

impl From<OwnedUserId> for StateKey {
    fn from(user_id: OwnedUserId) -> Self {
        Self::from(String::from(user_id))
    }
}

/// A room event as a callback sees it (Synapse's `EventBase`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event ID.
    pub event_id: OwnedEventId,
    /// The room the event belongs to.
    pub room_id: OwnedRoomId,
    /// Who sent it.
    pub sender: OwnedUserId,
    /// The event type, e.g. `m.room.message`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Present for state events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_key: Option<StateKey>,
    /// The event content.
    pub content: JsonObject,
    /// Milliseconds since the Unix epoch, on the origin server.
    pub origin_server_ts: u64,
    /// Server-added data that is not part of the signed event.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub unsigned: JsonObject,
}

impl Event {
    /// The event as a JSON object, like Synapse's `event.get_dict()`; a module may edit it
    /// and hand it back from `check_event_allowed` as a replacement.
    pub fn get_dict(&self) -> JsonObject {
        match serde_json::to_value(self) {
            Ok(Value::Object(object)) => object,
            _ => JsonObject::new(),
        }
    }

    /// Whether this is a state event.
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// `content.membership` for `m.room.member` events (`None` for other events and for
    /// a membership that is not one of the five).
    pub fn membership(&self) -> Option<Membership> {
        if self.event_type != EventType::ROOM_MEMBER {
            return None;
        }
        self.content.get("membership").and_then(Value::as_str).and_then(Membership::parse)
    }
}

/// A room membership: `content.membership` of an `m.room.member` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Membership {
    /// Invited.
    Invite,
    /// Joined.
    Join,
    /// Asked to join.
    Knock,
    /// Left, was kicked, or declined an invite.
    Leave,
    /// Banned.
    Ban,
}

impl Membership {
    /// The wire form: `invite`, `join`, `knock`, `leave` or `ban`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Join => "join",
            Self::Knock => "knock",
            Self::Leave => "leave",
            Self::Ban => "ban",
        }
    }

    /// The membership a wire string names, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Invite, Self::Join, Self::Knock, Self::Leave, Self::Ban].into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Room state keyed by `(event type, state key)`, like Synapse's `StateMap`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateMap(BTreeMap<(EventType, StateKey), Event>);

impl StateMap {
    /// An empty state map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state event of this type and state key, if any.
    pub fn get(&self, event_type: &str, state_key: &str) -> Option<&Event> {
        self.0.get(&(EventType::from(event_type), StateKey::from(state_key)))
    }

    /// Adds or replaces a state event; events without a state key are ignored.
    pub fn insert(&mut self, event: Event) {
        if let Some(state_key) = event.state_key.clone() {
            self.0.insert((event.event_type.clone(), state_key), event);
        }
    }

    /// All state events, ordered by type then state key.
    pub fn iter(&self) -> impl Iterator<Item = (&(EventType, StateKey), &Event)> {
        self.0.iter()
    }

    /// How many state entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no state.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Event> for StateMap {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        let mut map = Self::new();
        for event in iter {
            map.insert(event);
        }
        map
    }
}

/// Who is making a request (Synapse's `Requester`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester {
    /// The authenticated user.
    pub user_id: OwnedUserId,
    /// Their device, if the request came with an access token bound to one.
    pub device_id: Option<OwnedDeviceId>,
    /// Whether the user is shadow-banned.
    pub shadow_banned: bool,
    /// Whether the user is a guest.
    pub is_guest: bool,
}

impl Requester {
    /// A regular user with no device, not shadow-banned, not a guest.
    pub fn new(user_id: OwnedUserId) -> Self {
        Self { user_id, device_id: None, shadow_banned: false, is_guest: false }
    }
}

/// A user's presence (`online`, `unavailable`, `offline`, `busy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceKind {
    /// Online and active.
    Online,
    /// Online but idle.
    Unavailable,
    /// Offline.
    Offline,
    /// Busy (MSC3026).
    Busy,
}

/// One presence update (Synapse's `UserPresenceState`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserPresenceState {
    /// Whose presence this is.
    pub user_id: OwnedUserId,
    /// The presence state.
    pub state: PresenceKind,
    /// Optional status message.
    pub status_msg: Option<String>,
    /// When the user was last active, milliseconds since the epoch.
    pub last_active_ts: u64,
    /// Whether the user is currently active.
    pub currently_active: bool,
}

impl UserPresenceState {
    /// A state with no status message, not active.
    pub fn new(user_id: OwnedUserId, state: PresenceKind) -> Self {
        Self { user_id, state, status_msg: None, last_active_ts: 0, currently_active: false }
    }
}

/// A user's profile as the user directory shows it (`check_username_for_spam`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user.
    pub user_id: OwnedUserId,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// `mxc://` avatar URL, if set.
    pub avatar_url: Option<OwnedMxcUri>,
}

/// The profile after an update (`on_profile_update`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// New display name.
    pub display_name: Option<String>,
    /// New `mxc://` avatar URL.
    pub avatar_url: Option<OwnedMxcUri>,
}

/// An email 3PID given at registration (`check_registration_for_spam`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreepidInfo {
    /// `email` or `msisdn`.
    pub medium: String,
    /// The address.
    pub address: String,
}

/// A `(user agent, IP address)` pair seen during registration or login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// The client's IP address.
    pub ip: IpAddr,
}

/// What is known of a media file being stored (Synapse's `FileInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The server the media belongs to (`None` for local media).
    pub server_name: Option<OwnedServerName>,
    /// The media ID.
    pub file_id: String,
    /// The uploader-given file name.
    pub upload_name: Option<String>,
    /// The declared content type.
    pub media_type: Option<String>,
    /// Size in bytes.
    pub media_length: u64,
}

#[cfg(test)]
mod tests;
