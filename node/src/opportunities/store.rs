//! The opportunities' store: every SQL statement on `opportunities` and
//! `opportunity_certifications` as typed functions over a connection — a
//! transaction's (`&mut tx`) or one taken from the pool. Rows come back as
//! [`OpportunityRow`] (`FromRow`; the status through its `TryFrom<String>`)
//! decoded into a [`StoredOpportunity`] by `TryFrom` (the payload's JSON
//! parsed once). Nothing here knows about users, policy or HTTP.

use sqlx::AnyConnection;
use vivier_protocol::{OpportunityPayload, OpportunityType};

use super::{OpportunityStatus, StoredOpportunity};
use crate::error::{Error, Result};

/// Columns of `opportunities` that make an [`OpportunityRow`].
const COLUMNS: &str = "payload, status, is_local, owner_user_id, closed_at, closed_reason";

/// One row of `opportunities`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OpportunityRow {
    /// The protocol's [`OpportunityPayload`], as JSON.
    payload: String,
    #[sqlx(try_from = "String")]
    status: OpportunityStatus,
    is_local: i64,
    owner_user_id: Option<String>,
    closed_at: Option<i64>,
    closed_reason: Option<String>,
}

impl TryFrom<OpportunityRow> for StoredOpportunity {
    type Error = Error;

    fn try_from(r: OpportunityRow) -> Result<StoredOpportunity> {
        let payload: OpportunityPayload = serde_json::from_str(&r.payload)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored opportunity payload: {e}")))?;
        Ok(StoredOpportunity {
            payload,
            status: r.status,
            is_local: r.is_local != 0,
            owner_user_id: r.owner_user_id,
            closed_at: r.closed_at,
            closed_reason: r.closed_reason,
        })
    }
}

fn decode(rows: Vec<OpportunityRow>) -> Result<Vec<StoredOpportunity>> {
    rows.into_iter().map(StoredOpportunity::try_from).collect()
}

/// One opportunity by id.
pub(crate) async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredOpportunity>> {
    let row: Option<OpportunityRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM opportunities WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(StoredOpportunity::try_from).transpose()
}

/// Insert or replace the row of `p` (and its certification rows); a new
/// row is open.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    p: &OpportunityPayload,
    is_local: bool,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    let payload = serde_json::to_string(p)
        .map_err(|e| Error::Internal(anyhow::anyhow!("opportunity payload: {e}")))?;
    sqlx::query(
        "INSERT INTO opportunities (id, origin_node, is_local, owner_user_id, opportunity_type, status, payload, \
         title, organisation, start_date, end_date, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $12, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, title = excluded.title, \
         organisation = excluded.organisation, start_date = excluded.start_date, \
         end_date = excluded.end_date, opportunity_type = excluded.opportunity_type, \
         updated_at = excluded.updated_at",
    )
    .bind(&p.opportunity_id)
    .bind(p.origin_node.as_str())
    .bind(i64::from(is_local))
    .bind(owner)
    .bind(p.opportunity_type.as_str())
    .bind(payload)
    .bind(&p.title)
    .bind(&p.organisation)
    .bind(&p.start_date)
    .bind(&p.end_date)
    .bind(now)
    .bind(OpportunityStatus::Open.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM opportunity_certifications WHERE opportunity_id = $1")
        .bind(&p.opportunity_id)
        .execute(&mut *conn)
        .await?;
    for code in &p.certifications_granted {
        sqlx::query(
            "INSERT INTO opportunity_certifications (opportunity_id, code) VALUES ($1, $2)",
        )
        .bind(&p.opportunity_id)
        .bind(code)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Close an open opportunity; the number of rows changed (0: unknown or
/// already closed).
pub(crate) async fn close(
    conn: &mut AnyConnection,
    id: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE opportunities SET status = $4, closed_at = $2, closed_reason = $3, updated_at = $2 \
         WHERE id = $1 AND status = $5",
    )
    .bind(id)
    .bind(at)
    .bind(reason)
    .bind(OpportunityStatus::Closed.as_str())
    .bind(OpportunityStatus::Open.as_str())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Open trainings granting any of `codes` (not empty), soonest first.
pub(crate) async fn trainings_granting(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<Vec<StoredOpportunity>> {
    let marks: Vec<String> = (0..codes.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM opportunities WHERE status = $1 AND opportunity_type = $2 \
         AND id IN (SELECT opportunity_id FROM opportunity_certifications WHERE code IN ({})) \
         ORDER BY start_date, id",
        marks.join(", ")
    );
    let mut q = sqlx::query_as(&sql)
        .bind(OpportunityStatus::Open.as_str())
        .bind(OpportunityType::Training.as_str());
    for c in codes {
        q = q.bind(c);
    }
    decode(q.fetch_all(conn).await?)
}

/// One filter of a list: the column condition, with `?` standing for the
/// one bound value (repeated when it appears more than once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    Status(OpportunityStatus),
    Type(OpportunityType),
    Local(bool),
    Certification(String),
    /// A lower-case `LIKE` pattern on title or organisation.
    Words(String),
}

/// Opportunities matching every filter, soonest first, at most `limit`.
pub(crate) async fn list(
    conn: &mut AnyConnection,
    filters: &[Filter],
    limit: i64,
) -> Result<Vec<StoredOpportunity>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    // `?` in `sql` stands for the next placeholders, each bound to `value`.
    fn bind(clauses: &mut Vec<String>, binds: &mut Vec<String>, sql: &str, value: &str) {
        let mut out = String::new();
        for (i, part) in sql.split('?').enumerate() {
            if i > 0 {
                binds.push(value.to_string());
                out.push_str(&format!("${}", binds.len()));
            }
            out.push_str(part);
        }
        clauses.push(out);
    }
    for f in filters {
        match f {
            Filter::Status(s) => bind(&mut clauses, &mut binds, "status = ?", s.as_str()),
            Filter::Type(t) => bind(&mut clauses, &mut binds, "opportunity_type = ?", t.as_str()),
            Filter::Local(true) => clauses.push("is_local = 1".into()),
            Filter::Local(false) => clauses.push("is_local = 0".into()),
            Filter::Certification(code) => bind(
                &mut clauses,
                &mut binds,
                "id IN (SELECT opportunity_id FROM opportunity_certifications WHERE code = ?)",
                code,
            ),
            Filter::Words(pattern) => bind(
                &mut clauses,
                &mut binds,
                "(LOWER(title) LIKE ? OR LOWER(organisation) LIKE ?)",
                pattern,
            ),
        }
    }
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM opportunities {where_} ORDER BY start_date, id LIMIT {limit}"
    );
    let mut query = sqlx::query_as(&sql);
    for b in &binds {
        query = query.bind(b);
    }
    decode(query.fetch_all(conn).await?)
}
