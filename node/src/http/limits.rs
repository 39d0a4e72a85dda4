//! Request-level limits, applied to every route by [`crate::server::router`]:
//!
//! - **concurrency**: at most `http.max_concurrent_requests` requests are
//!   handled at once; past that the node answers 503 `overloaded` with
//!   `Retry-After` at once instead of queueing without bound;
//! - **time**: a request (reading its body included) that takes longer than
//!   `http.request_timeout_secs` is answered 408 `request_timeout`, so a
//!   client trickling its body cannot hold a slot for ever;
//! - **body size per route**: [`body_limit`] gives each route's ceiling (one
//!   table); a `Content-Length` over it is refused before anything is read,
//!   and a body that grows past it while streaming is cut off with 413.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::Error;

/// Default ceiling for request bodies (JSON documents, forms).
pub const DEFAULT_BODY_BYTES: usize = 1024 * 1024;
/// Candidate records carry up to 200,000 characters of CV text (up to six
/// bytes each once JSON-escaped).
pub const RECORD_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Shared state of the request limits.
#[derive(Clone)]
pub struct RequestLimits {
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    max_cv_bytes: usize,
}

impl RequestLimits {
    /// From the configuration.
    pub fn new(config: &crate::config::Config) -> RequestLimits {
        RequestLimits {
            in_flight: Arc::new(Semaphore::new(config.http.max_concurrent_requests.max(1))),
            timeout: Duration::from_secs(config.http.request_timeout_secs.max(1)),
            max_cv_bytes: config.uploads.max_cv_bytes,
        }
    }
}

/// The body ceiling of a route (by its pattern, as registered).
pub fn body_limit(route: &str, max_cv_bytes: usize) -> usize {
    match route {
        "/federation/v1/txn/{txn_id}" => crate::federation::MAX_TXN_BYTES,
        "/api/v1/candidates/{id}/cv" | "/ui/candidats/{id}/cv" => max_cv_bytes + 64 * 1024,
        "/api/v1/candidates" | "/api/v1/candidates/{id}" | "/ui/candidats/nouveau" => {
            RECORD_BODY_BYTES
        }
        _ => DEFAULT_BODY_BYTES,
    }
}

/// Route layer: refuse or cap the body of a request by its route's ceiling.
pub async fn limit_body(State(limits): State<RequestLimits>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let max = body_limit(&route, limits.max_cv_bytes);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > max as u64) {
        // Read (and drop) a bounded part of what the client is sending, so
        // that it gets to read the answer instead of a connection reset;
        // then the connection is closed.
        drain(req.into_body(), DRAIN_MAX_BYTES, Duration::from_secs(5)).await;
        let mut resp = Error::PayloadTooLarge(format!(
            "request body of {n} bytes is over this endpoint's limit of {max} bytes"
        ))
        .into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, max)));
    next.run(req).await
}

/// At most this much of a refused body is read before answering.
const DRAIN_MAX_BYTES: usize = 32 * 1024 * 1024;

async fn drain(body: Body, max: usize, within: Duration) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut seen = 0usize;
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len();
                if seen > max {
                    break;
                }
            }
        }
    })
    .await;
}

/// Router layer: bounded concurrency and a deadline for every request.
pub async fn guard(State(limits): State<RequestLimits>, req: Request, next: Next) -> Response {
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("vivier_requests_shed_total").increment(1);
        let mut resp = Error::Overloaded.into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            metrics::counter!("vivier_requests_timed_out_total").increment(1);
            Error::RequestTimeout(limits.timeout.as_secs()).into_response()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn body_limits_by_route() {
        let cv = 10 * 1024 * 1024;
        assert_eq!(body_limit("/api/v1/candidates", cv), RECORD_BODY_BYTES);
        assert_eq!(body_limit("/api/v1/candidates/{id}/cv", cv), cv + 64 * 1024);
        assert_eq!(
            body_limit("/federation/v1/txn/{txn_id}", cv),
            crate::federation::MAX_TXN_BYTES
        );
        assert_eq!(body_limit("/api/v1/offers", cv), DEFAULT_BODY_BYTES);
    }
}
