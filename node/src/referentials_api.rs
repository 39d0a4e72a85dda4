//! Public look-ups of the referentials (open data, no login needed): communes
//! for forms (`GET /api/v1/communes?q=`) and ROME codes suggested from what a
//! counsellor or employer types (`GET /api/v1/rome?q=cariste`), and the
//! certification referential (`GET /api/v1/certifications`: code, family,
//! French label, the codes each one implies).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::ApiQuery;
use crate::referentials::{Commune, RomeCode, RomeSuggestion};
use crate::server::AppState;

/// `?q=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// What the user typed: a name prefix, an INSEE code, a postcode, a job
    /// title or a ROME code.
    pub q: String,
    /// At most this many answers (default 10, max 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn limit(q: &LookupQuery) -> Result<usize> {
    let mut checks = crate::http::Checks::new();
    let n = checks.int(
        "limit",
        q.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        10,
        1,
        50,
    );
    checks.finish()?;
    Ok(usize::try_from(n).unwrap_or(10))
}

#[utoipa::path(get, path = "/api/v1/communes", tag = "referentials", security(()), params(LookupQuery),
    responses((status = 200, description = "Communes by name prefix, INSEE code or postcode", body = serde_json::Value)))]
async fn communes(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<Vec<Commune>>> {
    if q.q.trim().is_empty() {
        return Err(Error::field("q", "must not be empty"));
    }
    Ok(Json(
        state
            .refs
            .search_communes(&q.q, limit(&q)?)
            .into_iter()
            .cloned()
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/communes/{insee}", tag = "referentials", security(()),
    params(("insee" = String, Path, description = "INSEE commune code")),
    responses((status = 200, description = "One commune", body = serde_json::Value)))]
async fn commune(
    State(state): State<AppState>,
    Path(insee): Path<String>,
) -> Result<Json<Commune>> {
    state
        .refs
        .commune(&insee)
        .cloned()
        .map(Json)
        .ok_or(Error::NotFound("commune"))
}

#[utoipa::path(get, path = "/api/v1/rome", tag = "referentials", security(()), params(LookupQuery),
    responses((status = 200, description = "ROME codes by job title or code", body = serde_json::Value)))]
async fn rome(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<Vec<RomeSuggestion>>> {
    if q.q.trim().is_empty() {
        return Err(Error::field("q", "must not be empty"));
    }
    Ok(Json(state.refs.suggest_rome(&q.q, limit(&q)?)))
}

#[utoipa::path(get, path = "/api/v1/rome/{code}", tag = "referentials", security(()),
    params(("code" = String, Path, description = "ROME code")),
    responses((status = 200, description = "One ROME code", body = serde_json::Value)))]
async fn rome_code(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<RomeCode>> {
    state
        .refs
        .rome(&code)
        .cloned()
        .map(Json)
        .ok_or(Error::NotFound("ROME code"))
}

/// The certification referential.
#[utoipa::path(get, path = "/api/v1/certifications", tag = "referentials", security(()),
    responses((status = 200, description = "The certification referential", body = serde_json::Value)))]
async fn certifications() -> Json<&'static [crate::referentials::Certification]> {
    Json(crate::referentials::Certifications::global().all())
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(communes, commune, rome, rome_code, certifications))]
pub(crate) struct Doc;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certifications", get(certifications))
        .route("/api/v1/communes", get(communes))
        .route("/api/v1/communes/{insee}", get(commune))
        .route("/api/v1/rome", get(rome))
        .route("/api/v1/rome/{code}", get(rome_code))
}
