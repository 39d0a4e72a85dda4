//! The candidate space's store: every SQL statement on
//! `candidate_accounts`, `candidate_sessions`, `candidate_links` and
//! `candidate_notices` as typed functions over a connection — a
//! transaction's (`&mut tx`) or one taken from the pool. The joins on
//! `candidates` (a session or a login ends with an anonymised record; the
//! counsellor's notices carry the record's name) and the export's reads of
//! `audit_log` (the person's consent history and who read their record)
//! are the space's own reads and stay here. Rows come back as `FromRow`
//! structs. Tokens arrive hashed. Nothing here knows about users, policy or
//! HTTP.

use sqlx::AnyConnection;

use super::CandidateUser;
use crate::error::Result;

/// Columns of `candidate_accounts a` that make a [`CandidateUser`].
const PERSON_COLUMNS: &str = "a.id AS account_id, a.candidate_id AS candidate_id, a.email AS email";

/// Columns of `candidate_notices n` that make a [`NoticeRow`].
const NOTICE_COLUMNS: &str = "n.id AS id, n.candidate_id AS candidate_id, n.kind AS kind, \
     n.offer_id AS offer_id, n.details AS details, n.created_at AS created_at, \
     n.due_at AS due_at, n.seen_at AS seen_at";

/// An account and its password hash (none: links only).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LoginRow {
    #[sqlx(flatten)]
    pub person: CandidateUser,
    pub password_hash: Option<String>,
}

/// A link as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LinkRow {
    pub candidate_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A notice as stored (`details` as JSON text).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct NoticeRow {
    pub id: String,
    pub candidate_id: String,
    pub kind: String,
    pub offer_id: Option<String>,
    pub details: String,
    pub created_at: i64,
    pub due_at: Option<i64>,
    pub seen_at: Option<i64>,
}

/// A notice with the record's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct NamedNoticeRow {
    #[sqlx(flatten)]
    pub notice: NoticeRow,
    pub first_name: String,
    pub last_name: String,
}

/// A consent given or withdrawn, from the audit log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ConsentAuditRow {
    pub at: i64,
    pub actor_role: Option<String>,
    pub action: String,
    pub details: String,
}

/// A read of the record, from the audit log, with the reader's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ReadAuditRow {
    pub at: i64,
    pub actor_role: Option<String>,
    pub action: String,
    pub reason: Option<String>,
    pub display_name: Option<String>,
}

// ---------------------------------------------------------------------------
// Sessions

/// The person of a live session (`token_hash` at `now`), unless the record
/// is anonymised.
pub(crate) async fn person_for_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<CandidateUser>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM candidate_sessions s \
         JOIN candidate_accounts a ON a.id = s.account_id \
         JOIN candidates c ON c.id = a.candidate_id AND c.anonymised_at IS NULL \
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Insert a session.
pub(crate) async fn insert_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    account_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO candidate_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete the sessions expired before `before`.
pub(crate) async fn delete_sessions_expired_before(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM candidate_sessions WHERE expires_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete one session.
pub(crate) async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM candidate_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Accounts

/// The e-mail of the record's account, if it has one.
pub(crate) async fn account_email_of(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT email FROM candidate_accounts WHERE candidate_id = $1")
            .bind(candidate_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The record whose account has this e-mail.
pub(crate) async fn record_with_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT candidate_id FROM candidate_accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}

/// The account with this e-mail.
pub(crate) async fn account_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<CandidateUser>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM candidate_accounts a WHERE a.email = $1"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

/// The record's account.
pub(crate) async fn account_of_record(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Option<CandidateUser>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM candidate_accounts a WHERE a.candidate_id = $1"
    ))
    .bind(candidate_id)
    .fetch_optional(conn)
    .await?)
}

/// The account with this e-mail and its password hash, unless the record
/// is anonymised.
pub(crate) async fn login_row(conn: &mut AnyConnection, email: &str) -> Result<Option<LoginRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS}, a.password_hash AS password_hash FROM candidate_accounts a \
         JOIN candidates c ON c.id = a.candidate_id AND c.anonymised_at IS NULL WHERE a.email = $1"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?)
}

/// Insert an account. `Ok(false)`: the record (or the e-mail) has one
/// already.
pub(crate) async fn insert_account(
    conn: &mut AnyConnection,
    person: &CandidateUser,
    password_hash: Option<&str>,
    now: i64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO candidate_accounts (id, candidate_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&person.account_id)
    .bind(&person.candidate_id)
    .bind(&person.email)
    .bind(password_hash)
    .bind(now)
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Links

/// A link to insert.
pub(crate) struct NewLink<'a> {
    pub token_hash: &'a str,
    pub candidate_id: &'a str,
    pub kind: &'a str,
    pub created_by: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Insert a link.
pub(crate) async fn insert_link(conn: &mut AnyConnection, l: &NewLink<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO candidate_links (token_hash, candidate_id, kind, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(l.token_hash)
    .bind(l.candidate_id)
    .bind(l.kind)
    .bind(l.created_by)
    .bind(l.created_at)
    .bind(l.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The link of `kind` with this hash.
pub(crate) async fn link(
    conn: &mut AnyConnection,
    token_hash: &str,
    kind: &str,
) -> Result<Option<LinkRow>> {
    Ok(sqlx::query_as(
        "SELECT candidate_id, expires_at, used_at FROM candidate_links WHERE token_hash = $1 AND kind = $2",
    )
    .bind(token_hash)
    .bind(kind)
    .fetch_optional(conn)
    .await?)
}

/// The record a link (of any kind) is for.
pub(crate) async fn link_record(conn: &mut AnyConnection, token_hash: &str) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT candidate_id FROM candidate_links WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_one(conn)
            .await?,
    )
}

/// Mark a link used at `now`.
pub(crate) async fn mark_link_used(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE candidate_links SET used_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delete the record's unused invitations.
pub(crate) async fn delete_unused_invitations(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM candidate_links WHERE candidate_id = $1 AND kind = 'invitation' AND used_at IS NULL",
    )
    .bind(candidate_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the record's newest login link was made.
pub(crate) async fn last_login_link_at(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(created_at) FROM candidate_links WHERE candidate_id = $1 AND kind = 'login'",
    )
    .bind(candidate_id)
    .fetch_one(conn)
    .await?)
}

/// Delete the record's login links.
pub(crate) async fn delete_login_links(conn: &mut AnyConnection, candidate_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM candidate_links WHERE candidate_id = $1 AND kind = 'login'")
        .bind(candidate_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Notices

/// A notice to insert.
pub(crate) struct NewNotice<'a> {
    pub id: &'a str,
    pub candidate_id: &'a str,
    pub kind: &'a str,
    pub offer_id: Option<&'a str>,
    pub details: &'a str,
    pub created_at: i64,
    pub due_at: Option<i64>,
}

/// Insert a notice (a duplicate is ignored).
pub(crate) async fn insert_notice(conn: &mut AnyConnection, n: &NewNotice<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO candidate_notices (id, candidate_id, kind, offer_id, details, created_at, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(n.id)
    .bind(n.candidate_id)
    .bind(n.kind)
    .bind(n.offer_id)
    .bind(n.details)
    .bind(n.created_at)
    .bind(n.due_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The record's notices, newest first (≤ 50).
pub(crate) async fn notices_of(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<NoticeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {NOTICE_COLUMNS} FROM candidate_notices n WHERE n.candidate_id = $1 \
         ORDER BY n.created_at DESC, n.id DESC LIMIT 50"
    ))
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

/// Mark the record's unseen notices seen, erasure requests excepted.
pub(crate) async fn mark_notices_seen(
    conn: &mut AnyConnection,
    candidate_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE candidate_notices SET seen_at = $2 WHERE candidate_id = $1 AND seen_at IS NULL AND kind <> 'erasure_request'",
    )
    .bind(candidate_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Unseen notices and every pending erasure request, those first, then by
/// due date (≤ 100); only the records assigned to `counsellor_id` when
/// given.
pub(crate) async fn pending_notices(
    conn: &mut AnyConnection,
    counsellor_id: Option<&str>,
) -> Result<Vec<NamedNoticeRow>> {
    let sql = format!(
        "SELECT {NOTICE_COLUMNS}, c.first_name AS first_name, c.last_name AS last_name \
         FROM candidate_notices n JOIN candidates c ON c.id = n.candidate_id \
         WHERE (n.seen_at IS NULL OR n.kind = 'erasure_request') {} \
         ORDER BY CASE WHEN n.kind = 'erasure_request' THEN 0 ELSE 1 END, n.due_at, n.created_at DESC LIMIT 100",
        if counsellor_id.is_some() {
            "AND c.counsellor_id = $1"
        } else {
            ""
        }
    );
    let mut q = sqlx::query_as(&sql);
    if let Some(id) = counsellor_id {
        q = q.bind(id);
    }
    Ok(q.fetch_all(conn).await?)
}

/// The offers of the record's interest notices.
pub(crate) async fn interest_offers(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT offer_id FROM candidate_notices WHERE candidate_id = $1 AND kind = 'interest'",
    )
    .bind(candidate_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .flatten()
    .collect())
}

/// The due date of the record's pending erasure request.
pub(crate) async fn erasure_due(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(due_at) FROM candidate_notices WHERE candidate_id = $1 AND kind = 'erasure_request'",
    )
    .bind(candidate_id)
    .fetch_one(conn)
    .await?)
}

// ---------------------------------------------------------------------------
// The export's reads of the audit log

/// Consents given and withdrawn on the record, oldest first.
pub(crate) async fn consent_history(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<ConsentAuditRow>> {
    Ok(sqlx::query_as(
        "SELECT at, actor_role, action, details FROM audit_log \
         WHERE target_kind = 'candidate' AND target_id = $1 \
           AND action IN ('candidate.consent', 'candidate.consent_withdrawn') ORDER BY id",
    )
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

/// Reads of the record (`actions`: the audit actions that are reads),
/// oldest first, with the reader's display name.
pub(crate) async fn reads_of(
    conn: &mut AnyConnection,
    candidate_id: &str,
    actions: &[&str],
) -> Result<Vec<ReadAuditRow>> {
    let marks: Vec<String> = (0..actions.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT a.at AS at, a.actor_role AS actor_role, a.action AS action, a.reason AS reason, \
         u.display_name AS display_name \
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id \
         WHERE a.target_kind = 'candidate' AND a.target_id = $1 AND a.action IN ({}) \
         ORDER BY a.id",
        marks.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(candidate_id);
    for a in actions {
        q = q.bind(*a);
    }
    Ok(q.fetch_all(conn).await?)
}
