//! One hook: the ordered (module instance, shim) list of a callback, and how one call is
//! run (panic catching, timeout, stats) and how a failure is handled.

use std::{
    any::Any,
    fmt,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use serde::Deserialize;

use crate::{
    callbacks::{
        rules::{Forced, Rule},
        CallbackSpec, FailurePolicy,
    },
    error::{CallbackError, MatrixError},
};

/// A module instance as the registry holds it.
pub type ModuleObject = dyn Any + Send + Sync;

/// The future a callback shim returns: stored inline (no heap allocation) when it fits
/// in 512 bytes, boxed otherwise.
pub type CallbackFuture<'a, T> = stackfuture::StackFuture<'a, T, 512>;

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
pub enum Failure {
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

/// Latency histogram bucket upper bounds, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000];

/// Call counts, error counts and a latency histogram of one (module, callback) pair.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    errors: AtomicU64,
    latency_sum_us: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

impl CallStats {
    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Failed calls so far (errors, panics, timeouts).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Sum of timed latencies, in microseconds.
    pub fn latency_sum_us(&self) -> u64 {
        self.latency_sum_us.load(Ordering::Relaxed)
    }

    /// Non-cumulative bucket counts for [`LATENCY_BUCKETS_US`] plus a final `+Inf` bucket.
    pub fn latency_buckets(&self) -> Vec<u64> {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect()
    }

    fn record_latency(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let bucket = LATENCY_BUCKETS_US.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// Per-module settings that shape how its callbacks are run.
#[derive(Clone, Debug, Default)]
pub struct EntrySettings {
    /// `on_error` from the module's YAML entry.
    pub on_error: Option<OnError>,
    /// `timeout` from the module's YAML entry.
    pub timeout: Option<Duration>,
    /// Whether latencies are measured (off keeps a call to one indirect call).
    pub timed: bool,
}

/// One module's implementation of one callback.
pub struct HookEntry<F> {
    /// The module's name (as listed in YAML).
    pub module: Arc<str>,
    /// The module instance the shim is called on.
    pub object: Arc<ModuleObject>,
    /// The generated shim.
    pub call: F,
    /// `on_error`, `timeout`, timing.
    pub settings: EntrySettings,
    /// Counters for this (module, callback).
    pub stats: Arc<CallStats>,
}

/// The ordered implementations of one callback.
pub struct Hook<F> {
    entries: Vec<HookEntry<F>>,
}

impl<F> Default for Hook<F> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<F> Hook<F> {
    /// Whether no module implements this callback.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The implementations, in call order.
    #[inline]
    pub fn entries(&self) -> &[HookEntry<F>] {
        &self.entries
    }

    pub(crate) fn push(&mut self, entry: HookEntry<F>) {
        self.entries.push(entry);
    }
}

impl<F> HookEntry<F> {
    /// Runs one call of `callback`: catches panics, applies the timeout, counts it.
    ///
    /// The future comes pinned where the dispatcher made it: a [`CallbackFuture`] is a
    /// 512-byte buffer, and moving it into this future and its wrappers used to copy it
    /// several times per call.
    #[inline]
    pub async fn invoke<T>(
        &self,
        callback: &'static str,
        future: Pin<&mut CallbackFuture<'_, Result<T, CallbackError>>>,
    ) -> Result<T, Failure> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = self.settings.timed.then(Instant::now);
        // A `debug` span names the module and callback in everything the call logs; with
        // `debug` off it is a disabled span (no allocation, a branch per poll).
        let span = tracing::debug_span!("module_callback", module = &*self.module, callback);
        let caught = tracing::Instrument::instrument(AssertUnwindSafe(future).catch_unwind(), span);
        let outcome = match self.settings.timeout {
            None => caught.await,
            Some(limit) => match tokio::time::timeout(limit, caught).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(Failure::Timeout(limit));
                }
            },
        };
        if let Some(started) = started {
            self.stats.record_latency(started.elapsed());
        }
        let result = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => Failure::Error(error),
            Err(panic) => Failure::Panic(panic_message(panic.as_ref())),
        };
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        Err(result)
    }

    /// Turns a failure into what the chain does next, by the module's `on_error` or else
    /// the callback's Synapse policy; every failure is logged with module and callback.
    pub fn on_failure<R: Rule>(&self, failure: Failure, spec: &CallbackSpec) -> FailureStep<R::Value> {
        tracing::warn!(
            module = &*self.module,
            callback = spec.name,
            "module `{}` callback `{}` {failure}",
            self.module,
            spec.name
        );
        match self.settings.on_error {
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
        }
    }
}

/// What the chain does after a failed call.
pub enum FailureStep<V> {
    /// Ask the next module.
    Continue,
    /// Treat the module as having answered this.
    Answer(V),
    /// End the chain with this error.
    Fail(MatrixError),
}

fn policy_error(policy: &FailurePolicy, failure: Failure) -> MatrixError {
    match (failure, policy) {
        (Failure::Error(CallbackError::Matrix(error)), _) => error,
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

/// Re-lends one dispatcher argument to each module in turn, so `&mut` arguments (the
/// `on_create_room` request body) reach every module.
pub trait Reborrow {
    /// The argument with a shorter lifetime.
    type Out<'b>
    where
        Self: 'b;
    /// Lends the argument for one call.
    fn reborrow(&mut self) -> Self::Out<'_>;
}

impl<T: ?Sized> Reborrow for &T {
    type Out<'b>
        = &'b T
    where
        Self: 'b;
    #[inline]
    fn reborrow(&mut self) -> &T {
        self
    }
}

impl<T: ?Sized> Reborrow for &mut T {
    type Out<'b>
        = &'b mut T
    where
        Self: 'b;
    #[inline]
    fn reborrow(&mut self) -> &mut T {
        self
    }
}

impl<T: ?Sized> Reborrow for Option<&T> {
    type Out<'b>
        = Option<&'b T>
    where
        Self: 'b;
    #[inline]
    fn reborrow(&mut self) -> Option<&T> {
        *self
    }
}

macro_rules! reborrow_by_copy {
    ($($ty:ty),*) => {$(
        impl Reborrow for $ty {
            type Out<'b> = $ty;
            #[inline]
            fn reborrow(&mut self) -> $ty {
                *self
            }
        }
    )*};
}

reborrow_by_copy!(bool, u64, usize);
