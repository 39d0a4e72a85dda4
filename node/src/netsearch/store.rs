//! SQL of the network search: searches and their answers (asking side),
//! answered queries and pseudonyms (answering side), interests (both
//! sides), approved network summaries.

use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::db::Db;
use crate::error::{Error, Result};

/// The node's pseudonym secret, created on first use (32 random bytes,
/// base64url), never sent anywhere.
pub async fn node_secret(db: &Db) -> Result<Vec<u8>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let read = || async {
        sqlx::query_scalar::<_, String>("SELECT value FROM node_secrets WHERE name = 'netsearch'")
            .fetch_optional(&db.pool)
            .await
    };
    let value = match read().await? {
        Some(v) => v,
        None => {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            sqlx::query(
                "INSERT INTO node_secrets (name, value) VALUES ('netsearch', $1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(URL_SAFE_NO_PAD.encode(bytes))
            .execute(&db.pool)
            .await?;
            read()
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("netsearch secret not stored")))?
        }
    };
    URL_SAFE_NO_PAD
        .decode(value.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("netsearch secret: {e}")))
}

/// Queries answered for `origin` since `since_ms`.
pub async fn answered_since(db: &Db, origin: &str, since_ms: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM network_queries_answered WHERE origin = $1 AND answered_at >= $2",
    )
    .bind(origin)
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await?)
}

/// Whether this query id of `origin` was answered already.
pub async fn already_answered(db: &Db, origin: &str, query_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM network_queries_answered WHERE origin = $1 AND query_id = $2",
    )
    .bind(origin)
    .bind(query_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// Records an answered query and the pseudonyms given out.
pub async fn insert_answered(
    conn: &mut AnyConnection,
    origin: &str,
    query_id: &str,
    at: i64,
    pseudonyms: &[(String, String)],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network_queries_answered (origin, query_id, answered_at, results) VALUES ($1, $2, $3, $4)",
    )
    .bind(origin)
    .bind(query_id)
    .bind(at)
    .bind(pseudonyms.len() as i64)
    .execute(&mut *conn)
    .await?;
    // One multi-row insert (4 parameters a row; 200 rows at most per
    // answer, well within both engines' parameter limits).
    for chunk in pseudonyms.chunks(200) {
        let rows = (0..chunk.len())
            .map(|i| {
                let b = i * 4;
                format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO network_pseudonyms (origin, query_id, pseudonym, candidate_id) VALUES {rows}"
        );
        let mut q = sqlx::query(&sql);
        for (pseudonym, candidate_id) in chunk {
            q = q
                .bind(origin)
                .bind(query_id)
                .bind(pseudonym)
                .bind(candidate_id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The candidate a pseudonym given to `origin` for `query_id` stands for.
pub async fn resolve_pseudonym(
    db: &Db,
    origin: &str,
    query_id: &str,
    pseudonym: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT candidate_id FROM network_pseudonyms WHERE origin = $1 AND query_id = $2 AND pseudonym = $3",
    )
    .bind(origin)
    .bind(query_id)
    .bind(pseudonym)
    .fetch_optional(&db.pool)
    .await?)
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many of this node's records live in each of `communes` (the
/// communes where none does are left out).
pub async fn residents(db: &Db, communes: &[String]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(communes.len());
    for chunk in communes.chunks(500) {
        let sql = format!(
            "SELECT commune_insee, COUNT(*) FROM candidates WHERE commune_insee IN ({}) AND anonymised_at IS NULL GROUP BY commune_insee",
            placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q.bind(c);
        }
        for row in q.fetch_all(&db.pool).await? {
            out.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(out)
}

/// Approved network summaries of `ids`.
pub async fn summaries(db: &Db, ids: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT candidate_id, summary FROM candidate_network_summaries WHERE candidate_id IN ({})",
            placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&db.pool).await? {
            out.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(out)
}

/// The approved network summary of one record.
pub async fn summary(db: &Db, id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT summary FROM candidate_network_summaries WHERE candidate_id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Sets (or with `None` removes) a record's approved network summary.
pub async fn set_summary(
    conn: &mut AnyConnection,
    id: &str,
    summary: Option<&str>,
    by: &str,
    at: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM candidate_network_summaries WHERE candidate_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if let Some(s) = summary {
        sqlx::query(
            "INSERT INTO candidate_network_summaries (candidate_id, summary, approved_by, approved_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(s)
        .bind(by)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes what the network search keeps about a record (erasure,
/// anonymisation), in the caller's transaction.
pub async fn purge(conn: &mut AnyConnection, candidate_id: &str) -> Result<()> {
    for sql in [
        "DELETE FROM candidate_network_summaries WHERE candidate_id = $1",
        "DELETE FROM network_pseudonyms WHERE candidate_id = $1",
        "DELETE FROM network_interests_received WHERE candidate_id = $1",
    ] {
        sqlx::query(sql)
            .bind(candidate_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Asking side

/// Searches made since `since_ms`, by `user_id` or (None) by anyone here.
pub async fn searches_since(db: &Db, user_id: Option<&str>, since_ms: i64) -> Result<i64> {
    let n = match user_id {
        Some(u) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM network_searches WHERE user_id = $1 AND created_at >= $2",
            )
            .bind(u)
            .bind(since_ms)
            .fetch_one(&db.pool)
            .await?
        }
        None => {
            sqlx::query_scalar("SELECT COUNT(*) FROM network_searches WHERE created_at >= $1")
                .bind(since_ms)
                .fetch_one(&db.pool)
                .await?
        }
    };
    Ok(n)
}

/// A stored search.
#[derive(Debug, Clone)]
pub struct SearchRow {
    pub id: String,
    pub user_id: String,
    pub query: String,
    pub created_at: i64,
    pub deadline_at: i64,
    pub late_until: i64,
    pub members_asked: i64,
}

/// One member's part of a search.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub node_id: String,
    pub status: String,
    pub error: Option<String>,
    pub answered_at: Option<i64>,
    pub answer: Option<String>,
}

/// Inserts a search and one pending row per member asked.
pub async fn insert_search(
    tx: &mut Transaction<'_, Any>,
    s: &SearchRow,
    members: &[String],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network_searches (id, user_id, query, created_at, deadline_at, late_until, members_asked) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.user_id)
    .bind(&s.query)
    .bind(s.created_at)
    .bind(s.deadline_at)
    .bind(s.late_until)
    .bind(s.members_asked)
    .execute(&mut **tx)
    .await?;
    for m in members {
        sqlx::query(
            "INSERT INTO network_search_nodes (search_id, node_id, status) VALUES ($1, $2, 'pending')",
        )
        .bind(&s.id)
        .bind(m)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records a member's answer or failure, unless the search no longer takes
/// answers (`late_until` passed) or it was recorded already.
pub async fn record_node(
    db: &Db,
    search_id: &str,
    node_id: &str,
    outcome: std::result::Result<String, String>,
    at: i64,
) -> Result<()> {
    let (status, error, answer) = match outcome {
        Ok(a) => ("answered", None, Some(a)),
        Err(e) => ("failed", Some(e), None),
    };
    sqlx::query(
        "UPDATE network_search_nodes SET status = $1, error = $2, answer = $3, answered_at = $4 \
         WHERE search_id = $5 AND node_id = $6 AND status = 'pending' \
         AND EXISTS (SELECT 1 FROM network_searches s WHERE s.id = $5 AND s.late_until >= $4)",
    )
    .bind(status)
    .bind(error)
    .bind(answer)
    .bind(at)
    .bind(search_id)
    .bind(node_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

fn search_row(r: &sqlx::any::AnyRow) -> Result<SearchRow> {
    Ok(SearchRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        query: r.try_get("query")?,
        created_at: r.try_get("created_at")?,
        deadline_at: r.try_get("deadline_at")?,
        late_until: r.try_get("late_until")?,
        members_asked: r.try_get("members_asked")?,
    })
}

/// A search by id.
pub async fn search(db: &Db, id: &str) -> Result<Option<SearchRow>> {
    by_id(
        db,
        "SELECT id, user_id, query, created_at, deadline_at, late_until, members_asked FROM network_searches WHERE id = $1",
        id,
        search_row,
    )
    .await
}

/// A user's searches, newest first.
pub async fn searches_of(db: &Db, user_id: &str, limit: i64) -> Result<Vec<SearchRow>> {
    let rows = sqlx::query(
        "SELECT id, user_id, query, created_at, deadline_at, late_until, members_asked FROM network_searches \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(search_row).collect()
}

/// The members' rows of a search.
pub async fn nodes(db: &Db, search_id: &str) -> Result<Vec<NodeRow>> {
    let rows = sqlx::query(
        "SELECT node_id, status, error, answered_at, answer FROM network_search_nodes WHERE search_id = $1 ORDER BY node_id",
    )
    .bind(search_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(NodeRow {
                node_id: r.try_get("node_id")?,
                status: r.try_get("status")?,
                error: r.try_get("error")?,
                answered_at: r.try_get("answered_at")?,
                answer: r.try_get("answer")?,
            })
        })
        .collect()
}

/// An interest sent (asking side).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SentInterest {
    pub id: String,
    pub search_id: String,
    pub node_id: String,
    pub pseudonym: String,
    pub message: String,
    pub offer_id: Option<String>,
    /// `pending`, `declined` (shown « non disponible ») or `accepted`.
    pub status: String,
    /// With `accepted`: the referral that arrived.
    pub referral_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip)]
    pub user_id: String,
}

fn sent_row(r: &sqlx::any::AnyRow) -> Result<SentInterest> {
    Ok(SentInterest {
        id: r.try_get("id")?,
        search_id: r.try_get("search_id")?,
        node_id: r.try_get("node_id")?,
        pseudonym: r.try_get("pseudonym")?,
        message: r.try_get("message")?,
        offer_id: r.try_get("offer_id")?,
        status: r.try_get("status")?,
        referral_id: r.try_get("referral_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        user_id: r.try_get("user_id")?,
    })
}

const SENT_COLS: &str = "id, search_id, node_id, pseudonym, user_id, message, offer_id, status, referral_id, created_at, updated_at";

/// Inserts an interest sent.
pub async fn insert_sent(conn: &mut AnyConnection, i: &SentInterest) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO network_interests ({SENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&i.id)
    .bind(&i.search_id)
    .bind(&i.node_id)
    .bind(&i.pseudonym)
    .bind(&i.user_id)
    .bind(&i.message)
    .bind(&i.offer_id)
    .bind(&i.status)
    .bind(&i.referral_id)
    .bind(i.created_at)
    .bind(i.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The interests sent from one search.
pub async fn sent_for_search(db: &Db, search_id: &str) -> Result<Vec<SentInterest>> {
    let rows = sqlx::query(&format!(
        "SELECT {SENT_COLS} FROM network_interests WHERE search_id = $1 ORDER BY created_at"
    ))
    .bind(search_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(sent_row).collect()
}

/// An interest sent, by id.
pub async fn sent(db: &Db, id: &str) -> Result<Option<SentInterest>> {
    let sql = format!("SELECT {SENT_COLS} FROM network_interests WHERE id = $1");
    by_id(db, &sql, id, sent_row).await
}

/// Moves an interest sent out of `pending`.
pub async fn update_sent(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    referral_id: Option<&str>,
    at: i64,
) -> Result<bool> {
    settle(conn, "network_interests", id, status, referral_id, at).await
}

/// Moves an interest (sent or received, by `table`) out of `pending`;
/// false when it was not pending.
async fn settle(
    conn: &mut AnyConnection,
    table: &str,
    id: &str,
    status: &str,
    referral_id: Option<&str>,
    at: i64,
) -> Result<bool> {
    let done = sqlx::query(&format!(
        "UPDATE {table} SET status = $1, referral_id = $2, updated_at = $3 WHERE id = $4 AND status = 'pending'"
    ))
    .bind(status)
    .bind(referral_id)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One row by id, read with `of`.
async fn by_id<T>(
    db: &Db,
    sql: &str,
    id: &str,
    of: fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Option<T>> {
    let r = sqlx::query(sql).bind(id).fetch_optional(&db.pool).await?;
    r.as_ref().map(of).transpose()
}

// ---------------------------------------------------------------------------
// Home side

/// An interest received for one of this node's candidates.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReceivedInterest {
    pub id: String,
    /// The asking node.
    pub origin: String,
    pub interest_id: String,
    pub query_id: String,
    pub candidate_id: String,
    pub counsellor_id: Option<String>,
    pub asker_label: String,
    pub message: String,
    pub offer_id: Option<String>,
    /// `pending`, `declined` or `accepted`.
    pub status: String,
    pub referral_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const RECEIVED_COLS: &str = "id, origin, interest_id, query_id, pseudonym, candidate_id, counsellor_id, asker_label, message, offer_id, status, referral_id, created_at, updated_at";

fn received_row(r: &sqlx::any::AnyRow) -> Result<ReceivedInterest> {
    Ok(ReceivedInterest {
        id: r.try_get("id")?,
        origin: r.try_get("origin")?,
        interest_id: r.try_get("interest_id")?,
        query_id: r.try_get("query_id")?,
        candidate_id: r.try_get("candidate_id")?,
        counsellor_id: r.try_get("counsellor_id")?,
        asker_label: r.try_get("asker_label")?,
        message: r.try_get("message")?,
        offer_id: r.try_get("offer_id")?,
        status: r.try_get("status")?,
        referral_id: r.try_get("referral_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Inserts an interest received; false when (origin, interest_id) was
/// received already.
pub async fn insert_received(
    conn: &mut AnyConnection,
    i: &ReceivedInterest,
    pseudonym: &str,
) -> Result<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO network_interests_received ({RECEIVED_COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (origin, interest_id) DO NOTHING"
    ))
    .bind(&i.id)
    .bind(&i.origin)
    .bind(&i.interest_id)
    .bind(&i.query_id)
    .bind(pseudonym)
    .bind(&i.candidate_id)
    .bind(&i.counsellor_id)
    .bind(&i.asker_label)
    .bind(&i.message)
    .bind(&i.offer_id)
    .bind(&i.status)
    .bind(&i.referral_id)
    .bind(i.created_at)
    .bind(i.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An interest received, by local id.
pub async fn received(db: &Db, id: &str) -> Result<Option<ReceivedInterest>> {
    let sql = format!("SELECT {RECEIVED_COLS} FROM network_interests_received WHERE id = $1");
    by_id(db, &sql, id, received_row).await
}

/// Interests answered (accepted / declined) whose asking member has not
/// acknowledged the answer yet, oldest first.
pub async fn received_untold(db: &Db, limit: i64) -> Result<Vec<ReceivedInterest>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECEIVED_COLS} FROM network_interests_received \
         WHERE status <> 'pending' AND told_at IS NULL ORDER BY updated_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(received_row).collect()
}

/// The asking member acknowledged the answer to interest `id`.
pub async fn mark_told(db: &Db, id: &str, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE network_interests_received SET told_at = $2 WHERE id = $1 AND told_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Interests received, newest first; `pending_only` filters.
pub async fn received_list(
    db: &Db,
    pending_only: bool,
    limit: i64,
) -> Result<Vec<ReceivedInterest>> {
    let filter = if pending_only {
        "WHERE status = 'pending'"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {RECEIVED_COLS} FROM network_interests_received {filter} ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(received_row).collect()
}

/// Moves an interest received out of `pending`.
pub async fn update_received(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    referral_id: Option<&str>,
    at: i64,
) -> Result<bool> {
    settle(
        conn,
        "network_interests_received",
        id,
        status,
        referral_id,
        at,
    )
    .await
}

/// The ids of this node's enabled admins (told of a received interest when
/// no counsellor is named). A read of `users` kept here until the auth
/// store offers one.
pub async fn enabled_admins(db: &Db) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_all(&db.pool)
            .await?,
    )
}
