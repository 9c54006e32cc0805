//! Call statistics without a shared cache line written per call.
//!
//! A dispatch adds one to its hook's dispatch counter; the entry that ends a chain (its
//! answer decided, or its failure failed the request) adds one to its own stop counter.
//! How often entry `i` was called is then exact: the dispatches, minus the chains that
//! stopped at an entry before `i`. Both counters are sharded by thread, each shard on its
//! own cache line, so threads dispatching at once never write the same line. Failures
//! (rare, on the cold path) use one plain atomic per entry; latencies, measured only when
//! metrics are on, go to a per-shard histogram.

use std::{
    cell::Cell,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

/// Latency histogram bucket upper bounds, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000];

/// Number of shards: more than the threads that usually dispatch at once.
const SHARDS: usize = 16;

/// This thread's shard, assigned round-robin the first time the thread counts something.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|shard| {
        let mut index = shard.get();
        if index == usize::MAX {
            index = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(index);
        }
        index
    })
}

/// One shard's counters of one entry, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct EntryShard {
    /// Chains that ended at this entry.
    stops: AtomicU64,
    /// Sum of measured latencies, in microseconds.
    latency_sum_us: AtomicU64,
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS_US`], then `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

/// One counter, sharded.
#[repr(align(128))]
#[derive(Default)]
struct CounterShard(AtomicU64);

/// The dispatch counter of one hook.
#[derive(Default)]
pub(crate) struct DispatchCounter {
    shards: [CounterShard; SHARDS],
}

impl DispatchCounter {
    /// Counts one dispatch on this thread's shard.
    #[inline]
    pub(crate) fn add(&self) {
        self.shards[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    /// Dispatches so far.
    pub(crate) fn total(&self) -> u64 {
        self.shards.iter().map(|shard| shard.0.load(Ordering::Relaxed)).sum()
    }
}

/// The counters of one (module instance, callback) entry.
#[derive(Default)]
pub(crate) struct EntryCounters {
    shards: [EntryShard; SHARDS],
    errors: AtomicU64,
}

impl EntryCounters {
    /// The chain ended at this entry.
    #[inline]
    pub(crate) fn stop(&self) {
        self.shards[shard()].stops.fetch_add(1, Ordering::Relaxed);
    }

    /// The call failed (error, panic or timeout); the cold path only.
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one measured latency.
    #[inline]
    pub(crate) fn record_latency(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let shard = &self.shards[shard()];
        shard.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let bucket = LATENCY_BUCKETS_US.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_BUCKETS_US.len());
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn stops(&self) -> u64 {
        self.shards.iter().map(|shard| shard.stops.load(Ordering::Relaxed)).sum()
    }

    /// A snapshot, given how many calls reached this entry.
    fn snapshot(&self, calls: u64) -> CallStats {
        let mut buckets = [0; LATENCY_BUCKETS_US.len() + 1];
        let mut latency_sum_us = 0;
        for shard in &self.shards {
            latency_sum_us += shard.latency_sum_us.load(Ordering::Relaxed);
            for (total, bucket) in buckets.iter_mut().zip(&shard.buckets) {
                *total += bucket.load(Ordering::Relaxed);
            }
        }
        CallStats { calls, errors: self.errors.load(Ordering::Relaxed), latency_sum_us, buckets }
    }
}

/// Snapshots of a hook's entries, in call order: entry `i` was called by every dispatch
/// that no earlier entry stopped.
pub(crate) fn snapshots<'e>(
    dispatches: &DispatchCounter,
    entries: impl Iterator<Item = &'e EntryCounters>,
) -> Vec<CallStats> {
    let mut reached = dispatches.total();
    entries
        .map(|entry| {
            let stats = entry.snapshot(reached);
            reached = reached.saturating_sub(entry.stops());
            stats
        })
        .collect()
}

/// Call counts, error counts and a latency histogram of one (module, callback) pair, as
/// read at one moment (for `/_synapse/metrics` and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    calls: u64,
    errors: u64,
    latency_sum_us: u64,
    buckets: [u64; LATENCY_BUCKETS_US.len() + 1],
}

impl CallStats {
    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Failed calls so far (errors, panics, timeouts).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Sum of timed latencies, in microseconds.
    pub fn latency_sum_us(&self) -> u64 {
        self.latency_sum_us
    }

    /// Non-cumulative bucket counts for [`LATENCY_BUCKETS_US`] plus a final `+Inf` bucket.
    pub fn latency_buckets(&self) -> Vec<u64> {
        self.buckets.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::{snapshots, DispatchCounter, EntryCounters};

    #[test]
    fn calls_per_entry_are_derived_from_dispatches_and_stops() {
        let dispatches = DispatchCounter::default();
        let entries: Vec<EntryCounters> = (0..3).map(|_| EntryCounters::default()).collect();
        // 10 dispatches: 3 stop at the first entry, 2 at the second, 5 run to the end.
        for _ in 0..10 {
            dispatches.add();
        }
        (0..3).for_each(|_| entries[0].stop());
        (0..2).for_each(|_| entries[1].stop());
        let calls: Vec<u64> = snapshots(&dispatches, entries.iter()).iter().map(|s| s.calls()).collect();
        assert_eq!(calls, [10, 7, 5]);
    }

    #[test]
    fn threads_count_into_their_own_shards_and_nothing_is_lost() {
        let dispatches = DispatchCounter::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| (0..1000).for_each(|_| dispatches.add()));
            }
        });
        assert_eq!(dispatches.total(), 4000);
    }
}
