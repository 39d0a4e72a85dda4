//! The judged French query set (`fixtures/search/`) through the HTTP API
//! of a real node, on SQLite and (when reachable) PostgreSQL: recall@10 must
//! be at least 0.95 and precision@5 at least 0.9. Run with `--nocapture`
//! for the per-query report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use support::{backends, start_node, TestNode};
use vivier_node::auth::Role;

const MIN_RECALL_AT_10: f64 = 0.95;
const MIN_PRECISION_AT_5: f64 = 0.90;

#[derive(Deserialize)]
struct PoolCandidate {
    key: String,
    first_name: String,
    last_name: String,
    commune_insee: String,
    rome_codes: Vec<String>,
    job_titles: Vec<String>,
    skills: Vec<String>,
    cv_text: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Judged {
    q: String,
    expected: Vec<String>,
}

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/search")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture JSON")
}

/// Creates the pool; returns node id → pool key.
async fn load_pool(node: &TestNode, token: &str) -> HashMap<String, String> {
    let pool: Vec<PoolCandidate> = fixture("pool.json");
    let mut keys = HashMap::new();
    for c in pool {
        let mut body = json!({
            "external_id": c.key,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "commune_insee": c.commune_insee,
            "rome_codes": c.rome_codes,
            "job_titles": c.job_titles,
            "skills": c.skills,
            "cv_text": c.cv_text,
            "consent_scope": "local",
        });
        if let Some(s) = &c.status {
            body["status"] = json!(s);
        }
        let (st, v) = node.post(token, "/api/v1/candidates", &body).await;
        assert_eq!(st, 201, "{}: {v}", c.key);
        keys.insert(v["id"].as_str().expect("id").to_string(), c.key);
    }
    node.state.search.candidates.commit_now().expect("commit");
    keys
}

/// The pool keys of the first `n` hits for a query.
async fn top(
    node: &TestNode,
    token: &str,
    keys: &HashMap<String, String>,
    q: &str,
    n: usize,
) -> Vec<String> {
    let qs: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .append_pair("per_page", &n.to_string())
        .finish();
    let (st, v) = node
        .get(token, &format!("/api/v1/candidates/search?{qs}"))
        .await;
    assert_eq!(st, 200, "{q}: {v}");
    v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            let id = h["id"].as_str().expect("id");
            keys.get(id).cloned().unwrap_or_else(|| id.to_string())
        })
        .collect()
}

/// (recall@10, precision@5) of one ranked list.
fn metrics(ranked: &[String], expected: &[String]) -> (f64, f64) {
    let found = |k: usize| {
        ranked
            .iter()
            .take(k)
            .filter(|r| expected.contains(r))
            .count() as f64
    };
    let recall = found(10) / expected.len().min(10) as f64;
    let k = expected.len().min(5);
    (recall, found(k) / k as f64)
}

#[tokio::test]
async fn judged_french_queries() {
    let judged: Vec<Judged> = fixture("queries.json");
    assert!(judged.len() >= 80);
    for backend in backends() {
        let node = start_node(&backend).await;
        let token = node.user(Role::Counsellor, "conseillere@mission.fr").await;
        let keys = load_pool(&node, &token).await;
        let (mut recall_sum, mut precision_sum) = (0.0, 0.0);
        let mut report = Vec::new();
        for j in &judged {
            let ranked = top(&node, &token, &keys, &j.q, 10).await;
            let (r, p) = metrics(&ranked, &j.expected);
            recall_sum += r;
            precision_sum += p;
            if r < 1.0 || p < 1.0 {
                report.push(format!(
                    "  {:<40} recall@10 {r:.2} precision@5 {p:.2} expected {:?} got {:?}",
                    j.q, j.expected, ranked
                ));
            }
            assert!(
                !ranked.contains(&"c47".to_string()),
                "archived c47 for {:?}",
                j.q
            );
        }
        let n = judged.len() as f64;
        let (recall, precision) = (recall_sum / n, precision_sum / n);
        eprintln!(
            "{}: {} queries, recall@10 {recall:.3}, precision@5 {precision:.3}\n{}",
            backend.name(),
            judged.len(),
            report.join("\n")
        );
        assert!(
            recall >= MIN_RECALL_AT_10,
            "recall@10 {recall:.3} < {MIN_RECALL_AT_10}"
        );
        assert!(
            precision >= MIN_PRECISION_AT_5,
            "precision@5 {precision:.3} < {MIN_PRECISION_AT_5}"
        );
        node.stop().await;
    }
}
