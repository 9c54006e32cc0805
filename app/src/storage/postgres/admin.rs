//! What the admin API and room upgrades need, on PostgreSQL: admin flags, the user list,
//! blocked rooms, third-party identifiers, a room's aliases and room purges. Each write
//! is one transaction.

use deadpool_postgres::Object;
use mxmod::types::{OwnedUserId, RoomId, UserId};

use super::{
    changes::Changes,
    rows::{user_id, user_row},
    writes::notify,
};
use crate::storage::{Profile, StorageResult, Threepid, UserQuery, UserRecord};

/// `Storage::set_admin`.
pub(super) async fn set_admin(client: &Object, user: &UserId, admin: bool) -> StorageResult<()> {
    client.execute("UPDATE users SET is_admin = $2 WHERE user_id = $1", &[&user.as_str(), &admin]).await?;
    Ok(())
}

/// `Storage::users_page`: the count and the page read in one transaction (one snapshot).
pub(super) async fn users_page(
    client: &mut Object,
    query: &UserQuery,
) -> StorageResult<(Vec<(UserRecord, Profile)>, u64)> {
    // Substring matches with `strpos`, as `search_users`: no pattern characters.
    const MATCHING: &str = "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id
        WHERE ($1 OR NOT u.deactivated)
          AND ($2::text IS NULL OR strpos(lower(u.user_id), $2) > 0)
          AND ($3::text IS NULL OR strpos(lower(u.user_id), $3) > 0
               OR strpos(lower(coalesce(p.displayname, '')), $3) > 0)";
    let user_filter = query.user_id.as_deref().map(str::to_lowercase);
    let name_filter = query.name.as_deref().map(str::to_lowercase);
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let from = i64::try_from(query.from).unwrap_or(i64::MAX);
    let transaction =
        client.build_transaction().read_only(true).isolation_level(tokio_postgres::IsolationLevel::RepeatableRead);
    let transaction = transaction.start().await?;
    let count = transaction.prepare_cached(&format!("SELECT count(*) {MATCHING}")).await?;
    let total: i64 =
        transaction.query_one(&count, &[&query.deactivated, &user_filter, &name_filter]).await?.try_get(0)?;
    let page = transaction
        .prepare_cached(&format!(
            "SELECT u.user_id, u.password_hash, u.is_admin, u.shadow_banned, u.deactivated, u.creation_ts,
                    p.displayname, p.avatar_url {MATCHING} ORDER BY u.user_id LIMIT $4 OFFSET $5"
        ))
        .await?;
    let rows = transaction.query(&page, &[&query.deactivated, &user_filter, &name_filter, &limit, &from]).await?;
    let users = rows
        .iter()
        .map(|row| Ok((user_row(row, 0)?, Profile { displayname: row.try_get(6)?, avatar_url: row.try_get(7)? })))
        .collect::<StorageResult<Vec<_>>>()?;
    transaction.commit().await?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// `Storage::set_room_blocked`.
pub(super) async fn set_room_blocked(client: &Object, room: &RoomId, by: Option<&UserId>) -> StorageResult<()> {
    match by {
        Some(admin) => {
            client
                .execute(
                    "INSERT INTO blocked_rooms (room_id, user_id) VALUES ($1, $2)
                     ON CONFLICT (room_id) DO UPDATE SET user_id = excluded.user_id",
                    &[&room.as_str(), &admin.as_str()],
                )
                .await?
        }
        None => client.execute("DELETE FROM blocked_rooms WHERE room_id = $1", &[&room.as_str()]).await?,
    };
    Ok(())
}

/// `Storage::room_blocked`.
pub(super) async fn room_blocked(client: &Object, room: &RoomId) -> StorageResult<bool> {
    Ok(client.query_opt("SELECT 1 FROM blocked_rooms WHERE room_id = $1", &[&room.as_str()]).await?.is_some())
}

/// `Storage::threepids`, in the order added (validated when added).
pub(super) async fn threepids(client: &Object, user: &UserId) -> StorageResult<Vec<Threepid>> {
    let rows = client
        .query(
            "SELECT medium, address, added_at FROM user_threepids WHERE user_id = $1 ORDER BY added_at, id",
            &[&user.as_str()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let added_at = row.try_get::<_, i64>(2)?.max(0) as u64;
            Ok(Threepid { medium: row.try_get(0)?, address: row.try_get(1)?, validated_at: added_at, added_at })
        })
        .collect()
}

/// `Storage::user_by_threepid`.
pub(super) async fn user_by_threepid(
    client: &Object,
    medium: &str,
    address: &str,
) -> StorageResult<Option<OwnedUserId>> {
    let row = client
        .query_opt("SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2", &[&medium, &address])
        .await?;
    row.map(|row| user_id(row.try_get(0)?)).transpose()
}

/// `Storage::users_after`: local users in ID order after `from`.
pub(super) async fn users_after(
    client: &Object,
    from: Option<&UserId>,
    limit: usize,
) -> StorageResult<Vec<UserRecord>> {
    let from = from.map(UserId::as_str).unwrap_or_default();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT user_id, password_hash, is_admin, shadow_banned, deactivated, creation_ts FROM users
             WHERE user_id > $1 ORDER BY user_id LIMIT $2",
            &[&from, &limit],
        )
        .await?;
    rows.iter().map(|row| user_row(row, 0)).collect()
}

/// `Storage::add_threepid`: inserted unless held; answers whether the user holds it.
pub(super) async fn add_threepid(
    client: &mut Object,
    user: &UserId,
    medium: &str,
    address: &str,
    added_at: u64,
) -> StorageResult<bool> {
    let added_at = i64::try_from(added_at).unwrap_or(i64::MAX);
    let transaction = client.transaction().await?;
    transaction
        .execute(
            "INSERT INTO user_threepids (user_id, medium, address, added_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&user.as_str(), &medium, &address, &added_at],
        )
        .await?;
    let holder: String = transaction
        .query_one("SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2", &[&medium, &address])
        .await?
        .try_get(0)?;
    transaction.commit().await?;
    Ok(holder == user.as_str())
}

/// `Storage::remove_threepid`.
pub(super) async fn remove_threepid(client: &Object, user: &UserId, medium: &str, address: &str) -> StorageResult<()> {
    client
        .execute(
            "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
            &[&user.as_str(), &medium, &address],
        )
        .await?;
    Ok(())
}

/// `Storage::room_aliases`.
pub(super) async fn room_aliases(client: &Object, room: &RoomId) -> StorageResult<Vec<String>> {
    let rows = client.query("SELECT alias FROM aliases WHERE room_id = $1 ORDER BY alias", &[&room.as_str()]).await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// `Storage::purge_room`: the room row is locked first, so appends queued behind it find
/// the room unknown; every process forgets the room's cached state.
pub(super) async fn purge_room(client: &mut Object, changes: &mut Changes, room: &RoomId) -> StorageResult<()> {
    let transaction = client.transaction().await?;
    transaction.execute("SELECT 1 FROM rooms WHERE room_id = $1 FOR UPDATE", &[&room.as_str()]).await?;
    for statement in [
        "DELETE FROM event_txns WHERE event_id IN (SELECT event_id FROM events WHERE room_id = $1)",
        "DELETE FROM events WHERE room_id = $1",
        "DELETE FROM current_state WHERE room_id = $1",
        "DELETE FROM aliases WHERE room_id = $1",
        "DELETE FROM rooms WHERE room_id = $1",
    ] {
        transaction.execute(statement, &[&room.as_str()]).await?;
    }
    changes.purged.push(room.to_owned());
    notify(&transaction, changes).await?;
    transaction.commit().await?;
    Ok(())
}
