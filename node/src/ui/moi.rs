//! The candidate space under `/moi/` (French, mobile-first, no
//! JavaScript, installable: `/moi/manifest.webmanifest`). Every page calls
//! `crate::space` (or the candidates module) with `Actor::Candidate`; the
//! session is the `vivier_moi_<node id>` cookie (path `/moi`, HttpOnly,
//! SameSite=Strict), every POST also passes [`SameOrigin`].

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{labels, render, render_status, FieldErrors, FormData, SameOrigin, UiError};
use crate::actor::Actor;
use crate::auth::throttle::ClientAddr;
use crate::candidates::{Candidate, ConsentScope, Correction};
use crate::error::Error;
use crate::server::AppState;
use crate::space::{self, CandidateUser};

/// A page error in the candidate space: a missing session leads to
/// `/moi/connexion`, the rest to the French error page.
pub struct MoiError(Error);

impl From<Error> for MoiError {
    fn from(e: Error) -> Self {
        MoiError(e)
    }
}

impl From<UiError> for MoiError {
    fn from(e: UiError) -> Self {
        MoiError(e.0)
    }
}

impl IntoResponse for MoiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::Unauthenticated => Redirect::to("/moi/connexion").into_response(),
            e => UiError(e).respond("/moi/", "Retour à mon espace"),
        }
    }
}

type MoiResult = Result<Response, MoiError>;

/// The signed-in person (else to `/moi/connexion`).
pub struct Person(pub CandidateUser);

impl axum::extract::FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        CandidateUser::from_request_parts(parts, state)
            .await
            .map(Person)
            .map_err(|e| MoiError(e).into_response())
    }
}

fn cookie(state: &AppState, token: &str, max_age_s: i64) -> String {
    let secure = state.config.tls.is_some() || state.config.public_url().starts_with("https://");
    format!(
        "{}={token}; Path=/moi; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        space::cookie_name(&state.config.node_id),
        if secure { "; Secure" } else { "" }
    )
}

fn signed_in(state: &AppState, session: &space::Session) -> Response {
    let mut resp = Redirect::to("/moi/").into_response();
    let max_age = (session.expires_at - state.clock.now_ms()) / 1000;
    if let Ok(v) = HeaderValue::from_str(&cookie(state, &session.token, max_age)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The layout of the space: page title, menu entry, whether signed in.
fn layout(nav: &str, title: &str, signed_in: bool) -> Value {
    context! { nav => nav, title => title, signed_in => signed_in }
}

fn page(name: &str, ctx: Value) -> MoiResult {
    Ok(render(name, ctx)?)
}

fn page_status(status: StatusCode, name: &str, ctx: Value) -> MoiResult {
    Ok(render_status(status, name, ctx)?)
}

#[derive(Deserialize)]
pub struct Jeton {
    #[serde(default)]
    jeton: String,
    #[serde(default)]
    ok: Option<String>,
}

/// A link refusal in French.
fn link_message(e: &Error) -> Option<&'static str> {
    let Error::Validation(errs) = e else {
        return None;
    };
    Some(match errs.first().and_then(|f| f.code) {
        Some("link_used") => "Ce lien a déjà servi. Demandez-en un nouveau depuis la page de connexion, ou à votre conseiller.",
        Some("link_expired") => "Ce lien a expiré. Demandez-en un nouveau depuis la page de connexion, ou à votre conseiller.",
        Some("link_invalid") => "Ce lien n'est pas valable (ou un lien plus récent l'a remplacé).",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Access: invitation, login, links

/// `GET /moi/invitation?jeton=…`: choose a password, or none.
pub async fn invitation_form(State(state): State<AppState>, Query(q): Query<Jeton>) -> MoiResult {
    let error = match space::check_invitation(&state, &q.jeton).await {
        Ok(()) => None,
        Err(e) => Some(link_message(&e).ok_or(e)?),
    };
    page(
        "moi_invitation.html",
        context! { jeton => q.jeton, link_error => error, errors => FieldErrors::new(),
        ..layout("", "Ouvrir mon espace", false) },
    )
}

/// `POST /moi/invitation`: `jeton`, and `sans_mot_de_passe` or
/// `nouveau` + `confirmation`.
pub async fn invitation_submit(
    State(state): State<AppState>,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let f = FormData::parse(&body);
    let jeton = f.get("jeton").to_string();
    let password = if f.checked("sans_mot_de_passe") {
        None
    } else {
        let (new, again) = (f.raw("nouveau"), f.raw("confirmation"));
        let mut errors = FieldErrors::new();
        if new.is_empty() {
            errors.insert("nouveau".into(), "Choisissez un mot de passe, ou entrez sans mot de passe (par lien envoyé par e-mail).".into());
        } else if new != again {
            errors.insert(
                "confirmation".into(),
                "Les deux mots de passe ne sont pas identiques.".into(),
            );
        }
        if !errors.is_empty() {
            return page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "moi_invitation.html",
                context! { jeton => jeton, errors => errors, ..layout("", "Ouvrir mon espace", false) },
            );
        }
        Some(new.to_string())
    };
    match space::accept_invitation(&state, &jeton, password.as_deref()).await {
        Ok((_, session)) => Ok(signed_in(&state, &session)),
        Err(e) => {
            if let Some(msg) = link_message(&e) {
                return page_status(
                    StatusCode::BAD_REQUEST,
                    "moi_invitation.html",
                    context! { jeton => jeton, link_error => msg, errors => FieldErrors::new(),
                    ..layout("", "Ouvrir mon espace", false) },
                );
            }
            match e {
                Error::Validation(errs) => {
                    let mut errors = FieldErrors::new();
                    for x in &errs {
                        errors.insert(
                            "nouveau".into(),
                            labels::field_message("password", &x.message),
                        );
                    }
                    page_status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "moi_invitation.html",
                        context! { jeton => jeton, errors => errors, ..layout("", "Ouvrir mon espace", false) },
                    )
                }
                Error::Conflict(_) => page_status(
                    StatusCode::CONFLICT,
                    "moi_invitation.html",
                    context! { jeton => jeton, errors => FieldErrors::new(),
                    link_error => "Votre espace est déjà ouvert : connectez-vous.",
                    ..layout("", "Ouvrir mon espace", false) },
                ),
                e => Err(e.into()),
            }
        }
    }
}

/// `GET /moi/connexion`.
pub async fn login_page(Query(q): Query<Jeton>) -> MoiResult {
    let sent = q.ok.as_deref() == Some("lien");
    page(
        "moi_connexion.html",
        context! { email => "", sent => sent, ..layout("", "Connexion à mon espace", false) },
    )
}

/// `POST /moi/connexion` (password).
pub async fn login_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let f = FormData::parse(&body);
    let email = f.get("email").to_string();
    match space::login(&state, client, &email, f.raw("password")).await {
        Ok((_, session)) => Ok(signed_in(&state, &session)),
        Err(e @ (Error::Unauthenticated | Error::TooManyAttempts { .. })) => {
            let (status, error) = match e {
                Error::TooManyAttempts { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    super::compte::too_many_attempts_fr(retry_after_secs),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "Adresse e-mail ou mot de passe incorrect.".to_string(),
                ),
            };
            page_status(
                status,
                "moi_connexion.html",
                context! { email => email, error => error, ..layout("", "Connexion à mon espace", false) },
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /moi/lien-connexion`: mail a login link (same answer whether
/// the address has an account or not).
pub async fn link_request(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let f = FormData::parse(&body);
    match space::request_login_link(&state, client, f.get("email")).await {
        Ok(()) => Ok(Redirect::to("/moi/connexion?ok=lien").into_response()),
        Err(Error::TooManyAttempts { retry_after_secs }) => page_status(
            StatusCode::TOO_MANY_REQUESTS,
            "moi_connexion.html",
            context! { email => f.get("email"), error => super::compte::too_many_attempts_fr(retry_after_secs),
            ..layout("", "Connexion à mon espace", false) },
        ),
        Err(e) => Err(e.into()),
    }
}

/// `GET /moi/lien?jeton=…`: a button (a GET never spends the link: mail
/// scanners open links).
pub async fn link_page(Query(q): Query<Jeton>) -> MoiResult {
    page(
        "moi_lien.html",
        context! { jeton => q.jeton, ..layout("", "Entrer dans mon espace", false) },
    )
}

/// `POST /moi/lien`.
pub async fn link_submit(
    State(state): State<AppState>,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let f = FormData::parse(&body);
    match space::use_login_link(&state, f.get("jeton")).await {
        Ok((_, session)) => Ok(signed_in(&state, &session)),
        Err(e) => match link_message(&e) {
            Some(msg) => page_status(
                StatusCode::BAD_REQUEST,
                "moi_lien.html",
                context! { link_error => msg, ..layout("", "Entrer dans mon espace", false) },
            ),
            None => Err(e.into()),
        },
    }
}

/// `POST /moi/deconnexion`.
pub async fn logout(
    State(state): State<AppState>,
    _same: SameOrigin,
    headers: axum::http::HeaderMap,
) -> MoiResult {
    if let Some(t) = space::token_from_headers(&headers, &state.config.node_id) {
        space::end_session(&state.db, &t).await?;
    }
    let mut resp = Redirect::to("/moi/connexion").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(&state, "", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------
// The record

#[derive(Deserialize)]
pub struct Flash {
    #[serde(default)]
    ok: Option<String>,
}

fn flash(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "modifie" => "Vos corrections sont enregistrées ; votre conseiller en est informé.",
        "cv" => "Votre CV est déposé ; votre conseiller en est informé.",
        "consentement" => "Votre choix est enregistré.",
        "retrait" => "Votre consentement est retiré : votre fiche n'est plus proposée aux offres.",
        "interet" => "C'est noté : votre conseiller sait que cette offre vous intéresse.",
        "effacement" => "Votre demande d'effacement est transmise à votre conseiller.",
        _ => return None,
    })
}

/// `GET /moi/`: the record as the mission holds it.
pub async fn record(
    State(state): State<AppState>,
    Person(p): Person,
    Query(q): Query<Flash>,
) -> MoiResult {
    let actor = Actor::Candidate(p);
    let c = space::read_own(&state, &actor, "fiche").await?;
    let view = super::candidats::record_view(&state, &c, false);
    let files: Vec<super::fiche::FileRow> = c.files.iter().map(super::fiche::FileRow::of).collect();
    let erasure_due = space::erasure_due(&state, &c.id).await?;
    page(
        "moi_fiche.html",
        context! { c => view, files => files, erasure_due => erasure_due,
        flash => flash(q.ok.as_deref()), ..layout("fiche", "Ma fiche", true) },
    )
}

#[derive(Serialize, Default)]
struct EditForm {
    email: String,
    phone: String,
    available_from: String,
    weekly_hours: String,
    max_travel_km: String,
    has_vehicle: bool,
    public_transport_only: bool,
    job_titles: String,
    contracts: Vec<String>,
}

impl EditForm {
    fn of(c: &Candidate) -> EditForm {
        EditForm {
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            available_from: c.available_from.clone().unwrap_or_default(),
            weekly_hours: c.weekly_hours.map(|h| h.to_string()).unwrap_or_default(),
            max_travel_km: c.max_travel_km.map(|h| h.to_string()).unwrap_or_default(),
            has_vehicle: c.has_vehicle,
            public_transport_only: c.public_transport_only,
            job_titles: c.job_titles.join("\n"),
            contracts: c
                .contract_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
        }
    }

    fn parse(f: &FormData) -> EditForm {
        EditForm {
            email: f.get("email").into(),
            phone: f.get("phone").into(),
            available_from: f.get("available_from").into(),
            weekly_hours: f.get("weekly_hours").into(),
            max_travel_km: f.get("max_travel_km").into(),
            has_vehicle: f.checked("has_vehicle"),
            public_transport_only: f.checked("public_transport_only"),
            job_titles: f.get("job_titles").into(),
            contracts: f
                .all("contract_types")
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

fn edit_page(status: StatusCode, form: &EditForm, errors: &FieldErrors) -> MoiResult {
    page_status(
        status,
        "moi_modifier.html",
        context! { f => form, errors => errors, contract_options => labels::contract_options(),
        ..layout("fiche", "Corriger mes informations", true) },
    )
}

/// `GET /moi/modifier`.
pub async fn edit_form(State(state): State<AppState>, Person(p): Person) -> MoiResult {
    let c = space::read_own(&state, &Actor::Candidate(p), "modifier").await?;
    edit_page(StatusCode::OK, &EditForm::of(&c), &FieldErrors::new())
}

/// `POST /moi/modifier`.
pub async fn edit_submit(
    State(state): State<AppState>,
    Person(p): Person,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let form = EditForm::parse(&FormData::parse(&body));
    let f = FormData::parse(&body);
    let mut errors = FieldErrors::new();
    let weekly_hours = super::int_field(&f, "weekly_hours", "weekly_hours", &mut errors);
    let max_travel_km = super::int_field(&f, "max_travel_km", "max_travel_km", &mut errors);
    let mut contract_types = Vec::new();
    for c in &form.contracts {
        match crate::referrals::parse_contract(c) {
            Some(t) => contract_types.push(t),
            None => {
                errors.insert("contract_types".into(), "Type de contrat inconnu.".into());
            }
        }
    }
    if !errors.is_empty() {
        return edit_page(StatusCode::UNPROCESSABLE_ENTITY, &form, &errors);
    }
    let fix = Correction {
        email: Some(form.email.clone()),
        phone: Some(form.phone.clone()),
        available_from: Some(labels::parse_day(&form.available_from)),
        weekly_hours,
        max_travel_km,
        has_vehicle: form.has_vehicle,
        public_transport_only: form.public_transport_only,
        job_titles: form
            .job_titles
            .lines()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        contract_types,
    };
    let id = p.candidate_id.clone();
    match crate::candidates::correct(&state, &Actor::Candidate(p), &id, fix).await {
        Ok(_) => Ok(Redirect::to("/moi/?ok=modifie").into_response()),
        Err(Error::Validation(errs)) => edit_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &super::field_errors(&errs),
        ),
        Err(e) => Err(e.into()),
    }
}

/// `GET /moi/cv`.
pub async fn cv_page(State(state): State<AppState>, Person(p): Person) -> MoiResult {
    cv_render(&state, p, StatusCode::OK, None).await
}

async fn cv_render(
    state: &AppState,
    p: CandidateUser,
    status: StatusCode,
    error: Option<String>,
) -> MoiResult {
    let c = space::read_own(state, &Actor::Candidate(p), "cv").await?;
    let files: Vec<super::fiche::FileRow> = c.files.iter().map(super::fiche::FileRow::of).collect();
    page_status(
        status,
        "moi_cv.html",
        context! { files => files, error => error,
        max_cv_mib => state.config.uploads.max_cv_bytes / (1024 * 1024),
        ..layout("cv", "Mon CV", true) },
    )
}

/// `POST /moi/cv` (multipart): the counsellors' sandboxed extraction.
pub async fn cv_upload(
    State(state): State<AppState>,
    Person(p): Person,
    _same: SameOrigin,
    multipart: Multipart,
) -> MoiResult {
    let actor = Actor::Candidate(p.clone());
    let res = match super::fiche::read_upload(&state, multipart).await {
        Ok((name, bytes)) => space::upload_cv(&state, &actor, &name, bytes)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(Redirect::to("/moi/?ok=cv").into_response()),
        Err(e) => match super::fiche::upload_problem(&state, &e) {
            Some((status, msg)) => cv_render(&state, p, status, Some(msg)).await,
            None => Err(e.into()),
        },
    }
}

/// `GET /moi/consentement`.
pub async fn consent_page(State(state): State<AppState>, Person(p): Person) -> MoiResult {
    let c = space::read_own(&state, &Actor::Candidate(p), "consentement").await?;
    let current = c.consent.as_ref().map(|k| k.scope.as_str());
    page(
        "moi_consentement.html",
        context! { current => current, since => c.consent.as_ref().map(|k| k.given_at),
        error => None::<String>,
        ..layout("consentement", "Mon consentement", true) },
    )
}

/// `POST /moi/consentement`: `portee=local|network`, or `action=retirer`.
pub async fn consent_submit(
    State(state): State<AppState>,
    Person(p): Person,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    let f = FormData::parse(&body);
    let actor = Actor::Candidate(p);
    if f.get("action") == "retirer" {
        space::withdraw_consent(&state, &actor).await?;
        return Ok(Redirect::to("/moi/?ok=retrait").into_response());
    }
    let scope = match f.get("portee") {
        "local" => ConsentScope::Local,
        "network" => ConsentScope::Network,
        _ => {
            return page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "moi_consentement.html",
                context! { error => "Choisissez l'une des deux possibilités.",
                ..layout("consentement", "Mon consentement", true) },
            )
        }
    };
    space::give_consent(&state, &actor, scope).await?;
    Ok(Redirect::to("/moi/?ok=consentement").into_response())
}

#[derive(Serialize)]
struct OfferRow {
    offer_id: String,
    title: String,
    employer: String,
    contract: &'static str,
    workplace: String,
    distance_km: Option<f64>,
    reasons: Vec<labels::Explanation>,
    interested: bool,
}

/// `GET /moi/offres`: the open offers that fit (the counsellors'
/// matching, the same explanations), with « Ça m'intéresse ».
pub async fn offers(
    State(state): State<AppState>,
    Person(p): Person,
    Query(q): Query<Flash>,
) -> MoiResult {
    let actor = Actor::Candidate(p);
    let c = space::read_own(&state, &actor, "offres").await?;
    let mut rows = Vec::new();
    if c.consent.is_some() {
        let result = space::own_matches(&state, &actor, &c).await?;
        let interested = space::interests(&state, &actor).await?;
        let ids: Vec<String> = result.matches.iter().map(|m| m.offer_id.clone()).collect();
        let stored = crate::offers::get_offers(&state.db, &ids).await?;
        for m in &result.matches {
            let Some(o) = stored.iter().find(|o| o.payload.offer_id == m.offer_id) else {
                continue;
            };
            rows.push(OfferRow {
                offer_id: m.offer_id.clone(),
                title: m.title.clone(),
                employer: m.employer_name.clone(),
                contract: labels::contract(o.payload.contract_type),
                workplace: m.workplace_label.clone().unwrap_or_else(|| {
                    super::candidats::commune_label(&state, &m.workplace_commune_insee)
                }),
                distance_km: m.evaluation.distance_km,
                reasons: labels::explain(&m.evaluation, &o.payload, &c)
                    .into_iter()
                    .filter(|e| e.ok)
                    .collect(),
                interested: interested.contains(&m.offer_id),
            });
        }
    }
    page(
        "moi_offres.html",
        context! { offers => rows, consent => c.consent.is_some(), flash => flash(q.ok.as_deref()),
                   active => c.status == crate::candidates::CandidateStatus::Active,
        ..layout("offres", "Les offres pour moi", true) },
    )
}

/// `POST /moi/offres/{id}/interet`.
pub async fn interest(
    State(state): State<AppState>,
    Person(p): Person,
    _same: SameOrigin,
    Path(offer_id): Path<String>,
) -> MoiResult {
    space::express_interest(&state, &Actor::Candidate(p), &offer_id).await?;
    Ok(Redirect::to("/moi/offres?ok=interet").into_response())
}

/// `GET /moi/donnees`: export and erasure.
pub async fn rights(
    State(state): State<AppState>,
    Person(p): Person,
    Query(q): Query<Flash>,
) -> MoiResult {
    let due = space::erasure_due(&state, &p.candidate_id).await?;
    page(
        "moi_donnees.html",
        context! { erasure_due => due, flash => flash(q.ok.as_deref()),
        delay_days => state.config.candidate_space.erasure_confirm_days,
        ..layout("donnees", "Mes données et mes droits", true) },
    )
}

fn download(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /moi/donnees.json` (audited `candidate.export`).
pub async fn export_json(State(state): State<AppState>, Person(p): Person) -> MoiResult {
    let e = space::export::build(&state, &Actor::Candidate(p), "json").await?;
    let body = serde_json::to_vec_pretty(&e)
        .map_err(|e| Error::Internal(anyhow::anyhow!("export: {e}")))?;
    Ok(download("application/json", "mes-donnees.json", body))
}

/// `GET /moi/donnees.pdf` (audited `candidate.export`).
pub async fn export_pdf(State(state): State<AppState>, Person(p): Person) -> MoiResult {
    let e = space::export::build(&state, &Actor::Candidate(p), "pdf").await?;
    let lines = space::export::lines(&e);
    let body = tokio::task::spawn_blocking(move || space::export::pdf(&lines))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("export: {e}")))??;
    Ok(download("application/pdf", "mes-donnees.pdf", body))
}

/// `POST /moi/effacement`: ask for erasure (`confirmer=oui`).
pub async fn erasure(
    State(state): State<AppState>,
    Person(p): Person,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> MoiResult {
    if FormData::parse(&body).get("confirmer") != "oui" {
        return Ok(Redirect::to("/moi/donnees").into_response());
    }
    space::request_erasure(&state, &Actor::Candidate(p)).await?;
    Ok(Redirect::to("/moi/donnees?ok=effacement").into_response())
}

/// `GET /moi/manifest.webmanifest`: install the space as a web app.
pub async fn manifest(State(state): State<AppState>) -> Response {
    let body = json!({
        "id": "/moi/",
        "name": format!("Mon espace — {}", state.config.display_name),
        "short_name": "Mon espace",
        "lang": "fr",
        "start_url": "/moi/",
        "scope": "/moi/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1d3f72",
        "icons": [
            { "src": "/moi/icone.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any" },
            { "src": "/moi/icone-192.png", "sizes": "192x192", "type": "image/png" },
            { "src": "/moi/icone-512.png", "sizes": "512x512", "type": "image/png" },
        ],
    });
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body.to_string(),
    )
        .into_response()
}

const ICON_SVG: &str = include_str!("../../templates/moi_icone.svg");
const ICON_PNG_192: &[u8] = include_bytes!("../../templates/moi_icone_192.png");
const ICON_PNG_512: &[u8] = include_bytes!("../../templates/moi_icone_512.png");

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /moi/icone.svg`.
pub async fn icon() -> Response {
    asset("image/svg+xml", ICON_SVG.as_bytes())
}

/// `GET /moi/icone-192.png`.
pub async fn icon_192() -> Response {
    asset("image/png", ICON_PNG_192)
}

/// `GET /moi/icone-512.png`.
pub async fn icon_512() -> Response {
    asset("image/png", ICON_PNG_512)
}

/// Routes under `/moi`.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/moi", get(|| async { Redirect::permanent("/moi/") }))
        .route("/moi/", get(record))
        .route("/moi/manifest.webmanifest", get(manifest))
        .route("/moi/icone.svg", get(icon))
        .route("/moi/icone-192.png", get(icon_192))
        .route("/moi/icone-512.png", get(icon_512))
        .route(
            "/moi/invitation",
            get(invitation_form).post(invitation_submit),
        )
        .route("/moi/connexion", get(login_page).post(login_submit))
        .route("/moi/lien-connexion", post(link_request))
        .route("/moi/lien", get(link_page).post(link_submit))
        .route("/moi/deconnexion", post(logout))
        .route("/moi/modifier", get(edit_form).post(edit_submit))
        .route("/moi/cv", get(cv_page).post(cv_upload))
        .route("/moi/consentement", get(consent_page).post(consent_submit))
        .route("/moi/offres", get(offers))
        .route("/moi/offres/{id}/interet", post(interest))
        .route("/moi/donnees", get(rights))
        .route("/moi/donnees.json", get(export_json))
        .route("/moi/donnees.pdf", get(export_pdf))
        .route("/moi/effacement", post(erasure))
        .route(
            "/moi/{*chemin}",
            get(|| async { MoiError(Error::NotFound("page")) }),
        )
}

/// A notice as the counsellor reads it (record page, dashboard).
#[derive(Serialize)]
pub struct NoticeRow {
    candidate_id: String,
    name: Option<String>,
    /// « Correction », « CV déposé »…
    what: &'static str,
    /// In words.
    text: String,
    offer_id: Option<String>,
    created_at: i64,
    due_at: Option<i64>,
    /// Erasure requests past their due date.
    late: bool,
    new: bool,
}

/// French rows of `notices`.
pub fn notice_rows(state: &AppState, notices: &[space::Notice]) -> Vec<NoticeRow> {
    let now = state.clock.now_ms();
    notices
        .iter()
        .map(|n| {
            let (what, text) = match n.kind.as_str() {
                "change" => (
                    "Correction",
                    format!(
                        "La personne a corrigé sa fiche : {}.",
                        n.details["fields"]
                            .as_array()
                            .map(|f| f
                                .iter()
                                .filter_map(|x| x.as_str())
                                .map(labels::record_field)
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    ),
                ),
                "cv" => ("CV déposé", "La personne a déposé un CV.".to_string()),
                "consent" => (
                    "Consentement",
                    match n.details["scope"].as_str() {
                        Some("network") => "La personne a choisi le consentement réseau.".into(),
                        Some("local") => {
                            "La personne a choisi le consentement pour ce nœud seulement.".into()
                        }
                        _ => "La personne a retiré son consentement.".to_string(),
                    },
                ),
                "interest" => (
                    "Ça m'intéresse",
                    format!(
                        "Intéressée par l'offre « {} » ({}).",
                        n.details["title"].as_str().unwrap_or(""),
                        n.details["employer"].as_str().unwrap_or("")
                    ),
                ),
                "erasure_request" => (
                    "Demande d'effacement",
                    "La personne demande l'effacement de ses données : à confirmer (page « Supprimer la fiche »).".to_string(),
                ),
                _ => ("Signalement", String::new()),
            };
            NoticeRow {
                candidate_id: n.candidate_id.clone(),
                name: n.name.clone(),
                what,
                text,
                offer_id: n.offer_id.clone(),
                created_at: n.created_at,
                due_at: n.due_at,
                late: n.due_at.is_some_and(|d| d < now),
                new: n.seen_at.is_none(),
            }
        })
        .collect()
}
