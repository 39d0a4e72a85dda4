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
//!    runs are written without savepoints; if the store refuses any row,
//!    the whole group is rolled back and written again with a savepoint
//!    per run, a refused run's messages then stored one by one
//!    ([`super::store_one`]), so the culprit alone is refused ([`Mode`]).
//!    Other kinds (referrals, closes, figures) go one by one in order,
//!    each in its savepoint. Verdicts (metrics, logs) are drawn once the
//!    whole group is stored, so a group written twice counts once.
//!    **On SQLite**, a group made only of received offers (a burst's shape)
//!    is written instead on the database's direct writer
//!    ([`crate::db::Db::write_direct`], [`write_group_direct`]): per
//!    message, its inbox row, offer and journal entry with statements
//!    prepared once, all on one thread with no hand-off between statements
//!    (sqlx hands each statement to the connection's thread and its answer
//!    back to the task); if the store refuses a row there, the group is
//!    rolled back and written with sqlx as above.
//! 3. **Group commit**: batches that arrive while another is being written
//!    wait for the writer and are then stored together in one transaction
//!    (one disk flush for all), each with the answer to its txn id
//!    (`txn_results`) written in that same transaction. Each batch's
//!    messages still succeed or fail on their own; a failing store (a
//!    transient error) fails the whole group with 503, nothing kept, and
//!    the senders retry.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::{Any, Transaction};
use tokio::sync::oneshot;
use vivier_protocol::{MessageKind, MessageResult, NodeId, Payload, Recipient, VerifiedMessage};

use super::receive::{
    check_received_offer, store_failing, store_one, stored_verdict, txn_answer, unverified,
    verify_options, AfterCommit, Effects, Stored,
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
    /// Batches between their arrival and their answer (checked, queued or
    /// being written): what [`GroupCommit::busy`] tells the offer index.
    in_hand: AtomicUsize,
}

impl GroupCommit {
    /// Whether the inbox holds batches it has not answered yet.
    pub(super) fn busy(&self) -> bool {
        self.in_hand.load(Ordering::Relaxed) > 0
    }
}

/// Counts a batch in [`GroupCommit::in_hand`] until dropped (answered,
/// failed, or its request dropped).
struct InHand<'a>(&'a AtomicUsize);

impl<'a> InHand<'a> {
    fn new(count: &'a AtomicUsize) -> InHand<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        InHand(count)
    }
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
    Refused(Refusal),
    /// On its own statements, in order ([`store_one`]).
    One,
}

/// Why a check refused a message (kept as text: a group may be written
/// twice, see [`Mode`]).
struct Refusal {
    code: &'static str,
    message: String,
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        match refusals::classify(e) {
            Disposition::Refuse { code, message } => Refusal { code, message },
            // The checks do not touch the store; kept for completeness.
            Disposition::Transient(e) => Refusal {
                code: "internal_error",
                message: e.to_string(),
            },
        }
    }
}

/// Verify, check and store one batch of raw messages; with `txn`, record
/// the answer to that txn id in the same transaction.
pub(super) async fn receive(
    state: &AppState,
    raws: Vec<Vec<u8>>,
    txn: Option<(NodeId, String)>,
) -> Result<Answer> {
    let _in_hand = InHand::new(&state.federation.inbox.in_hand);
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
            Err(e) => Prep::Refused(e.into()),
        },
        // Our own offer coming back: only its inbox row.
        Ok(false) => Prep::One,
        Err(e) => Prep::Refused(e.into()),
    }
}

/// Step 3: when it is this task's turn, store every queued batch in one
/// transaction.
async fn write_queued(state: AppState) {
    let gc = &state.federation.inbox;
    let turn = gc.writer.lock().await;
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
    let (jobs, direct) = write_group_direct(&state, jobs).await;
    let written = async {
        match direct {
            Some(Ok(Some(done))) => return Ok(done),
            // The store refused a row: written again below, with sqlx,
            // one savepoint per run.
            Some(Ok(None)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                if let Some(done) = write_group(&state, &jobs, Mode::Fast).await? {
                    return Ok(done);
                }
            }
        }
        // The store refused a row of a run: again, one savepoint per run.
        write_group(&state, &jobs, Mode::Careful)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the inbox's careful write gave up")))
    }
    .await;
    // The group is committed (or given up): the next group may be written
    // while this one's senders are answered and its messages freed.
    drop(turn);
    match written {
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

/// How a group's runs of offers are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Each run's statements straight in the group's transaction. If the
    /// store refuses a row (the checks before make it rare), the group is
    /// rolled back and written again [`Mode::Careful`]ly. No savepoint on
    /// the common path: on SQLite a savepoint copies every page the run
    /// changes into a statement journal, on PostgreSQL it costs two round
    /// trips per run.
    Fast,
    /// Each run in its own savepoint; a refused run is rolled back and its
    /// messages stored one by one, so that the culprit alone is refused.
    Careful,
}

/// What storing each verified message of a batch gave (item index →
/// outcome); verdicts are drawn from it once the whole group is stored.
type Outcomes = Vec<(usize, std::result::Result<Stored, Disposition>)>;

/// Store the group's batches in one transaction, then draw the verdicts
/// (metrics, logs, effects) and record each batch's txn answer in it.
/// `None`: a run was refused in [`Mode::Fast`]; nothing was kept.
async fn write_group(
    state: &AppState,
    jobs: &[Job],
    mode: Mode,
) -> Result<Option<Vec<(Answer, Effects)>>> {
    let mut tx = state.db.begin().await?;
    let mut stored = Vec::with_capacity(jobs.len());
    for job in jobs {
        match store_batch(state, &mut tx, &job.batch, mode).await? {
            Some(outcomes) => stored.push(outcomes),
            // Dropping the transaction rolls it back.
            None => return Ok(None),
        }
    }
    let mut out = Vec::with_capacity(jobs.len());
    for (job, outcomes) in jobs.iter().zip(stored) {
        let (answer, effects) = verdicts(state, job, outcomes)?;
        if let (Some((origin, txn_id)), Some(text)) = (&job.txn, &answer.text) {
            let at = state.clock.now_ms();
            store::record_txn_answer(&mut tx, origin.as_str(), txn_id, text, at).await?;
        }
        out.push((answer, effects));
    }
    tx.commit().await?;
    Ok(Some(out))
}

/// A stored batch's verdicts (its messages' results, counted in the
/// metrics and logged; with a txn id, the answer to record with them in
/// the group's transaction) and what they ask for once it is committed.
fn verdicts(state: &AppState, job: &Job, outcomes: Outcomes) -> Result<(Answer, Effects)> {
    let mut effects = Effects::default();
    let mut results = job.batch.results.clone();
    for item in &job.batch.items {
        effects.saw(state, &item.msg);
    }
    for (i, outcome) in outcomes {
        let item = &job.batch.items[i];
        results[item.slot] = stored_verdict(&item.msg, outcome, &mut effects)?;
    }
    let text = match job.txn {
        Some(_) => Some(txn_answer(results.clone())?),
        None => None,
    };
    Ok((Answer { results, text }, effects))
}

/// What [`write_group_direct`] gives: `None` when the group is not for it
/// (PostgreSQL, SQLite in memory, or a message that is not a received
/// offer); `Some(Ok(None))` when the store refused a row (nothing kept).
type Direct = Option<Result<Option<Vec<(Answer, Effects)>>>>;

/// Steps 2 and 3 on SQLite for a group of received offers (the shape of a
/// burst), on the database's direct writer ([`crate::db::Db::write_direct`]):
/// each message's statements prepared once and run one after another on
/// one thread — its inbox row (`ON CONFLICT DO NOTHING`: a duplicate
/// changes nothing), then, if it was new, its offer and journal entry —,
/// then the verdicts and each batch's txn answer, and one commit.
async fn write_group_direct(state: &AppState, jobs: Vec<Job>) -> (Vec<Job>, Direct) {
    let offers_only = jobs.iter().all(|job| {
        job.batch
            .items
            .iter()
            .all(|item| !matches!(item.prep, Prep::One))
    });
    if !offers_only || !state.db.has_direct_writer() {
        return (jobs, None);
    }
    let jobs = Arc::new(jobs);
    let (st, group) = (state.clone(), Arc::clone(&jobs));
    let ran = state
        .db
        .write_direct(move |tx| match store_group_direct(&st, &tx, &group) {
            Ok(Some(done)) => tx.commit().map(|()| Some(done)).map_err(Error::from),
            // Dropping the transaction rolls it back.
            other => other,
        })
        .await;
    // The closure is gone (run or dropped): the jobs are this task's again.
    let Ok(jobs) = Arc::try_unwrap(jobs) else {
        unreachable!("the direct writer kept the inbox's jobs")
    };
    match ran {
        Some(Ok(done)) => (jobs, Some(done)),
        // Nothing was committed (the turn, the connection or its `BEGIN`
        // failed, or the function panicked): the sqlx path writes the group.
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the inbox's direct writer failed: the group goes through sqlx");
            (jobs, None)
        }
        None => (jobs, None),
    }
}

/// [`write_group_direct`]'s transaction: `None` if the store refused a row.
fn store_group_direct(
    state: &AppState,
    tx: &rusqlite::Transaction<'_>,
    jobs: &[Job],
) -> Result<Option<Vec<(Answer, Effects)>>> {
    let received_at = state.clock.now_ms();
    let mut stored = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut outcomes = Vec::with_capacity(job.batch.items.len());
        // Refused messages are looked up after the offers, as by
        // [`settle_refused`] (a refused copy of an offer of the same batch
        // is then a duplicate).
        let mut refused = Vec::new();
        for (i, item) in job.batch.items.iter().enumerate() {
            let o = match &item.prep {
                Prep::Offer(o) => o,
                Prep::Refused(refusal) => {
                    refused.push((i, refusal));
                    continue;
                }
                // Left out by [`write_group_direct`].
                Prep::One => return Ok(None),
            };
            let env = &item.msg.envelope;
            let new = match store::insert_inbox_direct(tx, &inbox_row(&item.msg), received_at) {
                Ok(new) => new,
                Err(e) => return direct_failed(e.into()),
            };
            let stored = if new {
                let peer = crate::actor::Actor::Peer(env.sender.clone());
                if let Err(e) = crate::offers::store_remote_offer_direct(tx, &peer, o) {
                    return direct_failed(e);
                }
                Stored::New(AfterCommit::IndexOffer(o.offer_id().to_string()))
            } else {
                Stored::Duplicate
            };
            outcomes.push((i, Ok(stored)));
        }
        for (i, refusal) in refused {
            let env = &job.batch.items[i].msg.envelope;
            let outcome = match store::inbox_has_direct(tx, env.sender.as_str(), &env.id) {
                Ok(true) => Ok(Stored::Duplicate),
                Ok(false) => Err(Disposition::Refuse {
                    code: refusal.code,
                    message: refusal.message.clone(),
                }),
                Err(e) => return direct_failed(e.into()),
            };
            outcomes.push((i, outcome));
        }
        stored.push(outcomes);
    }
    let mut out = Vec::with_capacity(jobs.len());
    for (job, outcomes) in jobs.iter().zip(stored) {
        let (answer, effects) = verdicts(state, job, outcomes)?;
        if let (Some((origin, txn_id)), Some(text)) = (&job.txn, &answer.text) {
            let at = state.clock.now_ms();
            store::record_txn_answer_direct(tx, origin.as_str(), txn_id, text, at)?;
        }
        out.push((answer, effects));
    }
    Ok(Some(out))
}

/// A statement of the direct writer failed (nothing is kept: the
/// transaction is dropped). A transient failure of the store (busy, disk,
/// memory: [`refusals::transient_sqlite`], the sqlx path's classifier)
/// answers 503 as on the sqlx path; anything else (a constraint, a
/// trigger, data the store refuses) has the group written again with sqlx,
/// one savepoint per run, so that the culprit alone is refused.
fn direct_failed(e: Error) -> Result<Option<Vec<(Answer, Effects)>>> {
    let code = match &e {
        Error::Internal(any) => match any.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(f, _)) => Some(f.extended_code),
            _ => None,
        },
        _ => None,
    };
    if code.is_some_and(refusals::transient_sqlite) {
        return Err(refusals::unavailable(&e));
    }
    tracing::info!(
        error = %e,
        "the store refused a received offer: the group is written again, one savepoint per run"
    );
    Ok(None)
}

/// Step 2 for one batch, inside the group's transaction. `None`: a run was
/// refused in [`Mode::Fast`].
async fn store_batch(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    batch: &Checked,
    mode: Mode,
) -> Result<Option<Outcomes>> {
    let mut outcomes = Vec::with_capacity(batch.items.len());
    let mut run: Vec<usize> = Vec::new();
    let mut run_keys: HashSet<(&str, &str)> = HashSet::new();
    let mut refused = Vec::new();
    for (i, item) in batch.items.iter().enumerate() {
        match &item.prep {
            Prep::Offer(o) => {
                let env = &item.msg.envelope;
                let message_key = (env.sender.as_str(), env.id.as_str());
                let offer_key = ("", o.offer_id());
                // One statement cannot write the same row twice.
                if run_keys.contains(&message_key) || run_keys.contains(&offer_key) {
                    if !store_run(state, tx, batch, &run, mode, &mut outcomes).await? {
                        return Ok(None);
                    }
                    run.clear();
                    run_keys.clear();
                }
                run_keys.insert(message_key);
                run_keys.insert(offer_key);
                run.push(i);
            }
            Prep::Refused(_) => refused.push(i),
            Prep::One => {
                if !store_run(state, tx, batch, &run, mode, &mut outcomes).await? {
                    return Ok(None);
                }
                run.clear();
                run_keys.clear();
                outcomes.push((i, store_alone(state, tx, &item.msg).await?));
            }
        }
    }
    if !store_run(state, tx, batch, &run, mode, &mut outcomes).await? {
        return Ok(None);
    }
    settle_refused(tx, batch, refused, &mut outcomes).await?;
    Ok(Some(outcomes))
}

/// One message on its own statements and savepoint ([`store_one`]); a
/// failing store ends the group.
async fn store_alone(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    msg: &VerifiedMessage,
) -> Result<std::result::Result<Stored, Disposition>> {
    match store_one(state, tx, msg).await {
        Err(Disposition::Transient(e)) => Err(store_failing(msg, &e)),
        stored => Ok(stored),
    }
}

/// A run of offers: three statements ([`insert_run`]). In
/// [`Mode::Careful`], in a savepoint, and one by one if the store refuses
/// any of its rows. `false`: the store refused a row in [`Mode::Fast`].
async fn store_run(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    batch: &Checked,
    run: &[usize],
    mode: Mode,
    outcomes: &mut Outcomes,
) -> Result<bool> {
    if run.is_empty() {
        return Ok(true);
    }
    let inserted = match mode {
        Mode::Fast => insert_run(state, tx, batch, run).await,
        Mode::Careful => {
            let mut sp = sqlx::Acquire::begin(&mut **tx).await?;
            let inserted = insert_run(state, &mut sp, batch, run).await;
            match &inserted {
                Ok(_) => sp.commit().await?,
                Err(_) => sp.rollback().await?,
            }
            inserted
        }
    };
    match inserted {
        Ok(new) => {
            for &i in run {
                let item = &batch.items[i];
                let stored = match &item.prep {
                    Prep::Offer(o) if new.contains(item.msg.envelope.id.as_str()) => {
                        Stored::New(AfterCommit::IndexOffer(o.offer_id().to_string()))
                    }
                    _ => Stored::Duplicate,
                };
                outcomes.push((i, Ok(stored)));
            }
            Ok(true)
        }
        Err(e) => match refusals::classify(e) {
            Disposition::Transient(e) => Err(e),
            Disposition::Refuse { code, message } => {
                if mode == Mode::Fast {
                    tracing::info!(
                        messages = run.len(),
                        error = code,
                        reason = %message,
                        "the store refused a run of offers: the group is written again, one savepoint per run"
                    );
                    return Ok(false);
                }
                tracing::info!(
                    messages = run.len(),
                    error = code,
                    reason = %message,
                    "the store refused a run of offers: storing them one by one"
                );
                for &i in run {
                    outcomes.push((i, store_alone(state, tx, &batch.items[i].msg).await?));
                }
                Ok(true)
            }
        },
    }
}

/// The inbox rows of a run (only the new ones come back), then the offers
/// of the new ones. Returns the ids of the new messages.
async fn insert_run(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    batch: &Checked,
    run: &[usize],
) -> Result<HashSet<String>> {
    let rows = run
        .iter()
        .map(|&i| inbox_row(&batch.items[i].msg))
        .collect();
    let new = store::insert_inbox_many(tx, rows, state.clock.now_ms()).await?;
    let offers: Vec<&RemoteOffer> = run
        .iter()
        .filter_map(|&i| match &batch.items[i].prep {
            Prep::Offer(o) if new.contains(&batch.items[i].msg.envelope.id) => Some(&**o),
            _ => None,
        })
        .collect();
    if let Some(&first) = run.first() {
        let peer = crate::actor::Actor::Peer(batch.items[first].msg.envelope.sender.clone());
        crate::offers::store_remote_offers(tx, &peer, &offers).await?;
    }
    Ok(new)
}

/// A received message's inbox row.
fn inbox_row(msg: &VerifiedMessage) -> InboxRow<'_> {
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
}

/// Messages refused by a check: a duplicate of a stored message is still a
/// duplicate (as on the one-by-one path, where the inbox row comes first);
/// the others are refused. Rare: one look-up each.
async fn settle_refused(
    tx: &mut Transaction<'static, Any>,
    batch: &Checked,
    refused: Vec<usize>,
    outcomes: &mut Outcomes,
) -> Result<()> {
    for i in refused {
        let item = &batch.items[i];
        let Prep::Refused(refusal) = &item.prep else {
            continue;
        };
        let env = &item.msg.envelope;
        let known = store::inbox_has(tx, env.sender.as_str(), &env.id).await?;
        let stored = if known {
            Ok(Stored::Duplicate)
        } else {
            Err(Disposition::Refuse {
                code: refusal.code,
                message: refusal.message.clone(),
            })
        };
        outcomes.push((i, stored));
    }
    Ok(())
}
