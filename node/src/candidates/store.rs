//! The candidates' store: every SQL statement on `candidates`,
//! `candidate_sensitive` and `candidate_files` (and the two reads of
//! `placements` the placement rule needs) as typed functions over a
//! connection — a transaction's (`&mut tx`) or one taken from the pool.
//! Rows come back as `FromRow` structs ([`CandidateRow`], [`FileRow`])
//! mapped to the domain [`Candidate`]; enums go in by their `as_str` and
//! come back through their `parse`; the profile JSON column goes through
//! `StoredProfile`. Nothing here knows about users, policy or HTTP.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::{
    Candidate, CandidateFile, CandidateStatus, Consent, ConsentScope, RecordMeta, Sensitive,
    StoredProfile, EXTERNAL_ID_TAKEN,
};
use crate::error::{Error, FieldError, Result};

/// Columns of `candidates` that make a [`CandidateRow`], in its fields'
/// order (a row also deserialises from a JSON array of these).
pub(crate) const COLUMNS: &str =
    "id, external_id, first_name, last_name, commune_insee, status, counsellor_id, \
     profile, consent_at, consent_by, consent_scope, created_at, updated_at, last_activity_at, \
     retention_reminded_at, anonymised_at";

/// Columns of `candidate_files` that make a [`FileRow`].
const FILE_COLUMNS: &str =
    "id, candidate_id, file_name, content_type, size_bytes, sha256, created_at, text_chars, readable, in_use, ocr";

/// Most ids bound in one `IN (…)` list.
const CHUNK: usize = 500;

/// One row of `candidates`: from a result row, or from a JSON array of
/// [`COLUMNS`] in order (a read that aggregates its rows in the database).
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub(crate) struct CandidateRow {
    id: String,
    external_id: Option<String>,
    first_name: String,
    last_name: String,
    commune_insee: String,
    status: String,
    counsellor_id: Option<String>,
    /// JSON of `StoredProfile`.
    profile: String,
    consent_at: Option<i64>,
    consent_by: Option<String>,
    consent_scope: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_activity_at: i64,
    retention_reminded_at: Option<i64>,
    anonymised_at: Option<i64>,
}

impl CandidateRow {
    /// The record (without files nor sensitive fields) and its meta.
    pub(crate) fn into_record(self) -> Result<(Candidate, RecordMeta)> {
        let p: StoredProfile = serde_json::from_str(&self.profile)
            .map_err(|e| Error::Internal(anyhow::anyhow!("candidate profile JSON: {e}")))?;
        let consent = match (
            self.consent_at,
            self.consent_scope.as_deref().and_then(ConsentScope::parse),
        ) {
            (Some(at), Some(scope)) => Some(Consent {
                given_at: at,
                counsellor_id: self.consent_by.unwrap_or_default(),
                scope,
            }),
            _ => None,
        };
        let home = crate::referentials::Referentials::global()
            .commune(&self.commune_insee)
            .and_then(|c| c.point);
        Ok((
            Candidate {
                id: self.id,
                external_id: self.external_id,
                first_name: self.first_name,
                last_name: self.last_name,
                email: p.email,
                phone: p.phone,
                commune_insee: self.commune_insee,
                home,
                max_travel_km: p.max_travel_km,
                driving_licences: p.driving_licences,
                certifications: p.certifications,
                has_vehicle: p.has_vehicle,
                public_transport_only: p.public_transport_only,
                available_from: p.available_from,
                weekly_hours: p.weekly_hours,
                contract_types: p.contract_types,
                rome_codes: p.rome_codes,
                job_titles: p.job_titles,
                skills: p.skills,
                languages: p.languages,
                experience_years: p.experience_years,
                training_level: p.training_level,
                birth_year: p.birth_year,
                cv_text: p.cv_text,
                counsellor_id: self.counsellor_id,
                status: CandidateStatus::parse(&self.status).unwrap_or(CandidateStatus::Active),
                consent,
                sensitive: None,
                files: Vec::new(),
                created_at: self.created_at,
                updated_at: self.updated_at,
                last_activity_at: self.last_activity_at,
            },
            RecordMeta {
                retention_reminded_at: self.retention_reminded_at,
                anonymised_at: self.anonymised_at,
            },
        ))
    }
}

/// One row of `candidate_files` (flags stored as 0/1).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct FileRow {
    candidate_id: String,
    id: String,
    file_name: String,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    created_at: i64,
    text_chars: i64,
    readable: i64,
    in_use: i64,
    ocr: i64,
}

impl From<FileRow> for CandidateFile {
    fn from(r: FileRow) -> CandidateFile {
        CandidateFile {
            id: r.id,
            file_name: r.file_name,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            created_at: r.created_at,
            text_chars: r.text_chars,
            readable: r.readable != 0,
            in_use: r.in_use != 0,
            ocr: r.ocr != 0,
        }
    }
}

/// `$1, $2, … $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// Records

/// The files of record `id`, oldest first.
pub(crate) async fn files_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<CandidateFile>> {
    let rows: Vec<FileRow> = sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM candidate_files WHERE candidate_id = $1 ORDER BY created_at, id"
    ))
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(CandidateFile::from).collect())
}

async fn get_with(
    conn: &mut AnyConnection,
    id: &str,
    lock: &str,
) -> Result<Option<(Candidate, RecordMeta)>> {
    let row: Option<CandidateRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM candidates WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (mut c, meta) = row.into_record()?;
    c.files = files_of(conn, id).await?;
    Ok(Some((c, meta)))
}

/// Record `id` with its files and meta (no sensitive fields).
pub(crate) async fn get(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(Candidate, RecordMeta)>> {
    get_with(conn, id, "").await
}

/// Like [`get`], inside a write transaction, locking the row until it ends
/// (`FOR UPDATE` on PostgreSQL; SQLite write transactions already hold the
/// database's write lock).
pub(crate) async fn get_for_update(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(Candidate, RecordMeta)>> {
    let lock = if crate::db::is_postgres(conn) {
        " FOR UPDATE"
    } else {
        ""
    };
    get_with(conn, id, lock).await
}

/// Whether record `id` exists (anonymised or not).
pub(crate) async fn exists(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM candidates WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Records `ids` with their files (no sensitive fields), in the order of
/// `ids`; missing ids are skipped.
pub(crate) async fn get_many(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<Candidate>> {
    let mut by_id: HashMap<String, Candidate> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let list = placeholders(chunk.len());
        let sql = format!("SELECT {COLUMNS} FROM candidates WHERE id IN ({list})");
        let mut q = sqlx::query_as::<_, CandidateRow>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let (c, _) = row.into_record()?;
            by_id.insert(c.id.clone(), c);
        }
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM candidate_files WHERE candidate_id IN ({list}) ORDER BY created_at, id"
        );
        let mut q = sqlx::query_as::<_, FileRow>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            if let Some(c) = by_id.get_mut(&row.candidate_id) {
                c.files.push(row.into());
            }
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The records (without files) whose external id is one of `external_ids`.
pub(crate) async fn by_external_ids(
    conn: &mut AnyConnection,
    external_ids: &[&str],
) -> Result<Vec<(Candidate, RecordMeta)>> {
    let mut out = Vec::new();
    for chunk in external_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT {COLUMNS} FROM candidates WHERE external_id IN ({})",
            placeholders(chunk.len())
        );
        let mut q = sqlx::query_as::<_, CandidateRow>(&sql);
        for e in chunk {
            q = q.bind(*e);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(row.into_record()?);
        }
    }
    Ok(out)
}

/// How many records the search index holds (consented, not anonymised).
pub(crate) async fn indexable_count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM candidates WHERE consent_at IS NOT NULL AND anonymised_at IS NULL",
    )
    .fetch_one(conn)
    .await?)
}

/// The next `limit` consented, non-anonymised records (without files) with
/// an id after `after`, by id.
pub(crate) async fn indexable_page(
    conn: &mut AnyConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<Candidate>> {
    let rows: Vec<CandidateRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM candidates WHERE consent_at IS NOT NULL AND anonymised_at IS NULL \
         AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| r.into_record().map(|(c, _)| c))
        .collect()
}

/// Insert the row of a new record.
pub(crate) async fn insert(conn: &mut AnyConnection, c: &Candidate) -> Result<()> {
    write(conn, c, true).await
}

/// Write every stored column of `c` back to its row.
pub(crate) async fn update(conn: &mut AnyConnection, c: &Candidate) -> Result<()> {
    write(conn, c, false).await
}

/// Insert (`insert`) or update the row of `c`; the same columns either way,
/// plus `created_at` on insert. A taken external id is a field error.
async fn write(conn: &mut AnyConnection, c: &Candidate, insert: bool) -> Result<()> {
    let profile = serde_json::to_string(&StoredProfile::of(c))
        .map_err(|e| Error::Internal(anyhow::anyhow!("profile JSON: {e}")))?;
    let sql = if insert {
        "INSERT INTO candidates (id, external_id, first_name, last_name, commune_insee, status, counsellor_id, \
         profile, consent_at, consent_by, consent_scope, updated_at, last_activity_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    } else {
        "UPDATE candidates SET external_id = $2, first_name = $3, last_name = $4, commune_insee = $5, \
         status = $6, counsellor_id = $7, profile = $8, consent_at = $9, consent_by = $10, consent_scope = $11, \
         updated_at = $12, last_activity_at = $13 WHERE id = $1"
    };
    let mut q = sqlx::query(sql)
        .bind(&c.id)
        .bind(&c.external_id)
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.commune_insee)
        .bind(c.status.as_str())
        .bind(&c.counsellor_id)
        .bind(profile)
        .bind(c.consent.as_ref().map(|k| k.given_at))
        .bind(c.consent.as_ref().map(|k| k.counsellor_id.clone()))
        .bind(c.consent.as_ref().map(|k| k.scope.as_str().to_string()))
        .bind(c.updated_at)
        .bind(c.last_activity_at);
    if insert {
        q = q.bind(c.created_at);
    }
    match q.execute(conn).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Error::Validation(vec![FieldError::coded(
                "external_id",
                EXTERNAL_ID_TAKEN,
                "another candidate already has this external id",
            )]))
        }
        Err(e) => Err(e.into()),
    }
}

/// Forget that the retention reminder was sent (the record was worked on).
pub(crate) async fn clear_retention_reminder(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE candidates SET retention_reminded_at = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Assign record `id` to counsellor `to`.
pub(crate) async fn set_counsellor(
    conn: &mut AnyConnection,
    id: &str,
    to: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE candidates SET counsellor_id = $2, updated_at = $3, last_activity_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Move record `id` (not anonymised) to `status`; false when no such record.
pub(crate) async fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    status: CandidateStatus,
    now: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE candidates SET status = $2, updated_at = $3, last_activity_at = $3 WHERE id = $1 AND anonymised_at IS NULL",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Record `id` placed (a placement was recorded): status `placed`, the
/// retention reminder forgotten.
pub(crate) async fn mark_placed(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE candidates SET status = $3, updated_at = $2, last_activity_at = $2, retention_reminded_at = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(CandidateStatus::Placed.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete the row of record `id` (what hangs on it is purged first).
pub(crate) async fn delete(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM candidates WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sensitive fields

/// The sensitive fields of record `id`, if any were recorded.
pub(crate) async fn sensitive(conn: &mut AnyConnection, id: &str) -> Result<Option<Sensitive>> {
    let data: Option<String> =
        sqlx::query_scalar("SELECT data FROM candidate_sensitive WHERE candidate_id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    data.map(|d| {
        serde_json::from_str(&d)
            .map_err(|e| Error::Internal(anyhow::anyhow!("candidate_sensitive JSON: {e}")))
    })
    .transpose()
}

/// Replace the sensitive fields of record `id` (none kept when `s` is empty).
pub(crate) async fn write_sensitive(
    conn: &mut AnyConnection,
    id: &str,
    s: &Sensitive,
) -> Result<()> {
    delete_sensitive(&mut *conn, id).await?;
    if !s.is_empty() {
        let data = serde_json::to_string(s)
            .map_err(|e| Error::Internal(anyhow::anyhow!("sensitive JSON: {e}")))?;
        sqlx::query("INSERT INTO candidate_sensitive (candidate_id, data) VALUES ($1, $2)")
            .bind(id)
            .bind(data)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Forget the sensitive fields of record `id`.
pub(crate) async fn delete_sensitive(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM candidate_sensitive WHERE candidate_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// CV files

/// No file of record `id` gives its CV text any more.
pub(crate) async fn release_files(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE candidate_files SET in_use = 0 WHERE candidate_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Keep file `f` of record `candidate_id` with the text read from it.
pub(crate) async fn insert_file(
    conn: &mut AnyConnection,
    candidate_id: &str,
    f: &CandidateFile,
    extracted_text: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO candidate_files (id, candidate_id, file_name, content_type, size_bytes, sha256, created_at, \
         extracted_text, text_chars, readable, in_use, ocr) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&f.id)
    .bind(candidate_id)
    .bind(&f.file_name)
    .bind(&f.content_type)
    .bind(f.size_bytes)
    .bind(&f.sha256)
    .bind(f.created_at)
    .bind(extracted_text)
    .bind(f.text_chars)
    .bind(i64::from(f.readable))
    .bind(i64::from(f.in_use))
    .bind(i64::from(f.ocr))
    .execute(conn)
    .await?;
    Ok(())
}

/// The text kept for file `file_id` of record `id` (`None` for files
/// uploaded before texts were kept) and whether it is readable; `None`
/// when the record has no such file.
pub(crate) async fn file_text(
    conn: &mut AnyConnection,
    id: &str,
    file_id: &str,
) -> Result<Option<(Option<String>, bool)>> {
    let row: Option<(Option<String>, i64)> = sqlx::query_as(
        "SELECT extracted_text, readable FROM candidate_files WHERE id = $1 AND candidate_id = $2",
    )
    .bind(file_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(text, readable)| (text, readable != 0)))
}

/// File `file_id`, and no other, gives record `id` its CV text.
pub(crate) async fn use_file(conn: &mut AnyConnection, id: &str, file_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE candidate_files SET in_use = CASE WHEN id = $2 THEN 1 ELSE 0 END WHERE candidate_id = $1",
    )
    .bind(id)
    .bind(file_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forget the files of record `id` (the disk copies are removed by the caller).
pub(crate) async fn delete_files(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM candidate_files WHERE candidate_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Placements of a candidate (written by `reports::facts`)

/// The referral of the home-side placement already counted for referral
/// `referral_id`, if any.
pub(crate) async fn placement_of_referral(
    conn: &mut AnyConnection,
    referral_id: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT referral_id FROM placements WHERE referral_id = $1 AND side = 'home' LIMIT 1",
    )
    .bind(referral_id)
    .fetch_optional(conn)
    .await?)
}

/// The referral of the latest home-side hire of candidate `id` through a
/// referral placed at or after `since`, if any.
pub(crate) async fn recent_referral_hire(
    conn: &mut AnyConnection,
    id: &str,
    since: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT referral_id FROM placements WHERE candidate_id = $1 AND side = 'home' \
         AND referral_id IS NOT NULL AND placed_at >= $2 ORDER BY placed_at DESC LIMIT 1",
    )
    .bind(id)
    .bind(since)
    .fetch_optional(conn)
    .await?)
}

/// The placements of candidate `id` keep their figure without its id.
pub(crate) async fn detach_placements(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE placements SET candidate_id = NULL WHERE candidate_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Retention

/// Ids of the records (not anonymised) last active before `cutoff`.
pub(crate) async fn inactive_before(conn: &mut AnyConnection, cutoff: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM candidates WHERE anonymised_at IS NULL AND last_activity_at < $1 ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(conn)
    .await?)
}

/// A record whose retention reminder is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ReminderDue {
    pub id: String,
    pub counsellor_id: Option<String>,
    pub last_activity_at: i64,
}

/// The records (not anonymised, not reminded yet) last active before `cutoff`.
pub(crate) async fn reminders_due(
    conn: &mut AnyConnection,
    cutoff: i64,
) -> Result<Vec<ReminderDue>> {
    Ok(sqlx::query_as(
        "SELECT id, counsellor_id, last_activity_at FROM candidates \
         WHERE anonymised_at IS NULL AND retention_reminded_at IS NULL AND last_activity_at < $1 ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(conn)
    .await?)
}

/// Mark record `id` reminded at `now` unless it was already, or was active
/// since `last_activity_at` was read; true when marked.
pub(crate) async fn mark_reminded(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    last_activity_at: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE candidates SET retention_reminded_at = $2 WHERE id = $1 AND retention_reminded_at IS NULL \
         AND last_activity_at = $3",
    )
    .bind(id)
    .bind(now)
    .bind(last_activity_at)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Anonymise the row of record `id` (unless it already is): no name, no
/// external id, no counsellor, no consent; `kept` as its profile.
pub(super) async fn anonymise(
    conn: &mut AnyConnection,
    id: &str,
    kept: &StoredProfile,
    status: CandidateStatus,
    now: i64,
) -> Result<()> {
    let profile = serde_json::to_string(kept)
        .map_err(|e| Error::Internal(anyhow::anyhow!("profile JSON: {e}")))?;
    sqlx::query(
        "UPDATE candidates SET external_id = NULL, first_name = '', last_name = '', counsellor_id = NULL, \
         profile = $2, status = $3, consent_at = NULL, consent_by = NULL, consent_scope = NULL, \
         updated_at = $4, anonymised_at = $4 WHERE id = $1 AND anonymised_at IS NULL",
    )
    .bind(id)
    .bind(profile)
    .bind(status.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The records (not anonymised) last active before `cutoff` or already
/// reminded, least recently active first (at most 5,000); `due_at` is the
/// caller's to compute.
pub(crate) async fn due_for_review(
    conn: &mut AnyConnection,
    cutoff: i64,
) -> Result<Vec<super::RetentionItem>> {
    Ok(sqlx::query_as(
        "SELECT id, first_name, last_name, counsellor_id, status, last_activity_at, \
         retention_reminded_at AS reminded_at \
         FROM candidates WHERE anonymised_at IS NULL AND (last_activity_at < $1 OR retention_reminded_at IS NOT NULL) \
         ORDER BY last_activity_at, id LIMIT 5000",
    )
    .bind(cutoff)
    .fetch_all(conn)
    .await?)
}

/// Record `id` was worked on at `now`: its retention clock restarts. With
/// `only_live`, an anonymised record is left as is. True when a row changed.
pub(crate) async fn touch(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    only_live: bool,
) -> Result<bool> {
    let live = if only_live {
        " AND anonymised_at IS NULL"
    } else {
        ""
    };
    let res = sqlx::query(&format!(
        "UPDATE candidates SET last_activity_at = $2, retention_reminded_at = NULL WHERE id = $1{live}"
    ))
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

// ---------------------------------------------------------------------------
// Caseloads and lists

/// The assigned counsellor of record `id`: `None` when there is no such
/// record or it is anonymised, `Some(None)` when nobody is assigned.
pub(crate) async fn assigned_counsellor(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Option<String>>> {
    Ok(sqlx::query_scalar(
        "SELECT counsellor_id FROM candidates WHERE id = $1 AND anonymised_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Which of a counsellor's records a to-do list names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caseload {
    /// Reminded of their retention date.
    Reminded,
    /// Active or in referral, without any CV file.
    WithoutCv,
}

/// Id and names of a record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Named {
    pub candidate_id: String,
    pub first_name: String,
    pub last_name: String,
}

/// Up to `limit` live records of counsellor `counsellor_id` in `which`,
/// by name.
pub(crate) async fn caseload(
    conn: &mut AnyConnection,
    counsellor_id: &str,
    which: Caseload,
    limit: i64,
) -> Result<Vec<Named>> {
    let extra = match which {
        Caseload::Reminded => "c.retention_reminded_at IS NOT NULL",
        Caseload::WithoutCv => {
            "c.status IN ('active', 'in_referral') AND NOT EXISTS \
             (SELECT 1 FROM candidate_files f WHERE f.candidate_id = c.id)"
        }
    };
    Ok(sqlx::query_as(&format!(
        "SELECT c.id AS candidate_id, c.first_name AS first_name, c.last_name AS last_name FROM candidates c \
         WHERE c.counsellor_id = $1 AND c.anonymised_at IS NULL AND {extra} ORDER BY c.last_name, c.first_name LIMIT $2"
    ))
    .bind(counsellor_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Which records the staff list shows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ListFilter<'a> {
    /// Only those assigned to this counsellor.
    pub counsellor_id: Option<&'a str>,
    /// Only drafts (no consent).
    pub drafts_only: bool,
}

/// One line of the staff list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ListRow {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub status: String,
    pub counsellor_id: Option<String>,
    pub consent_at: Option<i64>,
    pub updated_at: i64,
}

const LIST_WHERE: &str = "WHERE anonymised_at IS NULL AND ($1 = 0 OR counsellor_id = $2) \
                          AND ($3 = 0 OR consent_at IS NULL)";

/// How many live records `f` selects, and the page `limit`/`offset` of
/// them, most recently updated first.
pub(crate) async fn list(
    conn: &mut AnyConnection,
    f: ListFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<ListRow>)> {
    let mine = i64::from(f.counsellor_id.is_some());
    let counsellor = f.counsellor_id.unwrap_or("");
    let drafts = i64::from(f.drafts_only);
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM candidates {LIST_WHERE}"))
        .bind(mine)
        .bind(counsellor)
        .bind(drafts)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT id, first_name, last_name, status, counsellor_id, consent_at, updated_at \
         FROM candidates {LIST_WHERE} ORDER BY updated_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(mine)
    .bind(counsellor)
    .bind(drafts)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((total, rows))
}

/// When record `id` was anonymised: `None` when there is no such record,
/// `Some(None)` when it is live.
pub(crate) async fn anonymised_at(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Option<i64>>> {
    Ok(
        sqlx::query_scalar("SELECT anonymised_at FROM candidates WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Ids of every record the search index must hold (consented, not anonymised).
pub(crate) async fn indexable_ids(conn: &mut AnyConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM candidates WHERE consent_at IS NOT NULL AND anonymised_at IS NULL",
    )
    .fetch_all(conn)
    .await?)
}
