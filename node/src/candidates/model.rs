//! The candidathèque's vocabulary: the record ([`Candidate`]) and its
//! parts (consent, restricted fields, CV files), the statuses and scopes,
//! the input of a create or update and its validation against the
//! referentials, the placement outcomes, what may be shared in a referral
//! ([`minimal_profile`]) and the index document ([`to_doc`]). Pure: no I/O,
//! no database, no `AppState` (the services are in `service.rs`, the SQL in
//! `store.rs`).

use serde::{Deserialize, Serialize};
use vivier_protocol::ContractType;

use crate::auth::{Role, User};
use crate::error::FieldError;
use crate::search::CandidateDoc;

/// Where a candidate is in their journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    /// Looking for work.
    Active,
    /// Referred to at least one offer.
    InReferral,
    /// Back to work or training.
    Placed,
    /// No longer followed.
    Archived,
}

impl CandidateStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateStatus::Active => "active",
            CandidateStatus::InReferral => "in_referral",
            CandidateStatus::Placed => "placed",
            CandidateStatus::Archived => "archived",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<CandidateStatus> {
        match s {
            "active" => Some(CandidateStatus::Active),
            "in_referral" => Some(CandidateStatus::InReferral),
            "placed" => Some(CandidateStatus::Placed),
            "archived" => Some(CandidateStatus::Archived),
            _ => None,
        }
    }
}

/// How far a consent reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Searchable and matchable on this node only.
    Local,
    /// May also be shared as a minimal profile inside a referral.
    Network,
}

impl ConsentScope {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::Local => "local",
            ConsentScope::Network => "network",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<ConsentScope> {
        match s {
            "local" => Some(ConsentScope::Local),
            "network" => Some(ConsentScope::Network),
            _ => None,
        }
    }
}

/// A recorded consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    /// When (unix ms).
    pub given_at: i64,
    /// Who recorded it (user id; `import` for imported consents without a
    /// counsellor; `candidate:<account id>` when the person chose it in their
    /// space).
    pub counsellor_id: String,
    /// Scope.
    pub scope: ConsentScope,
}

/// Sensitive fields: optional, kept only on this node, shown only to the
/// admin and the assigned counsellor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sensitive {
    /// Bénéficiaire du RSA.
    #[serde(default)]
    pub rsa_beneficiary: Option<bool>,
    /// Freins périphériques (mobility, childcare, housing…).
    #[serde(default)]
    pub social_barriers: Vec<String>,
    /// RQTH (reconnaissance de la qualité de travailleur handicapé).
    #[serde(default)]
    pub disability_recognition: Option<bool>,
    /// Free health notes.
    #[serde(default)]
    pub health_notes: Option<String>,
    /// Numéro de sécurité sociale.
    #[serde(default)]
    pub nir: Option<String>,
}

impl Sensitive {
    pub(crate) fn is_empty(&self) -> bool {
        self.rsa_beneficiary.is_none()
            && self.social_barriers.is_empty()
            && self.disability_recognition.is_none()
            && self.health_notes.as_deref().unwrap_or("").trim().is_empty()
            && self.nir.as_deref().unwrap_or("").trim().is_empty()
    }
}

/// A stored CV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateFile {
    /// Identifier.
    pub id: String,
    /// Original name (sanitised).
    pub file_name: String,
    /// Sniffed MIME type.
    pub content_type: String,
    /// Size.
    pub size_bytes: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Unix ms.
    pub created_at: i64,
    /// Characters of text read from the file (0 for a scan, or for files
    /// uploaded before texts were kept).
    #[serde(default)]
    pub text_chars: i64,
    /// Whether readable text was found (a scanned PDF has none).
    #[serde(default = "yes")]
    pub readable: bool,
    /// Whether the record's searchable CV text is this file's.
    #[serde(default)]
    pub in_use: bool,
    /// Whether the text was read by OCR from a scanned PDF (to be checked
    /// by a person: recognition makes mistakes).
    #[serde(default)]
    pub ocr: bool,
}

fn yes() -> bool {
    true
}

pub use crate::extract::readable_text;

/// A candidate record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    pub id: String,
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub commune_insee: String,
    /// Centre of the home commune, from the referential.
    pub home: Option<crate::geo::Point>,
    pub max_travel_km: Option<i64>,
    pub driving_licences: Vec<String>,
    /// Certification codes ([`crate::referentials::Certifications`]):
    /// CACES, FIMO/FCO, habilitations électriques, SST, DEAS…
    #[serde(default)]
    pub certifications: Vec<String>,
    pub has_vehicle: bool,
    pub public_transport_only: bool,
    /// `YYYY-MM-DD`.
    pub available_from: Option<String>,
    pub weekly_hours: Option<i64>,
    pub contract_types: Vec<ContractType>,
    /// 1 to 5, validated against the ROME referential.
    pub rome_codes: Vec<String>,
    pub job_titles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub experience_years: Option<i64>,
    pub training_level: Option<String>,
    /// Year of birth (the reports' age bands); never sent to other nodes.
    #[serde(default)]
    pub birth_year: Option<i64>,
    pub cv_text: String,
    pub counsellor_id: Option<String>,
    pub status: CandidateStatus,
    /// `None` = draft: not searchable, not matchable, not indexed.
    pub consent: Option<Consent>,
    /// Only loaded for the admin and the assigned counsellor; never leaves
    /// the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<Sensitive>,
    pub files: Vec<CandidateFile>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: i64,
}

/// The part of the profile stored as JSON in `candidates.profile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredProfile {
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) phone: Option<String>,
    #[serde(default)]
    pub(crate) max_travel_km: Option<i64>,
    #[serde(default)]
    pub(crate) driving_licences: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) certifications: Vec<String>,
    #[serde(default)]
    pub(crate) has_vehicle: bool,
    #[serde(default)]
    pub(crate) public_transport_only: bool,
    #[serde(default)]
    pub(crate) available_from: Option<String>,
    #[serde(default)]
    pub(crate) weekly_hours: Option<i64>,
    #[serde(default)]
    pub(crate) contract_types: Vec<ContractType>,
    #[serde(default)]
    pub(crate) rome_codes: Vec<String>,
    #[serde(default)]
    pub(crate) job_titles: Vec<String>,
    #[serde(default)]
    pub(crate) skills: Vec<String>,
    #[serde(default)]
    pub(crate) languages: Vec<String>,
    #[serde(default)]
    pub(crate) experience_years: Option<i64>,
    #[serde(default)]
    pub(crate) training_level: Option<String>,
    #[serde(default)]
    pub(crate) birth_year: Option<i64>,
    #[serde(default)]
    pub(crate) cv_text: String,
}

impl StoredProfile {
    pub(crate) fn of(c: &Candidate) -> StoredProfile {
        StoredProfile {
            email: c.email.clone(),
            phone: c.phone.clone(),
            max_travel_km: c.max_travel_km,
            driving_licences: c.driving_licences.clone(),
            certifications: c.certifications.clone(),
            has_vehicle: c.has_vehicle,
            public_transport_only: c.public_transport_only,
            available_from: c.available_from.clone(),
            weekly_hours: c.weekly_hours,
            contract_types: c.contract_types.clone(),
            rome_codes: c.rome_codes.clone(),
            job_titles: c.job_titles.clone(),
            skills: c.skills.clone(),
            languages: c.languages.clone(),
            experience_years: c.experience_years,
            training_level: c.training_level.clone(),
            birth_year: c.birth_year,
            cv_text: c.cv_text.clone(),
        }
    }
}

/// Record-keeping facts that are not part of [`Candidate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordMeta {
    /// When the counsellor was reminded of the retention deadline.
    pub retention_reminded_at: Option<i64>,
    /// When the record was anonymised (retention).
    pub anonymised_at: Option<i64>,
}

/// The body of POST (create) and PUT (update).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateInput {
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub commune_insee: String,
    #[serde(default)]
    pub max_travel_km: Option<i64>,
    #[serde(default)]
    pub driving_licences: Vec<String>,
    /// Certification codes (`GET /api/v1/certifications`).
    #[serde(default)]
    pub certifications: Vec<String>,
    #[serde(default)]
    pub has_vehicle: bool,
    #[serde(default)]
    pub public_transport_only: bool,
    #[serde(default)]
    pub available_from: Option<String>,
    #[serde(default)]
    pub weekly_hours: Option<i64>,
    #[serde(default)]
    pub contract_types: Vec<ContractType>,
    #[serde(default)]
    pub rome_codes: Vec<String>,
    #[serde(default)]
    pub job_titles: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub experience_years: Option<i64>,
    #[serde(default)]
    pub training_level: Option<String>,
    /// Year of birth (age bands in the reports).
    #[serde(default)]
    pub birth_year: Option<i64>,
    /// On update, absent = keep the current CV text (e.g. from an upload).
    #[serde(default)]
    pub cv_text: Option<String>,
    /// Assigned counsellor (user id); defaults to the creating counsellor.
    #[serde(default)]
    pub counsellor_id: Option<String>,
    /// `active` or `archived` (the other statuses are set by referrals and
    /// placements).
    #[serde(default)]
    pub status: Option<CandidateStatus>,
    /// Record the candidate's consent now, with this scope.
    #[serde(default)]
    pub consent_scope: Option<ConsentScope>,
    /// Sensitive fields; absent = unchanged, `{}` = cleared.
    #[serde(default)]
    pub sensitive: Option<Sensitive>,
}

/// Stable code of the field error answered when another record already has
/// the external id (`POST /api/v1/candidates` is idempotent on it for
/// callers that check this code).
pub const EXTERNAL_ID_TAKEN: &str = "external_id_taken";

/// Driving licence categories accepted (French permis).
pub use crate::referentials::certifications::LICENCES;

fn clean_list(v: &[String], max_items: usize, max_len: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        let s: String = s.chars().take(max_len).collect();
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
            out.push(s);
        }
        if out.len() >= max_items {
            break;
        }
    }
    out
}

fn opt_trim(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A phone number as the forms accept it: 6 to 20 digits and the usual
/// separators.
pub(crate) fn valid_phone(p: &str) -> bool {
    let digits = p.chars().filter(char::is_ascii_digit).count();
    (6..=20).contains(&digits)
        && p.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '.' | '-' | '(' | ')'))
}

/// Validated, normalised input: everything but ids, timestamps, consent.
#[derive(Debug, Clone)]
pub(crate) struct Valid {
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub commune_insee: String,
    pub max_travel_km: Option<i64>,
    pub driving_licences: Vec<String>,
    pub certifications: Vec<String>,
    pub has_vehicle: bool,
    pub public_transport_only: bool,
    pub available_from: Option<String>,
    pub weekly_hours: Option<i64>,
    pub contract_types: Vec<ContractType>,
    pub rome_codes: Vec<String>,
    pub job_titles: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub experience_years: Option<i64>,
    pub training_level: Option<String>,
    pub birth_year: Option<i64>,
    pub cv_text: Option<String>,
    pub status: Option<CandidateStatus>,
}

/// Validate the input against the referentials, with one error per field.
/// The user-related checks (counsellor, sensitive) are done by the callers.
pub(crate) fn validate(
    refs: &crate::referentials::Referentials,
    input: &CandidateInput,
) -> std::result::Result<Valid, Vec<FieldError>> {
    let mut errs = Vec::new();
    let first_name = input.first_name.trim().to_string();
    let last_name = input.last_name.trim().to_string();
    if first_name.is_empty() {
        errs.push(FieldError::new("first_name", "required"));
    } else if first_name.chars().count() > 100 {
        errs.push(FieldError::new("first_name", "at most 100 characters"));
    }
    if last_name.is_empty() {
        errs.push(FieldError::new("last_name", "required"));
    } else if last_name.chars().count() > 100 {
        errs.push(FieldError::new("last_name", "at most 100 characters"));
    }
    let external_id = opt_trim(&input.external_id);
    if external_id
        .as_deref()
        .is_some_and(|s| s.chars().count() > 100)
    {
        errs.push(FieldError::new("external_id", "at most 100 characters"));
    }
    let email = opt_trim(&input.email).map(|e| e.to_lowercase());
    if let Some(e) = &email {
        if !crate::auth::valid_email(e) {
            errs.push(FieldError::new(
                "email",
                format!("{e:?} is not a valid e-mail address"),
            ));
        }
    }
    let phone = opt_trim(&input.phone);
    if let Some(p) = &phone {
        if !valid_phone(p) {
            errs.push(FieldError::new(
                "phone",
                "expected 6 to 20 digits (spaces, +, ., -, parentheses allowed)",
            ));
        }
    }
    let commune_insee = input.commune_insee.trim().to_uppercase();
    if commune_insee.is_empty() {
        errs.push(FieldError::new("commune_insee", "required"));
    } else if refs.commune(&commune_insee).is_none() {
        errs.push(FieldError::new(
            "commune_insee",
            format!("unknown INSEE commune code {commune_insee:?}"),
        ));
    }
    if let Some(km) = input.max_travel_km {
        if !(0..=500).contains(&km) {
            errs.push(FieldError::new(
                "max_travel_km",
                "must be between 0 and 500",
            ));
        }
    }
    let mut driving_licences = Vec::new();
    for (i, l) in input.driving_licences.iter().enumerate() {
        let l = l.trim().to_uppercase();
        if l.is_empty() {
            continue;
        }
        if !LICENCES.contains(&l.as_str()) {
            errs.push(FieldError::new(
                format!("driving_licences[{i}]"),
                format!(
                    "unknown licence category {l:?} (expected one of {})",
                    LICENCES.join(", ")
                ),
            ));
        } else if !driving_licences.contains(&l) {
            driving_licences.push(l);
        }
    }
    let (certifications, cert_errs) =
        crate::referentials::certifications::check_list("certifications", &input.certifications);
    errs.extend(cert_errs);
    let available_from = opt_trim(&input.available_from);
    if let Some(d) = &available_from {
        if crate::util::date_to_days(d).is_none() {
            errs.push(FieldError::new(
                "available_from",
                format!("{d:?} is not a date (YYYY-MM-DD)"),
            ));
        }
    }
    if let Some(h) = input.weekly_hours {
        if !(1..=60).contains(&h) {
            errs.push(FieldError::new("weekly_hours", "must be between 1 and 60"));
        }
    }
    if let Some(y) = input.experience_years {
        if !(0..=60).contains(&y) {
            errs.push(FieldError::new(
                "experience_years",
                "must be between 0 and 60",
            ));
        }
    }
    let mut contract_types = Vec::new();
    for c in &input.contract_types {
        if !contract_types.contains(c) {
            contract_types.push(*c);
        }
    }
    let mut rome_codes: Vec<String> = Vec::new();
    for (i, r) in input.rome_codes.iter().enumerate() {
        let r = r.trim().to_uppercase();
        if !refs.rome_exists(&r) {
            errs.push(FieldError::new(
                format!("rome_codes[{i}]"),
                format!("unknown ROME code {r:?}"),
            ));
        } else if !rome_codes.contains(&r) {
            rome_codes.push(r);
        }
    }
    if input.rome_codes.is_empty() {
        errs.push(FieldError::new(
            "rome_codes",
            "at least one ROME code is required",
        ));
    } else if input.rome_codes.len() > 5 {
        errs.push(FieldError::new("rome_codes", "at most 5 ROME codes"));
    }
    let cv_text = input.cv_text.as_ref().map(|t| t.trim().to_string());
    if cv_text
        .as_ref()
        .is_some_and(|t| t.chars().count() > 200_000)
    {
        errs.push(FieldError::new("cv_text", "at most 200000 characters"));
    }
    let training_level = opt_trim(&input.training_level);
    if training_level
        .as_deref()
        .is_some_and(|t| t.chars().count() > 100)
    {
        errs.push(FieldError::new("training_level", "at most 100 characters"));
    }
    if input
        .birth_year
        .is_some_and(|y| !(1900..=2100).contains(&y))
    {
        errs.push(FieldError::new(
            "birth_year",
            "must be between 1900 and 2100",
        ));
    }
    if let Some(s) = input.status {
        if !matches!(s, CandidateStatus::Active | CandidateStatus::Archived) {
            errs.push(FieldError::new(
                "status",
                "only active or archived can be set here (in_referral and placed follow referrals and placements)",
            ));
        }
    }
    if let Some(s) = &input.sensitive {
        if let Some(nir) = s.nir.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            let compact: String = nir.chars().filter(|c| !c.is_whitespace()).collect();
            let ok = compact.len() == 15
                && compact.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_digit() || ((i == 5 || i == 6) && matches!(c, 'A' | 'B' | 'a' | 'b'))
                });
            if !ok {
                errs.push(FieldError::new(
                    "sensitive.nir",
                    "expected 15 characters (13 digits and a 2-digit key)",
                ));
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Valid {
        external_id,
        first_name,
        last_name,
        email,
        phone,
        commune_insee,
        max_travel_km: input.max_travel_km,
        driving_licences,
        certifications,
        has_vehicle: input.has_vehicle,
        public_transport_only: input.public_transport_only,
        available_from,
        weekly_hours: input.weekly_hours,
        contract_types,
        rome_codes,
        job_titles: clean_list(&input.job_titles, 20, 200),
        skills: clean_list(&input.skills, 100, 200),
        languages: clean_list(&input.languages, 20, 100),
        experience_years: input.experience_years,
        training_level,
        birth_year: input.birth_year,
        cv_text,
        status: input.status,
    })
}

impl Valid {
    /// Apply to a record (new or existing).
    pub(crate) fn apply(self, c: &mut Candidate, refs: &crate::referentials::Referentials) {
        c.external_id = self.external_id;
        c.first_name = self.first_name;
        c.last_name = self.last_name;
        c.email = self.email;
        c.phone = self.phone;
        c.home = refs.commune(&self.commune_insee).and_then(|m| m.point);
        c.commune_insee = self.commune_insee;
        c.max_travel_km = self.max_travel_km;
        c.driving_licences = self.driving_licences;
        c.certifications = self.certifications;
        c.has_vehicle = self.has_vehicle;
        c.public_transport_only = self.public_transport_only;
        c.available_from = self.available_from;
        c.weekly_hours = self.weekly_hours;
        c.contract_types = self.contract_types;
        c.rome_codes = self.rome_codes;
        c.job_titles = self.job_titles;
        c.skills = self.skills;
        c.languages = self.languages;
        c.experience_years = self.experience_years;
        c.training_level = self.training_level;
        c.birth_year = self.birth_year;
        if let Some(t) = self.cv_text {
            c.cv_text = t;
        }
        if let Some(s) = self.status {
            c.status = s;
        }
    }
}

pub(crate) fn empty_candidate(id: String, now: i64) -> Candidate {
    Candidate {
        id,
        external_id: None,
        first_name: String::new(),
        last_name: String::new(),
        email: None,
        phone: None,
        commune_insee: String::new(),
        home: None,
        max_travel_km: None,
        driving_licences: Vec::new(),
        certifications: Vec::new(),
        has_vehicle: false,
        public_transport_only: false,
        available_from: None,
        weekly_hours: None,
        contract_types: Vec::new(),
        rome_codes: Vec::new(),
        job_titles: Vec::new(),
        skills: Vec::new(),
        languages: Vec::new(),
        experience_years: None,
        training_level: None,
        birth_year: None,
        cv_text: String::new(),
        counsellor_id: None,
        status: CandidateStatus::Active,
        consent: None,
        sensitive: None,
        files: Vec::new(),
        created_at: now,
        updated_at: now,
        last_activity_at: now,
    }
}

/// The minimal profile sent inside a referral: no sensitive field, no NIR,
/// no internal ids. Control characters other than tab and line breaks
/// (possible in CV text extracted from a file) are left out, as receivers
/// refuse them; the CV text is cut to fit the message by the referral
/// (`ReferralSubmitted::fit_to_message_limit`, `cv_text_truncated`).
pub fn minimal_profile(c: &Candidate, candidate_ref: &str) -> vivier_protocol::CandidateProfile {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|ch| !crate::validation::forbidden_char(*ch))
            .collect()
    };
    let clean_opt = |s: &Option<String>| s.as_deref().map(clean);
    let clean_all = |v: &[String]| {
        v.iter()
            .map(|s| clean(s))
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
    };
    vivier_protocol::CandidateProfile {
        candidate_ref: candidate_ref.to_string(),
        first_name: clean(&c.first_name),
        last_name: clean(&c.last_name),
        email: clean_opt(&c.email),
        phone: clean_opt(&c.phone),
        commune_insee: c.commune_insee.clone(),
        max_travel_km: c.max_travel_km,
        driving_licences: c.driving_licences.clone(),
        certifications: c.certifications.clone(),
        has_vehicle: c.has_vehicle,
        public_transport_only: c.public_transport_only,
        available_from: c.available_from.clone(),
        weekly_hours: c.weekly_hours,
        contract_types: c.contract_types.clone(),
        rome_codes: c.rome_codes.clone(),
        job_titles: clean_all(&c.job_titles),
        skills: clean_all(&c.skills),
        languages: clean_all(&c.languages),
        experience_years: c.experience_years,
        training_level: clean_opt(&c.training_level),
        cv_text: clean(&c.cv_text),
        cv_text_truncated: false,
    }
}

/// Whether `user` may see the sensitive fields of `c`: the admin and the
/// assigned counsellor.
pub fn may_see_sensitive(user: &User, c: &Candidate) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Counsellor && c.counsellor_id.as_deref() == Some(user.id.as_str()))
}

/// The index document of a record.
pub fn to_doc(c: &Candidate) -> CandidateDoc {
    CandidateDoc {
        id: c.id.clone(),
        full_name: format!("{} {}", c.first_name, c.last_name),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        job_titles: c.job_titles.clone(),
        skills: c.skills.clone(),
        languages: c.languages.clone(),
        training_level: c.training_level.clone(),
        cv_text: c.cv_text.clone(),
        rome_codes: c.rome_codes.clone(),
        commune_insee: c.commune_insee.clone(),
        point: c.home,
        driving_licences: c.driving_licences.clone(),
        has_vehicle: c.has_vehicle,
        available_from_days: c
            .available_from
            .as_deref()
            .and_then(crate::util::date_to_days),
        available_from: c.available_from.clone(),
        contract_types: c
            .contract_types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        status: c.status.as_str().to_string(),
        updated_at: c.updated_at,
        max_travel_km: c.max_travel_km,
        public_transport_only: c.public_transport_only,
        weekly_hours: c.weekly_hours,
        certifications: c.certifications.clone(),
        network_consent: c.consent.as_ref().map(|k| k.scope) == Some(ConsentScope::Network),
    }
}

/// Whether a record belongs in the index: consented (anonymised records
/// have no consent).
pub fn indexable(c: &Candidate) -> bool {
    c.consent.is_some()
}

/// What a person may correct on their own record from their candidate
/// space: contact details, availability, mobility, job wishes. Everything
/// else (identity, ROME codes, certifications, status, consent, restricted
/// fields) stays the counsellor's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    pub available_from: Option<String>,
    pub weekly_hours: Option<i64>,
    pub max_travel_km: Option<i64>,
    pub has_vehicle: bool,
    pub public_transport_only: bool,
    pub job_titles: Vec<String>,
    pub contract_types: Vec<ContractType>,
}

pub(crate) fn input_of(c: &Candidate) -> CandidateInput {
    CandidateInput {
        external_id: c.external_id.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        commune_insee: c.commune_insee.clone(),
        max_travel_km: c.max_travel_km,
        driving_licences: c.driving_licences.clone(),
        certifications: c.certifications.clone(),
        has_vehicle: c.has_vehicle,
        public_transport_only: c.public_transport_only,
        available_from: c.available_from.clone(),
        weekly_hours: c.weekly_hours,
        contract_types: c.contract_types.clone(),
        rome_codes: c.rome_codes.clone(),
        job_titles: c.job_titles.clone(),
        skills: c.skills.clone(),
        languages: c.languages.clone(),
        experience_years: c.experience_years,
        training_level: c.training_level.clone(),
        birth_year: c.birth_year,
        ..CandidateInput::default()
    }
}

/// Names of the top-level fields that differ (bookkeeping timestamps left
/// out): what an audit entry says changed, without the values.
pub(crate) fn changed_fields(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "updated_at" | "last_activity_at") && b.get(k.as_str()) != Some(v)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether `user` may hand the record over to another counsellor: an
/// admin, or the counsellor it is assigned to.
pub fn may_reassign(user: &User, c: &Candidate) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Counsellor && c.counsellor_id.as_deref() == Some(user.id.as_str()))
}

/// Outcomes of a placement, as funders count returns to work
/// (`docs/reports.md`). The declaration order is the reports' column order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PlacementOutcome {
    /// Contrat à durée indéterminée.
    Cdi,
    /// CDD of six months or more.
    #[serde(rename = "cdd_6_months_or_more")]
    #[strum(serialize = "cdd_6_months_or_more")]
    Cdd6MonthsOrMore,
    /// CDD under six months, intérim (MIS) and seasonal (SAI) contracts.
    #[serde(rename = "cdd_under_6_months")]
    #[strum(serialize = "cdd_under_6_months")]
    CddUnder6Months,
    /// Contrat d'apprentissage.
    Apprenticeship,
    /// Contrat de professionnalisation.
    Professionalisation,
    /// Qualifying training.
    Training,
    /// Business creation.
    BusinessCreation,
    /// Anything else.
    Other,
}

impl PlacementOutcome {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every outcome, in the reports' order.
    pub fn all() -> impl Iterator<Item = PlacementOutcome> {
        <PlacementOutcome as strum::IntoEnumIterator>::iter()
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<PlacementOutcome> {
        s.parse().ok()
    }
}

/// A recorded placement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Placement {
    pub id: String,
    pub candidate_id: String,
    pub outcome: PlacementOutcome,
    pub referral_id: Option<String>,
    pub placed_at: i64,
    /// The day it counts on in the reports (contract start, else the
    /// recording day).
    pub placed_on: String,
    pub contract: crate::reports::ContractFacts,
    pub channel: crate::reports::Channel,
}

/// A return to work as recorded by a counsellor.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementInput {
    pub outcome: PlacementOutcome,
    /// The referral it came from, if any.
    #[serde(default)]
    pub referral_id: Option<String>,
    /// The contract, as far as known.
    #[serde(default)]
    pub contract: crate::reports::ContractFacts,
    /// `platform` (a referral or a match) or `counsellor`; default:
    /// `platform` with a referral, `counsellor` without.
    #[serde(default)]
    pub channel: Option<crate::reports::Channel>,
    /// The job's ROME code (default: the candidate's first).
    #[serde(default)]
    pub rome_code: Option<String>,
}

/// One placement per hire on a node, whatever the path: a return to work
/// for a referral whose hire is already counted here, or recorded by hand
/// while the candidate is placed through a referral hire of the last
/// [`RECENT_HIRE_DAYS`] days, is refused (`placement_already_recorded`).
pub const RECENT_HIRE_DAYS: i64 = 90;

pub(crate) fn sanitize_file_name(name: &str, kind: crate::extract::DocKind) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | ':' | '*' | '?'))
        .take(120)
        .collect();
    let clean = clean.trim().to_string();
    if clean.is_empty() || clean.starts_with('.') {
        format!("cv.{}", kind.extension())
    } else {
        clean
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn phone_and_lists() {
        assert!(valid_phone("06 12 34 56 78"));
        assert!(valid_phone("+33 (0)6.12.34.56.78"));
        assert!(!valid_phone("appelez-moi"));
        assert!(!valid_phone("123"));
        assert_eq!(
            clean_list(&[" a ".into(), "A".into(), "".into(), "b".into()], 10, 5),
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn file_names_are_sanitised() {
        use crate::extract::DocKind;
        assert_eq!(
            sanitize_file_name("../../etc/passwd", DocKind::Pdf),
            "passwd"
        );
        assert_eq!(
            sanitize_file_name("C:\\Users\\x\\CV Léa.pdf", DocKind::Pdf),
            "CV Léa.pdf"
        );
        assert_eq!(sanitize_file_name("", DocKind::Docx), "cv.docx");
        assert_eq!(sanitize_file_name(".hidden", DocKind::Odt), "cv.odt");
    }

    #[test]
    fn status_and_scope_roundtrip() {
        for s in [
            CandidateStatus::Active,
            CandidateStatus::InReferral,
            CandidateStatus::Placed,
            CandidateStatus::Archived,
        ] {
            assert_eq!(CandidateStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert_eq!(ConsentScope::parse("network"), Some(ConsentScope::Network));
        for o in PlacementOutcome::all() {
            assert_eq!(
                serde_json::to_value(o).expect("json"),
                serde_json::Value::String(o.as_str().into())
            );
            assert_eq!(PlacementOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(PlacementOutcome::all().count(), 8);
    }
}
