//! Offer pages: list (local and network), detail with the explained
//! matches among local candidates (staff), and the employer's web form.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
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

use super::saisie::rome_suggestions;

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
    /// Positions filled by hires through the network.
    filled: i64,
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
            filled: o.positions_filled,
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
    let results = crate::offers::search_offers_as(
        state,
        &crate::actor::Actor::User(user.clone()),
        &crate::offers::SearchParams {
            q: Some(texte.to_string()),
            origin: (origin == "local").then(|| "local".to_string()),
            status: Some(status.to_string()),
            limit: Some(100),
            ..Default::default()
        },
        Some("ui"),
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
                &state.db,
                &crate::actor::Actor::User(user.clone()),
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
    /// The status of this person's pending referral to this offer, if
    /// any: shown instead of the « Proposer » form.
    referred: Option<&'static str>,
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
    /// Positions filled by hires through the network, and still open.
    filled: i64,
    positions_open: i64,
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
        filled: o.positions_filled,
        positions_open: o.positions_open(),
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
/// referral from this page; `near_misses`: the candidates a constraint
/// keeps out are listed after the others, the constraint named.
pub(super) async fn detail_page(
    state: &AppState,
    user: &User,
    id: &str,
    flash: Option<&'static str>,
    refer_error: Option<(String, String)>,
    near_misses: bool,
) -> UiResult {
    let offer = crate::offers::get_offer(&state.db, id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    // Employers see their own offers here (the list shows them nothing else).
    if user.role == Role::Employer && offer.owner_user_id.as_deref() != Some(user.id.as_str()) {
        return Err(Error::NotFound("offer").into());
    }
    let staff = user.require_staff().is_ok();
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
    let pending = super::relations::pending_rows(state, user, Some(id), None).await?;
    let referred = |candidate_id: &str| {
        super::relations::pending_status(&pending, |r| {
            r.candidate_id.as_deref() == Some(candidate_id)
        })
    };
    let mut blocks = Vec::new();
    if staff && offer.status == OfferStatus::Open {
        let params = crate::matching::MatchParams {
            limit: Some(20),
            include_near_misses: Some(near_misses),
            workplace: None,
        };
        let m = crate::matching::offer_matches_of(
            state,
            &crate::actor::Actor::User(user.clone()),
            None,
            &offer,
            &params,
            Some("ui"),
        )
        .await?;
        // The ranking's own rows explain themselves: no second load.
        for w in &m.workplaces {
            let rows = w
                .matches
                .iter()
                .map(|cm| CandidateRow {
                    candidate_id: cm.candidate_id.clone(),
                    name: format!("{} {}", cm.first_name, cm.last_name),
                    commune: commune_label(state, &cm.commune_insee),
                    score: labels::km(cm.evaluation.score),
                    distance_km: cm.evaluation.distance_km,
                    eligible: cm.evaluation.eligible,
                    constraints: labels::constraints(&cm.evaluation),
                    parts: labels::explain(&cm.evaluation, &offer.payload, cm.record()),
                    referred: referred(&cm.candidate_id),
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
    let view = offer_view(state, &offer);
    let title = view.title.clone();
    let (refer_candidate, refer_message) = refer_error.unzip();
    let delivery_refusals = if offer.is_local {
        crate::offers::delivery_refusals(&state.db, id).await?
    } else {
        Vec::new()
    };
    let member_left = offer.closed_reason.as_deref() == Some("member_left");
    let editable = offer.is_local
        && offer.status == OfferStatus::Open
        && crate::offers::editable(state, &crate::actor::Actor::User(user.clone()), id)
            .await
            .is_ok();
    // A counsellor does not close an employer's offer from here: the
    // employer (or an admin) does; staff close the offers they posted.
    let can_close = editable
        && match user.role {
            Role::Counsellor => !owned_by_employer(state, &offer).await?,
            Role::Admin | Role::Employer => true,
        };
    render(
        "offre.html",
        context! {
            o => view,
            can_edit => editable,
            can_close => can_close,
            delivery_refusals => delivery_refusals,
            member_left => member_left,
            blocks => blocks,
            near_misses => near_misses,
            referrals => referrals,
            flash => flash,
            refer_candidate => refer_candidate,
            refer_message => refer_message,
            ..layout(user, "offres", &title)
        },
    )
}

/// Whether a local offer was posted by an employer's own account.
async fn owned_by_employer(state: &AppState, offer: &StoredOffer) -> Result<bool, Error> {
    let Some(owner) = offer.owner_user_id.as_deref() else {
        return Ok(false);
    };
    Ok(crate::auth::user_by_id(&state.db, owner)
        .await?
        .is_some_and(|u| u.role == Role::Employer))
}

/// `?ok=` of a detail page: which flash message to show.
#[derive(Deserialize)]
pub struct DetailParams {
    #[serde(default)]
    pub(super) ok: Option<String>,
    /// `1`: list the candidates a constraint keeps out too.
    #[serde(default)]
    pub(super) ecartes: Option<String>,
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
        Some("modifiee") => {
            Some("L'offre est modifiée : la nouvelle version est diffusée aux membres du réseau.")
        }
        Some("cloturee") => Some(
            "L'offre est clôturée : les membres du réseau en sont informés et les propositions en attente reçoivent une réponse.",
        ),
        _ => None,
    };
    let near_misses = p.ecartes.as_deref() == Some("1");
    detail_page(&state, &user, &id, flash, None, near_misses).await
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
    crate::offers::close_offer(&state, &crate::actor::Actor::User(user), &id, reason).await?;
    Ok(Redirect::to(&format!("/ui/offres/{id}?ok=cloturee")).into_response())
}

// ---------------------------------------------------------------------------
// The offer form (new offer and edit)

#[derive(Debug, Default, Serialize)]
struct Row {
    commune: String,
    label: String,
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
    experience_months: String,
    experience_label: String,
    start_date: String,
    vehicle_required: bool,
    required_certifications: Vec<String>,
    desired_certifications: Vec<String>,
    employer_name: String,
    employer_siret: String,
    rows: Vec<Row>,
}

/// Euros as typed in the form (« 1 850,50 »), from cents.
fn euros_input(cents: i64) -> String {
    if cents % 100 == 0 {
        (cents / 100).to_string()
    } else {
        format!("{},{:02}", cents / 100, (cents % 100).abs())
    }
}

impl OfferForm {
    /// The form filled with an offer (edit).
    fn of(state: &AppState, p: &vivier_protocol::OfferPayload) -> OfferForm {
        let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        OfferForm {
            title: p.title.clone(),
            description: p.description.clone(),
            rome_code: p.rome_code.clone(),
            contract_type: p.contract_type.as_str().to_string(),
            duration_months: num(p.duration_months),
            weekly_hours: num(p.weekly_hours),
            salary_min: p
                .salary
                .as_ref()
                .and_then(|s| s.min_cents)
                .map(euros_input)
                .unwrap_or_default(),
            salary_max: p
                .salary
                .as_ref()
                .and_then(|s| s.max_cents)
                .map(euros_input)
                .unwrap_or_default(),
            salary_period: match p.salary.as_ref().map(|s| s.period) {
                Some(SalaryPeriod::Hour) => "hour",
                Some(SalaryPeriod::Year) => "year",
                _ => "month",
            }
            .to_string(),
            driving_licence: p.driving_licence.clone().unwrap_or_default(),
            experience_months: num(p.experience_months),
            experience_label: p.experience_label.clone().unwrap_or_default(),
            start_date: p.start_date.clone().unwrap_or_default(),
            vehicle_required: p.vehicle_required,
            required_certifications: p.required_certifications.clone(),
            desired_certifications: p.desired_certifications.clone(),
            employer_name: p.employer.name.clone(),
            employer_siret: p.employer.siret.clone().unwrap_or_default(),
            rows: p
                .workplaces
                .iter()
                .map(|w| {
                    let default_label = state
                        .refs
                        .commune(&w.commune_insee)
                        .map(|c| format!("{} ({})", c.name, c.departement));
                    Row {
                        commune: state
                            .refs
                            .commune(&w.commune_insee)
                            .map(super::saisie::commune_label)
                            .unwrap_or_else(|| w.commune_insee.clone()),
                        // The default label is not repeated in the form.
                        label: w
                            .label
                            .clone()
                            .filter(|l| Some(l) != default_label.as_ref())
                            .unwrap_or_default(),
                        positions: w.positions.to_string(),
                    }
                })
                .collect(),
        }
    }

    /// The form as sent; `action=ligne` adds a workplace row.
    fn parse(f: &FormData) -> OfferForm {
        let communes = f.all("lieu_commune");
        let labels_ = f.all("lieu_libelle");
        let positions = f.all("lieu_postes");
        let n = communes
            .len()
            .max(positions.len())
            .max(labels_.len())
            .min(MAX_ROWS);
        let mut rows: Vec<Row> = (0..n)
            .map(|i| Row {
                commune: communes.get(i).copied().unwrap_or("").to_string(),
                label: labels_.get(i).copied().unwrap_or("").to_string(),
                positions: positions.get(i).copied().unwrap_or("").to_string(),
            })
            .collect();
        if f.get("action") == "ligne" && rows.len() < MAX_ROWS {
            rows.push(Row::default());
        }
        if rows.is_empty() {
            rows.push(Row::default());
        }
        OfferForm {
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
            experience_months: f.get("experience_months").into(),
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
        }
    }
}

/// `None`: a new offer; `Some(id)`: the edit of offer `id`.
fn offer_form_page(
    user: &User,
    form: &OfferForm,
    errors: &FieldErrors,
    suggestions: Vec<crate::referentials::RomeSuggestion>,
    edit: Option<&str>,
) -> UiResult {
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let (action, title, nav) = match edit {
        Some(id) => (
            format!("/ui/offres/{id}/modifier"),
            format!("Modifier l'offre « {} »", form.title),
            "offres",
        ),
        None => (
            "/ui/offres/nouvelle".to_string(),
            "Publier une offre".to_string(),
            "nouvelle",
        ),
    };
    let resp = render(
        "offre_nouvelle.html",
        context! {
            form => form,
            errors => errors,
            suggestions => suggestions,
            action => action,
            edit_id => edit,
            contracts => labels::contract_options(),
            licences => crate::offers::LICENCE_CATEGORIES,
            certifications => labels::certification_groups(),
            staff => user.require_staff().is_ok(),
            ..layout(user, nav, &title)
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
                positions: if i == 0 { "1".into() } else { String::new() },
                ..Row::default()
            })
            .collect(),
        ..OfferForm::default()
    };
    offer_form_page(&user, &form, &FieldErrors::new(), Vec::new(), None)
}

/// The domain's input from the form, or the form's own errors; with the
/// rows sent (errors come back numbered among them).
struct ParsedOffer {
    input: Option<OfferInput>,
    errors: FieldErrors,
    sent_rows: Vec<usize>,
}

fn parse_offer_input(state: &AppState, user: &User, f: &FormData, form: &OfferForm) -> ParsedOffer {
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
    let duration_months = int_field(f, "duration_months", "duration_months", &mut errors);
    let weekly_hours = int_field(f, "weekly_hours", "weekly_hours", &mut errors);
    let experience_months = int_field(f, "experience_months", "experience_months", &mut errors);
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
    // Non-empty rows, with their index on the form.
    let mut sent_rows: Vec<usize> = Vec::new();
    let mut workplaces = Vec::new();
    for (i, r) in form.rows.iter().enumerate() {
        if r.commune.is_empty() && r.positions.is_empty() && r.label.is_empty() {
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
        // A commune typed by name: resolved, homonyms offered.
        let commune_insee = if r.commune.is_empty() {
            String::new()
        } else {
            match super::saisie::resolve_commune(state, &r.commune) {
                Ok(insee) => insee,
                Err(problem) => {
                    let choices = problem
                        .choices
                        .iter()
                        .map(|c| format!("« {} » ({})", c.label, c.postcodes))
                        .collect::<Vec<_>>()
                        .join(", ");
                    errors.insert(
                        format!("workplaces[{i}].commune_insee"),
                        if choices.is_empty() {
                            problem.message
                        } else {
                            format!("{} Tapez par exemple {choices}.", problem.message)
                        },
                    );
                    continue;
                }
            }
        };
        sent_rows.push(i);
        workplaces.push(WorkplaceInput {
            commune_insee,
            label: Some(r.label.clone()).filter(|s| !s.is_empty()),
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
        experience_months,
        experience_label: Some(form.experience_label.clone()).filter(|s| !s.is_empty()),
        start_date: Some(form.start_date.clone()).filter(|s| !s.is_empty()),
        vehicle_required: form.vehicle_required,
        required_certifications: form.required_certifications.clone(),
        desired_certifications: form.desired_certifications.clone(),
        employer,
        workplaces,
    });
    ParsedOffer {
        input,
        errors,
        sent_rows,
    }
}

/// The domain's errors for an input the form already found faulty (nothing
/// is written), so that every error shows at once.
fn domain_errors(state: &AppState, user: &User, input: Option<&OfferInput>) -> Error {
    let Some(input) = input else {
        return Error::Validation(Vec::new());
    };
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
    match crate::offers::validate_input(state.refs, &state.identity.node_id, input, &employer) {
        Ok(_) => Error::Validation(Vec::new()),
        Err(e) => e,
    }
}

/// The domain's field errors renamed after the form's fields.
fn merge_offer_errors(
    state: &AppState,
    errs: Vec<crate::error::FieldError>,
    form: &OfferForm,
    sent_rows: &[usize],
    errors: &mut FieldErrors,
) {
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
            if let Some(hint) = commune_hint(state, &r.commune) {
                if !msg.contains("Tapez par exemple") {
                    msg.push(' ');
                    msg.push_str(&hint);
                }
            }
        }
    }
}

/// `action=ligne` / `action=rome`: the form again, with a new workplace
/// row or ROME codes suggested from the title (no JavaScript).
fn lookup_page(
    state: &AppState,
    user: &User,
    form: &OfferForm,
    action: &str,
    edit: Option<&str>,
) -> UiResult {
    let suggestions = if action == "rome" {
        if form.title.is_empty() {
            state.refs.suggest_rome(&form.rome_code, 8)
        } else {
            rome_suggestions(state, &form.title)
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
    offer_form_page(user, form, &errors, suggestions, edit)
}

/// The form again after a refused input, every error next to its field.
fn refused_page(
    state: &AppState,
    user: &User,
    form: &OfferForm,
    errs: Vec<crate::error::FieldError>,
    mut parsed: ParsedOffer,
    edit: Option<&str>,
) -> UiResult {
    merge_offer_errors(state, errs, form, &parsed.sent_rows, &mut parsed.errors);
    let suggestions = if parsed.errors.contains_key("rome_code") && !form.title.is_empty() {
        rome_suggestions(state, &form.title)
    } else {
        Vec::new()
    };
    offer_form_page(user, form, &parsed.errors, suggestions, edit)
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
    let f = FormData::parse(&body);
    let form = OfferForm::parse(&f);
    let action = f.get("action");
    if action == "ligne" || action == "rome" {
        return lookup_page(&state, &user, &form, action, None);
    }
    let parsed = parse_offer_input(&state, &user, &f, &form);
    let outcome = match &parsed.input {
        Some(input) if parsed.errors.is_empty() => {
            crate::offers::create_offer(&state, &crate::actor::Actor::User(user.clone()), input)
                .await
        }
        other => Err(domain_errors(&state, &user, other.as_ref())),
    };
    match outcome {
        Ok(offer) => Ok(
            Redirect::to(&format!("/ui/offres/{}?ok=publiee", offer.payload.offer_id))
                .into_response(),
        ),
        Err(Error::Validation(errs)) => refused_page(&state, &user, &form, errs, parsed, None),
        Err(e) => Err(e.into()),
    }
}

/// `GET /ui/offres/{id}/modifier`: every field of a local open offer, for
/// whoever the offers module lets change it (its employer, staff).
pub async fn edit_form(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
) -> UiResult {
    let offer =
        crate::offers::editable(&state, &crate::actor::Actor::User(user.clone()), &id).await?;
    if offer.status == OfferStatus::Closed {
        return Err(Error::Conflict("the offer is closed".into()).into());
    }
    let form = OfferForm::of(&state, &offer.payload);
    offer_form_page(
        &user,
        &form,
        &FieldErrors::new(),
        Vec::new(),
        Some(id.as_str()),
    )
}

/// `POST /ui/offres/{id}/modifier`: the API's update
/// (`offers::update_offer`: same checks, audited `offer.update`, broadcast
/// `offer.updated` to the network).
pub async fn edit(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    // Who may change it is the service's decision, taken before anything
    // is read from the form.
    let actor = crate::actor::Actor::User(user.clone());
    crate::offers::editable(&state, &actor, &id).await?;
    let f = FormData::parse(&body);
    let form = OfferForm::parse(&f);
    let action = f.get("action");
    if action == "ligne" || action == "rome" {
        return lookup_page(&state, &user, &form, action, Some(id.as_str()));
    }
    let parsed = parse_offer_input(&state, &user, &f, &form);
    let outcome = match &parsed.input {
        Some(input) if parsed.errors.is_empty() => {
            crate::offers::update_offer(&state, &actor, &id, input).await
        }
        other => Err(domain_errors(&state, &user, other.as_ref())),
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/ui/offres/{id}?ok=modifiee")).into_response()),
        Err(Error::Validation(errs)) => {
            refused_page(&state, &user, &form, errs, parsed, Some(id.as_str()))
        }
        Err(e) => Err(e.into()),
    }
}
