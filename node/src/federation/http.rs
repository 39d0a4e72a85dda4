//! The federation's HTTP adapters: the node-to-node routes (signed txn,
//! catch-up log, membership, operator status), the admin API (status, dead
//! letters, retry: extract, call the service in [`super::admin`], answer)
//! and `/metrics`. Request authentication ([`authenticate`]) is here too:
//! it is transport, shared with the network search's signed routes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::Instrument;
use vivier_protocol::{LogPage, NodeId, TxnBody, MAX_TXN_MESSAGES};

use super::admin::{
    dead_letters_page, dismiss, retry, status, status_for, DeadLetter, FederationStatus,
};
use super::membership::{accept_membership, MembershipAccepted};
use super::{inbox, limits, operator, receive, refusals, store, with_resolver, MAX_TXN_BYTES};
use crate::actor::Actor;
use crate::auth::User;
use crate::error::{Error, Result};
use crate::http::ApiQuery;
use crate::server::AppState;

pub(super) fn header_lookup(headers: &HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The member a refused request claims to come from (its `keyid`), for
/// metrics and logs: only names the membership document knows, so a
/// stranger cannot create label values; `unknown` otherwise.
fn claimed_member(state: &AppState, headers: &HeaderMap) -> String {
    let claimed = headers
        .get("signature-input")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("keyid=\"").nth(1))
        .and_then(|v| v.split('/').next())
        .and_then(|n| NodeId::parse(n).ok());
    match (claimed, state.federation.membership()) {
        (Some(n), Some(doc)) if doc.document.member(&n).is_some() => n.to_string(),
        _ => "unknown".into(),
    }
}

/// Authenticate a federation request: the RFC 9421 signature against the
/// membership document, then the nonce, then the verified peer's rate
/// limit (the client address was charged before the body was read, see
/// [`limits`]; a signer's claim costs the claimed node nothing).
pub(crate) async fn authenticate(
    state: &AppState,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<NodeId> {
    let lookup = header_lookup(headers);
    let now_s = state.clock.now_ms() / 1000;
    let skew = state.config.federation.max_clock_skew_secs;
    let signer = with_resolver(state, |r| {
        vivier_protocol::verify_request(
            method,
            path_and_query,
            &lookup,
            body,
            &state.identity.node_id,
            r,
            now_s,
            skew,
        )
    })
    .map_err(|e| {
        let sender = claimed_member(state, headers);
        metrics::counter!("vivier_requests_refused_total", "reason" => e.kind(), "sender" => sender.clone())
            .increment(1);
        tracing::warn!(sender = %sender, reason = e.kind(), error = %e, "federation request refused");
        Error::Federation {
            status: StatusCode::UNAUTHORIZED,
            code: e.kind(),
            message: e.to_string(),
        }
    })?;
    if !state.federation.fresh_nonce(&signer.nonce, now_s, skew) {
        return Err(Error::Federation {
            status: StatusCode::UNAUTHORIZED,
            code: "replayed_request",
            message: "request nonce already used".into(),
        });
    }
    if !state.federation.limits.allow_peer(signer.node.as_str()) {
        metrics::counter!("vivier_requests_rate_limited_total", "stage" => "peer").increment(1);
        return Err(Error::TooManyRequests);
    }
    let _ = super::delivery::peer_heard_from(state, signer.node.as_str()).await;
    Ok(signer.node)
}

async fn txn_handler(
    State(state): State<AppState>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let path = format!("/federation/v1/txn/{txn_id}");
    let origin = authenticate(&state, "PUT", &path, &headers, &body).await?;
    let span = tracing::info_span!("inbox", origin = %origin, txn_id = %txn_id);
    async move {
        if txn_id.is_empty() || txn_id.len() > 128 {
            return Err(Error::field("txn_id", "must be 1 to 128 characters"));
        }
        let stored = store::txn_answer(&state.db, origin.as_str(), &txn_id)
            .await
            .map_err(refusals::unavailable_if_transient)?;
        if let Some(resp) = stored {
            return Ok(([("content-type", "application/json")], resp).into_response());
        }
        if crate::journal::too_far_behind(&state) {
            metrics::counter!("vivier_requests_refused_total", "reason" => refusals::INDEX_BEHIND, "sender" => origin.to_string())
                .increment(1);
            return Err(refusals::index_behind(state.follower.backlog()));
        }
        let parsed: TxnBody<'_> = serde_json::from_slice(&body).map_err(|e| {
            Error::BadRequest(format!("txn body: expected {{\"messages\": [...]}}: {e}"))
        })?;
        if parsed.messages.len() > MAX_TXN_MESSAGES {
            return Err(Error::field(
                "messages",
                "at most 50 messages per transaction",
            ));
        }
        if state.config.federation.inbox_bulk {
            // The answer is recorded in the batch's own transaction.
            let raws = parsed
                .messages
                .iter()
                .map(|m| m.get().as_bytes().to_vec())
                .collect();
            let answer = inbox::receive(&state, raws, Some((origin, txn_id))).await?;
            let text = answer.text.unwrap_or_default();
            return Ok(([("content-type", "application/json")], text).into_response());
        }
        let raws: Vec<&[u8]> = parsed.messages.iter().map(|m| m.get().as_bytes()).collect();
        let results = receive::process_one_by_one(&state, &raws).await?;
        let text = receive::txn_answer(results)?;
        let recorded = async {
            let mut conn = state.db.pool.acquire().await?;
            store::record_txn_answer(
                &mut conn,
                origin.as_str(),
                &txn_id,
                &text,
                state.clock.now_ms(),
            )
            .await
        };
        recorded.await.map_err(refusals::unavailable_if_transient)?;
        Ok(([("content-type", "application/json")], text).into_response())
    }
    .instrument(span)
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn log_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Response> {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    authenticate(&state, "GET", &pq, &headers, b"").await?;
    let mut checks = crate::http::Checks::new();
    let after = checks.int("after", q.after, 0, 0, i64::MAX);
    let limit = checks.int("limit", q.limit, 200, 1, 1000);
    checks.finish()?;
    let rows = store::log_after(&state.db, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let mut messages = Vec::new();
    let mut last_seq = after;
    for r in rows.into_iter().take(limit as usize) {
        last_seq = r.seq;
        messages.push(RawValue::from_string(r.body).map_err(|e| Error::Internal(e.into()))?);
    }
    Ok(Json(LogPage {
        messages,
        last_seq,
        more,
    })
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/federation/status", tag = "admin",
    responses((status = 200, description = "Membership, queues and peers (admins)", body = serde_json::Value)))]
async fn status_handler(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<FederationStatus>> {
    Ok(Json(status_for(&state, &Actor::User(user)).await?))
}

#[utoipa::path(get, path = "/api/v1/federation/dead-letters", tag = "admin", params(crate::http::PageParams),
    responses((status = 200, description = "Parked messages, oldest first (admins)", body = crate::http::Page<DeadLetter>)))]
async fn dead_letters_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<DeadLetter>>> {
    Ok(Json(
        dead_letters_page(&state, &Actor::User(user), paging).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/federation/dead-letters/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "Dead letter id")),
    responses((status = 202, description = "Back in the outbox")))]
async fn retry_dead_letter(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    retry(&state, &Actor::User(user), id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(delete, path = "/api/v1/federation/dead-letters/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Dead letter id")),
    responses((status = 204, description = "Dismissed: its outcome stands (audited)")))]
async fn dismiss_dead_letter(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    dismiss(&state, &Actor::User(user), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

static PROMETHEUS: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
    std::sync::OnceLock::new();

fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            // Delivery latency as a histogram (buckets in seconds, from a
            // loopback answer to the 30 s timeout): what the dashboard's
            // `histogram_quantile` over `_bucket` reads.
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("vivier_delivery_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ],
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// OpenAPI paths of the `/api/v1/federation…` routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    status_handler,
    dead_letters_handler,
    retry_dead_letter,
    dismiss_dead_letter
))]
pub(crate) struct Doc;

/// Install the Prometheus recorder (idempotent).
pub fn init_metrics() {
    let _ = prometheus();
}

/// `GET /metrics`: Prometheus text. Scraped with the bearer secret
/// `[federation] metrics_token` (no user account needed), or read by an
/// admin user. The federation gauges are refreshed from the store at each
/// scrape.
async fn metrics_handler(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> Result<Response> {
    let (mut parts, _) = req.into_parts();
    let scraper = match (
        &state.config.federation.metrics_token,
        parts.headers.get("authorization"),
    ) {
        (Some(secret), Some(h)) => h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| {
                use subtle::ConstantTimeEq;
                t.as_bytes().ct_eq(secret.as_bytes()).into()
            }),
        _ => false,
    };
    // The scraper holds the configured secret; anyone else reads the
    // overview as a user, which the service grants to admins only.
    let st = if scraper {
        status(&state).await?
    } else {
        let user = <User as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await?;
        status_for(&state, &Actor::User(user)).await?
    };
    refresh_gauges(&state, &st);
    let text = prometheus().map(|h| h.render()).unwrap_or_default();
    Ok(([("content-type", "text/plain; version=0.0.4")], text).into_response())
}

/// Per-peer and membership gauges, from the overview just read.
fn refresh_gauges(state: &AppState, st: &FederationStatus) {
    for p in &st.peers {
        let peer = p.node_id.clone();
        metrics::gauge!("vivier_peer_outbox_depth", "peer" => peer.clone())
            .set(p.outbox_depth as f64);
        metrics::gauge!("vivier_peer_failures", "peer" => peer.clone()).set(p.failures as f64);
        metrics::gauge!("vivier_peer_backoff_until_seconds", "peer" => peer.clone())
            .set((p.next_attempt_at / 1000) as f64);
        metrics::gauge!("vivier_peer_last_contact_seconds", "peer" => peer.clone())
            .set(p.last_contact_at.map(|t| t / 1000).unwrap_or(0) as f64);
        metrics::gauge!("vivier_peer_last_success_seconds", "peer" => peer)
            .set(p.last_success_at.map(|t| t / 1000).unwrap_or(0) as f64);
    }
    metrics::gauge!("vivier_dead_letters").set(st.dead_letters as f64);
    metrics::gauge!("vivier_leader").set(if st.leader { 1.0 } else { 0.0 });
    if let Some(doc) = state.federation.membership() {
        metrics::gauge!("vivier_membership_serial").set(doc.document.serial as f64);
        metrics::gauge!("vivier_membership_expires_in_seconds")
            .set(((doc.document.expires_at - state.clock.now_ms()) / 1000) as f64);
        metrics::gauge!("vivier_member_active").set(
            if super::lifecycle::self_active(state, &doc.document) {
                1.0
            } else {
                0.0
            },
        );
    }
}

async fn get_membership(State(state): State<AppState>) -> Result<Response> {
    let doc = state
        .federation
        .membership()
        .ok_or(Error::NotFound("membership document"))?;
    let bytes = doc
        .to_bytes()
        .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
    Ok(([("content-type", "application/json")], bytes).into_response())
}

/// Anyone may push a document (it is verified against the operator keys),
/// but not fast: rate-limited per client address before the body is read
/// ([`limits::limit_by_address`]).
async fn post_membership(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<MembershipAccepted>> {
    Ok(Json(accept_membership(&state, &body, "push").await?))
}

/// Federation routes (node-to-node and admin). The node-to-node routes are
/// rate-limited per client address before their body is read.
pub fn routes(state: &AppState) -> Router<AppState> {
    init_metrics();
    Router::new()
        .route("/federation/v1/txn/{txn_id}", put(txn_handler))
        .route("/federation/v1/log", get(log_handler))
        .route(
            vivier_protocol::OPERATOR_STATUS_PATH,
            get(operator::status_handler),
        )
        .route(
            "/federation/v1/membership",
            get(get_membership).post(post_membership),
        )
        .merge(crate::netsearch::http::peer_routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_TXN_BYTES))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_by_address,
        ))
        .route("/api/v1/federation/status", get(status_handler))
        .route("/api/v1/federation/dead-letters", get(dead_letters_handler))
        .route(
            "/api/v1/federation/dead-letters/{id}/retry",
            post(retry_dead_letter),
        )
        .route(
            "/api/v1/federation/dead-letters/{id}",
            axum::routing::delete(dismiss_dead_letter),
        )
        .route("/metrics", get(metrics_handler))
}
