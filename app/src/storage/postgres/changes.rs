//! What a committed write changed, told to this process's caches and `/sync` waiters at
//! once and to every other process by a `NOTIFY` sent in the write's own transaction (so
//! a notification exists exactly when the write committed). The payload names rooms and
//! users, not room members: a receiver wakes a room's members from its own copy of the
//! room state, reloaded first when the notification says the state changed.

use std::sync::Arc;

use mxmod::types::{OwnedRoomId, OwnedUserId, StateMap};
use serde::{Deserialize, Serialize};

use super::{cluster::Invalidation, room_states::RoomStates};
use crate::storage::{notifier::Notifier, StreamPositions};

/// The channel every process listens on.
pub(super) const CHANNEL: &str = "mxmod_changes";

/// Largest payload sent; PostgreSQL refuses payloads of 8000 bytes or more. A larger
/// change is sent as "everything changed".
const MAX_PAYLOAD: usize = 7900;

/// A room a write touched.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RoomChange {
    /// The room.
    pub(super) room_id: OwnedRoomId,
    /// The room's new state version, when the write changed its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) state_version: Option<i64>,
    /// Wake invited users too (a state change).
    #[serde(default)]
    pub(super) invited: bool,
    /// The state after the write, for this process's own wake-ups.
    #[serde(skip)]
    pub(super) state: Option<Arc<StateMap>>,
}

/// The highest position a change wrote in each stream (0: none).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(super) struct Written {
    /// Events.
    #[serde(default)]
    pub(super) events: i64,
    /// Presence.
    #[serde(default)]
    pub(super) presence: i64,
    /// Account data.
    #[serde(default)]
    pub(super) account_data: i64,
    /// Receipts.
    #[serde(default)]
    pub(super) receipts: i64,
}

impl Written {
    /// Whether every written position is at or below `persisted`.
    pub(super) fn within(&self, persisted: &StreamPositions) -> bool {
        self.events <= persisted.events
            && self.presence <= persisted.presence
            && self.account_data <= persisted.account_data
            && self.receipts <= persisted.receipts
    }
}

/// Everything one write changed that another process must hear about.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Changes {
    /// The process that wrote (it applied the changes itself).
    pub(super) origin: i64,
    /// Rooms whose members are woken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) rooms: Vec<RoomChange>,
    /// Users woken besides room members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) users: Vec<OwnedUserId>,
    /// A presence change (wakes syncs interested in every presence change).
    #[serde(default)]
    pub(super) presence: bool,
    /// Too much to list: forget every cached state and wake every parked sync.
    #[serde(default)]
    pub(super) everything: bool,
    /// The positions written: wake-ups wait until they are persisted.
    #[serde(default)]
    pub(super) written: Written,
    /// Rooms deleted (`purge_room`): every process forgets their cached state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) purged: Vec<OwnedRoomId>,
    /// `#[cached]` invalidations of modules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) invalidations: Vec<Invalidation>,
    /// A module reload asked through the admin API: every other process reloads its
    /// modules from its own config file, as on `SIGHUP`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) reload: bool,
    /// The reload's number in `module_reloads` (0 from a process that predates it): a
    /// process that already caught up on it does not reload twice.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) reload_generation: i64,
}

fn is_zero(generation: &i64) -> bool {
    *generation == 0
}

impl Changes {
    /// No change yet, from process `origin`.
    pub(super) fn new(origin: i64) -> Self {
        Self { origin, ..Self::default() }
    }

    /// Wakes a room's members; `state` is the room's state after the write.
    pub(super) fn room(&mut self, room_id: OwnedRoomId, state: Arc<StateMap>, invited: bool) {
        match self.rooms.iter_mut().find(|change| change.room_id == room_id) {
            Some(change) => {
                change.invited |= invited;
                change.state = Some(state);
            }
            None => self.rooms.push(RoomChange { room_id, state_version: None, invited, state: Some(state) }),
        }
    }

    /// Records that the room's state is now at `version` (after [`Changes::room`]).
    pub(super) fn state_changed(&mut self, room_id: &OwnedRoomId, version: i64) {
        if let Some(change) = self.rooms.iter_mut().find(|change| &change.room_id == room_id) {
            change.state_version = Some(version);
        }
    }

    /// The `NOTIFY` payload; "everything" when the list is too long.
    pub(super) fn payload(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        if text.len() <= MAX_PAYLOAD && !text.is_empty() {
            return text;
        }
        let everything = Self { origin: self.origin, everything: true, reload: self.reload, ..Self::default() };
        serde_json::to_string(&everything).unwrap_or_default()
    }

    /// Caches the room states a committed write of this process produced.
    pub(super) fn cache_states(&self, states: &RoomStates) {
        for room_id in &self.purged {
            states.forget(room_id);
        }
        for change in &self.rooms {
            if let (Some(state), Some(version)) = (&change.state, change.state_version) {
                states.offer(&change.room_id, version, state.clone());
            }
        }
    }

    /// Wakes the parked syncs that will see this change (room states resolved).
    pub(super) fn wake(&self, notifier: &Notifier) {
        for change in &self.rooms {
            if let Some(state) = &change.state {
                notifier.wake_room(state, change.invited);
            }
        }
        notifier.wake(self.users.iter().map(|user| user.as_str()));
        if self.presence {
            notifier.wake_presence_watchers();
        }
    }
}
