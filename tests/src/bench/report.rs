//! Markdown tables, JSON and the latency-vs-size plot.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::engines::SearchReport;
use super::net::{FanoutReport, MatchingReport};

fn mb(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

/// The search comparison as Markdown: through HTTP first (what a user
/// waits for), then the in-process breakdown with the loading figures.
pub fn search_table(rows: &[SearchReport]) -> String {
    let mut s = format!(
        "Through HTTP ({PAGE} hits per page with snippets and the exact total; Vivier also returns ROME facets):\n\n\
         | size | engine | p50 ms | p95 ms | p99 ms | q/s (1) | CPU ms/q (1) | p50 ms (2) | p99 ms (2) | q/s (2) | nDCG@10 | nDCG@10 text / geo | recall@100 | errors |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
        PAGE = super::engines::PAGE
    );
    for r in rows {
        let Some(h) = &r.http else { continue };
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {:.2} | {:.2} | {:.0} | {:.3} | {:.3} / {:.3} | {:.3} | {} |\n",
            r.size,
            r.engine,
            h.latency_1.p50_ms,
            h.latency_1.p95_ms,
            h.latency_1.p99_ms,
            h.qps_1,
            h.latency_1
                .cpu_ms_per_query
                .map_or("–".to_string(), |c| format!("{c:.2}")),
            h.latency_2.p50_ms,
            h.latency_2.p99_ms,
            h.qps_2,
            h.ndcg10,
            h.ndcg10_text,
            h.ndcg10_geo,
            h.recall100,
            h.errors
        ));
    }
    for r in rows {
        if let Some(f) = r.http.as_ref().and_then(|h| h.floor.as_ref()) {
            s.push_str(&format!(
                "\nHTTP floor of {} (authenticated `GET /api/v1/me`, token looked up in the database): p50 {:.2} ms, p99 {:.2} ms.\n",
                r.engine, f.p50_ms, f.p99_ms
            ));
        }
        if let Some(h) = &r.http {
            s.push_str(&format!(
                "\nSlowest queries through HTTP, {} ({} candidates, mean ms):",
                r.engine, r.size
            ));
            for (q, ms) in h.slowest.iter().take(5) {
                s.push_str(&format!(" `{q}` {ms:.1};"));
            }
            s.push('\n');
        }
    }
    s.push_str(
        "\nIn process (breakdown: the same page without HTTP; nDCG from the top-100 ids):\n\n\
         | size | engine | load s | index s | index MB | total MB | p50 ms | p95 ms | p99 ms | q/s (1) | p50 ms (2) | p99 ms (2) | q/s (2) | nDCG@10 | nDCG@10 text / geo | recall@100 | errors |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {:.3} | {:.3} / {:.3} | {:.3} | {} |\n",
            r.size,
            r.engine,
            r.load.load_s,
            r.load.index_s,
            mb(r.load.index_bytes),
            mb(r.load.total_bytes),
            r.latency_1.p50_ms,
            r.latency_1.p95_ms,
            r.latency_1.p99_ms,
            r.qps_1,
            r.latency_2.p50_ms,
            r.latency_2.p99_ms,
            r.qps_2,
            r.ndcg10,
            r.ndcg10_text,
            r.ndcg10_geo,
            r.recall100,
            r.errors
        ));
    }
    s
}

/// Matching as a Markdown table.
pub fn matching_table(rows: &[MatchingReport]) -> String {
    let mut s = String::from(
        "| size | what | path | open offers | timed | workplaces | p50 ms | p95 ms | p99 ms | max ms | HTTP p50 / p95 / p99 ms | scored / workplace | listed / workplace | top-20 with the same ROME code | top-20 relevant (ground truth) |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.0} % | {:.0} % |\n",
            r.size,
            r.kind,
            r.path,
            if r.open_offers > 0 { r.open_offers.to_string() } else { "—".into() },
            r.offers,
            r.workplaces,
            r.latency.p50_ms,
            r.latency.p95_ms,
            r.latency.p99_ms,
            r.latency.max_ms,
            r.http
                .as_ref()
                .map(|h| format!("{:.1} / {:.1} / {:.1}", h.p50_ms, h.p95_ms, h.p99_ms))
                .unwrap_or_else(|| "—".into()),
            r.mean_considered,
            r.mean_listed,
            r.top20_same_code * 100.0,
            r.top20_relevant * 100.0
        ));
    }
    for r in rows.iter().filter(|r| !r.slowest.is_empty()) {
        s.push_str(&format!(
            "\nSlowest in process, {} ({} candidates; ms, candidates considered): ",
            r.kind, r.size
        ));
        for x in &r.slowest {
            s.push_str(&format!("{} {:.1} ms, {}; ", x.what, x.ms, x.considered));
        }
        s.push('\n');
    }
    s
}

/// Fan-out as a Markdown table.
pub fn fanout_table(rows: &[FanoutReport]) -> String {
    let mut s =
        String::from("| nodes | offers | p50 ms | p95 ms | max ms |\n|---:|---:|---:|---:|---:|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |\n",
            r.nodes, r.offers, r.per_offer.p50_ms, r.per_offer.p95_ms, r.per_offer.max_ms
        ));
    }
    s
}

/// Reads every `search-*.json` in `dir` and plots p50 and p95 latency (1
/// client, log scale) against corpus size, one line per engine.
pub fn plot(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let mut series: BTreeMap<String, Vec<(u64, f64, f64)>> = BTreeMap::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("search-") && name.ends_with(".json")) {
            continue;
        }
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(e.path())?)?;
        for r in rows {
            let engine = r["engine"].as_str().unwrap_or("?").to_string();
            let size = r["size"].as_u64().unwrap_or(0);
            // Through HTTP when measured, in process otherwise.
            let lat = if r["http"].is_object() {
                &r["http"]["latency_1"]
            } else {
                &r["latency_1"]
            };
            let p50 = lat["p50_ms"].as_f64().unwrap_or(0.0);
            let p95 = lat["p95_ms"].as_f64().unwrap_or(0.0);
            series.entry(engine).or_default().push((size, p50, p95));
        }
    }
    for v in series.values_mut() {
        v.sort_by_key(|x| x.0);
    }
    // plotters draws text with ab_glyph from a TrueType font read at run time.
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or_else(|| anyhow::anyhow!("no DejaVuSans.ttf found for the plot's text"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("the font could not be loaded"))?;
    let path = dir.join("search-latency.png");
    let root = BitMapBackend::new(&path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_size = series
        .values()
        .flatten()
        .map(|x| x.0)
        .max()
        .unwrap_or(10_000)
        .max(20_000) as f64;
    let min_size = series
        .values()
        .flatten()
        .map(|x| x.0)
        .min()
        .unwrap_or(10_000)
        .max(1) as f64;
    let max_ms = series.values().flatten().map(|x| x.2).fold(1.0, f64::max) * 2.0;
    let min_ms = series
        .values()
        .flatten()
        .map(|x| x.1)
        .fold(f64::MAX, f64::min)
        .clamp(0.01, 1.0)
        / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Candidate search latency through HTTP vs corpus size (1 client; solid p50, dashed p95)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (min_size / 1.5..max_size * 1.5).log_scale(),
            (min_ms..max_ms).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("candidates")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
        .draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (engine, pts)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0 as f64, p.1)),
                c.stroke_width(2),
            ))?
            .label(engine.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new((p.0 as f64, p.1), 4, c.filled())),
        )?;
        chart.draw_series(DashedLineSeries::new(
            pts.iter().map(|p| (p.0 as f64, p.2)),
            6,
            4,
            c.stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(path)
}
