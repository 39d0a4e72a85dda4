//! The programmes' HTTP API (staff only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Closing, Enrolment, NewEnrolment};
use crate::actor::Actor;
use crate::candidates::api::Staff;
use crate::error::{ApiJson, Result};
use crate::server::AppState;

/// `GET /api/v1/programmes`: the programmes this node runs.
#[utoipa::path(get, path = "/api/v1/programmes", tag = "candidates",
    responses((status = 200, description = "The programmes this node runs (staff)", body = serde_json::Value)))]
async fn programmes_handler(State(state): State<AppState>, Staff(_): Staff) -> Json<Value> {
    Json(json!({ "items": state.config.programmes }))
}

/// `GET /api/v1/candidates/{id}/programmes`: the person's enrolments.
#[utoipa::path(get, path = "/api/v1/candidates/{id}/programmes", tag = "candidates",
    params(("id" = String, Path, description = "Candidate record id")),
    responses((status = 200, description = "The person's enrolments", body = serde_json::Value)))]
async fn list_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let items = super::of_candidate(&state, &Actor::User(user), &id).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/candidates/{id}/programmes`: enrol the person.
#[utoipa::path(post, path = "/api/v1/candidates/{id}/programmes", tag = "candidates",
    params(("id" = String, Path, description = "Candidate record id")),
    request_body = NewEnrolment,
    responses((status = 201, description = "The enrolment (audited)", body = serde_json::Value)))]
async fn enrol_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewEnrolment>,
) -> Result<(StatusCode, Json<Enrolment>)> {
    let e = super::enrol(&state, &Actor::User(user), &id, input).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// `POST /api/v1/enrolments/{id}/renew`.
#[utoipa::path(post, path = "/api/v1/enrolments/{id}/renew", tag = "candidates",
    params(("id" = String, Path, description = "Enrolment id")),
    responses((status = 200, description = "The renewed enrolment (audited)", body = serde_json::Value)))]
async fn renew_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<Enrolment>> {
    Ok(Json(super::renew(&state, &Actor::User(user), &id).await?))
}

/// `POST /api/v1/enrolments/{id}/close`: `{status, outcome}`.
#[utoipa::path(post, path = "/api/v1/enrolments/{id}/close", tag = "candidates",
    params(("id" = String, Path, description = "Enrolment id")),
    request_body = Closing,
    responses((status = 200, description = "The closed enrolment (audited)", body = serde_json::Value)))]
async fn close_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Closing>,
) -> Result<Json<Enrolment>> {
    Ok(Json(
        super::close(&state, &Actor::User(user), &id, c).await?,
    ))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    programmes_handler,
    list_handler,
    enrol_handler,
    renew_handler,
    close_handler
))]
pub(crate) struct Doc;

/// Routes of the programmes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/programmes", get(programmes_handler))
        .route(
            "/api/v1/candidates/{id}/programmes",
            get(list_handler).post(enrol_handler),
        )
        .route("/api/v1/enrolments/{id}/renew", post(renew_handler))
        .route("/api/v1/enrolments/{id}/close", post(close_handler))
}
