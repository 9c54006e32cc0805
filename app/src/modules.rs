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
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
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
    /// How many times the registry was replaced: a connection's handle is current while
    /// its generation is this one.
    generation: AtomicU64,
}

impl LiveModules {
    /// Serves `registry`.
    pub(crate) fn new(registry: Registry) -> Self {
        Self { current: ArcSwap::from_pointee(registry), generation: AtomicU64::new(0) }
    }

    /// Runs `request`, one of `connection`'s, pinned to the registry current now: it
    /// stays alive, and every [`Self::current`] inside answers it, until `request` ends.
    pub(crate) fn pin<F: Future>(&self, connection: &ConnectionPin, request: F) -> impl Future<Output = F::Output> {
        PINNED.scope(Pinned::Connection(connection.for_request(self)), request)
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
        let replaced = self.current.swap(Arc::new(registry));
        // After the swap: a handle made from a generation read before this increment
        // may hold either registry, and is renewed at its next request.
        self.generation.fetch_add(1, Ordering::AcqRel);
        replaced
    }

    /// The registry current now, with its generation (read first).
    fn load(&self) -> Held {
        let generation = self.generation.load(Ordering::Acquire);
        Held { registry: self.current.load_full(), generation }
    }
}

/// A registry held by one connection for its requests.
///
/// Pinning a registry per request by cloning its `Arc` would write the registry's one
/// reference count twice per request from every core: a cache line that bounces between
/// them under load. A connection instead holds the registry once, in a handle of its
/// own, and its requests clone that handle, whose count no other connection writes;
/// whether the handle is current is one atomic read of a counter written only by a
/// reload. The handle is renewed when a reload has swapped in another registry, and let
/// go once it is stale at the end of a request and at the connection's periodic check
/// ([`Self::release_if_stale`]), so an idle connection does not keep a replaced registry
/// alive for longer than one check interval.
#[derive(Default)]
pub(crate) struct ConnectionPin {
    held: Mutex<Option<Arc<Held>>>,
}

impl ConnectionPin {
    /// The handle for a request starting now: the held one if its registry is still the
    /// current one, else a new one.
    fn for_request(&self, modules: &LiveModules) -> Arc<Held> {
        let generation = modules.generation.load(Ordering::Acquire);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = held.as_ref().filter(|handle| handle.generation == generation) {
            return handle.clone();
        }
        let handle = Arc::new(modules.load());
        // The stale handle, if any, is dropped after the lock: it may be the last
        // holder of a replaced registry, whose shutdown hooks then run.
        let _stale = held.replace(handle.clone());
        drop(held);
        handle
    }

    /// Lets the held registry go if a reload has replaced it.
    pub(crate) fn release_if_stale(&self, modules: &LiveModules) {
        let generation = modules.generation.load(Ordering::Acquire);
        let stale = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match &*held {
                Some(handle) if handle.generation != generation => held.take(),
                _ => None,
            }
        };
        // The registry may end here, with its shutdown hooks: outside the lock.
        drop(stale);
    }
}

/// A connection's own handle on a registry: what its requests clone.
pub(crate) struct Held {
    registry: Arc<Registry>,
    /// [`LiveModules::generation`] when the registry was read.
    generation: u64,
}

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
            Self::Connection(handle) => &handle.registry,
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
        let old = Arc::downgrade(&a.registry);
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
