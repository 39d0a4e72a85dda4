//! The network search's adapters: the users' API (`/api/v1/network-searches`,
//! `/api/v1/network-interests`) and the signed node-to-node endpoints
//! ([`vivier_protocol::NETWORK_SEARCH_PATH`] and the interest paths).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use vivier_protocol::{
    InterestRequest, InterestUpdate, NetworkQuery, NETWORK_INTEREST_PATH,
    NETWORK_INTEREST_UPDATE_PATH, NETWORK_SEARCH_PATH,
};

use super::interest::{self, AcceptInput, InterestInput};
use super::{store, SearchInput, SearchView};
use crate::actor::Actor;
use crate::auth::User;
use crate::candidates::api::Staff;
use crate::error::{ApiJson, Error, Result};
use crate::server::AppState;

/// `POST /api/v1/network-searches`.
#[utoipa::path(post, path = "/api/v1/network-searches", tag = "network",
    request_body = SearchInput,
    responses((status = 200, description = "The search, with the answers that arrived by the deadline (counsellors, employers)", body = SearchView),
              (status = 400, description = "Not specific enough (`query_not_specific`, `radius_too_large`) or invalid"),
              (status = 429, description = "Quota (`user_quota_exceeded`, `node_quota_exceeded`)")))]
async fn ask_handler(
    State(state): State<AppState>,
    user: User,
    ApiJson(input): ApiJson<SearchInput>,
) -> Result<Json<SearchView>> {
    Ok(Json(super::ask(&state, &Actor::User(user), input).await?))
}

/// `GET /api/v1/network-searches`.
#[utoipa::path(get, path = "/api/v1/network-searches", tag = "network",
    responses((status = 200, description = "The caller's last searches", body = serde_json::Value)))]
async fn list_handler(State(state): State<AppState>, user: User) -> Result<Json<Value>> {
    let items = super::list(&state, &Actor::User(user)).await?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/network-searches/{id}`.
#[utoipa::path(get, path = "/api/v1/network-searches/{id}", tag = "network",
    params(("id" = String, Path, description = "Search id")),
    responses((status = 200, description = "The search with the answers stored so far, merged and ranked (its author only)", body = SearchView)))]
async fn get_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Json<SearchView>> {
    Ok(Json(super::view(&state, &Actor::User(user), &id).await?))
}

/// `POST /api/v1/network-searches/{id}/interests`.
#[utoipa::path(post, path = "/api/v1/network-searches/{id}/interests", tag = "network",
    params(("id" = String, Path, description = "Search id")),
    request_body = InterestInput,
    responses((status = 201, description = "The interest, sent to the home node", body = store::SentInterest)))]
async fn interest_handler(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<InterestInput>,
) -> Result<(StatusCode, Json<store::SentInterest>)> {
    let sent = interest::send(&state, &Actor::User(user), &id, input).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// `?status=pending`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReceivedQuery {
    /// `pending` for the open ones only.
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /api/v1/network-interests`.
#[utoipa::path(get, path = "/api/v1/network-interests", tag = "network",
    params(ReceivedQuery),
    responses((status = 200, description = "Interests of other members in people followed here (staff)", body = serde_json::Value)))]
async fn received_handler(
    State(state): State<AppState>,
    Staff(_): Staff,
    crate::http::ApiQuery(q): crate::http::ApiQuery<ReceivedQuery>,
) -> Result<Json<Value>> {
    let pending = match q.status.as_deref() {
        None => false,
        Some("pending") => true,
        Some(_) => return Err(Error::field("status", "only `pending`")),
    };
    let items = store::received_list(&state.db, pending, 200).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/network-interests/{id}/decline`.
#[utoipa::path(post, path = "/api/v1/network-interests/{id}/decline", tag = "network",
    params(("id" = String, Path, description = "Interest id (this node's)")),
    responses((status = 200, description = "Declined; the asker is told « non disponible » only", body = store::ReceivedInterest)))]
async fn decline_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
) -> Result<Json<store::ReceivedInterest>> {
    Ok(Json(
        interest::decline(&state, &Actor::User(user), &id).await?,
    ))
}

/// `POST /api/v1/network-interests/{id}/accept`.
#[utoipa::path(post, path = "/api/v1/network-interests/{id}/accept", tag = "network",
    params(("id" = String, Path, description = "Interest id (this node's)")),
    request_body = AcceptInput,
    responses((status = 200, description = "Accepted: a co-opted referral was sent to the asker's offer", body = store::ReceivedInterest)))]
async fn accept_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AcceptInput>,
) -> Result<Json<store::ReceivedInterest>> {
    Ok(Json(
        interest::accept(&state, &Actor::User(user), &id, input).await?,
    ))
}

/// `PUT /api/v1/candidates/{id}/network-summary` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryInput {
    /// The approved summary (at most 280 characters); null or empty
    /// removes it.
    #[serde(default)]
    pub summary: Option<String>,
}

/// `PUT /api/v1/candidates/{id}/network-summary`.
#[utoipa::path(put, path = "/api/v1/candidates/{id}/network-summary", tag = "network",
    params(("id" = String, Path, description = "Candidate record id")),
    request_body = SummaryInput,
    responses((status = 200, description = "The summary shown to the network's searches (staff, audited)", body = serde_json::Value)))]
async fn summary_handler(
    State(state): State<AppState>,
    Staff(user): Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SummaryInput>,
) -> Result<Json<Value>> {
    let actor = Actor::User(user);
    let summary = super::set_summary(&state, &actor, &id, input.summary).await?;
    Ok(Json(json!({ "candidate_id": id, "summary": summary })))
}

// ---------------------------------------------------------------------------
// Node to node

async fn signed_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(vivier_protocol::NodeId, T)> {
    let origin = crate::federation::authenticate(state, "POST", path, headers, body).await?;
    let value = serde_json::from_slice(body).map_err(|e| Error::Invalid {
        code: "invalid_payload",
        field: "body".into(),
        message: e.to_string(),
    })?;
    Ok((origin, value))
}

/// A signed network query as it arrives (`POST`
/// [`NETWORK_SEARCH_PATH`]): the signature checked once, then
/// [`super::answer`]. The peer route's handler, and what a benchmark of
/// many in-process nodes calls.
pub async fn answer_signed(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<vivier_protocol::NetworkAnswer> {
    let (origin, q) =
        signed_json::<NetworkQuery>(state, NETWORK_SEARCH_PATH, headers, body).await?;
    super::answer(state, &origin, q).await
}

async fn search_peer_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    Ok(Json(answer_signed(&state, &headers, &body).await?).into_response())
}

async fn interest_peer_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let (origin, req) =
        signed_json::<InterestRequest>(&state, NETWORK_INTEREST_PATH, &headers, &body).await?;
    let receipt = interest::receive(&state, &origin, req).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)).into_response())
}

async fn update_peer_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let (origin, u) =
        signed_json::<InterestUpdate>(&state, NETWORK_INTEREST_UPDATE_PATH, &headers, &body)
            .await?;
    interest::receive_update(&state, &origin, u).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    ask_handler,
    list_handler,
    get_handler,
    interest_handler,
    received_handler,
    decline_handler,
    accept_handler,
    summary_handler
))]
pub(crate) struct Doc;

/// The users' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/network-searches",
            post(ask_handler).get(list_handler),
        )
        .route("/api/v1/network-searches/{id}", get(get_handler))
        .route(
            "/api/v1/network-searches/{id}/interests",
            post(interest_handler),
        )
        .route("/api/v1/network-interests", get(received_handler))
        .route(
            "/api/v1/network-interests/{id}/decline",
            post(decline_handler),
        )
        .route(
            "/api/v1/network-interests/{id}/accept",
            post(accept_handler),
        )
        .route(
            "/api/v1/candidates/{id}/network-summary",
            put(summary_handler),
        )
}

/// The node-to-node routes (merged under the federation's address rate
/// limit and body limit).
pub fn peer_routes() -> Router<AppState> {
    Router::new()
        .route(NETWORK_SEARCH_PATH, post(search_peer_handler))
        .route(NETWORK_INTEREST_PATH, post(interest_peer_handler))
        .route(NETWORK_INTEREST_UPDATE_PATH, post(update_peer_handler))
}
