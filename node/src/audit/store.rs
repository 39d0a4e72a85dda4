//! The audit log's store: every SQL statement on `audit_log` (append one
//! entry, on the pool or in a caller's transaction; the batches of read
//! audits; count and pages with filters). Rows come back as the `FromRow`
//! [`AuditRow`]. Nothing here decides who may read the log.

use sqlx::AnyConnection;

use super::{AuditEntry, AuditQuery, NewEntry};
use crate::error::Result;

/// Inserts `entry` (on the pool or inside a transaction).
pub(crate) async fn insert<'c, E>(executor: E, entry: &NewEntry) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_role, action, target_kind, target_id, reason, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.at)
    .bind(&entry.actor_id)
    .bind(&entry.actor_role)
    .bind(&entry.action)
    .bind(&entry.target_kind)
    .bind(&entry.target_id)
    .bind(&entry.reason)
    .bind(&entry.details)
    .execute(executor)
    .await?;
    Ok(())
}

/// One row of `audit_log`.
#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor_id: Option<String>,
    actor_role: Option<String>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    reason: Option<String>,
    details: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            reason: r.reason,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The filters after the id range `$1`.
const FILTER: &str = "($2 IS NULL OR action = $2) AND ($3 IS NULL OR target_id = $3) \
                      AND ($4 IS NULL OR actor_id = $4)";

/// How many entries after id `after` match `q`.
pub(crate) async fn count_after(
    conn: &mut AnyConnection,
    q: &AuditQuery,
    after: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE id > $1 AND {FILTER}"
    ))
    .bind(after)
    .bind(&q.action)
    .bind(&q.target_id)
    .bind(&q.actor_id)
    .fetch_one(conn)
    .await?)
}

/// Which way a page goes from its bound id.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    /// Ids above the bound, oldest first.
    After,
    /// Ids below the bound, newest first.
    Before,
}

/// Entries matching `q` on the `direction` side of id `bound`, `limit`
/// from `offset`.
pub(crate) async fn select(
    conn: &mut AnyConnection,
    q: &AuditQuery,
    (direction, bound): (Direction, i64),
    (limit, offset): (i64, i64),
) -> Result<Vec<AuditEntry>> {
    let (range, order) = match direction {
        Direction::After => ("id > $1", "id"),
        Direction::Before => ("id < $1", "id DESC"),
    };
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT id, at, actor_id, actor_role, action, target_kind, target_id, reason, details FROM audit_log \
         WHERE {range} AND {FILTER} ORDER BY {order} LIMIT $5 OFFSET $6"
    ))
    .bind(bound)
    .bind(&q.action)
    .bind(&q.target_id)
    .bind(&q.actor_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// How many entries have `action` (the unit tests).
#[cfg(test)]
pub(crate) async fn count_action(conn: &mut AnyConnection, action: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(conn)
            .await?,
    )
}
