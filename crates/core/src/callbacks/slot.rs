//! Where one callback call's future lives: a fixed buffer in the dispatching chain's own
//! state. The generated shim builds the module method's future straight into the slot
//! and polls it there once, in the same call; a callback that answers at once is dropped
//! again before the shim returns. So a call that completes without waiting is one
//! indirect call (the shim), and its future is neither returned by value nor reached
//! through a second indirect call. Only a callback that answers `Pending` stays in the
//! slot, and is then polled through the function pointer the shim stored.
//!
//! The shim also folds the answer into the chain by the callback's rule (`fold.rs`).
//!
//! A future larger than [`INLINE_FUTURE_BYTES`] (or more aligned than 16 bytes) is boxed
//! first, and its box is what the slot holds: one allocation for a callback that holds
//! that much across an `await`.
//!
//! With `dispatch.rs`, one of the two `unsafe` modules of the registry: a type-erased
//! future in a byte buffer, as `stackfuture` does, but built in place instead of
//! returned by value.
#![allow(unsafe_code, reason = "a type-erased future kept in place in a byte buffer; each block says why it is sound")]

use std::{
    future::Future,
    marker::{PhantomData, PhantomPinned},
    mem::{align_of, size_of, MaybeUninit},
    pin::Pin,
    ptr,
    task::{Context, Poll},
};

/// Bytes a callback's future may take inline; a larger one is boxed (a callback that
/// really awaits I/O can afford one allocation).
pub const INLINE_FUTURE_BYTES: usize = 128;

/// The alignment of the inline buffer.
const INLINE_ALIGN: usize = 16;

/// The inline buffer, aligned for any future that does not ask for more than 16. One
/// `MaybeUninit` around the array, not an array of them: an array of `uninit()` was
/// compiled to eight 16-byte zero stores for every new slot.
#[repr(C, align(16))]
struct Buffer(MaybeUninit<[u8; INLINE_FUTURE_BYTES]>);

/// What a slot stands for, to the type system.
type ErasedFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The slot one callback call runs in (see the module documentation).
///
/// ```
/// use std::{pin::pin, task::{Context, Poll, Waker}};
/// use mxmod::__private::slot::CallSlot;
///
/// let mut slot = pin!(CallSlot::new());
/// let mut cx = Context::from_waker(Waker::noop());
/// // A future that answers at once is polled and dropped inside `start`.
/// assert_eq!(slot.as_mut().start(async { 7 }, &mut cx), Poll::Ready(7));
/// assert!(!slot.is_running());
/// ```
pub struct CallSlot<'a, T> {
    /// The running future's bytes, when it fits.
    buffer: Buffer,
    /// Polls the future in `buffer`; set while one runs.
    poll: Option<unsafe fn(*mut u8, &mut Context<'_>) -> Poll<T>>,
    /// Drops the future in `buffer`; set while one lives there.
    drop: Option<unsafe fn(*mut u8)>,
    /// What the slot stands for: a `Send` future of lifetime `'a`, never moved once it
    /// runs.
    _future: PhantomData<(ErasedFuture<'a, T>, PhantomPinned)>,
}

impl<T> Default for CallSlot<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, T> CallSlot<'a, T> {
    /// An empty slot.
    #[inline(always)]
    pub const fn new() -> Self {
        Self { buffer: Buffer(MaybeUninit::uninit()), poll: None, drop: None, _future: PhantomData }
    }

    /// Whether a future is waiting in the slot (its first poll answered `Pending`).
    #[inline(always)]
    pub fn is_running(&self) -> bool {
        self.poll.is_some()
    }

    /// Drops any future still in the slot, moves `future` into it and polls it once. If
    /// it answers, it is dropped at once and the slot is empty again; if not, it stays
    /// and [`poll`](Self::poll) goes on with it.
    #[inline(always)]
    pub fn start<F>(self: Pin<&mut Self>, future: F, cx: &mut Context<'_>) -> Poll<T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        if size_of::<F>() <= INLINE_FUTURE_BYTES && align_of::<F>() <= INLINE_ALIGN {
            self.start_inline(future, cx)
        } else {
            self.start_inline(Box::pin(future), cx)
        }
    }

    #[inline(always)]
    fn start_inline<F>(self: Pin<&mut Self>, future: F, cx: &mut Context<'_>) -> Poll<T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        // Always true where it is called (`start` boxes anything else); folded away.
        assert!(size_of::<F>() <= INLINE_FUTURE_BYTES && align_of::<F>() <= INLINE_ALIGN);
        // SAFETY: nothing below moves the slot's bytes; the future written into the
        // buffer is pinned there until it is dropped in place.
        let this = unsafe { self.get_unchecked_mut() };
        this.clear();
        let place = this.buffer.0.as_mut_ptr().cast::<F>();
        // SAFETY: the buffer is large and aligned enough for `F` (checked above), and
        // empty (cleared above).
        unsafe { place.write(future) };
        // From here an unwinding poll leaves the future to the slot's `Drop`.
        this.drop = Some(drop_raw::<F>);
        // SAFETY: `place` holds a live `F`, which never moves again.
        let answer = unsafe { Pin::new_unchecked(&mut *place) }.poll(cx);
        if answer.is_ready() {
            this.drop = None;
            // SAFETY: the `F` written above, dropped once (the slot forgot it first).
            unsafe { ptr::drop_in_place(place) };
        } else {
            this.poll = Some(poll_raw::<F>);
        }
        answer
    }

    /// Polls the future that [`start`](Self::start) left waiting; once it answers it is
    /// dropped and the slot is empty.
    ///
    /// # Panics
    /// If no future is waiting in the slot.
    #[inline]
    pub fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the buffer's future is only polled in place, never moved.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(poll) = this.poll else { panic!("CallSlot polled with no future waiting") };
        // SAFETY: `poll` was stored for the future that lives in the buffer.
        let answer = unsafe { poll(this.buffer.0.as_mut_ptr().cast(), cx) };
        if answer.is_ready() {
            this.poll = None;
            this.clear();
        }
        answer
    }

    /// Drops the future in the slot, if any: a chain drops a call that panicked or
    /// timed out.
    #[inline]
    pub(crate) fn reset(self: Pin<&mut Self>) {
        // SAFETY: the future is dropped in place; nothing is moved.
        unsafe { self.get_unchecked_mut() }.clear();
    }

    /// Drops the future in the slot, if any.
    #[inline(always)]
    fn clear(&mut self) {
        self.poll = None;
        if let Some(drop) = self.drop.take() {
            // SAFETY: `drop` was stored for the future that lives in the buffer, and is
            // taken first so that it runs once even if it panics.
            unsafe { drop(self.buffer.0.as_mut_ptr().cast()) };
        }
    }
}

impl<T> Drop for CallSlot<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.clear();
    }
}

/// Polls the `F` at `place`.
///
/// # Safety
/// `place` holds a live, pinned `F`.
unsafe fn poll_raw<F: Future>(place: *mut u8, cx: &mut Context<'_>) -> Poll<F::Output> {
    // SAFETY: the caller's promise.
    unsafe { Pin::new_unchecked(&mut *place.cast::<F>()) }.poll(cx)
}

/// Drops the `F` at `place`.
///
/// # Safety
/// `place` holds a live `F`, dropped nowhere else.
unsafe fn drop_raw<F>(place: *mut u8) {
    // SAFETY: the caller's promise.
    unsafe { ptr::drop_in_place(place.cast::<F>()) }
}

#[cfg(test)]
mod tests {
    use std::{
        pin::pin,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::Waker,
    };

    use super::*;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Pending `pending` times, then the value; holds a `Counted` all along.
    fn pending_then<T: Send>(
        pending: usize,
        value: T,
        drops: &Arc<AtomicUsize>,
    ) -> impl Future<Output = T> + Send + use<T> {
        let held = Counted(drops.clone());
        let mut left = pending;
        let mut value = Some(value);
        std::future::poll_fn(move |cx| {
            let _held = &held;
            if left == 0 {
                Poll::Ready(value.take().expect("polled after its answer"))
            } else {
                left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn a_future_that_answers_at_once_is_dropped_inside_start() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut slot = pin!(CallSlot::new());
        assert_eq!(slot.as_mut().start(pending_then(0, 1, &drops), &mut cx()), Poll::Ready(1));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(!slot.is_running());
    }

    #[test]
    fn a_pending_future_stays_until_it_answers() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut slot = pin!(CallSlot::new());
        assert_eq!(slot.as_mut().start(pending_then(2, "x".to_owned(), &drops), &mut cx()), Poll::Pending);
        assert!(slot.is_running());
        assert_eq!(slot.as_mut().poll(&mut cx()), Poll::Pending);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(slot.as_mut().poll(&mut cx()), Poll::Ready("x".to_owned()));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(!slot.is_running());
    }

    #[test]
    fn a_waiting_future_is_dropped_with_the_slot_or_by_the_next_start() {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let mut slot = pin!(CallSlot::new());
            assert_eq!(slot.as_mut().start(pending_then(5, 1, &drops), &mut cx()), Poll::Pending);
            assert_eq!(slot.as_mut().start(pending_then(0, 2, &drops), &mut cx()), Poll::Ready(2));
            assert_eq!(drops.load(Ordering::SeqCst), 2, "the waiting one, then the new one");
            assert_eq!(slot.as_mut().start(pending_then(5, 3, &drops), &mut cx()), Poll::Pending);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3, "the slot's drop dropped the last one");
    }

    #[test]
    fn a_large_future_is_boxed_and_still_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let big = [7_u8; 4 * INLINE_FUTURE_BYTES];
        let inner = pending_then(1, (), &drops);
        let future = async move {
            inner.await;
            big.iter().map(|&byte| usize::from(byte)).sum::<usize>()
        };
        assert!(size_of_val(&future) > INLINE_FUTURE_BYTES);
        let mut slot = pin!(CallSlot::new());
        assert_eq!(slot.as_mut().start(future, &mut cx()), Poll::Pending);
        assert_eq!(slot.as_mut().poll(&mut cx()), Poll::Ready(7 * 4 * INLINE_FUTURE_BYTES));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_first_poll_leaves_the_future_to_the_slots_drop() {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = Counted(drops.clone());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut slot = pin!(CallSlot::new());
            let _ = slot.as_mut().start(
                async move {
                    let _held = &held;
                    if std::hint::black_box(true) {
                        panic!("boom");
                    }
                },
                &mut cx(),
            );
        }));
        assert!(outcome.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once while unwinding");
    }

    #[test]
    #[should_panic(expected = "no future waiting")]
    fn polling_an_empty_slot_panics() {
        let mut slot = pin!(CallSlot::<()>::new());
        let _ = slot.as_mut().poll(&mut cx());
    }
}
