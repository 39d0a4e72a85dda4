//! The aids' HTTP API (staff only): the configured schemes, a candidate's
//! placements with their aids, and moving an aid's file.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{store, AidState};
use crate::actor::Actor;
use crate::candidates::api::Staff;
use crate::error::{ApiJson, Result};
use crate::server::AppState;

/// `POST /api/v1/placements/{id}/aids/{code}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AidChange {
    /// The new state: `requested`, `granted`, `paid`, `refused`, or `none`
    /// (a request withdrawn).
    pub state: AidState,
}

/// `GET /api/v1/aids`: the schemes this node follows.
#[utoipa::path(get, path = "/api/v1/aids", tag = "candidates",
    responses((status = 200, description = "The hiring-aid schemes this node follows (staff)", body = serde_json::Value)))]
async fn schemes_handler(State(state): State<AppState>, Staff(_): Staff) -> Json<Value> {
    Json(json!({ "items": state.config.aids }))
}

/// `GET /api/v1/candidates/{id}/placements`: the candidate's returns to
/// work recorded here, each with every scheme's verdict and file.
#[utoipa::path(get, path = "/api/v1/candidates/{id}/placements", tag = "candidates",
    params(("id" = String, Path, description = "Candidate record id")),
    responses((status = 200, description = "The person's returns to work with each scheme's verdict and file", body = serde_json::Value)))]
async fn placements_handler(
    State(state): State<AppState>,
    Staff(_): Staff,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    crate::candidates::ensure_exists(&state.db, &id).await?;
    let items = store::for_candidate(&state.db, &state.config.aids, &id).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/placements/{id}/aids/{code}`: move an aid's file.
#[utoipa::path(post, path = "/api/v1/placements/{id}/aids/{code}", tag = "candidates",
    params(("id" = String, Path, description = "Placement id"), ("code" = String, Path, description = "Aid scheme code")),
    request_body = AidChange,
    responses((status = 200, description = "The aid's file after the change (audited)", body = serde_json::Value)))]
async fn change_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path((id, code)): Path<(String, String)>,
    ApiJson(change): ApiJson<AidChange>,
) -> Result<Json<store::PlacementAid>> {
    Ok(Json(
        super::set_state(&state, &Actor::User(user), &id, &code, change.state).await?,
    ))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(schemes_handler, placements_handler, change_handler))]
pub(crate) struct Doc;

/// Routes of the aids.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/aids", get(schemes_handler))
        .route(
            "/api/v1/candidates/{id}/placements",
            get(placements_handler),
        )
        .route("/api/v1/placements/{id}/aids/{code}", post(change_handler))
}
