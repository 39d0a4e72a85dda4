//! Inbox throughput through a real node process: `vivier-node` on loopback
//! (its own data directory, SQLite `synchronous=full` or a PostgreSQL
//! database), members whose keys the bench holds sending signed
//! `PUT /federation/v1/txn/{id}` requests (RFC 9421) of signed, distinct
//! `offer.published` messages, `senders` requests in flight at once. Timed:
//! from the first request until the last answer (every message must come
//! back `accepted`: "accepted msgs/s"). Then, separately, the time until
//! the index has caught up with the journal (`GET /api/v1/admin/index`;
//! "indexed msgs/s" counts from the first request until then), and the
//! checks: the
//! index equals the database (`?check=true`) and every message is stored
//! exactly once (rows counted in `inbox` and `offers`).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use serde::Serialize;
use vivier_protocol::{
    KeyId, Member, MemberKey, MemberKind, MemberStatus, MessageKind, NodeId, PublicKey, Recipient,
    SigningKeyPair, Territory,
};

use super::procs::{start_with, Proc};
use super::Latency;
use crate::gen::Generator;

/// One inbox run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InboxReport {
    /// `sqlite (synchronous=full)` or `postgres`.
    pub backend: String,
    /// `bulk` (the default path) or `one by one` (`inbox_bulk = false`).
    pub path: String,
    /// Requests in flight at once (one sending member each).
    pub senders: usize,
    pub batch: usize,
    pub messages: usize,
    pub accepted: usize,
    pub seconds: f64,
    pub messages_per_s: f64,
    /// Per request (signed HTTP round trip).
    pub batch_latency: Latency,
    /// From the last answer until the index had applied and committed the
    /// whole journal.
    pub index_catch_up_s: f64,
    /// Messages / (seconds + index_catch_up_s): from the first request
    /// until every message was searchable.
    pub indexed_messages_per_s: f64,
    /// CPU time of the node process (all threads: HTTP, verification,
    /// store, and the index follower running meanwhile) per message while
    /// the requests were answered, in µs; independent of other processes'
    /// load, unlike the wall-clock figures.
    pub node_cpu_us_per_message: f64,
    /// The node's CPU per message from the last answer until the index
    /// caught up (the rest of the indexing), in µs.
    pub catch_up_cpu_us_per_message: f64,
    /// Rows in `inbox` and `offers` for the bench's senders afterwards.
    pub inbox_rows: i64,
    pub offer_rows: i64,
    /// `/proc/loadavg` (1 min) when the run started.
    pub load_1min: f64,
}

/// What to run.
pub struct InboxRun<'a> {
    pub bin: &'a Path,
    pub work: &'a Path,
    pub backend: &'a str,
    /// PostgreSQL server for a `postgres` run (a fresh database is made).
    pub postgres_admin: Option<&'a str>,
    pub bulk: bool,
    pub senders: usize,
    pub batch: usize,
    pub messages: u64,
    /// First generator index (distinct offers across runs).
    pub first: u64,
}

fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn member(id: &str, base_url: &str, key: &PublicKey) -> anyhow::Result<Member> {
    Ok(Member {
        node_id: NodeId::parse(id)?,
        display_name: format!("Banc {id}"),
        kind: MemberKind::Other,
        territory: Territory {
            departements: vec![],
            communes: vec![],
        },
        base_url: base_url.into(),
        keys: vec![MemberKey {
            key_id: KeyId::parse("ed25519:1")?,
            public_key: *key,
            valid_from: 0,
            valid_until: None,
        }],
        status: MemberStatus::Active,
    })
}

/// One signed request, ready to send.
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Runs one configuration.
pub async fn run(gen: &Generator, r: &InboxRun<'_>) -> anyhow::Result<InboxReport> {
    let load = load_1min();
    let _ = std::fs::remove_dir_all(r.work);
    let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1")?);
    let database_url = match (r.backend, r.postgres_admin) {
        ("postgres", Some(admin)) => Some(super::net::fresh_pg(admin, "vivier_bench_inbox").await?),
        ("postgres", None) => bail!("a postgres run needs --postgres"),
        _ => None,
    };
    let top = database_url
        .as_ref()
        .map(|u| format!("database_url = \"{u}\""))
        .unwrap_or_default();
    // Enough per-peer quota for the run: the limit is not what is measured.
    let federation = format!("inbox_bulk = {}\ninbox_rate_per_sec = 100000", r.bulk);
    let node = start_with(
        r.bin,
        &r.work.join("node"),
        "inbox-bench",
        &operator.public_key(),
        &top,
        &federation,
    )?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(r.senders.max(1))
        .build()?;
    let senders: Vec<(NodeId, SigningKeyPair)> = (0..r.senders.max(1))
        .map(|i| {
            Ok((
                NodeId::parse(&format!("bench-sender-{i}"))?,
                SigningKeyPair::generate(KeyId::parse("ed25519:1")?),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    publish(&client, &node, &operator, &senders).await?;
    let node_id = NodeId::parse("inbox-bench")?;

    // Messages and signed requests, made before the clock starts (a
    // sender signs on its own machine).
    let now = chrono::Utc::now().timestamp_millis();
    let batches = (r.messages as usize).div_ceil(r.batch.max(1));
    let mut requests = Vec::with_capacity(batches);
    for b in 0..batches {
        let (sender, key) = &senders[b % senders.len()];
        let from = r.first + (b * r.batch) as u64;
        let to = (r.first + r.messages).min(from + r.batch as u64);
        let mut body = b"{\"messages\":[".to_vec();
        for i in from..to {
            let offer = super::net::stored_offer(gen, i, sender.as_str())?;
            let m = vivier_protocol::sign_message(
                MessageKind::OfferPublished,
                &offer.payload,
                sender,
                key,
                Recipient::Network,
                1,
                now,
                7 * 86_400_000,
            )
            .map_err(|e| anyhow::anyhow!("sign: {e}"))?;
            if i > from {
                body.push(b',');
            }
            body.extend_from_slice(&m.bytes);
        }
        body.extend_from_slice(b"]}");
        let path = format!("/federation/v1/txn/bench-{}", uuid::Uuid::now_v7());
        let signed =
            vivier_protocol::sign_request("PUT", &path, &node_id, &body, sender, key, now / 1000);
        requests.push(Request {
            headers: signed
                .pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path,
            body,
        });
    }

    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = node.cpu_time()?;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..r.senders.max(1) {
        let (requests, next, client) = (requests.clone(), next.clone(), client.clone());
        let base = node.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut accepted = 0usize;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(k) else {
                    return Ok::<_, anyhow::Error>((lat, accepted));
                };
                let s = Instant::now();
                let mut q = client
                    .put(format!("{base}{}", req.path))
                    .header("content-type", "application/json");
                for (h, v) in &req.headers {
                    q = q.header(h, v);
                }
                let resp = q.body(req.body.clone()).send().await?;
                let status = resp.status();
                let text = resp.text().await?;
                lat.push(s.elapsed());
                ensure!(status.is_success(), "txn {}: {status}: {text}", req.path);
                let v: serde_json::Value = serde_json::from_str(&text)?;
                let results = v["results"].as_object().context("results")?;
                for (id, res) in results {
                    ensure!(
                        res["status"] == "accepted",
                        "message {id} not accepted: {res}"
                    );
                    accepted += 1;
                }
            }
        }));
    }
    let mut lat = Vec::new();
    let mut accepted = 0;
    for t in tasks {
        let (l, a) = t.await??;
        lat.extend(l);
        accepted += a;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu1 = node.cpu_time()?;
    eprintln!(
        "   {accepted} accepted in {seconds:.2} s: {:.0} msgs/s, node CPU {:.0} µs/msg; waiting for the index",
        r.messages as f64 / seconds,
        cpu1.saturating_sub(cpu0).as_secs_f64() * 1e6 / r.messages.max(1) as f64
    );

    // The index catches up from the journal, after the answers.
    let t1 = Instant::now();
    loop {
        let v = admin_get(&client, &node, "/api/v1/admin/index").await?;
        if v["caught_up"] == true {
            break;
        }
        ensure!(
            t1.elapsed() < Duration::from_secs(600),
            "index not caught up after 600 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let index_catch_up_s = t1.elapsed().as_secs_f64();
    let cpu2 = node.cpu_time()?;
    let per_message = |d: Duration| d.as_secs_f64() * 1e6 / r.messages.max(1) as f64;
    let check = admin_get(&client, &node, "/api/v1/admin/index?check=true").await?;
    ensure!(
        check["consistent"] == true,
        "index differs from the database: {check}"
    );
    let (inbox_rows, offer_rows) = count_rows(r, database_url.as_deref()).await?;
    ensure!(
        inbox_rows == r.messages as i64 && offer_rows == r.messages as i64,
        "expected {} messages stored once: {inbox_rows} inbox rows, {offer_rows} offers",
        r.messages
    );
    drop(node);
    Ok(InboxReport {
        backend: r.backend.into(),
        path: if r.bulk { "bulk" } else { "one by one" }.into(),
        senders: r.senders.max(1),
        batch: r.batch,
        messages: r.messages as usize,
        accepted,
        seconds,
        messages_per_s: r.messages as f64 / seconds,
        batch_latency: Latency::of(&lat),
        index_catch_up_s,
        indexed_messages_per_s: r.messages as f64 / (seconds + index_catch_up_s),
        node_cpu_us_per_message: per_message(cpu1.saturating_sub(cpu0)),
        catch_up_cpu_us_per_message: per_message(cpu2.saturating_sub(cpu1)),
        inbox_rows,
        offer_rows,
        load_1min: load,
    })
}

async fn admin_get(
    client: &reqwest::Client,
    node: &Proc,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let r = client
        .get(format!("{}{path}", node.base))
        .bearer_auth(&node.token)
        .send()
        .await?;
    ensure!(r.status().is_success(), "{path}: {}", r.status());
    Ok(r.json().await?)
}

/// Rows (distinct message ids, offers) of the bench's senders, read from
/// the node's database.
async fn count_rows(r: &InboxRun<'_>, database_url: Option<&str>) -> anyhow::Result<(i64, i64)> {
    use sqlx::Connection as _;
    let url = match database_url {
        Some(u) => u.to_string(),
        None => format!(
            "sqlite://{}?mode=ro",
            r.work.join("node/data/vivier.db").display()
        ),
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    let (rows, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM inbox WHERE origin LIKE 'bench-sender-%'",
    )
    .fetch_one(&mut conn)
    .await?;
    ensure!(
        rows == distinct,
        "{rows} inbox rows for {distinct} message ids"
    );
    let offers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM offers WHERE origin_node LIKE 'bench-sender-%'")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await.ok();
    Ok((rows, offers))
}

async fn publish(
    client: &reqwest::Client,
    node: &Proc,
    operator: &SigningKeyPair,
    senders: &[(NodeId, SigningKeyPair)],
) -> anyhow::Result<()> {
    let wk: serde_json::Value = client
        .get(format!("{}/.well-known/vivier", node.base))
        .send()
        .await?
        .json()
        .await?;
    let key = PublicKey::from_b64(wk["keys"][0]["public_key"].as_str().unwrap_or_default())?;
    let mut members = vec![member("inbox-bench", &node.base, &key)?];
    for (id, k) in senders {
        // Nothing listens there: the node never needs to call them.
        members.push(member(id.as_str(), "http://127.0.0.1:9", &k.public_key())?);
    }
    super::procs::publish_membership(client, &[&node.base], operator, members).await
}

/// Markdown table.
pub fn table(rows: &[InboxReport]) -> String {
    let mut s = String::from(
        "| backend | path | senders | batch | messages | accepted | accepted msgs/s | request p50 ms | p99 ms | node CPU µs/msg | index caught up after s | + CPU µs/msg | indexed msgs/s | rows inbox / offers | load (1 min) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} | {} / {} | {:.2} |\n",
            r.backend,
            r.path,
            r.senders,
            r.batch,
            r.messages,
            r.accepted,
            r.messages_per_s,
            r.batch_latency.p50_ms,
            r.batch_latency.p99_ms,
            r.node_cpu_us_per_message,
            r.index_catch_up_s,
            r.catch_up_cpu_us_per_message,
            r.indexed_messages_per_s,
            r.inbox_rows,
            r.offer_rows,
            r.load_1min
        ));
    }
    s
}
