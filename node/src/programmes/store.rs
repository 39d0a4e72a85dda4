//! The programmes' store: every SQL statement on `programme_enrolments`
//! (and the join on `candidates` of the counsellor's « À faire », kept here
//! as a programme-specific read) as typed functions over a connection — a
//! transaction's (`&mut tx`) or one taken from the pool. Rows come back as
//! `FromRow` structs ([`EnrolmentRow`], [`TodoRow`], [`FigureRow`]); the
//! status goes in by its `as_str` and comes back through its
//! `TryFrom<String>`. Nothing here knows about users, policy or HTTP.

use sqlx::AnyConnection;

use super::EnrolmentStatus;
use crate::error::Result;

/// Columns of `programme_enrolments e` (with the follow-ups held since its
/// start, from `followups`) that make an [`EnrolmentRow`].
const ENROLMENT_COLUMNS: &str = "e.id AS id, e.candidate_id AS candidate_id, e.programme_code AS programme_code, \
     e.started_on AS started_on, e.ends_on AS ends_on, e.renewals_used AS renewals_used, e.status AS status, \
     e.outcome AS outcome, e.closed_on AS closed_on, \
     (SELECT MAX(f.happened_on) FROM followups f WHERE f.candidate_id = e.candidate_id \
        AND f.kind IN ('interview', 'call') AND f.happened_on >= e.started_on) AS last_individual, \
     (SELECT MAX(f.happened_on) FROM followups f WHERE f.candidate_id = e.candidate_id \
        AND f.kind = 'workshop' AND f.happened_on >= e.started_on) AS last_group, \
     (SELECT COUNT(*) FROM followups f WHERE f.candidate_id = e.candidate_id \
        AND f.kind IN ('interview', 'call') AND f.happened_on >= e.started_on) AS individual_held, \
     (SELECT COUNT(*) FROM followups f WHERE f.candidate_id = e.candidate_id \
        AND f.kind = 'workshop' AND f.happened_on >= e.started_on) AS group_held, \
     (SELECT COUNT(*) FROM followups f WHERE f.candidate_id = e.candidate_id \
        AND f.kind = 'immersion' AND f.happened_on >= e.started_on) AS immersions_held";

/// One enrolment with the follow-ups held since its start.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EnrolmentRow {
    pub id: String,
    pub candidate_id: String,
    pub programme_code: String,
    pub started_on: String,
    pub ends_on: String,
    pub renewals_used: i64,
    #[sqlx(try_from = "String")]
    pub status: EnrolmentStatus,
    pub outcome: Option<String>,
    pub closed_on: Option<String>,
    pub last_individual: Option<String>,
    pub last_group: Option<String>,
    pub individual_held: i64,
    pub group_held: i64,
    pub immersions_held: i64,
}

/// An active enrolment of the counsellor's people, with the person's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TodoRow {
    #[sqlx(flatten)]
    pub enrolment: EnrolmentRow,
    pub first_name: String,
    pub last_name: String,
}

/// What the period's figures read of an enrolment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct FigureRow {
    pub programme_code: String,
    pub started_on: String,
    #[sqlx(try_from = "String")]
    pub status: EnrolmentStatus,
    pub outcome: Option<String>,
    pub closed_on: Option<String>,
}

/// A new enrolment.
pub(crate) struct NewRow<'a> {
    pub id: &'a str,
    pub candidate_id: &'a str,
    pub programme_code: &'a str,
    pub started_on: &'a str,
    pub ends_on: &'a str,
    pub counsellor_id: &'a str,
    pub created_at: i64,
}

/// A candidate's enrolments, newest first.
pub(crate) async fn of_candidate(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<EnrolmentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ENROLMENT_COLUMNS} FROM programme_enrolments e WHERE e.candidate_id = $1 \
         ORDER BY e.started_on DESC, e.id"
    ))
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

/// One enrolment.
pub(crate) async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<EnrolmentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ENROLMENT_COLUMNS} FROM programme_enrolments e WHERE e.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Active enrolments of a person in a programme.
pub(crate) async fn count_active(
    conn: &mut AnyConnection,
    candidate_id: &str,
    programme_code: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM programme_enrolments WHERE candidate_id = $1 AND programme_code = $2 \
         AND status = $3",
    )
    .bind(candidate_id)
    .bind(programme_code)
    .bind(EnrolmentStatus::Active.as_str())
    .fetch_one(conn)
    .await?)
}

/// Insert an active enrolment, no renewal used.
pub(crate) async fn insert(conn: &mut AnyConnection, e: &NewRow<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO programme_enrolments (id, candidate_id, programme_code, started_on, ends_on, \
         renewals_used, status, counsellor_id, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)",
    )
    .bind(e.id)
    .bind(e.candidate_id)
    .bind(e.programme_code)
    .bind(e.started_on)
    .bind(e.ends_on)
    .bind(EnrolmentStatus::Active.as_str())
    .bind(e.counsellor_id)
    .bind(e.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Move the end of an enrolment and count one more renewal.
pub(crate) async fn renew(conn: &mut AnyConnection, id: &str, ends_on: &str) -> Result<()> {
    sqlx::query(
        "UPDATE programme_enrolments SET ends_on = $2, renewals_used = renewals_used + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(ends_on)
    .execute(conn)
    .await?;
    Ok(())
}

/// Close an enrolment with its outcome.
pub(crate) async fn close(
    conn: &mut AnyConnection,
    id: &str,
    status: EnrolmentStatus,
    outcome: &str,
    closed_on: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE programme_enrolments SET status = $2, outcome = $3, closed_on = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(outcome)
    .bind(closed_on)
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete a record's enrolments.
pub(crate) async fn purge(conn: &mut AnyConnection, candidate_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM programme_enrolments WHERE candidate_id = $1")
        .bind(candidate_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active enrolments of the counsellor's people (assigned to them or
/// enrolled by them), records not anonymised, soonest end first (≤ 200).
pub(crate) async fn active_of_counsellor(
    conn: &mut AnyConnection,
    counsellor_id: &str,
) -> Result<Vec<TodoRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ENROLMENT_COLUMNS}, c.first_name AS first_name, c.last_name AS last_name \
         FROM programme_enrolments e JOIN candidates c ON c.id = e.candidate_id \
         WHERE e.status = $2 AND (e.counsellor_id = $1 OR c.counsellor_id = $1) \
         AND c.anonymised_at IS NULL ORDER BY e.ends_on LIMIT 200"
    ))
    .bind(counsellor_id)
    .bind(EnrolmentStatus::Active.as_str())
    .fetch_all(conn)
    .await?)
}

/// The enrolments a period's figures count: started or closed in
/// `from`..=`to`, or still under way.
pub(crate) async fn for_figures(
    conn: &mut AnyConnection,
    from: &str,
    to: &str,
) -> Result<Vec<FigureRow>> {
    Ok(sqlx::query_as(
        "SELECT programme_code, started_on, status, outcome, closed_on FROM programme_enrolments \
         WHERE status = $3 OR (started_on >= $1 AND started_on <= $2) \
         OR (closed_on >= $1 AND closed_on <= $2)",
    )
    .bind(from)
    .bind(to)
    .bind(EnrolmentStatus::Active.as_str())
    .fetch_all(conn)
    .await?)
}
