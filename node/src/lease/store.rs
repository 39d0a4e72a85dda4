//! The lease's store: the three statements on its dedicated connection
//! (PostgreSQL session-level advisory lock). Not in the federation's store:
//! the lease is about processes sharing one database, and decides the
//! sweeps as well as delivery; it works on one connection detached from the
//! pool, never in a transaction.

use sqlx::AnyConnection;

const LEASE_KEY: i64 = 7_261_840_013;

/// Try to take the lease's lock on `conn`, held as long as the connection
/// lives (or until [`release`]). Returns whether it was taken.
pub(super) async fn try_take(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEASE_KEY)
        .fetch_one(conn)
        .await
}

/// Release the lock held on `conn`.
pub(super) async fn release(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LEASE_KEY)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Check that `conn` (and with it the lock) is still alive.
pub(super) async fn ping(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(conn).await.map(|_| ())
}
