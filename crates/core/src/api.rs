//! [`ModuleApi`]: what a module instance may ask of the server (Synapse's `ModuleApi`).
//! One per instance, handed to [`Module::new`](crate::Module::new).

mod http_client;

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

pub use self::http_client::{HttpClient, HttpError};
use crate::{
    cache::CacheSet,
    error::{CallbackError, WebError},
    types::{OwnedServerName, ServerName, UserId},
    web::{DynHandler, ResourcePath, WebRequest, WebResponse},
    IntoCallbackResult,
};

/// Facts about the server every module may read.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// `server_name` from the config.
    pub server_name: OwnedServerName,
    /// `public_baseurl`, ending in `/`.
    pub public_baseurl: String,
}

impl ServerInfo {
    /// Server facts with `public_baseurl` defaulting to `https://{server_name}/`.
    pub fn new(server_name: OwnedServerName) -> Self {
        let public_baseurl = format!("https://{server_name}/");
        Self { server_name, public_baseurl }
    }
}

/// The server side shared by every instance's API.
pub(crate) struct ServerContext {
    pub(crate) info: ServerInfo,
    pub(crate) http: HttpClient,
}

impl ServerContext {
    pub(crate) fn new(info: ServerInfo) -> Arc<Self> {
        Arc::new(Self { info, http: HttpClient::new() })
    }
}

/// A module instance's handle on the server.
#[derive(Clone)]
pub struct ModuleApi {
    inner: Arc<Inner>,
}

struct Inner {
    module: &'static str,
    instance: Arc<str>,
    server: Arc<ServerContext>,
    pending_web: Mutex<Option<Vec<(ResourcePath, DynHandler)>>>,
    caches: CacheSet,
}

impl ModuleApi {
    pub(crate) fn new(module: &'static str, instance: Arc<str>, server: Arc<ServerContext>) -> Self {
        Self {
            inner: Arc::new(Inner {
                module,
                instance,
                server,
                pending_web: Mutex::new(Some(Vec::new())),
                caches: CacheSet::default(),
            }),
        }
    }

    /// The module's `#[module(name = ...)]`.
    pub fn module_name(&self) -> &'static str {
        self.inner.module
    }

    /// This instance's label: the module name, with `#2`, `#3` ... for later instances of
    /// a module listed more than once.
    pub fn instance_name(&self) -> &str {
        &self.inner.instance
    }

    /// The homeserver's `server_name`.
    pub fn server_name(&self) -> &ServerName {
        &self.inner.server.info.server_name
    }

    /// The homeserver's `public_baseurl`, ending in `/`.
    pub fn public_baseurl(&self) -> &str {
        &self.inner.server.info.public_baseurl
    }

    /// Whether a user belongs to this homeserver.
    pub fn is_mine(&self, user_id: &UserId) -> bool {
        user_id.server_name() == self.server_name()
    }

    /// A shared HTTP client (Synapse's `api.http_client`).
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.server.http
    }

    /// The instance's `#[cached]` method caches.
    pub fn caches(&self) -> &CacheSet {
        &self.inner.caches
    }

    /// Mounts a handler at a path computed at run time (Synapse's
    /// `register_web_resource`). Only during [`Module::new`](crate::Module::new);
    /// afterwards it returns [`WebError::AfterStartup`].
    pub fn register_web_resource<F, Fut, R>(&self, path: &str, handler: F) -> Result<(), WebError>
    where
        F: Fn(WebRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCallbackResult<WebResponse>,
    {
        let path = ResourcePath::parse(path)?;
        let handler: DynHandler = Arc::new(move |request| {
            let future = handler(request);
            Box::pin(async move { future.await.into_callback_result() })
                as std::pin::Pin<Box<dyn Future<Output = Result<WebResponse, CallbackError>> + Send>>
        });
        let mut pending = self.inner.pending_web.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match pending.as_mut() {
            Some(list) => {
                list.push((path, handler));
                Ok(())
            }
            None => Err(WebError::AfterStartup { module: self.inner.instance.to_string(), path: path.to_string() }),
        }
    }

    /// Ends registration; returns what was registered.
    pub(crate) fn seal_web_resources(&self) -> Vec<(ResourcePath, DynHandler)> {
        let mut pending = self.inner.pending_web.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.take().unwrap_or_default()
    }

    /// Runs a background task on the server's runtime (Synapse's
    /// `run_as_background_process`). Must be called inside the runtime.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(task)
    }
}
