//! The candidate record form (staff): a new record and the edit of an
//! existing one, one template and one parser. Both end in the
//! candidathèque's own functions (`candidates::create`, `candidates::update`,
//! the API's paths), which validate and decide who may write the restricted
//! fields; this module only turns the form into their input and their
//! errors back into French messages next to the fields.
//!
//! Look-ups without JavaScript: « Suggérer des codes ROME » shows the form
//! again with codes found from the job titles (the offer form's look-up),
//! and a commune typed by name is resolved — homonyms are offered as a
//! choice (« Saint-Aignan (41) / (08) / … »), never settled silently.

use crate::actor::Actor;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Serialize;

use super::labels;
use super::saisie::{self, CommuneProblem};
use super::{
    field_errors, int_field, layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult,
};
use crate::auth::User;
use crate::candidates::{Candidate, CandidateInput, CandidateStatus, ConsentScope, Sensitive};
use crate::error::{Error, FieldError};
use crate::server::AppState;

/// ROME inputs on the form (the domain accepts up to 5).
const ROME_INPUTS: usize = 3;
const MAX_ROME: usize = 5;

/// The form, as typed (echoed back).
#[derive(Debug, Default, Serialize)]
struct CandidateForm {
    external_id: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    /// What was typed: a name, « Nom (41) », a postcode or an INSEE code.
    commune: String,
    max_travel_km: String,
    driving_licences: Vec<String>,
    certifications: Vec<String>,
    has_vehicle: bool,
    public_transport_only: bool,
    available_from: String,
    weekly_hours: String,
    contract_types: Vec<String>,
    rome: Vec<String>,
    job_titles: String,
    skills: String,
    languages: String,
    experience_years: String,
    training_level: String,
    birth_year: String,
    cv_text: String,
    /// `local`, `network`, `none` (new record: no default, the counsellor
    /// chooses); `keep` on an edit.
    consent: String,
    /// `active` or `archived` (edit).
    status: String,
    /// Restricted fields (shown to the admin and the assigned counsellor).
    rsa_beneficiary: String,
    disability_recognition: String,
    social_barriers: String,
    health_notes: String,
    nir: String,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn yes_no(v: Option<bool>) -> String {
    match v {
        Some(true) => "oui".into(),
        Some(false) => "non".into(),
        None => String::new(),
    }
}

impl CandidateForm {
    /// The form filled with a record (edit).
    fn of(state: &AppState, c: &Candidate) -> CandidateForm {
        let mut rome = c.rome_codes.clone();
        rome.resize(ROME_INPUTS.max(rome.len()), String::new());
        let s = c.sensitive.clone().unwrap_or_default();
        CandidateForm {
            external_id: c.external_id.clone().unwrap_or_default(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            commune: state
                .refs
                .commune(&c.commune_insee)
                .map(saisie::commune_label)
                .unwrap_or_else(|| c.commune_insee.clone()),
            max_travel_km: c.max_travel_km.map(|n| n.to_string()).unwrap_or_default(),
            driving_licences: c.driving_licences.clone(),
            certifications: c.certifications.clone(),
            has_vehicle: c.has_vehicle,
            public_transport_only: c.public_transport_only,
            available_from: c.available_from.clone().unwrap_or_default(),
            weekly_hours: c.weekly_hours.map(|n| n.to_string()).unwrap_or_default(),
            contract_types: c
                .contract_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            rome,
            job_titles: c.job_titles.join("\n"),
            skills: c.skills.join("\n"),
            languages: c.languages.join(", "),
            experience_years: c
                .experience_years
                .map(|n| n.to_string())
                .unwrap_or_default(),
            training_level: c.training_level.clone().unwrap_or_default(),
            birth_year: c.birth_year.map(|n| n.to_string()).unwrap_or_default(),
            cv_text: c.cv_text.clone(),
            consent: "keep".into(),
            status: c.status.as_str().to_string(),
            rsa_beneficiary: yes_no(s.rsa_beneficiary),
            disability_recognition: yes_no(s.disability_recognition),
            social_barriers: s.social_barriers.join("\n"),
            health_notes: s.health_notes.unwrap_or_default(),
            nir: s.nir.unwrap_or_default(),
        }
    }

    /// The form as sent.
    fn parse(f: &FormData) -> CandidateForm {
        let all = |k: &str| f.all(k).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut rome = all("rome");
        rome.truncate(MAX_ROME);
        rome.resize(ROME_INPUTS.max(rome.len()), String::new());
        // A commune chosen among homonyms wins over the text typed.
        let commune = match f.opt("commune_choix") {
            Some(insee) => insee,
            None => f.get("commune").to_string(),
        };
        CandidateForm {
            external_id: f.get("external_id").into(),
            first_name: f.get("first_name").into(),
            last_name: f.get("last_name").into(),
            email: f.get("email").into(),
            phone: f.get("phone").into(),
            commune,
            max_travel_km: f.get("max_travel_km").into(),
            driving_licences: all("driving_licences"),
            certifications: all("certifications"),
            has_vehicle: f.checked("has_vehicle"),
            public_transport_only: f.checked("public_transport_only"),
            available_from: f.get("available_from").into(),
            weekly_hours: f.get("weekly_hours").into(),
            contract_types: all("contract_types"),
            rome,
            job_titles: f.get("job_titles").into(),
            skills: f.get("skills").into(),
            languages: f.get("languages").into(),
            experience_years: f.get("experience_years").into(),
            training_level: f.get("training_level").into(),
            birth_year: f.get("birth_year").into(),
            cv_text: f.get("cv_text").into(),
            consent: f.get("consent").into(),
            status: f.get("status").into(),
            rsa_beneficiary: f.get("rsa_beneficiary").into(),
            disability_recognition: f.get("disability_recognition").into(),
            social_barriers: f.get("social_barriers").into(),
            health_notes: f.get("health_notes").into(),
            nir: f.get("nir").into(),
        }
    }
}

/// What the page needs besides the form.
struct Page<'a> {
    /// `None`: a new record; `Some(id)`: the edit of record `id`.
    edit: Option<&'a str>,
    /// Whether the restricted fields are shown (and sent).
    sensitive: bool,
    /// The record's status when it is not one the form sets (in a
    /// referral, placed): shown, not editable.
    fixed_status: Option<&'static str>,
    suggestions: Vec<crate::referentials::RomeSuggestion>,
    commune_choices: Vec<saisie::CommuneChoice>,
}

fn form_page(user: &User, form: &CandidateForm, errors: &FieldErrors, page: Page<'_>) -> UiResult {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (action, title, nav) = match page.edit {
        Some(id) => (
            format!("/ui/candidats/{id}/modifier"),
            format!(
                "Modifier la fiche de {} {}",
                form.first_name, form.last_name
            ),
            "candidats",
        ),
        None => (
            "/ui/candidats/nouveau".to_string(),
            "Nouveau candidat".to_string(),
            "nouveau",
        ),
    };
    let resp = render(
        "candidat_nouveau.html",
        context! {
            form => form,
            errors => errors,
            action => action,
            edit_id => page.edit,
            sensitive => page.sensitive,
            fixed_status => page.fixed_status,
            suggestions => page.suggestions,
            commune_choices => page.commune_choices,
            licences => crate::candidates::LICENCES,
            certifications => labels::certification_groups(),
            contracts => labels::contract_options(),
            ..layout(user, nav, &title)
        },
    )?;
    Ok((status, resp).into_response())
}

/// The domain's input from the form, with the form's own errors (numbers,
/// codes, the commune, the consent choice) and the commune's choices.
struct Parsed {
    input: CandidateInput,
    errors: FieldErrors,
    commune_choices: Vec<saisie::CommuneChoice>,
    /// (index among the codes sent, row of the form).
    rome_rows: Vec<(usize, usize)>,
}

fn parse_input(
    state: &AppState,
    f: &FormData,
    form: &CandidateForm,
    edit: bool,
    sensitive: bool,
) -> Parsed {
    let mut errors = FieldErrors::new();
    let max_travel_km = int_field(f, "max_travel_km", "max_travel_km", &mut errors);
    let weekly_hours = int_field(f, "weekly_hours", "weekly_hours", &mut errors);
    let experience_years = int_field(f, "experience_years", "experience_years", &mut errors);
    let birth_year = int_field(f, "birth_year", "birth_year", &mut errors);
    let mut contract_types = Vec::new();
    for c in &form.contract_types {
        match crate::referrals::parse_contract(c) {
            Some(ct) => contract_types.push(ct),
            None => {
                errors.insert("contract_types".into(), "Type de contrat inconnu.".into());
            }
        }
    }
    let consent_scope = match (form.consent.as_str(), edit) {
        ("local", _) => Some(ConsentScope::Local),
        ("network", _) => Some(ConsentScope::Network),
        ("none", false) | ("keep", true) => None,
        ("", false) => {
            errors.insert(
                "consent".into(),
                "Indiquez ce que le candidat a accepté (ou « pas encore recueilli »).".into(),
            );
            None
        }
        _ => {
            errors.insert("consent".into(), "Choix de consentement inconnu.".into());
            None
        }
    };
    let status = match form.status.as_str() {
        _ if !edit => None,
        "active" => Some(CandidateStatus::Active),
        "archived" => Some(CandidateStatus::Archived),
        // In a referral or placed: set by referrals, kept as it is.
        _ => None,
    };
    let mut commune_choices = Vec::new();
    let commune_insee = if form.commune.is_empty() {
        String::new()
    } else {
        match saisie::resolve_commune(state, &form.commune) {
            Ok(insee) => insee,
            Err(CommuneProblem { message, choices }) => {
                errors.insert("commune_insee".into(), message);
                commune_choices = choices;
                String::new()
            }
        }
    };
    let yes_no = |key: &str, errors: &mut FieldErrors| match f.get(key) {
        "oui" => Some(true),
        "non" => Some(false),
        "" => None,
        _ => {
            errors.insert(
                key.to_string(),
                "Choisissez oui, non ou non renseigné.".into(),
            );
            None
        }
    };
    let sensitive_input = if sensitive {
        Some(Sensitive {
            rsa_beneficiary: yes_no("rsa_beneficiary", &mut errors),
            disability_recognition: yes_no("disability_recognition", &mut errors),
            social_barriers: lines(&form.social_barriers),
            health_notes: Some(form.health_notes.clone()).filter(|s| !s.is_empty()),
            nir: Some(form.nir.clone()).filter(|s| !s.is_empty()),
        })
    } else {
        None
    };
    // The domain numbers the ROME codes it is given; keep the form's rows.
    let rome_typed: Vec<(usize, String)> = form
        .rome
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.trim().is_empty())
        .map(|(i, r)| (i, r.trim().to_string()))
        .collect();
    let input = CandidateInput {
        external_id: Some(form.external_id.clone()),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        email: Some(form.email.clone()),
        phone: Some(form.phone.clone()),
        commune_insee,
        max_travel_km,
        driving_licences: form.driving_licences.clone(),
        certifications: form.certifications.clone(),
        has_vehicle: form.has_vehicle,
        public_transport_only: form.public_transport_only,
        available_from: Some(labels::parse_day(&form.available_from)),
        weekly_hours,
        contract_types,
        rome_codes: rome_typed.iter().map(|(_, r)| r.clone()).collect(),
        job_titles: lines(&form.job_titles),
        skills: lines(&form.skills),
        languages: form
            .languages
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        experience_years,
        training_level: Some(form.training_level.clone()),
        birth_year,
        cv_text: Some(form.cv_text.clone()),
        consent_scope,
        status,
        sensitive: sensitive_input,
        counsellor_id: None,
    };
    Parsed {
        input,
        errors,
        commune_choices,
        rome_rows: rome_typed
            .iter()
            .enumerate()
            .map(|(i, (row, _))| (i, *row))
            .collect(),
    }
}

/// The domain's field errors renamed after the form's fields, added to
/// `errors` (the form's own errors win).
fn merge_domain_errors(
    errs: Vec<FieldError>,
    rome_rows: &[(usize, usize)],
    errors: &mut FieldErrors,
) {
    let renamed: Vec<FieldError> = errs
        .into_iter()
        .map(|e| {
            // rome_codes[i] → the i-th non-empty input → its row.
            let field = match e
                .field
                .strip_prefix("rome_codes[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(i) => format!(
                    "rome[{}]",
                    rome_rows
                        .iter()
                        .find(|(k, _)| *k == i)
                        .map(|(_, row)| *row)
                        .unwrap_or(0)
                ),
                None if e.field == "rome_codes" => "rome[0]".to_string(),
                None => e.field.split('[').next().unwrap_or(&e.field).to_string(),
            };
            FieldError::new(field, e.message)
        })
        .collect();
    for (k, v) in field_errors(&renamed) {
        errors.entry(k).or_insert(v);
    }
}

/// The domain's errors for an input the form already found faulty, so
/// that every error shows at once (nothing is written).
fn every_error(state: &AppState, input: &CandidateInput) -> Error {
    Error::Validation(
        crate::candidates::validate(state.refs, input)
            .err()
            .unwrap_or_default(),
    )
}

/// The ROME codes suggested from the job titles typed (`action=rome`), or
/// a French error when none is found.
fn suggest(
    state: &AppState,
    form: &CandidateForm,
    errors: &mut FieldErrors,
) -> Vec<crate::referentials::RomeSuggestion> {
    let titles = lines(&form.job_titles);
    let found = saisie::rome_suggestions_for_titles(state, &titles);
    if titles.is_empty() {
        errors.insert(
            "job_titles".into(),
            "Indiquez d'abord un métier recherché : les codes ROME en sont déduits.".into(),
        );
    } else if found.is_empty() {
        errors.insert(
            "job_titles".into(),
            "Aucun code ROME trouvé d'après ces métiers : essayez un autre intitulé.".into(),
        );
    }
    found
}

// ---------------------------------------------------------------------------
// New record

/// `GET /ui/candidats/nouveau`: an empty form; the consent is not chosen
/// in advance (the counsellor records what the person said).
pub async fn new_form(Session(user): Session) -> UiResult {
    user.require_staff()?;
    let form = CandidateForm {
        rome: vec![String::new(); ROME_INPUTS],
        ..CandidateForm::default()
    };
    form_page(
        &user,
        &form,
        &FieldErrors::new(),
        Page {
            edit: None,
            sensitive: true,
            fixed_status: None,
            suggestions: Vec::new(),
            commune_choices: Vec::new(),
        },
    )
}

/// `POST /ui/candidats/nouveau`: create through `candidates::create`
/// (audited `candidate.create`), or show the form again with each error
/// next to its field; `action=rome` suggests ROME codes from the job titles.
pub async fn create(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    user.require_staff()?;
    save(&state, &user, None, &body).await
}

/// Save a new record (`record` = None) or an edited one: the domain's
/// create or update, audited like the API; or the form again with every
/// error, or with ROME codes suggested (`action=rome`).
async fn save(
    state: &AppState,
    user: &User,
    record: Option<(&str, &Candidate)>,
    body: &[u8],
) -> UiResult {
    // The creating counsellor is the record's assigned counsellor and an
    // admin may always: both write the restricted fields at creation. On an
    // edit, whether they were on the page; the domain decides again on the
    // record as it is when it writes.
    let sensitive = record.is_none_or(|(_, c)| crate::candidates::may_see_sensitive(user, c));
    let f = FormData::parse(body);
    let form = CandidateForm::parse(&f);
    let mut parsed = parse_input(state, &f, &form, record.is_some(), sensitive);
    if let (Some((id, _)), true) = (record, sensitive) {
        // Restricted fields sent unchanged are not a change (nor audited as one).
        let current = crate::candidates::load_sensitive(&state.db, id)
            .await?
            .unwrap_or_default();
        if parsed.input.sensitive.as_ref() == Some(&current) {
            parsed.input.sensitive = None;
        }
    }
    let page = |suggestions, commune_choices| Page {
        edit: record.map(|(id, _)| id),
        sensitive,
        fixed_status: record.and_then(|(_, c)| fixed_status(c)),
        suggestions,
        commune_choices,
    };
    if f.get("action") == "rome" {
        let mut errors = FieldErrors::new();
        let suggestions = suggest(state, &form, &mut errors);
        return form_page(
            user,
            &form,
            &errors,
            page(suggestions, parsed.commune_choices),
        );
    }
    let saved = if !parsed.errors.is_empty() {
        Err(every_error(state, &parsed.input))
    } else if let Some((id, _)) = record {
        let actor = Actor::User(user.clone());
        crate::candidates::update(state, &actor, id, parsed.input, "ui")
            .await
            .map(|_| format!("/ui/candidats/{id}?ok=modifie"))
    } else {
        let actor = Actor::User(user.clone());
        crate::candidates::create(state, &actor, parsed.input, "ui")
            .await
            .map(|c| format!("/ui/candidats/{}?ok=cree", c.id))
    };
    match saved {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(Error::Validation(errs)) => {
            merge_domain_errors(errs, &parsed.rome_rows, &mut parsed.errors);
            let choices = std::mem::take(&mut parsed.commune_choices);
            form_page(user, &form, &parsed.errors, page(Vec::new(), choices))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Edit

/// The status shown read-only when the form does not set it.
fn fixed_status(c: &Candidate) -> Option<&'static str> {
    (!matches!(
        c.status,
        CandidateStatus::Active | CandidateStatus::Archived
    ))
    .then(|| labels::candidate_status(c.status))
}

/// `GET /ui/candidats/{id}/modifier`: the record's every field (the
/// restricted ones for the admin and the assigned counsellor only), read
/// through `candidates::read` (audited `candidate.read`).
pub async fn edit_form(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
) -> UiResult {
    user.require_staff()?;
    let actor = crate::actor::Actor::User(user.clone());
    let (c, meta) = crate::candidates::read(&state, &actor, &id, None).await?;
    if meta.anonymised_at.is_some() {
        return Err(
            Error::Conflict("this record was anonymised and cannot be edited".into()).into(),
        );
    }
    let form = CandidateForm::of(&state, &c);
    form_page(
        &user,
        &form,
        &FieldErrors::new(),
        Page {
            edit: Some(id.as_str()),
            sensitive: crate::candidates::may_see_sensitive(&user, &c),
            fixed_status: fixed_status(&c),
            suggestions: Vec::new(),
            commune_choices: Vec::new(),
        },
    )
}

/// `POST /ui/candidats/{id}/modifier`: the API's update
/// (`candidates::update`: same validation, same rule on the restricted
/// fields), audited `candidate.update` like the API.
pub async fn edit(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    user.require_staff()?;
    let (c, _) = crate::candidates::load(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("candidate"))?;
    save(&state, &user, Some((&id, &c)), &body).await
}
