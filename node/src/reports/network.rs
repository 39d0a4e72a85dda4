//! Network-wide figures: each member publishes its month's aggregate
//! figures as a signed `report.figures` broadcast (counts only, small
//! counts suppressed), every node keeps the latest of each member, and any
//! node shows the network's report by member and in total.
//!
//! Counted once: a member's figures are its own candidates' returns to
//! work (`side = home`); a hire of another member's candidate on its offer
//! is its `hires_through_network`, never added to `placed`. So the total of
//! `placed` over members counts every person once.
//!
//! Suppression (before signing, and checked again on receipt): a cell
//! counting 1 to `threshold - 1` is withheld; when a set of cells that adds
//! up to a published total (the outcomes, the age bands, the two channels,
//! the groups of one dimension) has exactly one withheld cell, the smallest
//! other non-zero cell of the set is withheld too, so the first cannot be
//! worked out by subtraction.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use vivier_protocol::{FigureCell, MessageKind, NodeId, ReportFigures};

use super::{compute, GroupBy, Report, ReportQuery};
use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::error::{Error, FieldError, Result};
use crate::http::ApiQuery;
use crate::server::AppState;

/// Dimensions published per group (figure `placed`).
const DIMENSIONS: &[GroupBy] = &[
    GroupBy::Outcome,
    GroupBy::AgeBand,
    GroupBy::Rsa,
    GroupBy::Channel,
    GroupBy::Departement,
    GroupBy::Epci,
];

fn cell(dimension: &str, key: &str, figure: &str, value: i64) -> FigureCell {
    FigureCell {
        dimension: dimension.into(),
        key: key.into(),
        figure: figure.into(),
        value: Some(value),
        suppressed: false,
    }
}

/// The cells of a month: the total line (every count of the returns-to-work
/// table but the median, and the node figures) and `placed` per group of
/// each dimension.
pub fn cells_of(total: &Report, by_dimension: &[(GroupBy, Report)]) -> Vec<FigureCell> {
    let mut out = Vec::new();
    for ((id, _), v) in super::row_columns().iter().zip(total.total.cells()) {
        if id == "median_days_to_placement" {
            continue;
        }
        out.push(cell("total", "all", id, v.unwrap_or(0)));
    }
    out.push(cell(
        "total",
        "all",
        "hires_through_network",
        total.hires_through_network,
    ));
    out.push(cell(
        "total",
        "all",
        "positions_filled",
        total.offers.positions_filled,
    ));
    for (g, r) in by_dimension {
        for row in &r.groups {
            out.push(cell(g.as_str(), &row.key, "placed", row.placed));
        }
    }
    out
}

/// Sets of cells (indexes) that add up to a published figure.
fn additive_sets(cells: &[FigureCell]) -> Vec<Vec<usize>> {
    let in_total = |names: &[&str]| -> Vec<usize> {
        cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.dimension == "total" && names.contains(&c.figure.as_str()))
            .map(|(i, _)| i)
            .collect()
    };
    let outcomes: Vec<&str> = crate::candidates::PlacementOutcome::all()
        .map(|o| o.as_str())
        .collect();
    let mut sets = vec![
        in_total(&outcomes),
        in_total(&["age_16_25", "age_26_49", "age_50_plus", "age_unknown"]),
        in_total(&["platform", "counsellor_support"]),
    ];
    let mut by_dim: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        if c.dimension != "total" {
            by_dim.entry(c.dimension.as_str()).or_default().push(i);
        }
    }
    sets.extend(by_dim.into_values());
    sets
}

/// Withhold small counts (primary) and what would reveal them (secondary).
pub fn suppress(cells: &mut [FigureCell], threshold: i64) {
    let small = |v: i64| v >= 1 && v < threshold;
    for c in cells.iter_mut() {
        if c.value.is_some_and(small) {
            c.value = None;
            c.suppressed = true;
        }
    }
    // Repeat until stable: a secondary suppression can leave another set
    // with a single withheld cell.
    loop {
        let mut changed = false;
        for set in additive_sets(cells) {
            let withheld = set.iter().filter(|i| cells[**i].suppressed).count();
            if withheld != 1 {
                continue;
            }
            let next = set
                .iter()
                .filter(|i| !cells[**i].suppressed && cells[**i].value.unwrap_or(0) > 0)
                .min_by_key(|i| cells[**i].value.unwrap_or(0));
            if let Some(i) = next {
                cells[*i].value = None;
                cells[*i].suppressed = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Checks of a received (or built) `report.figures`.
pub fn check(f: &ReportFigures, now_ms: i64, skew_ms: i64) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let month_ok = f.period.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{}-01", f.period), "%Y-%m-%d").is_ok();
    if !month_ok {
        errs.push(FieldError::new("period", "must be a month YYYY-MM"));
    }
    crate::validation::int_in(&mut errs, "threshold", Some(f.threshold), 1..=100);
    if f.cells.len() > ReportFigures::MAX_CELLS {
        errs.push(FieldError::new(
            "cells",
            format!("at most {} cells", ReportFigures::MAX_CELLS),
        ));
    }
    crate::validation::timestamp(&mut errs, "published_at", f.published_at, now_ms, skew_ms);
    for (i, c) in f.cells.iter().enumerate() {
        for (name, v) in [
            ("dimension", &c.dimension),
            ("key", &c.key),
            ("figure", &c.figure),
        ] {
            crate::validation::text(&mut errs, &format!("cells[{i}].{name}"), v, true, 100);
        }
        match (c.value, c.suppressed) {
            (Some(v), false) if !(0..=1_000_000_000).contains(&v) => errs.push(FieldError::new(
                format!("cells[{i}].value"),
                "must be between 0 and 1000000000",
            )),
            (Some(v), false) if v >= 1 && v < f.threshold => errs.push(FieldError::new(
                format!("cells[{i}].value"),
                "a count under the threshold must be suppressed",
            )),
            (Some(_), false) | (None, true) => {}
            _ => errs.push(FieldError::new(
                format!("cells[{i}]"),
                "give a value or suppressed, not both or neither",
            )),
        }
        if errs.len() > 20 {
            break;
        }
    }
    errs
}

async fn store(conn: &mut sqlx::AnyConnection, f: &ReportFigures, received_at: i64) -> Result<()> {
    let body = serde_json::to_string(f).map_err(|e| Error::Internal(e.into()))?;
    super::store::upsert_network_figures(
        conn,
        f.origin_node.as_str(),
        &f.period,
        f.published_at,
        &body,
        received_at,
    )
    .await
}

/// A received `report.figures` (signature verified): checked and kept.
pub async fn receive(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    sender: &NodeId,
    f: ReportFigures,
) -> Result<crate::federation::AfterCommit> {
    if &f.origin_node != sender {
        return Err(crate::federation::refusal(
            "not_origin",
            format!("{sender} may not publish figures of {}", f.origin_node),
        ));
    }
    let now = state.clock.now_ms();
    let errs = check(&f, now, crate::federation::skew_ms(state));
    if !errs.is_empty() {
        return Err(crate::federation::invalid_payload(errs));
    }
    store(conn, &f, now).await?;
    Ok(crate::federation::AfterCommit::Nothing)
}

/// Body of `POST /api/v1/reports/network/publish`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishInput {
    /// `YYYY-MM`.
    pub month: String,
}

/// Compute this node's figures of `month`, suppress small counts, sign and
/// broadcast them, keep them here too (admins only; audited
/// `report.publish`).
pub async fn publish(state: &AppState, actor: &Actor, month: &str) -> Result<ReportFigures> {
    actor.user_with(&[Role::Admin])?;
    let q = |g: Option<GroupBy>| ReportQuery {
        month: Some(month.to_string()),
        group_by: g,
        ..ReportQuery::default()
    };
    let total = compute(state, actor, &q(None)).await?;
    let mut dims = Vec::new();
    for g in DIMENSIONS {
        dims.push((*g, compute(state, actor, &q(Some(*g))).await?));
    }
    let threshold = state.config.reports.small_count_threshold;
    let mut cells = cells_of(&total, &dims);
    suppress(&mut cells, threshold);
    let figures = ReportFigures {
        origin_node: state.identity.node_id.clone(),
        period: month.to_string(),
        threshold,
        cells,
        published_at: state.clock.now_ms(),
    };
    let errs = check(
        &figures,
        figures.published_at,
        crate::federation::skew_ms(state),
    );
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let mut tx = state.db.begin().await?;
    crate::federation::enqueue_broadcast(state, &mut tx, MessageKind::ReportFigures, &figures)
        .await?;
    store(&mut tx, &figures, figures.published_at).await?;
    let suppressed = figures.cells.iter().filter(|c| c.suppressed).count();
    crate::audit::append(
        &mut tx,
        actor,
        "report.publish",
        ("report", month),
        None,
        serde_json::json!({"cells": figures.cells.len(), "suppressed": suppressed, "threshold": threshold}),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    Ok(figures)
}

/// One figure of the network's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalCell {
    pub dimension: String,
    pub key: String,
    pub figure: String,
    /// Sum of the members' published values.
    pub value: i64,
    /// Members whose value is withheld: then `value` is a lower bound.
    pub suppressed_members: i64,
}

/// The network's report of a month.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkReport {
    pub period: String,
    /// The members' figures as published (this node's own included).
    pub members: Vec<ReportFigures>,
    /// Sums over members.
    pub total: Vec<TotalCell>,
}

/// Query of `GET /api/v1/reports/network`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkQuery {
    /// `YYYY-MM`.
    pub month: String,
}

/// The network's figures of `month` (staff only).
pub async fn network_report(state: &AppState, actor: &Actor, month: &str) -> Result<NetworkReport> {
    actor.staff()?;
    let month_ok = month.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok();
    if !month_ok {
        return Err(Error::field("month", "must be a month YYYY-MM"));
    }
    let rows = {
        let mut conn = state.db.pool.acquire().await?;
        super::store::network_figures_of(&mut conn, month).await?
    };
    let mut members = Vec::new();
    for body in rows {
        members.push(
            serde_json::from_str::<ReportFigures>(&body)
                .map_err(|e| Error::Internal(anyhow::anyhow!("network_figures JSON: {e}")))?,
        );
    }
    let mut total: BTreeMap<(String, String, String), TotalCell> = BTreeMap::new();
    for m in &members {
        for c in &m.cells {
            let t = total
                .entry((c.dimension.clone(), c.key.clone(), c.figure.clone()))
                .or_insert_with(|| TotalCell {
                    dimension: c.dimension.clone(),
                    key: c.key.clone(),
                    figure: c.figure.clone(),
                    value: 0,
                    suppressed_members: 0,
                });
            match c.value {
                Some(v) if !c.suppressed => t.value += v,
                _ => t.suppressed_members += 1,
            }
        }
    }
    Ok(NetworkReport {
        period: month.to_string(),
        members,
        total: total.into_values().collect(),
    })
}

#[utoipa::path(post, path = "/api/v1/reports/network/publish", tag = "reports", request_body = PublishInput,
    responses((status = 200, description = "The signed `report.figures` sent to the network (admins)", body = serde_json::Value)))]
async fn publish_handler(
    State(state): State<AppState>,
    user: User,
    crate::error::ApiJson(body): crate::error::ApiJson<PublishInput>,
) -> Result<Json<ReportFigures>> {
    Ok(Json(
        publish(&state, &Actor::User(user), &body.month).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/reports/network", tag = "reports",
    params(("month" = String, Query, description = "YYYY-MM")),
    responses((status = 200, description = "The members' published figures and the network's totals (staff)", body = serde_json::Value)))]
async fn network_handler(
    State(state): State<AppState>,
    user: User,
    ApiQuery(q): ApiQuery<NetworkQuery>,
) -> Result<Json<NetworkReport>> {
    Ok(Json(
        network_report(&state, &Actor::User(user), &q.month).await?,
    ))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(publish_handler, network_handler))]
pub(crate) struct Doc;

/// `POST /api/v1/reports/network/publish`, `GET /api/v1/reports/network`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/network/publish", post(publish_handler))
        .route("/api/v1/reports/network", get(network_handler))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn c(dim: &str, key: &str, fig: &str, v: i64) -> FigureCell {
        cell(dim, key, fig, v)
    }

    #[test]
    fn small_counts_and_what_reveals_them_are_withheld() {
        let mut cells = vec![
            c("total", "all", "placed", 12),
            c("total", "all", "cdi", 2),
            c("total", "all", "training", 4),
            c("total", "all", "other", 6),
            c("total", "all", "professionalisation", 0),
            c("total", "all", "platform", 6),
            c("total", "all", "counsellor_support", 6),
            c("departement", "41", "placed", 9),
            c("departement", "03", "placed", 3),
        ];
        suppress(&mut cells, 3);
        let shown: Vec<Option<i64>> = cells.iter().map(|c| c.value).collect();
        // cdi (2 < 3) withheld; it alone in the outcomes → the smallest
        // other non-zero (training, 4) too; zero stays; 03 (3) is shown.
        assert_eq!(
            shown,
            vec![
                Some(12),
                None,
                None,
                Some(6),
                Some(0),
                Some(6),
                Some(6),
                Some(9),
                Some(3)
            ]
        );
        assert!(cells[1].suppressed && cells[2].suppressed);
        let f = ReportFigures {
            origin_node: NodeId::parse("cd41").unwrap(),
            period: "2026-03".into(),
            threshold: 3,
            cells: cells.clone(),
            published_at: 1_780_000_000_000,
        };
        assert!(check(&f, 1_780_000_000_000, 60_000).is_empty());
        let mut leaky = f.clone();
        leaky.cells[1] = c("total", "all", "cdi", 2);
        let errs = check(&leaky, 1_780_000_000_000, 60_000);
        assert_eq!(errs[0].field, "cells[1].value");
        let mut bad = f;
        bad.period = "2026-3".into();
        bad.cells[0].suppressed = true;
        let fields: Vec<_> = check(&bad, 1_780_000_000_000, 60_000)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["period", "cells[0]"]);
    }
}
