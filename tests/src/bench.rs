//! Benchmark harness behind `vivier-bench` (see `BENCHMARKS.md`): Vivier's
//! candidate search side by side with PostgreSQL full-text search and SQLite
//! FTS5 on the same synthetic corpus and judged queries; matching latency;
//! inbox throughput; offer fan-out.

pub mod engines;
pub mod http;
pub mod inbox;
pub mod net;
pub mod netsearch;
pub mod procs;
pub mod report;
pub mod signatures;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use vivier_node::geo::Point;

use crate::gen::{home, GenCandidate, GenQuery, Generator, PROFESSIONS};

/// Latency distribution of a set of timed operations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// CPU time of the whole process per operation (client and server when
    /// both run here), when measured: independent of other processes'
    /// load, unlike the wall-clock figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_query: Option<f64>,
}

impl Latency {
    /// From individual durations.
    pub fn of(samples: &[Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        Latency {
            n: ms.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            max_ms: ms[ms.len() - 1],
            cpu_ms_per_query: None,
        }
    }
}

/// The corpus of one run, with its ground truth.
pub struct Corpus {
    pub gen: Generator,
    pub size: u64,
    pub candidates: Vec<GenCandidate>,
    /// Centre of each candidate's home commune (same order).
    pub homes: Vec<Option<Point>>,
    pub queries: Vec<GenQuery>,
    /// Per query: grade of each candidate (0, 1, 2).
    pub grades: Vec<Vec<u8>>,
}

impl Corpus {
    /// Generates `size` candidates and grades every (query, candidate) pair.
    pub fn generate(seed: u64, size: u64) -> anyhow::Result<Corpus> {
        let gen = Generator::new(seed)?;
        let candidates: Vec<GenCandidate> = (0..size).map(|i| gen.candidate(i)).collect();
        let homes: Vec<Option<Point>> = candidates.iter().map(home).collect();
        let queries = gen.queries();
        let codes: Vec<&str> = PROFESSIONS.iter().map(|p| p.code).collect();
        let mut grades = Vec::with_capacity(queries.len());
        for q in &queries {
            // Grade of each profession code for this query (cheap look-up).
            let code_grade: Vec<(String, u8)> = codes
                .iter()
                .map(|c| ((*c).to_string(), gen.code_grade(&q.rome_code, c)))
                .collect();
            let g: Vec<u8> = candidates
                .iter()
                .zip(&homes)
                .map(|(c, home)| {
                    if let (Some(center), Some(r)) = (q.near, q.radius_km) {
                        match *home {
                            Some(p) if vivier_node::geo::haversine_km(center, p) <= r => {}
                            _ => return 0,
                        }
                    }
                    c.rome_codes
                        .iter()
                        .map(|code| {
                            code_grade
                                .iter()
                                .find(|(k, _)| k == code)
                                .map_or(0, |x| x.1)
                        })
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            grades.push(g);
        }
        Ok(Corpus {
            gen,
            size,
            candidates,
            homes,
            queries,
            grades,
        })
    }

    /// Gives `n` candidates, spread evenly, an own travel limit of `km`.
    pub fn far_travellers(&mut self, n: u64, km: i64) {
        for k in 0..n.min(self.size) {
            let i = (k * self.size / n.max(1)) as usize;
            if let Some(c) = self.candidates.get_mut(i) {
                c.max_travel_km = Some(km);
            }
        }
    }

    /// Writes the candidates as the importer's CSV (for Vivier's import path).
    pub fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut wtr = csv::Writer::from_path(path)?;
        wtr.write_record(crate::gen::CSV_COLUMNS)?;
        for c in &self.candidates {
            wtr.write_record(crate::gen::csv_record(c))?;
        }
        wtr.flush()?;
        Ok(())
    }
}

/// Relevance of one ranked list (candidate indexes) for query `qi`.
pub fn quality(corpus: &Corpus, qi: usize, ranked: &[usize]) -> Option<(f64, f64)> {
    let grades = &corpus.grades[qi];
    let n2 = grades.iter().filter(|g| **g == 2).count();
    let n1 = grades.iter().filter(|g| **g == 1).count();
    if n1 + n2 == 0 {
        return None;
    }
    let gain = |g: u8| f64::from((1u32 << g) - 1);
    let disc = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| gain(grades[*d]) * disc(i))
        .sum();
    let ideal: Vec<u8> = std::iter::repeat_n(2u8, n2)
        .chain(std::iter::repeat_n(1u8, n1))
        .take(10)
        .collect();
    let idcg: f64 = ideal
        .iter()
        .enumerate()
        .map(|(i, g)| gain(*g) * disc(i))
        .sum();
    let found = ranked.iter().take(100).filter(|d| grades[**d] > 0).count();
    let recall = found as f64 / (n1 + n2).min(100) as f64;
    Some((dcg / idcg, recall))
}

/// Bytes used by a directory tree.
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// `target/bench` (or `$VIVIER_BENCH_DIR`).
pub fn out_dir() -> PathBuf {
    std::env::var_os("VIVIER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench"))
}

/// Runs `f` and returns its result and duration.
pub async fn timed<T, F: std::future::Future<Output = T>>(f: F) -> (T, Duration) {
    let t = Instant::now();
    let v = f.await;
    (v, t.elapsed())
}
