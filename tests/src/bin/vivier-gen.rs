//! `vivier-gen`: writes a deterministic synthetic candidathèque (import CSV
//! or JSON Lines), offers (offers API JSON, one object per line), the judged
//! query set and its relevance judgments (TREC qrels).
//!
//! ```text
//! cargo run --release -p vivier-tests --bin vivier-gen -- --size 10000 --out target/gen
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;
use vivier_tests::gen::{home, write_csv, write_jsonl, Generator, DEFAULT_SEED};

#[derive(Parser)]
#[command(about = "Synthetic French candidathèque, offers and judged queries for Vivier")]
struct Args {
    /// Number of candidates (10000, 100000, 1000000…).
    #[arg(long, default_value_t = 10_000)]
    size: u64,
    /// Number of offers.
    #[arg(long, default_value_t = 1_000)]
    offers: u64,
    /// Seed (ChaCha8).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Candidate file format: csv or jsonl.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Output directory.
    #[arg(long, default_value = "target/gen")]
    out: PathBuf,
    /// Skip the qrels file (large at 1M: every relevant candidate of every query).
    #[arg(long)]
    no_qrels: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let gen = Generator::new(args.seed)?;
    let cand_path = args
        .out
        .join(format!("candidates-{}.{}", args.size, args.format));
    let w = BufWriter::new(File::create(&cand_path)?);
    match args.format.as_str() {
        "csv" => write_csv(&gen, args.size, w)?,
        "jsonl" => write_jsonl(&gen, args.size, w)?,
        other => anyhow::bail!("unknown format {other:?}: csv or jsonl"),
    }
    let offers_path = args.out.join(format!("offers-{}.jsonl", args.offers));
    let mut w = BufWriter::new(File::create(&offers_path)?);
    for i in 0..args.offers {
        serde_json::to_writer(&mut w, &gen.offer(i))?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    let queries = gen.queries();
    let q_path = args.out.join("queries.jsonl");
    let mut w = BufWriter::new(File::create(&q_path)?);
    for q in &queries {
        serde_json::to_writer(&mut w, q)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    eprintln!("wrote {} ({} candidates)", cand_path.display(), args.size);
    eprintln!("wrote {} ({} offers)", offers_path.display(), args.offers);
    eprintln!("wrote {} ({} queries)", q_path.display(), queries.len());
    if !args.no_qrels {
        let qrels_path = args.out.join(format!("qrels-{}.txt", args.size));
        let mut w = BufWriter::new(File::create(&qrels_path)?);
        // Candidates are regenerated query by query in blocks to bound memory.
        let block = 100_000u64;
        let mut start = 0;
        while start < args.size {
            let end = (start + block).min(args.size);
            let cands: Vec<_> = (start..end).map(|i| gen.candidate(i)).collect();
            let homes: Vec<_> = cands.iter().map(home).collect();
            for q in &queries {
                for (c, h) in cands.iter().zip(&homes) {
                    let g = gen.grade(q, c, *h);
                    if g > 0 {
                        writeln!(w, "{} 0 {} {}", q.id, c.external_id, g)?;
                    }
                }
            }
            start = end;
        }
        w.flush()?;
        eprintln!(
            "wrote {} (TREC qrels: query 0 external_id grade)",
            qrels_path.display()
        );
    }
    Ok(())
}
