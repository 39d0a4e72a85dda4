//! Hostile search texts over HTTP against a real node, on SQLite and
//! (when reachable) PostgreSQL: every request gets a clear answer with an
//! exact status, the node keeps answering and nothing stored changes.
//! Deep nesting once overflowed the stack in tantivy's query parser; the
//! search text now goes through Vivier's own bounded parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{backends, start_node, TestNode};
use serde_json::{json, Value};
use vivier_node::auth::Role;

/// Percent-encodes a search text for a query string.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// (name, raw query-string value, expected status, expected problem code).
fn cases() -> Vec<(&'static str, String, u16, Option<&'static str>)> {
    let deep = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    vec![
        // The reported crash: 3000 nested parentheses (6001 characters).
        ("3000 nested", enc(&deep(3000)), 400, Some("query_too_long")),
        // Within the length limit but nested past the depth limit.
        ("9 nested", enc(&deep(9)), 400, Some("query_too_deep")),
        ("400 nested", enc(&deep(400)), 400, Some("query_too_deep")),
        ("8 nested", enc(&deep(8)), 200, None),
        // Unbalanced parentheses are ordinary characters, however many.
        (
            "900 unbalanced (",
            enc(&format!("{}cariste", "(".repeat(900))),
            200,
            None,
        ),
        ("')(' mess", enc(")))cariste((( )( )"), 200, None),
        // Too many words; a whole megabyte.
        (
            "65 words",
            enc(&vec!["cariste"; 65].join(" ")),
            400,
            Some("query_too_many_terms"),
        ),
        (
            "300 one-letter words",
            enc(&vec!["z"; 300].join(" ")),
            400,
            Some("query_too_many_terms"),
        ),
        (
            "1001 characters",
            enc(&"x".repeat(1001)),
            400,
            Some("query_too_long"),
        ),
        // NUL and control characters, invalid UTF-8 in percent-encoding.
        (
            "NUL and controls",
            "cariste%00%01%1B%7F%0Acaces".into(),
            200,
            None,
        ),
        ("invalid UTF-8", "%FF%FE%C3%28cariste%80".into(), 200, None),
        ("broken percent", "%ZZcariste%".into(), 200, None),
        // Lone quotes and operators.
        ("lone quote", enc("\"service en salle"), 200, None),
        ("only quotes", enc(&"\"".repeat(999)), 200, None),
        ("star alone", enc("*"), 200, None),
        ("minus alone", enc("-"), 200, None),
        ("operators only", enc("AND OR NOT ET OU SAUF"), 200, None),
        ("dangling operators", enc("cariste AND"), 200, None),
        ("short prefix", enc("a*"), 200, None),
        ("prefix", enc("ca*"), 200, None),
        ("many dashes", enc(&"-".repeat(1000)), 200, None),
        // Scripts and marks.
        ("emoji", enc("🚜👷‍♀️ cariste 🏗️"), 200, None),
        (
            "RTL marks",
            enc("\u{202E}cariste\u{202C} \u{200F}caces"),
            200,
            None,
        ),
        ("zero-width", enc("cari\u{200B}ste\u{FEFF}"), 200, None),
        ("arabic", enc("سائق شاحنة"), 200, None),
        ("very long word", enc(&"a".repeat(1000)), 200, None),
        (
            "mixed syntax",
            enc("cari* OR \"\" OR () OR -\"\" (H/F) agent(e) R489:3 vendeur/vendeuse"),
            200,
            None,
        ),
    ]
}

/// The two search endpoints and who may call them.
fn endpoints<'a>(employer: &'a str, counsellor: &'a str) -> [(&'a str, &'static str); 2] {
    [
        (employer, "/api/v1/offers/search"),
        (counsellor, "/api/v1/candidates/search"),
    ]
}

async fn seed(node: &TestNode, counsellor: &str, employer: &str) {
    let (st, v) = node
        .post(
            counsellor,
            "/api/v1/candidates",
            &json!({
                "first_name": "Alice",
                "last_name": "Martin",
                "commune_insee": "41018",
                "rome_codes": ["N1101"],
                "job_titles": ["Cariste"],
                "cv_text": "Cariste, CACES R489 catégorie 3.",
                "consent_scope": "local",
            }),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = node
        .post(
            employer,
            "/api/v1/offers",
            &json!({
                "title": "Cariste H/F",
                "description": "Conduite de chariot élévateur, CACES 3.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "employer": {"name": "Logistique Val de Loire"},
                "workplaces": [{"commune_insee": "41018", "positions": 1}]
            }),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    node.sync_index().await;
}

/// A node with a counsellor, an employer, a candidate and an offer.
async fn seeded(backend: &crate::support::Backend) -> (TestNode, String, String) {
    let node = start_node(backend).await;
    let counsellor = node.user(Role::Counsellor, "c@mission.fr").await;
    let employer = node.user(Role::Employer, "rh@logistique.fr").await;
    seed(&node, &counsellor, &employer).await;
    (node, counsellor, employer)
}

fn problem_code(v: &Value) -> String {
    v["type"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("urn:vivier:problem:")
        .to_string()
}

#[tokio::test]
async fn hostile_search_texts_get_clear_answers() {
    for backend in backends() {
        let (node, counsellor, employer) = seeded(&backend).await;
        let before = node.snapshot().await;
        for (name, value, status, code) in cases() {
            for (token, path) in endpoints(&employer, &counsellor) {
                let (st, v) = node.get(token, &format!("{path}?q={value}")).await;
                assert_eq!(st, status, "{}: {name} on {path}: {v}", backend.name());
                match code {
                    Some(code) => {
                        assert_eq!(problem_code(&v), code, "{name}: {v}");
                        assert_eq!(v["errors"][0]["field"], "q", "{name}: {v}");
                        assert!(!v["errors"][0]["message"].as_str().unwrap().is_empty());
                    }
                    None => assert!(v["total"].is_u64(), "{name} on {path}: {v}"),
                }
            }
        }
        node.assert_alive_and_unchanged(&before).await;

        // Meaningful hostile texts still find what they contain.
        for value in [
            enc("\u{202E}cariste\u{202C}"),
            "cariste%00%01".into(),
            enc("cari\u{200B}ste"),
            enc("🚜 cariste"),
            enc(&format!("{}cariste", "(".repeat(900))),
        ] {
            for (token, path) in endpoints(&employer, &counsellor) {
                let (st, v) = node.get(token, &format!("{path}?q={value}")).await;
                assert_eq!(st, 200, "{value}: {v}");
                assert_eq!(v["total"], 1, "{value} on {path}: {v}");
            }
        }
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// The status line's code of a raw HTTP/1.1 GET (the client library
/// refuses to build URIs this long, so the request is written by hand).
async fn raw_get_status(node: &TestNode, target: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = node.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    // The server may answer and close before reading everything.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| {
        panic!(
            "no HTTP answer: {:?}",
            text.chars().take(200).collect::<String>()
        )
    })
}

/// A megabyte of search text is refused by the HTTP layer before any
/// handler sees it: the request head is larger than hyper buffers (431
/// Request Header Fields Too Large), so nothing is parsed or allocated for it.
#[tokio::test]
async fn a_megabyte_of_search_text() {
    for backend in backends() {
        let (node, counsellor, employer) = seeded(&backend).await;
        let before = node.snapshot().await;
        let mega = "a".repeat(1 << 20);
        for (token, path) in endpoints(&employer, &counsellor) {
            let status = raw_get_status(&node, &format!("{path}?q={mega}"), token).await;
            assert_eq!(status, 431, "{path}");
        }
        // Just under the URI limit: the handler refuses the text itself.
        let long = "a".repeat(60_000);
        let (st, v) = node
            .get(&counsellor, &format!("/api/v1/candidates/search?q={long}"))
            .await;
        assert_eq!(st, 400);
        assert_eq!(problem_code(&v), "query_too_long");
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// The web search form: the same texts, answered with a French message in
/// the page (never a crash, never an English engine error).
#[tokio::test]
async fn hostile_texts_in_the_web_search_form() {
    for backend in backends() {
        let (node, _, _) = seeded(&backend).await;
        let cookie = node.ui_cookie("c@mission.fr").await;
        let before = node.snapshot().await;
        for (name, value, status, code) in cases() {
            let (status_code, body) = node
                .ui_get(&cookie, &format!("/ui/candidats?texte={value}"))
                .await;
            // The page is always served; a refused text is explained.
            assert_eq!(status_code, 200, "{name}");
            match (status, code) {
                (400, Some("query_too_long")) => {
                    assert!(body.contains("Recherche trop longue"), "{name}")
                }
                (400, Some("query_too_many_terms")) => {
                    assert!(body.contains("mots au plus"), "{name}")
                }
                (400, Some("query_too_deep")) => {
                    assert!(body.contains("Trop de parenthèses imbriquées"), "{name}")
                }
                _ => assert!(body.contains("candidat"), "{name}"),
            }
            assert!(!body.contains("Syntax Error"), "{name}");
        }
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// A parameter given twice is refused, never one value silently kept
/// (`?q=cariste&q=magasinier` searched « magasinier » only); `rome` takes
/// several. A radius that is no number is of the wrong type, one past the
/// bounds out of range.
#[tokio::test]
async fn repeated_parameters_are_refused_by_name() {
    let backend = backends().remove(0);
    let (node, counsellor, _) = seeded(&backend).await;
    let path = "/api/v1/candidates/search";
    for (query, field) in [
        ("q=cariste&q=magasinier", "q"),
        ("commune=41018&commune=37261", "commune"),
        ("status=active&status=archived", "status"),
        ("page=1&page=2", "page"),
        ("per_page=5&per_page=10", "per_page"),
    ] {
        let (st, v) = node.get(&counsellor, &format!("{path}?{query}")).await;
        assert_eq!(st, 400, "{query}: {v}");
        let errs = v["errors"].as_array().expect("errors");
        assert!(
            errs.iter()
                .any(|e| e["field"] == field && e["code"] == "duplicate"),
            "{query}: {v}"
        );
    }
    let (st, v) = node
        .get(&counsellor, &format!("{path}?rome=N1101&rome=N1103"))
        .await;
    assert_eq!(st, 200, "{v}");
    for (radius, code) in [("abc", "invalid_type"), ("5000", "out_of_range")] {
        let (st, v) = node
            .get(
                &counsellor,
                &format!("{path}?commune=41018&radius_km={radius}"),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["errors"][0]["code"], code, "{radius}: {v}");
    }
    node.stop().await;
}
