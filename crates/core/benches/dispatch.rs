//! What a callback hook costs: an unimplemented hook against no hook at all, 1 or 4
//! registered callbacks against calling the same functions directly or through boxed
//! `dyn Future`s, a cost ladder that adds the hook's layers one at a time, and one hook
//! dispatched from two threads at once against one thread.
//!
//! Every future completes without awaiting, so it is polled once with a no-op waker: no
//! runtime is in the measurement. The hooks come from `Harness::builder(..).start()` (the
//! server with `enable_metrics: false`: latencies not measured); `hook_timed` is the same
//! with latencies measured for the metrics histograms (`enable_metrics: true`).
//!
//! Run with `cargo bench -p mxmod --bench dispatch`.

use std::{
    future::Future,
    hint::black_box,
    panic::AssertUnwindSafe,
    pin::{pin, Pin},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::FutureExt;
use mxmod::{
    __private::{
        fold::{FirstPoll, Fold, Step},
        hook::ModuleObject,
        slot::CallSlot,
    },
    callbacks::{
        rules::FirstDeny,
        spam_checker::{user_may_invite, SpamCheckerCallback, MXMOD_SPAM_CHECKER_CALLBACKS},
    },
    module, spam_checker,
    testing::Harness,
    types::{OwnedRoomId, OwnedUserId, RoomId, UserId},
    Module, ModuleApi, ModuleError, SpamCheck,
};

/// Polls a future once with a no-op waker; every future here completes at once.
#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a benchmarked future awaited something"),
    }
}

/// A module with one trivial callback.
struct Trivial;

impl Module for Trivial {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Trivial)
    }
}

#[module(name = "bench_trivial")]
impl Trivial {
    #[spam_checker]
    async fn user_may_invite(&self, inviter: &UserId, _invitee: &UserId, _room: &RoomId) -> SpamCheck {
        black_box(inviter);
        SpamCheck::NOT_SPAM
    }
}

/// `user_may_invite`'s arguments.
struct Args {
    inviter: OwnedUserId,
    invitee: OwnedUserId,
    room: OwnedRoomId,
}

impl Args {
    fn new() -> Self {
        Args {
            inviter: UserId::parse("@alice:example.com").unwrap(),
            invitee: UserId::parse("@bob:example.com").unwrap(),
            room: RoomId::parse("!room:example.com").unwrap(),
        }
    }
}

fn yaml(instances: usize) -> String {
    if instances == 0 {
        "modules: []\n".to_owned()
    } else {
        // A module listed more than once names a distinct `id:` per entry.
        let entries: String = (1..=instances).map(|n| format!("  - module: bench_trivial\n    id: t_{n}\n")).collect();
        format!("modules:\n{entries}")
    }
}

fn harness(instances: usize) -> Harness {
    Harness::builder(&yaml(instances)).start().unwrap_or_else(|error| panic!("{error}"))
}

fn timed_harness(instances: usize) -> Harness {
    Harness::builder(&yaml(instances)).timed(true).start().unwrap_or_else(|error| panic!("{error}"))
}

/// What the hook's FIRST-DENY rule checks of each answer.
#[inline(always)]
fn allowed(answer: SpamCheck) -> bool {
    matches!(answer, SpamCheck::NotSpam)
}

/// The trivial async call the baseline makes instead of a hook.
#[inline(never)]
async fn direct_check(inviter: &UserId) -> SpamCheck {
    black_box(inviter);
    SpamCheck::NOT_SPAM
}

/// (a) An unimplemented hook against no hook and against one direct async call.
fn unimplemented_hook(c: &mut Criterion) {
    let args = Args::new();
    let empty = harness(0);
    let callbacks = empty.callbacks();
    let mut group = c.benchmark_group("unimplemented_hook");
    group.bench_function("no_hook", |b| b.iter(|| black_box(&args.inviter)));
    // The same, polled through the same one-poll harness as the hook: what awaiting
    // nothing costs here, so `hook - no_hook_polled` is the dispatcher's own cost.
    group.bench_function("no_hook_polled", |b| b.iter(|| ready(std::future::ready(black_box(&args.inviter)))));
    group.bench_function("direct_async_call", |b| {
        b.iter(|| allowed(ready(direct_check(black_box(&args.inviter)))));
    });
    group.bench_function("hook", |b| {
        b.iter(|| ready(callbacks.spam_checker.user_may_invite(&args.inviter, &args.invitee, &args.room)).is_ok());
    });
    group.finish();
}

/// A future as async-trait style dispatch returns it: boxed, type-erased.
type BoxedCheck<'a> = Pin<Box<dyn Future<Output = SpamCheck> + Send + 'a>>;

/// A callback as a boxed-future design would store it.
type BoxedCallback = for<'a> fn(&'a Trivial, &'a UserId, &'a UserId, &'a RoomId) -> BoxedCheck<'a>;

fn boxed_user_may_invite<'a>(
    module: &'a Trivial,
    inviter: &'a UserId,
    invitee: &'a UserId,
    room: &'a RoomId,
) -> BoxedCheck<'a> {
    Box::pin(module.user_may_invite(inviter, invitee, room))
}

/// (b) 1 and 4 registered callbacks: through the hook (untimed and timed), the same methods called directly
/// in sequence (first deny wins, as the hook does), and a chain of boxed futures.
fn registered_callbacks(c: &mut Criterion) {
    let args = Args::new();
    let Args { inviter, invitee, room } = &args;
    let mut group = c.benchmark_group("registered_callbacks");
    for instances in [1_usize, 4] {
        let harness = harness(instances);
        let callbacks = harness.callbacks();
        assert_eq!(callbacks.stats().len(), instances);
        group.bench_with_input(BenchmarkId::new("hook", instances), &instances, |b, _| {
            b.iter(|| ready(callbacks.spam_checker.user_may_invite(inviter, invitee, room)).is_ok());
        });

        let timed = timed_harness(instances);
        let timed_callbacks = timed.callbacks();
        group.bench_with_input(BenchmarkId::new("hook_timed", instances), &instances, |b, _| {
            b.iter(|| ready(timed_callbacks.spam_checker.user_may_invite(inviter, invitee, room)).is_ok());
        });

        let modules: Vec<Trivial> = (0..instances).map(|_| Trivial).collect();
        group.bench_with_input(BenchmarkId::new("direct", instances), &instances, |b, _| {
            b.iter(|| {
                ready(async {
                    for module in black_box(&modules) {
                        if !allowed(module.user_may_invite(inviter, invitee, room).await) {
                            return false;
                        }
                    }
                    true
                })
            });
        });

        let chain: Vec<(Trivial, BoxedCallback)> =
            (0..instances).map(|_| (Trivial, boxed_user_may_invite as _)).collect();
        group.bench_with_input(BenchmarkId::new("boxed_dyn_future", instances), &instances, |b, _| {
            b.iter(|| {
                ready(async {
                    for (module, call) in black_box(&chain) {
                        if !allowed(call(module, inviter, invitee, room).await) {
                            return false;
                        }
                    }
                    true
                })
            });
        });
    }
    group.finish();
}

/// The generated `user_may_invite` shim of `bench_trivial`, from its slice.
fn trivial_shim() -> user_may_invite::Shim {
    MXMOD_SPAM_CHECKER_CALLBACKS
        .iter()
        .find_map(|descriptor| match descriptor.callback {
            SpamCheckerCallback::user_may_invite(shim) if descriptor.module == "bench_trivial" => Some(shim),
            _ => None,
        })
        .expect("bench_trivial's user_may_invite is linked")
}

/// (c) The cost ladder of one registered callback: each row adds one layer of what the
/// hook does to the row before it, so the nanoseconds are attributed.
fn cost_ladder(c: &mut Criterion) {
    let args = Args::new();
    let Args { inviter, invitee, room } = &args;
    let module: std::sync::Arc<ModuleObject> = std::sync::Arc::new(Trivial);
    let shim = trivial_shim();
    let mut group = c.benchmark_group("cost_ladder");
    // 1. The method's future built and polled in a `CallSlot`, as the shim does it, but
    //    called directly: no indirect call, no downcast.
    group.bench_function("1_slot_in_place", |b| {
        b.iter(|| {
            let mut slot = pin!(CallSlot::new());
            let future = Trivial.user_may_invite(black_box(inviter), invitee, room);
            match slot.as_mut().start(future, &mut Context::from_waker(Waker::noop())) {
                Poll::Ready(answer) => allowed(answer),
                Poll::Pending => unreachable!(),
            }
        });
    });
    // 2. The generated shim through its fn pointer: the downcast of the instance, the
    //    answer normalised to `Result<SpamCheck, CallbackError>` and folded by the
    //    FIRST-DENY rule inside the shim, as the chain calls it.
    let call_shim = || {
        let shim = black_box(shim);
        let mut slot = pin!(CallSlot::new());
        let mut fold = Fold::<FirstDeny>::new(&user_may_invite::SPEC);
        let first = FirstPoll::new(slot.as_mut(), &mut fold);
        matches!(shim(&*module, inviter, invitee, room, first, &mut Context::from_waker(Waker::noop())), Step::Continue)
    };
    group.bench_function("2_shim_fn_pointer", |b| b.iter(call_shim));
    // 3. One `catch_unwind` around the chain.
    group.bench_function("3_catch_unwind", |b| {
        b.iter(|| ready(AssertUnwindSafe(async { call_shim() }).catch_unwind()).unwrap_or(false));
    });
    // 4. The hook itself (plain plan): adds the empty check, the sharded dispatch count,
    //    the span check, the entry loop.
    let plain = harness(1);
    let plain_callbacks = plain.callbacks();
    group.bench_function("4_hook_plain", |b| {
        b.iter(|| ready(plain_callbacks.spam_checker.user_may_invite(inviter, invitee, room)).is_ok());
    });
    // 5. The guarded plan (the entry has a `timeout`): polled once, no timer armed.
    let guarded = Harness::from_yaml("modules:\n  - module: bench_trivial\n    timeout: 1s\n")
        .unwrap_or_else(|error| panic!("{error}"));
    let guarded_callbacks = guarded.callbacks();
    group.bench_function("5_hook_guarded", |b| {
        b.iter(|| ready(guarded_callbacks.spam_checker.user_may_invite(inviter, invitee, room)).is_ok());
    });
    // 6. The timed plan (metrics on): two clock reads and the sharded histogram.
    let timed = timed_harness(1);
    let timed_callbacks = timed.callbacks();
    group.bench_function("6_hook_timed", |b| {
        b.iter(|| ready(timed_callbacks.spam_checker.user_may_invite(inviter, invitee, room)).is_ok());
    });
    group.finish();
}

/// `iters` dispatches through a 1-instance hook on each of `threads` threads at once;
/// the wall time until all are done.
fn dispatch_on_threads(harness: &Harness, threads: usize, iters: u64) -> Duration {
    let barrier = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let Args { inviter, invitee, room } = Args::new();
                let callbacks = harness.callbacks();
                barrier.wait();
                for _ in 0..iters {
                    black_box(ready(callbacks.spam_checker.user_may_invite(&inviter, &invitee, &room)).is_ok());
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        started.elapsed()
    })
}

/// (d) One hook dispatched from one thread, and from two threads at once: the time per
/// iteration is the same when nothing is contended (the two-thread row does twice the
/// calls per iteration), so throughput scales 2×.
fn threads(c: &mut Criterion) {
    let harness = timed_harness(1);
    let mut group = c.benchmark_group("threads");
    for threads in [1_usize, 2] {
        group.bench_with_input(BenchmarkId::new("hook_timed", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| dispatch_on_threads(&harness, threads, iters));
        });
    }
    group.finish();
}

criterion_group!(benches, unimplemented_hook, registered_callbacks, cost_ladder, threads);
criterion_main!(benches);
