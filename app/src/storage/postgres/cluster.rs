//! This process's side of [`mxmod::cluster::Cluster`] on PostgreSQL: `#[cached]`
//! invalidations go out as change notifications (and come in through the listener), and
//! periodic module tasks run on the one process that holds the background-task advisory
//! lock. That lock is a session lock on a connection of its own: a process that dies or
//! loses the connection loses it, and another process takes it within a few seconds.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

use super::{
    changes::{Changes, CHANNEL},
    Shared,
};

/// The advisory-lock key of the background-task lock (`'mxbg'`).
const BACKGROUND_LOCK: i64 = 0x6d78_6267;

/// How often a process that is not running background tasks tries to take the lock, and
/// the one that is checks its connection.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(2);

/// One `#[cached]` invalidation carried to the other processes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Invalidation {
    /// The module instance's label.
    pub(super) instance: String,
    /// The cached method.
    pub(super) method: String,
    /// The key's fingerprint; `None` for every key.
    pub(super) key: Option<u64>,
}

/// What receives other processes' invalidations (the server's module registry).
pub(super) type InvalidationSink = Box<dyn Fn(&Invalidation) + Send + Sync>;

/// What another process's reload request starts (the server's reloader); it must not
/// block the listener.
pub(super) type ReloadSink = Box<dyn Fn() + Send + Sync>;

/// The cluster hooks of one process.
pub(super) struct PostgresCluster {
    pub(super) shared: Arc<Shared>,
    /// Whether this process holds the background-task lock.
    pub(super) leader: Arc<AtomicBool>,
}

impl mxmod::cluster::Cluster for PostgresCluster {
    fn publish_invalidation(&self, instance: &str, method: &str, key: Option<u64>) {
        let invalidation = Invalidation { instance: instance.to_owned(), method: method.to_owned(), key };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("a cache invalidation outside the runtime is not sent to the other processes");
            return;
        };
        let shared = self.shared.clone();
        runtime.spawn(async move {
            let changes = Changes { invalidations: vec![invalidation], ..Changes::new(shared.process) };
            let sent = async {
                let client = shared.client().await?;
                client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &changes.payload()]).await?;
                Ok::<_, crate::storage::StorageError>(())
            };
            if let Err(error) = sent.await {
                tracing::warn!("cannot send a cache invalidation to the other processes: {error}");
            }
        });
    }

    fn runs_background_tasks(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }
}

/// Keeps trying to take the background-task lock; `leader` says whether this process
/// holds it.
pub(super) async fn hold_background_lock(config: tokio_postgres::Config, leader: Arc<AtomicBool>) {
    loop {
        let connected = config.connect(NoTls).await;
        let Ok((client, connection)) = connected else {
            leader.store(false, Ordering::Relaxed);
            tokio::time::sleep(LEADERSHIP_CHECK).await;
            continue;
        };
        let driver = tokio::spawn(connection);
        loop {
            let check = if leader.load(Ordering::Relaxed) {
                client.query_one("SELECT true", &[]).await
            } else {
                client.query_one("SELECT pg_try_advisory_lock($1)", &[&BACKGROUND_LOCK]).await
            };
            match check {
                Ok(row) => leader.store(row.get::<_, bool>(0), Ordering::Relaxed),
                Err(_) => {
                    leader.store(false, Ordering::Relaxed);
                    break;
                }
            }
            tokio::time::sleep(LEADERSHIP_CHECK).await;
        }
        driver.abort();
        tokio::time::sleep(LEADERSHIP_CHECK).await;
    }
}
