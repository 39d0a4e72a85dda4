//! HTTP tests of the candidathèque (issue 3) on a real node, on SQLite and
//! (when reachable) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{backends, eventually, start_node, start_node_with, TestNode};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;
use vivier_node::auth::Role;

fn body(first: &str, last: &str, insee: &str, romes: &[&str], cv: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": last,
        "commune_insee": insee,
        "rome_codes": romes,
        "cv_text": cv,
    })
}

async fn create(node: &TestNode, token: &str, mut b: Value, consent: Option<&str>) -> String {
    if let Some(s) = consent {
        b["consent_scope"] = json!(s);
    }
    let (st, v) = node.post(token, "/api/v1/candidates", &b).await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

async fn anon(node: &TestNode, method: Method, path: &str) -> u16 {
    node.client
        .request(method, node.url(path))
        .json(&json!({}))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn audit_actions(node: &TestNode, admin: &str, target: &str) -> Vec<Value> {
    let (st, v) = node
        .get(
            admin,
            &format!("/api/v1/audit?target_id={target}&per_page=200"),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().expect("array").clone()
}

async fn search(node: &TestNode, token: &str, qs: &str) -> Value {
    let (st, v) = node
        .get(token, &format!("/api/v1/candidates/search?{qs}"))
        .await;
    assert_eq!(st, 200, "{qs}: {v}");
    v
}

fn hit_ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect()
}

async fn commit(node: &TestNode) {
    node.sync_index().await;
}

fn pdf(text_latin1: &[u8]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream, StringFormat};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 14.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new(
                "Tj",
                vec![Object::String(text_latin1.to_vec(), StringFormat::Literal)],
            ),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("encode"),
    ));
    let page_id = doc.add_object(
        dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id },
    );
    let pages = dictionary! {
        "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    };
    doc.objects.insert(pages_id, Object::Dictionary(pages));
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

async fn upload(
    node: &TestNode,
    token: &str,
    id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    node.upload_cv(token, id, name, bytes).await
}

#[tokio::test]
async fn create_update_consent_withdraw() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;

        // Draft: not indexed.
        let id = create(
            &node,
            &c,
            body("Léa", "Martin", "41018", &["N1101"], "Cariste"),
            None,
        )
        .await;
        let (st, v) = node.get(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 200);
        assert_eq!(v["state"], "draft");
        assert_eq!(v["consent"], Value::Null);
        assert!(
            v["home"]["lat_micro"].as_i64().is_some(),
            "home from the referential: {v}"
        );
        commit(&node).await;
        assert!(!node
            .state
            .search
            .candidates
            .contains(&id)
            .expect("contains"));

        // Consent: searchable within a second, without an explicit commit.
        let (st, v) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{id}/consent"),
                &json!({"scope": "network"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["consent"]["scope"], "network");
        assert!(v["consent"]["given_at"].as_i64().is_some());
        let found = eventually(2, || async {
            node.state
                .search
                .candidates
                .contains(&id)
                .expect("contains")
                .then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "{}: consented record indexed",
            backend.name()
        );

        // Update: full replacement, cv_text kept when absent.
        let mut b = body("Léa", "Martin-Dupré", "41269", &["N1101", "N4101"], "");
        b.as_object_mut().expect("obj").remove("cv_text");
        b["email"] = json!("Lea.Martin@Example.org");
        b["driving_licences"] = json!(["b", "C"]);
        b["contract_types"] = json!(["CDI", "MIS"]);
        b["available_from"] = json!("2026-03-01");
        let (st, v) = node.put(&c, &format!("/api/v1/candidates/{id}"), &b).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["last_name"], "Martin-Dupré");
        assert_eq!(v["commune_insee"], "41269");
        assert_eq!(v["cv_text"], "Cariste");
        assert_eq!(v["email"], "lea.martin@example.org");
        assert_eq!(v["driving_licences"], json!(["B", "C"]));
        assert_eq!(v["consent"]["scope"], "network");

        // Internal API.
        let cand = vivier_node::candidates::get_candidate(&node.state.db, &id)
            .await
            .expect("get")
            .expect("some");
        assert_eq!(cand.rome_codes, vec!["N1101", "N4101"]);
        assert!(cand.sensitive.is_none());
        let p = vivier_node::candidates::minimal_profile(&cand, "ref-1");
        assert_eq!(p.candidate_ref, "ref-1");
        assert_eq!(p.last_name, "Martin-Dupré");
        let many =
            vivier_node::candidates::load_candidates(&node.state.db, &[id.clone(), "nope".into()])
                .await
                .expect("load");
        assert_eq!(many.len(), 1);

        // Withdraw: back to draft, out of the index.
        let (st, v) = node
            .delete(&c, &format!("/api/v1/candidates/{id}/consent"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["state"], "draft");
        commit(&node).await;
        assert!(!node
            .state
            .search
            .candidates
            .contains(&id)
            .expect("contains"));

        // Placement: status placed, placements row.
        let (st, v) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{id}/placement"),
                &json!({"outcome": "cdd_6_months_or_more"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let (_, v) = node.get(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(v["status"], "placed");
        let (st, v) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{id}/placement"),
                &json!({"outcome": "found_a_job"}),
            )
            .await;
        assert_eq!(st, 400, "{v}");

        // 404s.
        let (st, _) = node.get(&c, "/api/v1/candidates/does-not-exist").await;
        assert_eq!(st, 404);
        node.stop().await;
    }
}

#[tokio::test]
async fn validation_names_the_fields() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let mut b = body("", "X", "99999", &["N1101", "Z9999"], "");
        b["email"] = json!("pas une adresse");
        b["available_from"] = json!("2026-02-30");
        b["driving_licences"] = json!(["B", "Z"]);
        let (st, v) = node.post(&c, "/api/v1/candidates", &b).await;
        assert_eq!(st, 400, "{v}");
        let fields: Vec<&str> = v["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        for f in [
            "first_name",
            "commune_insee",
            "rome_codes[1]",
            "email",
            "available_from",
            "driving_licences[1]",
        ] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
        let (st, v) = node
            .post(&c, "/api/v1/candidates", &body("A", "B", "41018", &[], ""))
            .await;
        assert_eq!(st, 400);
        assert_eq!(v["errors"][0]["field"], "rome_codes");
        let six = ["N1101", "N4101", "F1602", "K2204", "J1501", "H2909"];
        let (st, v) = node
            .post(&c, "/api/v1/candidates", &body("A", "B", "41018", &six, ""))
            .await;
        assert_eq!(st, 400);
        assert_eq!(v["errors"][0]["field"], "rome_codes");
        let mut b = body("A", "B", "41018", &["N1101"], "");
        b["contract_types"] = json!(["CDX"]);
        let (st, v) = node.post(&c, "/api/v1/candidates", &b).await;
        assert_eq!(st, 400);
        assert_eq!(v["errors"][0]["field"], "contract_types[0]", "{v}");
        let mut b = body("A", "B", "41018", &["N1101"], "");
        b["unknown"] = json!(1);
        let (st, _) = node.post(&c, "/api/v1/candidates", &b).await;
        assert_eq!(st, 400);
        node.stop().await;
    }
}

#[tokio::test]
async fn each_role_gets_exactly_what_it_may() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let employer = node.user(Role::Employer, "boss@entreprise.fr").await;
        let id = create(
            &node,
            &c,
            body("Léa", "Martin", "41018", &["N1101"], "Cariste"),
            Some("local"),
        )
        .await;
        let (st, v) = upload(
            &node,
            &c,
            &id,
            "cv.docx",
            vivier_node::extract::testdocs::docx(&["Cariste"]),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        let file_id = v["file"]["id"].as_str().expect("file id").to_string();

        let endpoints: Vec<(Method, String)> = vec![
            (Method::GET, "/api/v1/candidates".into()),
            (Method::POST, "/api/v1/candidates".into()),
            (Method::GET, "/api/v1/candidates/search".into()),
            (Method::GET, "/api/v1/candidates/retention".into()),
            (Method::GET, format!("/api/v1/candidates/{id}")),
            (Method::PUT, format!("/api/v1/candidates/{id}")),
            (Method::DELETE, format!("/api/v1/candidates/{id}")),
            (Method::POST, format!("/api/v1/candidates/{id}/consent")),
            (Method::DELETE, format!("/api/v1/candidates/{id}/consent")),
            (Method::POST, format!("/api/v1/candidates/{id}/cv")),
            (Method::GET, format!("/api/v1/candidates/{id}/cv/{file_id}")),
            (Method::POST, format!("/api/v1/candidates/{id}/placement")),
            (Method::POST, format!("/api/v1/candidates/{id}/renew")),
        ];
        for (m, path) in &endpoints {
            assert_eq!(
                anon(&node, m.clone(), path).await,
                401,
                "anonymous {m} {path}"
            );
            let (st, _) = node.send_json(m.clone(), &employer, path, &json!({})).await;
            assert_eq!(st, 403, "employer {m} {path}");
        }

        // Staff: each endpoint works for both roles.
        for (who, token) in [("admin", &admin), ("counsellor", &c)] {
            let (st, v) = node.get(token, "/api/v1/candidates").await;
            assert_eq!(st, 200, "{who} list {v}");
            let other = create(
                &node,
                token,
                body("Paul", "Durand", "41018", &["N1101"], ""),
                None,
            )
            .await;
            let (st, _) = node.get(token, "/api/v1/candidates/search?q=cariste").await;
            assert_eq!(st, 200, "{who} search");
            let (st, _) = node.get(token, "/api/v1/candidates/retention").await;
            assert_eq!(st, 200, "{who} retention");
            let (st, _) = node.get(token, &format!("/api/v1/candidates/{id}")).await;
            assert_eq!(st, 200, "{who} read");
            let (st, v) = node
                .put(
                    token,
                    &format!("/api/v1/candidates/{id}"),
                    &body("Léa", "Martin", "41018", &["N1101"], "Cariste"),
                )
                .await;
            assert_eq!(st, 200, "{who} update {v}");
            let (st, _) = node
                .post(
                    token,
                    &format!("/api/v1/candidates/{id}/consent"),
                    &json!({"scope": "local"}),
                )
                .await;
            assert_eq!(st, 200, "{who} consent");
            let (st, _) = node
                .delete(token, &format!("/api/v1/candidates/{other}/consent"))
                .await;
            assert_eq!(st, 200, "{who} withdraw");
            let (st, _) = upload(
                &node,
                token,
                &other,
                "cv.odt",
                vivier_node::extract::testdocs::odt(&["CV"]),
            )
            .await;
            assert_eq!(st, 201, "{who} upload");
            let r = node
                .client
                .get(node.url(&format!("/api/v1/candidates/{id}/cv/{file_id}")))
                .bearer_auth(token)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status().as_u16(), 200, "{who} download");
            let (st, _) = node
                .post(
                    token,
                    &format!("/api/v1/candidates/{other}/renew"),
                    &json!({}),
                )
                .await;
            assert_eq!(st, 200, "{who} renew");
            let (st, _) = node
                .post(
                    token,
                    &format!("/api/v1/candidates/{other}/placement"),
                    &json!({"outcome": "training"}),
                )
                .await;
            assert_eq!(st, 201, "{who} placement");
            let (st, _) = node
                .delete(token, &format!("/api/v1/candidates/{other}"))
                .await;
            assert_eq!(st, 204, "{who} erase");
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn sensitive_fields_only_for_admin_and_assigned_counsellor() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let mine = node.user(Role::Counsellor, "mine@me.fr").await;
        let other = node.user(Role::Counsellor, "other@me.fr").await;
        let mut b = body("Léa", "Martin", "41018", &["N1101"], "");
        b["sensitive"] = json!({"rsa_beneficiary": true, "social_barriers": ["garde d'enfants"], "disability_recognition": true, "nir": "2 85 05 41 018 123 45"});
        let id = create(&node, &mine, b, Some("network")).await;
        let (_, v) = node.get(&mine, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(v["sensitive"]["rsa_beneficiary"], true, "{v}");
        let (_, v) = node.get(&admin, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(v["sensitive"]["disability_recognition"], true);
        let (_, v) = node.get(&other, &format!("/api/v1/candidates/{id}")).await;
        assert!(v.get("sensitive").is_none(), "{v}");
        // Another counsellor may not write them either.
        let mut b = body("Léa", "Martin", "41018", &["N1101"], "");
        b["sensitive"] = json!({"rsa_beneficiary": false});
        let (st, v) = node
            .put(&other, &format!("/api/v1/candidates/{id}"), &b)
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["errors"][0]["field"], "sensitive");
        // Update without `sensitive` keeps them.
        let (st, _) = node
            .put(
                &mine,
                &format!("/api/v1/candidates/{id}"),
                &body("Léa", "Martin", "41018", &["N1101"], ""),
            )
            .await;
        assert_eq!(st, 200);
        let (_, v) = node.get(&mine, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(
            v["sensitive"]["social_barriers"],
            json!(["garde d'enfants"])
        );
        // Never in the referral profile.
        let cand = vivier_node::candidates::get_candidate(&node.state.db, &id)
            .await
            .expect("get")
            .expect("some");
        let p = serde_json::to_string(&vivier_node::candidates::minimal_profile(&cand, "r"))
            .expect("json");
        assert!(
            !p.contains("rsa") && !p.contains("nir") && !p.contains("018 123"),
            "{p}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn audit_entries_for_read_search_and_erase() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let id = create(
            &node,
            &c,
            body("Léa", "Martin", "41018", &["N1101"], "Cariste"),
            Some("local"),
        )
        .await;
        let r = node
            .client
            .get(node.url(&format!("/api/v1/candidates/{id}")))
            .bearer_auth(&c)
            .header("X-Vivier-Reason", "préparation d'un entretien")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        commit(&node).await;
        let v = search(&node, &c, "q=Martin&rome=N1101").await;
        assert_eq!(hit_ids(&v), vec![id.clone()]);

        let entries = audit_actions(&node, &admin, &id).await;
        let read = entries
            .iter()
            .find(|e| e["action"] == "candidate.read")
            .expect("read audited");
        assert_eq!(read["reason"], "préparation d'un entretien");
        assert_eq!(read["actor_role"], "counsellor");
        let (_, all) = node
            .get(&admin, "/api/v1/audit?action=candidate.search&per_page=200")
            .await;
        let s = all["items"]
            .as_array()
            .expect("array")
            .last()
            .expect("search audited")
            .clone();
        assert_eq!(s["details"]["hits"], json!([id]));
        assert!(
            !s.to_string().contains("Martin"),
            "no personal data in the audit: {s}"
        );
        // Only the admin reads the audit log.
        let (st, _) = node.get(&c, "/api/v1/audit").await;
        assert_eq!(st, 403);

        let (st, _) = node.delete(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 204);
        let entries = audit_actions(&node, &admin, &id).await;
        let erase = entries
            .iter()
            .find(|e| e["action"] == "candidate.erase")
            .expect("erase audited");
        assert_eq!(erase["target_id"], json!(id));
        assert_eq!(erase["details"], json!({"via": "api"}), "no personal data");
        node.stop().await;
    }
}

#[tokio::test]
async fn cv_upload_extracts_pdf_docx_odt_and_refuses_others() {
    for backend in backends() {
        let node = start_node_with(&backend, |cfg| cfg.uploads.max_cv_bytes = 256 * 1024).await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let id = create(
            &node,
            &c,
            body("Léa", "Martin", "41018", &["N1101"], ""),
            Some("local"),
        )
        .await;

        let (st, v) = upload(
            &node,
            &c,
            &id,
            "CV Léa.pdf",
            pdf(b"Cariste exp\xE9riment\xE9 CACES 3"),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["file"]["content_type"], "application/pdf");
        assert!(
            v["cv_text"]
                .as_str()
                .expect("text")
                .contains("Cariste expérimenté CACES 3"),
            "{v}"
        );
        let pdf_id = v["file"]["id"].as_str().expect("id").to_string();
        commit(&node).await;
        assert_eq!(
            hit_ids(&search(&node, &c, "q=experimente").await),
            vec![id.clone()]
        );

        let docx = vivier_node::extract::testdocs::docx(&[
            "Électricienne du bâtiment",
            "Habilitation B1V",
        ]);
        // The declared name lies: the content decides.
        let (st, v) = upload(&node, &c, &id, "cv.pdf", docx.clone()).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            v["file"]["content_type"],
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(v["cv_text"], "Électricienne du bâtiment\nHabilitation B1V");

        let (st, v) = upload(
            &node,
            &c,
            &id,
            "cv.odt",
            vivier_node::extract::testdocs::odt(&["Aide-soignante", "Diplôme DEAS"]),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["cv_text"], "Aide-soignante\nDiplôme DEAS");

        // The record lists its files; the original bytes come back.
        let (_, rec) = node.get(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(rec["files"].as_array().expect("files").len(), 3);
        assert_eq!(rec["cv_text"], "Aide-soignante\nDiplôme DEAS");
        let r = node
            .client
            .get(node.url(&format!("/api/v1/candidates/{id}/cv/{pdf_id}")))
            .bearer_auth(&c)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert!(r.bytes().await.expect("bytes").starts_with(b"%PDF"));

        // Other types: 415 with a clear message.
        let (st, v) = upload(&node, &c, &id, "cv.txt", b"Je suis cariste".to_vec()).await;
        assert_eq!(st, 415, "{v}");
        assert!(
            v["detail"]
                .as_str()
                .expect("detail")
                .contains("PDF, DOCX and ODT"),
            "{v}"
        );
        let (st, _) = upload(
            &node,
            &c,
            &id,
            "cv.doc",
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest".to_vec(),
        )
        .await;
        assert_eq!(st, 415);
        // Too big: 413.
        let mut big = b"%PDF-1.4\n".to_vec();
        big.resize(256 * 1024 + 1, b'x');
        let (st, v) = upload(&node, &c, &id, "big.pdf", big).await;
        assert_eq!(st, 413, "{v}");
        // Far beyond the body limit too.
        let huge = vec![b'x'; 2 * 1024 * 1024];
        let (st, _) = upload(&node, &c, &id, "huge.pdf", huge).await;
        assert_eq!(st, 413);
        // No file part.
        let r = node
            .client
            .post(node.url(&format!("/api/v1/candidates/{id}/cv")))
            .bearer_auth(&c)
            .multipart(reqwest::multipart::Form::new().text("note", "x"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 400);
        node.stop().await;
    }
}

#[tokio::test]
async fn import_csv_and_jsonl_with_bad_rows_is_idempotent() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let _c = node.user(Role::Counsellor, "c@me.fr").await;
        let csv = "external_id,first_name,last_name,email,commune_insee,driving_licences,has_vehicle,contract_types,rome_codes,job_titles,skills,cv_text,consent_scope\n\
                   ML-1,Léa,Martin,lea@example.org,41018,B|C,oui,CDI|CDD,N1101,Cariste,CACES 3|Gestion de stock,\"Cariste, 5 ans\",network\n\
                   ML-2,Paul,Durand,,41269,,non,MIS,N4101,Chauffeur PL,,,\n\
                   ML-3,Sans,Commune,,99999,,,,N1101,,,,local\n\
                   ML-4,Mauvais,Rome,,41018,,,,X0000,,,,\n\
                   ML-5,Ina,Petit,pas-un-email,41018,,,CDZ,N1101,,,,\n\
                   ML-6,Jade,Roux,,45234,,,,F1602,Électricienne,,,local\n";
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("candidats.csv");
        std::fs::write(&path, csv).expect("write");
        let report =
            vivier_node::candidates::import_file(&node.state, &path, Some("c@me.fr"), None)
                .await
                .expect("import");
        assert_eq!(report.created, 3, "{report:?}");
        assert_eq!(report.updated, 0);
        let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 5, 6], "{report:?}");
        assert!(
            report.rejected[0].reason.contains("commune_insee"),
            "{report:?}"
        );
        assert!(
            report.rejected[1].reason.contains("rome_codes[0]"),
            "{report:?}"
        );
        assert!(
            report.rejected[2].reason.contains("email")
                && report.rejected[2].reason.contains("contract_types[0]")
        );

        // Again: same result, updates only.
        let again = vivier_node::candidates::import_file(&node.state, &path, Some("c@me.fr"), None)
            .await
            .expect("import");
        assert_eq!(
            (again.created, again.updated, again.rejected.len()),
            (0, 3, 3)
        );
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM candidates")
            .fetch_one(&node.state.db.pool)
            .await
            .expect("count");
        assert_eq!(n, 3);

        // JSON Lines: updates ML-1 by external id, creates ML-7, rejects a line.
        let jsonl = "{\"external_id\":\"ML-1\",\"first_name\":\"Léa\",\"last_name\":\"Martin-Dupré\",\"commune_insee\":\"41018\",\"rome_codes\":[\"N1101\"],\"skills\":[\"CACES 5\"]}\n\
                     \n\
                     {\"external_id\":\"ML-7\",\"first_name\":\"Zoé\",\"last_name\":\"Blanc\",\"commune_insee\":\"03185\",\"rome_codes\":[\"J1501\"],\"consent_scope\":\"local\"}\n\
                     {\"external_id\":\"ML-8\",\"first_name\":\"Bad\",\"last_name\":\"Row\",\"commune_insee\":\"41018\",\"rome_codes\":\"N1101\"}\n";
        let path = dir.path().join("candidats.jsonl");
        std::fs::write(&path, jsonl).expect("write");
        let report = vivier_node::candidates::import_file(&node.state, &path, None, None)
            .await
            .expect("import");
        assert_eq!((report.created, report.updated), (1, 1), "{report:?}");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].line, 4);
        assert!(
            report.rejected[0].reason.contains("rome_codes"),
            "{report:?}"
        );

        // The imported, consented records are searchable; ML-1 kept its
        // consent, and its profile is the new row (lists replaced).
        commit(&node).await;
        // "caristes" still finds ML-1 through its ROME code (N1101, whose
        // title "Cariste" the query names), but its old job title is gone.
        let v = search(&node, &admin, "q=caristes").await;
        assert_eq!(v["total"], 1, "{v}");
        assert_eq!(v["items"][0]["job_titles"], json!([]), "{v}");
        let v = search(&node, &admin, "q=caces").await;
        assert_eq!(v["total"], 1, "{v}");
        assert_eq!(v["items"][0]["last_name"], "Martin-Dupré");
        let v = search(&node, &admin, "q=electricienne").await;
        assert_eq!(v["total"], 1, "{v}");
        let v = search(&node, &admin, "").await;
        assert_eq!(v["total"], 3, "ML-2 is a draft: {v}");

        // Unknown column: the whole file is refused with a clear message.
        let path = dir.path().join("bad.csv");
        std::fs::write(
            &path,
            "first_name,last_name,commune_insee,rome_codes,age\nA,B,41018,N1101,40\n",
        )
        .expect("write");
        let err = vivier_node::candidates::import_file(&node.state, &path, None, None)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("age"), "{err}");
        node.stop().await;
    }
}

#[tokio::test]
async fn search_french_filters_radius_facets_pagination() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let mk = |first: &str, insee: &str, romes: &[&str], cv: &str| {
            let mut b = body(first, "Test", insee, romes, cv);
            b["job_titles"] = json!([]);
            b
        };
        let mut b = mk(
            "Alice",
            "41018",
            &["N1101"],
            "Cariste expérimentée, conductrice de chariot",
        );
        b["driving_licences"] = json!(["B"]);
        b["contract_types"] = json!(["CDI"]);
        b["available_from"] = json!("2026-01-15");
        let blois = create(&node, &c, b, Some("local")).await;
        let mut b = mk(
            "Bruno",
            "41269",
            &["N1101", "N4101"],
            "CARISTE et conducteur poids lourd",
        );
        b["driving_licences"] = json!(["B", "C", "CE"]);
        b["contract_types"] = json!(["MIS"]);
        b["available_from"] = json!("2026-06-01");
        let vendome = create(&node, &c, b, Some("network")).await;
        let orleans = create(
            &node,
            &c,
            mk(
                "Chloé",
                "45234",
                &["F1602"],
                "Électricien du bâtiment, habilitations",
            ),
            Some("local"),
        )
        .await;
        let montlucon = create(
            &node,
            &c,
            mk("David", "03185", &["F1602"], "electricien industriel"),
            Some("local"),
        )
        .await;
        let draft = create(&node, &c, mk("Eve", "41018", &["N1101"], "Cariste"), None).await;
        // Visible within a second of the write.
        let all = eventually(2, || async {
            let (_, v) = node.get(&c, "/api/v1/candidates/search").await;
            (v["total"] == 4).then_some(v)
        })
        .await;
        assert!(
            all.is_some(),
            "{}: all four consented records searchable",
            backend.name()
        );

        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        // Morphology and accents.
        let v = search(&node, &c, "q=caristes").await;
        assert_eq!(
            sorted(hit_ids(&v)),
            sorted(vec![blois.clone(), vendome.clone()])
        );
        assert!(!hit_ids(&v).contains(&draft));
        let v = search(&node, &c, "q=CARISTE").await;
        assert_eq!(v["total"], 2);
        let v = search(&node, &c, "q=electricien").await;
        assert_eq!(
            sorted(hit_ids(&v)),
            sorted(vec![orleans.clone(), montlucon.clone()])
        );
        let v = search(&node, &c, "q=%C3%A9lectriciens").await;
        assert_eq!(v["total"], 2, "{v}");
        // Feminine and masculine job titles meet: "conductrice" (Blois) and
        // "conducteur" (Vendôme) are found by either, singular or plural.
        for q in ["conducteurs", "conductrices", "conducteur", "CONDUCTRICE"] {
            let v = search(&node, &c, &format!("q={q}")).await;
            assert_eq!(
                sorted(hit_ids(&v)),
                sorted(vec![blois.clone(), vendome.clone()]),
                "{q}: {v}"
            );
        }
        // Snippet highlighted.
        let v = search(&node, &c, "q=cariste&rome=N4101").await;
        assert_eq!(hit_ids(&v), vec![vendome.clone()]);
        assert!(
            v["items"][0]["snippet"]
                .as_str()
                .expect("snippet")
                .contains("<b>"),
            "{v}"
        );

        // Filters.
        let v = search(&node, &c, "rome=F1602").await;
        assert_eq!(v["total"], 2);
        let v = search(&node, &c, "rome=N4101,F1602").await;
        assert_eq!(v["total"], 3);
        let v = search(&node, &c, "rome=N4101&rome=F1602").await;
        assert_eq!(v["total"], 3);
        let v = search(&node, &c, "licence=ce").await;
        assert_eq!(hit_ids(&v), vec![vendome.clone()]);
        // A CE holder meets C1 too (the implications of the referential).
        let v = search(&node, &c, "licence=c1").await;
        assert_eq!(hit_ids(&v), vec![vendome.clone()]);
        let v = search(&node, &c, "contract_type=CDI").await;
        assert_eq!(hit_ids(&v), vec![blois.clone()]);
        let v = search(&node, &c, "available_before=2026-02-01&rome=N1101").await;
        assert_eq!(hit_ids(&v), vec![blois.clone()]);
        let v = search(&node, &c, "status=placed").await;
        assert_eq!(v["total"], 0);

        // Radius around Blois: Vendôme ~31 km, Orléans ~57 km, Montluçon far.
        let v = search(&node, &c, "commune=41018&radius_km=40&sort=distance").await;
        assert_eq!(hit_ids(&v), vec![blois.clone(), vendome.clone()], "{v}");
        assert_eq!(v["items"][0]["distance_km"], 0.0);
        let d = v["items"][1]["distance_km"].as_f64().expect("km");
        assert!((25.0..40.0).contains(&d), "{d}");
        let v = search(&node, &c, "commune=41018&radius_km=70&sort=distance").await;
        assert_eq!(
            hit_ids(&v),
            vec![blois.clone(), vendome.clone(), orleans.clone()],
            "{v}"
        );
        let v = search(&node, &c, "commune=03185&radius_km=20").await;
        assert_eq!(hit_ids(&v), vec![montlucon.clone()]);
        // 0 km: the commune itself.
        let v = search(&node, &c, "commune=41018&radius_km=0").await;
        assert_eq!(hit_ids(&v), vec![blois.clone()], "{v}");
        let (st, v) = node
            .get(&c, "/api/v1/candidates/search?commune=41018&radius_km=1001")
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["errors"][0]["field"], "radius_km", "{v}");
        assert_eq!(v["errors"][0]["code"], "out_of_range", "{v}");

        // Facets over the whole result set, pagination.
        let v = search(&node, &c, "per_page=1&page=2").await;
        assert_eq!(v["total"], 4);
        assert_eq!(v["items"].as_array().expect("items").len(), 1);
        assert_eq!(
            (v["page"].as_i64(), v["per_page"].as_i64()),
            (Some(2), Some(1))
        );
        assert_eq!(v["facets"]["rome"]["N1101"], 2, "{v}");
        assert_eq!(v["facets"]["rome"]["F1602"], 2);
        assert_eq!(v["facets"]["rome"]["N4101"], 1);
        let mut seen = Vec::new();
        for page in 1..=4 {
            let v = search(&node, &c, &format!("per_page=1&page={page}")).await;
            seen.extend(hit_ids(&v));
        }
        assert_eq!(
            sorted(seen),
            sorted(vec![
                blois.clone(),
                vendome.clone(),
                orleans.clone(),
                montlucon.clone()
            ])
        );
        let v = search(&node, &c, "per_page=1&page=5").await;
        assert_eq!(v["items"], json!([]));

        // Typed text is never a syntax error.
        for qs in ["q=%22unterminated", "q=cariste%20AND%20("] {
            let (st, v) = node
                .get(&c, &format!("/api/v1/candidates/search?{qs}"))
                .await;
            assert_eq!(st, 200, "{qs}: {v}");
        }
        // Bad requests name the parameter.
        for (qs, field) in [
            ("rome=ZZZZ", "rome[0]"),
            ("commune=99999", "commune"),
            ("radius_km=10", "radius_km"),
            ("sort=distance", "sort"),
            ("available_before=demain", "available_before"),
            ("licence=Z", "licence"),
            ("per_page=1000", "per_page"),
            ("colour=blue", "colour"),
        ] {
            let (st, v) = node
                .get(&c, &format!("/api/v1/candidates/search?{qs}"))
                .await;
            assert_eq!(st, 400, "{qs}: {v}");
            assert_eq!(v["errors"][0]["field"], field, "{qs}: {v}");
        }
        node.stop().await;
    }
}

/// Every text value of every table, for trace checks.
async fn all_text(node: &TestNode) -> Vec<(String, String)> {
    let tables: Vec<String> = match node.backend {
        crate::support::Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
        )
        .fetch_all(&node.state.db.pool)
        .await
        .expect("tables"),
        crate::support::Backend::Postgres(_) => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_all(&node.state.db.pool)
        .await
        .expect("tables"),
    };
    assert!(tables.iter().any(|t| t == "candidates"));
    let mut out = Vec::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM {t}"))
            .fetch_all(&node.state.db.pool)
            .await
            .expect("select");
        for r in rows {
            for i in 0..r.len() {
                if let Ok(Some(s)) = r.try_get::<Option<String>, _>(i) {
                    out.push((t.clone(), s));
                }
            }
        }
    }
    out
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn erasure_leaves_no_trace() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let mut b = body(
            "Zéphyrine",
            "Quelquechose",
            "41018",
            &["N1101"],
            "Cariste licorneunique",
        );
        b["email"] = json!("zephyrine.q@example.org");
        b["phone"] = json!("06 11 22 33 44");
        b["external_id"] = json!("EXT-ZQ-77");
        b["sensitive"] = json!({"health_notes": "notesantesecrete", "rsa_beneficiary": true});
        let id = create(&node, &c, b, Some("network")).await;
        let keep = create(
            &node,
            &c,
            body("Autre", "Personne", "41018", &["N1101"], "Cariste"),
            Some("local"),
        )
        .await;
        let (st, _) = upload(
            &node,
            &c,
            &id,
            "cv-quelquechose.docx",
            vivier_node::extract::testdocs::docx(&["Cariste licorneunique"]),
        )
        .await;
        assert_eq!(st, 201);
        let (st, _) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{id}/placement"),
                &json!({"outcome": "cdi"}),
            )
            .await;
        assert_eq!(st, 201);
        // A pending referral holding a local copy of the profile (the
        // federation withdraws it and forgets the profile).
        let now = vivier_node::util::now_ms();
        sqlx::query(
            "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, profile, \
             counsellor_name, endorsement, status, created_at, updated_at) \
             VALUES ($1, 'offer-1', 'other-node', 'test-node', 'outbound', $2, $3, 'C', 'Zéphyrine est motivée', 'new', $4, $4)",
        )
        .bind(vivier_node::util::new_id())
        .bind(&id)
        .bind(json!({"first_name": "Zéphyrine", "last_name": "Quelquechose"}).to_string())
        .bind(now)
        .execute(&node.state.db.pool)
        .await
        .expect("referral");
        commit(&node).await;
        assert!(node
            .state
            .search
            .candidates
            .contains(&id)
            .expect("contains"));
        let v = search(&node, &c, "q=licorneunique").await;
        assert_eq!(hit_ids(&v), vec![id.clone()]);
        let needles = [
            "Quelquechose",
            "Zéphyrine",
            "zephyrine.q@",
            "licorneunique",
            "notesantesecrete",
            "EXT-ZQ-77",
            "06 11 22 33 44",
        ];
        let before = all_text(&node).await;
        for n in needles {
            assert!(
                before.iter().any(|(_, s)| s.contains(n)),
                "{n} stored before erasure"
            );
        }
        assert!(!files_under(&node.state.files_dir).is_empty());

        let (st, _) = node.delete(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 204);

        // Database.
        for (table, s) in all_text(&node).await {
            for n in needles {
                assert!(
                    !s.contains(n),
                    "{}: {n} still in table {table}: {s}",
                    backend.name()
                );
            }
        }
        let placements: Vec<(Option<String>, String)> =
            sqlx::query("SELECT candidate_id, outcome FROM placements")
                .fetch_all(&node.state.db.pool)
                .await
                .expect("placements")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        assert_eq!(
            placements,
            vec![(None, "cdi".to_string())],
            "the figure stays, the person goes"
        );
        let referral: (Option<String>, Option<String>, String) =
            sqlx::query("SELECT candidate_id, profile, status FROM referrals")
                .fetch_one(&node.state.db.pool)
                .await
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .expect("referral");
        assert_eq!(
            referral,
            (None, None, "cancelled".to_string()),
            "referral copy forgotten"
        );
        // Files.
        assert!(!node.state.files_dir.join(&id).exists());
        for f in files_under(&node.state.files_dir) {
            let bytes = std::fs::read(&f).expect("read");
            assert!(
                !String::from_utf8_lossy(&bytes).contains("licorneunique"),
                "{}",
                f.display()
            );
        }
        // Index: immediately, and for search.
        assert!(!node
            .state
            .search
            .candidates
            .contains(&id)
            .expect("contains"));
        let v = search(&node, &c, "q=licorneunique").await;
        assert_eq!(v["total"], 0);
        assert!(node
            .state
            .search
            .candidates
            .contains(&keep)
            .expect("contains"));
        // API.
        let (st, _) = node.get(&admin, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 404);
        let (st, _) = node.delete(&c, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 404);
        // Erasure recorded with the opaque id only.
        let entries = audit_actions(&node, &admin, &id).await;
        assert!(entries.iter().any(|e| e["action"] == "candidate.erase"));
        node.stop().await;
    }
}

#[tokio::test]
async fn retention_sweep_reminds_then_anonymises_unless_renewed() {
    const DAY: i64 = 86_400_000;
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@me.fr").await;
        let c = node.user(Role::Counsellor, "c@me.fr").await;
        let mut b = body(
            "Gaston",
            "Oublié",
            "41018",
            &["N1101"],
            "Cariste retenuetest",
        );
        b["email"] = json!("gaston@example.org");
        b["sensitive"] = json!({"rsa_beneficiary": true});
        b["contract_types"] = json!(["CDI"]);
        let old = create(&node, &c, b, Some("local")).await;
        let renewed = create(
            &node,
            &c,
            body("Rita", "Renouvelée", "41269", &["N4101"], "Chauffeur"),
            Some("local"),
        )
        .await;
        let (st, _) = upload(
            &node,
            &c,
            &old,
            "cv.docx",
            vivier_node::extract::testdocs::docx(&["retenuetest"]),
        )
        .await;
        assert_eq!(st, 201);
        let (st, _) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{old}/placement"),
                &json!({"outcome": "cdd_under_6_months"}),
            )
            .await;
        assert_eq!(st, 201);
        let now = vivier_node::util::now_ms();
        let sweep = |at: i64| vivier_node::candidates::retention_sweep(&node.state, at);

        // Nothing to do now.
        let r = sweep(now).await.expect("sweep");
        assert_eq!((r.reminded, r.anonymised), (0, 0));
        // Both records last active 715 days ago: within 30 days of the 24
        // months, so the counsellor is reminded, once.
        sqlx::query("UPDATE candidates SET last_activity_at = $1")
            .bind(now - 715 * DAY)
            .execute(&node.state.db.pool)
            .await
            .expect("backdate");
        let r = sweep(now).await.expect("sweep");
        assert_eq!((r.reminded, r.anonymised), (2, 0), "{r:?}");
        let r = sweep(now + DAY).await.expect("sweep");
        assert_eq!(
            (r.reminded, r.anonymised),
            (0, 0),
            "a reminder is sent once"
        );
        let entries = audit_actions(&node, &admin, &old).await;
        assert!(entries
            .iter()
            .any(|e| e["action"] == "candidate.retention_reminder" && e["actor_role"] == "system"));
        // The review list.
        let (st, v) = node.get(&c, "/api/v1/candidates/retention").await;
        assert_eq!(st, 200, "{v}");
        let items = v["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{v}");
        assert!(items
            .iter()
            .all(|i| i["reminded_at"].as_i64().is_some() && i["due_at"].as_i64().is_some()));

        // The counsellor renews one.
        let (st, v) = node
            .post(
                &c,
                &format!("/api/v1/candidates/{renewed}/renew"),
                &json!({}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (_, v) = node.get(&c, "/api/v1/candidates/retention").await;
        assert_eq!(v["items"].as_array().expect("items").len(), 1);

        // 40 days later, the other one is past 24 months: anonymised.
        let r = sweep(now + 40 * DAY).await.expect("sweep");
        assert_eq!((r.reminded, r.anonymised), (0, 1), "{r:?}");
        let (st, v) = node.get(&admin, &format!("/api/v1/candidates/{old}")).await;
        assert_eq!(st, 200);
        assert_eq!(v["state"], "anonymised");
        assert!(v["anonymised_at"].as_i64().is_some());
        assert_eq!(v["first_name"], "");
        assert_eq!(v["email"], Value::Null);
        assert_eq!(v["cv_text"], "");
        assert_eq!(v["files"], json!([]));
        assert!(
            v.get("sensitive").is_none() || v["sensitive"].is_null(),
            "{v}"
        );
        assert_eq!(v["consent"], Value::Null);
        // Statistics kept.
        assert_eq!(v["status"], "placed");
        assert_eq!(v["rome_codes"], json!(["N1101"]));
        assert_eq!(v["commune_insee"], "41018");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE candidate_id = $1")
            .bind(&old)
            .fetch_one(&node.state.db.pool)
            .await
            .expect("placements");
        assert_eq!(n, 1);
        // Person gone: database, files, index.
        for (table, s) in all_text(&node).await {
            for needle in ["Oublié", "gaston@example.org", "retenuetest"] {
                assert!(!s.contains(needle), "{needle} still in {table}");
            }
        }
        let sensitive: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM candidate_sensitive WHERE candidate_id = $1")
                .bind(&old)
                .fetch_one(&node.state.db.pool)
                .await
                .expect("count");
        assert_eq!(sensitive, 0);
        assert!(!node.state.files_dir.join(&old).exists());
        assert!(!node
            .state
            .search
            .candidates
            .contains(&old)
            .expect("contains"));
        commit(&node).await;
        assert!(node
            .state
            .search
            .candidates
            .contains(&renewed)
            .expect("contains"));
        // Anonymised records cannot be edited, and are not swept again.
        let (st, _) = node
            .put(
                &c,
                &format!("/api/v1/candidates/{old}"),
                &body("X", "Y", "41018", &["N1101"], ""),
            )
            .await;
        assert_eq!(st, 409);
        let r = sweep(now + 41 * DAY).await.expect("sweep");
        assert_eq!(r.anonymised, 0, "{r:?}");
        // The reindex keeps it out.
        let n = vivier_node::candidates::reindex(&node.state, None)
            .await
            .expect("reindex");
        assert_eq!(n, 1);
        assert!(!node
            .state
            .search
            .candidates
            .contains(&old)
            .expect("contains"));
        node.stop().await;
    }
}

#[tokio::test]
async fn a_taken_external_id_is_refused_with_a_stable_code_and_nothing_changes() {
    for b in backends() {
        let node = start_node(&b).await;
        let c = node.user(Role::Counsellor, "ext@ml.fr").await;
        let mut first = body("Léa", "Martin", "41018", &["N1101"], "Cariste.");
        first["external_id"] = json!("demo-cd41-0001");
        create(&node, &c, first, Some("network")).await;
        let before = node.snapshot().await;
        let mut again = body("Autre", "Personne", "37261", &["K1304"], "Aide.");
        again["external_id"] = json!("demo-cd41-0001");
        let (st, v) = node.post(&c, "/api/v1/candidates", &again).await;
        assert_eq!(st, 400, "{}: {v}", b.name());
        assert_eq!(v["errors"][0]["field"], "external_id", "{v}");
        assert_eq!(v["errors"][0]["code"], "external_id_taken", "{v}");
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

/// Follow-up on a record: dated entries (every bad field reported at once),
/// restricted ones seen only by the assigned counsellor and admins, a next
/// step that enters the « À faire » when due and turns overdue as the
/// (injected) clock passes its day, marked done by its author; erasure
/// deletes the entries.
#[tokio::test]
async fn follow_up_entries_next_steps_and_the_todo_list() {
    use std::time::Duration;
    use vivier_node::clock::ManualClock;
    for backend in backends() {
        // 2027-03-01 10:00 UTC.
        let clock = ManualClock::at(1_803_895_200_000);
        let node = crate::support::start_node_with_clock(&backend, clock.shared(), |_| {}).await;
        let claire = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let paul = node.user(Role::Counsellor, "paul@mission-emploi.fr").await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let employer = node.user(Role::Employer, "rh@boulangerie.fr").await;
        let id = create(
            &node,
            &claire,
            body("Inès", "Roux", "41018", &["D1106"], "Vendeuse."),
            Some("local"),
        )
        .await;
        let path = format!("/api/v1/candidates/{id}/followups");

        // Every failing field at once.
        let (s, v) = node
            .post(
                &claire,
                &path,
                &json!({"body": " ", "happened_on": "2027-03-05", "next_step": "Rappeler"}),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        let mut fields: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["body", "happened_on", "next_step_on"], "{v}");
        let (s, _) = node.post(&employer, &path, &json!({"body": "x"})).await;
        assert_eq!(s, 403);

        // Claire is not (yet) the assigned counsellor? She created the
        // record: she is.
        let (s, open) = node
            .post(&claire, &path, &json!({"kind": "interview", "happened_on": "2027-02-26",
                "body": "Entretien : souhaite travailler le matin.", "next_step": "Rappeler après l'entretien chez Boulangerie Martin", "next_step_on": "2027-03-04"}))
            .await;
        assert_eq!(s, 201, "{open}");
        let (s, secret) = node
            .post(
                &claire,
                &path,
                &json!({"body": "Situation familiale difficile.", "restricted": true}),
            )
            .await;
        assert_eq!(s, 201, "{secret}");
        assert_eq!(secret["happened_on"], "2027-03-01", "today by default");
        // Paul sees the open entry, not the restricted one, and cannot
        // write a restricted one.
        let (_, seen) = node.get(&paul, &path).await;
        assert_eq!(seen["total"], 1, "{seen}");
        assert_eq!(seen["items"][0]["kind"], "interview");
        let (s, v) = node
            .post(&paul, &path, &json!({"body": "x", "restricted": true}))
            .await;
        assert_eq!(
            (s, v["errors"][0]["field"].as_str()),
            (400, Some("restricted")),
            "{v}"
        );
        let (_, all) = node.get(&admin, &path).await;
        assert_eq!(all["total"], 2);
        let (_, mine) = node.get(&claire, &path).await;
        assert_eq!(
            mine["items"][0]["body"], "Situation familiale difficile.",
            "newest first"
        );

        // « À faire »: due within a week, not overdue yet; Paul has none.
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert_eq!(todo["steps"].as_array().unwrap().len(), 1, "{todo}");
        assert_eq!(todo["steps"][0]["overdue"], false);
        assert_eq!(todo["steps"][0]["person"]["name"], "Inès Roux");
        assert_eq!(todo["without_cv"][0]["name"], "Inès Roux", "{todo}");
        let (_, todo_paul) = node.get(&paul, "/api/v1/todo").await;
        assert!(
            todo_paul["steps"].as_array().unwrap().is_empty(),
            "{todo_paul}"
        );
        clock.advance(Duration::from_secs(5 * 86_400));
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert_eq!(todo["steps"][0]["overdue"], true, "{todo}");
        // Paul may not mark Claire's step done; Claire may.
        let step = open["id"].as_str().unwrap();
        let (s, _) = node
            .post(&paul, &format!("/api/v1/followups/{step}/done"), &json!({}))
            .await;
        assert_eq!(s, 403);
        let (s, _) = node
            .post(
                &claire,
                &format!("/api/v1/followups/{step}/done"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 204);
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert!(todo["steps"].as_array().unwrap().is_empty(), "{todo}");
        let audited: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'candidate.followup' AND target_id = $1",
        )
        .bind(&id)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audited, 2);

        // Erasure deletes the entries.
        let (s, _) = node
            .delete(&admin, &format!("/api/v1/candidates/{id}"))
            .await;
        assert!(s == 204 || s == 200, "{s}");
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM followups WHERE candidate_id = $1")
                .bind(&id)
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(left, 0);
        node.stop().await;
    }
}

/// Programmes (issue 18) with an injected clock: enrolment, the weekly
/// individual and group follow-ups falling due and going overdue in the «
/// À faire » (a follow-up entry moves the next one), renewal within the
/// programme's limit, the outcome at three months in the report, and the
/// enrolment erased with the record.
#[tokio::test]
async fn programme_follow_ups_fall_due_and_the_outcome_reaches_the_report() {
    use std::time::Duration;
    use vivier_node::clock::ManualClock;
    use vivier_node::programmes::Programme;
    let programme = Programme {
        code: "3-mois-pour-un-job".into(),
        name: "3 mois pour un job".into(),
        funder: "Conseil départemental du Loiret".into(),
        weeks: 13,
        renewals: 1,
        individual_every_days: 7,
        group_every_days: 7,
        immersions: 1,
    };
    const DAY: u64 = 86_400;
    for backend in backends() {
        // Monday 2027-03-01 10:00 UTC.
        let clock = ManualClock::at(1_803_895_200_000);
        let node = crate::support::start_node_with_clock(&backend, clock.shared(), |c| {
            c.programmes = vec![programme.clone()]
        })
        .await;
        let claire = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let paul = node.user(Role::Counsellor, "paul@mission-emploi.fr").await;
        let employer = node.user(Role::Employer, "rh@boulangerie.fr").await;
        let id = create(
            &node,
            &claire,
            body("Inès", "Roux", "45234", &["D1106"], "Vendeuse."),
            Some("local"),
        )
        .await;
        let path = format!("/api/v1/candidates/{id}/programmes");
        let (s, v) = node.get(&claire, "/api/v1/programmes").await;
        assert_eq!((s, v["items"][0]["weeks"].as_i64()), (200, Some(13)), "{v}");

        // Refusals: unknown programme, employer.
        let (s, v) = node
            .post(&claire, &path, &json!({"programme": "nope"}))
            .await;
        assert_eq!(
            (s, v["errors"][0]["field"].as_str()),
            (400, Some("programme")),
            "{v}"
        );
        let (s, _) = node
            .post(&employer, &path, &json!({"programme": programme.code}))
            .await;
        assert_eq!(s, 403);
        let (s, e) = node
            .post(&claire, &path, &json!({"programme": programme.code}))
            .await;
        assert_eq!(s, 201, "{e}");
        assert_eq!(
            (e["started_on"].as_str(), e["ends_on"].as_str()),
            (Some("2027-03-01"), Some("2027-05-30")),
            "{e}"
        );
        let eid = e["id"].as_str().unwrap().to_string();
        let (s, v) = node
            .post(&claire, &path, &json!({"programme": programme.code}))
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (409, Some("already_enrolled")),
            "{v}"
        );

        // Day one: both follow-ups due on the 8th, within the week ahead.
        let items = |todo: &Value| -> Vec<(String, String, bool)> {
            todo["programmes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["what"].as_str().unwrap().to_string(),
                        t["due_on"].as_str().unwrap().to_string(),
                        t["overdue"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert_eq!(
            items(&todo),
            vec![
                (
                    "entretien individuel".to_string(),
                    "2027-03-08".to_string(),
                    false
                ),
                (
                    "atelier collectif".to_string(),
                    "2027-03-08".to_string(),
                    false
                ),
            ],
            "{todo}"
        );
        let (_, todo_paul) = node.get(&paul, "/api/v1/todo").await;
        assert!(
            todo_paul["programmes"].as_array().unwrap().is_empty(),
            "not Paul's person"
        );

        // An interview on the 4th moves the individual one to the 11th;
        // on the 10th the workshop (due the 8th) is overdue, the interview not.
        clock.advance(Duration::from_secs(3 * DAY));
        let (s, v) = node
            .post(
                &claire,
                &format!("/api/v1/candidates/{id}/followups"),
                &json!({"kind": "interview", "body": "Point hebdomadaire."}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        clock.advance(Duration::from_secs(6 * DAY));
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert_eq!(
            items(&todo),
            vec![
                (
                    "atelier collectif".to_string(),
                    "2027-03-08".to_string(),
                    true
                ),
                (
                    "entretien individuel".to_string(),
                    "2027-03-11".to_string(),
                    false
                ),
            ],
            "{todo}"
        );
        let cookie = node.ui_cookie("claire@mission-emploi.fr").await;
        let (_, home) = node.ui_get(&cookie, "/ui/").await;
        assert!(
            home.contains("3 mois pour un job : atelier collectif"),
            "{home}"
        );
        assert!(
            home.contains("en retard, prévu le 08&#x2f;03&#x2f;2027"),
            "{home}"
        );
        let (_, record) = node.ui_get(&cookie, &format!("/ui/candidats/{id}")).await;
        assert!(
            record.contains("Programmes d&#x27;accompagnement")
                || record.contains("Programmes d'accompagnement"),
            "{record}"
        );
        assert!(record.contains("1 entretien(s) individuel(s), 0 atelier(s) collectif(s), 0 immersion(s) sur 1 prévue(s)"), "{record}");

        // Renewed once (another 13 weeks), not twice.
        let (s, e) = node
            .post(
                &claire,
                &format!("/api/v1/enrolments/{eid}/renew"),
                &json!({}),
            )
            .await;
        assert_eq!((s, e["ends_on"].as_str()), (200, Some("2027-08-29")), "{e}");
        let (s, v) = node
            .post(
                &claire,
                &format!("/api/v1/enrolments/{eid}/renew"),
                &json!({}),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (409, Some("no_renewal_left")),
            "{v}"
        );

        // Three months on: closed into a CDI; counted in the report.
        clock.advance(Duration::from_secs(79 * DAY));
        // API tokens last 30 days: a new one.
        let claire = {
            let uid: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind("claire@mission-emploi.fr")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
            let now = node.state.clock.now_ms();
            vivier_node::auth::tokens::issue(
                &node.state.db,
                now,
                &uid,
                vivier_node::auth::tokens::TokenKind::Api,
                Some("test"),
                now + 86_400_000,
            )
            .await
            .unwrap()
            .token
        };
        let cookie = node.ui_cookie("claire@mission-emploi.fr").await;
        let (s, e) = node
            .post(
                &claire,
                &format!("/api/v1/enrolments/{eid}/close"),
                &json!({"status": "completed", "outcome": "cdi"}),
            )
            .await;
        assert_eq!(
            (s, e["status"].as_str(), e["outcome"].as_str()),
            (200, Some("completed"), Some("cdi")),
            "{e}"
        );
        assert!(e["due"].as_array().unwrap().is_empty());
        let (s, v) = node
            .post(
                &claire,
                &format!("/api/v1/enrolments/{eid}/close"),
                &json!({"status": "abandoned"}),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (409, Some("enrolment_closed")),
            "{v}"
        );
        let (_, todo) = node.get(&claire, "/api/v1/todo").await;
        assert!(todo["programmes"].as_array().unwrap().is_empty(), "{todo}");
        let (s, r) = node.get(&claire, "/api/v1/reports?year=2027").await;
        assert_eq!(s, 200, "{r}");
        let p = &r["programmes"][0];
        assert_eq!(
            (
                p["enrolled"].as_i64(),
                p["active"].as_i64(),
                p["completed"].as_i64(),
                p["positive_outcomes"].as_i64(),
                p["outcomes"]["cdi"].as_i64()
            ),
            (Some(1), Some(0), Some(1), Some(1), Some(1)),
            "{p}"
        );
        let csv = node
            .client
            .get(node.url("/api/v1/reports/export?format=csv&year=2027"))
            .bearer_auth(&claire)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            csv.contains(",programmes,3-mois-pour-un-job,3 mois pour un job,outcome.cdi,1"),
            "{csv}"
        );
        let (_, rapports) = node.ui_get(&cookie, "/ui/rapports?annee=2027").await;
        assert!(
            rapports.contains("3 mois pour un job") && rapports.contains("CDI : 1"),
            "{rapports}"
        );
        let audited: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'programme.%'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(audited, 3, "enrol, renew, close");

        // The record's forms: enrol again, then record an abandon.
        let form = |path: String, fields: Vec<(&'static str, String)>| {
            let cookie = cookie.clone();
            let url = node.url(&path);
            let origin = node.base.clone();
            async move {
                crate::support::browser()
                    .post(url)
                    .header("origin", origin)
                    .header("cookie", cookie)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let r = form(
            format!("/ui/candidats/{id}/programmes"),
            vec![("programme", programme.code.clone())],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, list) = node.get(&claire, &path).await;
        let again = list["items"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(list["items"][0]["status"], "active", "{list}");
        let r = form(
            format!("/ui/inscriptions/{again}"),
            vec![("action", "abandon".into()), ("resultat", "none".into())],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, list) = node.get(&claire, &path).await;
        assert_eq!(
            (
                list["items"][0]["status"].as_str(),
                list["items"][0]["outcome"].as_str()
            ),
            (Some("abandoned"), Some("none")),
            "{list}"
        );
        let (_, record) = node.ui_get(&cookie, &format!("/ui/candidats/{id}")).await;
        assert!(
            record.contains("abandonné : sans emploi ni formation")
                && record.contains("terminé : CDI"),
            "{record}"
        );

        // Erasure takes the enrolment with the record.
        let (s, _) = node
            .delete(&claire, &format!("/api/v1/candidates/{id}"))
            .await;
        assert_eq!(s, 204);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM programme_enrolments")
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
        node.stop().await;
    }
}

/// Reading a CV file, withdrawing consent and erasing are refused to an
/// employer by the candidate service itself, whichever adapter calls it;
/// nothing changes and nothing is audited; staff go through the same
/// functions, which audit in their transaction.
#[tokio::test]
async fn candidate_operations_are_refused_to_an_employer_by_the_service_itself() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@entreprise.fr").await;
        let id = create(
            &node,
            &staff,
            body("Inès", "Morel", "41018", &["N1101"], "Cariste CACES 3"),
            Some("network"),
        )
        .await;
        let audits = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE target_id = $1")
                .bind(&id)
                .fetch_one(&node.state.db.pool)
                .await
                .expect("count")
        };
        let before = audits().await;

        let intruder = crate::support::actor_of(&node, &employer).await;
        for err in [
            vivier_node::candidates::withdraw_consent(&node.state, &intruder, &id, "test")
                .await
                .map(|_| ())
                .expect_err("employer may not withdraw"),
            vivier_node::candidates::erase(&node.state, &intruder, &id, None, "test")
                .await
                .expect_err("employer may not erase"),
            vivier_node::candidates::read_cv(&node.state, &intruder, &id, "x", None, "test")
                .await
                .map(|_| ())
                .expect_err("employer may not read a CV"),
            vivier_node::candidates::attach_cv(
                &node.state,
                &intruder,
                &id,
                "cv.pdf",
                b"%PDF".to_vec(),
                "test",
            )
            .await
            .map(|_| ())
            .expect_err("employer may not upload"),
        ] {
            assert!(
                matches!(err, vivier_node::error::Error::Forbidden),
                "{err:?}"
            );
        }
        let (st, e) = node
            .delete(&employer, &format!("/api/v1/candidates/{id}/consent"))
            .await;
        assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")), "{e}");
        let (st, e) = node
            .delete(&employer, &format!("/api/v1/candidates/{id}"))
            .await;
        assert_eq!((st, e["code"].as_str()), (403, Some("forbidden")), "{e}");
        let cookie = node.ui_cookie("rh@entreprise.fr").await;
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{id}/supprimer"),
            &[("confirmer", "oui")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert_eq!(audits().await, before, "a refusal writes nothing");
        let (st, still) = node.get(&staff, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 200);
        assert_eq!(still["consent"]["scope"], "network", "{still}");

        // Staff: the same service, audited in its transaction.
        let (st, _) = node
            .delete(&staff, &format!("/api/v1/candidates/{id}/consent"))
            .await;
        assert_eq!(st, 200);
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE target_id = $1 AND action = 'candidate.consent_withdrawn'",
        )
        .bind(&id)
        .fetch_one(&node.state.db.pool)
        .await
        .expect("count");
        assert_eq!(n, 1);
        node.stop().await;
    }
}

/// A record read from the web UI (the record page, the erasure
/// confirmation) and from the API goes through the same service function,
/// `candidates::read`: each writes exactly one `candidate.read` entry of
/// the same shape (actor, role, target, details). An employer is refused
/// by that service whichever adapter calls it, and nothing is audited.
/// The other staff actions audit in the service too: the UI's consent and
/// the API's write the same entry but for `via`.
#[tokio::test]
async fn a_record_read_is_audited_once_by_the_read_service_whichever_adapter_calls_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let staff = node.user(Role::Counsellor, "lecture@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@lecture.fr").await;
        let id = create(
            &node,
            &staff,
            body("Lucie", "Perrin", "41018", &["N1101"], "Cariste"),
            None,
        )
        .await;
        let reads = || async {
            audit_actions(&node, &admin, &id)
                .await
                .into_iter()
                .filter(|e| e["action"] == "candidate.read")
                .collect::<Vec<_>>()
        };
        let shape = |e: &Value| {
            json!({
                "actor_id": e["actor_id"],
                "actor_role": e["actor_role"],
                "target_kind": e["target_kind"],
                "target_id": e["target_id"],
                "details": e["details"],
            })
        };
        assert!(reads().await.is_empty());

        let (st, v) = node.get(&staff, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(st, 200, "{v}");
        let after_api = reads().await;
        assert_eq!(after_api.len(), 1, "{after_api:?}");
        let api_shape = shape(&after_api[0]);
        assert_eq!(api_shape["actor_role"], "counsellor");
        assert_eq!(api_shape["details"], json!({ "sensitive": true }));

        let cookie = node.ui_cookie("lecture@mission.fr").await;
        for path in [
            format!("/ui/candidats/{id}"),
            format!("/ui/candidats/{id}/supprimer"),
        ] {
            let before = reads().await.len();
            let page = crate::support::get(&node, Some(&cookie), &path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            let after = reads().await;
            assert_eq!(after.len(), before + 1, "{path}: exactly one read entry");
            let newest = after
                .iter()
                .find(|e| !after_api.iter().any(|a| a["id"] == e["id"]))
                .expect("the new entry");
            assert_eq!(shape(newest), api_shape, "{path}");
        }

        // An employer: refused by the service, through the API and the UI.
        let count = reads().await.len();
        let intruder = crate::support::actor_of(&node, &employer).await;
        let err = vivier_node::candidates::read(&node.state, &intruder, &id, None)
            .await
            .map(|_| ())
            .expect_err("an employer may not read a record");
        assert!(
            matches!(err, vivier_node::error::Error::Forbidden),
            "{err:?}"
        );
        let (st, _) = node
            .get(&employer, &format!("/api/v1/candidates/{id}"))
            .await;
        assert_eq!(st, 403);
        let employer_cookie = node.ui_cookie("rh@lecture.fr").await;
        for path in [
            format!("/ui/candidats/{id}"),
            format!("/ui/candidats/{id}/supprimer"),
        ] {
            let page = crate::support::get(&node, Some(&employer_cookie), &path).await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
        }
        assert_eq!(reads().await.len(), count, "a refusal writes nothing");

        // A change: the UI's consent and the API's are the same service,
        // audited in its transaction, the adapter named in `via`.
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{id}/consentement"),
            &[("action", "donner"), ("portee", "local")],
        )
        .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (st, _) = node
            .post(
                &staff,
                &format!("/api/v1/candidates/{id}/consent"),
                &json!({"scope": "network"}),
            )
            .await;
        assert_eq!(st, 200);
        let consents: Vec<Value> = audit_actions(&node, &admin, &id)
            .await
            .into_iter()
            .filter(|e| e["action"] == "candidate.consent")
            .map(|e| e["details"].clone())
            .collect();
        assert_eq!(consents.len(), 2, "{consents:?}");
        assert!(consents.contains(&json!({"scope": "local", "via": "ui"})));
        assert!(consents.contains(&json!({"scope": "network", "via": "api"})));
        let page = crate::support::post(
            &node,
            Some(&employer_cookie),
            &format!("/ui/candidats/{id}/consentement"),
            &[("action", "donner"), ("portee", "local")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        node.stop().await;
    }
}
