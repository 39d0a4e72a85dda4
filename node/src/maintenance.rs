//! Operator checks of the derived state: where the search indexes stand
//! against the journal, and whether they hold exactly the database's rows
//! (`GET /api/v1/admin/index`, admin only).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::{Role, User};
use crate::error::Result;
use crate::http::ApiQuery;
use crate::journal::Position;
use crate::server::AppState;

/// Index against database, for one index.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// Rows the index should hold (from the database).
    pub database: usize,
    /// Documents the index holds (committed and visible).
    pub index: usize,
    /// In the database, not in the index (first 50).
    pub missing: Vec<String>,
    /// In the index, not in the database (first 50).
    pub extra: Vec<String>,
}

impl Comparison {
    fn of(db: BTreeSet<String>, index: BTreeSet<String>) -> Comparison {
        Comparison {
            database: db.len(),
            index: index.len(),
            missing: db.difference(&index).take(50).cloned().collect(),
            extra: index.difference(&db).take(50).cloned().collect(),
        }
    }

    fn same(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.database == self.index
    }
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct IndexReport {
    /// Journal positions.
    pub position: Position,
    /// Both indexes have applied and committed everything in the journal.
    pub caught_up: bool,
    /// With `?check=true`: the comparison of ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Comparison>,
    /// With `?check=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Comparison>,
    /// With `?check=true`: index == database for both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexQuery {
    #[serde(default)]
    check: Option<bool>,
}

/// Compare the indexes with the database.
pub async fn index_report(state: &AppState, check: bool) -> Result<IndexReport> {
    let position = crate::journal::position(state).await?;
    let caught_up = position.candidates_committed >= position.head
        && position.offers_committed >= position.head;
    if !check {
        return Ok(IndexReport {
            position,
            caught_up,
            candidates: None,
            offers: None,
            consistent: None,
        });
    }
    let (db_candidates, db_offers): (BTreeSet<String>, BTreeSet<String>) = {
        let mut conn = state.db.pool.acquire().await?;
        (
            crate::candidates::store::indexable_ids(&mut conn)
                .await?
                .into_iter()
                .collect(),
            crate::offers::store::all_ids(&mut conn)
                .await?
                .into_iter()
                .collect(),
        )
    };
    let search = state.search.clone();
    let (ic, io) = tokio::task::spawn_blocking(move || -> Result<_> {
        Ok((
            search
                .candidates
                .all_ids()?
                .into_iter()
                .collect::<BTreeSet<_>>(),
            search
                .offers
                .all_ids()?
                .into_iter()
                .collect::<BTreeSet<_>>(),
        ))
    })
    .await??;
    let candidates = Comparison::of(db_candidates, ic);
    let offers = Comparison::of(db_offers, io);
    let consistent = candidates.same() && offers.same();
    Ok(IndexReport {
        position,
        caught_up,
        candidates: Some(candidates),
        offers: Some(offers),
        consistent: Some(consistent),
    })
}

#[utoipa::path(get, path = "/api/v1/admin/index", tag = "admin",
    params(("check" = Option<bool>, Query, description = "Also compare the indexes' ids with the database")),
    responses((status = 200, description = "Journal position and index consistency (admins)", body = serde_json::Value)))]
async fn index_handler(
    State(state): State<AppState>,
    user: User,
    ApiQuery(q): ApiQuery<IndexQuery>,
) -> Result<Json<IndexReport>> {
    user.require(&[Role::Admin])?;
    Ok(Json(index_report(&state, q.check.unwrap_or(false)).await?))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(index_handler))]
pub(crate) struct Doc;

/// `GET /api/v1/admin/index`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/admin/index", get(index_handler))
}
