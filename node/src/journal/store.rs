//! The journal's store: every SQL statement on `journal`. Appends take a
//! connection (`&mut *tx`: the caller's transaction, so an entry commits
//! with its change); the follower's reads and the pruning take the pool.
//! Rows come back as [`JournalRow`] (`FromRow`), the kind through its one
//! mapping (`TryFrom<String>`, the names `Kind::as_str` binds).

use sqlx::AnyConnection;

use super::{Entry, Kind};
use crate::db::Db;
use crate::error::Result;

const LOCK_KEY: i64 = 7_261_840_012;

/// On PostgreSQL, the transaction-scoped advisory lock that makes sequence
/// order commit order (held until the caller commits).
async fn lock_order(conn: &mut AnyConnection) -> Result<()> {
    if crate::db::is_postgres(conn) {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One row of `journal`.
#[derive(Debug, sqlx::FromRow)]
struct JournalRow {
    seq: i64,
    #[sqlx(try_from = "String")]
    kind: Kind,
    entity_id: String,
}

impl From<JournalRow> for Entry {
    fn from(r: JournalRow) -> Entry {
        Entry {
            seq: r.seq,
            kind: r.kind,
            entity_id: r.entity_id,
        }
    }
}

/// Append an entry inside the caller's transaction (`&mut *tx`). Returns
/// its sequence.
pub async fn append(
    conn: &mut AnyConnection,
    kind: Kind,
    entity_id: &str,
    now_ms: i64,
) -> Result<i64> {
    lock_order(conn).await?;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO journal (kind, entity_id, created_at) VALUES ($1, $2, $3) RETURNING seq",
    )
    .bind(kind.as_str())
    .bind(entity_id)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(seq)
}

/// Append one entry of `kind` per id with one statement, inside the
/// caller's transaction (the ids' order is the sequences' order).
pub async fn append_many(
    conn: &mut AnyConnection,
    kind: Kind,
    entity_ids: &[String],
    now_ms: i64,
) -> Result<()> {
    if entity_ids.is_empty() {
        return Ok(());
    }
    lock_order(conn).await?;
    let values = crate::util::sql_rows(crate::db::is_postgres(conn), entity_ids.len(), "(?, ?, ?)");
    let sql = format!("INSERT INTO journal (kind, entity_id, created_at) VALUES {values}");
    let mut q = sqlx::query(&sql);
    for id in entity_ids {
        q = q.bind(kind.as_str()).bind(id).bind(now_ms);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// [`append_many`] for one entry on SQLite's direct writer
/// ([`crate::db::Db::write_direct`]).
pub(crate) fn append_direct(
    tx: &rusqlite::Transaction<'_>,
    kind: Kind,
    entity_id: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO journal (kind, entity_id, created_at) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![kind.as_str(), entity_id, now_ms])?;
    Ok(())
}

/// The last sequence written (0 when the journal is empty).
pub async fn head(db: &Db) -> Result<i64> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM journal")
        .fetch_one(&db.pool)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// The entries after `after` whose kind is one of `kinds`, oldest first,
/// at most `limit`, with the journal's last entry whatever its kind: when
/// fewer than `limit` entries of `kinds` follow, the last one returned is
/// the head, so a reader's position moves past the entries it does not act
/// on without reading them. One statement, so one snapshot; sequence order
/// is commit order (SQLite has one writer; PostgreSQL's appends take
/// [`lock_order`]), so no entry of `kinds` can appear later below the head
/// read here.
pub async fn read_kinds_after(
    db: &Db,
    after: i64,
    kinds: &[Kind],
    limit: i64,
) -> Result<Vec<Entry>> {
    let list = (0..kinds.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT seq, kind, entity_id FROM journal WHERE seq > $1 \
         AND (kind IN ({list}) OR seq = (SELECT MAX(seq) FROM journal)) \
         ORDER BY seq LIMIT $2"
    );
    let mut q = sqlx::query_as::<_, JournalRow>(&sql)
        .bind(after)
        .bind(limit);
    for k in kinds {
        q = q.bind(k.as_str());
    }
    let rows = q.fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

/// Forget entries older than `before_ms` that both indexes have committed.
pub async fn prune(db: &Db, before_ms: i64, applied: i64) -> Result<u64> {
    let res = sqlx::query("DELETE FROM journal WHERE created_at < $1 AND seq <= $2")
        .bind(before_ms)
        .bind(applied)
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected())
}
