//! Start-up and serving: storage, modules (in YAML order, before any listener), the
//! listeners, module reload on SIGHUP, and graceful shutdown on SIGINT/SIGTERM
//! (in-flight requests finish).

use std::{net::SocketAddr, sync::Arc};

use mxmod::{
    api::ServerInfo,
    registry::{Registry, StartOptions, StartupError},
};

use crate::{
    config::Loaded,
    host::ServerHost,
    metrics::Metrics,
    modules::LiveModules,
    password::Passwords,
    ratelimit::RateLimits,
    reload::Reloader,
    state::{AppState, Settings},
    storage::{sqlite::SqliteStorage, Storage},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Opening the database failed.
    #[error("cannot open the database {path}: {message}")]
    Storage {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// A module failed to start.
    #[error("{0}")]
    Modules(#[from] StartupError),
    /// The password hashing pool could not start.
    #[error("cannot start the password hashing threads: {0}")]
    Passwords(String),
    /// A listener could not bind.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A started server: its bound addresses.
pub struct Server {
    /// Where it listens.
    pub addresses: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Waits until every listener has shut down.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the server from a loaded config; returns once listening.
pub async fn serve(loaded: Loaded) -> Result<Server, ServeError> {
    let config = &loaded.homeserver;
    let database = loaded.resolve(&config.database.args.database);
    let sqlite = SqliteStorage::open(&database).map_err(|error| ServeError::Storage {
        path: database.display().to_string(),
        message: crate::http::error_chain(&error),
    })?;
    let durability = sqlite.durability();
    eprintln!(
        "mxmod: storage sqlite, journal_mode={}, synchronous={}",
        durability.journal_mode, durability.synchronous
    );
    let storage: Arc<dyn Storage> = Arc::new(sqlite);
    let mut info = ServerInfo::new(config.server_name.clone());
    if let Some(base) = &config.public_baseurl {
        info.public_baseurl = if base.ends_with('/') { base.clone() } else { format!("{base}/") };
    }
    let host = Arc::new(ServerHost::default());
    let options = StartOptions {
        server: info,
        // Latencies feed the `/_synapse/metrics` histograms; without metrics, no clock reads.
        timed: config.enable_metrics,
        host: host.clone(),
        data_dir: database.parent().map(std::path::Path::to_path_buf),
    };
    let media_store = loaded.resolve(&config.media_store_path);
    let settings = Settings {
        server_name: config.server_name.clone(),
        max_upload_size: config.max_upload_size,
        enable_registration: config.enable_registration,
        presence_enabled: config.presence.enabled,
        enable_metrics: config.enable_metrics,
        media_store,
        limits: config.limits.clone(),
        registration_shared_secret: config.registration_shared_secret.clone(),
    };
    let listeners: Vec<(SocketAddr, bool)> = config
        .listeners
        .iter()
        .flat_map(|listener| listener.addresses().into_iter().map(|address| (address, listener.x_forwarded)))
        .collect();
    let limits = Arc::new(RateLimits::new(config));
    RateLimits::spawn_pruning(&limits);
    let passwords = Passwords::per_core().map_err(|error| ServeError::Passwords(error.to_string()))?;
    tracing::info!("password hashing: {} threads", passwords.threads());
    let registry = Registry::start(loaded.modules, &options)?;
    for shadowed in registry.routes().shadowed() {
        tracing::warn!(
            "web resource {} of module `{}` is shadowed by module `{}`",
            shadowed.path,
            shadowed.loser,
            shadowed.winner
        );
    }
    let modules = LiveModules::new(registry);
    let reloader = Reloader::new(loaded.source.clone(), loaded.settings.clone(), options);
    let state = Arc::new(AppState {
        settings,
        storage,
        modules,
        reloader,
        metrics: Metrics::default(),
        limits,
        passwords,
        nonces: Default::default(),
        deletions: Default::default(),
        upgrades: Default::default(),
    });
    host.bind(&state);
    #[cfg(unix)]
    tokio::spawn(crate::reload::reload_on_sighup(Arc::downgrade(&state)));
    let router = crate::handlers::router(state.clone());
    let mut addresses = Vec::new();
    let mut tasks = Vec::new();
    for (address, x_forwarded) in listeners {
        {
            let socket =
                tokio::net::TcpListener::bind(address).await.map_err(|source| ServeError::Bind { address, source })?;
            let bound = socket.local_addr().map_err(|source| ServeError::Bind { address, source })?;
            addresses.push(bound);
            let router = router.clone();
            let limits = state.settings.limits.clone();
            let serving =
                crate::http::connections::serve(socket, router, state.clone(), limits, x_forwarded, shutdown_signal());
            tasks.push(tokio::spawn(serving));
        }
    }
    Ok(Server { addresses, tasks })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
