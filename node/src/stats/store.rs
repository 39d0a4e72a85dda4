//! The statistics' SQL: counts over `candidates`, `users` and `placements`
//! for `GET /api/v1/stats` (the offers' and referrals' counts come from
//! their own stores). Counts only, no row leaves here; kept apart from the
//! candidates' and auth stores because they are this page's figures.

use sqlx::AnyConnection;

use crate::error::Result;

/// Records not anonymised, per status.
pub(crate) async fn candidates_by_status(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT status, COUNT(*) FROM candidates WHERE anonymised_at IS NULL GROUP BY status",
    )
    .fetch_all(conn)
    .await?)
}

/// Records not anonymised, with consent, active or in referral: the CVs
/// the network may see.
pub(crate) async fn cvs_online(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM candidates WHERE anonymised_at IS NULL AND consent_at IS NOT NULL AND status IN ('active', 'in_referral')",
    )
    .fetch_one(conn)
    .await?)
}

/// Enabled employer accounts.
pub(crate) async fn employers_registered(conn: &mut AnyConnection) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'employer' AND disabled = 0")
            .fetch_one(conn)
            .await?,
    )
}

/// This node's own people placed (`side = 'home'`), per outcome.
pub(crate) async fn home_placements_by_outcome(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT outcome, COUNT(*) FROM placements WHERE side = 'home' GROUP BY outcome",
    )
    .fetch_all(conn)
    .await?)
}

/// Other nodes' candidates hired on this node's offers (`side = 'offer'`).
pub(crate) async fn hires_through_network(conn: &mut AnyConnection) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE side = 'offer'")
            .fetch_one(conn)
            .await?,
    )
}
