//! Federation: membership, durable delivery (outbox → signed
//! `PUT /federation/v1/txn/{id}`), the inbox, the catch-up log and the
//! administration of all three.
//!
//! Delivery guarantees:
//! - every emitted message is first written to the `outbox` in the same
//!   transaction as the change that caused it (broadcasts also to the
//!   `broadcast_log`, which peers read to catch up);
//! - one worker per destination sends batches of up to `batch_size`
//!   messages, keeps a persisted cursor (`peers.acked_seq`), backs off on
//!   transient failures (doubling with jitter, capped, persisted, never
//!   giving up) and parks a message refused by the peer in `dead_letters`
//!   so the queue keeps moving;
//! - the inbox checks the request signature before anything else, verifies
//!   every envelope against the membership document, refuses replays with
//!   a unique key, and answers 2xx only after the batch is committed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::{Any, Row, Transaction};
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;
use vivier_protocol::{
    KeyId, KeyResolver, LogPage, MessageKind, MessageResult, MessageStatus, NodeId, OperatorKey,
    Payload, PublicKey, Recipient, SignedMembershipDocument, Trust, TrustAnchor, TxnBody,
    TxnResponse, VerifiedMessage, VerifyError, VerifyOptions, MAX_TXN_MESSAGES,
};

use crate::auth::{Role, User};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::ApiQuery;
use crate::server::AppState;
use crate::util::now_ms;

mod inbox;
mod lifecycle;
mod limits;
mod operator;
pub mod outcomes;
mod refusals;

pub use lifecycle::{ensure_member, purge_due as purge_departed_due, Departures};
pub use limits::Limits;
pub use refusals::{invalid_payload, Disposition, STORE_UNAVAILABLE};

/// Largest accepted federation request body (50 messages of 256 KiB, plus
/// framing).
pub const MAX_TXN_BYTES: usize = 14 * 1024 * 1024;

/// Shared federation state of a node.
pub struct Federation {
    membership: RwLock<Option<Arc<SignedMembershipDocument>>>,
    anchor: TrustAnchor,
    notify: Arc<Notify>,
    client: reqwest::Client,
    nonces: Mutex<HashMap<String, i64>>,
    limits: Limits,
    in_flight: Mutex<HashSet<String>>,
    semaphore: Arc<Semaphore>,
    catch_up_now: Arc<Notify>,
    /// The inbox's group commit.
    inbox: inbox::GroupCommit,
}

/// A resolver used before any membership document is held: nobody is known.
struct NoMembers;

impl KeyResolver for NoMembers {
    fn resolve(
        &self,
        sender: &NodeId,
        _key_id: &KeyId,
        _at_ms: i64,
    ) -> Result<PublicKey, VerifyError> {
        Err(VerifyError::UnknownSender(format!(
            "{sender} (this node holds no membership document yet)"
        )))
    }
}

impl Federation {
    /// Build from the configuration (HTTP client with rustls and the
    /// optional extra CA, the operator trust anchor).
    pub fn new(config: &Config) -> anyhow::Result<Federation> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(config.federation.request_timeout_secs))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vivier-node/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.federation.ca_cert {
            let pem = std::fs::read(ca).with_context(|| format!("reading CA {}", ca.display()))?;
            let cert =
                reqwest::Certificate::from_pem(&pem).context("parsing federation.ca_cert")?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .context("building the federation HTTP client")?;
        let mut operator_keys = Vec::new();
        for k in &config.federation.operator_keys {
            operator_keys.push(OperatorKey {
                key_id: KeyId::parse(&k.key_id).context("federation.operator_keys.key_id")?,
                public_key: PublicKey::from_b64(&k.public_key)
                    .context("federation.operator_keys.public_key")?,
            });
        }
        Ok(Federation {
            membership: RwLock::new(None),
            anchor: TrustAnchor {
                operator_keys,
                threshold: config.federation.operator_threshold,
            },
            notify: Arc::new(Notify::new()),
            client,
            nonces: Mutex::new(HashMap::new()),
            limits: Limits::new(&config.federation),
            in_flight: Mutex::new(HashSet::new()),
            semaphore: Arc::new(Semaphore::new(
                config.federation.max_concurrent_deliveries.max(1),
            )),
            catch_up_now: Arc::new(Notify::new()),
            inbox: inbox::GroupCommit::default(),
        })
    }

    /// The membership document held, if any.
    pub fn membership(&self) -> Option<Arc<SignedMembershipDocument>> {
        self.membership.read().ok().and_then(|g| g.clone())
    }

    /// Serial of the membership document held.
    pub fn membership_serial(&self) -> Option<i64> {
        self.membership().map(|d| d.document.serial)
    }

    /// The HTTP client used for peers.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn set_membership(&self, doc: SignedMembershipDocument) {
        if let Ok(mut g) = self.membership.write() {
            *g = Some(Arc::new(doc));
        }
    }

    fn trust(&self) -> Trust {
        match self.membership() {
            Some(d) => Trust::from_document(&d.document),
            None => Trust::from_anchor(&self.anchor),
        }
    }

    /// Remember a request nonce; false if it was seen within the window.
    fn fresh_nonce(&self, nonce: &str, now_s: i64, window_s: i64) -> bool {
        let Ok(mut n) = self.nonces.lock() else {
            return true;
        };
        if n.len() > 100_000 {
            n.retain(|_, seen| now_s - *seen <= window_s * 2);
        }
        if n.contains_key(nonce) {
            return false;
        }
        n.insert(nonce.to_string(), now_s);
        true
    }
}

/// Resolves keys against the held membership document.
fn with_resolver<T>(state: &AppState, f: impl FnOnce(&dyn KeyResolver) -> T) -> T {
    match state.federation.membership() {
        Some(doc) => f(doc.as_ref()),
        None => f(&NoMembers),
    }
}

// ---------------------------------------------------------------------------
// Membership

/// What happened to an offered membership document.
#[derive(Debug, Serialize)]
pub struct MembershipAccepted {
    /// The new serial.
    pub serial: i64,
    /// Number of active members.
    pub active_members: usize,
}

/// Check and adopt a membership document (from the operator or a peer).
pub async fn accept_membership(
    state: &AppState,
    bytes: &[u8],
    source: &str,
) -> Result<MembershipAccepted> {
    let doc = SignedMembershipDocument::from_bytes(bytes).map_err(membership_error)?;
    let current = state.federation.membership_serial();
    state
        .federation
        .trust()
        .accept(current, &doc, state.clock.now_ms())
        .map_err(membership_error)?;
    crate::demo::mode::check_membership(&state.config, &doc.document)?;
    let canonical = doc.to_bytes().map_err(membership_error)?;
    let text = String::from_utf8(canonical).map_err(|e| Error::Internal(e.into()))?;
    let serial = doc.document.serial;
    let mut tx = state.db.begin().await?;
    // The serial guard makes concurrent updates safe: only a higher serial wins.
    let updated = sqlx::query(
        "UPDATE membership SET serial = $1, document = $2, received_at = $3 WHERE id = 1 AND serial < $1",
    )
    .bind(serial)
    .bind(&text)
    .bind(state.clock.now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        let exists: Option<i64> = sqlx::query_scalar("SELECT serial FROM membership WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(s) = exists {
            return Err(membership_error(
                vivier_protocol::MembershipError::Rollback {
                    current: s,
                    offered: serial,
                },
            ));
        }
        sqlx::query(
            "INSERT INTO membership (id, serial, document, received_at) VALUES (1, $1, $2, $3)",
        )
        .bind(serial)
        .bind(&text)
        .bind(state.clock.now_ms())
        .execute(&mut *tx)
        .await?;
    }
    for m in doc.document.active_members() {
        if m.node_id != state.identity.node_id {
            sqlx::query("INSERT INTO peers (node_id) VALUES ($1) ON CONFLICT (node_id) DO NOTHING")
                .bind(m.node_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    let departures = lifecycle::apply(state, &mut tx, &doc.document).await?;
    // Other processes on this database reload the document from the journal.
    crate::journal::append(
        &mut tx,
        crate::journal::Kind::Membership,
        "1",
        state.clock.now_ms(),
    )
    .await?;
    tx.commit().await?;
    let active = doc.document.active_members().count();
    tracing::info!(
        serial,
        active,
        source,
        ?departures,
        "membership document accepted"
    );
    if departures.profiles_purged > 0 {
        if let Err(e) = state.db.scrub().await {
            tracing::warn!(error = %e, "scrubbing the store after a purge failed");
        }
    }
    crate::notifications::wake(state);
    crate::journal::wake(state);
    state.federation.set_membership(doc);
    state.federation.catch_up_now.notify_one();
    wake(state);
    Ok(MembershipAccepted {
        serial,
        active_members: active,
    })
}

fn membership_error(e: vivier_protocol::MembershipError) -> Error {
    use vivier_protocol::MembershipError as M;
    let status = match e {
        M::Rollback { .. } | M::SameSerial(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    Error::Federation {
        status,
        code: e.kind(),
        message: e.to_string(),
    }
}

/// Reload the stored document when another process on this database
/// accepted a newer one (a `membership` journal entry).
pub async fn reload_membership(state: &AppState) -> Result<()> {
    let stored: Option<(i64, String)> =
        sqlx::query_as("SELECT serial, document FROM membership WHERE id = 1")
            .fetch_optional(&state.db.pool)
            .await?;
    if let Some((serial, text)) = stored {
        if Some(serial) > state.federation.membership_serial() {
            let doc = SignedMembershipDocument::from_bytes(text.as_bytes())
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored membership document: {e}")))?;
            tracing::info!(
                serial,
                "membership document reloaded (accepted by another process)"
            );
            state.federation.set_membership(doc);
            wake(state);
        }
    }
    Ok(())
}

async fn load_membership(state: &AppState) -> anyhow::Result<()> {
    let stored: Option<String> = sqlx::query_scalar("SELECT document FROM membership WHERE id = 1")
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some(text) = stored {
        let doc = SignedMembershipDocument::from_bytes(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("stored membership document: {e}"))?;
        state.federation.set_membership(doc);
    } else if let Some(path) = &state.config.federation.membership_file {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        accept_membership(state, &bytes, "config")
            .await
            .map_err(|e| anyhow::anyhow!("federation.membership_file {}: {e}", path.display()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Outbox

fn ttl_ms(state: &AppState) -> i64 {
    state.config.federation.message_ttl_days.max(1) * 86_400_000
}

fn sign(
    state: &AppState,
    kind: MessageKind,
    payload: &impl Serialize,
    recipient: Recipient,
) -> Result<vivier_protocol::SignedMessage> {
    vivier_protocol::sign_message(
        kind,
        payload,
        &state.identity.node_id,
        &state.signing_key(),
        recipient,
        state.federation.membership_serial().unwrap_or(0),
        state.clock.now_ms(),
        ttl_ms(state),
    )
    .map_err(|e| Error::Internal(anyhow::anyhow!("signing {}: {e}", kind.as_str())))
}

/// Outbox and broadcast-log sequence numbers are read as cursors
/// (`seq > acked`): they must become visible in order. SQLite has one
/// writer at a time; on PostgreSQL, concurrent transactions could commit a
/// higher sequence before a lower one and a cursor would skip the lower.
/// A transaction-scoped advisory lock serialises the transactions that
/// append to them (held until commit; re-entrant within the transaction).
async fn lock_sequences(state: &AppState, tx: &mut Transaction<'_, Any>) -> Result<()> {
    if state.db.backend == crate::db::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7261840011)")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_outbox(
    tx: &mut Transaction<'_, Any>,
    destination: &str,
    message_id: &str,
    kind: MessageKind,
    body: &str,
) -> Result<()> {
    // Bookkeeping (the row's age for the status page), not a rule: system time.
    sqlx::query(
        "INSERT INTO outbox (destination, message_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(destination)
    .bind(message_id)
    .bind(kind.as_str())
    .bind(body)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sign a broadcast and queue it for every active member (and the catch-up
/// log), inside the caller's transaction. Returns the message id.
pub async fn enqueue_broadcast<T: Serialize>(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    kind: MessageKind,
    payload: &T,
) -> Result<String> {
    lock_sequences(state, tx).await?;
    let msg = sign(state, kind, payload, Recipient::Network)?;
    let body = String::from_utf8(msg.bytes).map_err(|e| Error::Internal(e.into()))?;
    let id = msg.envelope.id.clone();
    sqlx::query(
        "INSERT INTO broadcast_log (message_id, kind, body, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(&body)
    .bind(state.clock.now_ms())
    .execute(&mut **tx)
    .await?;
    if let Some(doc) = state.federation.membership() {
        for m in doc.document.active_members() {
            if m.node_id != state.identity.node_id {
                insert_outbox(tx, m.node_id.as_str(), &id, kind, &body).await?;
            }
        }
    }
    metrics::counter!("vivier_messages_emitted_total", "kind" => kind.as_str()).increment(1);
    Ok(id)
}

/// Sign a message for one node and queue it, inside the caller's
/// transaction. Returns the message id.
pub async fn enqueue_direct<T: Serialize>(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    destination: &NodeId,
    kind: MessageKind,
    payload: &T,
) -> Result<String> {
    lock_sequences(state, tx).await?;
    let msg = sign(state, kind, payload, Recipient::Node(destination.clone()))?;
    let body = String::from_utf8(msg.bytes).map_err(|e| Error::Internal(e.into()))?;
    let id = msg.envelope.id.clone();
    insert_outbox(tx, destination.as_str(), &id, kind, &body).await?;
    metrics::counter!("vivier_messages_emitted_total", "kind" => kind.as_str()).increment(1);
    Ok(id)
}

/// Drop message `message_id` to `destination` if it is still queued or
/// parked (an erasure: an undelivered message carries the profile).
pub(crate) async fn drop_undelivered(
    conn: &mut sqlx::AnyConnection,
    destination: &str,
    message_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND message_id = $2")
        .bind(destination)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM dead_letters WHERE destination = $1 AND message_id = $2")
        .bind(destination)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Wake the delivery workers (call after committing outbox rows).
pub fn wake(state: &AppState) {
    state.federation.notify.notify_one();
}

/// Erasure of a candidate must reach every copy: withdraw every referral
/// made for them (the receiving nodes delete the profile), and drop
/// undelivered referral messages that carry the profile.
pub async fn on_candidate_erased(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
) -> Result<()> {
    crate::referrals::on_candidate_erased(state, tx, candidate_id).await
}

// ---------------------------------------------------------------------------
// Delivery

fn jittered(ms: i64) -> i64 {
    let j = rand::thread_rng().gen_range(0.8..1.2);
    (ms as f64 * j) as i64
}

async fn due_destinations(state: &AppState) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT o.destination AS destination FROM outbox o LEFT JOIN peers p ON p.node_id = o.destination \
         WHERE o.seq > COALESCE(p.acked_seq, 0) AND COALESCE(p.next_attempt_at, 0) <= $1 \
         GROUP BY o.destination",
    )
    .bind(state.clock.now_ms())
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("destination").map_err(Error::from))
        .collect()
}

async fn delivery_supervisor(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let poll = Duration::from_millis(state.config.federation.poll_interval_ms.max(50));
    loop {
        if !state.leader.is_leader() && !state.leader.wait(&mut shutdown).await {
            return;
        }
        if *shutdown.borrow() {
            break;
        }
        match due_destinations(&state).await {
            Ok(dests) => {
                let doc = state.federation.membership();
                for d in dests {
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

struct OutRow {
    seq: i64,
    message_id: String,
    kind: String,
    body: String,
}

async fn deliver_to(state: &AppState, member: &vivier_protocol::Member) {
    let Ok(_permit) = state.federation.semaphore.clone().acquire_owned().await else {
        return;
    };
    let dest = member.node_id.as_str().to_string();
    loop {
        if *state.shutdown.borrow() || !state.leader.is_leader() {
            return;
        }
        let batch = match load_batch(state, &dest).await {
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

async fn load_batch(state: &AppState, dest: &str) -> Result<Vec<OutRow>> {
    let rows = sqlx::query(
        "SELECT o.seq AS seq, o.message_id AS message_id, o.kind AS kind, o.body AS body FROM outbox o \
         WHERE o.destination = $1 AND o.seq > COALESCE((SELECT acked_seq FROM peers WHERE node_id = $1), 0) \
         ORDER BY o.seq LIMIT $2",
    )
    .bind(dest)
    .bind(state.config.federation.batch_size)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutRow {
                seq: r.try_get("seq")?,
                message_id: r.try_get("message_id")?,
                kind: r.try_get("kind")?,
                body: r.try_get("body")?,
            })
        })
        .collect()
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
    sqlx::query(
        "INSERT INTO peers (node_id, acked_seq, backoff_ms, next_attempt_at, failures, last_success_at, last_contact_at, last_error) \
         VALUES ($1, $2, 0, 0, 0, $3, $3, NULL) \
         ON CONFLICT (node_id) DO UPDATE SET acked_seq = excluded.acked_seq, backoff_ms = 0, next_attempt_at = 0, \
         failures = 0, last_success_at = excluded.last_success_at, last_contact_at = excluded.last_contact_at, last_error = NULL",
    )
    .bind(dest)
    .bind(last)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND seq <= $2")
        .bind(dest)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // Parked messages may have changed referrals and queued notices.
    crate::notifications::wake(state);
    crate::journal::wake(state);
    Ok(())
}

async fn record_failure(state: &AppState, dest: &str, err: &Error) -> Result<()> {
    let prev: Option<i64> = sqlx::query_scalar("SELECT backoff_ms FROM peers WHERE node_id = $1")
        .bind(dest)
        .fetch_optional(&state.db.pool)
        .await?;
    let initial = state.config.federation.backoff_initial_secs.max(1) * 1000;
    let max = state.config.federation.backoff_max_secs.max(1) * 1000;
    let next = match prev {
        Some(p) if p > 0 => (p * 2).min(max),
        _ => initial.min(max),
    };
    let now = state.clock.now_ms();
    sqlx::query(
        "INSERT INTO peers (node_id, backoff_ms, next_attempt_at, failures, last_error) VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (node_id) DO UPDATE SET backoff_ms = excluded.backoff_ms, next_attempt_at = excluded.next_attempt_at, \
         failures = peers.failures + 1, last_error = excluded.last_error",
    )
    .bind(dest)
    .bind(next)
    .bind(now + jittered(next))
    .bind(err.to_string().chars().take(500).collect::<String>())
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// A peer was heard from (it called us, signed): reset its back-off so
/// queued messages flow again at once.
async fn peer_heard_from(state: &AppState, node: &str) -> Result<()> {
    const STALE: &str = "node_id = $1 AND (next_attempt_at > $2 OR last_contact_at IS NULL OR last_contact_at < $2 - 5000)";
    let now = state.clock.now_ms();
    // Read first: most requests change nothing, and on SQLite a write
    // statement would wait for the write lock held by the inbox's
    // transaction even when it changes no row.
    let stale: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM peers WHERE {STALE}"))
        .bind(node)
        .bind(now)
        .fetch_optional(&state.db.pool)
        .await?;
    if stale.is_none() {
        return Ok(());
    }
    let res = sqlx::query(&format!(
        "UPDATE peers SET last_contact_at = $2, backoff_ms = 0, next_attempt_at = 0 WHERE {STALE}"
    ))
    .bind(node)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    if res.rows_affected() > 0 {
        wake(state);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Inbox

/// What to do after the inbox transaction committed.
#[derive(Debug)]
pub enum AfterCommit {
    /// (Re)index one offer.
    IndexOffer(String),
    /// Re-index one candidate.
    IndexCandidate(String),
    /// Nothing.
    Nothing,
}

/// Verify and store a batch of raw messages; each message succeeds or fails
/// on its own. With `[federation] inbox_bulk` (the default) the batch goes
/// through [`inbox`]: signatures verified together, a few multi-row
/// statements, one transaction shared with the batches that arrive at the
/// same time. Without it, each message is verified and stored on its own
/// statements in the batch's transaction (the previous path, kept for the
/// benchmark's comparison).
pub async fn process_messages(
    state: &AppState,
    raws: &[&[u8]],
) -> Result<Vec<(String, MessageResult)>> {
    if state.config.federation.inbox_bulk {
        let owned = raws.iter().map(|r| r.to_vec()).collect();
        return Ok(inbox::receive(state, owned, None).await?.results);
    }
    process_one_by_one(state, raws).await
}

/// The verification options of the inbox at `now`.
fn verify_options(state: &AppState, now: i64) -> VerifyOptions {
    VerifyOptions {
        now_ms: now,
        max_skew_ms: state.config.federation.max_clock_skew_secs * 1000,
        local_node: Some(state.identity.node_id.clone()),
        max_bytes: vivier_protocol::MAX_MESSAGE_BYTES,
    }
}

/// The verdict on message `i` of a batch that failed verification.
fn unverified(raw: &[u8], i: usize, e: &VerifyError) -> (String, MessageResult) {
    metrics::counter!("vivier_messages_refused_total", "error" => e.kind()).increment(1);
    let id = message_id_hint(raw).unwrap_or_else(|| format!("#{i}"));
    tracing::info!(message_id = %id, error = e.kind(), "message refused");
    (id, MessageResult::refused(e.kind(), e.to_string()))
}

/// The verdict on a verified message from what storing it gave; the store's
/// own failure ends the batch (`Err`, 503).
fn stored_verdict(
    msg: &VerifiedMessage,
    stored: std::result::Result<Stored, Disposition>,
    effects: &mut Effects,
) -> Result<(String, MessageResult)> {
    let id = msg.envelope.id.clone();
    let kind = msg.envelope.kind.as_str();
    Ok(match stored {
        Ok(Stored::New(a)) => {
            effects.note(msg, &a);
            metrics::counter!("vivier_messages_received_total", "kind" => kind).increment(1);
            (id, MessageResult::accepted())
        }
        Ok(Stored::Duplicate) => (id, MessageResult::duplicate()),
        Err(Disposition::Refuse { code, message }) => {
            metrics::counter!("vivier_messages_refused_total", "error" => code, "sender" => msg.envelope.sender.to_string())
                .increment(1);
            tracing::warn!(
                message_id = %id,
                sender = %msg.envelope.sender,
                kind,
                error = code,
                reason = %message,
                "message refused; the rest of the batch goes on"
            );
            (id, MessageResult::refused(code, message))
        }
        Err(Disposition::Transient(e)) => {
            tracing::warn!(message_id = %id, error = %e, "store failing: batch not stored");
            return Err(refusals::unavailable(&e));
        }
    })
}

/// What a committed batch asks of the node afterwards.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Journal entries were written: wake the index follower.
    index: bool,
    /// A withdrawal erased a profile: leave no copy in SQLite's WAL.
    scrub: bool,
    /// A sender holds a newer membership document: fetch it.
    newer_membership: Option<NodeId>,
}

impl Effects {
    /// Account for a message newly stored.
    fn note(&mut self, msg: &VerifiedMessage, after: &AfterCommit) {
        self.index |= !matches!(after, AfterCommit::Nothing);
        self.scrub |= msg.envelope.kind == MessageKind::ReferralWithdrawn;
    }

    /// Account for a verified message of the batch (stored or not).
    fn saw(&mut self, state: &AppState, msg: &VerifiedMessage) {
        if msg.envelope.membership_serial > state.federation.membership_serial().unwrap_or(0) {
            self.newer_membership = Some(msg.envelope.sender.clone());
        }
    }

    /// After the commit: wake the workers, scrub, fetch a newer document.
    async fn apply(self, state: &AppState) {
        // Handlers may have queued answers (e.g. obsolete referrals) and
        // mail (a new referral for an employer, an answer for a counsellor).
        wake(state);
        state.mail.wake();
        if self.index {
            // The entries were journaled in the inbox transaction.
            crate::journal::wake(state);
        }
        if self.scrub {
            if let Err(e) = state.db.scrub().await {
                tracing::warn!(error = %e, "scrubbing the store after a withdrawal failed");
            }
        }
        if let Some(sender) = self.newer_membership {
            let st = state.clone();
            tokio::spawn(async move {
                if let Err(e) = fetch_membership_from(&st, &sender).await {
                    tracing::info!(peer = %sender, error = %e, "could not fetch a newer membership document");
                }
            });
        }
    }
}

/// The previous inbox path: each message verified on its own, then stored
/// with its own statements inside its own savepoint, all in one
/// transaction per batch.
async fn process_one_by_one(
    state: &AppState,
    raws: &[&[u8]],
) -> Result<Vec<(String, MessageResult)>> {
    let opts = verify_options(state, state.clock.now_ms());
    let mut results = Vec::with_capacity(raws.len());
    let mut verified = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        match with_resolver(state, |r| vivier_protocol::verify_message(raw, r, &opts)) {
            Ok(v) => verified.push((results.len(), v)),
            Err(e) => {
                results.push(unverified(raw, i, &e));
                continue;
            }
        }
        results.push((String::new(), MessageResult::accepted()));
    }
    let mut effects = Effects::default();
    if !verified.is_empty() {
        let transient = |e: sqlx::Error| refusals::unavailable(&Error::Database(e));
        let mut tx = state.db.begin().await.map_err(transient)?;
        for (slot, msg) in &verified {
            effects.saw(state, msg);
            let stored = store_one(state, &mut tx, msg).await;
            results[*slot] = stored_verdict(msg, stored, &mut effects)?;
        }
        tx.commit().await.map_err(transient)?;
        effects.apply(state).await;
    }
    Ok(results)
}

fn message_id_hint(raw: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(raw)
        .ok()
        .map(|i| i.id.chars().take(64).collect())
}

pub(crate) enum Stored {
    New(AfterCommit),
    Duplicate,
}

/// Store one verified message inside its own savepoint. Any error raised
/// by this message rolls its savepoint back and refuses it alone
/// ([`Disposition::Refuse`]); an error of the store itself
/// ([`Disposition::Transient`]) ends the batch.
pub(crate) async fn store_one(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    msg: &VerifiedMessage,
) -> std::result::Result<Stored, Disposition> {
    let fatal = |e: sqlx::Error| Disposition::Transient(Error::Database(e));
    let mut sp = sqlx::Acquire::begin(&mut **tx).await.map_err(fatal)?;
    match store_in(state, &mut sp, msg).await {
        Ok(Stored::New(after)) => match sp.commit().await {
            Ok(()) => Ok(Stored::New(after)),
            Err(e) => Err(refusals::classify(Error::Database(e))),
        },
        Ok(Stored::Duplicate) => {
            sp.rollback().await.map_err(fatal)?;
            Ok(Stored::Duplicate)
        }
        Err(e) => {
            let verdict = refusals::classify(e);
            if let Disposition::Refuse { .. } = verdict {
                // Undo what this message wrote (on PostgreSQL this also
                // clears the aborted state after a failed statement).
                sp.rollback().await.map_err(fatal)?;
            }
            Err(verdict)
        }
    }
}

async fn store_in(
    state: &AppState,
    sp: &mut Transaction<'_, Any>,
    msg: &VerifiedMessage,
) -> Result<Stored> {
    let env = &msg.envelope;
    // Keep exact bytes of broadcasts (relayable offers); personal data
    // (referrals) is kept only in its own tables, where erasure reaches it.
    let body = if env.recipient == Recipient::Network {
        String::from_utf8_lossy(&msg.raw).into_owned()
    } else {
        String::new()
    };
    let inserted = sqlx::query(
        "INSERT INTO inbox (origin, message_id, kind, body, received_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (origin, message_id) DO NOTHING",
    )
    .bind(env.sender.as_str())
    .bind(&env.id)
    .bind(env.kind.as_str())
    .bind(&body)
    .bind(state.clock.now_ms())
    .execute(&mut **sp)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    let payload = msg
        .typed_payload()
        .map_err(|e| refusal("malformed", e.to_string()))?;
    Ok(Stored::New(apply(state, sp, msg, payload).await?))
}

/// A per-message refusal with a protocol-level code.
pub fn refusal(code: &'static str, message: impl Into<String>) -> Error {
    Error::Federation {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message: message.into(),
    }
}

async fn apply(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    msg: &VerifiedMessage,
    payload: Payload,
) -> Result<AfterCommit> {
    let sender = &msg.envelope.sender;
    match payload {
        Payload::OfferPublished(offer) | Payload::OfferUpdated(offer) => {
            if !check_received_offer(state, sender, &offer)? {
                return Ok(AfterCommit::Nothing);
            }
            crate::offers::store_remote_offer(tx, &offer).await?;
            Ok(AfterCommit::IndexOffer(offer.offer_id))
        }
        Payload::OfferClosed(closed) => {
            if sender == &state.identity.node_id {
                return Ok(AfterCommit::Nothing);
            }
            let errs = crate::offers::validation::check_closed(
                &closed,
                state.clock.now_ms(),
                skew_ms(state),
            );
            if !errs.is_empty() {
                return Err(invalid_payload(errs));
            }
            crate::offers::close_remote_offer(tx, sender.as_str(), &closed).await?;
            Ok(AfterCommit::IndexOffer(closed.offer_id))
        }
        Payload::ReferralSubmitted(r) => {
            crate::referrals::receive_submitted(state, tx, sender, r).await
        }
        Payload::ReferralStatusChanged(c) => {
            crate::referrals::receive_status_changed(state, tx, sender, c).await
        }
        Payload::ReferralWithdrawn(w) => {
            crate::referrals::receive_withdrawn(state, tx, sender, w).await
        }
        Payload::MembershipDocument(_) => Ok(AfterCommit::Nothing),
        Payload::OpportunityPublished(o) | Payload::OpportunityUpdated(o) => {
            crate::opportunities::receive_published(state, tx, sender, o).await?;
            Ok(AfterCommit::Nothing)
        }
        Payload::OpportunityClosed(c) => {
            crate::opportunities::receive_closed(state, tx, sender, c).await?;
            Ok(AfterCommit::Nothing)
        }
        Payload::ReportFigures(f) => {
            if sender == &state.identity.node_id {
                return Ok(AfterCommit::Nothing);
            }
            crate::reports::network::receive(state, tx, sender, f).await
        }
    }
}

/// The checks of a received `offer.published` / `offer.updated` that need
/// no database: sent by its origin (`not_origin`), valid like local input
/// (`invalid_payload`). `Ok(false)`: our own offer coming back, nothing to
/// store.
fn check_received_offer(
    state: &AppState,
    sender: &NodeId,
    offer: &vivier_protocol::OfferPayload,
) -> Result<bool> {
    if &offer.origin_node != sender {
        return Err(refusal(
            "not_origin",
            format!("{sender} may not publish an offer of {}", offer.origin_node),
        ));
    }
    if offer.origin_node == state.identity.node_id {
        return Ok(false);
    }
    let errs = crate::offers::validation::check_received(
        state.refs,
        offer,
        state.clock.now_ms(),
        skew_ms(state),
    );
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    Ok(true)
}

/// The accepted clock difference, in ms.
pub(crate) fn skew_ms(state: &AppState) -> i64 {
    state.config.federation.max_clock_skew_secs * 1000
}

/// The body of a txn answer.
fn txn_answer(results: Vec<(String, MessageResult)>) -> Result<String> {
    let resp = TxnResponse {
        results: results.into_iter().collect(),
    };
    serde_json::to_string(&resp).map_err(|e| Error::Internal(e.into()))
}

fn header_lookup(headers: &HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Authenticate a federation request: the RFC 9421 signature against the
/// membership document, then the nonce, then the verified peer's rate
/// limit (the client address was charged before the body was read, see
/// [`limits`]; a signer's claim costs the claimed node nothing).
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
    let _ = peer_heard_from(state, signer.node.as_str()).await;
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
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT response FROM txn_results WHERE origin = $1 AND txn_id = $2",
        )
        .bind(origin.as_str())
        .bind(&txn_id)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| refusals::unavailable_if_transient(e.into()))?;
        if let Some(resp) = stored {
            return Ok(([("content-type", "application/json")], resp).into_response());
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
        let results = process_one_by_one(&state, &raws).await?;
        let text = txn_answer(results)?;
        sqlx::query(
            "INSERT INTO txn_results (origin, txn_id, response, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (origin, txn_id) DO NOTHING",
        )
        .bind(origin.as_str())
        .bind(&txn_id)
        .bind(&text)
        .bind(state.clock.now_ms())
        .execute(&state.db.pool)
        .await
        .map_err(|e| refusals::unavailable_if_transient(e.into()))?;
        Ok(([("content-type", "application/json")], text).into_response())
    }
    .instrument(span)
    .await
}

// ---------------------------------------------------------------------------
// Catch-up log

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
    let rows =
        sqlx::query("SELECT seq, body FROM broadcast_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&state.db.pool)
            .await?;
    let more = rows.len() as i64 > limit;
    let mut messages = Vec::new();
    let mut last_seq = after;
    for r in rows.iter().take(limit as usize) {
        let body: String = r.try_get("body")?;
        last_seq = r.try_get("seq")?;
        messages.push(RawValue::from_string(body).map_err(|e| Error::Internal(e.into()))?);
    }
    Ok(Json(LogPage {
        messages,
        last_seq,
        more,
    })
    .into_response())
}

async fn catch_up_from(state: &AppState, member: &vivier_protocol::Member) -> Result<u64> {
    let node = member.node_id.as_str();
    let mut cursor: i64 = sqlx::query_scalar("SELECT log_cursor FROM peers WHERE node_id = $1")
        .bind(node)
        .fetch_optional(&state.db.pool)
        .await?
        .unwrap_or(0);
    let mut total = 0u64;
    loop {
        let path = format!("/federation/v1/log?after={cursor}&limit=500");
        let resp = signed_request(state, member, reqwest::Method::GET, &path, Vec::new()).await?;
        if !resp.status().is_success() {
            return Err(Error::Peer(format!("log: HTTP {}", resp.status())));
        }
        let page: LogPage = resp
            .json()
            .await
            .map_err(|e| Error::Peer(format!("log page: {e}")))?;
        let raws: Vec<&[u8]> = page.messages.iter().map(|m| m.get().as_bytes()).collect();
        let results = process_messages(state, &raws).await?;
        total += results
            .iter()
            .filter(|(_, r)| r.status == MessageStatus::Accepted)
            .count() as u64;
        for (id, r) in &results {
            if r.status == MessageStatus::Refused {
                tracing::info!(peer = node, message_id = %id, error = ?r.error, "catch-up message refused");
            }
        }
        cursor = page.last_seq;
        sqlx::query(
            "INSERT INTO peers (node_id, log_cursor, last_contact_at) VALUES ($1, $2, $3) \
             ON CONFLICT (node_id) DO UPDATE SET log_cursor = excluded.log_cursor, last_contact_at = excluded.last_contact_at",
        )
        .bind(node)
        .bind(cursor)
        .bind(state.clock.now_ms())
        .execute(&state.db.pool)
        .await?;
        if !page.more {
            break;
        }
    }
    Ok(total)
}

async fn fetch_membership_from(state: &AppState, node: &NodeId) -> Result<()> {
    let Some(doc) = state.federation.membership() else {
        return Ok(());
    };
    let Some(member) = doc.document.member(node).cloned() else {
        return Ok(());
    };
    let base = check_peer_url(state, &member.base_url)?;
    let url = format!(
        "{}/federation/v1/membership",
        base.as_str().trim_end_matches('/')
    );
    let resp = state
        .federation
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| Error::Peer(e.to_string()))?;
    if !resp.status().is_success() {
        return Ok(());
    }
    let bytes = resp.bytes().await.map_err(|e| Error::Peer(e.to_string()))?;
    match accept_membership(state, &bytes, node.as_str()).await {
        Ok(_)
        | Err(Error::Federation {
            code: "same_serial",
            ..
        })
        | Err(Error::Federation {
            code: "rollback", ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// One round of catch-up with every active peer: newer membership
/// documents first, then missed broadcasts.
pub async fn catch_up_round(state: &AppState) -> u64 {
    let Some(doc) = state.federation.membership() else {
        return 0;
    };
    let peers: Vec<_> = doc
        .document
        .active_members()
        .filter(|m| m.node_id != state.identity.node_id)
        .cloned()
        .collect();
    let mut total = 0;
    for m in peers {
        let span = tracing::info_span!("catch_up", peer = %m.node_id);
        async {
            if let Err(e) = fetch_membership_from(state, &m.node_id).await {
                tracing::debug!(error = %e, "membership fetch");
            }
            match catch_up_from(state, &m).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(messages = n, "caught up");
                    }
                    total += n;
                }
                Err(e) => tracing::info!(error = %e, "catch-up failed; will retry"),
            }
        }
        .instrument(span)
        .await;
    }
    total
}

async fn catch_up_loop(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let every = Duration::from_secs(state.config.federation.catch_up_interval_secs.max(1));
    loop {
        if !state.leader.wait(&mut shutdown).await {
            break;
        }
        catch_up_round(&state).await;
        tokio::select! {
            _ = state.federation.catch_up_now.notified() => {},
            _ = tokio::time::sleep(every) => {},
            _ = shutdown.changed() => {},
        }
    }
}

/// Load the membership document and start the delivery, catch-up and
/// referral sweep tasks.
pub async fn start(state: &AppState) -> anyhow::Result<()> {
    load_membership(state).await?;
    tokio::spawn(delivery_supervisor(state.clone()));
    tokio::spawn(catch_up_loop(state.clone()));
    crate::referrals::spawn_sweeps(state);
    Ok(())
}

// ---------------------------------------------------------------------------
// Membership endpoints

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

// ---------------------------------------------------------------------------
// Administration

/// One peer's delivery state.
#[derive(Debug, Serialize)]
pub struct PeerStatus {
    /// Node id.
    pub node_id: String,
    /// Display name from the membership document.
    pub display_name: Option<String>,
    /// `active`, `suspended`, `revoked`, or `unknown` (not in the document).
    pub membership_status: String,
    /// Base URL.
    pub base_url: Option<String>,
    /// Messages queued and not yet acknowledged.
    pub outbox_depth: i64,
    /// Last acknowledged outbox sequence.
    pub acked_seq: i64,
    /// Current back-off.
    pub backoff_ms: i64,
    /// Next attempt (unix ms).
    pub next_attempt_at: i64,
    /// Consecutive failures.
    pub failures: i64,
    /// Last successful delivery.
    pub last_success_at: Option<i64>,
    /// Last time the peer was heard from.
    pub last_contact_at: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Catch-up cursor in the peer's broadcast log.
    pub log_cursor: i64,
    /// Creation time of the oldest message queued for the peer.
    pub oldest_queued_at: Option<i64>,
    /// Messages for the peer parked as dead letters.
    pub dead_letters: i64,
}

/// The federation overview for the node admin.
#[derive(Debug, Serialize)]
pub struct FederationStatus {
    /// This node.
    pub node_id: String,
    /// Membership serial held.
    pub membership_serial: Option<i64>,
    /// Peers.
    pub peers: Vec<PeerStatus>,
    /// Messages parked after a permanent refusal.
    pub dead_letters: i64,
    /// Broadcasts emitted (catch-up log length).
    pub broadcast_log: i64,
    /// Highest sequence of the catch-up log (what peers' cursors reach).
    pub log_head: i64,
    /// Messages received.
    pub inbox: i64,
    /// Whether this process holds the lease and runs delivery.
    pub leader: bool,
}

/// Compute the overview.
pub async fn status(state: &AppState) -> Result<FederationStatus> {
    let doc = state.federation.membership();
    let rows = sqlx::query(
        // Every peer with a row, a queued message or a dead letter: a peer
        // never reached yet still shows what waits for it.
        "SELECT d.node_id AS node_id, COALESCE(p.acked_seq, 0) AS acked_seq, COALESCE(p.backoff_ms, 0) AS backoff_ms, \
         COALESCE(p.next_attempt_at, 0) AS next_attempt_at, COALESCE(p.failures, 0) AS failures, \
         p.last_success_at AS last_success_at, p.last_contact_at AS last_contact_at, \
         p.last_error AS last_error, COALESCE(p.log_cursor, 0) AS log_cursor, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = d.node_id AND o.seq > COALESCE(p.acked_seq, 0)) AS depth, \
         (SELECT MIN(o.created_at) FROM outbox o WHERE o.destination = d.node_id AND o.seq > COALESCE(p.acked_seq, 0)) AS oldest, \
         (SELECT COUNT(*) FROM dead_letters x WHERE x.destination = d.node_id) AS parked \
         FROM (SELECT node_id FROM peers UNION SELECT destination FROM outbox UNION SELECT destination FROM dead_letters) d \
         LEFT JOIN peers p ON p.node_id = d.node_id ORDER BY d.node_id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut peers = Vec::new();
    for r in &rows {
        let node_id: String = r.try_get("node_id")?;
        let member = doc.as_ref().and_then(|d| {
            NodeId::parse(&node_id)
                .ok()
                .and_then(|n| d.document.member(&n).cloned())
        });
        peers.push(PeerStatus {
            display_name: member.as_ref().map(|m| m.display_name.clone()),
            membership_status: match member.as_ref().map(|m| &m.status) {
                Some(vivier_protocol::MemberStatus::Active) => "active",
                Some(vivier_protocol::MemberStatus::Suspended { .. }) => "suspended",
                Some(vivier_protocol::MemberStatus::Revoked { .. }) => "revoked",
                None => "unknown",
            }
            .to_string(),
            base_url: member.map(|m| m.base_url),
            outbox_depth: r.try_get("depth")?,
            acked_seq: r.try_get("acked_seq")?,
            backoff_ms: r.try_get("backoff_ms")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
            failures: r.try_get("failures")?,
            last_success_at: r.try_get("last_success_at")?,
            last_contact_at: r.try_get("last_contact_at")?,
            last_error: r.try_get("last_error")?,
            log_cursor: r.try_get("log_cursor")?,
            oldest_queued_at: r.try_get("oldest")?,
            dead_letters: r.try_get("parked")?,
            node_id,
        });
    }
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&state.db.pool)
            .await
    };
    Ok(FederationStatus {
        node_id: state.identity.node_id.to_string(),
        membership_serial: doc.map(|d| d.document.serial),
        peers,
        dead_letters: count("SELECT COUNT(*) FROM dead_letters").await?,
        broadcast_log: count("SELECT COUNT(*) FROM broadcast_log").await?,
        log_head: count("SELECT COALESCE(MAX(seq), 0) FROM broadcast_log").await?,
        inbox: count("SELECT COUNT(*) FROM inbox").await?,
        leader: state.leader.is_leader(),
    })
}

#[utoipa::path(get, path = "/api/v1/federation/status", tag = "admin",
    responses((status = 200, description = "Membership, queues and peers (admins)", body = serde_json::Value)))]
async fn status_handler(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<FederationStatus>> {
    user.require(&[Role::Admin])?;
    Ok(Json(status(&state).await?))
}

/// A parked message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Id.
    pub id: i64,
    /// Destination node.
    pub destination: String,
    /// Message id.
    pub message_id: String,
    /// Kind.
    pub kind: String,
    /// Why the peer refused it.
    pub error: String,
    /// When it was parked.
    pub parked_at: i64,
}

/// The parked messages, oldest first (admins).
pub async fn dead_letters(
    state: &AppState,
    actor: &crate::actor::Actor,
) -> Result<Vec<DeadLetter>> {
    actor.user_with(&[Role::Admin])?;
    parked(state, i64::MAX, 0).await
}

/// One page of the parked messages, oldest first (admins).
pub async fn dead_letters_page(
    state: &AppState,
    actor: &crate::actor::Actor,
    paging: crate::http::PageParams,
) -> Result<crate::http::Page<DeadLetter>> {
    actor.user_with(&[Role::Admin])?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters")
        .fetch_one(&state.db.pool)
        .await?;
    let items = parked(state, paging.per_page, paging.offset()).await?;
    Ok(crate::http::Page::new(items, total, paging))
}

async fn parked(state: &AppState, limit: i64, offset: i64) -> Result<Vec<DeadLetter>> {
    let rows = sqlx::query(
        "SELECT id, destination, message_id, kind, error, parked_at FROM dead_letters \
         ORDER BY id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(DeadLetter {
            id: r.try_get("id")?,
            destination: r.try_get("destination")?,
            message_id: r.try_get("message_id")?,
            kind: r.try_get("kind")?,
            error: r.try_get("error")?,
            parked_at: r.try_get("parked_at")?,
        });
    }
    Ok(out)
}

/// Put dead letter `id` back in the outbox (admins), audited
/// `federation.retry` in the same transaction; wakes delivery.
pub async fn retry(state: &AppState, actor: &crate::actor::Actor, id: i64) -> Result<()> {
    actor.user_with(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    lock_sequences(state, &mut tx).await?;
    let row =
        sqlx::query("SELECT destination, message_id, kind, body FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("dead letter"))?;
    let dest: String = row.try_get("destination")?;
    let mid: String = row.try_get("message_id")?;
    let kind: String = row.try_get("kind")?;
    let body: String = row.try_get("body")?;
    sqlx::query(
        "INSERT INTO outbox (destination, message_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (destination, message_id) DO NOTHING",
    )
    .bind(&dest)
    .bind(&mid)
    .bind(&kind)
    .bind(&body)
    .bind(state.clock.now_ms())
    .execute(&mut *tx)
    .await?;
    // dead_letters is not the audit log: a retried letter leaves the table.
    sqlx::query("DELETE FROM dead_letters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "federation.retry",
        ("message", &mid),
        None,
        serde_json::json!({"destination": dest}),
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/federation/dead-letters", tag = "admin", params(crate::http::PageParams),
    responses((status = 200, description = "Parked messages, oldest first (admins)", body = crate::http::Page<DeadLetter>)))]
async fn dead_letters_handler(
    State(state): State<AppState>,
    user: User,
    crate::http::Paged(paging, _): crate::http::Paged<crate::http::page::NoFilter>,
) -> Result<Json<crate::http::Page<DeadLetter>>> {
    Ok(Json(
        dead_letters_page(&state, &crate::actor::Actor::User(user), paging).await?,
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
    retry(&state, &crate::actor::Actor::User(user), id).await?;
    Ok(StatusCode::ACCEPTED)
}

static PROMETHEUS: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
    std::sync::OnceLock::new();

fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// OpenAPI paths of the `/api/v1/federation…` routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(status_handler, dead_letters_handler, retry_dead_letter))]
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
    if !scraper {
        let user = <User as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await?;
        user.require(&[Role::Admin])?;
    }
    refresh_gauges(&state).await?;
    let text = prometheus().map(|h| h.render()).unwrap_or_default();
    Ok(([("content-type", "text/plain; version=0.0.4")], text).into_response())
}

/// Per-peer and membership gauges, read from the store.
async fn refresh_gauges(state: &AppState) -> Result<()> {
    let st = status(state).await?;
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
            if lifecycle::self_active(state, &doc.document) {
                1.0
            } else {
                0.0
            },
        );
    }
    Ok(())
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
        .route("/metrics", get(metrics_handler))
}
