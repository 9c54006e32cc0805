//! The PostgreSQL implementation of [`Storage`], for one or several `mxmod` processes on
//! one database (`database: {name: psycopg2}`).
//!
//! - A `deadpool-postgres` pool of `tokio-postgres` connections (`cp_min`..`cp_max`).
//! - Every domain write is one transaction. Appends to a room lock its `rooms` row
//!   (`SELECT ... FOR UPDATE`), so writes to one room are linear across processes and the
//!   authorisation sees the state the event lands on; transaction keys, alias and user
//!   IDs are deduplicated inside the same transaction.
//! - Stream positions come from sequences; `/sync` reads only up to the position every
//!   writer has persisted (`positions.rs`).
//! - Room state is cached in memory per process, versioned by `rooms.state_position`
//!   (`room_states.rs`).
//! - A write `NOTIFY`s what it changed in its own transaction (`changes.rs`); every
//!   process `LISTEN`s (`listener.rs`), drops stale states and wakes its parked syncs.
//! - No application-level group commit: each request commits its own transaction, and
//!   PostgreSQL's WAL writer already flushes concurrent commits together.
//! - The schema steps are those of the SQLite engine, in PostgreSQL's dialect
//!   (`migrations.rs`).
//! - What clients and the admin API store beyond rooms lives in `client_data.rs` and
//!   `admin.rs`; `impl Storage` below delegates to them.

mod admin;
mod changes;
mod client_data;
mod cluster;
mod listener;
mod migrations;
mod positions;
mod room_states;
mod rows;
pub mod test_database;
mod threepid_validation;
#[cfg(test)]
mod two_processes;
mod wakes;
mod writes;

use std::{sync::Arc, time::Duration};

use deadpool_postgres::{GenericClient, ManagerConfig, Object, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts};
use mxmod::{
    types::{Event, JsonObject, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState},
    MatrixError,
};
use tokio_postgres::NoTls;

use self::{
    changes::Changes,
    room_states::RoomStates,
    rows::{event_row, event_rows, presence_row, room_id, user_id, user_row, EVENT_COLUMNS, PRESENCE_COLUMNS},
};
use super::{
    notifier::Notifier, AppendError, Appended, Authorise, CreateRoomError, Device, EventReport, FilterError, Forget,
    LogOut, MediaRecord, NewAccount, NewRoom, PresenceRecord, Profile, PushRulesEdit, Receipt, ReceiptRecord,
    RoomAccountData, Session, Storage, StorageError, StorageResult, StoredEvent, StreamPositions, SyncWaiter, Threepid,
    TokenOwner, TxnKey, UpdateAccountData, UserQuery, UserRecord, ValidatedThreepid, ValidationFailure,
    ValidationRequest, ValidationStarted,
};
use crate::config::PostgresSettings;

/// The durability settings of the server, read back at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresDurability {
    /// `synchronous_commit` (`on`: a commit returns once its WAL is flushed).
    pub synchronous_commit: String,
    /// `fsync`.
    pub fsync: String,
}

/// What every task of one process shares: the pool, the room states, the waiters.
pub(super) struct Shared {
    pool: Pool,
    states: RoomStates,
    notifier: Notifier,
    /// This process's identity in notifications (random per start).
    process: i64,
    /// Wake-ups waiting for their positions to be persisted.
    wakes: wakes::WakeQueue,
    /// Where other processes' `#[cached]` invalidations go, once the modules run.
    invalidations: std::sync::OnceLock<cluster::InvalidationSink>,
    /// What other processes' reload requests start, once the server runs.
    reloads: std::sync::OnceLock<cluster::ReloadSink>,
    /// The newest `module_reloads` generation this process has applied (or started
    /// after): the listener catches up on a newer one when it listens again.
    reload_generation: std::sync::atomic::AtomicI64,
}

/// PostgreSQL storage.
pub struct PostgresStorage {
    shared: Arc<Shared>,
    listener: tokio::task::AbortHandle,
    background_lock: tokio::task::AbortHandle,
    waker: tokio::task::AbortHandle,
    leader: Arc<std::sync::atomic::AtomicBool>,
    durability: PostgresDurability,
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        self.listener.abort();
        self.background_lock.abort();
        self.waker.abort();
    }
}

/// Whether an operation's error leaves the connection in an unknown state (then it is
/// closed, not returned to the pool: closing releases any lock it may hold).
pub(super) trait Failure {
    /// The database failed (not a refusal of the domain).
    fn is_database_failure(&self) -> bool;
}

impl Failure for StorageError {
    fn is_database_failure(&self) -> bool {
        true
    }
}

impl Failure for AppendError {
    fn is_database_failure(&self) -> bool {
        matches!(self, Self::Storage(_))
    }
}

impl Failure for CreateRoomError {
    fn is_database_failure(&self) -> bool {
        matches!(self, Self::Storage(_))
    }
}

/// The `tokio-postgres` configuration of `settings`.
pub(super) fn connection_config(settings: &PostgresSettings) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .user(&settings.user)
        .dbname(&settings.dbname)
        .host(&settings.host)
        .port(settings.port)
        .application_name("mxmod")
        .connect_timeout(Duration::from_secs(10));
    if let Some(password) = &settings.password {
        config.password(password);
    }
    config
}

fn open_error(settings: &PostgresSettings) -> impl Fn(BoxedError) -> StorageError + '_ {
    move |source| StorageError::Open {
        path: format!("postgresql://{}@{}:{}/{}", settings.user, settings.host, settings.port, settings.dbname),
        source,
    }
}

type BoxedError = super::BoxedCause;

impl PostgresStorage {
    /// Connects, brings the schema up to date (one process at a time), opens `cp_min`
    /// connections and starts listening for other processes' changes.
    pub async fn connect(settings: &PostgresSettings) -> StorageResult<Self> {
        let open = open_error(settings);
        let manager = deadpool_postgres::Manager::from_config(
            connection_config(settings),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let mut pool_config = PoolConfig::new(settings.cp_max.max(1));
        pool_config.timeouts = Timeouts {
            wait: Some(Duration::from_secs(30)),
            create: Some(Duration::from_secs(10)),
            recycle: Some(Duration::from_secs(10)),
        };
        let pool = Pool::builder(manager)
            .config(pool_config)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| open(Box::new(error)))?;
        let mut client = pool.get().await.map_err(|error| open(Box::new(error)))?;
        migrations::migrate(&mut client).await?;
        let setting = |row: tokio_postgres::Row| row.get::<_, String>(0);
        let durability = PostgresDurability {
            synchronous_commit: client.query_one("SHOW synchronous_commit", &[]).await.map(setting)?,
            fsync: client.query_one("SHOW fsync", &[]).await.map(setting)?,
        };
        drop(client);
        let warm: Vec<_> = (0..settings.cp_min.min(settings.cp_max)).map(|_| pool.get()).collect();
        for connection in futures_util::future::join_all(warm).await {
            drop(connection.map_err(|error| open(Box::new(error)))?);
        }
        let shared = Arc::new(Shared {
            pool,
            states: RoomStates::default(),
            notifier: Notifier::default(),
            process: rand::random::<i64>(),
            invalidations: std::sync::OnceLock::new(),
            reloads: std::sync::OnceLock::new(),
            reload_generation: std::sync::atomic::AtomicI64::new(0),
            wakes: wakes::WakeQueue::default(),
        });
        let waker = tokio::spawn(wakes::run(shared.clone())).abort_handle();
        let listener = listener::start(connection_config(settings), shared.clone()).await.map_err(open)?;
        let leader = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let background_lock =
            tokio::spawn(cluster::hold_background_lock(connection_config(settings), leader.clone())).abort_handle();
        Ok(Self { shared, listener, background_lock, waker, leader, durability })
    }

    /// The hooks the module registry uses to reach the other processes: `#[cached]`
    /// invalidations and the background-task lock.
    pub fn cluster(&self) -> Arc<dyn mxmod::cluster::Cluster> {
        Arc::new(cluster::PostgresCluster { shared: self.shared.clone(), leader: self.leader.clone() })
    }

    /// Where other processes' `#[cached]` invalidations are applied:
    /// `sink(instance, method, key fingerprint)`. Set once, after the modules started.
    pub fn on_remote_invalidation(&self, sink: impl Fn(&str, &str, Option<u64>) + Send + Sync + 'static) {
        let sink: cluster::InvalidationSink =
            Box::new(move |invalidation| sink(&invalidation.instance, &invalidation.method, invalidation.key));
        if self.shared.invalidations.set(sink).is_err() {
            tracing::warn!("the remote invalidation sink is set once; a second one is ignored");
        }
    }

    /// Asks every other process on the database to reload its modules, each from its own
    /// config file: one statement bumps the reload generation in `module_reloads` and
    /// sends it on the change channel, so the processes listening now reload on the
    /// notification, and a process whose listener is reconnecting finds the newer
    /// generation when it listens again. Each applies it on its own, after this returns.
    pub async fn request_reload(&self) -> StorageResult<()> {
        let request = Changes { reload: true, ..Changes::new(self.shared.process) };
        let payload = request.payload();
        let generation = self
            .shared
            .read(async |client| {
                let row = client
                    .query_one(
                        "WITH bumped AS (UPDATE module_reloads SET generation = generation + 1 RETURNING generation)
                         SELECT generation,
                                pg_notify($1, (($2::text)::jsonb || jsonb_build_object('reload_generation', generation))::text)
                         FROM bumped",
                        &[&changes::CHANNEL, &payload],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0))
            })
            .await?;
        // This process reloads itself (the caller does): it has seen this one.
        self.shared.reload_generation.fetch_max(generation, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// What runs when another process asks for a reload ([`Self::request_reload`]); it
    /// is called on the listener's task and must not block. Set once, once the server
    /// runs.
    pub fn on_remote_reload(&self, reload: impl Fn() + Send + Sync + 'static) {
        if self.shared.reloads.set(Box::new(reload)).is_err() {
            tracing::warn!("the remote reload hook is set once; a second one is ignored");
        }
    }

    /// The connection pool (module tables share it).
    pub fn pool(&self) -> Pool {
        self.shared.pool.clone()
    }

    /// The durability settings in force (for the start-up log).
    pub fn durability(&self) -> &PostgresDurability {
        &self.durability
    }
}

impl Shared {
    async fn client(&self) -> StorageResult<Object> {
        Ok(self.pool.get().await?)
    }

    /// Returns a connection to the pool, or closes it after a database failure.
    fn finish<T, E: Failure>(&self, client: Object, outcome: &Result<T, E>) {
        if outcome.as_ref().err().is_some_and(Failure::is_database_failure) {
            drop(Object::take(client));
        }
    }

    /// Runs a read on a pooled connection.
    async fn read<T>(&self, work: impl AsyncFnOnce(&Object) -> StorageResult<T>) -> StorageResult<T> {
        let client = self.client().await?;
        let outcome = work(&client).await;
        self.finish(client, &outcome);
        outcome
    }

    /// Runs a domain write on a pooled connection with a fresh change set; after a
    /// success that changed something others must hear of, the rooms it wakes get their
    /// states (from memory, or loaded) and the change is published like every other
    /// write of this process.
    async fn write<T, E>(&self, work: impl AsyncFnOnce(&mut Object, &mut Changes) -> Result<T, E>) -> Result<T, E>
    where
        E: Failure + From<StorageError>,
    {
        let mut client = self.client().await?;
        let mut changes = Changes::new(self.process);
        let outcome = work(&mut client, &mut changes).await;
        self.finish(client, &outcome);
        let announced = !(changes.rooms.is_empty() && changes.users.is_empty() && changes.purged.is_empty());
        if outcome.is_ok() && announced {
            for change in &mut changes.rooms {
                if change.state.is_none() {
                    change.state = match self.room_state(&change.room_id).await {
                        Ok(state) => state,
                        Err(error) => {
                            tracing::warn!("cannot read the state of {} for wake-ups: {error}", change.room_id);
                            None
                        }
                    };
                }
            }
            self.publish_local(changes);
        }
        outcome
    }

    /// After a commit of this process: its room states are cached at once, its wake-ups
    /// queued until its positions are persisted.
    fn publish_local(&self, changes: Changes) {
        changes.cache_states(&self.states);
        self.wakes.push(changes);
    }

    /// A room's current state: from memory, or loaded (and cached) in one statement.
    async fn room_state(&self, room_id: &RoomId) -> StorageResult<Option<Arc<StateMap>>> {
        if let Some((_, state)) = self.states.get(room_id) {
            return Ok(Some(state));
        }
        let loaded = self.read(async |client| load_room_state(client, room_id).await).await?;
        Ok(loaded.map(|(version, state)| self.states.offer(room_id, version, Arc::new(state))))
    }
}

/// A room's state version and current state, read in one statement (one snapshot);
/// `None` for an unknown room.
async fn load_room_state(client: &impl GenericClient, room_id: &RoomId) -> StorageResult<Option<(i64, StateMap)>> {
    let statement = client
        .prepare_cached(
            "SELECT r.state_position, e.json, e.stream_ordering, e.txn_id FROM rooms r
             LEFT JOIN current_state s ON s.room_id = r.room_id LEFT JOIN events e ON e.event_id = s.event_id
             WHERE r.room_id = $1 ORDER BY e.stream_ordering",
        )
        .await?;
    let rows = client.query(&statement, &[&room_id.as_str()]).await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let version: i64 = first.try_get(0)?;
    let mut state = StateMap::new();
    for row in &rows {
        if row.try_get::<_, Option<String>>(1)?.is_some() {
            state.insert(event_row(row, 1)?.event);
        }
    }
    Ok(Some((version, state)))
}

async fn find_txn(client: &impl GenericClient, key: &TxnKey) -> StorageResult<Option<OwnedEventId>> {
    let statement = client
        .prepare_cached("SELECT event_id FROM event_txns WHERE user_id = $1 AND client = $2 || $3 AND path = $4")
        .await?;
    let [kind, id] = key.client.stored_parts();
    let row = client.query_opt(&statement, &[&key.user_id.as_str(), &kind, &id, &key.path]).await?;
    row.map(|row| OwnedEventId::try_from(row.try_get::<_, String>(0)?).map_err(rows::corrupt)).transpose()
}

async fn rooms_with(client: &impl GenericClient, user: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>> {
    let statement = client
        .prepare_cached(
            "SELECT room_id FROM current_state c WHERE type = 'm.room.member' AND state_key = $1 AND membership = $2
             AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = $1 AND f.room_id = c.room_id)",
        )
        .await?;
    let rows = client.query(&statement, &[&user.as_str(), &membership]).await?;
    rows.iter().map(|row| room_id(row.try_get(0)?)).collect()
}

#[async_trait::async_trait]
impl Storage for PostgresStorage {
    async fn register(&self, account: NewAccount) -> StorageResult<bool> {
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let outcome = writes::register(&mut client, &account).await;
        shared.finish(client, &outcome);
        outcome
    }

    async fn user(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>> {
        self.shared
            .read(async |client| {
                let statement = client
                    .prepare_cached(
                        "SELECT user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts
                         FROM users WHERE user_id = $1",
                    )
                    .await?;
                let row = client.query_opt(&statement, &[&user_id.as_str()]).await?;
                row.map(|row| user_row(&row, 0)).transpose()
            })
            .await
    }

    async fn set_deactivated(&self, user_id: &UserId, deactivated: bool) -> StorageResult<()> {
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let outcome = writes::set_deactivated(&mut client, user_id, deactivated).await;
        shared.finish(client, &outcome);
        outcome
    }

    async fn create_token(&self, token: &str, owner: &TokenOwner) -> StorageResult<()> {
        self.shared
            .read(async |client| {
                let statement = client
                    .prepare_cached(
                        "WITH token AS (INSERT INTO access_tokens (token, user_id, device_id) VALUES ($1, $2, $3))
                         INSERT INTO devices (user_id, device_id) VALUES ($2, $3) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                client.execute(&statement, &[&token, &owner.user_id.as_str(), &owner.device_id]).await?;
                Ok(())
            })
            .await
    }

    async fn session(&self, token: &str) -> StorageResult<Option<Session>> {
        self.shared
            .read(async |client| {
                let statement = client
                    .prepare_cached(
                        "SELECT t.device_id, u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated,
                                u.creation_ts
                         FROM access_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token = $1",
                    )
                    .await?;
                let row = client.query_opt(&statement, &[&token]).await?;
                row.map(|row| Ok(Session { device_id: row.try_get(0)?, user: user_row(&row, 1)? })).transpose()
            })
            .await
    }

    async fn delete_token(&self, token: &str) -> StorageResult<()> {
        self.shared
            .read(async |client| {
                client.execute("DELETE FROM access_tokens WHERE token = $1", &[&token]).await?;
                Ok(())
            })
            .await
    }

    async fn profile(&self, user_id: &UserId) -> StorageResult<Profile> {
        self.shared
            .read(async |client| {
                let statement =
                    client.prepare_cached("SELECT displayname, avatar_url FROM profiles WHERE user_id = $1").await?;
                let row = client.query_opt(&statement, &[&user_id.as_str()]).await?;
                row.map(|row| Ok(Profile { displayname: row.try_get(0)?, avatar_url: row.try_get(1)? }))
                    .transpose()
                    .map(Option::unwrap_or_default)
            })
            .await
    }

    async fn set_profile(&self, user_id: &UserId, profile: &Profile) -> StorageResult<()> {
        self.shared
            .read(async |client| {
                client
                    .execute(
                        "INSERT INTO profiles (user_id, displayname, avatar_url) VALUES ($1, $2, $3)
                         ON CONFLICT (user_id) DO UPDATE
                         SET displayname = excluded.displayname, avatar_url = excluded.avatar_url",
                        &[&user_id.as_str(), &profile.displayname, &profile.avatar_url],
                    )
                    .await?;
                Ok(())
            })
            .await
    }

    async fn search_users(&self, term: &str, limit: usize) -> StorageResult<Vec<(OwnedUserId, Profile)>> {
        // A substring match with `strpos`: wildcards in the term are plain characters.
        let pattern = term.to_lowercase();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared
            .read(async |client| {
                let statement = client
                    .prepare_cached(
                        "SELECT u.user_id, p.displayname, p.avatar_url FROM users u
                         LEFT JOIN profiles p ON p.user_id = u.user_id
                         WHERE NOT u.deactivated AND (strpos(lower(u.user_id), $1) > 0
                             OR strpos(lower(coalesce(p.displayname, '')), $1) > 0)
                         ORDER BY u.user_id LIMIT $2",
                    )
                    .await?;
                let rows = client.query(&statement, &[&pattern, &limit]).await?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            user_id(row.try_get(0)?)?,
                            Profile { displayname: row.try_get(1)?, avatar_url: row.try_get(2)? },
                        ))
                    })
                    .collect()
            })
            .await
    }

    async fn create_room(&self, room: NewRoom) -> Result<Vec<StoredEvent>, CreateRoomError> {
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let mut changes = Changes::new(shared.process);
        let outcome = writes::create_room(&mut client, room, &mut changes).await;
        shared.finish(client, &outcome);
        if outcome.is_ok() {
            shared.publish_local(changes);
        }
        outcome
    }

    async fn room_exists(&self, room_id: &RoomId) -> StorageResult<bool> {
        Ok(self.current_state(room_id).await?.is_some())
    }

    async fn append_local_event(
        &self,
        event: Event,
        txn: Option<TxnKey>,
        authorise: Authorise,
    ) -> Result<Appended, AppendError> {
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let mut changes = Changes::new(shared.process);
        let outcome = writes::append(shared, &mut client, event, txn, authorise, &mut changes).await;
        shared.finish(client, &outcome);
        if matches!(outcome, Ok(Appended::Stored { .. })) {
            shared.publish_local(changes);
        }
        outcome
    }

    async fn txn_event(&self, key: &TxnKey) -> StorageResult<Option<OwnedEventId>> {
        self.shared.read(async |client| find_txn(client, key).await).await
    }

    async fn event(&self, event_id: &str) -> StorageResult<Option<StoredEvent>> {
        self.shared
            .read(async |client| {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1");
                let statement = client.prepare_cached(&sql).await?;
                let row = client.query_opt(&statement, &[&event_id]).await?;
                row.map(|row| event_row(&row, 0)).transpose()
            })
            .await
    }

    async fn current_state(&self, room_id: &RoomId) -> StorageResult<Option<Arc<StateMap>>> {
        self.shared.room_state(room_id).await
    }

    async fn events_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        if room_ids.is_empty() || until <= since {
            return Ok(Vec::new());
        }
        let rooms: Vec<&str> = room_ids.iter().map(|room| room.as_str()).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared
            .read(async |client| {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering > $1 AND stream_ordering <= $2
                     AND room_id = ANY($3) ORDER BY stream_ordering LIMIT $4"
                );
                let statement = client.prepare_cached(&sql).await?;
                event_rows(&client.query(&statement, &[&since, &until, &rooms, &limit]).await?)
            })
            .await
    }

    async fn room_events(
        &self,
        room_id: &RoomId,
        from: i64,
        backwards: bool,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        let sql = if backwards {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering <= $2
                 ORDER BY stream_ordering DESC LIMIT $3"
            )
        } else {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering > $2
                 ORDER BY stream_ordering ASC LIMIT $3"
            )
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared
            .read(async |client| {
                let statement = client.prepare_cached(&sql).await?;
                event_rows(&client.query(&statement, &[&room_id.as_str(), &from, &limit]).await?)
            })
            .await
    }

    async fn stream_positions(&self) -> StorageResult<StreamPositions> {
        self.shared.read(async |client| positions::persisted(client).await).await
    }

    async fn rooms_with_membership(&self, user_id: &UserId, membership: &str) -> StorageResult<Vec<OwnedRoomId>> {
        self.shared.read(async |client| rooms_with(client, user_id, membership).await).await
    }

    async fn create_alias(&self, alias: &str, room_id: &RoomId, creator: &UserId) -> StorageResult<bool> {
        self.shared
            .read(async |client| {
                let inserted = client
                    .execute(
                        "INSERT INTO aliases (alias, room_id, creator) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&alias, &room_id.as_str(), &creator.as_str()],
                    )
                    .await?;
                Ok(inserted == 1)
            })
            .await
    }

    async fn alias(&self, alias: &str) -> StorageResult<Option<(OwnedRoomId, OwnedUserId)>> {
        self.shared
            .read(async |client| {
                let row = client.query_opt("SELECT room_id, creator FROM aliases WHERE alias = $1", &[&alias]).await?;
                row.map(|row| Ok((room_id(row.try_get(0)?)?, user_id(row.try_get(1)?)?))).transpose()
            })
            .await
    }

    async fn delete_alias(&self, alias: &str) -> StorageResult<()> {
        self.shared
            .read(async |client| {
                client.execute("DELETE FROM aliases WHERE alias = $1", &[&alias]).await?;
                Ok(())
            })
            .await
    }

    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> StorageResult<()> {
        self.shared
            .read(async |client| {
                client
                    .execute("UPDATE rooms SET is_public = $2 WHERE room_id = $1", &[&room_id.as_str(), &public])
                    .await?;
                Ok(())
            })
            .await
    }

    async fn room_is_public(&self, room_id: &RoomId) -> StorageResult<bool> {
        self.shared
            .read(async |client| {
                let row =
                    client.query_opt("SELECT is_public FROM rooms WHERE room_id = $1", &[&room_id.as_str()]).await?;
                row.map(|row| row.try_get(0)).transpose().map(Option::unwrap_or_default).map_err(Into::into)
            })
            .await
    }

    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>> {
        self.shared
            .read(async |client| {
                let rows = client.query("SELECT room_id FROM rooms WHERE is_public ORDER BY room_id", &[]).await?;
                rows.iter().map(|row| room_id(row.try_get(0)?)).collect()
            })
            .await
    }

    async fn set_presence(&self, state: &UserPresenceState, also_wake: Vec<OwnedUserId>) -> StorageResult<i64> {
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let mut changes = Changes::new(shared.process);
        let outcome = writes::set_presence(shared, &mut client, state, also_wake, &mut changes).await;
        shared.finish(client, &outcome);
        if outcome.is_ok() {
            shared.publish_local(changes);
        }
        outcome
    }

    async fn presence(&self, user_id: &UserId) -> StorageResult<Option<PresenceRecord>> {
        self.shared
            .read(async |client| {
                let sql = format!("SELECT {PRESENCE_COLUMNS} FROM presence WHERE user_id = $1");
                let statement = client.prepare_cached(&sql).await?;
                let row = client.query_opt(&statement, &[&user_id.as_str()]).await?;
                row.map(|row| presence_row(&row)).transpose()
            })
            .await
    }

    async fn presence_between(&self, since: i64, until: i64) -> StorageResult<Vec<PresenceRecord>> {
        self.shared
            .read(async |client| {
                let sql = format!(
                    "SELECT {PRESENCE_COLUMNS} FROM presence WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id"
                );
                let statement = client.prepare_cached(&sql).await?;
                client.query(&statement, &[&since, &until]).await?.iter().map(presence_row).collect()
            })
            .await
    }

    async fn account_data(&self, user_id: &UserId, data_type: &str) -> StorageResult<Option<JsonObject>> {
        self.shared
            .read(async |client| {
                let statement =
                    client.prepare_cached("SELECT content FROM account_data WHERE user_id = $1 AND type = $2").await?;
                let row = client.query_opt(&statement, &[&user_id.as_str(), &data_type]).await?;
                let text: Option<String> = row.map(|row| row.try_get(0)).transpose()?;
                text.map(|text| serde_json::from_str(&text).map_err(rows::corrupt)).transpose()
            })
            .await
    }

    async fn set_account_data(&self, user_id: &UserId, data_type: &str, content: &JsonObject) -> StorageResult<()> {
        let text = serde_json::to_string(content).map_err(|error| StorageError::Corrupt(Box::new(error)))?;
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let mut changes = Changes::new(shared.process);
        let outcome = writes::set_account_data(&mut client, user_id, data_type, &text, &mut changes).await;
        shared.finish(client, &outcome);
        if outcome.is_ok() {
            shared.publish_local(changes);
        }
        outcome
    }

    async fn account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<(String, JsonObject)>> {
        self.shared
            .read(async |client| {
                let statement = client
                    .prepare_cached(
                        "SELECT type, content FROM account_data WHERE user_id = $1 AND stream_id > $2
                         AND stream_id <= $3 ORDER BY stream_id",
                    )
                    .await?;
                let rows = client.query(&statement, &[&user_id.as_str(), &since, &until]).await?;
                rows.iter()
                    .map(|row| {
                        let content: &str = row.try_get(1)?;
                        Ok((row.try_get(0)?, serde_json::from_str(content).map_err(rows::corrupt)?))
                    })
                    .collect()
            })
            .await
    }

    async fn create_media(&self, media: &MediaRecord, uploader: &UserId) -> StorageResult<()> {
        let size = i64::try_from(media.size).unwrap_or(i64::MAX);
        self.shared
            .read(async |client| {
                client
                    .execute(
                        "INSERT INTO media (media_id, content_type, upload_name, size, user_id)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[&media.media_id, &media.content_type, &media.upload_name, &size, &uploader.as_str()],
                    )
                    .await?;
                Ok(())
            })
            .await
    }

    async fn media(&self, media_id: &str) -> StorageResult<Option<MediaRecord>> {
        self.shared
            .read(async |client| {
                let row = client
                    .query_opt(
                        "SELECT media_id, content_type, upload_name, size FROM media WHERE media_id = $1",
                        &[&media_id],
                    )
                    .await?;
                row.map(|row| {
                    Ok(MediaRecord {
                        media_id: row.try_get(0)?,
                        content_type: row.try_get(1)?,
                        upload_name: row.try_get(2)?,
                        size: row.try_get::<_, i64>(3)? as u64,
                    })
                })
                .transpose()
            })
            .await
    }

    fn sync_waiter(&self, user_id: &UserId, all_presence: bool) -> SyncWaiter {
        self.shared.notifier.subscribe(user_id, all_presence)
    }

    fn wake_users(&self, user_ids: &[OwnedUserId]) {
        self.shared.notifier.wake(user_ids.iter().map(|user| user.as_str()));
    }

    async fn update_room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
        update: UpdateAccountData,
    ) -> StorageResult<Option<JsonObject>> {
        self.shared
            .write(async |client, changes| {
                client_data::update_room_account_data(client, changes, user_id, room_id, data_type, update).await
            })
            .await
    }

    async fn room_account_data(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        data_type: &str,
    ) -> StorageResult<Option<JsonObject>> {
        self.shared.read(async |client| client_data::room_account_data(client, user_id, room_id, data_type).await).await
    }

    async fn room_account_data_between(
        &self,
        user_id: &UserId,
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<RoomAccountData>> {
        self.shared
            .read(async |client| client_data::room_account_data_between(client, user_id, since, until).await)
            .await
    }

    async fn set_receipt(&self, receipt: Receipt) -> StorageResult<Option<i64>> {
        self.shared.write(async |client, changes| client_data::set_receipt(client, changes, &receipt).await).await
    }

    async fn receipts_between(
        &self,
        room_ids: &[OwnedRoomId],
        since: i64,
        until: i64,
    ) -> StorageResult<Vec<ReceiptRecord>> {
        if room_ids.is_empty() || until <= since {
            return Ok(Vec::new());
        }
        self.shared.read(async |client| client_data::receipts_between(client, room_ids, since, until).await).await
    }

    async fn read_up_to(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Option<i64>> {
        self.shared.read(async |client| client_data::read_up_to(client, user_id, room_id).await).await
    }

    async fn forget_room(&self, user_id: &UserId, room_id: &RoomId) -> StorageResult<Forget> {
        self.shared.write(async |client, _| client_data::forget_room(client, user_id, room_id).await).await
    }

    async fn state_at(&self, room_id: &RoomId, position: i64) -> StorageResult<Option<StateMap>> {
        if self.current_state(room_id).await?.is_none() {
            return Ok(None);
        }
        self.shared.read(async |client| client_data::state_at(client, room_id, position).await.map(Some)).await
    }

    async fn report_event(&self, report: EventReport) -> StorageResult<()> {
        self.shared.read(async |client| client_data::report_event(client, &report).await).await
    }

    async fn devices(&self, user_id: &UserId) -> StorageResult<Vec<Device>> {
        self.shared.read(async |client| client_data::devices(client, user_id).await).await
    }

    async fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StorageResult<bool> {
        self.shared
            .read(async |client| client_data::rename_device(client, user_id, device_id, display_name).await)
            .await
    }

    async fn delete_devices(&self, user_id: &UserId, device_ids: &[String]) -> StorageResult<Vec<(String, String)>> {
        self.shared.write(async |client, _| client_data::delete_devices(client, user_id, device_ids).await).await
    }

    async fn set_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        log_out: LogOut<'_>,
    ) -> StorageResult<Vec<(String, String)>> {
        self.shared
            .write(async |client, _| client_data::set_password(client, user_id, password_hash, log_out).await)
            .await
    }

    async fn push_rules(&self, user_id: &UserId) -> StorageResult<JsonObject> {
        self.shared.read(async |client| client_data::push_rules(client, user_id).await).await
    }

    async fn update_push_rules(&self, user_id: &UserId, edit: PushRulesEdit) -> StorageResult<Result<(), MatrixError>> {
        self.shared
            .write(async |client, changes| client_data::update_push_rules(client, changes, user_id, edit).await)
            .await
    }

    async fn unread_events(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        until: i64,
        limit: usize,
    ) -> StorageResult<Vec<StoredEvent>> {
        self.shared.read(async |client| client_data::unread_events(client, user_id, room_id, until, limit).await).await
    }

    async fn create_filter(&self, user_id: &UserId, filter: &str) -> Result<u64, FilterError> {
        self.shared.write(async |client, _| client_data::create_filter(client, user_id, filter).await).await
    }

    async fn filter(&self, user_id: &UserId, filter_id: u64) -> StorageResult<Option<String>> {
        self.shared.read(async |client| client_data::filter(client, user_id, filter_id).await).await
    }

    async fn set_admin(&self, user_id: &UserId, admin: bool) -> StorageResult<()> {
        self.shared.read(async |client| admin::set_admin(client, user_id, admin).await).await
    }

    async fn users_page(&self, query: &UserQuery) -> StorageResult<(Vec<(UserRecord, Profile)>, u64)> {
        // A read-only transaction (count and page from one snapshot) needs `&mut`.
        self.shared.write(async |client, _| admin::users_page(client, query).await).await
    }

    async fn set_room_blocked(&self, room_id: &RoomId, by: Option<&UserId>) -> StorageResult<()> {
        self.shared.read(async |client| admin::set_room_blocked(client, room_id, by).await).await
    }

    async fn room_blocked(&self, room_id: &RoomId) -> StorageResult<bool> {
        self.shared.read(async |client| admin::room_blocked(client, room_id).await).await
    }

    async fn threepids(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>> {
        self.shared.read(async |client| admin::threepids(client, user_id).await).await
    }

    async fn user_by_threepid(&self, medium: &str, address: &str) -> StorageResult<Option<OwnedUserId>> {
        self.shared.read(async |client| admin::user_by_threepid(client, medium, address).await).await
    }

    async fn log_out_everywhere(&self, user_id: &UserId) -> StorageResult<Vec<(String, String)>> {
        self.shared.write(async |client, _| client_data::log_out_everywhere(client, user_id).await).await
    }

    async fn users_after(&self, from: Option<&UserId>, limit: usize) -> StorageResult<Vec<UserRecord>> {
        self.shared.read(async |client| admin::users_after(client, from, limit).await).await
    }

    async fn add_threepid(&self, user_id: &UserId, medium: &str, address: &str, added_at: u64) -> StorageResult<bool> {
        self.shared.write(async |client, _| admin::add_threepid(client, user_id, medium, address, added_at).await).await
    }

    async fn remove_threepid(&self, user_id: &UserId, medium: &str, address: &str) -> StorageResult<()> {
        self.shared.read(async |client| admin::remove_threepid(client, user_id, medium, address).await).await
    }

    async fn start_threepid_validation(&self, request: ValidationRequest) -> StorageResult<ValidationStarted> {
        self.shared.write(async |client, _| threepid_validation::start(client, &request).await).await
    }

    async fn abandon_threepid_validation(&self, session_id: &str) -> StorageResult<()> {
        self.shared.read(async |client| threepid_validation::abandon(client, session_id).await).await
    }

    async fn validate_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
        token: &str,
        now: i64,
    ) -> StorageResult<Result<ValidatedThreepid, ValidationFailure>> {
        self.shared
            .write(async |client, _| threepid_validation::validate(client, session_id, client_secret, token, now).await)
            .await
    }

    async fn validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>> {
        self.shared.read(async |client| threepid_validation::validated(client, session_id, client_secret).await).await
    }

    async fn take_validated_threepid_session(
        &self,
        session_id: &str,
        client_secret: &str,
    ) -> StorageResult<Option<ValidatedThreepid>> {
        self.shared
            .write(async |client, _| threepid_validation::take_validated(client, session_id, client_secret).await)
            .await
    }

    async fn room_aliases(&self, room_id: &RoomId) -> StorageResult<Vec<String>> {
        self.shared.read(async |client| admin::room_aliases(client, room_id).await).await
    }

    async fn purge_room(&self, room_id: &RoomId) -> StorageResult<()> {
        self.shared.write(async |client, changes| admin::purge_room(client, changes, room_id).await).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::postgres::test_database::TestDatabase;

    /// A store on a fresh database, with the guard that drops it.
    async fn fresh() -> Option<(PostgresStorage, TestDatabase)> {
        let database = TestDatabase::create()?;
        let storage = PostgresStorage::connect(&database.settings).await.expect("the test database opens");
        Some((storage, database))
    }

    crate::storage_conformance_suite!(fresh_database = fresh);
}
