//! Group commit for the audit entries of read events that list many
//! records: searches (`candidate.search`) and an offer's ranked candidates
//! (`offer.matches`).
//!
//! A search is answered without waiting for its audit entry to reach the
//! disk: the handler queues the entry (waiting only if the queue is full)
//! and one writer task commits everything queued in one transaction, so
//! one disk flush (`synchronous=full` on SQLite, the WAL flush on
//! PostgreSQL) covers every search answered meanwhile.
//!
//! **Guarantee.** An entry is queued before the response is sent. It is
//! committed by the next batch: as soon as the writer is free, i.e. within
//! the time of the transaction in progress plus its own (a few
//! milliseconds; under load, batches grow instead of queues). The writer
//! lingers a little after the first entry of a batch (`[search]
//! audit_linger_ms`, 10 ms by default) so that a batch covers the searches
//! of that window even when they come one at a time. Reading the
//! audit log (`GET /api/v1/audit`) first waits for every entry queued
//! before the request, and a node that stops normally commits the queue
//! before closing the database. What a crash (process killed, power lost)
//! can lose is the entries of the searches answered since the last batch
//! commit: at most [`QUEUE`] entries, in practice those of the linger
//! window and the commit in progress. Changes and reads of a record keep their synchronous
//! audit (`audit::append`, in their service's transaction).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::NewEntry;
use crate::auth::User;
use crate::db::Db;
use crate::error::{Error, Result};

/// Entries waiting to be written (handlers wait beyond).
pub const QUEUE: usize = 4096;
/// Most entries per transaction.
const MAX_BATCH: usize = 512;

enum Msg {
    Row(NewEntry),
    /// Answered once every entry queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Handle on the writer task (cheap to clone).
#[derive(Clone)]
pub struct ReadAudit {
    tx: mpsc::Sender<Msg>,
}

impl ReadAudit {
    /// Starts the writer on `db`. It runs until every handle is dropped,
    /// after writing what was queued.
    /// `linger`: how long a batch waits for more entries after its first.
    pub fn spawn(db: Db, linger: Duration) -> ReadAudit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx, linger));
        ReadAudit { tx }
    }

    /// Queues an entry (same fields as [`super::record`]).
    pub async fn record(
        &self,
        actor: Option<&User>,
        action: &str,
        target_kind: &str,
        target_id: &str,
        reason: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        let row = NewEntry::new(actor, action, target_kind, target_id, reason, details);
        self.tx
            .send(Msg::Row(row))
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the read-audit writer has stopped")))
    }

    /// Waits until every entry queued before this call is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Msg>, linger: Duration) {
    let mut rows: Vec<NewEntry> = Vec::with_capacity(MAX_BATCH);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + linger;
        loop {
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Row(r) => rows.push(r),
                    Msg::Flush(w) => waiters.push(w),
                }
                if rows.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // Linger for more entries unless the batch is full, someone
            // waits for it, or the handles are gone.
            if rows.len() >= MAX_BATCH || !waiters.is_empty() || linger.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => next = Some(msg),
                Ok(None) | Err(_) => break,
            }
        }
        if !rows.is_empty() {
            write(&db, &mut rows).await;
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Writes a batch in one transaction, retrying a few times on failure.
async fn write(db: &Db, rows: &mut Vec<NewEntry>) {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        match write_once(db, rows).await {
            Ok(()) => {
                rows.clear();
                return;
            }
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, entries = rows.len(), attempt, "read audit batch failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, entries = rows.len(), "read audit entries could not be written");
                rows.clear();
            }
        }
    }
}

async fn write_once(db: &Db, rows: &[NewEntry]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for r in rows {
        super::store::insert(&mut *tx, r).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn count(db: &Db) -> i64 {
        let mut conn = db.pool.acquire().await.expect("connection");
        crate::audit::store::count_action(&mut conn, "test.read")
            .await
            .expect("count")
    }

    async fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let db = Db::connect(&url, "full").await.expect("connect");
        (dir, db)
    }

    async fn queue(audit: &ReadAudit, n: usize) {
        for i in 0..n {
            audit
                .record(
                    None,
                    "test.read",
                    "x",
                    &i.to_string(),
                    None,
                    serde_json::json!({}),
                )
                .await
                .expect("queued");
        }
    }

    /// A flush does not wait for the linger, and commits what came before.
    #[tokio::test]
    async fn flush_commits_at_once_whatever_the_linger() {
        let (_dir, db) = open().await;
        let audit = ReadAudit::spawn(db.clone(), Duration::from_secs(3600));
        queue(&audit, 3).await;
        tokio::time::timeout(Duration::from_secs(30), audit.flush())
            .await
            .expect("the flush answered before the hour of linger");
        assert_eq!(count(&db).await, 3);
    }

    /// Entries waiting in a lingering batch are written when the handles go
    /// (a node stopping), not lost.
    #[tokio::test]
    async fn dropping_the_handles_commits_the_lingering_batch() {
        let (_dir, db) = open().await;
        let audit = ReadAudit::spawn(db.clone(), Duration::from_secs(3600));
        queue(&audit, 5).await;
        drop(audit);
        let written = async {
            while count(&db).await < 5 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), written)
            .await
            .expect("the batch was written when the handles were dropped");
    }

    /// Without a flush or a stop, a lingering batch is committed once the
    /// linger is over.
    #[tokio::test]
    async fn a_batch_is_committed_after_the_linger() {
        let (_dir, db) = open().await;
        let audit = ReadAudit::spawn(db.clone(), Duration::from_millis(50));
        queue(&audit, 4).await;
        let written = async {
            while count(&db).await < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), written)
            .await
            .expect("written after the linger");
        drop(audit);
    }
}
