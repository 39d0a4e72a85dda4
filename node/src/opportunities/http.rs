//! The opportunities' HTTP API (staff only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Closing, ListQuery, OpportunityInput, StoredOpportunity};
use crate::actor::Actor;
use crate::candidates::api::Staff;
use crate::error::{ApiJson, Result};
use crate::http::ApiQuery;
use crate::server::AppState;

/// `GET /api/v1/opportunities`: trainings and immersions, local and network.
#[utoipa::path(get, path = "/api/v1/opportunities", tag = "offers",
    params(ListQuery),
    responses((status = 200, description = "Trainings and immersions, soonest first (staff)", body = serde_json::Value)))]
async fn list_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>> {
    let items = super::list(&state, &Actor::User(user), &q).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/opportunities`: publish a training or an immersion.
#[utoipa::path(post, path = "/api/v1/opportunities", tag = "offers",
    request_body = OpportunityInput,
    responses((status = 201, description = "The opportunity, broadcast to the network (audited)", body = StoredOpportunity)))]
async fn create_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(input): ApiJson<OpportunityInput>,
) -> Result<(StatusCode, Json<StoredOpportunity>)> {
    let o = super::create(&state, &Actor::User(user), input).await?;
    Ok((StatusCode::CREATED, Json(o)))
}

/// `GET /api/v1/opportunities/{id}`.
#[utoipa::path(get, path = "/api/v1/opportunities/{id}", tag = "offers",
    params(("id" = String, Path, description = "Opportunity id")),
    responses((status = 200, description = "The opportunity", body = StoredOpportunity)))]
async fn get_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<StoredOpportunity>> {
    Ok(Json(super::read(&state, &Actor::User(user), &id).await?))
}

/// `PUT /api/v1/opportunities/{id}`: replace a local open one.
#[utoipa::path(put, path = "/api/v1/opportunities/{id}", tag = "offers",
    params(("id" = String, Path, description = "Opportunity id")),
    request_body = OpportunityInput,
    responses((status = 200, description = "The updated opportunity (audited)", body = StoredOpportunity)))]
async fn update_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<OpportunityInput>,
) -> Result<Json<StoredOpportunity>> {
    Ok(Json(
        super::update(&state, &Actor::User(user), &id, input).await?,
    ))
}

/// `POST /api/v1/opportunities/{id}/close`.
#[utoipa::path(post, path = "/api/v1/opportunities/{id}/close", tag = "offers",
    params(("id" = String, Path, description = "Opportunity id")),
    request_body = Closing,
    responses((status = 200, description = "The closed opportunity (audited)", body = StoredOpportunity)))]
async fn close_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Closing>,
) -> Result<Json<StoredOpportunity>> {
    Ok(Json(
        super::close(&state, &Actor::User(user), &id, c).await?,
    ))
}

/// `GET /api/v1/candidates/{id}/opportunities`: trainings and immersions
/// for a candidate (ROME relation, travel limit).
#[utoipa::path(get, path = "/api/v1/candidates/{id}/opportunities", tag = "matching",
    params(("id" = String, Path, description = "Candidate record id")),
    responses((status = 200, description = "Open trainings and immersions related to the candidate's trades, within reach (staff, audited)", body = serde_json::Value)))]
async fn for_candidate_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let items = super::for_candidate(&state, &Actor::User(user), &id).await?;
    Ok(Json(json!({ "items": items })))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_handler,
    create_handler,
    get_handler,
    update_handler,
    close_handler,
    for_candidate_handler
))]
pub(crate) struct Doc;

/// Routes of the opportunities.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/opportunities",
            get(list_handler).post(create_handler),
        )
        .route(
            "/api/v1/opportunities/{id}",
            get(get_handler).put(update_handler),
        )
        .route("/api/v1/opportunities/{id}/close", post(close_handler))
        .route(
            "/api/v1/candidates/{id}/opportunities",
            get(for_candidate_handler),
        )
}
