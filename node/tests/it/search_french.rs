//! French search as counsellors type it, through the HTTP API of a real
//! node on SQLite and (when reachable) PostgreSQL, over the hand-written
//! pool of `fixtures/search/`:
//!
//! - the judged query set: recall@10 must be at least 0.95 and precision@5
//!   at least 0.9 (run with `--nocapture` for the per-query report);
//! - one test per example of the French-search issue (accents, acronyms,
//!   syntax, stop words, synonyms, typos, archived records).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::support::{backends, start_node, TestNode};
use serde::Deserialize;
use serde_json::{json, Value};
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
    node.sync_index().await;
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
    v["items"]
        .as_array()
        .expect("items")
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

// ---------------------------------------------------------------------------
// The examples, one test each.

/// A node with the pool loaded, its counsellor token and id → key map.
async fn pool_node(
    backend: &crate::support::Backend,
) -> (TestNode, String, HashMap<String, String>) {
    let node = start_node(backend).await;
    let token = node.user(Role::Counsellor, "conseillere@mission.fr").await;
    let keys = load_pool(&node, &token).await;
    (node, token, keys)
}

/// The pool keys of every hit (up to 100) and the total.
async fn all_hits(
    node: &TestNode,
    token: &str,
    keys: &HashMap<String, String>,
    qs: &[(&str, &str)],
) -> (Vec<String>, u64, Value) {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in qs {
        ser.append_pair(k, v);
    }
    ser.append_pair("per_page", "100");
    let (st, v) = node
        .get(
            token,
            &format!("/api/v1/candidates/search?{}", ser.finish()),
        )
        .await;
    assert_eq!(st, 200, "{qs:?}: {v}");
    let hits = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| keys[h["id"].as_str().expect("id")].clone())
        .collect();
    (hits, v["total"].as_u64().expect("total"), v)
}

async fn hits(
    node: &TestNode,
    token: &str,
    keys: &HashMap<String, String>,
    q: &str,
) -> Vec<String> {
    all_hits(node, token, keys, &[("q", q)]).await.0
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn top_sorted(h: &[String], n: usize) -> Vec<String> {
    let mut v: Vec<String> = h.iter().take(n).cloned().collect();
    v.sort();
    v
}

/// `securite`, `electricite`, `diplomee` typed without accents find what
/// the accented forms find; CVs typed in capitals without accents are
/// found by lower-case, accented queries.
#[tokio::test]
async fn accents_and_capitals_always_meet() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        for (plain, accented) in [
            ("securite", "sécurité"),
            ("electricite", "électricité"),
            ("diplomee", "diplômée"),
        ] {
            let a = hits(&node, &t, &keys, plain).await;
            assert!(!a.is_empty(), "{plain}");
            assert_eq!(a, hits(&node, &t, &keys, accented).await, "{plain}");
        }
        // c42/c51 (sécurité), the electricians, the two graduates.
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "securite").await, 2),
            sorted(&["c42", "c51"])
        );
        let diplomee = hits(&node, &t, &keys, "diplomee").await;
        assert!(diplomee.contains(&"c11".into()) && diplomee.contains(&"c50".into()));
        // c26's CV is in capitals without accents.
        for q in ["électricien industriel", "maintenance"] {
            assert_eq!(
                hits(&node, &t, &keys, q).await.first().map(String::as_str),
                Some("c26"),
                "{q}"
            );
        }
        assert!(hits(&node, &t, &keys, "habilitations électriques")
            .await
            .contains(&"c26".into()));
        node.stop().await;
    }
}

/// `DEAS` is not stemmed into `de`: it finds the diploma holders only,
/// first; `DES` is another word.
#[tokio::test]
async fn acronyms_are_never_stemmed() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let (deas, total, _) = all_hits(&node, &t, &keys, &[("q", "DEAS")]).await;
        assert_eq!(
            top_sorted(&deas, 3),
            sorted(&["c11", "c12", "c50"]),
            "{deas:?}"
        );
        assert!(total <= 5, "DEAS matched {total} candidates: {deas:?}");
        let des = hits(&node, &t, &keys, "DES").await;
        assert_ne!(des, deas);
        // Codes and acronyms in any case.
        assert_eq!(hits(&node, &t, &keys, "b1v").await.len(), 2);
        assert_eq!(hits(&node, &t, &keys, "haccp").await.len(), 2);
        node.stop().await;
    }
}

/// What tantivy's grammar refused or misread is French writing here.
#[tokio::test]
async fn typed_syntax_reads_as_french_writing() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let aides = sorted(&["c11", "c12", "c50"]);
        for q in ["aide-soignant(e)", "aide soignant(e)", "aides-soignants"] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 3),
                aides,
                "{q}"
            );
        }
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "agent(e) d'entretien").await, 2),
            sorted(&["c20", "c21"])
        );
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "\"service en salle").await, 2),
            sorted(&["c30", "c31"])
        );
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "R489:3").await, 3),
            sorted(&["c01", "c02", "c04"])
        );
        assert_eq!(
            hits(&node, &t, &keys, "cariste AND").await,
            hits(&node, &t, &keys, "cariste").await
        );
        let (_, all, _) = all_hits(&node, &t, &keys, &[]).await;
        let (_, or_alone, _) = all_hits(&node, &t, &keys, &[("q", "OR")]).await;
        assert_eq!(
            or_alone, all,
            "nothing searchable: every (non-archived) candidate"
        );
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "vendeur/vendeuse").await, 2),
            sorted(&["c35", "c36"])
        );
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "cariste H/F").await, 4),
            sorted(&["c01", "c02", "c04", "c52"])
        );
        // OR splits the text in two groups, not two words.
        let or = hits(&node, &t, &keys, "auxiliaire de vie OR aide à domicile").await;
        for k in ["c15", "c16", "c17", "c53"] {
            assert!(or.iter().take(6).any(|h| h == k), "{k} in {or:?}");
        }
        // A trailing star is a prefix.
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "cari*").await, 3),
            sorted(&["c01", "c04", "c52"])
        );
        node.stop().await;
    }
}

/// Prefixes after a hyphen or an apostrophe, inclusive writing, accents
/// typed as combining marks, and a word longer than any indexed one (all
/// found wrong by a counsellor's trial: everyone, or nobody).
#[tokio::test]
async fn written_as_people_type_it() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let (_, everyone, _) = all_hits(&node, &t, &keys, &[]).await;
        let aides = sorted(&["c11", "c12", "c50"]);
        for q in [
            "aide-soi*",
            "aide-soign*",
            "aide-soignant-e",
            "aide soignant.e",
            "aide-soignant·e",
            "aides-soignant·es",
        ] {
            let (h, total, _) = all_hits(&node, &t, &keys, &[("q", q)]).await;
            assert_eq!(top_sorted(&h, 3), aides, "{q}: {h:?}");
            assert!(total < everyone, "{q}: {total} of {everyone}");
        }
        let cleaners = sorted(&["c20", "c21"]);
        for q in [
            "agent d'entr*",
            "agent·e d'entretien",
            "agent-e d'entretien",
        ] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 2),
                cleaners,
                "{q}"
            );
        }
        assert_eq!(
            hits(&node, &t, &keys, "conducteur-trice").await,
            hits(&node, &t, &keys, "conducteur").await
        );
        // « sécurité » and « électricien » with their accents as combining marks.
        assert_eq!(
            hits(&node, &t, &keys, "se\u{301}curite\u{301}").await,
            hits(&node, &t, &keys, "sécurité").await
        );
        assert_eq!(
            hits(&node, &t, &keys, "e\u{301}lectricien").await,
            hits(&node, &t, &keys, "électricien").await
        );
        // Longer than any indexed word, or a prefix of none: nobody.
        for q in [
            "x".repeat(41),
            "zzzq*".to_string(),
            "aide-zzzq*".to_string(),
        ] {
            let (h, total, _) = all_hits(&node, &t, &keys, &[("q", &q)]).await;
            assert_eq!(total, 0, "{q}: {h:?}");
        }
        // Also as one of two forms, before a hyphen of a prefix, in a phrase.
        let long = "x".repeat(41);
        for q in [
            format!("{long}/{}", "y".repeat(41)),
            format!("{long}-soi*"),
            format!("\"agent {long}\""),
        ] {
            let (h, total, _) = all_hits(&node, &t, &keys, &[("q", &q)]).await;
            assert_eq!(total, 0, "{q}: {h:?}");
        }
        // An inclusive mark after an accent written as a combining mark.
        assert_eq!(
            hits(&node, &t, &keys, "diplo\u{302}me\u{301}·e").await,
            hits(&node, &t, &keys, "diplômé").await
        );
        // A number glued to its word, and a plus between two words.
        // Glued, both parts are required, side by side first (« CACES 3 »
        // before « CACES R489 cat. 1, 3 et 5 »); apart, the same three
        // rank first.
        let glued = hits(&node, &t, &keys, "CACES3").await;
        assert_eq!(top_sorted(&glued, 9), sorted(&["c01", "c02", "c04"]));
        assert_eq!(glued[0], "c02", "{glued:?}");
        let apart = hits(&node, &t, &keys, "CACES 3").await;
        assert_eq!(top_sorted(&apart, 3), top_sorted(&glued, 3), "{apart:?}");
        let both = hits(&node, &t, &keys, "cariste+magasinier").await;
        assert_eq!(both.first().map(String::as_str), Some("c04"), "{both:?}");
        assert_eq!(both, hits(&node, &t, &keys, "cariste magasinier").await);
        // With other words, it is one word that does not match.
        let (h, _, _) = all_hits(
            &node,
            &t,
            &keys,
            &[("q", &format!("cariste {}", "x".repeat(41)))],
        )
        .await;
        assert!(h.contains(&"c01".to_string()), "{h:?}");
        node.stop().await;
    }
}

/// Stop words are never required and one missing word does not drop a
/// relevant candidate.
#[tokio::test]
async fn stop_words_and_missing_words_do_not_exclude() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        assert_eq!(
            hits(&node, &t, &keys, "vendeuse en boulangerie")
                .await
                .first()
                .map(String::as_str),
            Some("c35")
        );
        // c23 (maçon, never says BTP) and c24 (maçonnerie) are both found.
        let btp = hits(&node, &t, &keys, "BTP maçonnerie").await;
        assert!(
            btp.contains(&"c23".into()) && btp.contains(&"c24".into()),
            "{btp:?}"
        );
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "CACES R489 cat 3").await, 3),
            sorted(&["c01", "c02", "c04"])
        );
        // l'entrepôt: elision, not the phrase "l entrepôt".
        let e = hits(&node, &t, &keys, "l'entrepôt").await;
        assert_eq!(top_sorted(&e, 4), sorted(&["c01", "c06", "c52", "c54"]));
        node.stop().await;
    }
}

/// Job titles and acronyms expand each other; what was typed ranks first.
#[tokio::test]
async fn synonyms_expand_and_rank_below_typed_words() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let drivers = sorted(&["c07", "c08", "c49"]);
        for q in ["chauffeur PL", "conducteur poids lourd"] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 3),
                drivers,
                "{q}"
            );
        }
        // Typed words first: c08 wrote "conductrice poids lourd", c07
        // "chauffeur PL" (an expansion), c49 "camionneur" (a ROME title).
        let h = hits(&node, &t, &keys, "conducteur poids lourd").await;
        assert_eq!(h[0], "c08", "{h:?}");
        let h = hits(&node, &t, &keys, "chauffeur PL").await;
        assert_eq!(h[0], "c07", "{h:?}");
        for q in ["ASH", "agent de service hospitalier"] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 2),
                sorted(&["c13", "c14"]),
                "{q}"
            );
        }
        let caristes = sorted(&["c01", "c02", "c04", "c52"]);
        for q in ["cariste", "conducteur de chariot élévateur"] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 4),
                caristes,
                "{q}"
            );
        }
        let home = sorted(&["c16", "c17", "c53"]);
        for q in ["aide à domicile", "aide-ménagère"] {
            assert_eq!(top_sorted(&hits(&node, &t, &keys, q).await, 3), home, "{q}");
        }
        assert_eq!(
            top_sorted(&hits(&node, &t, &keys, "cuisine").await, 2),
            sorted(&["c32", "c33"])
        );
        node.stop().await;
    }
}

/// One or two typos in words of five letters or more, ranked below exact
/// matches.
#[tokio::test]
async fn typos_are_forgiven_below_exact_words() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let electricians = sorted(&["c25", "c26", "c55"]);
        for q in ["electricein", "éléctricien", "electrcien"] {
            assert_eq!(
                top_sorted(&hits(&node, &t, &keys, q).await, 3),
                electricians,
                "{q}"
            );
        }
        let score = |v: &Value, key: &str| {
            v["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|h| keys[h["id"].as_str().expect("id")] == key)
                .and_then(|h| h["score"].as_f64())
                .expect("score")
        };
        let (_, _, exact) = all_hits(&node, &t, &keys, &[("q", "soudeur")]).await;
        let (_, _, typo) = all_hits(&node, &t, &keys, &[("q", "souderu")]).await;
        assert!(score(&typo, "c44") < score(&exact, "c44"));
        // Short words are not fuzzy.
        assert!(hits(&node, &t, &keys, "cqp").await.is_empty());
        node.stop().await;
    }
}

/// Archived records are left out unless a status is asked for, in the API
/// and in the web interface.
#[tokio::test]
async fn archived_candidates_only_on_request() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let (h, _, _) = all_hits(&node, &t, &keys, &[("q", "cariste")]).await;
        assert!(!h.contains(&"c47".into()));
        let (h, _, _) = all_hits(&node, &t, &keys, &[]).await;
        assert!(!h.contains(&"c47".into()));
        let (h, _, _) = all_hits(
            &node,
            &t,
            &keys,
            &[("q", "cariste"), ("status", "archived")],
        )
        .await;
        assert_eq!(h, vec!["c47".to_string()]);
        let (h, total, _) = all_hits(&node, &t, &keys, &[("status", "all")]).await;
        assert!(h.contains(&"c47".into()));
        assert_eq!(total, 55);
        // Facets and totals count what is listed.
        let (_, total, v) = all_hits(&node, &t, &keys, &[("rome", "N1101")]).await;
        assert_eq!(total, 3, "{v}");
        assert_eq!(v["facets"]["rome"]["N1101"], 3);
        // The web interface: same default, "Tous, archivés compris" on request.
        let cookie = node.ui_cookie("conseillere@mission.fr").await;
        let page = |path: String| {
            let cookie = cookie.clone();
            let node = &node;
            async move { node.ui_get(&cookie, &path).await.1 }
        };
        let body = page("/ui/candidats?texte=cariste".into()).await;
        assert!(body.contains("Martin") && !body.contains("Benhamou"));
        let body = page("/ui/candidats?texte=cariste&statut=all".into()).await;
        assert!(body.contains("Benhamou"));
        // Nothing found: the page says archived records were not looked at.
        let body = page("/ui/candidats?texte=Benhamou".into()).await;
        assert!(body.contains("Aucun candidat ne correspond"), "{body}");
        assert!(
            body.contains("les fiches archivées ne sont cherchées qu"),
            "{body}"
        );
        // … and that an archived record matches, with the link that shows it.
        assert!(
            body.contains("Une fiche archivée correspond aussi à cette recherche"),
            "{body}"
        );
        assert!(body.contains("statut=all"), "{body}");
        let body = page("/ui/candidats?texte=cariste".into()).await;
        assert!(
            body.contains("Une fiche archivée correspond aussi"),
            "{body}"
        );
        // Nothing archived matches: no such line.
        let body = page("/ui/candidats?texte=boulangerie".into()).await;
        assert!(!body.contains("archivée correspond"), "{body}");
        let body = page("/ui/candidats?texte=Benhamou&statut=all".into()).await;
        assert!(
            body.contains("Benhamou") && !body.contains("Aucun candidat"),
            "{body}"
        );
        assert!(!body.contains("archivée correspond"), "{body}");
        node.stop().await;
    }
}

/// Every search is audited, including many at once: the entries are
/// group-committed, and reading the audit log waits for them.
#[tokio::test]
async fn concurrent_searches_are_all_audited() {
    for backend in backends() {
        let (node, t, _) = pool_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let paths: Vec<String> = (0..40)
            .map(|i| {
                let q = if i % 2 == 0 {
                    "cariste"
                } else {
                    "aide-soignante"
                };
                format!("/api/v1/candidates/search?q={q}")
            })
            .collect();
        let searches = paths.iter().map(|p| node.get(&t, p));
        for (st, v) in futures::future::join_all(searches).await {
            assert_eq!(st, 200, "{v}");
        }
        let (st, v) = node
            .get(&admin, "/api/v1/audit?action=candidate.search&per_page=200")
            .await;
        assert_eq!(st, 200, "{v}");
        let entries = v["items"].as_array().expect("entries");
        assert_eq!(entries.len(), 40);
        // No personal data: the text's length, not the text.
        assert!(entries.iter().all(|e| e["details"]["q_chars"].is_u64()));
        assert!(!v.to_string().contains("cariste"));
        node.stop().await;
    }
}

/// The offers list of the web interface searches with the same language.
#[tokio::test]
async fn offers_web_search_uses_the_search_language() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseillere@mission.fr").await;
        for (title, description) in [
            (
                "Cariste H/F",
                "Conduite de chariot élévateur, CACES R489 cat. 3.",
            ),
            ("Aide-soignant(e) de nuit", "EHPAD, DEAS exigé."),
        ] {
            let (st, v) = node
                .post(
                    &staff,
                    "/api/v1/offers",
                    &json!({
                        "title": title,
                        "description": description,
                        "rome_code": if title.starts_with("Cariste") { "N1101" } else { "J1501" },
                        "contract_type": "CDI",
                        "employer": {"name": "Employeur Test"},
                        "workplaces": [{"commune_insee": "41018", "positions": 1}]
                    }),
                )
                .await;
            assert_eq!(st, 201, "{v}");
        }
        node.sync_index().await;
        let cookie = node.ui_cookie("conseillere@mission.fr").await;
        let page = |texte: &str| {
            let path = format!(
                "/ui/offres?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("texte", texte)
                    .finish()
            );
            let cookie = cookie.clone();
            let node = &node;
            async move {
                let (status, body) = node.ui_get(&cookie, &path).await;
                assert_eq!(status, 200);
                body
            }
        };
        // (minijinja writes "/" as "&#x2f;")
        let body = page("caristes").await;
        assert!(
            body.contains("Cariste H&#x2f;F") && !body.contains("de nuit"),
            "{body}"
        );
        let body = page("DEAS").await;
        assert!(body.contains("de nuit") && !body.contains("Cariste H&#x2f;F"));
        let body = page("aide soignante").await;
        assert!(body.contains("de nuit"));
        assert!(body.contains("Comment écrire une recherche"));
        let body = page(&format!("{}a{}", "(".repeat(20), ")".repeat(20))).await;
        assert!(body.contains("Trop de parenthèses imbriquées"));
        node.state.read_audit.flush().await;
        let audited: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'offer.search'")
                .fetch_one(&node.state.db.pool)
                .await
                .expect("count");
        assert_eq!(audited, 3);
        node.stop().await;
    }
}

/// A sentence in which nobody has most of the words (filler words, as a
/// counsellor pastes them) still finds those with the most words, and the
/// answer says the search was widened; a search that finds people whole is
/// not widened.
#[tokio::test]
async fn a_sentence_nobody_matches_whole_is_widened() {
    for backend in backends() {
        let (node, t, keys) = pool_node(&backend).await;
        let (h, total, v) = all_hits(
            &node,
            &t,
            &keys,
            &[("q", "cherche cariste CACES disponible rapidement svp")],
        )
        .await;
        assert_eq!(v["relaxed"], true, "{v}");
        assert!(total > 0 && total as usize >= h.len(), "{v}");
        assert!(
            ["c01", "c02", "c04", "c52"].contains(&h[0].as_str()),
            "a cariste with CACES first: {h:?}"
        );
        let (_, _, v) = all_hits(&node, &t, &keys, &[("q", "cariste CACES")]).await;
        assert_eq!(v["relaxed"], false, "{v}");
        node.stop().await;
    }
}
