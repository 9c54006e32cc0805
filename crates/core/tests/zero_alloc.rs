//! Dispatch allocates nothing: a hook nobody implements, a chain of registered callbacks
//! that finish without awaiting, the same with latencies measured (metrics on), and an
//! entry with a `timeout`, also when its callback returns `Pending` once so the timer is
//! armed, make no heap allocation per call.
//!
//! A counting global allocator counts, per thread, the allocations made while that
//! thread's flag is set, so tests running in parallel do not see each other's.

// The `GlobalAlloc` impl below is `unsafe` by definition; it only forwards to `System`.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use mxmod::{
    account_validity, module, spam_checker,
    testing::Harness,
    types::{OwnedRoomId, OwnedUserId, RoomId, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};

/// `System`, counting in [`ALLOCATIONS`] the allocations a thread makes while its
/// [`COUNTING`] is set.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down. Both
    // are const-initialised without destructors, so touching them never allocates.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Heap allocations made on this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    f();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Polls a future once with a no-op waker; it must complete without awaiting anything.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the call awaited something; this test needs callbacks that complete at once"),
    }
}

/// A module whose callbacks answer at once.
struct Quiet;

impl Module for Quiet {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Quiet)
    }
}

#[module(name = "zero_alloc_quiet")]
impl Quiet {
    #[spam_checker]
    async fn user_may_invite(&self, _inviter: &UserId, _invitee: &UserId, _room: &RoomId) -> SpamCheck {
        SpamCheck::NOT_SPAM
    }

    #[account_validity]
    async fn is_user_expired(&self, _user: &UserId) -> Option<bool> {
        None
    }
}

/// A module whose callback's future is too big for `CallbackFuture`'s inline space.
struct Big;

impl Module for Big {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Big)
    }
}

#[module(name = "zero_alloc_big")]
impl Big {
    #[account_validity]
    async fn is_user_expired(&self, _user: &UserId) -> Option<bool> {
        let scratch = [0_u8; 1024];
        // Held across an await, so it lives in the future.
        std::future::ready(()).await;
        std::hint::black_box(&scratch);
        None
    }
}

/// A future that returns `Pending` once (waking its task at once), then completes.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A module whose callback awaits something that is not ready at once.
struct Awaiting;

impl Module for Awaiting {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Awaiting)
    }
}

#[module(name = "zero_alloc_pending_once")]
impl Awaiting {
    #[account_validity]
    async fn is_user_expired(&self, _user: &UserId) -> Option<bool> {
        PendingOnce(false).await;
        None
    }
}

const CALLS: usize = 1000;

struct Args {
    inviter: OwnedUserId,
    invitee: OwnedUserId,
    room: OwnedRoomId,
}

fn args() -> Args {
    Args {
        inviter: UserId::parse("@alice:example.com").unwrap(),
        invitee: UserId::parse("@bob:example.com").unwrap(),
        room: RoomId::parse("!room:example.com").unwrap(),
    }
}

fn harness(instances: usize) -> Harness {
    harness_of("zero_alloc_quiet", instances)
}

fn harness_of(module: &str, instances: usize) -> Harness {
    Harness::from_yaml(&yaml(module, instances, "")).unwrap_or_else(|error| panic!("{error}"))
}

/// Modules from `yaml` with latencies measured, as the server with `enable_metrics: true`.
fn timed(yaml: &str) -> Harness {
    Harness::builder(yaml).timed(true).start().unwrap_or_else(|error| panic!("{error}"))
}

/// `instances` entries of `module`, each with the extra entry keys `extra` (indented lines).
fn yaml(module: &str, instances: usize, extra: &str) -> String {
    if instances == 0 {
        "modules: []\n".to_owned()
    } else {
        // A module listed more than once names a distinct `id:` per entry.
        let entries: String =
            (1..=instances).map(|n| format!("  - module: {module}\n    id: {module}_{n}\n{extra}")).collect();
        format!("modules:\n{entries}")
    }
}

/// Allocations made by `CALLS` calls of `user_may_invite` and `is_user_expired`, after
/// one warm-up call of each.
fn allocations_per_calls(harness: &Harness) -> usize {
    let Args { inviter, invitee, room } = args();
    let callbacks = harness.callbacks();
    let call = || {
        ready(callbacks.spam_checker.user_may_invite(&inviter, &invitee, &room)).unwrap();
        assert_eq!(ready(callbacks.account_validity.is_user_expired(&inviter)).unwrap(), None);
    };
    call();
    allocations_during(|| {
        for _ in 0..CALLS {
            call();
        }
    })
}

#[test]
fn the_counter_sees_allocations() {
    let counted = allocations_during(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(counted, 1, "the counting allocator works");
}

#[test]
fn a_hook_nobody_implements_does_not_allocate() {
    let harness = harness(0);
    assert_eq!(allocations_per_calls(&harness), 0);
}

#[test]
fn one_registered_callback_does_not_allocate() {
    let harness = harness(1);
    assert_eq!(harness.callbacks().spam_checker.implemented(), ["user_may_invite"]);
    assert_eq!(allocations_per_calls(&harness), 0);
}

#[test]
fn four_registered_callbacks_do_not_allocate() {
    let harness = harness(4);
    let calls: u64 = harness.callbacks().stats().iter().map(|(_, _, _, stats)| stats.calls()).sum();
    assert_eq!(calls, 0);
    assert_eq!(allocations_per_calls(&harness), 0);
    let calls: u64 = harness.callbacks().stats().iter().map(|(_, _, _, stats)| stats.calls()).sum();
    assert_eq!(calls, 2 * 4 * (CALLS as u64 + 1), "every instance was called every time");
}

#[test]
fn a_callback_future_too_big_to_store_inline_allocates_once_per_call() {
    let harness = harness_of("zero_alloc_big", 1);
    assert_eq!(allocations_per_calls(&harness), CALLS, "boxed: the counter sees the dispatch path");
}

#[test]
fn metrics_on_does_not_allocate() {
    let harness = timed(&yaml("zero_alloc_quiet", 4, ""));
    assert_eq!(allocations_per_calls(&harness), 0);
    let stats = harness.callbacks().stats();
    let buckets: u64 = stats.iter().map(|(_, _, _, stats)| stats.latency_buckets().iter().sum::<u64>()).sum();
    assert_eq!(buckets, 2 * 4 * (CALLS as u64 + 1), "every call's latency was measured");
}

#[test]
fn a_timeout_entry_answering_at_once_does_not_allocate() {
    for yaml in [yaml("zero_alloc_quiet", 4, "    timeout: 1s\n"), yaml("zero_alloc_quiet", 1, "    timeout: 1s\n")] {
        let harness = Harness::from_yaml(&yaml).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(allocations_per_calls(&harness), 0);
        let timed = timed(&yaml);
        assert_eq!(allocations_per_calls(&timed), 0, "with latencies measured too");
    }
}

#[test]
fn a_timeout_entry_pending_once_arms_its_timer_without_allocating() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let harness = timed(&yaml("zero_alloc_pending_once", 2, "    timeout: 1s\n"));
    let user = args().inviter;
    let callbacks = harness.callbacks();
    let calls = || async {
        for _ in 0..CALLS {
            assert_eq!(callbacks.account_validity.is_user_expired(&user).await.unwrap(), None);
        }
    };
    runtime.block_on(calls());
    let allocations = allocations_during(|| runtime.block_on(calls()));
    assert_eq!(allocations, 0);
    let stats = callbacks.stats();
    assert_eq!(stats.iter().map(|(_, _, _, stats)| stats.calls()).collect::<Vec<_>>(), [2 * CALLS as u64; 2]);
    assert!(stats.iter().all(|(_, _, _, stats)| stats.errors() == 0), "no call timed out");
}
