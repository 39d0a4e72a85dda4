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
//!
//! Files: `membership.rs` (accepting and reloading the document),
//! `outbox.rs` (signing and queueing in the caller's transaction),
//! `delivery.rs` (workers, signed requests, back-off), `receive.rs` (the
//! inbox's checks, verdicts and one-by-one path), `inbox.rs` (the bulk path
//! and its group commit), `catchup.rs` (reading peers' logs), `admin.rs`
//! (status, dead letters, retry: the services the API and UI call),
//! `http.rs` (the axum handlers and routes, metrics), `store.rs` (every SQL
//! statement on the federation's tables).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;
use sqlx::{Any, Transaction};
use tokio::sync::{Notify, Semaphore};
use vivier_protocol::{
    KeyId, KeyResolver, NodeId, OperatorKey, PublicKey, SignedMembershipDocument, Trust,
    TrustAnchor, VerifyError,
};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::AppState;

mod admin;
mod catchup;
mod delivery;
mod http;
mod inbox;
mod lifecycle;
mod limits;
mod membership;
mod operator;
pub mod outbox;
pub mod outcomes;
mod receive;
mod refusals;
pub(crate) mod store;

pub use admin::{
    dead_letters, dead_letters_page, dismiss, retry, status, status_for, DeadLetter,
    FederationStatus, PeerStatus,
};
pub use catchup::catch_up_round;
pub use delivery::{check_peer_url, signed_request};
pub(crate) use http::{authenticate, Doc};
pub use http::{init_metrics, routes};
pub use lifecycle::{ensure_member, purge_due as purge_departed_due, Departures};
pub use limits::Limits;
pub use membership::{accept_membership, reload_membership, MembershipAccepted};
pub(crate) use outbox::drop_undelivered;
pub use outbox::{enqueue_broadcast, enqueue_direct};
pub use receive::{process_messages, AfterCommit};
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
// Wake-ups, erasure, refusals, start

/// Whether the inbox holds received batches it has not answered yet (the
/// offer index lets them go first, see `journal`).
pub fn inbox_busy(state: &AppState) -> bool {
    state.federation.inbox.busy()
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

/// A per-message refusal with a protocol-level code.
pub fn refusal(code: &'static str, message: impl Into<String>) -> Error {
    Error::Federation {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message: message.into(),
    }
}

/// The accepted clock difference, in ms.
pub(crate) fn skew_ms(state: &AppState) -> i64 {
    state.config.federation.max_clock_skew_secs * 1000
}

/// Load the membership document and start the delivery, catch-up and
/// referral sweep tasks.
pub async fn start(state: &AppState) -> anyhow::Result<()> {
    membership::load(state).await?;
    tokio::spawn(delivery::supervisor(state.clone()));
    tokio::spawn(catchup::run(state.clone()));
    crate::referrals::spawn_sweeps(state);
    Ok(())
}
