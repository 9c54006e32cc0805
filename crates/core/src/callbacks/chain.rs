//! A dispatch's chain: one hand-written future that calls a hook's entries in order, in
//! one loop, inside one `poll`. An entry whose callback answers at once costs the
//! generated shim (one indirect call, which builds the callback's future in the chain's
//! one [`CallSlot`], polls it and folds its answer) and a branch on the one-byte
//! [`Step`]; no per-entry future is built, moved or awaited.
//!
//! How calls run is the hook's [`Plan`], read once per dispatch: plain (nothing else),
//! timed (each call's latency recorded in its entry's sharded histogram) or guarded
//! (polled once; a timer is armed, inline, only if the call answers `Pending` and its
//! entry has a `timeout`).
//!
//! One `catch_unwind` surrounds each `poll` of the whole chain. The chain's index says
//! which entry panicked; a `#[cold]` handler applies that entry's failure policy, then
//! the chain returns or goes on with the next entry (Synapse's semantics: an exception
//! is the callback's failure).
//!
//! The arguments reach every entry through [`Lend`]: shared ones are copied, the one
//! `&mut` argument (`on_create_room`'s request body) is lent to one call at a time.
#![allow(
    unsafe_code,
    reason = "a `&mut` argument lent to one call at a time (`LentMut`); each block says why it is sound"
)]

use std::{
    future::Future,
    marker::PhantomData,
    ops::ControlFlow,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    ptr::NonNull,
    task::{Context, Poll},
    time::Instant,
};

use crate::{
    callbacks::{
        fold::{FirstPoll, Fold, Step},
        hook::{Failure, FailureStep, Hook, ModuleObject, Plan},
        rules::Rule,
        slot::CallSlot,
    },
    error::{CallbackError, MatrixError},
};

/// The chain's answer.
type Answer<R> = Result<<R as Rule>::Output, MatrixError>;

/// What runs an entry's shim `F` on its instance with the dispatch's arguments: the closure
/// a dispatcher gives [`Chain::new`] (which spells the bound out, so that the closure's
/// argument types are inferred from it).
pub(crate) trait CallEntry<'a, R: Rule, F>:
    for<'s> FnMut(F, &'a ModuleObject, FirstPoll<'s, 'a, R>, &mut Context<'_>) -> Step
{
}

impl<'a, R: Rule, F, C> CallEntry<'a, R, F> for C where
    C: for<'s> FnMut(F, &'a ModuleObject, FirstPoll<'s, 'a, R>, &mut Context<'_>) -> Step
{
}

pin_project_lite::pin_project! {
    /// The chain of one dispatch (see the module documentation). `call` runs an entry's
    /// shim on its instance with the dispatch's arguments. Making it stores the hook and
    /// the arguments; the rest (`run`) is made at the first poll, so a dispatcher inlined
    /// next to an unimplemented hook's ready answer stores nothing more for the chain it
    /// does not take.
    pub(crate) struct Chain<'a, R: Rule, F, C> {
        hook: &'a Hook<F>,
        call: C,
        #[pin]
        run: Option<Run<'a, R>>,
    }
}

pin_project_lite::pin_project! {
    /// A running chain: its fold, the entry being called, and that call's slot, start
    /// time and timer.
    #[project = RunProj]
    struct Run<'a, R: Rule> {
        fold: Fold<R>,
        at: usize,
        plan: Plan,
        traced: bool,
        started: Option<Instant>,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        #[pin]
        slot: CallSlot<'a, Result<R::Value, CallbackError>>,
    }
}

impl<'a, R: Rule, F: Copy, C> Chain<'a, R, F, C>
where
    C: for<'s> FnMut(F, &'a ModuleObject, FirstPoll<'s, 'a, R>, &mut Context<'_>) -> Step,
{
    /// The chain of `hook` (not empty). Nothing runs until it is polled.
    #[inline(always)]
    pub(crate) fn new(hook: &'a Hook<F>, call: C) -> Self {
        Self { hook, call, run: None }
    }
}

impl<'a, R: Rule, F: Copy, C> Future for Chain<'a, R, F, C>
where
    C: CallEntry<'a, R, F>,
{
    type Output = Answer<R>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer<R>> {
        let this = self.project();
        let hook: &'a Hook<F> = this.hook;
        let mut run = this.run;
        if run.is_none() {
            // The first poll counts the dispatch and reads, once, whether calls run in the
            // `module_callback` debug span.
            hook.count_dispatch();
            run.set(Some(Run {
                fold: Fold::new(hook.spec()),
                at: 0,
                plan: hook.plan(),
                traced: tracing::enabled!(target: "mxmod::callback", tracing::Level::DEBUG),
                started: None,
                timer: None,
                slot: CallSlot::new(),
            }));
        }
        let mut run = run.as_pin_mut().expect("made above").project();
        let call = this.call;
        loop {
            match catch_unwind(AssertUnwindSafe(|| calls(hook, call, &mut run, cx))) {
                Ok(poll) => return poll,
                Err(panic) => {
                    if let Some(answer) = panicked(hook, &mut run, panic) {
                        return Poll::Ready(answer);
                    }
                }
            }
        }
    }
}

/// Calls the entries from `at` on until one waits, one ends the chain, or none is left.
#[inline(always)]
fn calls<'a, R: Rule, F: Copy, C>(
    hook: &'a Hook<F>,
    call: &mut C,
    run: &mut RunProj<'_, 'a, R>,
    cx: &mut Context<'_>,
) -> Poll<Answer<R>>
where
    C: CallEntry<'a, R, F>,
{
    while *run.at < hook.len() {
        let index = *run.at;
        let mut step = if *run.traced {
            poll_entry_traced(hook, call, run, index, cx)
        } else {
            poll_entry(hook, call, run, index, cx)
        };
        if step == Step::Pending {
            step = waiting(hook, run, index, cx);
            if step == Step::Pending {
                return Poll::Pending;
            }
        }
        if *run.plan != Plan::Plain {
            entry_done(hook, run, index);
        }
        match step {
            Step::Continue | Step::Pending => {}
            Step::Stop => {
                hook.stopped_at(index);
                return Poll::Ready(run.fold.take_end());
            }
            Step::Failed => {
                let failure = run.fold.take_failure();
                let step = hook.failed::<R>(index, failure, run.fold.spec);
                if let Some(answer) = apply(hook, run, index, step) {
                    return Poll::Ready(answer);
                }
            }
        }
        *run.at = index + 1;
    }
    Poll::Ready(Ok(R::finish(std::mem::take(&mut run.fold.state))))
}

/// Entry `index`'s poll: the first through its shim (which builds the call's future in
/// the slot, polls it and folds an answer), later ones through the slot.
#[inline(always)]
fn poll_entry<'a, R: Rule, F: Copy, C>(
    hook: &'a Hook<F>,
    call: &mut C,
    run: &mut RunProj<'_, 'a, R>,
    index: usize,
    cx: &mut Context<'_>,
) -> Step
where
    C: CallEntry<'a, R, F>,
{
    if run.slot.is_running() {
        return match run.slot.as_mut().poll(cx) {
            Poll::Pending => Step::Pending,
            Poll::Ready(answer) => run.fold.answer(answer),
        };
    }
    if *run.plan != Plan::Plain && hook.cold(index).timed {
        *run.started = Some(Instant::now());
    }
    let entry = hook.hot(index);
    call(entry.call, entry.object(), FirstPoll::new(run.slot.as_mut(), run.fold), cx)
}

/// [`poll_entry`] inside a `module_callback` span naming the module and callback, so
/// everything the callback logs carries them.
#[cold]
#[inline(never)]
fn poll_entry_traced<'a, R: Rule, F: Copy, C: CallEntry<'a, R, F>>(
    hook: &'a Hook<F>,
    call: &mut C,
    run: &mut RunProj<'_, 'a, R>,
    index: usize,
    cx: &mut Context<'_>,
) -> Step {
    let span =
        tracing::debug_span!("module_callback", module = &*hook.cold(index).module, callback = run.fold.spec.name);
    let _entered = span.enter();
    poll_entry(hook, call, run, index, cx)
}

/// Entry `index` waits: under the guarded plan, with a `timeout`, its timer is armed
/// (once) and polled; a timer that fires drops the call and fails it.
#[inline(always)]
fn waiting<R: Rule, F>(hook: &Hook<F>, run: &mut RunProj<'_, '_, R>, index: usize, cx: &mut Context<'_>) -> Step {
    if *run.plan != Plan::Guarded {
        return Step::Pending;
    }
    let Some(limit) = hook.cold(index).timeout else { return Step::Pending };
    if run.timer.is_none() {
        run.timer.set(Some(tokio::time::sleep(limit)));
    }
    match run.timer.as_mut().as_pin_mut().map(|timer| timer.poll(cx)) {
        Some(Poll::Ready(())) => {
            run.slot.as_mut().reset();
            run.fold.fail(Failure::Timeout(limit))
        }
        _ => Step::Pending,
    }
}

/// Entry `index` has answered (or failed) under the timed or guarded plan: its latency
/// is recorded, its timer dropped.
#[cold]
#[inline(never)]
fn entry_done<R: Rule, F>(hook: &Hook<F>, run: &mut RunProj<'_, '_, R>, index: usize) {
    if let Some(started) = run.started.take() {
        hook.cold(index).counters.record_latency(started.elapsed());
    }
    if run.timer.is_some() {
        run.timer.set(None);
    }
}

/// What a failure's policy makes of the chain: `Some` ends it with that answer.
#[inline(always)]
fn apply<R: Rule, F>(
    hook: &Hook<F>,
    run: &mut RunProj<'_, '_, R>,
    index: usize,
    step: FailureStep<R::Value>,
) -> Option<Answer<R>> {
    match step {
        FailureStep::Continue => None,
        FailureStep::Answer(value) => match R::fold(&mut run.fold.state, value, run.fold.spec) {
            ControlFlow::Continue(()) => None,
            ControlFlow::Break(end) => {
                hook.stopped_at(index);
                Some(end)
            }
        },
        FailureStep::Fail(error) => Some(Err(error)),
    }
}

/// Entry `at` panicked: its future (if any) and timer are dropped, its failure policy
/// applied, and the chain goes on after it unless that ended it.
#[cold]
#[inline(never)]
fn panicked<R: Rule, F>(
    hook: &Hook<F>,
    run: &mut RunProj<'_, '_, R>,
    panic: Box<dyn std::any::Any + Send>,
) -> Option<Answer<R>> {
    let index = *run.at;
    run.slot.as_mut().reset();
    run.timer.set(None);
    *run.started = None;
    let step = hook.panicked::<R>(index, panic, run.fold.spec);
    *run.at = index + 1;
    apply(hook, run, index, step)
}

/// Lends one dispatcher argument to each call of a chain in turn. Shared arguments are
/// copied; a `&mut` one is kept as a pointer and lent to one call at a time.
pub(crate) trait Lend<'a>: Sized {
    /// What the chain keeps between calls.
    type Stash;
    /// Keeps the argument for the chain.
    fn stash(self) -> Self::Stash;
    /// The argument, for one call.
    ///
    /// # Safety
    /// For a `&mut` argument: the reference lent to the previous call is no longer used
    /// (that call's future has been dropped). The chain lends only when its slot is
    /// empty, and only one call's future lives in the slot.
    unsafe fn lend(stash: &mut Self::Stash) -> Self;
}

impl<'a, T: ?Sized> Lend<'a> for &'a T {
    type Stash = &'a T;
    #[inline(always)]
    fn stash(self) -> &'a T {
        self
    }
    #[inline(always)]
    unsafe fn lend(stash: &mut &'a T) -> &'a T {
        stash
    }
}

impl<'a, T: ?Sized> Lend<'a> for Option<&'a T> {
    type Stash = Option<&'a T>;
    #[inline(always)]
    fn stash(self) -> Option<&'a T> {
        self
    }
    #[inline(always)]
    unsafe fn lend(stash: &mut Option<&'a T>) -> Option<&'a T> {
        *stash
    }
}

impl Lend<'_> for bool {
    type Stash = bool;
    #[inline(always)]
    fn stash(self) -> bool {
        self
    }
    #[inline(always)]
    unsafe fn lend(stash: &mut bool) -> bool {
        *stash
    }
}

impl Lend<'_> for u64 {
    type Stash = u64;
    #[inline(always)]
    fn stash(self) -> u64 {
        self
    }
    #[inline(always)]
    unsafe fn lend(stash: &mut u64) -> u64 {
        *stash
    }
}

impl<'a, T: ?Sized> Lend<'a> for &'a mut T {
    type Stash = LentMut<'a, T>;
    #[inline(always)]
    fn stash(self) -> LentMut<'a, T> {
        LentMut { pointer: NonNull::from(self), _borrow: PhantomData }
    }
    #[inline(always)]
    unsafe fn lend(stash: &mut LentMut<'a, T>) -> &'a mut T {
        // SAFETY: the pointer is the `&'a mut T` the chain was given, so it is valid and
        // unaliased outside the chain for `'a`; inside, the caller's promise makes this
        // the only live reference made from it.
        unsafe { stash.pointer.as_mut() }
    }
}

/// A `&'a mut T` argument the chain holds between the calls it is lent to.
pub(crate) struct LentMut<'a, T: ?Sized> {
    pointer: NonNull<T>,
    _borrow: PhantomData<&'a mut T>,
}

// SAFETY: a `LentMut` is the `&'a mut T` it was made from; `&mut T` is `Send` when `T` is.
unsafe impl<T: ?Sized + Send> Send for LentMut<'_, T> {}
// SAFETY: as above; `&mut T` is `Sync` when `T` is.
unsafe impl<T: ?Sized + Sync> Sync for LentMut<'_, T> {}
