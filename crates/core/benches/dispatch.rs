//! What a callback hook costs: an unimplemented hook against no hook at all, and 1 or 4
//! registered callbacks against calling the same functions directly or through boxed
//! `dyn Future`s.
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
    pin::{pin, Pin},
    task::{Context, Poll, Waker},
};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mxmod::{
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
        format!("modules:\n{}", "  - module: bench_trivial\n".repeat(instances))
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

criterion_group!(benches, unimplemented_hook, registered_callbacks);
criterion_main!(benches);
