//! What a message that can never be delivered does to the object it
//! concerns. A peer's permanent refusal (a per-message `refused` result), a
//! recipient that left the network, or this node leaving it, parks the
//! message in `dead_letters` *and*, in the same transaction:
//! - `referral.submitted` → the referral becomes `undeliverable` with the
//!   reason (code kept in `delivery_error`, French text in its history) and
//!   its counsellor is told;
//! - `offer.published` / `offer.updated` → the refusal is recorded on the
//!   offer (`offer_delivery_refusals`, shown with the offer) and its author
//!   is told.
//!
//! Other kinds (status changes, withdrawals, closures) concern an object
//! whose other side is gone; they are parked and visible to the operator.

use serde::Deserialize;
use sqlx::{Any, Transaction};
use vivier_protocol::MessageKind;

use super::store;
use crate::error::Result;
use crate::notifications::{NewNotice, NoticeKind};
use crate::server::AppState;

/// This node is no longer an active member: nothing it sends is accepted.
pub const THIS_NODE_NOT_MEMBER: &str = "this_node_not_member";
/// The recipient is no longer an active member.
pub const RECIPIENT_NOT_MEMBER: &str = "recipient_not_member";
/// The member owning the offer left the network.
pub const MEMBER_LEFT: &str = "member_left";

/// The French explanation of a permanent refusal code, as counsellors and
/// employers read it (a table, never the peer's English text).
pub fn refusal_fr(code: &str) -> String {
    match code {
        "offer_closed" => {
            "l'offre a été clôturée par le membre qui la porte avant que la proposition n'arrive"
                .into()
        }
        "unknown_offer" => "le membre qui porte l'offre ne la connaît pas (ou plus)".into(),
        MEMBER_LEFT | RECIPIENT_NOT_MEMBER => "le membre destinataire a quitté le réseau".into(),
        THIS_NODE_NOT_MEMBER | "sender_not_active" => {
            "notre nœud n'est plus membre actif du réseau".into()
        }
        "invalid_payload" | "malformed" => {
            "le membre destinataire a refusé son contenu (données invalides)".into()
        }
        "duplicate_referral" => "le membre destinataire l'avait déjà reçue".into(),
        "expired" => "le message a expiré avant d'être accepté".into(),
        other => format!("le membre destinataire l'a refusée (code « {other} »)"),
    }
}

/// The dead-letter text: `code: message`, the code not repeated when the
/// peer's message already starts with it.
pub fn dead_letter_text(code: &str, message: &str) -> String {
    let message = message.trim();
    let rest = message
        .strip_prefix(code)
        .and_then(|r| r.strip_prefix(':'))
        .map(str::trim_start)
        .unwrap_or(message);
    if rest.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {rest}")
    }
}

#[derive(Deserialize)]
struct EnvelopeIds {
    payload: PayloadIds,
}

#[derive(Deserialize)]
struct PayloadIds {
    #[serde(default)]
    referral_id: Option<String>,
    #[serde(default)]
    offer_id: Option<String>,
}

/// Park one outbox message for good and apply its outcome, in `tx`.
#[allow(clippy::too_many_arguments)]
pub async fn park(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    dest: &str,
    message_id: &str,
    kind: &str,
    body: &str,
    code: &str,
    message: &str,
) -> Result<()> {
    let now = state.clock.now_ms();
    let text = dead_letter_text(code, message);
    store::insert_dead_letter(tx, dest, message_id, kind, body, &text, now).await?;
    metrics::counter!("vivier_messages_parked_total", "peer" => dest.to_string(), "code" => code.to_string())
        .increment(1);
    apply(state, tx, dest, kind, body, code).await
}

/// The domain outcome of a message refused for good.
async fn apply(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    dest: &str,
    kind: &str,
    body: &str,
    code: &str,
) -> Result<()> {
    let Ok(ids) = serde_json::from_str::<EnvelopeIds>(body) else {
        return Ok(());
    };
    let kind = kind.parse::<MessageKind>().ok();
    match (kind, ids.payload.referral_id, ids.payload.offer_id) {
        (Some(MessageKind::ReferralSubmitted), Some(referral_id), _) => {
            crate::referrals::mark_undeliverable(state, tx, &referral_id, code).await?;
        }
        (Some(MessageKind::OfferPublished | MessageKind::OfferUpdated), _, Some(offer_id)) => {
            offer_refused(state, tx, &offer_id, dest, code).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Record on the offer that `dest` refused it, and tell its author once.
async fn offer_refused(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    offer_id: &str,
    dest: &str,
    code: &str,
) -> Result<()> {
    let Some(owner) = crate::offers::store::local_owner(tx, offer_id).await? else {
        return Ok(());
    };
    let text = refusal_fr(code);
    let refusal = crate::offers::DeliveryRefusal {
        node_id: dest.to_string(),
        code: code.to_string(),
        message: text.clone(),
        at: state.clock.now_ms(),
    };
    if crate::offers::store::add_delivery_refusal(tx, &refusal, offer_id).await? {
        if let Some(user_id) = owner {
            crate::notifications::notify(
                state,
                tx,
                NewNotice {
                    user_id,
                    kind: NoticeKind::OfferRefusedByPeer,
                    subject_type: "offer",
                    subject_id: offer_id.to_string(),
                    message: format!(
                        "Votre offre n'a pas pu être transmise au membre {dest} : {text}."
                    ),
                    link: format!("/ui/offres/{offer_id}"),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Park every queued message for `dest` (all destinations when `None`)
/// with `code`: they can never be delivered. Returns how many.
pub async fn park_queued(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    dest: Option<&str>,
    code: &str,
    message: &str,
) -> Result<u64> {
    let rows = store::queued(tx, dest).await?;
    let mut n = 0;
    for r in &rows {
        park(
            state,
            tx,
            &r.destination,
            &r.message_id,
            &r.kind,
            &r.body,
            code,
            message,
        )
        .await?;
        store::delete_queued(tx, &r.destination, r.seq).await?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_text_does_not_repeat_the_code() {
        assert_eq!(
            dead_letter_text("offer_closed", "offer_closed: offer o1 is closed"),
            "offer_closed: offer o1 is closed"
        );
        assert_eq!(
            dead_letter_text("offer_closed", "offer o1 is closed"),
            "offer_closed: offer o1 is closed"
        );
        assert_eq!(dead_letter_text("x", ""), "x");
    }

    #[test]
    fn refusals_read_in_french() {
        assert!(refusal_fr("offer_closed").contains("clôturée"));
        assert!(refusal_fr(MEMBER_LEFT).contains("quitté le réseau"));
        assert!(refusal_fr("weird_code").contains("weird_code"));
    }
}
