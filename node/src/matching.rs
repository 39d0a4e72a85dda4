//! Explained matching, both ways (staff only; every call is audited).
//!
//! - `GET /api/v1/offers/{id}/matches?limit=20&include_near_misses=false&workplace=`
//!   ranks this node's consented, active candidates for each workplace of
//!   an offer (local or received from the network).
//! - `GET /api/v1/candidates/{id}/matches?limit=20&include_near_misses=false`
//!   ranks open offers (local and network) for a candidate, each at its
//!   best workplace for that candidate.
//!
//! ## Score
//! The score is `Σ weight × part`, each part a fraction in 0..=1, weights in
//! points from `[matching]` in the configuration ([`MatchingWeights`],
//! defaults: rome 35, text 20, distance 25, availability 5, hours 5,
//! contract 5, vehicle 5 — 100 in all). Every part is defined on the pair
//! alone (the candidate, the offer's workplace, and for the text part the
//! document frequencies of the whole candidate index), so a pair has the
//! same score in both directions and whatever else is listed:
//!
//! | part | value |
//! |---|---|
//! | `rome` | best relation between the candidate's ROME codes and the offer's: same code 1, same historical parent 0.75, same domain (letter + two digits) 0.4, none 0 |
//! | `text` | `1 − exp(−S / text_saturation)`, `S` = Σ factor × idf over the offer's words found in the candidate's job titles, skills and CV ([`text`]: title words factor 2, ROME label 1.5, description 1; words every offer uses left out); `matched_terms` names them |
//! | `distance` | `1 − d / limit`, `d` the great-circle distance from the centre of the home commune to the workplace's, `limit` the candidate's own maximum travel distance (`max_travel_km`, else `default_max_travel_km`; at most `public_transport_max_km` for candidates on public transport only); 0 when either centre is unknown ("distance unknown") |
//! | `availability` | 1 if available by the offer's `start_date` (else its publication, or today, whichever is later), then falling to 0 over `availability_grace_days` |
//! | `hours` | 1 − relative gap between the weekly hours wanted and offered; 1 when either is not given |
//! | `contract` | 1 if the candidate accepts the offer's contract type (no preference = all), else 0 |
//! | `vehicle` | 1 if the candidate has a vehicle or none is needed; a vehicle is needed when the offer requires one, requires a driving licence, or the workplace is more than 10 km away |
//! | `licence` | informative (weight 0): required licence held (or implied by a higher category) |
//! | `certifications` | informative (weight 0): required certifications held, desired ones held ([`crate::referentials::Certifications`], with implications: `CE` ⇒ `C` ⇒ `B`, `SSIAP3` ⇒ `SSIAP2`…) |
//!
//! ## Eligibility (hard constraints)
//! A candidate failing one of these is not listed, unless
//! `include_near_misses=true`: then they are listed after the eligible ones,
//! with `eligible: false` and each failing constraint named:
//! `beyond_travel_limit`, `missing_licence`, `missing_certification` (one
//! per required code not held), `no_vehicle` (the offer requires one),
//! `not_available_by_start` (available more than `availability_grace_days`
//! after the start), `local_consent_only` (a network offer, i.e. another
//! member's, and the candidate's consent covers this node only: they could
//! not be referred).
//!
//! Never listed, not even as near misses: drafts (no consent), placed and
//! archived candidates (a placed candidate's own matches are empty), and
//! pairs below the relevance floor: no ROME relation and fewer than
//! `min_matched_terms` meaningful words of the offer in the candidate's
//! text (one shared word such as « permis » is not a match).
//!
//! ## Pre-selection (scales to 100k candidates)
//! For a workplace with known coordinates, two index queries over the
//! active candidates whose home is within [`PRESELECT_RADIUS_KM`]
//! (bounding box, then exact distance): the best `cap` by BM25 of an OR
//! query over the offer's words (title ×2, ROME label, description), and
//! the nearest `cap` with a related ROME code (`cap = max(20 × limit,
//! 1000)`). Their union is pre-ranked from what the index knows (ROME,
//! text, distance against the default travel limit), the best `cap` are
//! loaded from the database and scored fully. Pre-selection only decides
//! who is scored; the score itself never depends on it. A workplace whose
//! commune has no known centre uses ROME and text only (distance unknown).
//! Candidates whose home commune has no known centre are only found for
//! such workplaces.

pub mod text;

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use vivier_protocol::{OfferPayload, Workplace};

use crate::auth::{Reason, User};
use crate::candidates::{Candidate, CandidateStatus, ConsentScope};
use crate::config::MatchingWeights;
use crate::error::{Error, Result};
use crate::geo::{haversine_km, Point};
use crate::http::ApiQuery;
use crate::offers::{licence_satisfies, StoredOffer};
use crate::referentials::{Certifications, Referentials, RomeRelation};
use crate::search::{CandidateQuery, OfferQuery, SortBy};
use crate::server::AppState;
use text::{candidate_terms, relevance, relevance_with, Idf, OfferTerms, TextMatch};

/// Largest travel radius considered when pre-selecting candidates (km).
pub const PRESELECT_RADIUS_KM: f64 = 150.0;
/// Beyond this distance a vehicle is needed (km).
pub const VEHICLE_NEEDED_KM: f64 = 10.0;

/// Whether getting to this offer needs a vehicle: the offer requires one or
/// a driving licence, or the workplace is farther than
/// [`VEHICLE_NEEDED_KM`] from home.
pub fn vehicle_needed(offer: &OfferPayload, distance_km: Option<f64>) -> bool {
    offer.vehicle_required
        || offer.driving_licence.is_some()
        || distance_km.is_some_and(|d| d > VEHICLE_NEEDED_KM)
}
/// Most candidates (or offers) read from the index per workplace.
const MAX_PRESELECT: usize = 200_000;
/// Words listed in the text part's detail (all are in `matched_terms`).
const DETAIL_WORDS: usize = 12;
const DAY_MS: i64 = 86_400_000;

/// One part of a score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Part {
    /// 0..=1.
    pub value: f64,
    /// Points for a value of 1 (from the configuration).
    pub weight: f64,
    /// `value × weight`, rounded to 0.1.
    pub points: f64,
    /// Why, in words.
    pub detail: String,
}

impl Part {
    fn new(value: f64, weight: f64, detail: impl Into<String>) -> Part {
        let value = if value.is_finite() {
            value.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Part {
            value: round3(value),
            weight,
            points: round1(value * weight),
            detail: detail.into(),
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// All parts of a score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Parts {
    pub rome: Part,
    pub text: Part,
    pub distance: Part,
    pub availability: Part,
    pub hours: Part,
    pub contract: Part,
    pub vehicle: Part,
    /// Informative (weight 0); a missing licence is a hard constraint.
    pub licence: Part,
    /// Informative (weight 0); a missing required certification is a hard
    /// constraint.
    pub certifications: Part,
}

/// A failed hard constraint.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Constraint {
    /// `beyond_travel_limit`, `missing_licence`, `missing_certification`,
    /// `no_vehicle`, `not_available_by_start` or `local_consent_only`.
    pub code: &'static str,
    /// In words.
    pub message: String,
    /// The certification code, for `missing_certification`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certification: Option<String>,
}

impl Constraint {
    fn new(code: &'static str, message: String) -> Constraint {
        Constraint {
            code,
            message,
            certification: None,
        }
    }
}

/// The evaluation of one candidate at one workplace.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    /// Σ points, rounded to 0.1.
    pub score: f64,
    /// Home–workplace distance, `None` = unknown.
    pub distance_km: Option<f64>,
    /// The candidate's travel limit used.
    pub travel_limit_km: f64,
    /// No hard constraint failed.
    pub eligible: bool,
    pub failed_constraints: Vec<Constraint>,
    /// The offer's words found in the candidate's titles, skills and CV.
    pub matched_terms: Vec<String>,
    pub parts: Parts,
    /// Above the relevance floor (a ROME relation, or enough matched words).
    #[serde(skip)]
    relevant: bool,
}

/// The candidate's travel limit: own, else default; capped for public
/// transport users.
pub fn travel_limit_km(w: &MatchingWeights, c: &Candidate) -> f64 {
    let mut limit = c
        .max_travel_km
        .map(|k| k as f64)
        .unwrap_or(w.default_max_travel_km)
        .max(0.0);
    if c.public_transport_only {
        limit = limit.min(w.public_transport_max_km);
    }
    limit
}

fn workplace_point(w: &Workplace) -> Option<Point> {
    match (w.lat_micro, w.lon_micro) {
        (Some(lat), Some(lon)) => Some(Point::new(lat, lon)),
        _ => None,
    }
}

/// Best ROME relation between a candidate's codes and an offer's code.
pub fn best_relation(refs: &Referentials, codes: &[String], offer_code: &str) -> RomeRelation {
    codes
        .iter()
        .map(|c| refs.rome_relation(c, offer_code))
        .max_by_key(|r| r.strength())
        .unwrap_or(RomeRelation::None)
}

/// Whether a candidate can be listed at all (consented, not placed nor
/// archived).
pub fn listable(c: &Candidate) -> bool {
    c.consent.is_some() && matches!(c.status, CandidateStatus::Active)
}

/// What an evaluation needs besides the pair.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub refs: &'a Referentials,
    pub weights: &'a MatchingWeights,
    /// Today, in days since 1970 (from the node's clock).
    pub today: i64,
}

/// The offer side of a pair.
#[derive(Debug, Clone, Copy)]
pub struct OfferSide<'a> {
    pub payload: &'a OfferPayload,
    /// Another member's offer: only network-consent candidates can be
    /// referred to it.
    pub network: bool,
}

/// Score one candidate for one workplace of an offer; `text` from
/// [`text::relevance`].
pub fn evaluate(
    cx: &Context<'_>,
    offer: OfferSide<'_>,
    workplace: &Workplace,
    c: &Candidate,
    text: &TextMatch,
) -> Evaluation {
    let w = cx.weights;
    let refs = cx.refs;
    let p = offer.payload;
    // ROME.
    let relation = best_relation(refs, &c.rome_codes, &p.rome_code);
    let (rome_value, rome_detail) = match relation {
        RomeRelation::Same => (1.0, format!("same ROME code {}", p.rome_code)),
        RomeRelation::SameParent => (
            0.75,
            format!("ROME code related to {} (same parent code)", p.rome_code),
        ),
        RomeRelation::SameDomain => (0.4, format!("same job domain as {}", p.rome_code)),
        RomeRelation::None => (0.0, format!("no ROME code related to {}", p.rome_code)),
    };
    let rome = Part::new(rome_value, w.rome, rome_detail);
    let text_part = Part::new(
        text.value,
        w.text,
        if text.matched.is_empty() {
            "no word of the offer in the CV, job titles or skills".to_string()
        } else {
            let shown: Vec<&str> = text
                .matched
                .iter()
                .take(DETAIL_WORDS)
                .map(String::as_str)
                .collect();
            let more = text.matched.len().saturating_sub(DETAIL_WORDS);
            format!(
                "words of the offer found: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                }
            )
        },
    );

    // Distance.
    let limit = travel_limit_km(w, c);
    let distance_km = if c.commune_insee == workplace.commune_insee {
        Some(0.0)
    } else {
        match (c.home, workplace_point(workplace)) {
            (Some(h), Some(p)) => Some(haversine_km(h, p)),
            _ => None,
        }
    };
    let mut failed = Vec::new();
    let limit_words = if c.public_transport_only {
        format!("{limit:.0} km limit (public transport only)")
    } else if c.max_travel_km.is_some() {
        format!("own {limit:.0} km limit")
    } else {
        format!("default {limit:.0} km limit")
    };
    let distance = match distance_km {
        Some(d) => {
            if d > limit {
                failed.push(Constraint::new(
                    "beyond_travel_limit",
                    format!("{d:.1} km from home, beyond the {limit_words}"),
                ));
            }
            let value = if limit > 0.0 {
                1.0 - d / limit
            } else if d == 0.0 {
                1.0
            } else {
                0.0
            };
            Part::new(
                value,
                w.distance,
                format!("{d:.1} km from home ({limit_words})"),
            )
        }
        None => Part::new(
            0.0,
            w.distance,
            "distance unknown (commune centre not known)",
        ),
    };

    // Licence (hard), certifications (hard when required) and vehicle.
    let licence = match p.driving_licence.as_deref() {
        None => Part::new(1.0, 0.0, "no licence required"),
        Some(req) => {
            if c.driving_licences.iter().any(|h| licence_satisfies(h, req)) {
                Part::new(1.0, 0.0, format!("licence {req} required, held"))
            } else {
                failed.push(Constraint::new(
                    "missing_licence",
                    format!("licence {req} required, not held"),
                ));
                Part::new(0.0, 0.0, format!("licence {req} required, not held"))
            }
        }
    };
    let certs = Certifications::global();
    let certifications =
        if p.required_certifications.is_empty() && p.desired_certifications.is_empty() {
            Part::new(1.0, 0.0, "no certification required")
        } else {
            let held = certs.held(&c.certifications, &c.driving_licences);
            let mut words = Vec::new();
            let mut missing = 0;
            for req in &p.required_certifications {
                if Certifications::satisfied(&held, req) {
                    words.push(format!("{req} required, held"));
                } else {
                    missing += 1;
                    words.push(format!("{req} required, not held"));
                    failed.push(Constraint {
                        code: "missing_certification",
                        message: format!("{} required, not held", certs.label(req)),
                        certification: Some(req.clone()),
                    });
                }
            }
            for d in &p.desired_certifications {
                if Certifications::satisfied(&held, d) {
                    words.push(format!("{d} appreciated, held"));
                } else {
                    words.push(format!("{d} appreciated, not held"));
                }
            }
            Part::new(if missing == 0 { 1.0 } else { 0.0 }, 0.0, words.join("; "))
        };
    let needs_vehicle = vehicle_needed(p, distance_km);
    if p.vehicle_required && !c.has_vehicle {
        failed.push(Constraint::new(
            "no_vehicle",
            "the offer requires a vehicle of one's own; has none".to_string(),
        ));
    }
    let vehicle = match (needs_vehicle, c.has_vehicle) {
        (false, _) => Part::new(1.0, w.vehicle, "no vehicle needed"),
        (true, true) => Part::new(1.0, w.vehicle, "has a vehicle"),
        (true, false) => Part::new(
            0.0,
            w.vehicle,
            if p.vehicle_required {
                "vehicle required by the offer; has none"
            } else if c.public_transport_only {
                "vehicle needed; travels by public transport only"
            } else {
                "vehicle needed; has none"
            },
        ),
    };

    // Availability, against the start date (else publication or today).
    let start = p.start_date.as_deref().and_then(crate::util::date_to_days);
    let reference = start
        .unwrap_or_else(|| p.published_at.div_euclid(DAY_MS))
        .max(cx.today);
    let reference_words = match (start, p.start_date.as_deref()) {
        (Some(_), Some(d)) => format!("the start on {d}"),
        _ => "the offer's publication".to_string(),
    };
    let grace = w.availability_grace_days.max(0);
    let availability = match c
        .available_from
        .as_deref()
        .and_then(crate::util::date_to_days)
    {
        None => Part::new(1.0, w.availability, "available now"),
        Some(day) if day <= reference => Part::new(
            1.0,
            w.availability,
            format!("available by {reference_words}"),
        ),
        Some(day) => {
            let late = day - reference;
            let from = c.available_from.as_deref().unwrap_or("");
            if late > grace {
                failed.push(Constraint::new(
                    "not_available_by_start",
                    format!(
                        "available from {from}, {late} days after {reference_words} (grace {grace} days)"
                    ),
                ));
            }
            Part::new(
                1.0 - late as f64 / (grace + 1) as f64,
                w.availability,
                format!("available from {from} ({late} days after {reference_words})"),
            )
        }
    };

    // Consent scope.
    if offer.network && c.consent.as_ref().map(|k| k.scope) != Some(ConsentScope::Network) {
        failed.push(Constraint::new(
            "local_consent_only",
            "consent covers this node only: cannot be referred to another member's offer"
                .to_string(),
        ));
    }

    // Hours.
    let hours = match (c.weekly_hours, p.weekly_hours) {
        (Some(want), Some(offered)) if want > 0 && offered > 0 => {
            let gap = (want - offered).abs() as f64 / want.max(offered) as f64;
            Part::new(
                1.0 - gap,
                w.hours,
                format!("wants {want} h a week, offer {offered} h"),
            )
        }
        (None, _) => Part::new(1.0, w.hours, "no weekly hours preference"),
        _ => Part::new(1.0, w.hours, "weekly hours not given by the offer"),
    };

    // Contract.
    let ct = p.contract_type;
    let contract = if c.contract_types.is_empty() {
        Part::new(1.0, w.contract, "accepts any contract type")
    } else if c.contract_types.contains(&ct) {
        Part::new(1.0, w.contract, format!("accepts {}", ct.as_str()))
    } else {
        Part::new(
            0.0,
            w.contract,
            format!(
                "wants {}, offer is {}",
                c.contract_types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                ct.as_str()
            ),
        )
    };

    let parts = Parts {
        rome,
        text: text_part,
        distance,
        availability,
        hours,
        contract,
        vehicle,
        licence,
        certifications,
    };
    let total = [
        &parts.rome,
        &parts.text,
        &parts.distance,
        &parts.availability,
        &parts.hours,
        &parts.contract,
        &parts.vehicle,
    ]
    .iter()
    .map(|p| p.value * p.weight)
    .sum::<f64>();
    Evaluation {
        score: round1(total),
        distance_km: distance_km.map(round1),
        travel_limit_km: limit,
        eligible: failed.is_empty(),
        failed_constraints: failed,
        matched_terms: text.matched.clone(),
        relevant: relation != RomeRelation::None || text.matched.len() >= w.min_matched_terms,
        parts,
    }
}

/// Order: eligible first, then score, then nearest, then id.
fn rank_key(e: &Evaluation) -> (bool, i64, i64) {
    (
        !e.eligible,
        -(e.score * 10.0).round() as i64,
        e.distance_km.map(|d| (d * 10.0) as i64).unwrap_or(i64::MAX),
    )
}

/// Today in days since 1970, from the node's clock.
fn today(state: &AppState) -> i64 {
    state.clock.now_ms().div_euclid(DAY_MS)
}

/// Idf of `terms` from the whole candidate index.
fn index_idf(state: &AppState, terms: &[String]) -> Result<Idf> {
    let (n, freqs) = state.search.candidates.text_doc_freqs(terms)?;
    Ok(Idf::new(n, terms.iter().cloned().zip(freqs)))
}

// ---------------------------------------------------------------------------
// Offer → candidates
// ---------------------------------------------------------------------------

/// `?limit=&include_near_misses=&workplace=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchParams {
    /// Per workplace (offer → candidates) or in all (candidate → offers);
    /// default 20, max 200.
    #[serde(default)]
    pub limit: Option<usize>,
    /// List candidates failing a hard constraint too, with the reason.
    #[serde(default)]
    pub include_near_misses: Option<bool>,
    /// Only this workplace (index in the offer's `workplaces`).
    #[serde(default)]
    pub workplace: Option<usize>,
}

impl MatchParams {
    /// `limit` within 1..=200 (default 20), or a 400 naming it.
    pub fn checked_limit(&self) -> Result<usize> {
        let mut checks = crate::http::Checks::new();
        let n = checks.int(
            "limit",
            self.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            20,
            1,
            200,
        );
        checks.finish()?;
        Ok(usize::try_from(n).unwrap_or(20))
    }
}

/// One ranked candidate.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateMatch {
    pub candidate_id: String,
    pub first_name: String,
    pub last_name: String,
    pub commune_insee: String,
    pub commune_name: Option<String>,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// The ranking for one workplace.
#[derive(Debug, Clone, Serialize)]
pub struct WorkplaceMatches {
    /// Index in the offer's `workplaces`.
    pub index: usize,
    pub commune_insee: String,
    pub label: Option<String>,
    pub positions: i64,
    /// Whether the workplace's commune centre is known.
    pub distance_known: bool,
    /// Candidates scored (after pre-selection).
    pub considered: usize,
    /// Of those, failing a hard constraint.
    pub excluded: usize,
    pub matches: Vec<CandidateMatch>,
}

/// The answer of `GET /api/v1/offers/{id}/matches`.
#[derive(Debug, Clone, Serialize)]
pub struct OfferMatches {
    pub offer_id: String,
    pub origin_node: String,
    pub title: String,
    pub rome_code: String,
    pub weights: MatchingWeights,
    pub workplaces: Vec<WorkplaceMatches>,
}

fn offer_text(refs: &Referentials, p: &OfferPayload) -> String {
    let label = refs
        .rome(&p.rome_code)
        .map(|r| r.label.as_str())
        .unwrap_or("");
    format!("{} {} {} {}", p.title, p.title, label, p.description)
}

/// ROME codes related to any of `codes` (for pre-selection).
fn related_codes(refs: &Referentials, codes: &[String]) -> Vec<String> {
    refs.rome_codes()
        .iter()
        .filter(|r| {
            codes
                .iter()
                .any(|c| refs.rome_relation(&r.code, c) != RomeRelation::None)
        })
        .map(|r| r.code.clone())
        .collect()
}

/// Short French words that carry no meaning for matching.
const STOP_WORDS: &[&str] = &[
    "les", "des", "une", "pour", "avec", "dans", "sur", "par", "aux", "vous", "nous", "est",
    "sont", "que", "qui", "son", "ses", "leur", "leurs", "votre", "vos", "notre", "nos", "cette",
    "ces", "tout", "tous", "toute", "toutes", "plus", "sans", "sous", "entre", "chez", "être",
    "avoir", "afin", "ainsi", "mais", "donc", "car", "ans", "poste", "h/f",
];

/// A tantivy query matching any meaningful word of `text` (at most 40, the
/// most frequent first), or `None` when there is none.
fn or_query(text: &str) -> Option<String> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (pos, word) in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .enumerate()
    {
        counts.entry(word).or_insert((0, pos)).0 += 1;
    }
    let mut words: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    words.truncate(40);
    if words.is_empty() {
        None
    } else {
        Some(
            words
                .into_iter()
                .map(|(w, _)| w)
                .collect::<Vec<_>>()
                .join(" OR "),
        )
    }
}

/// Candidate ids to score for one workplace, best pre-rank first (the
/// pre-rank only decides who is scored).
fn preselect_candidates(
    state: &AppState,
    offer: &OfferPayload,
    point: Option<Point>,
    related: &[String],
    cap: usize,
) -> Result<Vec<String>> {
    let idx = &state.search.candidates;
    let w = &state.config.matching;
    let text = offer_text(state.refs, offer);
    match point {
        Some(p) => {
            let radius = PRESELECT_RADIUS_KM.max(w.default_max_travel_km);
            let near = Some((p, radius));
            let mut bm25: HashMap<String, f32> = HashMap::new();
            let mut distance: HashMap<String, f64> = HashMap::new();
            // The best text matches within the radius (one OR query over
            // the offer's words, scored by BM25)...
            let or_query = or_query(&text);
            if let Some(q) = &or_query {
                for h in idx
                    .search(&CandidateQuery {
                        text: Some(q.clone()),
                        near,
                        status: Some("active".into()),
                        sort: SortBy::Relevance,
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    distance.insert(h.id.clone(), h.distance_km.unwrap_or(radius));
                    bm25.insert(h.id, h.score);
                }
            }
            // ... and the nearest candidates with a related ROME code.
            let mut rome_ids: HashSet<String> = HashSet::new();
            if !related.is_empty() {
                for h in idx
                    .search(&CandidateQuery {
                        near,
                        status: Some("active".into()),
                        rome_codes: related.to_vec(),
                        sort: SortBy::Distance,
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    distance.insert(h.id.clone(), h.distance_km.unwrap_or(radius));
                    rome_ids.insert(h.id);
                }
            }
            let max = bm25.values().copied().fold(0.0_f32, f32::max);
            let mut pre: Vec<(f64, String)> = distance
                .iter()
                .map(|(id, d)| {
                    let t = bm25
                        .get(id)
                        .map(|s| f64::from(*s / max.max(f32::MIN_POSITIVE)))
                        .unwrap_or(0.0);
                    let near = (1.0 - d / w.default_max_travel_km.max(1.0)).max(0.0);
                    let r = if rome_ids.contains(id) { 1.0 } else { 0.0 };
                    (r * w.rome + t * w.text + near * w.distance, id.clone())
                })
                .collect();
            pre.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            pre.truncate(cap);
            Ok(pre.into_iter().map(|(_, id)| id).collect())
        }
        None => {
            let mut ids: Vec<String> = Vec::new();
            let mut seen = HashSet::new();
            let bm25 = idx.text_scores(&text, None, cap)?;
            let mut by_text: Vec<(&String, &f32)> = bm25.iter().collect();
            by_text.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
            if !related.is_empty() {
                for h in idx
                    .search(&CandidateQuery {
                        status: Some("active".into()),
                        rome_codes: related.to_vec(),
                        limit: cap,
                        ..CandidateQuery::default()
                    })?
                    .hits
                {
                    if seen.insert(h.id.clone()) {
                        ids.push(h.id);
                    }
                }
            }
            for (id, _) in by_text {
                if seen.insert(id.clone()) {
                    ids.push(id.clone());
                }
            }
            ids.truncate(cap);
            Ok(ids)
        }
    }
}

/// Rank this node's consented, active candidates for each workplace of an
/// offer.
pub async fn match_offer(
    state: &AppState,
    offer: &StoredOffer,
    params: &MatchParams,
) -> Result<OfferMatches> {
    let limit = params.checked_limit()?;
    let near_misses = params.include_near_misses.unwrap_or(false);
    let p = &offer.payload;
    if let Some(i) = params.workplace {
        if i >= p.workplaces.len() {
            return Err(Error::field(
                "workplace",
                format!("the offer has {} workplaces", p.workplaces.len()),
            ));
        }
    }
    let related = related_codes(state.refs, std::slice::from_ref(&p.rome_code));
    let cap = (limit * 20).max(1000);
    let w = state.config.matching.clone();
    let cx = Context {
        refs: state.refs,
        weights: &w,
        today: today(state),
    };
    let side = OfferSide {
        payload: p,
        network: !offer.is_local,
    };
    let offer_terms = OfferTerms::of(state.refs, p);
    let idf = {
        let state = state.clone();
        let terms = offer_terms.terms();
        tokio::task::spawn_blocking(move || index_idf(&state, &terms)).await??
    };
    let mut out = Vec::new();
    for (index, wp) in p.workplaces.iter().enumerate() {
        if params.workplace.is_some_and(|i| i != index) {
            continue;
        }
        let point = workplace_point(wp);
        let (ids, held) = {
            let state = state.clone();
            let offer = p.clone();
            let related = related.clone();
            let terms = offer_terms.terms();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let ids = preselect_candidates(&state, &offer, point, &related, cap)?;
                let held = state.search.candidates.match_terms_held(&ids, &terms)?;
                Ok((ids, held))
            })
            .await??
        };
        let candidates = crate::candidates::load_candidates(&state.db, &ids).await?;
        let mut scored: Vec<CandidateMatch> = candidates
            .into_iter()
            .filter(listable)
            .map(|c| {
                // From the index's postings; a record not indexed yet is
                // analysed here (the same terms, by construction).
                let text = match held.get(&c.id) {
                    Some(flags) => relevance_with(
                        &offer_terms,
                        &idf,
                        |i, _| flags.get(i).copied().unwrap_or(false),
                        w.text_saturation,
                    ),
                    None => relevance(&offer_terms, &idf, &candidate_terms(&c), w.text_saturation),
                };
                let evaluation = evaluate(&cx, side, wp, &c, &text);
                CandidateMatch {
                    commune_name: state.refs.commune(&c.commune_insee).map(|x| x.name.clone()),
                    candidate_id: c.id,
                    first_name: c.first_name,
                    last_name: c.last_name,
                    commune_insee: c.commune_insee,
                    evaluation,
                }
            })
            .filter(|m| m.evaluation.relevant)
            .collect();
        let considered = scored.len();
        let excluded = scored.iter().filter(|m| !m.evaluation.eligible).count();
        if !near_misses {
            scored.retain(|m| m.evaluation.eligible);
        }
        scored.sort_by(|a, b| {
            rank_key(&a.evaluation)
                .cmp(&rank_key(&b.evaluation))
                .then_with(|| a.candidate_id.cmp(&b.candidate_id))
        });
        scored.truncate(limit);
        out.push(WorkplaceMatches {
            index,
            commune_insee: wp.commune_insee.clone(),
            label: wp.label.clone(),
            positions: wp.positions,
            distance_known: point.is_some(),
            considered,
            excluded,
            matches: scored,
        });
    }
    Ok(OfferMatches {
        offer_id: p.offer_id.clone(),
        origin_node: p.origin_node.to_string(),
        title: p.title.clone(),
        rome_code: p.rome_code.clone(),
        weights: w,
        workplaces: out,
    })
}

async fn offer_matches_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<MatchParams>,
) -> Result<Json<OfferMatches>> {
    user.require_staff()?;
    let offer = crate::offers::get_offer(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    let result = match_offer(&state, &offer, &params).await?;
    let listed: usize = result.workplaces.iter().map(|w| w.matches.len()).sum();
    crate::audit::record(
        &state.db,
        Some(&user),
        "offer.matches",
        "offer",
        &id,
        reason.0.as_deref(),
        serde_json::json!({
            "candidates_listed": listed,
            "include_near_misses": params.include_near_misses.unwrap_or(false),
        }),
    )
    .await?;
    Ok(Json(result))
}

// ---------------------------------------------------------------------------
// Candidate → offers
// ---------------------------------------------------------------------------

/// One ranked offer for a candidate (at its best workplace).
#[derive(Debug, Clone, Serialize)]
pub struct OfferMatch {
    pub offer_id: String,
    pub origin_node: String,
    pub is_local: bool,
    pub title: String,
    pub employer_name: String,
    pub rome_code: String,
    pub contract_type: &'static str,
    /// Index of the workplace used in the offer's `workplaces`.
    pub workplace_index: usize,
    pub workplace_commune_insee: String,
    pub workplace_label: Option<String>,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// The answer of `GET /api/v1/candidates/{id}/matches`.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateMatches {
    pub candidate_id: String,
    /// `active`, `in_referral`, `placed`, `archived`: placed and archived
    /// candidates get no matches.
    pub candidate_status: &'static str,
    pub travel_limit_km: f64,
    pub considered: usize,
    pub excluded: usize,
    pub weights: MatchingWeights,
    pub matches: Vec<OfferMatch>,
}

fn candidate_text(c: &Candidate) -> String {
    let cv: String = c.cv_text.chars().take(4000).collect();
    format!(
        "{} {} {} {}",
        c.job_titles.join(" "),
        c.job_titles.join(" "),
        c.skills.join(" "),
        cv
    )
}

fn preselect_offers(
    state: &AppState,
    c: &Candidate,
    radius: f64,
    related: &[String],
    cap: usize,
) -> Result<Vec<String>> {
    let idx = &state.search.offers;
    let text = candidate_text(c);
    let near = c.home.map(|h| (h, radius));
    let geo_ids: Option<Vec<String>> = match near {
        Some(_) => Some(
            idx.search(&OfferQuery {
                near,
                status: Some("open".into()),
                sort: SortBy::Distance,
                limit: MAX_PRESELECT,
                ..OfferQuery::default()
            })?
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect(),
        ),
        None => None,
    };
    if geo_ids.as_ref().is_some_and(|g| g.is_empty()) {
        return Ok(Vec::new());
    }
    let rome_hits = if related.is_empty() {
        Vec::new()
    } else {
        idx.search(&OfferQuery {
            near,
            status: Some("open".into()),
            rome_codes: related.to_vec(),
            limit: if near.is_some() { MAX_PRESELECT } else { cap },
            ..OfferQuery::default()
        })?
        .hits
    };
    let bm25 = match &geo_ids {
        Some(ids) => idx.text_scores(&text, Some(ids), ids.len())?,
        None => idx.text_scores(&text, None, cap)?,
    };
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for h in rome_hits {
        if seen.insert(h.id.clone()) {
            ids.push(h.id);
        }
    }
    let mut by_text: Vec<(&String, &f32)> = bm25.iter().collect();
    by_text.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (id, _) in by_text {
        if seen.insert(id.clone()) {
            ids.push(id.clone());
        }
    }
    ids.truncate(cap);
    Ok(ids)
}

/// Rank open offers (local and network) for a candidate.
pub async fn match_candidate(
    state: &AppState,
    c: &Candidate,
    params: &MatchParams,
) -> Result<CandidateMatches> {
    let limit = params.checked_limit()?;
    let near_misses = params.include_near_misses.unwrap_or(false);
    let w = state.config.matching.clone();
    let own_limit = travel_limit_km(&w, c);
    if !listable(c) {
        return Ok(CandidateMatches {
            candidate_id: c.id.clone(),
            candidate_status: c.status.as_str(),
            travel_limit_km: own_limit,
            considered: 0,
            excluded: 0,
            weights: w,
            matches: Vec::new(),
        });
    }
    let radius = if near_misses {
        PRESELECT_RADIUS_KM.max(own_limit)
    } else {
        own_limit
    };
    let related = related_codes(state.refs, &c.rome_codes);
    let cap = (limit * 20).max(1000);
    let ids = {
        let state = state.clone();
        let c = c.clone();
        tokio::task::spawn_blocking(move || preselect_offers(&state, &c, radius, &related, cap))
            .await??
    };
    let offers: Vec<StoredOffer> = crate::offers::get_offers(&state.db, &ids)
        .await?
        .into_iter()
        .filter(|o| o.status == crate::offers::OfferStatus::Open)
        .collect();
    let cx = Context {
        refs: state.refs,
        weights: &w,
        today: today(state),
    };
    let offer_terms: Vec<OfferTerms> = offers
        .iter()
        .map(|o| OfferTerms::of(state.refs, &o.payload))
        .collect();
    let (idf, held) = {
        let mut seen = HashSet::new();
        let terms: Vec<String> = offer_terms
            .iter()
            .flat_map(|t| t.0.iter().map(|t| t.term.clone()))
            .filter(|t| seen.insert(t.clone()))
            .collect();
        let state = state.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let idf = index_idf(&state, &terms)?;
            let held = state
                .search
                .candidates
                .match_terms_held(std::slice::from_ref(&id), &terms)?
                .remove(&id)
                .map(|flags| {
                    terms
                        .into_iter()
                        .zip(flags)
                        .filter_map(|(t, f)| f.then_some(t))
                        .collect::<HashSet<String>>()
                });
            Ok((idf, held))
        })
        .await??
    };
    // The candidate's terms among the offers', from the index (or analysed
    // here when the record is not indexed yet: the same terms).
    let own_terms = held.unwrap_or_else(|| candidate_terms(c));
    let mut scored: Vec<OfferMatch> = Vec::new();
    for (o, terms) in offers.iter().zip(&offer_terms) {
        let text = relevance(terms, &idf, &own_terms, w.text_saturation);
        let side = OfferSide {
            payload: &o.payload,
            network: !o.is_local,
        };
        let best = o
            .payload
            .workplaces
            .iter()
            .enumerate()
            .map(|(i, wp)| (i, evaluate(&cx, side, wp, c, &text)))
            .min_by_key(|(i, e)| (rank_key(e), *i));
        let Some((i, evaluation)) = best else {
            continue;
        };
        if !evaluation.relevant {
            continue;
        }
        let wp = &o.payload.workplaces[i];
        scored.push(OfferMatch {
            workplace_index: i,
            workplace_commune_insee: wp.commune_insee.clone(),
            workplace_label: wp.label.clone(),
            offer_id: o.payload.offer_id.clone(),
            origin_node: o.payload.origin_node.to_string(),
            is_local: o.is_local,
            title: o.payload.title.clone(),
            employer_name: o.payload.employer.name.clone(),
            rome_code: o.payload.rome_code.clone(),
            contract_type: o.payload.contract_type.as_str(),
            evaluation,
        });
    }
    let considered = scored.len();
    let excluded = scored.iter().filter(|m| !m.evaluation.eligible).count();
    if !near_misses {
        scored.retain(|m| m.evaluation.eligible);
    }
    scored.sort_by(|a, b| {
        rank_key(&a.evaluation)
            .cmp(&rank_key(&b.evaluation))
            .then_with(|| a.offer_id.cmp(&b.offer_id))
    });
    scored.truncate(limit);
    Ok(CandidateMatches {
        candidate_id: c.id.clone(),
        candidate_status: c.status.as_str(),
        travel_limit_km: own_limit,
        considered,
        excluded,
        weights: w,
        matches: scored,
    })
}

async fn candidate_matches_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<MatchParams>,
) -> Result<Json<CandidateMatches>> {
    user.require_staff()?;
    if params.workplace.is_some() {
        return Err(Error::field("workplace", "only for offer matches"));
    }
    let c = crate::candidates::get_candidate(&state.db, &id)
        .await?
        .filter(|c| c.consent.is_some())
        .ok_or(Error::NotFound("candidate"))?;
    let result = match_candidate(&state, &c, &params).await?;
    crate::audit::record(
        &state.db,
        Some(&user),
        "candidate.matches",
        "candidate",
        &id,
        reason.0.as_deref(),
        serde_json::json!({
            "offers_listed": result.matches.len(),
            "include_near_misses": params.include_near_misses.unwrap_or(false),
        }),
    )
    .await?;
    Ok(Json(result))
}

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/offers/{id}/matches", get(offer_matches_handler))
        .route(
            "/api/v1/candidates/{id}/matches",
            get(candidate_matches_handler),
        )
}

/// Shared helpers of the unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use vivier_protocol::{ContractType, Employer, NodeId, OfferPayload, Workplace};

    /// A minimal offer at Blois.
    pub fn offer(title: &str, rome: &str) -> OfferPayload {
        OfferPayload {
            offer_id: "o1".into(),
            origin_node: NodeId::parse("test-node").unwrap_or_else(|_| unreachable!()),
            title: title.into(),
            description: String::new(),
            rome_code: rome.into(),
            contract_type: ContractType::Cdi,
            duration_months: None,
            weekly_hours: None,
            salary: None,
            driving_licence: None,
            experience_months: None,
            experience_label: None,
            start_date: None,
            vehicle_required: false,
            required_certifications: Vec::new(),
            desired_certifications: Vec::new(),
            employer: Employer {
                name: "E".into(),
                siret: None,
            },
            workplaces: vec![Workplace {
                commune_insee: "41018".into(),
                label: None,
                lat_micro: None,
                lon_micro: None,
                positions: 1,
            }],
            published_at: 0,
            updated_at: 0,
        }
    }
}
