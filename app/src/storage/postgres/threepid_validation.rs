//! Email validation sessions on PostgreSQL (Synapse's `threepid_validation_session` and
//! `threepid_validation_token`, one row per session holding its latest token). Each
//! function is one transaction.

use deadpool_postgres::Object;

use crate::storage::{StorageResult, ValidatedThreepid, ValidationFailure, ValidationRequest, ValidationStarted};

/// `Storage::start_threepid_validation`. Two requests racing to open the same session
/// meet at the unique index: the loser answers the winner's session without a mail.
pub(super) async fn start(client: &mut Object, request: &ValidationRequest) -> StorageResult<ValidationStarted> {
    let transaction = client.transaction().await?;
    transaction
        .execute(
            "DELETE FROM threepid_validation_sessions WHERE validated_at IS NULL AND token_expires < $1",
            &[&request.now],
        )
        .await?;
    let existing = transaction
        .query_opt(
            "SELECT session_id, last_send_attempt FROM threepid_validation_sessions
             WHERE medium = $1 AND client_secret = $2 AND address = $3 AND validated_at IS NULL FOR UPDATE",
            &[&request.medium, &request.client_secret, &request.address],
        )
        .await?;
    let started = match existing {
        Some(row) => {
            let (session_id, last): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            if request.send_attempt <= last {
                ValidationStarted { session_id, send: false }
            } else {
                transaction
                    .execute(
                        "UPDATE threepid_validation_sessions
                         SET last_send_attempt = $2, token = $3, token_expires = $4, next_link = $5
                         WHERE session_id = $1",
                        &[
                            &session_id,
                            &request.send_attempt,
                            &request.token,
                            &request.token_expires,
                            &request.next_link,
                        ],
                    )
                    .await?;
                ValidationStarted { session_id, send: true }
            }
        }
        None => {
            let inserted = transaction
                .execute(
                    "INSERT INTO threepid_validation_sessions
                     (session_id, medium, address, client_secret, last_send_attempt, token, token_expires, next_link)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    &[
                        &request.session_id,
                        &request.medium,
                        &request.address,
                        &request.client_secret,
                        &request.send_attempt,
                        &request.token,
                        &request.token_expires,
                        &request.next_link,
                    ],
                )
                .await?;
            if inserted == 1 {
                ValidationStarted { session_id: request.session_id.clone(), send: true }
            } else {
                let row = transaction
                    .query_one(
                        "SELECT session_id FROM threepid_validation_sessions
                         WHERE medium = $1 AND client_secret = $2 AND address = $3 AND validated_at IS NULL",
                        &[&request.medium, &request.client_secret, &request.address],
                    )
                    .await?;
                ValidationStarted { session_id: row.try_get(0)?, send: false }
            }
        }
    };
    transaction.commit().await?;
    Ok(started)
}

/// `Storage::abandon_threepid_validation`.
pub(super) async fn abandon(client: &Object, session_id: &str) -> StorageResult<()> {
    client.execute("DELETE FROM threepid_validation_sessions WHERE session_id = $1", &[&session_id]).await?;
    Ok(())
}

/// A validated session from a row of `medium, address, validated_at, next_link`.
fn validated_row(row: &tokio_postgres::Row) -> StorageResult<ValidatedThreepid> {
    Ok(ValidatedThreepid {
        medium: row.try_get(0)?,
        address: row.try_get(1)?,
        validated_at: row.try_get(2)?,
        next_link: row.try_get(3)?,
    })
}

/// `Storage::validated_threepid_session`.
pub(super) async fn validated(
    client: &Object,
    session_id: &str,
    client_secret: &str,
) -> StorageResult<Option<ValidatedThreepid>> {
    let row = client
        .query_opt(
            "SELECT medium, address, validated_at, next_link FROM threepid_validation_sessions
             WHERE session_id = $1 AND client_secret = $2 AND validated_at IS NOT NULL",
            &[&session_id, &client_secret],
        )
        .await?;
    row.as_ref().map(validated_row).transpose()
}

/// `Storage::take_validated_threepid_session`.
pub(super) async fn take_validated(
    client: &Object,
    session_id: &str,
    client_secret: &str,
) -> StorageResult<Option<ValidatedThreepid>> {
    let row = client
        .query_opt(
            "DELETE FROM threepid_validation_sessions
             WHERE session_id = $1 AND client_secret = $2 AND validated_at IS NOT NULL
             RETURNING medium, address, validated_at, next_link",
            &[&session_id, &client_secret],
        )
        .await?;
    row.as_ref().map(validated_row).transpose()
}

/// `Storage::validate_threepid_session`.
pub(super) async fn validate(
    client: &mut Object,
    session_id: &str,
    client_secret: &str,
    token: &str,
    now: i64,
) -> StorageResult<Result<ValidatedThreepid, ValidationFailure>> {
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            "SELECT medium, address, validated_at, token, token_expires, next_link FROM threepid_validation_sessions
             WHERE session_id = $1 AND client_secret = $2 FOR UPDATE",
            &[&session_id, &client_secret],
        )
        .await?;
    let Some(row) = row else { return Ok(Err(ValidationFailure::UnknownSession)) };
    let (medium, address, next_link): (String, String, Option<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(5)?);
    let (validated_at, stored_token, token_expires): (Option<i64>, String, i64) =
        (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
    let outcome = match crate::storage::check_validation_token(validated_at, &stored_token, token_expires, token, now) {
        Ok(Some(validated_at)) => Ok(ValidatedThreepid { medium, address, validated_at, next_link }),
        Ok(None) => {
            transaction
                .execute(
                    "UPDATE threepid_validation_sessions SET validated_at = $2 WHERE session_id = $1",
                    &[&session_id, &now],
                )
                .await?;
            Ok(ValidatedThreepid { medium, address, validated_at: now, next_link })
        }
        Err(failure) => Err(failure),
    };
    transaction.commit().await?;
    Ok(outcome)
}
