//! One hook: the ordered implementations of a callback, split into a compact hot slice
//! (the shim and the instance, all a call reads) and a parallel cold slice (label,
//! `on_error`, `timeout`, counters), plus the `Plan` start-up picked for running them.
//! How a failure becomes the chain's next step is here too, on the cold path.
//!
//! The hot entry holds the instance as a pointer resolved at attach time (the `Arc`'s
//! data, already past its counts): reaching it costs no load of the vtable's alignment
//! per call. The cold entry owns the `Arc` that keeps it alive.
#![allow(unsafe_code, reason = "a hot entry's instance pointer is resolved once from the Arc its cold entry owns")]

use std::{any::Any, fmt, ptr::NonNull, sync::Arc, time::Duration};

use serde::Deserialize;

pub use crate::callbacks::stats::{CallStats, LATENCY_BUCKETS_US};
use crate::{
    callbacks::{
        rules::{Forced, Rule},
        stats::{self, DispatchCounter, EntryCounters},
        CallbackSpec, FailurePolicy,
    },
    error::{CallbackError, MatrixError},
};

/// A module instance as the registry holds it.
pub type ModuleObject = dyn Any + Send + Sync;

pub use crate::callbacks::slot::INLINE_FUTURE_BYTES;

/// The future a web resource's shim returns: stored inline (no heap allocation) when it fits
/// in [`INLINE_FUTURE_BYTES`], boxed otherwise.
pub type CallbackFuture<'a, T> = stackfuture::StackFuture<'a, T, INLINE_FUTURE_BYTES>;

/// What a module entry's `on_error` asks for when one of its callbacks fails (returns an
/// error, panics or times out), instead of Synapse's per-callback default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Treat the failure as "no objection" and ask the next module.
    Allow,
    /// Treat the failure as a deny.
    Deny,
}

/// Why one callback call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The callback returned an error.
    Error(CallbackError),
    /// The callback panicked; the text is the panic message.
    Panic(String),
    /// The callback did not finish within its `timeout`.
    Timeout(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(error) => write!(f, "returned an error: {error}"),
            Self::Panic(message) => write!(f, "panicked: {message}"),
            Self::Timeout(limit) => write!(f, "timed out after {limit:?}"),
        }
    }
}

/// Per-module settings that shape how its callbacks are run.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntrySettings {
    /// `on_error` from the module's YAML entry.
    pub on_error: Option<OnError>,
    /// `timeout` from the module's YAML entry.
    pub timeout: Option<Duration>,
    /// Whether latencies are measured (metrics on).
    pub timed: bool,
}

/// How a hook's calls are run, picked once at start-up from its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Each call is the shim's future, polled: nothing else.
    Plain,
    /// As plain, and each call's latency is measured (metrics on).
    Timed,
    /// Some entry has a `timeout`: each call is polled once, and a timer is armed only
    /// if it returns `Pending` (latencies measured too when metrics are on).
    Guarded,
}

/// What a call reads: the generated shim and the instance it is called on.
pub(crate) struct HotEntry<F> {
    /// The generated shim.
    pub(crate) call: F,
    /// The module instance the shim is called on: `Arc::as_ptr` of the `Arc` the entry's
    /// [`ColdEntry`] owns, so it lives as long as the hook.
    object: NonNull<ModuleObject>,
}

// SAFETY: the pointer is a shared reference in all but name (see `HotEntry::object`),
// and `ModuleObject` is `Send + Sync`.
unsafe impl<F: Send> Send for HotEntry<F> {}
// SAFETY: as above.
unsafe impl<F: Sync> Sync for HotEntry<F> {}

impl<F> HotEntry<F> {
    /// The module instance.
    #[inline(always)]
    pub(crate) fn object(&self) -> &ModuleObject {
        // SAFETY: `object` came from `Arc::as_ptr` of the `Arc` in the cold entry pushed
        // with this one (`Hook::push`); the hook never drops or replaces a cold entry
        // while it lives, so the instance outlives every borrow of the hook, and it is
        // only ever read through shared references.
        unsafe { self.object.as_ref() }
    }
}

/// What only the cold paths read (failures, timeouts, statistics).
pub(crate) struct ColdEntry {
    /// Owns the instance the hot entry points at.
    _instance: Arc<ModuleObject>,
    /// The instance label (`name`, `name#2`).
    pub(crate) module: Arc<str>,
    pub(crate) on_error: Option<OnError>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) timed: bool,
    pub(crate) counters: Box<EntryCounters>,
}

/// The ordered implementations of one callback.
pub(crate) struct Hook<F> {
    hot: Vec<HotEntry<F>>,
    cold: Vec<ColdEntry>,
    plan: Plan,
    /// The callback's row, set with the first entry (a chain reads it from here, so a
    /// dispatcher need not store it).
    spec: Option<&'static CallbackSpec>,
    dispatches: Box<DispatchCounter>,
}

impl<F> Default for Hook<F> {
    fn default() -> Self {
        Self { hot: Vec::new(), cold: Vec::new(), plan: Plan::Plain, spec: None, dispatches: Box::default() }
    }
}

impl<F> Hook<F> {
    /// Whether no module implements this callback.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.hot.is_empty()
    }

    /// How many instances implement it.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.hot.len()
    }

    /// How calls are run.
    #[inline]
    pub(crate) fn plan(&self) -> Plan {
        self.plan
    }

    /// The callback's row.
    ///
    /// # Panics
    /// If the hook is empty (a dispatcher answers those without a chain).
    #[inline]
    pub(crate) fn spec(&self) -> &'static CallbackSpec {
        self.spec.expect("a hook with entries knows its callback's row")
    }

    /// The `index`-th implementation's shim and instance.
    #[inline(always)]
    pub(crate) fn hot(&self, index: usize) -> &HotEntry<F> {
        &self.hot[index]
    }

    /// The `index`-th implementation's cold data.
    #[inline(always)]
    pub(crate) fn cold(&self, index: usize) -> &ColdEntry {
        &self.cold[index]
    }

    /// Counts one dispatch (a hook with entries), on this thread's shard.
    #[inline(always)]
    pub(crate) fn count_dispatch(&self) {
        self.dispatches.add();
    }

    /// The chain ended at entry `index`.
    #[inline(always)]
    pub(crate) fn stopped_at(&self, index: usize) {
        self.cold[index].counters.stop();
    }

    /// Per-instance statistics, in call order.
    pub(crate) fn stats(&self) -> Vec<(Arc<str>, CallStats)> {
        let snapshots = stats::snapshots(&self.dispatches, self.cold.iter().map(|cold| &*cold.counters));
        self.cold.iter().map(|cold| cold.module.clone()).zip(snapshots).collect()
    }

    pub(crate) fn push(
        &mut self,
        spec: &'static CallbackSpec,
        call: F,
        object: Arc<ModuleObject>,
        module: Arc<str>,
        settings: &EntrySettings,
    ) {
        self.spec = Some(spec);
        self.hot.push(HotEntry { call, object: NonNull::from(&*object) });
        self.cold.push(ColdEntry {
            _instance: object,
            module,
            on_error: settings.on_error,
            timeout: settings.timeout,
            timed: settings.timed,
            counters: Box::default(),
        });
        self.plan = if self.cold.iter().any(|cold| cold.timeout.is_some()) {
            Plan::Guarded
        } else if self.cold.iter().any(|cold| cold.timed) {
            Plan::Timed
        } else {
            Plan::Plain
        };
    }

    /// Entry `index` panicked: its failure policy decides the next step.
    #[cold]
    #[inline(never)]
    pub(crate) fn panicked<R: Rule>(
        &self,
        index: usize,
        panic: Box<dyn Any + Send>,
        spec: &CallbackSpec,
    ) -> FailureStep<R::Value> {
        self.failed::<R>(index, Failure::Panic(panic_message(panic.as_ref())), spec)
    }

    /// Entry `index` failed: by the module's `on_error`, or else the callback's Synapse
    /// policy, what the chain does next. Every failure is logged with module and
    /// callback and counted; a failure that ends the chain counts as its stop.
    #[cold]
    #[inline(never)]
    pub(crate) fn failed<R: Rule>(&self, index: usize, failure: Failure, spec: &CallbackSpec) -> FailureStep<R::Value> {
        let cold = &self.cold[index];
        cold.counters.error();
        tracing::warn!(
            module = &*cold.module,
            callback = spec.name,
            "module `{}` callback `{}` {failure}",
            cold.module,
            spec.name
        );
        let step = match cold.on_error {
            Some(OnError::Allow) => FailureStep::Continue,
            Some(OnError::Deny) => match R::forced_deny() {
                Forced::Value(value) => FailureStep::Answer(value),
                Forced::Skip => FailureStep::Continue,
                Forced::Fail => FailureStep::Fail(policy_error(&spec.failure, failure)),
            },
            None => match &spec.failure {
                FailurePolicy::Ignore => FailureStep::Continue,
                policy @ FailurePolicy::Propagate { .. } => FailureStep::Fail(policy_error(policy, failure)),
            },
        };
        if let FailureStep::Fail(_) = step {
            cold.counters.stop();
        }
        step
    }
}

/// What the chain does after a failed call.
pub(crate) enum FailureStep<V> {
    /// Ask the next module.
    Continue,
    /// Treat the module as having answered this.
    Answer(V),
    /// End the chain with this error.
    Fail(MatrixError),
}

fn policy_error(policy: &FailurePolicy, failure: Failure) -> MatrixError {
    match (failure, policy) {
        (Failure::Error(CallbackError::Matrix(error)), _) => *error,
        (_, FailurePolicy::Propagate { status, errcode, error }) => MatrixError::new(*status, errcode.clone(), *error),
        (_, FailurePolicy::Ignore) => MatrixError::internal(),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
