//! The offers' store: every SQL statement on `offers` and
//! `offer_delivery_refusals` as typed functions over a connection — a
//! transaction's (`&mut **tx`) or one taken from the pool. Rows come back
//! as [`OfferRow`] (`FromRow`) and leave as [`StoredOffer`] (its
//! `TryFrom<OfferRow>`); the status goes in by its `as_str`. Nothing here
//! knows about users, policy or HTTP.
//!
//! Outside this folder the node reads and writes offers only through these
//! functions (matching, the UI, statistics, maintenance, the federation's
//! delivery outcomes and departures). Two exceptions, each with its reason:
//! the funders' reports keep their per-period query in `reports/store.rs`
//! (report-specific SQL), and the referrals' own queries join `offers` for
//! the title and owner of the offer a referral is for (`referrals/`).

use sqlx::AnyConnection;
use vivier_protocol::{OfferClosed, OfferPayload};

use super::model::{
    payload_json, DeliveryRefusal, OfferRow, OfferStatus, RemoteOffer, StoredOffer,
};
use crate::error::Result;

/// The columns of [`OfferRow`].
const COLUMNS: &str = "id, origin_node, owner_user_id, status, payload, is_local, created_at, \
     updated_at, closed_at, closed_reason, positions_filled";

fn decode(rows: Vec<OfferRow>) -> Result<Vec<StoredOffer>> {
    rows.into_iter().map(StoredOffer::try_from).collect()
}

/// One offer by id.
pub(crate) async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredOffer>> {
    let row: Option<OfferRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM offers WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(StoredOffer::try_from).transpose()
}

/// One of this node's own offers by id.
pub(crate) async fn get_local(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredOffer>> {
    let row: Option<OfferRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM offers WHERE id = $1 AND is_local = 1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(StoredOffer::try_from).transpose()
}

/// The rows of offers `ids` (missing ids are skipped; order not kept), not
/// decoded yet: the index follower parses them on its own thread.
pub(crate) async fn rows_of(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<OfferRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM offers WHERE id IN ({})",
            crate::util::sql_rows(crate::db::is_postgres(conn), chunk.len(), "?")
        );
        let mut q = sqlx::query_as::<_, OfferRow>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Offers `ids`, decoded (missing ids are skipped; order not kept).
pub(crate) async fn get_many(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<StoredOffer>> {
    decode(rows_of(conn, ids).await?)
}

/// Every offer's row, by id (the full reindex).
pub(crate) async fn all_rows(conn: &mut AnyConnection) -> Result<Vec<OfferRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM offers ORDER BY id"))
            .fetch_all(conn)
            .await?,
    )
}

/// Every offer's id (the index check).
pub(crate) async fn all_ids(conn: &mut AnyConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM offers")
        .fetch_all(conn)
        .await?)
}

/// The id of the offer imported with `external_id`, if any.
pub(crate) async fn id_by_external(
    conn: &mut AnyConnection,
    external_id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM offers WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Insert a new local offer (status open).
pub(crate) async fn insert_local(
    conn: &mut AnyConnection,
    payload: &OfferPayload,
    owner_user_id: &str,
    external_id: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO offers (id, origin_node, owner_user_id, status, payload, title, rome_code, contract_type, \
         employer_name, created_at, updated_at, closed_at, is_local, external_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, 1, $12)",
    )
    .bind(&payload.offer_id)
    .bind(payload.origin_node.to_string())
    .bind(owner_user_id)
    .bind(OfferStatus::Open.as_str())
    .bind(payload_json(payload)?)
    .bind(&payload.title)
    .bind(&payload.rome_code)
    .bind(payload.contract_type.as_str())
    .bind(&payload.employer.name)
    .bind(now)
    .bind(now)
    .bind(external_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replace a local open offer's content; false when it is closed or not
/// local.
pub(crate) async fn update_local(
    conn: &mut AnyConnection,
    payload: &OfferPayload,
    now: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE offers SET payload = $1, title = $2, rome_code = $3, contract_type = $4, employer_name = $5, \
         updated_at = $6 WHERE id = $7 AND status = $8 AND is_local = 1",
    )
    .bind(payload_json(payload)?)
    .bind(&payload.title)
    .bind(&payload.rome_code)
    .bind(payload.contract_type.as_str())
    .bind(&payload.employer.name)
    .bind(now)
    .bind(&payload.offer_id)
    .bind(OfferStatus::Open.as_str())
    .execute(conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Close local offer `id`; false when it was not open (or not local).
pub(crate) async fn close_local(conn: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE offers SET status = $3, closed_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = $4 AND is_local = 1",
    )
    .bind(now)
    .bind(id)
    .bind(OfferStatus::Closed.as_str())
    .bind(OfferStatus::Open.as_str())
    .execute(conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Record the positions filled by hires.
pub(crate) async fn set_positions_filled(
    conn: &mut AnyConnection,
    id: &str,
    filled: i64,
) -> Result<()> {
    sqlx::query("UPDATE offers SET positions_filled = $2 WHERE id = $1")
        .bind(id)
        .bind(filled)
        .execute(conn)
        .await?;
    Ok(())
}

/// Insert or update received offers with one statement (their ids must be
/// distinct). An offer is replaced only by a newer version from the same
/// origin; a local offer is never touched. Returns how many changed (no
/// row comes back: on SQLite each would be handed from the statement's
/// thread to the caller on its own, on the inbox writer's path).
pub(crate) async fn upsert_remote(
    conn: &mut AnyConnection,
    offers: &[&RemoteOffer],
    now: i64,
) -> Result<u64> {
    if offers.is_empty() {
        return Ok(0);
    }
    let values = crate::util::sql_rows(
        crate::db::is_postgres(conn),
        offers.len(),
        REMOTE_OFFER_VALUES,
    );
    let sql = upsert_remote_sql(&values);
    let mut q = sqlx::query(&sql);
    for o in offers {
        let p = &o.payload;
        q = q
            .bind(&p.offer_id)
            .bind(p.origin_node.to_string())
            .bind(&o.json)
            .bind(&p.title)
            .bind(p.rome_code.trim().to_ascii_uppercase())
            .bind(p.contract_type.as_str())
            .bind(&p.employer.name)
            .bind(now)
            .bind(p.updated_at)
            .bind(p.positions_filled);
    }
    Ok(q.execute(conn).await?.rows_affected())
}

/// One row of [`upsert_remote`]'s `VALUES`.
const REMOTE_OFFER_VALUES: &str = "(?, ?, NULL, 'open', ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?)";

/// [`upsert_remote`]'s statement for `values`.
fn upsert_remote_sql(values: &str) -> String {
    format!(
        "INSERT INTO offers (id, origin_node, owner_user_id, status, payload, title, rome_code, contract_type, \
         employer_name, created_at, updated_at, closed_at, is_local, positions_filled) \
         VALUES {values} \
         ON CONFLICT (id) DO UPDATE SET status = 'open', payload = excluded.payload, title = excluded.title, \
         rome_code = excluded.rome_code, contract_type = excluded.contract_type, \
         employer_name = excluded.employer_name, updated_at = excluded.updated_at, closed_at = NULL, \
         positions_filled = excluded.positions_filled \
         WHERE offers.origin_node = excluded.origin_node AND offers.is_local = 0 \
         AND offers.updated_at < excluded.updated_at"
    )
}

/// [`upsert_remote`] for one offer on SQLite's direct writer
/// ([`crate::db::Db::write_direct`]); whether the row changed.
pub(crate) fn upsert_remote_direct(
    tx: &rusqlite::Transaction<'_>,
    offer: &RemoteOffer,
    now: i64,
) -> rusqlite::Result<bool> {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| upsert_remote_sql(REMOTE_OFFER_VALUES));
    let p = &offer.payload;
    let changed = tx.prepare_cached(&SQL)?.execute(rusqlite::params![
        p.offer_id,
        p.origin_node.as_str(),
        offer.json,
        p.title,
        p.rome_code.trim().to_ascii_uppercase(),
        p.contract_type.as_str(),
        p.employer.name,
        now,
        p.updated_at,
        p.positions_filled,
    ])?;
    Ok(changed > 0)
}

/// Close an offer received from `origin` (only if it is that node's offer
/// and open). Later updates older than the close are then ignored.
pub(crate) async fn close_remote(
    conn: &mut AnyConnection,
    origin: &str,
    closed: &OfferClosed,
) -> Result<()> {
    sqlx::query(
        "UPDATE offers SET status = 'closed', closed_at = $1, \
         updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END \
         WHERE id = $2 AND origin_node = $3 AND is_local = 0 AND status = 'open'",
    )
    .bind(closed.closed_at)
    .bind(&closed.offer_id)
    .bind(origin)
    .execute(conn)
    .await?;
    Ok(())
}

/// The open network offers of member `origin` held here, by id.
pub(crate) async fn open_ids_of_origin(
    conn: &mut AnyConnection,
    origin: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM offers WHERE origin_node = $1 AND is_local = 0 AND status = 'open' ORDER BY id",
    )
    .bind(origin)
    .fetch_all(conn)
    .await?)
}

/// Why this node closed network offer `id` itself (`member_left`).
pub(crate) async fn set_closed_reason(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query("UPDATE offers SET closed_reason = $2 WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// The local user who owns this node's offer `id`: `None` when it is not a
/// local offer, `Some(None)` when it has no owner.
pub(crate) async fn local_owner(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Option<String>>> {
    Ok(
        sqlx::query_scalar("SELECT owner_user_id FROM offers WHERE id = $1 AND is_local = 1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The members that refused local offer `id` for good.
pub(crate) async fn delivery_refusals(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Vec<DeliveryRefusal>> {
    Ok(sqlx::query_as(
        "SELECT node_id, code, message, at FROM offer_delivery_refusals WHERE offer_id = $1 ORDER BY at, node_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Record that member `node_id` refused offer `offer_id` for good; false
/// when it was already recorded.
pub(crate) async fn add_delivery_refusal(
    conn: &mut AnyConnection,
    r: &DeliveryRefusal,
    offer_id: &str,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO offer_delivery_refusals (offer_id, node_id, code, message, at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (offer_id, node_id) DO NOTHING",
    )
    .bind(offer_id)
    .bind(&r.node_id)
    .bind(&r.code)
    .bind(&r.message)
    .bind(r.at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// The filters of [`list`], already checked.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    /// Only this status.
    pub status: Option<OfferStatus>,
    /// Only local (`true`) or network (`false`) offers.
    pub local: Option<bool>,
    /// Only offers of this origin node.
    pub origin: Option<String>,
    /// Only this ROME code.
    pub rome: Option<String>,
    /// Only this contract type.
    pub contract_type: Option<String>,
    /// Only offers owned by this user.
    pub owner: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// The offers matching `f`, most recently updated first, and how many match
/// in all. Values are bound, never spliced into the SQL.
pub(crate) async fn list(
    conn: &mut AnyConnection,
    f: &ListFilter,
) -> Result<(i64, Vec<StoredOffer>)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut push = |column: &str, value: &str| {
        binds.push(value.to_string());
        clauses.push(format!("{column} = ${}", binds.len()));
    };
    if let Some(s) = f.status {
        push("status", s.as_str());
    }
    if let Some(o) = &f.origin {
        push("origin_node", o);
    }
    if let Some(r) = &f.rome {
        push("rome_code", r);
    }
    if let Some(c) = &f.contract_type {
        push("contract_type", c);
    }
    if let Some(u) = &f.owner {
        push("owner_user_id", u);
    }
    match f.local {
        Some(true) => clauses.push("is_local = 1".into()),
        Some(false) => clauses.push("is_local = 0".into()),
        None => {}
    }
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let count_sql = format!("SELECT COUNT(*) FROM offers {where_}");
    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        cq = cq.bind(b);
    }
    let total = cq.fetch_one(&mut *conn).await?;
    let n = binds.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM offers {where_} ORDER BY updated_at DESC, id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut lq = sqlx::query_as::<_, OfferRow>(&sql);
    for b in &binds {
        lq = lq.bind(b);
    }
    let rows = lq.bind(f.limit).bind(f.offset).fetch_all(conn).await?;
    Ok((total, decode(rows)?))
}

/// Offers counted for the node's statistics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    /// This node's offers.
    pub local: i64,
    /// This node's open offers.
    pub local_open: i64,
    /// Network offers received.
    pub network: i64,
    /// Network offers still open.
    pub network_open: i64,
}

/// How many offers, local and network, open or not.
pub(crate) async fn counts(conn: &mut AnyConnection) -> Result<Counts> {
    let rows: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT is_local, status, COUNT(*) FROM offers GROUP BY is_local, status")
            .fetch_all(conn)
            .await?;
    let mut c = Counts::default();
    for (local, status, n) in rows {
        let open = status == OfferStatus::Open.as_str();
        if local != 0 {
            c.local += n;
            c.local_open += if open { n } else { 0 };
        } else {
            c.network += n;
            c.network_open += if open { n } else { 0 };
        }
    }
    Ok(c)
}

/// The payloads and positions filled of the open offers, local or network.
pub(crate) async fn open_payloads(
    conn: &mut AnyConnection,
    local: bool,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT payload, positions_filled FROM offers WHERE status = $2 AND is_local = $1",
    )
    .bind(i64::from(local))
    .bind(OfferStatus::Open.as_str())
    .fetch_all(conn)
    .await?)
}
