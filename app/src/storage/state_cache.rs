//! The in-memory current state of rooms, shared by the writer (which updates an entry
//! after each committed state change) and readers (which fill a missing entry from the
//! database). A reader only inserts where no entry exists, so it can never put back a
//! state older than the writer's.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, PoisonError, RwLock},
};

use mxmod::types::{OwnedRoomId, RoomId, StateMap};

/// Current state per room.
#[derive(Debug, Default)]
pub struct StateCache {
    rooms: RwLock<HashMap<OwnedRoomId, Arc<StateMap>>>,
    /// Rooms deleted since start-up: a reader that loaded one before the deletion
    /// committed cannot put it back.
    purged: RwLock<HashSet<OwnedRoomId>>,
}

impl StateCache {
    /// The cached state of a room, if loaded.
    pub fn get(&self, room_id: &RoomId) -> Option<Arc<StateMap>> {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner).get(room_id).cloned()
    }

    /// Sets a room's state after a committed write (the writer's view is the newest).
    pub fn set(&self, room_id: OwnedRoomId, state: Arc<StateMap>) {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner).insert(room_id, state);
    }

    /// Fills a room's state read from the database unless an entry exists; returns the
    /// entry that is cached afterwards.
    pub fn fill(&self, room_id: OwnedRoomId, state: Arc<StateMap>) -> Arc<StateMap> {
        if self.purged.read().unwrap_or_else(PoisonError::into_inner).contains(&room_id) {
            return state;
        }
        self.rooms.write().unwrap_or_else(PoisonError::into_inner).entry(room_id).or_insert(state).clone()
    }

    /// Forgets a deleted room for good (after the deletion committed).
    pub fn purge(&self, room_id: OwnedRoomId) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        rooms.remove(&room_id);
        self.purged.write().unwrap_or_else(PoisonError::into_inner).insert(room_id);
    }

    /// Forgets everything (after a failed commit, whose effects are unknown).
    pub fn clear(&self) {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
