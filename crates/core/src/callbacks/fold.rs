//! What a call's answer becomes in its chain: the shim folds it by the callback's
//! combination rule before it returns ([`FirstPoll::start`]), so a call that answers at
//! once hands the chain a one-byte [`Step`], not the answer itself. An answer moved across
//! the indirect call (and read back in other widths than it was written) was most of a
//! call's cost; what a stop or a failure carries waits in the chain's [`Fold`].

use std::{
    future::Future,
    ops::ControlFlow,
    pin::Pin,
    task::{Context, Poll},
};

use crate::{
    callbacks::{hook::Failure, rules::Rule, slot::CallSlot, CallbackSpec},
    error::{CallbackError, MatrixError},
};

/// What one call's first poll (or, for a callback that had to wait, its last) tells the
/// chain: one byte, whatever the rule; what a stop or a failure carries waits in the
/// chain's [`Fold`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The callback waits; its future is in the slot.
    Pending,
    /// The answer is folded in and the chain asks the next module.
    Continue,
    /// The answer ends the chain (with [`Fold`]'s end).
    Stop,
    /// The callback failed (with [`Fold`]'s failure).
    Failed,
}

/// A chain's running fold: the rule's state, the callback's row, and what ends the chain
/// early (an answer that stops it, or the failure of the call that just ran).
pub struct Fold<R: Rule> {
    pub(crate) state: R::State,
    pub(crate) spec: &'static CallbackSpec,
    exit: Exit<R>,
}

/// What ends a chain early, kept out of [`Step`] so that a step stays one byte.
enum Exit<R: Rule> {
    /// Nothing yet.
    None,
    /// An answer stopped the chain with this.
    Stop(Result<R::Output, MatrixError>),
    /// The call that just ran failed.
    Failed(Failure),
}

impl<R: Rule> Fold<R> {
    /// A chain's fold for the callback `spec` describes, at the rule's initial state.
    #[inline(always)]
    pub fn new(spec: &'static CallbackSpec) -> Self {
        Self { state: R::State::default(), spec, exit: Exit::None }
    }

    /// Folds one answer into the state.
    #[inline(always)]
    pub(crate) fn answer(&mut self, answer: Result<R::Value, CallbackError>) -> Step {
        match answer {
            Ok(value) => match R::fold(&mut self.state, value, self.spec) {
                ControlFlow::Continue(()) => Step::Continue,
                ControlFlow::Break(end) => self.stop(end),
            },
            Err(error) => self.fail(Failure::Error(error)),
        }
    }

    #[cold]
    #[inline(never)]
    fn stop(&mut self, end: Result<R::Output, MatrixError>) -> Step {
        self.exit = Exit::Stop(end);
        Step::Stop
    }

    /// The call that just ran failed.
    #[cold]
    #[inline(never)]
    pub(crate) fn fail(&mut self, failure: Failure) -> Step {
        self.exit = Exit::Failed(failure);
        Step::Failed
    }

    /// The end a [`Step::Stop`] left.
    #[cold]
    pub(crate) fn take_end(&mut self) -> Result<R::Output, MatrixError> {
        match std::mem::replace(&mut self.exit, Exit::None) {
            Exit::Stop(end) => end,
            _ => unreachable!("a stopped chain has its end"),
        }
    }

    /// The failure a [`Step::Failed`] left.
    #[cold]
    pub(crate) fn take_failure(&mut self) -> Failure {
        match std::mem::replace(&mut self.exit, Exit::None) {
            Exit::Failed(failure) => failure,
            _ => unreachable!("a failed call has its failure"),
        }
    }
}

/// What a category callback's shim gets to start one call: the call's slot and the
/// chain's fold. Two words, passed in registers.
pub struct FirstPoll<'s, 'a, R: Rule> {
    slot: Pin<&'s mut CallSlot<'a, Result<R::Value, CallbackError>>>,
    fold: &'s mut Fold<R>,
}

impl<'s, 'a, R: Rule> FirstPoll<'s, 'a, R> {
    /// One call's start: the chain makes one per call (a benchmark may too).
    #[inline(always)]
    pub fn new(slot: Pin<&'s mut CallSlot<'a, Result<R::Value, CallbackError>>>, fold: &'s mut Fold<R>) -> Self {
        Self { slot, fold }
    }

    /// Builds `future` in the slot and polls it once; an answer is folded at once.
    #[inline(always)]
    pub fn start<F>(self, future: F, cx: &mut Context<'_>) -> Step
    where
        F: Future<Output = Result<R::Value, CallbackError>> + Send + 'a,
    {
        match self.slot.start(future, cx) {
            Poll::Pending => Step::Pending,
            Poll::Ready(answer) => self.fold.answer(answer),
        }
    }
}
