//! Email validation sessions on SQLite (Synapse's `threepid_validation_session` and
//! `threepid_validation_token`, one row per session holding its latest token). Each
//! function runs inside one write of the batch writer.

use rusqlite::{params, Connection, OptionalExtension};

use crate::storage::{ValidatedThreepid, ValidationFailure, ValidationRequest, ValidationStarted};

/// `Storage::start_threepid_validation`.
pub(super) fn start(c: &Connection, request: &ValidationRequest) -> rusqlite::Result<ValidationStarted> {
    c.prepare_cached("DELETE FROM threepid_validation_sessions WHERE validated_at IS NULL AND token_expires < ?1")?
        .execute([request.now])?;
    let existing: Option<(String, i64)> = c
        .prepare_cached(
            "SELECT session_id, last_send_attempt FROM threepid_validation_sessions
             WHERE medium = ?1 AND client_secret = ?2 AND address = ?3 AND validated_at IS NULL",
        )?
        .query_row(params![request.medium, request.client_secret, request.address], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match existing {
        Some((session_id, last)) if request.send_attempt <= last => Ok(ValidationStarted { session_id, send: false }),
        Some((session_id, _)) => {
            c.prepare_cached(
                "UPDATE threepid_validation_sessions
                 SET last_send_attempt = ?2, token = ?3, token_expires = ?4, next_link = ?5 WHERE session_id = ?1",
            )?
            .execute(params![
                session_id,
                request.send_attempt,
                request.token,
                request.token_expires,
                request.next_link
            ])?;
            Ok(ValidationStarted { session_id, send: true })
        }
        None => {
            c.prepare_cached(
                "INSERT INTO threepid_validation_sessions
                 (session_id, medium, address, client_secret, last_send_attempt, token, token_expires, next_link)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                request.session_id,
                request.medium,
                request.address,
                request.client_secret,
                request.send_attempt,
                request.token,
                request.token_expires,
                request.next_link
            ])?;
            Ok(ValidationStarted { session_id: request.session_id.clone(), send: true })
        }
    }
}

/// `Storage::abandon_threepid_validation`.
pub(super) fn abandon(c: &Connection, session_id: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM threepid_validation_sessions WHERE session_id = ?1")?.execute([session_id]).map(drop)
}

/// A validated session from a row of `medium, address, validated_at, next_link`.
fn validated_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ValidatedThreepid> {
    Ok(ValidatedThreepid {
        medium: row.get(0)?,
        address: row.get(1)?,
        validated_at: row.get(2)?,
        next_link: row.get(3)?,
    })
}

/// `Storage::validated_threepid_session`.
pub(super) fn validated(
    c: &Connection,
    session_id: &str,
    client_secret: &str,
) -> rusqlite::Result<Option<ValidatedThreepid>> {
    c.prepare_cached(
        "SELECT medium, address, validated_at, next_link FROM threepid_validation_sessions
         WHERE session_id = ?1 AND client_secret = ?2 AND validated_at IS NOT NULL",
    )?
    .query_row(params![session_id, client_secret], validated_row)
    .optional()
}

/// `Storage::take_validated_threepid_session`.
pub(super) fn take_validated(
    c: &Connection,
    session_id: &str,
    client_secret: &str,
) -> rusqlite::Result<Option<ValidatedThreepid>> {
    c.prepare_cached(
        "DELETE FROM threepid_validation_sessions
         WHERE session_id = ?1 AND client_secret = ?2 AND validated_at IS NOT NULL
         RETURNING medium, address, validated_at, next_link",
    )?
    .query_row(params![session_id, client_secret], validated_row)
    .optional()
}

/// `Storage::validate_threepid_session`.
pub(super) fn validate(
    c: &Connection,
    session_id: &str,
    client_secret: &str,
    token: &str,
    now: i64,
) -> rusqlite::Result<Result<ValidatedThreepid, ValidationFailure>> {
    type Row = (String, String, Option<i64>, String, i64, Option<String>);
    let row: Option<Row> = c
        .prepare_cached(
            "SELECT medium, address, validated_at, token, token_expires, next_link FROM threepid_validation_sessions
             WHERE session_id = ?1 AND client_secret = ?2",
        )?
        .query_row(params![session_id, client_secret], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
        })
        .optional()?;
    let Some((medium, address, validated_at, stored_token, token_expires, next_link)) = row else {
        return Ok(Err(ValidationFailure::UnknownSession));
    };
    let checked = crate::storage::check_validation_token(validated_at, &stored_token, token_expires, token, now);
    match checked {
        Ok(Some(validated_at)) => Ok(Ok(ValidatedThreepid { medium, address, validated_at, next_link })),
        Ok(None) => {
            c.prepare_cached("UPDATE threepid_validation_sessions SET validated_at = ?2 WHERE session_id = ?1")?
                .execute(params![session_id, now])?;
            Ok(Ok(ValidatedThreepid { medium, address, validated_at: now, next_link }))
        }
        Err(failure) => Ok(Err(failure)),
    }
}
