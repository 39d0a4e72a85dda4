//! The operator's read of a node's federation state
//! ([`vivier_protocol::OPERATOR_STATUS_PATH`]): what `vivier-admin status`
//! gathers from every member to show lag, dead letters, outbox depth and
//! membership expiry in one table.
//!
//! The request is signed (RFC 9421) by a current operator key — the keys of
//! the membership document the node holds, or of its configured trust
//! anchor before it holds one — with the reserved sender id `operator`.
//! Members' keys do not open it and the operator's keys open nothing else.
//! The answer is counts and times only, no personal data.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tracing::instrument;
use vivier_protocol::{NodeReport, OperatorKeys, PeerReport, OPERATOR_STATUS_PATH};

use super::http::header_lookup;
use super::status;
use crate::error::{Error, Result};
use crate::server::AppState;

/// Builds the report from the federation overview.
pub async fn report(state: &AppState) -> Result<NodeReport> {
    let st = status(state).await?;
    let doc = state.federation.membership();
    Ok(NodeReport {
        node_id: st.node_id,
        generated_at: state.clock.now_ms(),
        membership_serial: st.membership_serial,
        membership_expires_at: doc.map(|d| d.document.expires_at),
        log_head: st.log_head,
        outbox_depth: st.peers.iter().map(|p| p.outbox_depth).sum(),
        dead_letters: st.dead_letters,
        peers: st
            .peers
            .into_iter()
            .map(|p| PeerReport {
                backoff_until: (p.next_attempt_at > 0 && p.failures > 0)
                    .then_some(p.next_attempt_at),
                node_id: p.node_id,
                outbox_depth: p.outbox_depth,
                oldest_queued_at: p.oldest_queued_at,
                dead_letters: p.dead_letters,
                failures: p.failures,
                last_contact_at: p.last_contact_at,
                log_cursor: p.log_cursor,
                last_error: p.last_error,
            })
            .collect(),
    })
}

/// `GET /federation/v1/operator/status`, operator-signed.
#[instrument(skip_all)]
pub(super) async fn status_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<NodeReport>> {
    let target = uri
        .path_and_query()
        .map_or(OPERATOR_STATUS_PATH, |p| p.as_str());
    let lookup = header_lookup(&headers);
    let now_s = state.clock.now_ms() / 1000;
    let skew = state.config.federation.max_clock_skew_secs;
    let trust = state.federation.trust();
    let signer = vivier_protocol::verify_request(
        "GET",
        target,
        &lookup,
        b"",
        &state.identity.node_id,
        &OperatorKeys(&trust.operator_keys),
        now_s,
        skew,
    )
    .map_err(|e| {
        metrics::counter!("vivier_requests_refused_total", "reason" => e.kind(), "sender" => "operator")
            .increment(1);
        tracing::warn!(reason = e.kind(), error = %e, "operator status request refused");
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
    Ok(Json(report(&state).await?))
}
