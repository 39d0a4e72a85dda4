//! The store: one sqlx `AnyPool` over SQLite (embedded default, WAL) or
//! PostgreSQL (chosen by the URL scheme). Queries are written once with
//! `$1`-style placeholders and portable SQL; the schema lives in
//! `node/migrations/{sqlite,postgres}` and is applied at start-up.
//!
//! Conventions: timestamps are `BIGINT` unix milliseconds, booleans are
//! `0/1` integers, JSON documents are `TEXT`. `RowNotFound` never leaves this
//! layer: callers get `Option`s or a domain `NotFound`.

use std::str::FromStr;
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
    /// stays warm: a connection that finds the file changed by another one
    /// drops its whole cache and reads every page it needs again (a group
    /// of received offers began 1.7 ms late in 40 % of its transactions).
    /// `None` on PostgreSQL (the pool).
    writer: Option<AnyPool>,
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
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let sync = sqlite_synchronous.to_ascii_uppercase();
                // journal_mode is persistent in the file; set it once before
                // the pool so concurrent connections agree.
                let pool = sqlite_pool(8, &sync).connect_with(opts.clone()).await?;
                let writer = sqlite_pool(1, &sync).connect_with(opts).await?;
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
            writer.close().await;
        }
        self.pool.close().await;
    }
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
