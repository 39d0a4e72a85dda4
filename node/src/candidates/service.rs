//! The candidathèque's operations: create, update, correct, reassign,
//! give or withdraw consent, record a return to work, attach, choose and
//! read a CV, erase, read a record; the loads other features use; the index
//! journal entries and the rebuild. Each operation takes the caller
//! ([`Actor`]), checks what it may do before changing anything and writes
//! its audit row in the change's transaction (a read, in its own short
//! transaction). The HTTP API (`api.rs`), the web UI and the candidate
//! space are adapters over these functions. SQL is in `store.rs`.

use super::model::*;
use super::{followup, store};
use crate::actor::Actor;
use crate::auth::Role;
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::search::CandidateDoc;
use crate::server::AppState;
use crate::util::{new_id, now_ms};

// ---------------------------------------------------------------------------
// Loading

/// Load a record with its meta (no sensitive data).
pub(crate) async fn load(db: &Db, id: &str) -> Result<Option<(Candidate, RecordMeta)>> {
    let mut conn = db.pool.acquire().await?;
    store::get(&mut conn, id).await
}

/// Load a record inside a write transaction, locking its row until the
/// transaction ends (`FOR UPDATE` on PostgreSQL; SQLite write transactions
/// already hold the database's write lock). Read-modify-write of a record
/// happens this way, so that a change committed meanwhile is never
/// overwritten by a copy read before it.
pub(crate) async fn load_locked(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Option<(Candidate, RecordMeta)>> {
    store::get_for_update(tx, id).await
}

/// Load the sensitive fields of a record.
pub(crate) async fn load_sensitive(db: &Db, id: &str) -> Result<Option<Sensitive>> {
    let mut conn = db.pool.acquire().await?;
    store::sensitive(&mut conn, id).await
}

/// One record, for internal use (matching, referrals): no audit entry,
/// sensitive fields not loaded. Anonymised records are returned (without
/// consent).
/// `NotFound("candidate")` unless record `id` exists.
pub async fn ensure_exists(db: &Db, id: &str) -> Result<()> {
    match get_candidate(db, id).await? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound("candidate")),
    }
}

pub async fn get_candidate(db: &Db, id: &str) -> Result<Option<Candidate>> {
    Ok(load(db, id).await?.map(|(c, _)| c))
}

/// Many records, for internal use (matching), in the order of `ids`
/// (missing ids skipped). No audit, no sensitive fields.
pub async fn load_candidates(db: &Db, ids: &[String]) -> Result<Vec<Candidate>> {
    let mut conn = db.pool.acquire().await?;
    store::get_many(&mut conn, ids).await
}

/// Read a record (staff only). The sensitive fields are loaded only for
/// the admin and the assigned counsellor. Every read is audited, with the
/// reason the user gave.
pub async fn read(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: Option<&str>,
) -> Result<(Candidate, RecordMeta)> {
    let user = actor.staff()?;
    let (mut c, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let sensitive = may_see_sensitive(user, &c);
    if sensitive {
        c.sensitive = load_sensitive(&state.db, id).await?;
    }
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.read",
        ("candidate", id),
        reason,
        serde_json::json!({ "sensitive": sensitive }),
    )
    .await?;
    Ok((c, meta))
}

/// The staff list of records, drafts included (search only sees consented
/// records): `mine` = only the caller's, `drafts_only` = only records
/// without consent. Audited `candidate.list` (the page and the ids shown,
/// with the reason given) in its own transaction.
pub(crate) async fn list(
    state: &AppState,
    actor: &Actor,
    mine: bool,
    drafts_only: bool,
    paging: crate::http::PageParams,
    reason: Option<&str>,
) -> Result<(i64, Vec<store::ListRow>)> {
    let user = actor.staff()?;
    let filter = store::ListFilter {
        counsellor_id: mine.then_some(user.id.as_str()),
        drafts_only,
    };
    let mut conn = state.db.pool.acquire().await?;
    let (total, rows) = store::list(&mut conn, filter, paging.per_page, paging.offset()).await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.list",
        ("candidate", "*"),
        reason,
        serde_json::json!({ "page": paging.page, "ids": rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>() }),
    )
    .await?;
    Ok((total, rows))
}

/// Search the consented records in the index (staff). The read is
/// audited `candidate.search` through `state.read_audit` (queued, committed
/// in the next batch: `audit/reads.rs`) with the `details` the adapter
/// describes its search by (never the free text, only its length). A
/// search text past the query language's limits is the inner `Err`, not
/// audited (nothing was read).
pub async fn search(
    state: &AppState,
    actor: &Actor,
    q: &crate::search::CandidateQuery,
    reason: Option<&str>,
    details: impl FnOnce(&crate::search::SearchResults) -> serde_json::Value,
) -> Result<std::result::Result<crate::search::SearchResults, crate::search::QueryError>> {
    let user = actor.staff()?;
    let results = match index_search(state, q.clone(), true).await? {
        Ok(results) => results,
        Err(e) => return Ok(Err(e)),
    };
    state
        .read_audit
        .record(
            Some(user),
            "candidate.search",
            "candidate",
            "*",
            reason,
            details(&results),
        )
        .await?;
    Ok(Ok(results))
}

/// How many archived records search `q` (its default status, which
/// leaves them out) would also find: a counsellor typing an archived
/// person's name is told so rather than shown near spellings alone. Only a
/// number is read (no id, no name), so nothing is audited. `None` when `q`
/// already names a status or has no text.
pub async fn archived_matches(
    state: &AppState,
    actor: &Actor,
    q: &crate::search::CandidateQuery,
) -> Result<Option<usize>> {
    actor.staff()?;
    if q.status.is_some() || q.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Ok(None);
    }
    let query = crate::search::CandidateQuery {
        status: Some(CandidateStatus::Archived.as_str().to_string()),
        offset: 0,
        limit: 0,
        highlight: false,
        summaries: false,
        ..q.clone()
    };
    Ok(index_search(state, query, false)
        .await?
        .ok()
        .map(|r| r.total))
}

/// `q` on the candidate index, off the async threads; the inner `Err` is a
/// search text past the query language's limits. `relaxing`: tried again
/// with fewer words required when nobody had most of them
/// ([`crate::search::CandidateIndex::search_relaxing`]).
async fn index_search(
    state: &AppState,
    q: crate::search::CandidateQuery,
    relaxing: bool,
) -> Result<std::result::Result<crate::search::SearchResults, crate::search::QueryError>> {
    let search = state.search.clone();
    let run = move || {
        if relaxing {
            search.candidates.search_relaxing(&q)
        } else {
            search.candidates.search(&q)
        }
    };
    match tokio::task::spawn_blocking(run).await? {
        Ok(results) => Ok(Ok(results)),
        Err(crate::search::SearchError::Query(e)) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Index

/// Append, in the caller's transaction, the journal entry that brings the
/// candidate index in line with record `id` once committed.
pub(crate) async fn journal_index(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::IndexCandidate, id, now_ms()).await
}

/// Like [`journal_index`], for an erasure: the record leaves the index and
/// the segments that held it are rewritten.
pub(crate) async fn journal_purge(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::PurgeCandidate, id, now_ms()).await
}

/// After an erasure committed: wait (boundedly) until the index has
/// applied it, so that its text has left the index when the caller
/// answers. The journal entry is durable either way.
pub(crate) async fn unindex_now(state: &AppState, seq: i64) {
    crate::journal::wake(state);
    if !crate::journal::wait_candidates_applied(state, seq, std::time::Duration::from_secs(30))
        .await
    {
        tracing::warn!(
            seq,
            "erasure not yet applied to the search index; the follower will"
        );
    }
}

/// The index documents of records `ids` (consented, not anonymised), and
/// the ids that must leave the index (gone, drafts, anonymised).
pub async fn index_docs(db: &Db, ids: &[String]) -> Result<(Vec<CandidateDoc>, Vec<String>)> {
    let found = load_candidates(db, ids).await?;
    let docs: Vec<CandidateDoc> = found.iter().filter(|c| indexable(c)).map(to_doc).collect();
    let docs_ids: std::collections::HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let gone = ids
        .iter()
        .filter(|id| !docs_ids.contains(id.as_str()))
        .cloned()
        .collect();
    Ok((docs, gone))
}

/// Rebuild the candidate index from the database: every consented,
/// non-anonymised record. Rows are streamed page by page. The index then
/// follows the journal from the head it had when the rebuild started.
pub async fn reindex(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<u64> {
    let seq = crate::journal::head(&state.db).await?;
    reindex_at(state, progress, seq).await
}

/// [`reindex`] recording journal position `seq` (the head when the
/// rebuild was asked for).
pub async fn reindex_at(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
    seq: i64,
) -> anyhow::Result<u64> {
    let mut conn = state.db.pool.acquire().await?;
    let total = store::indexable_count(&mut conn)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = progress {
        p.set_length(u64::try_from(total).unwrap_or(0));
        p.set_position(0);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<CandidateDoc>(2000);
    let search = state.search.clone();
    let bar = progress.cloned();
    let indexer = tokio::task::spawn_blocking(move || {
        let mut it = rx.into_iter();
        let report = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        };
        search.candidates.rebuild(&mut it, &report, seq)
    });
    let mut after = String::new();
    let produce: anyhow::Result<()> = async {
        loop {
            let page = store::indexable_page(&mut conn, &after, 1000)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if page.is_empty() {
                break;
            }
            for c in &page {
                after.clone_from(&c.id);
                if indexable(c) {
                    let doc = to_doc(c);
                    // A closed receiver means the indexer failed: its error is reported below.
                    if tx.send(doc).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let n = indexer.await??;
    produce?;
    Ok(n)
}

// ---------------------------------------------------------------------------
// Writes

async fn check_counsellor(db: &Db, id: &str) -> Result<()> {
    match crate::auth::user_by_id(db, id).await? {
        Some(u) if matches!(u.role, Role::Counsellor | Role::Admin) => Ok(()),
        Some(_) => Err(Error::field(
            "counsellor_id",
            "this user is not a counsellor",
        )),
        None => Err(Error::field("counsellor_id", "unknown user")),
    }
}

/// Add certification codes to a record (a training certified through a
/// referral): the codes not held yet are appended, the record re-indexed
/// (journal). Returns the codes added. The caller audits. A missing or
/// anonymised record gets nothing.
pub(crate) async fn add_certifications(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    codes: &[String],
) -> Result<Vec<String>> {
    let Some((mut c, meta)) = load_locked(tx, id).await? else {
        return Ok(Vec::new());
    };
    if meta.anonymised_at.is_some() {
        return Ok(Vec::new());
    }
    let added: Vec<String> = codes
        .iter()
        .filter(|code| !c.certifications.contains(code))
        .cloned()
        .collect();
    if added.is_empty() {
        return Ok(added);
    }
    c.certifications.extend(added.iter().cloned());
    let now = now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(tx, &c).await?;
    crate::journal::append(tx, crate::journal::Kind::IndexCandidate, id, now).await?;
    Ok(added)
}

pub(crate) async fn insert_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &Candidate,
) -> Result<()> {
    store::insert(tx, c).await
}

pub(crate) async fn update_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &Candidate,
) -> Result<()> {
    store::update(tx, c).await
}

/// Create a record (staff). Draft unless `input.consent_scope` is given.
/// Audited `candidate.create` in the same transaction; `via` says which
/// adapter asked (`api`, `ui`).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: CandidateInput,
    via: &str,
) -> Result<Candidate> {
    let user = actor.staff()?;
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let counsellor_id = match (&input.counsellor_id, user.role) {
        (Some(id), _) => {
            check_counsellor(&state.db, id).await?;
            Some(id.clone())
        }
        (None, Role::Counsellor) => Some(user.id.clone()),
        (None, _) => None,
    };
    let now = now_ms();
    let mut c = empty_candidate(new_id(), now);
    valid.apply(&mut c, state.refs);
    c.counsellor_id = counsellor_id;
    if let Some(scope) = input.consent_scope {
        c.consent = Some(Consent {
            given_at: now,
            counsellor_id: user.id.clone(),
            scope,
        });
    }
    if input.sensitive.is_some() && !may_see_sensitive(user, &c) {
        return Err(Error::field(
            "sensitive",
            "only the admin or the assigned counsellor may record sensitive fields",
        ));
    }
    let mut tx = state.db.begin().await?;
    insert_row(&mut tx, &c).await?;
    if let Some(s) = &input.sensitive {
        store::write_sensitive(&mut tx, &c.id, s).await?;
    }
    journal_index(&mut tx, &c.id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.create",
        ("candidate", &c.id),
        None,
        serde_json::json!({ "consent": c.consent.is_some(), "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    if may_see_sensitive(user, &c) {
        c.sensitive = input.sensitive.filter(|s| !s.is_empty());
    }
    Ok(c)
}

/// Update a record (staff; full replacement of the editable fields;
/// `cv_text` and `sensitive` absent = unchanged). Returns the record and
/// the names of the fields that changed, audited `candidate.update` in the
/// same transaction.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: CandidateInput,
    via: &str,
) -> Result<(Candidate, Vec<String>)> {
    let user = actor.staff()?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict(
            "this record was anonymised and cannot be edited".into(),
        ));
    }
    // What the caller may do and see is decided on the record as it is,
    // before any change.
    let sees_sensitive = may_see_sensitive(user, &c);
    if let Some(cid) = &input.counsellor_id {
        if c.counsellor_id.as_deref() != Some(cid.as_str()) {
            // Reassignment is its own audited action, never a side effect.
            return Err(if may_reassign(user, &c) {
                Error::field(
                    "counsellor_id",
                    "the assigned counsellor is changed with POST /api/v1/candidates/{id}/counsellor, not by an update",
                )
            } else {
                Error::Forbidden
            });
        }
    }
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let before = serde_json::to_value(&c).unwrap_or_default();
    if input.sensitive.is_some() && !sees_sensitive {
        return Err(Error::field(
            "sensitive",
            "only the admin or the assigned counsellor may record sensitive fields",
        ));
    }
    let text_before = c.cv_text.clone();
    valid.apply(&mut c, state.refs);
    let now = now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    // Text typed by hand is no longer any file's: no version is "in use".
    if c.cv_text != text_before {
        store::release_files(&mut tx, id).await?;
        for f in &mut c.files {
            f.in_use = false;
        }
    }
    if let Some(scope) = input.consent_scope {
        if c.consent.as_ref().map(|k| k.scope) != Some(scope) {
            c.consent = Some(Consent {
                given_at: now,
                counsellor_id: user.id.clone(),
                scope,
            });
        }
    }
    update_row(&mut tx, &c).await?;
    store::clear_retention_reminder(&mut tx, id).await?;
    if let Some(s) = &input.sensitive {
        store::write_sensitive(&mut tx, id, s).await?;
    }
    journal_index(&mut tx, id).await?;
    let mut changed = changed_fields(&before, &serde_json::to_value(&c).unwrap_or_default());
    if input.sensitive.is_some() {
        changed.push("sensitive".into());
    }
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.update",
        ("candidate", id),
        None,
        serde_json::json!({ "fields": changed, "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    if sees_sensitive {
        c.sensitive = load_sensitive(&state.db, id).await?;
    }
    Ok((c, changed))
}

/// The person corrects their own record (`Actor::Candidate`, their record
/// only): validated like a counsellor's input; in one transaction the
/// change, a `change` notice for the counsellor naming the fields, the
/// audit entry `candidate.correct` and the index journal. Returns the
/// fields that changed (none: nothing is written).
pub async fn correct(
    state: &AppState,
    actor: &Actor,
    id: &str,
    fix: Correction,
) -> Result<Vec<String>> {
    actor.own_record(id)?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let input = CandidateInput {
        email: fix.email,
        phone: fix.phone,
        available_from: fix.available_from,
        weekly_hours: fix.weekly_hours,
        max_travel_km: fix.max_travel_km,
        has_vehicle: fix.has_vehicle,
        public_transport_only: fix.public_transport_only,
        job_titles: fix.job_titles,
        contract_types: fix.contract_types,
        ..input_of(&c)
    };
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let before = serde_json::to_value(&c).unwrap_or_default();
    valid.apply(&mut c, state.refs);
    let changed = changed_fields(&before, &serde_json::to_value(&c).unwrap_or_default());
    if changed.is_empty() {
        return Ok(changed);
    }
    let now = state.clock.now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    let details = serde_json::json!({ "fields": changed });
    crate::space::notice(&mut tx, id, "change", None, details.clone(), now, None).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.correct",
        ("candidate", id),
        None,
        details,
    )
    .await?;
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(changed)
}

/// Hand a record over to another counsellor (admin, or the assigned
/// counsellor). Returns the previous assignee. Audited
/// `candidate.reassign` (from, to, with the reason given) in the same
/// transaction.
pub async fn reassign(
    state: &AppState,
    actor: &Actor,
    id: &str,
    to: &str,
    reason: Option<&str>,
) -> Result<(Candidate, Option<String>)> {
    let user = actor.staff()?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if !may_reassign(user, &c) {
        return Err(Error::Forbidden);
    }
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    check_counsellor(&state.db, to).await?;
    let previous = c.counsellor_id.clone();
    let now = now_ms();
    store::set_counsellor(&mut tx, id, to, now).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.reassign",
        ("candidate", id),
        reason,
        serde_json::json!({ "from": previous, "to": to }),
    )
    .await?;
    tx.commit().await?;
    c.counsellor_id = Some(to.to_string());
    c.updated_at = now;
    c.last_activity_at = now;
    Ok((c, previous))
}

/// Record (or change the scope of) the candidate's consent: the record
/// becomes searchable. The caller audits (the candidate space, which
/// audits with its notice); staff adapters use [`consent`].
pub async fn give_consent(
    state: &AppState,
    recorded_by: &str,
    id: &str,
    scope: ConsentScope,
) -> Result<Candidate> {
    let mut tx = state.db.begin().await?;
    let c = consent_in_tx(&mut tx, recorded_by, id, scope).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(c)
}

/// Staff record (or change the scope of) the candidate's consent, audited
/// `candidate.consent` in the same transaction.
pub async fn consent(
    state: &AppState,
    actor: &Actor,
    id: &str,
    scope: ConsentScope,
    via: &str,
) -> Result<Candidate> {
    let user = actor.staff()?;
    let mut tx = state.db.begin().await?;
    let c = consent_in_tx(&mut tx, &user.id, id, scope).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.consent",
        ("candidate", id),
        None,
        serde_json::json!({ "scope": scope, "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(c)
}

/// The consent change of [`give_consent`] and [`consent`], in the
/// caller's transaction.
async fn consent_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    recorded_by: &str,
    id: &str,
    scope: ConsentScope,
) -> Result<Candidate> {
    let (mut c, meta) = load_locked(tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let now = now_ms();
    c.consent = Some(Consent {
        given_at: now,
        counsellor_id: recorded_by.to_string(),
        scope,
    });
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(tx, &c).await?;
    journal_index(tx, id).await?;
    Ok(c)
}

/// Withdraw the consent: back to draft, out of the index. Staff or the
/// person; audited `candidate.consent_withdrawn` in the same transaction.
pub async fn withdraw_consent(
    state: &AppState,
    actor: &Actor,
    id: &str,
    via: &str,
) -> Result<Candidate> {
    actor.on_candidate(id)?;
    let mut tx = state.db.begin().await?;
    let (mut c, _) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let now = now_ms();
    c.consent = None;
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    journal_index(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.consent_withdrawn",
        ("candidate", id),
        None,
        serde_json::json!({ "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(c)
}

/// Change the status (referrals, placements) and re-index.
pub async fn set_status(state: &AppState, id: &str, status: CandidateStatus) -> Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if !store::set_status(&mut tx, id, status, now).await? {
        return Err(Error::NotFound("candidate"));
    }
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(())
}

async fn already_counted(state: &AppState, c: &Candidate, referral_id: Option<&str>) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let existing: Option<String> = match referral_id {
        Some(r) => store::placement_of_referral(&mut conn, r).await?,
        None if c.status == CandidateStatus::Placed => {
            let since = state.clock.now_ms() - RECENT_HIRE_DAYS * 86_400_000;
            store::recent_referral_hire(&mut conn, &c.id, since).await?
        }
        None => None,
    };
    match existing {
        Some(r) => Err(Error::Refused {
            code: "placement_already_recorded",
            message: format!(
                "this return to work is already counted: the hire through referral {r} was recorded \
                 when the employer accepted it"
            ),
        }),
        None => Ok(()),
    }
}

/// Close the candidate as placed (staff): writes `placements` (with the
/// facts the reports need, `reports::facts`), status `placed`, audited
/// `candidate.placement` in the same transaction.
pub async fn record_placement(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: PlacementInput,
    via: &str,
) -> Result<Placement> {
    let user = actor.staff()?;
    let (c, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let referral_id = input
        .referral_id
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let mut errs = Vec::new();
    let contract = match input.contract.check("contract.") {
        Ok(c) => Some(c),
        Err(e) => {
            errs.extend(e);
            None
        }
    };
    if let Some(r) = &input.rome_code {
        if !state.refs.rome_exists(r) {
            errs.push(FieldError::new("rome_code", "unknown ROME code"));
        }
    }
    if let Some(r) = &referral_id {
        let mut conn = state.db.pool.acquire().await?;
        if !crate::referrals::store::is_of_candidate(&mut conn, r, id).await? {
            errs.push(FieldError::new(
                "referral_id",
                "no referral of this candidate has this id",
            ));
        }
    }
    let Some(contract) = contract.filter(|_| errs.is_empty()) else {
        return Err(Error::Validation(errs));
    };
    already_counted(state, &c, referral_id.as_deref()).await?;
    let channel = input.channel.unwrap_or(if referral_id.is_some() {
        crate::reports::Channel::Platform
    } else {
        crate::reports::Channel::Counsellor
    });
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let (pid, placed_on) = crate::reports::facts::insert_placement(
        &mut tx,
        &state.config.reports,
        &state.config.aids,
        crate::reports::NewPlacement {
            candidate_id: Some(c.id.clone()),
            outcome: input.outcome,
            referral_id: referral_id.clone(),
            recorded_by: Some(user.id.clone()),
            recorded_at: now,
            contract: contract.clone(),
            channel,
            side: crate::reports::Side::Home,
            rome_code: input.rome_code,
        },
    )
    .await?;
    store::mark_placed(&mut tx, id, now).await?;
    journal_index(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.placement",
        ("candidate", id),
        None,
        serde_json::json!({ "outcome": input.outcome, "placement_id": pid, "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(Placement {
        id: pid,
        candidate_id: c.id,
        outcome: input.outcome,
        referral_id,
        placed_at: now,
        placed_on,
        contract,
        channel,
    })
}

fn candidate_dir(state: &AppState, id: &str) -> std::path::PathBuf {
    state.files_dir.join(id)
}

/// Keep an uploaded CV: extract its text in the sandboxed extractor
/// (`state.extractor`, a child process), then store the original and put
/// the text in `cv_text`. `bytes` must already be within the size limit.
///
/// A file whose text cannot be read is refused before anything is written:
/// 415 for a type that is not PDF/DOCX/ODT, 422 `cv_unreadable` for a
/// corrupt file or one past a limit (time, memory, inflation, text size),
/// 503 `extraction_busy` when every extraction slot stays taken; the file
/// is not kept and the record's CV text is unchanged.
pub async fn attach_cv(
    state: &AppState,
    actor: &Actor,
    id: &str,
    file_name: &str,
    bytes: Vec<u8>,
    via: &str,
) -> Result<(Candidate, CandidateFile)> {
    // Cheap checks first, before the (slow) extraction.
    actor.on_candidate(id)?;
    let (_, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let crate::extract::Extracted { kind, text, ocr } = state.extractor.extract(&bytes).await?;
    let now = now_ms();
    let file = CandidateFile {
        id: new_id(),
        file_name: sanitize_file_name(file_name, kind),
        content_type: kind.content_type().to_string(),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: crate::util::sha256_hex(&bytes),
        created_at: now,
        text_chars: 0,
        readable: false,
        in_use: false,
        ocr,
    };
    let dir = candidate_dir(state, id);
    let path = dir.join(format!("{}.{}", file.id, kind.extension()));
    {
        let path = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .await?
        .map_err(|e| Error::Internal(anyhow::anyhow!("storing CV file: {e}")))?;
    }
    let cv_text: String = text.chars().take(200_000).collect();
    let readable = readable_text(&cv_text);
    let file = CandidateFile {
        text_chars: i64::try_from(cv_text.chars().count()).unwrap_or(i64::MAX),
        readable,
        in_use: readable,
        ..file
    };
    let res: Result<Candidate> = async {
        let mut tx = state.db.begin().await?;
        // The record as it is now (a referral may have changed it while the
        // file was being read): only the CV text changes, and only when the
        // new file has readable text.
        let (mut c, meta) = load_locked(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("candidate"))?;
        if meta.anonymised_at.is_some() {
            return Err(Error::Conflict("this record was anonymised".into()));
        }
        if readable {
            store::release_files(&mut tx, id).await?;
            c.cv_text = cv_text.clone();
        }
        c.updated_at = now;
        c.last_activity_at = now;
        store::insert_file(&mut tx, id, &file, &cv_text).await?;
        update_row(&mut tx, &c).await?;
        journal_index(&mut tx, id).await?;
        crate::audit::append(
            &mut tx,
            actor,
            "candidate.cv_upload",
            ("candidate", id),
            None,
            serde_json::json!({ "file_id": file.id, "content_type": file.content_type,
                "size_bytes": file.size_bytes, "readable": file.readable, "ocr": file.ocr,
                "via": via }),
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }
    .await;
    let mut c = match res {
        Ok(c) => c,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    for f in &mut c.files {
        f.in_use = f.in_use && !readable;
    }
    c.files.push(file.clone());
    crate::journal::wake(state);
    Ok((c, file))
}

/// Make the text read from file `file_id` the record's searchable CV text
/// (a counsellor choosing among the versions), audited
/// `candidate.cv_text_chosen` in the same transaction. Refused for a file
/// without readable text, or one uploaded before texts were kept.
pub async fn use_cv_text(
    state: &AppState,
    actor: &Actor,
    id: &str,
    file_id: &str,
) -> Result<Candidate> {
    actor.staff()?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let (text, readable) = store::file_text(&mut tx, id, file_id)
        .await?
        .ok_or(Error::NotFound("CV file"))?;
    let Some(text) = text.filter(|_| readable) else {
        return Err(Error::Refused {
            code: "cv_text_unavailable",
            message:
                "this file has no readable text to use (a scan, or uploaded before texts were kept)"
                    .into(),
        });
    };
    store::use_file(&mut tx, id, file_id).await?;
    let now = state.clock.now_ms();
    c.cv_text = text;
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    journal_index(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.cv_text_chosen",
        ("candidate", id),
        None,
        serde_json::json!({"file_id": file_id}),
    )
    .await?;
    tx.commit().await?;
    for f in &mut c.files {
        f.in_use = f.id == file_id;
    }
    crate::journal::wake(state);
    Ok(c)
}

/// Read a stored CV file.
pub async fn read_cv(
    state: &AppState,
    actor: &Actor,
    id: &str,
    file_id: &str,
    reason: Option<&str>,
    via: &str,
) -> Result<(CandidateFile, Vec<u8>)> {
    actor.staff()?;
    let (c, _) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let f = c
        .files
        .into_iter()
        .find(|f| f.id == file_id)
        .ok_or(Error::NotFound("file"))?;
    let ext = match f.content_type.as_str() {
        "application/pdf" => "pdf",
        "application/vnd.oasis.opendocument.text" => "odt",
        _ => "docx",
    };
    let path = candidate_dir(state, id).join(format!("{}.{ext}", f.id));
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading CV file {}: {e}", path.display())))?;
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.cv_download",
        ("candidate", id),
        reason,
        serde_json::json!({ "file_id": f.id, "via": via }),
    )
    .await?;
    Ok((f, bytes))
}

/// RGPD erasure: the record, its sensitive row, its files (database and
/// disk), its index entry and the local copies of its profile in referrals
/// are removed; placements keep their figure without the candidate id; the
/// federation is told (`federation::on_candidate_erased`, same
/// transaction). Staff only; audited `candidate.erase` (opaque id only) in
/// the same transaction.
pub async fn erase(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: Option<&str>,
    via: &str,
) -> Result<()> {
    actor.staff()?;
    let exists = {
        let mut conn = state.db.pool.acquire().await?;
        store::exists(&mut conn, id).await?
    };
    if !exists {
        return Err(Error::NotFound("candidate"));
    }
    let mut tx = state.db.begin().await?;
    crate::federation::on_candidate_erased(state, &mut tx, id).await?;
    purge_in_tx(&mut tx, id).await?;
    store::delete(&mut tx, id).await?;
    let seq = journal_purge(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.erase",
        ("candidate", id),
        reason,
        serde_json::json!({ "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    remove_files_dir(state, id).await;
    unindex_now(state, seq).await;
    state.db.scrub().await?;
    Ok(())
}

/// Remove everything personal attached to a record (not the row itself).
async fn purge_in_tx(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
    crate::referrals::store::detach_candidate(tx, id).await?;
    store::detach_placements(tx, id).await?;
    store::delete_files(tx, id).await?;
    store::delete_sensitive(tx, id).await?;
    followup::purge(tx, id).await?;
    crate::programmes::purge(tx, id).await?;
    crate::netsearch::store::purge(tx, id).await?;
    Ok(())
}

pub(crate) async fn remove_files_dir(state: &AppState, id: &str) {
    let dir = candidate_dir(state, id);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(candidate = %id, error = %e, "could not remove the candidate's files")
        }
    }
}
