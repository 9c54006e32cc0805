//! Migration step: access tokens that an earlier version stored in plain text are
//! replaced by their stored form (SHA-256), so they keep working and no longer sit in the
//! file. Idempotent: rows already hashed are left alone.

use crate::access_token::{is_stored_form, stored_form};

/// Hashes every plain-text access token in `access_tokens`, inside the caller's transaction.
pub(crate) fn hash_plain_access_tokens(transaction: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let plain: Vec<String> = {
        let mut query = transaction
            .prepare("SELECT token FROM access_tokens WHERE length(token) != 64 OR token GLOB '*[^0-9a-f]*'")?;
        let rows = query.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if plain.is_empty() {
        return Ok(());
    }
    // Overwrite the old values' bytes instead of leaving them in free space (they reach
    // the main file at the next checkpoint; the connection's setting is restored).
    let secure_delete: i64 = transaction.query_row("PRAGMA secure_delete", [], |row| row.get(0))?;
    transaction.execute_batch("PRAGMA secure_delete = ON")?;
    let mut update = transaction.prepare("UPDATE access_tokens SET token = ?2 WHERE token = ?1")?;
    for token in plain.iter().filter(|token| !is_stored_form(token)) {
        update.execute([token.as_str(), stored_form(token).as_str()])?;
    }
    transaction.execute_batch(&format!("PRAGMA secure_delete = {secure_delete}"))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::storage::{
        sqlite::{migrations::MIGRATIONS, SqliteStorage},
        Storage,
    };

    #[tokio::test]
    async fn a_token_an_earlier_version_stored_in_plain_text_still_authenticates_after_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        let token = "mxt_issuedbyanearlierversion0000000";
        {
            // What the version before this step wrote: the token itself in `access_tokens`.
            let mut connection = Connection::open(&path).unwrap();
            connection.pragma_update(None, "journal_mode", "WAL").unwrap();
            for (index, step) in MIGRATIONS.iter().enumerate().take(3) {
                let transaction = connection.transaction().unwrap();
                (step.apply)(&transaction).unwrap();
                transaction.pragma_update(None, "user_version", index + 1).unwrap();
                transaction.commit().unwrap();
            }
            connection
                .execute_batch(&format!(
                    "INSERT INTO users (user_id, creation_ts) VALUES ('@alice:test.local', 0);
                     INSERT INTO access_tokens VALUES ('{token}', '@alice:test.local', 'OLD');"
                ))
                .unwrap();
        }
        let upgraded = SqliteStorage::open(&path).unwrap();
        let session = upgraded.session(&stored_form(token)).await.unwrap().expect("the old token still works");
        assert_eq!((session.user.user_id.as_str(), session.device_id.as_str()), ("@alice:test.local", "OLD"));
        assert!(upgraded.session(token).await.unwrap().is_none(), "the plain token is gone from the database");
        drop(upgraded);
        let files: Vec<u8> = ["homeserver.db", "homeserver.db-wal"]
            .iter()
            .flat_map(|name| std::fs::read(dir.path().join(name)).unwrap_or_default())
            .collect();
        assert!(!files.is_empty());
        let plain_left = files.windows(token.len()).any(|window| window == token.as_bytes());
        assert!(!plain_left, "the plain token's bytes are overwritten, not left in free pages");
    }

    #[test]
    fn plain_tokens_are_hashed_once_and_hashed_ones_kept() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE access_tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL);
                 INSERT INTO access_tokens VALUES ('mxt_old', '@a:x', 'D1');",
            )
            .unwrap();
        let already = stored_form("mxt_new");
        connection.execute("INSERT INTO access_tokens VALUES (?1, '@b:x', 'D2')", [&already]).unwrap();
        for _ in 0..2 {
            let transaction = connection.transaction().unwrap();
            hash_plain_access_tokens(&transaction).unwrap();
            transaction.commit().unwrap();
        }
        let mut rows: Vec<(String, String)> = connection
            .prepare("SELECT token, user_id FROM access_tokens ORDER BY user_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        let mut expected = vec![(stored_form("mxt_old"), "@a:x".to_owned()), (already, "@b:x".to_owned())];
        expected.sort();
        assert_eq!(rows, expected);
    }
}
