//! Receiving: the inbox's verification options and verdicts, what a
//! committed batch asks of the node afterwards ([`Effects`]), and the
//! one-by-one path (`[federation] inbox_bulk = false`): each message
//! verified on its own and stored in its own savepoint. The bulk path is
//! [`super::inbox`]; both apply a message through [`store_one`].

use serde::Deserialize;
use sqlx::{Any, Transaction};
use vivier_protocol::{
    MessageKind, MessageResult, NodeId, Payload, Recipient, TxnResponse, VerifiedMessage,
    VerifyError, VerifyOptions,
};

use super::refusals::{self, Disposition};
use super::{inbox, invalid_payload, refusal, skew_ms, store, wake, with_resolver};
use crate::error::{Error, Result};
use crate::server::AppState;

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
pub(super) fn verify_options(state: &AppState, now: i64) -> VerifyOptions {
    VerifyOptions {
        now_ms: now,
        max_skew_ms: state.config.federation.max_clock_skew_secs * 1000,
        local_node: Some(state.identity.node_id.clone()),
        max_bytes: vivier_protocol::MAX_MESSAGE_BYTES,
    }
}

/// The verdict on message `i` of a batch that failed verification.
pub(super) fn unverified(raw: &[u8], i: usize, e: &VerifyError) -> (String, MessageResult) {
    metrics::counter!("vivier_messages_refused_total", "error" => e.kind()).increment(1);
    let id = message_id_hint(raw).unwrap_or_else(|| format!("#{i}"));
    tracing::info!(message_id = %id, error = e.kind(), "message refused");
    (id, MessageResult::refused(e.kind(), e.to_string()))
}

/// The store failed (not the message): the batch is not stored, 503.
pub(super) fn store_failing(msg: &VerifiedMessage, e: &Error) -> Error {
    tracing::warn!(message_id = %msg.envelope.id, error = %e, "store failing: batch not stored");
    refusals::unavailable(e)
}

/// The verdict on a verified message from what storing it gave; the store's
/// own failure ends the batch (`Err`, 503).
pub(super) fn stored_verdict(
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
        Err(Disposition::Transient(e)) => return Err(store_failing(msg, &e)),
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
    pub(super) fn saw(&mut self, state: &AppState, msg: &VerifiedMessage) {
        if msg.envelope.membership_serial > state.federation.membership_serial().unwrap_or(0) {
            self.newer_membership = Some(msg.envelope.sender.clone());
        }
    }

    /// After the commit: wake the workers, scrub, fetch a newer document.
    pub(super) async fn apply(self, state: &AppState) {
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
                if let Err(e) = super::membership::fetch_from(&st, &sender).await {
                    tracing::info!(peer = %sender, error = %e, "could not fetch a newer membership document");
                }
            });
        }
    }
}

/// The previous inbox path: each message verified on its own, then stored
/// with its own statements inside its own savepoint, all in one
/// transaction per batch.
pub(super) async fn process_one_by_one(
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
    let new = store::insert_inbox(
        sp,
        env.sender.as_str(),
        &env.id,
        env.kind.as_str(),
        &body,
        state.clock.now_ms(),
    )
    .await?;
    if !new {
        return Ok(Stored::Duplicate);
    }
    // Decoded once, by the verification.
    let payload = msg.typed().clone();
    Ok(Stored::New(apply(state, sp, msg, payload).await?))
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
            crate::offers::store_remote_offer(
                tx,
                &crate::actor::Actor::Peer(sender.clone()),
                &offer,
            )
            .await?;
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
            crate::offers::close_remote_offer(
                tx,
                &crate::actor::Actor::Peer(sender.clone()),
                sender.as_str(),
                &closed,
            )
            .await?;
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
pub(super) fn check_received_offer(
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

/// The body of a txn answer.
pub(super) fn txn_answer(results: Vec<(String, MessageResult)>) -> Result<String> {
    let resp = TxnResponse {
        results: results.into_iter().collect(),
    };
    serde_json::to_string(&resp).map_err(|e| Error::Internal(e.into()))
}
