//! Hostile input against the HTTP frame and the API's parameters (issue 10):
//! out-of-range paging and limits, body ceilings per route, concurrency and
//! deadlines, slow clients, connection floods, record take-over through an
//! update, echoed sensitive values, markup in the JobPosting export. Each
//! case asserts the exact answer and that the node still serves with
//! nothing stored changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{backends, eventually, start_node, start_node_with, TestNode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vivier_node::auth::Role;

fn candidate(first: &str) -> Value {
    crate::support::candidate_body(first)
}

fn offer() -> Value {
    crate::support::offer_body("Cariste H/F")
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn me(node: &TestNode, token: &str) -> String {
    let (st, v) = node.get(token, "/api/v1/me").await;
    assert_eq!(st, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// Every list, search and look-up refuses an out-of-range or malformed
/// parameter with a 400 naming it (never wraps, clamps or answers 500).
#[tokio::test]
async fn out_of_range_parameters_are_refused_by_name() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let (st, c) = node
            .post(&admin, "/api/v1/candidates", &candidate("Léa"))
            .await;
        assert_eq!(st, 201, "{c}");
        let cid = c["id"].as_str().unwrap().to_string();
        let (st, o) = node.post(&admin, "/api/v1/offers", &offer()).await;
        assert_eq!(st, 201, "{o}");
        let oid = o["offer_id"].as_str().unwrap().to_string();
        let before = node.snapshot().await;
        let cases: Vec<(String, &str)> = vec![
            ("/api/v1/candidates?page=9223372036854775807".into(), "page"),
            ("/api/v1/candidates?page=9223372036854775808".into(), "page"),
            ("/api/v1/candidates?page=0".into(), "page"),
            ("/api/v1/candidates?page=-1".into(), "page"),
            ("/api/v1/candidates?per_page=0".into(), "per_page"),
            ("/api/v1/candidates?per_page=100000".into(), "per_page"),
            ("/api/v1/candidates?page=abc".into(), "page"),
            ("/api/v1/candidates?mine=peut-etre".into(), "mine"),
            ("/api/v1/candidates?colonne=1".into(), "colonne"),
            ("/api/v1/offers?per_page=0".into(), "per_page"),
            (
                "/api/v1/offers?per_page=9223372036854775807".into(),
                "per_page",
            ),
            ("/api/v1/offers?page=-5".into(), "page"),
            ("/api/v1/offers?page=9223372036854775807".into(), "page"),
            ("/api/v1/offers?limit=10".into(), "limit"),
            ("/api/v1/offers?offset=10".into(), "offset"),
            ("/api/v1/offers/search?per_page=100000".into(), "per_page"),
            (
                "/api/v1/offers/search?page=18446744073709551615".into(),
                "page",
            ),
            (
                "/api/v1/offers/search?page=18446744073709551616".into(),
                "page",
            ),
            ("/api/v1/offers/search?limit=5".into(), "limit"),
            (
                "/api/v1/offers/search?commune=41018&radius_km=NaN".into(),
                "radius_km",
            ),
            (
                "/api/v1/offers/search?commune=41018&radius_km=-3".into(),
                "radius_km",
            ),
            (
                "/api/v1/offers/search?commune=41018&radius_km=1e308".into(),
                "radius_km",
            ),
            ("/api/v1/referrals?per_page=-1".into(), "per_page"),
            ("/api/v1/referrals?page=-1".into(), "page"),
            ("/api/v1/audit?per_page=0".into(), "per_page"),
            ("/api/v1/audit?per_page=1000000".into(), "per_page"),
            ("/api/v1/users?page=0".into(), "page"),
            ("/api/v1/notifications?per_page=201".into(), "per_page"),
            ("/api/v1/federation/dead-letters?page=x".into(), "page"),
            ("/api/v1/audit?after=-1".into(), "after"),
            (format!("/api/v1/offers/{oid}/matches?limit=0"), "limit"),
            (
                format!("/api/v1/offers/{oid}/matches?limit=100000"),
                "limit",
            ),
            (format!("/api/v1/offers/{oid}/matches?limit=-1"), "limit"),
            (
                format!("/api/v1/candidates/{cid}/matches?limit=201"),
                "limit",
            ),
            ("/api/v1/communes?q=blois&limit=0".into(), "limit"),
            ("/api/v1/communes?q=blois&limit=51".into(), "limit"),
            (
                "/api/v1/rome?q=cariste&limit=99999999999999999999".into(),
                "limit",
            ),
        ];
        for (path, field) in &cases {
            let (st, v) = node.get(&admin, path).await;
            assert_eq!(st, 400, "{backend:?} {path}: {v}");
            assert_eq!(v["type"], "urn:vivier:problem:validation", "{path}: {v}");
            assert!(
                fields(&v).iter().any(|f| f == field),
                "{path}: expected the error to name {field}: {v}"
            );
        }
        // In-range values still work.
        let (st, v) = node
            .get(&admin, "/api/v1/candidates?page=1&per_page=200")
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["items"].as_array().unwrap().len(), 1);
        let (st, v) = node.get(&admin, "/api/v1/offers?page=1&per_page=200").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            (v["total"].as_i64(), v["page"].as_i64()),
            (Some(1), Some(1))
        );
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// A counsellor who is not assigned cannot take a record over through an
/// update (nor read its sensitive fields); reassignment is an explicit,
/// audited action of the admin or of the assigned counsellor.
#[tokio::test]
async fn reassignment_is_never_a_side_effect_of_an_update() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let alice = node.user(Role::Counsellor, "alice@mission.fr").await;
        let bob = node.user(Role::Counsellor, "bob@mission.fr").await;
        let alice_id = me(&node, &alice).await;
        let bob_id = me(&node, &bob).await;
        let mut body = candidate("Nadia");
        body["sensitive"] = json!({
            "rsa_beneficiary": true,
            "disability_recognition": true,
            "health_notes": "suivi médical",
            "social_barriers": ["garde d'enfants"],
            "nir": "284127512345678"
        });
        let (st, c) = node.post(&alice, "/api/v1/candidates", &body).await;
        assert_eq!(st, 201, "{c}");
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(c["counsellor_id"], alice_id.as_str());
        assert_eq!(c["sensitive"]["rsa_beneficiary"], true);
        let before = node.snapshot().await;

        // Bob tries to take the record over with an update.
        let mut takeover = candidate("Nadia");
        takeover["counsellor_id"] = json!(bob_id);
        let (st, v) = node
            .put(&bob, &format!("/api/v1/candidates/{id}"), &takeover)
            .await;
        assert_eq!(st, 403, "{v}");
        assert!(v.get("sensitive").is_none(), "{v}");
        let txt = v.to_string();
        assert!(!txt.contains("284127512345678") && !txt.contains("suivi"));
        // Nothing changed, and Bob still cannot read the sensitive fields.
        node.assert_alive_and_unchanged(&before).await;
        let (st, v) = node.get(&bob, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 200);
        assert!(v.get("sensitive").is_none(), "{v}");
        assert_eq!(v["counsellor_id"], alice_id.as_str());
        // Bob's other edits work, without sensitive fields in the answer.
        let mut edit = candidate("Nadia");
        edit["phone"] = json!("06 12 34 56 78");
        let (st, v) = node
            .put(&bob, &format!("/api/v1/candidates/{id}"), &edit)
            .await;
        assert_eq!(st, 200, "{v}");
        assert!(v.get("sensitive").is_none(), "{v}");
        // Bob cannot reassign through the explicit action either.
        let (st, _) = node
            .post(
                &bob,
                &format!("/api/v1/candidates/{id}/counsellor"),
                &json!({"counsellor_id": bob_id}),
            )
            .await;
        assert_eq!(st, 403);
        // The admin is told to use the explicit action rather than an update.
        let (st, v) = node
            .put(&admin, &format!("/api/v1/candidates/{id}"), &takeover)
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(fields(&v), vec!["counsellor_id".to_string()]);
        // Alice hands the record over to Bob: audited, and Bob now sees it all.
        let (st, v) = node
            .post(
                &alice,
                &format!("/api/v1/candidates/{id}/counsellor"),
                &json!({"counsellor_id": bob_id}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["counsellor_id"], bob_id.as_str());
        let (_, v) = node.get(&bob, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(v["sensitive"]["nir"], "284127512345678");
        let (_, v) = node.get(&alice, &format!("/api/v1/candidates/{id}")).await;
        assert!(v.get("sensitive").is_none(), "{v}");
        // Reassigning to an employer account or a stranger is refused.
        let employer = node.user(Role::Employer, "rh@entreprise.fr").await;
        let employer_id = me(&node, &employer).await;
        for (to, field) in [
            (employer_id.as_str(), "counsellor_id"),
            ("nobody", "counsellor_id"),
        ] {
            let (st, v) = node
                .post(
                    &admin,
                    &format!("/api/v1/candidates/{id}/counsellor"),
                    &json!({"counsellor_id": to}),
                )
                .await;
            assert_eq!(st, 400, "{v}");
            assert_eq!(fields(&v), vec![field.to_string()]);
        }
        // The audit names the hand-over and the fields an update changed.
        let (_, entries) = node
            .get(
                &admin,
                &format!("/api/v1/audit?target_id={id}&per_page=200"),
            )
            .await;
        let entries = entries["items"].as_array().unwrap();
        let reassign = entries
            .iter()
            .find(|e| e["action"] == "candidate.reassign")
            .expect("reassign audited");
        assert_eq!(reassign["details"]["from"], alice_id.as_str());
        assert_eq!(reassign["details"]["to"], bob_id.as_str());
        let update = entries
            .iter()
            .find(|e| e["action"] == "candidate.update")
            .expect("update audited");
        assert_eq!(update["details"]["fields"], json!(["phone"]));
        node.stop().await;
    }
}

/// A malformed sensitive field is refused without echoing what was sent.
#[tokio::test]
async fn sensitive_values_are_never_echoed_in_errors() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let before = node.snapshot().await;
        for sensitive in [
            json!({"nir": 2841275123456789_i64}),
            json!({"rsa_beneficiary": "oui-confidentiel-9981"}),
            json!({"health_notes": ["confidentiel-9981"]}),
            json!({"disability_recognition": {"x": "confidentiel-9981"}}),
        ] {
            let mut body = candidate("Inès");
            body["sensitive"] = sensitive.clone();
            let r = node
                .client
                .post(node.url("/api/v1/candidates"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 400);
            let text = r.text().await.unwrap();
            assert!(
                !text.contains("9981") && !text.contains("2841275123456789"),
                "{sensitive}: {text}"
            );
            assert!(text.contains("sensitive."), "{text}");
        }
        // A NIR of the wrong shape: the field is named, the value is not.
        let mut body = candidate("Inès");
        body["sensitive"] = json!({"nir": "12-34-confidentiel"});
        let (st, v) = node.post(&admin, "/api/v1/candidates", &body).await;
        assert_eq!(st, 400);
        assert_eq!(fields(&v), vec!["sensitive.nir".to_string()]);
        assert!(!v.to_string().contains("confidentiel"), "{v}");
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// The JobPosting export can be pasted into a `<script>` element: markup
/// in an offer never appears literally. CV downloads are never sniffed.
#[tokio::test]
async fn jobposting_escapes_markup_and_downloads_are_not_sniffed() {
    let node = start_node(&backends()[0]).await;
    let admin = node.user(Role::Admin, "admin@mission.fr").await;
    let mut o = offer();
    o["description"] = json!("Poste </script><script>alert('x')</script> & <b>gras</b>");
    let (st, v) = node.post(&admin, "/api/v1/offers", &o).await;
    assert_eq!(st, 201, "{v}");
    let id = v["offer_id"].as_str().unwrap();
    let r = node
        .client
        .get(node.url(&format!("/api/v1/offers/{id}/jobposting")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/ld+json"
    );
    let text = r.text().await.unwrap();
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert!(parsed["description"]
        .as_str()
        .unwrap()
        .contains("</script><script>"));

    let (st, c) = node
        .post(&admin, "/api/v1/candidates", &candidate("Léa"))
        .await;
    assert_eq!(st, 201);
    let cid = c["id"].as_str().unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vivier_node::extract::testdocs::docx(&["Cariste"]))
            .file_name("cv.docx"),
    );
    let r = node
        .client
        .post(node.url(&format!("/api/v1/candidates/{cid}/cv")))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();
    let file_id = v["file"]["id"].as_str().unwrap();
    let r = node
        .client
        .get(node.url(&format!("/api/v1/candidates/{cid}/cv/{file_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    node.stop().await;
}

/// Body ceilings per route: an oversized JSON body is refused with 413 and
/// a problem document, before or while it is read; larger routes (records,
/// CV uploads) keep their own ceilings.
#[tokio::test]
async fn body_ceilings_per_route() {
    let node = start_node(&backends()[0]).await;
    let admin = node.user(Role::Admin, "admin@mission.fr").await;
    let before = node.snapshot().await;
    // 2 MiB offer: over the 1 MiB default.
    let mut o = offer();
    o["description"] = json!("x".repeat(2 * 1024 * 1024));
    let (st, v) = node.post(&admin, "/api/v1/offers", &o).await;
    assert_eq!(st, 413, "{v}");
    assert_eq!(v["type"], "urn:vivier:problem:payload_too_large");
    // The same without Content-Length (chunked): cut off while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..19).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let r = node
        .client
        .post(node.url("/api/v1/offers"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Login and other small routes share the default ceiling.
    let r = node
        .client
        .post(node.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    node.assert_alive_and_unchanged(&before).await;
    // A record with 200,000 characters of CV text (1.1 MB once escaped:
    // control characters left by PDF extraction are six bytes each) is
    // under its route's own ceiling.
    let mut c = candidate("Léa");
    c["cv_text"] = json!("é\u{1}\u{1}\u{1}\u{1}\u{1}\u{1}\u{1}".repeat(25_000));
    assert!(serde_json::to_vec(&c).unwrap().len() > 1024 * 1024);
    let (st, v) = node.post(&admin, "/api/v1/candidates", &c).await;
    assert_eq!(st, 201, "{v}");
    node.stop().await;
}

async fn read_to_end_or_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A client that never finishes its headers is disconnected after the
/// header deadline; one that trickles its body gets 408 after the request
/// deadline. Neither keeps the node from serving others.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    let node = start_node_with(&backends()[0], |c| {
        c.http.header_read_timeout_secs = 1;
        c.http.request_timeout_secs = 2;
    })
    .await;
    let admin = node.user(Role::Admin, "admin@mission.fr").await;
    let addr = node.base.trim_start_matches("http://").to_string();
    let before = node.snapshot().await;

    // Slowloris: a request line and one header, then nothing.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The node still serves others meanwhile.
    node.assert_healthy().await;
    let closed = tokio::time::timeout(Duration::from_secs(20), read_to_end_or_close(&mut slow))
        .await
        .expect("a slow client must be disconnected by the header deadline");
    let text = String::from_utf8_lossy(&closed);
    assert!(!text.contains("200 OK"), "{text}");

    // A body announced as 1,000 bytes, of which 10 arrive.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "POST /api/v1/offers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"title\":"
    );
    trickle.write_all(req.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), read_to_end_or_close(&mut trickle))
        .await
        .expect("the request deadline must answer");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    node.assert_alive_and_unchanged(&before).await;
    node.stop().await;
}

/// Past the concurrency limit the node sheds load with 503 `overloaded`
/// and `Retry-After` at once, and recovers when the load goes.
#[tokio::test]
async fn concurrency_limit_sheds_load_and_recovers() {
    let node = start_node_with(&backends()[0], |c| {
        c.http.max_concurrent_requests = 2;
    })
    .await;
    let admin = node.user(Role::Admin, "admin@mission.fr").await;
    let addr = node.base.trim_start_matches("http://").to_string();
    // Two requests that hold their slot: bodies that never complete.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "POST /api/v1/offers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        holders.push(s);
    }
    // Wait until both are being handled: then the next one is shed.
    let shed = eventually(20, || async {
        let r = node.client.get(node.url("/health")).send().await.ok()?;
        (r.status().as_u16() == 503).then_some(r)
    })
    .await
    .expect("a third request is shed while two hold the node");
    assert_eq!(shed.headers()["retry-after"], "1");
    let v: Value = shed.json().await.unwrap();
    assert_eq!(v["type"], "urn:vivier:problem:overloaded");
    drop(holders);
    let ok = eventually(20, || async {
        let r = node.client.get(node.url("/health")).send().await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "the node recovers once the slow requests are gone"
    );
    node.stop().await;
}

/// One address opening connections without end cannot take every slot:
/// past its share its connections are closed at once, while another
/// address is still served.
#[tokio::test]
async fn connection_flood_from_one_address_leaves_room_for_others() {
    let node = start_node_with(&backends()[0], |c| {
        c.http.max_connections_per_address = 8;
    })
    .await;
    let port = node.base.rsplit(':').next().unwrap().to_string();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(
            TcpStream::connect(format!("127.0.0.1:{port}"))
                .await
                .unwrap(),
        );
    }
    // The ninth from the same address is closed without an answer.
    let refused = eventually(20, || async {
        let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).await.ok()?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .ok();
        let got = tokio::time::timeout(Duration::from_secs(5), read_to_end_or_close(&mut s))
            .await
            .ok()?;
        got.is_empty().then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "connections past the per-address cap are closed"
    );
    // Another client address (127.0.0.2 is loopback too) is served.
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = other
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    drop(held);
    node.stop().await;
}
