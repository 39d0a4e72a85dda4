//! The referrals' federation inbox: `referral.submitted`,
//! `referral.status_changed` and `referral.withdrawn` from a verified peer,
//! checked like their local counterparts, then applied through the same
//! transitions as local changes, in the inbox's transaction.

use sqlx::{Any, Transaction};
use vivier_protocol::{
    NodeId, ReferralStatus, ReferralStatusChanged, ReferralSubmitted, ReferralTarget,
    ReferralWithdrawn, WithdrawReason,
};

use super::model::{
    clip, set_by_offer_side, set_by_referring_side, transition_message, valid_date, Author, Change,
    Direction, MAX_COMMENT_CHARS, SYSTEM_ACTOR,
};
use super::service::{transition, write_transition};
use super::{checks, mails, store};
use crate::error::{Error, FieldError, Result};
use crate::federation::{invalid_payload, refusal, AfterCommit};
use crate::server::AppState;
use crate::util::now_ms;

/// `referral.submitted` from `sender`: store an inbound referral for one of
/// this node's open offers.
pub async fn receive_submitted(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    r: ReferralSubmitted,
) -> Result<AfterCommit> {
    if &r.referring_node != sender {
        return Err(refusal(
            "not_referring_node",
            format!(
                "{sender} may not submit a referral on behalf of {}",
                r.referring_node
            ),
        ));
    }
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_submitted(state.refs, &r, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    if r.target != ReferralTarget::Offer {
        check_received_opportunity_target(state, tx, &r).await?;
    } else {
        check_received_offer_target(state, tx, &r).await?;
    }
    if store::exists(tx, &r.referral_id).await? {
        return Err(refusal(
            "duplicate_referral",
            format!("referral {} already exists", r.referral_id),
        ));
    }
    let profile = serde_json::to_string(&r.candidate).map_err(|e| Error::Internal(e.into()))?;
    let now = now_ms();
    let counsellor_name = clip(r.counsellor_name.trim(), 200);
    let counsellor_email = r.counsellor_email.as_deref().map(str::trim);
    let counsellor_phone = r.counsellor_phone.as_deref().map(str::trim);
    store::insert(
        tx,
        &store::NewRow {
            id: &r.referral_id,
            offer_id: &r.offer_id,
            offer_origin: state.identity.node_id.as_str(),
            referring_node: sender.as_str(),
            direction: Direction::Inbound,
            candidate_id: None,
            profile: Some(&profile),
            counsellor_name: &counsellor_name,
            counsellor_id: None,
            endorsement: &r.endorsement,
            consent_given_at: r.consent_given_at,
            created_at: now,
            counsellor_email,
            counsellor_phone,
            target: r.target,
            for_offer_id: r.for_offer_id.as_deref(),
        },
    )
    .await?;
    let actor = Author {
        name: &counsellor_name,
        node: sender.as_str(),
        user_id: None,
        at: now,
    };
    store::insert_event(
        tx,
        &r.referral_id,
        &Change::to(ReferralStatus::New, "proposition reçue"),
        &actor,
    )
    .await?;
    let mission = state
        .federation
        .membership()
        .and_then(|d| d.document.member(sender).map(|m| m.display_name.clone()))
        .unwrap_or_else(|| sender.to_string());
    let by = format!("{counsellor_name} ({mission})");
    mails::referral_new(&state.mail, tx, &r.referral_id, r.target, &r.offer_id, &by).await?;
    Ok(AfterCommit::Nothing)
}

/// A received referral to an offer: one of this node's open offers.
async fn check_received_offer_target(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    r: &ReferralSubmitted,
) -> Result<()> {
    let offer = store::offer_info(tx, &r.offer_id)
        .await?
        .ok_or_else(|| refusal("unknown_offer", format!("no offer {} here", r.offer_id)))?;
    if !offer.is_local || offer.payload.origin_node != state.identity.node_id {
        return Err(refusal(
            "not_offer_origin",
            format!(
                "offer {} is not an offer of {}",
                r.offer_id, state.identity.node_id
            ),
        ));
    }
    if !offer.open {
        return Err(refusal(
            "offer_closed",
            format!("offer {} is closed", r.offer_id),
        ));
    }
    Ok(())
}

/// A received referral to a training or an immersion: one of this node's
/// open opportunities, of the kind the referral says.
async fn check_received_opportunity_target(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    r: &ReferralSubmitted,
) -> Result<()> {
    let o = crate::opportunities::get_tx(tx, &r.offer_id)
        .await?
        .ok_or_else(|| {
            refusal(
                "unknown_opportunity",
                format!("no training or immersion {} here", r.offer_id),
            )
        })?;
    if !o.is_local || o.payload.origin_node != state.identity.node_id {
        return Err(refusal(
            "not_offer_origin",
            format!(
                "{} is not an opportunity of {}",
                r.offer_id, state.identity.node_id
            ),
        ));
    }
    if o.payload.opportunity_type.target() != r.target {
        return Err(refusal(
            "unknown_opportunity",
            format!(
                "{} is a {}, not a {}",
                r.offer_id,
                o.payload.opportunity_type.as_str(),
                r.target.as_str()
            ),
        ));
    }
    if r.for_offer_id.is_some() && r.target != ReferralTarget::Training {
        return Err(invalid_payload(vec![FieldError::new(
            "for_offer_id",
            "only a training prepares for an offer",
        )]));
    }
    if o.status != crate::opportunities::OpportunityStatus::Open {
        return Err(refusal("offer_closed", format!("{} is closed", r.offer_id)));
    }
    Ok(())
}

/// `referral.status_changed` from `sender`: the offer's origin reports the
/// employer's answer, or the referring node cancels.
pub async fn receive_status_changed(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    c: ReferralStatusChanged,
) -> Result<AfterCommit> {
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_status_changed(&c, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    let row = store::get(tx, &c.referral_id).await?.ok_or_else(|| {
        refusal(
            "unknown_referral",
            format!("no referral {} here", c.referral_id),
        )
    })?;
    if row.offer_id != c.offer_id {
        return Err(refusal(
            "unknown_referral",
            format!("referral {} is not for offer {}", c.referral_id, c.offer_id),
        ));
    }
    if set_by_offer_side(c.status) {
        if row.direction != Direction::Outbound || row.offer_origin != sender.as_str() {
            return Err(refusal(
                "not_offer_origin",
                format!(
                    "only the node owning offer {} may set {}",
                    c.offer_id,
                    c.status.as_str()
                ),
            ));
        }
    } else if set_by_referring_side(c.status) {
        if row.direction != Direction::Inbound || row.referring_node != sender.as_str() {
            return Err(refusal(
                "not_referring_node",
                format!("only the referring node may set {}", c.status.as_str()),
            ));
        }
    } else {
        return Err(refusal(
            "invalid_transition",
            transition_message(row.status, c.status, row.target),
        ));
    }
    match c.status {
        ReferralStatus::Accepted => {
            if c.contract_type.is_none() {
                return Err(refusal("malformed", "accepted needs contract_type"));
            }
            if !c.start_date.as_deref().is_some_and(valid_date) {
                return Err(refusal("malformed", "accepted needs start_date YYYY-MM-DD"));
            }
        }
        ReferralStatus::Refused if c.reason.is_none() => {
            return Err(refusal("malformed", "refused needs a reason"));
        }
        _ => {}
    }
    if !row.status.can_transition_for(c.status, row.target) {
        return Err(refusal(
            "invalid_transition",
            transition_message(row.status, c.status, row.target),
        ));
    }
    let change = Change {
        status: c.status,
        reason: if c.status == ReferralStatus::Refused {
            c.reason
        } else {
            None
        },
        contract_type: if c.status == ReferralStatus::Accepted {
            c.contract_type
        } else {
            None
        },
        start_date: if c.status == ReferralStatus::Accepted {
            c.start_date.clone()
        } else {
            None
        },
        comment: c
            .comment
            .as_deref()
            .map(|s| clip(s.trim(), MAX_COMMENT_CHARS))
            .filter(|s| !s.is_empty()),
    };
    let name = clip(c.changed_by.trim(), 200);
    let actor = Author {
        name: if name.is_empty() { SYSTEM_ACTOR } else { &name },
        node: sender.as_str(),
        user_id: None,
        at: c.changed_at,
    };
    let cand = transition(state, tx, &row, &change, &actor, false).await?;
    // Cascades (obsolete referrals) may have queued messages; the delivery
    // workers also poll, so an early wake-up is harmless.
    crate::federation::wake(state);
    Ok(match cand {
        Some(id) => AfterCommit::IndexCandidate(id),
        None => AfterCommit::Nothing,
    })
}

/// `referral.withdrawn` from the referring node: delete the profile (and,
/// for an erasure, the endorsement and comments), cancel if still open.
/// A withdrawal of an unknown referral is accepted and does nothing (its
/// submission may have been dropped from the sender's outbox).
pub async fn receive_withdrawn(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    sender: &NodeId,
    w: ReferralWithdrawn,
) -> Result<AfterCommit> {
    let skew = crate::federation::skew_ms(state);
    let errs = checks::check_withdrawn(&w, now_ms(), skew);
    if !errs.is_empty() {
        return Err(invalid_payload(errs));
    }
    let Some(row) = store::get(tx, &w.referral_id).await? else {
        tracing::debug!(referral = %w.referral_id, "withdrawal of an unknown referral: nothing to delete");
        return Ok(AfterCommit::Nothing);
    };
    if row.direction != Direction::Inbound || row.referring_node != sender.as_str() {
        return Err(refusal(
            "not_referring_node",
            format!(
                "only the referring node may withdraw referral {}",
                w.referral_id
            ),
        ));
    }
    if row.offer_id != w.offer_id {
        return Err(refusal(
            "unknown_referral",
            format!("referral {} is not for offer {}", w.referral_id, w.offer_id),
        ));
    }
    let why = match w.reason {
        WithdrawReason::Withdrawn => "proposition retirée par le conseiller",
        WithdrawReason::Erasure => "données du candidat effacées",
    };
    if row.status.is_pending() {
        let actor = Author {
            name: SYSTEM_ACTOR,
            node: sender.as_str(),
            user_id: None,
            at: w.withdrawn_at,
        };
        write_transition(
            state,
            tx,
            &row,
            &Change::to(ReferralStatus::Cancelled, why),
            &actor,
            false,
        )
        .await?;
    }
    match w.reason {
        WithdrawReason::Erasure => store::forget_personal_data(tx, &row.id, now_ms()).await?,
        WithdrawReason::Withdrawn => {
            store::clear_profile(tx, &row.id, now_ms()).await?;
        }
    }
    Ok(AfterCommit::Nothing)
}
