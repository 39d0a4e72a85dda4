//! From interest to referral (protocol README « Interest state machine »).
//!
//! ```text
//! asker (A)                               home node (C)
//! send ── InterestRequest ──────────────▶ receive: pending, notice + e-mail
//!        (pending)                        to the candidate's counsellor
//!                                         decline ─┐      accept ─┐ (a normal
//!                                                  │              │  co-opted referral
//! declined ◀── InterestUpdate{declined} ───────────┘              │  to A's offer)
//! accepted ◀── InterestUpdate{accepted, referral_id} ─────────────┘
//! ```
//!
//! Only the home node can resolve a pseudonym (it kept whom each stood
//! for, per query); the asker learns « non disponible » or receives the
//! referral, whose profile follows the existing referral rules.

use serde::Deserialize;
use serde_json::json;
use vivier_protocol::{
    InterestReceipt, InterestRequest, InterestStatus, InterestUpdate, NetworkAnswer, NodeId,
    NETWORK_INTEREST_PATH, NETWORK_INTEREST_UPDATE_PATH,
};

use super::store::{self, ReceivedInterest, SentInterest};
use crate::actor::Actor;
use crate::auth::Role;
use crate::error::{Error, FieldError, Result};
use crate::notifications::{NewNotice, NoticeKind};
use crate::server::AppState;

/// `POST /api/v1/network-searches/{id}/interests` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterestInput {
    /// The member holding the result.
    pub node_id: String,
    /// The result's pseudonym.
    pub pseudonym: String,
    /// To the candidate's counsellor (1 to 2000 characters).
    pub message: String,
    /// An open offer of this node the candidate could be referred to.
    #[serde(default)]
    pub offer_id: Option<String>,
}

fn member(state: &AppState, node: &str) -> Result<vivier_protocol::Member> {
    let doc = state.federation.membership().ok_or(Error::Refused {
        code: "node_not_member",
        message: "this node holds no membership document".into(),
    })?;
    NodeId::parse(node)
        .ok()
        .and_then(|id| doc.document.member(&id).cloned())
        .filter(|m| m.is_active())
        .ok_or_else(|| Error::field("node_id", "not an active member"))
}

/// The asker marks a result « Intéressé »: the home node is told at once.
pub async fn send(
    state: &AppState,
    actor: &Actor,
    search_id: &str,
    input: InterestInput,
) -> Result<SentInterest> {
    let user = actor.user_with(&[Role::Admin, Role::Counsellor, Role::Employer])?;
    let s = store::search(&state.db, search_id)
        .await?
        .filter(|s| s.user_id == user.id)
        .ok_or(Error::NotFound("network search"))?;
    let mut errs = Vec::new();
    let message = input.message.trim().to_string();
    crate::validation::text(
        &mut errs,
        "message",
        &message,
        true,
        vivier_protocol::netsearch::MAX_INTEREST_MESSAGE_CHARS,
    );
    if let Some(o) = &input.offer_id {
        match crate::offers::get_offer(&state.db, o).await? {
            Some(offer) if offer.is_local => {}
            _ => errs.push(FieldError::new(
                "offer_id",
                "no offer of this node with this id",
            )),
        }
    }
    let held = store::nodes(&state.db, search_id)
        .await?
        .into_iter()
        .find(|n| n.node_id == input.node_id)
        .and_then(|n| n.answer)
        .and_then(|a| serde_json::from_str::<NetworkAnswer>(&a).ok())
        .is_some_and(|a| a.results.iter().any(|r| r.pseudonym == input.pseudonym));
    if !held {
        errs.push(FieldError::new(
            "pseudonym",
            "no such result from this member in this search",
        ));
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    if store::sent_for_search(&state.db, search_id)
        .await?
        .iter()
        .any(|i| i.node_id == input.node_id && i.pseudonym == input.pseudonym)
    {
        return Err(Error::Conflict(
            "an interest was sent for this result already".into(),
        ));
    }
    let m = member(state, &input.node_id)?;
    let asker_label = match (&user.employer_name, user.role) {
        (Some(e), Role::Employer) => format!("{e} — {}", user.display_name),
        _ => format!("{} — {}", user.display_name, state.config.display_name),
    };
    let req = InterestRequest {
        interest_id: crate::util::new_id(),
        query_id: s.id.clone(),
        origin_node: state.identity.node_id.clone(),
        pseudonym: input.pseudonym.clone(),
        asker_label,
        message: message.clone(),
        offer_id: input.offer_id.clone(),
    };
    req.validate()
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let body = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.into()))?;
    let resp = crate::federation::signed_request(
        state,
        &m,
        reqwest::Method::POST,
        NETWORK_INTEREST_PATH,
        body,
    )
    .await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(Error::Peer(format!(
            "{}: HTTP {status}: {}",
            m.node_id,
            text.chars().take(300).collect::<String>()
        )));
    }
    let now = state.clock.now_ms();
    let sent = SentInterest {
        id: req.interest_id.clone(),
        search_id: s.id.clone(),
        node_id: input.node_id.clone(),
        pseudonym: input.pseudonym.clone(),
        message,
        offer_id: input.offer_id.clone(),
        status: InterestStatus::Pending.as_str().into(),
        referral_id: None,
        created_at: now,
        updated_at: now,
        user_id: user.id.clone(),
    };
    let mut tx = state.db.begin().await?;
    store::insert_sent(&mut tx, &sent).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "network_search.interest",
        ("network_interest", &sent.id),
        None,
        json!({ "search_id": s.id, "node_id": sent.node_id, "pseudonym": sent.pseudonym, "offer_id": sent.offer_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(sent)
}

/// The home node receives an interest from `origin` (signature verified).
pub async fn receive(
    state: &AppState,
    origin: &NodeId,
    req: InterestRequest,
) -> Result<InterestReceipt> {
    if &req.origin_node != origin {
        return Err(Error::Federation {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "origin_mismatch",
            message: format!(
                "the interest names {} but {origin} signed it",
                req.origin_node
            ),
        });
    }
    req.validate().map_err(|e| Error::Invalid {
        code: "invalid_interest",
        field: "interest".into(),
        message: e.to_string(),
    })?;
    let candidate_id =
        store::resolve_pseudonym(&state.db, origin.as_str(), &req.query_id, &req.pseudonym)
            .await?
            .ok_or(Error::Federation {
                status: axum::http::StatusCode::NOT_FOUND,
                code: "unknown_pseudonym",
                message: "this node gave no such pseudonym for this query to this member".into(),
            })?;
    let candidate = crate::candidates::get_candidate(&state.db, &candidate_id)
        .await?
        .ok_or(Error::Federation {
            status: axum::http::StatusCode::NOT_FOUND,
            code: "unknown_pseudonym",
            message: "this person is no longer followed here".into(),
        })?;
    let now = state.clock.now_ms();
    let row = ReceivedInterest {
        id: crate::util::new_id(),
        origin: origin.to_string(),
        interest_id: req.interest_id.clone(),
        query_id: req.query_id.clone(),
        candidate_id: candidate_id.clone(),
        counsellor_id: candidate.counsellor_id.clone(),
        asker_label: req.asker_label.clone(),
        message: req.message.clone(),
        offer_id: req.offer_id.clone(),
        status: InterestStatus::Pending.as_str().into(),
        referral_id: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    if store::insert_received(&mut tx, &row, &req.pseudonym).await? {
        crate::audit::append(
            &mut tx,
            &Actor::Peer(origin.clone()),
            "network_search.interest_received",
            ("candidate", &candidate_id),
            None,
            json!({ "interest_id": req.interest_id, "query_id": req.query_id, "pseudonym": req.pseudonym,
                    "asker": req.asker_label, "offer_id": req.offer_id }),
        )
        .await?;
        let told = match &candidate.counsellor_id {
            Some(c) => vec![c.clone()],
            None => admins(state).await?,
        };
        for user_id in told {
            crate::notifications::notify(
                state,
                &mut tx,
                NewNotice {
                    user_id,
                    kind: NoticeKind::NetworkInterest,
                    subject_type: "network_interest",
                    subject_id: row.id.clone(),
                    message: format!(
                        "{} (membre {origin}) s'intéresse à une personne que vous suivez, trouvée par une recherche dans le réseau : « {} ». Demandez-lui son accord, puis proposez-la ou indiquez qu'elle n'est pas disponible.",
                        req.asker_label,
                        req.message.chars().take(300).collect::<String>()
                    ),
                    link: format!("/ui/reseau/interets/{}", row.id),
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(InterestReceipt {
        interest_id: req.interest_id,
        status: InterestStatus::Pending,
    })
}

async fn admins(state: &AppState) -> Result<Vec<String>> {
    store::enabled_admins(&state.db).await
}

/// `POST /api/v1/network-interests/{id}/accept` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// The asker's offer (as received on this node); default: the one the
    /// interest named.
    #[serde(default)]
    pub offer_id: Option<String>,
    /// The counsellor's recommendation (the referral's endorsement).
    pub endorsement: String,
}

async fn pending(state: &AppState, actor: &Actor, id: &str) -> Result<ReceivedInterest> {
    actor.staff()?;
    let i = store::received(&state.db, id)
        .await?
        .ok_or(Error::NotFound("network interest"))?;
    if i.status != InterestStatus::Pending.as_str() {
        return Err(Error::Conflict(format!(
            "this interest is {} already",
            i.status
        )));
    }
    Ok(i)
}

async fn tell_asker(state: &AppState, i: &ReceivedInterest, update: &InterestUpdate) {
    let outcome = async {
        let m = member(state, &i.origin)?;
        let body = serde_json::to_vec(update).map_err(|e| Error::Internal(e.into()))?;
        let resp = crate::federation::signed_request(
            state,
            &m,
            reqwest::Method::POST,
            NETWORK_INTEREST_UPDATE_PATH,
            body,
        )
        .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Error::Peer(format!("HTTP {}", resp.status())))
        }
    }
    .await;
    match outcome {
        Ok(()) => {
            if let Err(e) = store::mark_told(&state.db, &i.id, state.clock.now_ms()).await {
                tracing::warn!(interest = %i.id, error = %e, "network interest: told, but not recorded (it will be told again)");
            }
        }
        Err(e) => {
            tracing::warn!(interest = %i.id, peer = %i.origin, error = %e, "network interest: the asker was not told; it will be told again");
        }
    }
}

/// The update an answered interest stands for (`None` while pending).
fn update_of(i: &ReceivedInterest) -> Option<InterestUpdate> {
    let status = match i.status.as_str() {
        "accepted" => InterestStatus::Accepted,
        "declined" => InterestStatus::Declined,
        _ => return None,
    };
    Some(InterestUpdate {
        interest_id: i.interest_id.clone(),
        status,
        referral_id: i.referral_id.clone(),
    })
}

/// Sends again the answers that their asking members have not acknowledged
/// (a member down or unreachable when the counsellor answered). Idempotent
/// at the asker. Returns how many were tried.
pub async fn retell_untold(state: &AppState) -> Result<usize> {
    let untold = store::received_untold(&state.db, 100).await?;
    for i in &untold {
        if let Some(update) = update_of(i) {
            tell_asker(state, i, &update).await;
        }
    }
    Ok(untold.len())
}

/// Runs [`retell_untold`] every `[network_search] interest_retry_secs` in
/// the leading process.
pub fn spawn_retries(state: &AppState) {
    let state = state.clone();
    let mut shutdown = state.shutdown.clone();
    let every =
        std::time::Duration::from_secs(state.config.network_search.interest_retry_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !state.leader.is_leader() {
                        continue;
                    }
                    if let Err(e) = retell_untold(&state).await {
                        tracing::warn!(error = %e, "network interest: retrying the answers failed");
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    });
}

/// The counsellor declines: the asker learns « non disponible », nothing
/// else.
pub async fn decline(state: &AppState, actor: &Actor, id: &str) -> Result<ReceivedInterest> {
    let i = pending(state, actor, id).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if !store::update_received(&mut tx, id, InterestStatus::Declined.as_str(), None, now).await? {
        return Err(Error::Conflict("this interest was answered already".into()));
    }
    crate::audit::append(
        &mut tx,
        actor,
        "network_search.interest_declined",
        ("candidate", &i.candidate_id),
        None,
        json!({ "interest": i.id, "origin": i.origin }),
    )
    .await?;
    tx.commit().await?;
    let update = InterestUpdate {
        interest_id: i.interest_id.clone(),
        status: InterestStatus::Declined,
        referral_id: None,
    };
    tell_asker(state, &i, &update).await;
    store::received(&state.db, id)
        .await?
        .ok_or(Error::NotFound("network interest"))
}

/// The counsellor accepts: a normal co-opted referral of the candidate to
/// the asker's offer, written in the transaction that marks the interest
/// accepted (with both audit rows: one commit, or nothing), then the asker
/// is told its id.
pub async fn accept(
    state: &AppState,
    actor: &Actor,
    id: &str,
    input: AcceptInput,
) -> Result<ReceivedInterest> {
    let i = pending(state, actor, id).await?;
    actor.staff()?;
    let Some(offer_id) = input.offer_id.clone().or_else(|| i.offer_id.clone()) else {
        return Err(Error::field(
            "offer_id",
            "choose an offer of the interested member to refer the person to",
        ));
    };
    match crate::offers::get_offer(&state.db, &offer_id).await? {
        Some(o) if o.payload.origin_node.as_str() == i.origin => {}
        _ => {
            return Err(Error::field(
                "offer_id",
                format!("no offer of member {} with this id on this node", i.origin),
            ))
        }
    }
    let referral = crate::referrals::service::check_new(
        state,
        actor,
        crate::referrals::NewReferral {
            offer_id,
            opportunity_id: None,
            for_offer_id: None,
            candidate_id: i.candidate_id.clone(),
            endorsement: input.endorsement,
        },
    )
    .await?;
    let now = state.clock.now_ms();
    // The referral (row, event, outbound message, audit), the interest's
    // status and its audit entry commit together, or none does.
    let mut tx = state.db.begin().await?;
    let referral_id =
        crate::referrals::service::write_new(state, &mut tx, actor, &referral).await?;
    if !store::update_received(
        &mut tx,
        id,
        InterestStatus::Accepted.as_str(),
        Some(&referral_id),
        now,
    )
    .await?
    {
        // Answered meanwhile (by another counsellor): no referral either.
        return Err(Error::Conflict("this interest was answered already".into()));
    }
    crate::audit::append(
        &mut tx,
        actor,
        "network_search.interest_accepted",
        ("candidate", &i.candidate_id),
        None,
        json!({ "interest": i.id, "origin": i.origin, "referral_id": referral_id }),
    )
    .await?;
    tx.commit().await?;
    crate::referrals::service::written(state, &referral).await;
    let update = InterestUpdate {
        interest_id: i.interest_id.clone(),
        status: InterestStatus::Accepted,
        referral_id: Some(referral_id),
    };
    tell_asker(state, &i, &update).await;
    store::received(&state.db, id)
        .await?
        .ok_or(Error::NotFound("network interest"))
}

/// The asker receives the home node's answer to one of its interests.
pub async fn receive_update(state: &AppState, origin: &NodeId, u: InterestUpdate) -> Result<()> {
    let i = store::sent(&state.db, &u.interest_id)
        .await?
        .filter(|i| i.node_id == origin.as_str())
        .ok_or(Error::NotFound("network interest"))?;
    if u.status == InterestStatus::Pending
        || (u.status == InterestStatus::Accepted) != u.referral_id.is_some()
    {
        return Err(Error::field(
            "status",
            "declined, or accepted with a referral_id",
        ));
    }
    let mut tx = state.db.begin().await?;
    if store::update_sent(
        &mut tx,
        &i.id,
        u.status.as_str(),
        u.referral_id.as_deref(),
        state.clock.now_ms(),
    )
    .await?
    {
        crate::audit::append(
            &mut tx,
            &Actor::Peer(origin.clone()),
            "network_search.interest_update",
            ("network_interest", &i.id),
            None,
            json!({ "status": u.status.as_str(), "referral_id": u.referral_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
