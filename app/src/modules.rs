//! The running module registry, replaceable while the server serves (reload without
//! restart). It sits in an [`ArcSwap`]: each request pins the registry current when it
//! arrives (through its connection's handle, [`ConnectionPin`]), and every callback the request
//! runs — whichever phase of the request — goes to that registry. A reload swaps in a
//! new registry atomically; requests in flight finish on the old one, which is dropped —
//! its shutdown hooks run and its background tasks stop — when the last request holding
//! it ends. Work outside a request (background tasks, `on_new_event`) uses the registry
//! current when it asks.

use std::{
    future::Future,
    ops::Deref,
    sync::{Arc, Mutex, PoisonError},
};

use arc_swap::ArcSwap;
use mxmod::{callbacks::Callbacks, registry::Registry};

tokio::task_local! {
    /// The registry the current request was pinned to.
    static PINNED: Pinned;
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

    /// Runs `request`, one of `connection`'s, pinned to the registry current now: it
    /// stays alive, and every [`Self::current`] inside answers it, until `request` ends.
    pub(crate) fn pin<F: Future>(&self, connection: &ConnectionPin, request: F) -> impl Future<Output = F::Output> {
        PINNED.scope(Pinned::Connection(connection.for_request(&self.current)), request)
    }

    /// The registry of the current request, or outside a request the current one.
    pub(crate) fn current(&self) -> Pinned {
        PINNED.try_with(Pinned::clone).unwrap_or_else(|_| Pinned::Live(self.current.load_full()))
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

/// A registry held by one connection for its requests.
///
/// Pinning a registry per request by cloning its `Arc` would write the registry's one
/// reference count twice per request from every core: a cache line that bounces between
/// them under load. A connection instead holds the registry once, in a handle of its
/// own, and its requests clone that handle, whose count no other connection writes. The
/// handle is renewed when a reload has swapped in another registry, and let go at the
/// end of a request (and whenever the connection asks, [`Self::release_if_stale`]) once
/// it is stale, so an idle connection does not keep a replaced registry alive.
#[derive(Default)]
pub(crate) struct ConnectionPin {
    held: Mutex<Option<Arc<Held>>>,
}

impl ConnectionPin {
    /// The handle for a request starting now: the held one if its registry is still the
    /// current one, else a new one.
    fn for_request(&self, current: &ArcSwap<Registry>) -> Arc<Held> {
        let live = current.load();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match &*held {
            Some(handle) if Arc::ptr_eq(&handle.0, &live) => handle.clone(),
            _ => {
                let handle = Arc::new(Held(arc_swap::Guard::into_inner(live)));
                // A stale handle is dropped here, under the lock: its registry's other
                // holders (requests in flight) keep it alive as long as they need it.
                *held = Some(handle.clone());
                handle
            }
        }
    }

    /// Lets the held registry go if a reload has replaced it.
    pub(crate) fn release_if_stale(&self, modules: &LiveModules) {
        let live = modules.current.load();
        let stale = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match &*held {
                Some(handle) if !Arc::ptr_eq(&handle.0, &live) => held.take(),
                _ => None,
            }
        };
        // The registry may end here, with its shutdown hooks: outside the lock.
        drop(stale);
    }
}

/// A connection's own handle on a registry: what its requests clone.
pub(crate) struct Held(Arc<Registry>);

/// A pinned registry: a connection's handle (a request's), or the registry itself
/// (outside a request).
#[derive(Clone)]
pub(crate) enum Pinned {
    /// Pinned by a request, through its connection's handle.
    Connection(Arc<Held>),
    /// The live registry, taken outside a request.
    Live(Arc<Registry>),
}

impl Deref for Pinned {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        match self {
            Self::Connection(handle) => &handle.0,
            Self::Live(registry) => registry,
        }
    }
}

/// The callbacks of one registry, keeping that registry alive.
pub(crate) struct CallbacksGuard(Pinned);

impl Deref for CallbacksGuard {
    type Target = Callbacks;

    fn deref(&self) -> &Callbacks {
        self.0.callbacks()
    }
}

#[cfg(test)]
mod tests {
    use mxmod::registry::StartOptions;

    use super::*;

    fn empty_registry() -> Registry {
        let server = mxmod::api::ServerInfo::new("example.com".try_into().unwrap());
        Registry::start(Vec::new(), &StartOptions::new(server)).unwrap()
    }

    fn registry_of(pinned: &Pinned) -> *const Registry {
        &**pinned
    }

    #[tokio::test]
    async fn a_connection_pins_once_follows_a_reload_and_lets_a_replaced_registry_go() {
        let modules = LiveModules::new(empty_registry());
        let connection = ConnectionPin::default();
        let first = modules.pin(&connection, async { modules.current() }).await;
        let second = modules.pin(&connection, async { modules.current() }).await;
        // One handle for the connection's requests: the registry's own count is not
        // written per request.
        let (Pinned::Connection(a), Pinned::Connection(b)) = (&first, &second) else { panic!("not pinned") };
        assert!(Arc::ptr_eq(a, b));
        let old = Arc::downgrade(&a.0);
        drop((first, second));

        // A reload: the next request is pinned to the new registry.
        let replaced = modules.replace(empty_registry());
        drop(replaced);
        assert!(old.upgrade().is_some(), "the connection still holds the old registry");
        let third = modules.pin(&connection, async { modules.current() }).await;
        assert_eq!(registry_of(&third), &**modules.current.load() as *const Registry);
        assert!(old.upgrade().is_none(), "the stale handle went with the new pin");

        // A reload while the connection is idle: released when the connection asks.
        let held = Arc::downgrade(&modules.current.load_full());
        drop(third);
        drop(modules.replace(empty_registry()));
        assert!(held.upgrade().is_some());
        connection.release_if_stale(&modules);
        assert!(held.upgrade().is_none(), "an idle connection does not keep a replaced registry");
        // A current registry is kept.
        let _fourth = modules.pin(&connection, async { modules.current() }).await;
        connection.release_if_stale(&modules);
        assert!(connection.held.lock().unwrap().is_some());
    }
}
