//! The inbox's write path (`[federation] inbox_bulk`, the default).
//!
//! 1. **Check without the store** (on a blocking thread, so both cores
//!    work): every message verified with the checks of
//!    [`vivier_protocol::verify_message`], the signatures of the batch
//!    together ([`vivier_protocol::verify_messages`]: batch verification,
//!    each on its own when the batch equation fails, so a forged message is
//!    refused alone); received offers checked (`not_origin`,
//!    `invalid_payload`), localised and encoded.
//! 2. **Store with a few statements**: consecutive offers go in one run —
//!    one multi-row `INSERT INTO inbox … ON CONFLICT DO NOTHING RETURNING`
//!    (deduplication: only what was new comes back), one multi-row upsert
//!    of `offers` returning what changed, one multi-row `journal` insert
//!    (the index follows the journal; nothing touches tantivy here). The
//!    run has its own savepoint: if the store refuses any of its rows, the
//!    savepoint is rolled back and its messages are stored one by one
//!    ([`super::store_one`]), so the culprit alone is refused. Other kinds
//!    (referrals, closes, figures) go one by one in order.
//! 3. **Group commit**: batches that arrive while another is being written
//!    wait for the writer and are then stored together in one transaction
//!    (one disk flush for all), each with the answer to its txn id
//!    (`txn_results`) written in that same transaction. Each batch's
//!    messages still succeed or fail on their own; a failing store (a
//!    transient error) fails the whole group with 503, nothing kept, and
//!    the senders retry.

use std::collections::HashSet;
use std::sync::Mutex;

use sqlx::{Any, Transaction};
use tokio::sync::oneshot;
use vivier_protocol::{MessageKind, MessageResult, NodeId, Payload, Recipient, VerifiedMessage};

use super::receive::{
    check_received_offer, store_one, stored_verdict, txn_answer, unverified, verify_options,
    AfterCommit, Effects, Stored,
};
use super::refusals::{self, Disposition};
use super::store::{self, InboxRow};
use super::with_resolver;
use crate::error::{Error, Result};
use crate::offers::RemoteOffer;
use crate::server::AppState;

/// Messages stored in one group transaction at most (20 full batches).
const MAX_GROUP_MESSAGES: usize = 1000;

/// The batches waiting for the writer, and the writer's turn.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Vec<Job>>,
    writer: tokio::sync::Mutex<()>,
}

/// What a stored batch gives its caller.
pub(super) struct Answer {
    /// Message id → verdict, in the batch's order.
    pub results: Vec<(String, MessageResult)>,
    /// The txn answer recorded with the batch (when a txn id was given).
    pub text: Option<String>,
}

/// One batch waiting for the writer.
struct Job {
    batch: Checked,
    /// `(origin, txn id)` whose answer is recorded in the same transaction.
    txn: Option<(NodeId, String)>,
    done: oneshot::Sender<Result<(Answer, Effects)>>,
}

/// A batch after the checks that need no store.
struct Checked {
    /// Final for messages that failed verification; filled in by the store
    /// for the others.
    results: Vec<(String, MessageResult)>,
    items: Vec<Item>,
}

struct Item {
    /// Index in `results`.
    slot: usize,
    msg: VerifiedMessage,
    prep: Prep,
}

/// How a verified message is stored.
enum Prep {
    /// A received offer, checked and encoded: stored in a run.
    Offer(Box<RemoteOffer>),
    /// Refused by a check: stored nothing (unless it is a duplicate, which
    /// the store tells).
    Refused(Error),
    /// On its own statements, in order ([`store_one`]).
    One,
}

/// Verify, check and store one batch of raw messages; with `txn`, record
/// the answer to that txn id in the same transaction.
pub(super) async fn receive(
    state: &AppState,
    raws: Vec<Vec<u8>>,
    txn: Option<(NodeId, String)>,
) -> Result<Answer> {
    let st = state.clone();
    let batch = tokio::task::spawn_blocking(move || check(&st, &raws))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("inbox check: {e}")))?;
    let (tx, rx) = oneshot::channel();
    let queue = &state.federation.inbox;
    if let Ok(mut q) = queue.queue.lock() {
        q.push(Job {
            batch,
            txn,
            done: tx,
        });
    }
    // The writer runs on its own task: a request dropped by its client
    // never abandons the batches of others in the middle of a transaction.
    tokio::spawn(write_queued(state.clone()));
    let (answer, effects) = rx.await.map_err(|_| {
        refusals::unavailable(&Error::Internal(anyhow::anyhow!(
            "the inbox writer stopped"
        )))
    })??;
    effects.apply(state).await;
    Ok(answer)
}

/// Step 1, on a blocking thread.
fn check(state: &AppState, raws: &[Vec<u8>]) -> Checked {
    let opts = verify_options(state, state.clock.now_ms());
    let refs: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
    let verdicts = with_resolver(state, |r| vivier_protocol::verify_messages(&refs, r, &opts));
    let mut results = Vec::with_capacity(raws.len());
    let mut items = Vec::new();
    for (i, (raw, verdict)) in refs.iter().zip(verdicts).enumerate() {
        match verdict {
            Ok(msg) => {
                let prep = prepare(state, &msg);
                results.push((msg.envelope.id.clone(), MessageResult::accepted()));
                items.push(Item { slot: i, msg, prep });
            }
            Err(e) => results.push(unverified(raw, i, &e)),
        }
    }
    Checked { results, items }
}

fn prepare(state: &AppState, msg: &VerifiedMessage) -> Prep {
    if !matches!(
        msg.envelope.kind,
        MessageKind::OfferPublished | MessageKind::OfferUpdated
    ) {
        return Prep::One;
    }
    // Decoded once, by the verification.
    let offer = match msg.typed() {
        Payload::OfferPublished(o) | Payload::OfferUpdated(o) => o,
        _ => return Prep::One,
    };
    match check_received_offer(state, &msg.envelope.sender, offer) {
        Ok(true) => match crate::offers::prepare_remote_offer(offer) {
            Ok(o) => Prep::Offer(Box::new(o)),
            Err(e) => Prep::Refused(e),
        },
        // Our own offer coming back: only its inbox row.
        Ok(false) => Prep::One,
        Err(e) => Prep::Refused(e),
    }
}

/// Step 3: when it is this task's turn, store every queued batch in one
/// transaction.
async fn write_queued(state: AppState) {
    let gc = &state.federation.inbox;
    let _turn = gc.writer.lock().await;
    let mut jobs = Vec::new();
    if let Ok(mut q) = gc.queue.lock() {
        let mut messages = 0;
        let mut take = 0;
        for job in q.iter() {
            if take > 0 && messages + job.batch.items.len() > MAX_GROUP_MESSAGES {
                break;
            }
            messages += job.batch.items.len();
            take += 1;
        }
        jobs = q.drain(..take).collect();
    }
    if jobs.is_empty() {
        // An earlier turn took this task's batch.
        return;
    }
    match write_group(&state, &mut jobs).await {
        Ok(done) => {
            for (job, out) in jobs.into_iter().zip(done) {
                let _ = job.done.send(Ok(out));
            }
        }
        Err(e) => {
            // Nothing of the group was kept: every sender retries.
            let problem = |e: &Error| match e {
                Error::Federation {
                    status,
                    code,
                    message,
                } => Error::Federation {
                    status: *status,
                    code,
                    message: message.clone(),
                },
                other => refusals::unavailable(other),
            };
            for job in jobs {
                let _ = job.done.send(Err(problem(&e)));
            }
        }
    }
}

async fn write_group(state: &AppState, jobs: &mut [Job]) -> Result<Vec<(Answer, Effects)>> {
    let mut tx = state.db.begin().await?;
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        let mut effects = Effects::default();
        store_batch(state, &mut tx, &mut job.batch, &mut effects).await?;
        let results = std::mem::take(&mut job.batch.results);
        let text = match &job.txn {
            Some((origin, txn_id)) => {
                let text = txn_answer(results.clone())?;
                store::record_txn_answer(
                    &mut tx,
                    origin.as_str(),
                    txn_id,
                    &text,
                    state.clock.now_ms(),
                )
                .await?;
                Some(text)
            }
            None => None,
        };
        out.push((Answer { results, text }, effects));
    }
    tx.commit().await?;
    Ok(out)
}

/// Step 2 for one batch, inside the group's transaction.
async fn store_batch(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    batch: &mut Checked,
    effects: &mut Effects,
) -> Result<()> {
    let mut run: Vec<usize> = Vec::new();
    let mut run_keys: HashSet<(String, String)> = HashSet::new();
    let mut refused = Vec::new();
    for i in 0..batch.items.len() {
        let item = &batch.items[i];
        effects.saw(state, &item.msg);
        match &item.prep {
            Prep::Offer(o) => {
                let env = &item.msg.envelope;
                let message_key = (env.sender.to_string(), env.id.clone());
                let offer_key = (String::new(), o.offer_id().to_string());
                // One statement cannot write the same row twice.
                if run_keys.contains(&message_key) || run_keys.contains(&offer_key) {
                    store_run(state, tx, batch, &run, effects).await?;
                    run.clear();
                    run_keys.clear();
                }
                run_keys.insert(message_key);
                run_keys.insert(offer_key);
                run.push(i);
            }
            Prep::Refused(_) => refused.push(i),
            Prep::One => {
                store_run(state, tx, batch, &run, effects).await?;
                run.clear();
                run_keys.clear();
                store_alone(state, tx, batch, i, effects).await?;
            }
        }
    }
    store_run(state, tx, batch, &run, effects).await?;
    settle_refused(tx, batch, refused).await
}

/// One message on its own statements and savepoint.
async fn store_alone(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    batch: &mut Checked,
    i: usize,
    effects: &mut Effects,
) -> Result<()> {
    let item = &batch.items[i];
    let stored = store_one(state, tx, &item.msg).await;
    batch.results[item.slot] = stored_verdict(&item.msg, stored, effects)?;
    Ok(())
}

/// A run of offers: three statements in a savepoint; one by one if the
/// store refuses any of its rows.
async fn store_run(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    batch: &mut Checked,
    run: &[usize],
    effects: &mut Effects,
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let mut sp = sqlx::Acquire::begin(&mut **tx).await?;
    match insert_run(state, &mut sp, batch, run).await {
        Ok(new) => {
            sp.commit().await?;
            for &i in run {
                let item = &batch.items[i];
                let stored = match &item.prep {
                    Prep::Offer(o) if new.contains(&item.msg.envelope.id) => {
                        Stored::New(AfterCommit::IndexOffer(o.offer_id().to_string()))
                    }
                    _ => Stored::Duplicate,
                };
                let stored = Ok(stored);
                batch.results[item.slot] = stored_verdict(&item.msg, stored, effects)?;
            }
            Ok(())
        }
        Err(e) => match refusals::classify(e) {
            Disposition::Transient(e) => Err(e),
            Disposition::Refuse { code, message } => {
                sp.rollback().await?;
                tracing::info!(
                    messages = run.len(),
                    error = code,
                    reason = %message,
                    "the store refused a run of offers: storing them one by one"
                );
                for &i in run {
                    store_alone(state, tx, batch, i, effects).await?;
                }
                Ok(())
            }
        },
    }
}

/// The inbox rows of a run (only the new ones come back), then the offers
/// of the new ones. Returns the ids of the new messages.
async fn insert_run(
    state: &AppState,
    sp: &mut Transaction<'_, Any>,
    batch: &Checked,
    run: &[usize],
) -> Result<HashSet<String>> {
    let rows = run
        .iter()
        .map(|&i| {
            let msg = &batch.items[i].msg;
            let env = &msg.envelope;
            InboxRow {
                origin: env.sender.as_str(),
                message_id: &env.id,
                kind: env.kind.as_str(),
                // Offers are broadcasts: their exact bytes are kept (relayable).
                body: if env.recipient == Recipient::Network {
                    String::from_utf8_lossy(&msg.raw).into_owned()
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let new: HashSet<String> = store::insert_inbox_many(sp, rows, state.clock.now_ms())
        .await?
        .into_iter()
        .collect();
    let offers: Vec<&RemoteOffer> = run
        .iter()
        .filter_map(|&i| match &batch.items[i].prep {
            Prep::Offer(o) if new.contains(&batch.items[i].msg.envelope.id) => Some(&**o),
            _ => None,
        })
        .collect();
    if let Some(&first) = run.first() {
        let peer = crate::actor::Actor::Peer(batch.items[first].msg.envelope.sender.clone());
        crate::offers::store_remote_offers(sp, &peer, &offers).await?;
    }
    Ok(new)
}

/// Messages refused by a check: a duplicate of a stored message is still a
/// duplicate (as on the one-by-one path, where the inbox row comes first);
/// the others are refused. Rare: one look-up each.
async fn settle_refused(
    tx: &mut Transaction<'static, Any>,
    batch: &mut Checked,
    refused: Vec<usize>,
) -> Result<()> {
    let mut ignored = Effects::default();
    for i in refused {
        let item = &mut batch.items[i];
        let Prep::Refused(e) = std::mem::replace(&mut item.prep, Prep::One) else {
            continue;
        };
        let env = &item.msg.envelope;
        let known = store::inbox_has(tx, env.sender.as_str(), &env.id).await?;
        let stored = if known {
            Ok(Stored::Duplicate)
        } else {
            Err(refusals::classify(e))
        };
        batch.results[item.slot] = stored_verdict(&item.msg, stored, &mut ignored)?;
    }
    Ok(())
}
