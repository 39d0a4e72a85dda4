//! The e-mails of a referral's life, queued in the transaction of the change
//! they report (nothing when the node sends no mail): the owner of the
//! offer, training or immersion is told of a new referral, the referring counsellor of the employer's
//! answer. They name no candidate — the link leads to the node, where
//! access is checked and audited.

use sqlx::{Any, Transaction};
use vivier_protocol::{ReferralStatus, ReferralTarget};

use crate::error::Result;
use crate::mail::Mail;
use crate::mail::Mailer;

fn link(mail: &Mailer, referral_id: &str) -> String {
    mail.link(&format!("/ui/mises-en-relation/{referral_id}"))
}

/// To the owner of the local offer, training or immersion `target_id`:
/// `referred_by` proposed someone.
pub(super) async fn referral_new(
    mail: &Mailer,
    tx: &mut Transaction<'_, Any>,
    referral_id: &str,
    target: ReferralTarget,
    target_id: &str,
    referred_by: &str,
) -> Result<()> {
    let what = match target {
        ReferralTarget::Offer => "offre",
        ReferralTarget::Training => "formation",
        ReferralTarget::Immersion => "immersion",
    };
    let Some((owner, offer_title)) =
        super::store::local_target_owner(tx, target, target_id).await?
    else {
        return Ok(());
    };
    let link = link(mail, referral_id);
    mail.enqueue_to_user(tx, &owner, |display_name| Mail::ReferralNew {
        display_name,
        what: what.to_string(),
        offer_title,
        referred_by: referred_by.to_string(),
        link,
    })
    .await?;
    Ok(())
}

/// The answer as the counsellor's e-mail says it.
fn answer_fr(status: ReferralStatus) -> &'static str {
    match status {
        ReferralStatus::Processing => "candidature en cours d'examen",
        ReferralStatus::PriorToHire => "embauche en préparation",
        ReferralStatus::Accepted => "embauche confirmée",
        ReferralStatus::Refused => "candidature non retenue",
        ReferralStatus::Postponed => "candidature mise en attente",
        ReferralStatus::Admitted => "entrée en formation",
        ReferralStatus::Completed => "formation suivie jusqu'au bout",
        ReferralStatus::Certified => "certification obtenue",
        ReferralStatus::Abandoned => "formation abandonnée",
        _ => "nouvelle étape",
    }
}

/// To counsellor `counsellor_id`: the offer's side answered `status` on
/// their referral to `offer_title`.
pub(super) async fn referral_answered(
    mail: &Mailer,
    tx: &mut Transaction<'_, Any>,
    referral_id: &str,
    counsellor_id: &str,
    offer_title: &str,
    status: ReferralStatus,
    comment: Option<&str>,
) -> Result<()> {
    let link = link(mail, referral_id);
    mail.enqueue_to_user(tx, counsellor_id, |display_name| Mail::ReferralAnswered {
        display_name,
        offer_title: offer_title.to_string(),
        status: answer_fr(status).to_string(),
        comment: comment
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        link,
    })
    .await?;
    Ok(())
}
