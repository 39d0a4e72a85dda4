//! Actions on a candidate record (staff only): CV upload and download,
//! consent given or withdrawn, return to work, RGPD erasure. Each is a thin
//! adapter over the same service function of `candidates` as the JSON API
//! handler (`candidates/api.rs`), which checks who may act and writes the
//! audit entry (with `"via": "ui"`) in the change's transaction.

use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

use super::candidats::record_page;
use super::{layout, render, FormData, SameOrigin, Session, UiResult};
use crate::actor::Actor;
use crate::auth::User;
use crate::candidates::{CandidateFile, ConsentScope, PlacementOutcome};
use crate::error::Error;
use crate::server::AppState;

/// A stored CV in the record's file list.
#[derive(Serialize)]
pub struct FileRow {
    id: String,
    name: String,
    kind: &'static str,
    size: String,
    created_at: i64,
    readable: bool,
    text_chars: i64,
    in_use: bool,
    ocr: bool,
}

impl FileRow {
    pub fn of(f: &CandidateFile) -> FileRow {
        FileRow {
            id: f.id.clone(),
            name: f.file_name.clone(),
            kind: match f.content_type.as_str() {
                "application/pdf" => "PDF",
                "application/vnd.oasis.opendocument.text" => "ODT",
                _ => "DOCX",
            },
            size: size_fr(f.size_bytes),
            created_at: f.created_at,
            readable: f.readable,
            text_chars: f.text_chars,
            in_use: f.in_use,
            ocr: f.ocr,
        }
    }
}

/// "12 Ko", "1,5 Mo".
fn size_fr(bytes: i64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} Ko", (bytes + 1023) / 1024)
    } else {
        format!("{:.1} Mo", bytes as f64 / (1024.0 * 1024.0)).replace('.', ",")
    }
}

/// The record page again, with `message` next to the form `form`, under
/// `status`.
async fn record_with_error(
    state: &AppState,
    user: &User,
    id: &str,
    status: StatusCode,
    form: &'static str,
    message: String,
) -> UiResult {
    let page = record_page(state, user, id, None, None, Some((form, message)), None).await?;
    Ok((status, page).into_response())
}

fn too_big_message(state: &AppState) -> String {
    format!(
        "Le fichier dépasse la taille maximale autorisée ({} Mo).",
        state.config.uploads.max_cv_bytes / (1024 * 1024)
    )
}

const UNSUPPORTED_MESSAGE: &str =
    "Format de fichier non pris en charge : déposez un CV au format PDF, DOCX ou ODT.";

/// A file refused with `cv_unreadable` (corrupt, or past a limit of the
/// extraction sandbox): nothing was stored.
const UNREADABLE_MESSAGE: &str = "Ce fichier n'a pas pu être lu : il est endommagé, protégé \
    ou trop complexe. Il n'a pas été enregistré et le texte du CV n'a pas changé. Essayez de \
    l'enregistrer de nouveau au format PDF depuis votre traitement de texte.";

const BUSY_MESSAGE: &str = "Trop de fichiers sont en cours de lecture : réessayez dans un instant.";

/// `POST /ui/candidats/{id}/cv` (multipart, field `fichier`): store the CV
/// and extract its text (`candidates::attach_cv`), audited
/// `candidate.cv_upload`. Same size limit as the API; 415, 413, 422
/// (`cv_unreadable`) and 503 (`extraction_busy`) are answered with the
/// record page and a French message.
pub async fn upload_cv(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    multipart: Multipart,
) -> UiResult {
    user.require_staff()?;
    // The record must exist before reading a large body.
    if crate::candidates::get_candidate(&state.db, &id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("candidate").into());
    }
    let (name, bytes) = match read_upload(&state, multipart).await {
        Ok(file) => file,
        Err(Error::BadRequest(m)) => return Err(Error::BadRequest(m).into()),
        Err(e) => {
            let (status, msg) = upload_problem(&state, &e).ok_or(e)?;
            return record_with_error(&state, &user, &id, status, "cv", msg).await;
        }
    };
    let actor = Actor::User(user.clone());
    match crate::candidates::attach_cv(&state, &actor, &id, &name, bytes, "ui").await {
        Ok((_, file)) => {
            let done = match (file.readable, file.ocr) {
                (true, true) => "cv-ocr",
                (true, false) => "cv",
                (false, _) => "cv-illisible",
            };
            Ok(Redirect::to(&format!("/ui/candidats/{id}?ok={done}")).into_response())
        }
        Err(e) => match upload_problem(&state, &e) {
            Some((status, msg)) => record_with_error(&state, &user, &id, status, "cv", msg).await,
            None => Err(e.into()),
        },
    }
}

/// The one file of a CV upload form (multipart), at most
/// `[uploads] max_cv_bytes`: `PayloadTooLarge` past it, `Unprocessable`
/// when no file was chosen, `BadRequest` for a broken body. Shared by the
/// counsellors' record page and the candidate space.
pub(super) async fn read_upload(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(String, Vec<u8>), Error> {
    let max = state.config.uploads.max_cv_bytes;
    let too_big = || Error::PayloadTooLarge("cv".into());
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            Error::BadRequest("multipart body".into())
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let Some(name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(broken)? {
            if buf.len() + chunk.len() > max {
                return Err(too_big());
            }
            buf.extend_from_slice(&chunk);
        }
        if name.is_empty() && buf.is_empty() {
            break;
        }
        return Ok((name, buf));
    }
    Err(Error::Unprocessable {
        code: "cv_missing",
        field: "file".into(),
        message: "no file".into(),
    })
}

/// The status and French message of a refused upload (`None`: not an
/// upload problem, shown as an error page).
pub(super) fn upload_problem(state: &AppState, e: &Error) -> Option<(StatusCode, String)> {
    Some(match e {
        Error::Unprocessable {
            code: "cv_missing", ..
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choisissez un fichier à déposer.".into(),
        ),
        Error::UnsupportedMediaType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNSUPPORTED_MESSAGE.into(),
        ),
        Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, too_big_message(state)),
        Error::Unprocessable { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, UNREADABLE_MESSAGE.into())
        }
        Error::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, BUSY_MESSAGE.into()),
        _ => return None,
    })
}

/// `GET /ui/candidats/{id}/cv/{file_id}`: the stored file (the session
/// cookie is scoped to `/ui`), audited `candidate.cv_download`.
pub async fn download_cv(
    State(state): State<AppState>,
    Session(user): Session,
    Path((id, file_id)): Path<(String, String)>,
) -> UiResult {
    let (f, bytes) =
        crate::candidates::read_cv(&state, &Actor::User(user), &id, &file_id, None, "ui").await?;
    let ascii: String = f
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp: Response = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&f.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /ui/candidats/{id}/consentement`: `action=donner` with
/// `portee=local|network` (`candidates::give_consent`, audited
/// `candidate.consent`) or `action=retirer`
/// (`candidates::withdraw_consent`, audited `candidate.consent_withdrawn`).
pub async fn consent(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    match f.get("action") {
        "retirer" => {
            crate::candidates::withdraw_consent(&state, &Actor::User(user), &id, "ui").await?;
            Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=retrait")).into_response())
        }
        _ => {
            let scope =
                match f.get("portee") {
                    "local" => ConsentScope::Local,
                    "network" => ConsentScope::Network,
                    _ => return record_with_error(
                        &state,
                        &user,
                        &id,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "consentement",
                        "Choisissez la portée du consentement : ce nœud seulement ou le réseau."
                            .into(),
                    )
                    .await,
                };
            crate::candidates::consent(&state, &Actor::User(user), &id, scope, "ui").await?;
            Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=consentement")).into_response())
        }
    }
}

/// `POST /ui/candidats/{id}/retour-emploi`: `issue` (one of
/// `labels::OUTCOMES`) and an optional `mise_en_relation`
/// (`candidates::record_placement`, audited `candidate.placement`).
pub async fn placement(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let outcome: Option<PlacementOutcome> =
        serde_json::from_value(serde_json::Value::String(f.get("issue").to_string())).ok();
    let Some(outcome) = outcome else {
        return record_with_error(
            &state,
            &user,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "retour",
            "Choisissez la nature du retour à l'emploi.".into(),
        )
        .await;
    };
    let input = crate::candidates::PlacementInput {
        outcome,
        referral_id: f.opt("mise_en_relation"),
        contract: crate::reports::ContractFacts {
            start: f.opt("debut").map(|d| super::labels::parse_day(&d)),
            end: f.opt("fin").map(|d| super::labels::parse_day(&d)),
            duration_months: None,
            weekly_hours: f.opt("heures").and_then(|h| h.trim().parse().ok()),
        },
        channel: f.opt("canal").and_then(|c| c.parse().ok()),
        rome_code: None,
    };
    let actor = Actor::User(user.clone());
    match crate::candidates::record_placement(&state, &actor, &id, input, "ui").await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=retour")).into_response()),
        Err(Error::Validation(_)) => {
            record_with_error(
                &state,
                &user,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                "retour",
                "Vérifiez la mise en relation, les dates (AAAA-MM-JJ, la fin après le début) et les heures par semaine (1 à 60).".into(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A return to work on the record, with its hiring aids.
#[derive(Serialize)]
pub struct PlacementRow {
    id: String,
    outcome: &'static str,
    placed_on: String,
    aids: Vec<AidRow>,
}

/// One aid of a return to work: the verdict, why, the file and what may
/// be done next.
#[derive(Serialize)]
pub struct AidRow {
    code: String,
    name: String,
    funder: String,
    eligibility: &'static str,
    eligible: bool,
    reasons: Vec<String>,
    state: &'static str,
    amount_eur: Option<i64>,
    /// (state, button label).
    actions: Vec<(&'static str, &'static str)>,
}

/// The rows of the record's « Retours à l'emploi enregistrés ».
pub fn placement_rows(placements: &[crate::aids::store::PlacementAids]) -> Vec<PlacementRow> {
    use crate::aids::{AidState, Eligibility};
    placements
        .iter()
        .map(|p| PlacementRow {
            id: p.placement_id.clone(),
            outcome: super::labels::outcome(&p.outcome),
            placed_on: p.placed_on.clone(),
            aids: p
                .aids
                .iter()
                .map(|a| AidRow {
                    code: a.code.clone(),
                    name: a.name.clone(),
                    funder: a.funder.clone(),
                    eligibility: match a.eligibility {
                        Eligibility::Eligible => "éligible",
                        Eligibility::NotEligible => "non éligible",
                        Eligibility::Unknown => "à compléter",
                    },
                    eligible: a.eligibility == Eligibility::Eligible,
                    reasons: a.reasons.clone(),
                    state: a.state.label(),
                    amount_eur: a.amount_eur,
                    actions: a
                        .state
                        .next()
                        .iter()
                        .filter(|s| {
                            !(**s == AidState::Requested
                                && a.eligibility == Eligibility::NotEligible)
                        })
                        .map(|s| {
                            (
                                s.as_str(),
                                match s {
                                    AidState::None => "Annuler la demande",
                                    AidState::Requested => "Demander l'aide",
                                    AidState::Granted => "Aide accordée",
                                    AidState::Paid => "Aide versée",
                                    AidState::Refused => "Aide refusée",
                                },
                            )
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// `POST /ui/retours-emploi/{placement}/aides/{code}`: `etat` (the new
/// state of the aid's file; `aids::set_state`, audited `placement.aid`),
/// back to the record `fiche`.
pub async fn aid(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path((placement, code)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> UiResult {
    user.require_staff()?;
    let f = FormData::parse(&body);
    let to: crate::aids::AidState = f
        .get("etat")
        .parse()
        .map_err(|_| Error::field("etat", "unknown aid state"))?;
    let candidate = f.get("fiche").to_string();
    crate::aids::set_state(
        &state,
        &crate::actor::Actor::User(user),
        &placement,
        &code,
        to,
    )
    .await?;
    let back = if candidate.is_empty()
        || !candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        "/ui/candidats".to_string()
    } else {
        format!("/ui/candidats/{candidate}?ok=aide")
    };
    Ok(Redirect::to(&back).into_response())
}

/// An enrolment in a programme, on the record.
#[derive(Serialize)]
pub struct EnrolmentRow {
    id: String,
    programme: String,
    started_on: String,
    ends_on: String,
    active: bool,
    status: &'static str,
    outcome: Option<&'static str>,
    renewals_left: i64,
    held: String,
    /// (what, day, overdue).
    due: Vec<(&'static str, String, bool)>,
}

/// The rows of the record's « Programmes ».
pub fn enrolment_rows(enrolments: &[crate::programmes::Enrolment]) -> Vec<EnrolmentRow> {
    use crate::programmes::EnrolmentStatus;
    enrolments
        .iter()
        .map(|e| EnrolmentRow {
            id: e.id.clone(),
            programme: e.programme_name.clone(),
            started_on: e.started_on.clone(),
            ends_on: e.ends_on.clone(),
            active: e.status == EnrolmentStatus::Active,
            status: match e.status {
                EnrolmentStatus::Active => "en cours",
                EnrolmentStatus::Completed => "terminé",
                EnrolmentStatus::Abandoned => "abandonné",
            },
            outcome: e.outcome.as_deref().map(super::labels::programme_outcome),
            renewals_left: (e.renewals_allowed - e.renewals_used).max(0),
            held: format!(
                "{} entretien(s) individuel(s), {} atelier(s) collectif(s), {} immersion(s){}",
                e.individual_held,
                e.group_held,
                e.immersions_held,
                if e.immersions_expected > 0 {
                    format!(" sur {} prévue(s)", e.immersions_expected)
                } else {
                    String::new()
                }
            ),
            due: e
                .due
                .iter()
                .map(|d| {
                    (
                        d.kind.label(),
                        d.due_on.format("%Y-%m-%d").to_string(),
                        d.overdue,
                    )
                })
                .collect(),
        })
        .collect()
}

/// `POST /ui/candidats/{id}/programmes`: `programme`, `debut` (optional).
pub async fn enrol(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    user.require_staff()?;
    let f = FormData::parse(&body);
    let input = crate::programmes::NewEnrolment {
        programme: f.get("programme").to_string(),
        started_on: f.opt("debut").map(|d| super::labels::parse_day(&d)),
    };
    match crate::programmes::enrol(&state, &crate::actor::Actor::User(user.clone()), &id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=programme")).into_response()),
        Err(Error::Validation(_)) => {
            record_with_error(
                &state,
                &user,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                "programme",
                "Choisissez un programme et une date de début (JJ/MM/AAAA, à un an au plus d'aujourd'hui).".into(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/inscriptions/{id}`: `action` = `renouveler`, or `terminer`
/// / `abandon` with `resultat` (a placement outcome, or empty: none);
/// `fiche` is the record to go back to.
pub async fn enrolment(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    use crate::programmes::{Closing, EnrolmentStatus};
    user.require_staff()?;
    let f = FormData::parse(&body);
    let actor = crate::actor::Actor::User(user);
    let e = match f.get("action") {
        "renouveler" => crate::programmes::renew(&state, &actor, &id).await?,
        a @ ("terminer" | "abandon") => {
            let outcome: Option<PlacementOutcome> = match f.get("resultat") {
                "" | "none" => None,
                o => Some(
                    serde_json::from_value(serde_json::Value::String(o.to_string()))
                        .map_err(|_| Error::field("resultat", "unknown outcome"))?,
                ),
            };
            let status = if a == "terminer" {
                EnrolmentStatus::Completed
            } else {
                EnrolmentStatus::Abandoned
            };
            crate::programmes::close(&state, &actor, &id, Closing { status, outcome }).await?
        }
        _ => return Err(Error::field("action", "unknown action").into()),
    };
    Ok(Redirect::to(&format!("/ui/candidats/{}?ok=programme", e.candidate_id)).into_response())
}

/// What an erasure removes, for the confirmation page.
#[derive(Serialize)]
struct EraseView {
    id: String,
    name: String,
    files: usize,
    referrals: usize,
    /// Nodes holding a referral of this candidate: they are told.
    nodes: Vec<String>,
    placements_kept: bool,
}

/// `GET /ui/candidats/{id}/supprimer`: what the erasure removes and who is
/// told. The page names the candidate: audited `candidate.read`.
pub async fn erase_form(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
) -> UiResult {
    let actor = Actor::User(user.clone());
    let (c, _) = crate::candidates::read(&state, &actor, &id, None).await?;
    let referrals = crate::referrals::list(
        &state,
        &actor,
        &crate::referrals::ListQuery {
            candidate_id: Some(id.clone()),
            limit: Some(200),
            ..Default::default()
        },
    )
    .await?;
    let mut nodes: Vec<String> = referrals
        .referrals
        .iter()
        .filter(|r| r.direction == crate::referrals::Direction::Outbound)
        .map(|r| r.offer_origin.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    let view = EraseView {
        id: id.clone(),
        name: format!("{} {}", c.first_name, c.last_name),
        files: c.files.len(),
        referrals: referrals.referrals.len(),
        nodes,
        placements_kept: c.status == crate::candidates::CandidateStatus::Placed,
    };
    render(
        "candidat_supprimer.html",
        context! {
            e => view,
            ..layout(&user, "candidats", "Supprimer définitivement une fiche")
        },
    )
}

/// `POST /ui/candidats/{id}/supprimer` (`confirmer=oui`): RGPD erasure
/// (`candidates::erase`, which tells the federation), audited
/// `candidate.erase`; back to the search page with a confirmation.
pub async fn erase(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    if f.get("confirmer") != "oui" {
        return Ok(Redirect::to(&format!("/ui/candidats/{id}/supprimer")).into_response());
    }
    crate::candidates::erase(&state, &Actor::User(user), &id, None, "ui").await?;
    Ok(Redirect::to("/ui/candidats?ok=supprime").into_response())
}

/// `POST /ui/candidats/{id}/inviter`: invite the person to their candidate
/// space (`space::invite`, audited `candidate.invite`); the page shows the
/// link to copy into an SMS (it is shown only this once).
pub async fn invite(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
) -> UiResult {
    let actor = crate::actor::Actor::User(user.clone());
    match crate::space::invite(&state, &actor, &id).await {
        Ok(inv) => record_page(&state, &user, &id, None, None, None, Some(inv)).await,
        Err(Error::Validation(_)) => {
            record_with_error(
                &state,
                &user,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                "espace",
                "Indiquez d'abord l'adresse e-mail de la personne sur sa fiche : c'est son identifiant de connexion.".into(),
            )
            .await
        }
        Err(Error::Conflict(m)) => {
            let msg = if m.contains("another record") {
                "Une autre fiche de ce nœud a déjà un espace avec cette adresse e-mail."
            } else {
                "Cette personne a déjà ouvert son espace."
            };
            record_with_error(&state, &user, &id, StatusCode::CONFLICT, "espace", msg.into()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/candidats/{id}/cv/{file_id}/utiliser`: the record's searchable
/// text becomes this version's.
pub async fn use_cv_text(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path((id, file_id)): Path<(String, String)>,
) -> UiResult {
    match crate::candidates::use_cv_text(
        &state,
        &crate::actor::Actor::User(user.clone()),
        &id,
        &file_id,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=cv-choisi#t-cv")).into_response()),
        Err(Error::Refused { code, .. }) => {
            record_with_error(
                &state,
                &user,
                &id,
                StatusCode::CONFLICT,
                "cv",
                super::labels::refused(code).to_string(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_french() {
        assert_eq!(size_fr(10), "1 Ko");
        assert_eq!(size_fr(2048), "2 Ko");
        assert_eq!(size_fr(3 * 1024 * 1024 / 2), "1,5 Mo");
    }

    #[test]
    fn every_outcome_parses() {
        for o in super::super::labels::OUTCOMES {
            let p: PlacementOutcome =
                serde_json::from_value(serde_json::Value::String((*o).to_string())).unwrap();
            assert_eq!(p.as_str(), *o);
        }
    }
}
