//! Referral pages (mises en relation): list, detail with the status
//! history, and the answers (employer or the offer's staff: en cours
//! d'examen, avant embauche, embauché, refusé; referring staff: annulé).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
use vivier_protocol::ReferralStatus;

use super::labels;
use super::{field_errors, layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult};
use crate::auth::User;
use crate::error::Error;
use crate::referrals::{ReferralView, StatusInput};
use crate::server::AppState;

/// A referral in a list.
#[derive(Serialize)]
pub struct ReferralRow {
    id: String,
    pub(super) offer_id: String,
    offer_title: String,
    direction: &'static str,
    pub candidate_id: Option<String>,
    /// « Prénom Nom », or a French placeholder once the data is erased.
    candidate: String,
    counsellor: String,
    counsellor_email: Option<String>,
    counsellor_phone: Option<String>,
    pub status: &'static str,
    status_code: &'static str,
    /// Still waiting for an outcome (a second referral to the same offer
    /// is refused meanwhile).
    pub pending: bool,
    detail: Option<String>,
    created_at: i64,
    updated_at: i64,
    /// Where the title links: the offer's page, or the training's.
    link: String,
    /// « formation », « immersion » (none for an offer).
    target: Option<&'static str>,
    /// For a training: the offer it prepares for.
    for_offer_id: Option<String>,
}

fn direction_label(d: crate::referrals::Direction) -> &'static str {
    match d {
        crate::referrals::Direction::Outbound => "Envoyée (offre du réseau)",
        crate::referrals::Direction::Inbound => "Reçue (candidat du réseau)",
        crate::referrals::Direction::Local => "Locale",
    }
}

fn status_detail(v: &ReferralView) -> Option<String> {
    match v.status {
        ReferralStatus::Refused => v
            .reason
            .as_deref()
            .map(|r| format!("motif : {}", labels::refusal_str(r))),
        ReferralStatus::Accepted => Some(format!(
            "{}{}",
            v.contract_type
                .as_deref()
                .map(labels::contract_str)
                .unwrap_or("contrat"),
            v.start_date
                .as_deref()
                .map(|d| format!(", début le {}", labels::day(d)))
                .unwrap_or_default()
        )),
        ReferralStatus::Undeliverable => v.delivery_error.as_ref().map(|e| e.message.clone()),
        _ => None,
    }
}

/// The status of the pending referral of `rows` that `which` picks (the
/// « Déjà proposé(e) » of a ranking's rows).
pub(super) fn pending_status(
    rows: &[ReferralRow],
    which: impl Fn(&ReferralRow) -> bool,
) -> Option<&'static str> {
    rows.iter()
        .find(|r| r.pending && which(r))
        .map(|r| r.status)
}

/// Every pending referral `user` may see of an offer or of a candidate
/// (up to 500: however many older ones a page of [`rows`] leaves out), for
/// [`pending_status`].
pub async fn pending_rows(
    state: &crate::server::AppState,
    user: &User,
    offer_id: Option<&str>,
    candidate_id: Option<&str>,
) -> Result<Vec<ReferralRow>, Error> {
    rows(
        state,
        user,
        &crate::referrals::ListQuery {
            offer_id: offer_id.map(str::to_string),
            candidate_id: candidate_id.map(str::to_string),
            status: Some("pending".into()),
            limit: Some(500),
            ..Default::default()
        },
    )
    .await
}

/// The referrals `user` may see that match `q`, as display rows.
pub async fn rows(
    state: &crate::server::AppState,
    user: &User,
    q: &crate::referrals::ListQuery,
) -> Result<Vec<ReferralRow>, Error> {
    let list = crate::referrals::list(state, &crate::actor::Actor::User(user.clone()), q).await?;
    Ok(list.referrals.iter().map(ReferralRow::of).collect())
}

impl ReferralRow {
    pub fn of(v: &ReferralView) -> ReferralRow {
        ReferralRow {
            id: v.id.clone(),
            offer_id: v.offer_id.clone(),
            offer_title: v
                .offer_title
                .clone()
                .unwrap_or_else(|| format!("Offre {}", v.offer_id)),
            direction: direction_label(v.direction),
            candidate_id: v.candidate_id.clone(),
            candidate: v
                .candidate_name
                .clone()
                .unwrap_or_else(|| "Candidat (données effacées)".to_string()),
            counsellor: v.counsellor_name.clone(),
            counsellor_email: v.counsellor_email.clone(),
            counsellor_phone: v.counsellor_phone.clone(),
            status: labels::referral_status_str(v.status.as_str()),
            status_code: v.status.as_str(),
            pending: v.status.is_pending(),
            detail: status_detail(v),
            created_at: v.created_at,
            updated_at: v.updated_at,
            link: match v.target {
                vivier_protocol::ReferralTarget::Offer => format!("/ui/offres/{}", v.offer_id),
                _ => format!("/ui/formations/{}", v.offer_id),
            },
            target: match v.target {
                vivier_protocol::ReferralTarget::Offer => None,
                vivier_protocol::ReferralTarget::Training => Some("formation"),
                vivier_protocol::ReferralTarget::Immersion => Some("immersion"),
            },
            for_offer_id: v.for_offer_id.clone(),
        }
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    statut: Option<String>,
}

/// `GET /ui/mises-en-relation`: what `referrals::list` lets the user see
/// (employers: the referrals to their own offers).
pub async fn list(
    State(state): State<AppState>,
    Session(user): Session,
    Query(p): Query<ListParams>,
) -> UiResult {
    let status = p
        .statut
        .filter(|s| crate::referrals::parse_status(s).is_some());
    let list = crate::referrals::list(
        &state,
        &crate::actor::Actor::User(user.clone()),
        &crate::referrals::ListQuery {
            status: status.clone(),
            limit: Some(200),
            ..Default::default()
        },
    )
    .await?;
    let rows: Vec<ReferralRow> = list.referrals.iter().map(ReferralRow::of).collect();
    let statuses: Vec<(&str, &str)> = ReferralStatus::ALL
        .iter()
        .map(|s| (s.as_str(), labels::referral_status_str(s.as_str())))
        .collect();
    render(
        "relations.html",
        context! {
            rows => rows,
            total => list.total,
            statut => status,
            statuses => statuses,
            ..layout(&user, "relations", "Mises en relation")
        },
    )
}

#[derive(Serialize)]
struct EventRow {
    status: &'static str,
    detail: Option<String>,
    comment: Option<String>,
    actor: String,
    node: String,
    at: i64,
}

#[derive(Serialize)]
struct Profile {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    commune: String,
    /// « jusqu'à 20 km, avec un véhicule », « en transports en commun
    /// uniquement »…
    mobility: String,
    driving_licences: Vec<String>,
    certifications: Vec<String>,
    available_from: Option<String>,
    weekly_hours: Option<i64>,
    contracts: Vec<&'static str>,
    rome: Vec<String>,
    job_titles: Vec<String>,
    skills: Vec<String>,
    languages: Vec<String>,
    experience_years: Option<i64>,
    training_level: Option<String>,
    cv_text: String,
    cv_text_truncated: bool,
}

/// Which answers the user may give now.
#[derive(Serialize, Default)]
struct Actions {
    processing: bool,
    prior_to_hire: bool,
    accepted: bool,
    refused: bool,
    postponed: bool,
    cancelled: bool,
    admitted: bool,
    completed: bool,
    certified: bool,
    abandoned: bool,
}

impl Actions {
    fn any(&self) -> bool {
        self.processing
            || self.admitted
            || self.completed
            || self.certified
            || self.abandoned
            || self.prior_to_hire
            || self.accepted
            || self.refused
            || self.postponed
            || self.cancelled
    }
}

async fn detail_page(
    state: &AppState,
    user: &User,
    id: &str,
    flash: Option<&'static str>,
    errors: FieldErrors,
) -> UiResult {
    // Audited (`referral.read`); the employer's first read marks it
    // "en cours d'examen" and tells the referring node.
    let actor = crate::actor::Actor::User(user.clone());
    let v = crate::referrals::read(state, &actor, id, None).await?;
    let events = crate::referrals::events(state, &actor, id).await?;
    let events: Vec<EventRow> = events
        .into_iter()
        .map(|e| EventRow {
            status: labels::referral_status_str(&e.status),
            detail: match (e.reason.as_deref(), e.contract_type.as_deref()) {
                (Some(r), _) => Some(format!("motif : {}", labels::refusal_str(r))),
                (None, Some(c)) => Some(labels::contract_str(c).to_string()),
                _ => None,
            },
            comment: e
                .comment
                .filter(|c| !c.trim().is_empty())
                .map(|c| labels::event_comment(&c)),
            actor: if e.actor == crate::referrals::SYSTEM_ACTOR {
                "le nœud (automatique)".to_string()
            } else {
                e.actor
            },
            node: e.actor_node,
            at: e.at,
        })
        .collect();
    let profile = v.candidate.as_ref().map(|p| Profile {
        name: format!("{} {}", p.first_name, p.last_name),
        email: p.email.clone(),
        phone: p.phone.clone(),
        commune: super::candidats::commune_label(state, &p.commune_insee),
        mobility: labels::mobility(p.max_travel_km, p.has_vehicle, p.public_transport_only),
        driving_licences: p.driving_licences.clone(),
        certifications: labels::certification_labels(&p.certifications),
        available_from: p.available_from.clone(),
        weekly_hours: p.weekly_hours,
        contracts: p
            .contract_types
            .iter()
            .map(|t| labels::contract(*t))
            .collect(),
        rome: p.rome_codes.clone(),
        job_titles: p.job_titles.clone(),
        skills: p.skills.clone(),
        languages: p.languages.clone(),
        experience_years: p.experience_years,
        training_level: p.training_level.clone(),
        cv_text: p.cv_text.clone(),
        cv_text_truncated: p.cv_text_truncated,
    });
    let staff = user.require_staff().is_ok();
    let offer_side = v.direction.offer_side();
    let can = |s: ReferralStatus| v.status.can_transition_for(s, v.target);
    let actions = Actions {
        processing: offer_side && can(ReferralStatus::Processing),
        prior_to_hire: offer_side && can(ReferralStatus::PriorToHire),
        accepted: offer_side && can(ReferralStatus::Accepted),
        refused: offer_side && can(ReferralStatus::Refused),
        postponed: offer_side && can(ReferralStatus::Postponed),
        cancelled: staff && v.direction.referring_side() && can(ReferralStatus::Cancelled),
        admitted: offer_side && can(ReferralStatus::Admitted),
        completed: offer_side && can(ReferralStatus::Completed),
        certified: offer_side && can(ReferralStatus::Certified),
        abandoned: offer_side && can(ReferralStatus::Abandoned),
    };
    // Undoing the employer's answer needs a reason (the employer is told).
    let cancel_needs_reason = crate::referrals::undoes_employer_decision(v.status);
    let reasons: Vec<(&str, &str)> = labels::REFUSAL_REASONS
        .iter()
        .map(|r| (crate::referrals::reason_str(*r), labels::refusal(*r)))
        .collect();
    let row = ReferralRow::of(&v);
    let has_actions = actions.any();
    let after_trainings: Vec<(String, String, &str)> = v
        .after_trainings
        .iter()
        .map(|t| {
            (
                t.referral_id.clone(),
                t.title.clone().unwrap_or_else(|| "Formation".to_string()),
                labels::referral_status_str(t.status.as_str()),
            )
        })
        .collect();
    render(
        "relation.html",
        context! {
            r => row,
            after_trainings => after_trainings,
            endorsement => v.endorsement,
            consent_given_at => v.consent_given_at,
            referring_node => v.referring_node,
            offer_origin => v.offer_origin,
            profile => profile,
            events => events,
            actions => actions,
            cancel_needs_reason => cancel_needs_reason,
            has_actions => has_actions,
            reasons => reasons,
            contracts => labels::contract_options(),
            errors => errors,
            flash => flash,
            ..layout(user, "relations", "Mise en relation")
        },
    )
}

#[derive(Deserialize)]
pub struct DetailParams {
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /ui/mises-en-relation/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
    Query(p): Query<DetailParams>,
) -> UiResult {
    let flash = match p.ok.as_deref() {
        Some("propose") => Some("La mise en relation a été créée."),
        Some("statut") => Some("Le statut a été mis à jour."),
        _ => None,
    };
    detail_page(&state, &user, &id, flash, FieldErrors::new()).await
}

/// `POST /ui/mises-en-relation/{id}/statut` (`referrals::change_status`,
/// which checks the side, the transition and audits).
pub async fn change_status(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let status = crate::referrals::parse_status(f.get("statut"))
        .ok_or_else(|| Error::field("status", "unknown status"))?;
    let mut errors = FieldErrors::new();
    let reason = if status == ReferralStatus::Refused {
        let r = crate::referrals::parse_reason(f.get("motif"));
        if r.is_none() {
            errors.insert("reason".into(), "Indiquez le motif du refus.".into());
        }
        r
    } else {
        None
    };
    let (contract_type, start_date) = if status == ReferralStatus::Accepted {
        let c = crate::referrals::parse_contract(f.get("contrat"));
        if c.is_none() {
            errors.insert(
                "contract_type".into(),
                "Choisissez le type de contrat.".into(),
            );
        }
        let d = f.opt("date_debut").map(|d| labels::parse_day(&d));
        if d.is_none() {
            errors.insert("start_date".into(), "Indiquez la date de début.".into());
        }
        (c, d)
    } else {
        (None, None)
    };
    if !errors.is_empty() {
        return detail_page(&state, &user, &id, None, errors)
            .await
            .map(|r| (axum::http::StatusCode::UNPROCESSABLE_ENTITY, r).into_response());
    }
    let res = crate::referrals::change_status(
        &state,
        &crate::actor::Actor::User(user.clone()),
        &id,
        StatusInput {
            status,
            reason,
            contract_type,
            start_date,
            comment: f.opt("commentaire"),
        },
    )
    .await;
    match res {
        Ok(_) => Ok(Redirect::to(&format!("/ui/mises-en-relation/{id}?ok=statut")).into_response()),
        Err(Error::Validation(errs)) => detail_page(&state, &user, &id, None, field_errors(&errs))
            .await
            .map(|r| (axum::http::StatusCode::UNPROCESSABLE_ENTITY, r).into_response()),
        Err(Error::Conflict(msg)) => {
            let mut errors = FieldErrors::new();
            errors.insert("status".into(), labels::conflict(&msg));
            detail_page(&state, &user, &id, None, errors)
                .await
                .map(|r| (axum::http::StatusCode::CONFLICT, r).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
