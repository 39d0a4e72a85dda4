//! The referrals' vocabulary: plain types, the status rules and the one
//! mapping of their enums to stored text (no I/O). [`StoredReferral`] is
//! decoded by `sqlx::FromRow`; its enums through `TryFrom<String>`
//! (`Direction` by `strum`, `ReferralStatus` / `ReferralTarget` by their
//! protocol wire names), the same names `as_str` binds.

use serde::{Deserialize, Serialize};
use vivier_protocol::{
    CandidateProfile, ContractType, ReferralStatus, ReferralTarget, RefusalReason,
};

use crate::auth::User;
use crate::candidates::PlacementOutcome;
use crate::error::{Error, FieldError, Result};

/// Longest endorsement note, in characters.
pub const MAX_ENDORSEMENT_CHARS: usize = 2000;
/// Longest status comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Actor name of changes made by the node itself (sweeps, cascades).
pub const SYSTEM_ACTOR: &str = "system";
pub(crate) const DAY_MS: i64 = 86_400_000;

// ---------------------------------------------------------------------------
// Vocabulary

/// Which side(s) of a referral this node is on. Stored as its snake_case
/// name (`strum`), the same as on the API.
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
pub enum Direction {
    /// This node's candidate, another node's offer.
    Outbound,
    /// Another node's candidate, this node's offer.
    Inbound,
    /// This node's candidate and offer.
    Local,
}

impl TryFrom<String> for Direction {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<Direction, strum::ParseError> {
        s.parse()
    }
}

impl Direction {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Direction> {
        s.parse().ok()
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
    s.parse().ok()
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

pub(crate) fn allowed_next(s: ReferralStatus, target: ReferralTarget) -> String {
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

pub(crate) fn transition_message(
    from: ReferralStatus,
    to: ReferralStatus,
    target: ReferralTarget,
) -> String {
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

pub(crate) fn valid_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

// ---------------------------------------------------------------------------
// Rows

/// A stored referral, as this node sees it (a row of the store's one
/// referral query: `referrals` with its offer's or opportunity's title and
/// its candidate's name).
#[derive(Debug, Clone, sqlx::FromRow)]
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
    #[sqlx(try_from = "String")]
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
    #[sqlx(try_from = "String")]
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
    #[sqlx(try_from = "String")]
    pub target: ReferralTarget,
    /// For a training: the offer it prepares the candidate for.
    pub for_offer_id: Option<String>,
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
    /// A change to `status` with a comment (the node's own changes).
    pub(crate) fn to(status: ReferralStatus, comment: &str) -> Change {
        Change {
            status,
            reason: None,
            contract_type: None,
            start_date: None,
            comment: Some(comment.to_string()),
        }
    }
}

/// Who a referral event names as its author: a user's display name (or
/// [`SYSTEM_ACTOR`]) on a node. Not the policy's [`crate::actor::Actor`]:
/// a received change is signed by a peer but authored by its counsellor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Author<'a> {
    /// Display name, or `system`.
    pub name: &'a str,
    /// The node the change was made on.
    pub node: &'a str,
    /// This node's user who made it.
    pub user_id: Option<&'a str>,
    /// When (unix ms).
    pub at: i64,
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TrainingBefore {
    /// The referral to the training.
    pub referral_id: String,
    /// The training's title, when known here.
    pub title: Option<String>,
    /// Its status (`certified`, `completed`…).
    #[sqlx(try_from = "String")]
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

pub(crate) fn view(r: &StoredReferral, user: &User, detail: bool) -> Result<ReferralView> {
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

// Reading

/// Filters of `GET /api/v1/referrals`.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `outbound`, `inbound` or `local`.
    #[serde(default)]
    pub direction: Option<String>,
    /// A status, or `pending` for any of `new`, `processing`,
    /// `prior_to_hire` and `postponed`.
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

/// One entry of a referral's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
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

pub(crate) fn validate_change(input: StatusInput) -> Result<Change> {
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
    super::checks::status_fields(
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
