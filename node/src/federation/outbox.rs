//! Emitting: a message is signed and queued in the transaction of the
//! change that caused it (broadcasts also go to the catch-up log); the
//! delivery workers are woken after the commit.

use serde::Serialize;
use sqlx::{Any, Transaction};
use vivier_protocol::{MessageKind, NodeId, Recipient};

use super::store;
use crate::error::{Error, Result};
use crate::server::AppState;
use crate::util::now_ms;

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

/// Serialise the transactions that append to the outbox and the log
/// (see [`store::lock_sequences`]).
pub(super) async fn lock_sequences(state: &AppState, tx: &mut Transaction<'_, Any>) -> Result<()> {
    store::lock_sequences(tx, state.db.backend).await
}

async fn insert_outbox(
    tx: &mut Transaction<'_, Any>,
    destination: &str,
    message_id: &str,
    kind: MessageKind,
    body: &str,
) -> Result<()> {
    // Bookkeeping (the row's age for the status page), not a rule: system time.
    store::insert_outbox(tx, destination, message_id, kind.as_str(), body, now_ms()).await
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
    store::insert_broadcast(tx, &id, kind.as_str(), &body, state.clock.now_ms()).await?;
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
    store::drop_undelivered(conn, destination, message_id).await
}
