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
pub(crate) mod store;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
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
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OpportunityStatus {
    /// Open to referrals.
    Open,
    /// Closed (full, cancelled, over).
    Closed,
}

impl OpportunityStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl TryFrom<String> for OpportunityStatus {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<OpportunityStatus, strum::ParseError> {
        s.parse()
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

/// One opportunity by id, in a transaction.
pub async fn get_tx(tx: &mut sqlx::AnyConnection, id: &str) -> Result<Option<StoredOpportunity>> {
    store::get(tx, id).await
}

/// One opportunity by id.
pub async fn get(state: &AppState, id: &str) -> Result<Option<StoredOpportunity>> {
    let mut conn = state.db.pool.acquire().await?;
    store::get(&mut conn, id).await
}

/// Open trainings granting any of `codes` (local and received).
pub async fn trainings_granting(
    state: &AppState,
    codes: &[String],
) -> Result<Vec<StoredOpportunity>> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = state.db.pool.acquire().await?;
    store::trainings_granting(&mut conn, codes).await
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
    use store::Filter;
    let mut errs = Vec::new();
    let mut filters = Vec::new();
    match q.status.as_deref().unwrap_or("open") {
        "all" => {}
        "open" => filters.push(Filter::Status(OpportunityStatus::Open)),
        "closed" => filters.push(Filter::Status(OpportunityStatus::Closed)),
        _ => errs.push(FieldError::new("status", "open, closed or all")),
    }
    match q.kind.as_deref() {
        None | Some("") => {}
        Some("training") => filters.push(Filter::Type(OpportunityType::Training)),
        Some("immersion") => filters.push(Filter::Type(OpportunityType::Immersion)),
        Some(_) => errs.push(FieldError::new("type", "training or immersion")),
    }
    match q.origin.as_deref() {
        None | Some("") => {}
        Some("local") => filters.push(Filter::Local(true)),
        Some("network") => filters.push(Filter::Local(false)),
        Some(_) => errs.push(FieldError::new("origin", "local or network")),
    }
    if let Some(c) = q.certification.as_deref().filter(|c| !c.trim().is_empty()) {
        match crate::referentials::Certifications::global().normalise(c) {
            Some(code) => filters.push(Filter::Certification(code)),
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
            filters.push(Filter::Words(pattern));
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let mut conn = state.db.pool.acquire().await?;
    let mut out = store::list(&mut conn, &filters, LIST_LIMIT).await?;
    drop(conn);
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
    store::write(&mut tx, &payload, true, Some(&user.id), now).await?;
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
async fn editable(tx: &mut sqlx::AnyConnection, id: &str) -> Result<StoredOpportunity> {
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
    store::write(&mut tx, &payload, true, None, now).await?;
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
    store::close(&mut tx, id, reason.as_deref(), now).await?;
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
    store::write(tx, &p, false, None, state.clock.now_ms()).await
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
            store::close(tx, &c.opportunity_id, c.reason.as_deref(), c.closed_at).await?;
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
    require_staff(actor)?;
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
    // A read: no change to join, so its own short transaction.
    let mut tx = state.db.begin().await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.opportunities",
        ("candidate", candidate_id),
        None,
        serde_json::json!({ "listed": out.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(out.into_iter().map(|(_, o)| o).collect())
}
