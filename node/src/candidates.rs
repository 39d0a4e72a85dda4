//! The candidathèque: consented candidate records, their CV files, RGPD
//! erasure and retention, CSV/JSON Lines import and the search API.
//!
//! Storage (`node/migrations/*/0001_init.sql`): the `candidates` row keeps
//! the columns used for filtering (names, commune, status, counsellor,
//! consent, timestamps) and the rest of the profile as JSON in `profile`;
//! sensitive fields live in `candidate_sensitive` (loaded only for the admin
//! and the assigned counsellor, never sent to other nodes); CV files are
//! stored under `<files_dir>/<candidate id>/<file id>.<ext>` and described in
//! `candidate_files`.
//!
//! Consent: a record without consent is a draft — not indexed, not
//! searchable, not matchable. The search index holds every consented,
//! non-anonymised record whatever its status (archived and placed records
//! stay indexed; the `status` filter selects them).
//!
//! Retention: see [`retention_sweep`]. Erasure: see [`erase`].

pub(crate) mod api;
pub mod followup;
mod import;
mod retention;
pub(crate) mod store;

use serde::{Deserialize, Serialize};
use vivier_protocol::ContractType;

use crate::auth::{Role, User};
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::search::CandidateDoc;
use crate::server::AppState;
use crate::util::{new_id, now_ms};

pub use api::routes;
pub use import::{import_file, import_into_db, ImportFormat, ImportReport, RejectedRow};
pub use retention::{
    renew, retention_due, retention_sweep, spawn_retention_sweep, RetentionItem, SweepReport,
};

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
    fn is_empty(&self) -> bool {
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
struct StoredProfile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    max_travel_km: Option<i64>,
    #[serde(default)]
    driving_licences: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    certifications: Vec<String>,
    #[serde(default)]
    has_vehicle: bool,
    #[serde(default)]
    public_transport_only: bool,
    #[serde(default)]
    available_from: Option<String>,
    #[serde(default)]
    weekly_hours: Option<i64>,
    #[serde(default)]
    contract_types: Vec<ContractType>,
    #[serde(default)]
    rome_codes: Vec<String>,
    #[serde(default)]
    job_titles: Vec<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    experience_years: Option<i64>,
    #[serde(default)]
    training_level: Option<String>,
    #[serde(default)]
    birth_year: Option<i64>,
    #[serde(default)]
    cv_text: String,
}

impl StoredProfile {
    fn of(c: &Candidate) -> StoredProfile {
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
pub const LICENCES: &[&str] = &[
    "AM", "A1", "A2", "A", "B1", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE",
];

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
    fn apply(self, c: &mut Candidate, refs: &crate::referentials::Referentials) {
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

fn empty_candidate(id: String, now: i64) -> Candidate {
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

// ---------------------------------------------------------------------------
// Loading

/// Load a record with its meta (no sensitive data).
pub(crate) async fn load(db: &Db, id: &str) -> Result<Option<(Candidate, RecordMeta)>> {
    let mut conn = db.pool.acquire().await?;
    store::get(&mut conn, id).await
}

/// Load a record inside a write transaction, locking its row until the
/// transaction ends (`FOR UPDATE` on PostgreSQL; SQLite write transactions
/// already hold the database's write lock). Read-modify-write of a record
/// happens this way, so that a change committed meanwhile is never
/// overwritten by a copy read before it.
pub(crate) async fn load_locked(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Option<(Candidate, RecordMeta)>> {
    store::get_for_update(tx, id).await
}

/// Load the sensitive fields of a record.
pub(crate) async fn load_sensitive(db: &Db, id: &str) -> Result<Option<Sensitive>> {
    let mut conn = db.pool.acquire().await?;
    store::sensitive(&mut conn, id).await
}

/// One record, for internal use (matching, referrals): no audit entry,
/// sensitive fields not loaded. Anonymised records are returned (without
/// consent).
/// `NotFound("candidate")` unless record `id` exists.
pub async fn ensure_exists(db: &Db, id: &str) -> Result<()> {
    match get_candidate(db, id).await? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound("candidate")),
    }
}

pub async fn get_candidate(db: &Db, id: &str) -> Result<Option<Candidate>> {
    Ok(load(db, id).await?.map(|(c, _)| c))
}

/// Many records, for internal use (matching), in the order of `ids`
/// (missing ids skipped). No audit, no sensitive fields.
pub async fn load_candidates(db: &Db, ids: &[String]) -> Result<Vec<Candidate>> {
    let mut conn = db.pool.acquire().await?;
    store::get_many(&mut conn, ids).await
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

/// Read a record (staff only). The sensitive fields are loaded only for
/// the admin and the assigned counsellor. Every read is audited, with the
/// reason the user gave.
pub async fn read(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    reason: Option<&str>,
) -> Result<(Candidate, RecordMeta)> {
    let user = actor.staff()?;
    let (mut c, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let sensitive = may_see_sensitive(user, &c);
    if sensitive {
        c.sensitive = load_sensitive(&state.db, id).await?;
    }
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.read",
        ("candidate", id),
        reason,
        serde_json::json!({ "sensitive": sensitive }),
    )
    .await?;
    Ok((c, meta))
}

/// Whether `user` may see the sensitive fields of `c`: the admin and the
/// assigned counsellor.
pub fn may_see_sensitive(user: &User, c: &Candidate) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Counsellor && c.counsellor_id.as_deref() == Some(user.id.as_str()))
}

// ---------------------------------------------------------------------------
// Index

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

/// Append, in the caller's transaction, the journal entry that brings the
/// candidate index in line with record `id` once committed.
pub(crate) async fn journal_index(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::IndexCandidate, id, now_ms()).await
}

/// Like [`journal_index`], for an erasure: the record leaves the index and
/// the segments that held it are rewritten.
pub(crate) async fn journal_purge(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::PurgeCandidate, id, now_ms()).await
}

/// After an erasure committed: wait (boundedly) until the index has
/// applied it, so that its text has left the index when the caller
/// answers. The journal entry is durable either way.
pub(crate) async fn unindex_now(state: &AppState, seq: i64) {
    crate::journal::wake(state);
    if !crate::journal::wait_applied(state, seq, std::time::Duration::from_secs(30)).await {
        tracing::warn!(
            seq,
            "erasure not yet applied to the search index; the follower will"
        );
    }
}

/// The index documents of records `ids` (consented, not anonymised), and
/// the ids that must leave the index (gone, drafts, anonymised).
pub async fn index_docs(db: &Db, ids: &[String]) -> Result<(Vec<CandidateDoc>, Vec<String>)> {
    let found = load_candidates(db, ids).await?;
    let docs: Vec<CandidateDoc> = found.iter().filter(|c| indexable(c)).map(to_doc).collect();
    let docs_ids: std::collections::HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let gone = ids
        .iter()
        .filter(|id| !docs_ids.contains(id.as_str()))
        .cloned()
        .collect();
    Ok((docs, gone))
}

/// Rebuild the candidate index from the database: every consented,
/// non-anonymised record. Rows are streamed page by page. The index then
/// follows the journal from the head it had when the rebuild started.
pub async fn reindex(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<u64> {
    let seq = crate::journal::head(&state.db).await?;
    reindex_at(state, progress, seq).await
}

/// [`reindex`] recording journal position `seq` (the head when the
/// rebuild was asked for).
pub async fn reindex_at(
    state: &AppState,
    progress: Option<&indicatif::ProgressBar>,
    seq: i64,
) -> anyhow::Result<u64> {
    let mut conn = state.db.pool.acquire().await?;
    let total = store::indexable_count(&mut conn)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = progress {
        p.set_length(u64::try_from(total).unwrap_or(0));
        p.set_position(0);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<CandidateDoc>(2000);
    let search = state.search.clone();
    let bar = progress.cloned();
    let indexer = tokio::task::spawn_blocking(move || {
        let mut it = rx.into_iter();
        let report = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        };
        search.candidates.rebuild(&mut it, &report, seq)
    });
    let mut after = String::new();
    let produce: anyhow::Result<()> = async {
        loop {
            let page = store::indexable_page(&mut conn, &after, 1000)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if page.is_empty() {
                break;
            }
            for c in &page {
                after.clone_from(&c.id);
                if indexable(c) {
                    let doc = to_doc(c);
                    // A closed receiver means the indexer failed: its error is reported below.
                    if tx.send(doc).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let n = indexer.await??;
    produce?;
    Ok(n)
}

// ---------------------------------------------------------------------------
// Writes

async fn check_counsellor(db: &Db, id: &str) -> Result<()> {
    match crate::auth::user_by_id(db, id).await? {
        Some(u) if matches!(u.role, Role::Counsellor | Role::Admin) => Ok(()),
        Some(_) => Err(Error::field(
            "counsellor_id",
            "this user is not a counsellor",
        )),
        None => Err(Error::field("counsellor_id", "unknown user")),
    }
}

/// Add certification codes to a record (a training certified through a
/// referral): the codes not held yet are appended, the record re-indexed
/// (journal). Returns the codes added. The caller audits. A missing or
/// anonymised record gets nothing.
pub(crate) async fn add_certifications(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    codes: &[String],
) -> Result<Vec<String>> {
    let Some((mut c, meta)) = load_locked(tx, id).await? else {
        return Ok(Vec::new());
    };
    if meta.anonymised_at.is_some() {
        return Ok(Vec::new());
    }
    let added: Vec<String> = codes
        .iter()
        .filter(|code| !c.certifications.contains(code))
        .cloned()
        .collect();
    if added.is_empty() {
        return Ok(added);
    }
    c.certifications.extend(added.iter().cloned());
    let now = now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(tx, &c).await?;
    crate::journal::append(tx, crate::journal::Kind::IndexCandidate, id, now).await?;
    Ok(added)
}

async fn insert_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, c: &Candidate) -> Result<()> {
    store::insert(tx, c).await
}

async fn update_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, c: &Candidate) -> Result<()> {
    store::update(tx, c).await
}

/// Create a record. Draft unless `input.consent_scope` is given.
pub async fn create(state: &AppState, user: &User, input: CandidateInput) -> Result<Candidate> {
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let counsellor_id = match (&input.counsellor_id, user.role) {
        (Some(id), _) => {
            check_counsellor(&state.db, id).await?;
            Some(id.clone())
        }
        (None, Role::Counsellor) => Some(user.id.clone()),
        (None, _) => None,
    };
    let now = now_ms();
    let mut c = empty_candidate(new_id(), now);
    valid.apply(&mut c, state.refs);
    c.counsellor_id = counsellor_id;
    if let Some(scope) = input.consent_scope {
        c.consent = Some(Consent {
            given_at: now,
            counsellor_id: user.id.clone(),
            scope,
        });
    }
    if input.sensitive.is_some() && !may_see_sensitive(user, &c) {
        return Err(Error::field(
            "sensitive",
            "only the admin or the assigned counsellor may record sensitive fields",
        ));
    }
    let mut tx = state.db.begin().await?;
    insert_row(&mut tx, &c).await?;
    if let Some(s) = &input.sensitive {
        store::write_sensitive(&mut tx, &c.id, s).await?;
    }
    journal_index(&mut tx, &c.id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    if may_see_sensitive(user, &c) {
        c.sensitive = input.sensitive.filter(|s| !s.is_empty());
    }
    Ok(c)
}

/// Update a record (full replacement of the editable fields; `cv_text` and
/// `sensitive` absent = unchanged). Returns the record and the names of
/// the fields that changed.
pub async fn update(
    state: &AppState,
    user: &User,
    id: &str,
    input: CandidateInput,
) -> Result<(Candidate, Vec<String>)> {
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict(
            "this record was anonymised and cannot be edited".into(),
        ));
    }
    // What the caller may do and see is decided on the record as it is,
    // before any change.
    let sees_sensitive = may_see_sensitive(user, &c);
    if let Some(cid) = &input.counsellor_id {
        if c.counsellor_id.as_deref() != Some(cid.as_str()) {
            // Reassignment is its own audited action, never a side effect.
            return Err(if may_reassign(user, &c) {
                Error::field(
                    "counsellor_id",
                    "the assigned counsellor is changed with POST /api/v1/candidates/{id}/counsellor, not by an update",
                )
            } else {
                Error::Forbidden
            });
        }
    }
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let before = serde_json::to_value(&c).unwrap_or_default();
    if input.sensitive.is_some() && !sees_sensitive {
        return Err(Error::field(
            "sensitive",
            "only the admin or the assigned counsellor may record sensitive fields",
        ));
    }
    let text_before = c.cv_text.clone();
    valid.apply(&mut c, state.refs);
    let now = now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    // Text typed by hand is no longer any file's: no version is "in use".
    if c.cv_text != text_before {
        store::release_files(&mut tx, id).await?;
        for f in &mut c.files {
            f.in_use = false;
        }
    }
    if let Some(scope) = input.consent_scope {
        if c.consent.as_ref().map(|k| k.scope) != Some(scope) {
            c.consent = Some(Consent {
                given_at: now,
                counsellor_id: user.id.clone(),
                scope,
            });
        }
    }
    update_row(&mut tx, &c).await?;
    store::clear_retention_reminder(&mut tx, id).await?;
    if let Some(s) = &input.sensitive {
        store::write_sensitive(&mut tx, id, s).await?;
    }
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    let mut changed = changed_fields(&before, &serde_json::to_value(&c).unwrap_or_default());
    if input.sensitive.is_some() {
        changed.push("sensitive".into());
    }
    if sees_sensitive {
        c.sensitive = load_sensitive(&state.db, id).await?;
    }
    Ok((c, changed))
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

fn input_of(c: &Candidate) -> CandidateInput {
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

/// The person corrects their own record (`Actor::Candidate`, their record
/// only): validated like a counsellor's input; in one transaction the
/// change, a `change` notice for the counsellor naming the fields, the
/// audit entry `candidate.correct` and the index journal. Returns the
/// fields that changed (none: nothing is written).
pub async fn correct(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    fix: Correction,
) -> Result<Vec<String>> {
    actor.own_record(id)?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let input = CandidateInput {
        email: fix.email,
        phone: fix.phone,
        available_from: fix.available_from,
        weekly_hours: fix.weekly_hours,
        max_travel_km: fix.max_travel_km,
        has_vehicle: fix.has_vehicle,
        public_transport_only: fix.public_transport_only,
        job_titles: fix.job_titles,
        contract_types: fix.contract_types,
        ..input_of(&c)
    };
    let valid = validate(state.refs, &input).map_err(Error::Validation)?;
    let before = serde_json::to_value(&c).unwrap_or_default();
    valid.apply(&mut c, state.refs);
    let changed = changed_fields(&before, &serde_json::to_value(&c).unwrap_or_default());
    if changed.is_empty() {
        return Ok(changed);
    }
    let now = state.clock.now_ms();
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    let details = serde_json::json!({ "fields": changed });
    crate::space::notice(&mut tx, id, "change", None, details.clone(), now, None).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.correct",
        ("candidate", id),
        None,
        details,
    )
    .await?;
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(changed)
}

/// Names of the top-level fields that differ (bookkeeping timestamps left
/// out): what an audit entry says changed, without the values.
fn changed_fields(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
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

/// Hand a record over to another counsellor (admin, or the assigned
/// counsellor). Returns the previous assignee. The caller audits.
pub async fn reassign(
    state: &AppState,
    user: &User,
    id: &str,
    to: &str,
) -> Result<(Candidate, Option<String>)> {
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if !may_reassign(user, &c) {
        return Err(Error::Forbidden);
    }
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    check_counsellor(&state.db, to).await?;
    let previous = c.counsellor_id.clone();
    let now = now_ms();
    store::set_counsellor(&mut tx, id, to, now).await?;
    tx.commit().await?;
    c.counsellor_id = Some(to.to_string());
    c.updated_at = now;
    c.last_activity_at = now;
    Ok((c, previous))
}

/// Record (or change the scope of) the candidate's consent: the record
/// becomes searchable.
pub async fn give_consent(
    state: &AppState,
    recorded_by: &str,
    id: &str,
    scope: ConsentScope,
) -> Result<Candidate> {
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let now = now_ms();
    c.consent = Some(Consent {
        given_at: now,
        counsellor_id: recorded_by.to_string(),
        scope,
    });
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(c)
}

/// Withdraw the consent: back to draft, out of the index. Staff or the
/// person; audited `candidate.consent_withdrawn` in the same transaction.
pub async fn withdraw_consent(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    via: &str,
) -> Result<Candidate> {
    actor.on_candidate(id)?;
    let mut tx = state.db.begin().await?;
    let (mut c, _) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let now = now_ms();
    c.consent = None;
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    journal_index(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.consent_withdrawn",
        ("candidate", id),
        None,
        serde_json::json!({ "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(c)
}

/// Change the status (referrals, placements) and re-index.
pub async fn set_status(state: &AppState, id: &str, status: CandidateStatus) -> Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if !store::set_status(&mut tx, id, status, now).await? {
        return Err(Error::NotFound("candidate"));
    }
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(())
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

async fn already_counted(state: &AppState, c: &Candidate, referral_id: Option<&str>) -> Result<()> {
    let mut conn = state.db.pool.acquire().await?;
    let existing: Option<String> = match referral_id {
        Some(r) => store::placement_of_referral(&mut conn, r).await?,
        None if c.status == CandidateStatus::Placed => {
            let since = state.clock.now_ms() - RECENT_HIRE_DAYS * 86_400_000;
            store::recent_referral_hire(&mut conn, &c.id, since).await?
        }
        None => None,
    };
    match existing {
        Some(r) => Err(Error::Refused {
            code: "placement_already_recorded",
            message: format!(
                "this return to work is already counted: the hire through referral {r} was recorded \
                 when the employer accepted it"
            ),
        }),
        None => Ok(()),
    }
}

/// Close the candidate as placed: writes `placements` (with the facts the
/// reports need, `reports::facts`), status `placed`.
pub async fn record_placement(
    state: &AppState,
    user: &User,
    id: &str,
    input: PlacementInput,
) -> Result<Placement> {
    let (c, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let referral_id = input
        .referral_id
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let mut errs = Vec::new();
    let contract = match input.contract.check("contract.") {
        Ok(c) => Some(c),
        Err(e) => {
            errs.extend(e);
            None
        }
    };
    if let Some(r) = &input.rome_code {
        if !state.refs.rome_exists(r) {
            errs.push(FieldError::new("rome_code", "unknown ROME code"));
        }
    }
    if let Some(r) = &referral_id {
        let mut conn = state.db.pool.acquire().await?;
        if !crate::referrals::store::is_of_candidate(&mut conn, r, id).await? {
            errs.push(FieldError::new(
                "referral_id",
                "no referral of this candidate has this id",
            ));
        }
    }
    let Some(contract) = contract.filter(|_| errs.is_empty()) else {
        return Err(Error::Validation(errs));
    };
    already_counted(state, &c, referral_id.as_deref()).await?;
    let channel = input.channel.unwrap_or(if referral_id.is_some() {
        crate::reports::Channel::Platform
    } else {
        crate::reports::Channel::Counsellor
    });
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let (pid, placed_on) = crate::reports::facts::insert_placement(
        &mut tx,
        &state.config.reports,
        &state.config.aids,
        crate::reports::NewPlacement {
            candidate_id: Some(c.id.clone()),
            outcome: input.outcome,
            referral_id: referral_id.clone(),
            recorded_by: Some(user.id.clone()),
            recorded_at: now,
            contract: contract.clone(),
            channel,
            side: crate::reports::Side::Home,
            rome_code: input.rome_code,
        },
    )
    .await?;
    store::mark_placed(&mut tx, id, now).await?;
    journal_index(&mut tx, id).await?;
    tx.commit().await?;
    crate::journal::wake(state);
    Ok(Placement {
        id: pid,
        candidate_id: c.id,
        outcome: input.outcome,
        referral_id,
        placed_at: now,
        placed_on,
        contract,
        channel,
    })
}

fn candidate_dir(state: &AppState, id: &str) -> std::path::PathBuf {
    state.files_dir.join(id)
}

/// Keep an uploaded CV: extract its text in the sandboxed extractor
/// (`state.extractor`, a child process), then store the original and put
/// the text in `cv_text`. `bytes` must already be within the size limit.
///
/// A file whose text cannot be read is refused before anything is written:
/// 415 for a type that is not PDF/DOCX/ODT, 422 `cv_unreadable` for a
/// corrupt file or one past a limit (time, memory, inflation, text size),
/// 503 `extraction_busy` when every extraction slot stays taken; the file
/// is not kept and the record's CV text is unchanged.
pub async fn attach_cv(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    file_name: &str,
    bytes: Vec<u8>,
    via: &str,
) -> Result<(Candidate, CandidateFile)> {
    // Cheap checks first, before the (slow) extraction.
    actor.on_candidate(id)?;
    let (_, meta) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let crate::extract::Extracted { kind, text, ocr } = state.extractor.extract(&bytes).await?;
    let now = now_ms();
    let file = CandidateFile {
        id: new_id(),
        file_name: sanitize_file_name(file_name, kind),
        content_type: kind.content_type().to_string(),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: crate::util::sha256_hex(&bytes),
        created_at: now,
        text_chars: 0,
        readable: false,
        in_use: false,
        ocr,
    };
    let dir = candidate_dir(state, id);
    let path = dir.join(format!("{}.{}", file.id, kind.extension()));
    {
        let path = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .await?
        .map_err(|e| Error::Internal(anyhow::anyhow!("storing CV file: {e}")))?;
    }
    let cv_text: String = text.chars().take(200_000).collect();
    let readable = readable_text(&cv_text);
    let file = CandidateFile {
        text_chars: i64::try_from(cv_text.chars().count()).unwrap_or(i64::MAX),
        readable,
        in_use: readable,
        ..file
    };
    let res: Result<Candidate> = async {
        let mut tx = state.db.begin().await?;
        // The record as it is now (a referral may have changed it while the
        // file was being read): only the CV text changes, and only when the
        // new file has readable text.
        let (mut c, meta) = load_locked(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("candidate"))?;
        if meta.anonymised_at.is_some() {
            return Err(Error::Conflict("this record was anonymised".into()));
        }
        if readable {
            store::release_files(&mut tx, id).await?;
            c.cv_text = cv_text.clone();
        }
        c.updated_at = now;
        c.last_activity_at = now;
        store::insert_file(&mut tx, id, &file, &cv_text).await?;
        update_row(&mut tx, &c).await?;
        journal_index(&mut tx, id).await?;
        crate::audit::append(
            &mut tx,
            actor,
            "candidate.cv_upload",
            ("candidate", id),
            None,
            serde_json::json!({ "file_id": file.id, "content_type": file.content_type,
                "size_bytes": file.size_bytes, "readable": file.readable, "ocr": file.ocr,
                "via": via }),
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }
    .await;
    let mut c = match res {
        Ok(c) => c,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    for f in &mut c.files {
        f.in_use = f.in_use && !readable;
    }
    c.files.push(file.clone());
    crate::journal::wake(state);
    Ok((c, file))
}

/// Make the text read from file `file_id` the record's searchable CV text
/// (a counsellor choosing among the versions), audited
/// `candidate.cv_text_chosen` in the same transaction. Refused for a file
/// without readable text, or one uploaded before texts were kept.
pub async fn use_cv_text(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    file_id: &str,
) -> Result<Candidate> {
    actor.staff()?;
    let mut tx = state.db.begin().await?;
    let (mut c, meta) = load_locked(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    if meta.anonymised_at.is_some() {
        return Err(Error::Conflict("this record was anonymised".into()));
    }
    let (text, readable) = store::file_text(&mut tx, id, file_id)
        .await?
        .ok_or(Error::NotFound("CV file"))?;
    let Some(text) = text.filter(|_| readable) else {
        return Err(Error::Refused {
            code: "cv_text_unavailable",
            message:
                "this file has no readable text to use (a scan, or uploaded before texts were kept)"
                    .into(),
        });
    };
    store::use_file(&mut tx, id, file_id).await?;
    let now = state.clock.now_ms();
    c.cv_text = text;
    c.updated_at = now;
    c.last_activity_at = now;
    update_row(&mut tx, &c).await?;
    journal_index(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.cv_text_chosen",
        ("candidate", id),
        None,
        serde_json::json!({"file_id": file_id}),
    )
    .await?;
    tx.commit().await?;
    for f in &mut c.files {
        f.in_use = f.id == file_id;
    }
    crate::journal::wake(state);
    Ok(c)
}

/// Read a stored CV file.
pub async fn read_cv(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    file_id: &str,
    reason: Option<&str>,
    via: &str,
) -> Result<(CandidateFile, Vec<u8>)> {
    actor.staff()?;
    let (c, _) = load(&state.db, id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    let f = c
        .files
        .into_iter()
        .find(|f| f.id == file_id)
        .ok_or(Error::NotFound("file"))?;
    let ext = match f.content_type.as_str() {
        "application/pdf" => "pdf",
        "application/vnd.oasis.opendocument.text" => "odt",
        _ => "docx",
    };
    let path = candidate_dir(state, id).join(format!("{}.{ext}", f.id));
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading CV file {}: {e}", path.display())))?;
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "candidate.cv_download",
        ("candidate", id),
        reason,
        serde_json::json!({ "file_id": f.id, "via": via }),
    )
    .await?;
    Ok((f, bytes))
}

fn sanitize_file_name(name: &str, kind: crate::extract::DocKind) -> String {
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

/// RGPD erasure: the record, its sensitive row, its files (database and
/// disk), its index entry and the local copies of its profile in referrals
/// are removed; placements keep their figure without the candidate id; the
/// federation is told (`federation::on_candidate_erased`, same
/// transaction). Staff only; audited `candidate.erase` (opaque id only) in
/// the same transaction.
pub async fn erase(
    state: &AppState,
    actor: &crate::actor::Actor,
    id: &str,
    reason: Option<&str>,
    via: &str,
) -> Result<()> {
    actor.staff()?;
    let exists = {
        let mut conn = state.db.pool.acquire().await?;
        store::exists(&mut conn, id).await?
    };
    if !exists {
        return Err(Error::NotFound("candidate"));
    }
    let mut tx = state.db.begin().await?;
    crate::federation::on_candidate_erased(state, &mut tx, id).await?;
    purge_in_tx(&mut tx, id).await?;
    store::delete(&mut tx, id).await?;
    let seq = journal_purge(&mut tx, id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "candidate.erase",
        ("candidate", id),
        reason,
        serde_json::json!({ "via": via }),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    remove_files_dir(state, id).await;
    unindex_now(state, seq).await;
    state.db.scrub().await?;
    Ok(())
}

/// Remove everything personal attached to a record (not the row itself).
async fn purge_in_tx(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
    crate::referrals::store::detach_candidate(tx, id).await?;
    store::detach_placements(tx, id).await?;
    store::delete_files(tx, id).await?;
    store::delete_sensitive(tx, id).await?;
    followup::purge(tx, id).await?;
    crate::programmes::purge(tx, id).await?;
    crate::netsearch::store::purge(tx, id).await?;
    Ok(())
}

async fn remove_files_dir(state: &AppState, id: &str) {
    let dir = candidate_dir(state, id);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(candidate = %id, error = %e, "could not remove the candidate's files")
        }
    }
}

/// The OpenAPI paths of `/api/v1/candidates…`.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    api::Doc::openapi()
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
