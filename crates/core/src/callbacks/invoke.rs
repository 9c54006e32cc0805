//! How one call of a chain runs, by the hook's [`Plan`] (read once per dispatch): plain
//! (the callback's future, polled), timed (its latency recorded in the entry's sharded
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
    callbacks::hook::{CallbackFuture, ColdEntry, Failure, Plan},
    error::CallbackError,
};

/// One call's context: the entry's cold data, the callback's name, the hook's plan, and
/// whether the `module_callback` debug span is on (checked once per dispatch).
#[derive(Clone, Copy)]
pub(crate) struct Call<'h> {
    /// The entry's cold data.
    pub(crate) cold: &'h ColdEntry,
    /// The callback's Synapse name.
    pub(crate) callback: &'static str,
    /// How calls of this hook run.
    pub(crate) plan: Plan,
    /// Whether each poll runs inside the `module_callback` debug span.
    pub(crate) traced: bool,
}

/// Polls once, inside the debug span if it is on.
#[inline(always)]
fn poll_call<T>(
    call: Call<'_>,
    future: Pin<&mut CallbackFuture<'_, Result<T, CallbackError>>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, CallbackError>> {
    if call.traced {
        poll_traced(call, future, cx)
    } else {
        future.poll(cx)
    }
}

/// A poll inside a `module_callback` span naming the module and callback, so everything
/// the callback logs carries them.
#[cold]
#[inline(never)]
fn poll_traced<T>(
    call: Call<'_>,
    future: Pin<&mut CallbackFuture<'_, Result<T, CallbackError>>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, CallbackError>> {
    let span = tracing::debug_span!("module_callback", module = &*call.cold.module, callback = call.callback);
    let _entered = span.enter();
    future.poll(cx)
}

pin_project_lite::pin_project! {
    /// One call of a chain: the pinned callback future, run by the plan.
    pub(crate) struct Invoke<'f, 'c, T> {
        call: Call<'f>,
        future: Pin<&'f mut CallbackFuture<'c, Result<T, CallbackError>>>,
        started: Option<Instant>,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

impl<'f, 'c, T> Invoke<'f, 'c, T> {
    /// Runs `future` to its answer or its failure.
    #[inline(always)]
    pub(crate) fn new(call: Call<'f>, future: Pin<&'f mut CallbackFuture<'c, Result<T, CallbackError>>>) -> Self {
        Self { call, future, started: None, timer: None }
    }
}

impl<T> Future for Invoke<'_, '_, T> {
    type Output = Result<T, Failure>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.call.plan {
            Plan::Plain => poll_call(*this.call, this.future.as_mut(), cx).map(|result| result.map_err(Failure::Error)),
            Plan::Timed => {
                let started = *this.started.get_or_insert_with(Instant::now);
                let result = std::task::ready!(poll_call(*this.call, this.future.as_mut(), cx));
                this.call.cold.counters.record_latency(started.elapsed());
                Poll::Ready(result.map_err(Failure::Error))
            }
            Plan::Guarded => poll_guarded(*this.call, this.future.as_mut(), this.started, this.timer, cx),
        }
    }
}

/// The guarded plan: the first poll arms nothing; a `Pending` answer with a `timeout`
/// arms the timer once.
fn poll_guarded<T>(
    call: Call<'_>,
    future: Pin<&mut CallbackFuture<'_, Result<T, CallbackError>>>,
    started: &mut Option<Instant>,
    mut timer: Pin<&mut Option<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Failure>> {
    if call.cold.timed && started.is_none() {
        *started = Some(Instant::now());
    }
    let result = match poll_call(call, future, cx) {
        Poll::Ready(result) => result.map_err(Failure::Error),
        Poll::Pending => {
            let Some(limit) = call.cold.timeout else { return Poll::Pending };
            if timer.is_none() {
                timer.set(Some(tokio::time::sleep(limit)));
            }
            match timer.as_pin_mut().map(|timer| timer.poll(cx)) {
                Some(Poll::Ready(())) => Err(Failure::Timeout(limit)),
                _ => return Poll::Pending,
            }
        }
    };
    if let Some(started) = started {
        call.cold.counters.record_latency(started.elapsed());
    }
    Poll::Ready(result)
}
