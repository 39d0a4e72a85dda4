//! Offer pages: list (local and network), detail with the explained
//! matches among local candidates (staff), and the employer's web form.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vivier_protocol::{Employer, Salary, SalaryPeriod};

use super::candidats::{commune_hint, commune_label};
use super::labels;
use super::{
    field_errors, int_field, layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult,
};
use crate::auth::{Role, User};
use crate::error::Error;
use crate::offers::{OfferInput, OfferStatus, StoredOffer, WorkplaceInput};
use crate::server::AppState;

/// ROME codes suggested for an offer title: the title without the usual
/// "H/F" marks, then, failing that, its longer words one by one.
fn rome_suggestions(state: &AppState, title: &str) -> Vec<crate::referentials::RomeSuggestion> {
    let cleaned: String = title
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
            !matches!(
                w.to_ascii_lowercase().as_str(),
                "h/f" | "f/h" | "hf" | "fh" | ""
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let found = state.refs.suggest_rome(&cleaned, 8);
    if !found.is_empty() {
        return found;
    }
    let mut words: Vec<&str> = cleaned
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    let mut out: Vec<crate::referentials::RomeSuggestion> = Vec::new();
    for w in words {
        for s in state.refs.suggest_rome(w, 8) {
            if out.len() < 8 && !out.iter().any(|o| o.code == s.code) {
                out.push(s);
            }
        }
    }
    out
}

/// Workplace rows shown on an empty form.
const DEFAULT_ROWS: usize = 3;
const MAX_ROWS: usize = 50;

/// An offer in a list.
#[derive(Serialize)]
pub struct OfferRow {
    id: String,
    title: String,
    employer: String,
    contract: &'static str,
    rome: String,
    places: Vec<String>,
    positions: i64,
    origin: String,
    is_local: bool,
    open: bool,
    published_at: i64,
}

impl OfferRow {
    pub fn of(state: &AppState, o: &StoredOffer) -> OfferRow {
        let p = &o.payload;
        OfferRow {
            id: p.offer_id.clone(),
            title: p.title.clone(),
            employer: p.employer.name.clone(),
            contract: labels::contract(p.contract_type),
            rome: p.rome_code.clone(),
            places: p
                .workplaces
                .iter()
                .map(|w| {
                    w.label
                        .clone()
                        .unwrap_or_else(|| commune_label(state, &w.commune_insee))
                })
                .collect(),
            positions: p.workplaces.iter().map(|w| w.positions.max(0)).sum(),
            origin: if o.is_local {
                "Locale".to_string()
            } else {
                format!("Réseau : {}", p.origin_node)
            },
            is_local: o.is_local,
            open: o.status == OfferStatus::Open,
            published_at: p.published_at,
        }
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    origine: Option<String>,
    #[serde(default)]
    statut: Option<String>,
    /// Search text (staff), in the search language of the candidate search.
    #[serde(default)]
    texte: Option<String>,
}

/// `GET /ui/offres?texte=…`: the offers index searched (local and network
/// offers, at most 100), audited as `offer.search` like the API.
async fn search_rows(
    state: &AppState,
    user: &crate::auth::User,
    texte: &str,
    origin: &str,
    status: &str,
) -> Result<(Vec<OfferRow>, usize), Error> {
    let results = crate::offers::search_offers(
        state,
        &crate::offers::SearchParams {
            q: Some(texte.to_string()),
            origin: (origin == "local").then(|| "local".to_string()),
            status: Some(status.to_string()),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await?;
    state
        .read_audit
        .record(
            Some(user),
            "offer.search",
            "offer",
            "",
            None,
            serde_json::json!({"via": "ui", "results": results.total}),
        )
        .await?;
    let mut total = results.total;
    let rows: Vec<OfferRow> = results
        .hits
        .iter()
        .filter(|h| {
            let keep = origin != "network" || !h.offer.is_local;
            if !keep {
                total = total.saturating_sub(1);
            }
            keep
        })
        .map(|h| OfferRow::of(state, &h.offer))
        .collect();
    Ok((rows, total))
}

/// `GET /ui/offres`: staff see local and network offers; employers their
/// own (the offers module restricts them).
pub async fn list(
    State(state): State<AppState>,
    Session(user): Session,
    Query(p): Query<ListParams>,
) -> UiResult {
    let origin = match p.origine.as_deref() {
        Some("local") => "local",
        Some("network") => "network",
        _ => "all",
    };
    let status = match p.statut.as_deref() {
        Some("closed") => "closed",
        Some("all") => "all",
        _ => "open",
    };
    let texte = p
        .texte
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && user.role != Role::Employer);
    let mut erreur_texte: Option<String> = None;
    let (rows, total) = match texte {
        Some(t) => {
            // Past the limits: a French message instead of results.
            let checked = crate::search::query_lang::check_length(t)
                .and_then(|()| crate::search::query_lang::parse(t).map(|_| ()));
            match checked {
                Err(e) => {
                    erreur_texte = Some(e.message_fr());
                    (Vec::new(), 0)
                }
                Ok(()) => search_rows(&state, &user, t, origin, status).await?,
            }
        }
        None => {
            let list = crate::offers::list_offers(
                &state,
                &user,
                &crate::offers::ListQuery {
                    status: Some(status.into()),
                    origin: Some(origin.into()),
                    limit: Some(200),
                    ..Default::default()
                },
            )
            .await?;
            let rows: Vec<OfferRow> = list
                .offers
                .iter()
                .map(|o| OfferRow::of(&state, o))
                .collect();
            (rows, usize::try_from(list.total).unwrap_or(0))
        }
    };
    let texte: String = p
        .texte
        .unwrap_or_default()
        .chars()
        .take(crate::search::query_lang::MAX_QUERY_CHARS)
        .collect();
    render(
        "offres.html",
        context! {
            rows => rows,
            total => total,
            texte => texte,
            erreur_texte => erreur_texte,
            origine => origin,
            statut => status,
            ..layout(&user, "offres", if user.role == Role::Employer { "Mes offres" } else { "Offres" })
        },
    )
}

#[derive(Serialize)]
struct CandidateRow {
    candidate_id: String,
    name: String,
    commune: String,
    score: String,
    distance_km: Option<f64>,
    eligible: bool,
    constraints: Vec<String>,
    parts: Vec<labels::Explanation>,
}

#[derive(Serialize)]
struct WorkplaceBlock {
    label: String,
    positions: i64,
    distance_known: bool,
    considered: usize,
    excluded: usize,
    rows: Vec<CandidateRow>,
}

#[derive(Serialize)]
struct OfferView {
    id: String,
    title: String,
    description: String,
    employer: String,
    siret: Option<String>,
    rome: String,
    rome_label: String,
    contract: &'static str,
    duration_months: Option<i64>,
    weekly_hours: Option<i64>,
    salary: Option<String>,
    driving_licence: Option<String>,
    start_date: Option<String>,
    vehicle_required: bool,
    required_certifications: Vec<String>,
    desired_certifications: Vec<String>,
    experience: Option<String>,
    workplaces: Vec<(String, i64)>,
    origin: String,
    is_local: bool,
    open: bool,
    published_at: i64,
    updated_at: i64,
    closed_at: Option<i64>,
}

fn salary_text(s: &Salary) -> String {
    let per = labels::salary_period(s.period);
    match (s.min_cents, s.max_cents) {
        (Some(a), Some(b)) if a == b => format!("{} {per}", labels::euros(a)),
        (Some(a), Some(b)) => format!("de {} à {} {per}", labels::euros(a), labels::euros(b)),
        (Some(a), None) => format!("à partir de {} {per}", labels::euros(a)),
        (None, Some(b)) => format!("jusqu'à {} {per}", labels::euros(b)),
        (None, None) => String::new(),
    }
}

fn offer_view(state: &AppState, o: &StoredOffer) -> OfferView {
    let p = &o.payload;
    OfferView {
        id: p.offer_id.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        employer: p.employer.name.clone(),
        siret: p.employer.siret.clone(),
        rome: p.rome_code.clone(),
        rome_label: state
            .refs
            .rome(&p.rome_code)
            .map(|r| r.label.clone())
            .unwrap_or_default(),
        contract: labels::contract(p.contract_type),
        duration_months: p.duration_months,
        weekly_hours: p.weekly_hours,
        salary: p.salary.as_ref().map(salary_text),
        driving_licence: p.driving_licence.clone(),
        start_date: p.start_date.clone(),
        vehicle_required: p.vehicle_required,
        required_certifications: labels::certification_labels(&p.required_certifications),
        desired_certifications: labels::certification_labels(&p.desired_certifications),
        experience: match (&p.experience_label, p.experience_months) {
            (Some(l), _) => Some(l.clone()),
            (None, Some(m)) if m > 0 => Some(format!("{m} mois")),
            _ => None,
        },
        workplaces: p
            .workplaces
            .iter()
            .map(|w| {
                (
                    w.label
                        .clone()
                        .unwrap_or_else(|| commune_label(state, &w.commune_insee)),
                    w.positions,
                )
            })
            .collect(),
        origin: if o.is_local {
            "Offre locale".to_string()
        } else {
            format!("Offre du réseau, publiée par {}", p.origin_node)
        },
        is_local: o.is_local,
        open: o.status == OfferStatus::Open,
        published_at: p.published_at,
        updated_at: o.updated_at,
        closed_at: o.closed_at,
    }
}

/// The offer page; `refer_error` is (candidate id, message) after a failed
/// referral from this page.
pub(super) async fn detail_page(
    state: &AppState,
    user: &User,
    id: &str,
    flash: Option<&'static str>,
    refer_error: Option<(String, String)>,
) -> UiResult {
    let offer = crate::offers::get_offer(&state.db, id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    // Employers see their own offers here (the list shows them nothing else).
    if user.role == Role::Employer && offer.owner_user_id.as_deref() != Some(user.id.as_str()) {
        return Err(Error::NotFound("offer").into());
    }
    let staff = user.require_staff().is_ok();
    let mut blocks = Vec::new();
    if staff && offer.status == OfferStatus::Open {
        let m = crate::matching::match_offer(
            state,
            &offer,
            &crate::matching::MatchParams {
                limit: Some(20),
                include_near_misses: Some(false),
                workplace: None,
            },
        )
        .await?;
        let listed: usize = m.workplaces.iter().map(|w| w.matches.len()).sum();
        crate::audit::record(
            &state.db,
            Some(user),
            "offer.matches",
            "offer",
            id,
            None,
            json!({ "candidates_listed": listed, "include_near_misses": false, "via": "ui" }),
        )
        .await?;
        let ids: Vec<String> = m
            .workplaces
            .iter()
            .flat_map(|w| w.matches.iter().map(|c| c.candidate_id.clone()))
            .collect();
        let candidates = crate::candidates::load_candidates(&state.db, &ids).await?;
        for w in &m.workplaces {
            let rows = w
                .matches
                .iter()
                .filter_map(|cm| {
                    let c = candidates.iter().find(|c| c.id == cm.candidate_id)?;
                    Some(CandidateRow {
                        candidate_id: cm.candidate_id.clone(),
                        name: format!("{} {}", cm.first_name, cm.last_name),
                        commune: commune_label(state, &cm.commune_insee),
                        score: labels::km(cm.evaluation.score),
                        distance_km: cm.evaluation.distance_km,
                        eligible: cm.evaluation.eligible,
                        constraints: labels::constraints(&cm.evaluation),
                        parts: labels::explain(&cm.evaluation, &offer.payload, c),
                    })
                })
                .collect();
            blocks.push(WorkplaceBlock {
                label: w
                    .label
                    .clone()
                    .unwrap_or_else(|| commune_label(state, &w.commune_insee)),
                positions: w.positions,
                distance_known: w.distance_known,
                considered: w.considered,
                excluded: w.excluded,
                rows,
            });
        }
    }
    let referrals = super::relations::rows(
        state,
        user,
        &crate::referrals::ListQuery {
            offer_id: Some(id.to_string()),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await?;
    let view = offer_view(state, &offer);
    let title = view.title.clone();
    let (refer_candidate, refer_message) = refer_error.unzip();
    let delivery_refusals = if offer.is_local {
        crate::offers::delivery_refusals(&state.db, id).await?
    } else {
        Vec::new()
    };
    let member_left = offer.closed_reason.as_deref() == Some("member_left");
    render(
        "offre.html",
        context! {
            o => view,
            delivery_refusals => delivery_refusals,
            member_left => member_left,
            blocks => blocks,
            referrals => referrals,
            flash => flash,
            refer_candidate => refer_candidate,
            refer_message => refer_message,
            ..layout(user, "offres", &title)
        },
    )
}

#[derive(Deserialize)]
pub struct DetailParams {
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /ui/offres/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
    Query(p): Query<DetailParams>,
) -> UiResult {
    let flash = match p.ok.as_deref() {
        Some("publiee") => Some("L'offre est publiée : elle est diffusée aux membres du réseau."),
        Some("cloturee") => Some(
            "L'offre est clôturée : les membres du réseau en sont informés et les propositions en attente reçoivent une réponse.",
        ),
        _ => None,
    };
    detail_page(&state, &user, &id, flash, None).await
}

/// `POST /ui/offres/{id}/cloturer` (optional `motif`): close a local open
/// offer (`offers::close_offer`, which checks that the user is its owner or
/// staff and broadcasts `offer.closed`), audited `offer.close` like the API.
pub async fn close(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    // Same bound as the API's `?reason=`.
    let reason = f
        .opt("motif")
        .map(|r| r.chars().take(500).collect::<String>());
    crate::offers::close_offer(&state, &user, &id, reason).await?;
    Ok(Redirect::to(&format!("/ui/offres/{id}?ok=cloturee")).into_response())
}

// ---------------------------------------------------------------------------
// The offer form

#[derive(Debug, Default, Serialize)]
struct Row {
    commune: String,
    positions: String,
}

#[derive(Debug, Default, Serialize)]
struct OfferForm {
    title: String,
    description: String,
    rome_code: String,
    contract_type: String,
    duration_months: String,
    weekly_hours: String,
    salary_min: String,
    salary_max: String,
    salary_period: String,
    driving_licence: String,
    experience_label: String,
    start_date: String,
    vehicle_required: bool,
    required_certifications: Vec<String>,
    desired_certifications: Vec<String>,
    employer_name: String,
    employer_siret: String,
    rows: Vec<Row>,
}

fn offer_form_page(
    user: &User,
    form: &OfferForm,
    errors: &FieldErrors,
    suggestions: Vec<crate::referentials::RomeSuggestion>,
) -> UiResult {
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let resp = render(
        "offre_nouvelle.html",
        context! {
            form => form,
            errors => errors,
            suggestions => suggestions,
            contracts => labels::contract_options(),
            licences => crate::offers::LICENCE_CATEGORIES,
            certifications => labels::certification_groups(),
            staff => user.require_staff().is_ok(),
            ..layout(user, "nouvelle", "Publier une offre")
        },
    )?;
    Ok((status, resp).into_response())
}

/// `GET /ui/offres/nouvelle`.
pub async fn new_form(Session(user): Session) -> UiResult {
    user.require(&[Role::Employer, Role::Counsellor, Role::Admin])?;
    let form = OfferForm {
        contract_type: "CDI".into(),
        salary_period: "month".into(),
        rows: (0..DEFAULT_ROWS)
            .map(|i| Row {
                commune: String::new(),
                positions: if i == 0 { "1".into() } else { String::new() },
            })
            .collect(),
        ..OfferForm::default()
    };
    offer_form_page(&user, &form, &FieldErrors::new(), Vec::new())
}

/// `POST /ui/offres/nouvelle`: `action=publier` creates the offer through
/// `offers::create_offer` (validated, broadcast, indexed; audited
/// `offer.create` like the API); `action=ligne` adds a workplace row and
/// `action=rome` suggests ROME codes from the title — both without
/// JavaScript, by showing the form again.
pub async fn create(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    user.require(&[Role::Employer, Role::Counsellor, Role::Admin])?;
    let f = FormData::parse(&body);
    let communes = f.all("lieu_commune");
    let positions = f.all("lieu_postes");
    let mut rows: Vec<Row> = (0..communes.len().max(positions.len()).min(MAX_ROWS))
        .map(|i| Row {
            commune: communes.get(i).copied().unwrap_or("").to_string(),
            positions: positions.get(i).copied().unwrap_or("").to_string(),
        })
        .collect();
    let action = f.get("action");
    if action == "ligne" && rows.len() < MAX_ROWS {
        rows.push(Row::default());
    }
    if rows.is_empty() {
        rows.push(Row::default());
    }
    let form = OfferForm {
        title: f.get("title").into(),
        description: f.get("description").into(),
        rome_code: f.get("rome_code").to_uppercase(),
        contract_type: f.get("contract_type").into(),
        duration_months: f.get("duration_months").into(),
        weekly_hours: f.get("weekly_hours").into(),
        salary_min: f.get("salary_min").into(),
        salary_max: f.get("salary_max").into(),
        salary_period: f.get("salary_period").into(),
        driving_licence: f.get("driving_licence").into(),
        experience_label: f.get("experience_label").into(),
        start_date: f.get("start_date").into(),
        vehicle_required: f.checked("vehicle_required"),
        required_certifications: f
            .all("required_certifications")
            .into_iter()
            .map(str::to_string)
            .collect(),
        desired_certifications: f
            .all("desired_certifications")
            .into_iter()
            .map(str::to_string)
            .collect(),
        employer_name: f.get("employer_name").into(),
        employer_siret: f.get("employer_siret").into(),
        rows,
    };
    if action == "ligne" || action == "rome" {
        let suggestions = if action == "rome" {
            if form.title.is_empty() {
                state.refs.suggest_rome(&form.rome_code, 8)
            } else {
                rome_suggestions(&state, &form.title)
            }
        } else {
            Vec::new()
        };
        let mut errors = FieldErrors::new();
        if action == "rome" && suggestions.is_empty() {
            errors.insert(
                "rome_code".into(),
                "Aucun code ROME trouvé d'après l'intitulé : essayez un autre mot.".into(),
            );
        }
        return offer_form_page(&user, &form, &errors, suggestions);
    }

    let mut errors = FieldErrors::new();
    let contract_type = match crate::referrals::parse_contract(&form.contract_type) {
        Some(c) => Some(c),
        None => {
            errors.insert(
                "contract_type".into(),
                "Choisissez un type de contrat.".into(),
            );
            None
        }
    };
    let duration_months = int_field(&f, "duration_months", "duration_months", &mut errors);
    let weekly_hours = int_field(&f, "weekly_hours", "weekly_hours", &mut errors);
    let mut salary_cents = [None, None];
    for (i, (key, value)) in [
        ("salary.min_cents", &form.salary_min),
        ("salary.max_cents", &form.salary_max),
    ]
    .into_iter()
    .enumerate()
    {
        if !value.is_empty() {
            match labels::parse_euros(value) {
                Some(c) => salary_cents[i] = Some(c),
                None => {
                    errors.insert(key.into(), "Indiquez un montant en euros.".into());
                }
            }
        }
    }
    let period = match form.salary_period.as_str() {
        "hour" => SalaryPeriod::Hour,
        "year" => SalaryPeriod::Year,
        _ => SalaryPeriod::Month,
    };
    let salary = (salary_cents[0].is_some() || salary_cents[1].is_some()).then(|| Salary {
        min_cents: salary_cents[0],
        max_cents: salary_cents[1],
        period,
    });
    // Non-empty rows, with their index on the form (errors come back
    // numbered among the rows sent).
    let mut sent_rows: Vec<usize> = Vec::new();
    let mut workplaces = Vec::new();
    for (i, r) in form.rows.iter().enumerate() {
        if r.commune.is_empty() && r.positions.is_empty() {
            continue;
        }
        let n = if r.positions.is_empty() {
            Some(1)
        } else {
            r.positions.replace(' ', "").parse::<i64>().ok()
        };
        let Some(n) = n else {
            errors.insert(
                format!("workplaces[{i}].positions"),
                "Indiquez un nombre de postes.".into(),
            );
            continue;
        };
        sent_rows.push(i);
        workplaces.push(WorkplaceInput {
            commune_insee: r.commune.clone(),
            label: None,
            positions: n,
        });
    }
    let employer = (user.role != Role::Employer).then(|| Employer {
        name: form.employer_name.clone(),
        siret: Some(form.employer_siret.clone()).filter(|s| !s.is_empty()),
    });
    let input = contract_type.map(|ct| OfferInput {
        title: form.title.clone(),
        description: form.description.clone(),
        rome_code: form.rome_code.clone(),
        contract_type: ct,
        duration_months,
        weekly_hours,
        salary,
        driving_licence: Some(form.driving_licence.clone()).filter(|s| !s.is_empty()),
        experience_months: None,
        experience_label: Some(form.experience_label.clone()).filter(|s| !s.is_empty()),
        start_date: Some(form.start_date.clone()).filter(|s| !s.is_empty()),
        vehicle_required: form.vehicle_required,
        required_certifications: form.required_certifications.clone(),
        desired_certifications: form.desired_certifications.clone(),
        employer,
        workplaces,
    });
    let outcome = match input {
        Some(input) if errors.is_empty() => {
            crate::offers::create_offer(&state, &user, &input).await
        }
        // Form errors of our own: do not create, but show the domain's too.
        Some(input) => {
            let employer = match user.role {
                Role::Employer => Employer {
                    name: user.employer_name.clone().unwrap_or_default(),
                    siret: user.employer_siret.clone(),
                },
                _ => input.employer.clone().unwrap_or(Employer {
                    name: String::new(),
                    siret: None,
                }),
            };
            match crate::offers::validate_input(&state, &input, &employer) {
                Ok(_) => Err(Error::Validation(Vec::new())),
                Err(e) => Err(e),
            }
        }
        None => Err(Error::Validation(Vec::new())),
    };
    match outcome {
        Ok(offer) => Ok(
            Redirect::to(&format!("/ui/offres/{}?ok=publiee", offer.payload.offer_id))
                .into_response(),
        ),
        Err(Error::Validation(errs)) => {
            let renamed: Vec<crate::error::FieldError> = errs
                .into_iter()
                .map(|e| {
                    let field = match e
                        .field
                        .strip_prefix("workplaces[")
                        .and_then(|r| r.split_once(']'))
                        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
                    {
                        Some((i, rest)) => {
                            format!(
                                "workplaces[{}]{rest}",
                                sent_rows.get(i).copied().unwrap_or(0)
                            )
                        }
                        None if e.field == "employer.name" || e.field == "employer" => {
                            "employer_name".into()
                        }
                        None if e.field == "employer.siret" => "employer_siret".into(),
                        None if e.field == "salary" => "salary.min_cents".into(),
                        None => e.field.clone(),
                    };
                    crate::error::FieldError::new(field, e.message)
                })
                .collect();
            for (k, v) in field_errors(&renamed) {
                errors.entry(k).or_insert(v);
            }
            for (i, r) in form.rows.iter().enumerate() {
                let key = format!("workplaces[{i}].commune_insee");
                if let Some(msg) = errors.get_mut(&key) {
                    if let Some(hint) = commune_hint(&state, &r.commune) {
                        msg.push(' ');
                        msg.push_str(&hint);
                    }
                }
            }
            let suggestions = if errors.contains_key("rome_code") && !form.title.is_empty() {
                rome_suggestions(&state, &form.title)
            } else {
                Vec::new()
            };
            offer_form_page(&user, &form, &errors, suggestions)
        }
        Err(e) => Err(e.into()),
    }
}
