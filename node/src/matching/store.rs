//! The one read matching makes of `candidates` after an offer → candidates
//! pass: the rows listed over all the offer's workplaces (a 57-workplace
//! offer lists up to 1,140), in one statement or a few at once, without
//! their files (the CV files are not part of a ranking; the text part
//! comes from the index). Rows decode as every other read of the table does
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

/// A list of at least twice this many ids is read in parts on separate
/// pooled connections at once ([`PARTS`] at most): on SQLite each
/// connection has its own thread, and most of a read's time is spent
/// turning rows into values (sqlx), not in SQLite.
const PART_MIN: usize = 24;
/// Most parts one read is cut into.
const PARTS: usize = 4;

/// The columns of a [`CandidateRow`] (those of `candidates::store`).
const COLUMNS: &str =
    "id, external_id, first_name, last_name, commune_insee, status, counsellor_id, \
     profile, consent_at, consent_by, consent_scope, created_at, updated_at, last_activity_at, \
     retention_reminded_at, anonymised_at";

/// The records `ids` without their files, by id (missing ids are absent).
pub(crate) async fn listed(db: &Db, ids: &[String]) -> Result<HashMap<String, Candidate>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // More than PARTS only beyond PARTS × CHUNK ids (more than any
    // ranking the API allows lists).
    let parts = (ids.len() / PART_MIN)
        .clamp(1, PARTS)
        .max(ids.len().div_ceil(CHUNK));
    let per_part = ids.len().div_ceil(parts);
    let reads = ids.chunks(per_part).map(|part| read_part(db, part));
    let mut out = HashMap::with_capacity(ids.len());
    for rows in futures::future::try_join_all(reads).await? {
        out.extend(rows.into_iter().map(|c| (c.id.clone(), c)));
    }
    Ok(out)
}

/// One statement's rows (at most [`CHUNK`] ids), on a connection of its own.
async fn read_part(db: &Db, ids: &[String]) -> Result<Vec<Candidate>> {
    let mut conn = db.pool.acquire().await?;
    let list = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {COLUMNS} FROM candidates WHERE id IN ({list})");
    let mut q = sqlx::query_as::<_, CandidateRow>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    q.fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| Ok(row.into_record()?.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read in parts or in one statement, the same records; missing ids
    /// are absent.
    #[tokio::test]
    async fn a_read_in_parts_finds_what_one_statement_finds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, "full").await.expect("connect");
        let mut conn = db.pool.acquire().await.expect("connection");
        for i in 0..130 {
            let mut c = crate::candidates::empty_candidate(format!("c{i:03}"), 1_000 + i);
            c.first_name = format!("Prénom {i}");
            c.commune_insee = "41018".into();
            c.cv_text = format!("Texte {i}");
            crate::candidates::store::insert(&mut conn, &c)
                .await
                .expect("insert");
        }
        drop(conn);
        for n in [30usize, 100, 150] {
            // Two ids in three, from c000: those from c130 on do not exist.
            let ids: Vec<String> = (0..n).map(|i| format!("c{:03}", i * 3 / 2)).collect();
            let parts = listed(&db, &ids).await.expect("in parts");
            let one: HashMap<String, Candidate> = read_part(&db, &ids)
                .await
                .expect("one statement")
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
            let present = ids.iter().filter(|id| id.as_str() < "c130").count();
            assert_eq!(parts.len(), present, "{n} ids");
            assert_eq!(parts, one, "{n} ids");
            assert!(parts.values().all(|c| c.cv_text.starts_with("Texte")));
        }
    }
}
