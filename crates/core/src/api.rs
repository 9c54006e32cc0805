//! [`ModuleApi`]: what a module instance may ask of the server (Synapse's `ModuleApi`).
//! One per instance, handed to [`Module::new`](crate::Module::new).
//!
//! # Coverage of Synapse's `ModuleApi`
//!
//! The calls made by the real modules mxmod ships ports of (synapse-email-account-validity,
//! synapse-auto-accept-invite, synapse-http-antispam, synapse-domain-rule-checker,
//! matrix-synapse-shared-secret-auth), by Mjolnir's Synapse antispam module and by
//! synapse-user-restrictions, and where each is here:
//!
//! | Synapse | here |
//! |---|---|
//! | `server_name`, `public_baseurl`, `is_mine` | [`ModuleApi::server_name`], [`ModuleApi::public_baseurl`], [`ModuleApi::is_mine`] |
//! | `get_qualified_user_id` | [`ModuleApi::get_qualified_user_id`] |
//! | `get_userinfo_by_id`, `is_user_admin` | [`ModuleApi::user_info`] (`is_admin`) |
//! | `get_user_by_req` | [`ModuleApi::authenticate`] |
//! | `get_profile_for_user` | [`ModuleApi::profile`] |
//! | `get_threepids_for_user` | [`ModuleApi::threepids_for_user`] |
//! | `get_room_state(room_id, event_filter)`, Mjolnir's `get_state_events_in_room(room_id, types)` | [`ModuleApi::room_state`], [`ModuleApi::room_state_filtered`] |
//! | `update_room_membership` | [`ModuleApi::update_room_membership`] |
//! | `create_and_send_event_into_room` | [`ModuleApi::send_event`] |
//! | `account_data_manager.get_global` / `put_global` | [`ModuleApi::account_data`], [`ModuleApi::set_account_data`] |
//! | `public_room_list_manager.room_is_in_public_room_list` | [`ModuleApi::is_room_published`] |
//! | `http_client` | [`ModuleApi::http_client`] |
//! | `register_web_resource` | [`ModuleApi::register_web_resource`] |
//! | `looping_background_call`, `run_as_background_process` | [`ModuleApi::spawn_periodic`], [`ModuleApi::spawn`] |
//! | `register_*_callbacks` | the category attributes (`#[spam_checker]`, ...) |
//! | `send_mail`, `email_app_name` | [`ModuleApi::send_mail`], [`ModuleApi::email_app_name`] (the server's `email:` section) |
//! | listing local users (no Synapse call: modules read the `users` table) | [`ModuleApi::local_users`] |
//!
//! Left out, and why:
//!
//! * `run_db_interaction` / `_store` on Synapse's own tables: there is no Synapse schema
//!   to query; a module keeps its data in its own database ([`ModuleApi::db`]) and
//!   reads the server's through the calls above.
//! * `read_templates` (Jinja2 templates): modules render their own text.
//! * `worker_name`, `should_run_background_tasks`: one process, always the main one.

mod host;
#[cfg(feature = "http-client")]
mod http_client;

use std::{
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The largest page [`ModuleApi::local_users`] answers.
pub const MAX_USERS_PAGE: usize = 1000;

pub use self::host::{Host, HostError, HostFuture, NewEvent, NoHost, Threepid, UserInfo};
#[cfg(feature = "http-client")]
pub use self::http_client::{HttpClient, HttpError};
use crate::{
    cache::CacheSet,
    db::{Database, DbError, ModuleDb},
    error::{CallbackError, WebError},
    types::{Event, JsonObject, Membership, OwnedServerName, RoomId, ServerName, StateMap, UserId},
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
    #[cfg(feature = "http-client")]
    pub(crate) http: HttpClient,
    pub(crate) host: Arc<dyn Host>,
    /// Where module instances' SQLite files of earlier versions are looked for
    /// (`modules/<instance>.db`), to import into `database`.
    pub(crate) data_dir: Option<PathBuf>,
    /// The server's database, where module tables live.
    pub(crate) database: Option<Database>,
    /// The other processes on the same database, if any ([`crate::cluster`]).
    pub(crate) cluster: Option<Arc<dyn crate::cluster::Cluster>>,
    /// The server's SMTP settings (`email:`), if any.
    #[cfg(feature = "mail")]
    pub(crate) mailer: Option<Arc<crate::mail::Mailer>>,
}

impl ServerContext {
    pub(crate) fn new(
        info: ServerInfo,
        host: Arc<dyn Host>,
        data_dir: Option<PathBuf>,
        database: Option<Database>,
        cluster: Option<Arc<dyn crate::cluster::Cluster>>,
    ) -> Self {
        Self {
            info,
            #[cfg(feature = "http-client")]
            http: HttpClient::new(),
            host,
            data_dir,
            database,
            cluster,
            #[cfg(feature = "mail")]
            mailer: None,
        }
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
    /// The stable id of the instance (`id:`, by default the module name).
    id: Arc<str>,
    server: Arc<ServerContext>,
    pending_web: Mutex<Option<Vec<PendingResource>>>,
    caches: CacheSet,
    /// Tasks started through [`ModuleApi::spawn`] and [`ModuleApi::spawn_periodic`]
    /// (still running or not), and the shutdown hooks; both end with the registry.
    shutdown: Mutex<Shutdown>,
}

/// A resource registered during construction: path, method (`None`: every method), handler.
pub(crate) type PendingResource = (ResourcePath, Option<http::Method>, DynHandler);

/// What runs or stops when the instance shuts down.
#[derive(Default)]
struct Shutdown {
    tasks: Vec<tokio::task::AbortHandle>,
    hooks: Vec<Box<dyn FnOnce() + Send>>,
    done: bool,
}

impl ModuleApi {
    pub(crate) fn new(module: &'static str, instance: Arc<str>, id: Arc<str>, server: Arc<ServerContext>) -> Self {
        Self {
            inner: Arc::new(Inner {
                module,
                caches: CacheSet::in_cluster(server.cluster.clone(), instance.clone()),
                instance,
                id,
                server,
                pending_web: Mutex::new(Some(Vec::new())),
                shutdown: Mutex::new(Shutdown::default()),
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

    /// This instance's stable id: the `id:` of its `modules:` entry, by default the
    /// module name. Its tables are named after it ([`ModuleApi::db`]).
    pub fn instance_id(&self) -> &str {
        &self.inner.id
    }

    /// The homeserver's `server_name`.
    pub fn server_name(&self) -> &ServerName {
        &self.inner.server.info.server_name
    }

    /// The homeserver's `public_baseurl`, ending in `/`.
    pub fn public_baseurl(&self) -> &str {
        &self.inner.server.info.public_baseurl
    }

    /// Synapse's `get_qualified_user_id`: a user ID as given, or a localpart made into
    /// one on this server. `None` when the result is not a valid user ID.
    pub fn get_qualified_user_id(&self, username: &str) -> Option<crate::types::OwnedUserId> {
        if username.starts_with('@') {
            UserId::parse(username).ok()
        } else {
            UserId::parse(format!("@{username}:{}", self.server_name())).ok()
        }
    }

    /// Whether a user belongs to this homeserver.
    pub fn is_mine(&self, user_id: &UserId) -> bool {
        user_id.server_name() == self.server_name()
    }

    /// A shared HTTP client (Synapse's `api.http_client`).
    #[cfg(feature = "http-client")]
    pub fn http_client(&self) -> &HttpClient {
        &self.inner.server.http
    }

    /// Sends an email through the server's SMTP settings (Synapse's `send_mail`): one
    /// message from `email.notif_from` to `recipient`, with a plain-text and an HTML
    /// part. [`MailError::NotConfigured`](crate::mail::MailError::NotConfigured) when the
    /// server has no `email:` section, which a module can answer by logging instead; a
    /// send that the mail server stalls fails with
    /// [`MailError::Timeout`](crate::mail::MailError::Timeout).
    #[cfg(feature = "mail")]
    pub async fn send_mail(
        &self,
        recipient: &str,
        subject: &str,
        html: &str,
        text: &str,
    ) -> Result<(), crate::mail::MailError> {
        match &self.inner.server.mailer {
            Some(mailer) => mailer.send(recipient, subject, html, text).await,
            None => Err(crate::mail::MailError::NotConfigured),
        }
    }

    /// `email.app_name` (Synapse's `email_app_name`): `Matrix` when the server has no
    /// `email:` section, as in Synapse.
    #[cfg(feature = "mail")]
    pub fn email_app_name(&self) -> &str {
        self.inner.server.mailer.as_deref().map_or("Matrix", crate::mail::Mailer::app_name)
    }

    /// The instance's `#[cached]` method caches.
    pub fn caches(&self) -> &CacheSet {
        &self.inner.caches
    }

    /// Mounts a handler at a path computed at run time (Synapse's
    /// `register_web_resource`). Only during [`Module::new`](crate::Module::new);
    /// afterwards it returns [`WebError::AfterStartup`].
    /// The handler serves every HTTP method; [`ModuleApi::register_web_resource_for`]
    /// mounts one per method.
    pub fn register_web_resource<F, Fut, R>(&self, path: &str, handler: F) -> Result<(), WebError>
    where
        F: Fn(WebRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCallbackResult<WebResponse>,
    {
        self.register(path, None, handler)
    }

    /// Mounts a handler for one HTTP method of a path computed at run time, as
    /// `#[web_resource("/path", method = "GET")]` does for a literal path: other methods
    /// of the path get 405 with `Allow`, and `HEAD` is answered from `GET`.
    pub fn register_web_resource_for<F, Fut, R>(&self, method: &str, path: &str, handler: F) -> Result<(), WebError>
    where
        F: Fn(WebRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCallbackResult<WebResponse>,
    {
        self.register(path, Some(crate::web::parse_method(method)?), handler)
    }

    fn register<F, Fut, R>(&self, path: &str, method: Option<http::Method>, handler: F) -> Result<(), WebError>
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
                list.push((path, method, handler));
                Ok(())
            }
            None => Err(WebError::AfterStartup { module: self.inner.instance.to_string(), path: path.to_string() }),
        }
    }

    /// Ends registration; returns what was registered.
    pub(crate) fn seal_web_resources(&self) -> Vec<PendingResource> {
        let mut pending = self.inner.pending_web.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.take().unwrap_or_default()
    }

    /// The server operations modules may call (room state, memberships, events, account
    /// data, users).
    pub fn host(&self) -> &dyn Host {
        &*self.inner.server.host
    }

    /// The current state of a room (Synapse's `get_room_state`).
    pub async fn room_state(&self, room_id: &RoomId) -> Result<StateMap, HostError> {
        self.host().room_state(room_id).await
    }

    /// The state of a room restricted to `filter` (Synapse's `get_room_state(room_id,
    /// event_filter)`): `(type, Some(state_key))` keeps one entry, `(type, None)` every
    /// entry of that type.
    pub async fn room_state_filtered(
        &self,
        room_id: &RoomId,
        filter: &[(&str, Option<&str>)],
    ) -> Result<StateMap, HostError> {
        let state = self.host().room_state(room_id).await?;
        let mut kept = StateMap::default();
        for ((event_type, state_key), event) in state.iter() {
            let wanted = filter
                .iter()
                .any(|(want_type, want_key)| event_type == *want_type && want_key.is_none_or(|key| state_key == key));
            if wanted {
                kept.insert(event.clone());
            }
        }
        Ok(kept)
    }

    /// A local user's third-party identifiers (Synapse's `get_threepids_for_user`).
    pub async fn threepids_for_user(&self, user_id: &UserId) -> Result<Vec<Threepid>, HostError> {
        self.host().threepids(user_id).await
    }

    /// One page of local users in user ID order, deactivated ones included: those after
    /// `from` (exclusive; `None` from the first), at most `limit` (capped at 1000). Page on
    /// by passing the last user of a page as the next `from`.
    pub async fn local_users(&self, from: Option<&UserId>, limit: usize) -> Result<Vec<UserInfo>, HostError> {
        self.host().local_users(from, limit.min(MAX_USERS_PAGE)).await
    }

    /// Whether a room is in the public room directory.
    pub async fn is_room_published(&self, room_id: &RoomId) -> Result<bool, HostError> {
        self.host().is_room_published(room_id).await
    }

    /// Changes a membership as a local user (Synapse's `update_room_membership`).
    pub async fn update_room_membership(
        &self,
        sender: &UserId,
        target: &UserId,
        room_id: &RoomId,
        membership: Membership,
    ) -> Result<Event, HostError> {
        self.host().update_room_membership(sender, target, room_id, membership).await
    }

    /// Sends an event into a room as a local user (Synapse's
    /// `create_and_send_event_into_room`).
    pub async fn send_event(&self, event: NewEvent) -> Result<Event, HostError> {
        self.host().send_event(event).await
    }

    /// A user's global account data of one type (Synapse's `account_data_manager`).
    pub async fn account_data(&self, user_id: &UserId, data_type: &str) -> Result<Option<JsonObject>, HostError> {
        self.host().account_data(user_id, data_type).await
    }

    /// Replaces a user's global account data of one type.
    pub async fn set_account_data(
        &self,
        user_id: &UserId,
        data_type: &str,
        content: JsonObject,
    ) -> Result<(), HostError> {
        self.host().set_account_data(user_id, data_type, content).await
    }

    /// A local user (Synapse's `get_userinfo_by_id`).
    pub async fn user_info(&self, user_id: &UserId) -> Result<Option<UserInfo>, HostError> {
        self.host().user_info(user_id).await
    }

    /// The user a web request is authenticated as (Synapse's `get_user_by_req`), from an
    /// `Authorization: Bearer` header or an `access_token` query parameter: 401
    /// `M_MISSING_TOKEN` without one, 401 `M_UNKNOWN_TOKEN` for a bad one. For web
    /// resources that act for a user.
    pub async fn authenticate(&self, request: &WebRequest) -> Result<UserInfo, crate::MatrixError> {
        use crate::{ErrCode, MatrixError};
        let token = crate::web::access_token(request.headers(), request.uri())
            .ok_or_else(|| MatrixError::new(401, ErrCode::MISSING_TOKEN, "Missing access token"))?;
        match self.host().user_for_access_token(&token).await {
            Ok(Some(user)) if !user.is_deactivated => Ok(user),
            Ok(_) => Err(MatrixError::new(401, ErrCode::UNKNOWN_TOKEN, "Unknown access token")),
            Err(error) => Err(MatrixError::new(500, ErrCode::UNKNOWN, error.to_string())),
        }
    }

    /// A user's display name and avatar (Synapse's `get_profile_for_user`).
    pub async fn profile(&self, user_id: &UserId) -> Result<crate::types::ProfileInfo, HostError> {
        self.host().profile(user_id).await
    }

    /// This instance's handle on the server's database (SQLite or PostgreSQL, whichever
    /// the server runs on; in memory under `mxmod::testing`): tables written `{name}`
    /// are this instance's own. See [`crate::db`]. Its [`ModuleDb::migrate`] also imports
    /// the instance's SQLite file of earlier mxmod versions (`modules/<instance>.db`
    /// beside the server's database), once.
    pub fn db(&self) -> Result<ModuleDb, DbError> {
        let database = self
            .inner
            .server
            .database
            .as_ref()
            .ok_or_else(|| DbError::Unavailable("the server gave modules no database".to_owned()))?;
        let db = database.for_instance(&self.inner.id);
        Ok(match &self.inner.server.data_dir {
            Some(dir) => {
                let file: String = self
                    .inner
                    .instance
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
                    .collect();
                db.with_legacy_file(dir.join("modules").join(format!("{file}.db")))
            }
            None => db,
        })
    }

    /// Runs `task` every `interval` until the instance shuts down (Synapse's
    /// `looping_background_call`): the first run is one `interval` after this call, as in
    /// Synapse, so a task never races the start-up that scheduled it. The task is aborted
    /// when the registry shuts down or is dropped: no `Drop` to write. Must be called
    /// inside the runtime.
    pub fn spawn_periodic<F, Fut>(&self, interval: Duration, mut task: F) -> tokio::task::JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cluster = self.inner.server.cluster.clone();
        self.spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                // With several processes on one database, one of them runs the ticks.
                if cluster.as_ref().is_none_or(|cluster| cluster.runs_background_tasks()) {
                    task().await;
                }
            }
        })
    }

    /// Runs a background task on the server's runtime (Synapse's
    /// `run_as_background_process`); it is aborted when the instance shuts down if it
    /// has not finished. Must be called inside the runtime.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(task);
        let mut shutdown = self.lock_shutdown();
        shutdown.tasks.retain(|task| !task.is_finished());
        if shutdown.done {
            handle.abort();
        } else {
            shutdown.tasks.push(handle.abort_handle());
        }
        handle
    }

    /// Runs `hook` once when the instance shuts down: when the server stops, or when the
    /// [`Registry`](crate::registry::Registry) (a test's `Harness`) is dropped. Hooks run
    /// before the instance's background tasks are aborted, last registered first.
    pub fn on_shutdown(&self, hook: impl FnOnce() + Send + 'static) {
        let mut shutdown = self.lock_shutdown();
        if shutdown.done {
            drop(shutdown);
            hook();
        } else {
            shutdown.hooks.push(Box::new(hook));
        }
    }

    /// Runs the shutdown hooks and aborts the background tasks; later calls do nothing.
    pub(crate) fn shut_down(&self) {
        let (hooks, tasks) = {
            let mut shutdown = self.lock_shutdown();
            if shutdown.done {
                return;
            }
            shutdown.done = true;
            (std::mem::take(&mut shutdown.hooks), std::mem::take(&mut shutdown.tasks))
        };
        for hook in hooks.into_iter().rev() {
            hook();
        }
        for task in tasks {
            task.abort();
        }
    }

    fn lock_shutdown(&self) -> std::sync::MutexGuard<'_, Shutdown> {
        self.inner.shutdown.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_periodic_task_first_runs_one_interval_after_it_is_scheduled() {
        let server_name = OwnedServerName::try_from("example.com").unwrap();
        let server = Arc::new(ServerContext::new(ServerInfo::new(server_name), Arc::new(NoHost), None, None, None));
        let api = ModuleApi::new("periodic", "periodic".into(), "periodic".into(), server);
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let task = api.spawn_periodic(Duration::from_secs(60), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing runs before the first interval");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        task.abort();
    }

    #[cfg(feature = "mail")]
    #[tokio::test]
    async fn send_mail_goes_through_the_servers_mailer_or_says_there_is_none() {
        let server_name = OwnedServerName::try_from("example.com").unwrap();
        let bare =
            Arc::new(ServerContext::new(ServerInfo::new(server_name.clone()), Arc::new(NoHost), None, None, None));
        let api = ModuleApi::new("mailer", "mailer".into(), "mailer".into(), bare);
        assert_eq!(api.send_mail("a@b.org", "s", "h", "t").await, Err(crate::mail::MailError::NotConfigured));
        assert_eq!(api.email_app_name(), "Matrix");

        let (port, mut mails) = crate::testing::smtp_sink().await;
        let config: crate::mail::EmailConfig = serde_yaml::from_str(&format!(
            "smtp_host: 127.0.0.1\nsmtp_port: {port}\nnotif_from: n@example.com\napp_name: Acme"
        ))
        .unwrap();
        let mut server = ServerContext::new(ServerInfo::new(server_name), Arc::new(NoHost), None, None, None);
        server.mailer =
            Some(Arc::new(crate::mail::Mailer::new(&config, "example.com", Duration::from_secs(5)).unwrap()));
        let api = ModuleApi::new("mailer", "mailer".into(), "mailer".into(), Arc::new(server));
        api.send_mail("a@b.org", "Subject line", "<p>h</p>", "t").await.unwrap();
        assert_eq!(mails.recv().await.unwrap().to, ["a@b.org"]);
        assert_eq!(api.email_app_name(), "Acme");
    }

    #[tokio::test(start_paused = true)]
    async fn shutting_down_runs_the_hooks_then_stops_the_tasks() {
        let server_name = OwnedServerName::try_from("example.com").unwrap();
        let server = Arc::new(ServerContext::new(ServerInfo::new(server_name), Arc::new(NoHost), None, None, None));
        let api = ModuleApi::new("periodic", "periodic".into(), "periodic".into(), server);
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let task = api.spawn_periodic(Duration::from_secs(1), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        let order = Arc::new(Mutex::new(Vec::new()));
        for n in 1..=2 {
            let order = order.clone();
            api.on_shutdown(move || order.lock().unwrap().push(n));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        api.shut_down();
        api.shut_down();
        assert_eq!(*order.lock().unwrap(), [2, 1], "each hook once, last registered first");
        assert!(task.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "no run after shutdown");
        let late = api.spawn(std::future::pending::<()>());
        assert!(late.await.unwrap_err().is_cancelled(), "a task spawned after shutdown does not run on");
    }
}
