//! The mail outbox's store: every SQL statement on `mail_outbox` (queue a
//! rendered message, the worker's due ids, claim with a lease, the
//! outcome of an attempt, pruning, the operators' listing). Rows come back
//! as `FromRow` structs ([`OutboxRow`], [`super::OutboxEntry`]).

use sqlx::AnyConnection;

use super::OutboxEntry;
use crate::error::Result;

/// A rendered message to queue.
pub(crate) struct NewMail<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub recipient_name: Option<&'a str>,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub now: i64,
}

/// Queue a message, due at once.
pub(crate) async fn insert(conn: &mut AnyConnection, m: &NewMail<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, kind, recipient, recipient_name, subject, body_text, body_html, \
         status, attempts, next_attempt_at, locked_until, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, 0, $8)",
    )
    .bind(m.id)
    .bind(m.kind)
    .bind(m.recipient)
    .bind(m.recipient_name)
    .bind(m.subject)
    .bind(m.body_text)
    .bind(m.body_html)
    .bind(m.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ids of pending messages due at `now` and not leased, at most `limit`.
pub(crate) async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND locked_until <= $1 ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Delete sent and failed rows created before `before`; how many.
pub(crate) async fn prune(conn: &mut AnyConnection, before: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM mail_outbox WHERE status <> 'pending' AND created_at < $1")
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Lease pending row `id` until `until` (counting an attempt) if nobody
/// holds it at `now`; whether this process got it.
pub(crate) async fn claim(
    conn: &mut AnyConnection,
    id: &str,
    until: i64,
    now: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE mail_outbox SET locked_until = $2, attempts = attempts + 1 \
         WHERE id = $1 AND status = 'pending' AND locked_until <= $3",
    )
    .bind(id)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A claimed message, as the worker sends it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub kind: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i64,
}

/// The message `id`.
pub(crate) async fn get(conn: &mut AnyConnection, id: &str) -> Result<OutboxRow> {
    Ok(sqlx::query_as(
        "SELECT kind, recipient, recipient_name, subject, body_text, body_html, attempts \
         FROM mail_outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// Sent at `now`: the body dropped.
pub(crate) async fn mark_sent(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $2, locked_until = 0, \
         body_text = '', body_html = '', last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Given up at `now` after `error`: the body dropped.
pub(crate) async fn mark_failed(
    conn: &mut AnyConnection,
    id: &str,
    error: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'failed', locked_until = 0, \
         body_text = '', body_html = '', last_error = $2, failed_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Another attempt at `next` after `error`; the lease released.
pub(crate) async fn reschedule(
    conn: &mut AnyConnection,
    id: &str,
    next: i64,
    error: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET locked_until = 0, next_attempt_at = $2, last_error = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(next)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every outbox row, oldest first.
pub(crate) async fn list(conn: &mut AnyConnection) -> Result<Vec<OutboxEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, recipient, status, attempts, next_attempt_at, last_error \
         FROM mail_outbox ORDER BY created_at, id",
    )
    .fetch_all(conn)
    .await?)
}
