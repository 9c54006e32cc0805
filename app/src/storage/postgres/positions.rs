//! Stream positions from database sequences, ordered across processes, and the position
//! every writer has persisted up to (Synapse's `MultiWriterIdGenerator` idea).
//!
//! Sequence values are handed out in order but commit out of order: position 7 may be
//! visible while 6 is still being written. A `/sync` token must never pass a position
//! whose write is not finished, or that event would be skipped for good. So a writer,
//! inside its transaction, draws its position and at once takes a transaction-level
//! advisory lock keyed by it, `(stream class, position)`: the lock marks the position
//! *in flight* until the transaction commits or rolls back (PostgreSQL releases it after
//! the commit is visible, and when a crashed process's connection drops). Drawing and
//! locking run under a shared session lock (the allocation guard); a reader takes that
//! guard exclusively for the moment it reads the sequence and the in-flight locks, so it
//! never sees a position drawn but not yet locked. The persisted position of a stream is
//! then `min(in flight) - 1`, or the sequence's last value when nothing is in flight:
//! every position at or below it is committed or abandoned, on every process.
//!
//! Positions are locked as `int4`: a stream holds at most 2^31 - 1 positions (a write
//! past that fails instead of being mis-ordered).

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::storage::{StorageError, StreamPositions};

/// The advisory-lock key of the allocation guard (`'mxmd'`, 0).
const GUARD: (i32, i32) = (0x6d78_6d64, 0);

/// A stream whose positions come from a sequence.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stream {
    /// Events (`events.stream_ordering`).
    Events,
    /// Presence (`presence.stream_id`).
    Presence,
    /// Global and room account data (`account_data.stream_id`, `room_account_data.stream_id`).
    AccountData,
    /// Read receipts (`receipts.stream_id`).
    Receipts,
}

impl Stream {
    const ALL: [Self; 4] = [Self::Events, Self::Presence, Self::AccountData, Self::Receipts];

    fn sequence(self) -> &'static str {
        match self {
            Self::Events => "events_stream",
            Self::Presence => "presence_stream",
            Self::AccountData => "account_data_stream",
            Self::Receipts => "receipts_stream",
        }
    }

    /// The first key of this stream's in-flight locks.
    fn lock_class(self) -> i32 {
        match self {
            Self::Events => 1,
            Self::Presence => 2,
            Self::AccountData => 3,
            Self::Receipts => 4,
        }
    }
}

/// Why a simple query's answer did not have the expected shape.
#[derive(Debug, thiserror::Error)]
#[error("unexpected answer from the database: {0}")]
struct Unexpected(&'static str);

fn values(messages: &[SimpleQueryMessage]) -> impl Iterator<Item = Option<&str>> {
    messages.iter().filter_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some(row.get(0)),
        _ => None,
    })
}

/// Draws the next position of `stream` inside the caller's open transaction and marks it
/// in flight until that transaction ends. On an error the connection may still hold the
/// allocation guard: the caller must discard it (closing it releases every lock).
pub(super) async fn allocate(client: &tokio_postgres::Transaction<'_>, stream: Stream) -> Result<i64, StorageError> {
    let (guard_class, guard_key) = GUARD;
    let sql = format!(
        "SELECT pg_advisory_lock_shared({guard_class}, {guard_key});
         SELECT position, pg_advisory_xact_lock({class}, position::int4)
             FROM (SELECT nextval('{sequence}') AS position OFFSET 0) drawn;
         SELECT pg_advisory_unlock_shared({guard_class}, {guard_key});",
        sequence = stream.sequence(),
        class = stream.lock_class(),
    );
    let messages = client.simple_query(&sql).await?;
    let position = values(&messages).nth(1).flatten().ok_or(Unexpected("no position drawn"));
    let position = position.map_err(|error| StorageError::Database(Box::new(error)))?;
    position.parse().map_err(|error| StorageError::Database(Box::new(error)))
}

/// The persisted position of every stream: no position at or below it is still being
/// written by any process. Runs outside a transaction; on an error the caller discards
/// the connection (it may hold the guard).
pub(super) async fn persisted(client: &Client) -> Result<StreamPositions, StorageError> {
    let (guard_class, guard_key) = GUARD;
    let mut sql = format!("SELECT pg_advisory_lock({guard_class}, {guard_key});");
    for stream in Stream::ALL {
        let (sequence, class) = (stream.sequence(), stream.lock_class());
        sql.push_str(&format!(
            "SELECT least(
                (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}),
                (SELECT min(objid::int8) - 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = {class}
                    AND objsubid = 2 AND granted
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())));"
        ));
    }
    sql.push_str(&format!("SELECT pg_advisory_unlock({guard_class}, {guard_key});"));
    let messages = client.simple_query(&sql).await?;
    let mut read = values(&messages).skip(1).take(Stream::ALL.len()).map(|value| {
        value
            .ok_or(Unexpected("no position"))
            .map_err(|error| StorageError::Database(Box::new(error)))?
            .parse::<i64>()
            .map_err(|error| StorageError::Database(Box::new(error)))
    });
    let mut next = || read.next().unwrap_or_else(|| Err(StorageError::Database(Box::new(Unexpected("too few rows")))));
    Ok(StreamPositions { events: next()?, presence: next()?, account_data: next()?, receipts: next()? })
}
