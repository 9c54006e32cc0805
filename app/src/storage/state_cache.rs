//! The in-memory current state of rooms, shared by the writer (which updates an entry
//! after each committed state change) and readers (which fill a missing entry from the
//! database).
//!
//! The cache is bounded: past [`MAX_ROOMS`] entries, the least recently used tenth is
//! dropped (a dropped room is read from the database again when next needed). Every
//! change that could make a reader's copy stale (a committed state change, an eviction, a
//! clear) advances an epoch; a reader takes the epoch before its database read and fills
//! the cache only if the epoch has not moved since, so a reader can never put back a state
//! older than the writer's, even for a room evicted while it was reading.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, PoisonError, RwLock,
    },
};

use mxmod::types::{OwnedRoomId, RoomId, StateMap};

/// Most rooms whose state is held in memory.
pub const MAX_ROOMS: usize = 10_000;

/// One cached room.
#[derive(Debug)]
struct Entry {
    state: Arc<StateMap>,
    /// The cache's clock when the entry was last read (for eviction).
    used: AtomicU64,
}

/// Current state per room, at most `capacity` rooms.
#[derive(Debug)]
pub struct StateCache {
    rooms: RwLock<HashMap<OwnedRoomId, Entry>>,
    capacity: usize,
    /// Advanced by every state change, eviction and clear.
    epoch: AtomicU64,
    /// Advanced by every insertion; what `used` is measured in.
    clock: AtomicU64,
    /// Rooms deleted since start-up: never cached again.
    purged: RwLock<HashSet<OwnedRoomId>>,
}

impl Default for StateCache {
    fn default() -> Self {
        Self::with_capacity(MAX_ROOMS)
    }
}

/// The epoch a reader saw before reading a room's state from the database.
#[derive(Clone, Copy, Debug)]
pub struct ReadEpoch(u64);

impl StateCache {
    /// An empty cache holding at most `capacity` rooms.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            rooms: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
            epoch: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            purged: RwLock::new(HashSet::new()),
        }
    }

    /// The cached state of a room, if loaded.
    pub fn get(&self, room_id: &RoomId) -> Option<Arc<StateMap>> {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        let entry = rooms.get(room_id)?;
        let now = self.clock.load(Ordering::Relaxed);
        // Written only when the clock moved, so hot rooms read by many threads do not
        // write their entry on every read.
        if entry.used.load(Ordering::Relaxed) != now {
            entry.used.store(now, Ordering::Relaxed);
        }
        Some(entry.state.clone())
    }

    /// Take this before reading a room's state from the database, and hand it to
    /// [`StateCache::fill`].
    pub fn read_epoch(&self) -> ReadEpoch {
        ReadEpoch(self.epoch.load(Ordering::Acquire))
    }

    /// Sets a room's state after a committed write (the writer's view is the newest).
    pub fn set(&self, room_id: OwnedRoomId, state: Arc<StateMap>) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.insert(&mut rooms, room_id, state);
    }

    /// Fills a room's state that the writer read inside its transaction: nothing can
    /// be newer, so it is cached whatever the epoch.
    pub fn fill_current(&self, room_id: OwnedRoomId, state: Arc<StateMap>) -> Arc<StateMap> {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = rooms.get(&room_id) {
            return entry.state.clone();
        }
        self.insert(&mut rooms, room_id, state.clone());
        state
    }

    /// Fills a room's state a reader read from the database after taking `epoch`: the
    /// entry cached by now if there is one; else the read state, cached only if nothing
    /// changed since `epoch` (otherwise it is answered as the snapshot it is, uncached).
    pub fn fill(&self, room_id: OwnedRoomId, state: Arc<StateMap>, epoch: ReadEpoch) -> Arc<StateMap> {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = rooms.get(&room_id) {
            return entry.state.clone();
        }
        let purged = self.purged.read().unwrap_or_else(PoisonError::into_inner).contains(&room_id);
        if !purged && self.epoch.load(Ordering::Acquire) == epoch.0 {
            self.insert(&mut rooms, room_id, state.clone());
        }
        state
    }

    /// Forgets a deleted room for good (after the deletion committed): a reader that
    /// loaded it before cannot put it back.
    pub fn purge(&self, room_id: OwnedRoomId) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        rooms.remove(&room_id);
        self.purged.write().unwrap_or_else(PoisonError::into_inner).insert(room_id);
    }

    /// Forgets everything (after a failed commit, whose effects are unknown).
    pub fn clear(&self) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        rooms.clear();
    }

    /// How many rooms are cached.
    pub fn len(&self) -> usize {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no room is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, rooms: &mut HashMap<OwnedRoomId, Entry>, room_id: OwnedRoomId, state: Arc<StateMap>) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        rooms.insert(room_id, Entry { state, used: AtomicU64::new(now) });
        if rooms.len() > self.capacity {
            self.evict(rooms);
        }
    }

    /// Drops the least recently used tenth of the entries (at least one), so eviction
    /// costs O(log n) per insertion, amortised.
    #[cold]
    fn evict(&self, rooms: &mut HashMap<OwnedRoomId, Entry>) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut ages: Vec<u64> = rooms.values().map(|entry| entry.used.load(Ordering::Relaxed)).collect();
        let drop = (self.capacity / 10).max(1).min(ages.len());
        let (_, &mut cutoff, _) = ages.select_nth_unstable(drop - 1);
        let mut dropped = 0;
        rooms.retain(|_, entry| {
            let old = entry.used.load(Ordering::Relaxed) <= cutoff && dropped < drop;
            dropped += usize::from(old);
            !old
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mxmod::types::{OwnedRoomId, RoomId, StateMap};

    use super::StateCache;

    fn room(n: usize) -> OwnedRoomId {
        RoomId::parse(format!("!r{n}:example.com")).unwrap()
    }

    #[test]
    fn the_cache_stays_within_its_capacity_and_keeps_the_rooms_in_use() {
        let cache = StateCache::with_capacity(20);
        cache.set(room(0), Arc::new(StateMap::default()));
        for n in 1..200 {
            cache.set(room(n), Arc::new(StateMap::default()));
            // Room 0 is read all the time: it is never the least recently used.
            assert!(cache.get(&room(0)).is_some(), "room 0 was evicted at {n}");
            assert!(cache.len() <= 20);
        }
        assert!(cache.get(&room(1)).is_none(), "an old, unused room stays");
    }

    #[test]
    fn a_reader_never_caches_a_state_read_before_a_change() {
        let cache = StateCache::with_capacity(20);
        let stale = Arc::new(StateMap::default());
        // A reader takes the epoch, then the writer commits a change and the room is
        // evicted (here: cleared) before the reader fills.
        let epoch = cache.read_epoch();
        cache.set(room(1), Arc::new(StateMap::default()));
        cache.clear();
        let answered = cache.fill(room(1), stale.clone(), epoch);
        assert!(Arc::ptr_eq(&answered, &stale), "the reader answers what it read");
        assert!(cache.get(&room(1)).is_none(), "but does not cache it");

        let epoch = cache.read_epoch();
        cache.fill(room(1), stale, epoch);
        assert!(cache.get(&room(1)).is_some(), "an unchanged epoch fills");
    }
}
