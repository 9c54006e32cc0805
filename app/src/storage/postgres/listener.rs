//! The `LISTEN` side of cross-process changes: one connection per process outside the
//! pool listens on [`CHANNEL`]; each notification from another process drops the room
//! states it outdates, wakes the parked syncs that will see it, applies its `#[cached]`
//! invalidations and starts the module reload it asks for. A lost connection is
//! re-established, and since notifications sent meanwhile are gone, every cached state
//! is dropped and every parked sync woken (each re-reads and finds what changed); a
//! reload asked meanwhile is found in `module_reloads`, whose generation is read each
//! time the connection listens, and started then.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::{
    changes::{Changes, CHANNEL},
    Shared,
};
use crate::storage::BoxedCause;

/// Notifications queued for the applying task at most; past that they are dropped and
/// the next applied one is treated as "everything changed".
const QUEUE: usize = 10_000;

/// What the connection's driver hands the applying task.
struct Listening {
    /// Keeps the session open (dropping it closes the connection).
    _client: Client,
    payloads: mpsc::Receiver<String>,
    overflowed: Arc<AtomicBool>,
    /// `module_reloads`' generation, read once listening: a reload asked after this
    /// read arrives as a notification.
    reload_generation: i64,
}

/// Connects, `LISTEN`s and starts applying notifications; returns once listening, so no
/// write committed after start-up is missed.
pub(super) async fn start(
    mut config: tokio_postgres::Config,
    shared: Arc<Shared>,
) -> Result<tokio::task::AbortHandle, BoxedCause> {
    config.application_name(application_name(shared.process));
    let listening = listen(&config).await?;
    // Reloads asked before this process started are in the config it started with.
    shared.reload_generation.fetch_max(listening.reload_generation, Ordering::Relaxed);
    Ok(tokio::spawn(run(config, shared, listening)).abort_handle())
}

/// The listener connection's `application_name`: which process it is, in
/// `pg_stat_activity`.
pub(super) fn application_name(process: i64) -> String {
    format!("mxmod listener {process:016x}")
}

async fn listen(config: &tokio_postgres::Config) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, payloads) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let overflow = overflowed.clone();
    tokio::spawn(async move {
        // Drives the connection; ends when it closes (the receiver then sees the end).
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if let Err(mpsc::error::TrySendError::Full(_)) = sender.try_send(notification.payload().to_owned())
                    {
                        overflow.store(true, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!("the change listener's database connection failed: {error}");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let reload_generation = client.query_one("SELECT generation FROM module_reloads", &[]).await?.get(0);
    Ok(Listening { _client: client, payloads, overflowed, reload_generation })
}

async fn run(config: tokio_postgres::Config, shared: Arc<Shared>, mut listening: Listening) {
    loop {
        while let Some(payload) = listening.payloads.recv().await {
            if listening.overflowed.swap(false, Ordering::Relaxed) {
                everything(&shared);
            }
            apply(&shared, &payload).await;
        }
        let mut backoff = Duration::from_millis(100);
        listening = loop {
            tokio::time::sleep(backoff).await;
            match listen(&config).await {
                Ok(listening) => break listening,
                Err(error) => {
                    tracing::warn!("cannot listen for other processes' changes: {error}");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        everything(&shared);
        if newer_reload(&shared, listening.reload_generation) {
            tracing::info!("a module reload was asked while this process was not listening: reloading now");
            start_reload(&shared);
        }
    }
}

/// Whether `generation` is a reload this process has not applied (and, if so, it now
/// counts as applied).
fn newer_reload(shared: &Shared, generation: i64) -> bool {
    shared.reload_generation.fetch_max(generation, Ordering::Relaxed) < generation
}

fn start_reload(shared: &Shared) {
    match shared.reloads.get() {
        Some(reload) => reload(),
        None => tracing::warn!("another process asked for a module reload before the modules ran: ignored"),
    }
}

fn everything(shared: &Shared) {
    shared.states.clear();
    shared.notifier.wake_all();
}

/// Applies another process's change.
async fn apply(shared: &Shared, payload: &str) {
    let Ok(changes) = serde_json::from_str::<Changes>(payload) else {
        tracing::warn!("an unreadable change notification: treated as 'everything changed'");
        return everything(shared);
    };
    if changes.origin == shared.process {
        return;
    }
    if let Some(sink) = shared.invalidations.get() {
        for invalidation in &changes.invalidations {
            sink(invalidation);
        }
    }
    // A reload without a generation comes from a process that predates `module_reloads`.
    if changes.reload && (changes.reload_generation == 0 || newer_reload(shared, changes.reload_generation)) {
        start_reload(shared);
    }
    if changes.everything {
        return everything(shared);
    }
    for room_id in &changes.purged {
        shared.states.forget(room_id);
    }
    let mut changes = changes;
    for change in &mut changes.rooms {
        if let Some(version) = change.state_version {
            shared.states.outdated_by(&change.room_id, version);
        }
        match shared.room_state(&change.room_id).await {
            Ok(state) => change.state = state,
            Err(error) => {
                tracing::warn!("cannot read the state of {} for wake-ups: {error}", change.room_id);
                shared.notifier.wake_all();
            }
        }
    }
    shared.wakes.push(changes);
}
