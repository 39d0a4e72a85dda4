//! The web interface, in French, rendered on the server (no JavaScript).
//!
//! Counsellors (conseillers) search the candidathèque, create records, read
//! a record with its explained matches and refer a candidate to an offer,
//! upload CVs, record or withdraw consent, record a return to work and
//! erase a record (RGPD);
//! employers post offers through a web form, close them and answer the
//! referrals made to their own offers. Every page calls the domain functions of the other
//! modules (which enforce who may see what); the audit entries that the
//! JSON API writes in its handlers (candidate reads, searches, matches,
//! creations) are written here the same way.
//!
//! Security:
//! - templates are auto-escaped (every template is HTML); the only value
//!   rendered as safe is a search snippet, after [`safe_snippet`] checked
//!   that it holds nothing but escaped text and `<b>` marks;
//! - the session token travels in the `vivier_session_<node id>` cookie (HttpOnly,
//!   SameSite=Strict, `Secure` when the node is served over HTTPS), which
//!   the [`User`] extractor already reads;
//! - every POST also checks that `Origin` (or `Referer`), when present,
//!   names this node ([`SameOrigin`]);
//! - responses carry a strict Content-Security-Policy (no script at all).

mod admin;
mod candidat_form;
mod candidats;
mod compte;
mod coordonnees;
mod fiche;
mod formations;
pub(crate) mod labels;
mod moi;
mod offres;
mod rapports;
mod relations;
mod reseau;
mod saisie;
mod suivi;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};
use serde::Serialize;

use crate::auth::{Role, User};
use crate::error::{Error, FieldError};
use crate::server::AppState;

pub use labels::safe_snippet;

/// Templates, embedded in the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("erreur.html", include_str!("../templates/erreur.html")),
    (
        "connexion.html",
        include_str!("../templates/connexion.html"),
    ),
    ("tableau.html", include_str!("../templates/tableau.html")),
    ("reseau.html", include_str!("../templates/reseau.html")),
    (
        "reseau_recherche.html",
        include_str!("../templates/reseau_recherche.html"),
    ),
    (
        "reseau_interets.html",
        include_str!("../templates/reseau_interets.html"),
    ),
    (
        "coordonnees.html",
        include_str!("../templates/coordonnees.html"),
    ),
    ("visite.html", include_str!("../templates/visite.html")),
    (
        "mot_de_passe.html",
        include_str!("../templates/mot_de_passe.html"),
    ),
    (
        "mot_de_passe_oublie.html",
        include_str!("../templates/mot_de_passe_oublie.html"),
    ),
    (
        "reinitialisation.html",
        include_str!("../templates/reinitialisation.html"),
    ),
    (
        "candidats.html",
        include_str!("../templates/candidats.html"),
    ),
    (
        "candidat_nouveau.html",
        include_str!("../templates/candidat_nouveau.html"),
    ),
    ("candidat.html", include_str!("../templates/candidat.html")),
    (
        "candidat_supprimer.html",
        include_str!("../templates/candidat_supprimer.html"),
    ),
    ("offres.html", include_str!("../templates/offres.html")),
    (
        "formations.html",
        include_str!("../templates/formations.html"),
    ),
    (
        "formation.html",
        include_str!("../templates/formation.html"),
    ),
    (
        "formation_nouvelle.html",
        include_str!("../templates/formation_nouvelle.html"),
    ),
    ("offre.html", include_str!("../templates/offre.html")),
    (
        "offre_nouvelle.html",
        include_str!("../templates/offre_nouvelle.html"),
    ),
    (
        "relations.html",
        include_str!("../templates/relations.html"),
    ),
    ("relation.html", include_str!("../templates/relation.html")),
    ("rapports.html", include_str!("../templates/rapports.html")),
    (
        "admin_nav.html",
        include_str!("../templates/admin_nav.html"),
    ),
    (
        "admin_utilisateurs.html",
        include_str!("../templates/admin_utilisateurs.html"),
    ),
    (
        "admin_journal.html",
        include_str!("../templates/admin_journal.html"),
    ),
    (
        "admin_reseau.html",
        include_str!("../templates/admin_reseau.html"),
    ),
    ("moi_base.html", include_str!("../templates/moi_base.html")),
    (
        "moi_connexion.html",
        include_str!("../templates/moi_connexion.html"),
    ),
    ("moi_lien.html", include_str!("../templates/moi_lien.html")),
    (
        "moi_invitation.html",
        include_str!("../templates/moi_invitation.html"),
    ),
    (
        "moi_fiche.html",
        include_str!("../templates/moi_fiche.html"),
    ),
    (
        "moi_modifier.html",
        include_str!("../templates/moi_modifier.html"),
    ),
    ("moi_cv.html", include_str!("../templates/moi_cv.html")),
    (
        "moi_consentement.html",
        include_str!("../templates/moi_consentement.html"),
    ),
    (
        "moi_offres.html",
        include_str!("../templates/moi_offres.html"),
    ),
    (
        "moi_donnees.html",
        include_str!("../templates/moi_donnees.html"),
    ),
];

/// The stylesheet served at `/ui/static/app.css`.
const APP_CSS: &str = include_str!("../templates/app.css");

static ENV: OnceLock<Environment<'static>> = OnceLock::new();

/// The template environment, built once: every template auto-escaped as
/// HTML, French date filters.
pub fn environment() -> &'static Environment<'static> {
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_filter("date_fr", labels::date_fr);
        env.add_filter("datetime_fr", labels::datetime_fr);
        env.add_filter("jour_fr", labels::jour_fr);
        env.add_filter("km", labels::km_filter);
        env.add_filter("s", labels::plural_s);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "UI template does not compile");
            }
        }
        env
    })
}

tokio::task_local! {
    /// Whether the page being rendered belongs to a node that is no longer
    /// an active member of the network it holds a document for.
    static NOT_MEMBER_PAGE: bool;
    /// When the membership document this node holds expired (unix ms), if
    /// it has: the administrators' banner.
    static MEMBERSHIP_EXPIRED_AT: Option<i64>;
}

/// Middleware: pages rendered while handling this request know whether this
/// node left the network (the banner of `base.html`).
pub async fn membership_scope(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let not_member = crate::federation::ensure_member(&state).is_err();
    let expired = state
        .federation
        .membership()
        .map(|d| d.document.expires_at)
        .filter(|at| *at <= state.clock.now_ms());
    NOT_MEMBER_PAGE
        .scope(
            not_member,
            MEMBERSHIP_EXPIRED_AT.scope(expired, next.run(req)),
        )
        .await
}

/// Render a template to a string (every page knows whether the node runs
/// in demo mode — `demo` — and whether it left the network — `not_member` —,
/// for the banners of `base.html`).
pub fn render_to_string(name: &str, ctx: Value) -> Result<String, Error> {
    let ctx = context! {
        demo => crate::demo::mode::page_in_demo(),
        not_member => NOT_MEMBER_PAGE.try_with(|d| *d).unwrap_or(false),
        membership_expired_at => MEMBERSHIP_EXPIRED_AT.try_with(|d| *d).unwrap_or(None),
        ..ctx
    };
    environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering {name}: {e:#}")))
}

fn render(name: &str, ctx: Value) -> Result<Response, UiError> {
    Ok(Html(render_to_string(name, ctx)?).into_response())
}

fn render_status(status: StatusCode, name: &str, ctx: Value) -> Result<Response, UiError> {
    Ok((status, Html(render_to_string(name, ctx)?)).into_response())
}

/// What the layout needs to know about the signed-in user.
#[derive(Serialize)]
struct Layout<'a> {
    name: &'a str,
    role: &'static str,
    staff: bool,
    admin: bool,
    employer: bool,
    employer_name: Option<&'a str>,
}

/// The layout context: user, menu entry, page title, flash message.
fn layout(user: &User, nav: &str, title: &str) -> Value {
    let staff = user.require_staff().is_ok();
    context! {
        me => Layout {
            name: &user.display_name,
            role: labels::role(user.role),
            staff,
            admin: user.role == Role::Admin,
            employer: user.role == Role::Employer,
            employer_name: user.employer_name.as_deref(),
        },
        nav => nav,
        title => title,
    }
}

// ---------------------------------------------------------------------------
// Errors

/// A page-level error: rendered as a French HTML page (or a redirect to the
/// login page when the session is missing or expired).
pub struct UiError(pub Error);

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError(e)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        self.respond("/ui/", "Retour au tableau de bord")
    }
}

impl UiError {
    /// The French error page, its way back to `back` (`back_label`).
    pub fn respond(self, back: &str, back_label: &str) -> Response {
        let status = self.0.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "UI request failed");
        }
        let (title, message) = match &self.0 {
            Error::Unauthenticated => return Redirect::to("/ui/connexion").into_response(),
            Error::Forbidden => (
                "Accès refusé",
                "Votre compte ne donne pas accès à cette page.".to_string(),
            ),
            Error::NotFound(what) => (
                "Introuvable",
                format!(
                    "{} introuvable (ou non visible avec votre compte).",
                    labels::thing(what)
                ),
            ),
            Error::Conflict(msg) => ("Action impossible", labels::conflict(msg)),
            Error::Refused { code, .. } => ("Action impossible", labels::refused(code).to_string()),
            Error::Validation(errs) => (
                "Données invalides",
                errs.iter()
                    .map(|e| {
                        format!(
                            "{} : {}",
                            e.field,
                            labels::field_message(&e.field, &e.message)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ; "),
            ),
            Error::BadRequest(_) => ("Requête invalide", "La requête est mal formée.".to_string()),
            Error::PayloadTooLarge(_) => (
                "Envoi trop volumineux",
                "Les données envoyées sont trop volumineuses.".to_string(),
            ),
            Error::UnsupportedMediaType(_) => (
                "Format non pris en charge",
                "Ce format de fichier n'est pas pris en charge (PDF, DOCX ou ODT).".to_string(),
            ),
            Error::TooManyRequests | Error::Unavailable { .. } => {
                ("Trop de requêtes", "Réessayez dans un instant.".to_string())
            }
            Error::TooManyAttempts { retry_after_secs } => (
                "Trop de tentatives",
                compte::too_many_attempts_fr(*retry_after_secs),
            ),
            Error::Unprocessable { .. } => (
                "Fichier illisible",
                "Ce fichier n'a pas pu être lu ; rien n'a été enregistré.".to_string(),
            ),
            _ => (
                "Erreur interne",
                "Une erreur interne est survenue ; elle est consignée dans le journal du nœud."
                    .to_string(),
            ),
        };
        let body = render_to_string(
            "erreur.html",
            context! { title => title, message => message, code => status.as_u16(),
            back => back, back_label => back_label },
        )
        .unwrap_or_else(|_| {
            format!(
                "<!doctype html><html lang=\"fr\"><title>{}</title><p>{}</p></html>",
                status.as_u16(),
                status.as_u16()
            )
        });
        (status, Html(body)).into_response()
    }
}

/// Result of a UI handler.
pub type UiResult = Result<Response, UiError>;

// ---------------------------------------------------------------------------
// Extractors

/// A signed-in user; anonymous visitors are redirected to `/ui/connexion`.
pub struct Session(pub User);

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match User::from_request_parts(parts, state).await {
            Ok(u) => Ok(Session(u)),
            Err(e) => Err(UiError(e).into_response()),
        }
    }
}

/// Refuses a state-changing request whose `Origin` (or, without it,
/// `Referer`) names another site. The SameSite=Strict cookie already keeps
/// cross-site forms out; this is the second lock.
pub struct SameOrigin;

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if same_origin(&parts.headers, &state.config.public_url()) {
            Ok(SameOrigin)
        } else {
            Err(UiError(Error::Forbidden).into_response())
        }
    }
}

/// `host[:port]` of a URL, with the scheme's default port made explicit.
fn authority(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Whether the request's `Origin`/`Referer` (when any) is this node: the
/// `Host` it was sent to, or the configured public URL.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().unwrap_or("invalid"));
    let Some(claimed) = claimed else {
        return true; // no header: old clients and privacy settings; the cookie is SameSite=Strict
    };
    let Ok(claimed) = url::Url::parse(claimed) else {
        return false; // includes `Origin: null`
    };
    let Some(claimed_auth) = authority(&claimed) else {
        return false;
    };
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let with_scheme = format!("{}://{host}", claimed.scheme());
        if url::Url::parse(&with_scheme)
            .ok()
            .and_then(|u| authority(&u))
            .is_some_and(|a| a.eq_ignore_ascii_case(&claimed_auth))
        {
            return true;
        }
    }
    url::Url::parse(public_url)
        .ok()
        .and_then(|u| authority(&u))
        .is_some_and(|a| a.eq_ignore_ascii_case(&claimed_auth))
}

// ---------------------------------------------------------------------------
// Forms

/// An `application/x-www-form-urlencoded` body, keeping repeated keys
/// (checkboxes, workplace rows).
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parse a body.
    pub fn parse(body: &[u8]) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, trimmed ("" when absent).
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// The first value of `key` exactly as sent ("" when absent): for
    /// passwords, which are never trimmed.
    pub fn raw(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The first value of `key`, trimmed, `None` when absent or blank.
    pub fn opt(&self, key: &str) -> Option<String> {
        Some(self.get(key).to_string()).filter(|s| !s.is_empty())
    }

    /// Every value of `key`, in order, untrimmed blanks included.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Whether a checkbox `key` was ticked.
    pub fn checked(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// Field name → French message, for the templates.
pub type FieldErrors = BTreeMap<String, String>;

/// Translate the domain's field errors for a form.
fn field_errors(errs: &[FieldError]) -> FieldErrors {
    let mut out = FieldErrors::new();
    for e in errs {
        out.entry(e.field.clone())
            .or_insert_with(|| labels::field_message(&e.field, &e.message));
    }
    out
}

/// Parse an optional integer field, recording a French error.
fn int_field(form: &FormData, key: &str, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    let raw = form.get(key);
    if raw.is_empty() {
        return None;
    }
    match raw.replace(' ', "").parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.insert(field.to_string(), "Indiquez un nombre entier.".to_string());
            None
        }
    }
}

/// Mark a notice of the dashboard as read.
async fn notice_read(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
) -> UiResult {
    crate::notifications::mark_read(&state, &user, &id).await?;
    Ok(Redirect::to("/ui/").into_response())
}

async fn dashboard(
    State(state): State<AppState>,
    Session(user): Session,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> UiResult {
    let q = FormData::parse(q.unwrap_or_default().as_bytes());
    let flash = (q.get("ok") == "etape").then_some("L'étape est marquée comme faite.");
    let base = layout(&user, "accueil", "Tableau de bord");
    let avis = crate::notifications::list(&state, &user, true, 20).await?;
    let base = context! {
        demo_tour => crate::demo::mode::tour(&state),
        avis => avis,
        flash => flash,
        ..base
    };
    if user.require_staff().is_ok() {
        let stats = crate::stats::compute(&state, &crate::actor::Actor::User(user.clone())).await?;
        let by_status: Vec<(&str, i64)> = stats
            .candidates
            .by_status
            .iter()
            .map(|(s, n)| (labels::candidate_status_str(s), *n))
            .collect();
        let referrals = labels::referrals_by_direction(&stats.referrals.by_direction);
        let outcomes: Vec<(&str, i64)> = stats
            .returns_to_work
            .by_outcome
            .iter()
            .map(|(o, n)| (labels::outcome(o), *n))
            .collect();
        let actor = crate::actor::Actor::User(user.clone());
        let notices = moi::notice_rows(&state, &crate::space::pending_for(&state, &actor).await?);
        let todo = crate::candidates::followup::todo(&state, &actor).await?;
        let interests: Vec<_> = crate::netsearch::store::received_list(&state.db, true, 50)
            .await?
            .into_iter()
            .filter(|i| user.role == Role::Admin || i.counsellor_id.as_deref() == Some(&user.id))
            .collect();
        render(
            "tableau.html",
            context! {
                todo_count => todo.len() + interests.len(),
                network_interests => interests,
                todo => todo,
                stale_days => crate::candidates::followup::STALE_DAYS,
                notices => notices,
                stats => stats,
                by_status => by_status,
                referrals => referrals,
                outcomes => outcomes,
                ..base
            },
        )
    } else {
        let offers = crate::offers::list_offers(
            &state.db,
            &crate::actor::Actor::User(user.clone()),
            &crate::offers::ListQuery {
                status: Some("all".into()),
                mine: Some(true),
                limit: Some(20),
                ..Default::default()
            },
        )
        .await?;
        let offers: Vec<offres::OfferRow> = offers
            .offers
            .iter()
            .map(|o| offres::OfferRow::of(&state, o))
            .collect();
        let referrals = crate::referrals::list(
            &state,
            &crate::actor::Actor::User(user.clone()),
            &crate::referrals::ListQuery {
                limit: Some(20),
                ..Default::default()
            },
        )
        .await?;
        let referrals: Vec<relations::ReferralRow> = referrals
            .referrals
            .iter()
            .map(relations::ReferralRow::of)
            .collect();
        render(
            "tableau.html",
            context! { offers => offers, referrals => referrals, ..base },
        )
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
        .into_response()
}

/// Security headers on every UI response.
async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; manifest-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show personal data: never kept by shared caches or history.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Routes under `/ui` and the candidate space under `/moi`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(dashboard))
        .route("/ui/static/app.css", get(stylesheet))
        .route(
            "/ui/connexion",
            get(compte::login_page).post(compte::login_submit),
        )
        .route("/ui/deconnexion", post(compte::logout))
        .route(
            "/ui/mot-de-passe",
            get(compte::password_form).post(compte::password_submit),
        )
        .route(
            "/ui/mot-de-passe-oublie",
            get(compte::forgot_form).post(compte::forgot_submit),
        )
        .route(
            "/ui/reinitialisation",
            get(compte::reset_form).post(compte::reset_submit),
        )
        .route(
            "/ui/coordonnees",
            get(coordonnees::form).post(coordonnees::submit),
        )
        .route("/ui/candidats", get(candidats::search))
        .route(
            "/ui/candidats/nouveau",
            get(candidat_form::new_form).post(candidat_form::create),
        )
        .route("/ui/candidats/{id}", get(candidats::record))
        .route(
            "/ui/candidats/{id}/modifier",
            get(candidat_form::edit_form).post(candidat_form::edit),
        )
        .route("/ui/candidats/{id}/proposer", post(candidats::refer))
        .route("/ui/candidats/{id}/cv", post(fiche::upload_cv))
        .route("/ui/candidats/{id}/cv/{file_id}", get(fiche::download_cv))
        .route(
            "/ui/candidats/{id}/cv/{file_id}/utiliser",
            post(fiche::use_cv_text),
        )
        .route("/ui/candidats/{id}/consentement", post(fiche::consent))
        .route("/ui/candidats/{id}/inviter", post(fiche::invite))
        .route("/ui/candidats/{id}/retour-emploi", post(fiche::placement))
        .route(
            "/ui/retours-emploi/{placement}/aides/{code}",
            post(fiche::aid),
        )
        .route("/ui/candidats/{id}/programmes", post(fiche::enrol))
        .route("/ui/inscriptions/{id}", post(fiche::enrolment))
        .route("/ui/candidats/{id}/suivi", post(suivi::add))
        .route("/ui/suivi/{id}/fait", post(suivi::done))
        .route(
            "/ui/candidats/{id}/supprimer",
            get(fiche::erase_form).post(fiche::erase),
        )
        .route("/ui/formations", get(formations::list))
        .route(
            "/ui/formations/nouvelle",
            get(formations::new_form).post(formations::create),
        )
        .route("/ui/formations/{id}", get(formations::detail))
        .route("/ui/formations/{id}/cloturer", post(formations::close))
        .route("/ui/offres", get(offres::list))
        .route(
            "/ui/offres/nouvelle",
            get(offres::new_form).post(offres::create),
        )
        .route("/ui/offres/{id}", get(offres::detail))
        .route(
            "/ui/offres/{id}/modifier",
            get(offres::edit_form).post(offres::edit),
        )
        .route("/ui/offres/{id}/cloturer", post(offres::close))
        .route("/ui/avis/{id}/lu", post(notice_read))
        .route("/ui/rapports", get(rapports::page))
        .route(
            "/ui/admin/utilisateurs",
            get(admin::users).post(admin::create),
        )
        .route("/ui/admin/utilisateurs/{id}", post(admin::change))
        .route("/ui/admin/journal", get(admin::journal))
        .route("/ui/admin/reseau", get(admin::network))
        .route("/ui/admin/reseau/rebuts/{id}", post(admin::retry))
        .route("/ui/admin/reseau/rebuts/{id}/classer", post(admin::dismiss))
        .route("/ui/rapports/export", get(rapports::download))
        .route("/ui/rapports/publier", post(rapports::publish))
        .route("/ui/reseau", get(reseau::page).post(reseau::ask))
        .route("/ui/reseau/recherches/{id}", get(reseau::search))
        .route("/ui/reseau/recherches/{id}/interet", post(reseau::interest))
        .route("/ui/reseau/interets", get(reseau::received))
        .route("/ui/reseau/interets/{id}", get(reseau::received_one))
        .route("/ui/reseau/interets/{id}/accepter", post(reseau::accept))
        .route("/ui/reseau/interets/{id}/decliner", post(reseau::decline))
        .route("/ui/mises-en-relation", get(relations::list))
        .route("/ui/mises-en-relation/{id}", get(relations::detail))
        .route(
            "/ui/mises-en-relation/{id}/statut",
            post(relations::change_status),
        )
        // Any other /ui/ address: the French « Page introuvable ».
        .route("/ui/{*chemin}", get(not_found))
        // The candidate space (its own session, `crate::space`).
        .merge(moi::routes())
        .layer(axum::middleware::from_fn(security_headers))
}

async fn not_found() -> UiError {
    UiError(Error::NotFound("page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "template {name}");
        }
    }

    #[test]
    fn origin_checks() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h, "https://vivier.example.fr"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h, "https://vivier.example.fr"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, "https://vivier.example.fr"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, "https://vivier.example.fr"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://vivier.example.fr"),
        );
        assert!(same_origin(&h, "https://vivier.example.fr/"));
        let mut r = HeaderMap::new();
        r.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        r.insert(
            header::REFERER,
            HeaderValue::from_static("http://127.0.0.1:8080/ui/candidats"),
        );
        assert!(same_origin(&r, "http://127.0.0.1:8080"));
        r.insert(
            header::REFERER,
            HeaderValue::from_static("http://127.0.0.1:9999/ui/candidats"),
        );
        assert!(!same_origin(&r, "http://localhost"));
    }

    #[test]
    fn form_data_keeps_repeated_keys() {
        let f = FormData::parse(b"permis=B&permis=C&nom=+Dupont+&vide=");
        assert_eq!(f.all("permis"), vec!["B", "C"]);
        assert_eq!(f.get("nom"), "Dupont");
        assert_eq!(f.raw("nom"), " Dupont ");
        assert_eq!(f.opt("vide"), None);
        assert!(f.checked("vide"));
        assert!(!f.checked("absent"));
    }
}
