//! The referrals' store: every SQL statement on `referrals` and
//! `referral_events` (and the few reads of other tables the referrals'
//! rules need) as typed functions over a connection — a transaction's
//! (`&mut **tx`) or one taken from the pool. Rows come back as `FromRow`
//! structs ([`StoredReferral`], [`ReferralEvent`], [`TrainingBefore`]…),
//! enums go in by their `as_str` and come back through `TryFrom<String>`;
//! nothing here knows about users, policy or HTTP.
//!
//! Placements are written and deleted by `reports::facts` only.
//!
//! Outside this folder the node reads referrals only through these
//! functions; the funders' reports keep their aggregate queries in
//! `reports/store.rs` (they join referrals with placements per period,
//! report-specific SQL).

use sqlx::AnyConnection;
use vivier_protocol::{ContractType, OfferPayload, ReferralStatus, ReferralTarget};

use super::model::{
    reason_str, Author, Change, Direction, ReferralEvent, StoredReferral, TrainingBefore,
};
use crate::candidates::CandidateStatus;
use crate::error::{Error, Result};

/// The statuses still waiting for an answer, as SQL (checked against
/// `ReferralStatus::is_pending` by a test).
const PENDING_SQL: &str = "('new', 'processing', 'prior_to_hire', 'postponed')";

/// The one referral query: the row, its offer's or opportunity's title and
/// its candidate's name (both engines give NULL when either name is NULL).
const COLUMNS: &str = "r.id AS id, r.offer_id AS offer_id, r.offer_origin AS offer_origin, \
    r.referring_node AS referring_node, r.direction AS direction, r.candidate_id AS candidate_id, \
    r.profile AS profile, r.counsellor_name AS counsellor_name, r.counsellor_id AS counsellor_id, \
    r.endorsement AS endorsement, r.status AS status, r.reason AS reason, r.contract_type AS contract_type, \
    r.start_date AS start_date, r.consent_given_at AS consent_given_at, r.created_at AS created_at, \
    r.updated_at AS updated_at, r.message_id AS message_id, COALESCE(o.title, t.title) AS offer_title, \
    r.delivery_error AS delivery_error, r.counsellor_email AS counsellor_email, \
    r.counsellor_phone AS counsellor_phone, \
    c.first_name || ' ' || c.last_name AS candidate_record_name, \
    r.target AS target, r.for_offer_id AS for_offer_id";
const FROM: &str = "referrals r LEFT JOIN offers o ON o.id = r.offer_id \
    LEFT JOIN opportunities t ON t.id = r.offer_id \
    LEFT JOIN candidates c ON c.id = r.candidate_id";

async fn select_where(
    conn: &mut AnyConnection,
    where_: &str,
    binds: &[&str],
) -> Result<Vec<StoredReferral>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE {where_}");
    let mut q = sqlx::query_as::<_, StoredReferral>(&sql);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.fetch_all(conn).await?)
}

/// One referral by id.
pub(crate) async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredReferral>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Whether referral `id` exists.
pub(crate) async fn exists(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM referrals WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// A new referral row (status `new`).
pub(crate) struct NewRow<'a> {
    pub id: &'a str,
    pub offer_id: &'a str,
    pub offer_origin: &'a str,
    pub referring_node: &'a str,
    pub direction: Direction,
    pub candidate_id: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub counsellor_name: &'a str,
    pub counsellor_id: Option<&'a str>,
    pub endorsement: &'a str,
    pub consent_given_at: i64,
    pub created_at: i64,
    pub counsellor_email: Option<&'a str>,
    pub counsellor_phone: Option<&'a str>,
    pub target: ReferralTarget,
    pub for_offer_id: Option<&'a str>,
}

/// Insert a new referral (a unique violation when the candidate already
/// has a pending one for the offer).
pub(crate) async fn insert(conn: &mut AnyConnection, r: &NewRow<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, profile, \
         counsellor_name, counsellor_id, endorsement, status, reason, contract_type, start_date, \
         consent_given_at, created_at, updated_at, message_id, counsellor_email, counsellor_phone, \
         target, for_offer_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL, $12, $13, $13, NULL, $14, $15, $16, $17)",
    )
    .bind(r.id)
    .bind(r.offer_id)
    .bind(r.offer_origin)
    .bind(r.referring_node)
    .bind(r.direction.as_str())
    .bind(r.candidate_id)
    .bind(r.profile)
    .bind(r.counsellor_name)
    .bind(r.counsellor_id)
    .bind(r.endorsement)
    .bind(ReferralStatus::New.as_str())
    .bind(r.consent_given_at)
    .bind(r.created_at)
    .bind(r.counsellor_email)
    .bind(r.counsellor_phone)
    .bind(r.target.as_str())
    .bind(r.for_offer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The id of the `referral.submitted` message that carries it.
pub(crate) async fn set_message_id(conn: &mut AnyConnection, id: &str, mid: &str) -> Result<()> {
    sqlx::query("UPDATE referrals SET message_id = $2 WHERE id = $1")
        .bind(id)
        .bind(mid)
        .execute(conn)
        .await?;
    Ok(())
}

/// The candidate's pending referral for the offer, if any.
pub(crate) async fn pending_for(
    conn: &mut AnyConnection,
    offer_id: &str,
    candidate_id: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM referrals WHERE offer_id = $1 AND candidate_id = $2 AND status IN {PENDING_SQL}"
    ))
    .bind(offer_id)
    .bind(candidate_id)
    .fetch_optional(conn)
    .await?)
}

/// Append an event to a referral's history.
pub(crate) async fn insert_event(
    conn: &mut AnyConnection,
    referral_id: &str,
    change: &Change,
    author: &Author<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO referral_events (referral_id, status, reason, contract_type, comment, actor, actor_node, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(referral_id)
    .bind(change.status.as_str())
    .bind(change.reason.map(reason_str))
    .bind(change.contract_type.map(ContractType::as_str))
    .bind(&change.comment)
    .bind(author.name)
    .bind(author.node)
    .bind(author.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Move referral `id` from `from` to the change's status; false when it
/// is no longer `from` (changed meanwhile).
pub(crate) async fn update_status(
    conn: &mut AnyConnection,
    id: &str,
    from: ReferralStatus,
    change: &Change,
    now: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE referrals SET status = $2, reason = $3, contract_type = COALESCE($4, contract_type), \
         start_date = COALESCE($5, start_date), updated_at = $6 WHERE id = $1 AND status = $7",
    )
    .bind(id)
    .bind(change.status.as_str())
    .bind(change.reason.map(reason_str))
    .bind(change.contract_type.map(ContractType::as_str))
    .bind(&change.start_date)
    .bind(now)
    .bind(from.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// The permanent refusal code that made an outbound referral undeliverable.
pub(crate) async fn set_delivery_error(
    conn: &mut AnyConnection,
    id: &str,
    code: &str,
) -> Result<()> {
    sqlx::query("UPDATE referrals SET delivery_error = $2 WHERE id = $1")
        .bind(id)
        .bind(code)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forget what a referral holds about the person: candidate link, profile,
/// endorsement, and the comments of its history written by people.
pub(crate) async fn forget_personal_data(
    conn: &mut AnyConnection,
    referral_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE referrals SET candidate_id = NULL, profile = NULL, endorsement = '', updated_at = $2 WHERE id = $1",
    )
    .bind(referral_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE referral_events SET comment = NULL WHERE referral_id = $1 AND actor <> $2")
        .bind(referral_id)
        .bind(super::model::SYSTEM_ACTOR)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forget the referring counsellor's contact details.
pub(crate) async fn forget_contacts(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE referrals SET counsellor_email = NULL, counsellor_phone = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drop the profile of one referral (a withdrawal).
pub(crate) async fn clear_profile(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE referrals SET profile = NULL, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drop the profiles kept in the referrals of candidate `candidate_id`
/// (retention: the record is archived).
pub(crate) async fn clear_profiles_of_candidate(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<()> {
    sqlx::query("UPDATE referrals SET profile = NULL WHERE candidate_id = $1")
        .bind(candidate_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Detach the referrals of candidate `candidate_id` from the record and
/// drop their profiles (the record is purged).
pub(crate) async fn detach_candidate(conn: &mut AnyConnection, candidate_id: &str) -> Result<()> {
    sqlx::query("UPDATE referrals SET profile = NULL, candidate_id = NULL WHERE candidate_id = $1")
        .bind(candidate_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sets of referrals

/// Every referral of candidate `candidate_id`.
pub(crate) async fn of_candidate(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<StoredReferral>> {
    select_where(conn, "r.candidate_id = $1", &[candidate_id]).await
}

/// The candidate's other pending referrals.
pub(crate) async fn pending_of_candidate_except(
    conn: &mut AnyConnection,
    candidate_id: &str,
    except_id: &str,
) -> Result<Vec<StoredReferral>> {
    select_where(
        conn,
        &format!("r.candidate_id = $1 AND r.id <> $2 AND r.status IN {PENDING_SQL}"),
        &[candidate_id, except_id],
    )
    .await
}

/// How many referrals of the candidate are pending.
pub(crate) async fn pending_count(conn: &mut AnyConnection, candidate_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM referrals WHERE candidate_id = $1 AND status IN {PENDING_SQL}"
    ))
    .bind(candidate_id)
    .fetch_one(conn)
    .await?)
}

/// This node's pending outbound referrals to offers of member `node`.
pub(crate) async fn pending_outbound_to(
    conn: &mut AnyConnection,
    node: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM referrals WHERE offer_origin = $1 AND direction = 'outbound' AND status IN {PENDING_SQL} ORDER BY id"
    ))
    .bind(node)
    .fetch_all(conn)
    .await?)
}

/// The inbound referrals from member `node` that still hold a profile.
pub(crate) async fn inbound_with_profile_from(
    conn: &mut AnyConnection,
    node: &str,
) -> Result<Vec<StoredReferral>> {
    select_where(
        conn,
        "r.referring_node = $1 AND r.direction = 'inbound' AND r.profile IS NOT NULL ORDER BY r.id",
        &[node],
    )
    .await
}

/// Offer-side referrals `new`, `processing` or `postponed` unchanged since
/// before `cutoff`, oldest first.
pub(crate) async fn unanswered_since(conn: &mut AnyConnection, cutoff: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM referrals WHERE direction IN ('inbound', 'local') \
         AND status IN ('new', 'processing', 'postponed') AND updated_at < $1 ORDER BY updated_at",
    )
    .bind(cutoff)
    .fetch_all(conn)
    .await?)
}

/// The pending offer-side referrals to offer (or opportunity) `offer_id`.
pub(crate) async fn pending_offer_side(
    conn: &mut AnyConnection,
    offer_id: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM referrals WHERE offer_id = $1 AND direction IN ('inbound', 'local') \
         AND status IN {PENDING_SQL} ORDER BY created_at"
    ))
    .bind(offer_id)
    .fetch_all(conn)
    .await?)
}

/// How many hires this node's offer `offer_id` has (offer-side referrals
/// `accepted`).
pub(crate) async fn hires_of_offer(conn: &mut AnyConnection, offer_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM referrals WHERE offer_id = $1 AND status = 'accepted' \
         AND direction IN ('inbound', 'local')",
    )
    .bind(offer_id)
    .fetch_one(conn)
    .await?)
}

/// Whether `referral_id` is a referral of candidate `candidate_id` (or one
/// whose candidate link was cleared).
pub(crate) async fn is_of_candidate(
    conn: &mut AnyConnection,
    referral_id: &str,
    candidate_id: &str,
) -> Result<bool> {
    let known: Option<String> = sqlx::query_scalar(
        "SELECT id FROM referrals WHERE id = $1 AND (candidate_id = $2 OR candidate_id IS NULL)",
    )
    .bind(referral_id)
    .bind(candidate_id)
    .fetch_optional(conn)
    .await?;
    Ok(known.is_some())
}

/// Referrals per (direction, status), all time.
pub(crate) async fn count_by_direction_status(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT direction, status, COUNT(*) FROM referrals GROUP BY direction, status",
    )
    .fetch_all(conn)
    .await?)
}

/// A referral of a person, as their export shows it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CandidateLine {
    pub id: String,
    pub offer_id: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The referrals of candidate `candidate_id`, oldest first.
pub(crate) async fn lines_of_candidate(
    conn: &mut AnyConnection,
    candidate_id: &str,
) -> Result<Vec<CandidateLine>> {
    Ok(sqlx::query_as(
        "SELECT id, offer_id, status, created_at, updated_at FROM referrals \
         WHERE candidate_id = $1 ORDER BY created_at",
    )
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

/// A referral waiting in a counsellor's « À faire ».
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WaitingRow {
    pub id: String,
    pub offer_title: Option<String>,
    pub candidate_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: String,
    pub updated_at: i64,
}

/// Which of a counsellor's referrals « À faire » lists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Waiting {
    /// Sent, with no answer since before the given time.
    Unanswered,
    /// Refused by the network since the given time.
    Undeliverable,
}

/// The counsellor's referrals in `which` state relative to `since`, oldest
/// change first, at most `limit`.
pub(crate) async fn waiting_for_counsellor(
    conn: &mut AnyConnection,
    counsellor_id: &str,
    which: Waiting,
    since: i64,
    limit: i64,
) -> Result<Vec<WaitingRow>> {
    let (statuses, cmp) = match which {
        Waiting::Unanswered => ("('new', 'processing', 'postponed')", "<"),
        Waiting::Undeliverable => ("('undeliverable')", ">"),
    };
    Ok(sqlx::query_as(&format!(
        "SELECT r.id AS id, o.title AS offer_title, r.candidate_id AS candidate_id, c.first_name AS first_name, \
         c.last_name AS last_name, r.status AS status, r.updated_at AS updated_at \
         FROM referrals r LEFT JOIN offers o ON o.id = r.offer_id LEFT JOIN candidates c ON c.id = r.candidate_id \
         WHERE r.counsellor_id = $1 AND r.status IN {statuses} AND r.updated_at {cmp} $2 \
         ORDER BY r.updated_at LIMIT $3"
    ))
    .bind(counsellor_id)
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

// ---------------------------------------------------------------------------
// Lists and histories

/// The filters of a list, already checked. Every value is bound.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub direction: Option<Direction>,
    pub status: Option<ReferralStatus>,
    /// Only the pending ones (new, processing, prior to hire, postponed).
    pub pending: bool,
    pub offer_id: Option<String>,
    pub candidate_id: Option<String>,
    /// Only the referrals made to this employer's own local offers.
    pub employer_id: Option<String>,
}

/// One page of the referrals matching `f` (newest first) and their total.
pub(crate) async fn list(
    conn: &mut AnyConnection,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<StoredReferral>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut binds: Vec<&str> = Vec::new();
    let fields = [
        ("r.direction = ?", f.direction.map(Direction::as_str)),
        ("r.status = ?", f.status.map(ReferralStatus::as_str)),
        ("r.offer_id = ?", f.offer_id.as_deref()),
        ("r.candidate_id = ?", f.candidate_id.as_deref()),
        (
            "r.direction IN ('inbound', 'local') AND o.is_local = 1 AND o.owner_user_id = ?",
            f.employer_id.as_deref(),
        ),
    ];
    for (cond, value) in fields {
        if let Some(v) = value {
            binds.push(v);
            conds.push(cond.replace('?', &format!("${}", binds.len())));
        }
    }
    if f.pending {
        conds.push(format!("r.status IN {PENDING_SQL}"));
    }
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM {FROM}{where_}");
    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        cq = cq.bind(*b);
    }
    let total = cq.fetch_one(&mut *conn).await?;
    let page_sql = format!(
        "SELECT {COLUMNS} FROM {FROM}{where_} ORDER BY r.created_at DESC, r.id DESC LIMIT ${} OFFSET ${}",
        binds.len() + 1,
        binds.len() + 2
    );
    let mut pq = sqlx::query_as::<_, StoredReferral>(&page_sql);
    for b in &binds {
        pq = pq.bind(*b);
    }
    let rows = pq.bind(limit).bind(offset).fetch_all(conn).await?;
    Ok((total, rows))
}

/// A referral's history, oldest first.
pub(crate) async fn events(
    conn: &mut AnyConnection,
    referral_id: &str,
) -> Result<Vec<ReferralEvent>> {
    Ok(sqlx::query_as(
        "SELECT status, reason, contract_type, comment, actor, actor_node, at FROM referral_events \
         WHERE referral_id = $1 ORDER BY id",
    )
    .bind(referral_id)
    .fetch_all(conn)
    .await?)
}

/// Candidate `candidate_id`'s referrals to trainings "for" offer `offer_id`.
pub(crate) async fn trainings_for_offer(
    conn: &mut AnyConnection,
    offer_id: &str,
    candidate_id: &str,
) -> Result<Vec<TrainingBefore>> {
    Ok(sqlx::query_as(
        "SELECT r.id AS referral_id, t.title AS title, r.status AS status FROM referrals r \
         LEFT JOIN opportunities t ON t.id = r.offer_id \
         WHERE r.target = 'training' AND r.for_offer_id = $1 AND r.candidate_id = $2 ORDER BY r.created_at, r.id",
    )
    .bind(offer_id)
    .bind(candidate_id)
    .fetch_all(conn)
    .await?)
}

// ---------------------------------------------------------------------------
// What the referrals read or move in other aggregates

/// What the referrals need of an offer.
pub(crate) struct OfferInfo {
    pub payload: OfferPayload,
    pub open: bool,
    pub is_local: bool,
}

#[derive(sqlx::FromRow)]
struct OfferInfoRow {
    status: String,
    payload: String,
    is_local: i64,
}

/// Offer `id` (local or received).
pub(crate) async fn offer_info(conn: &mut AnyConnection, id: &str) -> Result<Option<OfferInfo>> {
    let row: Option<OfferInfoRow> =
        sqlx::query_as("SELECT status, payload, is_local FROM offers WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: OfferPayload = serde_json::from_str(&row.payload)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored offer payload: {e}")))?;
    Ok(Some(OfferInfo {
        payload,
        open: row.status == "open",
        is_local: row.is_local != 0,
    }))
}

/// The owner of local offer `offer_id` (none for a received offer).
pub(crate) async fn local_offer_owner(
    conn: &mut AnyConnection,
    offer_id: &str,
) -> Result<Option<String>> {
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT owner_user_id FROM offers WHERE id = $1 AND is_local = 1")
            .bind(offer_id)
            .fetch_optional(conn)
            .await?;
    Ok(owner.flatten())
}

/// The owner and title of this node's offer, training or immersion
/// `target_id` (none when it is received or has no owner).
pub(crate) async fn local_target_owner(
    conn: &mut AnyConnection,
    target: ReferralTarget,
    target_id: &str,
) -> Result<Option<(String, String)>> {
    let table = match target {
        ReferralTarget::Offer => "offers",
        ReferralTarget::Training | ReferralTarget::Immersion => "opportunities",
    };
    let row: Option<(Option<String>, String)> = sqlx::query_as(&format!(
        "SELECT owner_user_id, title FROM {table} WHERE id = $1 AND is_local = 1"
    ))
    .bind(target_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(owner, title)| owner.map(|o| (o, title))))
}

/// Move candidate `candidate_id` to `status` if it is one of `only_if`
/// (and not erased); true when it moved.
pub(crate) async fn set_candidate_status(
    conn: &mut AnyConnection,
    candidate_id: &str,
    status: CandidateStatus,
    only_if: &[CandidateStatus],
    now: i64,
) -> Result<bool> {
    let list = only_if
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let res = sqlx::query(&format!(
        "UPDATE candidates SET status = $2, updated_at = $3, last_activity_at = $3 \
         WHERE id = $1 AND anonymised_at IS NULL AND status IN ({list})"
    ))
    .bind(candidate_id)
    .bind(status.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_sql_is_the_pending_statuses() {
        let pending: Vec<String> = ReferralStatus::ALL
            .into_iter()
            .filter(|s| s.is_pending())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(PENDING_SQL, format!("({})", pending.join(", ")));
    }
}
