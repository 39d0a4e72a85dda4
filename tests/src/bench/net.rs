//! Matching latency, inbox throughput and offer fan-out, through the node's
//! own functions (`matching::match_offer`, `federation::process_messages`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use vivier_node::config::{Config, OperatorKeyConfig};
use vivier_node::matching::{legacy, match_candidate, match_offer, MatchParams};
use vivier_node::offers::{OfferStatus, StoredOffer};
use vivier_node::server::AppState;
use vivier_protocol::{
    KeyId, Member, MemberKey, MemberKind, MemberStatus, MembershipDocument, MessageKind, NodeId,
    OfferPayload, OperatorKey, Recipient, SignedMembershipDocument, SigningKeyPair, Territory,
};

use super::{Corpus, Latency};
use crate::gen::Generator;

/// Which ranking path is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchPath {
    /// One pass over the index (`matching::match_offer` / `match_candidate`).
    IndexPass,
    /// The previous pre-selection path (`matching::legacy`).
    Preselect,
}

impl MatchPath {
    pub fn name(self) -> &'static str {
        match self {
            MatchPath::IndexPass => "index pass",
            MatchPath::Preselect => "pre-selection (previous)",
        }
    }

    async fn offer(
        self,
        state: &AppState,
        offer: &StoredOffer,
        params: &MatchParams,
    ) -> anyhow::Result<vivier_node::matching::OfferMatches> {
        match self {
            MatchPath::IndexPass => match_offer(state, offer, params).await,
            MatchPath::Preselect => legacy::match_offer_preselect(state, offer, params).await,
        }
        .map_err(|e| anyhow::anyhow!("match_offer: {e}"))
    }

    async fn candidate(
        self,
        state: &AppState,
        c: &vivier_node::candidates::Candidate,
        params: &MatchParams,
    ) -> anyhow::Result<vivier_node::matching::CandidateMatches> {
        match self {
            MatchPath::IndexPass => match_candidate(state, c, params).await,
            MatchPath::Preselect => legacy::match_candidate_preselect(state, c, params).await,
        }
        .map_err(|e| anyhow::anyhow!("match_candidate: {e}"))
    }
}

/// Matching figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MatchingReport {
    /// `offer → candidates`, `offer (57 workplaces) → candidates`,
    /// `candidate → offers`.
    pub kind: String,
    /// [`MatchPath::name`].
    pub path: String,
    /// Open offers in the offer index (candidate → offers).
    pub open_offers: usize,
    pub size: u64,
    pub offers: usize,
    pub workplaces: usize,
    /// Per offer (all its workplaces), top 20.
    pub latency: Latency,
    /// Mean candidates scored per workplace (after pre-selection).
    pub mean_considered: f64,
    /// Share of the top 20 holding the offer's exact ROME code.
    pub top20_same_code: f64,
    /// Share of the top 20 that the generator's data calls relevant: a
    /// ROME code equal or related to the offer's, home within the
    /// candidate's own travel limit of the workplace, the required licence
    /// held ([`ground_truth_relevant`]).
    pub top20_relevant: f64,
    /// Mean candidates listed per workplace (at most 20).
    pub mean_listed: f64,
    /// The same offers through `GET /api/v1/offers/{id}/matches?limit=20`
    /// (posted through the API first), when measured.
    pub http: Option<Latency>,
    /// The slowest timed rankings in process, slowest first: what was
    /// ranked (offer title and workplaces, or candidate), candidates or
    /// offers considered, milliseconds.
    pub slowest: Vec<Slow>,
}

/// One of the slowest rankings of a matching pass.
#[derive(Debug, Clone, Serialize)]
pub struct Slow {
    pub what: String,
    pub considered: usize,
    pub ms: f64,
}

/// The `n` slowest of `(what, considered, elapsed)`, slowest first.
fn slowest(mut timed: Vec<(String, usize, std::time::Duration)>, n: usize) -> Vec<Slow> {
    timed.sort_by_key(|t| std::cmp::Reverse(t.2));
    timed
        .into_iter()
        .take(n)
        .map(|(what, considered, d)| Slow {
            what,
            considered,
            ms: d.as_secs_f64() * 1000.0,
        })
        .collect()
}

/// The generator's ground truth for one listed candidate at one workplace
/// (computed from the generated record, not from the node's answer).
pub fn ground_truth_relevant(
    c: &crate::gen::GenCandidate,
    offer: &OfferPayload,
    workplace: &vivier_protocol::Workplace,
) -> bool {
    let refs = vivier_node::referentials::Referentials::global();
    let related = c.rome_codes.iter().any(|r| {
        refs.rome_relation(r, &offer.rome_code) != vivier_node::referentials::RomeRelation::None
    });
    let w = vivier_node::config::MatchingWeights::default();
    let mut limit = c
        .max_travel_km
        .map(|k| k as f64)
        .unwrap_or(w.default_max_travel_km);
    if c.public_transport_only {
        limit = limit.min(w.public_transport_max_km);
    }
    let home = refs.commune(&c.commune_insee).and_then(|m| m.point);
    let place = refs.commune(&workplace.commune_insee).and_then(|m| m.point);
    let near = c.commune_insee == workplace.commune_insee
        || matches!((home, place), (Some(h), Some(p)) if vivier_node::geo::haversine_km(h, p) <= limit);
    let licence = offer.driving_licence.as_deref().is_none_or(|req| {
        c.driving_licences
            .iter()
            .any(|h| vivier_node::offers::licence_satisfies(h, req))
    });
    related && near && licence
}

/// An offer of the generator as stored on a node (coordinates resolved).
pub fn stored_offer(gen: &Generator, i: u64, origin: &str) -> anyhow::Result<StoredOffer> {
    let o = gen.offer(i);
    let refs = vivier_node::referentials::Referentials::global();
    let now = vivier_node::util::now_ms();
    let workplaces: Vec<serde_json::Value> = o
        .workplaces
        .iter()
        .map(|w| {
            let c = refs.commune(&w.commune_insee);
            let p = c.and_then(|c| c.point);
            serde_json::json!({
                "commune_insee": w.commune_insee,
                "label": c.map(|c| format!("{} ({})", c.name, c.departement)),
                "lat_micro": p.map(|p| p.lat_micro),
                "lon_micro": p.map(|p| p.lon_micro),
                "positions": w.positions,
            })
        })
        .collect();
    let payload: OfferPayload = serde_json::from_value(serde_json::json!({
        "offer_id": format!("{origin}-bench-{i}"),
        "origin_node": origin,
        "title": o.title,
        "description": o.description,
        "rome_code": o.rome_code,
        "contract_type": o.contract_type,
        "duration_months": o.duration_months,
        "weekly_hours": o.weekly_hours,
        "driving_licence": o.driving_licence,
        "experience_months": o.experience_months,
        "employer": o.employer,
        "workplaces": workplaces,
        "published_at": now,
        "updated_at": now,
    }))?;
    Ok(StoredOffer {
        payload,
        status: OfferStatus::Open,
        owner_user_id: None,
        is_local: true,
        created_at: now,
        updated_at: now,
        closed_at: None,
        closed_reason: None,
        positions_filled: 0,
    })
}

/// Offer → top 20 for `n` generated offers, on a node loaded with the corpus.
pub async fn matching(
    state: &AppState,
    corpus: &Corpus,
    ids: &HashMap<String, usize>,
    n: u64,
    rounds: usize,
    path: MatchPath,
) -> anyhow::Result<MatchingReport> {
    let offers = (0..n)
        .map(|i| stored_offer(&corpus.gen, i, "bench-node"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let warm = stored_offer(&corpus.gen, 1_000_000, "bench-node")?;
    offers_to_candidates(
        state,
        corpus,
        ids,
        (&warm, &offers),
        rounds,
        path,
        "offer → candidates",
    )
    .await
}

/// Distinct home communes of the corpus, in corpus order.
fn corpus_communes(corpus: &Corpus) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    corpus
        .candidates
        .iter()
        .filter(|c| seen.insert(c.commune_insee.clone()))
        .map(|c| c.commune_insee.clone())
        .collect()
}

/// The workplaces of a national offer: `n` communes spread over the
/// corpus's home communes (the `i`-th offer starts further along).
pub fn wide_workplaces(corpus: &Corpus, i: u64, n: usize) -> Vec<crate::gen::GenWorkplace> {
    let communes = corpus_communes(corpus);
    let step = (communes.len() / n.max(1)).max(1);
    (0..n)
        .filter_map(|k| communes.get((k * step + i as usize) % communes.len().max(1)))
        .map(|c| crate::gen::GenWorkplace {
            commune_insee: c.clone(),
            positions: 1,
        })
        .collect()
}

/// A generated offer moved to `workplaces` (as stored, coordinates
/// resolved).
pub fn wide_offer(
    corpus: &Corpus,
    i: u64,
    workplaces: &[crate::gen::GenWorkplace],
) -> anyhow::Result<StoredOffer> {
    let mut o = stored_offer(&corpus.gen, i, "bench-node")?;
    let refs = vivier_node::referentials::Referentials::global();
    o.payload.offer_id = format!("bench-node-wide-{i}");
    o.payload.workplaces = workplaces
        .iter()
        .map(|w| {
            let c = refs.commune(&w.commune_insee);
            let p = c.and_then(|c| c.point);
            vivier_protocol::Workplace {
                commune_insee: w.commune_insee.clone(),
                label: c.map(|c| format!("{} ({})", c.name, c.departement)),
                lat_micro: p.map(|p| p.lat_micro),
                lon_micro: p.map(|p| p.lon_micro),
                positions: w.positions,
            }
        })
        .collect();
    Ok(o)
}

/// Offer → top 20 for `n` offers with `wps` workplaces each.
pub async fn wide_matching(
    state: &AppState,
    corpus: &Corpus,
    ids: &HashMap<String, usize>,
    n: u64,
    wps: usize,
    rounds: usize,
    path: MatchPath,
) -> anyhow::Result<MatchingReport> {
    let offers = (0..n)
        .map(|i| wide_offer(corpus, i, &wide_workplaces(corpus, i, wps)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let warm = wide_offer(corpus, 1_000_000, &wide_workplaces(corpus, 7, wps))?;
    offers_to_candidates(
        state,
        corpus,
        ids,
        (&warm, &offers),
        rounds,
        path,
        &format!("offer ({wps} workplaces) → candidates"),
    )
    .await
}

async fn offers_to_candidates(
    state: &AppState,
    corpus: &Corpus,
    ids: &HashMap<String, usize>,
    (warm, offers): (&StoredOffer, &[StoredOffer]),
    rounds: usize,
    path: MatchPath,
    kind: &str,
) -> anyhow::Result<MatchingReport> {
    let params = MatchParams {
        limit: Some(20),
        ..MatchParams::default()
    };
    // Warm-up, untimed: the warm offer, then every timed offer once (as
    // the search bench's relevance pass does), so that the timed pass
    // measures a running node, not the first touch of the index's pages
    // and the database's (the first ranking after start took 30 ms
    // against 6 ms warm at 100k).
    path.offer(state, warm, &params).await?;
    for offer in offers {
        path.offer(state, offer, &params).await?;
    }
    let mut lat = Vec::new();
    let (mut wps, mut considered, mut listed, mut same) = (0usize, 0usize, 0usize, 0usize);
    let mut relevant = 0usize;
    let mut timed = Vec::with_capacity(offers.len() * rounds.max(1));
    // Each round ranks every offer once (more samples for the p99); the
    // counts and the quality are those of the first round (the same
    // rankings again).
    for round in 0..rounds.max(1) {
        for offer in offers {
            let t = Instant::now();
            let m = path.offer(state, offer, &params).await?;
            let elapsed = t.elapsed();
            lat.push(elapsed);
            timed.push((
                format!(
                    "{} ({}, {} workplace(s))",
                    offer.payload.title,
                    offer.payload.rome_code,
                    m.workplaces.len()
                ),
                m.workplaces.iter().map(|w| w.considered).sum(),
                elapsed,
            ));
            if round > 0 {
                continue;
            }
            for w in &m.workplaces {
                wps += 1;
                considered += w.considered;
                for c in &w.matches {
                    listed += 1;
                    if let Some(idx) = ids.get(&c.candidate_id) {
                        let g = &corpus.candidates[*idx];
                        if g.rome_codes.contains(&offer.payload.rome_code) {
                            same += 1;
                        }
                        if ground_truth_relevant(
                            g,
                            &offer.payload,
                            &offer.payload.workplaces[w.index],
                        ) {
                            relevant += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(MatchingReport {
        kind: kind.to_string(),
        path: path.name().to_string(),
        open_offers: 0,
        size: corpus.size,
        offers: offers.len(),
        workplaces: wps,
        latency: Latency::of(&lat),
        mean_considered: considered as f64 / wps.max(1) as f64,
        top20_same_code: same as f64 / listed.max(1) as f64,
        top20_relevant: relevant as f64 / listed.max(1) as f64,
        mean_listed: listed as f64 / wps.max(1) as f64,
        http: None,
        slowest: slowest(timed, 5),
    })
}

/// Stores `n` generated offers as another member's open offers (batches of
/// 1000 rows with their journal entries), then rebuilds the offer index.
/// Returns the payloads by id.
pub async fn load_offers(
    state: &AppState,
    corpus: &Corpus,
    n: u64,
) -> anyhow::Result<HashMap<String, OfferPayload>> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < n {
        let mut tx = state.db.pool.begin().await?;
        for k in i..(i + 1000).min(n) {
            let o = stored_offer(&corpus.gen, 2_000_000 + k, "bench-remote")?;
            vivier_node::offers::store_remote_offer(
                &mut tx,
                &vivier_node::actor::Actor::Peer(o.payload.origin_node.clone()),
                &o.payload,
            )
            .await
            .map_err(|e| anyhow::anyhow!("store offer: {e}"))?;
            out.insert(o.payload.offer_id.clone(), o.payload);
        }
        tx.commit().await?;
        i += 1000;
    }
    vivier_node::offers::reindex(state, None).await?;
    let s = state.clone();
    tokio::task::spawn_blocking(move || s.search.offers.commit_now()).await??;
    Ok(out)
}

/// Candidate → top 20 offers for the first `n` candidates of the corpus
/// (records loaded before timing), over the offers of [`load_offers`].
pub async fn candidate_matching(
    state: &AppState,
    corpus: &Corpus,
    ids: &HashMap<String, usize>,
    offers: &HashMap<String, OfferPayload>,
    n: usize,
    path: MatchPath,
) -> anyhow::Result<MatchingReport> {
    let params = MatchParams {
        limit: Some(20),
        ..MatchParams::default()
    };
    let mut by_index: Vec<(&String, &usize)> = ids.iter().collect();
    by_index.sort_by_key(|(_, i)| **i);
    let mut records = Vec::new();
    for (id, idx) in by_index.into_iter().take(n + 1) {
        let c = vivier_node::candidates::get_candidate(&state.db, id)
            .await
            .map_err(|e| anyhow::anyhow!("get_candidate: {e}"))?
            .ok_or_else(|| anyhow::anyhow!("candidate {id} not found"))?;
        records.push((c, *idx));
    }
    let Some(((warm, _), records)) = records.split_first() else {
        return Ok(MatchingReport::default());
    };
    path.candidate(state, warm, &params).await?;
    let mut lat = Vec::new();
    let (mut considered, mut listed, mut same, mut relevant) = (0usize, 0usize, 0usize, 0usize);
    for (c, idx) in records {
        let t = Instant::now();
        let m = path.candidate(state, c, &params).await?;
        lat.push(t.elapsed());
        considered += m.considered;
        let g = &corpus.candidates[*idx];
        for o in &m.matches {
            listed += 1;
            let Some(p) = offers.get(&o.offer_id) else {
                continue;
            };
            if g.rome_codes.contains(&p.rome_code) {
                same += 1;
            }
            if ground_truth_relevant(g, p, &p.workplaces[o.workplace_index]) {
                relevant += 1;
            }
        }
    }
    let k = records.len();
    Ok(MatchingReport {
        kind: "candidate → offers".into(),
        path: path.name().to_string(),
        open_offers: offers.len(),
        size: corpus.size,
        offers: k,
        workplaces: k,
        latency: Latency::of(&lat),
        mean_considered: considered as f64 / k.max(1) as f64,
        top20_same_code: same as f64 / listed.max(1) as f64,
        top20_relevant: relevant as f64 / listed.max(1) as f64,
        mean_listed: listed as f64 / k.max(1) as f64,
        http: None,
        slowest: Vec::new(),
    })
}

// ---------------------------------------------------------------------------
// Federation

fn key(label: &str, id: &str) -> anyhow::Result<SigningKeyPair> {
    let mut seed = [0u8; 32];
    for (i, b) in label.bytes().enumerate() {
        seed[i % 32] ^= b.wrapping_add(i as u8);
    }
    Ok(SigningKeyPair::from_seed(KeyId::parse(id)?, &seed))
}

fn member(node: &str, k: &SigningKeyPair, now: i64) -> anyhow::Result<Member> {
    Ok(Member {
        node_id: NodeId::parse(node)?,
        display_name: format!("Mission locale {node}"),
        kind: MemberKind::Departement,
        territory: Territory {
            departements: vec!["41".into()],
            communes: vec![],
        },
        base_url: format!("https://{node}.example"),
        keys: vec![MemberKey {
            key_id: k.key_id().clone(),
            public_key: k.public_key(),
            valid_from: now - 86_400_000,
            valid_until: None,
        }],
        status: MemberStatus::Active,
    })
}

/// A federation test bed: `receivers` offline nodes (SQLite in temp dirs, or
/// PostgreSQL databases) holding a membership document that also lists a
/// sending peer.
pub struct Bed {
    pub nodes: Vec<AppState>,
    pub peer: NodeId,
    pub peer_key: SigningKeyPair,
    _dirs: Vec<tempfile::TempDir>,
    _shutdown: watch::Sender<bool>,
}

impl Bed {
    /// Opens the nodes and makes each adopt the same membership document.
    pub async fn open(receivers: usize, postgres_admin: Option<&str>) -> anyhow::Result<Bed> {
        let op = key("operator", "ed25519:op1")?;
        let peer_key = key("bench-peer", "ed25519:1")?;
        let (tx, rx) = watch::channel(false);
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for i in 0..receivers {
            let dir = tempfile::tempdir()?;
            let mut config = Config {
                node_id: format!("bench-recv-{i}"),
                data_dir: dir.path().to_path_buf(),
                ..Config::default()
            };
            if receivers > 20 {
                // Hundreds of nodes in one process: small index writers.
                config.search.writer_heap_mb = 15;
                config.search.writer_threads = 1;
            }
            config.federation.operator_keys = vec![OperatorKeyConfig {
                key_id: "ed25519:op1".into(),
                public_key: op.public_key().to_b64(),
            }];
            if let Some(admin) = postgres_admin {
                config.database_url =
                    Some(fresh_pg(admin, &format!("vivier_bench_inbox_{i}")).await?);
            }
            nodes.push(vivier_node::server::open_offline(config, rx.clone()).await?);
            dirs.push(dir);
        }
        let now = vivier_node::util::now_ms();
        let mut members = vec![member("bench-peer", &peer_key, now)?];
        for n in &nodes {
            let mut m = member(n.identity.node_id.as_str(), &n.signing_key(), now)?;
            m.keys[0].valid_from = n.identity.key_created_at - 86_400_000;
            members.push(m);
        }
        let doc = MembershipDocument {
            network_id: "vivier-bench".into(),
            serial: 1,
            issued_at: now - 60_000,
            expires_at: now + 30 * 86_400_000,
            operator_keys: vec![OperatorKey {
                key_id: op.key_id().clone(),
                public_key: op.public_key(),
            }],
            threshold: 1,
            members,
            network_search: None,
        };
        let signed =
            SignedMembershipDocument::sign(doc, &[&op]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let bytes = signed.to_bytes().map_err(|e| anyhow::anyhow!("{e}"))?;
        for n in &nodes {
            vivier_node::federation::accept_membership(n, &bytes, "bench")
                .await
                .map_err(|e| anyhow::anyhow!("membership: {e}"))?;
        }
        Ok(Bed {
            nodes,
            peer: NodeId::parse("bench-peer")?,
            peer_key,
            _dirs: dirs,
            _shutdown: tx,
        })
    }

    /// `n` signed `offer.published` broadcasts from the peer.
    pub fn messages(&self, gen: &Generator, first: u64, n: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let now = vivier_node::util::now_ms();
        (first..first + n)
            .map(|i| {
                let offer = stored_offer(gen, i, self.peer.as_str())?;
                let m = vivier_protocol::sign_message(
                    MessageKind::OfferPublished,
                    &offer.payload,
                    &self.peer,
                    &self.peer_key,
                    Recipient::Network,
                    1,
                    now,
                    7 * 86_400_000,
                )
                .map_err(|e| anyhow::anyhow!("sign: {e}"))?;
                Ok(m.bytes)
            })
            .collect()
    }
}

pub(crate) async fn fresh_pg(admin: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    let mut url = url::Url::parse(admin)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

fn accepted(results: &[(String, impl Serialize)]) -> usize {
    results
        .iter()
        .filter(|(_, r)| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| {
                    v.get("status")
                        .and_then(|s| s.as_str())
                        .map(|s| s == "accepted")
                })
                .unwrap_or(false)
        })
        .count()
}

/// Fan-out figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanoutReport {
    pub nodes: usize,
    pub offers: usize,
    /// Time for one offer to be verified and stored by every node
    /// (receivers processing concurrently on the shared runtime).
    pub per_offer: Latency,
}

/// One signed offer delivered to `nodes` in-process nodes (each its own
/// SQLite store and index), through `process_messages` — the receiving
/// side of a broadcast, without HTTP.
pub async fn fanout(gen: &Generator, nodes: usize, offers: u64) -> anyhow::Result<FanoutReport> {
    let bed = Arc::new(Bed::open(nodes, None).await?);
    let msgs = bed.messages(gen, 20_000_000, offers)?;
    let mut lat: Vec<Duration> = Vec::new();
    for m in msgs {
        let m = Arc::new(m);
        let t = Instant::now();
        let mut hs = Vec::new();
        for i in 0..nodes {
            let bed = bed.clone();
            let m = m.clone();
            hs.push(tokio::spawn(async move {
                let raws: [&[u8]; 1] = [m.as_slice()];
                vivier_node::federation::process_messages(&bed.nodes[i], &raws)
                    .await
                    .map(|r| accepted(&r))
            }));
        }
        for h in hs {
            let n = h
                .await?
                .map_err(|e| anyhow::anyhow!("process_messages: {e}"))?;
            anyhow::ensure!(n == 1, "offer refused by a receiver");
        }
        lat.push(t.elapsed());
    }
    Ok(FanoutReport {
        nodes,
        offers: lat.len(),
        per_offer: Latency::of(&lat),
    })
}
