//! Start-up and serving: storage, modules (in YAML order, before any listener), the
//! listeners, module reload on SIGHUP, and graceful shutdown on SIGINT/SIGTERM
//! (in-flight requests finish).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use mxmod::{
    api::ServerInfo,
    registry::{Registry, StartOptions, StartupError},
};

use crate::{
    config::{DatabaseBackend, Loaded},
    host::ServerHost,
    metrics::Metrics,
    modules::LiveModules,
    password::Passwords,
    ratelimit::RateLimits,
    reload::Reloader,
    state::{AppState, Settings},
    storage::{postgres::PostgresStorage, sqlite::SqliteStorage, Storage},
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
    /// The `email:` section does not make a mailer.
    #[error("invalid `email:` section: {0}")]
    Email(String),
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

/// The opened database.
struct Opened {
    storage: Arc<dyn Storage>,
    /// Where modules keep their files.
    data_dir: Option<PathBuf>,
    /// The PostgreSQL backend, which other processes may share.
    cluster: Option<Arc<PostgresStorage>>,
    /// Where module tables live: the same database.
    module_database: mxmod::db::Database,
}

/// Opens the configured database (printing its durability settings) and picks the
/// directory modules keep their files in: the SQLite file's, or for PostgreSQL the
/// media store's parent (shared by the processes of one homeserver).
async fn open_storage(loaded: &Loaded) -> Result<Opened, ServeError> {
    let config = &loaded.homeserver;
    match config.database.backend() {
        Some(DatabaseBackend::Postgres(settings)) => {
            let postgres = PostgresStorage::connect(&settings).await.map_err(|error| ServeError::Storage {
                path: format!("postgresql://{}@{}:{}/{}", settings.user, settings.host, settings.port, settings.dbname),
                message: crate::http::error_chain(&error),
            })?;
            let durability = postgres.durability();
            eprintln!(
                "mxmod: storage postgresql, synchronous_commit={}, fsync={}",
                durability.synchronous_commit, durability.fsync
            );
            let media_store = loaded.resolve(&config.media_store_path);
            let module_database = mxmod::db::Database::postgres(postgres.pool());
            let postgres = Arc::new(postgres);
            Ok(Opened {
                storage: postgres.clone(),
                data_dir: media_store.parent().map(Path::to_path_buf),
                cluster: Some(postgres),
                module_database,
            })
        }
        Some(DatabaseBackend::Sqlite(file)) => {
            let database = loaded.resolve(&file);
            let sqlite = SqliteStorage::open(&database).map_err(|error| ServeError::Storage {
                path: database.display().to_string(),
                message: crate::http::error_chain(&error),
            })?;
            let durability = sqlite.durability();
            eprintln!(
                "mxmod: storage sqlite, journal_mode={}, synchronous={}",
                durability.journal_mode, durability.synchronous
            );
            // Module tables live in the server's own file, on a small pool of their own.
            let module_database = mxmod::db::Database::sqlite(&database).map_err(|error| ServeError::Storage {
                path: database.display().to_string(),
                message: error.to_string(),
            })?;
            Ok(Opened {
                storage: Arc::new(sqlite),
                data_dir: database.parent().map(Path::to_path_buf),
                cluster: None,
                module_database,
            })
        }
        None => Err(ServeError::Storage {
            path: config.database.name.clone(),
            message: "the `database` section was not checked".to_owned(),
        }),
    }
}

/// Starts the server from a loaded config; returns once listening.
pub async fn serve(loaded: Loaded) -> Result<Server, ServeError> {
    let config = &loaded.homeserver;
    let Opened { storage, data_dir, cluster, module_database } = open_storage(&loaded).await?;
    let mut info = ServerInfo::new(config.server_name.clone());
    if let Some(base) = &config.public_baseurl {
        info.public_baseurl = if base.ends_with('/') { base.clone() } else { format!("{base}/") };
    }
    let host = Arc::new(ServerHost::default());
    let mailer = match &config.email {
        Some(email) => Some(Arc::new(
            mxmod::mail::Mailer::new(email, config.server_name.as_str(), mxmod::mail::DEFAULT_SEND_TIMEOUT)
                .map_err(|error| ServeError::Email(error.to_string()))?,
        )),
        None => None,
    };
    let options = StartOptions {
        server: info,
        // Latencies feed the `/_synapse/metrics` histograms; without metrics, no clock reads.
        timed: config.enable_metrics,
        host: host.clone(),
        data_dir,
        // Module tables live in the server's own database.
        database: Some(module_database),
        cluster: cluster.as_ref().map(|postgres| postgres.cluster()),
        mailer: mailer.clone(),
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
        public_baseurl: options.server.public_baseurl.clone(),
        mailer,
        request_token_inhibit_3pid_errors: config.request_token_inhibit_3pid_errors,
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
    let typing = crate::typing::Typing::start(storage.clone());
    let modules = LiveModules::new(registry);
    let reloader = Reloader::new(loaded.source.clone(), loaded.settings.clone(), options, cluster.clone());
    let state = Arc::new(AppState {
        settings,
        storage,
        modules,
        reloader,
        metrics: Metrics::default(),
        limits,
        passwords,
        typing,
        nonces: Default::default(),
        deletions: Default::default(),
        upgrades: Default::default(),
    });
    host.bind(&state);
    #[cfg(unix)]
    if let Some(reloading) = crate::reload::reload_on_sighup(Arc::downgrade(&state)) {
        tokio::spawn(reloading);
    }
    if let Some(postgres) = &cluster {
        let weak = Arc::downgrade(&state);
        postgres.on_remote_invalidation(move |instance, method, key| {
            if let Some(state) = weak.upgrade() {
                state.modules.current().apply_remote_invalidation(instance, method, key);
            }
        });
        let weak = Arc::downgrade(&state);
        postgres.on_remote_reload(move || crate::reload::reload_on_request(&weak));
    }
    let app = crate::handlers::router(state.clone());
    let mut addresses = Vec::new();
    let mut tasks = Vec::new();
    for (address, x_forwarded) in listeners {
        {
            let socket =
                tokio::net::TcpListener::bind(address).await.map_err(|source| ServeError::Bind { address, source })?;
            let bound = socket.local_addr().map_err(|source| ServeError::Bind { address, source })?;
            addresses.push(bound);
            let app = app.clone();
            let limits = state.settings.limits.clone();
            let serving =
                crate::http::connections::serve(socket, app, state.clone(), limits, x_forwarded, shutdown_signal());
            tasks.push(tokio::spawn(serving));
        }
    }
    Ok(Server { addresses, tasks })
}

/// Resolves on SIGINT or SIGTERM, once the handlers it installs, when it is called and not
/// when first polled, have caught one: `serve` returns (and the binary says it listens)
/// before the serving tasks run, and a signal from then on must stop the server cleanly,
/// never end it by the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let caught = {
        use tokio::signal::unix::{signal, SignalKind};
        let (interrupt, terminate) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                    only.recv().await;
                }
                // No handler: the signals keep their default action.
                (Err(_), Err(_)) => std::future::pending().await,
            }
        }
    };
    #[cfg(not(unix))]
    let caught = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    async move {
        caught.await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::{process::Command, time::Duration};

    /// Set in the child process that [`signals_sent_as_soon_as_serve_returns_are_handled`]
    /// starts, which runs the server and signals itself.
    const CHILD: &str = "MXMOD_SIGNALS_TEST_CHILD";

    /// Sends `signal` to this process and waits until it is sent.
    fn signal_self(signal: &str) {
        let status = Command::new("kill").args([signal, &std::process::id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// `serve` returns once the server listens, and the binary then says so: a SIGHUP or
    /// SIGTERM from that moment must reload or stop it, never end it by the signal's
    /// default action. On a current-thread runtime nothing `serve` spawned has been polled
    /// when it returns, so the handlers must be installed by then. The server runs in a
    /// child process (this test binary again, running only this test), since the signals
    /// go to the whole process.
    #[test]
    fn signals_sent_as_soon_as_serve_returns_are_handled() {
        if std::env::var_os(CHILD).is_none() {
            let output = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "server::tests::signals_sent_as_soon_as_serve_returns_are_handled", "--nocapture"])
                .env(CHILD, "1")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "the server's process ended with {}:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // The embedded default config, on a free port, its data in the temporary directory.
        let yaml = crate::config::DEFAULT_CONFIG.replace("port: 8008", "port: 0");
        let loaded = crate::config::load_text(&yaml, "homeserver.yaml", dir.path().to_path_buf()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = crate::serve(loaded).await.unwrap();
            signal_self("-HUP");
            signal_self("-TERM");
            tokio::time::timeout(Duration::from_secs(30), server.wait()).await.expect("SIGTERM stops the server");
        });
    }
}
