//! The search comparison through HTTP: what a user waits for.
//!
//! Vivier is asked through its real API (`GET /api/v1/candidates/search`,
//! bearer token, JSON with hits, snippets, exact total and ROME facets,
//! audited), served by `server::run` on a loopback port. PostgreSQL and
//! SQLite FTS5 are served by a minimal axum endpoint of the harness
//! (`GET /search`), which returns the same page: the exact total and
//! [`PAGE`] hits with a highlighted extract (`ts_headline`, `snippet()`),
//! without authentication or audit. One keep-alive HTTP client per engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::oneshot;
use vivier_node::auth::{NewUser, Role};
use vivier_node::server::AppState;

use super::engines::{timed_passes, Engine, HttpFigures, Page, Quality, PAGE, TOP_K};
use super::Corpus;
use crate::gen::GenQuery;

/// What the bench reads of Vivier's search page.
#[derive(Deserialize)]
struct VivierPage<'a> {
    total: u64,
    #[serde(borrow)]
    facets: VivierFacets<'a>,
    #[serde(borrow)]
    items: Vec<VivierHit<'a>>,
}

#[derive(Deserialize)]
struct VivierFacets<'a> {
    #[serde(borrow)]
    rome: HashMap<&'a str, u64>,
}

#[derive(Deserialize)]
struct VivierHit<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    snippet: std::borrow::Cow<'a, str>,
}

/// An engine behind an HTTP endpoint.
pub struct Target {
    pub name: String,
    base: String,
    client: reqwest::Client,
    /// Vivier: its token and id → candidate index.
    vivier: Option<(String, Arc<HashMap<String, usize>>)>,
    _stop: oneshot::Sender<()>,
}

/// Vivier's API over `state` on a loopback port, with a counsellor token.
pub async fn vivier(state: &AppState, ids: Arc<HashMap<String, usize>>) -> anyhow::Result<Target> {
    let user = vivier_node::auth::create_user(
        &state.db,
        &vivier_node::auth::PasswordPolicy::from_config(&state.config),
        NewUser {
            email: format!("bench-{}@mission-emploi.fr", uuid::Uuid::new_v4().simple()),
            display_name: "Bench".into(),
            role: Role::Counsellor,
            password: "motdepasse-du-banc".into(),
            employer_name: None,
            employer_siret: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("bench user: {e}"))?;
    let now = state.clock.now_ms();
    let token = vivier_node::auth::tokens::issue(
        &state.db,
        now,
        &user.id,
        vivier_node::auth::tokens::TokenKind::Api,
        Some("bench"),
        now + 86_400_000,
    )
    .await
    .map_err(|e| anyhow::anyhow!("bench token: {e}"))?
    .token;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let st = state.clone();
    tokio::spawn(async move {
        if let Err(e) = vivier_node::server::run(st, listener, async move {
            let _ = stopped.await;
        })
        .await
        {
            eprintln!("vivier HTTP server: {e:#}");
        }
    });
    Ok(Target {
        name: "vivier".into(),
        base,
        client: reqwest::Client::new(),
        vivier: Some((token, ids)),
        _stop: stop,
    })
}

#[derive(Deserialize)]
struct SqlParams {
    q: String,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    radius_km: Option<f64>,
    limit: usize,
}

async fn sql_search(
    State(engine): State<Arc<Engine>>,
    Query(p): Query<SqlParams>,
) -> Result<Json<Page>, (axum::http::StatusCode, String)> {
    let q = GenQuery {
        id: String::new(),
        text: p.q,
        rome_code: String::new(),
        kind: String::new(),
        near_insee: None,
        radius_km: p.radius_km,
        near: p
            .lat
            .zip(p.lon)
            .map(|(lat, lon)| vivier_node::geo::Point::from_degrees(lat, lon)),
    };
    engine.page(&q, p.limit).await.map(Json).map_err(|e| {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e:#}"),
        )
    })
}

/// A PostgreSQL or SQLite engine behind `GET /search` on a loopback port.
pub async fn sql(engine: Arc<Engine>) -> anyhow::Result<Target> {
    let name = engine.name();
    let app = Router::new()
        .route("/search", get(sql_search))
        .with_state(engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if let Err(e) = served.await {
            eprintln!("bench HTTP server: {e}");
        }
    });
    Ok(Target {
        name,
        base,
        client: reqwest::Client::new(),
        vivier: None,
        _stop: stop,
    })
}

impl Target {
    /// One result page: the ranked candidate indexes. An answer that is
    /// not a 200 with a total and a snippet for every hit is an error.
    pub async fn page(&self, q: &GenQuery, limit: usize) -> anyhow::Result<Vec<usize>> {
        match &self.vivier {
            Some((token, ids)) => {
                let qs = {
                    let mut ser = url::form_urlencoded::Serializer::new(String::new());
                    ser.append_pair("q", &q.text)
                        .append_pair("per_page", &limit.to_string());
                    if let (Some(insee), Some(r)) = (&q.near_insee, q.radius_km) {
                        ser.append_pair("commune", insee)
                            .append_pair("radius_km", &r.to_string());
                    }
                    ser.finish()
                };
                let resp = self
                    .client
                    .get(format!("{}/api/v1/candidates/search?{qs}", self.base))
                    .bearer_auth(token)
                    .send()
                    .await?;
                let status = resp.status();
                let bytes = resp.bytes().await?;
                anyhow::ensure!(
                    status.is_success(),
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                // Read as a typed client would (every field checked is
                // required: a page without its total, facets or a hit's
                // snippet is an error).
                let page: VivierPage<'_> = serde_json::from_slice(&bytes).with_context(|| {
                    format!("unexpected page: {}", String::from_utf8_lossy(&bytes))
                })?;
                let _ = (page.total, page.facets.rome.len());
                page.items
                    .iter()
                    .map(|h| {
                        let _ = &h.snippet;
                        ids.get(&*h.id).copied().context("unknown candidate id")
                    })
                    .collect()
            }
            None => {
                let qs = {
                    let mut ser = url::form_urlencoded::Serializer::new(String::new());
                    ser.append_pair("q", &q.text)
                        .append_pair("limit", &limit.to_string());
                    if let (Some(c), Some(r)) = (q.near, q.radius_km) {
                        ser.append_pair("lat", &c.lat().to_string())
                            .append_pair("lon", &c.lon().to_string())
                            .append_pair("radius_km", &r.to_string());
                    }
                    ser.finish()
                };
                let resp = self
                    .client
                    .get(format!("{}/search?{qs}", self.base))
                    .send()
                    .await?;
                let status = resp.status();
                anyhow::ensure!(status.is_success(), "HTTP {status}: {}", resp.text().await?);
                let page: Page = resp.json().await?;
                Ok(page.hits.into_iter().map(|h| h.id).collect())
            }
        }
    }
}

impl Target {
    /// Vivier only: posts `offers` (bodies of `POST /api/v1/offers`)
    /// through the API, then times `GET /api/v1/offers/{id}/matches?limit=20`
    /// `rounds` times per offer (after one untimed warm-up call). Each
    /// answer must be a 200 with every listed candidate explained.
    pub async fn matching(
        &self,
        offers: &[serde_json::Value],
        rounds: usize,
    ) -> anyhow::Result<Option<super::Latency>> {
        let Some((token, _)) = &self.vivier else {
            return Ok(None);
        };
        let mut ids = Vec::with_capacity(offers.len());
        for o in offers {
            let resp = self
                .client
                .post(format!("{}/api/v1/offers", self.base))
                .bearer_auth(token)
                .json(o)
                .send()
                .await?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            anyhow::ensure!(status.is_success(), "POST /api/v1/offers {status}: {body}");
            ids.push(
                body["offer_id"]
                    .as_str()
                    .context("no offer_id")?
                    .to_string(),
            );
        }
        let get = |id: &str| {
            self.client
                .get(format!("{}/api/v1/offers/{id}/matches?limit=20", self.base))
                .bearer_auth(token)
                .send()
        };
        if let Some(first) = ids.first() {
            get(first).await?.bytes().await?;
        }
        let mut samples = Vec::with_capacity(ids.len() * rounds.max(1));
        // The parts of each sample: answer's head received, last byte
        // received (the body's size), then parsed (the sample).
        let (mut heads, mut bodies, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        for id in std::iter::repeat_n(&ids, rounds.max(1)).flatten() {
            let t = Instant::now();
            let resp = get(id).await?;
            heads.push(t.elapsed());
            let status = resp.status();
            let bytes = resp.bytes().await?;
            bodies.push(t.elapsed());
            sizes.push(bytes.len());
            let body: serde_json::Value = serde_json::from_slice(&bytes)?;
            samples.push(t.elapsed());
            anyhow::ensure!(status.is_success(), "matches {status}: {body}");
            for w in body["workplaces"].as_array().context("no workplaces")? {
                for m in w["matches"].as_array().context("no matches")? {
                    anyhow::ensure!(m["parts"]["text"]["detail"].is_string(), "unexplained: {m}");
                }
            }
        }
        let part = |v: &[std::time::Duration]| {
            let l = super::Latency::of(v);
            format!("p50 {:.2} / p99 {:.2} ms", l.p50_ms, l.p99_ms)
        };
        eprintln!(
            "   through HTTP: head {}, last byte {}, parsed {}; answers of {:.0} bytes on average",
            part(&heads),
            part(&bodies),
            part(&samples),
            sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64
        );
        Ok(Some(super::Latency::of(&samples)))
    }

    /// Vivier only: times `GET /api/v1/candidates/{id}/matches?limit=20`
    /// once per id (after one untimed warm-up call). Each answer must be a
    /// 200 with every listed offer explained.
    pub async fn candidate_matching(
        &self,
        ids: &[String],
    ) -> anyhow::Result<Option<super::Latency>> {
        let Some((token, _)) = &self.vivier else {
            return Ok(None);
        };
        let get = |id: &str| {
            self.client
                .get(format!(
                    "{}/api/v1/candidates/{id}/matches?limit=20",
                    self.base
                ))
                .bearer_auth(token)
                .send()
        };
        if let Some(first) = ids.first() {
            get(first).await?.bytes().await?;
        }
        let mut samples = Vec::with_capacity(ids.len());
        for id in ids.iter().skip(1) {
            let t = Instant::now();
            let resp = get(id).await?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            samples.push(t.elapsed());
            anyhow::ensure!(status.is_success(), "candidate matches {status}: {body}");
            for m in body["matches"].as_array().context("no matches")? {
                anyhow::ensure!(m["parts"]["text"]["detail"].is_string(), "unexplained: {m}");
            }
        }
        Ok(Some(super::Latency::of(&samples)))
    }

    /// Vivier only: latency of an authenticated no-op (`GET /api/v1/me`,
    /// one client, `n` requests): the HTTP floor of a search (connection,
    /// routing, token look-up in the database, JSON).
    pub async fn floor(&self, n: usize) -> anyhow::Result<Option<super::Latency>> {
        let Some((token, _)) = &self.vivier else {
            return Ok(None);
        };
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let resp = self
                .client
                .get(format!("{}/api/v1/me", self.base))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::ensure!(
                resp.status().is_success(),
                "GET /api/v1/me: {}",
                resp.status()
            );
            resp.bytes().await?;
            samples.push(t.elapsed());
        }
        Ok(Some(super::Latency::of(&samples)))
    }
}

/// Relevance pass through HTTP (top [`TOP_K`], also the warm-up), then
/// timed passes of [`PAGE`]-hit pages with 1 and 2 clients.
pub async fn measure(
    target: Arc<Target>,
    corpus: &Corpus,
    min_time: Duration,
) -> anyhow::Result<HttpFigures> {
    let mut errors = 0;
    let mut ranked = Vec::with_capacity(corpus.queries.len());
    let t = Instant::now();
    for q in &corpus.queries {
        match target.page(q, TOP_K).await {
            Ok(r) => ranked.push(Some(r)),
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("  {} over HTTP, query {:?}: {e:#}", target.name, q.text);
                }
                ranked.push(None);
            }
        }
    }
    let pass = t.elapsed();
    let quality = Quality::of(corpus, &ranked);
    let floor = target.floor(500).await?;
    let queries = Arc::new(corpus.queries.clone());
    let run = {
        let target = target.clone();
        move |qi: usize| {
            let target = target.clone();
            let queries = queries.clone();
            async move { target.page(&queries[qi], PAGE).await.map(|_| ()) }
        }
    };
    let (latency_1, qps_1, latency_2, qps_2, timed_errors, slowest) =
        timed_passes(corpus.queries.len(), pass, min_time, run).await;
    Ok(HttpFigures {
        latency_1,
        qps_1,
        latency_2,
        qps_2,
        ndcg10: quality.ndcg10,
        ndcg10_text: quality.ndcg10_text,
        ndcg10_geo: quality.ndcg10_geo,
        recall100: quality.recall100,
        errors: errors + timed_errors,
        floor,
        slowest: slowest
            .into_iter()
            .map(|(qi, ms)| (super::engines::describe(&corpus.queries[qi]), ms))
            .collect(),
    })
}
