//! `GET /api/v1/stats`: the figures French départements publish about their
//! job platforms. Staff only (admins and counsellors; employers get 403):
//! the figures are aggregates, but they describe the node's whole activity.
//!
//! - `candidates.registered`: candidate records not anonymised;
//!   `candidates.cvs_online`: consented and `active` or `in_referral` (visible to matching);
//!   `candidates.by_status`.
//! - `employers_registered`: enabled user accounts with role `employer`.
//! - `offers.local_posted` (this node's offers since the start, open or
//!   closed), `offers.local_open`, `offers.network_received`,
//!   `offers.network_open`, and positions open (sum of workplaces'
//!   positions of open offers), local and network.
//! - `referrals`: counts by direction (`outbound`: our candidates referred
//!   to offers; `inbound`: referrals received for our offers) and status.
//! - `returns_to_work`: placements of this node's candidates by outcome
//!   (the eight of `candidates::PlacementOutcome`, always present) and in
//!   total; a hire of another node's candidate on this node's offer is
//!   counted at the candidate's node (`hires_through_network` here). Periods
//!   and breakdowns: `GET /api/v1/reports` (`reports.rs`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::actor::Actor;
use crate::auth::User;
use crate::error::Result;
use crate::server::AppState;

mod store;

/// Candidate figures.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateStats {
    pub registered: i64,
    pub cvs_online: i64,
    pub by_status: BTreeMap<String, i64>,
}

/// Offer figures.
#[derive(Debug, Clone, Serialize)]
pub struct OfferStats {
    pub local_posted: i64,
    pub local_open: i64,
    pub local_positions_open: i64,
    pub network_received: i64,
    pub network_open: i64,
    pub network_positions_open: i64,
}

/// Referral figures.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralStats {
    pub total: i64,
    /// direction → status → count.
    pub by_direction: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Returns to work.
#[derive(Debug, Clone, Serialize)]
pub struct ReturnsToWork {
    pub total: i64,
    pub by_outcome: BTreeMap<String, i64>,
    /// Other nodes' candidates hired on this node's offers.
    pub hires_through_network: i64,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub node_id: String,
    /// Unix ms.
    pub generated_at: i64,
    pub candidates: CandidateStats,
    pub employers_registered: i64,
    pub offers: OfferStats,
    pub referrals: ReferralStats,
    pub returns_to_work: ReturnsToWork,
}

/// Sum of open positions of open offers, local or network (the payload
/// JSON holds the workplaces, so this is summed here, not in SQL), less the
/// positions already filled by hires through referrals.
async fn open_positions(state: &AppState, local: bool) -> Result<i64> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = crate::offers::store::open_payloads(&mut conn, local).await?;
    Ok(rows
        .iter()
        .filter_map(|(p, filled)| {
            serde_json::from_str::<vivier_protocol::OfferPayload>(p)
                .ok()
                .map(|p| (p, *filled))
        })
        .map(|(p, filled)| {
            (p.workplaces.iter().map(|w| w.positions.max(0)).sum::<i64>() - filled).max(0)
        })
        .sum())
}

/// Compute the figures (staff only).
pub async fn compute(state: &AppState, actor: &Actor) -> Result<Stats> {
    actor.staff()?;
    let mut conn = state.db.pool.acquire().await?;
    let by_status: BTreeMap<String, i64> = store::candidates_by_status(&mut conn)
        .await?
        .into_iter()
        .collect();
    let candidates = CandidateStats {
        registered: by_status.values().sum(),
        cvs_online: store::cvs_online(&mut conn).await?,
        by_status,
    };
    let employers_registered = store::employers_registered(&mut conn).await?;
    let placements = store::home_placements_by_outcome(&mut conn).await?;
    let hires_through_network = store::hires_through_network(&mut conn).await?;
    drop(conn);
    let counted = {
        let mut conn = state.db.pool.acquire().await?;
        crate::offers::store::counts(&mut conn).await?
    };
    let offers = OfferStats {
        local_posted: counted.local,
        local_open: counted.local_open,
        local_positions_open: open_positions(state, true).await?,
        network_received: counted.network,
        network_open: counted.network_open,
        network_positions_open: open_positions(state, false).await?,
    };
    let mut by_direction: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for d in ["outbound", "inbound"] {
        by_direction.insert(d.to_string(), BTreeMap::new());
    }
    let mut total = 0;
    let per_status = {
        let mut conn = state.db.pool.acquire().await?;
        crate::referrals::store::count_by_direction_status(&mut conn).await?
    };
    for (direction, status, n) in per_status {
        total += n;
        by_direction.entry(direction).or_default().insert(status, n);
    }
    let mut by_outcome: BTreeMap<String, i64> = crate::candidates::PlacementOutcome::all()
        .map(|o| (o.as_str().to_string(), 0))
        .collect();
    let mut placed = 0;
    for (outcome, n) in placements {
        placed += n;
        *by_outcome.entry(outcome).or_default() += n;
    }
    Ok(Stats {
        node_id: state.identity.node_id.to_string(),
        generated_at: crate::util::now_ms(),
        candidates,
        employers_registered,
        offers,
        referrals: ReferralStats {
            total,
            by_direction,
        },
        returns_to_work: ReturnsToWork {
            total: placed,
            by_outcome,
            hires_through_network,
        },
    })
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "reports",
    responses((status = 200, description = "This node's figures, now (staff)", body = serde_json::Value)))]
async fn stats_handler(State(state): State<AppState>, user: User) -> Result<Json<Stats>> {
    Ok(Json(compute(&state, &Actor::User(user)).await?))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(stats_handler))]
pub(crate) struct Doc;

/// `GET /api/v1/stats`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/stats", get(stats_handler))
}
