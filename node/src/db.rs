//! The store: one sqlx `AnyPool` over SQLite (embedded default, WAL) or
//! PostgreSQL (chosen by the URL scheme). Queries are written once with
//! `$1`-style placeholders and portable SQL; the schema lives in
//! `node/migrations/{sqlite,postgres}` and is applied at start-up.
//!
//! Conventions: timestamps are `BIGINT` unix milliseconds, booleans are
//! `0/1` integers, JSON documents are `TEXT`. `RowNotFound` never leaves this
//! layer: callers get `Option`s or a domain `NotFound`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which database engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file in WAL mode.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A pool of up to `max` SQLite connections, each set up for the node
/// (`sync`: `FULL` or `NORMAL`).
fn sqlite_pool(max: u32, sync: &str) -> AnyPoolOptions {
    let sync = sync.to_string();
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // A SQLite connection is a file in this process: there is nothing
        // to test before lending it (sqlx's test is a round trip to the
        // connection's thread per acquire, i.e. per statement of a
        // request). PostgreSQL keeps it.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            let sync = sync.clone();
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 15000").await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute(format!("PRAGMA synchronous = {sync}").as_str())
                    .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute(
                    format!("PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}").as_str(),
                )
                .await?;
                // Erased personal data must not linger in free pages.
                conn.execute("PRAGMA secure_delete = ON").await?;
                // Reads through a memory map of the file instead of a
                // `pread` per page missing from the connection's own page
                // cache (writes still go through the WAL).
                conn.execute(format!("PRAGMA mmap_size = {SQLITE_MMAP_BYTES}").as_str())
                    .await?;
                Ok(())
            })
        })
}

/// A connection pool and its backend.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool; share it freely.
    pub pool: AnyPool,
    /// The engine.
    pub backend: Backend,
    /// SQLite: the one connection write transactions ([`Db::begin`]) take
    /// turns on. SQLite has one writer at a time anyway; on one connection
    /// the writers queue in the pool, first come first served, instead of
    /// sleeping in SQLite's busy handler, and the connection's page cache
    /// stays warm (except after [`Db::write_direct`]'s writes): a connection
    /// that finds the file changed by another one
    /// drops its whole cache and reads every page it needs again (a group
    /// of received offers began 1.7 ms late in 40 % of its transactions).
    /// `None` on PostgreSQL (the pool).
    writer: Option<AnyPool>,
    /// SQLite on a file: the connection of [`Db::write_direct`].
    direct: Option<Arc<Direct>>,
}

/// SQLite: a connection outside sqlx for [`Db::write_direct`], opened on
/// first use with the pool's pragmas (URLs with other connection options —
/// `vfs`, `immutable`, `mode=ro` — get none, see [`direct_for`]).
#[derive(Debug)]
struct Direct {
    path: PathBuf,
    /// `FULL` or `NORMAL`.
    synchronous: String,
    conn: std::sync::Mutex<Option<rusqlite::Connection>>,
}

impl Direct {
    /// Run `f` on the connection (opened if needed), in a `BEGIN
    /// IMMEDIATE` transaction that `f` commits or drops (rolls back).
    /// A connection that failed to begin, or was left inside a
    /// transaction (a rollback that failed, a panic), is dropped and opened
    /// again next time.
    fn run<T>(&self, f: impl FnOnce(rusqlite::Transaction<'_>) -> T) -> rusqlite::Result<T> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|c| !c.is_autocommit()) {
            *slot = None;
        }
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.open()?),
        };
        let began = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map(f);
        let Ok(done) = began else {
            *slot = None;
            return began;
        };
        if slot.as_ref().is_some_and(|c| !c.is_autocommit()) {
            *slot = None;
        }
        Ok(done)
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(15))?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}; \
             PRAGMA secure_delete = ON; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};",
            self.synchronous
        ))?;
        // The inbox's statements, each prepared once.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }
}

/// Why [`Db::write_direct`] could not run its function.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The writer's turn could not be taken.
    #[error("database: {0}")]
    Pool(#[from] sqlx::Error),
    /// Opening the connection or beginning the transaction failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking thread ended without an answer (a panic).
    #[error("database: the direct writer stopped: {0}")]
    Stopped(String),
}

/// Database errors at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("database_url: unsupported scheme in {0:?} (use sqlite:// or postgres://)")]
    Scheme(String),
    /// Connection or query failure.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migration failure.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How much of a SQLite database file each connection maps into memory
/// for reading (`PRAGMA mmap_size`): the file's pages are then read from
/// the operating system's cache without a system call each.
/// SQLite maps the file read-only and still writes through the WAL; a disk
/// error under a mapped page ends the process (`SIGBUS`) instead of failing
/// the statement, one more reason to keep the database on a local disk.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// WAL pages after which a committing connection checkpoints the WAL
/// itself (`PRAGMA wal_autocheckpoint`; SQLite's default is 1,000, 4 MB).
/// A serving node checkpoints in the background ([`Db::checkpoint`],
/// every [`CHECKPOINT_EVERY`]), so a writer's commit does not copy the WAL
/// into the database file and flush it (a received burst's commits took
/// 6–7 ms at p90 with SQLite's default, 3 ms without). This larger bound
/// (40 MB) only caps the WAL when nothing else checkpoints it (a CLI
/// import) or the background pass falls behind.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// How often a serving node checkpoints SQLite's WAL in the background.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connect (creating the SQLite file if needed) and apply migrations.
    /// `sqlite_synchronous` is `full` or `normal`.
    pub async fn connect(url: &str, sqlite_synchronous: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::Scheme(crate::config::redact_url(url)));
        };
        let opts = AnyConnectOptions::from_str(url)?;
        let mut direct = None;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let sync = sqlite_synchronous.to_ascii_uppercase();
                // journal_mode is persistent in the file; set it once before
                // the pool so concurrent connections agree.
                let pool = sqlite_pool(8, &sync).connect_with(opts.clone()).await?;
                let writer = sqlite_pool(1, &sync).connect_with(opts).await?;
                direct = direct_for(url, &sync);
                (pool, Some(writer))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await?;
                (pool, None)
            }
        };
        let db = Db {
            pool,
            backend,
            writer,
            direct,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Apply pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATOR.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Begin a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the
    /// write lock is taken at once (waiting up to `busy_timeout`), so a
    /// transaction that reads before it writes cannot fail with
    /// `SQLITE_BUSY` when another writer committed in between.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let writer = self.writer.as_ref().unwrap_or(&self.pool);
                writer.begin_with("BEGIN IMMEDIATE").await
            }
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether [`Db::write_direct`] runs (SQLite on a file).
    pub fn has_direct_writer(&self) -> bool {
        self.direct.is_some() && self.writer.is_some()
    }

    /// On SQLite (a file), run `f` on a blocking thread in a write
    /// transaction (`BEGIN IMMEDIATE`) that `f` commits, or drops to roll
    /// back, on a connection outside sqlx, while holding the writers' turn
    /// (no [`Db::begin`] transaction runs meanwhile). `f`'s statements run
    /// one after another on that thread, each prepared once
    /// (`prepare_cached`), with no hand-off to another thread between them:
    /// the inbox stores a group of received offers this way (a group's
    /// dozen sqlx statements each cross from the task to the connection's
    /// thread and back). `None` on PostgreSQL and in-memory SQLite.
    ///
    /// Statements sent straight to [`Db::pool`] (outside a transaction)
    /// are not held back by the turn; SQLite's busy timeout keeps them
    /// apart, as for the sqlx writer. A switch between this connection and
    /// the sqlx writer makes the other drop its page cache (it finds the
    /// file changed): a burst of offers keeps this one warm.
    pub async fn write_direct<T: Send + 'static>(
        &self,
        f: impl FnOnce(rusqlite::Transaction<'_>) -> T + Send + 'static,
    ) -> Option<Result<T, DirectError>> {
        let direct = self.direct.clone()?;
        let writer = self.writer.as_ref()?;
        Some(
            async {
                // The writers' turn: the one connection of the writer pool,
                // held (idle) until `f` is done.
                let turn = writer.acquire().await?;
                let done = tokio::task::spawn_blocking(move || direct.run(f))
                    .await
                    .map_err(|e| DirectError::Stopped(e.to_string()))?;
                drop(turn);
                Ok(done?)
            }
            .await,
        )
    }

    /// Whether the database answers (the health check).
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }

    /// Read a value from `node_meta`.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar::<_, String>("SELECT value FROM node_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    /// Write a value to `node_meta`.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO node_meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// After an erasure: on SQLite, checkpoint the WAL so that no copy of
    /// the erased rows survives in it (secure_delete already zeroes the
    /// freed pages of the main file).
    pub async fn scrub(&self) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// On SQLite, copy what the WAL holds into the database file without
    /// waiting for readers or the writer (`PRAGMA wal_checkpoint(PASSIVE)`):
    /// the serving node's background pass, so that commits do not do it.
    /// Returns the WAL's frames and how many of them are now in the file
    /// (`None` on PostgreSQL).
    pub async fn checkpoint(&self) -> Result<Option<(i64, i64)>, sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let row: (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((row.1, row.2)))
    }

    /// Close the pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            // Waits for the writers' turn to come back: no direct write is
            // under way (or can start) once it returns.
            writer.close().await;
        }
        if let Some(direct) = &self.direct {
            let conn = direct
                .conn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(conn);
        }
        self.pool.close().await;
    }
}

/// The direct writer of a SQLite database at `url`, unless it lives in
/// memory (each connection would then see a database of its own).
fn direct_for(url: &str, synchronous: &str) -> Option<Arc<Direct>> {
    // In memory, or options the direct connection would not honour.
    let unsupported = [":memory:", "mode=memory", "mode=ro", "vfs=", "immutable="];
    if unsupported.iter().any(|o| url.contains(o)) {
        return None;
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(Arc::new(Direct {
        path: opts.get_filename().to_path_buf(),
        synchronous: synchronous.to_string(),
        conn: std::sync::Mutex::new(None),
    }))
}

/// Whether `conn` is a PostgreSQL connection (SQL text that differs by
/// engine).
pub fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("postgresql")
}

/// Convert a boolean for storage.
pub fn b(v: bool) -> i64 {
    i64::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connects_migrates_and_roundtrips_meta() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, "full").await.expect("connect");
        assert_eq!(db.backend, Backend::Sqlite);
        assert_eq!(db.meta("x").await.expect("meta"), None);
        db.set_meta("x", "1").await.expect("set");
        db.set_meta("x", "2").await.expect("set again");
        assert_eq!(db.meta("x").await.expect("meta").as_deref(), Some("2"));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .expect("pragma");
        assert_eq!(mode.to_lowercase(), "wal");
        // The audit log refuses updates and deletes.
        sqlx::query("INSERT INTO audit_log (at, action) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("t")
            .execute(&db.pool)
            .await
            .expect("insert");
        assert!(sqlx::query("DELETE FROM audit_log")
            .execute(&db.pool)
            .await
            .is_err());
        db.close().await;
    }

    /// The direct writer commits what its function commits, rolls back
    /// what it drops, and its writes are seen by the pool; it takes the
    /// writers' turn (a sqlx write transaction in progress holds it back);
    /// there is none for a database in memory.
    #[tokio::test]
    async fn the_direct_writer_commits_rolls_back_and_takes_the_writers_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, "full").await.expect("connect");
        assert!(db.has_direct_writer());
        let put = |value: &'static str, keep: bool| {
            move |tx: rusqlite::Transaction<'_>| {
                tx.execute(
                    "INSERT INTO node_meta (key, value) VALUES ('d', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [value],
                )
                .expect("insert");
                if keep {
                    tx.commit().expect("commit");
                }
            }
        };
        db.write_direct(put("1", true))
            .await
            .expect("sqlite")
            .expect("ran");
        assert_eq!(db.meta("d").await.expect("meta").as_deref(), Some("1"));
        db.write_direct(put("2", false))
            .await
            .expect("sqlite")
            .expect("ran");
        assert_eq!(db.meta("d").await.expect("meta").as_deref(), Some("1"));

        // A sqlx write transaction holds the turn: the direct write waits
        // for its commit, then sees its row.
        let mut tx = db.begin().await.expect("begin");
        sqlx::query("INSERT INTO node_meta (key, value) VALUES ('s', 'x')")
            .execute(&mut *tx)
            .await
            .expect("insert");
        let read = db.write_direct(|tx: rusqlite::Transaction<'_>| {
            tx.query_row("SELECT value FROM node_meta WHERE key = 's'", [], |r| {
                r.get::<_, String>(0)
            })
        });
        tokio::pin!(read);
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut read).await;
        assert!(
            waited.is_err(),
            "the direct writer did not wait for its turn"
        );
        tx.commit().await.expect("commit");
        let seen = read.await.expect("sqlite").expect("ran").expect("row");
        assert_eq!(seen, "x");
        db.close().await;

        let memory = Db::connect("sqlite::memory:", "full")
            .await
            .expect("connect");
        assert!(!memory.has_direct_writer());
        assert!(memory.write_direct(|_tx| ()).await.is_none());
    }

    /// The store boundary (issue 11): SQL lives only in the stores —
    /// `store.rs`, `*_store.rs` or a `store/` folder of a feature — and in
    /// this database adapter (connection, migrations, `node_meta`, scrub).
    /// Every other source file of the node, present or future, is read and
    /// refused if it holds a query.
    #[test]
    fn no_sql_outside_the_stores() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("read src") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        assert!(files.len() > 100, "the node's sources are read");
        let allowed = |rel: &str| {
            rel == "db.rs"
                || rel == "store.rs"
                || rel.ends_with("/store.rs")
                || rel.ends_with("_store.rs")
                || rel.contains("/store/")
        };
        let mut offenders = Vec::new();
        for f in &files {
            let rel = f
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if allowed(&rel) {
                continue;
            }
            let text = std::fs::read_to_string(f).expect("read");
            for needle in [
                "sqlx::query",
                "query_as(",
                "query_as::<",
                "query_scalar",
                "QueryBuilder",
                "raw_sql",
            ] {
                if text.contains(needle) {
                    offenders.push(format!("{rel} ({needle})"));
                }
            }
        }
        assert!(offenders.is_empty(), "SQL outside a store: {offenders:?}");
    }

    #[test]
    fn unknown_scheme_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let err = rt
            .block_on(Db::connect("mysql://x", "full"))
            .expect_err("refused");
        assert!(err.to_string().contains("unsupported scheme"));
    }
}
