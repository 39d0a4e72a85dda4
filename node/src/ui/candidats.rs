//! Candidate pages (staff only): search, new record, record with its
//! explained matches, referral to an offer.

use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::labels;
use super::{layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult};
use crate::candidates::{Candidate, CandidateStatus, ConsentScope};
use crate::error::Error;
use crate::search::{CandidateQuery, SortBy};
use crate::server::AppState;

const PER_PAGE: usize = 20;
const DEFAULT_RADIUS_KM: f64 = 30.0;

/// "Blois (41)" for an INSEE code.
pub(super) fn commune_label(state: &AppState, insee: &str) -> String {
    match state.refs.commune(insee) {
        Some(c) => format!("{} ({})", c.name, c.departement),
        None => insee.to_string(),
    }
}

/// "Vouliez-vous dire : Blois (41018) ?" for what was typed.
pub(super) fn commune_hint(state: &AppState, typed: &str) -> Option<String> {
    let found = state.refs.search_communes(typed, 3);
    if found.is_empty() {
        return None;
    }
    Some(format!(
        "Vouliez-vous dire : {} ?",
        found
            .iter()
            .map(|c| format!("{} ({})", c.name, c.insee))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

// ---------------------------------------------------------------------------
// Search

/// The search form, as typed (echoed back in the form).
#[derive(Debug, Default, Clone, Serialize)]
struct SearchForm {
    texte: String,
    rome: String,
    commune: String,
    rayon: String,
    permis: String,
    disponible_avant: String,
    contrat: String,
    statut: String,
    tri: String,
}

#[derive(Serialize)]
struct HitRow {
    id: String,
    name: String,
    commune: String,
    distance_km: Option<f64>,
    rome: Vec<String>,
    job_titles: Vec<String>,
    status: &'static str,
    available_from: Option<String>,
    /// Checked HTML (see [`labels::safe_snippet`]).
    snippet_html: Option<minijinja::Value>,
    /// The snippet when it failed the check: shown escaped.
    snippet_text: Option<String>,
}

fn parse_search_form(
    state: &AppState,
    raw: &str,
) -> (
    SearchForm,
    Option<CandidateQuery>,
    usize,
    FieldErrors,
    Option<String>,
) {
    let mut f = SearchForm::default();
    let mut page = 1usize;
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        let v = v.trim().to_string();
        match k.as_ref() {
            "texte" => f.texte = v,
            "rome" => f.rome = v,
            "commune" => f.commune = v,
            "rayon" => f.rayon = v,
            "permis" => f.permis = v,
            "disponible_avant" => f.disponible_avant = v,
            "contrat" => f.contrat = v,
            "statut" => f.statut = v,
            "tri" => f.tri = v,
            "page" => page = v.parse().unwrap_or(1).clamp(1, 10_000),
            _ => {}
        }
    }
    let mut errors = FieldErrors::new();
    if let Err(e) = crate::search::query_lang::check_length(&f.texte) {
        errors.insert("texte".into(), e.message_fr());
        // The form echoes what was typed: not a megabyte of it.
        f.texte = f
            .texte
            .chars()
            .take(crate::search::query_lang::MAX_QUERY_CHARS)
            .collect();
    }
    let mut rome_codes = Vec::new();
    for code in f
        .rome
        .split([',', ' ', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let code = code.to_uppercase();
        if state.refs.rome_exists(&code) {
            rome_codes.push(code);
        } else {
            errors.insert(
                "rome".into(),
                format!("Code ROME inconnu : « {code} » (une lettre et quatre chiffres, par exemple N1101)."),
            );
        }
    }
    let mut near = None;
    let mut centre = None;
    let radius = if f.rayon.is_empty() {
        DEFAULT_RADIUS_KM
    } else {
        match f.rayon.replace(',', ".").parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1000.0 => r,
            _ => {
                errors.insert(
                    "rayon".into(),
                    "Indiquez un rayon en km, entre 1 et 1000.".into(),
                );
                DEFAULT_RADIUS_KM
            }
        }
    };
    if !f.commune.is_empty() {
        // Never the first of several homonyms: the choice is offered.
        let c = match super::saisie::resolve_commune(state, &f.commune) {
            Ok(insee) => state.refs.commune(&insee),
            Err(problem) if !problem.choices.is_empty() => {
                errors.insert("commune".into(), problem.message);
                None
            }
            Err(_) => None,
        };
        match c {
            Some(c) => match c.point {
                Some(p) => {
                    near = Some((p, radius));
                    centre = Some(format!(
                        "à {} km autour de {} ({})",
                        labels::km(radius),
                        c.name,
                        c.insee
                    ));
                }
                None => {
                    errors.insert(
                        "commune".into(),
                        "Le centre de cette commune est inconnu : la distance ne peut pas être calculée."
                            .into(),
                    );
                }
            },
            None if errors.contains_key("commune") => {}
            None => {
                errors.insert(
                    "commune".into(),
                    "Commune inconnue : indiquez un nom, un code postal ou un code INSEE.".into(),
                );
            }
        }
    } else if !f.rayon.is_empty() {
        errors.insert("rayon".into(), "Le rayon demande une commune.".into());
    }
    let licence = Some(f.permis.to_uppercase()).filter(|s| !s.is_empty());
    if let Some(l) = &licence {
        if !crate::candidates::LICENCES.contains(&l.as_str()) {
            errors.insert("permis".into(), "Catégorie de permis inconnue.".into());
        }
    }
    let available_before_days = if f.disponible_avant.is_empty() {
        None
    } else {
        let d = labels::parse_day(&f.disponible_avant);
        match crate::util::date_to_days(&d) {
            Some(n) => Some(n),
            None => {
                errors.insert(
                    "disponible_avant".into(),
                    "Date invalide (jj/mm/aaaa).".into(),
                );
                None
            }
        }
    };
    let contract_type = Some(f.contrat.to_uppercase()).filter(|s| !s.is_empty());
    if let Some(c) = &contract_type {
        if crate::referrals::parse_contract(c).is_none() {
            errors.insert("contrat".into(), "Type de contrat inconnu.".into());
        }
    }
    let status = Some(f.statut.clone()).filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if s != "all" && CandidateStatus::parse(s).is_none() {
            errors.insert("statut".into(), "Statut inconnu.".into());
        }
    }
    let sort = if f.tri == "distance" {
        // As the API: a distance needs a centre (a commune in error has
        // its own message already).
        if f.commune.trim().is_empty() {
            errors.insert(
                "tri".into(),
                "Le tri par distance demande une commune.".into(),
            );
        }
        SortBy::Distance
    } else {
        SortBy::Relevance
    };
    if !errors.is_empty() {
        return (f, None, page, errors, centre);
    }
    let q = CandidateQuery {
        text: Some(f.texte.clone()).filter(|s| !s.is_empty()),
        rome_codes,
        near,
        licence,
        available_before_days,
        contract_type,
        status,
        ids: None,
        sort,
        offset: (page - 1) * PER_PAGE,
        limit: PER_PAGE,
        highlight: true,
        summaries: true,
    };
    (f, Some(q), page, errors, centre)
}

/// `/ui/candidats?…` with the form's filters (its commune replaced by
/// `commune` when given) and `page`.
fn search_link(form: &SearchForm, commune: Option<&str>, page: Option<usize>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("texte", form.texte.as_str()),
        ("rome", &form.rome),
        ("commune", commune.unwrap_or(&form.commune)),
        ("rayon", &form.rayon),
        ("permis", &form.permis),
        ("disponible_avant", &form.disponible_avant),
        ("contrat", &form.contrat),
        ("statut", &form.statut),
        ("tri", &form.tri),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    if let Some(p) = page {
        s.append_pair("page", &p.to_string());
    }
    format!("/ui/candidats?{}", s.finish())
}

/// `GET /ui/candidats`: the search form and its results (audited as
/// `candidate.search`, like the API).
pub async fn search(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(raw): RawQuery,
) -> UiResult {
    user.require_staff()?;
    let raw = raw.unwrap_or_default();
    let flash = url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "ok")
        .and_then(|(_, v)| match v.as_ref() {
            "supprime" => Some(
                "La fiche a été supprimée définitivement (fichiers, index et copies locales compris) ; \
                 les nœuds du réseau qui avaient reçu une mise en relation en sont informés.",
            ),
            _ => None,
        });
    let (form, query, page, mut errors, centre) = parse_search_form(&state, &raw);
    let mut rows = Vec::new();
    let mut total = 0usize;
    let mut archived = None;
    let mut relaxed = false;
    let short_prefixes = crate::search::query_lang::short_prefixes(&form.texte);
    if let Some(q) = query {
        let actor = crate::actor::Actor::User(user.clone());
        archived = crate::candidates::archived_matches(&state, &actor, &q)
            .await?
            .filter(|n| *n > 0)
            .map(|n| {
                let all = SearchForm {
                    statut: "all".into(),
                    ..form.clone()
                };
                (n, search_link(&all, None, None))
            });
        let searched = crate::candidates::search(&state, &actor, &q, None, |results| {
            json!({
                "via": "ui",
                // The free text may name a person: only its length is kept.
                "q_chars": q.text.as_deref().map_or(0, |s| s.chars().count()),
                "rome": q.rome_codes,
                "commune": Some(&form.commune).filter(|s| !s.is_empty()),
                "radius_km": q.near.map(|n| n.1),
                "licence": q.licence,
                "available_before_days": q.available_before_days,
                "contract_type": q.contract_type,
                "status": q.status,
                "page": page,
                "total": results.total,
                "hits": results.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
            })
        })
        .await?;
        match searched {
            Ok(results) => {
                total = results.total;
                relaxed = results.relaxed;
                // Rows from the index's stored fields (no record loading).
                for h in &results.hits {
                    let Some(c) = &h.summary else {
                        continue;
                    };
                    let Some(status) = CandidateStatus::parse(&c.status) else {
                        continue;
                    };
                    let checked = h.snippet.as_deref().map(labels::safe_snippet);
                    rows.push(HitRow {
                        id: h.id.clone(),
                        name: format!("{} {}", c.first_name, c.last_name),
                        commune: commune_label(&state, &c.commune_insee),
                        distance_km: h.distance_km,
                        rome: c.rome_codes.clone(),
                        job_titles: c.job_titles.clone(),
                        status: labels::candidate_status(status),
                        available_from: c.available_from.clone(),
                        snippet_html: checked
                            .clone()
                            .flatten()
                            .map(minijinja::Value::from_safe_string),
                        snippet_text: match checked {
                            Some(None) => h.snippet.clone(),
                            _ => None,
                        },
                    });
                }
            }
            Err(e) => {
                errors.insert("texte".into(), e.message_fr());
            }
        }
    }
    let page_link = |p: usize| search_link(&form, None, Some(p));
    // Homonyms: one link per commune, the rest of the search kept.
    let commune_choices: Vec<(String, String)> =
        match (errors.contains_key("commune"), form.commune.is_empty()) {
            (true, false) => super::saisie::resolve_commune(&state, &form.commune)
                .err()
                .map(|p| p.choices)
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    (
                        search_link(&form, Some(&c.insee), None),
                        format!("{} — {}", c.label, c.postcodes),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
    let next = (page * PER_PAGE < total).then(|| page_link(page + 1));
    let prev = (page > 1).then(|| page_link(page - 1));
    let pages = total.div_ceil(PER_PAGE).max(1);
    let statuses: Vec<(&str, &str)> = [
        CandidateStatus::Active,
        CandidateStatus::InReferral,
        CandidateStatus::Placed,
        CandidateStatus::Archived,
    ]
    .iter()
    .map(|s| (s.as_str(), labels::candidate_status(*s)))
    .collect();
    render(
        "candidats.html",
        context! {
            form => form,
            errors => errors,
            rows => rows,
            total => total,
            page => page,
            pages => pages,
            next => next,
            prev => prev,
            centre => centre,
            licences => crate::candidates::LICENCES,
            contracts => labels::contract_options(),
            statuses => statuses,
            commune_choices => commune_choices,
            archived => archived,
            relaxed => relaxed,
            short_prefixes => short_prefixes,
            flash => flash,
            ..layout(&user, "candidats", "Rechercher un candidat")
        },
    )
}

// ---------------------------------------------------------------------------
// Record

#[derive(Deserialize)]
pub struct Flash {
    #[serde(default)]
    ok: Option<String>,
}

fn flash_message(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "cree" => Some("La fiche a été créée."),
        "modifie" => Some("La fiche a été modifiée."),
        "propose" => {
            Some("La mise en relation a été créée : l'employeur la verra dans son espace.")
        }
        "cv" => Some("Le CV a été déposé ; son texte est désormais celui de la recherche (les versions précédentes restent disponibles)."),
        "cv-ocr" => Some("Le CV est un document scanné : son texte a été lu par reconnaissance de caractères (OCR) et devient celui de la recherche. Relisez-le dans « Texte du CV » : la reconnaissance peut se tromper."),
        "cv-illisible" => Some("Le CV a été déposé, mais aucun texte n'a pu en être lu (document scanné ?) : le texte de recherche de la fiche n'a pas changé."),
        "programme" => Some("L'inscription au programme a été enregistrée."),
        "aide" => Some("Le suivi de l'aide à l'embauche a été mis à jour."),
        "cv-choisi" => Some("Le texte de recherche de la fiche est désormais celui de cette version du CV."),
        "consentement" => Some("Le consentement a été enregistré : la fiche est recherchable."),
        "retrait" => {
            Some("Le consentement a été retiré : la fiche redevient un brouillon, ni recherchable ni proposable.")
        }
        "retour" => Some("Le retour à l'emploi a été enregistré."),
        "suivi" => Some("L'entrée de suivi a été ajoutée."),
        "etape" => Some("L'étape est marquée comme faite."),
        _ => None,
    }
}

#[derive(Serialize)]
struct MatchRow {
    offer_id: String,
    title: String,
    employer: String,
    origin: String,
    is_local: bool,
    contract: &'static str,
    workplace: String,
    score: String,
    distance_km: Option<f64>,
    eligible: bool,
    constraints: Vec<String>,
    parts: Vec<labels::Explanation>,
    /// The status of the candidate's pending referral to this offer.
    referred: Option<&'static str>,
}

/// A near miss for want of certifications, with the trainings that grant
/// them (the skills gap).
#[derive(Serialize)]
struct GapRow {
    offer_id: String,
    title: String,
    employer: String,
    missing: Vec<String>,
    trainings: Vec<GapTrainingRow>,
}

#[derive(Serialize)]
struct GapTrainingRow {
    id: String,
    title: String,
    organisation: String,
    start_date: String,
    end_date: String,
    place: String,
    distance_km: f64,
    origin: String,
    closes: Vec<String>,
}

fn gap_row(m: &crate::matching::OfferMatch, gap: &crate::matching::gap::SkillsGap) -> GapRow {
    GapRow {
        offer_id: m.offer_id.clone(),
        title: m.title.clone(),
        employer: m.employer_name.clone(),
        missing: labels::certification_labels(&gap.missing),
        trainings: gap
            .trainings
            .iter()
            .map(|t| GapTrainingRow {
                id: t.opportunity_id.clone(),
                title: t.title.clone(),
                organisation: t.organisation.clone(),
                start_date: t.start_date.clone(),
                end_date: t.end_date.clone(),
                place: t.place_label.clone().unwrap_or_default(),
                distance_km: t.distance_km,
                origin: if t.is_local {
                    "locale".to_string()
                } else {
                    format!("réseau : {}", t.origin_node)
                },
                closes: labels::certification_labels(&t.closes),
            })
            .collect(),
    }
}

/// An offer a constraint keeps from the record, with why.
#[derive(Serialize)]
struct ExcludedRow {
    offer_id: String,
    title: String,
    employer: String,
    workplace: String,
    distance_km: Option<f64>,
    reasons: Vec<String>,
}

/// Where a matched offer's workplace is: its label, else its commune.
fn workplace_of(state: &AppState, m: &crate::matching::OfferMatch) -> String {
    m.workplace_label
        .clone()
        .unwrap_or_else(|| commune_label(state, &m.workplace_commune_insee))
}

/// Eligible offers listed on a record.
const RECORD_MATCHES: usize = 20;
/// Near misses listed on a record with their reasons.
const RECORD_EXCLUDED_SHOWN: usize = 10;
/// Near misses looked at beyond them for the skills gap.
const RECORD_GAPS_LOOKED_AT: usize = 40;

#[derive(Serialize)]
pub(super) struct RecordView {
    id: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    commune: String,
    max_travel_km: Option<i64>,
    has_vehicle: bool,
    public_transport_only: bool,
    mobility: String,
    driving_licences: Vec<String>,
    certifications: Vec<String>,
    available_from: Option<String>,
    weekly_hours: Option<i64>,
    contracts: Vec<&'static str>,
    rome: Vec<(String, String)>,
    job_titles: Vec<String>,
    skills: Vec<String>,
    languages: Vec<String>,
    experience_years: Option<i64>,
    training_level: Option<String>,
    cv_text: String,
    status: &'static str,
    consent: Option<(&'static str, i64)>,
    anonymised: bool,
    sensitive: Option<crate::candidates::Sensitive>,
    created_at: i64,
    updated_at: i64,
}

pub(super) fn record_view(state: &AppState, c: &Candidate, anonymised: bool) -> RecordView {
    RecordView {
        id: c.id.clone(),
        name: format!("{} {}", c.first_name, c.last_name),
        email: c.email.clone(),
        phone: c.phone.clone(),
        commune: commune_label(state, &c.commune_insee),
        max_travel_km: c.max_travel_km,
        has_vehicle: c.has_vehicle,
        public_transport_only: c.public_transport_only,
        mobility: labels::mobility(c.max_travel_km, c.has_vehicle, c.public_transport_only),
        driving_licences: c.driving_licences.clone(),
        certifications: labels::certification_labels(&c.certifications),
        available_from: c.available_from.clone(),
        weekly_hours: c.weekly_hours,
        contracts: c
            .contract_types
            .iter()
            .map(|t| labels::contract(*t))
            .collect(),
        rome: c
            .rome_codes
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    state
                        .refs
                        .rome(r)
                        .map(|x| x.label.clone())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        job_titles: c.job_titles.clone(),
        skills: c.skills.clone(),
        languages: c.languages.clone(),
        experience_years: c.experience_years,
        training_level: c.training_level.clone(),
        cv_text: c.cv_text.clone(),
        status: labels::candidate_status(c.status),
        consent: c.consent.as_ref().map(|k| {
            (
                match k.scope {
                    ConsentScope::Local => "local (ce nœud seulement)",
                    ConsentScope::Network => {
                        "réseau (peut être proposé aux offres des autres membres)"
                    }
                },
                k.given_at,
            )
        }),
        anonymised,
        sensitive: c.sensitive.clone(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// The record page, with an optional error about a referral attempt and
/// an optional error about one of the record's actions (CV, consent,
/// return to work), shown next to their forms.
pub(super) async fn record_page(
    state: &AppState,
    user: &crate::auth::User,
    id: &str,
    flash: Option<&'static str>,
    refer_error: Option<(String, String)>,
    action_error: Option<(&'static str, String)>,
    invitation: Option<crate::space::Invitation>,
) -> UiResult {
    let actor = crate::actor::Actor::User(user.clone());
    let (c, meta) = crate::candidates::read(state, &actor, id, None).await?;
    // What the person did in their space; seen once the assigned
    // counsellor opens the record.
    let assigned = c.counsellor_id.as_deref() == Some(user.id.as_str());
    let notices = super::moi::notice_rows(
        state,
        &crate::space::notices_of(state, &actor, id, assigned).await?,
    );
    let space_email = crate::space::account_of(&state.db, id).await?;
    let referrals = super::relations::rows(
        state,
        user,
        &crate::referrals::ListQuery {
            candidate_id: Some(id.to_string()),
            limit: Some(50),
            ..Default::default()
        },
    )
    .await?;
    let pending = super::relations::pending_rows(state, user, None, Some(id)).await?;
    let referred =
        |offer_id: &str| super::relations::pending_status(&pending, |r| r.offer_id == offer_id);
    let mut matches = Vec::new();
    let mut gaps: Vec<GapRow> = Vec::new();
    let mut excluded_offers: Vec<ExcludedRow> = Vec::new();
    let mut match_summary = None;
    if c.consent.is_some() && meta.anonymised_at.is_none() {
        let result = crate::matching::candidate_matches_of(
            state,
            &actor,
            None,
            &c,
            &crate::matching::MatchParams {
                // Eligible offers come first: room for the near misses
                // after the 20 shown (only those lacking a certification
                // are shown, with the trainings that close the gap).
                limit: Some(RECORD_MATCHES + RECORD_GAPS_LOOKED_AT),
                include_near_misses: Some(true),
                workplace: None,
            },
            Some("ui"),
        )
        .await?;
        let ids: Vec<String> = result.matches.iter().map(|m| m.offer_id.clone()).collect();
        let offers = crate::offers::get_offers(&state.db, &ids).await?;
        for m in &result.matches {
            if !m.evaluation.eligible {
                if let Some(gap) = &m.skills_gap {
                    gaps.push(gap_row(m, gap));
                }
                if excluded_offers.len() < RECORD_EXCLUDED_SHOWN {
                    excluded_offers.push(ExcludedRow {
                        offer_id: m.offer_id.clone(),
                        title: m.title.clone(),
                        employer: m.employer_name.clone(),
                        workplace: workplace_of(state, m),
                        distance_km: m.evaluation.distance_km,
                        reasons: labels::constraints(&m.evaluation),
                    });
                }
                continue;
            }
            if matches.len() >= RECORD_MATCHES {
                continue;
            }
            let Some(o) = offers.iter().find(|o| o.payload.offer_id == m.offer_id) else {
                continue;
            };
            matches.push(MatchRow {
                offer_id: m.offer_id.clone(),
                title: m.title.clone(),
                employer: m.employer_name.clone(),
                origin: if m.is_local {
                    "offre locale".to_string()
                } else {
                    format!("réseau : {}", m.origin_node)
                },
                is_local: m.is_local,
                contract: labels::contract(o.payload.contract_type),
                workplace: workplace_of(state, m),
                score: labels::km(m.evaluation.score),
                distance_km: m.evaluation.distance_km,
                eligible: m.evaluation.eligible,
                constraints: labels::constraints(&m.evaluation),
                parts: labels::explain(&m.evaluation, &o.payload, &c),
                referred: referred(&m.offer_id),
            });
        }
        match_summary = Some((
            result.considered,
            result.excluded,
            labels::km(result.travel_limit_km),
        ));
    }
    let files: Vec<super::fiche::FileRow> = c.files.iter().map(super::fiche::FileRow::of).collect();
    let followups = if meta.anonymised_at.is_none() {
        super::suivi::rows(&crate::candidates::followup::list(state, &actor, id).await?)
    } else {
        Vec::new()
    };
    let may_restrict = crate::candidates::may_see_sensitive(user, &c);
    let enrolments = if meta.anonymised_at.is_none() && !state.config.programmes.is_empty() {
        super::fiche::enrolment_rows(&crate::programmes::of_candidate(state, &actor, id).await?)
    } else {
        Vec::new()
    };
    let placements = super::fiche::placement_rows(
        &crate::aids::store::for_candidate(&state.db, &state.config.aids, id).await?,
    );
    let view = record_view(state, &c, meta.anonymised_at.is_some());
    let title = view.name.clone();
    let (action_form, action_message) = action_error.unzip();
    let (refer_offer, refer_message) = refer_error.unzip();
    // An error about an offer not listed here is shown above the list.
    let refer_general = match &refer_offer {
        Some(o) if !matches.iter().any(|m| &m.offer_id == o) => refer_message.clone(),
        _ => None,
    };
    // Why nothing is proposed, when the status says it.
    let matched_out = match c.status {
        crate::candidates::CandidateStatus::Placed => {
            Some("Cette personne est en emploi ou en formation : aucune offre ne lui est proposée.")
        }
        crate::candidates::CandidateStatus::Archived => {
            Some("Fiche archivée : aucune offre ne lui est proposée.")
        }
        _ => None,
    };
    render(
        "candidat.html",
        context! {
            c => view,
            matches => matches,
            matched_out => matched_out,
            gaps => gaps,
            excluded_offers => excluded_offers,
            match_summary => match_summary,
            referrals => referrals,
            flash => flash,
            refer_offer => refer_offer,
            refer_message => refer_message,
            refer_general => refer_general,
            files => files,
            outcomes => labels::outcome_options(),
            placements => placements,
            enrolments => enrolments,
            programmes => state.config.programmes.iter().map(|p| (p.code.clone(), p.name.clone())).collect::<Vec<_>>(),
            action_form => action_form,
            action_message => action_message,
            max_cv_mib => state.config.uploads.max_cv_bytes / (1024 * 1024),
            notices => notices,
            space_email => space_email,
            invitation => invitation,
            followups => followups,
            followup_kinds => super::suivi::kinds(),
            may_restrict => may_restrict,
            ..layout(user, "candidats", &title)
        },
    )
}

/// `GET /ui/candidats/{id}`: the record (audited `candidate.read`), its
/// matches (audited `candidate.matches`) and its referrals.
pub async fn record(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> UiResult {
    record_page(
        &state,
        &user,
        &id,
        flash_message(flash.ok.as_deref()),
        None,
        None,
        None,
    )
    .await
}

/// `POST /ui/candidats/{id}/proposer`: refer the candidate to an offer
/// with a recommendation note (`referrals::create`, which audits).
pub async fn refer(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let offer_id = f.get("offer_id").to_string();
    let back_to_offer = f.get("retour") == "offre";
    let res = crate::referrals::create(
        &state,
        &crate::actor::Actor::User(user.clone()),
        crate::referrals::NewReferral {
            offer_id: offer_id.clone(),
            opportunity_id: Some(f.get("opportunity_id").to_string()).filter(|s| !s.is_empty()),
            for_offer_id: Some(f.get("for_offer_id").to_string()).filter(|s| !s.is_empty()),
            candidate_id: id.clone(),
            endorsement: f.get("endorsement").to_string(),
        },
    )
    .await;
    match res {
        Ok(r) => {
            Ok(Redirect::to(&format!("/ui/mises-en-relation/{}?ok=propose", r.id)).into_response())
        }
        Err(e @ (Error::Validation(_) | Error::Conflict(_))) => {
            let msg = match &e {
                Error::Validation(errs) => errs
                    .iter()
                    .map(|x| labels::field_message(&x.field, &x.message))
                    .collect::<Vec<_>>()
                    .join(" "),
                Error::Conflict(m) => labels::conflict(m),
                _ => String::new(),
            };
            if back_to_offer {
                super::offres::detail_page(&state, &user, &offer_id, None, Some((id, msg)), false)
                    .await
            } else {
                record_page(&state, &user, &id, None, Some((offer_id, msg)), None, None).await
            }
        }
        Err(e) => Err(e.into()),
    }
}
