//! `vivier-bench`: Vivier side by side with PostgreSQL and SQLite FTS5 on a
//! synthetic candidathèque; matching latency; inbox throughput; fan-out.
//!
//! ```text
//! cargo run --release -p vivier-tests --bin vivier-bench -- all --size 10000,100000
//! ```
//! Results: Markdown on stdout and in `target/bench/<what>-<size>.md`, JSON
//! in `target/bench/<what>-<size>.json`, plot `target/bench/search-latency.png`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use vivier_tests::bench::engines::{self, Engine, SearchReport};
use vivier_tests::bench::{http, net, out_dir, report, Corpus};
use vivier_tests::gen::{Generator, DEFAULT_SEED};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    All,
    Search,
    Matching,
    Inbox,
    /// ed25519: batches verified each alone, with ed25519-dalek's batch,
    /// and with the node's (`--signature-rounds`).
    Signatures,
    Fanout,
    /// Offer fan-out across real node processes (needs
    /// `cargo build --release -p vivier-tests --bins`).
    Procs,
    /// Network search fan-out across real node processes (needs
    /// `cargo build --release -p vivier-tests --bins`).
    Netsearch,
}

#[derive(Parser)]
#[command(about = "Vivier benchmarks (see BENCHMARKS.md)")]
struct Args {
    what: What,
    /// Corpus sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    size: Vec<u64>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// PostgreSQL server (a database is created per run).
    #[arg(
        long,
        env = "VIVIER_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    no_postgres: bool,
    /// Engines for `search` (vivier, postgres, sqlite).
    #[arg(long, value_delimiter = ',', default_value = "vivier,postgres,sqlite")]
    engines: Vec<String>,
    /// Minimum duration of each timed pass per engine (seconds); at least
    /// one full pass over the queries is always made.
    #[arg(long, default_value_t = 3.0)]
    min_time: f64,
    /// Offers matched.
    #[arg(long, default_value_t = 50)]
    match_offers: u64,
    /// National offers matched (`--wide-workplaces` workplaces each).
    #[arg(long, default_value_t = 10)]
    wide_offers: u64,
    #[arg(long, default_value_t = 57)]
    wide_workplaces: usize,
    /// Open offers loaded for candidate → offers (0 = skip).
    #[arg(long, default_value_t = 10_000)]
    open_offers: u64,
    /// Times each offer → candidates ranking is made (in process and
    /// through HTTP): more samples for the p99 of a few offers.
    #[arg(long, default_value_t = 1)]
    match_rounds: usize,
    /// Candidates matched against the open offers.
    #[arg(long, default_value_t = 200)]
    match_candidates: usize,
    /// Time the index pass only (not the previous pre-selection path).
    #[arg(long)]
    no_previous: bool,
    /// Messages per inbox run (bulk path).
    #[arg(long, default_value_t = 20_000)]
    inbox_messages: u64,
    /// Messages per inbox run on the previous, one-by-one path (0 skips it).
    #[arg(long, default_value_t = 4_000)]
    inbox_previous_messages: u64,
    /// Requests in flight at once, one sending member each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    inbox_senders: Vec<usize>,
    /// Messages per request.
    #[arg(long, default_value_t = 50)]
    inbox_batch: usize,
    /// Interleaved rounds of `signatures` (40 batches per method and round).
    #[arg(long, default_value_t = 15)]
    signature_rounds: usize,
    /// Also run the bulk path with this other node binary (an earlier
    /// build's `vivier-node-e2e`), in the same run, for comparison.
    #[arg(long)]
    inbox_baseline_bin: Option<std::path::PathBuf>,
    /// How the baseline rows are named in the `path` column.
    #[arg(long, default_value = "bulk, previous build")]
    inbox_baseline_label: String,
    /// In-process nodes for the fan-out (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "3,20")]
    fanout_nodes: Vec<usize>,
    /// Real node processes for `procs` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "3,20")]
    procs: Vec<usize>,
    /// Real node processes for `netsearch` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "20")]
    netsearch_procs: Vec<usize>,
    /// Candidates per answering node for `netsearch`.
    #[arg(long, default_value_t = 10_000)]
    netsearch_candidates: u64,
    /// Searches timed per `netsearch` run.
    #[arg(long, default_value_t = 30)]
    netsearch_searches: usize,
    /// `netsearch` with this many in-process nodes instead of real
    /// processes (comma-separated; each node holds
    /// `--netsearch-inprocess-candidates` candidates).
    #[arg(long, value_delimiter = ',')]
    netsearch_inprocess: Vec<usize>,
    /// Candidates per in-process node for `--netsearch-inprocess`.
    #[arg(long, default_value_t = 500)]
    netsearch_inprocess_candidates: u64,
    /// Offers timed per `procs` run.
    #[arg(long, default_value_t = 20)]
    procs_offers: usize,
    /// Reuse the Vivier node of an earlier run with the same size and seed
    /// (its data directory under target/bench/work) instead of importing
    /// again; loading figures are then not measured.
    #[arg(long)]
    reuse_vivier: bool,
    /// Candidates of the corpus (spread evenly) given an own travel limit
    /// of `--far-travel-km` (people ready to move anywhere): how far
    /// matching looks for homes must not follow them for everyone. Use a
    /// bench directory of its own (`--reuse-vivier` checks the size only).
    #[arg(long, default_value_t = 0)]
    far_travellers: u64,
    #[arg(long, default_value_t = 500)]
    far_travel_km: i64,
    /// Fail when Vivier's nDCG@10 (through HTTP) is below this.
    #[arg(long)]
    ndcg_floor: Option<f64>,
    /// Fail when another engine's nDCG@10 beats Vivier's in the same run.
    #[arg(long)]
    require_best_ndcg: bool,
}

/// In process, then through HTTP.
async fn measure_both(
    engine: Arc<Engine>,
    target: http::Target,
    corpus: &Corpus,
    load: engines::LoadReport,
    min_time: Duration,
) -> anyhow::Result<SearchReport> {
    let mut row = engines::measure(engine, corpus, load, min_time).await?;
    row.http = Some(http::measure(Arc::new(target), corpus, min_time).await?);
    Ok(row)
}

/// Errors in any pass fail the run; so does a relevance below the floor
/// or below another engine's.
fn verdict(rows: &[SearchReport], floor: Option<f64>, best: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for r in rows {
        let http_errors = r.http.as_ref().map_or(0, |h| h.errors);
        if r.errors + http_errors > 0 {
            failures.push(format!(
                "{} at {}: {} errors in process, {} through HTTP",
                r.engine, r.size, r.errors, http_errors
            ));
        }
    }
    let ndcg = |r: &SearchReport| r.http.as_ref().map_or(r.ndcg10, |h| h.ndcg10);
    if let Some(v) = rows.iter().find(|r| r.engine == "vivier") {
        if let Some(floor) = floor {
            if ndcg(v) < floor {
                failures.push(format!(
                    "vivier nDCG@10 {:.3} is below the recorded floor {floor:.3}",
                    ndcg(v)
                ));
            }
        }
        if best {
            for o in rows.iter().filter(|r| r.engine != "vivier") {
                if ndcg(o) > ndcg(v) {
                    failures.push(format!(
                        "{} nDCG@10 {:.3} beats vivier's {:.3}",
                        o.engine,
                        ndcg(o),
                        ndcg(v)
                    ));
                }
            }
        }
    }
    failures
}

fn save(name: &str, md: &str, json: &impl serde::Serialize) -> anyhow::Result<()> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.md")), md)?;
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(json)?,
    )?;
    println!("{md}");
    println!("```json\n{}\n```\n", serde_json::to_string(json)?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let want = |w: What| args.what == What::All || args.what == w;
    let pg = (!args.no_postgres).then_some(args.postgres.as_str());
    let work = out_dir().join("work");
    let mut failures: Vec<String> = Vec::new();
    for &size in &args.size {
        if !(want(What::Search) || want(What::Matching)) {
            break;
        }
        eprintln!("== corpus of {size} candidates (seed {:#x})", args.seed);
        let t = std::time::Instant::now();
        let mut corpus = Corpus::generate(args.seed, size)?;
        corpus.far_travellers(args.far_travellers, args.far_travel_km);
        eprintln!(
            "   generated and judged in {:.1} s ({} queries)",
            t.elapsed().as_secs_f64(),
            corpus.queries.len()
        );
        let mut rows: Vec<SearchReport> = Vec::new();
        let min_time = Duration::from_secs_f64(args.min_time);
        eprintln!("-- vivier: import + reindex");
        let (vivier, load, _shutdown) = engines::load_vivier(
            &corpus,
            &work.join(format!("vivier-{size}")),
            args.reuse_vivier,
        )
        .await?;
        eprintln!("   {load:?}");
        let vivier = Arc::new(vivier);
        let show = |r: Option<&SearchReport>| {
            r.map(|r| {
                (
                    r.http
                        .as_ref()
                        .map(|h| (h.latency_1.p50_ms, h.latency_1.p99_ms, h.ndcg10)),
                    r.latency_1.p50_ms,
                )
            })
        };
        if want(What::Search) {
            if args.engines.iter().any(|e| e == "vivier") {
                if let Engine::Vivier { state, ids } = vivier.as_ref() {
                    let target = http::vivier(state, ids.clone()).await?;
                    rows.push(measure_both(vivier.clone(), target, &corpus, load, min_time).await?);
                    eprintln!("   {:?}", show(rows.last()));
                }
            }
            if args.engines.iter().any(|e| e == "sqlite") {
                eprintln!("-- sqlite fts5: load");
                let (e, load) =
                    engines::load_sqlite(&corpus, &work.join(format!("sqlite-{size}"))).await?;
                eprintln!("   {load:?}");
                let e = Arc::new(e);
                let target = http::sql(e.clone()).await?;
                rows.push(measure_both(e, target, &corpus, load, min_time).await?);
                eprintln!("   {:?}", show(rows.last()));
            }
            if let (Some(pg), true) = (pg, args.engines.iter().any(|e| e == "postgres")) {
                eprintln!("-- postgres: load");
                match engines::load_postgres(&corpus, pg).await {
                    Ok((e, load)) => {
                        eprintln!("   {load:?}");
                        let e = Arc::new(e);
                        let target = http::sql(e.clone()).await?;
                        rows.push(measure_both(e, target, &corpus, load, min_time).await?);
                        eprintln!("   {:?}", show(rows.last()));
                    }
                    Err(e) => eprintln!("   PostgreSQL skipped: {e:#}"),
                }
            }
            save(
                &format!("search-{size}"),
                &report::search_table(&rows),
                &rows,
            )?;
            failures.extend(verdict(&rows, args.ndcg_floor, args.require_best_ndcg));
            match report::plot(&out_dir()) {
                Ok(p) => eprintln!("plot: {}", p.display()),
                Err(e) => eprintln!("plot failed: {e}"),
            }
        }
        if want(What::Matching) {
            if let Engine::Vivier { state, ids } = vivier.as_ref() {
                let paths: &[net::MatchPath] = if args.no_previous {
                    &[net::MatchPath::IndexPass]
                } else {
                    &[net::MatchPath::IndexPass, net::MatchPath::Preselect]
                };
                let mut rows = Vec::new();
                for &path in paths {
                    eprintln!(
                        "-- matching ({}): {} offers → top 20",
                        path.name(),
                        args.match_offers
                    );
                    rows.push(
                        net::matching(
                            state,
                            &corpus,
                            ids,
                            args.match_offers,
                            args.match_rounds,
                            path,
                        )
                        .await?,
                    );
                    eprintln!("   {:?}", rows.last().map(|r| &r.latency));
                }
                for &path in paths {
                    eprintln!(
                        "-- matching ({}): {} offers with {} workplaces",
                        path.name(),
                        args.wide_offers,
                        args.wide_workplaces
                    );
                    rows.push(
                        net::wide_matching(
                            state,
                            &corpus,
                            ids,
                            args.wide_offers,
                            args.wide_workplaces,
                            args.match_rounds,
                            path,
                        )
                        .await?,
                    );
                    eprintln!("   {:?}", rows.last().map(|r| &r.latency));
                }
                let offers = if args.open_offers > 0 {
                    eprintln!("-- loading {} open offers", args.open_offers);
                    net::load_offers(state, &corpus, args.open_offers).await?
                } else {
                    Default::default()
                };
                if !offers.is_empty() {
                    for &path in paths {
                        eprintln!(
                            "-- matching ({}): {} candidates → top 20 of {} offers",
                            path.name(),
                            args.match_candidates,
                            offers.len()
                        );
                        rows.push(
                            net::candidate_matching(
                                state,
                                &corpus,
                                ids,
                                &offers,
                                args.match_candidates,
                                path,
                            )
                            .await?,
                        );
                        eprintln!("   {:?}", rows.last().map(|r| &r.latency));
                    }
                }
                eprintln!("-- matching through HTTP (index pass)");
                let target = http::vivier(state, ids.clone()).await?;
                if !offers.is_empty() {
                    let mut by_index: Vec<(&String, &usize)> = ids.iter().collect();
                    by_index.sort_by_key(|(_, i)| **i);
                    let cids: Vec<String> = by_index
                        .into_iter()
                        .take(args.match_candidates + 1)
                        .map(|(id, _)| id.clone())
                        .collect();
                    let h = target.candidate_matching(&cids).await?;
                    if let Some(r) = rows.iter_mut().find(|r| {
                        r.kind == "candidate → offers" && r.path == net::MatchPath::IndexPass.name()
                    }) {
                        r.http = h;
                    }
                }
                let bodies = (0..args.match_offers)
                    .map(|i| serde_json::to_value(corpus.gen.offer(i)))
                    .collect::<Result<Vec<_>, _>>()?;
                rows[0].http = target.matching(&bodies, args.match_rounds).await?;
                let wide = (0..args.wide_offers)
                    .map(|i| {
                        let mut v = serde_json::to_value(corpus.gen.offer(i))?;
                        v["workplaces"] = serde_json::to_value(net::wide_workplaces(
                            &corpus,
                            i,
                            args.wide_workplaces,
                        ))?;
                        Ok(v)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let h = target.matching(&wide, args.match_rounds).await?;
                if let Some(r) = rows.iter_mut().find(|r| {
                    r.kind.contains("workplaces") && r.path == net::MatchPath::IndexPass.name()
                }) {
                    r.http = h;
                }
                save(
                    &format!("matching-{size}"),
                    &report::matching_table(&rows),
                    &rows,
                )?;
            }
        }
        if let Engine::Vivier { state, .. } = vivier.as_ref() {
            state.search.shutdown();
        }
    }
    let gen = Generator::new(args.seed)?;
    if want(What::Inbox) {
        let bin = vivier_tests::bench::procs::default_node_bin()?;
        let mut rows = Vec::new();
        let mut backends = vec![("sqlite (synchronous=full)", None)];
        if let Some(pg) = pg {
            backends.push(("postgres", Some(pg)));
        }
        let mut first = 10_000_000;
        // (node binary, bulk path, messages, label of the path)
        let mut paths = vec![
            (bin.clone(), false, args.inbox_previous_messages, None),
            (bin.clone(), true, args.inbox_messages, None),
        ];
        if let Some(base) = &args.inbox_baseline_bin {
            paths.insert(
                1,
                (
                    base.clone(),
                    true,
                    args.inbox_messages,
                    Some(args.inbox_baseline_label.clone()),
                ),
            );
        }
        for (backend, admin) in backends {
            for (bin, bulk, messages, label) in &paths {
                let (bulk, messages) = (*bulk, *messages);
                for &senders in &args.inbox_senders {
                    if messages == 0 {
                        continue;
                    }
                    let path = match label {
                        Some(l) => l.as_str(),
                        None if bulk => "bulk",
                        None => "one by one",
                    };
                    eprintln!(
                        "-- inbox: {backend}, {path}, {senders} sender(s), {messages} messages"
                    );
                    let run = vivier_tests::bench::inbox::InboxRun {
                        bin,
                        work: &work.join("inbox"),
                        backend: if admin.is_some() {
                            "postgres"
                        } else {
                            "sqlite"
                        },
                        postgres_admin: admin,
                        bulk,
                        senders,
                        batch: args.inbox_batch,
                        messages,
                        first,
                    };
                    first += messages;
                    match vivier_tests::bench::inbox::run(&gen, &run).await {
                        Ok(mut r) => {
                            r.backend = backend.into();
                            r.path = path.into();
                            rows.push(r);
                        }
                        Err(e) if admin.is_some() => {
                            eprintln!("   PostgreSQL run failed: {e:#}");
                            failures.push(format!("inbox on PostgreSQL: {e:#}"));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        save("inbox", &vivier_tests::bench::inbox::table(&rows), &rows)?;
    }
    if want(What::Signatures) {
        use vivier_tests::bench::signatures;
        let mut rows = Vec::new();
        for keys in [1, args.inbox_batch] {
            eprintln!(
                "-- signatures: batches of {} from {keys} key(s)",
                args.inbox_batch
            );
            rows.extend(signatures::run(
                keys,
                args.inbox_batch,
                40,
                args.signature_rounds,
            ));
        }
        save("signatures", &signatures::table(&rows), &rows)?;
    }
    if want(What::Fanout) {
        let mut rows = Vec::new();
        for &n in &args.fanout_nodes {
            eprintln!("-- fan-out to {n} in-process nodes");
            rows.push(net::fanout(&gen, n, 20).await?);
        }
        save("fanout", &report::fanout_table(&rows), &rows)?;
    }
    let bin = if want(What::Procs) {
        match vivier_tests::bench::procs::default_node_bin() {
            Ok(b) => Some(b),
            Err(e) if args.what == What::All => {
                eprintln!("-- fan-out across processes skipped: {e}");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some(bin) = bin {
        let mut rows = Vec::new();
        for &n in &args.procs {
            eprintln!("-- fan-out across {n} node processes");
            rows.push(
                vivier_tests::bench::procs::fanout_processes(
                    &bin,
                    &work.join(format!("procs-{n}")),
                    n,
                    args.procs_offers,
                )
                .await?,
            );
        }
        save("procs", &vivier_tests::bench::procs::table(&rows), &rows)?;
    }
    if args.what == What::Netsearch && !args.netsearch_inprocess.is_empty() {
        let mut rows = Vec::new();
        for &n in &args.netsearch_inprocess {
            eprintln!("-- network search across {n} in-process nodes");
            rows.push(
                vivier_tests::bench::netsearch::netsearch_inprocess(
                    n,
                    args.netsearch_inprocess_candidates,
                    args.netsearch_searches,
                )
                .await?,
            );
        }
        save(
            "netsearch-inprocess",
            &vivier_tests::bench::netsearch::inprocess_table(&rows),
            &rows,
        )?;
    } else if args.what == What::Netsearch {
        let bin = vivier_tests::bench::procs::default_node_bin()?;
        let mut rows = Vec::new();
        for &n in &args.netsearch_procs {
            eprintln!("-- network search across {n} node processes");
            rows.push(
                vivier_tests::bench::netsearch::netsearch_processes(
                    &bin,
                    &work.join(format!("netsearch-{n}")),
                    n,
                    args.netsearch_candidates,
                    args.netsearch_searches,
                )
                .await?,
            );
        }
        save(
            "netsearch",
            &vivier_tests::bench::netsearch::table(&rows),
            &rows,
        )?;
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        anyhow::bail!("{} benchmark check(s) failed", failures.len());
    }
    Ok(())
}
