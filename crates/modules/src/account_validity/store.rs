//! The `account_validity` tables in the module's own SQLite database: each user's
//! expiration time, renewal token and notice state (the original's
//! `email_account_validity` table), and the email addresses notices go to.

use mxmod::api::{
    rusqlite::{self, params, OptionalExtension},
    DatabaseError, ModuleDatabase,
};
use tokio::sync::OnceCell;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS email_account_validity (
    user_id TEXT PRIMARY KEY,
    -- When the account expires, in milliseconds since the epoch.
    expiration_ts_ms BIGINT NOT NULL,
    -- Whether a renewal notice went out for the current validity period.
    email_sent BOOLEAN NOT NULL,
    -- The token of the latest renewal link; unique in the whole table.
    long_renewal_token TEXT,
    -- When that token was used, or NULL if it was not yet.
    token_used_ts_ms BIGINT
);
CREATE UNIQUE INDEX IF NOT EXISTS long_renewal_token_idx ON email_account_validity (long_renewal_token);
CREATE TABLE IF NOT EXISTS email_account_validity_addresses (
    user_id TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
);
";

/// What a renewal token points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TokenOwner {
    pub(super) user_id: String,
    pub(super) expiration_ts: i64,
    pub(super) used_ts: Option<i64>,
}

/// Typed access to the tables; the schema is created on first use.
pub(super) struct Store {
    db: ModuleDatabase,
    schema: OnceCell<()>,
}

impl Store {
    pub(super) fn new(db: ModuleDatabase) -> Self {
        Self { db, schema: OnceCell::new() }
    }

    /// Runs `work` once the schema exists.
    async fn run<T, F>(&self, work: F) -> Result<T, DatabaseError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.schema.get_or_try_init(|| self.db.run(|connection| connection.execute_batch(SCHEMA))).await?;
        self.db.run(work).await
    }

    /// The user's expiration time, if the user is tracked.
    pub(super) async fn expiration_ts(&self, user_id: &str) -> Result<Option<i64>, DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.query_row("SELECT expiration_ts_ms FROM email_account_validity WHERE user_id = ?", [user_id], |row| {
                row.get(0)
            })
            .optional()
        })
        .await
    }

    /// Starts tracking a user with this expiration time unless already tracked; the
    /// stored expiration time.
    pub(super) async fn insert_if_absent(&self, user_id: &str, expiration_ts: i64) -> Result<i64, DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO email_account_validity (user_id, expiration_ts_ms, email_sent) VALUES (?, ?, ?)",
                params![user_id, expiration_ts, false],
            )?;
            c.query_row("SELECT expiration_ts_ms FROM email_account_validity WHERE user_id = ?", [user_id], |row| {
                row.get(0)
            })
        })
        .await
    }

    /// Sets a user's expiration time and clears the notice flag, keeping any token
    /// (registration).
    pub(super) async fn set_expiration_date(&self, user_id: &str, expiration_ts: i64) -> Result<(), DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO email_account_validity (user_id, expiration_ts_ms, email_sent) VALUES (?, ?, ?)
                 ON CONFLICT (user_id) DO UPDATE
                 SET expiration_ts_ms = excluded.expiration_ts_ms, email_sent = excluded.email_sent",
                params![user_id, expiration_ts, false],
            )
            .map(drop)
        })
        .await
    }

    /// Replaces a user's whole validity state (renewals and the admin resource).
    pub(super) async fn set_account_validity(
        &self,
        user_id: &str,
        expiration_ts: i64,
        email_sent: bool,
        renewal_token: Option<String>,
        token_used_ts: Option<i64>,
    ) -> Result<(), DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO email_account_validity
                     (user_id, expiration_ts_ms, email_sent, long_renewal_token, token_used_ts_ms)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (user_id) DO UPDATE
                 SET expiration_ts_ms = excluded.expiration_ts_ms,
                     email_sent = excluded.email_sent,
                     long_renewal_token = excluded.long_renewal_token,
                     token_used_ts_ms = excluded.token_used_ts_ms",
                params![user_id, expiration_ts, email_sent, renewal_token, token_used_ts],
            )
            .map(drop)
        })
        .await
    }

    /// Users not yet notified whose account expires within `renew_at` of `now`
    /// (already expired ones included), with their expiration times.
    pub(super) async fn users_expiring_soon(
        &self,
        now: i64,
        renew_at: i64,
    ) -> Result<Vec<(String, i64)>, DatabaseError> {
        self.run(move |c| {
            let mut statement = c.prepare(
                "SELECT user_id, expiration_ts_ms FROM email_account_validity
                 WHERE email_sent = ? AND (expiration_ts_ms - ?) <= ? ORDER BY user_id",
            )?;
            let rows = statement.query_map(params![false, now, renew_at], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// Stores a new renewal token for a tracked user and marks it unused. `Ok(false)` if
    /// the user is not tracked; an error if the token is already taken.
    pub(super) async fn set_renewal_token(&self, user_id: &str, token: &str) -> Result<bool, DatabaseError> {
        let (user_id, token) = (user_id.to_owned(), token.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE email_account_validity SET long_renewal_token = ?, token_used_ts_ms = NULL WHERE user_id = ?",
                params![token, user_id],
            )
            .map(|updated| updated == 1)
        })
        .await
    }

    /// Who a renewal token belongs to.
    pub(super) async fn token_owner(&self, token: &str) -> Result<Option<TokenOwner>, DatabaseError> {
        let token = token.to_owned();
        self.run(move |c| {
            c.query_row(
                "SELECT user_id, expiration_ts_ms, token_used_ts_ms FROM email_account_validity
                 WHERE long_renewal_token = ?",
                [token],
                |row| Ok(TokenOwner { user_id: row.get(0)?, expiration_ts: row.get(1)?, used_ts: row.get(2)? }),
            )
            .optional()
        })
        .await
    }

    /// Sets or clears the "notice sent" flag.
    pub(super) async fn set_email_sent(&self, user_id: &str, email_sent: bool) -> Result<(), DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE email_account_validity SET email_sent = ? WHERE user_id = ?",
                params![email_sent, user_id],
            )
            .map(drop)
        })
        .await
    }

    /// Whether a notice went out for the user's current period (`None`: not tracked).
    pub(super) async fn email_sent(&self, user_id: &str) -> Result<Option<bool>, DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            c.query_row("SELECT email_sent FROM email_account_validity WHERE user_id = ?", [user_id], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// The addresses renewal notices for the user go to, sorted.
    pub(super) async fn addresses(&self, user_id: &str) -> Result<Vec<String>, DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            let mut statement =
                c.prepare("SELECT address FROM email_account_validity_addresses WHERE user_id = ? ORDER BY address")?;
            let rows = statement.query_map([user_id], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Adds an address.
    pub(super) async fn add_address(&self, user_id: &str, address: &str) -> Result<(), DatabaseError> {
        let (user_id, address) = (user_id.to_owned(), address.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO email_account_validity_addresses (user_id, address) VALUES (?, ?)",
                params![user_id, address],
            )
            .map(drop)
        })
        .await
    }

    /// Removes an address.
    pub(super) async fn remove_address(&self, user_id: &str, address: &str) -> Result<(), DatabaseError> {
        let (user_id, address) = (user_id.to_owned(), address.to_owned());
        self.run(move |c| {
            c.execute(
                "DELETE FROM email_account_validity_addresses WHERE user_id = ? AND address = ?",
                params![user_id, address],
            )
            .map(drop)
        })
        .await
    }

    /// Replaces all of a user's addresses.
    pub(super) async fn set_addresses(&self, user_id: &str, addresses: Vec<String>) -> Result<(), DatabaseError> {
        let user_id = user_id.to_owned();
        self.run(move |c| {
            let transaction = c.transaction()?;
            transaction.execute("DELETE FROM email_account_validity_addresses WHERE user_id = ?", [&user_id])?;
            for address in addresses {
                transaction.execute(
                    "INSERT OR IGNORE INTO email_account_validity_addresses (user_id, address) VALUES (?, ?)",
                    params![user_id, address],
                )?;
            }
            transaction.commit()
        })
        .await
    }
}
