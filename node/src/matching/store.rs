//! The one read matching makes of `candidates` after an offer → candidates
//! pass: the rows listed over all the offer's workplaces (a 57-workplace
//! offer lists up to 1,140), in one statement, without their files (the
//! CV files are not part of a ranking; the text part comes from the
//! index). Rows decode as every other read of the table does
//! ([`CandidateRow`]).

use std::collections::HashMap;

use crate::candidates::store::CandidateRow;
use crate::candidates::Candidate;
use crate::db::Db;
use crate::error::Result;

/// Most ids bound in one `IN (…)` list: every listed row of the largest
/// ranking the API allows (200 per workplace, 57 workplaces) in one
/// statement, within SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 12_000;

/// The columns of a [`CandidateRow`] (those of `candidates::store`).
const COLUMNS: &str =
    "id, external_id, first_name, last_name, commune_insee, status, counsellor_id, \
     profile, consent_at, consent_by, consent_scope, created_at, updated_at, last_activity_at, \
     retention_reminded_at, anonymised_at";

/// The records `ids` without their files, by id (missing ids are absent).
pub(crate) async fn listed(db: &Db, ids: &[String]) -> Result<HashMap<String, Candidate>> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let mut conn = db.pool.acquire().await?;
    for chunk in ids.chunks(CHUNK) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {COLUMNS} FROM candidates WHERE id IN ({list})");
        let mut q = sqlx::query_as::<_, CandidateRow>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let (c, _) = row.into_record()?;
            out.insert(c.id.clone(), c);
        }
    }
    Ok(out)
}
