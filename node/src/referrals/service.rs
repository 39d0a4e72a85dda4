//! The referrals' services: every operation takes the [`Actor`] who asks,
//! decides from it before changing anything (staff refer and cancel, the
//! offer's side answers, employers only see the referrals made to their own
//! offers), and writes the change, its history event, its audit row, its
//! journal entries and its outbox messages in one transaction. The HTTP API
//! (`http.rs`), the web UI (`crate::ui`) and the federation inbox
//! (`inbound.rs`) only say who calls.
//!
//! What it still takes from the node: [`AppState`] for the collaborators it
//! calls inside the transaction (`federation::enqueue_direct`,
//! `notifications::notify`, `offers::hires_changed`, the mailer, the
//! identity and the config's `reports` / `aids` / `referrals` sections).

use serde_json::json;
use sqlx::{Any, Transaction};
use vivier_protocol::{
    ContractType, MessageKind, NodeId, ReferralStatus, ReferralStatusChanged, ReferralSubmitted,
    ReferralTarget,
};

use super::mails;
use super::model::{
    parse_contract, parse_status, placement_outcome, reason_str, set_by_offer_side,
    set_by_referring_side, transition_message, undoes_employer_decision, validate_change, view,
    Author, Change, Direction, ListQuery, NewReferral, ReferralEvent, ReferralList, ReferralView,
    StatusInput, StoredReferral, TrainingBefore, CANCEL_REASON_REQUIRED, MAX_ENDORSEMENT_CHARS,
    SYSTEM_ACTOR,
};
use super::store;
use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::candidates::{CandidateStatus, ConsentScope};
use crate::error::{Error, FieldError, Result};
use crate::server::AppState;
use crate::util::{new_id, now_ms};

/// The acting user of a user operation (a candidate, a peer or the node
/// itself never lists, reads or refers through these).
fn acting_user(actor: &Actor) -> Result<&User> {
    actor.user().ok_or(Error::Forbidden)
}

// ---------------------------------------------------------------------------
// Transitions (inside the caller's transaction)

/// Update the row, log the event and, with `notify`, tell the other node.
/// Fails with `Conflict` on a transition the state machine refuses or when
/// the row changed meanwhile.
pub(super) async fn write_transition(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    change: &Change,
    actor: &Author<'_>,
    notify: bool,
) -> Result<()> {
    if !row.status.can_transition_for(change.status, row.target) {
        return Err(Error::Conflict(transition_message(
            row.status,
            change.status,
            row.target,
        )));
    }
    if !store::update_status(tx, &row.id, row.status, change, now_ms()).await? {
        return Err(Error::Conflict(
            "the referral changed meanwhile; reload it and try again".into(),
        ));
    }
    store::insert_event(tx, &row.id, change, actor).await?;
    if notify {
        let dest = match row.direction {
            Direction::Inbound if set_by_offer_side(change.status) => Some(&row.referring_node),
            Direction::Outbound if set_by_referring_side(change.status) => Some(&row.offer_origin),
            _ => None,
        };
        if let Some(dest) = dest {
            let dest = NodeId::parse(dest)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored node id {dest}: {e}")))?;
            let msg = ReferralStatusChanged {
                referral_id: row.id.clone(),
                offer_id: row.offer_id.clone(),
                status: change.status,
                reason: change.reason,
                contract_type: change.contract_type,
                start_date: change.start_date.clone(),
                comment: change.comment.clone(),
                changed_by: actor.name.to_string(),
                changed_at: actor.at,
            };
            crate::federation::enqueue_direct(
                state,
                tx,
                &dest,
                MessageKind::ReferralStatusChanged,
                &msg,
            )
            .await?;
        }
    }
    Ok(())
}

/// Move the candidate to `status` (if it is one of `only_if`), with its
/// index journal entry, in the caller's transaction.
async fn set_candidate_status(
    tx: &mut Transaction<'_, Any>,
    candidate_id: &str,
    status: CandidateStatus,
    only_if: &[CandidateStatus],
) -> Result<bool> {
    let changed = store::set_candidate_status(tx, candidate_id, status, only_if, now_ms()).await?;
    if changed {
        crate::journal::append(
            tx,
            crate::journal::Kind::IndexCandidate,
            candidate_id,
            now_ms(),
        )
        .await?;
    }
    Ok(changed)
}

/// Apply a transition and its consequences: placements on a hire (both
/// sides), the candidate's status and the obsolescence of their other
/// pending referrals (home side). Returns the candidate to re-index.
pub(super) async fn transition(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    change: &Change,
    actor: &Author<'_>,
    notify: bool,
) -> Result<Option<String>> {
    write_transition(state, tx, row, change, actor, notify).await?;
    if let Some(counsellor) = &row.counsellor_id {
        let answer = row.direction.referring_side() && set_by_offer_side(change.status);
        if answer && actor.user_id != Some(counsellor.as_str()) {
            let title = row.offer_title.as_deref().unwrap_or("votre offre");
            mails::referral_answered(
                &state.mail,
                tx,
                &row.id,
                counsellor,
                title,
                change.status,
                change.comment.as_deref(),
            )
            .await?;
        }
    }
    if change.status == ReferralStatus::Cancelled
        && undoes_employer_decision(row.status)
        && row.direction.offer_side()
    {
        tell_employer_cancelled(state, tx, row, actor).await?;
    }
    let home = if row.direction.referring_side() {
        row.candidate_id.clone()
    } else {
        None
    };
    if change.status == ReferralStatus::Certified {
        if let Some(cid) = &home {
            grant_certifications(state, tx, row, cid, actor).await?;
        }
    }
    match change.status {
        ReferralStatus::Accepted => {
            let ct = change
                .contract_type
                .or_else(|| row.contract_type.as_deref().and_then(parse_contract))
                .ok_or_else(|| Error::field("contract_type", "required when status is accepted"))?;
            let offer = store::offer_info(tx, &row.offer_id)
                .await?
                .map(|o| o.payload);
            let duration = offer.as_ref().and_then(|o| o.duration_months);
            // The candidate's home node counts the return to work; the
            // offer's node records a hire through the network.
            let side = if row.direction == Direction::Inbound {
                crate::reports::Side::Offer
            } else {
                crate::reports::Side::Home
            };
            let start = change
                .start_date
                .clone()
                .or_else(|| row.start_date.clone())
                .filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
            crate::reports::facts::insert_placement(
                tx,
                &state.config.reports,
                &state.config.aids,
                crate::reports::NewPlacement {
                    candidate_id: home.clone(),
                    outcome: placement_outcome(ct, duration),
                    referral_id: Some(row.id.clone()),
                    recorded_by: actor.user_id.map(str::to_string),
                    recorded_at: actor.at,
                    contract: crate::reports::ContractFacts {
                        start,
                        end: None,
                        duration_months: duration,
                        weekly_hours: offer.as_ref().and_then(|o| o.weekly_hours),
                    },
                    channel: crate::reports::Channel::Platform,
                    side,
                    rome_code: offer.as_ref().map(|o| o.rome_code.clone()),
                },
            )
            .await?;
            if row.direction.offer_side() {
                // Boxed: closing the offer refuses its pending referrals (recursion).
                Box::pin(crate::offers::hires_changed(
                    state,
                    tx,
                    &row.offer_id,
                    actor.at,
                ))
                .await?;
            }
            if let Some(cid) = &home {
                set_candidate_status(
                    tx,
                    cid,
                    CandidateStatus::Placed,
                    &[
                        CandidateStatus::Active,
                        CandidateStatus::InReferral,
                        CandidateStatus::Archived,
                    ],
                )
                .await?;
                let others = store::pending_of_candidate_except(tx, cid, &row.id).await?;
                let me = state.identity.node_id.to_string();
                for other in &others {
                    let system = Author {
                        name: SYSTEM_ACTOR,
                        node: &me,
                        user_id: None,
                        at: actor.at,
                    };
                    write_transition(
                        state,
                        tx,
                        other,
                        &Change::to(
                            ReferralStatus::Obsolete,
                            "candidat embauché par une autre mise en relation",
                        ),
                        &system,
                        true,
                    )
                    .await?;
                }
            }
            Ok(home)
        }
        ReferralStatus::Cancelled if row.status == ReferralStatus::Accepted => {
            // A cancelled hire is not a hire: it leaves the statistics.
            crate::reports::facts::remove_placement_of_referral(tx, &row.id).await?;
            if row.direction.offer_side() {
                // Boxed: closing the offer refuses its pending referrals (recursion).
                Box::pin(crate::offers::hires_changed(
                    state,
                    tx,
                    &row.offer_id,
                    actor.at,
                ))
                .await?;
            }
            if let Some(cid) = &home {
                if crate::reports::facts::placements_of_candidate(tx, cid).await? == 0 {
                    let next = if store::pending_count(tx, cid).await? > 0 {
                        CandidateStatus::InReferral
                    } else {
                        CandidateStatus::Active
                    };
                    set_candidate_status(tx, cid, next, &[CandidateStatus::Placed]).await?;
                }
            }
            Ok(home)
        }
        s if !s.is_pending() => {
            if let Some(cid) = &home {
                if store::pending_count(tx, cid).await? == 0 {
                    set_candidate_status(
                        tx,
                        cid,
                        CandidateStatus::Active,
                        &[CandidateStatus::InReferral],
                    )
                    .await?;
                }
            }
            Ok(home)
        }
        _ => Ok(None),
    }
}

/// A training referral became `certified` at the candidate's home node:
/// the certifications the training grants (from its stored payload) are
/// added to the candidate's record, audited, in the transaction of the
/// change.
async fn grant_certifications(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    candidate_id: &str,
    actor: &Author<'_>,
) -> Result<()> {
    let Some(training) = crate::opportunities::get_tx(tx, &row.offer_id).await? else {
        return Ok(());
    };
    let codes = training.payload.certifications_granted;
    let added = crate::candidates::add_certifications(tx, candidate_id, &codes).await?;
    let me = state.identity.node_id.to_string();
    let who = if actor.node == me {
        crate::actor::Actor::System("referral.certified")
    } else {
        crate::actor::Actor::Peer(
            NodeId::parse(actor.node)
                .map_err(|e| Error::Internal(anyhow::anyhow!("node id {}: {e}", actor.node)))?,
        )
    };
    crate::audit::append(
        tx,
        &who,
        "candidate.certifications_granted",
        ("candidate", candidate_id),
        None,
        serde_json::json!({
            "referral_id": row.id,
            "opportunity_id": row.offer_id,
            "granted": codes,
            "added": added,
            "certified_by": actor.name,
        }),
    )
    .await?;
    Ok(())
}

/// The referring counsellor cancelled a referral the employer had decided
/// on (hire, « avant embauche », postponement): the offer's owner is told,
/// in the transaction of the change. The notice names no candidate; the
/// reason is in the referral's history behind the link.
async fn tell_employer_cancelled(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &StoredReferral,
    actor: &Author<'_>,
) -> Result<()> {
    let Some(user_id) = store::local_offer_owner(tx, &row.offer_id).await? else {
        return Ok(());
    };
    let title = row.offer_title.as_deref().unwrap_or(&row.offer_id);
    let who = if actor.name == SYSTEM_ACTOR {
        "Le membre qui a proposé le candidat"
    } else {
        actor.name
    };
    let decision = match row.status {
        ReferralStatus::Accepted => "l'embauche que vous aviez enregistrée",
        ReferralStatus::PriorToHire => "votre réponse « Avant embauche »",
        _ => "votre mise en attente",
    };
    crate::notifications::notify(
        state,
        tx,
        crate::notifications::NewNotice {
            user_id,
            kind: crate::notifications::NoticeKind::ReferralCancelled,
            subject_type: "referral",
            subject_id: row.id.clone(),
            message: format!(
                "{who} a annulé une mise en relation pour l'offre « {title} », malgré {decision} ; \
                 le motif est dans l'historique."
            ),
            link: format!("/ui/mises-en-relation/{}", row.id),
        },
    )
    .await
}

/// After a commit that may have changed a candidate's status: the journal
/// entry was written with it; wake the index follower.
async fn reindex_candidate(state: &AppState, id: Option<String>) {
    if id.is_some() {
        crate::journal::wake(state);
    }
}

// ---------------------------------------------------------------------------
// Policy: who sees which referral

/// Whether `user` may see `r`: staff see every referral of this node;
/// employers only the referrals made to their own offers.
async fn visible(conn: &mut sqlx::AnyConnection, user: &User, r: &StoredReferral) -> Result<bool> {
    match user.role {
        Role::Admin | Role::Counsellor => Ok(true),
        Role::Employer => {
            if !r.direction.offer_side() {
                return Ok(false);
            }
            Ok(store::local_offer_owner(conn, &r.offer_id)
                .await?
                .as_deref()
                == Some(user.id.as_str()))
        }
    }
}

/// Referral `id` if `user` may see it; `NotFound` otherwise (an employer
/// does not learn that a referral it may not see exists).
async fn visible_referral(
    conn: &mut sqlx::AnyConnection,
    user: &User,
    id: &str,
) -> Result<StoredReferral> {
    let r = store::get(conn, id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    if !visible(conn, user, &r).await? {
        return Err(Error::NotFound("referral"));
    }
    Ok(r)
}

// ---------------------------------------------------------------------------
// Creating a referral

/// What a new referral is for, as this node knows it.
struct Target {
    id: String,
    origin_node: NodeId,
    is_local: bool,
    open: bool,
    target: ReferralTarget,
    for_offer_id: Option<String>,
}

/// The offer, or the training / immersion, a new referral names (field
/// errors for what is missing or unknown).
async fn resolve_target(
    state: &AppState,
    input: &NewReferral,
    errs: &mut Vec<FieldError>,
) -> Result<Option<Target>> {
    let offer_id = input.offer_id.trim();
    let opportunity_id = input
        .opportunity_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let for_offer_id = input
        .for_offer_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (offer_id.is_empty(), opportunity_id) {
        (false, Some(_)) => {
            errs.push(FieldError::new(
                "opportunity_id",
                "give offer_id or opportunity_id, not both",
            ));
            Ok(None)
        }
        (true, None) => {
            errs.push(FieldError::new(
                "offer_id",
                "required: the offer (or give opportunity_id for a training or an immersion)",
            ));
            Ok(None)
        }
        (false, None) => {
            if for_offer_id.is_some() {
                errs.push(FieldError::new(
                    "for_offer_id",
                    "only for a referral to a training (opportunity_id)",
                ));
            }
            let Some(o) = crate::offers::get_offer(&state.db, offer_id).await? else {
                errs.push(FieldError::new(
                    "offer_id",
                    "no offer with this id on this node",
                ));
                return Ok(None);
            };
            Ok(Some(Target {
                id: o.payload.offer_id,
                origin_node: o.payload.origin_node,
                is_local: o.is_local,
                open: o.status == crate::offers::OfferStatus::Open,
                target: ReferralTarget::Offer,
                for_offer_id: None,
            }))
        }
        (true, Some(oid)) => {
            let Some(o) = crate::opportunities::get(state, oid).await? else {
                errs.push(FieldError::new(
                    "opportunity_id",
                    "no training or immersion with this id on this node",
                ));
                return Ok(None);
            };
            let target = o.payload.opportunity_type.target();
            if let Some(f) = for_offer_id {
                if target != ReferralTarget::Training {
                    errs.push(FieldError::new(
                        "for_offer_id",
                        "only a training prepares for an offer",
                    ));
                } else if crate::offers::get_offer(&state.db, f).await?.is_none() {
                    errs.push(FieldError::new(
                        "for_offer_id",
                        "no offer with this id on this node",
                    ));
                }
            }
            Ok(Some(Target {
                id: o.payload.opportunity_id,
                origin_node: o.payload.origin_node,
                is_local: o.is_local,
                open: o.status == crate::opportunities::OpportunityStatus::Open,
                target,
                for_offer_id: for_offer_id.map(str::to_string),
            }))
        }
    }
}

fn unique_violation(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

/// A new referral, checked and ready to be written ([`check_new`] then
/// [`write_new`], or both through [`create`]).
pub(crate) struct Prepared {
    id: String,
    now: i64,
    direction: Direction,
    target: Target,
    candidate_id: String,
    profile: vivier_protocol::CandidateProfile,
    consent_given_at: i64,
    endorsement: String,
    counsellor_phone: Option<String>,
    submitted: ReferralSubmitted,
    cv_text_truncated: bool,
}

/// Refer a candidate of this node to an offer, a training or an immersion
/// (staff only): checks, then one transaction with the referral, its first
/// event, the candidate's status, the message to the offer's node or the
/// owner's e-mail, and the `referral.create` audit row.
pub async fn create(state: &AppState, actor: &Actor, input: NewReferral) -> Result<ReferralView> {
    let user = actor.staff()?;
    let new = check_new(state, actor, input).await?;
    let res: Result<String> = async {
        let mut tx = state.db.begin().await?;
        let id = write_new(state, &mut tx, actor, &new).await?;
        tx.commit().await?;
        Ok(id)
    }
    .await;
    let id = match res {
        Ok(id) => id,
        Err(e) if unique_violation(&e) => {
            return Err(Error::Conflict(
                "this candidate already has a pending referral for this offer".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    written(state, &new).await;
    let stored = get_referral(state, &id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    view(&stored, user, true)
}

/// Once the transaction holding a [`write_new`] is committed: wakes the
/// federation workers (a referral to another member), the mailer and the
/// index follower.
pub(crate) async fn written(state: &AppState, new: &Prepared) {
    if new.direction == Direction::Outbound {
        crate::federation::wake(state);
    }
    state.mail.wake();
    reindex_candidate(state, Some(new.candidate_id.clone())).await;
}

/// The checks of a new referral, before any transaction (staff only):
/// the fields, the target (open, and a network one needs a `network`
/// consent and this node's membership), the candidate (consented, active
/// or in referral).
pub(crate) async fn check_new(
    state: &AppState,
    actor: &Actor,
    input: NewReferral,
) -> Result<Prepared> {
    let user = actor.staff()?;
    let endorsement = input.endorsement.trim().to_string();
    let mut errs = Vec::new();
    let n = endorsement.chars().count();
    if n == 0 {
        errs.push(FieldError::new(
            "endorsement",
            "must not be empty: say why you recommend this candidate",
        ));
    } else if n > MAX_ENDORSEMENT_CHARS {
        errs.push(FieldError::new(
            "endorsement",
            format!("at most {MAX_ENDORSEMENT_CHARS} characters (got {n})"),
        ));
    }
    let offer = resolve_target(state, &input, &mut errs).await?;
    let candidate = crate::candidates::get_candidate(&state.db, input.candidate_id.trim()).await?;
    if candidate.is_none() {
        errs.push(FieldError::new(
            "candidate_id",
            "no candidate with this id on this node",
        ));
    }
    let (Some(offer), Some(candidate)) = (offer, candidate) else {
        return Err(Error::Validation(errs));
    };
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let consent = candidate.consent.clone().ok_or_else(|| {
        Error::Conflict(
            "the candidate has not consented: record their consent before referring them".into(),
        )
    })?;
    if !offer.is_local && consent.scope != ConsentScope::Network {
        return Err(Error::Conflict(format!(
            "this {} belongs to node {}: referring the candidate there needs their consent with scope \
             network (their consent is {})",
            offer.target.as_str(),
            offer.origin_node,
            consent.scope.as_str()
        )));
    }
    if !matches!(
        candidate.status,
        CandidateStatus::Active | CandidateStatus::InReferral
    ) {
        return Err(Error::Conflict(format!(
            "the candidate is {}: only active or in_referral candidates can be referred",
            candidate.status.as_str()
        )));
    }
    if !offer.open {
        return Err(Error::Conflict(format!(
            "the {} is closed",
            offer.target.as_str()
        )));
    }
    if !offer.is_local {
        crate::federation::ensure_member(state)?;
    }
    let id = new_id();
    let now = now_ms();
    let direction = if offer.is_local {
        Direction::Local
    } else {
        Direction::Outbound
    };
    let profile = crate::candidates::minimal_profile(&candidate, &id);
    // How the employer reaches the counsellor: the account's e-mail and
    // work phone, carried by the referral.
    let counsellor_phone = crate::auth::user_phone(&state.db, &user.id).await?;
    // What leaves the node: the minimal profile, its CV text cut (and
    // flagged) when the whole message would exceed the protocol's limit.
    let mut submitted = ReferralSubmitted {
        referral_id: id.clone(),
        offer_id: offer.id.clone(),
        target: offer.target,
        for_offer_id: offer.for_offer_id.clone(),
        referring_node: state.identity.node_id.clone(),
        counsellor_name: user.display_name.clone(),
        counsellor_email: Some(user.email.clone()),
        counsellor_phone: counsellor_phone.clone(),
        endorsement: endorsement.clone(),
        candidate: profile.clone(),
        consent_given_at: consent.given_at,
        submitted_at: now,
    };
    let cv_text_truncated = direction == Direction::Outbound
        && submitted.fit_to_message_limit().map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "referral {id} cannot fit in a message: {e}"
            ))
        })?;

    Ok(Prepared {
        id,
        now,
        direction,
        target: offer,
        candidate_id: candidate.id.clone(),
        profile,
        consent_given_at: consent.given_at,
        endorsement,
        counsellor_phone,
        submitted,
        cv_text_truncated,
    })
}

/// Write a checked referral in the caller's transaction (staff only; the
/// caller commits, then wakes the federation workers, the mailer and the
/// index follower). Returns the referral's id. A duplicate pending
/// referral is a `Conflict`, or a unique violation when another
/// transaction wrote it meanwhile.
pub(crate) async fn write_new(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    new: &Prepared,
) -> Result<String> {
    let user = actor.staff()?;
    let offer = &new.target;
    if let Some(d) = store::pending_for(tx, &offer.id, &new.candidate_id).await? {
        return Err(Error::Conflict(format!(
            "this candidate already has a pending referral for this offer ({d})"
        )));
    }
    let profile_json = match new.direction {
        Direction::Local => {
            Some(serde_json::to_string(&new.profile).map_err(|e| Error::Internal(e.into()))?)
        }
        _ => None,
    };
    let me = state.identity.node_id.to_string();
    store::insert(
        tx,
        &store::NewRow {
            id: &new.id,
            offer_id: &offer.id,
            offer_origin: offer.origin_node.as_str(),
            referring_node: &me,
            direction: new.direction,
            candidate_id: Some(&new.candidate_id),
            profile: profile_json.as_deref(),
            counsellor_name: &user.display_name,
            counsellor_id: Some(&user.id),
            endorsement: &new.endorsement,
            consent_given_at: new.consent_given_at,
            created_at: new.now,
            counsellor_email: Some(&user.email),
            counsellor_phone: new.counsellor_phone.as_deref(),
            target: offer.target,
            for_offer_id: offer.for_offer_id.as_deref(),
        },
    )
    .await?;
    let author = Author {
        name: &user.display_name,
        node: &me,
        user_id: Some(&user.id),
        at: new.now,
    };
    store::insert_event(
        tx,
        &new.id,
        &Change::to(ReferralStatus::New, "proposition envoyée"),
        &author,
    )
    .await?;
    if new.direction == Direction::Local {
        let by = format!("{} ({})", user.display_name, state.config.display_name);
        mails::referral_new(&state.mail, tx, &new.id, offer.target, &offer.id, &by).await?;
    }
    set_candidate_status(
        tx,
        &new.candidate_id,
        CandidateStatus::InReferral,
        &[CandidateStatus::Active],
    )
    .await?;
    if new.direction == Direction::Outbound {
        let mid = crate::federation::enqueue_direct(
            state,
            tx,
            &offer.origin_node,
            MessageKind::ReferralSubmitted,
            &new.submitted,
        )
        .await?;
        store::set_message_id(tx, &new.id, &mid).await?;
    }
    crate::audit::append(
        tx,
        actor,
        "referral.create",
        ("referral", &new.id),
        None,
        json!({
            "offer_id": offer.id,
            "target": offer.target.as_str(),
            "for_offer_id": offer.for_offer_id,
            "candidate_id": new.candidate_id,
            "direction": new.direction.as_str(),
            "cv_text_truncated": new.cv_text_truncated,
        }),
    )
    .await?;
    Ok(new.id.clone())
}

/// One referral by id (no visibility check, no audit).
pub async fn get_referral(state: &AppState, id: &str) -> Result<Option<StoredReferral>> {
    let mut conn = state.db.pool.acquire().await?;
    store::get(&mut conn, id).await
}

// ---------------------------------------------------------------------------
// Reading

/// List the referrals the acting user may see: staff every referral of
/// this node, an employer those made to their own offers.
pub async fn list(state: &AppState, actor: &Actor, q: &ListQuery) -> Result<ReferralList> {
    let user = acting_user(actor)?;
    let mut f = store::Filter::default();
    if let Some(d) = q.direction.as_deref().filter(|s| !s.is_empty()) {
        f.direction = Some(
            Direction::parse(d)
                .ok_or_else(|| Error::field("direction", "one of outbound, inbound, local"))?,
        );
    }
    match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("pending") => f.pending = true,
        Some(s) => {
            f.status = Some(parse_status(s).ok_or_else(|| {
                Error::field(
                    "status",
                    "one of new, processing, prior_to_hire, accepted, refused, postponed, cancelled, obsolete, or pending (any of new, processing, prior_to_hire, postponed)",
                )
            })?);
        }
    }
    f.offer_id = q
        .offer_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    match user.role {
        Role::Admin | Role::Counsellor => {
            f.candidate_id = q
                .candidate_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        Role::Employer => {
            if q.candidate_id.is_some() {
                return Err(Error::Forbidden);
            }
            f.employer_id = Some(user.id.clone());
        }
    }
    let mut checks = crate::http::Checks::new();
    let limit = checks.int("per_page", q.limit, 50, 1, 500);
    let offset = checks.int(
        "page",
        q.offset,
        0,
        0,
        (crate::http::page::MAX_PAGE - 1) * crate::http::page::MAX_PER_PAGE,
    );
    checks.finish()?;
    let mut conn = state.db.pool.acquire().await?;
    let (total, rows) = store::list(&mut conn, &f, limit, offset).await?;
    let referrals = rows
        .iter()
        .map(|r| view(r, user, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(ReferralList { total, referrals })
}

/// Read one referral with the candidate's profile, audited as
/// `referral.read` in the same transaction. The employer's first read of a
/// `new` referral marks it `processing` ("viewed") and tells the referring
/// node.
pub async fn read(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: Option<&str>,
) -> Result<ReferralView> {
    let user = acting_user(actor)?;
    let mut tx = state.db.begin().await?;
    let mut r = visible_referral(&mut tx, user, id).await?;
    let viewed = user.role == Role::Employer && r.status == ReferralStatus::New;
    if viewed {
        let me = state.identity.node_id.to_string();
        let author = Author {
            name: &user.display_name,
            node: &me,
            user_id: Some(&user.id),
            at: now_ms(),
        };
        let change = Change::to(ReferralStatus::Processing, "consultée par l'employeur");
        match transition(state, &mut tx, &r, &change, &author, true).await {
            // Someone else changed it meanwhile: the read still succeeds.
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        r = store::get(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("referral"))?;
    }
    crate::audit::append(
        &mut tx,
        actor,
        "referral.read",
        ("referral", id),
        reason,
        json!({"direction": r.direction.as_str(), "profile": r.profile.is_some()}),
    )
    .await?;
    tx.commit().await?;
    if viewed {
        crate::federation::wake(state);
    }
    let mut v = view(&r, user, true)?;
    if user.require_staff().is_ok() {
        v.after_trainings = trainings_before(state, &r).await?;
    }
    Ok(v)
}

/// For a referral to an offer, on the candidate's home node: the same
/// candidate's referrals to trainings "for" this offer (the link from a
/// hire back to the training that prepared it).
async fn trainings_before(state: &AppState, r: &StoredReferral) -> Result<Vec<TrainingBefore>> {
    let Some(cid) = r.candidate_id.as_deref() else {
        return Ok(Vec::new());
    };
    if r.target != ReferralTarget::Offer {
        return Ok(Vec::new());
    }
    let mut conn = state.db.pool.acquire().await?;
    store::trainings_for_offer(&mut conn, &r.offer_id, cid).await
}

/// The history of a referral the acting user may see, oldest first.
pub async fn events(state: &AppState, actor: &Actor, id: &str) -> Result<Vec<ReferralEvent>> {
    let user = acting_user(actor)?;
    let mut conn = state.db.pool.acquire().await?;
    visible_referral(&mut conn, user, id).await?;
    store::events(&mut conn, id).await
}

// ---------------------------------------------------------------------------
// Status changes

/// Change the status of a referral. The offer's side (its employer or
/// this node's staff) sets processing, prior_to_hire, accepted, refused,
/// postponed; the referring side's staff set cancelled. Audited as
/// `referral.status` in the transaction of the change.
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: StatusInput,
) -> Result<ReferralView> {
    let user = acting_user(actor)?;
    let change = validate_change(input)?;
    let mut tx = state.db.begin().await?;
    let current = visible_referral(&mut tx, user, id).await?;
    let staff = user.require_staff().is_ok();
    if set_by_offer_side(change.status) {
        if !current.direction.offer_side() {
            return Err(Error::field(
                "status",
                format!(
                    "{} is decided by the node that owns the offer ({}); this node referred the candidate",
                    change.status.as_str(),
                    current.offer_origin
                ),
            ));
        }
    } else if change.status == ReferralStatus::Cancelled {
        if !staff {
            return Err(Error::Forbidden);
        }
        if !current.direction.referring_side() {
            return Err(Error::field(
                "status",
                format!(
                    "cancelled is decided by the node that referred the candidate ({})",
                    current.referring_node
                ),
            ));
        }
        if undoes_employer_decision(current.status) && change.comment.is_none() {
            return Err(Error::Validation(vec![FieldError::coded(
                "comment",
                CANCEL_REASON_REQUIRED,
                format!(
                    "required to cancel a referral the employer answered ({}): say why",
                    current.status.as_str()
                ),
            )]));
        }
    }
    if !current
        .status
        .can_transition_for(change.status, current.target)
    {
        return Err(Error::Conflict(transition_message(
            current.status,
            change.status,
            current.target,
        )));
    }
    let me = state.identity.node_id.to_string();
    let author = Author {
        name: &user.display_name,
        node: &me,
        user_id: Some(&user.id),
        at: now_ms(),
    };
    let cand = transition(state, &mut tx, &current, &change, &author, true).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "referral.status",
        ("referral", id),
        None,
        json!({
            "from": current.status.as_str(),
            "to": change.status.as_str(),
            "reason": change.reason.map(reason_str),
            "contract_type": change.contract_type.map(ContractType::as_str),
        }),
    )
    .await?;
    tx.commit().await?;
    crate::federation::wake(state);
    crate::notifications::wake(state);
    reindex_candidate(state, cand).await;
    let stored = get_referral(state, id)
        .await?
        .ok_or(Error::NotFound("referral"))?;
    view(&stored, user, false)
}
