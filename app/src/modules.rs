//! The running module registry, replaceable while the server serves (reload without
//! restart). It sits in an [`ArcSwap`]: each request pins the registry current when it
//! arrives (one atomic load, in the connection layer), and every callback the request
//! runs — whichever phase of the request — goes to that registry. A reload swaps in a
//! new registry atomically; requests in flight finish on the old one, which is dropped —
//! its shutdown hooks run and its background tasks stop — when the last request holding
//! it ends. Work outside a request (background tasks, `on_new_event`) uses the registry
//! current when it asks.

use std::{future::Future, ops::Deref, sync::Arc};

use arc_swap::ArcSwap;
use mxmod::{callbacks::Callbacks, registry::Registry};

tokio::task_local! {
    /// The registry the current request was pinned to.
    static PINNED: Arc<Registry>;
}

/// The registry requests are served with, replaceable atomically.
pub(crate) struct LiveModules {
    current: ArcSwap<Registry>,
}

impl LiveModules {
    /// Serves `registry`.
    pub(crate) fn new(registry: Registry) -> Self {
        Self { current: ArcSwap::from_pointee(registry) }
    }

    /// Runs `request` pinned to the registry current now: it stays alive, and every
    /// [`Self::current`] inside answers it, until `request` ends.
    pub(crate) fn pin<F: Future>(&self, request: F) -> impl Future<Output = F::Output> {
        PINNED.scope(self.current.load_full(), request)
    }

    /// The registry of the current request, or outside a request the current one.
    pub(crate) fn current(&self) -> Arc<Registry> {
        PINNED.try_with(Arc::clone).unwrap_or_else(|_| self.current.load_full())
    }

    /// The callbacks of [`Self::current`]; the registry lives while the guard does.
    pub(crate) fn callbacks(&self) -> CallbacksGuard {
        CallbacksGuard(self.current())
    }

    /// Serves `registry` from now on; returns the one it replaces (dropped, with its
    /// instances, when the last request holding it ends).
    pub(crate) fn replace(&self, registry: Registry) -> Arc<Registry> {
        self.current.swap(Arc::new(registry))
    }
}

/// The callbacks of one registry, keeping that registry alive.
pub(crate) struct CallbacksGuard(Arc<Registry>);

impl Deref for CallbacksGuard {
    type Target = Callbacks;

    fn deref(&self) -> &Callbacks {
        self.0.callbacks()
    }
}
