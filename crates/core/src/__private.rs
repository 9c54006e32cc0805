//! What `#[module]`-generated code names. Not a stable API: module authors never use it.

use std::{any::Any, future::Future, sync::Arc};

pub use linkme;

pub use crate::callbacks::outcome::IntoCallbackResult;
use crate::{
    api::ModuleApi,
    cache::CacheHandle,
    callbacks::hook::{CallbackFuture, ModuleObject},
    error::ModuleError,
    module::Module,
};

/// Wraps a callback's future without allocating when it fits in [`CallbackFuture`].
#[inline(always)]
pub fn callback_future<'a, T, F>(future: F) -> CallbackFuture<'a, T>
where
    F: Future<Output = T> + Send + 'a,
{
    CallbackFuture::from_or_box(future)
}

/// The module instance behind a shim's object pointer.
#[inline(always)]
pub fn downcast<T: Any>(object: &ModuleObject) -> &T {
    match object.downcast_ref::<T>() {
        Some(module) => module,
        None => {
            panic!("mxmod: a callback of `{}` was attached to another module's instance", std::any::type_name::<T>())
        }
    }
}

/// Pins a future's output type (so `?` inside a `#[cached]` body infers its error).
#[inline(always)]
pub fn typed<T, F: Future<Output = T>>(future: F) -> F {
    future
}

/// Builds a module from its parsed config, for the registry.
pub fn instantiate<M: Module>(config: Box<dyn Any + Send>, api: ModuleApi) -> Result<Arc<ModuleObject>, ModuleError> {
    let config = config
        .downcast::<M::Config>()
        .map_err(|_| ModuleError::new(format!("config of `{}` has the wrong type", std::any::type_name::<M>())))?;
    Ok(Arc::new(M::new(*config, api)?))
}

/// The per-instance cache of one `#[cached]` method.
pub fn cache_handle<K, V>(api: &ModuleApi, method: &'static str, max_size: usize) -> CacheHandle<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    api.caches().get_or_create(method, max_size)
}

pub use crate::config::parse_module_config as parse_config;
