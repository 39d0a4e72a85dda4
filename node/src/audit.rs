//! The append-only audit log: every read of a candidate record, search or
//! export, and every change, with who, when, what and why. Searches are
//! written by a group-commit writer ([`reads`]); everything else in the
//! request that does it. The database
//! refuses UPDATE and DELETE on the table (triggers in the migrations).
//! Entries name records by their opaque id, never by personal data, so an
//! erasure leaves no personal trace here.

pub mod reads;
pub(crate) mod store;

pub use reads::ReadAudit;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
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

    /// The entry of `actor` (a user, a peer, the node, a person).
    fn of(
        actor: &Actor,
        action: &str,
        (target_kind, target_id): (&str, &str),
        reason: Option<&str>,
        details: serde_json::Value,
    ) -> NewEntry {
        let (actor_id, actor_role) = actor.audit_fields();
        NewEntry {
            at: now_ms(),
            actor_id,
            actor_role,
            action: action.to_string(),
            target_kind: target_kind.to_string(),
            target_id: target_id.to_string(),
            reason: reason.map(str::to_string),
            details: details.to_string(),
        }
    }
}

/// Append an entry inside the caller's transaction, so that the change and
/// its audit row commit (or roll back) together.
pub async fn append(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    action: &str,
    target: (&str, &str),
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    store::insert(conn, &NewEntry::of(actor, action, target, reason, details)).await?;
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
    let mut conn = db.pool.acquire().await?;
    let total = store::count_after(&mut conn, q, after).await?;
    let items = store::select(
        &mut conn,
        q,
        (store::Direction::After, after),
        (paging.per_page, paging.offset()),
    )
    .await?;
    Ok(Page::new(items, total, paging))
}

/// [`list`] as `actor`: admins only; the searches' entries still queued
/// in `reads` are committed first, so the page has them all.
pub async fn list_as(
    db: &Db,
    reads: &ReadAudit,
    actor: &Actor,
    q: &AuditQuery,
    paging: PageParams,
) -> Result<Page<AuditEntry>> {
    actor.user_with(&[Role::Admin])?;
    reads.flush().await;
    list(db, q, paging).await
}

/// Entries newest first, before id `before` (all when `None`): the pages of
/// the administration's journal.
pub async fn newest(db: &Db, q: &AuditQuery, before: Option<i64>) -> Result<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut conn = db.pool.acquire().await?;
    store::select(
        &mut conn,
        q,
        (store::Direction::Before, before.unwrap_or(i64::MAX)),
        (limit, 0),
    )
    .await
}

/// [`newest`] as `actor`: admins only, after the queued read audits.
pub async fn newest_as(
    db: &Db,
    reads: &ReadAudit,
    actor: &Actor,
    q: &AuditQuery,
    before: Option<i64>,
) -> Result<Vec<AuditEntry>> {
    actor.user_with(&[Role::Admin])?;
    reads.flush().await;
    newest(db, q, before).await
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(PageParams, AuditQuery),
    responses((status = 200, description = "Audit entries, oldest first (admins)", body = Page<AuditEntry>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    Paged(paging, q): Paged<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>> {
    // Search entries are group-committed: `list_as` reads them all.
    Ok(Json(
        list_as(&state.db, &state.read_audit, &Actor::User(user), &q, paging).await?,
    ))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_handler))]
pub(crate) struct Doc;

/// `GET /api/v1/audit` (admin only).
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list_handler))
}
