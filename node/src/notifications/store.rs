//! The notices' store: every SQL statement on `notifications` (write one
//! in a caller's transaction, count, page, mark read). Rows come back as
//! the `FromRow` [`super::Notice`].

use sqlx::AnyConnection;

use super::{NewNotice, Notice};
use crate::error::Result;

/// Insert `notice` at `now`.
pub(crate) async fn insert(conn: &mut AnyConnection, notice: &NewNotice, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, subject_type, subject_id, message, link, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(crate::util::new_id())
    .bind(&notice.user_id)
    .bind(notice.kind.as_str())
    .bind(notice.subject_type)
    .bind(&notice.subject_id)
    .bind(&notice.message)
    .bind(&notice.link)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn unread_filter(unread: bool) -> &'static str {
    if unread {
        " AND read_at IS NULL"
    } else {
        ""
    }
}

/// How many notices `user_id` has (unread only with `unread`).
pub(crate) async fn count(conn: &mut AnyConnection, user_id: &str, unread: bool) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1{}",
        unread_filter(unread)
    ))
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

/// `user_id`'s notices, newest first, `limit` from `offset`.
pub(crate) async fn page(
    conn: &mut AnyConnection,
    user_id: &str,
    unread: bool,
    (limit, offset): (i64, i64),
) -> Result<Vec<Notice>> {
    Ok(sqlx::query_as(&format!(
        "SELECT id, kind, subject_type, subject_id, message, link, created_at, read_at \
         FROM notifications WHERE user_id = $1{} ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
        unread_filter(unread)
    ))
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?)
}

/// Mark `user_id`'s notice `id` read at `now`; whether it was unread.
pub(crate) async fn mark_read(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE notifications SET read_at = $3 WHERE id = $1 AND user_id = $2 AND read_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Whether `user_id` has notice `id`.
pub(crate) async fn exists(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<bool> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM notifications WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
