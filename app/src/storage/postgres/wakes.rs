//! Wake-ups wait until what they announce is readable. Positions commit out of order, so
//! an event at position 7 may be committed while 6 is still being written; `/sync` reads
//! only up to the persisted position (6 - 1 = 5), so a sync woken for 7 at once would
//! find nothing, park again, and not be woken when 6 commits if 6 is in a room it does
//! not see. So each change (this process's commits and other processes' notifications)
//! waits here until every position it wrote is at or below the persisted position, then
//! wakes its syncs. The queue is re-checked on each new change and every 20 ms while it
//! is not empty (a writer that rolled back sends nothing).

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use super::{changes::Changes, positions, Shared};

/// How often a non-empty queue is re-checked without a new change.
const RECHECK: Duration = Duration::from_millis(20);

/// Changes whose wake-ups wait for their positions to be persisted.
#[derive(Default)]
pub(super) struct WakeQueue {
    pending: Mutex<Vec<Changes>>,
    arrived: tokio::sync::Notify,
}

impl WakeQueue {
    /// Queues a change's wake-ups (its room states already resolved).
    pub(super) fn push(&self, changes: Changes) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).push(changes);
        self.arrived.notify_one();
    }
}

/// Applies queued wake-ups as their positions become persisted; runs for the process's
/// lifetime.
pub(super) async fn run(shared: std::sync::Arc<Shared>) {
    loop {
        let waiting = !shared.wakes.pending.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
        if waiting {
            let _ = tokio::time::timeout(RECHECK, shared.wakes.arrived.notified()).await;
        } else {
            shared.wakes.arrived.notified().await;
        }
        let batch = std::mem::take(&mut *shared.wakes.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            continue;
        }
        let persisted = match shared.client().await {
            Ok(client) => {
                let read = positions::persisted(&client).await;
                shared.finish(client, &read);
                read.ok()
            }
            Err(_) => None,
        };
        let mut kept = Vec::new();
        for changes in batch {
            // Without the positions (the database is failing), wake anyway: a spurious
            // wake-up costs one read, a missed one a whole long poll.
            if persisted.is_none_or(|persisted| changes.written.within(&persisted)) {
                changes.wake(&shared.notifier);
            } else {
                kept.push(changes);
            }
        }
        if !kept.is_empty() {
            shared.wakes.pending.lock().unwrap_or_else(PoisonError::into_inner).extend(kept);
        }
    }
}
