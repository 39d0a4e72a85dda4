//! Network search fan-out across real node processes: N `vivier-node`
//! processes on loopback, each but the first holding `per_node` generated
//! candidates (imported before start, indexed), joined by a membership
//! document; a user of the first node asks the network and we time the
//! `POST /api/v1/network-searches` until it answers with every member's
//! answer (the deadline is set far beyond, so that a complete answer is
//! what is timed).
//!
//! [`netsearch_inprocess`]: the same question answered by hundreds of node
//! states in one process (each its own SQLite store and indexes), through
//! the real signed-request check and answer ([`vivier_node::netsearch::http::answer_signed`]),
//! without sockets.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use vivier_protocol::{KeyId, SigningKeyPair};

use super::procs::{cli, federate, prepare, spawn, Proc};
use super::Latency;
use crate::gen::{write_jsonl, Generator, DEFAULT_SEED};

/// Results for one network size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetsearchReport {
    /// Node processes (one asking, the rest answering).
    pub processes: usize,
    /// Candidates held by each answering node.
    pub per_node: u64,
    /// Searches timed.
    pub searches: usize,
    /// From the POST until the answer with every member's results.
    pub complete: Latency,
    /// Results per search (all members), mean.
    pub results_mean: f64,
    /// Searches in which a member did not answer in time.
    pub incomplete: usize,
}

/// The searches asked, in turn: a national employer's question over five
/// large towns, and others.
fn bodies() -> Vec<serde_json::Value> {
    let towns = [
        "75056", "69123", "13055", "59350", "31555", "44109", "33063",
    ];
    let codes = ["N1101", "N1103", "J1501", "K2204", "H2909", "G1602"];
    (0..codes.len())
        .map(|i| {
            serde_json::json!({
                "rome_codes": [codes[i]],
                "places": (0..5).map(|k| serde_json::json!({
                    "commune_insee": towns[(i + k) % towns.len()], "radius_km": 30
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Starts `n` processes (`per_node` candidates each but the first), times
/// `searches` network searches from the first.
pub async fn netsearch_processes(
    bin: &Path,
    work: &Path,
    n: usize,
    per_node: u64,
    searches: usize,
) -> anyhow::Result<NetsearchReport> {
    anyhow::ensure!(n >= 2, "at least two processes");
    let _ = std::fs::remove_dir_all(work);
    let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1")?);
    let settings = "\n[network_search]\ndeadline_ms = 60000\nper_user_per_hour = 1000000\n\
                    per_node_per_hour = 1000000\nanswers_per_member_per_hour = 1000000\n";
    let mut procs: Vec<Proc> = Vec::new();
    for i in 0..n {
        let dir = work.join(format!("n{i}"));
        let id = format!("n{i}");
        let (config, token) = prepare(bin, &dir, &id, &operator.public_key(), "", settings)?;
        if i > 0 {
            let file = dir.join("candidates.jsonl");
            let gen = Generator::new(DEFAULT_SEED + i as u64)?;
            write_jsonl(&gen, per_node, std::fs::File::create(&file)?)?;
            let path = file.display().to_string();
            cli(bin, &config, &["import", "candidates", &path])
                .with_context(|| format!("import at {id}"))?;
        }
        procs.push(spawn(bin, &dir, &config, token)?);
    }
    let client = reqwest::Client::new();
    federate(&client, &procs, &operator).await?;
    // Every node's index has caught up with its imported records.
    for p in &procs {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v: serde_json::Value = client
                .get(format!("{}/api/v1/admin/index", p.base))
                .bearer_auth(&p.token)
                .send()
                .await?
                .json()
                .await?;
            if v["caught_up"] == true {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "index of {} not caught up",
                p.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let bodies = bodies();
    let mut times = Vec::new();
    let mut results = 0usize;
    let mut incomplete = 0;
    // One warm-up search (connections, caches), not timed.
    for k in 0..=searches {
        let body = &bodies[k % bodies.len()];
        let t0 = Instant::now();
        let r = client
            .post(format!("{}/api/v1/network-searches", procs[0].base))
            .bearer_auth(&procs[0].token)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await?;
        let took = t0.elapsed();
        anyhow::ensure!(status.is_success(), "search refused: {v}");
        if k == 0 {
            continue;
        }
        times.push(took);
        results += v["results"].as_array().map_or(0, Vec::len);
        if v["members_answered"] != v["members_asked"] {
            incomplete += 1;
        }
    }
    drop(procs);
    Ok(NetsearchReport {
        processes: n,
        per_node,
        searches: times.len(),
        complete: Latency::of(&times),
        results_mean: results as f64 / times.len().max(1) as f64,
        incomplete,
    })
}

/// `nodes` in-process node states (`per_node` generated candidates each,
/// imported and indexed), all members of one network with an asking peer;
/// `searches` queries (the questions of [`bodies`]) each sent to every node
/// at once — signed for each destination, checked and answered by each
/// ([`vivier_node::netsearch::http::answer_signed`]) — timed until every
/// node answered.
pub async fn netsearch_inprocess(
    nodes: usize,
    per_node: u64,
    searches: usize,
) -> anyhow::Result<NetsearchReport> {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    anyhow::ensure!(nodes >= 1, "at least one node");
    let bed = super::net::Bed::open(nodes, None).await?;
    let dir = tempfile::tempdir()?;
    for (i, state) in bed.nodes.iter().enumerate() {
        let file = dir.path().join(format!("candidates-{i}.jsonl"));
        let gen = Generator::new(DEFAULT_SEED + 1 + i as u64)?;
        write_jsonl(&gen, per_node, std::fs::File::create(&file)?)?;
        vivier_node::candidates::import_into_db(&state.db, &file, None, None)
            .await
            .map_err(|e| anyhow::anyhow!("import at node {i}: {e}"))?;
        std::fs::remove_file(&file)?;
        vivier_node::journal::catch_up(state)
            .await
            .map_err(|e| anyhow::anyhow!("index of node {i}: {e}"))?;
        state.search.candidates.commit_now()?;
        state.search.offers.commit_now()?;
    }
    let bodies = bodies();
    let mut times = Vec::new();
    let mut results = 0usize;
    let mut incomplete = 0;
    // One warm-up search (caches), not timed.
    for k in 0..=searches {
        let b = &bodies[k % bodies.len()];
        let now = vivier_node::util::now_ms();
        let query = serde_json::json!({
            "query_id": format!("bench-{k}-{now}"),
            "origin_node": bed.peer.as_str(),
            "rome_codes": b["rome_codes"],
            "places": b["places"],
            "created_at": now,
            "deadline_at": now + 600_000,
        });
        let body = axum::body::Bytes::from(serde_json::to_vec(&query)?);
        let t0 = Instant::now();
        let tasks: Vec<_> = bed
            .nodes
            .iter()
            .map(|state| {
                // What the asking node does per member: sign for it.
                let signed = vivier_protocol::sign_request(
                    "POST",
                    vivier_protocol::NETWORK_SEARCH_PATH,
                    &state.identity.node_id,
                    &body,
                    &bed.peer,
                    &bed.peer_key,
                    now / 1000,
                );
                let mut headers = HeaderMap::new();
                for (h, v) in signed.pairs() {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        headers.insert(HeaderName::from_static(h), v);
                    }
                }
                let state = state.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    vivier_node::netsearch::http::answer_signed(&state, &headers, &body).await
                })
            })
            .collect();
        let mut found = 0usize;
        let mut failed = 0usize;
        for t in tasks {
            match t.await? {
                Ok(a) => found += a.results.len(),
                Err(e) => {
                    failed += 1;
                    if failed == 1 {
                        eprintln!("netsearch in-process: a node refused: {e}");
                    }
                }
            }
        }
        let took = t0.elapsed();
        if k == 0 {
            continue;
        }
        times.push(took);
        results += found;
        if failed > 0 {
            incomplete += 1;
        }
    }
    Ok(NetsearchReport {
        processes: nodes,
        per_node,
        searches: times.len(),
        complete: Latency::of(&times),
        results_mean: results as f64 / times.len().max(1) as f64,
        incomplete,
    })
}

/// Markdown table (`processes`: the node processes, or the in-process
/// nodes for [`netsearch_inprocess`]).
pub fn table(rows: &[NetsearchReport]) -> String {
    table_of("processes", rows)
}

/// Markdown table of [`netsearch_inprocess`].
pub fn inprocess_table(rows: &[NetsearchReport]) -> String {
    table_of("in-process nodes", rows)
}

fn table_of(first: &str, rows: &[NetsearchReport]) -> String {
    let mut s = format!(
        "| {first} | candidates per node | searches | p50 ms | p95 ms | p99 ms | max ms | results per search | incomplete |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {} |\n",
            r.processes,
            r.per_node,
            r.searches,
            r.complete.p50_ms,
            r.complete.p95_ms,
            r.complete.p99_ms,
            r.complete.max_ms,
            r.results_mean,
            r.incomplete
        ));
    }
    s
}
