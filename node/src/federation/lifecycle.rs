//! A member leaves the network (revoked or suspended by a membership
//! document), as every other node applies it — in the same transaction as
//! the document's acceptance, so a crash cannot leave half of it:
//! - its offers held here are closed (`closed_reason = member_left`) and
//!   leave search and matching through the journal;
//! - this node's pending referrals to those offers become `undeliverable`
//!   and their counsellors are told;
//! - what was queued for it is parked (its domain outcome applied);
//! - the candidate profiles it referred to this node's offers are purged:
//!   at once when revoked, after `federation.suspended_member_purge_days`
//!   when suspended and still suspended then (hourly sweep).
//!
//! When the document says *this* node is no longer active, everything in
//! its outbox is parked (`this_node_not_member`: the referrals become
//! `undeliverable`), and [`ensure_member`] refuses new federated actions.
//! A member reactivated later is simply active again; what was closed or
//! purged stays so (its offers come back when it publishes them again).

use sqlx::{Any, Transaction};
use vivier_protocol::{MemberStatus, MembershipDocument};

use super::outcomes::{self, RECIPIENT_NOT_MEMBER, THIS_NODE_NOT_MEMBER};
use super::store::{self, Departure};
use crate::error::{Error, Result};
use crate::server::AppState;

const DAY_MS: i64 = 86_400_000;

/// What applying a document's departures did here.
#[derive(Debug, Default, Clone, Copy)]
pub struct Departures {
    /// Network offers closed.
    pub offers_closed: u64,
    /// Outbound referrals made undeliverable.
    pub referrals_undeliverable: u64,
    /// Inbound profiles purged.
    pub profiles_purged: u64,
    /// Outbox messages parked.
    pub messages_parked: u64,
}

/// Whether this node is listed as an active member of `doc` (a node with no
/// document at all is on its own, not departed).
pub fn self_active(state: &AppState, doc: &MembershipDocument) -> bool {
    doc.member(&state.identity.node_id)
        .is_some_and(|m| m.is_active())
}

/// Whether `doc` lists this node as a member that is no longer active
/// (suspended or revoked): it has left the network.
pub fn self_departed(state: &AppState, doc: &MembershipDocument) -> bool {
    doc.member(&state.identity.node_id).is_some() && !self_active(state, doc)
}

/// Refuse a new federated action (an offer broadcast, a referral to
/// another member's offer) when this node holds a membership document that
/// no longer lists it as active.
pub fn ensure_member(state: &AppState) -> Result<()> {
    match state.federation.membership() {
        Some(doc) if !self_active(state, &doc.document) => Err(Error::Refused {
            code: "node_not_member",
            message: format!(
                "this node ({}) is not an active member of the network (membership serial {}): \
                 nothing it sends would be accepted",
                state.identity.node_id, doc.document.serial
            ),
        }),
        _ => Ok(()),
    }
}

/// Apply the departures `doc` declares, in the transaction that accepts it.
pub async fn apply(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    doc: &MembershipDocument,
) -> Result<Departures> {
    let mut d = Departures::default();
    let now = state.clock.now_ms();
    if self_departed(state, doc) {
        d.messages_parked += outcomes::park_queued(
            state,
            tx,
            None,
            THIS_NODE_NOT_MEMBER,
            "this node is no longer an active member of the network",
        )
        .await?;
        let others: Vec<String> = doc
            .members
            .iter()
            .filter(|m| m.node_id != state.identity.node_id)
            .map(|m| m.node_id.to_string())
            .collect();
        d.referrals_undeliverable +=
            crate::referrals::on_this_node_left(state, tx, &others).await?;
        tracing::warn!(
            serial = doc.serial,
            parked = d.messages_parked,
            "this node is no longer an active member: federated actions refused, queue parked"
        );
    }
    for m in &doc.members {
        let node = m.node_id.as_str();
        if m.node_id == state.identity.node_id {
            continue;
        }
        let status = match &m.status {
            MemberStatus::Active => {
                store::forget_departure(tx, node).await?;
                continue;
            }
            MemberStatus::Suspended { .. } => Departure::Suspended,
            MemberStatus::Revoked { .. } => Departure::Revoked,
        };
        let known = store::departure(tx, node).await?;
        if known == Some(status) {
            continue;
        }
        if known.is_some() {
            store::update_departure(tx, node, status, doc.serial).await?;
        } else {
            store::insert_departure(tx, node, status, now, doc.serial).await?;
        }
        d.offers_closed += close_offers_of(tx, node, now).await?;
        d.referrals_undeliverable +=
            crate::referrals::on_offer_member_left(state, tx, node).await?;
        d.messages_parked += outcomes::park_queued(
            state,
            tx,
            Some(node),
            RECIPIENT_NOT_MEMBER,
            "the recipient is no longer an active member of the network",
        )
        .await?;
        if status == Departure::Revoked {
            d.profiles_purged += purge(state, tx, node, now).await?;
        }
        tracing::warn!(
            member = node,
            status = status.as_str(),
            offers_closed = d.offers_closed,
            "member left the network: its offers closed here"
        );
    }
    Ok(d)
}

/// Close the network offers of `node` held here.
async fn close_offers_of(tx: &mut Transaction<'_, Any>, node: &str, now: i64) -> Result<u64> {
    crate::offers::close_offers_of_departed(
        tx,
        &crate::actor::Actor::System("member_left"),
        node,
        now,
    )
    .await
}

async fn purge(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    node: &str,
    now: i64,
) -> Result<u64> {
    let n = crate::referrals::purge_profiles_from(state, tx, node).await?;
    store::mark_profiles_purged(tx, node, now).await?;
    crate::audit::append(
        tx,
        &crate::actor::Actor::System("member_departure"),
        "federation.purge_member_profiles",
        ("member", node),
        None,
        serde_json::json!({ "profiles_purged": n }),
    )
    .await?;
    Ok(n)
}

/// Purge the profiles of members suspended for longer than the configured
/// delay (and still suspended). Returns how many profiles.
pub async fn purge_due(state: &AppState) -> Result<u64> {
    let days = state.config.federation.suspended_member_purge_days.max(0);
    let now = state.clock.now_ms();
    let due = store::suspended_unpurged(&state.db, now - days * DAY_MS).await?;
    let mut total = 0;
    for node in due {
        let mut tx = state.db.begin().await?;
        total += purge(state, &mut tx, &node, now).await?;
        tx.commit().await?;
    }
    if total > 0 {
        if let Err(e) = state.db.scrub().await {
            tracing::warn!(error = %e, "scrubbing the store after a purge failed");
        }
    }
    Ok(total)
}
