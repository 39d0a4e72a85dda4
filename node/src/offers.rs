//! Offers: this node's own offers (posted by employers, or by counsellors on
//! behalf of a local employer, or imported from France Travail's JSON) and
//! the copies of other members' offers received through the federation.
//!
//! - The database row is the truth (`offers.payload` holds the protocol's
//!   [`OfferPayload`] as JSON); the tantivy offer index is derived from it
//!   (a journal entry in each change's transaction, which the index follows;
//!   [`reindex`] to rebuild).
//! - A local change writes its federation message (`offer.published`,
//!   `offer.updated`, `offer.closed`) in the same transaction, then wakes
//!   the delivery workers.
//! - Network offers (origin ≠ this node) are read-only here.
//! - Workplace coordinates always come from the communes referential; a
//!   commune without known centre gives `lat_micro`/`lon_micro` = `None`
//!   ("distance unknown"), never `0,0`.
//!
//! Endpoints (all need a logged-in user):
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | `/api/v1/offers` | employer (for its own company), counsellor, admin |
//! | GET | `/api/v1/offers` | anyone; employers see their own offers only |
//! | GET | `/api/v1/offers/search` | anyone |
//! | GET | `/api/v1/offers/{id}` | anyone |
//! | PUT | `/api/v1/offers/{id}` | the owner, counsellor, admin; local offers only |
//! | DELETE | `/api/v1/offers/{id}` (`?reason=`) | same: closes the offer |
//! | GET | `/api/v1/offers/{id}/jobposting` | anyone: schema.org `JobPosting` JSON-LD |

mod france_travail;
mod jobposting;
pub mod validation;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use vivier_protocol::{
    ContractType, Employer, MessageKind, OfferClosed, OfferPayload, Salary, Workplace,
};

use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::db::Db;
use crate::error::{ApiJson, Error, FieldError, Result};
use crate::http::ApiQuery;
use crate::search::{OfferDoc, OfferQuery, SortBy};
use crate::server::AppState;
use crate::util::now_ms;

pub use france_travail::{
    import_france_travail_file, parse_france_travail, OfferImportReport, RejectedOffer,
};
pub use jobposting::job_posting;

/// Driving licence categories accepted in offers (French permis).
pub const LICENCE_CATEGORIES: &[&str] = &[
    "AM", "A1", "A2", "A", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE",
];

/// Whether holding `held` satisfies a requirement of `required`: the same
/// category, or a higher one that French law conditions on it (every
/// heavy-vehicle category requires B; `CE` includes `C`, `C1`, `C1E` and `BE`;
/// `A` includes `A2`, `A1` and `AM`; `B` includes `AM`…).
pub fn licence_satisfies(held: &str, required: &str) -> bool {
    let held = held.trim().to_ascii_uppercase();
    let required = required.trim().to_ascii_uppercase();
    if held == required {
        return true;
    }
    let implied: &[&str] = match held.as_str() {
        "A" => &["A2", "A1", "AM"],
        "A2" => &["A1", "AM"],
        "A1" => &["AM"],
        "B" => &["AM"],
        "BE" => &["B", "AM"],
        "C1" => &["B", "AM"],
        "C1E" => &["C1", "BE", "B", "AM"],
        "C" => &["C1", "B", "AM"],
        "CE" => &["C", "C1", "C1E", "BE", "B", "AM"],
        "D1" => &["B", "AM"],
        "D1E" => &["D1", "BE", "B", "AM"],
        "D" => &["D1", "B", "AM"],
        "DE" => &["D", "D1", "D1E", "BE", "B", "AM"],
        _ => &[],
    };
    implied.contains(&required.as_str())
}

/// Life cycle of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    /// Published, accepting candidates.
    Open,
    /// Closed (filled, withdrawn or expired).
    Closed,
}

impl OfferStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Option<OfferStatus> {
        match s {
            "open" => Some(OfferStatus::Open),
            "closed" => Some(OfferStatus::Closed),
            _ => None,
        }
    }
}

/// An offer as stored on this node. Serialised flat: the payload's fields,
/// then `status`, `owner_user_id`, `is_local`, `created_at`, `closed_at`
/// (the payload carries `published_at` and `updated_at`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredOffer {
    /// The offer as published on the network.
    #[serde(flatten)]
    pub payload: OfferPayload,
    /// Open or closed.
    pub status: OfferStatus,
    /// The local user who owns it (None for network offers).
    pub owner_user_id: Option<String>,
    /// Whether this node is the offer's origin.
    pub is_local: bool,
    /// When the row was first stored here (unix ms).
    pub created_at: i64,
    /// Last change of the row (unix ms; same as `payload.updated_at` except
    /// after a close).
    #[serde(skip)]
    pub updated_at: i64,
    /// When it was closed (unix ms).
    pub closed_at: Option<i64>,
    /// Why this node closed a network offer itself (`member_left`: its
    /// member left the network); none when its origin closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<String>,
    /// Positions filled by hires through referrals (this node's offers).
    pub positions_filled: i64,
}

impl StoredOffer {
    /// Positions of all workplaces (at least one).
    pub fn positions(&self) -> i64 {
        self.payload
            .workplaces
            .iter()
            .map(|w| w.positions.max(0))
            .sum::<i64>()
            .max(1)
    }
}

const OFFER_COLUMNS: &str =
    "id, origin_node, owner_user_id, status, payload, is_local, created_at, updated_at, closed_at, closed_reason, \
     positions_filled";

fn offer_from_row(row: &sqlx::any::AnyRow) -> Result<StoredOffer> {
    let payload: String = row.try_get("payload")?;
    let payload: OfferPayload = serde_json::from_str(&payload).map_err(|e| {
        Error::Internal(anyhow::anyhow!("stored offer payload does not parse: {e}"))
    })?;
    let status: String = row.try_get("status")?;
    let is_local: i64 = row.try_get("is_local")?;
    Ok(StoredOffer {
        payload,
        status: OfferStatus::parse(&status)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown offer status {status}")))?,
        owner_user_id: row.try_get("owner_user_id")?,
        is_local: is_local != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_reason: row.try_get("closed_reason")?,
        positions_filled: row.try_get("positions_filled")?,
    })
}

/// A member that refused this node's offer for good.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryRefusal {
    /// The member.
    pub node_id: String,
    /// Its refusal code.
    pub code: String,
    /// In French.
    pub message: String,
    /// When (unix ms).
    pub at: i64,
}

/// The members that refused local offer `id` for good.
pub async fn delivery_refusals(db: &Db, id: &str) -> Result<Vec<DeliveryRefusal>> {
    let rows = sqlx::query(
        "SELECT node_id, code, message, at FROM offer_delivery_refusals WHERE offer_id = $1 ORDER BY at, node_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRefusal {
                node_id: r.try_get("node_id")?,
                code: r.try_get("code")?,
                message: r.try_get("message")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// An offer with what the network did with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferDetail {
    /// The offer.
    #[serde(flatten)]
    pub offer: StoredOffer,
    /// Members that refused it for good (local offers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_refusals: Vec<DeliveryRefusal>,
}

/// One offer by id.
pub async fn get_offer(db: &Db, id: &str) -> Result<Option<StoredOffer>> {
    let row = sqlx::query(&format!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(offer_from_row).transpose()
}

/// Several offers by id (missing ids are skipped; order not kept).
pub async fn get_offers(db: &Db, ids: &[String]) -> Result<Vec<StoredOffer>> {
    get_offer_rows(db, ids)
        .await?
        .iter()
        .map(offer_from_row)
        .collect()
}

/// The rows of `get_offers`, not decoded yet.
async fn get_offer_rows(db: &Db, ids: &[String]) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        out.extend(q.fetch_all(&db.pool).await?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Input and validation
// ---------------------------------------------------------------------------

/// A workplace as given by the user (coordinates come from the referential).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkplaceInput {
    /// INSEE code of the commune.
    pub commune_insee: String,
    /// Label (defaults to "<commune> (<département>)").
    #[serde(default)]
    pub label: Option<String>,
    /// Positions at this place (default 1).
    #[serde(default = "one")]
    pub positions: i64,
}

fn one() -> i64 {
    1
}

/// The body of `POST /api/v1/offers` and `PUT /api/v1/offers/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    pub title: String,
    pub description: String,
    /// ROME 4.0 code, e.g. `N1101`.
    pub rome_code: String,
    /// `CDI`, `CDD`, `MIS`, `SAI`, `ALT`.
    pub contract_type: ContractType,
    /// Required for CDD and MIS.
    #[serde(default)]
    pub duration_months: Option<i64>,
    /// 1..=48.
    #[serde(default)]
    pub weekly_hours: Option<i64>,
    #[serde(default)]
    pub salary: Option<Salary>,
    /// Permis category (`B`, `C`, `CE`…).
    #[serde(default)]
    pub driving_licence: Option<String>,
    #[serde(default)]
    pub experience_months: Option<i64>,
    #[serde(default)]
    pub experience_label: Option<String>,
    /// First day of work, `YYYY-MM-DD`.
    #[serde(default)]
    pub start_date: Option<String>,
    /// A vehicle of one's own is required.
    #[serde(default)]
    pub vehicle_required: bool,
    /// Certification codes (`GET /api/v1/certifications`); case-insensitive.
    #[serde(default)]
    pub required_certifications: Vec<String>,
    /// Certification codes appreciated.
    #[serde(default)]
    pub desired_certifications: Vec<String>,
    /// Required from counsellors and admins; ignored for employers (their
    /// account's company is used).
    #[serde(default)]
    pub employer: Option<Employer>,
    /// At least one.
    pub workplaces: Vec<WorkplaceInput>,
}

/// Certification codes trimmed, upper-cased, empty ones and duplicates
/// dropped (unknown codes are left for the validation to name).
fn normalise_codes(codes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in codes {
        let c = c.trim().to_ascii_uppercase();
        if !c.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn trimmed(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Validate an input: normalise it into a payload (trimmed texts, upper-case
/// codes, workplaces resolved against the referential), then run the one
/// offer validation ([`validation::check_content`], also applied to offers
/// received from other nodes). `employer` is the company the offer is for
/// (already decided from the user's role).
pub(crate) fn validate_input(
    state: &AppState,
    input: &OfferInput,
    employer: &Employer,
) -> Result<ValidOffer> {
    let workplaces = input
        .workplaces
        .iter()
        .map(|w| {
            let commune = state.refs.commune(&w.commune_insee);
            Workplace {
                commune_insee: commune
                    .map(|c| c.insee.clone())
                    .unwrap_or_else(|| w.commune_insee.clone()),
                label: trimmed(w.label.as_deref())
                    .or_else(|| commune.map(|c| format!("{} ({})", c.name, c.departement))),
                lat_micro: commune.and_then(|c| c.point).map(|p| p.lat_micro),
                lon_micro: commune.and_then(|c| c.point).map(|p| p.lon_micro),
                positions: w.positions,
            }
        })
        .collect();
    let draft = OfferPayload {
        offer_id: String::new(),
        origin_node: state.identity.node_id.clone(),
        title: input.title.trim().to_string(),
        description: input.description.trim().to_string(),
        rome_code: input.rome_code.trim().to_ascii_uppercase(),
        contract_type: input.contract_type,
        duration_months: input.duration_months,
        weekly_hours: input.weekly_hours,
        salary: input.salary.clone(),
        driving_licence: trimmed(input.driving_licence.as_deref()).map(|l| l.to_ascii_uppercase()),
        experience_months: input.experience_months,
        experience_label: trimmed(input.experience_label.as_deref()),
        start_date: trimmed(input.start_date.as_deref()),
        vehicle_required: input.vehicle_required,
        required_certifications: normalise_codes(&input.required_certifications),
        desired_certifications: normalise_codes(&input.desired_certifications),
        employer: Employer {
            name: employer.name.trim().to_string(),
            siret: employer.siret.clone(),
        },
        workplaces,
        published_at: 0,
        updated_at: 0,
    };
    let errs = validation::check_content(state.refs, &draft);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    Ok(ValidOffer(draft))
}

/// A validated offer, before it gets its id, origin and times.
#[derive(Debug, Clone)]
pub(crate) struct ValidOffer(OfferPayload);

impl ValidOffer {
    fn into_payload(
        self,
        offer_id: String,
        origin: vivier_protocol::NodeId,
        published_at: i64,
        updated_at: i64,
    ) -> OfferPayload {
        OfferPayload {
            offer_id,
            origin_node: origin,
            published_at,
            updated_at,
            ..self.0
        }
    }
}

/// The company an offer is for: an employer's own; for staff, the body's.
fn employer_for(user: &User, input: &OfferInput) -> Result<Employer> {
    match user.role {
        Role::Employer => Ok(Employer {
            name: user.employer_name.clone().unwrap_or_default(),
            siret: user.employer_siret.clone(),
        }),
        Role::Admin | Role::Counsellor => input.employer.clone().ok_or_else(|| {
            Error::field("employer", "required when posting on behalf of an employer")
        }),
    }
}

// ---------------------------------------------------------------------------
// Local changes
// ---------------------------------------------------------------------------

fn payload_json(p: &OfferPayload) -> Result<String> {
    serde_json::to_string(p).map_err(|e| Error::Internal(anyhow::anyhow!("offer payload: {e}")))
}

/// Insert a new local offer and its `offer.published` broadcast in one
/// transaction (no indexing, no wake-up: callers do it after commit).
async fn insert_local(
    state: &AppState,
    actor: &Actor,
    valid: ValidOffer,
    owner_user_id: &str,
    external_id: Option<&str>,
    published_at: Option<i64>,
) -> Result<StoredOffer> {
    let now = now_ms();
    let id = crate::util::new_id();
    let published_at = published_at.unwrap_or(now);
    let payload = valid.into_payload(
        id.clone(),
        state.identity.node_id.clone(),
        published_at,
        now,
    );
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO offers (id, origin_node, owner_user_id, status, payload, title, rome_code, contract_type, \
         employer_name, created_at, updated_at, closed_at, is_local, external_id) \
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, NULL, 1, $11)",
    )
    .bind(&id)
    .bind(payload.origin_node.to_string())
    .bind(owner_user_id)
    .bind(payload_json(&payload)?)
    .bind(&payload.title)
    .bind(&payload.rome_code)
    .bind(payload.contract_type.as_str())
    .bind(&payload.employer.name)
    .bind(now)
    .bind(now)
    .bind(external_id)
    .execute(&mut *tx)
    .await?;
    crate::federation::enqueue_broadcast(state, &mut tx, MessageKind::OfferPublished, &payload)
        .await?;
    journal_index(&mut tx, &id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "offer.create",
        ("offer", &id),
        None,
        serde_json::json!({ "workplaces": payload.workplaces.len(), "external_id": external_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StoredOffer {
        payload,
        status: OfferStatus::Open,
        owner_user_id: Some(owner_user_id.to_string()),
        is_local: true,
        created_at: now,
        updated_at: now,
        closed_at: None,
        closed_reason: None,
        positions_filled: 0,
    })
}

/// Replace a local open offer's content and broadcast `offer.updated`.
async fn update_local(
    state: &AppState,
    actor: &Actor,
    existing: &StoredOffer,
    valid: ValidOffer,
) -> Result<StoredOffer> {
    let now = now_ms().max(existing.updated_at + 1);
    let payload = valid.into_payload(
        existing.payload.offer_id.clone(),
        existing.payload.origin_node.clone(),
        existing.payload.published_at,
        now,
    );
    let mut tx = state.db.begin().await?;
    let res = sqlx::query(
        "UPDATE offers SET payload = $1, title = $2, rome_code = $3, contract_type = $4, employer_name = $5, \
         updated_at = $6 WHERE id = $7 AND status = 'open' AND is_local = 1",
    )
    .bind(payload_json(&payload)?)
    .bind(&payload.title)
    .bind(&payload.rome_code)
    .bind(payload.contract_type.as_str())
    .bind(&payload.employer.name)
    .bind(now)
    .bind(&payload.offer_id)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() == 0 {
        return Err(Error::Conflict(
            "the offer is closed or no longer local".into(),
        ));
    }
    crate::federation::enqueue_broadcast(state, &mut tx, MessageKind::OfferUpdated, &payload)
        .await?;
    journal_index(&mut tx, &payload.offer_id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "offer.update",
        ("offer", &payload.offer_id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StoredOffer {
        payload,
        updated_at: now,
        ..existing.clone()
    })
}

/// Close a local offer and broadcast `offer.closed`; in the same
/// transaction its pending referrals are refused (`position_filled`, the
/// referring nodes told) and the closing audited, so a crash can never leave
/// referrals pending on a closed offer. Closing a closed offer changes
/// nothing.
async fn close_local(
    state: &AppState,
    actor: &Actor,
    existing: &StoredOffer,
    reason: Option<String>,
) -> Result<StoredOffer> {
    if existing.status == OfferStatus::Closed {
        return Ok(existing.clone());
    }
    let now = now_ms().max(existing.updated_at + 1);
    let mut tx = state.db.begin().await?;
    if !close_in_tx(
        state,
        &mut tx,
        actor,
        &existing.payload.offer_id,
        reason,
        now,
    )
    .await?
    {
        return Err(Error::Conflict("the offer was closed meanwhile".into()));
    }
    tx.commit().await?;
    Ok(StoredOffer {
        status: OfferStatus::Closed,
        updated_at: now,
        closed_at: Some(now),
        ..existing.clone()
    })
}

/// Close local offer `offer_id` in the caller's transaction: status,
/// `offer.closed` broadcast, index journal, pending referrals refused
/// (`position_filled`), audit. False when it was not open.
pub(crate) async fn close_in_tx(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    offer_id: &str,
    reason: Option<String>,
    now: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE offers SET status = 'closed', closed_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'open' AND is_local = 1",
    )
    .bind(now)
    .bind(offer_id)
    .execute(&mut **tx)
    .await?;
    if res.rows_affected() == 0 {
        return Ok(false);
    }
    let closed = OfferClosed {
        offer_id: offer_id.to_string(),
        reason,
        closed_at: now,
    };
    crate::federation::enqueue_broadcast(state, tx, MessageKind::OfferClosed, &closed).await?;
    journal_index(tx, &closed.offer_id).await?;
    let refused = crate::referrals::refuse_pending_on_closed_offer(
        state,
        tx,
        &closed.offer_id,
        "offre clôturée",
    )
    .await?;
    crate::audit::append(
        tx,
        actor,
        "offer.close",
        ("offer", &closed.offer_id),
        None,
        serde_json::json!({ "referrals_refused": refused, "reason": closed.reason }),
    )
    .await?;
    Ok(true)
}

/// A hire through a referral on local offer `offer_id` was recorded (or
/// cancelled): positions filled follow the accepted referrals, and the
/// offer closes (broadcast) when none are left. In the caller's
/// transaction. Returns whether it closed.
pub(crate) async fn hires_changed(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    offer_id: &str,
    now: i64,
) -> Result<bool> {
    let row = sqlx::query(&format!(
        "SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 AND is_local = 1"
    ))
    .bind(offer_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(offer) = row.as_ref().map(offer_from_row).transpose()? else {
        return Ok(false);
    };
    let filled = crate::referrals::store::hires_of_offer(tx, offer_id).await?;
    sqlx::query("UPDATE offers SET positions_filled = $2 WHERE id = $1")
        .bind(offer_id)
        .bind(filled)
        .execute(&mut **tx)
        .await?;
    if offer.status == OfferStatus::Open && filled >= offer.positions() {
        return close_in_tx(
            state,
            tx,
            &Actor::System("positions_filled"),
            offer_id,
            Some("tous les postes sont pourvus".into()),
            now.max(offer.updated_at + 1),
        )
        .await;
    }
    Ok(false)
}

/// Create a local offer from an input on behalf of `user` (validated,
/// broadcast, indexed).
pub async fn create_offer(
    state: &AppState,
    user: &User,
    input: &OfferInput,
) -> Result<StoredOffer> {
    user.require(&[Role::Admin, Role::Counsellor, Role::Employer])?;
    crate::federation::ensure_member(state)?;
    let employer = employer_for(user, input)?;
    let valid = validate_input(state, input, &employer)?;
    let actor = Actor::User(user.clone());
    let offer = insert_local(state, &actor, valid, &user.id, None, None).await?;
    after_commit(state, &offer.payload.offer_id).await;
    Ok(offer)
}

/// After a commit: wake the federation workers and the index follower.
async fn after_commit(state: &AppState, _offer_id: &str) {
    crate::federation::wake(state);
    crate::journal::wake(state);
}

/// Append, in the caller's transaction, the journal entry that brings the
/// offer index in line with offer `id` once committed.
pub(crate) async fn journal_index(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::IndexOffer, id, now_ms()).await
}

/// A local offer the user may change, or the reason why not.
pub(crate) async fn editable(state: &AppState, user: &User, id: &str) -> Result<StoredOffer> {
    let offer = get_offer(&state.db, id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    if !offer.is_local {
        return Err(Error::Conflict(format!(
            "offer {id} belongs to node {}; network offers are read-only here",
            offer.payload.origin_node
        )));
    }
    match user.role {
        Role::Admin | Role::Counsellor => Ok(offer),
        Role::Employer if offer.owner_user_id.as_deref() == Some(user.id.as_str()) => Ok(offer),
        Role::Employer => Err(Error::Forbidden),
    }
}

/// Replace a local offer's content.
pub async fn update_offer(
    state: &AppState,
    user: &User,
    id: &str,
    input: &OfferInput,
) -> Result<StoredOffer> {
    let existing = editable(state, user, id).await?;
    if existing.status == OfferStatus::Closed {
        return Err(Error::Conflict("the offer is closed".into()));
    }
    crate::federation::ensure_member(state)?;
    let employer = match user.role {
        Role::Employer => employer_for(user, input)?,
        // Staff may correct the company; by default it stays.
        _ => input
            .employer
            .clone()
            .unwrap_or_else(|| existing.payload.employer.clone()),
    };
    let valid = validate_input(state, input, &employer)?;
    let offer = update_local(state, &Actor::User(user.clone()), &existing, valid).await?;
    after_commit(state, id).await;
    Ok(offer)
}

/// Close a local offer.
pub async fn close_offer(
    state: &AppState,
    user: &User,
    id: &str,
    reason: Option<String>,
) -> Result<StoredOffer> {
    let existing = editable(state, user, id).await?;
    let was_open = existing.status == OfferStatus::Open;
    let offer = close_local(state, &Actor::User(user.clone()), &existing, reason).await?;
    if was_open {
        after_commit(state, id).await;
    }
    Ok(offer)
}

// ---------------------------------------------------------------------------
// Network offers (called by the federation inbox, inside its transaction)
// ---------------------------------------------------------------------------

/// Workplaces of a received offer with coordinates from our referential
/// when we know the commune (the sender's otherwise, if plausible).
fn localise_workplaces(workplaces: &[Workplace]) -> Vec<Workplace> {
    let refs = crate::referentials::Referentials::global();
    workplaces
        .iter()
        .map(|w| {
            let mut w = w.clone();
            match refs.commune(&w.commune_insee) {
                Some(c) => {
                    w.lat_micro = c.point.map(|p| p.lat_micro);
                    w.lon_micro = c.point.map(|p| p.lon_micro);
                }
                None => {
                    let valid = match (w.lat_micro, w.lon_micro) {
                        (Some(lat), Some(lon)) => {
                            crate::geo::Point::new(lat, lon).is_valid() && (lat, lon) != (0, 0)
                        }
                        _ => false,
                    };
                    if !valid {
                        w.lat_micro = None;
                        w.lon_micro = None;
                    }
                }
            }
            w
        })
        .collect()
}

/// A received offer, checked, ready to store: workplaces localised and the
/// payload encoded once ([`prepare_remote_offer`]).
#[derive(Debug, Clone)]
pub struct RemoteOffer {
    payload: OfferPayload,
    json: String,
}

impl RemoteOffer {
    /// The offer's id.
    pub fn offer_id(&self) -> &str {
        &self.payload.offer_id
    }
}

/// Localise and encode a received offer (no I/O: done before the inbox
/// transaction).
pub fn prepare_remote_offer(payload: &OfferPayload) -> Result<RemoteOffer> {
    let mut payload = payload.clone();
    payload.workplaces = localise_workplaces(&payload.workplaces);
    let json = payload_json(&payload)?;
    Ok(RemoteOffer { payload, json })
}

/// Store (insert or update) an offer received from another node: status
/// open, not local, no owner. Ignored when the stored copy is newer, or when
/// the id is already used by an offer of another origin (including ours).
pub async fn store_remote_offer(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    payload: &OfferPayload,
) -> Result<()> {
    store_remote_offers(tx, &[&prepare_remote_offer(payload)?]).await?;
    Ok(())
}

/// Columns bound per offer by [`store_remote_offers`].
const REMOTE_OFFER_BINDS: usize = 9;

/// Insert or update received offers with one statement (their ids must be
/// distinct), and journal those that changed with one more. An offer is
/// replaced only by a newer version from the same origin; a local offer is
/// never touched. Returns the ids that changed.
pub async fn store_remote_offers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    offers: &[&RemoteOffer],
) -> Result<Vec<String>> {
    if offers.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let values = crate::util::sql_values(offers.len(), REMOTE_OFFER_BINDS, |n| {
        format!(
            "({}, NULL, 'open', {}, NULL, 0)",
            crate::util::sql_params(n, 2),
            crate::util::sql_params(n + 2, REMOTE_OFFER_BINDS - 2)
        )
    });
    let sql = format!(
        "INSERT INTO offers (id, origin_node, owner_user_id, status, payload, title, rome_code, contract_type, \
         employer_name, created_at, updated_at, closed_at, is_local) \
         VALUES {values} \
         ON CONFLICT (id) DO UPDATE SET status = 'open', payload = excluded.payload, title = excluded.title, \
         rome_code = excluded.rome_code, contract_type = excluded.contract_type, \
         employer_name = excluded.employer_name, updated_at = excluded.updated_at, closed_at = NULL \
         WHERE offers.origin_node = excluded.origin_node AND offers.is_local = 0 \
         AND offers.updated_at < excluded.updated_at \
         RETURNING id"
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
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
            .bind(p.updated_at);
    }
    let changed = q.fetch_all(&mut **tx).await?;
    if changed.len() < offers.len() {
        tracing::debug!(
            ignored = offers.len() - changed.len(),
            "received offers ignored (stale or foreign id)"
        );
    }
    crate::journal::append_many(tx, crate::journal::Kind::IndexOffer, &changed, now).await?;
    Ok(changed)
}

/// Close an offer received from `origin` (only if it is that node's offer).
/// Later updates older than the close are then ignored.
pub async fn close_remote_offer(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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
    .execute(&mut **tx)
    .await?;
    journal_index(tx, &closed.offer_id).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------

/// The index document of an offer.
pub fn offer_doc(o: &StoredOffer) -> OfferDoc {
    let p = &o.payload;
    OfferDoc {
        id: p.offer_id.clone(),
        origin_node: p.origin_node.to_string(),
        title: p.title.clone(),
        description: p.description.clone(),
        rome_code: p.rome_code.clone(),
        contract_type: p.contract_type.as_str().to_string(),
        employer_name: p.employer.name.clone(),
        workplaces: workplace_points(p).into_iter().flatten().collect(),
        driving_licence: p.driving_licence.clone(),
        status: o.status.as_str().to_string(),
        updated_at: o.updated_at,
        match_workplaces: p
            .workplaces
            .iter()
            .zip(workplace_points(p))
            .map(|(w, point)| crate::search::MatchWorkplace {
                commune_insee: w.commune_insee.clone(),
                point,
            })
            .collect(),
        match_terms: crate::matching::text::OfferTerms::of(
            crate::referentials::Referentials::global(),
            p,
        )
        .0
        .into_iter()
        .map(|t| (t.term, t.factor))
        .collect(),
        vehicle_required: p.vehicle_required,
        required_certifications: p.required_certifications.clone(),
        start_day: p.start_date.as_deref().and_then(crate::util::date_to_days),
        published_at: p.published_at,
        weekly_hours: p.weekly_hours,
        is_local: o.is_local,
    }
}

/// Each workplace's point, `None` when unknown.
pub fn workplace_points(p: &OfferPayload) -> Vec<Option<crate::geo::Point>> {
    p.workplaces
        .iter()
        .map(|w| match (w.lat_micro, w.lon_micro) {
            (Some(lat), Some(lon)) => Some(crate::geo::Point::new(lat, lon)),
            _ => None,
        })
        .collect()
}

/// The index documents of offers `ids` (closed offers stay in the index
/// with status `closed`), and the ids that must leave the index.
pub async fn index_docs(db: &Db, ids: &[String]) -> Result<(Vec<OfferDoc>, Vec<String>)> {
    docs_of_rows(ids, &index_rows(db, ids).await?)
}

/// The rows [`docs_of_rows`] turns into documents (the follower reads them,
/// then builds the documents on the indexing thread).
pub async fn index_rows(db: &Db, ids: &[String]) -> Result<Vec<sqlx::any::AnyRow>> {
    get_offer_rows(db, ids).await
}

/// The documents of the offers `ids` from their rows, and the ids without a
/// row (deleted: to remove from the index). No I/O.
pub fn docs_of_rows(
    ids: &[String],
    rows: &[sqlx::any::AnyRow],
) -> Result<(Vec<OfferDoc>, Vec<String>)> {
    let docs = rows
        .iter()
        .map(|row| offer_from_row(row).map(|o| offer_doc(&o)))
        .collect::<Result<Vec<OfferDoc>>>()?;
    let present: std::collections::HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let gone = ids
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .cloned()
        .collect();
    Ok((docs, gone))
}

/// Rebuild the offer index from the database; returns the number indexed.
/// The index then follows the journal from the head it had at the start.
pub async fn reindex(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<u64> {
    let seq = crate::journal::head(&state.db).await?;
    reindex_at(state, progress, seq).await
}

/// [`reindex`] recording journal position `seq`.
pub async fn reindex_at(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
    seq: i64,
) -> anyhow::Result<u64> {
    let rows = sqlx::query(&format!("SELECT {OFFER_COLUMNS} FROM offers ORDER BY id"))
        .fetch_all(&state.db.pool)
        .await?;
    let mut docs = Vec::with_capacity(rows.len());
    for row in &rows {
        match offer_from_row(row) {
            Ok(o) => docs.push(offer_doc(&o)),
            Err(e) => tracing::warn!(error = %e, "offer skipped while reindexing"),
        }
    }
    if let Some(bar) = progress {
        bar.set_length(docs.len() as u64);
    }
    let bar = progress.cloned();
    let search = state.search.clone();
    let n = tokio::task::spawn_blocking(move || {
        let mut it = docs.into_iter();
        search.offers.rebuild(
            &mut it,
            &|n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            },
            seq,
        )
    })
    .await??;
    Ok(n)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/offers", tag = "offers", request_body = OfferInput,
    responses((status = 201, description = "The new offer, broadcast to the network", body = StoredOffer)))]
async fn create_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(input): ApiJson<OfferInput>,
) -> Result<(StatusCode, Json<StoredOffer>)> {
    let offer = create_offer(&state, &user, &input).await?;
    Ok((StatusCode::CREATED, Json(offer)))
}

#[utoipa::path(get, path = "/api/v1/offers/{id}", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    responses((status = 200, description = "The offer and the members that refused it", body = OfferDetail)))]
async fn get_handler(
    State(state): State<AppState>,
    _user: User,
    Path(id): Path<String>,
) -> Result<Json<OfferDetail>> {
    let offer = get_offer(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    let delivery_refusals = if offer.is_local {
        delivery_refusals(&state.db, &id).await?
    } else {
        Vec::new()
    };
    Ok(Json(OfferDetail {
        offer,
        delivery_refusals,
    }))
}

#[utoipa::path(put, path = "/api/v1/offers/{id}", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    request_body = OfferInput,
    responses((status = 200, description = "The offer after the change, broadcast", body = StoredOffer)))]
async fn update_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<OfferInput>,
) -> Result<Json<StoredOffer>> {
    let offer = update_offer(&state, &user, &id, &input).await?;
    Ok(Json(offer))
}

/// `?reason=` of DELETE.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CloseQuery {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/offers/{id}", tag = "offers",
    params(("id" = String, Path, description = "Offer id"), CloseQuery),
    responses((status = 200, description = "The closed offer", body = StoredOffer)))]
async fn close_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CloseQuery>,
) -> Result<Json<StoredOffer>> {
    let reason = q
        .reason
        .map(|r| r.chars().take(500).collect::<String>())
        .filter(|r| !r.trim().is_empty());
    let offer = close_offer(&state, &user, &id, reason).await?;
    Ok(Json(offer))
}

/// Filters of `GET /api/v1/offers`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` (default), `closed` or `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// `local`, `network`, `all` (default) or a node id.
    #[serde(default)]
    pub origin: Option<String>,
    /// Only this ROME code.
    #[serde(default)]
    pub rome: Option<String>,
    /// Only this contract type.
    #[serde(default)]
    pub contract_type: Option<String>,
    /// Only my offers (employers always).
    #[serde(default)]
    pub mine: Option<bool>,
    /// Default 50, max 500 (set by the caller: the API pages with
    /// `page`/`per_page`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub limit: Option<i64>,
    /// Rows to skip (set by the caller, like `limit`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub offset: Option<i64>,
}

/// A page of offers.
#[derive(Debug, Serialize)]
pub struct OfferList {
    pub total: i64,
    pub offers: Vec<StoredOffer>,
}

/// List offers, most recently updated first.
pub async fn list_offers(state: &AppState, user: &User, q: &ListQuery) -> Result<OfferList> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    fn push(clauses: &mut Vec<String>, clause: &str, value: String, binds: &mut Vec<String>) {
        binds.push(value);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    }
    match q.status.as_deref().unwrap_or("open") {
        "all" => {}
        s @ ("open" | "closed") => push(&mut clauses, "status = ?", s.to_string(), &mut binds),
        _ => return Err(Error::field("status", "one of open, closed, all")),
    }
    match q.origin.as_deref().unwrap_or("all") {
        "all" => {}
        "local" => clauses.push("is_local = 1".into()),
        "network" => clauses.push("is_local = 0".into()),
        node => push(
            &mut clauses,
            "origin_node = ?",
            node.to_string(),
            &mut binds,
        ),
    }
    if let Some(r) = q.rome.as_deref().filter(|r| !r.trim().is_empty()) {
        push(
            &mut clauses,
            "rome_code = ?",
            r.trim().to_ascii_uppercase(),
            &mut binds,
        );
    }
    if let Some(c) = q.contract_type.as_deref().filter(|c| !c.trim().is_empty()) {
        push(
            &mut clauses,
            "contract_type = ?",
            c.trim().to_ascii_uppercase(),
            &mut binds,
        );
    }
    if user.role == Role::Employer || q.mine == Some(true) {
        push(
            &mut clauses,
            "owner_user_id = ?",
            user.id.clone(),
            &mut binds,
        );
    }
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let mut checks = crate::http::Checks::new();
    let limit = checks.int("per_page", q.limit, 50, 1, 500);
    let offset = checks.int(
        "page",
        q.offset,
        0,
        0,
        (crate::http::page::MAX_PAGE - 1) * crate::http::page::MAX_PER_PAGE,
    );
    checks.finish()?;
    let count_sql = format!("SELECT COUNT(*) FROM offers {where_}");
    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        cq = cq.bind(b);
    }
    let total = cq.fetch_one(&state.db.pool).await?;
    let n = binds.len();
    let sql = format!(
        "SELECT {OFFER_COLUMNS} FROM offers {where_} ORDER BY updated_at DESC, id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut lq = sqlx::query(&sql);
    for b in &binds {
        lq = lq.bind(b);
    }
    let rows = lq
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    let offers = rows
        .iter()
        .map(offer_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(OfferList { total, offers })
}

#[utoipa::path(get, path = "/api/v1/offers", tag = "offers", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "Offers, most recently updated first", body = crate::http::Page<StoredOffer>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<StoredOffer>>> {
    q.limit = Some(paging.per_page);
    q.offset = Some(paging.offset());
    let list = list_offers(&state, &user, &q).await?;
    Ok(Json(crate::http::Page::new(
        list.offers,
        list.total,
        paging,
    )))
}

/// Parameters of `GET /api/v1/offers/search`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text in the search language (`search::query_lang`) over title ×2,
    /// description and employer.
    #[serde(default)]
    pub q: Option<String>,
    /// ROME code(s), comma separated.
    #[serde(default)]
    pub rome: Option<String>,
    /// INSEE code of the centre of a distance search.
    #[serde(default)]
    pub commune: Option<String>,
    /// Radius around `commune` (default 30 km, max 1000).
    #[serde(default)]
    pub radius_km: Option<f64>,
    /// `CDI`, `CDD`, `MIS`, `SAI`, `ALT`.
    #[serde(default)]
    pub contract_type: Option<String>,
    /// `local` or a node id (default: every origin).
    #[serde(default)]
    pub origin: Option<String>,
    /// `open` (default), `closed`, `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// `relevance` (default) or `distance`.
    #[serde(default)]
    pub sort: Option<String>,
    /// Default 20, max 200 (set by the caller: the API pages with
    /// `page`/`per_page`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub limit: Option<usize>,
    /// Hits to skip (set by the caller, like `limit`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub offset: Option<usize>,
}

/// One search result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferHit {
    /// BM25 (0 without text).
    pub score: f32,
    /// Distance from the search centre to the nearest workplace.
    pub distance_km: Option<f64>,
    /// Description excerpt, HTML with `<b>` around the matches.
    pub snippet: Option<String>,
    /// The offer (with `origin_node` and `is_local`).
    pub offer: StoredOffer,
}

/// Search results.
#[derive(Debug, Serialize)]
pub struct OfferSearchResults {
    pub total: usize,
    pub hits: Vec<OfferHit>,
    /// ROME code → count over the whole result set.
    pub facets: std::collections::BTreeMap<String, u64>,
}

/// Search the offers index (local and network offers).
pub async fn search_offers(state: &AppState, p: &SearchParams) -> Result<OfferSearchResults> {
    let (limit, offset) = {
        let mut checks = crate::http::Checks::new();
        let as_i64 = |n: Option<usize>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let limit = checks.int(
            "per_page",
            as_i64(p.limit),
            20,
            1,
            crate::http::page::MAX_PER_PAGE,
        );
        let offset = checks.int(
            "page",
            as_i64(p.offset),
            0,
            0,
            (crate::http::page::MAX_PAGE - 1) * crate::http::page::MAX_PER_PAGE,
        );
        checks.finish()?;
        (
            usize::try_from(limit).unwrap_or(20),
            usize::try_from(offset).unwrap_or(0),
        )
    };
    if let Some(q) = &p.q {
        crate::search::query_lang::check_length(q)?;
    }
    let mut query = OfferQuery {
        text: p.q.clone().filter(|t| !t.trim().is_empty()),
        rome_codes: p
            .rome
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
        limit,
        offset,
        highlight: true,
        ..OfferQuery::default()
    };
    // Every bad parameter at once.
    let mut errs = Vec::new();
    for code in &query.rome_codes {
        if !state.refs.rome_exists(code) {
            errs.push(FieldError::coded(
                "rome",
                "invalid_value",
                format!("unknown ROME code {code:?}"),
            ));
        }
    }
    if let Some(insee) = p.commune.as_deref().filter(|c| !c.trim().is_empty()) {
        match state.refs.commune(insee).map(|c| c.point) {
            None => errs.push(FieldError::coded(
                "commune",
                "invalid_value",
                format!("unknown commune INSEE code {insee:?}"),
            )),
            Some(None) => errs.push(FieldError::coded(
                "commune",
                "invalid_value",
                "this commune's centre is unknown: a distance search is impossible",
            )),
            Some(Some(point)) => {
                let radius = p.radius_km.unwrap_or(30.0);
                if !radius.is_finite() || !(0.0..=1000.0).contains(&radius) {
                    errs.push(FieldError::coded(
                        "radius_km",
                        "out_of_range",
                        "must be between 0 and 1000",
                    ));
                } else {
                    query.near = Some((point, radius));
                }
            }
        }
    } else if p.radius_km.is_some() {
        errs.push(FieldError::coded(
            "commune",
            "required",
            "required with radius_km",
        ));
    }
    if let Some(c) = p.contract_type.as_deref().filter(|c| !c.trim().is_empty()) {
        let c = c.trim().to_ascii_uppercase();
        if !["CDI", "CDD", "MIS", "SAI", "ALT"].contains(&c.as_str()) {
            errs.push(FieldError::coded(
                "contract_type",
                "invalid_value",
                "one of CDI, CDD, MIS, SAI, ALT",
            ));
        }
        query.contract_type = Some(c);
    }
    query.origin_node = match p.origin.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some("local") => Some(state.identity.node_id.to_string()),
        Some(node) => Some(node.to_string()),
    };
    query.status = match p.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "closed") => Some(s.to_string()),
        _ => {
            errs.push(FieldError::coded(
                "status",
                "invalid_value",
                "one of open, closed, all",
            ));
            None
        }
    };
    query.sort = match p.sort.as_deref().unwrap_or("relevance") {
        "relevance" => SortBy::Relevance,
        "distance" => SortBy::Distance,
        _ => {
            errs.push(FieldError::coded(
                "sort",
                "invalid_value",
                "relevance or distance",
            ));
            SortBy::Relevance
        }
    };
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let search = state.search.clone();
    let results = tokio::task::spawn_blocking(move || search.offers.search(&query)).await??;
    let ids: Vec<String> = results.hits.iter().map(|h| h.id.clone()).collect();
    let mut by_id: std::collections::HashMap<String, StoredOffer> = get_offers(&state.db, &ids)
        .await?
        .into_iter()
        .map(|o| (o.payload.offer_id.clone(), o))
        .collect();
    let hits = results
        .hits
        .into_iter()
        .filter_map(|h| {
            by_id.remove(&h.id).map(|offer| OfferHit {
                score: h.score,
                distance_km: h.distance_km.map(|d| (d * 10.0).round() / 10.0),
                snippet: h.snippet,
                offer,
            })
        })
        .collect();
    Ok(OfferSearchResults {
        total: results.total,
        hits,
        facets: results.facets,
    })
}

#[utoipa::path(get, path = "/api/v1/offers/search", tag = "offers", params(SearchParams, crate::http::PageParams),
    responses((status = 200, description = "Offers matching, with facets", body = OfferSearchPage)))]
async fn search_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut p): crate::http::Paged<SearchParams>,
) -> Result<Json<OfferSearchPage>> {
    p.limit = usize::try_from(paging.per_page).ok();
    p.offset = usize::try_from(paging.offset()).ok();
    let results = search_offers(&state, &p).await?;
    state
        .read_audit
        .record(
            Some(&user),
            "offer.search",
            "offer",
            "",
            None,
            serde_json::json!({"results": results.total}),
        )
        .await?;
    Ok(Json(OfferSearchPage {
        page: crate::http::Page::new(
            results.hits,
            i64::try_from(results.total).unwrap_or(i64::MAX),
            paging,
        ),
        facets: OfferFacets {
            rome: results.facets,
        },
    }))
}

/// `GET /api/v1/offers/search`: the list envelope and the facets of every
/// match (not only this page's).
#[derive(Serialize, utoipa::ToSchema)]
struct OfferSearchPage {
    #[serde(flatten)]
    page: crate::http::Page<OfferHit>,
    facets: OfferFacets,
}

/// Counts over every match.
#[derive(Serialize, utoipa::ToSchema)]
struct OfferFacets {
    /// Matches per ROME code.
    rome: std::collections::BTreeMap<String, u64>,
}

#[utoipa::path(get, path = "/api/v1/offers/{id}/jobposting", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    responses((status = 200, description = "schema.org JobPosting", content_type = "application/ld+json", body = serde_json::Value)))]
async fn jobposting_handler(
    State(state): State<AppState>,
    _user: User,
    Path(id): Path<String>,
) -> Result<Response> {
    let offer = get_offer(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    // Meant to be pasted into a `<script type="application/ld+json">`: no
    // `<`, `>` or `&` appears literally, so `</script>` cannot end it early.
    let body = crate::util::json_for_html(&job_posting(state.refs, &offer))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/ld+json")],
        body,
    )
        .into_response())
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_handler,
    get_handler,
    update_handler,
    close_handler,
    list_handler,
    search_handler,
    jobposting_handler
))]
pub(crate) struct Doc;

/// Routes of the offers API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/offers", get(list_handler).post(create_handler))
        .route("/api/v1/offers/search", get(search_handler))
        .route(
            "/api/v1/offers/{id}",
            get(get_handler).put(update_handler).delete(close_handler),
        )
        .route("/api/v1/offers/{id}/jobposting", get(jobposting_handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_implications() {
        assert!(licence_satisfies("B", "B"));
        assert!(licence_satisfies("ce", "B"));
        assert!(licence_satisfies("C", "C1"));
        assert!(!licence_satisfies("B", "C"));
        assert!(!licence_satisfies("A", "B"));
        assert!(licence_satisfies("A", "AM"));
    }

    #[test]
    fn status_round_trip() {
        for s in [OfferStatus::Open, OfferStatus::Closed] {
            assert_eq!(OfferStatus::parse(s.as_str()), Some(s));
        }
    }
}
