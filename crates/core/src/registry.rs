//! The registry: what the link-time slices hold, and start-up — instantiating the modules
//! the config names, in listed order, and attaching their callbacks, web resources and
//! caches.

use std::{any::Any, collections::HashMap, fmt, path::PathBuf, sync::Arc};

use crate::{
    api::{Host, ModuleApi, NoHost, ServerContext, ServerInfo},
    cache::CacheStats,
    callbacks::{
        self,
        hook::{EntrySettings, ModuleObject},
        Callbacks,
    },
    config::{ConfigProblems, ModuleEntry},
    db::Database,
    error::{ModuleError, WebError},
    module::ModuleDescriptor,
    web::{Handler, MethodTable, ResourcePath, Route, WebResourceDescriptor, WebRoutes},
};

/// Every `#[module]` linked into this binary.
#[linkme::distributed_slice]
pub static MXMOD_MODULES: [ModuleDescriptor];

/// Every `#[web_resource]` method linked into this binary.
#[linkme::distributed_slice]
pub static MXMOD_WEB_RESOURCES: [WebResourceDescriptor];

/// Every `#[cached]` method linked into this binary.
#[linkme::distributed_slice]
pub static MXMOD_CACHED_FNS: [CachedFnDescriptor];

/// One `#[cached]` method, for listings.
#[derive(Debug)]
pub struct CachedFnDescriptor {
    /// The module's name.
    pub module: &'static str,
    /// The method.
    pub method: &'static str,
    /// Its LRU size.
    pub max_size: usize,
}

/// The compiled-in modules, in link order.
pub fn compiled_in() -> &'static [ModuleDescriptor] {
    &MXMOD_MODULES
}

/// The compiled-in module of that name.
pub fn find_module(name: &str) -> Option<&'static ModuleDescriptor> {
    MXMOD_MODULES.iter().find(|descriptor| descriptor.name == name)
}

/// Checks that no two compiled-in modules share a name.
pub fn check_unique_names() -> Result<(), StartupError> {
    let mut seen: HashMap<&str, &ModuleDescriptor> = HashMap::new();
    for descriptor in MXMOD_MODULES.iter() {
        if let Some(first) = seen.insert(descriptor.name, descriptor) {
            return Err(StartupError::DuplicateName {
                name: descriptor.name,
                first: format!("{} in crate {}", first.location(), first.crate_name),
                second: format!("{} in crate {}", descriptor.location(), descriptor.crate_name),
            });
        }
    }
    Ok(())
}

/// What a compiled-in module offers, for `list-modules`.
#[derive(Clone, Debug)]
pub struct ModuleSummary {
    /// The module.
    pub descriptor: &'static ModuleDescriptor,
    /// (category, callback) pairs.
    pub callbacks: Vec<(&'static str, &'static str)>,
    /// `#[web_resource]` paths.
    pub web_paths: Vec<&'static str>,
    /// `#[cached]` methods and their sizes.
    pub caches: Vec<(&'static str, usize)>,
}

/// Summaries of every compiled-in module, sorted by name.
pub fn summaries() -> Vec<ModuleSummary> {
    let mut out: Vec<ModuleSummary> = MXMOD_MODULES
        .iter()
        .map(|descriptor| ModuleSummary {
            descriptor,
            callbacks: callbacks::implemented_by(descriptor.name),
            web_paths: MXMOD_WEB_RESOURCES.iter().filter(|w| w.module == descriptor.name).map(|w| w.path).collect(),
            caches: MXMOD_CACHED_FNS
                .iter()
                .filter(|c| c.module == descriptor.name)
                .map(|c| (c.method, c.max_size))
                .collect(),
        })
        .collect();
    out.sort_by_key(|summary| summary.descriptor.name);
    out
}

/// Why start-up stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The config has problems (every one is listed).
    #[error("{0}")]
    Config(#[from] ConfigProblems),
    /// Two compiled-in modules declare the same name.
    #[error(
        "two modules are named `{name}`: one at {first}, one at {second}; rename one in its `#[module(name = ...)]`"
    )]
    DuplicateName {
        /// The name.
        name: &'static str,
        /// First declaration.
        first: String,
        /// Second declaration.
        second: String,
    },
    /// A module's `new` failed.
    #[error("module `{module}` (modules[{index}]) failed to start: {error}")]
    Construct {
        /// Instance label.
        module: String,
        /// Position in `modules:`.
        index: usize,
        /// Its error.
        #[source]
        error: ModuleError,
    },
    /// A module registered a path it may not.
    #[error("module `{module}`: {error}")]
    Web {
        /// Instance label.
        module: String,
        /// The problem.
        #[source]
        error: WebError,
    },
    /// The module database could not be opened.
    #[error("the module database: {0}")]
    Database(#[from] crate::db::DbError),
    /// A presence router implements one of its two callbacks only.
    #[error(
        "module `{module}` implements presence router callback `{present}` (at {at}) but not `{missing}`; \
         Synapse requires both"
    )]
    PresenceRouterIncomplete {
        /// Module name.
        module: &'static str,
        /// The one it has.
        present: &'static str,
        /// `file:line` of the method implementing it.
        at: String,
        /// The one it lacks.
        missing: &'static str,
    },
    /// Two `#[web_resource]` methods of one module serve the same path and HTTP method.
    #[error(
        "module `{module}` serves {method} of web resource `{path}` twice: {first} and {second}; \
         remove one, or give each its own `method = \"...\"`"
    )]
    DuplicateWebResource {
        /// Module name.
        module: &'static str,
        /// The mount path.
        path: &'static str,
        /// The HTTP method (`GET`), or `every method`.
        method: String,
        /// The first method serving it, with its `file:line`.
        first: String,
        /// The second.
        second: String,
    },
}

/// One running module instance.
pub struct Instance {
    descriptor: &'static ModuleDescriptor,
    label: Arc<str>,
    object: Arc<ModuleObject>,
    api: ModuleApi,
}

impl Instance {
    /// The module's `#[module(name = ...)]`.
    pub(crate) fn module_name(&self) -> &'static str {
        self.descriptor.name
    }

    /// The instance label (`name`, or `name#2` for a second listing).
    pub(crate) fn label(&self) -> Arc<str> {
        self.label.clone()
    }

    /// The module object.
    pub(crate) fn object(&self) -> &Arc<ModuleObject> {
        &self.object
    }
}

/// The running modules: their callbacks, web routes and caches.
pub struct Registry {
    instances: Vec<Instance>,
    callbacks: Callbacks,
    routes: WebRoutes,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("instances", &self.instances.iter().map(|i| &i.label).collect::<Vec<_>>())
            .finish()
    }
}

/// Options for [`Registry::start`].
#[derive(Clone)]
pub struct StartOptions {
    /// Server facts given to every [`ModuleApi`].
    pub server: ServerInfo,
    /// Measure callback latencies (for metrics); off, a call is one indirect call.
    pub timed: bool,
    /// The server operations modules may call.
    pub host: Arc<dyn Host>,
    /// Where module instances' SQLite files of earlier versions are looked for
    /// (`modules/<instance>.db`), to import into `database`; `None`: nothing to import.
    pub data_dir: Option<PathBuf>,
    /// The server's database, where module tables live; `None`: `ModuleApi::db` fails.
    pub database: Option<Database>,
    /// The other processes on the same database, if any: `#[cached]` invalidations are
    /// published to them and periodic tasks run on one process at a time.
    pub cluster: Option<Arc<dyn crate::cluster::Cluster>>,
    /// The server's SMTP settings, behind [`ModuleApi::send_mail`]; `None`: it fails with
    /// [`MailError::NotConfigured`](crate::mail::MailError::NotConfigured).
    #[cfg(feature = "mail")]
    pub mailer: Option<Arc<crate::mail::Mailer>>,
}

impl StartOptions {
    /// Options for a server with no host operations, untimed, no module database, no mail.
    pub fn new(server: ServerInfo) -> Self {
        Self {
            server,
            timed: false,
            host: Arc::new(NoHost),
            data_dir: None,
            database: None,
            cluster: None,
            #[cfg(feature = "mail")]
            mailer: None,
        }
    }
}

impl Registry {
    /// Instantiates `entries` in order and attaches what each implements.
    pub fn start(entries: Vec<ModuleEntry>, options: &StartOptions) -> Result<Registry, StartupError> {
        check_unique_names()?;
        #[cfg_attr(not(feature = "mail"), allow(unused_mut, reason = "only the mailer is set afterwards"))]
        let mut server = ServerContext::new(
            options.server.clone(),
            options.host.clone(),
            options.data_dir.clone(),
            options.database.clone(),
            options.cluster.clone(),
        );
        #[cfg(feature = "mail")]
        {
            server.mailer = options.mailer.clone();
        }
        let server = Arc::new(server);
        // Built as it goes, so that a failure part-way shuts down (drops) what started.
        let mut registry = Registry {
            instances: Vec::with_capacity(entries.len()),
            callbacks: Callbacks::default(),
            routes: WebRoutes::default(),
        };
        let Registry { instances, callbacks, routes } = &mut registry;
        let mut listed: HashMap<&str, usize> = HashMap::new();
        for entry in entries {
            let descriptor = entry.descriptor;
            check_presence_router_pair(descriptor.name)?;
            check_web_resources(descriptor.name)?;
            let count = listed.entry(descriptor.name).or_default();
            *count += 1;
            let label: Arc<str> =
                if *count == 1 { descriptor.name.into() } else { format!("{}#{count}", descriptor.name).into() };
            let api = ModuleApi::new(descriptor.name, label.clone(), entry.id.as_str().into(), server.clone());
            let object = (descriptor.instantiate)(entry.config.0, api.clone()).map_err(|error| {
                api.shut_down();
                StartupError::Construct { module: label.to_string(), index: entry.index, error }
            })?;
            let dynamic = api.seal_web_resources();
            let instance = Instance { descriptor, label: label.clone(), object, api };
            let settings = EntrySettings { on_error: entry.on_error, timeout: entry.timeout, timed: options.timed };
            callbacks.attach(&instance, &settings);
            let object = instance.object.clone();
            instances.push(instance);
            for resource in MXMOD_WEB_RESOURCES.iter().filter(|w| w.module == descriptor.name) {
                let path = ResourcePath::parse(resource.path)
                    .map_err(|error| StartupError::Web { module: label.to_string(), error })?;
                let method = resource
                    .http_method
                    .map(|method| {
                        crate::web::parse_method(method)
                            .map_err(|error| StartupError::Web { module: label.to_string(), error })
                    })
                    .transpose()?;
                let handler = Handler::Method { object: object.clone(), shim: resource.handler };
                routes.mount(Route { path, module: label.clone(), methods: MethodTable::new(method, handler) });
            }
            for (path, method, handler) in dynamic {
                let methods = MethodTable::new(method, Handler::Dynamic(handler));
                routes.mount(Route { path, module: label.clone(), methods });
            }
            tracing::info!(module = &*label, "module `{label}` started");
        }
        Ok(registry)
    }

    /// Shuts every instance down, last started first: runs the hooks registered with
    /// [`ModuleApi::on_shutdown`] and aborts the tasks started with
    /// [`ModuleApi::spawn`]/[`ModuleApi::spawn_periodic`]. Dropping the registry does the
    /// same; a second call does nothing.
    pub fn shutdown(&self) {
        for instance in self.instances.iter().rev() {
            instance.api.shut_down();
        }
    }

    /// The callbacks of every category.
    pub fn callbacks(&self) -> &Callbacks {
        &self.callbacks
    }

    /// The web routes.
    pub fn routes(&self) -> &WebRoutes {
        &self.routes
    }

    /// The running instances, in YAML order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The `n`-th running instance of type `T`, if it is one.
    pub fn module<T: Any>(&self, n: usize) -> Option<&T> {
        self.instances.iter().filter_map(|instance| instance.object.downcast_ref::<T>()).nth(n)
    }

    /// Applies another process's `#[cached]` invalidation ([`crate::cluster::Cluster`]):
    /// instance `instance`'s cache of `method` drops the keys with this fingerprint
    /// (`None`: every key). An unknown instance or method changes nothing.
    pub fn apply_remote_invalidation(&self, instance: &str, method: &str, fingerprint: Option<u64>) {
        if let Some(found) = self.instances.iter().find(|found| &*found.label == instance) {
            found.api.caches().apply_remote(method, fingerprint);
        }
    }

    /// Cache statistics: (instance, method, stats).
    pub fn cache_stats(&self) -> Vec<(Arc<str>, &'static str, CacheStats)> {
        self.instances
            .iter()
            .flat_map(|instance| {
                instance
                    .api
                    .caches()
                    .stats()
                    .into_iter()
                    .map(move |(method, stats)| (instance.label.clone(), method, stats))
            })
            .collect()
    }
}

fn check_presence_router_pair(module: &'static str) -> Result<(), StartupError> {
    const PAIR: [&str; 2] = ["get_users_for_states", "get_interested_users"];
    let has = |name: &str| {
        callbacks::presence_router::MXMOD_PRESENCE_ROUTER_CALLBACKS
            .iter()
            .find(|descriptor| descriptor.module == module && descriptor.callback.name() == name)
    };
    match (has(PAIR[0]), has(PAIR[1])) {
        (Some(present), None) => Err(StartupError::PresenceRouterIncomplete {
            module,
            present: PAIR[0],
            at: present.location(),
            missing: PAIR[1],
        }),
        (None, Some(present)) => Err(StartupError::PresenceRouterIncomplete {
            module,
            present: PAIR[1],
            at: present.location(),
            missing: PAIR[0],
        }),
        _ => Ok(()),
    }
}

/// Checks that no two `#[web_resource]` methods of `module` serve the same path and HTTP
/// method (one would never be called); the error names both methods' `file:line`, in
/// source order (the slice's order is the linker's).
fn check_web_resources(module: &'static str) -> Result<(), StartupError> {
    let mut resources: Vec<&WebResourceDescriptor> =
        MXMOD_WEB_RESOURCES.iter().filter(|w| w.module == module).collect();
    resources.sort_by_key(|w| (w.file, w.line));
    for (n, second) in resources.iter().enumerate() {
        let same =
            |first: &&&WebResourceDescriptor| first.path == second.path && first.http_method == second.http_method;
        if let Some(first) = resources[..n].iter().find(same) {
            let described = |w: &WebResourceDescriptor| format!("`{}` at {}", w.method, w.location());
            return Err(StartupError::DuplicateWebResource {
                module,
                path: second.path,
                method: second.http_method.map_or_else(|| "every method".to_owned(), str::to_owned),
                first: described(first),
                second: described(second),
            });
        }
    }
    Ok(())
}
