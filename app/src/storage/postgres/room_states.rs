//! Room current state in memory, versioned for several processes. A room's version is
//! `rooms.state_position`: the stream position of its last state event, which only grows
//! (state writes to one room are serialised by its row lock). An entry is replaced only
//! by a newer version, and a notification that another process changed a room's state
//! leaves a floor behind, so a read that started before the change cannot put the older
//! state back afterwards.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use mxmod::types::{OwnedRoomId, RoomId, StateMap};

#[derive(Debug)]
struct Entry {
    /// The newest version known for the room.
    version: i64,
    /// The state at `version`, when loaded.
    state: Option<Arc<StateMap>>,
}

/// Current state per room, with its version.
#[derive(Debug, Default)]
pub(super) struct RoomStates {
    rooms: RwLock<HashMap<OwnedRoomId, Entry>>,
}

impl RoomStates {
    /// The cached state of a room and its version, if loaded and not known to be stale.
    pub(super) fn get(&self, room_id: &RoomId) -> Option<(i64, Arc<StateMap>)> {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        rooms.get(room_id).and_then(|entry| entry.state.clone().map(|state| (entry.version, state)))
    }

    /// Offers a state read or written at `version`; kept unless a newer version is known.
    /// Returns the state cached afterwards (the newer one, if any was loaded).
    pub(super) fn offer(&self, room_id: &RoomId, version: i64, state: Arc<StateMap>) -> Arc<StateMap> {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        match rooms.get_mut(room_id) {
            Some(entry) if entry.version > version => entry.state.clone().unwrap_or(state),
            Some(entry) if entry.version == version && entry.state.is_some() => entry.state.clone().unwrap_or(state),
            _ => {
                rooms.insert(room_id.to_owned(), Entry { version, state: Some(state.clone()) });
                state
            }
        }
    }

    /// Another process wrote the room's state at `version`: drop an older entry and
    /// refuse older states from now on.
    pub(super) fn outdated_by(&self, room_id: &RoomId, version: i64) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        match rooms.get_mut(room_id) {
            Some(entry) if entry.version >= version => {}
            _ => {
                rooms.insert(room_id.to_owned(), Entry { version, state: None });
            }
        }
    }

    /// Forgets a deleted room's state.
    pub(super) fn forget(&self, room_id: &RoomId) {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner).remove(room_id);
    }

    /// Forgets every state (missed notifications: anything may be stale).
    pub(super) fn clear(&self) {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> OwnedRoomId {
        RoomId::parse("!r:x").unwrap()
    }

    #[test]
    fn an_older_state_never_replaces_a_newer_one() {
        let states = RoomStates::default();
        let newer = Arc::new(StateMap::new());
        states.offer(&room(), 5, newer.clone());
        let kept = states.offer(&room(), 3, Arc::new(StateMap::new()));
        assert!(Arc::ptr_eq(&kept, &newer));
        assert_eq!(states.get(&room()).map(|(version, _)| version), Some(5));
    }

    #[test]
    fn a_remote_change_leaves_a_floor_for_reads_that_started_before_it() {
        let states = RoomStates::default();
        states.offer(&room(), 1, Arc::new(StateMap::new()));
        states.outdated_by(&room(), 7);
        assert!(states.get(&room()).is_none(), "the stale entry is gone");
        states.offer(&room(), 4, Arc::new(StateMap::new()));
        assert!(states.get(&room()).is_none(), "a read of version 4 is older than the floor");
        states.offer(&room(), 7, Arc::new(StateMap::new()));
        assert_eq!(states.get(&room()).map(|(version, _)| version), Some(7));
    }
}
