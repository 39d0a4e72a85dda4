//! Trainings and immersions: network opportunities other than job offers.
//!
//! A training session (organisation, certifications it grants, ROME codes
//! it prepares for, places, dates, seats, funding) or an immersion (PMSMP:
//! host employer, place, dates, tutor, one ROME code) is created by a
//! counsellor or an admin, stored here (`opportunities`, the protocol's
//! [`OpportunityPayload`] as JSON) and broadcast as `opportunity.published`
//! / `opportunity.updated` / `opportunity.closed` in the same transaction.
//! Members store what they receive (read-only copies), list and search it,
//! and refer their candidates to it like to an offer
//! ([`crate::referrals`], `target` `training` / `immersion`). The skills
//! gap of the matching ([`crate::matching`]) looks here for trainings
//! granting a missing certification.
//!
//! Endpoints (staff only; every change audited):
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/v1/opportunities` (`?type=&q=&certification=&rome_code=&status=`) | local and network |
//! | POST | `/api/v1/opportunities` | create (local) |
//! | GET | `/api/v1/opportunities/{id}` | one |
//! | PUT | `/api/v1/opportunities/{id}` | replace a local open one |
//! | POST | `/api/v1/opportunities/{id}/close` | close a local one |

pub mod http;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};
use vivier_protocol::{
    MessageKind, NodeId, OpportunityClosed, OpportunityPayload, OpportunityPlace, OpportunityType,
};

use crate::actor::Actor;
use crate::error::{Error, FieldError, Result};
use crate::federation::{invalid_payload, refusal, skew_ms};
use crate::referentials::Referentials;
use crate::server::AppState;
use crate::util::{new_id, now_ms};
use crate::validation as v;

// Title and organisation, description: the offers' bounds.
pub use crate::offers::validation::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS};
/// Longest funding, tutor or closing reason, in characters.
pub const MAX_SHORT_CHARS: usize = 200;
/// Most places of one opportunity.
pub const MAX_PLACES: usize = 50;
/// Most ROME codes of one training.
pub const MAX_ROME_CODES: usize = 20;
/// Most seats of one session.
pub const MAX_SEATS: i64 = 10_000;
/// Longest session, in days (an immersion: at most 31 days, the PMSMP rule
/// of one month).
pub const MAX_TRAINING_DAYS: i64 = 3 * 366;
/// Longest immersion, in days.
pub const MAX_IMMERSION_DAYS: i64 = 31;

/// `open` or `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    /// Open to referrals.
    Open,
    /// Closed (full, cancelled, over).
    Closed,
}

impl OpportunityStatus {
    fn parse(s: &str) -> Result<OpportunityStatus> {
        match s {
            "open" => Ok(OpportunityStatus::Open),
            "closed" => Ok(OpportunityStatus::Closed),
            other => Err(Error::Internal(anyhow::anyhow!(
                "unknown opportunity status {other}"
            ))),
        }
    }
}

/// A stored opportunity, local or received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredOpportunity {
    /// The protocol payload.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub payload: OpportunityPayload,
    /// Open or closed.
    pub status: OpportunityStatus,
    /// This node's own (editable here).
    pub is_local: bool,
    /// Who created it (local ones).
    pub owner_user_id: Option<String>,
    /// Closing time.
    pub closed_at: Option<i64>,
    /// Closing reason.
    pub closed_reason: Option<String>,
}

/// A place as typed: the commune, and an optional label. Coordinates come
/// from the communes referential.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceInput {
    /// INSEE code of the commune.
    pub commune_insee: String,
    /// Label shown (default: the commune's name and département).
    #[serde(default)]
    pub label: Option<String>,
}

/// What a counsellor types to create or replace an opportunity.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityInput {
    /// `training` or `immersion`.
    #[schema(value_type = String)]
    pub opportunity_type: OpportunityType,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Training body, or host employer of an immersion.
    pub organisation: String,
    /// SIRET of the organisation (14 digits).
    #[serde(default)]
    pub siret: Option<String>,
    /// Certification codes granted (trainings only).
    #[serde(default)]
    pub certifications_granted: Vec<String>,
    /// ROME codes prepared for (an immersion: exactly one).
    #[serde(default)]
    pub rome_codes: Vec<String>,
    /// Places (at least one; an immersion: exactly one).
    pub places: Vec<PlaceInput>,
    /// First day `YYYY-MM-DD`.
    pub start_date: String,
    /// Last day `YYYY-MM-DD`.
    pub end_date: String,
    /// Seats (an immersion: 1 unless said otherwise).
    #[serde(default)]
    pub seats: Option<i64>,
    /// Funding (free text).
    #[serde(default)]
    pub funding: Option<String>,
    /// Tutor of an immersion (name and role).
    #[serde(default)]
    pub tutor: Option<String>,
}

/// `POST /api/v1/opportunities/{id}/close` body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Closing {
    /// Why (free text).
    #[serde(default)]
    pub reason: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn places_of(refs: &Referentials, input: &[PlaceInput]) -> Vec<OpportunityPlace> {
    input
        .iter()
        .map(|p| {
            let insee = p.commune_insee.trim().to_string();
            let commune = refs.commune(&insee);
            OpportunityPlace {
                label: non_empty(p.label.clone())
                    .or_else(|| commune.map(|c| format!("{} ({})", c.name, c.departement))),
                lat_micro: commune.and_then(|c| c.point).map(|p| p.lat_micro),
                lon_micro: commune.and_then(|c| c.point).map(|p| p.lon_micro),
                commune_insee: insee,
            }
        })
        .collect()
}

impl OpportunityInput {
    /// The payload this input describes (not yet validated).
    fn into_payload(
        self,
        refs: &Referentials,
        id: String,
        origin: NodeId,
        published_at: i64,
        updated_at: i64,
    ) -> OpportunityPayload {
        let (certifications_granted, _) = crate::referentials::certifications::check_list(
            "certifications_granted",
            &self.certifications_granted,
        );
        // Unknown codes are kept as typed so that validation names them.
        let certifications_granted = if certifications_granted.len()
            == self
                .certifications_granted
                .iter()
                .filter(|c| !c.trim().is_empty())
                .count()
        {
            certifications_granted
        } else {
            self.certifications_granted.clone()
        };
        OpportunityPayload {
            opportunity_id: id,
            origin_node: origin,
            opportunity_type: self.opportunity_type,
            title: self.title.trim().to_string(),
            description: self.description.unwrap_or_default().trim().to_string(),
            organisation: self.organisation.trim().to_string(),
            siret: non_empty(self.siret),
            certifications_granted,
            rome_codes: self
                .rome_codes
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .collect(),
            places: places_of(refs, &self.places),
            start_date: self.start_date.trim().to_string(),
            end_date: self.end_date.trim().to_string(),
            seats: self.seats.unwrap_or(1),
            funding: non_empty(self.funding),
            tutor: non_empty(self.tutor),
            published_at,
            updated_at,
        }
    }
}

/// The content of an opportunity, local or received. Field names are the
/// payload's (and the API input's).
pub fn check_content(refs: &Referentials, p: &OpportunityPayload) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::text(&mut errs, "title", &p.title, true, MAX_TITLE_CHARS);
    v::text(
        &mut errs,
        "description",
        &p.description,
        false,
        MAX_DESCRIPTION_CHARS,
    );
    v::text(
        &mut errs,
        "organisation",
        &p.organisation,
        true,
        MAX_TITLE_CHARS,
    );
    if let Some(siret) = &p.siret {
        if !crate::auth::valid_siret(siret) {
            errs.push(FieldError::new("siret", "must be 14 digits"));
        }
    }
    crate::offers::validation::check_certifications(
        &mut errs,
        "certifications_granted",
        &p.certifications_granted,
    );
    let immersion = p.opportunity_type == OpportunityType::Immersion;
    if immersion && !p.certifications_granted.is_empty() {
        errs.push(FieldError::new(
            "certifications_granted",
            "an immersion grants no certification",
        ));
    }
    if immersion && p.rome_codes.len() != 1 {
        errs.push(FieldError::new(
            "rome_codes",
            "an immersion discovers exactly one trade: give one ROME code",
        ));
    } else if p.rome_codes.len() > MAX_ROME_CODES {
        errs.push(FieldError::new(
            "rome_codes",
            format!("at most {MAX_ROME_CODES} ROME codes"),
        ));
    }
    for (i, code) in p.rome_codes.iter().enumerate().take(MAX_ROME_CODES) {
        if !crate::offers::validation::known_rome(refs, code) {
            let shown: String = code.chars().take(20).collect();
            errs.push(FieldError::new(
                format!("rome_codes[{i}]"),
                format!("unknown ROME code {shown:?} (see GET /api/v1/rome?q=)"),
            ));
        }
    }
    if p.places.is_empty() {
        errs.push(FieldError::new("places", "at least one place is required"));
    } else if p.places.len() > MAX_PLACES || (immersion && p.places.len() > 1) {
        let max = if immersion { 1 } else { MAX_PLACES };
        errs.push(FieldError::new(
            "places",
            format!("at most {max} place(s) (got {})", p.places.len()),
        ));
    }
    for (i, w) in p.places.iter().enumerate().take(MAX_PLACES) {
        crate::offers::validation::check_place(
            &mut errs,
            refs,
            &format!("places[{i}]"),
            &w.commune_insee,
            w.label.as_deref(),
            (w.lat_micro, w.lon_micro),
        );
    }
    let start = crate::util::date_to_days(&p.start_date).filter(|_| p.start_date.len() == 10);
    let end = crate::util::date_to_days(&p.end_date).filter(|_| p.end_date.len() == 10);
    if start.is_none() {
        errs.push(FieldError::new("start_date", "must be a date YYYY-MM-DD"));
    }
    if end.is_none() {
        errs.push(FieldError::new("end_date", "must be a date YYYY-MM-DD"));
    }
    if let (Some(s), Some(e)) = (start, end) {
        let max = if immersion {
            MAX_IMMERSION_DAYS
        } else {
            MAX_TRAINING_DAYS
        };
        if e < s {
            errs.push(FieldError::new("end_date", "must not be before start_date"));
        } else if e - s + 1 > max {
            errs.push(FieldError::new(
                "end_date",
                format!("lasts {} days: at most {max}", e - s + 1),
            ));
        }
    }
    v::int_in(&mut errs, "seats", Some(p.seats), 1..=MAX_SEATS);
    v::opt_text(&mut errs, "funding", p.funding.as_deref(), MAX_SHORT_CHARS);
    v::opt_text(&mut errs, "tutor", p.tutor.as_deref(), MAX_SHORT_CHARS);
    if !immersion && p.tutor.is_some() {
        errs.push(FieldError::new("tutor", "only an immersion has a tutor"));
    }
    errs
}

/// A received opportunity: its content, and what its origin sets.
pub fn check_received(
    refs: &Referentials,
    p: &OpportunityPayload,
    now_ms: i64,
    skew_ms: i64,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    crate::offers::validation::check_origin_fields(
        &mut errs,
        ("opportunity_id", &p.opportunity_id),
        p.published_at,
        p.updated_at,
        now_ms,
        skew_ms,
    );
    errs.extend(check_content(refs, p));
    errs
}

// ---------------------------------------------------------------------------
// Store

const COLUMNS: &str = "payload, status, is_local, owner_user_id, closed_at, closed_reason";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredOpportunity> {
    let payload: String = r.try_get("payload")?;
    let payload: OpportunityPayload = serde_json::from_str(&payload)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored opportunity payload: {e}")))?;
    let status: String = r.try_get("status")?;
    let is_local: i64 = r.try_get("is_local")?;
    Ok(StoredOpportunity {
        payload,
        status: OpportunityStatus::parse(&status)?,
        is_local: is_local != 0,
        owner_user_id: r.try_get("owner_user_id")?,
        closed_at: r.try_get("closed_at")?,
        closed_reason: r.try_get("closed_reason")?,
    })
}

/// One opportunity by id, in a transaction.
pub async fn get_tx(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Option<StoredOpportunity>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM opportunities WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// One opportunity by id.
pub async fn get(state: &AppState, id: &str) -> Result<Option<StoredOpportunity>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM opportunities WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

fn payload_json(p: &OpportunityPayload) -> Result<String> {
    serde_json::to_string(p)
        .map_err(|e| Error::Internal(anyhow::anyhow!("opportunity payload: {e}")))
}

/// Insert or replace the row of `p` (and its certification rows).
async fn write_row(
    tx: &mut Transaction<'_, Any>,
    p: &OpportunityPayload,
    is_local: bool,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO opportunities (id, origin_node, is_local, owner_user_id, opportunity_type, status, payload, \
         title, organisation, start_date, end_date, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, title = excluded.title, \
         organisation = excluded.organisation, start_date = excluded.start_date, \
         end_date = excluded.end_date, opportunity_type = excluded.opportunity_type, \
         updated_at = excluded.updated_at",
    )
    .bind(&p.opportunity_id)
    .bind(p.origin_node.as_str())
    .bind(i64::from(is_local))
    .bind(owner)
    .bind(p.opportunity_type.as_str())
    .bind(payload_json(p)?)
    .bind(&p.title)
    .bind(&p.organisation)
    .bind(&p.start_date)
    .bind(&p.end_date)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM opportunity_certifications WHERE opportunity_id = $1")
        .bind(&p.opportunity_id)
        .execute(&mut **tx)
        .await?;
    for code in &p.certifications_granted {
        sqlx::query(
            "INSERT INTO opportunity_certifications (opportunity_id, code) VALUES ($1, $2)",
        )
        .bind(&p.opportunity_id)
        .bind(code)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn close_row(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE opportunities SET status = 'closed', closed_at = $2, closed_reason = $3, updated_at = $2 \
         WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(at)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Open trainings granting any of `codes` (local and received).
pub async fn trainings_granting(
    state: &AppState,
    codes: &[String],
) -> Result<Vec<StoredOpportunity>> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..codes.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM opportunities WHERE status = 'open' AND opportunity_type = 'training' \
         AND id IN (SELECT opportunity_id FROM opportunity_certifications WHERE code IN ({})) \
         ORDER BY start_date, id",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for c in codes {
        q = q.bind(c);
    }
    let rows = q.fetch_all(&state.db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// Filters of `GET /api/v1/opportunities`.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `training` or `immersion`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Words of the title or organisation.
    pub q: Option<String>,
    /// A certification code granted.
    pub certification: Option<String>,
    /// A ROME code prepared for.
    pub rome_code: Option<String>,
    /// `open` (default), `closed` or `all`.
    pub status: Option<String>,
    /// `local` or `network`; both by default.
    pub origin: Option<String>,
}

/// Most items answered by a list.
pub const LIST_LIMIT: i64 = 200;

/// Opportunities matching the filters, soonest first (staff).
pub async fn list(
    state: &AppState,
    actor: &Actor,
    q: &ListQuery,
) -> Result<Vec<StoredOpportunity>> {
    require_staff(actor)?;
    let mut errs = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    // `?` in `sql` stands for the next placeholders, each bound to `value`.
    fn bind(clauses: &mut Vec<String>, binds: &mut Vec<String>, sql: &str, value: &str) {
        let mut out = String::new();
        for (i, part) in sql.split('?').enumerate() {
            if i > 0 {
                binds.push(value.to_string());
                out.push_str(&format!("${}", binds.len()));
            }
            out.push_str(part);
        }
        clauses.push(out);
    }
    match q.status.as_deref().unwrap_or("open") {
        "all" => {}
        s @ ("open" | "closed") => bind(&mut clauses, &mut binds, "status = ?", s),
        _ => errs.push(FieldError::new("status", "open, closed or all")),
    }
    match q.kind.as_deref() {
        None | Some("") => {}
        Some(k @ ("training" | "immersion")) => {
            bind(&mut clauses, &mut binds, "opportunity_type = ?", k)
        }
        Some(_) => errs.push(FieldError::new("type", "training or immersion")),
    }
    match q.origin.as_deref() {
        None | Some("") => {}
        Some("local") => clauses.push("is_local = 1".into()),
        Some("network") => clauses.push("is_local = 0".into()),
        Some(_) => errs.push(FieldError::new("origin", "local or network")),
    }
    if let Some(c) = q.certification.as_deref().filter(|c| !c.trim().is_empty()) {
        match crate::referentials::Certifications::global().normalise(c) {
            Some(code) => bind(
                &mut clauses,
                &mut binds,
                "id IN (SELECT opportunity_id FROM opportunity_certifications WHERE code = ?)",
                &code,
            ),
            None => errs.push(FieldError::new(
                "certification",
                "unknown certification (see GET /api/v1/certifications)",
            )),
        }
    }
    if let Some(t) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if t.chars().count() > 200 {
            errs.push(FieldError::new("q", "at most 200 characters"));
        } else {
            let pattern = format!("%{}%", t.to_lowercase().replace(['%', '_', '\\'], " "));
            bind(
                &mut clauses,
                &mut binds,
                "(LOWER(title) LIKE ? OR LOWER(organisation) LIKE ?)",
                &pattern,
            );
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM opportunities {where_} ORDER BY start_date, id LIMIT {LIST_LIMIT}"
    );
    let mut query = sqlx::query(&sql);
    for b in &binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&state.db.pool).await?;
    let mut out: Vec<StoredOpportunity> = rows.iter().map(from_row).collect::<Result<_>>()?;
    if let Some(code) = q.rome_code.as_deref().filter(|c| !c.trim().is_empty()) {
        let code = code.trim().to_ascii_uppercase();
        out.retain(|o| o.payload.rome_codes.contains(&code));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Services

fn require_staff(actor: &Actor) -> Result<&crate::auth::User> {
    let user = actor.user().ok_or(Error::Forbidden)?;
    user.require_staff()?;
    Ok(user)
}

/// One opportunity (staff).
pub async fn read(state: &AppState, actor: &Actor, id: &str) -> Result<StoredOpportunity> {
    require_staff(actor)?;
    get(state, id).await?.ok_or(Error::NotFound("opportunity"))
}

/// Create a local opportunity and broadcast `opportunity.published`, in
/// one transaction with its audit entry.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: OpportunityInput,
) -> Result<StoredOpportunity> {
    let user = require_staff(actor)?;
    let now = now_ms();
    let payload = input.into_payload(
        state.refs,
        new_id(),
        state.identity.node_id.clone(),
        now,
        now,
    );
    let errs = check_content(state.refs, &payload);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let mut tx = state.db.begin().await?;
    write_row(&mut tx, &payload, true, Some(&user.id), now).await?;
    crate::federation::enqueue_broadcast(
        state,
        &mut tx,
        MessageKind::OpportunityPublished,
        &payload,
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "opportunity.create",
        ("opportunity", &payload.opportunity_id),
        None,
        serde_json::json!({
            "opportunity_type": payload.opportunity_type.as_str(),
            "certifications_granted": payload.certifications_granted,
        }),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    read(state, actor, &payload.opportunity_id).await
}

/// A local open opportunity, or why it cannot be changed here.
async fn editable(tx: &mut Transaction<'_, Any>, id: &str) -> Result<StoredOpportunity> {
    let o = get_tx(tx, id)
        .await?
        .ok_or(Error::NotFound("opportunity"))?;
    if !o.is_local {
        // Another member's: only its origin changes it.
        return Err(Error::Forbidden);
    }
    if o.status != OpportunityStatus::Open {
        return Err(Error::Conflict("this opportunity is closed".into()));
    }
    Ok(o)
}

/// Replace a local open opportunity and broadcast `opportunity.updated`.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: OpportunityInput,
) -> Result<StoredOpportunity> {
    require_staff(actor)?;
    let mut tx = state.db.begin().await?;
    let current = editable(&mut tx, id).await?;
    if input.opportunity_type != current.payload.opportunity_type {
        return Err(Error::field(
            "opportunity_type",
            "cannot change: close this one and create another",
        ));
    }
    let now = now_ms();
    let payload = input.into_payload(
        state.refs,
        id.to_string(),
        state.identity.node_id.clone(),
        current.payload.published_at,
        now.max(current.payload.updated_at),
    );
    let errs = check_content(state.refs, &payload);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    write_row(&mut tx, &payload, true, None, now).await?;
    crate::federation::enqueue_broadcast(state, &mut tx, MessageKind::OpportunityUpdated, &payload)
        .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "opportunity.update",
        ("opportunity", id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    read(state, actor, id).await
}

/// Close a local opportunity and broadcast `opportunity.closed`.
pub async fn close(
    state: &AppState,
    actor: &Actor,
    id: &str,
    closing: Closing,
) -> Result<StoredOpportunity> {
    require_staff(actor)?;
    let reason = non_empty(closing.reason);
    let mut errs = Vec::new();
    v::opt_text(&mut errs, "reason", reason.as_deref(), MAX_SHORT_CHARS);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let mut tx = state.db.begin().await?;
    editable(&mut tx, id).await?;
    let now = now_ms();
    close_row(&mut tx, id, reason.as_deref(), now).await?;
    // Pending referrals to it are answered (refused, `position_filled`),
    // and their referring nodes told, in this transaction.
    crate::referrals::refuse_pending_on_closed_offer(state, &mut tx, id, "session clôturée")
        .await?;
    let closed = OpportunityClosed {
        opportunity_id: id.to_string(),
        reason: reason.clone(),
        closed_at: now,
    };
    crate::federation::enqueue_broadcast(state, &mut tx, MessageKind::OpportunityClosed, &closed)
        .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "opportunity.close",
        ("opportunity", id),
        None,
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    read(state, actor, id).await
}

// ---------------------------------------------------------------------------
// Federation in

/// A received `opportunity.published` / `opportunity.updated`: sent by its
/// origin (`not_origin`), valid like local input (`invalid_payload`), then
/// stored (an older update than the stored one changes nothing; a closed
/// copy stays closed).
pub async fn receive_published(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    p: OpportunityPayload,
) -> Result<()> {
    if &p.origin_node != sender {
        return Err(refusal(
            "not_origin",
            format!(
                "{sender} may not publish an opportunity of {}",
                p.origin_node
            ),
        ));
    }
    if p.origin_node == state.identity.node_id {
        return Ok(());
    }
    let errs = check_received(state.refs, &p, state.clock.now_ms(), skew_ms(state));
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    if let Some(current) = get_tx(tx, &p.opportunity_id).await? {
        if current.payload.origin_node != p.origin_node {
            return Err(refusal(
                "not_origin",
                "an opportunity with this id belongs to another node",
            ));
        }
        if current.payload.updated_at > p.updated_at {
            return Ok(());
        }
    }
    write_row(tx, &p, false, None, state.clock.now_ms()).await
}

/// A received `opportunity.closed` (from the origin only; unknown ids are
/// accepted and change nothing).
pub async fn receive_closed(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    c: OpportunityClosed,
) -> Result<()> {
    if sender == &state.identity.node_id {
        return Ok(());
    }
    let mut errs = Vec::new();
    v::identifier(&mut errs, "opportunity_id", &c.opportunity_id);
    v::opt_text(&mut errs, "reason", c.reason.as_deref(), MAX_SHORT_CHARS);
    v::timestamp(
        &mut errs,
        "closed_at",
        c.closed_at,
        state.clock.now_ms(),
        skew_ms(state),
    );
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    match get_tx(tx, &c.opportunity_id).await? {
        Some(o) if &o.payload.origin_node != sender => Err(refusal(
            "not_origin",
            format!(
                "{sender} may not close an opportunity of {}",
                o.payload.origin_node
            ),
        )),
        Some(_) => {
            close_row(tx, &c.opportunity_id, c.reason.as_deref(), c.closed_at).await?;
            Ok(())
        }
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Matching a candidate

/// An open training or immersion for a candidate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CandidateOpportunity {
    /// The opportunity.
    #[serde(flatten)]
    pub opportunity: StoredOpportunity,
    /// `same`, `same_parent` or `same_domain`: the best relation between
    /// the candidate's ROME codes and the opportunity's.
    pub rome_relation: &'static str,
    /// Home–nearest place distance, km (one decimal).
    pub distance_km: f64,
    /// Certifications it grants that the candidate does not hold.
    pub grants_missing: Vec<String>,
}

/// Open trainings and immersions (local and network) for a candidate:
/// related to one of the candidate's ROME codes (same code, historical
/// parent or domain), starting today or later, with a place within the
/// candidate's travel limit; closest relation first, then soonest. Staff,
/// audited (`candidate.opportunities`).
pub async fn for_candidate(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
) -> Result<Vec<CandidateOpportunity>> {
    use crate::referentials::RomeRelation;
    let user = require_staff(actor)?;
    let c = crate::candidates::get_candidate(&state.db, candidate_id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let Some(home) = c.home else {
        return Ok(Vec::new());
    };
    let limit = crate::matching::travel_limit_km(&state.config.matching, &c);
    let today = state.clock.now_ms().div_euclid(86_400_000);
    let held =
        crate::referentials::Certifications::global().held(&c.certifications, &c.driving_licences);
    let rank = |r: RomeRelation| match r {
        RomeRelation::Same => 0,
        RomeRelation::SameParent => 1,
        RomeRelation::SameDomain => 2,
        RomeRelation::None => 3,
    };
    let all = list(state, actor, &ListQuery::default()).await?;
    let mut out: Vec<(u8, CandidateOpportunity)> = all
        .into_iter()
        .filter_map(|o| {
            let p = &o.payload;
            let relation = c
                .rome_codes
                .iter()
                .flat_map(|a| {
                    p.rome_codes
                        .iter()
                        .map(move |b| state.refs.rome_relation(a, b))
                })
                .min_by_key(|r| rank(*r))
                .filter(|r| *r != RomeRelation::None)?;
            if crate::util::date_to_days(&p.start_date)? < today {
                return None;
            }
            let (distance, _) = crate::matching::gap::nearest(p, home)?;
            if distance > limit {
                return None;
            }
            let grants_missing = p
                .certifications_granted
                .iter()
                .filter(|g| !crate::referentials::Certifications::satisfied(&held, g))
                .cloned()
                .collect();
            Some((
                rank(relation),
                CandidateOpportunity {
                    rome_relation: match relation {
                        RomeRelation::Same => "same",
                        RomeRelation::SameParent => "same_parent",
                        _ => "same_domain",
                    },
                    distance_km: (distance * 10.0).round() / 10.0,
                    grants_missing,
                    opportunity: o,
                },
            ))
        })
        .collect();
    out.sort_by(|(ra, a), (rb, b)| {
        (
            ra,
            &a.opportunity.payload.start_date,
            &a.opportunity.payload.opportunity_id,
        )
            .cmp(&(
                rb,
                &b.opportunity.payload.start_date,
                &b.opportunity.payload.opportunity_id,
            ))
    });
    crate::audit::record(
        &state.db,
        Some(user),
        "candidate.opportunities",
        "candidate",
        candidate_id,
        None,
        serde_json::json!({ "listed": out.len() }),
    )
    .await?;
    Ok(out.into_iter().map(|(_, o)| o).collect())
}
