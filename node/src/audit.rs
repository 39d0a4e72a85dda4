//! The append-only audit log: every read of a candidate record, search or
//! export, and every change, with who, when, what and why. Searches are
//! written by a group-commit writer ([`reads`]); everything else in the
//! request that does it. The database
//! refuses UPDATE and DELETE on the table (triggers in the migrations).
//! Entries name records by their opaque id, never by personal data, so an
//! erasure leaves no personal trace here.

pub mod reads;

pub use reads::ReadAudit;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::auth::{Role, User};
use crate::db::Db;
use crate::error::Result;
use crate::http::{Page, PageParams, Paged};
use crate::server::AppState;
use crate::util::now_ms;

/// One audit entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// Who (user id), if a user.
    pub actor_id: Option<String>,
    /// Their role at the time.
    pub actor_role: Option<String>,
    /// What (`candidate.read`, `candidate.search`, `candidate.erase`, …).
    pub action: String,
    /// On what kind of record.
    pub target_kind: Option<String>,
    /// Which record (opaque id).
    pub target_id: Option<String>,
    /// Why, as given by the user (`X-Vivier-Reason`).
    pub reason: Option<String>,
    /// Extra non-personal details (JSON).
    pub details: serde_json::Value,
}

/// An entry to append (timestamped when built).
pub(crate) struct NewEntry {
    at: i64,
    actor_id: Option<String>,
    actor_role: Option<String>,
    action: String,
    target_kind: String,
    target_id: String,
    reason: Option<String>,
    details: String,
}

impl NewEntry {
    pub(crate) fn new(
        actor: Option<&User>,
        action: &str,
        target_kind: &str,
        target_id: &str,
        reason: Option<&str>,
        details: serde_json::Value,
    ) -> NewEntry {
        NewEntry {
            at: now_ms(),
            actor_id: actor.map(|u| u.id.clone()),
            actor_role: actor.map(|u| u.role.as_str().to_string()),
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target_id: target_id.to_string(),
            reason: reason.map(str::to_string),
            details: details.to_string(),
        }
    }

    /// Inserts the entry (on the pool or inside a transaction).
    pub(crate) async fn insert<'c, E>(&self, executor: E) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_role, action, target_kind, target_id, reason, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.at)
        .bind(&self.actor_id)
        .bind(&self.actor_role)
        .bind(&self.action)
        .bind(&self.target_kind)
        .bind(&self.target_id)
        .bind(&self.reason)
        .bind(&self.details)
        .execute(executor)
        .await?;
        Ok(())
    }
}

/// Append an entry. `actor` None means the node itself (sweeps, federation).
pub async fn record(
    db: &Db,
    actor: Option<&User>,
    action: &str,
    target_kind: &str,
    target_id: &str,
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    NewEntry::new(actor, action, target_kind, target_id, reason, details)
        .insert(&db.pool)
        .await?;
    Ok(())
}

/// Append an entry inside the caller's transaction, so that the change and
/// its audit row commit (or roll back) together.
pub async fn append(
    conn: &mut sqlx::AnyConnection,
    actor: &crate::actor::Actor,
    action: &str,
    target: (&str, &str),
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    let (actor_id, actor_role) = actor.audit_fields();
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_role, action, target_kind, target_id, reason, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(actor_id)
    .bind(actor_role)
    .bind(action)
    .bind(target.0)
    .bind(target.1)
    .bind(reason)
    .bind(details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters for listing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries after this id.
    #[serde(default)]
    pub after: Option<i64>,
    /// Max entries of the administration's pages (default 100, max 1000;
    /// set by the caller: the API pages with `page`/`per_page`).
    #[serde(skip_deserializing)]
    pub limit: Option<i64>,
    /// Only this action.
    #[serde(default)]
    pub action: Option<String>,
    /// Only this target id.
    #[serde(default)]
    pub target_id: Option<String>,
    /// Only this actor.
    #[serde(default)]
    pub actor_id: Option<String>,
}

/// One page of the entries, oldest first.
pub async fn list(db: &Db, q: &AuditQuery, paging: PageParams) -> Result<Page<AuditEntry>> {
    let mut checks = crate::http::Checks::new();
    checks.int("after", q.after, 0, 0, i64::MAX);
    checks.finish()?;
    let after = q.after.unwrap_or(0);
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {FILTER}"))
        .bind(after)
        .bind(&q.action)
        .bind(&q.target_id)
        .bind(&q.actor_id)
        .fetch_one(&db.pool)
        .await?;
    let items = select(
        db,
        q,
        ("id > $1", "id"),
        after,
        (paging.per_page, paging.offset()),
    )
    .await?;
    Ok(Page::new(items, total, paging))
}

/// The filters after the id range `$1`.
const FILTER: &str = "id > $1 AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR target_id = $3) \
                      AND ($4 IS NULL OR actor_id = $4)";

/// Entries newest first, before id `before` (all when `None`): the pages of
/// the administration's journal.
pub async fn newest(db: &Db, q: &AuditQuery, before: Option<i64>) -> Result<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    select(
        db,
        q,
        ("id < $1", "id DESC"),
        before.unwrap_or(i64::MAX),
        (limit, 0),
    )
    .await
}

async fn select(
    db: &Db,
    q: &AuditQuery,
    (range, order): (&str, &str),
    bound: i64,
    (limit, offset): (i64, i64),
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT id, at, actor_id, actor_role, action, target_kind, target_id, reason, details FROM audit_log \
         WHERE {range} AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR target_id = $3) \
         AND ($4 IS NULL OR actor_id = $4) ORDER BY {order} LIMIT $5 OFFSET $6"
    ))
    .bind(bound)
    .bind(&q.action)
    .bind(&q.target_id)
    .bind(&q.actor_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let details: String = r.try_get("details")?;
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                actor_role: r.try_get("actor_role")?,
                action: r.try_get("action")?,
                target_kind: r.try_get("target_kind")?,
                target_id: r.try_get("target_id")?,
                reason: r.try_get("reason")?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(PageParams, AuditQuery),
    responses((status = 200, description = "Audit entries, oldest first (admins)", body = Page<AuditEntry>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    Paged(paging, q): Paged<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>> {
    user.require(&[Role::Admin])?;
    // Search entries are group-committed: read them all.
    state.read_audit.flush().await;
    Ok(Json(list(&state.db, &q, paging).await?))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_handler))]
pub(crate) struct Doc;

/// `GET /api/v1/audit` (admin only).
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list_handler))
}
