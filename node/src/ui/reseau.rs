//! « Rechercher dans le réseau » (`crate::netsearch`): the search form and
//! the user's last searches (`/ui/reseau`), a search's result cards with
//! the « Intéressé » action (`/ui/reseau/recherches/{id}`), and, for the
//! staff of the home node, the interests received with « Proposer » /
//! « Non disponible » (`/ui/reseau/interets`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Serialize;
use vivier_protocol::{ContractType, QueryPlace};

use super::saisie::resolve_commune;
use super::{
    field_errors, labels, layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult,
};
use crate::actor::Actor;
use crate::auth::User;
use crate::error::Error;
use crate::netsearch::interest::{AcceptInput, InterestInput};
use crate::netsearch::{store, SearchInput, SearchView};
use crate::server::AppState;

const CONTRACTS: [(&str, &str); 5] = [
    ("CDI", "CDI"),
    ("CDD", "CDD"),
    ("MIS", "Intérim"),
    ("SAI", "Saisonnier"),
    ("ALT", "Alternance"),
];

fn band_fr(b: vivier_protocol::DistanceBand) -> &'static str {
    use vivier_protocol::DistanceBand::*;
    match b {
        Under10 => "à moins de 10 km",
        Under20 => "entre 10 et 20 km",
        Under30 => "entre 20 et 30 km",
        Under50 => "entre 30 et 50 km",
        Over50 => "à plus de 50 km",
    }
}

fn interest_fr(s: &str) -> &'static str {
    match s {
        "pending" => "Intérêt transmis, en attente de la réponse du conseiller",
        "declined" => "Non disponible",
        "accepted" => "Proposé : une mise en relation a été envoyée",
        _ => "",
    }
}

/// A result card.
#[derive(Serialize)]
struct Card {
    n: usize,
    node_id: String,
    node_name: String,
    pseudonym: String,
    trades: Vec<String>,
    experience_years: Option<i64>,
    certifications: Vec<String>,
    licences: Vec<String>,
    available_from: Option<String>,
    distance: String,
    place: String,
    area: String,
    summary: Option<String>,
    score: i64,
    interest: Option<&'static str>,
    interest_code: Option<String>,
    referral_id: Option<String>,
}

fn cards(state: &AppState, v: &SearchView) -> Vec<Card> {
    v.results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let place = v
                .places
                .get(usize::try_from(r.place_index).unwrap_or(usize::MAX))
                .map(|p| p.commune_name.clone().unwrap_or(p.commune_insee.clone()))
                .unwrap_or_default();
            let area = match &r.commune_insee {
                Some(c) => state
                    .refs
                    .commune(c)
                    .map_or(c.clone(), super::saisie::commune_label),
                None => format!("département {}", r.departement),
            };
            Card {
                n: i + 1,
                node_id: r.node_id.clone(),
                node_name: v
                    .nodes
                    .iter()
                    .find(|n| n.node_id == r.node_id)
                    .map_or(r.node_id.clone(), |n| n.display_name.clone()),
                pseudonym: r.pseudonym.clone(),
                trades: r
                    .rome_codes
                    .iter()
                    .map(|c| {
                        state
                            .refs
                            .rome(c)
                            .map_or(c.clone(), |x| format!("{} ({c})", x.label))
                    })
                    .collect(),
                experience_years: r.experience_years,
                certifications: r.certifications.clone(),
                licences: r.driving_licences.clone(),
                available_from: r.available_from.clone(),
                distance: band_fr(r.distance_band).to_string(),
                place,
                area,
                summary: r.summary.clone(),
                score: r.score,
                interest: r.interest.as_ref().map(|i| interest_fr(&i.status)),
                interest_code: r.interest.as_ref().map(|i| i.status.clone()),
                referral_id: r.interest.as_ref().and_then(|i| i.referral_id.clone()),
            }
        })
        .collect()
}

async fn my_offers(state: &AppState, user: &User) -> Result<Vec<(String, String)>, Error> {
    let offers = crate::offers::list_offers(
        &state.db,
        &crate::actor::Actor::User(user.clone()),
        &crate::offers::ListQuery {
            status: Some("open".into()),
            mine: Some(true),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await?;
    Ok(offers
        .offers
        .iter()
        .filter(|o| o.is_local)
        .map(|o| (o.payload.offer_id.clone(), o.payload.title.clone()))
        .collect())
}

async fn form_page(
    state: &AppState,
    user: &User,
    values: &FormData,
    errors: FieldErrors,
    error: Option<String>,
) -> UiResult {
    let searches = crate::netsearch::list(state, &Actor::User(user.clone())).await?;
    let chosen: Vec<&str> = values.all("contrat");
    render(
        "reseau.html",
        context! {
            searches => searches,
            contracts => CONTRACTS.iter().map(|(c, l)| context!{ code => c, label => l, checked => chosen.contains(c) }).collect::<Vec<_>>(),
            metier => values.get("metier"),
            commune => values.get("commune"),
            rayon => if values.get("rayon").is_empty() { "20" } else { values.get("rayon") },
            certifications => values.get("certifications"),
            disponible => values.get("disponible"),
            max_radius => crate::netsearch::limits(state).max_radius_km,
            errors => errors,
            error => error,
            ..layout(user, "reseau", "Rechercher dans le réseau")
        },
    )
}

/// `GET /ui/reseau`.
pub async fn page(State(state): State<AppState>, Session(user): Session) -> UiResult {
    form_page(
        &state,
        &user,
        &FormData::default(),
        FieldErrors::new(),
        None,
    )
    .await
}

/// `POST /ui/reseau`: runs the search, then shows it.
pub async fn ask(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let mut errors = FieldErrors::new();
    let rome_codes: Vec<String> = f
        .get("metier")
        .split([',', ' ', ';'])
        .filter(|s| !s.is_empty())
        .map(|s| s.to_uppercase())
        .collect();
    let radius = f.get("rayon").parse::<i64>().unwrap_or(0);
    let mut places = Vec::new();
    for typed in f
        .get("commune")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match resolve_commune(&state, typed) {
            Ok(insee) => places.push(QueryPlace {
                commune_insee: insee,
                radius_km: radius,
            }),
            Err(p) => {
                errors.insert("places".into(), format!("{typed} : {}", p.message));
            }
        }
    }
    if !errors.is_empty() {
        return form_page(&state, &user, &f, errors, None).await;
    }
    let input = SearchInput {
        rome_codes,
        certifications: f
            .get("certifications")
            .split([',', ' ', ';'])
            .filter(|s| !s.is_empty())
            .map(|s| s.to_uppercase())
            .collect(),
        driving_licence: None,
        places,
        available_by: f.opt("disponible").map(|d| labels::parse_day(&d)),
        contract_types: f
            .all("contrat")
            .iter()
            .filter_map(|c| serde_json::from_value::<ContractType>(serde_json::json!(c)).ok())
            .collect(),
    };
    match crate::netsearch::ask(&state, &Actor::User(user.clone()), input).await {
        Ok(v) => Ok(Redirect::to(&format!("/ui/reseau/recherches/{}", v.id)).into_response()),
        Err(Error::Validation(errs)) => {
            form_page(&state, &user, &f, field_errors(&errs), None).await
        }
        Err(Error::Invalid { code, .. }) => {
            let message = match code {
                "radius_too_large" => format!(
                    "Le rayon doit être compris entre 1 et {} km.",
                    crate::netsearch::limits(&state).max_radius_km
                ),
                _ => "Indiquez au moins un métier (code ROME) et une commune avec un rayon : la recherche dans le réseau ne peut pas porter sur tout le monde.".to_string(),
            };
            form_page(&state, &user, &f, FieldErrors::new(), Some(message)).await
        }
        Err(Error::Federation { code, .. }) if code.ends_with("quota_exceeded") => {
            let message = "Le nombre de recherches dans le réseau autorisé par heure est atteint ; réessayez plus tard.".to_string();
            form_page(&state, &user, &f, FieldErrors::new(), Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /ui/reseau/recherches/{id}`.
pub async fn search(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
) -> UiResult {
    let v = crate::netsearch::view(&state, &Actor::User(user.clone()), &id).await?;
    let offers = my_offers(&state, &user).await?;
    render(
        "reseau_recherche.html",
        context! {
            s => &v,
            cards => cards(&state, &v),
            offers => offers,
            ..layout(&user, "reseau", "Résultats de la recherche dans le réseau")
        },
    )
}

/// `POST /ui/reseau/recherches/{id}/interet`.
pub async fn interest(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let input = InterestInput {
        node_id: f.get("membre").to_string(),
        pseudonym: f.get("pseudonyme").to_string(),
        message: f.get("message").to_string(),
        offer_id: f.opt("offre"),
    };
    crate::netsearch::interest::send(&state, &Actor::User(user), &id, input).await?;
    Ok(Redirect::to(&format!("/ui/reseau/recherches/{id}")).into_response())
}

/// An interest received, as the home node's staff see it.
#[derive(Serialize)]
struct Received {
    id: String,
    origin: String,
    asker: String,
    message: String,
    candidate_id: String,
    candidate: String,
    status: &'static str,
    status_code: String,
    referral_id: Option<String>,
    offers: Vec<(String, String)>,
    offer_id: Option<String>,
    created_at: i64,
}

/// `GET /ui/reseau/interets` (and `/{id}`, the notice's link).
pub async fn received(State(state): State<AppState>, Session(user): Session) -> UiResult {
    user.require_staff()?;
    let list = store::received_list(&state.db, false, 200).await?;
    let mut rows = Vec::with_capacity(list.len());
    for i in list {
        let candidate = crate::candidates::get_candidate(&state.db, &i.candidate_id)
            .await?
            .map(|c| format!("{} {}", c.first_name, c.last_name))
            .unwrap_or_else(|| "(fiche supprimée)".into());
        let offers = crate::offers::list_offers(
            &state.db,
            &crate::actor::Actor::User(user.clone()),
            &crate::offers::ListQuery {
                status: Some("open".into()),
                origin: Some(i.origin.clone()),
                limit: Some(50),
                ..Default::default()
            },
        )
        .await?
        .offers
        .iter()
        .map(|o| (o.payload.offer_id.clone(), o.payload.title.clone()))
        .collect();
        rows.push(Received {
            status: interest_fr(&i.status),
            status_code: i.status,
            id: i.id,
            origin: i.origin,
            asker: i.asker_label,
            message: i.message,
            candidate_id: i.candidate_id,
            candidate,
            referral_id: i.referral_id,
            offers,
            offer_id: i.offer_id,
            created_at: i.created_at,
        });
    }
    render(
        "reseau_interets.html",
        context! {
            rows => rows,
            ..layout(&user, "reseau-interets", "Intérêts du réseau pour vos candidats")
        },
    )
}

/// `GET /ui/reseau/interets/{id}`.
pub async fn received_one(
    state: State<AppState>,
    session: Session,
    Path(_id): Path<String>,
) -> UiResult {
    received(state, session).await
}

/// `POST /ui/reseau/interets/{id}/accepter`.
pub async fn accept(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let input = AcceptInput {
        offer_id: f.opt("offre"),
        endorsement: f.get("recommandation").to_string(),
    };
    crate::netsearch::interest::accept(&state, &Actor::User(user), &id, input).await?;
    Ok(Redirect::to("/ui/reseau/interets").into_response())
}

/// `POST /ui/reseau/interets/{id}/decliner`.
pub async fn decline(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
) -> UiResult {
    crate::netsearch::interest::decline(&state, &Actor::User(user), &id).await?;
    Ok(Redirect::to("/ui/reseau/interets").into_response())
}
