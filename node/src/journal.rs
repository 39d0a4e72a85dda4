//! The journal and the index follower: the search indexes are derived from
//! the database and follow it, so that a crash at any moment leaves
//! index == database without a manual `reindex`.
//!
//! - Every change that affects an index appends a journal row **in the same
//!   transaction** as the change ([`append`]). Rows carry ids, not data.
//! - The follower ([`spawn_follower`]) reads the rows after the position
//!   each index has applied, loads the current rows, updates the index and
//!   records the position in the index's commit payload. Each index has
//!   its own loop and cursor ([`Part`]): a burst of received offers, indexed
//!   at a lower priority, never holds back the candidate index (our own
//!   people's records, their erasures). Each loop reads only the kinds of
//!   entry it acts on, and the head to move past the others
//!   ([`read_kinds_after`]). At start-up (and
//!   continuously, also for rows written by other processes on the same
//!   database: a CLI import, a second node process) it resumes from that
//!   payload.
//! - On PostgreSQL, appends take a transaction-scoped advisory lock (held
//!   until commit), so sequence order is commit order and a follower never
//!   skips a lower sequence committed after a higher one.
//! - `reindex` stays as the full rebuild: it records the journal head it
//!   started from, and the follower re-applies what came after.
//!
//! Its SQL is in `journal/store.rs`; the rebuild markers are `node_meta`
//! keys read and written through `Db::meta` / `Db::set_meta` (`db.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::server::AppState;

mod store;

pub(crate) use store::append_direct;
pub use store::{append, append_many, head, prune, read_kinds_after};

/// What a journal entry asks of the derived structures.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr, Serialize,
)]
pub enum Kind {
    /// Re-read candidate `entity_id` and upsert it in (or delete it from)
    /// the candidate index.
    #[strum(serialize = "index.candidate")]
    IndexCandidate,
    /// Erasure: delete candidate `entity_id` and rewrite the segments that
    /// held it, so its text leaves the disk.
    #[strum(serialize = "index.candidate.purge")]
    PurgeCandidate,
    /// Re-read offer `entity_id` and upsert or delete it.
    #[strum(serialize = "index.offer")]
    IndexOffer,
    /// Rebuild the whole candidate index from the database.
    #[strum(serialize = "index.candidates.rebuild")]
    RebuildCandidates,
    /// Rebuild the whole offer index from the database.
    #[strum(serialize = "index.offers.rebuild")]
    RebuildOffers,
    /// The membership document changed: processes reload it.
    #[strum(serialize = "membership")]
    Membership,
    /// The node's key ring changed (`vivier-node key rotate`): processes
    /// reload it.
    #[strum(serialize = "keys")]
    Keys,
}

impl TryFrom<String> for Kind {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<Kind, strum::ParseError> {
        s.parse()
    }
}

impl Kind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position.
    pub seq: i64,
    /// What to do.
    pub kind: Kind,
    /// On what.
    pub entity_id: String,
}

/// `node_meta` key: the journal position up to which a requested rebuild
/// of the candidate index has been done.
pub const REBUILT_KEY: &str = "index_rebuilt_through";
/// `node_meta` key: the same for the offer index.
pub const REBUILT_OFFERS_KEY: &str = "index_rebuilt_through_offers";
/// `node_meta` key: what a running rebuild is doing (for `reindex`).
pub const REBUILD_PROGRESS_KEY: &str = "index_rebuild_progress";

/// Ask the node(s) following this database to rebuild both indexes
/// (`vivier-node reindex` while a node runs). Returns the entries'
/// positions (candidates, offers).
pub async fn request_rebuild(db: &Db) -> Result<(i64, i64)> {
    let mut tx = db.begin().await?;
    let now = crate::util::now_ms();
    let candidates = append(&mut tx, Kind::RebuildCandidates, "*", now).await?;
    let offers = append(&mut tx, Kind::RebuildOffers, "*", now).await?;
    tx.commit().await?;
    Ok((candidates, offers))
}

/// Up to which journal positions requested rebuilds were done
/// (candidates, offers).
pub async fn rebuilt_through(db: &Db) -> Result<(i64, i64)> {
    let read = |v: Option<String>| v.and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((
        read(db.meta(REBUILT_KEY).await?),
        read(db.meta(REBUILT_OFFERS_KEY).await?),
    ))
}

/// One of the two derived indexes, followed on its own cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The candidate index; also reloads the membership document and the
    /// key ring when their entries pass.
    Candidates,
    /// The offer index.
    Offers,
}

impl Part {
    /// The kinds of entry this index's loop acts on; it reads only these
    /// (and the head, to move past the others).
    fn kinds(self) -> &'static [Kind] {
        match self {
            Part::Candidates => &[
                Kind::IndexCandidate,
                Kind::PurgeCandidate,
                Kind::RebuildCandidates,
                Kind::Membership,
                Kind::Keys,
            ],
            Part::Offers => &[Kind::IndexOffer, Kind::RebuildOffers],
        }
    }
}

/// The follower's state shared with the rest of the node.
pub struct Follower {
    wake: [tokio::sync::Notify; 2],
    /// The position the candidate index's loop has finished applying
    /// (what an erasure waits for).
    candidates_applied: watch::Sender<i64>,
    /// One applier at a time per index: two would race (the later could
    /// write rows it read before the other's newer ones).
    applying: [tokio::sync::Mutex<()>; 2],
    /// Entries not yet committed by both indexes, as last measured
    /// ([`measure_backlog`]).
    backlog: AtomicI64,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            wake: [tokio::sync::Notify::new(), tokio::sync::Notify::new()],
            candidates_applied: watch::channel(0).0,
            applying: [tokio::sync::Mutex::new(()), tokio::sync::Mutex::new(())],
            backlog: AtomicI64::new(0),
        }
    }
}

impl Follower {
    /// Tell the follower that entries were committed.
    pub fn wake(&self) {
        for w in &self.wake {
            w.notify_one();
        }
    }

    /// Journal entries not yet committed by both indexes, as last measured
    /// ([`measure_backlog`]; every `follow_interval_ms` on a serving node).
    pub fn backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }
}

/// Measure (and record for [`Follower::backlog`]) how many journal entries
/// both indexes have yet to commit: the head against the lower of their
/// committed positions. One look-up of the journal's last sequence.
pub async fn measure_backlog(state: &AppState) -> Result<i64> {
    let committed = state
        .search
        .candidates
        .committed_seq()
        .min(state.search.offers.committed_seq());
    let backlog = (head(&state.db).await? - committed).max(0);
    state.follower.backlog.store(backlog, Ordering::Relaxed);
    metrics::gauge!("vivier_index_backlog").set(backlog as f64);
    Ok(backlog)
}

/// Whether the index is too far behind for the inbox to take more
/// (`[federation] inbox_max_index_backlog`; 0 = no bound).
pub fn too_far_behind(state: &AppState) -> bool {
    let max = state.config.federation.inbox_max_index_backlog;
    max > 0 && u64::try_from(state.follower.backlog()).unwrap_or(0) > max
}

/// Measure the backlog every `follow_interval_ms`, on a task of its own: the
/// follower itself waits for the indexing threads, which only get the cores
/// that requests leave. Logs when the bound is crossed, either way.
fn spawn_backlog_watch(state: &AppState) {
    let st = state.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown.clone();
        let every = Duration::from_millis(st.config.search.follow_interval_ms.max(10));
        let mut behind = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match measure_backlog(&st).await {
                Ok(backlog) => {
                    let now = too_far_behind(&st);
                    if now && !behind {
                        tracing::warn!(
                            backlog,
                            max = st.config.federation.inbox_max_index_backlog,
                            "the search index is far behind the journal: the inbox refuses new batches until it catches up"
                        );
                    } else if behind && !now {
                        tracing::info!(
                            backlog,
                            "the search index caught up: the inbox takes batches again"
                        );
                    }
                    behind = now;
                }
                Err(e) => tracing::warn!(error = %e, "measuring the index backlog failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
}

/// Wake the follower after a commit that appended entries.
pub fn wake(state: &AppState) {
    state.follower.wake();
}

/// Wait until the candidate index has applied `seq` (or `within` passes).
/// Returns whether it did.
pub async fn wait_candidates_applied(state: &AppState, seq: i64, within: Duration) -> bool {
    let mut rx = state.follower.candidates_applied.subscribe();
    tokio::time::timeout(within, rx.wait_for(|applied| *applied >= seq))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Where the indexes stand against the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Position {
    /// Last journal sequence written.
    pub head: i64,
    /// Applied by the candidate index (committed or about to be).
    pub candidates_applied: i64,
    /// Recorded by the candidate index's last commit.
    pub candidates_committed: i64,
    /// Applied by the offer index.
    pub offers_applied: i64,
    /// Recorded by the offer index's last commit.
    pub offers_committed: i64,
}

/// The current position.
pub async fn position(state: &AppState) -> Result<Position> {
    Ok(Position {
        head: head(&state.db).await?,
        candidates_applied: state.search.candidates.applied_seq(),
        candidates_committed: state.search.candidates.committed_seq(),
        offers_applied: state.search.offers.applied_seq(),
        offers_committed: state.search.offers.committed_seq(),
    })
}

const BATCH: i64 = 2000;

/// Apply every entry up to the current head (start-up, tests).
pub async fn catch_up(state: &AppState) -> Result<u64> {
    let mut applied = 0u64;
    loop {
        let n =
            apply_batch(state, Part::Candidates).await? + apply_batch(state, Part::Offers).await?;
        if n == 0 {
            return Ok(applied);
        }
        applied += n;
    }
}

/// Start the follower task: applies new entries as they are committed
/// (woken by local commits, polling for other processes' commits).
pub fn spawn_follower(state: &AppState) {
    spawn_backlog_watch(state);
    follow(state, Part::Candidates);
    follow(state, Part::Offers);
}

/// The loop of one index.
fn follow(state: &AppState, part: Part) {
    let st = state.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown.clone();
        let poll = Duration::from_millis(st.config.search.follow_interval_ms.max(10));
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if part == Part::Offers && st.config.search.index_idle {
                yield_to_inbox(&st).await;
            }
            match apply_batch(&st, part).await {
                Ok(n) if n > 0 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(index = ?part, error = %e, failures, "index follower: applying the journal failed; retrying");
                }
            }
            let pause = if failures == 0 {
                poll
            } else {
                Duration::from_millis(200 * u64::from(failures.min(50)))
            };
            tokio::select! {
                () = st.follower.wake[part as usize].notified() => {}
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
}

/// Longest wait of [`yield_to_inbox`] before one batch of the offer index.
const MAX_YIELD: Duration = Duration::from_secs(1);
/// How often [`yield_to_inbox`] looks at the inbox again.
const YIELD_LOOK: Duration = Duration::from_millis(20);

/// With `index_idle`, the offer index lets a burst of received batches go
/// first: while the inbox holds batches it has not answered, the follower
/// waits before reading its next batch (the journal rows and the offers'
/// rows, which its indexing thread cannot read at its own low priority).
/// At most [`MAX_YIELD`] per batch, and not once the backlog reaches half
/// of `[federation] inbox_max_index_backlog`, so that a steady stream is
/// still indexed and the inbox's bound is not reached by waiting.
async fn yield_to_inbox(st: &AppState) {
    let started = tokio::time::Instant::now();
    while should_yield(
        crate::federation::inbox_busy(st),
        st.follower.backlog(),
        st.config.federation.inbox_max_index_backlog,
        started.elapsed(),
    ) {
        tokio::time::sleep(YIELD_LOOK).await;
    }
}

/// [`yield_to_inbox`]'s rule: wait while the inbox is `busy`, for less
/// than [`MAX_YIELD`], and while the `backlog` is under half the inbox's
/// `bound` (0: no bound).
fn should_yield(busy: bool, backlog: i64, bound: u64, waited: Duration) -> bool {
    let low = bound == 0 || u64::try_from(backlog).unwrap_or(0) < bound / 2;
    busy && low && waited < MAX_YIELD
}

/// Apply the next batch of entries to one index; returns how many were
/// read.
async fn apply_batch(state: &AppState, part: Part) -> Result<u64> {
    let _one_at_a_time = state.follower.applying[part as usize].lock().await;
    let at = match part {
        Part::Candidates => state.search.candidates.applied_seq(),
        Part::Offers => state.search.offers.applied_seq(),
    };
    let entries = read_kinds_after(&state.db, at, part.kinds(), BATCH).await?;
    let Some(last) = entries.last().map(|e| e.seq) else {
        if part == Part::Candidates {
            publish_candidates(state);
        }
        return Ok(0);
    };
    match part {
        Part::Candidates => apply_candidates(state, &entries, last).await?,
        Part::Offers => apply_offers(state, &entries, last).await?,
    }
    if part == Part::Candidates {
        publish_candidates(state);
    }
    Ok(entries.len() as u64)
}

/// The candidate index's part of `entries` (all after its position), in
/// order; a rebuild makes earlier entries moot. Also reloads the membership
/// document and the key ring when their entries pass.
async fn apply_candidates(state: &AppState, entries: &[Entry], last: i64) -> Result<()> {
    let mut cand: BTreeMap<String, bool> = BTreeMap::new(); // id → purge
    let mut rebuild: Option<i64> = None;
    let mut membership = false;
    let mut keys = false;
    for e in entries {
        match e.kind {
            Kind::IndexCandidate | Kind::PurgeCandidate => {
                let purge = e.kind == Kind::PurgeCandidate;
                let slot = cand.entry(e.entity_id.clone()).or_insert(false);
                *slot |= purge;
            }
            Kind::RebuildCandidates => {
                cand.clear();
                rebuild = Some(e.seq);
            }
            Kind::Membership => membership = true,
            Kind::Keys => keys = true,
            Kind::IndexOffer | Kind::RebuildOffers => {}
        }
    }
    if membership {
        crate::federation::reload_membership(state).await?;
    }
    if keys {
        if let Err(e) = state.identity.reload(&state.config) {
            tracing::error!(error = %e, "reloading the node key ring failed; signing with the keys held");
        }
    }
    if let Some(seq) = rebuild {
        state
            .db
            .set_meta(
                REBUILD_PROGRESS_KEY,
                "reconstruction de l'index des candidats",
            )
            .await?;
        let n = crate::candidates::reindex_at(state, None, seq).await?;
        tracing::info!(documents = n, seq, "candidate index rebuilt on request");
        state.db.set_meta(REBUILT_KEY, &seq.to_string()).await?;
    }
    if last <= state.search.candidates.applied_seq() {
        return Ok(());
    }
    let ids: Vec<String> = cand.keys().cloned().collect();
    let purge: Vec<String> = cand
        .iter()
        .filter(|(_, p)| **p)
        .map(|(id, _)| id.clone())
        .collect();
    let (docs, gone) = if ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        crate::candidates::index_docs(&state.db, &ids).await?
    };
    let search = state.search.clone();
    state
        .search
        .background
        .run(move || -> Result<()> {
            for d in &docs {
                search.candidates.upsert(d)?;
            }
            for id in &gone {
                search.candidates.delete(id)?;
            }
            search.candidates.mark_applied(last)?;
            if !purge.is_empty() {
                search.candidates.purge_deleted()?;
            }
            Ok(())
        })
        .await
        .ok_or_else(stopped)?
}

/// The offer index's part of `entries` (all after its position).
async fn apply_offers(state: &AppState, entries: &[Entry], last: i64) -> Result<()> {
    let mut offers: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut rebuild: Option<i64> = None;
    for e in entries {
        match e.kind {
            Kind::IndexOffer if seen.insert(e.entity_id.as_str()) => {
                offers.push(e.entity_id.clone());
            }
            Kind::RebuildOffers => {
                offers.clear();
                seen.clear();
                rebuild = Some(e.seq);
            }
            _ => {}
        }
    }
    if let Some(seq) = rebuild {
        state
            .db
            .set_meta(REBUILD_PROGRESS_KEY, "reconstruction de l'index des offres")
            .await?;
        let n = crate::offers::reindex_at(state, None, seq).await?;
        tracing::info!(documents = n, seq, "offer index rebuilt on request");
        state
            .db
            .set_meta(REBUILT_OFFERS_KEY, &seq.to_string())
            .await?;
    }
    if last <= state.search.offers.applied_seq() {
        return Ok(());
    }
    let rows = if offers.is_empty() {
        Vec::new()
    } else {
        crate::offers::index_rows(&state.db, &offers).await?
    };
    let search = state.search.clone();
    // Documents built and indexed on the offers' indexing thread, at its
    // lower priority: a burst of received offers is accepted first.
    state
        .search
        .offers_background
        .run(move || -> Result<()> {
            let (docs, gone) = crate::offers::docs_of_rows(&offers, &rows)?;
            for d in &docs {
                search.offers.upsert(d)?;
            }
            for id in &gone {
                search.offers.delete(id)?;
            }
            search.offers.mark_applied(last)?;
            Ok(())
        })
        .await
        .ok_or_else(stopped)?
}

fn stopped() -> Error {
    Error::Internal(anyhow::anyhow!("the indexing thread stopped"))
}

/// Publish the position the candidate index's loop has finished applying.
/// Only that loop publishes it, once its whole batch is done: the index's
/// `applied_seq` moves before the batch's last step, the purge of erased
/// records, has run.
fn publish_candidates(state: &AppState) {
    let done = state.search.candidates.applied_seq();
    state.follower.candidates_applied.send_if_modified(|v| {
        if *v != done {
            *v = done;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offer index waits only while the inbox holds batches, for less
    /// than a second, and not once the backlog is half the inbox's bound.
    #[test]
    fn the_offer_index_yields_to_the_inbox_within_bounds() {
        let ms = Duration::from_millis;
        assert!(should_yield(true, 0, 100_000, ms(0)));
        assert!(should_yield(true, 49_999, 100_000, ms(999)));
        assert!(!should_yield(false, 0, 100_000, ms(0)), "inbox idle");
        assert!(!should_yield(true, 0, 100_000, MAX_YIELD), "waited enough");
        assert!(!should_yield(true, 50_000, 100_000, ms(0)), "backlog high");
        assert!(should_yield(true, 1_000_000, 0, ms(0)), "no bound");
        assert!(!should_yield(true, 15, 30, ms(0)));
    }
}
