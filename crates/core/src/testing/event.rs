//! [`EventBuilder`]: room events for callback tests, with the fields a test does not care
//! about filled in.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::{
    testing::json_object,
    types::{Event, JsonObject, OwnedEventId, RoomId, StateKey, UserId},
};

/// Builds an [`Event`]: type, sender and room, then what the test needs.
///
/// ```
/// use mxmod::testing::EventBuilder;
/// use mxmod::types::{RoomId, UserId};
///
/// let (alice, room) = (UserId::parse("@alice:example.com").unwrap(), RoomId::parse("!r:example.com").unwrap());
/// let invite = EventBuilder::new("m.room.member", &alice, &room)
///     .state_key("@bob:example.com")
///     .content(serde_json::json!({ "membership": "invite" }))
///     .build();
/// assert_eq!(invite.membership(), Some(mxmod::types::Membership::Invite));
/// assert!(invite.event_id.as_str().starts_with("$test"));
/// ```
#[derive(Clone, Debug)]
pub struct EventBuilder {
    event: Event,
}

/// Numbers the event IDs of built events, so that each is unique in a test binary.
static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

impl EventBuilder {
    /// An event of `event_type` from `sender` in `room_id`, with empty content, no state
    /// key, a fresh event ID (`$test<n>`) and `origin_server_ts` 0.
    pub fn new(event_type: &str, sender: &UserId, room_id: &RoomId) -> Self {
        let n = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
        let event_id = OwnedEventId::try_from(format!("$test{n}")).expect("`$test<n>` is a valid event ID");
        Self {
            event: Event {
                event_id,
                room_id: room_id.to_owned(),
                sender: sender.to_owned(),
                event_type: event_type.into(),
                state_key: None,
                content: JsonObject::new(),
                origin_server_ts: 0,
                unsigned: JsonObject::new(),
            },
        }
    }

    /// Makes it a state event with this state key (a `&str`, a [`StateKey`] or a
    /// `&UserId`).
    #[must_use]
    pub fn state_key(mut self, state_key: impl Into<StateKey>) -> Self {
        self.event.state_key = Some(state_key.into());
        self
    }

    /// The content; panics if `content` is not a JSON object (a bug in the test).
    #[must_use]
    pub fn content(mut self, content: Value) -> Self {
        self.event.content = json_object(content);
        self
    }

    /// The event ID; panics if it is not one.
    #[must_use]
    pub fn event_id(mut self, event_id: &str) -> Self {
        self.event.event_id =
            OwnedEventId::try_from(event_id).unwrap_or_else(|error| panic!("`{event_id}` is not an event ID: {error}"));
        self
    }

    /// The origin server timestamp, milliseconds since the epoch.
    #[must_use]
    pub fn origin_server_ts(mut self, ts: u64) -> Self {
        self.event.origin_server_ts = ts;
        self
    }

    /// The `unsigned` data; panics if it is not a JSON object.
    #[must_use]
    pub fn unsigned(mut self, unsigned: Value) -> Self {
        self.event.unsigned = json_object(unsigned);
        self
    }

    /// The event.
    pub fn build(self) -> Event {
        self.event
    }
}
