//! Network search at one real node over HTTP, on both engines: who may ask
//! it (unsigned, unknown and revoked members get nothing, a member may not
//! ask in another's name), the per-member answer quota, the minimum
//! specificity on both sides, the users' quotas, and a search being its
//! author's alone. Stable codes throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::*;
use serde_json::{json, Value};
use vivier_node::auth::Role;
use vivier_protocol::{
    KeyId, MemberStatus, NodeId, SigningKeyPair, NETWORK_INTEREST_PATH, NETWORK_SEARCH_PATH,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn key() -> SigningKeyPair {
    SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap())
}

fn query(origin: &str, id: &str, radius: i64) -> Value {
    json!({
        "query_id": id,
        "origin_node": origin,
        "rome_codes": ["N1101"],
        "places": [{"commune_insee": "41018", "radius_km": radius}],
        "created_at": now(),
        "deadline_at": now() + 60_000,
    })
}

/// POST `body` to `path`, signed by `signer` with `key` (or unsigned).
async fn signed_post(
    node: &TestNode,
    path: &str,
    signer: Option<(&str, &SigningKeyPair)>,
    body: &Value,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut req = node
        .client
        .post(node.url(path))
        .header("content-type", "application/json");
    if let Some((id, k)) = signer {
        let headers = vivier_protocol::sign_request(
            "POST",
            path,
            &node.state.identity.node_id,
            &bytes,
            &NodeId::parse(id).unwrap(),
            k,
            now() / 1000,
        );
        for (h, v) in headers.pairs() {
            req = req.header(h, v);
        }
    }
    let r = req.body(bytes).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn network_candidate(first: &str) -> Value {
    let mut c = candidate_body(first);
    c["consent_scope"] = json!("network");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_active_members_get_an_answer_within_their_quota() {
    for backend in backends() {
        let operator = key();
        let node = start_node_with(&backend, |c| {
            federated("node-b", &operator)(c);
            c.network_search.answers_per_member_per_hour = 2;
        })
        .await;
        let (member, revoked, stranger) = (key(), key(), key());
        let mut gone = member_entry("ml-tours", "http://127.0.0.1:9", &revoked);
        gone.status = MemberStatus::Revoked {
            reason: "a quitté le réseau".into(),
            at: now() - 1000,
        };
        publish_membership(
            &operator,
            &[&node],
            vec![
                member_of(&node),
                member_entry("cd41", "http://127.0.0.1:9", &member),
                gone,
            ],
        )
        .await;
        let counsellor = node.user(Role::Counsellor, "conseil@b.fr").await;
        let (s, v) = node
            .post(
                &counsellor,
                "/api/v1/candidates",
                &network_candidate("Karim"),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let karim = v["id"].as_str().unwrap().to_string();
        let (s, v) = node
            .put(
                &counsellor,
                &format!("/api/v1/candidates/{karim}/network-summary"),
                &json!({"summary": "Cariste, CACES 3."}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = node
            .post(&counsellor, "/api/v1/candidates", &candidate_body("Louise"))
            .await;
        assert_eq!(s, 201, "{v}");
        node.sync_index().await;

        let q = query("cd41", "q-1", 30);
        let refused = [
            (None, 401, "missing_signature"),
            (Some(("cd99", &stranger)), 401, "unknown_sender"),
            (Some(("ml-tours", &revoked)), 401, "sender_not_active"),
            // A real member's key under another member's name.
            (Some(("ml-tours", &member)), 401, "sender_not_active"),
        ];
        for (signer, status, code) in refused {
            let (s, v) = signed_post(&node, NETWORK_SEARCH_PATH, signer, &q).await;
            assert_eq!(
                (s, v["code"].as_str()),
                (status, Some(code)),
                "{}: {v}",
                backend.name()
            );
            assert!(v.get("results").is_none(), "{v}");
        }
        // A member asking in another's name.
        let (s, v) = signed_post(
            &node,
            NETWORK_SEARCH_PATH,
            Some(("cd41", &member)),
            &query("ml-tours", "q-x", 30),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (403, Some("origin_mismatch")),
            "{v}"
        );
        // Not specific enough: a radius over the node's limit, no ROME code.
        let (s, v) = signed_post(
            &node,
            NETWORK_SEARCH_PATH,
            Some(("cd41", &member)),
            &query("cd41", "q-2", 80),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("radius_too_large")),
            "{v}"
        );
        let mut vague = query("cd41", "q-3", 30);
        vague["rome_codes"] = json!([]);
        let (s, v) = signed_post(&node, NETWORK_SEARCH_PATH, Some(("cd41", &member)), &vague).await;
        assert_eq!(s, 400, "{v}");

        // The active member gets the network-consent candidate only.
        let (s, v) = signed_post(&node, NETWORK_SEARCH_PATH, Some(("cd41", &member)), &q).await;
        assert_eq!(s, 200, "{}: {v}", backend.name());
        assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["results"][0]["summary"], "Cariste, CACES 3.", "{v}");
        assert_eq!(
            v["place_counts"],
            json!([{"place_index": 0, "count": 1}]),
            "{v}"
        );
        let text = v.to_string();
        assert!(
            !text.contains("Karim") && !text.contains("Martin"),
            "{text}"
        );
        // The same query id twice is refused.
        let (s, v) = signed_post(&node, NETWORK_SEARCH_PATH, Some(("cd41", &member)), &q).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (409, Some("duplicate_query")),
            "{v}"
        );
        // An interest naming a pseudonym never given to this member.
        let interest = json!({
            "interest_id": "i-1", "query_id": "q-1", "origin_node": "cd41",
            "pseudonym": "A".repeat(43), "asker_label": "Logivia", "message": "Bonjour"
        });
        let (s, v) = signed_post(
            &node,
            NETWORK_INTEREST_PATH,
            Some(("cd41", &member)),
            &interest,
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (404, Some("unknown_pseudonym")),
            "{v}"
        );
        let (s, v) = signed_post(&node, NETWORK_INTEREST_PATH, None, &interest).await;
        assert_eq!(s, 401, "{v}");

        // Quota: 2 answers per hour for one member (q-1 and q-4).
        for id in ["q-4", "q-5"] {
            let (s, v) = signed_post(
                &node,
                NETWORK_SEARCH_PATH,
                Some(("cd41", &member)),
                &query("cd41", id, 30),
            )
            .await;
            assert_eq!(s, if id == "q-4" { 200 } else { 429 }, "{id}: {v}");
            if s == 429 {
                assert_eq!(v["code"], "member_quota_exceeded", "{v}");
            }
        }
        // Every answer is in the audit log, with whom each pseudonym stands for.
        let answered: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'network_search.answer'",
        )
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(answered, 2, "{}", backend.name());
        // Erasure (RGPD) leaves nothing of the person in the network
        // search's tables.
        let rows = |table: &'static str| {
            let db = node.state.db.pool.clone();
            let karim = karim.clone();
            async move {
                sqlx::query_scalar::<_, i64>(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE candidate_id = $1"
                ))
                .bind(karim)
                .fetch_one(&db)
                .await
                .unwrap()
            }
        };
        assert_eq!(rows("network_pseudonyms").await, 2);
        assert_eq!(rows("candidate_network_summaries").await, 1);
        let (s, _) = node
            .delete(&counsellor, &format!("/api/v1/candidates/{karim}"))
            .await;
        assert_eq!(s, 204);
        assert_eq!(rows("network_pseudonyms").await, 0);
        assert_eq!(rows("candidate_network_summaries").await, 0);
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_need_specificity_and_stay_within_quotas() {
    for backend in backends() {
        let operator = key();
        let node = start_node_with(&backend, |c| {
            federated("node-a", &operator)(c);
            c.network_search.per_user_per_hour = 2;
            c.network_search.per_node_per_hour = 3;
            c.network_search.deadline_ms = 500;
        })
        .await;
        // One other member, down (nothing listens on the discard port).
        publish_membership(
            &operator,
            &[&node],
            vec![
                member_of(&node),
                member_entry("cd41", "http://127.0.0.1:9", &key()),
            ],
        )
        .await;
        let employer = node.user(Role::Employer, "rh@a.fr").await;
        let other = node.user(Role::Counsellor, "conseil@a.fr").await;
        let place = json!([{"commune_insee": "41018", "radius_km": 20}]);
        let cases = [
            (json!({"places": place}), "query_not_specific", "rome_codes"),
            (
                json!({"rome_codes": ["N1101"]}),
                "query_not_specific",
                "places",
            ),
            (
                json!({"rome_codes": ["N1101"], "places": [{"commune_insee": "41018", "radius_km": 400}]}),
                "radius_too_large",
                "places[0].radius_km",
            ),
            (
                json!({"rome_codes": ["Z9999"], "places": place}),
                "validation",
                "rome_codes[0]",
            ),
            (
                json!({"rome_codes": ["N1101"], "places": [{"commune_insee": "00000", "radius_km": 10}]}),
                "validation",
                "places[0].commune_insee",
            ),
        ];
        for (body, code, field) in cases {
            let (s, v) = node
                .post(&employer, "/api/v1/network-searches", &body)
                .await;
            assert_eq!((s, v["code"].as_str()), (400, Some(code)), "{body}: {v}");
            assert!(v.to_string().contains(field), "{field}: {v}");
        }
        let good = json!({"rome_codes": ["N1101"], "places": place});
        let mut first = None;
        for _ in 0..2 {
            let (s, v) = node
                .post(&employer, "/api/v1/network-searches", &good)
                .await;
            assert_eq!(s, 200, "{}: {v}", backend.name());
            assert_eq!(v["members_asked"], 1, "{v}");
            assert_eq!(v["members_answered"], 0, "{v}");
            first.get_or_insert(v["id"].as_str().unwrap().to_string());
        }
        let (s, v) = node
            .post(&employer, "/api/v1/network-searches", &good)
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (429, Some("user_quota_exceeded")),
            "{v}"
        );
        let (s, v) = node.post(&other, "/api/v1/network-searches", &good).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = node.post(&other, "/api/v1/network-searches", &good).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (429, Some("node_quota_exceeded")),
            "{v}"
        );
        // A search is its author's alone; nobody signed out sees anything.
        let first = first.unwrap();
        let (s, _) = node
            .get(&other, &format!("/api/v1/network-searches/{first}"))
            .await;
        assert_eq!(s, 404);
        let (s, v) = node
            .get(&employer, &format!("/api/v1/network-searches/{first}"))
            .await;
        assert_eq!(s, 200, "{v}");
        let r = node
            .client
            .post(node.url("/api/v1/network-searches"))
            .json(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        node.stop().await;
    }
}

/// The pages, on both engines: an employer at A searches from the form,
/// reads the cards (distance band, availability, no name), marks one
/// « Intéressé »; B's counsellor sees it in « À faire » and on « Intérêts
/// du réseau » and answers « Non disponible »; A's card then says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_take_a_search_from_the_form_to_the_answer() {
    for backend in backends() {
        let operator = key();
        let a = start_node_with(&backend, federated("node-a", &operator)).await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
        a.user(Role::Employer, "rh@a.fr").await;
        let counsellor = b.user(Role::Counsellor, "conseil@b.fr").await;
        let mut body = network_candidate("Karim");
        body["available_from"] = json!("2026-01-15");
        body["max_travel_km"] = json!(40);
        let (s, v) = b.post(&counsellor, "/api/v1/candidates", &body).await;
        assert_eq!(s, 201, "{v}");
        b.sync_index().await;
        let emp = a.ui_cookie("rh@a.fr").await;

        let form = get(&a, Some(&emp), "/ui/reseau").await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(
            form.body.contains("Rechercher dans le réseau"),
            "{}",
            form.body
        );
        // Not specific enough: said in French, nothing asked.
        let vague = post(
            &a,
            Some(&emp),
            "/ui/reseau",
            &[("metier", "N1101"), ("rayon", "20")],
        )
        .await;
        assert_eq!(vague.status, 200);
        assert!(vague.body.contains("au moins un métier"), "{}", vague.body);
        let asked = post(
            &a,
            Some(&emp),
            "/ui/reseau",
            &[
                ("metier", "N1101"),
                ("commune", "Blois"),
                ("rayon", "20"),
                ("contrat", "CDI"),
            ],
        )
        .await;
        assert_eq!(asked.status, 303, "{}", asked.body);
        let at = asked.location.unwrap();
        let results = get(&a, Some(&emp), &at).await;
        assert_eq!(results.status, 200);
        assert!(
            results.body.contains("1 membre sur 1 a répondu"),
            "{}",
            results.body
        );
        assert!(
            results.body.contains("à moins de 10 km de Blois"),
            "{}",
            results.body
        );
        assert!(
            results.body.contains("15&#x2f;01&#x2f;2026"),
            "{}",
            results.body
        );
        assert!(!results.body.contains("Karim") && !results.body.contains("Martin"));
        let pseudonym = results
            .body
            .split("name=\"pseudonyme\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let marked = post(
            &a,
            Some(&emp),
            &format!("{at}/interet"),
            &[
                ("membre", "node-b"),
                ("pseudonyme", &pseudonym),
                ("message", "Poste de cariste en CDI."),
            ],
        )
        .await;
        assert_eq!(marked.status, 303, "{}", marked.body);
        assert!(get(&a, Some(&emp), &at)
            .await
            .body
            .contains("Intérêt transmis"));

        let staff = b.ui_cookie("conseil@b.fr").await;
        let board = get(&b, Some(&staff), "/ui/").await;
        assert!(
            board.body.contains("Intérêts du réseau à traiter"),
            "{}",
            board.body
        );
        let list = get(&b, Some(&staff), "/ui/reseau/interets").await;
        assert_eq!(list.status, 200);
        assert!(
            list.body.contains("Karim Martin") && list.body.contains("Poste de cariste"),
            "{}",
            list.body
        );
        let id = list
            .body
            .split("/ui/reseau/interets/")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap()
            .to_string();
        let declined = post(
            &b,
            Some(&staff),
            &format!("/ui/reseau/interets/{id}/decliner"),
            &[],
        )
        .await;
        assert_eq!(declined.status, 303, "{}", declined.body);
        assert!(get(&a, Some(&emp), &at)
            .await
            .body
            .contains("Non disponible"));
        // An employer has no « Intérêts du réseau » page.
        assert_eq!(get(&a, Some(&emp), "/ui/reseau/interets").await.status, 403);
        a.stop().await;
        b.stop().await;
    }
}

/// A member that answers its network query once `release` is notified
/// (a raw HTTP server echoing the query id with one pseudonymous result);
/// anything else it is asked (catch-up) gets a 404.
async fn slow_member(release: std::sync::Arc<tokio::sync::Notify>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_slowly(sock, release.clone()));
        }
    });
    url
}

async fn serve_slowly(
    mut sock: tokio::net::TcpStream,
    release: std::sync::Arc<tokio::sync::Notify>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break (
                    text[..end].to_string(),
                    buf[end + 4..end + 4 + len].to_vec(),
                );
            }
        }
    };
    let answer = if head.starts_with(&format!("POST {NETWORK_SEARCH_PATH} ")) {
        let q: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        release.notified().await;
        json!({
            "query_id": q["query_id"], "node_id": "cd41", "truncated": false,
            "place_counts": [{"place_index": 0, "count": 1}],
            "results": [{"pseudonym": "B".repeat(43), "rome_codes": ["N1101"], "place_index": 0,
                         "distance_band": "10-20", "departement": "41", "score": 700}]
        })
        .to_string()
    } else {
        let _ = sock
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
}

/// A member slower than the deadline: the search answers without it
/// (« pending »), and its answer, arriving later, is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_deadline_is_kept() {
    for backend in backends() {
        let operator = key();
        let node = start_node_with(&backend, |c| {
            federated("node-a", &operator)(c);
            c.network_search.deadline_ms = 300;
        })
        .await;
        let release = std::sync::Arc::new(tokio::sync::Notify::new());
        let url = slow_member(release.clone()).await;
        publish_membership(
            &operator,
            &[&node],
            vec![member_of(&node), member_entry("cd41", &url, &key())],
        )
        .await;
        let employer = node.user(Role::Employer, "rh@a.fr").await;
        let body = json!({"rome_codes": ["N1101"],
                          "places": [{"commune_insee": "41018", "radius_km": 20}]});
        let (s, v) = node
            .post(&employer, "/api/v1/network-searches", &body)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["members_answered"], 0, "{v}");
        assert_eq!(v["complete"], false, "{v}");
        assert_eq!(v["nodes"][0]["status"], "pending", "{v}");
        release.notify_one();
        let id = v["id"].as_str().unwrap().to_string();
        let late = eventually(20, || async {
            let (_, v) = node
                .get(&employer, &format!("/api/v1/network-searches/{id}"))
                .await;
            (v["members_answered"] == 1).then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{}: the late answer was not kept", backend.name()));
        assert_eq!(late["complete"], true, "{late}");
        assert_eq!(late["results"].as_array().unwrap().len(), 1, "{late}");
        assert_eq!(late["places"][0]["count"], 1, "{late}");
        node.stop().await;
    }
}

/// The answer to an interest reaches an asker that was unreachable when the
/// counsellor answered: it stays « not told » at the home node and is sent
/// again until the asker acknowledges it (then never again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_reaches_an_asker_that_was_unreachable() {
    for backend in backends() {
        let operator = key();
        let a = start_node_with(&backend, federated("node-a", &operator)).await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let counsellor = b.user(Role::Counsellor, "conseil@b.fr").await;
        let (s, v) = b
            .post(
                &counsellor,
                "/api/v1/candidates",
                &network_candidate("Karim"),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        b.sync_index().await;
        let (s, search) = a
            .post(
                &employer,
                "/api/v1/network-searches",
                &json!({"rome_codes": ["N1101"],
                        "places": [{"commune_insee": "41018", "radius_km": 30}]}),
            )
            .await;
        assert_eq!(s, 200, "{search}");
        let search_id = search["id"].as_str().unwrap().to_string();
        let pseudonym = search["results"][0]["pseudonym"].clone();
        assert!(pseudonym.is_string(), "{search}");
        let (s, v) = a
            .post(
                &employer,
                &format!("/api/v1/network-searches/{search_id}/interests"),
                &json!({"node_id": "node-b", "pseudonym": pseudonym, "message": "Poste de cariste."}),
            )
            .await;
        assert_eq!(s, 201, "{v}");

        // A moves (a restart on another address) before B's counsellor
        // answers: B still knows A's old address, the answer does not arrive.
        let a = a.restart(vivier_node::clock::SystemClock::shared()).await;
        let (_, pending) = b
            .get(&counsellor, "/api/v1/network-interests?status=pending")
            .await;
        let interest = pending["items"][0]["id"].as_str().unwrap().to_string();
        let (s, v) = b
            .post(
                &counsellor,
                &format!("/api/v1/network-interests/{interest}/decline"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let untold: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM network_interests_received WHERE told_at IS NULL",
        )
        .fetch_one(&b.state.db.pool)
        .await
        .unwrap();
        assert_eq!(untold, 1, "{backend:?}: the answer is waiting to be told");
        let sent_status = |a: &TestNode| {
            let pool = a.state.db.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT status FROM network_interests")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(sent_status(&a).await, "pending");

        // The operator publishes A's new address; the retry tells A, once.
        let bytes = membership_bytes_serial(&operator, 2, vec![member_of(&a), member_of(&b)]);
        for n in [&a, &b] {
            let r = push_membership(n, bytes.clone()).await;
            assert_eq!(r.status().as_u16(), 200);
        }
        let tried = vivier_node::netsearch::interest::retell_untold(&b.state)
            .await
            .unwrap();
        assert_eq!(tried, 1);
        assert_eq!(sent_status(&a).await, "declined", "{backend:?}");
        let tried = vivier_node::netsearch::interest::retell_untold(&b.state)
            .await
            .unwrap();
        assert_eq!(tried, 0, "told once, not again");
        a.stop().await;
        b.stop().await;
    }
}

/// Makes every update of the received interests fail at `node` (`on`), or
/// removes that fault (`!on`): a trigger, so that accepting fails after
/// the referral is written in the same transaction.
async fn break_interest_updates(node: &TestNode, backend: &Backend, on: bool) {
    let statements: &[&str] = match (backend, on) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER fail_interest_update BEFORE UPDATE ON network_interests_received \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER fail_interest_update"],
        (Backend::Postgres(_), true) => &[
            "CREATE OR REPLACE FUNCTION fail_interest_update() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_interest_update BEFORE UPDATE ON network_interests_received \
             FOR EACH ROW EXECUTE FUNCTION fail_interest_update()",
        ],
        (Backend::Postgres(_), false) => {
            &["DROP TRIGGER fail_interest_update ON network_interests_received"]
        }
    };
    for sql in statements {
        sqlx::raw_sql(sql)
            .execute(&node.state.db.pool)
            .await
            .expect("fault injection");
    }
}

/// Accepting an interest writes the referral and the interest's status in
/// one transaction: when the second write fails, neither is there (no
/// referral, no outbound message, the person still active, the interest
/// still pending); once it works, both are there together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_an_interest_is_atomic() {
    for backend in backends() {
        let operator = key();
        let a = start_node_with(&backend, federated("node-a", &operator)).await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let counsellor = b.user(Role::Counsellor, "conseil@b.fr").await;
        let (s, offer) = a
            .post(&employer, "/api/v1/offers", &offer_body("Cariste"))
            .await;
        assert_eq!(s, 201, "{offer}");
        let offer_id = offer["offer_id"].as_str().expect("offer id").to_string();
        let received = eventually(60, || async {
            let (s, _) = b
                .get(&counsellor, &format!("/api/v1/offers/{offer_id}"))
                .await;
            (s == 200).then_some(())
        })
        .await;
        assert!(
            received.is_some(),
            "{}: the offer reaches B",
            backend.name()
        );
        let (s, v) = b
            .post(
                &counsellor,
                "/api/v1/candidates",
                &network_candidate("Karim"),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let karim = v["id"].as_str().expect("id").to_string();
        b.sync_index().await;
        let (s, search) = a
            .post(
                &employer,
                "/api/v1/network-searches",
                &json!({"rome_codes": ["N1101"],
                        "places": [{"commune_insee": "41018", "radius_km": 30}]}),
            )
            .await;
        assert_eq!(s, 200, "{search}");
        let search_id = search["id"].as_str().expect("search id").to_string();
        let (s, v) = a
            .post(
                &employer,
                &format!("/api/v1/network-searches/{search_id}/interests"),
                &json!({"node_id": "node-b", "pseudonym": search["results"][0]["pseudonym"],
                        "message": "Poste de cariste.", "offer_id": offer_id}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (_, pending) = b
            .get(&counsellor, "/api/v1/network-interests?status=pending")
            .await;
        let interest = pending["items"][0]["id"]
            .as_str()
            .expect("a pending interest")
            .to_string();
        let accept = format!("/api/v1/network-interests/{interest}/accept");
        let body = json!({"endorsement": "Fiable, CACES 3 à jour."});
        let pool = b.state.db.pool.clone();
        let state_of = || {
            let pool = pool.clone();
            let karim = karim.clone();
            async move {
                let referrals: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM referrals WHERE candidate_id = $1")
                        .bind(&karim)
                        .fetch_one(&pool)
                        .await
                        .expect("referrals");
                // Sent (or being sent) to the asker.
                let messages: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM referrals WHERE candidate_id = $1 AND message_id IS NOT NULL",
                )
                .bind(&karim)
                .fetch_one(&pool)
                .await
                .expect("messages");
                let interest: (String, Option<String>) =
                    sqlx::query_as("SELECT status, referral_id FROM network_interests_received")
                        .fetch_one(&pool)
                        .await
                        .expect("interest");
                let status: String =
                    sqlx::query_scalar("SELECT status FROM candidates WHERE id = $1")
                        .bind(&karim)
                        .fetch_one(&pool)
                        .await
                        .expect("candidate");
                (referrals, messages, interest, status)
            }
        };

        break_interest_updates(&b, &backend, true).await;
        let (s, v) = b.post(&counsellor, &accept, &body).await;
        assert_eq!(s, 500, "{}: {v}", backend.name());
        assert_eq!(
            state_of().await,
            (0, 0, ("pending".to_string(), None), "active".to_string()),
            "{}: a failed accept leaves neither the referral nor the status",
            backend.name()
        );
        let queued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'referral.submitted'")
                .fetch_one(&b.state.db.pool)
                .await
                .expect("outbox");
        assert_eq!(queued, 0, "{}: nothing sent", backend.name());

        break_interest_updates(&b, &backend, false).await;
        let (s, v) = b.post(&counsellor, &accept, &body).await;
        assert_eq!(s, 200, "{}: {v}", backend.name());
        let referral = v["referral_id"].as_str().expect("referral id").to_string();
        assert_eq!(
            state_of().await,
            (
                1,
                1,
                ("accepted".to_string(), Some(referral)),
                "in_referral".to_string()
            ),
            "{}",
            backend.name()
        );
        a.stop().await;
        b.stop().await;
    }
}

/// The operator's limits in the membership document apply at the
/// answering node over its own, more generous settings: a per-member
/// quota of 2 refuses the third query with `member_quota_exceeded`, and a
/// largest radius of 20 km refuses 30 km. Then a document without limits
/// gives the node's own settings back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_document_sets_the_limits() {
    for backend in backends() {
        let operator = key();
        let node = start_node_with(&backend, federated("node-b", &operator)).await;
        assert_eq!(
            node.state.config.network_search.answers_per_member_per_hour, 600,
            "the node's own quota is higher"
        );
        let member = key();
        let members = vec![
            member_of(&node),
            member_entry("cd41", "http://127.0.0.1:9", &member),
        ];
        let document = |serial: i64, limits: Option<vivier_protocol::NetworkSearchLimits>| {
            let at = now();
            let doc = vivier_protocol::MembershipDocument {
                network_id: "test".into(),
                serial,
                issued_at: at,
                expires_at: at + 86_400_000,
                operator_keys: vec![vivier_protocol::OperatorKey {
                    key_id: operator.key_id().clone(),
                    public_key: operator.public_key(),
                }],
                threshold: 1,
                members: members.clone(),
                network_search: limits,
            };
            vivier_protocol::SignedMembershipDocument::sign(doc, &[&operator])
                .expect("signed")
                .to_bytes()
                .expect("bytes")
        };
        let limits = vivier_protocol::NetworkSearchLimits {
            answers_per_member_per_hour: Some(2),
            max_radius_km: Some(20),
            ..Default::default()
        };
        let r = push_membership(&node, document(1, Some(limits))).await;
        assert_eq!(r.status().as_u16(), 200, "{}", backend.name());
        let ask = |id: &'static str, radius: i64| {
            let node = &node;
            let member = &member;
            async move {
                signed_post(
                    node,
                    NETWORK_SEARCH_PATH,
                    Some(("cd41", member)),
                    &query("cd41", id, radius),
                )
                .await
            }
        };
        let (s, v) = ask("q-wide", 30).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("radius_too_large")),
            "{}: {v}",
            backend.name()
        );
        for id in ["q-1", "q-2"] {
            let (s, v) = ask(id, 20).await;
            assert_eq!(s, 200, "{}: {id}: {v}", backend.name());
        }
        let (s, v) = ask("q-3", 20).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (429, Some("member_quota_exceeded")),
            "{}: {v}",
            backend.name()
        );
        // Without limits in the document, the node's settings apply again.
        let r = push_membership(&node, document(2, None)).await;
        assert_eq!(r.status().as_u16(), 200);
        let (s, v) = ask("q-4", 30).await;
        assert_eq!(s, 200, "{}: {v}", backend.name());
        node.stop().await;
    }
}
