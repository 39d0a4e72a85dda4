//! Typed payloads of the federation messages.
//!
//! All JSON field names are snake_case; numbers are integers only
//! (coordinates in micro-degrees, money in cents, timestamps in unix
//! milliseconds). Optional fields are omitted when absent (`null` is also
//! accepted on input), empty lists may be omitted. Unknown fields are
//! ignored on input, for forward compatibility.

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::keys::NodeId;

/// Contract type, using France Travail codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ContractType {
    /// Contrat à durée indéterminée (`"CDI"`).
    #[serde(rename = "CDI")]
    Cdi,
    /// Contrat à durée déterminée (`"CDD"`).
    #[serde(rename = "CDD")]
    Cdd,
    /// Mission intérimaire (`"MIS"`).
    #[serde(rename = "MIS")]
    Mis,
    /// Contrat saisonnier (`"SAI"`).
    #[serde(rename = "SAI")]
    Sai,
    /// Alternance: apprentissage or professionnalisation (`"ALT"`).
    #[serde(rename = "ALT")]
    Alternance,
}

impl ContractType {
    /// The wire code (`"CDI"`, `"CDD"`, `"MIS"`, `"SAI"`, `"ALT"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractType::Cdi => "CDI",
            ContractType::Cdd => "CDD",
            ContractType::Mis => "MIS",
            ContractType::Sai => "SAI",
            ContractType::Alternance => "ALT",
        }
    }
}

/// Period a salary amount refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SalaryPeriod {
    /// Hourly.
    Hour,
    /// Monthly.
    Month,
    /// Yearly.
    Year,
}

/// Gross salary range, in euro cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Salary {
    /// Lower bound in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cents: Option<i64>,
    /// Upper bound in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cents: Option<i64>,
    /// Period of the amounts.
    pub period: SalaryPeriod,
}

/// The employer of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Employer {
    /// Company name.
    pub name: String,
    /// SIRET (14 digits) if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
}

/// A place of work of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workplace {
    /// INSEE code of the commune (5 characters, e.g. `41018`).
    pub commune_insee: String,
    /// Human readable label (e.g. `Blois (41)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Latitude in micro-degrees (WGS84 × 10^6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat_micro: Option<i64>,
    /// Longitude in micro-degrees (WGS84 × 10^6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon_micro: Option<i64>,
    /// Number of positions at this place.
    pub positions: i64,
}

/// Payload of `offer.published` and `offer.updated`: the full offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferPayload {
    /// Identifier of the offer, unique within the origin node.
    pub offer_id: String,
    /// Node that owns the offer.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub origin_node: NodeId,
    /// Title (e.g. `Agent d'entretien`).
    pub title: String,
    /// Free text description.
    pub description: String,
    /// ROME code (e.g. `K2204`).
    pub rome_code: String,
    /// Contract type.
    pub contract_type: ContractType,
    /// Contract duration in months (CDD, alternance…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    /// Weekly working hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_hours: Option<i64>,
    /// Salary range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salary: Option<Salary>,
    /// Required driving licence category (e.g. `B`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driving_licence: Option<String>,
    /// Required experience in months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_months: Option<i64>,
    /// Experience requirement as free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_label: Option<String>,
    /// First day of work (`YYYY-MM-DD`); availability is measured
    /// against it (against publication when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// A vehicle of one's own is required (omitted when false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub vehicle_required: bool,
    /// Certification codes required (`CACES_R489_3`, `DEAS`, `FIMO_M`…;
    /// referential in the node's `data/certifications.csv`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_certifications: Vec<String>,
    /// Certification codes appreciated but not required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub desired_certifications: Vec<String>,
    /// Employer.
    pub employer: Employer,
    /// Places of work.
    #[serde(default)]
    pub workplaces: Vec<Workplace>,
    /// Positions already filled by hires through the network (omitted
    /// when 0). The origin sends `offer.updated` when it changes and
    /// `offer.closed` once every position is filled; receivers show the
    /// positions still open.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub positions_filled: i64,
    /// First publication time (unix ms).
    pub published_at: i64,
    /// Last update time (unix ms).
    pub updated_at: i64,
}

/// Payload of `offer.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferClosed {
    /// Identifier of the closed offer.
    pub offer_id: String,
    /// Why it was closed (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Closing time (unix ms).
    pub closed_at: i64,
}

/// Payload of `report.figures`: a member's aggregate figures for one
/// calendar month, counts only. Cells counting from 1 to `threshold - 1`
/// people carry no value (`suppressed`), nor does any cell from which a
/// suppressed one could be worked out (definitions: the node's
/// `docs/reports.md`). A later message for the same origin and period
/// replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportFigures {
    /// The member whose figures these are (must be the sender).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub origin_node: NodeId,
    /// Calendar month, `YYYY-MM`.
    pub period: String,
    /// The small-count threshold applied.
    pub threshold: i64,
    /// The figures, at most [`ReportFigures::MAX_CELLS`].
    pub cells: Vec<FigureCell>,
    /// When computed (unix ms).
    pub published_at: i64,
}

impl ReportFigures {
    /// Most cells in one message.
    pub const MAX_CELLS: usize = 2000;
}

/// One figure: `figure` of the group `key` of `dimension` (`total`/`all`,
/// `outcome`/`cdi`, `age_band`/`16_25`, `departement`/`41`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FigureCell {
    /// Dimension.
    pub dimension: String,
    /// Group within the dimension.
    pub key: String,
    /// What is counted (`placed`, `rsa`, `hires_through_network`…).
    pub figure: String,
    /// The count; absent when suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// True when the count is withheld (small count).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// Candidate profile sent with a referral (personal data: only sent with
/// the candidate's consent, to the node owning the offer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CandidateProfile {
    /// Opaque reference of the candidate at the referring node.
    pub candidate_ref: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// INSEE code of the commune of residence.
    pub commune_insee: String,
    /// Maximum travel distance in km.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_travel_km: Option<i64>,
    /// Driving licence categories held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driving_licences: Vec<String>,
    /// Certification codes held (protocol 1, since 2026-12: optional,
    /// omitted when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<String>,
    /// Whether the candidate has a vehicle.
    #[serde(default)]
    pub has_vehicle: bool,
    /// The candidate travels by public transport only (protocol 1, since
    /// 2026-12: optional, omitted when false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub public_transport_only: bool,
    /// Availability date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_from: Option<String>,
    /// Desired weekly hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_hours: Option<i64>,
    /// Accepted contract types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contract_types: Vec<ContractType>,
    /// Sought ROME codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rome_codes: Vec<String>,
    /// Sought job titles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_titles: Vec<String>,
    /// Skills.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Languages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Years of experience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_years: Option<i64>,
    /// Training level (free text or nomenclature code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_level: Option<String>,
    /// Plain text CV (possibly cut: see `cv_text_truncated`).
    #[serde(default)]
    pub cv_text: String,
    /// The referring node cut `cv_text` so that the message fits in
    /// [`crate::MAX_MESSAGE_BYTES`] (protocol 1, since 2026-12: optional,
    /// omitted when false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cv_text_truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Payload of `referral.submitted`: a counsellor co-opts a candidate for
/// an offer of another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralSubmitted {
    /// Identifier of the referral (chosen by the referring node).
    pub referral_id: String,
    /// Offer concerned, or with `target` `training` / `immersion` the
    /// opportunity's id.
    pub offer_id: String,
    /// What the referral is for (protocol 1, since 2026-12: optional,
    /// omitted for an offer). Old peers ignore it and look up an offer
    /// with this id, which they do not have: they refuse the referral.
    #[serde(default, skip_serializing_if = "ReferralTarget::is_offer")]
    pub target: ReferralTarget,
    /// For a training or an immersion: the offer (of any node) the
    /// candidate is being prepared for (protocol 1, since 2026-12:
    /// optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_offer_id: Option<String>,
    /// Node of the counsellor.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub referring_node: NodeId,
    /// Counsellor's name.
    pub counsellor_name: String,
    /// Counsellor's e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counsellor_email: Option<String>,
    /// Counsellor's phone, so the employer can reach them (protocol 1,
    /// since 2026-12: optional, omitted when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counsellor_phone: Option<String>,
    /// Why the counsellor recommends this candidate.
    pub endorsement: String,
    /// The candidate.
    pub candidate: CandidateProfile,
    /// When the candidate consented to the transfer (unix ms).
    pub consent_given_at: i64,
    /// Submission time (unix ms).
    pub submitted_at: i64,
}

impl ReferralSubmitted {
    /// Make the message fit: when the canonical payload would exceed
    /// [`crate::MAX_PAYLOAD_BYTES`], cut `candidate.cv_text` on a character
    /// boundary to the budget left by the rest of the payload (computed with
    /// an empty `cv_text` and `cv_text_truncated: true`) and set
    /// `candidate.cv_text_truncated`. Returns whether the text was cut;
    /// fails with [`ProtocolError::TooLarge`] when even an empty CV text
    /// does not fit.
    pub fn fit_to_message_limit(&mut self) -> Result<bool, ProtocolError> {
        let size = |r: &ReferralSubmitted| crate::canonical::canonical_bytes(r).map(|b| b.len());
        if size(self)? <= crate::MAX_PAYLOAD_BYTES {
            return Ok(false);
        }
        let text = std::mem::take(&mut self.candidate.cv_text);
        let was = self.candidate.cv_text_truncated;
        self.candidate.cv_text_truncated = true;
        let rest = size(self)?;
        // `rest` counts the two quotes of the empty string already.
        let Some(budget) = crate::MAX_PAYLOAD_BYTES.checked_sub(rest) else {
            self.candidate.cv_text = text;
            self.candidate.cv_text_truncated = was;
            return Err(ProtocolError::TooLarge {
                size: rest,
                max: crate::MAX_PAYLOAD_BYTES,
            });
        };
        self.candidate.cv_text = crate::canonical::truncate_canonical(&text, budget).to_string();
        Ok(true)
    }
}

/// Status of a referral, modelled on the prescriber applications of
/// *les emplois de l'inclusion*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Just received.
    New,
    /// Being examined by the employer / counsellor.
    Processing,
    /// Hiring in preparation (e.g. pre-hire steps).
    PriorToHire,
    /// Candidate hired.
    Accepted,
    /// Referral refused.
    Refused,
    /// Put on hold.
    Postponed,
    /// Cancelled (including a cancelled hire).
    Cancelled,
    /// Became obsolete (offer closed, candidate hired elsewhere…).
    Obsolete,
    /// Local to the referring node, never sent on the wire: the network
    /// refused the referral for good (the offer closed before it arrived,
    /// the offer's member left the network…). A received message naming
    /// it is refused.
    Undeliverable,
    /// Training / immersion only (protocol 1, since 2026-12): the
    /// candidate was admitted to the session.
    Admitted,
    /// Training / immersion only: the candidate went through to the end.
    Completed,
    /// Training only: the candidate passed; the certifications the
    /// training grants are added to their record at the home node.
    Certified,
    /// Training / immersion only: the candidate left before the end.
    Abandoned,
}

impl ReferralStatus {
    /// All statuses, in workflow order.
    pub const ALL: [ReferralStatus; 13] = [
        ReferralStatus::New,
        ReferralStatus::Processing,
        ReferralStatus::PriorToHire,
        ReferralStatus::Accepted,
        ReferralStatus::Refused,
        ReferralStatus::Postponed,
        ReferralStatus::Cancelled,
        ReferralStatus::Obsolete,
        ReferralStatus::Undeliverable,
        ReferralStatus::Admitted,
        ReferralStatus::Completed,
        ReferralStatus::Certified,
        ReferralStatus::Abandoned,
    ];

    /// The wire string (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::New => "new",
            ReferralStatus::Processing => "processing",
            ReferralStatus::PriorToHire => "prior_to_hire",
            ReferralStatus::Accepted => "accepted",
            ReferralStatus::Refused => "refused",
            ReferralStatus::Postponed => "postponed",
            ReferralStatus::Cancelled => "cancelled",
            ReferralStatus::Obsolete => "obsolete",
            ReferralStatus::Undeliverable => "undeliverable",
            ReferralStatus::Admitted => "admitted",
            ReferralStatus::Completed => "completed",
            ReferralStatus::Certified => "certified",
            ReferralStatus::Abandoned => "abandoned",
        }
    }

    /// Whether `self → next` is an allowed transition of a referral to an
    /// offer (see the table in the crate README). A status never
    /// transitions to itself.
    pub fn can_transition_to(self, next: ReferralStatus) -> bool {
        self.can_transition_for(next, ReferralTarget::Offer)
    }

    /// Whether `self → next` is an allowed transition of a referral to
    /// `target` (see the tables in the crate README). The training
    /// outcomes (`admitted`, `completed`, `certified`, `abandoned`) are
    /// only valid for trainings and immersions (`certified` for trainings
    /// only), the hiring ones (`prior_to_hire`, `accepted`) only for
    /// offers.
    pub fn can_transition_for(self, next: ReferralStatus, target: ReferralTarget) -> bool {
        use ReferralStatus::*;
        if target != ReferralTarget::Offer {
            return match self {
                New => matches!(
                    next,
                    Processing
                        | Admitted
                        | Refused
                        | Postponed
                        | Cancelled
                        | Obsolete
                        | Undeliverable
                ),
                Processing => matches!(
                    next,
                    Admitted | Refused | Postponed | Cancelled | Obsolete | Undeliverable
                ),
                Postponed => matches!(
                    next,
                    Processing | Admitted | Refused | Cancelled | Obsolete | Undeliverable
                ),
                Admitted => {
                    matches!(next, Completed | Abandoned | Cancelled)
                        || (next == Certified && target == ReferralTarget::Training)
                }
                Completed => next == Certified && target == ReferralTarget::Training,
                PriorToHire | Accepted | Refused | Cancelled | Obsolete | Undeliverable
                | Certified | Abandoned => false,
            };
        }
        match self {
            New => matches!(
                next,
                Processing
                    | Refused
                    | Postponed
                    | Cancelled
                    | Accepted
                    | PriorToHire
                    | Obsolete
                    | Undeliverable
            ),
            Processing => matches!(
                next,
                PriorToHire | Accepted | Refused | Postponed | Cancelled | Obsolete | Undeliverable
            ),
            PriorToHire => matches!(
                next,
                Accepted | Refused | Cancelled | Obsolete | Undeliverable
            ),
            Postponed => matches!(
                next,
                Processing
                    | PriorToHire
                    | Accepted
                    | Refused
                    | Cancelled
                    | Obsolete
                    | Undeliverable
            ),
            Accepted => matches!(next, Cancelled),
            Refused | Cancelled | Obsolete | Undeliverable | Admitted | Completed | Certified
            | Abandoned => false,
        }
    }

    /// No transition leaves this status, whatever the target (`refused`,
    /// `cancelled`, `obsolete`, `undeliverable`, `certified`, `abandoned`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ReferralStatus::Refused
                | ReferralStatus::Cancelled
                | ReferralStatus::Obsolete
                | ReferralStatus::Undeliverable
                | ReferralStatus::Certified
                | ReferralStatus::Abandoned
        )
    }

    /// A training outcome: only valid for trainings and immersions.
    pub fn is_training_outcome(self) -> bool {
        matches!(
            self,
            ReferralStatus::Admitted
                | ReferralStatus::Completed
                | ReferralStatus::Certified
                | ReferralStatus::Abandoned
        )
    }

    /// Only the referring node sets it, for itself; it never travels.
    pub fn is_local_only(self) -> bool {
        matches!(self, ReferralStatus::Undeliverable)
    }

    /// The referral awaits a decision (`new`, `processing`, `postponed`,
    /// `prior_to_hire`).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            ReferralStatus::New
                | ReferralStatus::Processing
                | ReferralStatus::Postponed
                | ReferralStatus::PriorToHire
        )
    }
}

/// A stored or wire name that names no variant of a referral enum
/// (`ReferralStatus`, `ReferralTarget`): what their `FromStr` / `TryFrom`
/// answer, so a store can decode them with one mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    /// What was being parsed (`referral status`, `referral target`).
    pub kind: &'static str,
    /// The name found.
    pub value: String,
}

impl std::str::FromStr for ReferralStatus {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<ReferralStatus, UnknownName> {
        ReferralStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "referral status",
                value: s.to_string(),
            })
    }
}

impl TryFrom<String> for ReferralStatus {
    type Error = UnknownName;

    fn try_from(s: String) -> Result<ReferralStatus, UnknownName> {
        s.parse()
    }
}

impl std::str::FromStr for ReferralTarget {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<ReferralTarget, UnknownName> {
        ReferralTarget::parse(s).ok_or_else(|| UnknownName {
            kind: "referral target",
            value: s.to_string(),
        })
    }
}

impl TryFrom<String> for ReferralTarget {
    type Error = UnknownName;

    fn try_from(s: String) -> Result<ReferralTarget, UnknownName> {
        s.parse()
    }
}

/// What a referral is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralTarget {
    /// A job offer (`offer.*` messages).
    #[default]
    Offer,
    /// A training session (`opportunity.*` with `opportunity_type: training`).
    Training,
    /// An immersion, PMSMP (`opportunity.*` with `opportunity_type: immersion`).
    Immersion,
}

impl ReferralTarget {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralTarget::Offer => "offer",
            ReferralTarget::Training => "training",
            ReferralTarget::Immersion => "immersion",
        }
    }

    /// Parse the wire string.
    pub fn parse(s: &str) -> Option<ReferralTarget> {
        [
            ReferralTarget::Offer,
            ReferralTarget::Training,
            ReferralTarget::Immersion,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// `offer` (the default, omitted on the wire).
    pub fn is_offer(&self) -> bool {
        *self == ReferralTarget::Offer
    }
}

/// Kind of a network opportunity other than a job offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OpportunityType {
    /// A training session (`formation`), possibly granting certifications.
    Training,
    /// An immersion in a company (PMSMP, période de mise en situation en
    /// milieu professionnel).
    Immersion,
}

impl OpportunityType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityType::Training => "training",
            OpportunityType::Immersion => "immersion",
        }
    }

    /// The referral target for this kind.
    pub fn target(self) -> ReferralTarget {
        match self {
            OpportunityType::Training => ReferralTarget::Training,
            OpportunityType::Immersion => ReferralTarget::Immersion,
        }
    }
}

/// A place where a training or an immersion happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityPlace {
    /// INSEE code of the commune (5 characters).
    pub commune_insee: String,
    /// Human readable label (e.g. `Montluçon (03)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Latitude in micro-degrees (WGS84 × 10^6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat_micro: Option<i64>,
    /// Longitude in micro-degrees (WGS84 × 10^6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon_micro: Option<i64>,
}

/// Payload of `opportunity.published` and `opportunity.updated`: a
/// training session or an immersion offered to the network's candidates
/// (protocol 1, since 2026-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityPayload {
    /// Identifier, unique within the origin node.
    pub opportunity_id: String,
    /// Node that owns the opportunity.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub origin_node: NodeId,
    /// Training or immersion.
    pub opportunity_type: OpportunityType,
    /// Title (e.g. `CACES R489 catégorie 3`).
    pub title: String,
    /// Free text description.
    #[serde(default)]
    pub description: String,
    /// Training body, or host employer of an immersion.
    pub organisation: String,
    /// SIRET (14 digits) of the organisation, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    /// Certification codes a training grants (`CACES_R489_3`…; the same
    /// referential as `OfferPayload::required_certifications`). Empty for
    /// an immersion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications_granted: Vec<String>,
    /// ROME codes the opportunity prepares for (an immersion: exactly one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rome_codes: Vec<String>,
    /// Places (at least one).
    pub places: Vec<OpportunityPlace>,
    /// First day, `YYYY-MM-DD`.
    pub start_date: String,
    /// Last day, `YYYY-MM-DD` (not before `start_date`).
    pub end_date: String,
    /// Seats offered (at least 1).
    pub seats: i64,
    /// How it is funded (free text: `OPCO`, `Région`, `CPF`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
    /// Tutor of an immersion (name and role, no contact details).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tutor: Option<String>,
    /// First publication time (unix ms).
    pub published_at: i64,
    /// Last update time (unix ms).
    pub updated_at: i64,
}

/// Payload of `opportunity.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityClosed {
    /// Identifier of the closed opportunity.
    pub opportunity_id: String,
    /// Why it was closed (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Closing time (unix ms).
    pub closed_at: i64,
}

/// Why a referral was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Candidate cannot travel to the workplace.
    NotMobile,
    /// Candidate lacks required skills.
    LackingSkills,
    /// Candidate was hired elsewhere.
    HiredElsewhere,
    /// Position already filled.
    PositionFilled,
    /// Candidate declined.
    CandidateDeclined,
    /// Candidate did not answer.
    NoAnswer,
    /// Another reason (see comment).
    Other,
}

/// Payload of `referral.status_changed` (sent by the offer's node back to
/// the referring node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralStatusChanged {
    /// Referral concerned.
    pub referral_id: String,
    /// Offer concerned.
    pub offer_id: String,
    /// New status.
    pub status: ReferralStatus,
    /// Refusal reason (for `refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RefusalReason>,
    /// Contract type of the hire (for `accepted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<ContractType>,
    /// Start date of the hire, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Free comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Name of the person who changed the status.
    pub changed_by: String,
    /// Change time (unix ms).
    pub changed_at: i64,
}

/// Why a referral was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The counsellor withdrew the referral.
    Withdrawn,
    /// The candidate exercised their right to erasure (GDPR art. 17): the
    /// receiver must delete the candidate's data.
    Erasure,
}

/// Payload of `referral.withdrawn` (sent by the referring node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralWithdrawn {
    /// Referral concerned.
    pub referral_id: String,
    /// Offer concerned.
    pub offer_id: String,
    /// Reason.
    pub reason: WithdrawReason,
    /// Withdrawal time (unix ms).
    pub withdrawn_at: i64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ReferralStatus::*;

    #[test]
    fn transitions() {
        assert!(New.can_transition_to(Processing));
        assert!(New.can_transition_to(Accepted));
        assert!(Processing.can_transition_to(PriorToHire));
        assert!(PriorToHire.can_transition_to(Accepted));
        assert!(!PriorToHire.can_transition_to(Postponed));
        assert!(!PriorToHire.can_transition_to(Processing));
        assert!(Postponed.can_transition_to(Processing));
        assert!(Accepted.can_transition_to(Cancelled));
        assert!(!Accepted.can_transition_to(Refused));
        assert!(!Processing.can_transition_to(New));
        let targets = [
            ReferralTarget::Offer,
            ReferralTarget::Training,
            ReferralTarget::Immersion,
        ];
        for s in ReferralStatus::ALL {
            for t in targets {
                assert!(!s.can_transition_for(s, t));
                assert!(!s.can_transition_for(New, t));
            }
            let any = ReferralStatus::ALL
                .iter()
                .any(|n| targets.iter().any(|t| s.can_transition_for(*n, *t)));
            assert_eq!(s.is_terminal(), !any, "{s:?}");
            // Training outcomes never apply to offers, hiring ones never
            // to trainings or immersions.
            for n in ReferralStatus::ALL {
                if n.is_training_outcome() {
                    assert!(!s.can_transition_to(n), "{s:?} -> {n:?}");
                }
                if matches!(n, Accepted | PriorToHire) {
                    assert!(!s.can_transition_for(n, ReferralTarget::Training));
                    assert!(!s.can_transition_for(n, ReferralTarget::Immersion));
                }
            }
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(New.is_pending() && !Accepted.is_pending() && !Refused.is_pending());
        let training = ReferralTarget::Training;
        let immersion = ReferralTarget::Immersion;
        assert!(New.can_transition_for(Admitted, training));
        assert!(Admitted.can_transition_for(Certified, training));
        assert!(Admitted.can_transition_for(Completed, training));
        assert!(Completed.can_transition_for(Certified, training));
        assert!(Admitted.can_transition_for(Abandoned, immersion));
        assert!(Admitted.can_transition_for(Completed, immersion));
        assert!(!Admitted.can_transition_for(Certified, immersion));
        assert!(!Completed.can_transition_for(Certified, immersion));
        assert!(!New.can_transition_for(Certified, training));
        assert!(!Completed.can_transition_for(Abandoned, training));
    }

    #[test]
    fn enums_wire_names() {
        assert_eq!(
            serde_json::to_string(&ContractType::Alternance).unwrap(),
            "\"ALT\""
        );
        assert_eq!(
            serde_json::to_string(&PriorToHire).unwrap(),
            "\"prior_to_hire\""
        );
        assert_eq!(
            serde_json::to_string(&RefusalReason::HiredElsewhere).unwrap(),
            "\"hired_elsewhere\""
        );
        assert_eq!(
            serde_json::to_string(&SalaryPeriod::Month).unwrap(),
            "\"month\""
        );
        assert!(serde_json::from_str::<ContractType>("\"cdi\"").is_err());
    }

    fn referral_with_cv(cv_text: String) -> ReferralSubmitted {
        let node = |s: &str| NodeId::parse(s).unwrap();
        let long = |c: char, n: usize| std::iter::repeat_n(c, n).collect::<String>();
        ReferralSubmitted {
            referral_id: long('r', 128),
            offer_id: long('o', 128),
            target: ReferralTarget::Offer,
            for_offer_id: None,
            referring_node: node(&long('a', 64)),
            counsellor_name: long('é', 200),
            counsellor_email: Some(format!("{}@example.fr", long('c', 60))),
            counsellor_phone: None,
            endorsement: long('\u{1}', 2000),
            candidate: CandidateProfile {
                candidate_ref: long('r', 128),
                first_name: long('é', 100),
                last_name: long('é', 100),
                email: None,
                phone: None,
                commune_insee: "41018".into(),
                max_travel_km: Some(-9_007_199_254_740_991),
                driving_licences: vec!["B".into()],
                certifications: Vec::new(),
                has_vehicle: true,
                public_transport_only: false,
                available_from: Some("2026-01-01".into()),
                weekly_hours: Some(35),
                contract_types: vec![ContractType::Cdi],
                rome_codes: vec!["K2204".into()],
                job_titles: vec![long('😀', 200); 20],
                skills: vec![long('😀', 200); 100],
                languages: vec![long('😀', 100); 20],
                experience_years: Some(3),
                training_level: Some(long('é', 100)),
                cv_text,
                cv_text_truncated: false,
            },
            consent_given_at: 9_007_199_254_740_991,
            submitted_at: 9_007_199_254_740_991,
        }
    }

    fn signed_len(r: &ReferralSubmitted) -> usize {
        let key = crate::SigningKeyPair::generate(crate::KeyId::parse("ed25519:1").unwrap());
        let long = "b".repeat(64);
        crate::sign_message(
            crate::MessageKind::ReferralSubmitted,
            r,
            &NodeId::parse(&long).unwrap(),
            &key,
            crate::Recipient::Node(NodeId::parse(&"c".repeat(64)).unwrap()),
            -9_007_199_254_740_991,
            1_750_000_000_000,
            1,
        )
        .map(|m| m.bytes.len())
        .unwrap_or(usize::MAX)
    }

    #[test]
    fn referral_cv_text_is_cut_to_fit_the_message() {
        // A short CV is left alone and the flag stays off the wire, as do
        // empty certifications.
        let mut r = referral_with_cv("Cariste, CACES 1 3 5.".into());
        assert!(!r.fit_to_message_limit().unwrap());
        let wire = serde_json::to_string(&r).unwrap();
        assert!(!wire.contains("cv_text_truncated"));
        assert!(!wire.contains("certifications"));
        // 150 000 'é' (300 000 bytes) with every other field at its maximum.
        let cv = "é".repeat(150_000);
        let mut r = referral_with_cv(cv.clone());
        assert!(r.fit_to_message_limit().unwrap());
        assert!(r.candidate.cv_text_truncated);
        assert!(cv.starts_with(&r.candidate.cv_text));
        assert!(r.candidate.cv_text.len() > 10_000, "the budget is used");
        let n = signed_len(&r);
        assert!(n <= crate::MAX_MESSAGE_BYTES, "{n}");
        // As much as fits: one more character would not.
        let size = crate::canonical::canonical_bytes(&r).unwrap().len();
        assert!(size + 2 > crate::MAX_PAYLOAD_BYTES, "{size}");
        // Escaped characters count with their escapes.
        let mut r = referral_with_cv("\u{1}".repeat(100_000));
        assert!(r.fit_to_message_limit().unwrap());
        assert!(signed_len(&r) <= crate::MAX_MESSAGE_BYTES);
        // Cutting again changes nothing.
        let before = r.clone();
        assert!(!r.fit_to_message_limit().unwrap());
        assert_eq!(r, before);
    }

    #[test]
    fn envelope_overhead_bound_holds_at_the_extremes() {
        // Every envelope member at its longest: 64-character ids, the
        // longest kind, integers at -(2^53-1).
        let payload = serde_json::to_value(referral_with_cv(String::new())).unwrap();
        let payload_len = crate::canonical::to_canonical_string(&payload)
            .unwrap()
            .len();
        let key_id = crate::KeyId::parse(&format!("ed25519:{}", "k".repeat(56))).unwrap();
        assert_eq!(key_id.as_str().len(), 64);
        let key = crate::SigningKeyPair::generate(key_id.clone());
        let min = -9_007_199_254_740_991;
        let envelope = crate::Envelope {
            version: crate::PROTOCOL_VERSION,
            id: "01977420-dc00-7000-8000-000000000003".into(),
            kind: crate::MessageKind::ReferralStatusChanged,
            sender: NodeId::parse(&"b".repeat(64)).unwrap(),
            key_id,
            created_at: min,
            expires_at: min,
            recipient: crate::Recipient::Node(NodeId::parse(&"c".repeat(64)).unwrap()),
            membership_serial: min,
            payload,
            signatures: Default::default(),
        };
        let signed = crate::sign_envelope(envelope, &key).unwrap();
        let overhead = signed.bytes.len() - payload_len;
        assert!(overhead <= crate::ENVELOPE_OVERHEAD_MAX, "{overhead}");
        assert!(
            overhead > 600,
            "the bound is not loose by an order of magnitude: {overhead}"
        );
    }

    #[test]
    fn tolerant_of_missing_optionals() {
        let c: CandidateProfile = serde_json::from_str(
            r#"{"candidate_ref":"c1","first_name":"Zoé","last_name":"Bâ","commune_insee":"41018","email":null}"#,
        )
        .unwrap();
        assert!(c.email.is_none() && c.skills.is_empty() && !c.has_vehicle);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"candidate_ref":"c1","first_name":"Zoé","last_name":"Bâ","commune_insee":"41018","has_vehicle":false,"cv_text":""})
        );
    }
}
