//! The referrals' changes made by the node itself (`Actor::System`
//! semantics: the history names `system`): what delivery outcomes, members
//! leaving, erasures, closed offers and the no-answer sweep do to
//! referrals, each in the transaction of its cause.

use std::time::Duration;

use sqlx::{Any, Transaction};
use vivier_protocol::{
    MessageKind, NodeId, ReferralStatus, ReferralWithdrawn, RefusalReason, WithdrawReason,
};

use super::model::{Author, Change, Direction, StoredReferral, DAY_MS, SYSTEM_ACTOR};
use super::service::{transition, write_transition};
use super::store;
use crate::error::{Error, Result};
use crate::server::AppState;
use crate::util::now_ms;

/// The network refused outbound referral `referral_id` for good (`code`,
/// see [`crate::federation::outcomes::refusal_fr`]): it becomes
/// `undeliverable` with the reason in its history, the candidate's status
/// follows, and its counsellor is told — all in the caller's transaction.
/// False when it is not an outbound referral still pending.
pub(crate) async fn mark_undeliverable(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    referral_id: &str,
    code: &str,
) -> Result<bool> {
    let Some(row) = store::get(tx, referral_id).await? else {
        return Ok(false);
    };
    if row.direction != Direction::Outbound || !row.status.is_pending() {
        return Ok(false);
    }
    let me = state.identity.node_id.to_string();
    let system = Author {
        name: SYSTEM_ACTOR,
        node: &me,
        user_id: None,
        at: now_ms(),
    };
    let reason = crate::federation::outcomes::refusal_fr(code);
    let comment = format!("Non transmise : {reason}.");
    transition(
        state,
        tx,
        &row,
        &Change::to(ReferralStatus::Undeliverable, &comment),
        &system,
        false,
    )
    .await?;
    store::set_delivery_error(tx, &row.id, code).await?;
    tell_counsellor(
        state,
        tx,
        &row,
        crate::notifications::NoticeKind::ReferralUndeliverable,
        &format!("n'a pas pu être transmise : {reason}."),
    )
    .await?;
    Ok(true)
}

/// Tell the counsellor of outbound referral `row` (if any) what became of
/// it: « Votre mise en relation pour l'offre « … » `what` ».
async fn tell_counsellor(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    kind: crate::notifications::NoticeKind,
    what: &str,
) -> Result<()> {
    let Some(user_id) = row.counsellor_id.clone() else {
        return Ok(());
    };
    let title = row.offer_title.as_deref().unwrap_or(&row.offer_id);
    crate::notifications::notify(
        state,
        tx,
        crate::notifications::NewNotice {
            user_id,
            kind,
            subject_type: "referral",
            subject_id: row.id.clone(),
            message: format!("Votre mise en relation pour l'offre « {title} » {what}"),
            link: format!("/ui/mises-en-relation/{}", row.id),
        },
    )
    .await
}

/// Member `node` left the network: this node's pending referrals to its
/// offers become `undeliverable` (`member_left`), their counsellors told.
/// Returns how many.
pub(crate) async fn on_offer_member_left(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    node: &str,
) -> Result<u64> {
    let ids = store::pending_outbound_to(tx, node).await?;
    let mut n = 0;
    for id in ids {
        if mark_undeliverable(state, tx, &id, crate::federation::outcomes::MEMBER_LEFT).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// This node left the network: its pending referrals to the offers of
/// `members` (delivered there, whose profiles those members purge) can no
/// longer be followed: each becomes `obsolete` (the candidate's status
/// follows) and its counsellor is told. Those still queued are parked
/// (`undeliverable`) by the caller first. Returns how many.
pub(crate) async fn on_this_node_left(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    members: &[String],
) -> Result<u64> {
    let me = state.identity.node_id.to_string();
    let mut n = 0;
    for node in members {
        for id in store::pending_outbound_to(tx, node).await? {
            let Some(row) = store::get(tx, &id).await? else {
                continue;
            };
            let system = Author {
                name: SYSTEM_ACTOR,
                node: &me,
                user_id: None,
                at: now_ms(),
            };
            let closed = transition(
                state,
                tx,
                &row,
                &Change::to(
                    ReferralStatus::Obsolete,
                    "ce nœud n'est plus membre du réseau : la mise en relation ne peut plus être suivie",
                ),
                &system,
                false,
            )
            .await;
            match closed {
                Ok(_) => {}
                // Changed meanwhile (the same document applied by another
                // transaction, a concurrent answer) or in a state that
                // cannot become obsolete: left as it is, the document is
                // accepted all the same.
                Err(Error::Conflict(why)) => {
                    tracing::info!(referral = %row.id, %why, "referral left as it is");
                    continue;
                }
                Err(e) => return Err(e),
            }
            tell_counsellor(
                state,
                tx,
                &row,
                crate::notifications::NoticeKind::MemberLeft,
                "ne peut plus être suivie : ce nœud n'est plus membre du réseau Vivier (le membre \
                 qui a reçu la candidature l'a effacée).",
            )
            .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Member `node` left the network: forget the profiles it referred to this
/// node's offers (pending ones become `obsolete` first). Returns how many
/// profiles were purged.
pub(crate) async fn purge_profiles_from(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    node: &str,
) -> Result<u64> {
    let rows = store::inbound_with_profile_from(tx, node).await?;
    let me = state.identity.node_id.to_string();
    let mut n = 0;
    for row in &rows {
        if row.status.is_pending() {
            let system = Author {
                name: SYSTEM_ACTOR,
                node: &me,
                user_id: None,
                at: now_ms(),
            };
            write_transition(
                state,
                tx,
                row,
                &Change::to(
                    ReferralStatus::Obsolete,
                    "le membre qui a proposé ce candidat a quitté le réseau",
                ),
                &system,
                false,
            )
            .await?;
        }
        store::forget_personal_data(tx, &row.id, now_ms()).await?;
        // The departed member's counsellor is no one to call any more.
        store::forget_contacts(tx, &row.id).await?;
        n += 1;
    }
    Ok(n)
}
/// that received a referral for them (`referral.withdrawn`, reason
/// erasure), cancel what is still open and forget the personal data kept
/// in the referrals of this node.
pub async fn on_candidate_erased(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
) -> Result<()> {
    let rows = store::of_candidate(tx, candidate_id).await?;
    let me = state.identity.node_id.to_string();
    let now = now_ms();
    let mut sent = false;
    for r in &rows {
        if r.direction == Direction::Outbound {
            if let Some(mid) = &r.message_id {
                crate::federation::drop_undelivered(tx, &r.offer_origin, mid).await?;
            }
            let dest = NodeId::parse(&r.offer_origin).map_err(|e| {
                Error::Internal(anyhow::anyhow!("stored node id {}: {e}", r.offer_origin))
            })?;
            let msg = ReferralWithdrawn {
                referral_id: r.id.clone(),
                offer_id: r.offer_id.clone(),
                reason: WithdrawReason::Erasure,
                withdrawn_at: now,
            };
            crate::federation::enqueue_direct(
                state,
                tx,
                &dest,
                MessageKind::ReferralWithdrawn,
                &msg,
            )
            .await?;
            sent = true;
        }
        if r.status.is_pending() {
            let actor = Author {
                name: SYSTEM_ACTOR,
                node: &me,
                user_id: None,
                at: now,
            };
            // The withdrawal tells the offer's node; no status message.
            write_transition(
                state,
                tx,
                r,
                &Change::to(ReferralStatus::Cancelled, "données du candidat effacées"),
                &actor,
                false,
            )
            .await?;
        }
        store::forget_personal_data(tx, &r.id, now).await?;
    }
    if sent {
        crate::federation::wake(state);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// No-answer sweep

/// Refuse (`no_answer`) the referrals made to this node's offers that are
/// still `new`, `processing` or `postponed` with no change for
/// `referrals.no_answer_days` before `now_ms`. Returns how many.
pub async fn no_answer_sweep(state: &AppState, now_ms: i64) -> Result<u64> {
    let days = state.config.referrals.no_answer_days;
    if days <= 0 {
        return Ok(0);
    }
    let cutoff = now_ms - days * DAY_MS;
    let ids = {
        let mut conn = state.db.pool.acquire().await?;
        store::unanswered_since(&mut conn, cutoff).await?
    };
    let done = refuse_all(
        state,
        ids,
        RefusalReason::NoAnswer,
        &format!("sans réponse depuis {days} jours"),
        |r| {
            matches!(
                r.status,
                ReferralStatus::New | ReferralStatus::Processing | ReferralStatus::Postponed
            ) && r.updated_at < cutoff
        },
    )
    .await?;
    if done > 0 {
        tracing::info!(referrals = done, "referrals refused for lack of an answer");
    }
    Ok(done)
}

/// An offer of this node is being closed, in `tx`: its pending referrals
/// are refused with `position_filled` in the same transaction (the
/// referring nodes are told through the outbox, the candidates' index
/// entries through the journal). Returns how many were refused.
pub(crate) async fn refuse_pending_on_closed_offer(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    offer_id: &str,
    comment: &str,
) -> Result<u64> {
    let ids = store::pending_offer_side(tx, offer_id).await?;
    let mut done = 0u64;
    for id in ids {
        if refuse_one(
            state,
            tx,
            &id,
            RefusalReason::PositionFilled,
            comment,
            &|r: &StoredReferral| r.status.is_pending(),
        )
        .await?
        {
            done += 1;
        }
    }
    Ok(done)
}

/// Refuse, one transaction each, the offer-side referrals `ids` that still
/// satisfy `due`, as the node itself.
async fn refuse_all(
    state: &AppState,
    ids: Vec<String>,
    reason: RefusalReason,
    comment: &str,
    due: impl Fn(&StoredReferral) -> bool + Sync,
) -> Result<u64> {
    let mut done = 0u64;
    for id in ids {
        let mut tx = state.db.begin().await?;
        if refuse_one(state, &mut tx, &id, reason, comment, &due).await? {
            tx.commit().await?;
            crate::journal::wake(state);
            done += 1;
        }
    }
    if done > 0 {
        crate::federation::wake(state);
    }
    Ok(done)
}

/// Refuse referral `id` in `tx`, as the node itself, if it is offer-side
/// and still satisfies `due`. `false` when it was left as it is.
async fn refuse_one(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    id: &str,
    reason: RefusalReason,
    comment: &str,
    due: &(dyn Fn(&StoredReferral) -> bool + Sync),
) -> Result<bool> {
    let me = state.identity.node_id.to_string();
    let Some(r) = store::get(tx, id).await? else {
        return Ok(false);
    };
    if !(r.direction.offer_side() && due(&r)) {
        return Ok(false);
    }
    let actor = Author {
        name: SYSTEM_ACTOR,
        node: &me,
        user_id: None,
        at: crate::util::now_ms(),
    };
    let change = Change {
        status: ReferralStatus::Refused,
        reason: Some(reason),
        contract_type: None,
        start_date: None,
        comment: Some(comment.to_string()),
    };
    match transition(state, tx, &r, &change, &actor, true).await {
        Ok(_) => Ok(true),
        Err(Error::Conflict(msg)) => {
            tracing::debug!(referral = %id, %msg, "referral not refused");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Start the background sweeps (no-answer, hourly); they stop with the node.
pub fn spawn_sweeps(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let mut delay = Duration::from_secs(60);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {},
                res = shutdown.changed() => if res.is_err() { break },
            }
            if !state.leader.wait(&mut shutdown).await {
                break;
            }
            if let Err(e) = no_answer_sweep(&state, state.clock.now_ms()).await {
                tracing::warn!(error = %e, "no-answer sweep failed; will retry");
            }
            if let Err(e) = crate::federation::purge_departed_due(&state).await {
                tracing::warn!(error = %e, "purge of departed members' profiles failed; will retry");
            }
            delay = Duration::from_secs(3600);
        }
    });
}

// ---------------------------------------------------------------------------
