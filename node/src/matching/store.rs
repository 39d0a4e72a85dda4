//! The one read matching makes of `candidates` after an offer → candidates
//! pass: the rows listed over all the offer's workplaces (a 57-workplace
//! offer lists up to 1,140), in one statement or a few at once, without
//! their files (the CV files are not part of a ranking; the text part
//! comes from the index). Each statement answers one row: its rows as
//! one JSON array of [`COLUMNS`] arrays, aggregated by the database
//! (`json_group_array` on SQLite, `json_agg` on PostgreSQL), so that a
//! hundred rows cross from the database's thread to the task once instead
//! of a hundred times, and decode as every other read of the table does
//! ([`CandidateRow`]). The profile is read without its CV text
//! ([`listed_columns`]): a ranking's explanations use the profile's
//! fields, and the text part comes from the index's postings, so a CV of
//! several pages would only be escaped, copied and parsed to be dropped.

use std::collections::HashMap;

use futures::StreamExt;

use crate::candidates::store::{CandidateRow, COLUMNS};
use crate::candidates::Candidate;
use crate::db::{Backend, Db};
use crate::error::{Error, Result};

/// Most ids in one statement: its rows come back as one JSON text, which
/// must stay well within the largest value SQLite and PostgreSQL hold
/// (about 1 GB; a record's profile holds a CV of up to 200,000
/// characters, escaped twice).
const CHUNK: usize = 200;

/// A list of at least twice this many ids is read in parts on separate
/// pooled connections at once ([`PARTS`] at most): on SQLite each
/// connection has its own thread, and most of a read's time is spent
/// turning rows into values (sqlx), not in SQLite.
const PART_MIN: usize = 24;
/// Most parts one read is cut into.
const PARTS: usize = 4;

/// The records `ids` without their files, by id (missing ids are absent).
pub(crate) async fn listed(db: &Db, ids: &[String]) -> Result<HashMap<String, Candidate>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Beyond PARTS × CHUNK ids (a ranking of many workplaces), more
    // statements than PARTS, at most PARTS at once.
    let parts = (ids.len() / PART_MIN)
        .clamp(1, PARTS)
        .max(ids.len().div_ceil(CHUNK));
    let per_part = ids.len().div_ceil(parts);
    // Futures owning their part (a stream of borrowing ones is not
    // `Send` for every lifetime the handler needs).
    let reads: Vec<_> = ids
        .chunks(per_part)
        .map(|part| {
            let (db, part) = (db.clone(), part.to_vec());
            async move { read_part(&db, &part).await }
        })
        .collect();
    let mut reads = futures::stream::iter(reads).buffer_unordered(PARTS);
    let mut out = HashMap::with_capacity(ids.len());
    while let Some(rows) = reads.next().await {
        out.extend(rows?.into_iter().map(|c| (c.id.clone(), c)));
    }
    Ok(out)
}

/// One statement's rows (at most [`CHUNK`] ids), on a connection of its
/// own, aggregated into one JSON text by the database.
/// [`COLUMNS`] with the profile's `cv_text` left out by the database (the
/// rest of the profile's JSON unchanged; still a text column, so the rows
/// decode as [`CandidateRow`]s, with an empty CV).
fn listed_columns(backend: Backend) -> String {
    let profile = match backend {
        // `||` leaves a plain text, not a JSON value that json_array would
        // embed as an object.
        Backend::Sqlite => "'' || json_remove(profile, '$.cv_text')",
        Backend::Postgres => "(profile::jsonb - 'cv_text')::text",
    };
    COLUMNS.replacen("profile,", &format!("{profile},"), 1)
}

async fn read_part(db: &Db, ids: &[String]) -> Result<Vec<Candidate>> {
    let mut conn = db.pool.acquire().await?;
    let list = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = listed_columns(db.backend);
    let sql = match db.backend {
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({columns})) FROM candidates WHERE id IN ({list})"
        ),
        // `json_agg` of no rows is NULL.
        Backend::Postgres => format!(
            "SELECT json_agg(json_build_array({columns}))::text FROM candidates \
             WHERE id IN ({list})"
        ),
    };
    let mut q = sqlx::query_scalar::<_, Option<String>>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let Some(text) = q.fetch_one(&mut *conn).await? else {
        return Ok(Vec::new());
    };
    let rows: Vec<CandidateRow> = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(anyhow::anyhow!("listed candidates JSON: {e}")))?;
    rows.into_iter()
        .map(|row| Ok(row.into_record()?.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read in parts or in one statement, the same records, equal to
    /// those read row by row (`candidates::store::get_many`): names with
    /// quotes, backslashes and accents, consents and their absence, large
    /// timestamps, empty and long texts survive the JSON aggregation;
    /// missing ids are absent.
    #[tokio::test]
    async fn a_read_in_parts_finds_what_one_statement_finds() {
        use crate::candidates::{Consent, ConsentScope};
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, "full").await.expect("connect");
        let mut conn = db.pool.acquire().await.expect("connection");
        for i in 0..900i64 {
            let mut c = crate::candidates::empty_candidate(format!("c{i:04}"), 1_000 + i);
            c.first_name = format!("Prénom \"{i}\" l'aîné \\ ✓");
            c.last_name = if i % 7 == 0 {
                String::new()
            } else {
                format!("Nom-{i}")
            };
            c.external_id = (i % 2 == 0).then(|| format!("ext-{i}"));
            c.counsellor_id = (i % 3 == 0).then(|| "u1".to_string());
            c.commune_insee = "41018".into();
            c.cv_text = format!(
                "Texte {i}\n\t\"cv_text\": \\ {}",
                "é".repeat(usize::try_from(i).unwrap_or(0) * 20)
            );
            c.rome_codes = vec!["N1101".into()];
            c.skills = vec![format!("cv_text {i}"), "\"cv_text\"".into()];
            c.max_travel_km = (i % 4 != 0).then_some(i);
            c.updated_at = i64::MAX - i;
            c.consent = (i % 5 != 0).then(|| Consent {
                given_at: 1_700_000_000_000 + i,
                counsellor_id: "import".into(),
                scope: if i % 2 == 0 {
                    ConsentScope::Network
                } else {
                    ConsentScope::Local
                },
            });
            crate::candidates::store::insert(&mut conn, &c)
                .await
                .expect("insert");
        }
        for n in [0usize, 30, 100, 150, 700] {
            // Two ids in three, from c0000: those from c0900 on do not
            // exist (700 ids: more than one statement's).
            let ids: Vec<String> = (0..n).map(|i| format!("c{:04}", i * 3 / 2)).collect();
            let parts = listed(&db, &ids).await.expect("in parts");
            let one: HashMap<String, Candidate> = read_part(&db, &ids)
                .await
                .expect("one statement")
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
            let by_rows: HashMap<String, Candidate> =
                crate::candidates::store::get_many(&mut conn, &ids)
                    .await
                    .expect("row by row")
                    .into_iter()
                    .map(|c| (c.id.clone(), c))
                    .collect();
            let present = ids.iter().filter(|id| id.as_str() < "c0900").count();
            assert_eq!(parts.len(), present, "{n} ids");
            assert_eq!(parts, one, "{n} ids");
            // The same records but for the CV text, left out.
            assert!(by_rows.values().all(|c| c.cv_text.starts_with("Texte")));
            assert!(parts.values().all(|c| c.cv_text.is_empty()));
            let without_cv: HashMap<String, Candidate> = by_rows
                .into_iter()
                .map(|(id, mut c)| {
                    c.cv_text.clear();
                    (id, c)
                })
                .collect();
            assert_eq!(parts, without_cv, "{n} ids");
        }
    }
}
