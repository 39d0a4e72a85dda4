//! Training and immersion pages (staff): list (local and network), the
//! publication form, the detail page (closing a local one). Every action
//! goes through `crate::opportunities`, which checks and audits.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
use vivier_protocol::OpportunityType;

use super::labels;
use super::offres::DetailParams;
use super::{field_errors, layout, render, FieldErrors, FormData, SameOrigin, Session, UiResult};
use crate::actor::Actor;
use crate::error::Error;
use crate::opportunities::{
    Closing, ListQuery, OpportunityInput, OpportunityStatus, PlaceInput, StoredOpportunity,
};
use crate::server::AppState;

/// A training or an immersion as the pages show it.
#[derive(Serialize)]
struct Row {
    id: String,
    kind: &'static str,
    title: String,
    organisation: String,
    certifications: Vec<String>,
    rome: Vec<String>,
    places: Vec<String>,
    start_date: String,
    end_date: String,
    seats: i64,
    funding: Option<String>,
    tutor: Option<String>,
    description: String,
    origin: String,
    is_local: bool,
    open: bool,
}

fn row(o: &StoredOpportunity) -> Row {
    let p = &o.payload;
    Row {
        id: p.opportunity_id.clone(),
        kind: match p.opportunity_type {
            OpportunityType::Training => "Formation",
            OpportunityType::Immersion => "Immersion (PMSMP)",
        },
        title: p.title.clone(),
        organisation: p.organisation.clone(),
        certifications: labels::certification_labels(&p.certifications_granted),
        rome: p.rome_codes.clone(),
        places: p
            .places
            .iter()
            .map(|pl| pl.label.clone().unwrap_or_else(|| pl.commune_insee.clone()))
            .collect(),
        start_date: p.start_date.clone(),
        end_date: p.end_date.clone(),
        seats: p.seats,
        funding: p.funding.clone(),
        tutor: p.tutor.clone(),
        description: p.description.clone(),
        origin: if o.is_local {
            "Locale".to_string()
        } else {
            format!("Réseau : {}", p.origin_node)
        },
        is_local: o.is_local,
        open: o.status == OpportunityStatus::Open,
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    texte: Option<String>,
    #[serde(default)]
    certification: Option<String>,
}

/// `GET /ui/formations`.
pub async fn list(
    State(state): State<AppState>,
    Session(user): Session,
    Query(p): Query<ListParams>,
) -> UiResult {
    let actor = Actor::User(user.clone());
    let kind = p
        .kind
        .filter(|k| k == "training" || k == "immersion")
        .unwrap_or_default();
    let texte: String = p.texte.unwrap_or_default().chars().take(200).collect();
    let certification = p
        .certification
        .filter(|c| {
            crate::referentials::Certifications::global()
                .normalise(c)
                .is_some()
        })
        .unwrap_or_default();
    let items = crate::opportunities::list(
        &state,
        &actor,
        &ListQuery {
            kind: Some(kind.clone()),
            q: Some(texte.clone()),
            certification: Some(certification.clone()),
            ..Default::default()
        },
    )
    .await?;
    let rows: Vec<Row> = items.iter().map(row).collect();
    render(
        "formations.html",
        context! {
            rows => rows,
            kind => kind,
            texte => texte,
            certification => certification,
            ..layout(&user, "formations", "Formations et immersions")
        },
    )
}

/// The form's values, kept on an error.
#[derive(Serialize, Default)]
struct FormValues {
    kind: String,
    title: String,
    organisation: String,
    certifications: Vec<String>,
    rome: String,
    commune: String,
    start_date: String,
    end_date: String,
    seats: String,
    funding: String,
    tutor: String,
    description: String,
}

fn form_page(user: &crate::auth::User, v: FormValues, errors: FieldErrors) -> UiResult {
    let certifications: Vec<(String, String)> = crate::referentials::Certifications::global()
        .all()
        .iter()
        .map(|c| (c.code.clone(), c.label.clone()))
        .collect();
    render(
        "formation_nouvelle.html",
        context! {
            v => v,
            errors => errors,
            certifications => certifications,
            ..layout(user, "formations", "Publier une formation ou une immersion")
        },
    )
}

/// `GET /ui/formations/nouvelle`.
pub async fn new_form(Session(user): Session) -> UiResult {
    user.require_staff()?;
    form_page(
        &user,
        FormValues {
            kind: "training".into(),
            seats: "1".into(),
            ..FormValues::default()
        },
        FieldErrors::new(),
    )
}

/// `POST /ui/formations/nouvelle`.
pub async fn create(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    // No check here: `opportunities::create` refuses anyone but staff.
    let f = FormData::parse(&body);
    let v = FormValues {
        kind: f.get("type").to_string(),
        title: f.get("titre").to_string(),
        organisation: f.get("organisme").to_string(),
        certifications: f
            .all("certifications")
            .into_iter()
            .map(str::to_string)
            .collect(),
        rome: f.get("rome").to_string(),
        commune: f.get("commune").to_string(),
        start_date: f.get("debut").to_string(),
        end_date: f.get("fin").to_string(),
        seats: f.get("places").to_string(),
        funding: f.get("financement").to_string(),
        tutor: f.get("tuteur").to_string(),
        description: f.get("description").to_string(),
    };
    let mut errors = FieldErrors::new();
    let kind = match v.kind.as_str() {
        "immersion" => OpportunityType::Immersion,
        _ => OpportunityType::Training,
    };
    let seats = match v.seats.trim() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert("seats".into(), "Indiquez un nombre de places.".into());
                None
            }
        },
    };
    let commune = match state.refs.resolve_commune(&v.commune) {
        crate::referentials::CommuneMatch::One(c) => c.insee.clone(),
        _ => v.commune.trim().to_string(),
    };
    let split = |s: &str| -> Vec<String> {
        s.split([',', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let input = OpportunityInput {
        opportunity_type: kind,
        title: v.title.clone(),
        description: Some(v.description.clone()),
        organisation: v.organisation.clone(),
        siret: None,
        certifications_granted: v.certifications.clone(),
        rome_codes: split(&v.rome),
        places: vec![PlaceInput {
            commune_insee: commune,
            label: None,
        }],
        start_date: v.start_date.clone(),
        end_date: v.end_date.clone(),
        seats,
        funding: Some(v.funding.clone()),
        tutor: Some(v.tutor.clone()),
    };
    if !errors.is_empty() {
        return form_page(&user, v, errors);
    }
    match crate::opportunities::create(&state, &Actor::User(user.clone()), input).await {
        Ok(o) => Ok(Redirect::to(&format!(
            "/ui/formations/{}?ok=publiee",
            o.payload.opportunity_id
        ))
        .into_response()),
        Err(Error::Validation(errs)) => form_page(&user, v, field_errors(&errs)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /ui/formations/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    Session(user): Session,
    Path(id): Path<String>,
    Query(p): Query<DetailParams>,
) -> UiResult {
    let o = crate::opportunities::read(&state, &Actor::User(user.clone()), &id).await?;
    let flash = match p.ok.as_deref() {
        Some("publiee") => Some("Publiée et diffusée au réseau."),
        Some("cloturee") => Some("Clôturée ; le réseau en est informé."),
        _ => None,
    };
    render(
        "formation.html",
        context! {
            o => row(&o),
            flash => flash,
            closed_reason => o.closed_reason,
            ..layout(&user, "formations", &o.payload.title)
        },
    )
}

/// `POST /ui/formations/{id}/cloturer`.
pub async fn close(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let reason = Some(f.get("motif").to_string()).filter(|s| !s.is_empty());
    crate::opportunities::close(&state, &Actor::User(user), &id, Closing { reason }).await?;
    Ok(Redirect::to(&format!("/ui/formations/{id}?ok=cloturee")).into_response())
}
