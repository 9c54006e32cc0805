//! How one call of a chain runs, by the hook's [`Plan`] (read once per dispatch): plain
//! (the shim builds and polls the callback's future in the call's [`CallSlot`] and folds
//! its answer; the slot polls it again if it had to wait), timed (its latency recorded in the entry's sharded
//! histogram) or guarded (polled once; a timer is armed only if it returns `Pending` and
//! the entry has a `timeout`, inline, so arming it allocates nothing). The call future is
//! a plain struct (no opaque type), so a dispatch future stays `Send` wherever the server
//! awaits it. Panics are not caught here: one `catch_unwind` surrounds the whole chain
//! (see `define_category!`).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use crate::{
    callbacks::{
        fold::{Fold, Step},
        hook::{ColdEntry, Failure, Plan},
        rules::Rule,
        slot::CallSlot,
    },
    error::CallbackError,
};

/// One call's context: the entry's cold data, the hook's plan, and whether the
/// `module_callback` debug span is on (checked once per dispatch). The callback's row is
/// the fold's.
#[derive(Clone, Copy)]
pub(crate) struct Call<'h> {
    /// The entry's cold data.
    pub(crate) cold: &'h ColdEntry,
    /// How calls of this hook run.
    pub(crate) plan: Plan,
    /// Whether each poll runs inside the `module_callback` debug span.
    pub(crate) traced: bool,
}

/// The slot of one call, typed by the callback's rule.
type RuleSlot<'f, 'c, R> = Pin<&'f mut CallSlot<'c, Result<<R as Rule>::Value, CallbackError>>>;

/// A call's first poll: the shim, called with the call's arguments, builds the future in
/// the slot, polls it and folds an answer. (`Invoke::new` spells the bound out, so that a
/// closure's argument types are inferred from it.)
pub(crate) trait Start<'c, R: Rule>:
    FnOnce(RuleSlot<'_, 'c, R>, &mut Fold<R>, &mut Context<'_>) -> Step
{
}

impl<'c, R: Rule, S> Start<'c, R> for S where S: FnOnce(RuleSlot<'_, 'c, R>, &mut Fold<R>, &mut Context<'_>) -> Step {}

/// Polls once: the first time through the shim (which builds the future in the slot,
/// polls it and folds an answer), after that the slot; inside the debug span if it is
/// on. Never `Step::Pending` when ready. The call is read through a reference, field by
/// field: copied whole, its 16 bytes were loaded right after being written with
/// narrower stores (a store-forwarding stall, a third of a chain's time per callback).
#[inline(always)]
fn poll_call<'c, R: Rule, S: Start<'c, R>>(
    call: &Call<'_>,
    start: &mut Option<S>,
    slot: RuleSlot<'_, 'c, R>,
    fold: &mut Fold<R>,
    cx: &mut Context<'_>,
) -> Poll<Step> {
    let step = if call.traced { step_traced(call, start, slot, fold, cx) } else { step(start, slot, fold, cx) };
    match step {
        Step::Pending => Poll::Pending,
        step => Poll::Ready(step),
    }
}

#[inline(always)]
fn step<'c, R: Rule, S: Start<'c, R>>(
    start: &mut Option<S>,
    slot: RuleSlot<'_, 'c, R>,
    fold: &mut Fold<R>,
    cx: &mut Context<'_>,
) -> Step {
    match start.take() {
        Some(start) => start(slot, fold, cx),
        None => match slot.poll(cx) {
            Poll::Pending => Step::Pending,
            Poll::Ready(answer) => fold.answer(answer),
        },
    }
}

/// A poll inside a `module_callback` span naming the module and callback, so everything
/// the callback logs carries them.
#[cold]
#[inline(never)]
fn step_traced<'c, R: Rule, S: Start<'c, R>>(
    call: &Call<'_>,
    start: &mut Option<S>,
    slot: RuleSlot<'_, 'c, R>,
    fold: &mut Fold<R>,
    cx: &mut Context<'_>,
) -> Step {
    let span = tracing::debug_span!("module_callback", module = &*call.cold.module, callback = fold.spec.name);
    let _entered = span.enter();
    step(start, slot, fold, cx)
}

pin_project_lite::pin_project! {
    /// One call of a chain: its slot, the chain's fold, and the shim's first poll, run by
    /// the plan. Its output is `Continue`, `Stop` or `Failed` (with the fold's end or
    /// failure).
    pub(crate) struct Invoke<'f, 'c, R: Rule, S> {
        call: Call<'f>,
        start: Option<S>,
        slot: RuleSlot<'f, 'c, R>,
        fold: &'f mut Fold<R>,
        started: Option<Instant>,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

impl<'f, 'c, R: Rule, S> Invoke<'f, 'c, R, S>
where
    S: FnOnce(RuleSlot<'_, 'c, R>, &mut Fold<R>, &mut Context<'_>) -> Step,
{
    /// Runs the call to its outcome: `start` is the shim's first poll.
    #[inline(always)]
    pub(crate) fn new(call: Call<'f>, slot: RuleSlot<'f, 'c, R>, fold: &'f mut Fold<R>, start: S) -> Self {
        Self { call, start: Some(start), slot, fold, started: None, timer: None }
    }
}

impl<'c, R: Rule, S: Start<'c, R>> Future for Invoke<'_, 'c, R, S> {
    type Output = Step;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Step> {
        let this = self.project();
        match this.call.plan {
            Plan::Plain => poll_call(this.call, this.start, this.slot.as_mut(), this.fold, cx),
            Plan::Timed => {
                let started = *this.started.get_or_insert_with(Instant::now);
                let step = std::task::ready!(poll_call(this.call, this.start, this.slot.as_mut(), this.fold, cx));
                this.call.cold.counters.record_latency(started.elapsed());
                Poll::Ready(step)
            }
            Plan::Guarded => {
                poll_guarded(this.call, this.start, this.slot.as_mut(), this.fold, this.started, this.timer, cx)
            }
        }
    }
}

/// The guarded plan: the first poll arms nothing; a `Pending` answer with a `timeout`
/// arms the timer once.
fn poll_guarded<'c, R: Rule, S: Start<'c, R>>(
    call: &Call<'_>,
    start: &mut Option<S>,
    slot: RuleSlot<'_, 'c, R>,
    fold: &mut Fold<R>,
    started: &mut Option<Instant>,
    mut timer: Pin<&mut Option<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<Step> {
    if call.cold.timed && started.is_none() {
        *started = Some(Instant::now());
    }
    let step = match poll_call(call, start, slot, fold, cx) {
        Poll::Ready(step) => step,
        Poll::Pending => {
            let Some(limit) = call.cold.timeout else { return Poll::Pending };
            if timer.is_none() {
                timer.set(Some(tokio::time::sleep(limit)));
            }
            match timer.as_pin_mut().map(|timer| timer.poll(cx)) {
                Some(Poll::Ready(())) => fold.fail(Failure::Timeout(limit)),
                _ => return Poll::Pending,
            }
        }
    };
    if let Some(started) = started {
        call.cold.counters.record_latency(started.elapsed());
    }
    Poll::Ready(step)
}
