//! The offers' vocabulary: plain types, the input normalisation and
//! validation, the index document and the one mapping of [`OfferStatus`] to
//! stored text (no I/O). A row of `offers` is decoded by `sqlx::FromRow`
//! into [`OfferRow`] (its status through `TryFrom<String>`, `strum`'s
//! names, the same `as_str` binds), then into a [`StoredOffer`] by
//! `TryFrom<OfferRow>` (the payload's JSON parsed once).

use serde::{Deserialize, Serialize};
use vivier_protocol::{ContractType, Employer, NodeId, OfferPayload, Salary, Workplace};

use super::validation;
use crate::auth::{Role, User};
use crate::error::{Error, Result};
use crate::referentials::Referentials;
use crate::search::OfferDoc;

// ---------------------------------------------------------------------------
// Vocabulary

/// Driving licence categories accepted in offers (French permis): the
/// same as on records.
pub use crate::referentials::certifications::LICENCES as LICENCE_CATEGORIES;

/// Whether holding licence `held` satisfies a requirement of `required`:
/// the same category, or a higher one that French law conditions on it
/// (every heavy-vehicle category requires B; `CE` includes `C`, `C1`, `C1E`
/// and `BE`; `A` includes `A2`, `A1` and `AM`; `B` includes `B1` and
/// `AM`…), by the implications of the certifications referential.
pub fn licence_satisfies(held: &str, required: &str) -> bool {
    let certs = crate::referentials::certifications::Certifications::global();
    crate::referentials::certifications::Certifications::meets_licence(
        &certs.held(&[], &[held.to_string()]),
        required,
    )
}

/// Life cycle of an offer. Stored as its snake_case name (`strum`), the
/// same as on the API.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OfferStatus {
    /// Published, accepting candidates.
    Open,
    /// Closed (filled, withdrawn or expired).
    Closed,
}

impl TryFrom<String> for OfferStatus {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<OfferStatus, strum::ParseError> {
        s.parse()
    }
}

impl OfferStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

// ---------------------------------------------------------------------------
// Rows

/// A row of `offers` as the store reads it (`store::COLUMNS`). Decoded into
/// a [`StoredOffer`] by `TryFrom` (the payload's JSON parsed), which the
/// index follower does on its own thread.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferRow {
    /// The protocol's [`OfferPayload`], as JSON.
    pub payload: String,
    /// Open or closed.
    #[sqlx(try_from = "String")]
    pub status: OfferStatus,
    /// The local user who owns it.
    pub owner_user_id: Option<String>,
    /// 1 when this node is the offer's origin.
    pub is_local: i64,
    /// First stored here (unix ms).
    pub created_at: i64,
    /// Last change of the row (unix ms).
    pub updated_at: i64,
    /// When it was closed (unix ms).
    pub closed_at: Option<i64>,
    /// Why this node closed a network offer itself.
    pub closed_reason: Option<String>,
    /// Positions filled by hires through referrals.
    pub positions_filled: i64,
}

impl TryFrom<OfferRow> for StoredOffer {
    type Error = Error;

    fn try_from(row: OfferRow) -> Result<StoredOffer> {
        let mut payload: OfferPayload = serde_json::from_str(&row.payload).map_err(|e| {
            Error::Internal(anyhow::anyhow!("stored offer payload does not parse: {e}"))
        })?;
        // The column is the count (the origin's hires, or what it last sent).
        payload.positions_filled = row.positions_filled;
        Ok(StoredOffer {
            payload,
            status: row.status,
            owner_user_id: row.owner_user_id,
            is_local: row.is_local != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
            closed_reason: row.closed_reason,
            positions_filled: row.positions_filled,
        })
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
    /// Positions filled by hires through referrals: this node's count for
    /// its own offers, the origin's last word for the others. Serialised
    /// by the payload (`positions_filled`, omitted when 0).
    #[serde(skip)]
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

    /// Positions still to fill.
    pub fn positions_open(&self) -> i64 {
        (self.positions() - self.positions_filled).max(0)
    }
}
/// A member that refused this node's offer for good.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
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
    refs: &Referentials,
    origin: &NodeId,
    input: &OfferInput,
    employer: &Employer,
) -> Result<ValidOffer> {
    let workplaces = input
        .workplaces
        .iter()
        .map(|w| {
            let commune = refs.commune(&w.commune_insee);
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
        origin_node: origin.clone(),
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
        positions_filled: 0,
        published_at: 0,
        updated_at: 0,
    };
    let errs = validation::check_content(refs, &draft);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    Ok(ValidOffer(draft))
}

/// A validated offer, before it gets its id, origin and times.
#[derive(Debug, Clone)]
pub(crate) struct ValidOffer(OfferPayload);

impl ValidOffer {
    /// The payload with its id, origin and times.
    pub(crate) fn into_payload(
        self,
        offer_id: String,
        origin: NodeId,
        published_at: i64,
        updated_at: i64,
    ) -> OfferPayload {
        OfferPayload {
            offer_id,
            origin_node: origin,
            positions_filled: 0,
            published_at,
            updated_at,
            ..self.0
        }
    }
}

/// The company an offer is for: an employer's own; for staff, the body's.
pub(crate) fn employer_for(user: &User, input: &OfferInput) -> Result<Employer> {
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

/// The stored JSON of a payload.
pub(crate) fn payload_json(p: &OfferPayload) -> Result<String> {
    serde_json::to_string(p).map_err(|e| Error::Internal(anyhow::anyhow!("offer payload: {e}")))
}

// ---------------------------------------------------------------------------
// Lists and search

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

// ---------------------------------------------------------------------------
// Network offers

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
    pub(crate) payload: OfferPayload,
    pub(crate) json: String,
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

// ---------------------------------------------------------------------------
// Index documents

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
        desired_certifications: p.desired_certifications.clone(),
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

/// The documents of the offers `ids` from their rows, and the ids without a
/// row (deleted: to remove from the index). No I/O.
pub fn docs_of_rows(ids: &[String], rows: &[OfferRow]) -> Result<(Vec<OfferDoc>, Vec<String>)> {
    let docs = rows
        .iter()
        .map(|row| StoredOffer::try_from(row.clone()).map(|o| offer_doc(&o)))
        .collect::<Result<Vec<OfferDoc>>>()?;
    let present: std::collections::HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let gone = ids
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .cloned()
        .collect();
    Ok((docs, gone))
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
            assert_eq!(OfferStatus::try_from(s.as_str().to_string()).ok(), Some(s));
        }
        assert_eq!(OfferStatus::Open.as_str(), "open");
        assert_eq!(OfferStatus::Closed.as_str(), "closed");
    }
}
