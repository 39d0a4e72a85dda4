//! The follow-up store: every SQL statement on `followups` (the « Suivi »
//! of a record and its next steps), including the « À faire » read that
//! joins the names of the records, as typed functions over a connection —
//! a transaction's (`&mut tx`) or one taken from the pool. Rows come back
//! as `FromRow` structs; the kind goes through its one mapping
//! ([`FollowUpKind`]'s `TryFrom<String>`). Nothing here knows about users,
//! policy or HTTP.

use sqlx::AnyConnection;

use super::followup::FollowUpKind;
use crate::error::Result;

impl TryFrom<String> for FollowUpKind {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<FollowUpKind, strum::ParseError> {
        s.parse()
    }
}

/// Columns of `followups` that make a [`FollowUpRow`].
const COLUMNS: &str =
    "id, candidate_id, author_id, author_name, kind, happened_on, body, restricted, \
    next_step, next_step_on, next_step_done_at, created_at";

/// One row of `followups`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct FollowUpRow {
    pub id: String,
    pub candidate_id: String,
    pub author_id: Option<String>,
    pub author_name: String,
    #[sqlx(try_from = "String")]
    pub kind: FollowUpKind,
    pub happened_on: String,
    pub body: String,
    /// 0/1.
    pub restricted: i64,
    pub next_step: Option<String>,
    pub next_step_on: Option<String>,
    pub next_step_done_at: Option<i64>,
    pub created_at: i64,
}

/// Insert an entry (its next step not done).
pub(crate) async fn insert(conn: &mut AnyConnection, row: &FollowUpRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO followups (id, candidate_id, author_id, author_name, kind, happened_on, body, restricted, \
         next_step, next_step_on, next_step_done_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
    )
    .bind(&row.id)
    .bind(&row.candidate_id)
    .bind(&row.author_id)
    .bind(&row.author_name)
    .bind(row.kind.as_str())
    .bind(&row.happened_on)
    .bind(&row.body)
    .bind(row.restricted)
    .bind(&row.next_step)
    .bind(&row.next_step_on)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The entries of record `candidate_id`, newest first; restricted ones
/// only when `with_restricted`.
pub(crate) async fn of_candidate(
    conn: &mut AnyConnection,
    candidate_id: &str,
    with_restricted: bool,
) -> Result<Vec<FollowUpRow>> {
    let restricted = if with_restricted {
        ""
    } else {
        " AND restricted = 0"
    };
    Ok(sqlx::query_as::<_, FollowUpRow>(&format!(
        "SELECT {COLUMNS} FROM followups WHERE candidate_id = $1{restricted} \
         ORDER BY happened_on DESC, created_at DESC"
    ))
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

/// What marking an entry's next step done needs to know: the entry and
/// the record's assigned counsellor.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StepRow {
    pub candidate_id: String,
    pub author_id: Option<String>,
    /// 0/1.
    pub restricted: i64,
    pub next_step_on: Option<String>,
    pub done: Option<i64>,
    pub counsellor_id: Option<String>,
}

/// The step of entry `id` with its record's counsellor.
pub(crate) async fn step(conn: &mut AnyConnection, id: &str) -> Result<Option<StepRow>> {
    Ok(sqlx::query_as::<_, StepRow>(
        "SELECT f.candidate_id AS candidate_id, f.author_id AS author_id, f.restricted AS restricted, \
         f.next_step_on AS next_step_on, f.next_step_done_at AS done, c.counsellor_id AS counsellor_id \
         FROM followups f JOIN candidates c ON c.id = f.candidate_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Mark the next step of entry `id` done at `at`.
pub(crate) async fn mark_step_done(conn: &mut AnyConnection, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE followups SET next_step_done_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete every entry of a record (erasure, anonymisation).
pub(crate) async fn purge(conn: &mut AnyConnection, candidate_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM followups WHERE candidate_id = $1")
        .bind(candidate_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A next step not done, due by the horizon, with the record's names.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DueStepRow {
    pub id: String,
    pub candidate_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub next_step: Option<String>,
    pub next_step_on: String,
}

/// The next steps not done and due by `horizon` (`YYYY-MM-DD`) that
/// `user_id` wrote or whose record is assigned to them (records not
/// anonymised), earliest first, at most `limit`.
pub(crate) async fn due_steps(
    conn: &mut AnyConnection,
    user_id: &str,
    horizon: &str,
    limit: i64,
) -> Result<Vec<DueStepRow>> {
    Ok(sqlx::query_as::<_, DueStepRow>(
        "SELECT f.id AS id, f.candidate_id AS candidate_id, c.first_name AS first_name, c.last_name AS last_name, \
         f.next_step AS next_step, f.next_step_on AS next_step_on \
         FROM followups f JOIN candidates c ON c.id = f.candidate_id \
         WHERE f.next_step_on IS NOT NULL AND f.next_step_done_at IS NULL AND f.next_step_on <= $2 \
         AND (f.author_id = $1 OR c.counsellor_id = $1) AND c.anonymised_at IS NULL \
         ORDER BY f.next_step_on, f.created_at LIMIT $3",
    )
    .bind(user_id)
    .bind(horizon)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
