//! The programmes' HTTP API (staff only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Closing, Enrolment, NewEnrolment};
use crate::actor::Actor;
use crate::candidates::api::Staff;
use crate::error::{ApiJson, Error, Result};
use crate::server::AppState;

/// `GET /api/v1/programmes`: the programmes this node runs.
async fn programmes_handler(State(state): State<AppState>, Staff(_): Staff) -> Json<Value> {
    Json(json!({ "items": state.config.programmes }))
}

/// `GET /api/v1/candidates/{id}/programmes`: the person's enrolments.
async fn list_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    if crate::candidates::get_candidate(&state.db, &id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("candidate"));
    }
    let items = super::of_candidate(&state, &Actor::User(user), &id).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/candidates/{id}/programmes`: enrol the person.
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
async fn renew_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<Enrolment>> {
    Ok(Json(super::renew(&state, &Actor::User(user), &id).await?))
}

/// `POST /api/v1/enrolments/{id}/close`: `{status, outcome}`.
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
