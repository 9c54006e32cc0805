//! What a dispatcher returns: the answer itself when no module implements the callback,
//! or else the chain's future. The check is inline in the caller; the chain's (large)
//! state machine is polled out of line, so an unimplemented hook costs a branch and no
//! call.
//!
//! The chain's future is dropped out of line too: the drop glue of an answered dispatch
//! is then a branch, not a call.
#![allow(unsafe_code, reason = "pin projection by hand, so that the chain can be dropped out of line")]

use std::{
    future::Future,
    mem::ManuallyDrop,
    pin::Pin,
    task::{Context, Poll},
};

/// A dispatcher's future: an answer ready without building any chain (`D` makes it, a
/// zero-sized closure), or the chain of the modules that implement the callback.
#[must_use = "a dispatch does nothing unless awaited"]
pub struct Dispatch<D, F> {
    state: State<D, F>,
}

enum State<D, F> {
    /// No module implements the callback: what makes the answer (a closure that
    /// captures nothing, so `Copy`: no flag records that it was used).
    Ready(D),
    /// The modules' chain gives the answer; dropped by `Dispatch`'s `Drop`.
    Chain(ManuallyDrop<F>),
}

impl<D, F> Dispatch<D, F> {
    /// No module implements the callback: `answer` makes the answer, when polled, right
    /// where the caller wants it.
    #[inline(always)]
    pub(crate) fn ready(answer: D) -> Self {
        Self { state: State::Ready(answer) }
    }

    /// The modules' chain gives the answer.
    #[inline(always)]
    pub(crate) fn chain(chain: F) -> Self {
        Self { state: State::Chain(ManuallyDrop::new(chain)) }
    }
}

impl<T, D: FnOnce() -> T + Copy, F: Future<Output = T>> Future for Dispatch<D, F> {
    type Output = T;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the chain is never moved out of `state`: it is polled pinned where it
        // is, and dropped in place.
        match &mut unsafe { self.get_unchecked_mut() }.state {
            State::Ready(answer) => Poll::Ready((*answer)()),
            // SAFETY: as above, `chain` stays where it is until it is dropped.
            State::Chain(chain) => poll_chain(unsafe { Pin::new_unchecked(&mut **chain) }, cx),
        }
    }
}

impl<D, F> Drop for Dispatch<D, F> {
    #[inline(always)]
    fn drop(&mut self) {
        if let State::Chain(chain) = &mut self.state {
            drop_chain(chain);
        }
    }
}

/// The chain's poll, kept out of line so that the ready case stays small where it is
/// inlined.
#[inline(never)]
fn poll_chain<F: Future>(chain: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    chain.poll(cx)
}

/// Drops the chain in place, out of line.
#[inline(never)]
fn drop_chain<F>(chain: &mut ManuallyDrop<F>) {
    // SAFETY: called once, from `Dispatch`'s `Drop`; the chain is not used again.
    unsafe { ManuallyDrop::drop(chain) }
}
