//! The one writer: a dedicated thread owns the write connection and does group commit.
//! It takes every queued write, runs each in its own savepoint inside one transaction,
//! commits once (one fsync with `synchronous=FULL`), then publishes the room states the
//! batch changed, wakes the syncs that will see the writes, and answers each waiter.
//! A write that fails rolls back its savepoint only; a failed commit fails the batch.

use std::{
    collections::HashMap,
    sync::{mpsc, Arc},
    time::{Instant, SystemTime},
};

use mxmod::types::{OwnedRoomId, OwnedUserId, RoomId, StateMap};
use rusqlite::Connection;

use super::{
    rows::load_room_state,
    session_cache::SessionCache,
    txn_retention::{prune_expired_txns, PRUNE_EVERY},
};
use crate::storage::{notifier::Notifier, state_cache::StateCache, StorageError, StorageResult};

/// Most writes committed together.
const MAX_BATCH: usize = 512;

/// Why the batch a write was in did not commit.
#[derive(Debug, thiserror::Error)]
#[error("the write transaction failed: {0}")]
struct BatchFailed(String);

type Reply = Box<dyn FnOnce(Result<(), &str>) + Send>;
type Job = Box<dyn FnOnce(Result<&mut WriteContext<'_>, &str>) -> Reply + Send>;

/// What a write sees: the transaction's connection, the room states as of the writes
/// before it, and where to note whom to wake.
pub(super) struct WriteContext<'a> {
    /// The write connection, inside the batch transaction.
    pub(super) connection: &'a Connection,
    cache: &'a StateCache,
    changed_rooms: HashMap<OwnedRoomId, Arc<StateMap>>,
    wake_rooms: HashMap<OwnedRoomId, (Arc<StateMap>, bool)>,
    wake_users: Vec<OwnedUserId>,
    wake_presence: bool,
    purged_rooms: Vec<OwnedRoomId>,
}

impl WriteContext<'_> {
    /// A room's current state as of this point of the batch; `None` for an unknown room.
    pub(super) fn room_state(&mut self, room_id: &RoomId) -> rusqlite::Result<Option<Arc<StateMap>>> {
        if self.purged_rooms.iter().any(|purged| purged == room_id) {
            return Ok(None);
        }
        if let Some(state) = self.changed_rooms.get(room_id) {
            return Ok(Some(state.clone()));
        }
        if let Some(state) = self.cache.get(room_id) {
            return Ok(Some(state));
        }
        let loaded = load_room_state(self.connection, room_id)?;
        Ok(loaded.map(|state| self.cache.fill_current(room_id.to_owned(), Arc::new(state))))
    }

    /// Records a room's new state; published when the batch commits. Call it after the
    /// write's last statement succeeded.
    pub(super) fn set_room_state(&mut self, room_id: OwnedRoomId, state: Arc<StateMap>) {
        self.changed_rooms.insert(room_id, state);
    }

    /// Records that a room was deleted: later writes of the batch find it unknown, and the
    /// cache forgets it when the batch commits.
    pub(super) fn purge_room(&mut self, room_id: OwnedRoomId) {
        self.changed_rooms.remove(&room_id);
        self.wake_rooms.remove(&room_id);
        self.purged_rooms.push(room_id);
    }

    /// Wakes the room's joined members (and invited ones with `invited`) after commit.
    pub(super) fn wake_room(&mut self, room_id: &RoomId, state: Arc<StateMap>, invited: bool) {
        let entry = self.wake_rooms.entry(room_id.to_owned()).or_insert((state.clone(), invited));
        *entry = (state, entry.1 || invited);
    }

    /// Wakes a user after commit.
    pub(super) fn wake_user(&mut self, user_id: OwnedUserId) {
        self.wake_users.push(user_id);
    }

    /// Wakes the syncs interested in every presence change after commit.
    pub(super) fn wake_presence_watchers(&mut self) {
        self.wake_presence = true;
    }

    fn savepoint<T, E>(&mut self, work: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let database = |error: rusqlite::Error| E::from(StorageError::from(error));
        self.connection.prepare_cached("SAVEPOINT write").and_then(|mut s| s.execute([])).map_err(database)?;
        let outcome = work(self);
        let end = if outcome.is_ok() { "RELEASE write" } else { "ROLLBACK TO write" };
        self.connection.prepare_cached(end).and_then(|mut s| s.execute([])).map_err(database)?;
        if outcome.is_err() {
            self.connection.prepare_cached("RELEASE write").and_then(|mut s| s.execute([])).map_err(database)?;
        }
        outcome
    }
}

/// The handle requests use to queue writes.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `connection`.
    pub(super) fn start(
        connection: Connection,
        cache: Arc<StateCache>,
        notifier: Arc<Notifier>,
        sessions: Arc<SessionCache>,
    ) -> StorageResult<Self> {
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("mxmod-db-writer".to_owned())
            .spawn(move || write_loop(&connection, &jobs, &cache, &notifier, &sessions))
            .map_err(|error| StorageError::Database(Box::new(error)))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next batch; answers once the batch is committed.
    pub(super) async fn write<T, E>(
        &self,
        work: impl FnOnce(&mut WriteContext<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |context| {
            let outcome = match context {
                Ok(context) => context.savepoint(work),
                Err(failure) => Err(E::from(StorageError::Database(Box::new(BatchFailed(failure.to_owned()))))),
            };
            Box::new(move |committed: Result<(), &str>| {
                let outcome = match committed {
                    Ok(()) => outcome,
                    Err(failure) => Err(E::from(StorageError::Database(Box::new(BatchFailed(failure.to_owned()))))),
                };
                let _ = answer.send(outcome);
            })
        });
        self.queue.send(job).map_err(|_| E::from(StorageError::Stopped))?;
        answered.await.map_err(|_| E::from(StorageError::Stopped))?
    }
}

/// Runs one write; a write that panics is rolled back and its waiter told the executor
/// stopped, while the writer carries on with the rest of the batch.
fn run_job(job: Job, context: &mut WriteContext<'_>) -> Option<Reply> {
    let connection = context.connection;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(context)))) {
        Ok(reply) => Some(reply),
        Err(_) => {
            tracing::error!("a storage write panicked; its changes are rolled back");
            let _ = connection.execute_batch("ROLLBACK TO write; RELEASE write");
            None
        }
    }
}

/// Deletes a chunk of expired transaction ids inside the batch; answers when to look
/// again (at once while a backlog remains).
fn prune(connection: &Connection) -> Instant {
    match prune_expired_txns(connection, SystemTime::now()) {
        Ok(true) => Instant::now(),
        Ok(false) => Instant::now() + PRUNE_EVERY,
        Err(error) => {
            tracing::warn!("cannot delete expired transaction ids: {error}");
            Instant::now() + PRUNE_EVERY
        }
    }
}

fn write_loop(
    connection: &Connection,
    jobs: &mpsc::Receiver<Job>,
    cache: &StateCache,
    notifier: &Notifier,
    sessions: &SessionCache,
) {
    let mut next_prune = Instant::now();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut context = WriteContext {
            connection,
            cache,
            changed_rooms: HashMap::new(),
            wake_rooms: HashMap::new(),
            wake_users: Vec::new(),
            wake_presence: false,
            purged_rooms: Vec::new(),
        };
        let replies: Vec<Reply> = match connection.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => batch.into_iter().filter_map(|job| run_job(job, &mut context)).collect(),
            Err(error) => {
                let failure = error.to_string();
                tracing::error!("cannot begin a write transaction: {failure}");
                batch.into_iter().map(|job| job(Err(&failure))).collect()
            }
        };
        if Instant::now() >= next_prune && !connection.is_autocommit() {
            next_prune = prune(connection);
        }
        let committed = if connection.is_autocommit() {
            Err("no transaction".to_owned())
        } else {
            connection.execute_batch("COMMIT").map_err(|error| {
                let _ = connection.execute_batch("ROLLBACK");
                tracing::error!("the write transaction failed: {error}");
                error.to_string()
            })
        };
        // Before anyone is answered: a logged-out token must fail from the logout's answer on.
        sessions.after_transaction();
        if committed.is_ok() {
            for (room_id, state) in context.changed_rooms {
                cache.set(room_id, state);
            }
            for room_id in context.purged_rooms {
                cache.purge(room_id);
            }
            for (state, invited) in context.wake_rooms.values() {
                notifier.wake_room(state, *invited);
            }
            notifier.wake(context.wake_users.iter().map(|user| user.as_str()));
            if context.wake_presence {
                notifier.wake_presence_watchers();
            }
        }
        for reply in replies {
            reply(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}
