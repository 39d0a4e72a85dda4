//! Follow-up on the record page (`POST /ui/candidats/{id}/suivi`: a dated
//! note, interview, call… with an optional next step; `POST
//! /ui/suivi/{id}/fait`: the next step is done) and the dashboard's
//! « À faire ». The rules are `candidates::followup`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Serialize;

use super::candidats::record_page;
use super::labels;
use super::{FormData, SameOrigin, Session, UiResult};
use crate::actor::Actor;
use crate::candidates::followup::{self, FollowUp, FollowUpKind, NewFollowUp};
use crate::error::Error;
use crate::server::AppState;

/// French name of a kind of entry.
pub fn kind_fr(k: FollowUpKind) -> &'static str {
    match k {
        FollowUpKind::Note => "Note",
        FollowUpKind::Interview => "Entretien individuel",
        FollowUpKind::Call => "Appel téléphonique",
        FollowUpKind::Workshop => "Atelier collectif",
        FollowUpKind::Immersion => "Immersion en entreprise",
    }
}

/// The kinds offered in the form.
pub fn kinds() -> Vec<(&'static str, &'static str)> {
    use strum::IntoEnumIterator;
    FollowUpKind::iter()
        .map(|k| (k.as_str(), kind_fr(k)))
        .collect()
}

/// An entry as the record page shows it.
#[derive(Serialize)]
pub struct Row {
    id: String,
    kind: &'static str,
    happened_on: String,
    author: String,
    body: String,
    restricted: bool,
    next_step: Option<String>,
    next_step_on: Option<String>,
    done: bool,
}

/// The entries of a record the user may see.
pub fn rows(entries: &[FollowUp]) -> Vec<Row> {
    entries
        .iter()
        .map(|f| Row {
            id: f.id.clone(),
            kind: kind_fr(f.kind),
            happened_on: labels::day(&f.happened_on),
            author: f.author_name.clone(),
            body: f.body.clone(),
            restricted: f.restricted,
            next_step: f.next_step.clone(),
            next_step_on: f.next_step_on.as_deref().map(labels::day),
            done: f.next_step_done_at.is_some(),
        })
        .collect()
}

fn field_fr(field: &str) -> &'static str {
    match field {
        "happened_on" => "Date",
        "body" => "Compte rendu",
        "next_step" => "Prochaine étape",
        "next_step_on" => "Échéance",
        "restricted" => "Confidentialité",
        _ => "Champ",
    }
}

/// French text of a follow-up field error, by its code (never by the
/// English message).
fn message_fr(code: Option<&str>) -> &'static str {
    match code.unwrap_or("") {
        "date_in_future" => "la date ne peut pas être dans le futur",
        "date_too_old" => "la date doit dater de moins de 10 ans",
        "due_before_entry" => "l'échéance ne peut précéder la date de l'entrée",
        "due_too_far" => "l'échéance doit tomber dans les deux ans",
        "due_date_required" => "indiquez l'échéance de la prochaine étape",
        "next_step_required" => "décrivez la prochaine étape de cette échéance",
        "invalid_date" => "indiquez une date (JJ/MM/AAAA)",
        "required" => "ce champ est obligatoire",
        "too_long" => "le texte est trop long",
        "control_characters" => "le texte contient des caractères non autorisés",
        "restricted_not_allowed" => {
            "seul le conseiller référent ou un administrateur peut écrire une entrée confidentielle"
        }
        _ => "valeur non valide",
    }
}

/// `POST /ui/candidats/{id}/suivi`.
pub async fn add(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    user.require_staff()?;
    let f = FormData::parse(&body);
    let input = NewFollowUp {
        kind: f.get("nature").parse().ok(),
        happened_on: f.opt("date").map(|d| labels::parse_day(&d)),
        body: f.get("compte_rendu").to_string(),
        restricted: f.checked("confidentiel"),
        next_step: f.opt("etape"),
        next_step_on: f.opt("echeance").map(|d| labels::parse_day(&d)),
    };
    match followup::add(&state, &Actor::User(user.clone()), &id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/candidats/{id}?ok=suivi#t-suivi")).into_response()),
        Err(Error::Validation(errs)) => {
            let message = errs
                .iter()
                .map(|e| format!("{} : {}.", field_fr(&e.field), message_fr(e.code)))
                .collect::<Vec<_>>()
                .join(" ");
            let page = record_page(
                &state,
                &user,
                &id,
                None,
                None,
                Some(("suivi", message)),
                None,
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/suivi/{id}/fait`: back to the record, or to the dashboard
/// with `retour=tableau`.
pub async fn done(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let candidate = followup::complete_step(&state, &Actor::User(user), &id).await?;
    let to = if f.get("retour") == "tableau" {
        "/ui/?ok=etape".to_string()
    } else {
        format!("/ui/candidats/{candidate}?ok=etape#t-suivi")
    };
    Ok(Redirect::to(&to).into_response())
}
