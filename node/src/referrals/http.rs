//! The referrals' HTTP API: extract, call one service with the caller as
//! [`Actor`], answer. No access check or audit here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::model::{ListQuery, NewReferral, ReferralEvent, ReferralView, StatusInput};
use super::service::{change_status, create, events, list, read};
use crate::actor::Actor;
use crate::auth::{Reason, User};
use crate::error::{ApiJson, Result};
use crate::server::AppState;

#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = NewReferral,
    responses((status = 201, description = "The referral, sent to the offer's node (staff)", body = ReferralView)))]
async fn create_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(input): ApiJson<NewReferral>,
) -> Result<(StatusCode, Json<ReferralView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&state, &Actor::User(user), input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "Referrals the caller may see, newest first", body = crate::http::Page<ReferralView>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<ReferralView>>> {
    q.limit = Some(paging.per_page);
    q.offset = Some(paging.offset());
    let list = list(&state, &Actor::User(user), &q).await?;
    Ok(Json(crate::http::Page::new(
        list.referrals,
        list.total,
        paging,
    )))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, description = "The referral with the candidate's profile (audited)", body = ReferralView)))]
async fn get_handler(
    State(state): State<AppState>,
    user: User,
    reason: Reason,
    Path(id): Path<String>,
) -> Result<Json<ReferralView>> {
    Ok(Json(
        read(&state, &Actor::User(user), &id, reason.0.as_deref()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}/events", tag = "referrals",
    params(("id" = String, Path, description = "Referral id"), crate::http::PageParams),
    responses((status = 200, description = "Its history, oldest first", body = crate::http::Page<ReferralEvent>)))]
async fn events_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<ReferralEvent>>> {
    Ok(Json(crate::http::Page::slice(
        events(&state, &Actor::User(user), &id).await?,
        paging,
    )))
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/status", tag = "referrals", params(("id" = String, Path, description = "Referral id")),
    request_body = StatusInput,
    responses((status = 200, description = "The referral after the change", body = ReferralView)))]
async fn status_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> Result<Json<ReferralView>> {
    Ok(Json(
        change_status(&state, &Actor::User(user), &id, input).await?,
    ))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_handler,
    list_handler,
    get_handler,
    events_handler,
    status_handler
))]
pub(crate) struct Doc;

/// Routes: `/api/v1/referrals`, `/api/v1/referrals/{id}`,
/// `/api/v1/referrals/{id}/events`, `/api/v1/referrals/{id}/status`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/referrals", get(list_handler).post(create_handler))
        .route("/api/v1/referrals/{id}", get(get_handler))
        .route("/api/v1/referrals/{id}/events", get(events_handler))
        .route("/api/v1/referrals/{id}/status", post(status_handler))
}
