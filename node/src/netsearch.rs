//! Network search (issue #17; protocol README « Network search »): an
//! employer or a counsellor asks every active member *who is out there*
//! for an offer-shaped question; each member ranks its own candidates who
//! consented to the network with the local matching ([`crate::matching`])
//! and answers with pseudonymous results only.
//!
//! * Asking ([`ask`]): quotas (per user, per node) and minimum specificity
//!   (at least one ROME code and one place with a bounded radius) first;
//!   then the signed query goes to every other active member at once, each
//!   request on its own task: the API answers at the deadline with what
//!   arrived (« N membres sur M ont répondu »), and answers arriving later
//!   are still stored until `late_answer_secs` after it.
//! * Answering ([`answer`]): the signature was checked by the adapter (the
//!   member must be active in the membership document); then the
//!   per-origin quota, the same specificity rules, the matching (a network
//!   offer's rules: local-consent, placed and archived people are never
//!   listed), the radius of each place, the contract types. Each result
//!   carries only what [`vivier_protocol::PseudonymousResult`] can hold;
//!   the commune only when at least `commune_min_candidates` of this
//!   node's records live there, else the département alone. The query, the
//!   pseudonyms and whom they stand for are written to the audit log and
//!   kept (to resolve an interest) in one transaction.
//! * Interest ([`interest`]): the asker's « Intéressé » goes to the home
//!   node, which alone resolves the pseudonym, tells the counsellor
//!   (notice + e-mail), and sends back `declined` or `accepted` with the
//!   id of a normal co-opted referral.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use vivier_protocol::{
    ContractType, DistanceBand, NetworkAnswer, NetworkQuery, NodeId, PlaceCount,
    PseudonymousResult, QueryPlace, MAX_ANSWER_RESULTS, MAX_QUERY_PLACES, MAX_QUERY_ROME_CODES,
    NETWORK_SEARCH_PATH,
};

use crate::actor::Actor;
use crate::auth::Role;
use crate::candidates::Candidate;
use crate::error::{Error, FieldError, Result};
use crate::server::AppState;

pub mod http;
pub mod interest;
pub mod store;

const HOUR_MS: i64 = 3_600_000;

/// `[network_search]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSearchConfig {
    /// How long the asking node waits for the members' answers (ms).
    pub deadline_ms: u64,
    /// Answers arriving after the deadline are still stored for this long
    /// (s).
    pub late_answer_secs: u64,
    /// Largest radius a place may carry (km, at most 100).
    pub max_radius_km: i64,
    /// Searches one user may make per hour.
    pub per_user_per_hour: i64,
    /// Searches this node's users may make per hour, together.
    pub per_node_per_hour: i64,
    /// Queries this node answers per hour for one asking member.
    pub answers_per_member_per_hour: i64,
    /// Most results in one answer (at most 200).
    pub max_results_per_answer: usize,
    /// The commune is shown only when at least this many of this node's
    /// records live there; else the département alone.
    pub commune_min_candidates: i64,
    /// How often the answers (accepted / declined) to interests that their
    /// asking member has not acknowledged yet are sent again (s).
    pub interest_retry_secs: u64,
}

impl Default for NetworkSearchConfig {
    fn default() -> Self {
        NetworkSearchConfig {
            deadline_ms: 3000,
            late_answer_secs: 120,
            max_radius_km: 50,
            per_user_per_hour: 30,
            per_node_per_hour: 300,
            answers_per_member_per_hour: 600,
            max_results_per_answer: 50,
            commune_min_candidates: 5,
            interest_retry_secs: 60,
        }
    }
}

fn quota(code: &'static str, message: String) -> Error {
    Error::Federation {
        status: axum::http::StatusCode::TOO_MANY_REQUESTS,
        code,
        message,
    }
}

/// The abuse limits in force: the membership document's
/// (`network_search`, set by the operator) when present, this node's
/// `[network_search]` otherwise, the tighter of the two when both are set
/// (lower quotas, cap and radius; higher commune threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_user_per_hour: i64,
    pub per_node_per_hour: i64,
    pub answers_per_member_per_hour: i64,
    pub max_results_per_answer: usize,
    pub max_radius_km: i64,
    pub commune_min_candidates: i64,
}

impl Limits {
    /// `cfg` tightened by the document's `doc`.
    pub fn of(
        cfg: &NetworkSearchConfig,
        doc: Option<&vivier_protocol::NetworkSearchLimits>,
    ) -> Limits {
        let low = |local: i64, network: Option<i64>| network.map_or(local, |n| n.min(local));
        let d = doc.copied().unwrap_or_default();
        Limits {
            per_user_per_hour: low(cfg.per_user_per_hour, d.per_user_per_hour),
            per_node_per_hour: low(cfg.per_node_per_hour, d.per_node_per_hour),
            answers_per_member_per_hour: low(
                cfg.answers_per_member_per_hour,
                d.answers_per_member_per_hour,
            ),
            max_results_per_answer: d
                .max_results_per_answer
                .and_then(|n| usize::try_from(n).ok())
                .map_or(cfg.max_results_per_answer, |n| {
                    n.min(cfg.max_results_per_answer)
                })
                .clamp(1, MAX_ANSWER_RESULTS),
            max_radius_km: low(cfg.max_radius_km, d.max_radius_km)
                .min(vivier_protocol::netsearch::MAX_QUERY_RADIUS_KM),
            commune_min_candidates: d
                .commune_min_candidates
                .map_or(cfg.commune_min_candidates, |n| {
                    n.max(cfg.commune_min_candidates)
                })
                .max(1),
        }
    }
}

/// The limits in force at this node now ([`Limits::of`] with the current
/// membership document).
pub fn limits(state: &AppState) -> Limits {
    let doc = state.federation.membership();
    Limits::of(
        &state.config.network_search,
        doc.as_ref()
            .and_then(|d| d.document.network_search.as_ref()),
    )
}

/// The specificity rules both sides apply: at least one ROME code known to
/// the referential, at least one place with a known centre, every radius
/// within `1..=max_radius_km`.
fn check_specificity(state: &AppState, rome_codes: &[String], places: &[QueryPlace]) -> Result<()> {
    let max = limits(state).max_radius_km;
    if rome_codes.is_empty() || places.is_empty() {
        return Err(Error::Invalid {
            code: "query_not_specific",
            field: if rome_codes.is_empty() {
                "rome_codes".into()
            } else {
                "places".into()
            },
            message: "a network search needs at least one ROME code and one place with a radius"
                .into(),
        });
    }
    let mut errs = Vec::new();
    if rome_codes.len() > MAX_QUERY_ROME_CODES {
        errs.push(FieldError::new("rome_codes", "at most 5 ROME codes"));
    }
    for (i, c) in rome_codes.iter().enumerate() {
        if !state.refs.rome_exists(c) {
            errs.push(FieldError::new(
                format!("rome_codes[{i}]"),
                format!("{c:?} is not a ROME code"),
            ));
        }
    }
    if places.len() > MAX_QUERY_PLACES {
        errs.push(FieldError::new("places", "at most 10 places"));
    }
    for (i, p) in places.iter().enumerate() {
        if state
            .refs
            .commune(&p.commune_insee)
            .and_then(|c| c.point)
            .is_none()
        {
            errs.push(FieldError::new(
                format!("places[{i}].commune_insee"),
                "unknown commune (or its centre is unknown)",
            ));
        }
        if !(1..=max).contains(&p.radius_km) {
            return Err(Error::Invalid {
                code: "radius_too_large",
                field: format!("places[{i}].radius_km"),
                message: format!("the radius must be 1 to {max} km"),
            });
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errs))
    }
}

// ---------------------------------------------------------------------------
// Answering

/// A candidate who fits, with the nearest place.
struct Fit {
    score: f64,
    distance_km: f64,
    place_index: usize,
    /// Bit `i`: fits at place `i` (at most [`MAX_QUERY_PLACES`]).
    places: u64,
}

/// This node's candidates who fit the query, best first (score, then
/// nearest, then id), from the index alone: one synthetic network offer
/// per ROME code, a workplace per place, one index pass each
/// ([`crate::matching::fit_offer`]); a candidate fits at a place when
/// eligible there with the network offer's rules, with a ROME relation,
/// within its radius, and when they accept one of the contract types.
async fn fits(state: &AppState, q: &NetworkQuery) -> Result<Vec<(String, Fit)>> {
    let now = state.clock.now_ms();
    let workplaces: Vec<vivier_protocol::Workplace> = q
        .places
        .iter()
        .map(|p| {
            let point = state.refs.commune(&p.commune_insee).and_then(|c| c.point);
            vivier_protocol::Workplace {
                commune_insee: p.commune_insee.clone(),
                label: None,
                lat_micro: point.map(|x| x.lat_micro),
                lon_micro: point.map(|x| x.lon_micro),
                positions: 1,
            }
        })
        .collect();
    let spec = crate::matching::pass::FitSpec {
        radii_km: q.places.iter().map(|p| p.radius_km as f64).collect(),
        contract_types: q
            .contract_types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
    };
    let mut fits: HashMap<String, Fit> = HashMap::new();
    for rome in &q.rome_codes {
        let payload = vivier_protocol::OfferPayload {
            offer_id: format!("network-search-{}", q.query_id),
            origin_node: q.origin_node.clone(),
            title: state
                .refs
                .rome(rome)
                .map(|r| r.label.clone())
                .unwrap_or_default(),
            description: String::new(),
            rome_code: rome.clone(),
            contract_type: q
                .contract_types
                .first()
                .copied()
                .unwrap_or(ContractType::Cdi),
            duration_months: None,
            weekly_hours: None,
            salary: None,
            driving_licence: q.driving_licence.clone(),
            experience_months: None,
            experience_label: None,
            start_date: q.available_by.clone(),
            vehicle_required: false,
            required_certifications: q.certifications.clone(),
            desired_certifications: Vec::new(),
            employer: vivier_protocol::Employer {
                name: q.origin_node.to_string(),
                siret: None,
            },
            workplaces: workplaces.clone(),
            positions_filled: 0,
            published_at: now,
            updated_at: now,
        };
        let offer = crate::offers::StoredOffer {
            payload,
            status: crate::offers::OfferStatus::Open,
            owner_user_id: None,
            // Another member's question: the network offer's rules (a
            // local-consent candidate is not eligible).
            is_local: false,
            created_at: now,
            updated_at: now,
            closed_at: None,
            closed_reason: None,
            positions_filled: 0,
        };
        for hit in crate::matching::fit_offer(state, &offer, spec.clone()).await? {
            match fits.get_mut(&hit.id) {
                None => {
                    fits.insert(
                        hit.id,
                        Fit {
                            score: hit.score,
                            distance_km: hit.distance_km,
                            place_index: hit.place,
                            places: hit.places,
                        },
                    );
                }
                Some(f) => {
                    f.places |= hit.places;
                    f.score = f.score.max(hit.score);
                    if hit.distance_km < f.distance_km {
                        f.distance_km = hit.distance_km;
                        f.place_index = hit.place;
                    }
                }
            }
        }
    }
    let mut fits: Vec<(String, Fit)> = fits.into_iter().collect();
    fits.sort_by(|(a, fa), (b, fb)| {
        fb.score
            .total_cmp(&fa.score)
            .then(fa.distance_km.total_cmp(&fb.distance_km))
            .then_with(|| a.cmp(b))
    });
    Ok(fits)
}

/// The département of a commune code (`41018` → `41`, `2A004` → `2A`,
/// `97411` → `974`).
pub fn departement_of(state: &AppState, insee: &str) -> String {
    if let Some(c) = state.refs.commune(insee) {
        return c.departement.clone();
    }
    let n = if insee.starts_with("97") || insee.starts_with("98") {
        3
    } else {
        2
    };
    insee.chars().take(n).collect()
}

fn accepts_contract(c: &Candidate, wanted: &[ContractType]) -> bool {
    wanted.is_empty()
        || c.contract_types.is_empty()
        || c.contract_types.iter().any(|t| wanted.contains(t))
}

/// Answers a verified member's query (`origin` signed the request).
pub async fn answer(state: &AppState, origin: &NodeId, q: NetworkQuery) -> Result<NetworkAnswer> {
    let cfg = limits(state);
    if &q.origin_node != origin {
        return Err(Error::Federation {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "origin_mismatch",
            message: format!("the query names {} but {origin} signed it", q.origin_node),
        });
    }
    q.validate().map_err(|e| Error::Invalid {
        code: "invalid_query",
        field: "query".into(),
        message: e.to_string(),
    })?;
    check_specificity(state, &q.rome_codes, &q.places)?;
    let now = state.clock.now_ms();
    if q.deadline_at < now {
        return Err(Error::Refused {
            code: "deadline_passed",
            message: "the query's deadline has passed".into(),
        });
    }
    if store::already_answered(&state.db, origin.as_str(), &q.query_id).await? {
        return Err(Error::Refused {
            code: "duplicate_query",
            message: "this query id was answered already".into(),
        });
    }
    let asked = store::answered_since(&state.db, origin.as_str(), now - HOUR_MS).await?;
    if asked >= cfg.answers_per_member_per_hour {
        return Err(quota(
            "member_quota_exceeded",
            format!(
                "this node answers at most {} queries per hour for one member",
                cfg.answers_per_member_per_hour
            ),
        ));
    }
    let fits = fits(state, &q).await?;
    let mut counts = vec![0i64; q.places.len()];
    for (_, f) in &fits {
        for (i, n) in counts.iter_mut().enumerate() {
            if f.places & (1u64 << i) != 0 {
                *n += 1;
            }
        }
    }
    let cap = cfg.max_results_per_answer;
    // Only the rows returned are loaded. The index follows the journal: a
    // record it still shows as fitting but that no longer is (placed,
    // archived, consent withdrawn, contracts changed) is left out, and the
    // next one taken.
    let mut people: Vec<(Candidate, &Fit)> = Vec::with_capacity(cap.min(fits.len()));
    let mut next = 0;
    while people.len() < cap && next < fits.len() {
        let end = (next + cap - people.len()).min(fits.len());
        let batch = fits.get(next..end).unwrap_or_default();
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let mut loaded: HashMap<String, Candidate> =
            crate::candidates::load_candidates(&state.db, &ids)
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
        for (id, f) in batch {
            if let Some(c) = loaded.remove(id) {
                if accepts_contract(&c, &q.contract_types) && crate::matching::listable(&c) {
                    people.push((c, f));
                }
            }
        }
        next = end;
    }
    let truncated = next < fits.len();
    let mut communes: Vec<String> = people
        .iter()
        .map(|(c, _)| c.commune_insee.clone())
        .collect();
    communes.sort();
    communes.dedup();
    let residents: HashMap<String, i64> = store::residents(&state.db, &communes)
        .await?
        .into_iter()
        .collect();
    let kept: Vec<String> = people.iter().map(|(c, _)| c.id.clone()).collect();
    let summaries: HashMap<String, String> = store::summaries(&state.db, &kept)
        .await?
        .into_iter()
        .collect();
    let secret = store::node_secret(&state.db).await?;
    let mut results = Vec::with_capacity(people.len());
    let mut pseudonyms = Vec::with_capacity(people.len());
    for (c, f) in &people {
        let pseudonym = vivier_protocol::pseudonym(&secret, origin.as_str(), &q.query_id, &c.id);
        let shown =
            residents.get(&c.commune_insee).copied().unwrap_or(0) >= cfg.commune_min_candidates;
        pseudonyms.push((pseudonym.clone(), c.id.clone()));
        results.push(PseudonymousResult {
            pseudonym,
            rome_codes: c.rome_codes.clone(),
            experience_years: c.experience_years,
            certifications: c.certifications.clone(),
            driving_licences: c.driving_licences.clone(),
            available_from: c.available_from.clone(),
            place_index: f.place_index as i64,
            distance_band: DistanceBand::of_km(f.distance_km),
            departement: departement_of(state, &c.commune_insee),
            commune_insee: shown.then(|| c.commune_insee.clone()),
            summary: summaries.get(&c.id).cloned(),
            score: (f.score * 10.0).round().clamp(0.0, 1000.0) as i64,
        });
    }
    let answer = NetworkAnswer {
        query_id: q.query_id.clone(),
        node_id: state.identity.node_id.clone(),
        results,
        place_counts: counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| PlaceCount {
                place_index: i as i64,
                count,
            })
            .collect(),
        truncated,
    };
    let mut tx = state.db.begin().await?;
    store::insert_answered(&mut tx, origin.as_str(), &q.query_id, now, &pseudonyms).await?;
    crate::audit::append(
        &mut tx,
        &Actor::Peer(origin.clone()),
        "network_search.answer",
        ("network_query", &format!("{origin}/{}", q.query_id)),
        None,
        json!({
            "query": q,
            "answered": pseudonyms.iter().map(|(p, c)| json!({"pseudonym": p, "candidate_id": c})).collect::<Vec<_>>(),
            "place_counts": answer.place_counts,
            "truncated": truncated,
        }),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("vivier_network_queries_answered_total").increment(1);
    Ok(answer)
}

// ---------------------------------------------------------------------------
// Asking

/// `POST /api/v1/network-searches` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// ROME codes sought (1 to 5).
    #[serde(default)]
    pub rome_codes: Vec<String>,
    /// Certifications required.
    #[serde(default)]
    pub certifications: Vec<String>,
    /// Driving licence required.
    #[serde(default)]
    pub driving_licence: Option<String>,
    /// Places with a radius (1 to 10).
    #[serde(default)]
    pub places: Vec<QueryPlace>,
    /// Available by (`YYYY-MM-DD`).
    #[serde(default)]
    pub available_by: Option<String>,
    /// Contract types offered; empty: any.
    #[serde(default)]
    pub contract_types: Vec<ContractType>,
}

/// One member's part of a search, as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    pub node_id: String,
    pub display_name: String,
    /// `pending` (not answered yet), `answered` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub results: usize,
    pub answered_at: Option<i64>,
}

/// One merged result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResultView {
    /// The member holding the candidate.
    pub node_id: String,
    pub pseudonym: String,
    pub rome_codes: Vec<String>,
    pub experience_years: Option<i64>,
    pub certifications: Vec<String>,
    pub driving_licences: Vec<String>,
    pub available_from: Option<String>,
    pub place_index: i64,
    pub distance_band: DistanceBand,
    pub departement: String,
    pub commune_insee: Option<String>,
    pub summary: Option<String>,
    pub score: i64,
    /// The interest sent for this result, if any.
    pub interest: Option<InterestView>,
}

/// The asker's view of an interest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InterestView {
    pub id: String,
    /// `pending`, `declined` (« non disponible ») or `accepted`.
    pub status: String,
    pub referral_id: Option<String>,
}

/// Count per asked place, all members together.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlaceView {
    pub place_index: i64,
    pub commune_insee: String,
    pub commune_name: Option<String>,
    pub radius_km: i64,
    pub count: i64,
}

/// A search with what arrived so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchView {
    pub id: String,
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
    pub created_at: i64,
    pub deadline_at: i64,
    /// Answers are stored until then.
    pub late_until: i64,
    pub members_asked: i64,
    pub members_answered: i64,
    /// Every member answered or failed.
    pub complete: bool,
    pub nodes: Vec<NodeView>,
    pub places: Vec<PlaceView>,
    pub results: Vec<ResultView>,
}

fn searcher(actor: &Actor) -> Result<&crate::auth::User> {
    actor.user_with(&[Role::Admin, Role::Counsellor, Role::Employer])
}

/// Makes a network search and waits for the answers until the deadline.
pub async fn ask(state: &AppState, actor: &Actor, input: SearchInput) -> Result<SearchView> {
    let user = searcher(actor)?;
    let cfg = &state.config.network_search;
    let lim = limits(state);
    check_specificity(state, &input.rome_codes, &input.places)?;
    let mut errs = Vec::new();
    crate::validation::date(&mut errs, "available_by", input.available_by.as_deref());
    if input.certifications.len() > vivier_protocol::netsearch::MAX_QUERY_CERTIFICATIONS {
        errs.push(FieldError::new("certifications", "at most 10 codes"));
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let now = state.clock.now_ms();
    if store::searches_since(&state.db, Some(&user.id), now - HOUR_MS).await?
        >= lim.per_user_per_hour
    {
        return Err(quota(
            "user_quota_exceeded",
            format!(
                "at most {} network searches per hour",
                lim.per_user_per_hour
            ),
        ));
    }
    if store::searches_since(&state.db, None, now - HOUR_MS).await? >= lim.per_node_per_hour {
        return Err(quota(
            "node_quota_exceeded",
            format!(
                "this node makes at most {} network searches per hour",
                lim.per_node_per_hour
            ),
        ));
    }
    let Some(doc) = state.federation.membership() else {
        return Err(Error::Refused {
            code: "node_not_member",
            message: "this node holds no membership document: it cannot search the network".into(),
        });
    };
    // A node that left the network asks nobody (every member would refuse
    // it): the counsellor is told why at once.
    crate::federation::ensure_member(state)?;
    let members: Vec<vivier_protocol::Member> = doc
        .document
        .active_members()
        .filter(|m| m.node_id != state.identity.node_id)
        .cloned()
        .collect();
    let deadline_ms = cfg.deadline_ms.max(1);
    let query = NetworkQuery {
        query_id: crate::util::new_id(),
        origin_node: state.identity.node_id.clone(),
        rome_codes: input
            .rome_codes
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
        certifications: input.certifications.clone(),
        driving_licence: input.driving_licence.clone(),
        places: input.places.clone(),
        available_by: input.available_by.clone(),
        contract_types: input.contract_types.clone(),
        created_at: now,
        deadline_at: now + deadline_ms as i64,
    };
    query
        .validate()
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let body = serde_json::to_vec(&query).map_err(|e| Error::Internal(e.into()))?;
    let row = store::SearchRow {
        id: query.query_id.clone(),
        user_id: user.id.clone(),
        query: String::from_utf8_lossy(&body).into_owned(),
        created_at: now,
        deadline_at: query.deadline_at,
        late_until: query.deadline_at + cfg.late_answer_secs as i64 * 1000,
        members_asked: members.len() as i64,
    };
    let ids: Vec<String> = members.iter().map(|m| m.node_id.to_string()).collect();
    let mut tx = state.db.begin().await?;
    store::insert_search(&mut tx, &row, &ids).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "network_search.ask",
        ("network_search", &row.id),
        None,
        json!({ "query": query, "members": ids }),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("vivier_network_searches_total").increment(1);
    let late = Duration::from_millis(deadline_ms) + Duration::from_secs(cfg.late_answer_secs);
    let tasks: Vec<_> = members
        .into_iter()
        .map(|m| {
            let state = state.clone();
            let body = body.clone();
            let id = row.id.clone();
            let query_id = query.query_id.clone();
            tokio::spawn(async move {
                let outcome = match tokio::time::timeout(late, ask_member(&state, &m, body, &query_id)).await {
                    Ok(o) => o,
                    Err(_) => Err("no answer in time".to_string()),
                };
                let node = m.node_id.to_string();
                if let Err(e) = store::record_node(&state.db, &id, &node, outcome, state.clock.now_ms()).await {
                    tracing::warn!(search = %id, peer = %node, error = %e, "network search: answer not stored");
                }
            })
        })
        .collect();
    // Nodes that are down or slow never hold the answer back: wait for all
    // of them, at most until the deadline; the tasks go on after it.
    let _ = tokio::time::timeout(
        Duration::from_millis(deadline_ms),
        futures::future::join_all(tasks),
    )
    .await;
    view(state, actor, &row.id).await
}

/// Asks one member; the answer's JSON when it is well-formed and answers
/// this query, else why not.
async fn ask_member(
    state: &AppState,
    m: &vivier_protocol::Member,
    body: Vec<u8>,
    query_id: &str,
) -> std::result::Result<String, String> {
    let resp = crate::federation::signed_request(
        state,
        m,
        reqwest::Method::POST,
        NETWORK_SEARCH_PATH,
        body,
    )
    .await
    .map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > 4 * 1024 * 1024 {
        return Err("answer too large".into());
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let a: NetworkAnswer =
        serde_json::from_slice(&bytes).map_err(|e| format!("malformed answer: {e}"))?;
    if a.query_id != query_id || a.node_id != m.node_id {
        return Err("the answer is for another query or from another node".into());
    }
    if a.results.len() > MAX_ANSWER_RESULTS
        || a.results
            .iter()
            .any(|r| r.pseudonym.len() != vivier_protocol::PSEUDONYM_LEN)
    {
        return Err("malformed answer: too many results or a malformed pseudonym".into());
    }
    serde_json::to_string(&a).map_err(|e| e.to_string())
}

/// A search of the acting user, with the answers stored so far, merged and
/// ranked (best score first, then nearest band).
pub async fn view(state: &AppState, actor: &Actor, id: &str) -> Result<SearchView> {
    let user = searcher(actor)?;
    let s = store::search(&state.db, id)
        .await?
        .filter(|s| s.user_id == user.id)
        .ok_or(Error::NotFound("network search"))?;
    let query: NetworkQuery =
        serde_json::from_str(&s.query).map_err(|e| Error::Internal(e.into()))?;
    let mut nodes = store::nodes(&state.db, id).await?;
    // Past the time late answers are kept, a member still silent did not
    // answer.
    if state.clock.now_ms() > s.late_until {
        for n in nodes.iter_mut().filter(|n| n.status == "pending") {
            n.status = "failed".into();
            n.error = Some("no answer before the search closed".into());
        }
    }
    let interests = store::sent_for_search(&state.db, id).await?;
    let doc = state.federation.membership();
    let mut counts = vec![0i64; query.places.len()];
    let mut results = Vec::new();
    let mut node_views = Vec::new();
    for n in &nodes {
        let answer: Option<NetworkAnswer> = n
            .answer
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok());
        let mut count = 0;
        if let Some(a) = answer {
            count = a.results.len();
            for pc in &a.place_counts {
                if let Some(c) = usize::try_from(pc.place_index)
                    .ok()
                    .and_then(|i| counts.get_mut(i))
                {
                    *c += pc.count.max(0);
                }
            }
            for r in a.results {
                let interest = interests
                    .iter()
                    .find(|i| i.node_id == n.node_id && i.pseudonym == r.pseudonym)
                    .map(|i| InterestView {
                        id: i.id.clone(),
                        status: i.status.clone(),
                        referral_id: i.referral_id.clone(),
                    });
                results.push(ResultView {
                    node_id: n.node_id.clone(),
                    pseudonym: r.pseudonym,
                    rome_codes: r.rome_codes,
                    experience_years: r.experience_years,
                    certifications: r.certifications,
                    driving_licences: r.driving_licences,
                    available_from: r.available_from,
                    place_index: r.place_index,
                    distance_band: r.distance_band,
                    departement: r.departement,
                    commune_insee: r.commune_insee,
                    summary: r.summary,
                    score: r.score,
                    interest,
                });
            }
        }
        let display_name = doc
            .as_ref()
            .and_then(|d| {
                NodeId::parse(&n.node_id)
                    .ok()
                    .and_then(|id| d.document.member(&id).map(|m| m.display_name.clone()))
            })
            .unwrap_or_else(|| n.node_id.clone());
        node_views.push(NodeView {
            node_id: n.node_id.clone(),
            display_name,
            status: n.status.clone(),
            error: n.error.clone(),
            results: count,
            answered_at: n.answered_at,
        });
    }
    results.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.distance_band.cmp(&b.distance_band))
            .then_with(|| a.node_id.cmp(&b.node_id))
            .then_with(|| a.pseudonym.cmp(&b.pseudonym))
    });
    let answered = nodes.iter().filter(|n| n.status == "answered").count() as i64;
    let places = query
        .places
        .iter()
        .enumerate()
        .map(|(i, p)| PlaceView {
            place_index: i as i64,
            commune_insee: p.commune_insee.clone(),
            commune_name: state.refs.commune(&p.commune_insee).map(|c| c.name.clone()),
            radius_km: p.radius_km,
            count: counts.get(i).copied().unwrap_or(0),
        })
        .collect();
    Ok(SearchView {
        id: s.id,
        query: serde_json::from_str(&s.query).map_err(|e| Error::Internal(e.into()))?,
        created_at: s.created_at,
        deadline_at: s.deadline_at,
        late_until: s.late_until,
        members_asked: s.members_asked,
        members_answered: answered,
        complete: nodes.iter().all(|n| n.status != "pending"),
        nodes: node_views,
        places,
        results,
    })
}

/// A short line per search of the acting user, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchSummary {
    pub id: String,
    pub created_at: i64,
    pub rome_codes: Vec<String>,
    pub places: Vec<String>,
    pub members_asked: i64,
}

/// The acting user's searches (the last 50).
pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<SearchSummary>> {
    let user = searcher(actor)?;
    let rows = store::searches_of(&state.db, &user.id, 50).await?;
    Ok(rows
        .into_iter()
        .filter_map(|s| {
            let q: NetworkQuery = serde_json::from_str(&s.query).ok()?;
            Some(SearchSummary {
                id: s.id,
                created_at: s.created_at,
                rome_codes: q.rome_codes,
                places: q
                    .places
                    .iter()
                    .map(|p| {
                        let name = state
                            .refs
                            .commune(&p.commune_insee)
                            .map_or(p.commune_insee.clone(), |c| c.name.clone());
                        format!("{name} ({} km)", p.radius_km)
                    })
                    .collect(),
                members_asked: s.members_asked,
            })
        })
        .collect())
}

/// Sets or removes (None, blank) the summary a counsellor approved for
/// network display: at most 280 characters, no control characters.
/// Audited in the same transaction.
pub async fn set_summary(
    state: &AppState,
    actor: &Actor,
    candidate_id: &str,
    summary: Option<String>,
) -> Result<Option<String>> {
    let user = actor.staff()?;
    crate::candidates::ensure_exists(&state.db, candidate_id).await?;
    let summary = summary
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let mut errs = Vec::new();
    crate::validation::opt_text(
        &mut errs,
        "summary",
        summary.as_deref(),
        vivier_protocol::netsearch::MAX_SUMMARY_CHARS,
    );
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let mut tx = state.db.begin().await?;
    store::set_summary(
        &mut tx,
        candidate_id,
        summary.as_deref(),
        &user.id,
        state.clock.now_ms(),
    )
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.network_summary",
        ("candidate", candidate_id),
        None,
        json!({ "summary": summary }),
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}
