//! Administration of the federation: the overview (peers, queues, the
//! log, leadership), the parked messages and their retry. The services
//! here take the [`Actor`] and refuse anyone but an admin; the retry is
//! audited in its own transaction. The API and the web UI only call them.

use serde::Serialize;
use vivier_protocol::NodeId;

use super::outbox::lock_sequences;
use super::{store, wake};
use crate::actor::Actor;
use crate::auth::Role;
use crate::error::{Error, Result};
use crate::server::AppState;

/// One peer's delivery state (a row of the store, completed from the
/// membership document).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct PeerStatus {
    /// Node id.
    pub node_id: String,
    /// Display name from the membership document.
    #[sqlx(skip)]
    pub display_name: Option<String>,
    /// `active`, `suspended`, `revoked`, or `unknown` (not in the document).
    #[sqlx(skip)]
    pub membership_status: String,
    /// Base URL.
    #[sqlx(skip)]
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

/// The overview for an admin (the API's and the web UI's read).
pub async fn status_for(state: &AppState, actor: &Actor) -> Result<FederationStatus> {
    actor.user_with(&[Role::Admin])?;
    status(state).await
}

/// Compute the overview (for the node itself: the operator's report, the
/// metrics scrape; people read it through [`status_for`]).
pub async fn status(state: &AppState) -> Result<FederationStatus> {
    let doc = state.federation.membership();
    let mut peers = store::peer_rows(&state.db).await?;
    for p in &mut peers {
        let member = doc.as_ref().and_then(|d| {
            NodeId::parse(&p.node_id)
                .ok()
                .and_then(|n| d.document.member(&n).cloned())
        });
        p.display_name = member.as_ref().map(|m| m.display_name.clone());
        p.membership_status = match member.as_ref().map(|m| &m.status) {
            Some(vivier_protocol::MemberStatus::Active) => "active",
            Some(vivier_protocol::MemberStatus::Suspended { .. }) => "suspended",
            Some(vivier_protocol::MemberStatus::Revoked { .. }) => "revoked",
            None => "unknown",
        }
        .to_string();
        p.base_url = member.map(|m| m.base_url);
    }
    let totals = store::totals(&state.db).await?;
    Ok(FederationStatus {
        node_id: state.identity.node_id.to_string(),
        membership_serial: doc.map(|d| d.document.serial),
        peers,
        dead_letters: totals.dead_letters,
        broadcast_log: totals.broadcast_log,
        log_head: totals.log_head,
        inbox: totals.inbox,
        leader: state.leader.is_leader(),
    })
}

/// A parked message.
#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DeadLetter {
    /// Id.
    pub id: i64,
    /// Destination node.
    pub destination: String,
    /// Message id.
    pub message_id: String,
    /// Kind.
    pub kind: String,
    /// Why the peer refused it: `code: the peer's words`.
    pub error: String,
    /// The refusal's stable code (the part of `error` before `:`), which
    /// the web UI explains in French ([`super::outcomes::refusal_fr`]).
    #[sqlx(skip)]
    pub code: String,
    /// When it was parked.
    pub parked_at: i64,
}

impl DeadLetter {
    /// The refusal's code and the peer's own words (`error` without the
    /// code).
    pub fn reason(&self) -> (&str, &str) {
        match self.error.split_once(':') {
            Some((code, rest)) => (code.trim(), rest.trim()),
            None => (self.error.trim(), ""),
        }
    }

    fn with_code(mut self) -> DeadLetter {
        self.code = self.reason().0.to_string();
        self
    }
}

/// The parked messages, oldest first (admins).
pub async fn dead_letters(state: &AppState, actor: &Actor) -> Result<Vec<DeadLetter>> {
    actor.user_with(&[Role::Admin])?;
    let letters = store::dead_letters(&state.db, i64::MAX, 0).await?;
    Ok(letters.into_iter().map(DeadLetter::with_code).collect())
}

/// One page of the parked messages, oldest first (admins).
pub async fn dead_letters_page(
    state: &AppState,
    actor: &Actor,
    paging: crate::http::PageParams,
) -> Result<crate::http::Page<DeadLetter>> {
    actor.user_with(&[Role::Admin])?;
    let total = store::dead_letter_count(&state.db).await?;
    let items = store::dead_letters(&state.db, paging.per_page, paging.offset())
        .await?
        .into_iter()
        .map(DeadLetter::with_code)
        .collect();
    Ok(crate::http::Page::new(items, total, paging))
}

/// Put dead letter `id` back in the outbox (admins), audited
/// `federation.retry` in the same transaction; wakes delivery.
/// Dismiss dead letter `id`: an administrator has seen it and its outcome
/// (a referral `undeliverable`, its counsellor told) stands; it leaves the
/// list, the `vivier_dead_letters` gauge and `vivier-admin status`. Audited
/// with its destination and error.
pub async fn dismiss(state: &AppState, actor: &Actor, id: i64) -> Result<()> {
    actor.user_with(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let (destination, message_id, error) = store::dismiss_dead_letter(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("dead letter"))?;
    crate::audit::append(
        &mut tx,
        actor,
        "federation.dismiss",
        ("message", &message_id),
        None,
        serde_json::json!({"destination": destination, "error": error}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn retry(state: &AppState, actor: &Actor, id: i64) -> Result<()> {
    actor.user_with(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    lock_sequences(state, &mut tx).await?;
    let row = store::requeue_dead_letter(&mut tx, id, state.clock.now_ms())
        .await?
        .ok_or(Error::NotFound("dead letter"))?;
    crate::audit::append(
        &mut tx,
        actor,
        "federation.retry",
        ("message", &row.message_id),
        None,
        serde_json::json!({"destination": row.destination}),
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(())
}
