//! Offer fan-out across real node processes: N `vivier-node` processes on
//! loopback, each with its own data directory and SQLite store, joined by a
//! membership document; an employer posts offers at the first node and we
//! time until every other node finds each offer in its search index
//! (outbox → signed HTTP delivery → inbox → index commit → search).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use vivier_protocol::{
    KeyId, Member, MemberKey, MemberKind, MemberStatus, MembershipDocument, NodeId, OperatorKey,
    PublicKey, SignedMembershipDocument, SigningKeyPair, Territory,
};

use super::Latency;

/// Results for one network size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcsReport {
    /// Node processes (one origin, the rest receivers).
    pub processes: usize,
    /// Offers timed.
    pub offers: usize,
    /// From the POST at the origin until the offer is found by search at
    /// every other node.
    pub all_nodes: Latency,
    /// The same, per receiving node (all samples together).
    pub per_node: Latency,
}

/// A running node process.
pub(crate) struct Proc {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
    /// An admin's API token.
    pub(crate) token: String,
}

impl Proc {
    /// CPU time the process has used so far (user + system, all threads),
    /// from `/proc/<pid>/stat`.
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    }
}

/// `getconf CLK_TCK` (100 on Linux).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node binary next to the running bench binary (`cargo build --release
/// -p vivier-tests --bins` builds both).
pub fn default_node_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("vivier-node-e2e");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release -p vivier-tests --bins` first",
            bin.display()
        );
    }
    Ok(bin)
}

pub(crate) fn cli(bin: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("VIVIER_USER_PASSWORD", "motdepasse-de-banc")
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "vivier-node {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn start(bin: &Path, dir: &Path, id: &str, operator: &PublicKey) -> anyhow::Result<Proc> {
    start_with(bin, dir, id, operator, "", "")
}

/// [`start`] with extra configuration lines at the top level (`top`) and
/// in `[federation]`.
pub(crate) fn start_with(
    bin: &Path,
    dir: &Path,
    id: &str,
    operator: &PublicKey,
    top: &str,
    federation: &str,
) -> anyhow::Result<Proc> {
    let (config, token) = prepare(bin, dir, id, operator, top, federation)?;
    spawn(bin, dir, &config, token)
}

/// Writes the configuration of node `id` under `dir` and creates its admin;
/// the configuration's path and the admin's API token.
pub(crate) fn prepare(
    bin: &Path,
    dir: &Path,
    id: &str,
    operator: &PublicKey,
    top: &str,
    federation: &str,
) -> anyhow::Result<(PathBuf, String)> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "node_id = \"{id}\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n{top}\n\
             [federation]\npoll_interval_ms = 50\ncatch_up_interval_secs = 3600\n\
             operator_keys = [{{ key_id = \"ed25519:1\", public_key = \"{}\" }}]\n{federation}\n",
            dir.join("data").display(),
            operator.to_b64()
        ),
    )?;
    let email = format!("admin@{id}.bench");
    cli(
        bin,
        &config,
        &[
            "user", "add", "--email", &email, "--name", "Banc", "--role", "admin",
        ],
    )?;
    let token = cli(bin, &config, &["token", "--email", &email])?;
    Ok((config, token))
}

/// Starts `vivier-node serve` on a prepared configuration.
pub(crate) fn spawn(bin: &Path, dir: &Path, config: &Path, token: String) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(dir.join("node.log"))?;
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("VIVIER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("node did not start: {line:?}"))?
        .to_string();
    Ok(Proc { child, base, token })
}

/// Start `n` processes, federate them, post `offers` at the first and time
/// their arrival in every other node's search.
pub async fn fanout_processes(
    bin: &Path,
    work: &Path,
    n: usize,
    offers: usize,
) -> anyhow::Result<ProcsReport> {
    anyhow::ensure!(n >= 2, "at least two processes");
    let _ = std::fs::remove_dir_all(work);
    let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1")?);
    let mut procs = Vec::new();
    for i in 0..n {
        procs.push(start(
            bin,
            &work.join(format!("n{i}")),
            &format!("n{i}"),
            &operator.public_key(),
        )?);
    }
    let client = reqwest::Client::new();
    federate(&client, &procs, &operator).await?;

    let mut all = Vec::new();
    let mut per_node = Vec::new();
    for k in 0..offers {
        let word = format!("magasinierbanc{k}");
        let body = serde_json::json!({
            "title": format!("Magasinier {word}"),
            "description": "Réception, stockage et préparation de commandes en entrepôt.",
            "rome_code": "N1103",
            "contract_type": "CDI",
            "employer": {"name": "Banc National"},
            "workplaces": [{"commune_insee": "41018", "positions": 1}]
        });
        let t0 = Instant::now();
        let r = client
            .post(format!("{}/api/v1/offers", procs[0].base))
            .bearer_auth(&procs[0].token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            r.status().as_u16() == 201,
            "offer refused: {}",
            r.text().await?
        );
        let mut waits = Vec::new();
        for p in procs.iter().skip(1) {
            let client = client.clone();
            let url = format!("{}/api/v1/offers/search?q={word}", p.base);
            let token = p.token.clone();
            waits.push(tokio::spawn(async move {
                let deadline = t0 + Duration::from_secs(120);
                loop {
                    let found = match client.get(&url).bearer_auth(&token).send().await {
                        Ok(r) if r.status().is_success() => r
                            .json::<serde_json::Value>()
                            .await
                            .map(|v| v["total"].as_u64().unwrap_or(0) > 0)
                            .unwrap_or(false),
                        _ => false,
                    };
                    if found {
                        return Ok::<Duration, anyhow::Error>(t0.elapsed());
                    }
                    if Instant::now() > deadline {
                        bail!("offer not found at {url} after 120 s");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        let mut slowest = Duration::ZERO;
        for w in waits {
            let d = w.await??;
            per_node.push(d);
            slowest = slowest.max(d);
        }
        all.push(slowest);
    }
    drop(procs);
    Ok(ProcsReport {
        processes: n,
        offers: all.len(),
        all_nodes: Latency::of(&all),
        per_node: Latency::of(&per_node),
    })
}

/// Names every process `n<i>` (its index) in one membership document
/// signed by `operator`, and publishes it to all.
pub(crate) async fn federate(
    client: &reqwest::Client,
    procs: &[Proc],
    operator: &SigningKeyPair,
) -> anyhow::Result<()> {
    let mut members = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        let wk: serde_json::Value = client
            .get(format!("{}/.well-known/vivier", p.base))
            .send()
            .await?
            .json()
            .await?;
        let key = PublicKey::from_b64(wk["keys"][0]["public_key"].as_str().unwrap_or_default())?;
        members.push(Member {
            node_id: NodeId::parse(&format!("n{i}"))?,
            display_name: format!("Nœud {i}"),
            kind: MemberKind::Other,
            territory: Territory {
                departements: vec![],
                communes: vec![],
            },
            base_url: p.base.clone(),
            keys: vec![MemberKey {
                key_id: KeyId::parse("ed25519:1")?,
                public_key: key,
                valid_from: 0,
                valid_until: None,
            }],
            status: MemberStatus::Active,
        });
    }
    let bases: Vec<&str> = procs.iter().map(|p| p.base.as_str()).collect();
    publish_membership(client, &bases, operator, members).await
}

/// Sign a membership document naming `members` with `operator` and post it
/// to every node at `bases`.
pub(crate) async fn publish_membership(
    client: &reqwest::Client,
    bases: &[&str],
    operator: &SigningKeyPair,
    members: Vec<Member>,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let doc = SignedMembershipDocument::sign(
        MembershipDocument {
            network_id: "bench".into(),
            serial: 1,
            issued_at: now,
            expires_at: now + 86_400_000,
            operator_keys: vec![OperatorKey {
                key_id: operator.key_id().clone(),
                public_key: operator.public_key(),
            }],
            threshold: 1,
            members,
            network_search: None,
        },
        &[operator],
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = doc.to_bytes().map_err(|e| anyhow::anyhow!("{e}"))?;
    for base in bases {
        let r = client
            .post(format!("{base}/federation/v1/membership"))
            .body(bytes.clone())
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "membership refused: {}",
            r.text().await?
        );
    }
    Ok(())
}

/// Markdown table.
pub fn table(rows: &[ProcsReport]) -> String {
    let mut s = String::from(
        "| processes | offers | all nodes p50 ms | p95 ms | max ms | per node p50 ms | p95 ms |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            r.processes,
            r.offers,
            r.all_nodes.p50_ms,
            r.all_nodes.p95_ms,
            r.all_nodes.max_ms,
            r.per_node.p50_ms,
            r.per_node.p95_ms
        ));
    }
    s
}
