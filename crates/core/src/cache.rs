//! Per-instance LRU caches behind `#[cached]` methods, built on the `cached` crate's
//! [`LruCache`]. A method's cache is reached through its typed handle
//! (`self.<method>_cache()`), never by a string name; errors are never cached.

use std::{
    any::Any,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard},
};

use cached::{stores::LruCache, Cached};

/// Default number of entries of a `#[cached]` method's LRU.
pub const DEFAULT_MAX_SIZE: usize = 1000;

/// Hit, miss and eviction counts and current size of one cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that ran the method.
    pub misses: u64,
    /// Entries dropped to stay within the size limit.
    pub evictions: u64,
    /// Entries held now.
    pub size: usize,
    /// The size limit.
    pub max_size: usize,
}

/// One method's LRU.
pub struct FnCache<K, V> {
    store: Mutex<LruCache<K, V>>,
    max_size: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> FnCache<K, V> {
    fn new(max_size: usize) -> Self {
        Self { store: Mutex::new(LruCache::new(max_size.max(1))), max_size: max_size.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<K, V>> {
        // A panic while holding the lock leaves a consistent LRU; keep using it.
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Type-erased view of a cache, for metrics.
trait StatsSource: Send + Sync {
    fn stats(&self) -> CacheStats;
}

impl<K: Hash + Eq + Clone + Send, V: Clone + Send> StatsSource for FnCache<K, V> {
    fn stats(&self) -> CacheStats {
        let store = self.lock();
        CacheStats {
            hits: store.cache_hits().unwrap_or(0),
            misses: store.cache_misses().unwrap_or(0),
            evictions: store.cache_evictions().unwrap_or(0),
            size: store.cache_size(),
            max_size: self.max_size,
        }
    }
}

/// The typed handle of one `#[cached]` method's cache: look up, fill, invalidate, count.
pub struct CacheHandle<K, V> {
    cache: Arc<FnCache<K, V>>,
}

impl<K, V> Clone for CacheHandle<K, V> {
    fn clone(&self) -> Self {
        Self { cache: self.cache.clone() }
    }
}

impl<K: Hash + Eq + Clone + Send, V: Clone + Send> CacheHandle<K, V> {
    /// The cached value for `key`, counting a hit or a miss.
    pub fn get(&self, key: &K) -> Option<V> {
        self.cache.lock().cache_get(key).cloned()
    }

    /// Stores a value (the generated method calls this after a successful run).
    pub fn insert(&self, key: K, value: V) {
        self.cache.lock().cache_set(key, value);
    }

    /// Drops the entry for `key`; `true` if there was one. Synapse's
    /// `api.invalidate_cache(self.method, (key,))`.
    pub fn invalidate(&self, key: &K) -> bool {
        self.cache.lock().cache_remove(key).is_some()
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.cache.lock().cache_clear();
    }

    /// Hits, misses, evictions and size.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

/// The caches of one module instance, by method.
#[derive(Default)]
pub struct CacheSet {
    caches: Mutex<HashMap<&'static str, Entry>>,
}

struct Entry {
    typed: Arc<dyn Any + Send + Sync>,
    stats: Arc<dyn StatsSource>,
}

impl CacheSet {
    /// The cache of `method`, created on first use with `max_size` entries.
    ///
    /// # Panics
    ///
    /// If the same method name is used with two key/value types (generated code never
    /// does this: the name is the method's).
    pub fn get_or_create<K, V>(&self, method: &'static str, max_size: usize) -> CacheHandle<K, V>
    where
        K: Hash + Eq + Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        let mut caches = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = caches.entry(method).or_insert_with(|| {
            let cache = Arc::new(FnCache::<K, V>::new(max_size));
            Entry { typed: cache.clone(), stats: cache }
        });
        match entry.typed.clone().downcast::<FnCache<K, V>>() {
            Ok(cache) => CacheHandle { cache },
            Err(_) => panic!("mxmod: cache `{method}` is used with two different key/value types"),
        }
    }

    /// Every cache created so far, by method name, sorted.
    pub fn stats(&self) -> Vec<(&'static str, CacheStats)> {
        let caches = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<_> = caches.iter().map(|(name, entry)| (*name, entry.stats.stats())).collect();
        out.sort_by_key(|(name, _)| *name);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_misses_and_evictions() {
        let set = CacheSet::default();
        let cache = set.get_or_create::<String, u32>("lookup", 2);
        assert_eq!(cache.get(&"a".into()), None);
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        assert_eq!(cache.get(&"a".into()), Some(1));
        cache.insert("c".into(), 3);
        assert_eq!(cache.get(&"b".into()), None, "b was least recently used");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.evictions, stats.size), (1, 2, 1, 2));
        assert!(cache.invalidate(&"a".into()));
        assert!(!cache.invalidate(&"a".into()));
        cache.invalidate_all();
        assert_eq!(set.stats()[0].1.size, 0);
    }

    #[test]
    fn the_same_method_gets_the_same_cache() {
        let set = CacheSet::default();
        set.get_or_create::<u8, u8>("m", 10).insert(1, 1);
        assert_eq!(set.get_or_create::<u8, u8>("m", 10).get(&1), Some(1));
    }
}
