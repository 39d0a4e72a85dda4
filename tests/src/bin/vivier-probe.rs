//! Time single candidate searches in process on an existing node's data
//! directory (a bench node: `vivier-bench search --reuse-vivier` keeps it
//! under `$VIVIER_BENCH_DIR/work/vivier-<size>/data`), to see which part of
//! a slow query costs: with and without its radius, one word against an
//! expression.
//!
//! ```sh
//! vivier-probe /work/bench1m/work/vivier-1000000/data \
//!     'aides-soignants@25056:10' 'aides-soignants' 'soignant@25056:10' '@25056:10'
//! ```
//!
//! Each argument after the directory is `text[@insee:km]`; every query runs
//! 30 times through `CandidateIndex::search_relaxing` (20 hits, snippets and
//! summaries, as the API asks), after one untimed `search`, and its total,
//! median and fastest times are printed. Instruction counts per search:
//! `valgrind --tool=callgrind --toggle-collect='*search_relaxing*'
//! vivier-probe DATA 'query'`, the total divided by 30.

use std::time::Instant;

use anyhow::{bail, Context as _};
use vivier_node::config::Config;
use vivier_node::search::CandidateQuery;

const ROUNDS: usize = 30;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(data) = args.next() else {
        bail!("usage: vivier-probe DATA_DIR 'text[@insee:km]'...");
    };
    let config = Config {
        node_id: "bench-node".into(),
        data_dir: data.into(),
        ..Config::load(None).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let state = vivier_node::server::open_offline(config, rx).await?;
    let refs = vivier_node::referentials::Referentials::global();
    for arg in args {
        let (text, near) = match arg.split_once('@') {
            Some((text, place)) => {
                let (insee, km) = place
                    .split_once(':')
                    .with_context(|| format!("{arg}: expected @insee:km"))?;
                let point = refs
                    .commune(insee)
                    .and_then(|c| c.point)
                    .with_context(|| format!("{arg}: no centre for commune {insee}"))?;
                (text, Some((point, km.parse::<f64>()?)))
            }
            None => (arg.as_str(), None),
        };
        let q = CandidateQuery {
            text: (!text.is_empty()).then(|| text.to_string()),
            near,
            limit: 20,
            highlight: true,
            summaries: true,
            ..CandidateQuery::default()
        };
        // Once first, neither timed nor counted by a profiler told to
        // collect `search_relaxing` only: it builds the thesaurus and
        // decodes what the segments' first search reads.
        state.search.candidates.search(&q)?;
        let mut times = Vec::with_capacity(ROUNDS);
        let mut total = 0;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            total = state.search.candidates.search_relaxing(&q)?.total;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{arg:<40} total {total:>8}  median {:>7.2} ms  fastest {:>7.2} ms",
            times[ROUNDS / 2],
            times[0]
        );
    }
    state.search.shutdown();
    Ok(())
}
