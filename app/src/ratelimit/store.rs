//! The limiters' state store: governor's `DashMap` store keyed by fingerprint, plus a
//! dry-run mode so a limiter can answer "would this be allowed?" without counting it
//! (Synapse's `update=False`, which the failed-login lockout needs).

use governor::{
    nanos::Nanos,
    state::{
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
        StateStore,
    },
};

/// A key as the store sees it: the fingerprint, and whether this check only looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Probe {
    /// The hashed key.
    pub(crate) fingerprint: u64,
    /// Decide, but write nothing back.
    pub(crate) dry_run: bool,
}

/// Bucket states by fingerprint.
#[derive(Default)]
pub(crate) struct ProbeStore(DashMapStateStore<u64>);

impl StateStore for ProbeStore {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, key: &Probe, decide: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if !key.dry_run {
            return self.0.measure_and_replace(&key.fingerprint, decide);
        }
        if !self.0.contains_key(&key.fingerprint) {
            // A key never seen (or pruned) is a full bucket; do not store it.
            return decide(None).map(|(answer, _)| answer);
        }
        // Write back the state that was read: the decision is made, nothing changes.
        self.0.measure_and_replace(&key.fingerprint, |previous| {
            decide(previous).map(|(answer, _)| (answer, previous.unwrap_or_else(|| Nanos::from(0))))
        })
    }
}

impl ShrinkableKeyedStateStore<Probe> for ProbeStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&self.0)
    }
}
