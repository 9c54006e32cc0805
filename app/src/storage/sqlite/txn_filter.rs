//! Which transaction keys may be in `event_txns`: a Bloom filter, so that a fresh send —
//! almost every send — learns that it is no retry without a trip to a reader thread.
//!
//! It never forgets a stored key: every key in the table is added when the database opens,
//! and the writer adds each new one inside the transaction that stores it, before the
//! send is answered. So "absent" is certain and skips the read; "maybe" (a retry, or a
//! false positive, about 1% with a million keys) reads the table as before. Keys pruned
//! after a day stay set, and only make false positives likelier. One writer in one
//! process owns `event_txns` on SQLite; PostgreSQL, shared by several processes, always
//! reads.

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    sync::atomic::{AtomicU64, Ordering},
};

use rusqlite::Connection;

/// Bits in the filter (1 MiB).
const BITS: usize = 1 << 23;
/// Bits set per key: about 1% false positives at a million keys.
const HASHES: u64 = 7;

/// A Bloom filter of `(user_id, client, path)` transaction keys.
pub(super) struct TxnFilter {
    words: Box<[AtomicU64]>,
    hashers: (RandomState, RandomState),
}

impl TxnFilter {
    /// An empty filter.
    pub(super) fn new() -> Self {
        TxnFilter { words: (0..BITS / 64).map(|_| AtomicU64::new(0)).collect(), hashers: Default::default() }
    }

    /// A filter holding every key already in `event_txns`.
    pub(super) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let filter = Self::new();
        let mut statement = connection.prepare("SELECT user_id, client, path FROM event_txns")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let client = ["", row.get_ref(1)?.as_str()?];
            filter.insert(row.get_ref(0)?.as_str()?, client, row.get_ref(2)?.as_str()?);
        }
        Ok(filter)
    }

    /// The key's bits. `client` is the stored client in parts (`TxnClient::stored_parts`),
    /// hashed as their concatenation, so `["device:", "D"]` and `["", "device:D"]` agree.
    fn bits(&self, user_id: &str, client: [&str; 2], path: &str) -> impl Iterator<Item = usize> {
        let hash = |hasher: &RandomState| {
            let mut state = hasher.build_hasher();
            for part in
                [user_id.as_bytes(), b"\xff", client[0].as_bytes(), client[1].as_bytes(), b"\xff", path.as_bytes()]
            {
                state.write(part);
            }
            state.finish()
        };
        let (first, step) = (hash(&self.hashers.0), hash(&self.hashers.1) | 1);
        (0..HASHES).map(move |n| (first.wrapping_add(n.wrapping_mul(step)) % BITS as u64) as usize)
    }

    /// Adds a key (the writer, as it stores the key).
    pub(super) fn insert(&self, user_id: &str, client: [&str; 2], path: &str) {
        for bit in self.bits(user_id, client, path) {
            self.words[bit / 64].fetch_or(1 << (bit % 64), Ordering::SeqCst);
        }
    }

    /// False only if the key was never stored.
    pub(super) fn may_contain(&self, user_id: &str, client: [&str; 2], path: &str) -> bool {
        self.bits(user_id, client, path).all(|bit| self.words[bit / 64].load(Ordering::SeqCst) & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_added_key_may_be_present_and_few_others_are() {
        let filter = TxnFilter::new();
        let key =
            |n: usize| (format!("@u{}:x", n % 100), format!("D{n}"), format!("/rooms/!r/send/m.room.message/{n}"));
        for n in 0..100_000 {
            let (user, client, path) = key(n);
            filter.insert(&user, ["device:", &client], &path);
        }
        assert!((0..100_000).all(|n| {
            let (user, client, path) = key(n);
            filter.may_contain(&user, ["device:", &client], &path)
        }));
        let false_positives = (100_000..200_000)
            .filter(|&n| {
                let (user, client, path) = key(n);
                filter.may_contain(&user, ["device:", &client], &path)
            })
            .count();
        assert!(false_positives < 100, "{false_positives} false positives in 100,000");
    }

    #[test]
    fn the_keys_already_stored_are_loaded() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE event_txns (user_id TEXT, client TEXT, path TEXT, event_id TEXT, created_ts INTEGER);
                 INSERT INTO event_txns VALUES ('@a:x', 'device:D', '/rooms/!r/send/m.room.message/1', '$e', 0);",
            )
            .unwrap();
        let filter = TxnFilter::load(&connection).unwrap();
        // Loaded whole, asked for in the parts a send has.
        assert!(filter.may_contain("@a:x", ["device:", "D"], "/rooms/!r/send/m.room.message/1"));
        assert!(!filter.may_contain("@a:x", ["device:", "D"], "/rooms/!r/send/m.room.message/2"));
        assert!(!filter.may_contain("@a:x", ["token:", "D"], "/rooms/!r/send/m.room.message/1"));
    }
}
