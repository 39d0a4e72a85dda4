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
//! defaults: rome 30, text 20, distance 25, availability 5, hours 5,
//! contract 5, vehicle 5, certifications 5 — 100 in all). Every part is defined on the pair
//! alone (the candidate, the offer's workplace, and for the text part the
//! document frequencies of the whole candidate index), so a pair has the
//! same score in both directions and whatever else is listed:
//!
//! | part | value |
//! |---|---|
//! | `rome` | best relation between the candidate's ROME codes and the offer's: same code 1, same historical parent 0.75, same domain (letter + two digits) 0.4, none 0 |
//! | `text` | `1 − exp(−S / text_saturation)`, `S` = Σ factor × idf over the offer's words found in the candidate's job titles, skills and CV ([`text`]: title words factor 2, ROME label 1.5, description 1; words every offer uses, numbers and single letters left out); `matched_terms` names them |
//! | `distance` | `1 − d / limit`, `d` the great-circle distance from the centre of the home commune to the workplace's, `limit` the candidate's own maximum travel distance (`max_travel_km`, else `default_max_travel_km`; at most `public_transport_max_km` for candidates on public transport only); 0 when either centre is unknown ("distance unknown") |
//! | `availability` | 1 if available by the offer's `start_date` (else its publication, or today, whichever is later), then falling to 0 over `availability_grace_days` |
//! | `hours` | 1 − relative gap between the weekly hours wanted and offered; 1 when either is not given |
//! | `contract` | 1 if the candidate accepts the offer's contract type (no preference = all), else 0 |
//! | `vehicle` | 1 if the candidate has a vehicle or none is needed; a vehicle is needed when the offer requires one, requires a driving licence, or the workplace is more than 10 km away |
//! | `certifications` | the share of the offer's desired certifications held (1 when it desires none), with implications ([`crate::referentials::Certifications`]: `CE` ⇒ `C` ⇒ `B`, `SSIAP3` ⇒ `SSIAP2`…); required ones are a hard constraint, named in the same part's detail |
//! | `licence` | informative (weight 0): required licence held (or implied by a higher category), recorded as a licence or as its `PERMIS_*` certification |
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
//! A near miss failing for want of certifications (or a licence) also
//! carries `skills_gap`, both ways: the codes missing and the trainings
//! known here that grant them in time and within reach ([`gap`]).
//!
//! Never listed, not even as near misses: drafts (no consent), placed and
//! archived candidates (a placed candidate's own matches are empty), and
//! pairs below the relevance floor: no ROME relation and fewer than
//! `min_matched_terms` meaningful words of the offer in the candidate's
//! text (one shared word such as « permis » is not a match).
//!
//! ## One index pass ([`pass`])
//! Every part and every rule above is computed from the indexes' fast
//! fields inside a tantivy collector ([`crate::search::match_fields`]):
//! one pass over the candidates who share a ROME relation or a matching
//! term with the offer scores them at **every** workplace of the offer at
//! once, each workplace keeping a bounded heap of its best `limit` rows;
//! the reverse pass over the open offers keeps each offer at its best
//! workplace. The database is then read for the listed rows only, which
//! are evaluated in full (the explanations) by [`evaluate`]: the same
//! functions ([`total_score`], [`rank_key_of`], [`text::term_weight`]), so
//! the index pass orders exactly as evaluating every record would
//! (`node/tests/matching.rs`, `the_index_pass_ranks_as_evaluating_every_record`).
//!
//! Who is considered: for a workplace whose commune centre is known, the
//! candidates whose home is within [`PRESELECT_RADIUS_KM`] (or the default
//! travel limit if larger) or within their own travel limit (up to 500
//! km: one ready to travel 300 km is eligible 200 km away, as the
//! candidate → offers direction finds too); a workplace whose centre is unknown considers
//! every candidate (ROME and text only, distance unknown). For a
//! candidate with a known home, the offers with a workplace within their
//! travel limit ([`PRESELECT_RADIUS_KM`] with near misses). `considered`
//! and `excluded` count every relevant pair of the pass.
//!
//! The previous path (pre-selection by index queries capped at 1,000 per
//! workplace, every pre-selected record loaded and scored) is kept in
//! [`legacy`] for the benchmark's side-by-side comparison only.

pub mod gap;
pub mod legacy;
pub mod pass;
mod store;
pub mod text;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use vivier_protocol::{OfferPayload, Workplace};

use crate::actor::Actor;
use crate::auth::{Reason, User};
use crate::candidates::{Candidate, CandidateStatus, ConsentScope};
use crate::config::MatchingWeights;
use crate::error::{Error, Result};
use crate::geo::{haversine_km, Point};
use crate::http::ApiQuery;
use crate::offers::StoredOffer;
use crate::referentials::certifications::licence_code;
use crate::referentials::{Certifications, Referentials, RomeRelation};
use crate::server::AppState;
use text::{candidate_terms, relevance, relevance_with, term_weight, Idf, OfferTerms, TextMatch};

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

/// A part's value as it counts in the score: within 0..=1 (0 when not a
/// number), rounded to 0.001.
pub fn part_value(value: f64) -> f64 {
    if value.is_finite() {
        round3(value.clamp(0.0, 1.0))
    } else {
        0.0
    }
}

/// The values of the weighted parts, in the order of [`total_score`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PartValues {
    pub rome: f64,
    pub text: f64,
    pub distance: f64,
    pub availability: f64,
    pub hours: f64,
    pub contract: f64,
    pub vehicle: f64,
    pub certifications: f64,
}

/// `Σ weight × part` rounded to 0.1: the one definition of the score (the
/// record path and the index pass both call it).
pub fn total_score(v: &PartValues, w: &MatchingWeights) -> f64 {
    let total = [
        (v.rome, w.rome),
        (v.text, w.text),
        (v.distance, w.distance),
        (v.availability, w.availability),
        (v.hours, w.hours),
        (v.contract, w.contract),
        (v.vehicle, w.vehicle),
        (v.certifications, w.certifications),
    ]
    .iter()
    .map(|(value, weight)| part_value(*value) * weight)
    .sum::<f64>();
    round1(total)
}

/// The certifications part: the share of the offer's desired
/// certifications held (`held` of `desired`), 1 when it desires none.
pub fn desired_value(held: usize, desired: usize) -> f64 {
    if desired == 0 {
        1.0
    } else {
        held.min(desired) as f64 / desired as f64
    }
}

/// The ROME part: same code 1, same parent 0.75, same domain 0.4.
pub fn rome_value(relation: RomeRelation) -> f64 {
    match relation {
        RomeRelation::Same => 1.0,
        RomeRelation::SameParent => 0.75,
        RomeRelation::SameDomain => 0.4,
        RomeRelation::None => 0.0,
    }
}

/// The distance part: 1 at the door, 0 at the travel limit.
pub fn distance_value(d: f64, limit: f64) -> f64 {
    if limit > 0.0 {
        1.0 - d / limit
    } else if d == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The day availability is measured against: the start date, else the
/// publication, and never before today.
pub fn reference_day(start_day: Option<i64>, published_at_ms: i64, today: i64) -> i64 {
    start_day
        .unwrap_or_else(|| published_at_ms.div_euclid(DAY_MS))
        .max(today)
}

/// The day availability was measured against ([`reference_day`]), in words:
/// the start date when still ahead, else today (naming a start that has
/// passed), else the publication (when it lies ahead).
fn reference_words(
    start: Option<i64>,
    start_date: Option<&str>,
    reference: i64,
    today: i64,
) -> String {
    match (start, start_date) {
        (Some(day), Some(d)) if day == reference => format!("the start on {d}"),
        (Some(_), Some(d)) => format!("today (the start on {d} has passed)"),
        _ if reference == today => "today".to_string(),
        _ => "the offer's publication".to_string(),
    }
}

/// The availability part and the days late (0 when available by the
/// reference day); late beyond `grace` fails `not_available_by_start`.
pub fn availability_value(available_day: Option<i64>, reference: i64, grace: i64) -> (f64, i64) {
    match available_day {
        Some(day) if day > reference => {
            let late = day - reference;
            (1.0 - late as f64 / (grace.max(0) + 1) as f64, late)
        }
        _ => (1.0, 0),
    }
}

/// The hours part: 1 − relative gap between hours wanted and offered.
pub fn hours_value(want: Option<i64>, offered: Option<i64>) -> f64 {
    match (want, offered) {
        (Some(want), Some(offered)) if want > 0 && offered > 0 => {
            1.0 - (want - offered).abs() as f64 / want.max(offered) as f64
        }
        _ => 1.0,
    }
}

/// Travel limit from the raw fields (see [`travel_limit_km`]).
pub fn travel_limit_of(w: &MatchingWeights, max_travel_km: Option<i64>, pt_only: bool) -> f64 {
    let mut limit = max_travel_km
        .map(|k| k as f64)
        .unwrap_or(w.default_max_travel_km)
        .max(0.0);
    if pt_only {
        limit = limit.min(w.public_transport_max_km);
    }
    limit
}

/// The ordering key of a listed pair: eligible first, then score, then
/// nearest (ties broken by id by the caller).
pub fn rank_key_of(eligible: bool, score: f64, distance_km: Option<f64>) -> (bool, i64, i64) {
    (
        !eligible,
        -(score * 10.0).round() as i64,
        distance_km
            .map(|d| (round1(d) * 10.0) as i64)
            .unwrap_or(i64::MAX),
    )
}

pub(crate) fn round1(v: f64) -> f64 {
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
    /// The share of the desired certifications held (weight
    /// `certifications`); a missing required certification is a hard
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

impl Evaluation {
    /// Above the relevance floor: listed at all (eligible or near miss).
    pub fn relevant(&self) -> bool {
        self.relevant
    }
}

/// The candidate's travel limit: own, else default; capped for public
/// transport users.
pub fn travel_limit_km(w: &MatchingWeights, c: &Candidate) -> f64 {
    travel_limit_of(w, c.max_travel_km, c.public_transport_only)
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
/// archived). Someone already referred to an offer (`in_referral`) is still
/// looking for work and may be referred to others: missions refer a person
/// to several offers at once.
pub fn listable(c: &Candidate) -> bool {
    c.consent.is_some()
        && matches!(
            c.status,
            CandidateStatus::Active | CandidateStatus::InReferral
        )
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
    let rome_detail = match relation {
        RomeRelation::Same => format!("same ROME code {}", p.rome_code),
        RomeRelation::SameParent => {
            format!("ROME code related to {} (same parent code)", p.rome_code)
        }
        RomeRelation::SameDomain => format!("same job domain as {}", p.rome_code),
        RomeRelation::None => format!("no ROME code related to {}", p.rome_code),
    };
    let rome = Part::new(rome_value(relation), w.rome, rome_detail);
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
            Part::new(
                distance_value(d, limit),
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

    // Licence (hard), certifications (hard when required) and vehicle. A
    // licence counts whether recorded as a licence or as its `PERMIS_*`
    // certification.
    let certs = Certifications::global();
    let held = certs.held(&c.certifications, &c.driving_licences);
    let licence = match p.driving_licence.as_deref() {
        None => Part::new(1.0, 0.0, "no licence required"),
        Some(req) => {
            if Certifications::meets_licence(&held, req) {
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
    let certifications =
        if p.required_certifications.is_empty() && p.desired_certifications.is_empty() {
            Part::new(1.0, w.certifications, "no certification required")
        } else {
            let mut words = Vec::new();
            let mut desired_held = 0;
            for req in &p.required_certifications {
                if Certifications::satisfied(&held, req) {
                    words.push(format!("{req} required, held"));
                } else {
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
                    desired_held += 1;
                    words.push(format!("{d} appreciated, held"));
                } else {
                    words.push(format!("{d} appreciated, not held"));
                }
            }
            Part::new(
                desired_value(desired_held, p.desired_certifications.len()),
                w.certifications,
                words.join("; "),
            )
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
    let reference = reference_day(start, p.published_at, cx.today);
    let reference_words = reference_words(start, p.start_date.as_deref(), reference, cx.today);
    let grace = w.availability_grace_days.max(0);
    let available_day = c
        .available_from
        .as_deref()
        .and_then(crate::util::date_to_days);
    let (availability_v, late) = availability_value(available_day, reference, grace);
    let availability = match available_day {
        None => Part::new(1.0, w.availability, "available now"),
        Some(day) if day <= reference => Part::new(
            1.0,
            w.availability,
            format!("available by {reference_words}"),
        ),
        Some(_) => {
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
                availability_v,
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
        (Some(want), Some(offered)) if want > 0 && offered > 0 => Part::new(
            hours_value(Some(want), Some(offered)),
            w.hours,
            format!("wants {want} h a week, offer {offered} h"),
        ),
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
    let total = total_score(
        &PartValues {
            rome: parts.rome.value,
            text: parts.text.value,
            distance: parts.distance.value,
            availability: parts.availability.value,
            hours: parts.hours.value,
            contract: parts.contract.value,
            vehicle: parts.vehicle.value,
            certifications: parts.certifications.value,
        },
        w,
    );
    Evaluation {
        score: total,
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
    rank_key_of(e.eligible, e.score, e.distance_km)
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
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MatchParams {
    /// Per workplace (offer → candidates) or in all (candidate → offers);
    /// default 20, max 200 (and at most [`MAX_ROWS`] rows in all).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// List candidates failing a hard constraint too, with the reason
    /// (`true`/`false`, `1`/`0`).
    #[serde(default, deserialize_with = "crate::http::params::flag")]
    #[param(value_type = Option<bool>)]
    pub include_near_misses: Option<bool>,
    /// Only this workplace (index in the offer's `workplaces`).
    #[serde(default)]
    pub workplace: Option<usize>,
}

/// Most rows one answer of an offer's ranking may hold (`limit` per
/// workplace ranked): 200 workplaces at the default limit.
pub const MAX_ROWS: usize = 4_000;

impl MatchParams {
    /// For an offer: the checked `limit`, whether near misses are asked
    /// for, and `workplace` within the offer's workplaces. The rows asked
    /// for (`limit` × the workplaces ranked) are at most [`MAX_ROWS`].
    pub fn checked_for(&self, p: &OfferPayload) -> Result<(usize, bool)> {
        let limit = self.checked_limit()?;
        let ranked = match self.workplace {
            Some(i) if i >= p.workplaces.len() => {
                return Err(Error::field(
                    "workplace",
                    format!("the offer has {} workplaces", p.workplaces.len()),
                ));
            }
            Some(_) => 1,
            None => p.workplaces.len().max(1),
        };
        if limit.saturating_mul(ranked) > MAX_ROWS {
            return Err(Error::field(
                "limit",
                format!(
                    "{ranked} workplaces × {limit} rows is more than {MAX_ROWS} rows in one answer: \
                     ask for one workplace (`workplace`) or a lower limit (at most {})",
                    MAX_ROWS / ranked
                ),
            ));
        }
        Ok((limit, self.include_near_misses.unwrap_or(false)))
    }

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
    /// For a near miss lacking certifications: what is missing and the
    /// trainings that grant it ([`gap`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills_gap: Option<gap::SkillsGap>,
    /// What the ranking read of the record (shared by the rows of every
    /// workplace listing it): see [`CandidateMatch::record`].
    #[serde(skip)]
    record: Arc<Candidate>,
}

impl CandidateMatch {
    /// The record as the ranking read it (what the explanations use:
    /// ROME codes, home, travel limit, licences, certifications, vehicle,
    /// availability, hours, contracts). [`match_offer`] does not load its
    /// files nor its CV text (the text part comes from the index): they
    /// are empty here.
    pub fn record(&self) -> &Candidate {
        &self.record
    }
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

/// Evaluates loaded candidates at one workplace (full explanations) and
/// ranks them: relevant pairs only, eligible ones (then near misses when
/// asked), best `limit` first. Also returns how many were relevant and,
/// of those, ineligible.
#[allow(clippy::too_many_arguments)]
fn rank_candidates(
    state: &AppState,
    cx: &Context<'_>,
    side: OfferSide<'_>,
    wp: &Workplace,
    offer_terms: &OfferTerms,
    idf: &Idf,
    candidates: Vec<Arc<Candidate>>,
    held: &HashMap<String, Vec<bool>>,
    near_misses: bool,
    limit: usize,
) -> (Vec<CandidateMatch>, usize, usize) {
    let w = cx.weights;
    let mut scored: Vec<CandidateMatch> = candidates
        .into_iter()
        .filter(|c| listable(c))
        .map(|c| {
            // From the index's postings; a record the caller found no
            // terms for (the legacy pre-selection: not indexed yet) is
            // analysed here (the same terms, by construction).
            let text = match held.get(&c.id) {
                Some(flags) => relevance_with(
                    offer_terms,
                    idf,
                    |i, _| flags.get(i).copied().unwrap_or(false),
                    w.text_saturation,
                ),
                None => relevance(offer_terms, idf, &candidate_terms(&c), w.text_saturation),
            };
            let evaluation = evaluate(cx, side, wp, &c, &text);
            CandidateMatch {
                commune_name: state.refs.commune(&c.commune_insee).map(|x| x.name.clone()),
                candidate_id: c.id.clone(),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                commune_insee: c.commune_insee.clone(),
                evaluation,
                skills_gap: None,
                record: c,
            }
        })
        .filter(|m| m.evaluation.relevant)
        .collect();
    let (considered, excluded) = finish_ranking(
        &mut scored,
        |m| (&m.evaluation, m.candidate_id.as_str()),
        near_misses,
        limit,
    );
    (scored, considered, excluded)
}

/// Counts the relevant rows and the ineligible ones among them, drops the
/// ineligible ones unless near misses are asked for, orders by the ranking
/// key then id and keeps the best `limit`. Returns (considered, excluded).
fn finish_ranking<T>(
    rows: &mut Vec<T>,
    of: impl Fn(&T) -> (&Evaluation, &str),
    near_misses: bool,
    limit: usize,
) -> (usize, usize) {
    let considered = rows.len();
    let excluded = rows.iter().filter(|m| !of(m).0.eligible).count();
    if !near_misses {
        rows.retain(|m| of(m).0.eligible);
    }
    rows.sort_by(|a, b| {
        let (ea, ia) = of(a);
        let (eb, ib) = of(b);
        rank_key(ea).cmp(&rank_key(eb)).then_with(|| ia.cmp(ib))
    });
    rows.truncate(limit);
    (considered, excluded)
}

/// The offer side of an offer → candidates pass (its text terms are
/// added by [`with_terms`]).
#[allow(clippy::too_many_arguments)]
fn offer_spec(
    refs: &Referentials,
    offer: &StoredOffer,
    w: &MatchingWeights,
    today: i64,
    workplaces: &[(usize, &Workplace)],
    limit: usize,
    near_misses: bool,
    fit: Option<pass::FitSpec>,
) -> pass::OfferSpec {
    let p = &offer.payload;
    pass::OfferSpec {
        weights: w.clone(),
        rome_code: p.rome_code.clone(),
        related: refs.rome_codes_related_to(std::slice::from_ref(&p.rome_code)),
        terms: Vec::new(),
        driving_licence: p.driving_licence.clone(),
        required_certifications: p.required_certifications.clone(),
        desired_certifications: p.desired_certifications.clone(),
        vehicle_required: p.vehicle_required,
        reference_day: reference_day(
            p.start_date.as_deref().and_then(crate::util::date_to_days),
            p.published_at,
            today,
        ),
        weekly_hours: p.weekly_hours,
        contract_type: p.contract_type.as_str().to_string(),
        network: !offer.is_local,
        workplaces: workplaces
            .iter()
            .map(|(i, wp)| pass::WorkplaceSpec {
                index: *i,
                point: workplace_point(wp),
                commune_key: crate::search::commune_key(&wp.commune_insee),
            })
            .collect(),
        radius_km: PRESELECT_RADIUS_KM.max(w.default_max_travel_km),
        limit,
        near_misses,
        fit,
    }
}

/// The offer's matching terms weighted with their idf in the candidate
/// index (blocking: index reads).
fn with_terms(
    state: &AppState,
    terms: &OfferTerms,
    spec: pass::OfferSpec,
) -> Result<(Idf, pass::OfferSpec)> {
    let idf = index_idf(state, &terms.terms())?;
    let spec = pass::OfferSpec {
        terms: terms
            .0
            .iter()
            .map(|t| (t.term.clone(), term_weight(t.factor, idf.get(&t.term))))
            .collect(),
        ..spec
    };
    Ok((idf, spec))
}

/// The candidates who fit a network search's synthetic offer
/// ([`pass::candidates_fitting`]): one index pass over all its
/// workplaces, ids, best scores, nearest places and the places each fits;
/// nothing is loaded from the database.
pub async fn fit_offer(
    state: &AppState,
    offer: &StoredOffer,
    fit: pass::FitSpec,
) -> Result<Vec<pass::FitHit>> {
    let w = state.config.matching.clone();
    let workplaces: Vec<(usize, &Workplace)> =
        offer.payload.workplaces.iter().enumerate().collect();
    let spec = offer_spec(
        state.refs,
        offer,
        &w,
        today(state),
        &workplaces,
        0,
        false,
        Some(fit),
    );
    let terms = OfferTerms::of(state.refs, &offer.payload);
    let state = state.clone();
    tokio::task::spawn_blocking(move || -> Result<_> {
        let (_, spec) = with_terms(&state, &terms, spec)?;
        Ok(pass::candidates_fitting(
            &state.search.candidates.match_fields()?,
            spec,
        )?)
    })
    .await?
}

/// The rows listed by an offer → candidates pass (the union over its
/// workplaces, each loaded once and shared by the workplaces listing it):
/// the offer's terms each holds, from the index the pass ran on
/// (`searcher`, at the documents it found: the same index as the ranking,
/// no id looked up again), and the records without their files
/// ([`store::listed`], with their texts), from the database — both at
/// once. A row erased meanwhile is missing from the database's answer and
/// is not listed; a row edited since the pass's snapshot is explained with
/// the terms it held in that snapshot (the ranking's own view: its text
/// part as ranked) and the rest of its record as read now.
async fn listed_rows(
    state: &AppState,
    offer_terms: &OfferTerms,
    found: &[pass::PassResult],
    searcher: tantivy::Searcher,
) -> Result<(HashMap<String, Vec<bool>>, HashMap<String, Arc<Candidate>>)> {
    // A row listed at several workplaces appears once per workplace here;
    // the terms are read once per document (`terms_held_at`).
    let docs: Vec<(tantivy::DocAddress, String)> = found
        .iter()
        .flat_map(|r| r.top.iter().map(|h| (h.doc, h.id.clone())))
        .collect();
    let ids: Vec<String> = {
        let mut ids: Vec<String> = docs.iter().map(|(_, id)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let held = {
        let state = state.clone();
        let words = offer_terms.terms();
        tokio::task::spawn_blocking(move || {
            state
                .search
                .candidates
                .match_terms_held_at(&searcher, &docs, &words)
        })
    };
    let (held, rows) = tokio::join!(held, store::listed(&state.db, &ids));
    let held = held??;
    let loaded = rows?.into_iter().map(|(id, c)| (id, Arc::new(c))).collect();
    Ok((held, loaded))
}

/// Rank this node's consented, active candidates for each workplace of an
/// offer: one index pass for all workplaces ([`pass`]), then the top rows
/// loaded and explained.
pub async fn match_offer(
    state: &AppState,
    offer: &StoredOffer,
    params: &MatchParams,
) -> Result<OfferMatches> {
    let (limit, near_misses) = params.checked_for(&offer.payload)?;
    let p = &offer.payload;
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
    let workplaces: Vec<(usize, &Workplace)> = p
        .workplaces
        .iter()
        .enumerate()
        .filter(|(i, _)| params.workplace.is_none_or(|x| x == *i))
        .collect();
    let spec = offer_spec(
        state.refs,
        offer,
        &w,
        cx.today,
        &workplaces,
        limit,
        near_misses,
        None,
    );
    let (idf, found, searcher) = {
        let state = state.clone();
        let terms = offer_terms.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let (idf, spec) = with_terms(&state, &terms, spec)?;
            let fields = state.search.candidates.match_fields()?;
            let found = pass::candidates_for_offer(&fields, spec)?;
            Ok((idf, found, fields.searcher))
        })
        .await??
    };
    let (held, loaded) = listed_rows(state, &offer_terms, &found, searcher).await?;
    let mut out = Vec::with_capacity(workplaces.len());
    for ((index, wp), result) in workplaces.into_iter().zip(found) {
        let candidates: Vec<Arc<Candidate>> = result
            .top
            .iter()
            .filter_map(|h| loaded.get(&h.id).cloned())
            .collect();
        let (matches, _, _) = rank_candidates(
            state,
            &cx,
            side,
            wp,
            &offer_terms,
            &idf,
            candidates,
            &held,
            near_misses,
            limit,
        );
        out.push(WorkplaceMatches {
            index,
            commune_insee: wp.commune_insee.clone(),
            label: wp.label.clone(),
            positions: wp.positions,
            distance_known: workplace_point(wp).is_some(),
            considered: result.considered,
            excluded: result.excluded,
            matches,
        });
    }
    fill_offer_side_gaps(state, p, &mut out).await?;
    Ok(OfferMatches {
        offer_id: p.offer_id.clone(),
        origin_node: p.origin_node.to_string(),
        title: p.title.clone(),
        rome_code: p.rome_code.clone(),
        weights: w,
        workplaces: out,
    })
}

#[utoipa::path(get, path = "/api/v1/offers/{id}/matches", tag = "matching",
    params(("id" = String, Path, description = "Offer id"), MatchParams),
    responses((status = 200, description = "Candidates ranked for each workplace, with the reasons (staff, audited)", body = serde_json::Value),
        (status = 409, description = "The offer is closed (code offer_closed)")))]
async fn offer_matches_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<MatchParams>,
) -> Result<Json<OfferMatches>> {
    let actor = Actor::User(user);
    Ok(Json(
        offer_matches(&state, &actor, reason.0.as_deref(), &id, &params).await?,
    ))
}

/// Offer `id` → candidates for staff ([`match_offer`]), audited
/// `offer.matches` ([`offer_matches_of`]).
pub async fn offer_matches(
    state: &AppState,
    actor: &Actor,
    reason: Option<&str>,
    id: &str,
    params: &MatchParams,
) -> Result<OfferMatches> {
    actor.staff()?;
    let offer = crate::offers::get_offer(&state.db, id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    offer_matches_of(state, actor, reason, &offer, params, None).await
}

/// An offer → candidates ranking for staff ([`match_offer`]), audited
/// `offer.matches` through the read-audit writer: how many candidates were
/// listed, whether near misses were asked for, and `via` where it was
/// shown when not through the API (the offer page: `ui`).
pub async fn offer_matches_of(
    state: &AppState,
    actor: &Actor,
    reason: Option<&str>,
    offer: &StoredOffer,
    params: &MatchParams,
    via: Option<&str>,
) -> Result<OfferMatches> {
    let user = actor.staff()?;
    if offer.status != crate::offers::OfferStatus::Open {
        // Nobody can be referred to it any more (as candidate → offers
        // leaves closed offers out).
        return Err(Error::Refused {
            code: "offer_closed",
            message: format!(
                "offer {} is closed: its candidates are no longer ranked",
                offer.payload.offer_id
            ),
        });
    }
    let result = match_offer(state, offer, params).await?;
    let listed: usize = result.workplaces.iter().map(|w| w.matches.len()).sum();
    let mut details = serde_json::json!({
        "candidates_listed": listed,
        "include_near_misses": params.include_near_misses.unwrap_or(false),
    });
    if let Some(via) = via {
        details["via"] = via.into();
    }
    // A list of candidates, like a search page: audited through the
    // read-audit writer (queued before the answer, committed in the next
    // batch, `audit/reads.rs`), not one transaction and flush per ranking.
    state
        .read_audit
        .record(
            Some(user),
            "offer.matches",
            "offer",
            &offer.payload.offer_id,
            reason,
            details,
        )
        .await?;
    Ok(result)
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
    /// For a near miss lacking certifications: what is missing and the
    /// trainings that grant it ([`gap`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skills_gap: Option<gap::SkillsGap>,
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

/// Evaluates loaded offers for a candidate (open ones only, each at its
/// best workplace, full explanations) and ranks them: relevant pairs only,
/// eligible ones (then near misses when asked), best `limit` first. Also
/// returns how many were relevant and, of those, ineligible.
async fn rank_offers(
    state: &AppState,
    c: &Candidate,
    offers: Vec<StoredOffer>,
    near_misses: bool,
    limit: usize,
) -> Result<(Vec<OfferMatch>, usize, usize)> {
    let w = state.config.matching.clone();
    let offers: Vec<StoredOffer> = offers
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
            skills_gap: None,
        });
    }
    let (considered, excluded) = finish_ranking(
        &mut scored,
        |m| (&m.evaluation, m.offer_id.as_str()),
        near_misses,
        limit,
    );
    Ok((scored, considered, excluded))
}

/// Rank open offers (local and network) for a candidate: one pass over the
/// offer index ([`pass`]), then the top offers loaded and explained.
pub async fn match_candidate(
    state: &AppState,
    c: &Candidate,
    params: &MatchParams,
) -> Result<CandidateMatches> {
    let CandidateRun {
        limit,
        near_misses,
        radius,
    } = match CandidateRun::new(state, c, params)? {
        Ok(run) => run,
        Err(empty) => return Ok(empty),
    };
    let w = state.config.matching.clone();
    let spec = pass::CandidateSpec {
        weights: w.clone(),
        rome_codes: c.rome_codes.clone(),
        related: state.refs.rome_codes_related_to(&c.rome_codes),
        terms: Vec::new(),
        home: c.home,
        commune_key: crate::search::commune_key(&c.commune_insee),
        max_travel_km: c.max_travel_km,
        public_transport_only: c.public_transport_only,
        has_vehicle: c.has_vehicle,
        available_day: c
            .available_from
            .as_deref()
            .and_then(crate::util::date_to_days),
        weekly_hours: c.weekly_hours,
        contract_types: c
            .contract_types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        network_consent: c.consent.as_ref().map(|k| k.scope) == Some(ConsentScope::Network),
        held: Certifications::global().held(&c.certifications, &c.driving_licences),
        driving_licences: c.driving_licences.clone(),
        today: today(state),
        radius_km: radius,
        limit,
        near_misses,
    };
    let found = {
        let state = state.clone();
        let own_terms = candidate_terms(c);
        tokio::task::spawn_blocking(move || -> Result<_> {
            let fields = state.search.offers.match_fields()?;
            let mut present = pass::offer_terms_present(&fields, own_terms)?;
            present.sort();
            let idf = index_idf(&state, &present)?;
            let spec = pass::CandidateSpec {
                terms: present
                    .into_iter()
                    .map(|t| {
                        let v = idf.get(&t);
                        (t, v)
                    })
                    .collect(),
                ..spec
            };
            Ok(pass::offers_for_candidate(&fields, spec)?)
        })
        .await??
    };
    let ids: Vec<String> = found.top.iter().map(|h| h.id.clone()).collect();
    let offers = crate::offers::get_offers(&state.db, &ids).await?;
    let starts: HashMap<String, OfferDates> = offers
        .iter()
        .map(|o| {
            (
                o.payload.offer_id.clone(),
                (
                    o.payload.start_date.clone(),
                    o.payload.driving_licence.clone(),
                ),
            )
        })
        .collect();
    let (mut matches, _, _) = rank_offers(state, c, offers, near_misses, limit).await?;
    fill_skills_gaps(state, c, &mut matches, &starts).await?;
    Ok(CandidateRun::answer(
        state,
        c,
        found.considered,
        found.excluded,
        matches,
    ))
}

/// The codes a near miss lacks: missing required certifications, and a
/// missing licence as its `PERMIS_*` code.
fn missing_codes(e: &Evaluation, offer_licence: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = e
        .failed_constraints
        .iter()
        .filter_map(|f| match f.code {
            "missing_certification" => f.certification.clone(),
            "missing_licence" => offer_licence.map(licence_code),
            _ => None,
        })
        .collect();
    out.dedup();
    out
}

/// Adds the skills gap to every near miss of an offer's ranking lacking
/// certifications.
async fn fill_offer_side_gaps(
    state: &AppState,
    offer: &OfferPayload,
    workplaces: &mut [WorkplaceMatches],
) -> Result<()> {
    let licence = offer.driving_licence.as_deref();
    let any = workplaces
        .iter()
        .flat_map(|w| &w.matches)
        .any(|m| !m.evaluation.eligible && !missing_codes(&m.evaluation, licence).is_empty());
    if !any {
        return Ok(());
    }
    let mut all: Vec<String> = offer.required_certifications.clone();
    all.extend(licence.map(licence_code));
    let known = crate::opportunities::trainings_granting(state, &all).await?;
    for m in workplaces.iter_mut().flat_map(|w| w.matches.iter_mut()) {
        let missing = missing_codes(&m.evaluation, licence);
        if m.evaluation.eligible || missing.is_empty() {
            continue;
        }
        let trainings = gap::trainings_for(
            &missing,
            &known,
            m.record.home,
            m.evaluation.travel_limit_km,
            offer.start_date.as_deref(),
            today(state),
        );
        m.skills_gap = Some(gap::SkillsGap { missing, trainings });
    }
    Ok(())
}

/// An offer's start date and required licence.
type OfferDates = (Option<String>, Option<String>);

/// Adds the skills gap to every near miss lacking certifications.
async fn fill_skills_gaps(
    state: &AppState,
    c: &Candidate,
    matches: &mut [OfferMatch],
    starts: &HashMap<String, OfferDates>,
) -> Result<()> {
    let mut all: Vec<String> = Vec::new();
    let mut per: Vec<Vec<String>> = Vec::with_capacity(matches.len());
    for m in matches.iter() {
        let codes = if m.evaluation.eligible {
            Vec::new()
        } else {
            let licence = starts.get(&m.offer_id).and_then(|d| d.1.as_deref());
            missing_codes(&m.evaluation, licence)
        };
        all.extend(codes.iter().cloned());
        per.push(codes);
    }
    if all.is_empty() {
        return Ok(());
    }
    all.sort();
    all.dedup();
    let known = crate::opportunities::trainings_granting(state, &all).await?;
    for (m, missing) in matches.iter_mut().zip(per) {
        if missing.is_empty() {
            continue;
        }
        let trainings = gap::trainings_for(
            &missing,
            &known,
            c.home,
            m.evaluation.travel_limit_km,
            starts.get(&m.offer_id).and_then(|d| d.0.as_deref()),
            today(state),
        );
        m.skills_gap = Some(gap::SkillsGap { missing, trainings });
    }
    Ok(())
}

/// The parameters of a candidate → offers ranking.
struct CandidateRun {
    limit: usize,
    near_misses: bool,
    /// Offers must have a workplace this close to a known home.
    radius: f64,
}

impl CandidateRun {
    /// The checked parameters, or the (empty) answer for a candidate who
    /// cannot be listed (placed, archived).
    fn new(
        state: &AppState,
        c: &Candidate,
        params: &MatchParams,
    ) -> Result<std::result::Result<CandidateRun, CandidateMatches>> {
        let limit = params.checked_limit()?;
        let near_misses = params.include_near_misses.unwrap_or(false);
        if !listable(c) {
            return Ok(Err(CandidateRun::answer(state, c, 0, 0, Vec::new())));
        }
        let own_limit = travel_limit_km(&state.config.matching, c);
        let radius = if near_misses {
            PRESELECT_RADIUS_KM.max(own_limit)
        } else {
            own_limit
        };
        Ok(Ok(CandidateRun {
            limit,
            near_misses,
            radius,
        }))
    }

    fn answer(
        state: &AppState,
        c: &Candidate,
        considered: usize,
        excluded: usize,
        matches: Vec<OfferMatch>,
    ) -> CandidateMatches {
        let w = state.config.matching.clone();
        CandidateMatches {
            candidate_id: c.id.clone(),
            candidate_status: c.status.as_str(),
            travel_limit_km: travel_limit_km(&w, c),
            considered,
            excluded,
            weights: w,
            matches,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}/matches", tag = "matching",
    params(("id" = String, Path, description = "Candidate record id"), MatchParams),
    responses((status = 200, description = "Offers ranked for this person, with the reasons (staff, audited)", body = serde_json::Value)))]
async fn candidate_matches_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<MatchParams>,
) -> Result<Json<CandidateMatches>> {
    let actor = Actor::User(user);
    Ok(Json(
        candidate_matches(&state, &actor, reason.0.as_deref(), &id, &params).await?,
    ))
}

/// Candidate `id` (consented) → offers for staff ([`match_candidate`]),
/// audited `candidate.matches` ([`candidate_matches_of`]).
pub async fn candidate_matches(
    state: &AppState,
    actor: &Actor,
    reason: Option<&str>,
    id: &str,
    params: &MatchParams,
) -> Result<CandidateMatches> {
    actor.staff()?;
    if params.workplace.is_some() {
        return Err(Error::field("workplace", "only for offer matches"));
    }
    let c = crate::candidates::get_candidate(&state.db, id)
        .await?
        .filter(|c| c.consent.is_some())
        .ok_or(Error::NotFound("candidate"))?;
    candidate_matches_of(state, actor, reason, &c, params, None).await
}

/// A candidate → offers ranking for staff ([`match_candidate`]), audited
/// `candidate.matches` in its own transaction: how many offers were
/// listed, whether near misses were asked for, and `via` where it was
/// shown when not through the API (the record page: `ui`).
pub async fn candidate_matches_of(
    state: &AppState,
    actor: &Actor,
    reason: Option<&str>,
    c: &crate::candidates::Candidate,
    params: &MatchParams,
    via: Option<&str>,
) -> Result<CandidateMatches> {
    actor.staff()?;
    let result = match_candidate(state, c, params).await?;
    let mut details = serde_json::json!({
        "offers_listed": result.matches.len(),
        "include_near_misses": params.include_near_misses.unwrap_or(false),
    });
    if let Some(via) = via {
        details["via"] = via.into();
    }
    let mut tx = state.db.begin().await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.matches",
        ("candidate", &c.id),
        reason,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(result)
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(offer_matches_handler, candidate_matches_handler))]
pub(crate) struct Doc;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/offers/{id}/matches", get(offer_matches_handler))
        .route(
            "/api/v1/candidates/{id}/matches",
            get(candidate_matches_handler),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn availability_is_explained_against_the_day_it_was_measured_from() {
        let today = crate::util::date_to_days("2026-12-04").unwrap();
        let day = |d: &str| crate::util::date_to_days(d).unwrap();
        let words = |start: Option<&str>, published: i64| {
            let s = start.map(day);
            reference_words(s, start, reference_day(s, published * DAY_MS, today), today)
        };
        assert_eq!(words(Some("2027-01-04"), today), "the start on 2027-01-04");
        assert_eq!(words(Some("2026-12-04"), today), "the start on 2026-12-04");
        assert_eq!(
            words(Some("2025-01-01"), today - 400),
            "today (the start on 2025-01-01 has passed)"
        );
        assert_eq!(words(None, today - 30), "today");
        assert_eq!(words(None, today + 2), "the offer's publication");
    }

    #[test]
    fn an_answer_holds_at_most_max_rows() {
        let mut p = tests_support::offer("Aide à domicile", "K1302");
        p.workplaces = vec![p.workplaces[0].clone(); 200];
        let ask = |limit: usize, workplace: Option<usize>| MatchParams {
            limit: Some(limit),
            include_near_misses: Some(true),
            workplace,
        };
        // 200 workplaces at the default limit: the most allowed.
        assert_eq!(MatchParams::default().checked_for(&p).unwrap(), (20, false));
        assert_eq!(ask(20, None).checked_for(&p).unwrap(), (20, true));
        let Err(Error::Validation(errs)) = ask(21, None).checked_for(&p) else {
            panic!("200 workplaces × 21 rows accepted");
        };
        assert_eq!(errs[0].field, "limit");
        assert!(
            errs[0].message.contains("at most 20"),
            "{}",
            errs[0].message
        );
        // One workplace: the limit alone counts.
        assert_eq!(ask(200, Some(199)).checked_for(&p).unwrap(), (200, true));
        let Err(Error::Validation(errs)) = ask(200, Some(200)).checked_for(&p) else {
            panic!("workplace 200 of 200 accepted");
        };
        assert_eq!(errs[0].field, "workplace");
        p.workplaces.truncate(20);
        assert_eq!(ask(200, None).checked_for(&p).unwrap(), (200, true));
        p.workplaces.push(p.workplaces[0].clone());
        let Err(Error::Validation(errs)) = ask(200, None).checked_for(&p) else {
            panic!("21 workplaces × 200 rows accepted");
        };
        assert_eq!(errs[0].field, "limit");
    }
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
            positions_filled: 0,
            published_at: 0,
            updated_at: 0,
        }
    }
}
