//! The three search engines compared, loaded with the same corpus.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use tokio::sync::watch;
use vivier_node::config::Config;
use vivier_node::search::CandidateQuery;
use vivier_node::server::AppState;

use super::{dir_size, quality, Corpus, Latency};
use crate::gen::GenQuery;

/// Results per query for the relevance pass (recall@100).
pub const TOP_K: usize = 100;
/// Hits per page in the timed passes (what a user sees).
pub const PAGE: usize = 20;
const KM_PER_DEGREE: f64 = 111.195;

/// A loaded engine.
pub enum Engine {
    /// Vivier's tantivy candidate index, loaded through the node's import path.
    Vivier {
        state: AppState,
        ids: Arc<HashMap<String, usize>>,
    },
    /// PostgreSQL full-text search.
    Postgres { pool: PgPool, config: String },
    /// SQLite FTS5.
    Sqlite { pool: SqlitePool },
}

/// How one engine was loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub engine: String,
    /// Loading the rows (for Vivier: the whole import path, DB + index).
    pub load_s: f64,
    /// Building the full-text index after loading (Vivier: full rebuild of
    /// the index from the database, `reindex`).
    pub index_s: f64,
    /// Full-text index on disk.
    pub index_bytes: u64,
    /// Everything on disk (table + indexes, or DB + index).
    pub total_bytes: u64,
    pub notes: String,
}

/// One result page as a user gets it: the exact total and, for each hit,
/// a highlighted extract of the CV.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Page {
    pub total: u64,
    pub hits: Vec<PageHit>,
}

/// One hit of a [`Page`].
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct PageHit {
    /// Candidate index in the corpus.
    pub id: usize,
    pub snippet: String,
}

/// Search figures of one engine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchReport {
    pub engine: String,
    pub size: u64,
    pub load: LoadReport,
    /// Through HTTP: a page of [`PAGE`] hits with snippets and the total
    /// (Vivier: its API, with facets, authentication and audit; the SQL
    /// engines: a minimal endpoint in the harness).
    pub http: Option<HttpFigures>,
    /// In process (the breakdown): the same page, without HTTP.
    pub latency_1: Latency,
    pub qps_1: f64,
    pub latency_2: Latency,
    pub qps_2: f64,
    pub ndcg10: f64,
    pub recall100: f64,
    pub ndcg10_text: f64,
    pub ndcg10_geo: f64,
    pub judged_queries: usize,
    pub errors: usize,
    /// In process: the slowest queries (mean ms, one client).
    pub slowest: Vec<(String, f64)>,
}

/// Relevance and timed passes through HTTP.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HttpFigures {
    pub latency_1: Latency,
    pub qps_1: f64,
    pub latency_2: Latency,
    pub qps_2: f64,
    pub ndcg10: f64,
    pub ndcg10_text: f64,
    pub ndcg10_geo: f64,
    pub recall100: f64,
    /// Failed requests (any status but 200, or an incomplete answer).
    pub errors: usize,
    /// Vivier: an authenticated no-op request (`GET /api/v1/me`).
    pub floor: Option<Latency>,
    /// The slowest queries (mean ms, one client).
    pub slowest: Vec<(String, f64)>,
}

impl Engine {
    /// Short name.
    pub fn name(&self) -> String {
        match self {
            Engine::Vivier { .. } => "vivier".into(),
            Engine::Postgres { .. } => "postgres".into(),
            Engine::Sqlite { .. } => "sqlite-fts5".into(),
        }
    }

    /// Top [`TOP_K`] candidate indexes for a query.
    pub async fn search(&self, q: &GenQuery) -> anyhow::Result<Vec<usize>> {
        match self {
            Engine::Vivier { state, ids } => {
                let query = CandidateQuery {
                    text: Some(q.text.clone()),
                    near: q.near.zip(q.radius_km),
                    limit: TOP_K,
                    ..CandidateQuery::default()
                };
                let res = state.search.candidates.search_relaxing(&query)?;
                Ok(res
                    .hits
                    .iter()
                    .filter_map(|h| ids.get(&h.id).copied())
                    .collect())
            }
            Engine::Postgres { pool, config } => {
                let rows = match (q.near, q.radius_km) {
                    (Some(c), Some(r)) => {
                        let (lat, lon) = (c.lat(), c.lon());
                        let dlat = r / KM_PER_DEGREE;
                        let dlon = r / (KM_PER_DEGREE * lat.to_radians().cos().max(0.01));
                        sqlx::query(&format!(
                            "SELECT id FROM cand, plainto_tsquery('{config}', $1) q \
                             WHERE tsv @@ q AND lat BETWEEN $2 AND $3 AND lon BETWEEN $4 AND $5 \
                             AND 2 * 6371.0088 * asin(sqrt(power(sin(radians(lat - $6) / 2), 2) \
                                 + cos(radians($6)) * cos(radians(lat)) * power(sin(radians(lon - $7) / 2), 2))) <= $8 \
                             ORDER BY ts_rank_cd(tsv, q) DESC, id LIMIT {TOP_K}"
                        ))
                        .bind(&q.text)
                        .bind(lat - dlat)
                        .bind(lat + dlat)
                        .bind(lon - dlon)
                        .bind(lon + dlon)
                        .bind(lat)
                        .bind(lon)
                        .bind(r)
                        .fetch_all(pool)
                        .await?
                    }
                    _ => {
                        sqlx::query(&format!(
                            "SELECT id FROM cand, plainto_tsquery('{config}', $1) q WHERE tsv @@ q \
                             ORDER BY ts_rank_cd(tsv, q) DESC, id LIMIT {TOP_K}"
                        ))
                        .bind(&q.text)
                        .fetch_all(pool)
                        .await?
                    }
                };
                rows.iter()
                    .map(|r| Ok(usize::try_from(r.try_get::<i32, _>(0)?)?))
                    .collect()
            }
            Engine::Sqlite { pool } => {
                let m = fts5_query(&q.text);
                let rows = match (q.near, q.radius_km) {
                    (Some(c), Some(r)) => {
                        let (lat, lon) = (c.lat(), c.lon());
                        let k = lat.to_radians().cos().max(0.01);
                        let dlat = r / KM_PER_DEGREE;
                        let dlon = r / (KM_PER_DEGREE * k);
                        sqlx::query(&format!(
                            "SELECT c.id FROM cand_fts JOIN cand c ON c.id = cand_fts.rowid \
                             WHERE cand_fts MATCH ?1 AND c.lat BETWEEN ?2 AND ?3 AND c.lon BETWEEN ?4 AND ?5 \
                             AND (c.lat - ?6) * (c.lat - ?6) + (c.lon - ?7) * ?8 * (c.lon - ?7) * ?8 <= ?9 \
                             ORDER BY bm25(cand_fts, 2.0, 1.0, 1.0), c.id LIMIT {TOP_K}"
                        ))
                        .bind(&m)
                        .bind(lat - dlat)
                        .bind(lat + dlat)
                        .bind(lon - dlon)
                        .bind(lon + dlon)
                        .bind(lat)
                        .bind(lon)
                        .bind(k)
                        .bind(dlat * dlat)
                        .fetch_all(pool)
                        .await?
                    }
                    _ => {
                        sqlx::query(&format!(
                            "SELECT rowid FROM cand_fts WHERE cand_fts MATCH ?1 \
                             ORDER BY bm25(cand_fts, 2.0, 1.0, 1.0), rowid LIMIT {TOP_K}"
                        ))
                        .bind(&m)
                        .fetch_all(pool)
                        .await?
                    }
                };
                rows.iter()
                    .map(|r| Ok(usize::try_from(r.try_get::<i64, _>(0)?)?))
                    .collect()
            }
        }
    }
}

impl Engine {
    /// A result page with the same work for every engine: the exact total
    /// and a highlighted extract per hit (Vivier also computes the ROME
    /// facets and the hits' summaries, as its API does).
    pub async fn page(&self, q: &GenQuery, limit: usize) -> anyhow::Result<Page> {
        match self {
            Engine::Vivier { state, ids } => {
                let query = CandidateQuery {
                    text: Some(q.text.clone()),
                    near: q.near.zip(q.radius_km),
                    limit,
                    highlight: true,
                    summaries: true,
                    ..CandidateQuery::default()
                };
                let res = state.search.candidates.search_relaxing(&query)?;
                Ok(Page {
                    total: res.total as u64,
                    hits: res
                        .hits
                        .into_iter()
                        .filter_map(|h| {
                            Some(PageHit {
                                id: *ids.get(&h.id)?,
                                snippet: h.snippet.unwrap_or_default(),
                            })
                        })
                        .collect(),
                })
            }
            Engine::Postgres { pool, config } => {
                let (geo, binds) = match (q.near, q.radius_km) {
                    (Some(c), Some(r)) => (true, pg_geo(c, r)),
                    _ => (false, [0.0; 7]),
                };
                let filter = if geo {
                    "AND c.lat BETWEEN $3 AND $4 AND c.lon BETWEEN $5 AND $6 \
                     AND 2 * 6371.0088 * asin(sqrt(power(sin(radians(c.lat - $7) / 2), 2) \
                         + cos(radians($7)) * cos(radians(c.lat)) * power(sin(radians(c.lon - $8) / 2), 2))) <= $9"
                } else {
                    "AND $3::float8 IS NOT NULL AND $4::float8 IS NOT NULL AND $5::float8 IS NOT NULL \
                     AND $6::float8 IS NOT NULL AND $7::float8 IS NOT NULL AND $8::float8 IS NOT NULL AND $9::float8 IS NOT NULL"
                };
                let sql = format!(
                    "WITH q AS (SELECT plainto_tsquery('{config}', $1) AS q), \
                     m AS (SELECT c.id, ts_rank_cd(c.tsv, q.q) AS r FROM cand c, q WHERE c.tsv @@ q.q {filter}), \
                     top AS (SELECT id, r FROM m ORDER BY r DESC, id LIMIT $2) \
                     SELECT (SELECT count(*) FROM m) AS total, t.id, \
                            ts_headline('{config}', c.cv_text, q.q, 'MaxFragments=1, MaxWords=30, MinWords=12') AS snippet \
                     FROM top t JOIN cand c ON c.id = t.id, q ORDER BY t.r DESC, t.id"
                );
                let mut query = sqlx::query(&sql).bind(&q.text).bind(i64::try_from(limit)?);
                for b in binds {
                    query = query.bind(b);
                }
                let rows = query.fetch_all(pool).await?;
                let mut page = Page::default();
                for r in &rows {
                    page.total = u64::try_from(r.try_get::<i64, _>("total")?)?;
                    page.hits.push(PageHit {
                        id: usize::try_from(r.try_get::<i32, _>("id")?)?,
                        snippet: r.try_get("snippet")?,
                    });
                }
                Ok(page)
            }
            Engine::Sqlite { pool } => {
                let m = fts5_query(&q.text);
                let (join, filter, k, geo) = match (q.near, q.radius_km) {
                    (Some(c), Some(r)) => {
                        let (lat, lon) = (c.lat(), c.lon());
                        let k = lat.to_radians().cos().max(0.01);
                        let dlat = r / KM_PER_DEGREE;
                        let dlon = r / (KM_PER_DEGREE * k);
                        (
                            "JOIN cand c ON c.id = cand_fts.rowid",
                            "AND c.lat BETWEEN ?2 AND ?3 AND c.lon BETWEEN ?4 AND ?5 \
                             AND (c.lat - ?6) * (c.lat - ?6) + (c.lon - ?7) * ?8 * (c.lon - ?7) * ?8 <= ?9",
                            k,
                            Some([lat - dlat, lat + dlat, lon - dlon, lon + dlon, lat, lon, dlat * dlat]),
                        )
                    }
                    _ => ("", "", 1.0, None),
                };
                let count_sql = format!(
                    "SELECT count(*) FROM cand_fts {join} WHERE cand_fts MATCH ?1 {filter}"
                );
                let page_sql = format!(
                    "SELECT cand_fts.rowid AS id, snippet(cand_fts, 2, '<b>', '</b>', '…', 24) AS snippet \
                     FROM cand_fts {join} WHERE cand_fts MATCH ?1 {filter} \
                     ORDER BY bm25(cand_fts, 2.0, 1.0, 1.0), cand_fts.rowid LIMIT {limit}"
                );
                let total: i64 = fts5_binds(sqlx::query(&count_sql), &m, geo, k)
                    .fetch_one(pool)
                    .await?
                    .try_get(0)?;
                let rows = fts5_binds(sqlx::query(&page_sql), &m, geo, k)
                    .fetch_all(pool)
                    .await?;
                Ok(Page {
                    total: u64::try_from(total)?,
                    hits: rows
                        .iter()
                        .map(|r| {
                            Ok(PageHit {
                                id: usize::try_from(r.try_get::<i64, _>("id")?)?,
                                snippet: r.try_get("snippet")?,
                            })
                        })
                        .collect::<anyhow::Result<_>>()?,
                })
            }
        }
    }
}

/// Binds an FTS5 page query: the match expression, then the radius.
fn fts5_binds<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    m: &str,
    geo: Option<[f64; 7]>,
    k: f64,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let query = query.bind(m.to_string());
    match geo {
        Some(g) => query
            .bind(g[0])
            .bind(g[1])
            .bind(g[2])
            .bind(g[3])
            .bind(g[4])
            .bind(g[5])
            .bind(k)
            .bind(g[6]),
        None => query,
    }
}

/// Bounding box and centre of a radius search for PostgreSQL's binds $3..$9.
fn pg_geo(c: vivier_node::geo::Point, r: f64) -> [f64; 7] {
    let (lat, lon) = (c.lat(), c.lon());
    let dlat = r / KM_PER_DEGREE;
    let dlon = r / (KM_PER_DEGREE * lat.to_radians().cos().max(0.01));
    [lat - dlat, lat + dlat, lon - dlon, lon + dlon, lat, lon, r]
}

/// A user's words as an FTS5 query: every word quoted (implicit AND; a
/// word with an apostrophe or hyphen becomes a phrase).
pub fn fts5_query(text: &str) -> String {
    text.split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// Loading

/// Vivier: an offline node on SQLite in `dir`, candidates imported from the
/// importer's CSV (validation, DB rows in 500-row transactions, index
/// upserts, background commits), then the index committed; then a full
/// `reindex` from the database is timed separately.
/// The bench node's settings: the defaults with the `VIVIER_*`
/// environment variables over them (`VIVIER_SEARCH__AUDIT_LINGER_MS=…`
/// compares a setting with the same binary).
fn bench_config() -> anyhow::Result<Config> {
    Config::load(None).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn load_vivier(
    corpus: &Corpus,
    dir: &Path,
    reuse: bool,
) -> anyhow::Result<(Engine, LoadReport, watch::Sender<bool>)> {
    if reuse {
        if let Some(found) = reuse_vivier(corpus, dir).await? {
            return Ok(found);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let csv = dir.join("candidates.csv");
    corpus.write_csv(&csv)?;
    let config = Config {
        node_id: "bench-node".into(),
        data_dir: dir.join("data"),
        ..bench_config()?
    };
    let (tx, rx) = watch::channel(false);
    let state = vivier_node::server::open_offline(config, rx).await?;
    let t = Instant::now();
    let report = vivier_node::candidates::import_file(&state, &csv, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("import: {e}"))?;
    {
        let s = state.clone();
        tokio::task::spawn_blocking(move || s.search.candidates.commit_now()).await??;
    }
    let load = t.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "import rejected {} rows, first: {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    let t = Instant::now();
    let n = vivier_node::candidates::reindex(&state, None).await?;
    {
        let s = state.clone();
        tokio::task::spawn_blocking(move || s.search.candidates.commit_now()).await??;
    }
    let reindex = t.elapsed();
    anyhow::ensure!(n == corpus.size, "reindex indexed {n} of {}", corpus.size);
    let ids = candidate_ids(&state).await?;
    let data = dir.join("data");
    let index_bytes = dir_size(&data.join("index").join("candidates"));
    let lr = LoadReport {
        engine: "vivier".into(),
        load_s: load.as_secs_f64(),
        index_s: reindex.as_secs_f64(),
        index_bytes,
        total_bytes: dir_size(&data),
        notes: format!(
            "load = import_file of the CSV (validation + SQLite rows + index upserts + commit), {} created; index = candidates::reindex from the DB",
            report.created
        ),
    };
    Ok((
        Engine::Vivier {
            state,
            ids: Arc::new(ids),
        },
        lr,
        tx,
    ))
}

/// The node left in `dir` by an earlier run with the same corpus (same
/// number of candidates, index complete), opened as it is: `None` when
/// there is none. Loading figures are then reported as 0.
async fn reuse_vivier(
    corpus: &Corpus,
    dir: &Path,
) -> anyhow::Result<Option<(Engine, LoadReport, watch::Sender<bool>)>> {
    let data = dir.join("data");
    if !data.join("vivier.db").is_file() {
        return Ok(None);
    }
    let config = Config {
        node_id: "bench-node".into(),
        data_dir: data.clone(),
        ..bench_config()?
    };
    let (tx, rx) = watch::channel(false);
    let state = vivier_node::server::open_offline(config, rx).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM candidates")
        .fetch_one(&state.db.pool)
        .await?;
    if u64::try_from(count).ok() != Some(corpus.size)
        || state.search.candidates.num_docs() != corpus.size
    {
        state.search.shutdown();
        state.db.close().await;
        return Ok(None);
    }
    let ids = candidate_ids(&state).await?;
    let lr = LoadReport {
        engine: "vivier".into(),
        index_bytes: dir_size(&data.join("index").join("candidates")),
        total_bytes: dir_size(&data),
        notes: "reused the node of an earlier run (--reuse-vivier): no loading figures".into(),
        ..LoadReport::default()
    };
    Ok(Some((
        Engine::Vivier {
            state,
            ids: Arc::new(ids),
        },
        lr,
        tx,
    )))
}

/// Node id → corpus index, from the external ids (`gen-<i>`).
async fn candidate_ids(state: &AppState) -> anyhow::Result<HashMap<String, usize>> {
    let rows = sqlx::query("SELECT id, external_id FROM candidates")
        .fetch_all(&state.db.pool)
        .await?;
    let mut ids = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        let ext: String = r.try_get("external_id")?;
        let idx: usize = ext.trim_start_matches("gen-").parse()?;
        ids.insert(id, idx);
    }
    Ok(ids)
}

/// PostgreSQL: a fresh database; one table with the three text fields and
/// the home centre, a stored generated `tsvector` (titles weight A, skills
/// B, CV C) under the `fr` configuration (`french` + `unaccent` when the
/// extension is available), GIN index built after loading, B-tree on
/// (lat, lon).
pub async fn load_postgres(
    corpus: &Corpus,
    admin_url: &str,
) -> anyhow::Result<(Engine, LoadReport)> {
    let name = format!("vivier_bench_{}", corpus.size);
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await.ok();
    let opts = PgConnectOptions::from_str(admin_url)?
        .database(&name)
        .disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await?;
    let unaccent = sqlx::query("CREATE EXTENSION IF NOT EXISTS unaccent")
        .execute(&pool)
        .await
        .is_ok();
    let config = "fr".to_string();
    sqlx::query("CREATE TEXT SEARCH CONFIGURATION fr (COPY = french)")
        .execute(&pool)
        .await?;
    if unaccent {
        sqlx::query("ALTER TEXT SEARCH CONFIGURATION fr ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem")
            .execute(&pool)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE cand (id integer PRIMARY KEY, job_titles text NOT NULL, skills text NOT NULL, cv_text text NOT NULL, \
         lat double precision, lon double precision, \
         tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('fr', job_titles), 'A') || \
         setweight(to_tsvector('fr', skills), 'B') || setweight(to_tsvector('fr', cv_text), 'C')) STORED)",
    )
    .execute(&pool)
    .await?;
    let t = Instant::now();
    for (chunk_i, chunk) in corpus.candidates.chunks(2000).enumerate() {
        let base = chunk_i * 2000;
        let ids: Vec<i32> = (0..chunk.len())
            .map(|i| i32::try_from(base + i).unwrap_or(i32::MAX))
            .collect();
        let titles: Vec<String> = chunk.iter().map(|c| c.job_titles.join(" ; ")).collect();
        let skills: Vec<String> = chunk.iter().map(|c| c.skills.join(" ; ")).collect();
        let cvs: Vec<String> = chunk.iter().map(|c| c.cv_text.clone()).collect();
        let homes = &corpus.homes[base..base + chunk.len()];
        let lats: Vec<Option<f64>> = homes.iter().map(|h| h.map(|p| p.lat())).collect();
        let lons: Vec<Option<f64>> = homes.iter().map(|h| h.map(|p| p.lon())).collect();
        sqlx::query(
            "INSERT INTO cand (id, job_titles, skills, cv_text, lat, lon) \
             SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])",
        )
        .bind(&ids)
        .bind(&titles)
        .bind(&skills)
        .bind(&cvs)
        .bind(&lats)
        .bind(&lons)
        .execute(&pool)
        .await?;
    }
    let load = t.elapsed();
    let t = Instant::now();
    sqlx::query("CREATE INDEX cand_tsv ON cand USING gin (tsv)")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE INDEX cand_geo ON cand (lat, lon)")
        .execute(&pool)
        .await?;
    sqlx::query("VACUUM ANALYZE cand").execute(&pool).await?;
    let index = t.elapsed();
    let index_bytes: i64 = sqlx::query_scalar("SELECT pg_relation_size('cand_tsv')")
        .fetch_one(&pool)
        .await?;
    let total_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('cand')")
        .fetch_one(&pool)
        .await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    let lr = LoadReport {
        engine: "postgres".into(),
        load_s: load.as_secs_f64(),
        index_s: index.as_secs_f64(),
        index_bytes: u64::try_from(index_bytes).unwrap_or(0),
        total_bytes: u64::try_from(total_bytes).unwrap_or(0),
        notes: format!(
            "PostgreSQL {version}; config fr = french{}; load = INSERT … UNNEST in 2000-row batches incl. generated tsvector; index = GIN + (lat,lon) B-tree + VACUUM ANALYZE",
            if unaccent { " + unaccent" } else { " (unaccent unavailable)" }
        ),
    };
    Ok((Engine::Postgres { pool, config }, lr))
}

/// SQLite (bundled with sqlx): `cand(id, lat, lon)` and an FTS5 table
/// (`unicode61 remove_diacritics 2`) over titles, skills and CV, WAL,
/// `synchronous = NORMAL`, rows in 5000-row transactions, then FTS5
/// `optimize` and an index on `lat`.
pub async fn load_sqlite(corpus: &Corpus, dir: &Path) -> anyhow::Result<(Engine, LoadReport)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let path: PathBuf = dir.join("fts.db");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-65536")
        .disable_statement_logging();
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await?;
    sqlx::query("CREATE TABLE cand (id INTEGER PRIMARY KEY, lat REAL, lon REAL)")
        .execute(&pool)
        .await?;
    sqlx::query(
        "CREATE VIRTUAL TABLE cand_fts USING fts5(job_titles, skills, cv_text, tokenize = 'unicode61 remove_diacritics 2')",
    )
    .execute(&pool)
    .await?;
    let t = Instant::now();
    for (chunk_i, chunk) in corpus.candidates.chunks(5000).enumerate() {
        let mut tx = pool.begin().await?;
        for (j, c) in chunk.iter().enumerate() {
            let id = i64::try_from(chunk_i * 5000 + j)?;
            let home = corpus.homes[chunk_i * 5000 + j];
            sqlx::query("INSERT INTO cand (id, lat, lon) VALUES (?1, ?2, ?3)")
                .bind(id)
                .bind(home.map(|p| p.lat()))
                .bind(home.map(|p| p.lon()))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO cand_fts (rowid, job_titles, skills, cv_text) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(id)
            .bind(c.job_titles.join(" ; "))
            .bind(c.skills.join(" ; "))
            .bind(&c.cv_text)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    let load = t.elapsed();
    let t = Instant::now();
    sqlx::query("INSERT INTO cand_fts (cand_fts) VALUES ('optimize')")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE INDEX cand_lat ON cand (lat)")
        .execute(&pool)
        .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    let index = t.elapsed();
    let fts_pages: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'cand_fts%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    let lr = LoadReport {
        engine: "sqlite-fts5".into(),
        load_s: load.as_secs_f64(),
        index_s: index.as_secs_f64(),
        index_bytes: u64::try_from(fts_pages).unwrap_or(0),
        total_bytes: dir_size(dir),
        notes: "SQLite (sqlx bundled) FTS5 unicode61 remove_diacritics 2, bm25(2,1,1); load = 5000-row transactions (FTS5 indexes as it inserts); index = optimize + lat index + ANALYZE; distance = bbox + equirectangular (no math functions in the bundled SQLite)".into(),
    };
    Ok((Engine::Sqlite { pool }, lr))
}

// ---------------------------------------------------------------------------
// Measuring

/// Relevance of ranked lists over the judged queries: mean nDCG@10 (all,
/// text only, with a radius), mean recall@100, number of judged queries.
#[derive(Debug, Clone, Default)]
pub struct Quality {
    pub ndcg10: f64,
    pub ndcg10_text: f64,
    pub ndcg10_geo: f64,
    pub recall100: f64,
    pub judged: usize,
}

impl Quality {
    /// From each query's ranked candidate indexes (`None` = failed).
    pub fn of(corpus: &Corpus, ranked: &[Option<Vec<usize>>]) -> Quality {
        let (mut nd, mut rc, mut nd_t, mut nd_g) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (qi, (q, r)) in corpus.queries.iter().zip(ranked).enumerate() {
            let Some((n, r)) = r.as_ref().and_then(|r| quality(corpus, qi, r)) else {
                continue;
            };
            nd.push(n);
            rc.push(r);
            if q.near.is_some() {
                nd_g.push(n)
            } else {
                nd_t.push(n)
            }
        }
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Quality {
            ndcg10: mean(&nd),
            ndcg10_text: mean(&nd_t),
            ndcg10_geo: mean(&nd_g),
            recall100: mean(&rc),
            judged: nd.len(),
        }
    }
}

/// Timed passes over the queries (repeated until `min_time`): one client
/// sequentially, then two concurrent clients each on half of the work.
/// `run` answers one query; its errors are counted.
pub async fn timed_passes<F, Fut>(
    queries: usize,
    first_pass: Duration,
    min_time: Duration,
    run: F,
) -> (Latency, f64, Latency, f64, usize, Vec<(usize, f64)>)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let reps = ((min_time.as_secs_f64() / first_pass.as_secs_f64().max(1e-6)).ceil() as usize)
        .clamp(1, 50);
    let work: Vec<usize> = (0..reps).flat_map(|_| 0..queries).collect();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let one = |qi: usize, run: F, errors: Arc<std::sync::atomic::AtomicUsize>| async move {
        let s = Instant::now();
        if let Err(e) = run(qi).await {
            if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                eprintln!("  query #{qi}: {e:#}");
            }
        }
        s.elapsed()
    };
    let t = Instant::now();
    let cpu0 = process_cpu();
    let mut lat1 = Vec::with_capacity(work.len());
    for qi in &work {
        lat1.push(one(*qi, run.clone(), errors.clone()).await);
    }
    let wall1 = t.elapsed();
    let cpu_ms = process_cpu()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a).as_secs_f64() * 1000.0 / work.len().max(1) as f64);
    let t = Instant::now();
    let mut handles = Vec::new();
    for client in 0..2 {
        let part: Vec<usize> = work.iter().copied().skip(client).step_by(2).collect();
        let run = run.clone();
        let errors = errors.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(part.len());
            for qi in part {
                lat.push(one(qi, run.clone(), errors.clone()).await);
            }
            lat
        }));
    }
    let mut lat2 = Vec::new();
    for h in handles {
        match h.await {
            Ok(l) => lat2.extend(l),
            Err(e) => {
                eprintln!("  client task failed: {e}");
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    let wall2 = t.elapsed();
    // Mean latency per query over the one-client passes, slowest first.
    let mut per_query = vec![(0.0f64, 0usize); queries];
    for (qi, l) in work.iter().zip(&lat1) {
        per_query[*qi].0 += l.as_secs_f64() * 1000.0;
        per_query[*qi].1 += 1;
    }
    let mut slowest: Vec<(usize, f64)> = per_query
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(qi, (sum, n))| (qi, sum / *n as f64))
        .collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    slowest.truncate(10);
    let mut l1 = Latency::of(&lat1);
    l1.cpu_ms_per_query = cpu_ms;
    (
        l1,
        work.len() as f64 / wall1.as_secs_f64(),
        Latency::of(&lat2),
        work.len() as f64 / wall2.as_secs_f64(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        slowest,
    )
}

/// CPU time used by this process so far (all threads, user + system), from
/// `/proc/self/stat` (clock ticks of 10 ms); `None` elsewhere.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `text (radius km)` of a query, for reports.
pub fn describe(q: &GenQuery) -> String {
    match q.radius_km {
        Some(r) => format!(
            "{} ({} km around {})",
            q.text,
            r,
            q.near_insee.as_deref().unwrap_or("?")
        ),
        None => q.text.clone(),
    }
}

/// In process: relevance pass (top-100 ids, also the warm-up), then timed
/// passes of result pages ([`PAGE`] hits, totals, snippets) with 1 and 2
/// clients.
pub async fn measure(
    engine: Arc<Engine>,
    corpus: &Corpus,
    load: LoadReport,
    min_time: Duration,
) -> anyhow::Result<SearchReport> {
    let mut errors = 0;
    let t = Instant::now();
    let mut ranked = Vec::with_capacity(corpus.queries.len());
    for q in &corpus.queries {
        match engine.search(q).await {
            Ok(r) => ranked.push(Some(r)),
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("  {} query {:?}: {e}", engine.name(), q.text);
                }
                ranked.push(None);
            }
        }
    }
    let pass = t.elapsed();
    let quality = Quality::of(corpus, &ranked);
    let queries = Arc::new(corpus.queries.clone());
    let run = {
        let engine = engine.clone();
        let queries = queries.clone();
        move |qi: usize| {
            let engine = engine.clone();
            let queries = queries.clone();
            async move { engine.page(&queries[qi], PAGE).await.map(|_| ()) }
        }
    };
    let (latency_1, qps_1, latency_2, qps_2, timed_errors, slowest) =
        timed_passes(corpus.queries.len(), pass, min_time, run).await;
    Ok(SearchReport {
        slowest: slowest
            .into_iter()
            .map(|(qi, ms)| (describe(&corpus.queries[qi]), ms))
            .collect(),
        engine: engine.name(),
        size: corpus.size,
        load,
        http: None,
        latency_1,
        qps_1,
        latency_2,
        qps_2,
        ndcg10: quality.ndcg10,
        recall100: quality.recall100,
        ndcg10_text: quality.ndcg10_text,
        ndcg10_geo: quality.ndcg10_geo,
        judged_queries: quality.judged,
        errors: errors + timed_errors,
    })
}
