//! Leadership among the processes that serve one member on one database.
//!
//! Several node processes may share one PostgreSQL database behind a load
//! balancer (each with its own search index following the journal). Work
//! that must happen once — federation delivery, catch-up from peers'
//! logs, the sweeps — runs only in the process that holds the lease: a
//! PostgreSQL session-level advisory lock held on a dedicated connection.
//! When that process dies its connection closes, the lock is released and
//! another process takes over within `lease.retry_secs`. On SQLite there is
//! one process, always the leader. Its SQL is in `lease/store.rs`.

use std::time::Duration;

use sqlx::Connection as _;
use tokio::sync::watch;

use crate::db::Backend;
use crate::server::AppState;

mod store;

/// Whether this process leads, shared with its workers.
pub struct Leadership {
    tx: watch::Sender<bool>,
}

impl Leadership {
    /// Not leading yet.
    pub fn new() -> Leadership {
        Leadership {
            tx: watch::channel(false).0,
        }
    }

    /// Does this process lead now?
    pub fn is_leader(&self) -> bool {
        *self.tx.borrow()
    }

    fn set(&self, leading: bool) {
        self.tx.send_if_modified(|v| {
            let changed = *v != leading;
            *v = leading;
            changed
        });
    }

    /// Wait until this process leads (or `shutdown` fires). Returns false on
    /// shutdown.
    pub async fn wait(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut rx = self.tx.subscribe();
        loop {
            if *shutdown.borrow() {
                return false;
            }
            if *rx.borrow_and_update() {
                return true;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return false },
                _ = shutdown.changed() => {},
            }
        }
    }
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership::new()
    }
}

/// Start competing for the lease (PostgreSQL) or lead at once (SQLite).
pub fn spawn(state: &AppState) {
    if state.db.backend == Backend::Sqlite {
        state.leader.set(true);
        return;
    }
    let st = state.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown.clone();
        let retry = Duration::from_secs(st.config.lease.retry_secs.max(1));
        let check = Duration::from_secs(st.config.lease.check_secs.max(1));
        loop {
            if *shutdown.borrow() {
                return;
            }
            match hold(&st, check, &mut shutdown).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "leadership lease: database connection lost"),
            }
            if st.leader.is_leader() {
                tracing::warn!("leadership lost: delivery and sweeps stop in this process");
                metrics::gauge!("vivier_leader").set(0.0);
            }
            st.leader.set(false);
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
}

/// Try to take the lock; while held, check the connection regularly.
async fn hold(
    state: &AppState,
    check: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), sqlx::Error> {
    // A connection of its own, outside the pool: the lock lives as long as
    // it does.
    let mut conn = state.db.pool.acquire().await?.detach();
    let got = store::try_take(&mut conn).await?;
    if !got {
        let _ = conn.close().await;
        return Ok(());
    }
    tracing::info!("this process now leads: federation delivery and sweeps run here");
    metrics::gauge!("vivier_leader").set(1.0);
    state.leader.set(true);
    loop {
        tokio::select! {
            () = tokio::time::sleep(check) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    let _ = store::release(&mut conn).await;
                    let _ = conn.close().await;
                    return Ok(());
                }
            }
        }
        store::ping(&mut conn).await?;
    }
}
