//! The `account_validity` tables in the server's database (through [`ModuleDb`], so on
//! SQLite and PostgreSQL alike): each user's expiration time, renewal token and notice
//! state (the original's `email_account_validity` table), and the email addresses
//! notices go to. The table names are those of the module's own SQLite file of earlier
//! mxmod versions, so its rows are imported on first start.

use mxmod::db::{DbError, Migration, ModuleDb, Value};
use tokio::sync::OnceCell;

const MIGRATIONS: &[Migration] = &[Migration::new(
    1,
    "
CREATE TABLE IF NOT EXISTS {email_account_validity} (
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
CREATE UNIQUE INDEX IF NOT EXISTS {long_renewal_token_idx} ON {email_account_validity} (long_renewal_token);
CREATE TABLE IF NOT EXISTS {email_account_validity_addresses} (
    user_id TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
);
",
)];

/// What a renewal token points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TokenOwner {
    pub(super) user_id: String,
    pub(super) expiration_ts: i64,
    pub(super) used_ts: Option<i64>,
}

/// Typed access to the tables; the migrations run before the first statement.
pub(super) struct Store {
    db: ModuleDb,
    schema: OnceCell<()>,
}

impl Store {
    pub(super) fn new(db: ModuleDb) -> Self {
        Self { db, schema: OnceCell::new() }
    }

    /// The handle, once the schema is in place (and an old file imported).
    pub(super) async fn db(&self) -> Result<&ModuleDb, DbError> {
        self.schema.get_or_try_init(|| self.db.migrate(MIGRATIONS)).await?;
        Ok(&self.db)
    }

    /// The user's expiration time, if the user is tracked.
    pub(super) async fn expiration_ts(&self, user_id: &str) -> Result<Option<i64>, DbError> {
        let sql = "SELECT expiration_ts_ms FROM {email_account_validity} WHERE user_id = $1";
        self.db().await?.query_optional(sql, &[user_id.into()]).await?.map(|row| row.get(0)).transpose()
    }

    /// Starts tracking a user with this expiration time unless already tracked; the
    /// stored expiration time.
    pub(super) async fn insert_if_absent(&self, user_id: &str, expiration_ts: i64) -> Result<i64, DbError> {
        let db = self.db().await?;
        db.execute(
            "INSERT INTO {email_account_validity} (user_id, expiration_ts_ms, email_sent) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO NOTHING",
            &[user_id.into(), expiration_ts.into(), false.into()],
        )
        .await?;
        db.query_one("SELECT expiration_ts_ms FROM {email_account_validity} WHERE user_id = $1", &[user_id.into()])
            .await?
            .get(0)
    }

    /// Sets a user's expiration time and clears the notice flag, keeping any token
    /// (registration).
    pub(super) async fn set_expiration_date(&self, user_id: &str, expiration_ts: i64) -> Result<(), DbError> {
        self.db()
            .await?
            .execute(
                "INSERT INTO {email_account_validity} (user_id, expiration_ts_ms, email_sent) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE
                 SET expiration_ts_ms = excluded.expiration_ts_ms, email_sent = excluded.email_sent",
                &[user_id.into(), expiration_ts.into(), false.into()],
            )
            .await
            .map(drop)
    }

    /// Replaces a user's whole validity state (renewals and the admin resource).
    pub(super) async fn set_account_validity(
        &self,
        user_id: &str,
        expiration_ts: i64,
        email_sent: bool,
        renewal_token: Option<String>,
        token_used_ts: Option<i64>,
    ) -> Result<(), DbError> {
        self.db()
            .await?
            .execute(
                "INSERT INTO {email_account_validity}
                     (user_id, expiration_ts_ms, email_sent, long_renewal_token, token_used_ts_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id) DO UPDATE
                 SET expiration_ts_ms = excluded.expiration_ts_ms,
                     email_sent = excluded.email_sent,
                     long_renewal_token = excluded.long_renewal_token,
                     token_used_ts_ms = excluded.token_used_ts_ms",
                &[user_id.into(), expiration_ts.into(), email_sent.into(), renewal_token.into(), token_used_ts.into()],
            )
            .await
            .map(drop)
    }

    /// Users not yet notified whose account expires within `renew_at` of `now`
    /// (already expired ones included), with their expiration times.
    pub(super) async fn users_expiring_soon(&self, now: i64, renew_at: i64) -> Result<Vec<(String, i64)>, DbError> {
        let rows = self
            .db()
            .await?
            .query(
                "SELECT user_id, expiration_ts_ms FROM {email_account_validity}
                 WHERE email_sent = $1 AND expiration_ts_ms <= $2 ORDER BY user_id",
                &[false.into(), now.saturating_add(renew_at).into()],
            )
            .await?;
        rows.iter().map(|row| Ok((row.get(0)?, row.get(1)?))).collect()
    }

    /// Stores a new renewal token for a tracked user and marks it unused. `Ok(false)` if
    /// the user is not tracked; [`DbError::Constraint`] if the token is already taken.
    pub(super) async fn set_renewal_token(&self, user_id: &str, token: &str) -> Result<bool, DbError> {
        let updated = self
            .db()
            .await?
            .execute(
                "UPDATE {email_account_validity} SET long_renewal_token = $1, token_used_ts_ms = NULL WHERE user_id = $2",
                &[token.into(), user_id.into()],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Who a renewal token belongs to.
    pub(super) async fn token_owner(&self, token: &str) -> Result<Option<TokenOwner>, DbError> {
        let row = self
            .db()
            .await?
            .query_optional(
                "SELECT user_id, expiration_ts_ms, token_used_ts_ms FROM {email_account_validity}
                 WHERE long_renewal_token = $1",
                &[token.into()],
            )
            .await?;
        row.map(|row| Ok(TokenOwner { user_id: row.get(0)?, expiration_ts: row.get(1)?, used_ts: row.get(2)? }))
            .transpose()
    }

    /// Sets or clears the "notice sent" flag.
    pub(super) async fn set_email_sent(&self, user_id: &str, email_sent: bool) -> Result<(), DbError> {
        self.db()
            .await?
            .execute(
                "UPDATE {email_account_validity} SET email_sent = $1 WHERE user_id = $2",
                &[email_sent.into(), user_id.into()],
            )
            .await
            .map(drop)
    }

    /// Whether a notice went out for the user's current period (`None`: not tracked).
    pub(super) async fn email_sent(&self, user_id: &str) -> Result<Option<bool>, DbError> {
        let sql = "SELECT email_sent FROM {email_account_validity} WHERE user_id = $1";
        self.db().await?.query_optional(sql, &[user_id.into()]).await?.map(|row| row.get(0)).transpose()
    }

    /// The addresses renewal notices for the user go to, sorted.
    pub(super) async fn addresses(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        let rows = self
            .db()
            .await?
            .query(
                "SELECT address FROM {email_account_validity_addresses} WHERE user_id = $1 ORDER BY address",
                &[user_id.into()],
            )
            .await?;
        rows.iter().map(|row| row.get(0)).collect()
    }

    /// Adds an address.
    pub(super) async fn add_address(&self, user_id: &str, address: &str) -> Result<(), DbError> {
        self.db()
            .await?
            .execute(
                "INSERT INTO {email_account_validity_addresses} (user_id, address) VALUES ($1, $2)
                 ON CONFLICT (user_id, address) DO NOTHING",
                &[user_id.into(), address.into()],
            )
            .await
            .map(drop)
    }

    /// Removes an address.
    pub(super) async fn remove_address(&self, user_id: &str, address: &str) -> Result<(), DbError> {
        self.db()
            .await?
            .execute(
                "DELETE FROM {email_account_validity_addresses} WHERE user_id = $1 AND address = $2",
                &[user_id.into(), address.into()],
            )
            .await
            .map(drop)
    }

    /// Replaces all of a user's addresses, in one transaction.
    pub(super) async fn set_addresses(&self, user_id: &str, addresses: Vec<String>) -> Result<(), DbError> {
        let user_id = Value::from(user_id);
        self.db()
            .await?
            .transaction(move |tx| {
                let (user_id, addresses) = (user_id.clone(), addresses.clone());
                Box::pin(async move {
                    tx.execute(
                        "DELETE FROM {email_account_validity_addresses} WHERE user_id = $1",
                        std::slice::from_ref(&user_id),
                    )
                    .await?;
                    for address in addresses {
                        tx.execute(
                            "INSERT INTO {email_account_validity_addresses} (user_id, address) VALUES ($1, $2)
                             ON CONFLICT (user_id, address) DO NOTHING",
                            &[user_id.clone(), address.into()],
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
    }
}
