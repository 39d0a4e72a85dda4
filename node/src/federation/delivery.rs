//! Delivery: one worker per destination (in the process holding the
//! lease) sends the queued messages in signed batches, moves the peer's
//! cursor on success (parking what the peer refused for good, with its
//! outcome, in the same transaction) and backs off on failure.

use std::time::{Duration, Instant};

use rand::Rng;
use tracing::Instrument;
use vivier_protocol::{MessageStatus, NodeId, TxnBody, TxnResponse};

use super::store::{self, OutRow};
use super::{outcomes, wake};
use crate::error::{Error, Result};
use crate::server::AppState;

fn jittered(ms: i64) -> i64 {
    let j = rand::thread_rng().gen_range(0.8..1.2);
    (ms as f64 * j) as i64
}

/// The delivery supervisor: one worker per destination with messages due
/// (leader only).
pub(super) async fn supervisor(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let poll = Duration::from_millis(state.config.federation.poll_interval_ms.max(50));
    loop {
        if !state.leader.is_leader() && !state.leader.wait(&mut shutdown).await {
            return;
        }
        if *shutdown.borrow() {
            break;
        }
        match store::due_destinations(&state.db, state.clock.now_ms()).await {
            Ok(dests) => {
                let doc = state.federation.membership();
                let departed = doc
                    .as_ref()
                    .is_some_and(|doc| super::lifecycle::self_departed(&state, &doc.document));
                if departed && !dests.is_empty() {
                    // This node has left the network: what it queued since
                    // (closing its own offers, an erasure) can never be
                    // delivered; parked at once, with its outcome, rather
                    // than retried until the next document.
                    match park_departed(&state).await {
                        Ok(n) => tracing::warn!(
                            parked = n,
                            "this node is no longer an active member: queued messages parked"
                        ),
                        Err(e) => tracing::warn!(error = %e, "parking the queue failed"),
                    }
                }
                for d in dests.into_iter().filter(|_| !departed) {
                    let active = doc
                        .as_ref()
                        .and_then(|doc| {
                            NodeId::parse(&d)
                                .ok()
                                .and_then(|n| doc.document.member(&n).cloned())
                        })
                        .filter(|m| m.is_active());
                    let Some(member) = active else { continue };
                    let fresh = state
                        .federation
                        .in_flight
                        .lock()
                        .map(|mut s| s.insert(d.clone()))
                        .unwrap_or(false);
                    if fresh {
                        let st = state.clone();
                        tokio::spawn(async move {
                            let span =
                                tracing::info_span!("delivery", destination = %member.node_id);
                            deliver_to(&st, &member).instrument(span).await;
                            if let Ok(mut s) = st.federation.in_flight.lock() {
                                s.remove(member.node_id.as_str());
                            }
                            st.federation.notify.notify_one();
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "outbox scan failed"),
        }
        tokio::select! {
            _ = state.federation.notify.notified() => {},
            _ = tokio::time::sleep(poll) => {},
            _ = shutdown.changed() => {},
        }
    }
}

/// Park everything queued (`this_node_not_member`) on a node that has left
/// the network.
async fn park_departed(state: &AppState) -> Result<u64> {
    let mut tx = state.db.begin().await?;
    let n = super::outcomes::park_queued(
        state,
        &mut tx,
        None,
        super::outcomes::THIS_NODE_NOT_MEMBER,
        "this node is no longer an active member of the network",
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

async fn deliver_to(state: &AppState, member: &vivier_protocol::Member) {
    let Ok(_permit) = state.federation.semaphore.clone().acquire_owned().await else {
        return;
    };
    let dest = member.node_id.as_str().to_string();
    // The supervisor's scan may predate the failure another worker just
    // recorded for this destination (that worker left between the scan and
    // this one's start): still backing off, nothing to try, and no second
    // failure counted for one outage.
    match store::next_attempt_at(&state.db, &dest).await {
        Ok(at) if at > state.clock.now_ms() => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "reading the back-off");
            return;
        }
    }
    loop {
        if *state.shutdown.borrow() || !state.leader.is_leader() {
            return;
        }
        let batch =
            match store::next_batch(&state.db, &dest, state.config.federation.batch_size).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "loading outbox batch");
                    return;
                }
            };
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        match send_batch(state, member, &batch).await {
            Ok(resp) => {
                metrics::histogram!("vivier_delivery_seconds", "peer" => dest.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("vivier_deliveries_total", "outcome" => "ok", "peer" => dest.clone())
                    .increment(1);
                metrics::counter!("vivier_messages_delivered_total", "peer" => dest.clone())
                    .increment(batch.len() as u64);
                if let Err(e) = record_success(state, &dest, &batch, &resp).await {
                    tracing::warn!(error = %e, "recording delivery");
                    return;
                }
                tracing::debug!(messages = batch.len(), "delivered");
            }
            Err(e) => {
                metrics::counter!("vivier_deliveries_total", "outcome" => "failed", "peer" => dest.clone())
                    .increment(1);
                tracing::warn!(peer = %dest, messages = batch.len(), error = %e, "delivery failed; backing off");
                if let Err(e2) = record_failure(state, &dest, &e).await {
                    tracing::warn!(error = %e2, "recording delivery failure");
                }
                return;
            }
        }
    }
}

/// Refuse peer URLs that would let a membership document point the node at
/// arbitrary plain-HTTP hosts: HTTPS always, plain HTTP only to loopback
/// when the configuration allows it.
pub fn check_peer_url(state: &AppState, base: &str) -> Result<url::Url> {
    let url =
        url::Url::parse(base).map_err(|e| Error::Peer(format!("bad base URL {base}: {e}")))?;
    crate::demo::mode::check_peer(&state.config, base)?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback && state.config.federation.allow_loopback_http => Ok(url),
        _ => Err(Error::Peer(format!("refusing insecure peer URL {base}"))),
    }
}

/// Send a signed request to a member and return the response.
pub async fn signed_request(
    state: &AppState,
    member: &vivier_protocol::Member,
    method: reqwest::Method,
    path_and_query: &str,
    body: Vec<u8>,
) -> Result<reqwest::Response> {
    let base = check_peer_url(state, &member.base_url)?;
    let url = format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query);
    let headers = vivier_protocol::sign_request(
        method.as_str(),
        path_and_query,
        &member.node_id,
        &body,
        &state.identity.node_id,
        &state.signing_key(),
        state.clock.now_ms() / 1000,
    );
    let mut req = state.federation.client.request(method, &url);
    for (k, v) in headers.pairs() {
        req = req.header(k, v);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    req.body(body).send().await.map_err(|e| {
        if e.is_timeout() {
            Error::Peer(format!(
                "{url}: timeout: no answer within {} s",
                state.config.federation.request_timeout_secs
            ))
        } else if e.is_connect() {
            Error::Peer(format!("{url}: cannot connect: {e}"))
        } else {
            Error::Peer(format!("{url}: {e}"))
        }
    })
}

async fn send_batch(
    state: &AppState,
    member: &vivier_protocol::Member,
    batch: &[OutRow],
) -> Result<TxnResponse> {
    let (first, last) = match (batch.first(), batch.last()) {
        (Some(f), Some(l)) => (f.seq, l.seq),
        _ => return Ok(TxnResponse::default()),
    };
    let txn_id = format!("{}-{first}-{last}", state.identity.node_id);
    let body = TxnBody::encode(batch.iter().map(|r| r.body.as_str()));
    let path = format!("/federation/v1/txn/{txn_id}");
    let resp = signed_request(
        state,
        member,
        reqwest::Method::PUT,
        &path,
        body.into_bytes(),
    )
    .await?;
    let status = resp.status();
    if status.is_success() {
        resp.json::<TxnResponse>()
            .await
            .map_err(|e| Error::Peer(format!("bad txn response: {e}")))
    } else {
        let text = resp.text().await.unwrap_or_default();
        Err(Error::Peer(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        )))
    }
}

async fn record_success(
    state: &AppState,
    dest: &str,
    batch: &[OutRow],
    resp: &TxnResponse,
) -> Result<()> {
    let last = batch.last().map(|r| r.seq).unwrap_or(0);
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    for row in batch {
        let result = resp.results.get(&row.message_id);
        let refused = match result {
            Some(r) => r.status == MessageStatus::Refused,
            None => true,
        };
        if refused {
            let (code, message) = match result {
                Some(r) => (
                    r.error.clone().unwrap_or_else(|| "refused".into()),
                    r.message.clone().unwrap_or_default(),
                ),
                None => (
                    "no_result".to_string(),
                    "peer gave no result for this message".to_string(),
                ),
            };
            tracing::warn!(message_id = %row.message_id, kind = %row.kind, peer = dest, error = %code, reason = %message, "message refused by peer; parked");
            outcomes::park(
                state,
                &mut tx,
                dest,
                &row.message_id,
                &row.kind,
                &row.body,
                &code,
                &message,
            )
            .await?;
        }
    }
    store::acknowledge(&mut tx, dest, last, now).await?;
    tx.commit().await?;
    // Parked messages may have changed referrals and queued notices.
    crate::notifications::wake(state);
    crate::journal::wake(state);
    Ok(())
}

async fn record_failure(state: &AppState, dest: &str, err: &Error) -> Result<()> {
    let prev = store::backoff_ms(&state.db, dest).await?;
    let initial = state.config.federation.backoff_initial_secs.max(1) * 1000;
    let max = state.config.federation.backoff_max_secs.max(1) * 1000;
    let next = match prev {
        Some(p) if p > 0 => (p * 2).min(max),
        _ => initial.min(max),
    };
    let now = state.clock.now_ms();
    let error: String = err.to_string().chars().take(500).collect();
    store::record_failure(&state.db, dest, next, now + jittered(next), &error).await
}

/// A peer was heard from (it called us, signed): reset its back-off so
/// queued messages flow again at once.
pub(super) async fn peer_heard_from(state: &AppState, node: &str) -> Result<()> {
    if store::heard_from(&state.db, node, state.clock.now_ms()).await? {
        wake(state);
    }
    Ok(())
}
