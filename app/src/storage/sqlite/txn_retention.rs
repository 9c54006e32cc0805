//! How long transaction ids are remembered: a retry of a send within
//! [`TXN_RETENTION`] of the first answers the first event (Synapse keeps them a day
//! too). Older ones are deleted by the writer, a bounded chunk per batch, so the table
//! stays bounded without a long delete ever holding up writes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};

/// How long a transaction id answers its first event.
pub(super) const TXN_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How often expired transaction ids are looked for.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Most rows one batch deletes.
const CHUNK: usize = 1_000;

/// Deletes up to one chunk of transaction ids older than [`TXN_RETENTION`] as of
/// `now`; returns whether more may remain.
pub(super) fn prune_expired_txns(connection: &Connection, now: SystemTime) -> rusqlite::Result<bool> {
    let cutoff = now.checked_sub(TXN_RETENTION).unwrap_or(UNIX_EPOCH);
    let cutoff_ms = cutoff.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    // Rows are inserted in time order, so the oldest are found first in rowid order.
    let deleted = connection
        .prepare_cached(
            "DELETE FROM event_txns WHERE rowid IN
               (SELECT rowid FROM event_txns WHERE created_ts < ?1 ORDER BY rowid LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, CHUNK as i64])?;
    Ok(deleted == CHUNK)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use rusqlite::{params, Connection};

    use super::{prune_expired_txns, CHUNK, TXN_RETENTION};

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE event_txns (
                    user_id TEXT NOT NULL, client TEXT NOT NULL, path TEXT NOT NULL, event_id TEXT NOT NULL,
                    created_ts INTEGER NOT NULL, PRIMARY KEY (user_id, client, path));",
            )
            .unwrap();
        connection
    }

    fn insert(connection: &Connection, path: &str, at: SystemTime) {
        let ms = at.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        connection
            .execute("INSERT INTO event_txns VALUES ('@a:x', 'device:D', ?1, '$e', ?2)", params![path, ms])
            .unwrap();
    }

    fn paths(connection: &Connection) -> Vec<String> {
        let mut statement = connection.prepare("SELECT path FROM event_txns ORDER BY rowid").unwrap();
        statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn ids_older_than_a_day_go_and_younger_ones_stay() {
        let connection = table();
        let now = SystemTime::now();
        insert(&connection, "/old", now - TXN_RETENTION - Duration::from_secs(1));
        insert(&connection, "/hour", now - Duration::from_secs(3600));
        insert(&connection, "/new", now);
        assert!(!prune_expired_txns(&connection, now).unwrap());
        assert_eq!(paths(&connection), ["/hour", "/new"]);
    }

    #[test]
    fn a_backlog_is_deleted_a_chunk_at_a_time() {
        let connection = table();
        let old = SystemTime::now() - TXN_RETENTION * 2;
        for n in 0..CHUNK + 5 {
            insert(&connection, &format!("/{n}"), old);
        }
        assert!(prune_expired_txns(&connection, SystemTime::now()).unwrap(), "more remain");
        assert_eq!(paths(&connection).len(), 5);
        assert!(!prune_expired_txns(&connection, SystemTime::now()).unwrap());
        assert!(paths(&connection).is_empty());
    }
}
