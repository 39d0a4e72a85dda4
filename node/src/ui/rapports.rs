//! Reports page (`/ui/rapports`): a period and a grouping chosen in a form
//! (GET, so a report has an address), the figures as tables, bar charts
//! rendered on the server as SVG (no script; printable), and the CSV/XLSX
//! exports (`/ui/rapports/export`, audited like the API's).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

use super::labels;
use super::{layout, render, render_status, FormData, SameOrigin, Session, UiResult};
use crate::actor::Actor;
use crate::candidates::PlacementOutcome;
use crate::error::Error;
use crate::reports::svg::{render as svg, Bar, Chart};
use crate::reports::{self, export, ExportQuery, GroupBy, ReportQuery};
use crate::server::AppState;

/// The groupings offered, with their French names.
pub fn groupings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("counsellor", "Conseiller"),
        ("departement", "Département"),
        ("epci", "Intercommunalité (EPCI)"),
        ("commune", "Commune"),
        ("rsa", "Bénéficiaires du RSA"),
        ("age_band", "Tranche d'âge"),
        ("qualification", "Niveau de qualification"),
        ("rome_domain", "Domaine professionnel (ROME)"),
        ("outcome", "Nature du retour à l'emploi"),
        ("channel", "Plateforme ou accompagnement"),
        ("month", "Mois"),
    ]
}

/// French message of a report parameter error.
fn message_fr(field: &str, msg: &str) -> String {
    let what = match field {
        "from" => "Date de début",
        "to" => "Date de fin",
        "month" => "Mois",
        "year" => "Année",
        "group_by" => "Regroupement",
        "format" => "Format",
        _ => "Paramètre",
    };
    let why = if msg.contains("one period") {
        "choisissez une seule période : des dates, un mois ou une année"
    } else if msg.contains("before from") {
        "la fin doit suivre le début"
    } else if msg.contains("10 years") {
        "la période ne peut dépasser 10 ans"
    } else if msg.contains("required") {
        "indiquez les deux dates"
    } else if msg.contains("YYYY-MM-DD") {
        "indiquez une date (JJ/MM/AAAA)"
    } else if msg.contains("YYYY-MM") {
        "indiquez un mois (AAAA-MM)"
    } else if msg.contains("between") {
        "indiquez une année entre 1900 et 2100"
    } else {
        "valeur non reconnue"
    };
    format!("{what} : {why}.")
}

/// The page's query: French names, empty fields ignored.
fn query(raw: Option<&str>) -> (ReportQuery, Vec<String>) {
    let f = FormData::parse(raw.unwrap_or("").as_bytes());
    let mut errors = Vec::new();
    let year = match f.opt("annee") {
        Some(y) => match y.trim().parse::<i64>() {
            Ok(y) => Some(y),
            Err(_) => {
                errors.push(message_fr("year", "between"));
                None
            }
        },
        None => None,
    };
    let group_by = match f.opt("regrouper") {
        Some(g) => match g.parse::<GroupBy>() {
            Ok(g) => Some(g),
            Err(_) => {
                errors.push(message_fr("group_by", "unknown"));
                None
            }
        },
        None => None,
    };
    (
        ReportQuery {
            from: f.opt("du").map(|d| labels::parse_day(&d)),
            to: f.opt("au").map(|d| labels::parse_day(&d)),
            month: f.opt("mois"),
            year,
            group_by,
        },
        errors,
    )
}

#[derive(Serialize)]
struct TableRow {
    label: String,
    cells: Vec<String>,
}

fn cell(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "—".into())
}

/// `GET /ui/rapports`.
pub async fn page(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(raw): RawQuery,
) -> UiResult {
    user.require_staff()?;
    let base = layout(&user, "rapports", "Rapports");
    let (q, mut errors) = query(raw.as_deref());
    let actor = Actor::User(user);
    let report = if errors.is_empty() {
        match reports::compute(&state, &actor, &q).await {
            Ok(r) => Some(r),
            Err(Error::Validation(errs)) => {
                errors.extend(errs.iter().map(|e| message_fr(&e.field, &e.message)));
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let form = context! {
        du => q.from, au => q.to, mois => q.month, annee => q.year,
        regrouper => q.group_by.map(GroupBy::as_str),
    };
    let Some(r) = report else {
        return render_status(
            StatusCode::BAD_REQUEST,
            "rapports.html",
            context! { errors => errors, form => form, groupings => groupings(), ..base },
        );
    };
    let outcomes_chart = svg(&Chart {
        title: "Retours à l'emploi par nature (plateforme, accompagnement)",
        id: "g-nature",
        series: &[],
        bars: PlacementOutcome::all()
            .map(|o| Bar {
                label: labels::outcome(o.as_str()).to_string(),
                values: vec![r.total.by_outcome.get(o.as_str()).copied().unwrap_or(0)],
            })
            .collect(),
    });
    let groups_chart = (!r.groups.is_empty()).then(|| {
        svg(&Chart {
            title: "Retours à l'emploi par groupe : par la plateforme, avec l'accompagnement",
            id: "g-groupes",
            series: &["Par la plateforme", "Avec l'accompagnement"],
            bars: r
                .groups
                .iter()
                .map(|g| Bar {
                    label: g.label.clone(),
                    values: vec![g.platform, g.counsellor_support],
                })
                .collect(),
        })
    });
    let ages_chart = svg(&Chart {
        title: "Retours à l'emploi par tranche d'âge",
        id: "g-ages",
        series: &[],
        bars: ["16_25", "26_49", "50_plus", "unknown"]
            .iter()
            .map(|k| Bar {
                label: reports::age_band_label(k).to_string(),
                values: vec![r.total.by_age_band.get(*k).copied().unwrap_or(0)],
            })
            .collect(),
    });
    let columns: Vec<String> = reports::row_columns().into_iter().map(|c| c.1).collect();
    let rows: Vec<TableRow> = std::iter::once(&r.total)
        .chain(r.groups.iter())
        .map(|row| TableRow {
            label: row.label.clone(),
            cells: row.cells().into_iter().map(cell).collect(),
        })
        .collect();
    let referrals = labels::referrals_by_direction(&r.referrals.by_direction);
    let programmes: Vec<serde_json::Value> = r
        .programmes
        .iter()
        .map(|p| {
            let outcomes: Vec<(&str, i64)> = p
                .outcomes
                .iter()
                .map(|(k, n)| (labels::programme_outcome(k), *n))
                .collect();
            serde_json::json!({ "name": p.name, "enrolled": p.enrolled, "active": p.active,
                "completed": p.completed, "abandoned": p.abandoned,
                "positive_outcomes": p.positive_outcomes, "outcomes": outcomes })
        })
        .collect();
    let share = (r.total.with_registration > 0)
        .then(|| r.total.within_3_months * 100 / r.total.with_registration);
    let network = match &q.month {
        Some(m) => Some(network_view(
            &reports::network::network_report(&state, &actor, m).await?,
        )),
        None => None,
    };
    let export_qs = {
        let mut s = format!("du={}&au={}", r.period.from, r.period.to);
        if let Some(g) = r.group_by {
            s.push_str(&format!("&regrouper={}", g.as_str()));
        }
        s
    };
    render(
        "rapports.html",
        context! {
            errors => errors,
            form => form,
            groupings => groupings(),
            report => r,
            outcomes_chart => outcomes_chart,
            groups_chart => groups_chart,
            ages_chart => ages_chart,
            columns => columns,
            rows => rows,
            referrals => referrals,
            programmes => programmes,
            share_within_3_months => share,
            export_qs => export_qs,
            network => network,
            can_publish => actor.role() == Some(crate::auth::Role::Admin),
            published => FormData::parse(raw.as_deref().unwrap_or("").as_bytes()).get("ok") == "publie",
            ..base
        },
    )
}

/// `GET /ui/rapports/export?format=csv|xlsx&…` (audited `report.export`).
pub async fn download(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(raw): RawQuery,
) -> Result<Response, super::UiError> {
    user.require_staff()?;
    let (q, errors) = query(raw.as_deref());
    if let Some(e) = errors.first() {
        return Err(Error::field("group_by", e.clone()).into());
    }
    let f = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let format = match f.get("format") {
        "csv" => export::Format::Csv,
        "xlsx" => export::Format::Xlsx,
        _ => return Err(Error::field("format", message_fr("format", "unknown")).into()),
    };
    let eq = ExportQuery {
        format,
        from: q.from,
        to: q.to,
        month: q.month,
        year: q.year,
        group_by: q.group_by,
    };
    let file = export::export(&state, &Actor::User(user), &eq).await?;
    Ok(reports::export_response(file))
}

/// The network table: one line per member, then the total.
#[derive(Serialize)]
struct NetworkView {
    columns: Vec<&'static str>,
    rows: Vec<TableRow>,
    total: TableRow,
    threshold_note: bool,
}

const NETWORK_FIGURES: &[(&str, &str)] = &[
    ("placed", "Retours à l'emploi"),
    ("cdi", "CDI"),
    ("cdd_6_months_or_more", "CDD ≥ 6 mois"),
    ("cdd_under_6_months", "CDD < 6 mois, intérim, saisonnier"),
    ("apprenticeship", "Apprentissage"),
    ("professionalisation", "Professionnalisation"),
    ("training", "Formation"),
    ("business_creation", "Création d'entreprise"),
    ("other", "Autre"),
    ("rsa", "Bénéficiaires du RSA"),
    ("hires_through_network", "Embauches de candidats du réseau"),
];

fn network_view(r: &reports::network::NetworkReport) -> NetworkView {
    let mut any_suppressed = false;
    let rows = r
        .members
        .iter()
        .map(|m| TableRow {
            label: m.origin_node.to_string(),
            cells: NETWORK_FIGURES
                .iter()
                .map(|(fig, _)| {
                    let c = m
                        .cells
                        .iter()
                        .find(|c| c.dimension == "total" && c.figure == *fig);
                    match c {
                        Some(c) if c.suppressed => {
                            any_suppressed = true;
                            "secret".to_string()
                        }
                        Some(c) => cell(c.value),
                        None => "—".into(),
                    }
                })
                .collect(),
        })
        .collect();
    let total = TableRow {
        label: "Réseau".into(),
        cells: NETWORK_FIGURES
            .iter()
            .map(|(fig, _)| {
                match r
                    .total
                    .iter()
                    .find(|c| c.dimension == "total" && c.figure == *fig)
                {
                    Some(c) if c.suppressed_members > 0 && c.value == 0 => "secret".into(),
                    Some(c) if c.suppressed_members > 0 => format!("au moins {}", c.value),
                    Some(c) => c.value.to_string(),
                    None => "—".into(),
                }
            })
            .collect(),
    };
    NetworkView {
        columns: NETWORK_FIGURES.iter().map(|(_, l)| *l).collect(),
        rows,
        total,
        threshold_note: any_suppressed,
    }
}

/// `POST /ui/rapports/publier` (`mois`): publish this node's figures of the
/// month to the network (admins; `reports::network::publish`, audited).
pub async fn publish(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    let month = f.get("mois").trim().to_string();
    let actor = Actor::User(user);
    match reports::network::publish(&state, &actor, &month).await {
        Ok(_) => Ok(Redirect::to(&format!("/ui/rapports?mois={month}&ok=publie")).into_response()),
        Err(Error::Validation(errs)) => Err(Error::field(
            "mois",
            errs.first()
                .map(|e| message_fr("month", &e.message))
                .unwrap_or_default(),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}
