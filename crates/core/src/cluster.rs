//! Several server processes on one database (the PostgreSQL backend): the hooks through
//! which a `#[cached]` invalidation reaches the same module's cache in every process, as
//! Synapse replicates cache invalidations to its workers, and periodic module tasks run
//! on one process at a time. A single process has no [`Cluster`] and none of this runs.

use std::hash::{Hash, Hasher};

/// What the server offers module caches and tasks when several processes share one
/// database; given to [`crate::registry::StartOptions::cluster`].
pub trait Cluster: Send + Sync {
    /// Tells the other processes that the cache of `method` of instance `instance`
    /// dropped the key with this [`key_fingerprint`] (`None`: every key). They apply it
    /// with [`crate::registry::Registry::apply_remote_invalidation`].
    fn publish_invalidation(&self, instance: &str, method: &str, key: Option<u64>);
    /// Whether this process runs periodic module tasks now (it holds the cluster's
    /// background-task lock); `spawn_periodic` skips a tick when it does not.
    fn runs_background_tasks(&self) -> bool;
}

/// A cache key's fingerprint: equal keys give equal fingerprints in every process of one
/// build (SipHash with fixed keys), so a remote invalidation finds the key without the
/// key type being serialisable. Two keys that collide are both dropped, which is safe.
pub fn key_fingerprint<K: Hash + ?Sized>(key: &K) -> u64 {
    #[allow(deprecated, reason = "SipHasher's fixed keys are the point: the same in every process")]
    let mut hasher = std::hash::SipHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::cache::CacheSet;

    /// Records what a process publishes.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, String, Option<u64>)>>);

    impl Cluster for Recorder {
        fn publish_invalidation(&self, instance: &str, method: &str, key: Option<u64>) {
            self.0.lock().unwrap().push((instance.to_owned(), method.to_owned(), key));
        }
        fn runs_background_tasks(&self) -> bool {
            true
        }
    }

    #[test]
    fn an_invalidation_is_published_and_applied_by_the_other_process() {
        let recorder = Arc::new(Recorder::default());
        let here = CacheSet::in_cluster(Some(recorder.clone()), "user_department".into());
        let there = CacheSet::in_cluster(Some(Arc::new(Recorder::default())), "user_department".into());
        let (mine, theirs) = (here.create::<String, u32>("lookup", 10), there.create::<String, u32>("lookup", 10));
        for cache in [&mine, &theirs] {
            cache.insert("@a:x".into(), 1);
            cache.insert("@b:x".into(), 2);
        }
        mine.invalidate(&"@a:x".to_owned());
        let published = recorder.0.lock().unwrap().clone();
        assert_eq!(published, [("user_department".to_owned(), "lookup".to_owned(), Some(key_fingerprint("@a:x")))]);
        // What the other process does with the notification.
        for (_, method, key) in published {
            there.apply_remote(&method, key);
        }
        assert_eq!((theirs.get(&"@a:x".into()), theirs.get(&"@b:x".into())), (None, Some(2)));
        there.apply_remote("lookup", None);
        assert_eq!(theirs.get(&"@b:x".into()), None, "an invalidate_all empties the cache");
        assert_eq!(recorder.0.lock().unwrap().len(), 1, "applying a remote invalidation publishes nothing");
    }

    #[test]
    fn equal_keys_have_equal_fingerprints() {
        assert_eq!(key_fingerprint("@a:x"), key_fingerprint(&"@a:x".to_owned()));
        assert_ne!(key_fingerprint("@a:x"), key_fingerprint("@b:x"));
    }
}
