//! The offers' HTTP API: extract, call one service with the caller as
//! [`Actor`], answer. No access check or audit here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::job_posting;
use super::model::{ListQuery, OfferDetail, OfferHit, OfferInput, SearchParams, StoredOffer};
use super::query::search_offers_as;
use super::service::{
    close_offer, create_offer, delivery_refusals, get_offer, list_offers, update_offer,
};
use crate::actor::Actor;
use crate::auth::User;
use crate::error::{ApiJson, Error, Result};
use crate::http::ApiQuery;
use crate::server::AppState;

#[utoipa::path(post, path = "/api/v1/offers", tag = "offers", request_body = OfferInput,
    responses((status = 201, description = "The new offer, broadcast to the network", body = StoredOffer)))]
async fn create_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(input): ApiJson<OfferInput>,
) -> Result<(StatusCode, Json<StoredOffer>)> {
    let offer = create_offer(&state, &Actor::User(user), &input).await?;
    Ok((StatusCode::CREATED, Json(offer)))
}

#[utoipa::path(get, path = "/api/v1/offers/{id}", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    responses((status = 200, description = "The offer and the members that refused it", body = OfferDetail)))]
async fn get_handler(
    State(state): State<AppState>,
    _user: User,
    Path(id): Path<String>,
) -> Result<Json<OfferDetail>> {
    let offer = get_offer(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    let delivery_refusals = if offer.is_local {
        delivery_refusals(&state.db, &id).await?
    } else {
        Vec::new()
    };
    Ok(Json(OfferDetail {
        offer,
        delivery_refusals,
    }))
}

#[utoipa::path(put, path = "/api/v1/offers/{id}", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    request_body = OfferInput,
    responses((status = 200, description = "The offer after the change, broadcast", body = StoredOffer)))]
async fn update_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<OfferInput>,
) -> Result<Json<StoredOffer>> {
    let offer = update_offer(&state, &Actor::User(user), &id, &input).await?;
    Ok(Json(offer))
}

/// `?reason=` of DELETE.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CloseQuery {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/offers/{id}", tag = "offers",
    params(("id" = String, Path, description = "Offer id"), CloseQuery),
    responses((status = 200, description = "The closed offer", body = StoredOffer)))]
async fn close_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CloseQuery>,
) -> Result<Json<StoredOffer>> {
    let reason = q
        .reason
        .map(|r| r.chars().take(500).collect::<String>())
        .filter(|r| !r.trim().is_empty());
    let offer = close_offer(&state, &Actor::User(user), &id, reason).await?;
    Ok(Json(offer))
}

#[utoipa::path(get, path = "/api/v1/offers", tag = "offers", params(crate::http::PageParams, ListQuery),
    responses((status = 200, description = "Offers, most recently updated first", body = crate::http::Page<StoredOffer>)))]
async fn list_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut q): crate::http::Paged<ListQuery>,
) -> Result<Json<crate::http::Page<StoredOffer>>> {
    q.limit = Some(paging.per_page);
    q.offset = Some(paging.offset());
    let list = list_offers(&state.db, &Actor::User(user), &q).await?;
    Ok(Json(crate::http::Page::new(
        list.offers,
        list.total,
        paging,
    )))
}

#[utoipa::path(get, path = "/api/v1/offers/search", tag = "offers", params(SearchParams, crate::http::PageParams),
    responses((status = 200, description = "Offers matching, with facets", body = OfferSearchPage)))]
async fn search_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, mut p): crate::http::Paged<SearchParams>,
) -> Result<Json<OfferSearchPage>> {
    p.limit = usize::try_from(paging.per_page).ok();
    p.offset = usize::try_from(paging.offset()).ok();
    let results = search_offers_as(&state, &Actor::User(user), &p, None).await?;
    Ok(Json(OfferSearchPage {
        page: crate::http::Page::new(
            results.hits,
            i64::try_from(results.total).unwrap_or(i64::MAX),
            paging,
        ),
        facets: OfferFacets {
            rome: results.facets,
        },
    }))
}

/// `GET /api/v1/offers/search`: the list envelope and the facets of every
/// match (not only this page's).
#[derive(Serialize, utoipa::ToSchema)]
struct OfferSearchPage {
    #[serde(flatten)]
    page: crate::http::Page<OfferHit>,
    facets: OfferFacets,
}

/// Counts over every match.
#[derive(Serialize, utoipa::ToSchema)]
struct OfferFacets {
    /// Matches per ROME code.
    rome: std::collections::BTreeMap<String, u64>,
}

#[utoipa::path(get, path = "/api/v1/offers/{id}/jobposting", tag = "offers", params(("id" = String, Path, description = "Offer id")),
    responses((status = 200, description = "schema.org JobPosting", content_type = "application/ld+json", body = serde_json::Value)))]
async fn jobposting_handler(
    State(state): State<AppState>,
    _user: User,
    Path(id): Path<String>,
) -> Result<Response> {
    let offer = get_offer(&state.db, &id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    // Meant to be pasted into a `<script type="application/ld+json">`: no
    // `<`, `>` or `&` appears literally, so `</script>` cannot end it early.
    let body = crate::util::json_for_html(&job_posting(state.refs, &offer))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/ld+json")],
        body,
    )
        .into_response())
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_handler,
    get_handler,
    update_handler,
    close_handler,
    list_handler,
    search_handler,
    jobposting_handler
))]
pub(crate) struct Doc;

/// Routes of the offers API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/offers", get(list_handler).post(create_handler))
        .route("/api/v1/offers/search", get(search_handler))
        .route(
            "/api/v1/offers/{id}",
            get(get_handler).put(update_handler).delete(close_handler),
        )
        .route("/api/v1/offers/{id}/jobposting", get(jobposting_handler))
}
