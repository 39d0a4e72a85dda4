//! The federation's store: every SQL statement on `membership`, `peers`,
//! `outbox`, `broadcast_log`, `inbox`, `txn_results`, `dead_letters` and
//! `departed_members`, as typed functions over a connection — a
//! transaction's (`&mut tx`, so the caller's change and its messages commit
//! together) or the pool's (`&Db`, for the workers' reads and bookkeeping).
//! Rows come back as `FromRow` structs; the one node enum stored here
//! ([`Departure`]) goes in by its `as_str` and comes back through its
//! `TryFrom<String>`. Message kinds stay text: a row of a kind this version
//! does not know is still delivered, parked or shown as it is. Nothing here
//! knows about membership rules, policy or HTTP.

use std::collections::HashSet;

use sqlx::AnyConnection;

use crate::db::{Backend, Db};
use crate::error::{Error, Result};

/// The advisory lock that serialises the transactions appending to the
/// outbox and the broadcast log (PostgreSQL; see [`lock_sequences`]).
const SEQUENCES_LOCK: &str = "SELECT pg_advisory_xact_lock(7261840011)";

// ---------------------------------------------------------------------------
// Membership

/// The stored membership document.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StoredMembership {
    /// Its serial.
    pub serial: i64,
    /// Its canonical bytes, as text.
    pub document: String,
}

/// Replace the stored document if `serial` is higher (the serial guard
/// makes concurrent updates safe). Returns whether it did.
pub(crate) async fn update_membership(
    conn: &mut AnyConnection,
    serial: i64,
    document: &str,
    now: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE membership SET serial = $1, document = $2, received_at = $3 WHERE id = 1 AND serial < $1",
    )
    .bind(serial)
    .bind(document)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// The serial of the stored document, if any.
pub(crate) async fn membership_serial(conn: &mut AnyConnection) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT serial FROM membership WHERE id = 1")
            .fetch_optional(conn)
            .await?,
    )
}

/// Store the first document.
pub(crate) async fn insert_membership(
    conn: &mut AnyConnection,
    serial: i64,
    document: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO membership (id, serial, document, received_at) VALUES (1, $1, $2, $3)",
    )
    .bind(serial)
    .bind(document)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored document, if any.
pub(crate) async fn stored_membership(db: &Db) -> Result<Option<StoredMembership>> {
    Ok(
        sqlx::query_as("SELECT serial, document FROM membership WHERE id = 1")
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Give `node` a row in `peers` (nothing if it has one).
pub(crate) async fn add_peer(conn: &mut AnyConnection, node: &str) -> Result<()> {
    sqlx::query("INSERT INTO peers (node_id) VALUES ($1) ON CONFLICT (node_id) DO NOTHING")
        .bind(node)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Outbox and broadcast log

/// Outbox and broadcast-log sequence numbers are read as cursors
/// (`seq > acked`): they must become visible in order. SQLite has one
/// writer at a time; on PostgreSQL, concurrent transactions could commit a
/// higher sequence before a lower one and a cursor would skip the lower.
/// A transaction-scoped advisory lock serialises the transactions that
/// append to them (held until commit; re-entrant within the transaction).
pub(crate) async fn lock_sequences(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query(SEQUENCES_LOCK).execute(conn).await?;
    }
    Ok(())
}

/// Queue message `message_id` for `destination`.
pub(crate) async fn insert_outbox(
    conn: &mut AnyConnection,
    destination: &str,
    message_id: &str,
    kind: &str,
    body: &str,
    created_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (destination, message_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(destination)
    .bind(message_id)
    .bind(kind)
    .bind(body)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Append a broadcast to the catch-up log.
pub(crate) async fn insert_broadcast(
    conn: &mut AnyConnection,
    message_id: &str,
    kind: &str,
    body: &str,
    created_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO broadcast_log (message_id, kind, body, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(message_id)
    .bind(kind)
    .bind(body)
    .bind(created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drop message `message_id` to `destination` if it is still queued or
/// parked.
pub(crate) async fn drop_undelivered(
    conn: &mut AnyConnection,
    destination: &str,
    message_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND message_id = $2")
        .bind(destination)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM dead_letters WHERE destination = $1 AND message_id = $2")
        .bind(destination)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The destinations with messages past their cursor and not backing off
/// at `now`.
pub(crate) async fn due_destinations(db: &Db, now: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT o.destination AS destination FROM outbox o LEFT JOIN peers p ON p.node_id = o.destination \
         WHERE o.seq > COALESCE(p.acked_seq, 0) AND COALESCE(p.next_attempt_at, 0) <= $1 \
         GROUP BY o.destination",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?)
}

/// One queued message.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutRow {
    /// Its outbox sequence.
    pub seq: i64,
    /// The envelope id.
    pub message_id: String,
    /// The message kind (wire name).
    pub kind: String,
    /// The signed message.
    pub body: String,
}

/// The next `limit` messages for `dest` after its acknowledged cursor.
pub(crate) async fn next_batch(db: &Db, dest: &str, limit: i64) -> Result<Vec<OutRow>> {
    Ok(sqlx::query_as(
        "SELECT o.seq AS seq, o.message_id AS message_id, o.kind AS kind, o.body AS body FROM outbox o \
         WHERE o.destination = $1 AND o.seq > COALESCE((SELECT acked_seq FROM peers WHERE node_id = $1), 0) \
         ORDER BY o.seq LIMIT $2",
    )
    .bind(dest)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// A queued message with its destination.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct QueuedRow {
    /// Where it goes.
    pub destination: String,
    /// Its outbox sequence.
    pub seq: i64,
    /// The envelope id.
    pub message_id: String,
    /// The message kind (wire name).
    pub kind: String,
    /// The signed message.
    pub body: String,
}

/// Every message not yet acknowledged, for `dest` (every destination when
/// `None`), oldest first.
pub(crate) async fn queued(conn: &mut AnyConnection, dest: Option<&str>) -> Result<Vec<QueuedRow>> {
    Ok(match dest {
        Some(d) => {
            sqlx::query_as(
                "SELECT o.destination AS destination, o.seq AS seq, o.message_id AS message_id, o.kind AS kind, o.body AS body \
                 FROM outbox o WHERE o.destination = $1 \
                 AND o.seq > COALESCE((SELECT acked_seq FROM peers WHERE node_id = o.destination), 0) ORDER BY o.seq",
            )
            .bind(d)
            .fetch_all(conn)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT o.destination AS destination, o.seq AS seq, o.message_id AS message_id, o.kind AS kind, o.body AS body \
                 FROM outbox o WHERE o.seq > COALESCE((SELECT acked_seq FROM peers WHERE node_id = o.destination), 0) \
                 ORDER BY o.seq",
            )
            .fetch_all(conn)
            .await?
        }
    })
}

/// Remove one queued message.
pub(crate) async fn delete_queued(conn: &mut AnyConnection, dest: &str, seq: i64) -> Result<()> {
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND seq = $2")
        .bind(dest)
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Peers: delivery state and catch-up cursor

/// `dest` acknowledged everything up to `last`: move its cursor, clear its
/// back-off, forget the delivered messages.
pub(crate) async fn acknowledge(
    conn: &mut AnyConnection,
    dest: &str,
    last: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO peers (node_id, acked_seq, backoff_ms, next_attempt_at, failures, last_success_at, last_contact_at, last_error) \
         VALUES ($1, $2, 0, 0, 0, $3, $3, NULL) \
         ON CONFLICT (node_id) DO UPDATE SET acked_seq = excluded.acked_seq, backoff_ms = 0, next_attempt_at = 0, \
         failures = 0, last_success_at = excluded.last_success_at, last_contact_at = excluded.last_contact_at, last_error = NULL",
    )
    .bind(dest)
    .bind(last)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM outbox WHERE destination = $1 AND seq <= $2")
        .bind(dest)
        .bind(last)
        .execute(conn)
        .await?;
    Ok(())
}

/// The current back-off of `dest`, if it has a row.
pub(crate) async fn backoff_ms(db: &Db, dest: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT backoff_ms FROM peers WHERE node_id = $1")
            .bind(dest)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// When the next delivery to `dest` may be tried (0: now).
pub(crate) async fn next_attempt_at(db: &Db, dest: &str) -> Result<i64> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT next_attempt_at FROM peers WHERE node_id = $1")
            .bind(dest)
            .fetch_optional(&db.pool)
            .await?;
    Ok(at.unwrap_or(0))
}

/// A delivery to `dest` failed: back off `backoff` ms, next attempt at
/// `next_attempt_at`, one failure more.
pub(crate) async fn record_failure(
    db: &Db,
    dest: &str,
    backoff: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO peers (node_id, backoff_ms, next_attempt_at, failures, last_error) VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (node_id) DO UPDATE SET backoff_ms = excluded.backoff_ms, next_attempt_at = excluded.next_attempt_at, \
         failures = peers.failures + 1, last_error = excluded.last_error",
    )
    .bind(dest)
    .bind(backoff)
    .bind(next_attempt_at)
    .bind(error)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The peers whose back-off or last contact a signed call from them should
/// reset.
const STALE: &str = "node_id = $1 AND (next_attempt_at > $2 OR last_contact_at IS NULL OR last_contact_at < $2 - 5000)";

/// `node` was heard from at `now`: reset its back-off if it has one (or its
/// last contact is old). Returns whether a row changed. Reads first: most
/// requests change nothing, and on SQLite a write statement would wait for
/// the write lock held by the inbox's transaction even when it changes no
/// row.
pub(crate) async fn heard_from(db: &Db, node: &str, now: i64) -> Result<bool> {
    let stale: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM peers WHERE {STALE}"))
        .bind(node)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    if stale.is_none() {
        return Ok(false);
    }
    let res = sqlx::query(&format!(
        "UPDATE peers SET last_contact_at = $2, backoff_ms = 0, next_attempt_at = 0 WHERE {STALE}"
    ))
    .bind(node)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Where this node stands in `node`'s broadcast log (0 before any
/// catch-up).
pub(crate) async fn log_cursor(db: &Db, node: &str) -> Result<i64> {
    let cursor: Option<i64> = sqlx::query_scalar("SELECT log_cursor FROM peers WHERE node_id = $1")
        .bind(node)
        .fetch_optional(&db.pool)
        .await?;
    Ok(cursor.unwrap_or(0))
}

/// Record the catch-up cursor in `node`'s log (and the contact).
pub(crate) async fn set_log_cursor(db: &Db, node: &str, cursor: i64, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO peers (node_id, log_cursor, last_contact_at) VALUES ($1, $2, $3) \
         ON CONFLICT (node_id) DO UPDATE SET log_cursor = excluded.log_cursor, last_contact_at = excluded.last_contact_at",
    )
    .bind(node)
    .bind(cursor)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One entry of this node's broadcast log.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LogRow {
    /// Its position.
    pub seq: i64,
    /// The signed message.
    pub body: String,
}

/// Up to `limit` log entries after `after`.
pub(crate) async fn log_after(db: &Db, after: i64, limit: i64) -> Result<Vec<LogRow>> {
    Ok(
        sqlx::query_as("SELECT seq, body FROM broadcast_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&db.pool)
            .await?,
    )
}

// ---------------------------------------------------------------------------
// Inbox and txn answers

/// Record a received message. Returns false if `(origin, message_id)` was
/// already there (a duplicate).
pub(crate) async fn insert_inbox(
    conn: &mut AnyConnection,
    origin: &str,
    message_id: &str,
    kind: &str,
    body: &str,
    received_at: i64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (origin, message_id, kind, body, received_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (origin, message_id) DO NOTHING",
    )
    .bind(origin)
    .bind(message_id)
    .bind(kind)
    .bind(body)
    .bind(received_at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// One inbox row of a multi-row insert.
pub(crate) struct InboxRow<'a> {
    /// The sender.
    pub origin: &'a str,
    /// The envelope id.
    pub message_id: &'a str,
    /// The kind (wire name).
    pub kind: &'a str,
    /// The exact bytes (broadcasts) or nothing.
    pub body: String,
}

/// Record received messages; returns the ids of those that were new
/// (duplicates are left out by `ON CONFLICT DO NOTHING`).
///
/// On PostgreSQL one statement, `RETURNING` the new ones in its answer. On
/// SQLite two statements, neither returning a row per message: every
/// returned row would be handed from the statement's thread to the writer
/// on its own, on the inbox's single writer's path. The messages already
/// there are looked up (normally none), then the others inserted; the
/// caller holds SQLite's write lock (`BEGIN IMMEDIATE`), so none can be
/// stored in between — if the count still differs, the run is refused as a
/// conflict and the group written again.
pub(crate) async fn insert_inbox_many(
    conn: &mut AnyConnection,
    rows: Vec<InboxRow<'_>>,
    received_at: i64,
) -> Result<HashSet<String>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let postgres = crate::db::is_postgres(conn);
    if postgres {
        let sql = insert_inbox_sql(true, rows.len(), " RETURNING message_id");
        let args = inbox_args(rows, received_at)?;
        let new: Vec<String> = sqlx::query_scalar_with(&sql, args).fetch_all(conn).await?;
        return Ok(new.into_iter().collect());
    }
    let keys = crate::util::sql_rows(false, rows.len(), "(?, ?)");
    let sql = format!(
        "SELECT origin, message_id FROM inbox WHERE (origin, message_id) IN (VALUES {keys})"
    );
    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
    for r in &rows {
        q = q.bind(r.origin).bind(r.message_id);
    }
    let known: HashSet<(String, String)> = q.fetch_all(&mut *conn).await?.into_iter().collect();
    // Normally none is known: no key is built per row then.
    let rows: Vec<InboxRow<'_>> = if known.is_empty() {
        rows
    } else {
        rows.into_iter()
            .filter(|r| !known.contains(&(r.origin.to_string(), r.message_id.to_string())))
            .collect()
    };
    let new: HashSet<String> = rows.iter().map(|r| r.message_id.to_string()).collect();
    if rows.is_empty() {
        return Ok(new);
    }
    let expected = rows.len() as u64;
    let sql = insert_inbox_sql(false, rows.len(), "");
    let inserted = sqlx::query_with(&sql, inbox_args(rows, received_at)?)
        .execute(conn)
        .await?
        .rows_affected();
    if inserted != expected {
        return Err(Error::Conflict(format!(
            "{} of {expected} received messages were stored by another transaction meanwhile",
            expected - inserted
        )));
    }
    Ok(new)
}

/// A multi-row insert of `rows` inbox rows, duplicates left out, then
/// `tail`.
fn insert_inbox_sql(postgres: bool, rows: usize, tail: &str) -> String {
    let values = crate::util::sql_rows(postgres, rows, "(?, ?, ?, ?, ?)");
    format!(
        "INSERT INTO inbox (origin, message_id, kind, body, received_at) VALUES {values} \
         ON CONFLICT (origin, message_id) DO NOTHING{tail}"
    )
}

/// The arguments of an [`insert_inbox_sql`] statement for `rows`.
fn inbox_args<'q>(
    rows: Vec<InboxRow<'q>>,
    received_at: i64,
) -> Result<sqlx::any::AnyArguments<'q>> {
    use sqlx::Arguments;
    let mut args = sqlx::any::AnyArguments::default();
    let bad = |e| Error::Internal(anyhow::anyhow!("inbox arguments: {e}"));
    for r in rows {
        args.add(r.origin).map_err(bad)?;
        args.add(r.message_id).map_err(bad)?;
        args.add(r.kind).map_err(bad)?;
        args.add(r.body).map_err(bad)?;
        args.add(received_at).map_err(bad)?;
    }
    Ok(args)
}

/// Whether message `(origin, message_id)` was received.
pub(crate) async fn inbox_has(
    conn: &mut AnyConnection,
    origin: &str,
    message_id: &str,
) -> Result<bool> {
    let known: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM inbox WHERE origin = $1 AND message_id = $2")
            .bind(origin)
            .bind(message_id)
            .fetch_optional(conn)
            .await?;
    Ok(known.is_some())
}

/// SQLite's direct writer ([`crate::db::Db::write_direct`]): record one
/// received message unless it is known; whether it was new.
pub(crate) fn insert_inbox_direct(
    tx: &rusqlite::Transaction<'_>,
    row: &InboxRow<'_>,
    received_at: i64,
) -> rusqlite::Result<bool> {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| insert_inbox_sql(false, 1, ""));
    let inserted = tx.prepare_cached(&SQL)?.execute(rusqlite::params![
        row.origin,
        row.message_id,
        row.kind,
        row.body,
        received_at,
    ])?;
    Ok(inserted > 0)
}

/// [`inbox_has`] on SQLite's direct writer.
pub(crate) fn inbox_has_direct(
    tx: &rusqlite::Transaction<'_>,
    origin: &str,
    message_id: &str,
) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT 1 FROM inbox WHERE origin = ?1 AND message_id = ?2")?
        .exists(rusqlite::params![origin, message_id])
}

/// [`record_txn_answer`] on SQLite's direct writer.
pub(crate) fn record_txn_answer_direct(
    tx: &rusqlite::Transaction<'_>,
    origin: &str,
    txn_id: &str,
    response: &str,
    at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO txn_results (origin, txn_id, response, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (origin, txn_id) DO NOTHING",
    )?
    .execute(rusqlite::params![origin, txn_id, response, at])?;
    Ok(())
}

/// The answer recorded for txn `txn_id` of `origin`, if any.
pub(crate) async fn txn_answer(db: &Db, origin: &str, txn_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT response FROM txn_results WHERE origin = $1 AND txn_id = $2")
            .bind(origin)
            .bind(txn_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Record the answer to txn `txn_id` of `origin` (the first one stays).
pub(crate) async fn record_txn_answer(
    conn: &mut AnyConnection,
    origin: &str,
    txn_id: &str,
    response: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO txn_results (origin, txn_id, response, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (origin, txn_id) DO NOTHING",
    )
    .bind(origin)
    .bind(txn_id)
    .bind(response)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Dead letters

/// Park a message refused for good.
pub(crate) async fn insert_dead_letter(
    conn: &mut AnyConnection,
    destination: &str,
    message_id: &str,
    kind: &str,
    body: &str,
    error: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dead_letters (destination, message_id, kind, body, error, created_at, parked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(destination)
    .bind(message_id)
    .bind(kind)
    .bind(body)
    .bind(error)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The number of parked messages.
pub(crate) async fn dead_letter_count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters")
        .fetch_one(&db.pool)
        .await?)
}

/// One page of the parked messages, oldest first.
pub(crate) async fn dead_letters(
    db: &Db,
    limit: i64,
    offset: i64,
) -> Result<Vec<super::DeadLetter>> {
    Ok(sqlx::query_as(
        "SELECT id, destination, message_id, kind, error, parked_at FROM dead_letters \
         ORDER BY id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}

/// A parked message with what it takes to send it again.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ParkedRow {
    /// Where it went.
    pub destination: String,
    /// The envelope id.
    pub message_id: String,
    /// The kind (wire name).
    pub kind: String,
    /// The signed message.
    pub body: String,
}

/// Take dead letter `id` out of `dead_letters` and put it back in the
/// outbox (kept once if it is still queued). `None`: no such letter.
pub(crate) async fn requeue_dead_letter(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<Option<ParkedRow>> {
    let row: Option<ParkedRow> = sqlx::query_as(
        "SELECT destination, message_id, kind, body FROM dead_letters WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO outbox (destination, message_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (destination, message_id) DO NOTHING",
    )
    .bind(&row.destination)
    .bind(&row.message_id)
    .bind(&row.kind)
    .bind(&row.body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // dead_letters is not the audit log: a retried letter leaves the table.
    sqlx::query("DELETE FROM dead_letters WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(Some(row))
}

/// Remove dead letter `id` for good (an administrator dismissed it: its
/// outcome is known and applied). `None`: no such letter.
pub(crate) async fn dismiss_dead_letter(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<(String, String, String)>> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT destination, message_id, error FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if row.is_some() {
        sqlx::query("DELETE FROM dead_letters WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(row)
}

// ---------------------------------------------------------------------------
// The administration overview

/// The overview's peer rows, by node id: every peer with a row, a queued
/// message or a dead letter (a peer never reached yet still shows what
/// waits for it). What the membership document says of each is left for
/// the caller.
pub(crate) async fn peer_rows(db: &Db) -> Result<Vec<super::PeerStatus>> {
    Ok(sqlx::query_as(
        "SELECT d.node_id AS node_id, COALESCE(p.acked_seq, 0) AS acked_seq, COALESCE(p.backoff_ms, 0) AS backoff_ms, \
         COALESCE(p.next_attempt_at, 0) AS next_attempt_at, COALESCE(p.failures, 0) AS failures, \
         p.last_success_at AS last_success_at, p.last_contact_at AS last_contact_at, \
         p.last_error AS last_error, COALESCE(p.log_cursor, 0) AS log_cursor, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = d.node_id AND o.seq > COALESCE(p.acked_seq, 0)) AS outbox_depth, \
         (SELECT MIN(o.created_at) FROM outbox o WHERE o.destination = d.node_id AND o.seq > COALESCE(p.acked_seq, 0)) AS oldest_queued_at, \
         (SELECT COUNT(*) FROM dead_letters x WHERE x.destination = d.node_id) AS dead_letters \
         FROM (SELECT node_id FROM peers UNION SELECT destination FROM outbox UNION SELECT destination FROM dead_letters) d \
         LEFT JOIN peers p ON p.node_id = d.node_id ORDER BY d.node_id",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// The overview's totals.
#[derive(Debug)]
pub(crate) struct Totals {
    /// Parked messages.
    pub dead_letters: i64,
    /// Broadcasts in the catch-up log.
    pub broadcast_log: i64,
    /// Highest sequence of the catch-up log.
    pub log_head: i64,
    /// Messages received.
    pub inbox: i64,
}

/// Count the tables of the overview.
pub(crate) async fn totals(db: &Db) -> Result<Totals> {
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await
    };
    Ok(Totals {
        dead_letters: count("SELECT COUNT(*) FROM dead_letters").await?,
        broadcast_log: count("SELECT COUNT(*) FROM broadcast_log").await?,
        log_head: count("SELECT COALESCE(MAX(seq), 0) FROM broadcast_log").await?,
        inbox: count("SELECT COUNT(*) FROM inbox").await?,
    })
}

// ---------------------------------------------------------------------------
// Departed members

/// How a member left, as `departed_members.status` stores it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub(crate) enum Departure {
    /// Suspended: its profiles purged after the configured delay.
    Suspended,
    /// Revoked: its profiles purged at once.
    Revoked,
}

impl Departure {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl TryFrom<String> for Departure {
    type Error = strum::ParseError;

    fn try_from(s: String) -> std::result::Result<Departure, strum::ParseError> {
        s.parse()
    }
}

/// The departure recorded for `node`.
#[derive(Debug, sqlx::FromRow)]
struct DepartureRow {
    #[sqlx(try_from = "String")]
    status: Departure,
}

/// `node` is an active member (again): forget its departure.
pub(crate) async fn forget_departure(conn: &mut AnyConnection, node: &str) -> Result<()> {
    sqlx::query("DELETE FROM departed_members WHERE node_id = $1")
        .bind(node)
        .execute(conn)
        .await?;
    Ok(())
}

/// How `node` left, if it did.
pub(crate) async fn departure(conn: &mut AnyConnection, node: &str) -> Result<Option<Departure>> {
    let row: Option<DepartureRow> =
        sqlx::query_as("SELECT status FROM departed_members WHERE node_id = $1")
            .bind(node)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.status))
}

/// Change how a known departed member left (document `serial`).
pub(crate) async fn update_departure(
    conn: &mut AnyConnection,
    node: &str,
    status: Departure,
    serial: i64,
) -> Result<()> {
    sqlx::query("UPDATE departed_members SET status = $2, serial = $3 WHERE node_id = $1")
        .bind(node)
        .bind(status.as_str())
        .bind(serial)
        .execute(conn)
        .await?;
    Ok(())
}

/// Record that `node` left at `since` (document `serial`).
pub(crate) async fn insert_departure(
    conn: &mut AnyConnection,
    node: &str,
    status: Departure,
    since: i64,
    serial: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO departed_members (node_id, status, since, serial) VALUES ($1, $2, $3, $4)",
    )
    .bind(node)
    .bind(status.as_str())
    .bind(since)
    .bind(serial)
    .execute(conn)
    .await?;
    Ok(())
}

/// Record that the profiles `node` referred were purged at `now`.
pub(crate) async fn mark_profiles_purged(
    conn: &mut AnyConnection,
    node: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE departed_members SET profiles_purged_at = $2 WHERE node_id = $1")
        .bind(node)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The members suspended since `before` or earlier whose profiles are not
/// purged yet.
pub(crate) async fn suspended_unpurged(db: &Db, before: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT node_id FROM departed_members WHERE status = $1 AND profiles_purged_at IS NULL AND since <= $2",
    )
    .bind(Departure::Suspended.as_str())
    .bind(before)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::federation::refusals::{classify, transient_db, Disposition};

    #[test]
    fn departures_are_stored_by_one_mapping() {
        for d in [Departure::Suspended, Departure::Revoked] {
            assert_eq!(
                Departure::try_from(d.as_str().to_string()).expect("parses"),
                d
            );
        }
        assert_eq!(Departure::Suspended.as_str(), "suspended");
        assert_eq!(Departure::Revoked.as_str(), "revoked");
        assert!(Departure::try_from("active".to_string()).is_err());
    }

    /// Moved from `refusals.rs` with the SQL: the codes of a real
    /// database's errors.
    #[tokio::test]
    async fn real_database_errors_are_classified_by_their_codes() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("sqlite");
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
            .execute(&pool)
            .await
            .expect("create");
        sqlx::query("INSERT INTO t (v) VALUES ('a')")
            .execute(&pool)
            .await
            .expect("insert");
        let dup = sqlx::query("INSERT INTO t (v) VALUES ('a')")
            .execute(&pool)
            .await
            .expect_err("unique violation");
        assert!(
            !transient_db(&dup),
            "a constraint violation is the data's fault"
        );
        match classify(Error::Database(dup)) {
            Disposition::Refuse { code, message } => {
                assert_eq!(code, "store_error");
                assert!(message.contains("UNIQUE"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        pool.close().await;
        let closed = sqlx::query("SELECT 1")
            .execute(&pool)
            .await
            .expect_err("closed pool");
        assert!(transient_db(&closed));
    }
}
