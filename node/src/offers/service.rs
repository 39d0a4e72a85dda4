//! The offers' services: every change takes the [`Actor`] who asks,
//! decides from it before changing anything (employers post for their own
//! company and change only their own offers, staff post on behalf of an
//! employer and change any local offer, a peer or the node itself stores
//! received offers), and writes the change, its audit row, its index
//! journal entry and its federation broadcast in one transaction. The HTTP
//! API (`http.rs`), the web UI (`crate::ui::offres`), the France Travail
//! import (`france_travail.rs`, the CLI's) and the federation inbox only
//! say who calls.
//!
//! What the services need from the rest of the node is the [`Env`] trait
//! (the database, the node's id, the referentials, the broadcast, the
//! cascade on the referrals of a closed offer, the wake-ups), implemented by
//! `AppState` in `offers.rs`: nothing here imports `AppState`.

use std::future::Future;

use sqlx::{Any, Transaction};
use vivier_protocol::{Employer, MessageKind, NodeId, OfferClosed, OfferPayload};

use super::model::{
    employer_for, validate_input, DeliveryRefusal, ListQuery, OfferInput, OfferList, OfferStatus,
    RemoteOffer, StoredOffer, ValidOffer,
};
use super::store;
use crate::actor::Actor;
use crate::auth::{Role, User};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::referentials::Referentials;
use crate::util::now_ms;

/// A federation message an offer change broadcasts.
#[derive(Debug, Clone, Copy)]
pub enum Broadcast<'a> {
    /// `offer.published`.
    Published(&'a OfferPayload),
    /// `offer.updated`.
    Updated(&'a OfferPayload),
    /// `offer.closed`.
    Closed(&'a OfferClosed),
}

impl Broadcast<'_> {
    /// The message kind.
    pub fn kind(self) -> MessageKind {
        match self {
            Broadcast::Published(_) => MessageKind::OfferPublished,
            Broadcast::Updated(_) => MessageKind::OfferUpdated,
            Broadcast::Closed(_) => MessageKind::OfferClosed,
        }
    }
}

/// What the offers' services use of the node, inside or after their
/// transaction.
pub trait Env: Sync {
    /// The database.
    fn db(&self) -> &Db;
    /// This node's id (the origin of its offers).
    fn node_id(&self) -> &NodeId;
    /// The referentials (communes, ROME, certifications).
    fn refs(&self) -> &'static Referentials;
    /// `Ok` when this node is an active member (what it sends is accepted).
    fn ensure_member(&self) -> Result<()>;
    /// Queue a signed broadcast to every member, in `tx`.
    fn broadcast<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Any>,
        msg: Broadcast<'a>,
    ) -> impl Future<Output = Result<String>> + Send + 'a;
    /// Refuse the pending referrals of closed offer `offer_id`, in `tx`;
    /// returns how many.
    fn refuse_pending_referrals<'a>(
        &'a self,
        tx: &'a mut Transaction<'_, Any>,
        offer_id: &'a str,
        comment: &'a str,
    ) -> impl Future<Output = Result<u64>> + Send + 'a;
    /// After a commit: wake the delivery workers and the index follower.
    fn wake(&self);
}

// ---------------------------------------------------------------------------
// Policy

/// The acting user of a user operation (a peer, a candidate or the node
/// itself never posts or changes a local offer).
fn acting_user(actor: &Actor) -> Result<&User> {
    actor.user_with(&[Role::Admin, Role::Counsellor, Role::Employer])
}

/// Whether `user` may change local offer `offer`: staff any, an employer
/// their own.
fn may_change(user: &User, offer: &StoredOffer) -> bool {
    match user.role {
        Role::Admin | Role::Counsellor => true,
        Role::Employer => offer.owner_user_id.as_deref() == Some(user.id.as_str()),
    }
}

/// A local offer the actor may change, or the reason why not (`not_found`,
/// `conflict` for a network offer, `forbidden`).
pub async fn editable<E: Env>(env: &E, actor: &Actor, id: &str) -> Result<StoredOffer> {
    let user = acting_user(actor)?;
    let offer = get_offer(env.db(), id)
        .await?
        .ok_or(Error::NotFound("offer"))?;
    if !offer.is_local {
        return Err(Error::Conflict(format!(
            "offer {id} belongs to node {}; network offers are read-only here",
            offer.payload.origin_node
        )));
    }
    if may_change(user, &offer) {
        Ok(offer)
    } else {
        Err(Error::Forbidden)
    }
}

// ---------------------------------------------------------------------------
// Reads

/// One offer by id.
pub async fn get_offer(db: &Db, id: &str) -> Result<Option<StoredOffer>> {
    let mut conn = db.pool.acquire().await?;
    store::get(&mut conn, id).await
}

/// Several offers by id (missing ids are skipped; order not kept).
pub async fn get_offers(db: &Db, ids: &[String]) -> Result<Vec<StoredOffer>> {
    let mut conn = db.pool.acquire().await?;
    store::get_many(&mut conn, ids).await
}

/// The members that refused local offer `id` for good.
pub async fn delivery_refusals(db: &Db, id: &str) -> Result<Vec<DeliveryRefusal>> {
    let mut conn = db.pool.acquire().await?;
    store::delivery_refusals(&mut conn, id).await
}

/// List offers, most recently updated first. Employers see their own
/// offers only.
pub async fn list_offers(db: &Db, actor: &Actor, q: &ListQuery) -> Result<OfferList> {
    let user = acting_user(actor)?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        "open" => Some(OfferStatus::Open),
        "closed" => Some(OfferStatus::Closed),
        _ => return Err(Error::field("status", "one of open, closed, all")),
    };
    let (local, origin) = match q.origin.as_deref().unwrap_or("all") {
        "all" => (None, None),
        "local" => (Some(true), None),
        "network" => (Some(false), None),
        node => (None, Some(node.to_string())),
    };
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
    let f = store::ListFilter {
        status,
        local,
        origin,
        rome: q
            .rome
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| r.trim().to_ascii_uppercase()),
        contract_type: q
            .contract_type
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.trim().to_ascii_uppercase()),
        owner: (user.role == Role::Employer || q.mine == Some(true)).then(|| user.id.clone()),
        limit,
        offset,
    };
    let mut conn = db.pool.acquire().await?;
    let (total, offers) = store::list(&mut conn, &f).await?;
    Ok(OfferList { total, offers })
}

// ---------------------------------------------------------------------------
// Local changes

/// Append, in the caller's transaction, the journal entry that brings the
/// offer index in line with offer `id` once committed.
pub(crate) async fn journal_index(tx: &mut Transaction<'_, Any>, id: &str) -> Result<i64> {
    crate::journal::append(tx, crate::journal::Kind::IndexOffer, id, now_ms()).await
}

/// Insert a new local offer, its `offer.published` broadcast, its index
/// journal entry and its `offer.create` audit row in one transaction.
async fn insert_local<E: Env>(
    env: &E,
    actor: &Actor,
    valid: ValidOffer,
    owner_user_id: &str,
    external_id: Option<&str>,
    published_at: Option<i64>,
) -> Result<StoredOffer> {
    let now = now_ms();
    let id = crate::util::new_id();
    let published_at = published_at.unwrap_or(now);
    let payload = valid.into_payload(id.clone(), env.node_id().clone(), published_at, now);
    let mut tx = env.db().begin().await?;
    store::insert_local(&mut tx, &payload, owner_user_id, external_id, now).await?;
    env.broadcast(&mut tx, Broadcast::Published(&payload))
        .await?;
    journal_index(&mut tx, &id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "offer.create",
        ("offer", &id),
        None,
        serde_json::json!({ "workplaces": payload.workplaces.len(), "external_id": external_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StoredOffer {
        payload,
        status: OfferStatus::Open,
        owner_user_id: Some(owner_user_id.to_string()),
        is_local: true,
        created_at: now,
        updated_at: now,
        closed_at: None,
        closed_reason: None,
        positions_filled: 0,
    })
}

/// Replace a local open offer's content, broadcast `offer.updated`, journal
/// and audit `offer.update`, in one transaction.
async fn update_local<E: Env>(
    env: &E,
    actor: &Actor,
    existing: &StoredOffer,
    valid: ValidOffer,
) -> Result<StoredOffer> {
    let now = now_ms().max(existing.updated_at + 1);
    let mut payload = valid.into_payload(
        existing.payload.offer_id.clone(),
        existing.payload.origin_node.clone(),
        existing.payload.published_at,
        now,
    );
    // Hires already made stay counted.
    payload.positions_filled = existing.positions_filled;
    let mut tx = env.db().begin().await?;
    if !store::update_local(&mut tx, &payload, now).await? {
        return Err(Error::Conflict(
            "the offer is closed or no longer local".into(),
        ));
    }
    env.broadcast(&mut tx, Broadcast::Updated(&payload)).await?;
    journal_index(&mut tx, &payload.offer_id).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "offer.update",
        ("offer", &payload.offer_id),
        None,
        serde_json::json!({}),
    )
    .await?;
    let mut updated = StoredOffer {
        payload,
        updated_at: now,
        ..existing.clone()
    };
    // Fewer positions than hires made: nothing is left to fill.
    if updated.positions_open() == 0
        && close_filled(env, &mut tx, &updated.payload.offer_id, now + 1).await?
    {
        updated.status = OfferStatus::Closed;
        updated.updated_at = now + 1;
        updated.closed_at = Some(now + 1);
    }
    tx.commit().await?;
    Ok(updated)
}

/// Close local offer `offer_id` in the caller's transaction: status,
/// `offer.closed` broadcast, index journal, pending referrals refused
/// (`position_filled`, the referring nodes told), audit `offer.close`.
/// False when it was not open.
pub(crate) async fn close_in_tx<E: Env>(
    env: &E,
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    offer_id: &str,
    reason: Option<String>,
    now: i64,
) -> Result<bool> {
    if !store::close_local(tx, offer_id, now).await? {
        return Ok(false);
    }
    let closed = OfferClosed {
        offer_id: offer_id.to_string(),
        reason,
        closed_at: now,
    };
    env.broadcast(tx, Broadcast::Closed(&closed)).await?;
    journal_index(tx, &closed.offer_id).await?;
    let refused = env
        .refuse_pending_referrals(tx, &closed.offer_id, "offre clôturée")
        .await?;
    crate::audit::append(
        tx,
        actor,
        "offer.close",
        ("offer", &closed.offer_id),
        None,
        serde_json::json!({ "referrals_refused": refused, "reason": closed.reason }),
    )
    .await?;
    Ok(true)
}

/// A hire through a referral on local offer `offer_id` was recorded (or
/// cancelled): positions filled follow the accepted referrals, and the
/// offer closes (broadcast, as the node itself) when none are left. In the
/// caller's transaction. Returns whether it closed.
pub(crate) async fn hires_changed<E: Env>(
    env: &E,
    tx: &mut Transaction<'_, Any>,
    offer_id: &str,
    now: i64,
) -> Result<bool> {
    let Some(offer) = store::get_local(tx, offer_id).await? else {
        return Ok(false);
    };
    let filled = crate::referrals::store::hires_of_offer(tx, offer_id).await?;
    if filled == offer.positions_filled {
        return Ok(false);
    }
    store::set_positions_filled(tx, offer_id, filled).await?;
    if offer.status != OfferStatus::Open {
        return Ok(false);
    }
    // The network learns the count (an `offer.updated` with the same
    // content), then the close when nothing is left.
    let now = now.max(offer.updated_at + 1);
    let payload = OfferPayload {
        positions_filled: filled,
        updated_at: now,
        ..offer.payload.clone()
    };
    if !store::update_local(tx, &payload, now).await? {
        return Ok(false);
    }
    env.broadcast(tx, Broadcast::Updated(&payload)).await?;
    journal_index(tx, offer_id).await?;
    if filled >= offer.positions() {
        return close_filled(env, tx, offer_id, now + 1).await;
    }
    Ok(false)
}

/// Close local offer `offer_id` because no position is left to fill (as
/// the node itself), in the caller's transaction ([`close_in_tx`]).
async fn close_filled<E: Env>(
    env: &E,
    tx: &mut Transaction<'_, Any>,
    offer_id: &str,
    at: i64,
) -> Result<bool> {
    close_in_tx(
        env,
        tx,
        &Actor::System("positions_filled"),
        offer_id,
        Some("tous les postes sont pourvus".into()),
        at,
    )
    .await
}

/// Create a local offer from an input (validated, broadcast, indexed,
/// audited `offer.create`): an employer for their own company, staff on
/// behalf of the employer the input names.
pub async fn create_offer<E: Env>(
    env: &E,
    actor: &Actor,
    input: &OfferInput,
) -> Result<StoredOffer> {
    let user = acting_user(actor)?;
    env.ensure_member()?;
    let employer = employer_for(user, input)?;
    let valid = validate_input(env.refs(), env.node_id(), input, &employer)?;
    let offer = insert_local(env, actor, valid, &user.id, None, None).await?;
    env.wake();
    Ok(offer)
}

/// Replace a local offer's content (its employer or staff; open offers
/// only), audited `offer.update`.
pub async fn update_offer<E: Env>(
    env: &E,
    actor: &Actor,
    id: &str,
    input: &OfferInput,
) -> Result<StoredOffer> {
    let existing = editable(env, actor, id).await?;
    let user = acting_user(actor)?;
    if existing.status == OfferStatus::Closed {
        return Err(Error::Conflict("the offer is closed".into()));
    }
    env.ensure_member()?;
    let employer = match user.role {
        Role::Employer => employer_for(user, input)?,
        // Staff may correct the company; by default it stays.
        _ => input
            .employer
            .clone()
            .unwrap_or_else(|| existing.payload.employer.clone()),
    };
    let valid = validate_input(env.refs(), env.node_id(), input, &employer)?;
    let offer = update_local(env, actor, &existing, valid).await?;
    env.wake();
    Ok(offer)
}

/// Close a local offer (its employer or staff), audited `offer.close`
/// with its pending referrals refused in the same transaction. Closing a
/// closed offer changes nothing.
pub async fn close_offer<E: Env>(
    env: &E,
    actor: &Actor,
    id: &str,
    reason: Option<String>,
) -> Result<StoredOffer> {
    let existing = editable(env, actor, id).await?;
    if existing.status == OfferStatus::Closed {
        return Ok(existing);
    }
    let now = now_ms().max(existing.updated_at + 1);
    let mut tx = env.db().begin().await?;
    if !close_in_tx(env, &mut tx, actor, id, reason, now).await? {
        return Err(Error::Conflict("the offer was closed meanwhile".into()));
    }
    tx.commit().await?;
    env.wake();
    Ok(StoredOffer {
        status: OfferStatus::Closed,
        updated_at: now,
        closed_at: Some(now),
        ..existing
    })
}

// ---------------------------------------------------------------------------
// Import

/// One offer of an import file, already turned into an input.
#[derive(Debug, Clone)]
pub(crate) struct Imported<'a> {
    /// The input.
    pub input: &'a OfferInput,
    /// Its id in the source (`ft:<id>`): imported again, it updates.
    pub external_id: &'a str,
    /// When the source published it (unix ms).
    pub published_at: Option<i64>,
    /// The company when the input names none.
    pub default_employer: &'a str,
}

/// Import one offer for the acting user (who owns it): created, or updated
/// when imported before and still open; audited like a creation or an
/// update.
pub(crate) async fn import_one<E: Env>(env: &E, actor: &Actor, item: &Imported<'_>) -> Result<()> {
    let owner = acting_user(actor)?;
    let employer = item.input.employer.clone().unwrap_or(Employer {
        name: item.default_employer.to_string(),
        siret: None,
    });
    let valid = validate_input(env.refs(), env.node_id(), item.input, &employer)?;
    let existing = {
        let mut conn = env.db().pool.acquire().await?;
        store::id_by_external(&mut conn, item.external_id).await?
    };
    match existing {
        Some(id) => {
            let stored = get_offer(env.db(), &id)
                .await?
                .ok_or_else(|| Error::Conflict("offer vanished during import".into()))?;
            if stored.status == OfferStatus::Closed {
                return Err(Error::Conflict(format!(
                    "already imported as offer {id}, which is closed"
                )));
            }
            if !may_change(owner, &stored) {
                return Err(Error::Forbidden);
            }
            update_local(env, actor, &stored, valid).await?;
        }
        None => {
            insert_local(
                env,
                actor,
                valid,
                &owner.id,
                Some(item.external_id),
                item.published_at,
            )
            .await?;
        }
    }
    env.wake();
    Ok(())
}

/// The summary of an import, audited `offer.import`.
pub(crate) async fn import_done<E: Env>(
    env: &E,
    actor: &Actor,
    format: &str,
    imported: u64,
    rejected: usize,
) -> Result<()> {
    acting_user(actor)?;
    let mut tx = env.db().begin().await?;
    crate::audit::append(
        &mut tx,
        actor,
        "offer.import",
        ("offer", ""),
        None,
        serde_json::json!({"format": format, "imported": imported, "rejected": rejected}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Received from other members (inside the federation inbox's transaction)

/// Only a verified peer (or the node itself, acting on what peers sent)
/// stores network offers.
fn peer_or_system(actor: &Actor) -> Result<()> {
    match actor {
        Actor::Peer(_) | Actor::System(_) => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

/// Store (insert or update) an offer received from another node: status
/// open, not local, no owner. Ignored when the stored copy is newer, or when
/// the id is already used by an offer of another origin (including ours).
pub async fn store_remote_offer(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    payload: &OfferPayload,
) -> Result<()> {
    store_remote_offers(tx, actor, &[&super::model::prepare_remote_offer(payload)?]).await?;
    Ok(())
}

/// Insert or update received offers with one statement (their ids must be
/// distinct), and journal them with one more. An offer is replaced only by
/// a newer version from the same origin; a local offer is never touched.
/// Every offer given is journaled, changed or not: applying an entry reads
/// the current row, so an entry for a stale copy only re-indexes what is
/// there, and no statement has to say which rows changed. Returns how many
/// changed.
pub async fn store_remote_offers(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    offers: &[&RemoteOffer],
) -> Result<u64> {
    peer_or_system(actor)?;
    if offers.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let changed = store::upsert_remote(tx, offers, now).await?;
    let given = offers.len() as u64;
    if changed < given {
        tracing::debug!(
            ignored = given - changed,
            "received offers ignored (stale or foreign id)"
        );
    }
    let ids: Vec<String> = offers.iter().map(|o| o.offer_id().to_string()).collect();
    crate::journal::append_many(tx, crate::journal::Kind::IndexOffer, &ids, now).await?;
    Ok(changed)
}

/// [`store_remote_offers`] for one offer on SQLite's direct writer
/// ([`crate::db::Db::write_direct`]): stored (unless stale or foreign, as
/// there) and journaled for the index.
pub(crate) fn store_remote_offer_direct(
    tx: &rusqlite::Transaction<'_>,
    actor: &Actor,
    offer: &RemoteOffer,
) -> Result<()> {
    peer_or_system(actor)?;
    let now = now_ms();
    store::upsert_remote_direct(tx, offer, now)?;
    crate::journal::append_direct(tx, crate::journal::Kind::IndexOffer, offer.offer_id(), now)?;
    Ok(())
}

/// Close an offer received from `origin` (only if it is that node's offer).
/// Later updates older than the close are then ignored.
pub async fn close_remote_offer(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    origin: &str,
    closed: &OfferClosed,
) -> Result<()> {
    peer_or_system(actor)?;
    store::close_remote(tx, origin, closed).await?;
    journal_index(tx, &closed.offer_id).await?;
    Ok(())
}

/// Member `origin` left the network: its open offers held here are closed
/// by this node (`closed_reason` `member_left`), journaled for the index.
/// Returns how many.
pub(crate) async fn close_offers_of_departed(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    origin: &str,
    now: i64,
) -> Result<u64> {
    let ids = store::open_ids_of_origin(tx, origin).await?;
    for id in &ids {
        // The same close as when the origin says so (index journal
        // included), with the reason this node had to close it itself.
        let closed = OfferClosed {
            offer_id: id.clone(),
            reason: None,
            closed_at: now,
        };
        close_remote_offer(tx, actor, origin, &closed).await?;
        store::set_closed_reason(tx, id, "member_left").await?;
    }
    Ok(ids.len() as u64)
}
