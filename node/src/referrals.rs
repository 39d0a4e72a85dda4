//! Referrals (co-optation): a counsellor vouches for a consented candidate
//! for an offer; the node owning the offer shows the referral to the
//! employer, whose answers flow back.
//!
//! One `referrals` row per referral and node, with a `direction`:
//! - `outbound`: this node referred its candidate to another node's offer
//!   (`candidate_id` set, no stored profile: the candidate record is here);
//! - `inbound`: another node referred a candidate to one of this node's
//!   offers (`profile` holds the minimal profile received, no candidate id);
//! - `local`: this node's candidate for this node's offer (both).
//!
//! The status machine is [`ReferralStatus::can_transition_to`]. The offer's
//! side sets `processing`, `prior_to_hire`, `accepted`, `refused`,
//! `postponed`; the referring side sets `cancelled` (and `obsolete`, when
//! the candidate is hired through another referral). Every change writes a
//! `referral_events` row and, when the other side is another node, sends
//! `referral.status_changed` to it through the outbox, in the same
//! transaction. A hire writes a `placements` row on both nodes.
//!
//! Personal data: the minimal profile ([`crate::candidates::minimal_profile`])
//! is the only candidate data that leaves the home node, only to the
//! offer's origin, and only with a `network` consent. The referral id is
//! the `candidate_ref`, so the internal candidate id never leaves.

mod checks;
mod mails;

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};
use vivier_protocol::{
    CandidateProfile, ContractType, MessageKind, NodeId, OfferPayload, ReferralStatus,
    ReferralStatusChanged, ReferralSubmitted, ReferralTarget, ReferralWithdrawn, RefusalReason,
    WithdrawReason,
};

use crate::auth::{Reason, Role, User};
use crate::candidates::{CandidateStatus, ConsentScope, PlacementOutcome};
use crate::error::{ApiJson, Error, FieldError, Result};
use crate::federation::{invalid_payload, refusal, AfterCommit};
use crate::server::AppState;
use crate::util::{new_id, now_ms};

/// Longest endorsement note, in characters.
pub const MAX_ENDORSEMENT_CHARS: usize = 2000;
/// Longest status comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Actor name of changes made by the node itself (sweeps, cascades).
pub const SYSTEM_ACTOR: &str = "system";
const PENDING_SQL: &str = "('new', 'processing', 'prior_to_hire', 'postponed')";
const DAY_MS: i64 = 86_400_000;

// ---------------------------------------------------------------------------
// Vocabulary

/// Which side(s) of a referral this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node's candidate, another node's offer.
    Outbound,
    /// Another node's candidate, this node's offer.
    Inbound,
    /// This node's candidate and offer.
    Local,
}

impl Direction {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Local => "local",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            "local" => Some(Direction::Local),
            _ => None,
        }
    }

    /// This node owns the offer.
    pub fn offer_side(self) -> bool {
        matches!(self, Direction::Inbound | Direction::Local)
    }

    /// This node holds the candidate.
    pub fn referring_side(self) -> bool {
        matches!(self, Direction::Outbound | Direction::Local)
    }
}

/// Parse a status from its wire form.
pub fn parse_status(s: &str) -> Option<ReferralStatus> {
    ReferralStatus::ALL.into_iter().find(|x| x.as_str() == s)
}

const REASONS: [RefusalReason; 7] = [
    RefusalReason::NotMobile,
    RefusalReason::LackingSkills,
    RefusalReason::HiredElsewhere,
    RefusalReason::PositionFilled,
    RefusalReason::CandidateDeclined,
    RefusalReason::NoAnswer,
    RefusalReason::Other,
];

/// Wire form of a refusal reason.
pub fn reason_str(r: RefusalReason) -> &'static str {
    match r {
        RefusalReason::NotMobile => "not_mobile",
        RefusalReason::LackingSkills => "lacking_skills",
        RefusalReason::HiredElsewhere => "hired_elsewhere",
        RefusalReason::PositionFilled => "position_filled",
        RefusalReason::CandidateDeclined => "candidate_declined",
        RefusalReason::NoAnswer => "no_answer",
        RefusalReason::Other => "other",
    }
}

/// Parse a refusal reason from its wire form.
pub fn parse_reason(s: &str) -> Option<RefusalReason> {
    REASONS.into_iter().find(|r| reason_str(*r) == s)
}

/// Parse a contract type code (`CDI`, `CDD`, `MIS`, `SAI`, `ALT`).
pub fn parse_contract(s: &str) -> Option<ContractType> {
    [
        ContractType::Cdi,
        ContractType::Cdd,
        ContractType::Mis,
        ContractType::Sai,
        ContractType::Alternance,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
}

/// Statuses decided by the node that owns the offer (or the training /
/// immersion).
pub fn set_by_offer_side(s: ReferralStatus) -> bool {
    use ReferralStatus::*;
    matches!(
        s,
        Processing
            | PriorToHire
            | Accepted
            | Refused
            | Postponed
            | Admitted
            | Completed
            | Certified
            | Abandoned
    )
}

/// Statuses decided by the referring node.
pub fn set_by_referring_side(s: ReferralStatus) -> bool {
    matches!(s, ReferralStatus::Cancelled | ReferralStatus::Obsolete)
}

/// The statistics outcome of a hire.
pub fn placement_outcome(ct: ContractType, duration_months: Option<i64>) -> PlacementOutcome {
    match ct {
        ContractType::Cdi => PlacementOutcome::Cdi,
        ContractType::Cdd if duration_months.unwrap_or(0) >= 6 => {
            PlacementOutcome::Cdd6MonthsOrMore
        }
        ContractType::Cdd => PlacementOutcome::CddUnder6Months,
        ContractType::Alternance => PlacementOutcome::Apprenticeship,
        // Intérim and seasonal contracts are short contracts for funders.
        ContractType::Mis | ContractType::Sai => PlacementOutcome::CddUnder6Months,
    }
}

fn allowed_next(s: ReferralStatus, target: ReferralTarget) -> String {
    let next: Vec<&str> = ReferralStatus::ALL
        .into_iter()
        .filter(|n| s.can_transition_for(*n, target))
        .map(ReferralStatus::as_str)
        .collect();
    if next.is_empty() {
        "none (final status)".into()
    } else {
        next.join(", ")
    }
}

fn transition_message(from: ReferralStatus, to: ReferralStatus, target: ReferralTarget) -> String {
    format!(
        "invalid transition: a referral to {} {} that is {} cannot become {} (allowed next: {})",
        if target == ReferralTarget::Immersion {
            "an"
        } else {
            "a"
        },
        match target {
            ReferralTarget::Offer => "offer",
            ReferralTarget::Training => "training",
            ReferralTarget::Immersion => "immersion",
        },
        from.as_str(),
        to.as_str(),
        allowed_next(from, target)
    )
}

fn valid_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

// ---------------------------------------------------------------------------
// Storage

/// A stored referral, as this node sees it.
#[derive(Debug, Clone)]
pub struct StoredReferral {
    /// Referral id (chosen by the referring node).
    pub id: String,
    /// Offer id.
    pub offer_id: String,
    /// Node owning the offer.
    pub offer_origin: String,
    /// Node of the counsellor.
    pub referring_node: String,
    /// This node's side(s).
    pub direction: Direction,
    /// The candidate (referring side only; cleared on erasure).
    pub candidate_id: Option<String>,
    /// Minimal profile JSON (offer side only; cleared on erasure/withdrawal).
    pub profile: Option<String>,
    /// Counsellor's name.
    pub counsellor_name: String,
    /// Counsellor's user id (referring side).
    pub counsellor_id: Option<String>,
    /// Endorsement note.
    pub endorsement: String,
    /// Current status.
    pub status: ReferralStatus,
    /// Refusal reason.
    pub reason: Option<String>,
    /// Contract type of the hire.
    pub contract_type: Option<String>,
    /// Start date of the hire.
    pub start_date: Option<String>,
    /// Consent time (unix ms).
    pub consent_given_at: Option<i64>,
    /// Created (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
    /// Id of the `referral.submitted` message (outbound).
    pub message_id: Option<String>,
    /// Title of the offer, when this node holds it.
    pub offer_title: Option<String>,
    /// Code of the permanent refusal that made it `undeliverable`.
    pub delivery_error: Option<String>,
    /// The referring counsellor's e-mail (as the referral carried it).
    pub counsellor_email: Option<String>,
    /// The referring counsellor's phone (as the referral carried it).
    pub counsellor_phone: Option<String>,
    /// First and last name of this node's candidate (referring side, while
    /// the record exists).
    pub candidate_record_name: Option<String>,
    /// An offer, a training or an immersion (`offer_id` then holds the
    /// opportunity's id).
    pub target: ReferralTarget,
    /// For a training: the offer it prepares the candidate for.
    pub for_offer_id: Option<String>,
}

const COLUMNS: &str = "r.id AS id, r.offer_id AS offer_id, r.offer_origin AS offer_origin, \
    r.referring_node AS referring_node, r.direction AS direction, r.candidate_id AS candidate_id, \
    r.profile AS profile, r.counsellor_name AS counsellor_name, r.counsellor_id AS counsellor_id, \
    r.endorsement AS endorsement, r.status AS status, r.reason AS reason, r.contract_type AS contract_type, \
    r.start_date AS start_date, r.consent_given_at AS consent_given_at, r.created_at AS created_at, \
    r.updated_at AS updated_at, r.message_id AS message_id, COALESCE(o.title, t.title) AS offer_title, \
    r.delivery_error AS delivery_error, r.counsellor_email AS counsellor_email, \
    r.counsellor_phone AS counsellor_phone, c.first_name AS cand_first_name, c.last_name AS cand_last_name, \
    r.target AS target, r.for_offer_id AS for_offer_id";
const FROM: &str = "referrals r LEFT JOIN offers o ON o.id = r.offer_id \
    LEFT JOIN opportunities t ON t.id = r.offer_id \
    LEFT JOIN candidates c ON c.id = r.candidate_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredReferral> {
    let direction: String = r.try_get("direction")?;
    let status: String = r.try_get("status")?;
    let target: String = r.try_get("target")?;
    Ok(StoredReferral {
        id: r.try_get("id")?,
        offer_id: r.try_get("offer_id")?,
        offer_origin: r.try_get("offer_origin")?,
        referring_node: r.try_get("referring_node")?,
        direction: Direction::parse(&direction).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("unknown referral direction {direction}"))
        })?,
        candidate_id: r.try_get("candidate_id")?,
        profile: r.try_get("profile")?,
        counsellor_name: r.try_get("counsellor_name")?,
        counsellor_id: r.try_get("counsellor_id")?,
        endorsement: r.try_get("endorsement")?,
        status: parse_status(&status)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown referral status {status}")))?,
        reason: r.try_get("reason")?,
        contract_type: r.try_get("contract_type")?,
        start_date: r.try_get("start_date")?,
        consent_given_at: r.try_get("consent_given_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        message_id: r.try_get("message_id")?,
        offer_title: r.try_get("offer_title")?,
        delivery_error: r.try_get("delivery_error")?,
        counsellor_email: r.try_get("counsellor_email")?,
        counsellor_phone: r.try_get("counsellor_phone")?,
        candidate_record_name: {
            let first: Option<String> = r.try_get("cand_first_name")?;
            let last: Option<String> = r.try_get("cand_last_name")?;
            first.zip(last).map(|(f, l)| format!("{f} {l}"))
        },
        target: ReferralTarget::parse(&target)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown referral target {target}")))?,
        for_offer_id: r.try_get("for_offer_id")?,
    })
}

async fn load_tx(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Option<StoredReferral>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One referral by id (no visibility check, no audit).
pub async fn get_referral(state: &AppState, id: &str) -> Result<Option<StoredReferral>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// What the referrals need of an offer.
struct OfferInfo {
    payload: OfferPayload,
    open: bool,
    is_local: bool,
}

async fn offer_tx(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Option<OfferInfo>> {
    let row = sqlx::query("SELECT status, payload, is_local FROM offers WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: String = row.try_get("payload")?;
    let payload: OfferPayload = serde_json::from_str(&payload)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored offer payload: {e}")))?;
    let status: String = row.try_get("status")?;
    let is_local: i64 = row.try_get("is_local")?;
    Ok(Some(OfferInfo {
        payload,
        open: status == "open",
        is_local: is_local != 0,
    }))
}

async fn offer_owner(state: &AppState, offer_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT owner_user_id, is_local FROM offers WHERE id = $1")
        .bind(offer_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let is_local: i64 = row.try_get("is_local")?;
    if is_local == 0 {
        return Ok(None);
    }
    Ok(row.try_get("owner_user_id")?)
}

/// A status change to apply.
#[derive(Debug, Clone)]
pub struct Change {
    /// New status.
    pub status: ReferralStatus,
    /// Refusal reason (refused).
    pub reason: Option<RefusalReason>,
    /// Contract type (accepted).
    pub contract_type: Option<ContractType>,
    /// Start date `YYYY-MM-DD` (accepted).
    pub start_date: Option<String>,
    /// Free comment.
    pub comment: Option<String>,
}

impl Change {
    fn to(status: ReferralStatus, comment: &str) -> Change {
        Change {
            status,
            reason: None,
            contract_type: None,
            start_date: None,
            comment: Some(comment.to_string()),
        }
    }
}

/// Who makes a change.
struct Actor<'a> {
    name: &'a str,
    node: &'a str,
    user_id: Option<&'a str>,
    at: i64,
}

async fn insert_event(
    tx: &mut Transaction<'_, Any>,
    referral_id: &str,
    change: &Change,
    actor: &Actor<'_>,
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
    .bind(actor.name)
    .bind(actor.node)
    .bind(actor.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Update the row, log the event and, with `notify`, tell the other node.
/// Fails with `Conflict` on a transition the state machine refuses or when
/// the row changed meanwhile.
async fn write_transition(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    change: &Change,
    actor: &Actor<'_>,
    notify: bool,
) -> Result<()> {
    if !row.status.can_transition_for(change.status, row.target) {
        return Err(Error::Conflict(transition_message(
            row.status,
            change.status,
            row.target,
        )));
    }
    let updated = sqlx::query(
        "UPDATE referrals SET status = $2, reason = $3, contract_type = COALESCE($4, contract_type), \
         start_date = COALESCE($5, start_date), updated_at = $6 WHERE id = $1 AND status = $7",
    )
    .bind(&row.id)
    .bind(change.status.as_str())
    .bind(change.reason.map(reason_str))
    .bind(change.contract_type.map(ContractType::as_str))
    .bind(&change.start_date)
    .bind(now_ms())
    .bind(row.status.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::Conflict(
            "the referral changed meanwhile; reload it and try again".into(),
        ));
    }
    insert_event(tx, &row.id, change, actor).await?;
    if notify {
        let dest = match row.direction {
            Direction::Inbound if set_by_offer_side(change.status) => Some(&row.referring_node),
            Direction::Outbound if set_by_referring_side(change.status) => Some(&row.offer_origin),
            _ => None,
        };
        if let Some(dest) = dest {
            let dest = NodeId::parse(dest)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored node id {dest}: {e}")))?;
            let msg = ReferralStatusChanged {
                referral_id: row.id.clone(),
                offer_id: row.offer_id.clone(),
                status: change.status,
                reason: change.reason,
                contract_type: change.contract_type,
                start_date: change.start_date.clone(),
                comment: change.comment.clone(),
                changed_by: actor.name.to_string(),
                changed_at: actor.at,
            };
            crate::federation::enqueue_direct(
                state,
                tx,
                &dest,
                MessageKind::ReferralStatusChanged,
                &msg,
            )
            .await?;
        }
    }
    Ok(())
}

async fn set_candidate_status(
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
    status: CandidateStatus,
    only_if: &[CandidateStatus],
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
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let changed = res.rows_affected() > 0;
    if changed {
        crate::journal::append(
            tx,
            crate::journal::Kind::IndexCandidate,
            candidate_id,
            now_ms(),
        )
        .await?;
    }
    Ok(changed)
}

async fn pending_count(tx: &mut Transaction<'_, Any>, candidate_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM referrals WHERE candidate_id = $1 AND status IN {PENDING_SQL}"
    ))
    .bind(candidate_id)
    .fetch_one(&mut **tx)
    .await?)
}

/// Apply a transition and its consequences: placements on a hire (both
/// sides), the candidate's status and the obsolescence of their other
/// pending referrals (home side). Returns the candidate to re-index.
async fn transition(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    change: &Change,
    actor: &Actor<'_>,
    notify: bool,
) -> Result<Option<String>> {
    write_transition(state, tx, row, change, actor, notify).await?;
    if let Some(counsellor) = &row.counsellor_id {
        let answer = row.direction.referring_side() && set_by_offer_side(change.status);
        if answer && actor.user_id != Some(counsellor.as_str()) {
            let title = row.offer_title.as_deref().unwrap_or("votre offre");
            mails::referral_answered(
                state,
                tx,
                &row.id,
                counsellor,
                title,
                change.status,
                change.comment.as_deref(),
            )
            .await?;
        }
    }
    if change.status == ReferralStatus::Cancelled
        && undoes_employer_decision(row.status)
        && row.direction.offer_side()
    {
        tell_employer_cancelled(state, tx, row, actor).await?;
    }
    let home = if row.direction.referring_side() {
        row.candidate_id.clone()
    } else {
        None
    };
    if change.status == ReferralStatus::Certified {
        if let Some(cid) = &home {
            grant_certifications(state, tx, row, cid, actor).await?;
        }
    }
    match change.status {
        ReferralStatus::Accepted => {
            let ct = change
                .contract_type
                .or_else(|| row.contract_type.as_deref().and_then(parse_contract))
                .ok_or_else(|| Error::field("contract_type", "required when status is accepted"))?;
            let offer = offer_tx(tx, &row.offer_id).await?.map(|o| o.payload);
            let duration = offer.as_ref().and_then(|o| o.duration_months);
            // The candidate's home node counts the return to work; the
            // offer's node records a hire through the network.
            let side = if row.direction == Direction::Inbound {
                crate::reports::Side::Offer
            } else {
                crate::reports::Side::Home
            };
            let start = change
                .start_date
                .clone()
                .or_else(|| row.start_date.clone())
                .filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
            crate::reports::facts::insert_placement(
                tx,
                &state.config.reports,
                &state.config.aids,
                crate::reports::NewPlacement {
                    candidate_id: home.clone(),
                    outcome: placement_outcome(ct, duration),
                    referral_id: Some(row.id.clone()),
                    recorded_by: actor.user_id.map(str::to_string),
                    recorded_at: actor.at,
                    contract: crate::reports::ContractFacts {
                        start,
                        end: None,
                        duration_months: duration,
                        weekly_hours: offer.as_ref().and_then(|o| o.weekly_hours),
                    },
                    channel: crate::reports::Channel::Platform,
                    side,
                    rome_code: offer.as_ref().map(|o| o.rome_code.clone()),
                },
            )
            .await?;
            if row.direction.offer_side() {
                // Boxed: closing the offer refuses its pending referrals (recursion).
                Box::pin(crate::offers::hires_changed(
                    state,
                    tx,
                    &row.offer_id,
                    actor.at,
                ))
                .await?;
            }
            if let Some(cid) = &home {
                set_candidate_status(
                    tx,
                    cid,
                    CandidateStatus::Placed,
                    &[
                        CandidateStatus::Active,
                        CandidateStatus::InReferral,
                        CandidateStatus::Archived,
                    ],
                )
                .await?;
                let others = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM {FROM} WHERE r.candidate_id = $1 AND r.id <> $2 AND r.status IN {PENDING_SQL}"
                ))
                .bind(cid)
                .bind(&row.id)
                .fetch_all(&mut **tx)
                .await?;
                let me = state.identity.node_id.to_string();
                for o in &others {
                    let other = from_row(o)?;
                    let system = Actor {
                        name: SYSTEM_ACTOR,
                        node: &me,
                        user_id: None,
                        at: actor.at,
                    };
                    write_transition(
                        state,
                        tx,
                        &other,
                        &Change::to(
                            ReferralStatus::Obsolete,
                            "candidat embauché par une autre mise en relation",
                        ),
                        &system,
                        true,
                    )
                    .await?;
                }
            }
            Ok(home)
        }
        ReferralStatus::Cancelled if row.status == ReferralStatus::Accepted => {
            // A cancelled hire is not a hire: it leaves the statistics.
            sqlx::query("DELETE FROM placements WHERE referral_id = $1")
                .bind(&row.id)
                .execute(&mut **tx)
                .await?;
            if row.direction.offer_side() {
                // Boxed: closing the offer refuses its pending referrals (recursion).
                Box::pin(crate::offers::hires_changed(
                    state,
                    tx,
                    &row.offer_id,
                    actor.at,
                ))
                .await?;
            }
            if let Some(cid) = &home {
                let placed: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE candidate_id = $1")
                        .bind(cid)
                        .fetch_one(&mut **tx)
                        .await?;
                if placed == 0 {
                    let next = if pending_count(tx, cid).await? > 0 {
                        CandidateStatus::InReferral
                    } else {
                        CandidateStatus::Active
                    };
                    set_candidate_status(tx, cid, next, &[CandidateStatus::Placed]).await?;
                }
            }
            Ok(home)
        }
        s if !s.is_pending() => {
            if let Some(cid) = &home {
                if pending_count(tx, cid).await? == 0 {
                    set_candidate_status(
                        tx,
                        cid,
                        CandidateStatus::Active,
                        &[CandidateStatus::InReferral],
                    )
                    .await?;
                }
            }
            Ok(home)
        }
        _ => Ok(None),
    }
}

/// A training referral became `certified` at the candidate's home node:
/// the certifications the training grants (from its stored payload) are
/// added to the candidate's record, audited, in the transaction of the
/// change.
async fn grant_certifications(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    candidate_id: &str,
    actor: &Actor<'_>,
) -> Result<()> {
    let Some(training) = crate::opportunities::get_tx(tx, &row.offer_id).await? else {
        return Ok(());
    };
    let codes = training.payload.certifications_granted;
    let added = crate::candidates::add_certifications(tx, candidate_id, &codes).await?;
    let me = state.identity.node_id.to_string();
    let who = if actor.node == me {
        crate::actor::Actor::System("referral.certified")
    } else {
        crate::actor::Actor::Peer(
            NodeId::parse(actor.node)
                .map_err(|e| Error::Internal(anyhow::anyhow!("node id {}: {e}", actor.node)))?,
        )
    };
    crate::audit::append(
        tx,
        &who,
        "candidate.certifications_granted",
        ("candidate", candidate_id),
        None,
        serde_json::json!({
            "referral_id": row.id,
            "opportunity_id": row.offer_id,
            "granted": codes,
            "added": added,
            "certified_by": actor.name,
        }),
    )
    .await?;
    Ok(())
}

/// The referring counsellor cancelled a referral the employer had decided
/// on (hire, « avant embauche », postponement): the offer's owner is told,
/// in the transaction of the change. The notice names no candidate; the
/// reason is in the referral's history behind the link.
async fn tell_employer_cancelled(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    actor: &Actor<'_>,
) -> Result<()> {
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT owner_user_id FROM offers WHERE id = $1 AND is_local = 1")
            .bind(&row.offer_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(user_id) = owner.flatten() else {
        return Ok(());
    };
    let title = row.offer_title.as_deref().unwrap_or(&row.offer_id);
    let who = if actor.name == SYSTEM_ACTOR {
        "Le membre qui a proposé le candidat"
    } else {
        actor.name
    };
    let decision = match row.status {
        ReferralStatus::Accepted => "l'embauche que vous aviez enregistrée",
        ReferralStatus::PriorToHire => "votre réponse « Avant embauche »",
        _ => "votre mise en attente",
    };
    crate::notifications::notify(
        state,
        tx,
        crate::notifications::NewNotice {
            user_id,
            kind: crate::notifications::NoticeKind::ReferralCancelled,
            subject_type: "referral",
            subject_id: row.id.clone(),
            message: format!(
                "{who} a annulé une mise en relation pour l'offre « {title} », malgré {decision} ; \
                 le motif est dans l'historique."
            ),
            link: format!("/ui/mises-en-relation/{}", row.id),
        },
    )
    .await
}

/// After a commit that may have changed a candidate's status: the journal
/// entry was written with it; wake the index follower.
async fn reindex_candidate(state: &AppState, id: Option<String>) {
    if id.is_some() {
        crate::journal::wake(state);
    }
}

// ---------------------------------------------------------------------------
// Views

/// A referral as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralView {
    /// Id.
    pub id: String,
    /// Offer.
    pub offer_id: String,
    /// Offer title, when known here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_title: Option<String>,
    /// Node owning the offer.
    pub offer_origin: String,
    /// Node of the counsellor.
    pub referring_node: String,
    /// `outbound`, `inbound` or `local`.
    pub direction: Direction,
    /// The candidate (staff of the home node only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_id: Option<String>,
    /// The minimal profile (detail view, offer side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CandidateProfile>,
    /// The candidate's first and last name, in lists too: from the profile
    /// received (offer side) or the record (home side); none once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_name: Option<String>,
    /// Counsellor's name.
    pub counsellor_name: String,
    /// Counsellor's e-mail, for the employer to reach them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_email: Option<String>,
    /// Counsellor's phone, for the employer to reach them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_phone: Option<String>,
    /// Counsellor's user id (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_id: Option<String>,
    /// Endorsement note (detail view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endorsement: Option<String>,
    /// Status.
    pub status: ReferralStatus,
    /// Refusal reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Contract type of the hire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<String>,
    /// Start date of the hire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// When the candidate consented (unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_given_at: Option<i64>,
    /// Created (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
    /// Why it is `undeliverable`: the refusal code and its French text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<DeliveryError>,
    /// `offer`, `training` or `immersion` (`offer_id` is then the
    /// opportunity's id).
    #[schema(value_type = String)]
    pub target: ReferralTarget,
    /// For a training: the offer it prepares the candidate for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_offer_id: Option<String>,
    /// For an offer (detail view, home node's staff): the candidate's
    /// referrals to trainings "for" this offer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_trainings: Vec<TrainingBefore>,
}

/// A referral to a training that prepared the candidate for an offer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainingBefore {
    /// The referral to the training.
    pub referral_id: String,
    /// The training's title, when known here.
    pub title: Option<String>,
    /// Its status (`certified`, `completed`…).
    pub status: ReferralStatus,
}

/// Why the network refused a referral for good.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryError {
    /// Stable code (`offer_closed`, `member_left`, `this_node_not_member`…).
    pub code: String,
    /// In French, as counsellors read it.
    pub message: String,
}

/// The names of a stored profile, without the rest of it.
#[derive(Deserialize)]
struct ProfileName {
    first_name: String,
    last_name: String,
}

fn view(r: &StoredReferral, user: &User, detail: bool) -> Result<ReferralView> {
    let staff = user.require_staff().is_ok();
    let candidate = match (&r.profile, detail) {
        (Some(p), true) => Some(
            serde_json::from_str::<CandidateProfile>(p)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored referral profile: {e}")))?,
        ),
        _ => None,
    };
    let candidate_name = match (&candidate, &r.profile) {
        (Some(p), _) => Some(format!("{} {}", p.first_name, p.last_name)),
        (None, Some(p)) => serde_json::from_str::<ProfileName>(p)
            .ok()
            .map(|n| format!("{} {}", n.first_name, n.last_name)),
        // The home side's staff: the record's own name.
        (None, None) if staff => r.candidate_record_name.clone(),
        (None, None) => None,
    };
    Ok(ReferralView {
        id: r.id.clone(),
        offer_id: r.offer_id.clone(),
        offer_title: r.offer_title.clone(),
        offer_origin: r.offer_origin.clone(),
        referring_node: r.referring_node.clone(),
        direction: r.direction,
        candidate_id: if staff { r.candidate_id.clone() } else { None },
        candidate,
        candidate_name,
        counsellor_name: r.counsellor_name.clone(),
        counsellor_email: r.counsellor_email.clone(),
        counsellor_phone: r.counsellor_phone.clone(),
        counsellor_id: if staff { r.counsellor_id.clone() } else { None },
        endorsement: detail.then(|| r.endorsement.clone()),
        status: r.status,
        reason: r.reason.clone(),
        contract_type: r.contract_type.clone(),
        start_date: r.start_date.clone(),
        consent_given_at: r.consent_given_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        delivery_error: r.delivery_error.as_ref().map(|code| DeliveryError {
            code: code.clone(),
            message: crate::federation::outcomes::refusal_fr(code),
        }),
        target: r.target,
        for_offer_id: r.for_offer_id.clone(),
        after_trainings: Vec::new(),
    })
}

/// Whether `user` may see `r`: staff see every referral of this node;
/// employers only the referrals made to their own offers.
async fn visible(state: &AppState, user: &User, r: &StoredReferral) -> Result<bool> {
    match user.role {
        Role::Admin | Role::Counsellor => Ok(true),
        Role::Employer => {
            if !r.direction.offer_side() {
                return Ok(false);
            }
            Ok(offer_owner(state, &r.offer_id).await?.as_deref() == Some(user.id.as_str()))
        }
    }
}

async fn visible_referral(state: &AppState, user: &User, id: &str) -> Result<StoredReferral> {
    let r = get_referral(state, id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    if !visible(state, user, &r).await? {
        return Err(Error::NotFound("referral"));
    }
    Ok(r)
}

// ---------------------------------------------------------------------------
// Creating a referral

/// `POST /api/v1/referrals`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    /// Offer (local or network); or give `opportunity_id`.
    #[serde(default)]
    pub offer_id: String,
    /// A training or an immersion (local or network) instead of an offer.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// With a training: the offer (local or network) it prepares the
    /// candidate for (the skills gap).
    #[serde(default)]
    pub for_offer_id: Option<String>,
    /// Candidate of this node.
    pub candidate_id: String,
    /// Why the counsellor recommends the candidate (1 to 2000 characters).
    pub endorsement: String,
}

/// What a new referral is for, as this node knows it.
struct Target {
    id: String,
    origin_node: NodeId,
    is_local: bool,
    open: bool,
    target: ReferralTarget,
    for_offer_id: Option<String>,
}

/// The offer, or the training / immersion, a new referral names (field
/// errors for what is missing or unknown).
async fn resolve_target(
    state: &AppState,
    input: &NewReferral,
    errs: &mut Vec<FieldError>,
) -> Result<Option<Target>> {
    let offer_id = input.offer_id.trim();
    let opportunity_id = input
        .opportunity_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let for_offer_id = input
        .for_offer_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (offer_id.is_empty(), opportunity_id) {
        (false, Some(_)) => {
            errs.push(FieldError::new(
                "opportunity_id",
                "give offer_id or opportunity_id, not both",
            ));
            Ok(None)
        }
        (true, None) => {
            errs.push(FieldError::new(
                "offer_id",
                "required: the offer (or give opportunity_id for a training or an immersion)",
            ));
            Ok(None)
        }
        (false, None) => {
            if for_offer_id.is_some() {
                errs.push(FieldError::new(
                    "for_offer_id",
                    "only for a referral to a training (opportunity_id)",
                ));
            }
            let Some(o) = crate::offers::get_offer(&state.db, offer_id).await? else {
                errs.push(FieldError::new(
                    "offer_id",
                    "no offer with this id on this node",
                ));
                return Ok(None);
            };
            Ok(Some(Target {
                id: o.payload.offer_id,
                origin_node: o.payload.origin_node,
                is_local: o.is_local,
                open: o.status == crate::offers::OfferStatus::Open,
                target: ReferralTarget::Offer,
                for_offer_id: None,
            }))
        }
        (true, Some(oid)) => {
            let Some(o) = crate::opportunities::get(state, oid).await? else {
                errs.push(FieldError::new(
                    "opportunity_id",
                    "no training or immersion with this id on this node",
                ));
                return Ok(None);
            };
            let target = o.payload.opportunity_type.target();
            if let Some(f) = for_offer_id {
                if target != ReferralTarget::Training {
                    errs.push(FieldError::new(
                        "for_offer_id",
                        "only a training prepares for an offer",
                    ));
                } else if crate::offers::get_offer(&state.db, f).await?.is_none() {
                    errs.push(FieldError::new(
                        "for_offer_id",
                        "no offer with this id on this node",
                    ));
                }
            }
            Ok(Some(Target {
                id: o.payload.opportunity_id,
                origin_node: o.payload.origin_node,
                is_local: o.is_local,
                open: o.status == crate::opportunities::OpportunityStatus::Open,
                target,
                for_offer_id: for_offer_id.map(str::to_string),
            }))
        }
    }
}

fn unique_violation(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

/// Refer a candidate of this node to an offer (staff).
pub async fn create(state: &AppState, user: &User, input: NewReferral) -> Result<ReferralView> {
    let prepared = prepare(state, user, input).await?;
    let mut tx = state.db.begin().await?;
    store(state, user, &prepared, &mut tx).await?;
    tx.commit().await?;
    created(state, user, prepared).await
}

/// A referral checked and built ([`prepare`]), to be stored in a
/// transaction ([`store`]) and, once committed, announced ([`created`]).
pub struct Prepared {
    id: String,
    offer: Target,
    offer_id: String,
    candidate_id: String,
    direction: Direction,
    profile: vivier_protocol::CandidateProfile,
    submitted: ReferralSubmitted,
    consent_given_at: i64,
    endorsement: String,
    counsellor_phone: Option<String>,
    cv_text_truncated: bool,
    now: i64,
}

impl Prepared {
    /// The referral's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Checks a new referral (policy, consent, statuses, the target) and
/// builds what will be stored and sent; reads only.
pub async fn prepare(state: &AppState, user: &User, input: NewReferral) -> Result<Prepared> {
    user.require_staff()?;
    let endorsement = input.endorsement.trim().to_string();
    let mut errs = Vec::new();
    let n = endorsement.chars().count();
    if n == 0 {
        errs.push(FieldError::new(
            "endorsement",
            "must not be empty: say why you recommend this candidate",
        ));
    } else if n > MAX_ENDORSEMENT_CHARS {
        errs.push(FieldError::new(
            "endorsement",
            format!("at most {MAX_ENDORSEMENT_CHARS} characters (got {n})"),
        ));
    }
    let offer = resolve_target(state, &input, &mut errs).await?;
    let candidate = crate::candidates::get_candidate(&state.db, input.candidate_id.trim()).await?;
    if candidate.is_none() {
        errs.push(FieldError::new(
            "candidate_id",
            "no candidate with this id on this node",
        ));
    }
    let (Some(offer), Some(candidate)) = (offer, candidate) else {
        return Err(Error::Validation(errs));
    };
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let consent = candidate.consent.clone().ok_or_else(|| {
        Error::Conflict(
            "the candidate has not consented: record their consent before referring them".into(),
        )
    })?;
    if !offer.is_local && consent.scope != ConsentScope::Network {
        return Err(Error::Conflict(format!(
            "this {} belongs to node {}: referring the candidate there needs their consent with scope \
             network (their consent is {})",
            offer.target.as_str(),
            offer.origin_node,
            consent.scope.as_str()
        )));
    }
    if !matches!(
        candidate.status,
        CandidateStatus::Active | CandidateStatus::InReferral
    ) {
        return Err(Error::Conflict(format!(
            "the candidate is {}: only active or in_referral candidates can be referred",
            candidate.status.as_str()
        )));
    }
    if !offer.open {
        return Err(Error::Conflict(format!(
            "the {} is closed",
            offer.target.as_str()
        )));
    }
    if !offer.is_local {
        crate::federation::ensure_member(state)?;
    }
    let id = new_id();
    let now = now_ms();
    let direction = if offer.is_local {
        Direction::Local
    } else {
        Direction::Outbound
    };
    let profile = crate::candidates::minimal_profile(&candidate, &id);
    // How the employer reaches the counsellor: the account's e-mail and
    // work phone, carried by the referral.
    let counsellor_phone = crate::auth::user_phone(&state.db, &user.id).await?;
    let offer_id = offer.id.clone();
    // What leaves the node: the minimal profile, its CV text cut (and
    // flagged) when the whole message would exceed the protocol's limit.
    let mut submitted = ReferralSubmitted {
        referral_id: id.clone(),
        offer_id: offer_id.clone(),
        target: offer.target,
        for_offer_id: offer.for_offer_id.clone(),
        referring_node: state.identity.node_id.clone(),
        counsellor_name: user.display_name.clone(),
        counsellor_email: Some(user.email.clone()),
        counsellor_phone: counsellor_phone.clone(),
        endorsement: endorsement.clone(),
        candidate: profile.clone(),
        consent_given_at: consent.given_at,
        submitted_at: now,
    };
    let cv_text_truncated = direction == Direction::Outbound
        && submitted.fit_to_message_limit().map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "referral {id} cannot fit in a message: {e}"
            ))
        })?;
    Ok(Prepared {
        id,
        offer,
        offer_id,
        candidate_id: candidate.id.clone(),
        direction,
        profile,
        submitted,
        consent_given_at: consent.given_at,
        endorsement,
        counsellor_phone,
        cv_text_truncated,
        now,
    })
}

/// Stores a prepared referral in the caller's transaction: the row, its
/// first event, the candidate's status, the mail or the outbound message,
/// and the audit entry; a pending referral of the candidate for the same
/// offer is a conflict.
pub async fn store(
    state: &AppState,
    user: &User,
    p: &Prepared,
    tx: &mut Transaction<'_, Any>,
) -> Result<()> {
    let Prepared {
        id,
        offer,
        offer_id,
        candidate_id,
        direction,
        profile,
        submitted,
        consent_given_at,
        endorsement,
        counsellor_phone,
        cv_text_truncated,
        now,
    } = p;
    let (direction, now) = (*direction, *now);
    let me = state.identity.node_id.to_string();
    let res: Result<()> = async {
        let dup: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM referrals WHERE offer_id = $1 AND candidate_id = $2 AND status IN {PENDING_SQL}"
        ))
        .bind(offer_id)
        .bind(candidate_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(d) = dup {
            return Err(Error::Conflict(format!(
                "this candidate already has a pending referral for this offer ({d})"
            )));
        }
        let profile_json = match direction {
            Direction::Local => Some(
                serde_json::to_string(profile).map_err(|e| Error::Internal(e.into()))?,
            ),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, profile, \
             counsellor_name, counsellor_id, endorsement, status, reason, contract_type, start_date, \
             consent_given_at, created_at, updated_at, message_id, counsellor_email, counsellor_phone, \
             target, for_offer_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'new', NULL, NULL, NULL, $11, $12, $12, NULL, $13, $14, $15, $16)",
        )
        .bind(id)
        .bind(offer_id)
        .bind(offer.origin_node.as_str())
        .bind(&me)
        .bind(direction.as_str())
        .bind(candidate_id)
        .bind(&profile_json)
        .bind(&user.display_name)
        .bind(&user.id)
        .bind(endorsement)
        .bind(*consent_given_at)
        .bind(now)
        .bind(&user.email)
        .bind(counsellor_phone)
        .bind(offer.target.as_str())
        .bind(&offer.for_offer_id)
        .execute(&mut **tx)
        .await?;
        let actor = Actor {
            name: &user.display_name,
            node: &me,
            user_id: Some(&user.id),
            at: now,
        };
        insert_event(tx, id, &Change::to(ReferralStatus::New, "proposition envoyée"), &actor).await?;
        if direction == Direction::Local {
            let by = format!("{} ({})", user.display_name, state.config.display_name);
            mails::referral_new(state, tx, id, offer.target, offer_id, &by).await?;
        }
        set_candidate_status(tx, candidate_id, CandidateStatus::InReferral, &[CandidateStatus::Active]).await?;
        if direction == Direction::Outbound {
            let mid = crate::federation::enqueue_direct(
                state,
                tx,
                &offer.origin_node,
                MessageKind::ReferralSubmitted,
                submitted,
            )
            .await?;
            sqlx::query("UPDATE referrals SET message_id = $2 WHERE id = $1")
                .bind(id)
                .bind(&mid)
                .execute(&mut **tx)
                .await?;
        }
        crate::audit::NewEntry::new(
            Some(user),
            "referral.create",
            "referral",
            id,
            None,
            serde_json::json!({
                "offer_id": offer_id,
                "target": offer.target.as_str(),
                "for_offer_id": offer.for_offer_id,
                "candidate_id": candidate_id,
                "direction": direction.as_str(),
                "cv_text_truncated": cv_text_truncated,
            }),
        )
        .insert(&mut **tx)
        .await?;
        Ok(())
    }
    .await;
    match res {
        Ok(()) => Ok(()),
        Err(e) if unique_violation(&e) => Err(Error::Conflict(
            "this candidate already has a pending referral for this offer".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Once a stored referral is committed: wakes the outbox and the mailer,
/// reindexes the candidate, and returns the referral as `user` sees it.
pub async fn created(state: &AppState, user: &User, p: Prepared) -> Result<ReferralView> {
    if p.direction == Direction::Outbound {
        crate::federation::wake(state);
    }
    state.mail.wake();
    reindex_candidate(state, Some(p.candidate_id.clone())).await;
    let id = p.id;
    let stored = get_referral(state, &id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    view(&stored, user, true)
}

// ---------------------------------------------------------------------------
// Reading

/// Filters of `GET /api/v1/referrals`.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `outbound`, `inbound` or `local`.
    #[serde(default)]
    pub direction: Option<String>,
    /// A status.
    #[serde(default)]
    pub status: Option<String>,
    /// One offer.
    #[serde(default)]
    pub offer_id: Option<String>,
    /// One candidate (staff).
    #[serde(default)]
    pub candidate_id: Option<String>,
    /// Page size (default 50, max 500; set by the caller: the API pages
    /// with `page`/`per_page`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub limit: Option<i64>,
    /// Rows to skip (set by the caller, like `limit`).
    #[serde(skip_deserializing)]
    #[param(ignore)]
    pub offset: Option<i64>,
}

/// A page of referrals.
#[derive(Debug, Serialize)]
pub struct ReferralList {
    /// Matching referrals in all.
    pub total: i64,
    /// This page, newest first.
    pub referrals: Vec<ReferralView>,
}

/// List the referrals `user` may see.
pub async fn list(state: &AppState, user: &User, q: &ListQuery) -> Result<ReferralList> {
    let mut conds: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut add = |cond: &str, v: String| {
        binds.push(v);
        conds.push(cond.replace('?', &format!("${}", binds.len())));
    };
    if let Some(d) = q.direction.as_deref().filter(|s| !s.is_empty()) {
        let d = Direction::parse(d)
            .ok_or_else(|| Error::field("direction", "one of outbound, inbound, local"))?;
        add("r.direction = ?", d.as_str().into());
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        let s = parse_status(s).ok_or_else(|| {
            Error::field(
                "status",
                "one of new, processing, prior_to_hire, accepted, refused, postponed, cancelled, obsolete",
            )
        })?;
        add("r.status = ?", s.as_str().into());
    }
    if let Some(o) = q.offer_id.as_deref().filter(|s| !s.is_empty()) {
        add("r.offer_id = ?", o.into());
    }
    match user.role {
        Role::Admin | Role::Counsellor => {
            if let Some(c) = q.candidate_id.as_deref().filter(|s| !s.is_empty()) {
                add("r.candidate_id = ?", c.into());
            }
        }
        Role::Employer => {
            if q.candidate_id.is_some() {
                return Err(Error::Forbidden);
            }
            add(
                "r.direction IN ('inbound', 'local') AND o.is_local = 1 AND o.owner_user_id = ?",
                user.id.clone(),
            );
        }
    }
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
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
    let count_sql = format!("SELECT COUNT(*) FROM {FROM}{where_}");
    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        cq = cq.bind(b);
    }
    let total = cq.fetch_one(&state.db.pool).await?;
    let page_sql = format!(
        "SELECT {COLUMNS} FROM {FROM}{where_} ORDER BY r.created_at DESC, r.id DESC LIMIT ${} OFFSET ${}",
        binds.len() + 1,
        binds.len() + 2
    );
    let mut pq = sqlx::query(&page_sql);
    for b in &binds {
        pq = pq.bind(b);
    }
    let rows = pq
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    let mut referrals = Vec::with_capacity(rows.len());
    for r in &rows {
        referrals.push(view(&from_row(r)?, user, false)?);
    }
    Ok(ReferralList { total, referrals })
}

/// Read one referral with the candidate's profile (audited as
/// `referral.read`). The employer's first read of a `new` referral marks
/// it `processing` ("viewed") and tells the referring node.
pub async fn read(
    state: &AppState,
    user: &User,
    id: &str,
    reason: Option<&str>,
) -> Result<ReferralView> {
    let mut r = visible_referral(state, user, id).await?;
    if user.role == Role::Employer && r.status == ReferralStatus::New {
        let me = state.identity.node_id.to_string();
        let mut tx = state.db.begin().await?;
        if let Some(current) = load_tx(&mut tx, id).await? {
            if current.status == ReferralStatus::New {
                let actor = Actor {
                    name: &user.display_name,
                    node: &me,
                    user_id: Some(&user.id),
                    at: now_ms(),
                };
                let viewed = Change::to(ReferralStatus::Processing, "consultée par l'employeur");
                match transition(state, &mut tx, &current, &viewed, &actor, true).await {
                    // Someone else changed it meanwhile: the read still succeeds.
                    Ok(_) | Err(Error::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        tx.commit().await?;
        crate::federation::wake(state);
        r = get_referral(state, id)
            .await?
            .ok_or(Error::NotFound("referral"))?;
    }
    crate::audit::record(
        &state.db,
        Some(user),
        "referral.read",
        "referral",
        id,
        reason,
        serde_json::json!({"direction": r.direction.as_str(), "profile": r.profile.is_some()}),
    )
    .await?;
    let mut v = view(&r, user, true)?;
    if user.require_staff().is_ok() {
        v.after_trainings = trainings_before(state, &r).await?;
    }
    Ok(v)
}

/// For a referral to an offer, on the candidate's home node: the same
/// candidate's referrals to trainings "for" this offer (the link from a
/// hire back to the training that prepared it).
async fn trainings_before(state: &AppState, r: &StoredReferral) -> Result<Vec<TrainingBefore>> {
    let Some(cid) = r.candidate_id.as_deref() else {
        return Ok(Vec::new());
    };
    if r.target != ReferralTarget::Offer {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT r.id, t.title, r.status FROM referrals r LEFT JOIN opportunities t ON t.id = r.offer_id \
         WHERE r.target = 'training' AND r.for_offer_id = $1 AND r.candidate_id = $2 ORDER BY r.created_at, r.id",
    )
    .bind(&r.offer_id)
    .bind(cid)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get(2)?;
            Ok(TrainingBefore {
                referral_id: row.try_get(0)?,
                title: row.try_get(1)?,
                status: parse_status(&status).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!("unknown referral status {status}"))
                })?,
            })
        })
        .collect()
}

/// One entry of a referral's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralEvent {
    /// Status entered.
    pub status: String,
    /// Refusal reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Contract type (hire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<String>,
    /// Comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who (display name, or `system`).
    pub actor: String,
    /// On which node.
    pub actor_node: String,
    /// When (unix ms).
    pub at: i64,
}

/// The history of a referral, oldest first.
pub async fn events(state: &AppState, user: &User, id: &str) -> Result<Vec<ReferralEvent>> {
    visible_referral(state, user, id).await?;
    let rows = sqlx::query(
        "SELECT status, reason, contract_type, comment, actor, actor_node, at FROM referral_events \
         WHERE referral_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ReferralEvent {
                status: r.try_get("status")?,
                reason: r.try_get("reason")?,
                contract_type: r.try_get("contract_type")?,
                comment: r.try_get("comment")?,
                actor: r.try_get("actor")?,
                actor_node: r.try_get("actor_node")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Status changes through the API

/// `POST /api/v1/referrals/{id}/status`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// New status.
    pub status: ReferralStatus,
    /// Refusal reason (required for `refused`).
    #[serde(default)]
    pub reason: Option<RefusalReason>,
    /// Contract type (required for `accepted`).
    #[serde(default)]
    pub contract_type: Option<ContractType>,
    /// Start date `YYYY-MM-DD` (required for `accepted`).
    #[serde(default)]
    pub start_date: Option<String>,
    /// Free comment (at most 2000 characters).
    #[serde(default)]
    pub comment: Option<String>,
}

fn validate_change(input: StatusInput) -> Result<Change> {
    let mut errs = Vec::new();
    let s = input.status;
    if s == ReferralStatus::Obsolete {
        errs.push(FieldError::new(
            "status",
            "obsolete is set by the node itself when the candidate is hired through another referral",
        ));
    }
    if s == ReferralStatus::Undeliverable {
        errs.push(FieldError::new(
            "status",
            "undeliverable is set by the node itself when the network refuses the referral for good",
        ));
    }
    let comment = input
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    checks::status_fields(
        &mut errs,
        s,
        input.reason,
        input.contract_type,
        input.start_date.as_deref(),
        comment.as_deref(),
    );
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    Ok(Change {
        status: s,
        reason: input.reason,
        contract_type: input.contract_type,
        start_date: input.start_date.map(|d| d.trim().to_string()),
        comment,
    })
}

/// Stable code of the field error answered when a counsellor cancels a
/// referral the employer already decided on without saying why.
pub const CANCEL_REASON_REQUIRED: &str = "cancel_reason_required";

/// Whether `s` records a decision of the employer (a hire, the step before
/// it, a postponement), which the referring counsellor may only undo with a
/// reason, the employer being told.
pub fn undoes_employer_decision(s: ReferralStatus) -> bool {
    matches!(
        s,
        ReferralStatus::Accepted | ReferralStatus::PriorToHire | ReferralStatus::Postponed
    )
}

/// Change the status of a referral. The offer's side (its employer or
/// this node's staff) sets processing, prior_to_hire, accepted, refused,
/// postponed; the referring side's staff set cancelled.
pub async fn change_status(
    state: &AppState,
    user: &User,
    id: &str,
    input: StatusInput,
) -> Result<ReferralView> {
    let change = validate_change(input)?;
    let r = visible_referral(state, user, id).await?;
    let staff = user.require_staff().is_ok();
    if set_by_offer_side(change.status) {
        if !r.direction.offer_side() {
            return Err(Error::field(
                "status",
                format!(
                    "{} is decided by the node that owns the offer ({}); this node referred the candidate",
                    change.status.as_str(),
                    r.offer_origin
                ),
            ));
        }
    } else if change.status == ReferralStatus::Cancelled {
        if !staff {
            return Err(Error::Forbidden);
        }
        if !r.direction.referring_side() {
            return Err(Error::field(
                "status",
                format!(
                    "cancelled is decided by the node that referred the candidate ({})",
                    r.referring_node
                ),
            ));
        }
        if undoes_employer_decision(r.status) && change.comment.is_none() {
            return Err(Error::Validation(vec![FieldError::coded(
                "comment",
                CANCEL_REASON_REQUIRED,
                format!(
                    "required to cancel a referral the employer answered ({}): say why",
                    r.status.as_str()
                ),
            )]));
        }
    }
    if !r.status.can_transition_for(change.status, r.target) {
        return Err(Error::Conflict(transition_message(
            r.status,
            change.status,
            r.target,
        )));
    }
    let me = state.identity.node_id.to_string();
    let mut tx = state.db.begin().await?;
    let current = load_tx(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    if !current
        .status
        .can_transition_for(change.status, current.target)
    {
        return Err(Error::Conflict(transition_message(
            current.status,
            change.status,
            current.target,
        )));
    }
    let actor = Actor {
        name: &user.display_name,
        node: &me,
        user_id: Some(&user.id),
        at: now_ms(),
    };
    let cand = transition(state, &mut tx, &current, &change, &actor, true).await?;
    tx.commit().await?;
    crate::federation::wake(state);
    crate::notifications::wake(state);
    reindex_candidate(state, cand).await;
    crate::audit::record(
        &state.db,
        Some(user),
        "referral.status",
        "referral",
        id,
        None,
        serde_json::json!({
            "from": current.status.as_str(),
            "to": change.status.as_str(),
            "reason": change.reason.map(reason_str),
            "contract_type": change.contract_type.map(ContractType::as_str),
        }),
    )
    .await?;
    let stored = get_referral(state, id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    view(&stored, user, false)
}

// ---------------------------------------------------------------------------
// Federation: outcomes of delivery and of members leaving

/// The network refused outbound referral `referral_id` for good (`code`,
/// see [`crate::federation::outcomes::refusal_fr`]): it becomes
/// `undeliverable` with the reason in its history, the candidate's status
/// follows, and its counsellor is told — all in the caller's transaction.
/// False when it is not an outbound referral still pending.
pub(crate) async fn mark_undeliverable(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    referral_id: &str,
    code: &str,
) -> Result<bool> {
    let Some(row) = load_tx(tx, referral_id).await? else {
        return Ok(false);
    };
    if row.direction != Direction::Outbound || !row.status.is_pending() {
        return Ok(false);
    }
    let me = state.identity.node_id.to_string();
    let system = Actor {
        name: SYSTEM_ACTOR,
        node: &me,
        user_id: None,
        at: now_ms(),
    };
    let reason = crate::federation::outcomes::refusal_fr(code);
    let comment = format!("Non transmise : {reason}.");
    transition(
        state,
        tx,
        &row,
        &Change::to(ReferralStatus::Undeliverable, &comment),
        &system,
        false,
    )
    .await?;
    sqlx::query("UPDATE referrals SET delivery_error = $2 WHERE id = $1")
        .bind(&row.id)
        .bind(code)
        .execute(&mut **tx)
        .await?;
    if let Some(user_id) = row.counsellor_id.clone() {
        let title = row.offer_title.as_deref().unwrap_or(&row.offer_id);
        crate::notifications::notify(
            state,
            tx,
            crate::notifications::NewNotice {
                user_id,
                kind: crate::notifications::NoticeKind::ReferralUndeliverable,
                subject_type: "referral",
                subject_id: row.id.clone(),
                message: format!(
                    "Votre mise en relation pour l'offre « {title} » n'a pas pu être transmise : {reason}."
                ),
                link: format!("/ui/mises-en-relation/{}", row.id),
            },
        )
        .await?;
    }
    Ok(true)
}

/// Member `node` left the network: this node's pending referrals to its
/// offers become `undeliverable` (`member_left`), their counsellors told.
/// Returns how many.
pub(crate) async fn on_offer_member_left(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    node: &str,
) -> Result<u64> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM referrals WHERE offer_origin = $1 AND direction = 'outbound' AND status IN {PENDING_SQL} ORDER BY id"
    ))
    .bind(node)
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    for id in ids {
        if mark_undeliverable(state, tx, &id, crate::federation::outcomes::MEMBER_LEFT).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Member `node` left the network: forget the profiles it referred to this
/// node's offers (pending ones become `obsolete` first). Returns how many
/// profiles were purged.
pub(crate) async fn purge_profiles_from(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    node: &str,
) -> Result<u64> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.referring_node = $1 AND r.direction = 'inbound' AND r.profile IS NOT NULL ORDER BY r.id"
    ))
    .bind(node)
    .fetch_all(&mut **tx)
    .await?;
    let me = state.identity.node_id.to_string();
    let mut n = 0;
    for r in &rows {
        let row = from_row(r)?;
        if row.status.is_pending() {
            let system = Actor {
                name: SYSTEM_ACTOR,
                node: &me,
                user_id: None,
                at: now_ms(),
            };
            write_transition(
                state,
                tx,
                &row,
                &Change::to(
                    ReferralStatus::Obsolete,
                    "le membre qui a proposé ce candidat a quitté le réseau",
                ),
                &system,
                false,
            )
            .await?;
        }
        forget_personal_data(tx, &row.id).await?;
        // The departed member's counsellor is no one to call any more.
        sqlx::query(
            "UPDATE referrals SET counsellor_email = NULL, counsellor_phone = NULL WHERE id = $1",
        )
        .bind(&row.id)
        .execute(&mut **tx)
        .await?;
        n += 1;
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Federation: receiving

/// `referral.submitted` from `sender`: store an inbound referral for one of
/// this node's open offers.
pub async fn receive_submitted(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    r: ReferralSubmitted,
) -> Result<AfterCommit> {
    if &r.referring_node != sender {
        return Err(refusal(
            "not_referring_node",
            format!(
                "{sender} may not submit a referral on behalf of {}",
                r.referring_node
            ),
        ));
    }
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_submitted(state, &r, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    if r.target != ReferralTarget::Offer {
        check_received_opportunity_target(state, tx, &r).await?;
    } else {
        check_received_offer_target(state, tx, &r).await?;
    }
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM referrals WHERE id = $1")
        .bind(&r.referral_id)
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_some() {
        return Err(refusal(
            "duplicate_referral",
            format!("referral {} already exists", r.referral_id),
        ));
    }
    let profile = serde_json::to_string(&r.candidate).map_err(|e| Error::Internal(e.into()))?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, profile, \
         counsellor_name, counsellor_id, endorsement, status, reason, contract_type, start_date, \
         consent_given_at, created_at, updated_at, message_id, counsellor_email, counsellor_phone, \
         target, for_offer_id) \
         VALUES ($1, $2, $3, $4, 'inbound', NULL, $5, $6, NULL, $7, 'new', NULL, NULL, NULL, $8, $9, $9, NULL, $10, $11, $12, $13)",
    )
    .bind(&r.referral_id)
    .bind(&r.offer_id)
    .bind(state.identity.node_id.as_str())
    .bind(sender.as_str())
    .bind(&profile)
    .bind(clip(r.counsellor_name.trim(), 200))
    .bind(&r.endorsement)
    .bind(r.consent_given_at)
    .bind(now)
    .bind(r.counsellor_email.as_deref().map(|e| e.trim().to_string()))
    .bind(r.counsellor_phone.as_deref().map(|p| p.trim().to_string()))
    .bind(r.target.as_str())
    .bind(&r.for_offer_id)
    .execute(&mut **tx)
    .await?;
    let actor = Actor {
        name: &clip(r.counsellor_name.trim(), 200),
        node: sender.as_str(),
        user_id: None,
        at: now,
    };
    insert_event(
        tx,
        &r.referral_id,
        &Change::to(ReferralStatus::New, "proposition reçue"),
        &actor,
    )
    .await?;
    let mission = state
        .federation
        .membership()
        .and_then(|d| d.document.member(sender).map(|m| m.display_name.clone()))
        .unwrap_or_else(|| sender.to_string());
    let by = format!("{} ({mission})", clip(r.counsellor_name.trim(), 200));
    mails::referral_new(state, tx, &r.referral_id, r.target, &r.offer_id, &by).await?;
    Ok(AfterCommit::Nothing)
}

/// A received referral to an offer: one of this node's open offers.
async fn check_received_offer_target(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    r: &ReferralSubmitted,
) -> Result<()> {
    let offer = offer_tx(tx, &r.offer_id)
        .await?
        .ok_or_else(|| refusal("unknown_offer", format!("no offer {} here", r.offer_id)))?;
    if !offer.is_local || offer.payload.origin_node != state.identity.node_id {
        return Err(refusal(
            "not_offer_origin",
            format!(
                "offer {} is not an offer of {}",
                r.offer_id, state.identity.node_id
            ),
        ));
    }
    if !offer.open {
        return Err(refusal(
            "offer_closed",
            format!("offer {} is closed", r.offer_id),
        ));
    }
    Ok(())
}

/// A received referral to a training or an immersion: one of this node's
/// open opportunities, of the kind the referral says.
async fn check_received_opportunity_target(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    r: &ReferralSubmitted,
) -> Result<()> {
    let o = crate::opportunities::get_tx(tx, &r.offer_id)
        .await?
        .ok_or_else(|| {
            refusal(
                "unknown_opportunity",
                format!("no training or immersion {} here", r.offer_id),
            )
        })?;
    if !o.is_local || o.payload.origin_node != state.identity.node_id {
        return Err(refusal(
            "not_offer_origin",
            format!(
                "{} is not an opportunity of {}",
                r.offer_id, state.identity.node_id
            ),
        ));
    }
    if o.payload.opportunity_type.target() != r.target {
        return Err(refusal(
            "unknown_opportunity",
            format!(
                "{} is a {}, not a {}",
                r.offer_id,
                o.payload.opportunity_type.as_str(),
                r.target.as_str()
            ),
        ));
    }
    if r.for_offer_id.is_some() && r.target != ReferralTarget::Training {
        return Err(invalid_payload(vec![FieldError::new(
            "for_offer_id",
            "only a training prepares for an offer",
        )]));
    }
    if o.status != crate::opportunities::OpportunityStatus::Open {
        return Err(refusal("offer_closed", format!("{} is closed", r.offer_id)));
    }
    Ok(())
}

/// `referral.status_changed` from `sender`: the offer's origin reports the
/// employer's answer, or the referring node cancels.
pub async fn receive_status_changed(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    c: ReferralStatusChanged,
) -> Result<AfterCommit> {
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_status_changed(&c, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    let row = load_tx(tx, &c.referral_id).await?.ok_or_else(|| {
        refusal(
            "unknown_referral",
            format!("no referral {} here", c.referral_id),
        )
    })?;
    if row.offer_id != c.offer_id {
        return Err(refusal(
            "unknown_referral",
            format!("referral {} is not for offer {}", c.referral_id, c.offer_id),
        ));
    }
    if set_by_offer_side(c.status) {
        if row.direction != Direction::Outbound || row.offer_origin != sender.as_str() {
            return Err(refusal(
                "not_offer_origin",
                format!(
                    "only the node owning offer {} may set {}",
                    c.offer_id,
                    c.status.as_str()
                ),
            ));
        }
    } else if set_by_referring_side(c.status) {
        if row.direction != Direction::Inbound || row.referring_node != sender.as_str() {
            return Err(refusal(
                "not_referring_node",
                format!("only the referring node may set {}", c.status.as_str()),
            ));
        }
    } else {
        return Err(refusal(
            "invalid_transition",
            transition_message(row.status, c.status, row.target),
        ));
    }
    match c.status {
        ReferralStatus::Accepted => {
            if c.contract_type.is_none() {
                return Err(refusal("malformed", "accepted needs contract_type"));
            }
            if !c.start_date.as_deref().is_some_and(valid_date) {
                return Err(refusal("malformed", "accepted needs start_date YYYY-MM-DD"));
            }
        }
        ReferralStatus::Refused if c.reason.is_none() => {
            return Err(refusal("malformed", "refused needs a reason"));
        }
        _ => {}
    }
    if !row.status.can_transition_for(c.status, row.target) {
        return Err(refusal(
            "invalid_transition",
            transition_message(row.status, c.status, row.target),
        ));
    }
    let change = Change {
        status: c.status,
        reason: if c.status == ReferralStatus::Refused {
            c.reason
        } else {
            None
        },
        contract_type: if c.status == ReferralStatus::Accepted {
            c.contract_type
        } else {
            None
        },
        start_date: if c.status == ReferralStatus::Accepted {
            c.start_date.clone()
        } else {
            None
        },
        comment: c
            .comment
            .as_deref()
            .map(|s| clip(s.trim(), MAX_COMMENT_CHARS))
            .filter(|s| !s.is_empty()),
    };
    let name = clip(c.changed_by.trim(), 200);
    let actor = Actor {
        name: if name.is_empty() { SYSTEM_ACTOR } else { &name },
        node: sender.as_str(),
        user_id: None,
        at: c.changed_at,
    };
    let cand = transition(state, tx, &row, &change, &actor, false).await?;
    // Cascades (obsolete referrals) may have queued messages; the delivery
    // workers also poll, so an early wake-up is harmless.
    crate::federation::wake(state);
    Ok(match cand {
        Some(id) => AfterCommit::IndexCandidate(id),
        None => AfterCommit::Nothing,
    })
}

async fn forget_personal_data(tx: &mut Transaction<'_, Any>, referral_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE referrals SET candidate_id = NULL, profile = NULL, endorsement = '', updated_at = $2 WHERE id = $1",
    )
    .bind(referral_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE referral_events SET comment = NULL WHERE referral_id = $1 AND actor <> $2")
        .bind(referral_id)
        .bind(SYSTEM_ACTOR)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `referral.withdrawn` from the referring node: delete the profile (and,
/// for an erasure, the endorsement and comments), cancel if still open.
/// A withdrawal of an unknown referral is accepted and does nothing (its
/// submission may have been dropped from the sender's outbox).
pub async fn receive_withdrawn(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    w: ReferralWithdrawn,
) -> Result<AfterCommit> {
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_withdrawn(&w, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    let Some(row) = load_tx(tx, &w.referral_id).await? else {
        tracing::debug!(referral = %w.referral_id, "withdrawal of an unknown referral: nothing to delete");
        return Ok(AfterCommit::Nothing);
    };
    if row.direction != Direction::Inbound || row.referring_node != sender.as_str() {
        return Err(refusal(
            "not_referring_node",
            format!(
                "only the referring node may withdraw referral {}",
                w.referral_id
            ),
        ));
    }
    if row.offer_id != w.offer_id {
        return Err(refusal(
            "unknown_referral",
            format!("referral {} is not for offer {}", w.referral_id, w.offer_id),
        ));
    }
    let why = match w.reason {
        WithdrawReason::Withdrawn => "proposition retirée par le conseiller",
        WithdrawReason::Erasure => "données du candidat effacées",
    };
    if row.status.is_pending() {
        let actor = Actor {
            name: SYSTEM_ACTOR,
            node: sender.as_str(),
            user_id: None,
            at: w.withdrawn_at,
        };
        write_transition(
            state,
            tx,
            &row,
            &Change::to(ReferralStatus::Cancelled, why),
            &actor,
            false,
        )
        .await?;
    }
    match w.reason {
        WithdrawReason::Erasure => forget_personal_data(tx, &row.id).await?,
        WithdrawReason::Withdrawn => {
            sqlx::query("UPDATE referrals SET profile = NULL, updated_at = $2 WHERE id = $1")
                .bind(&row.id)
                .bind(now_ms())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(AfterCommit::Nothing)
}

// ---------------------------------------------------------------------------
// Erasure

/// A candidate is being erased (inside the erasure's transaction): drop
/// the undelivered submissions that carry their profile, tell every node
/// that received a referral for them (`referral.withdrawn`, reason
/// erasure), cancel what is still open and forget the personal data kept
/// in the referrals of this node.
pub async fn on_candidate_erased(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.candidate_id = $1"
    ))
    .bind(candidate_id)
    .fetch_all(&mut **tx)
    .await?;
    let me = state.identity.node_id.to_string();
    let now = now_ms();
    let mut sent = false;
    for row in &rows {
        let r = from_row(row)?;
        if r.direction == Direction::Outbound {
            if let Some(mid) = &r.message_id {
                sqlx::query("DELETE FROM outbox WHERE destination = $1 AND message_id = $2")
                    .bind(&r.offer_origin)
                    .bind(mid)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM dead_letters WHERE destination = $1 AND message_id = $2")
                    .bind(&r.offer_origin)
                    .bind(mid)
                    .execute(&mut **tx)
                    .await?;
            }
            let dest = NodeId::parse(&r.offer_origin).map_err(|e| {
                Error::Internal(anyhow::anyhow!("stored node id {}: {e}", r.offer_origin))
            })?;
            let msg = ReferralWithdrawn {
                referral_id: r.id.clone(),
                offer_id: r.offer_id.clone(),
                reason: WithdrawReason::Erasure,
                withdrawn_at: now,
            };
            crate::federation::enqueue_direct(
                state,
                tx,
                &dest,
                MessageKind::ReferralWithdrawn,
                &msg,
            )
            .await?;
            sent = true;
        }
        if r.status.is_pending() {
            let actor = Actor {
                name: SYSTEM_ACTOR,
                node: &me,
                user_id: None,
                at: now,
            };
            // The withdrawal tells the offer's node; no status message.
            write_transition(
                state,
                tx,
                &r,
                &Change::to(ReferralStatus::Cancelled, "données du candidat effacées"),
                &actor,
                false,
            )
            .await?;
        }
        forget_personal_data(tx, &r.id).await?;
    }
    if sent {
        crate::federation::wake(state);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// No-answer sweep

/// Refuse (`no_answer`) the referrals made to this node's offers that are
/// still `new`, `processing` or `postponed` with no change for
/// `referrals.no_answer_days` before `now_ms`. Returns how many.
pub async fn no_answer_sweep(state: &AppState, now_ms: i64) -> Result<u64> {
    let days = state.config.referrals.no_answer_days;
    if days <= 0 {
        return Ok(0);
    }
    let cutoff = now_ms - days * DAY_MS;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM referrals WHERE direction IN ('inbound', 'local') \
         AND status IN ('new', 'processing', 'postponed') AND updated_at < $1 ORDER BY updated_at",
    )
    .bind(cutoff)
    .fetch_all(&state.db.pool)
    .await?;
    let done = refuse_all(
        state,
        ids,
        RefusalReason::NoAnswer,
        &format!("sans réponse depuis {days} jours"),
        |r| {
            matches!(
                r.status,
                ReferralStatus::New | ReferralStatus::Processing | ReferralStatus::Postponed
            ) && r.updated_at < cutoff
        },
    )
    .await?;
    if done > 0 {
        tracing::info!(referrals = done, "referrals refused for lack of an answer");
    }
    Ok(done)
}

/// An offer of this node is being closed, in `tx`: its pending referrals
/// are refused with `position_filled` in the same transaction (the
/// referring nodes are told through the outbox, the candidates' index
/// entries through the journal). Returns how many were refused.
pub(crate) async fn refuse_pending_on_closed_offer(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    offer_id: &str,
    comment: &str,
) -> Result<u64> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM referrals WHERE offer_id = $1 AND direction IN ('inbound', 'local') \
         AND status IN ('new', 'processing', 'postponed', 'prior_to_hire') ORDER BY created_at",
    )
    .bind(offer_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut done = 0u64;
    for id in ids {
        if refuse_one(
            state,
            tx,
            &id,
            RefusalReason::PositionFilled,
            comment,
            &|r: &StoredReferral| r.status.is_pending(),
        )
        .await?
        {
            done += 1;
        }
    }
    Ok(done)
}

/// Refuse, one transaction each, the offer-side referrals `ids` that still
/// satisfy `due`, as the node itself.
async fn refuse_all(
    state: &AppState,
    ids: Vec<String>,
    reason: RefusalReason,
    comment: &str,
    due: impl Fn(&StoredReferral) -> bool + Sync,
) -> Result<u64> {
    let mut done = 0u64;
    for id in ids {
        let mut tx = state.db.begin().await?;
        if refuse_one(state, &mut tx, &id, reason, comment, &due).await? {
            tx.commit().await?;
            crate::journal::wake(state);
            done += 1;
        }
    }
    if done > 0 {
        crate::federation::wake(state);
    }
    Ok(done)
}

/// Refuse referral `id` in `tx`, as the node itself, if it is offer-side
/// and still satisfies `due`. `false` when it was left as it is.
async fn refuse_one(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    id: &str,
    reason: RefusalReason,
    comment: &str,
    due: &(dyn Fn(&StoredReferral) -> bool + Sync),
) -> Result<bool> {
    let me = state.identity.node_id.to_string();
    let Some(r) = load_tx(tx, id).await? else {
        return Ok(false);
    };
    if !(r.direction.offer_side() && due(&r)) {
        return Ok(false);
    }
    let actor = Actor {
        name: SYSTEM_ACTOR,
        node: &me,
        user_id: None,
        at: crate::util::now_ms(),
    };
    let change = Change {
        status: ReferralStatus::Refused,
        reason: Some(reason),
        contract_type: None,
        start_date: None,
        comment: Some(comment.to_string()),
    };
    match transition(state, tx, &r, &change, &actor, true).await {
        Ok(_) => Ok(true),
        Err(Error::Conflict(msg)) => {
            tracing::debug!(referral = %id, %msg, "referral not refused");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Start the background sweeps (no-answer, hourly); they stop with the node.
pub fn spawn_sweeps(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let mut delay = Duration::from_secs(60);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {},
                res = shutdown.changed() => if res.is_err() { break },
            }
            if !state.leader.wait(&mut shutdown).await {
                break;
            }
            if let Err(e) = no_answer_sweep(&state, state.clock.now_ms()).await {
                tracing::warn!(error = %e, "no-answer sweep failed; will retry");
            }
            if let Err(e) = crate::federation::purge_departed_due(&state).await {
                tracing::warn!(error = %e, "purge of departed members' profiles failed; will retry");
            }
            delay = Duration::from_secs(3600);
        }
    });
}

// ---------------------------------------------------------------------------
// HTTP

#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = NewReferral,
    responses((status = 201, description = "The referral, sent to the offer's node (staff)", body = ReferralView)))]
async fn create_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(input): ApiJson<NewReferral>,
) -> Result<(StatusCode, Json<ReferralView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&state, &user, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "Referrals the caller may see, newest first", body = crate::http::Page<ReferralView>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<ReferralView>>> {
    q.limit = Some(paging.per_page);
    q.offset = Some(paging.offset());
    let list = list(&state, &user, &q).await?;
    Ok(Json(crate::http::Page::new(
        list.referrals,
        list.total,
        paging,
    )))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, description = "The referral with the candidate's profile (audited)", body = ReferralView)))]
async fn get_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
) -> Result<Json<ReferralView>> {
    Ok(Json(read(&state, &user, &id, reason.0.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}/events", tag = "referrals",
    params(("id" = String, Path, description = "Referral id"), crate::http::PageParams),
    responses((status = 200, description = "Its history, oldest first", body = crate::http::Page<ReferralEvent>)))]
async fn events_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<ReferralEvent>>> {
    Ok(Json(crate::http::Page::slice(
        events(&state, &user, &id).await?,
        paging,
    )))
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/status", tag = "referrals", params(("id" = String, Path, description = "Referral id")),
    request_body = StatusInput,
    responses((status = 200, description = "The referral after the change", body = ReferralView)))]
async fn status_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> Result<Json<ReferralView>> {
    Ok(Json(change_status(&state, &user, &id, input).await?))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_handler,
    list_handler,
    get_handler,
    events_handler,
    status_handler
))]
pub(crate) struct Doc;

/// Routes: `/api/v1/referrals`, `/api/v1/referrals/{id}`,
/// `/api/v1/referrals/{id}/events`, `/api/v1/referrals/{id}/status`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/referrals", get(list_handler).post(create_handler))
        .route("/api/v1/referrals/{id}", get(get_handler))
        .route("/api/v1/referrals/{id}/events", get(events_handler))
        .route("/api/v1/referrals/{id}/status", post(status_handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_roundtrips() {
        for s in ReferralStatus::ALL {
            assert_eq!(parse_status(s.as_str()), Some(s));
            assert!(
                set_by_offer_side(s) != set_by_referring_side(s)
                    || s == ReferralStatus::New
                    || s.is_local_only()
            );
        }
        for r in REASONS {
            assert_eq!(parse_reason(reason_str(r)), Some(r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::Value::String(reason_str(r).into()))
            );
        }
        assert_eq!(parse_contract("ALT"), Some(ContractType::Alternance));
        assert_eq!(parse_contract("cdi"), None);
        for d in [Direction::Outbound, Direction::Inbound, Direction::Local] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn outcomes_follow_the_contract() {
        assert_eq!(
            placement_outcome(ContractType::Cdi, None),
            PlacementOutcome::Cdi
        );
        assert_eq!(
            placement_outcome(ContractType::Cdd, Some(6)),
            PlacementOutcome::Cdd6MonthsOrMore
        );
        assert_eq!(
            placement_outcome(ContractType::Cdd, Some(5)),
            PlacementOutcome::CddUnder6Months
        );
        assert_eq!(
            placement_outcome(ContractType::Cdd, None),
            PlacementOutcome::CddUnder6Months
        );
        assert_eq!(
            placement_outcome(ContractType::Alternance, Some(24)),
            PlacementOutcome::Apprenticeship
        );
        assert_eq!(
            placement_outcome(ContractType::Mis, None),
            PlacementOutcome::CddUnder6Months
        );
        assert_eq!(
            placement_outcome(ContractType::Sai, None),
            PlacementOutcome::CddUnder6Months
        );
    }

    #[test]
    fn change_validation_names_fields() {
        let base = StatusInput {
            status: ReferralStatus::Refused,
            reason: None,
            contract_type: None,
            start_date: None,
            comment: None,
        };
        match validate_change(base.clone()) {
            Err(Error::Validation(v)) => assert_eq!(v[0].field, "reason"),
            other => panic!("unexpected {other:?}"),
        }
        let accepted = StatusInput {
            status: ReferralStatus::Accepted,
            start_date: Some("2026-02-30".into()),
            ..base.clone()
        };
        match validate_change(accepted) {
            Err(Error::Validation(v)) => {
                let fields: Vec<_> = v.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, vec!["contract_type", "start_date"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let ok = StatusInput {
            status: ReferralStatus::Accepted,
            contract_type: Some(ContractType::Cdi),
            start_date: Some("2026-03-02".into()),
            comment: Some("  ".into()),
            ..base
        };
        let c = validate_change(ok).expect("valid");
        assert!(c.comment.is_none());
        assert!(transition_message(
            ReferralStatus::Refused,
            ReferralStatus::Accepted,
            ReferralTarget::Offer
        )
        .contains("final status"));
    }
}
