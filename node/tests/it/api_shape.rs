//! One API shape (issue 15): every growing list answers the same envelope
//! `{items, total, page, per_page}` with the same paging parameters; a JSON
//! body with several faults gets ONE problem naming every failing field
//! with a stable code; the OpenAPI document at `/api/v1/openapi.json`
//! covers every `/api/v1` route registered in the router's source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{
    backends, candidate_body as candidate, offer_body as offer, start_node, TestNode,
};
use serde_json::{json, Value};
use vivier_node::auth::Role;

/// `(field, code)` of every error of a problem, sorted.
fn field_codes(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_string(),
                        e["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect();
    out.sort();
    out
}

/// Every `(path, method)` registered with `.route("/api/v1…", …)` in the
/// node's source.
fn source_routes() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            let args = &rest[i + ".route(".len()..];
            // The call's arguments: up to the matching parenthesis.
            let mut depth = 1;
            let mut end = args.len();
            for (j, c) in args.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &args[..end];
            rest = &args[end..];
            let trimmed = call.trim_start();
            let Some(lit) = trimmed.strip_prefix('"') else {
                continue;
            };
            let path = &lit[..lit.find('"').unwrap()];
            if !path.starts_with("/api/v1") {
                continue;
            }
            let mut found = false;
            for m in ["get", "post", "put", "patch", "delete"] {
                for (k, _) in call.match_indices(&format!("{m}(")) {
                    let before = call[..k].chars().last().unwrap_or(' ');
                    if !before.is_alphanumeric() && before != '_' {
                        routes.insert((path.to_string(), m.to_string()));
                        found = true;
                    }
                }
            }
            assert!(found, "{}: no method found in .route({call})", f.display());
        }
    }
    routes
}

#[tokio::test]
async fn openapi_document_covers_every_api_route() {
    let backend = backends().remove(0);
    let node = start_node(&backend).await;
    // Served without authentication.
    let resp = reqwest::get(node.url("/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    let routes = source_routes();
    assert!(routes.len() > 50, "the source scan found {routes:?}");
    let mut missing = Vec::new();
    for (path, method) in &routes {
        if paths.get(path).and_then(|p| p.get(method)).is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    // Nothing documented that is not served.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                assert!(
                    routes.contains(&(path.clone(), method.clone()))
                        || path == "/api/v1/openapi.json",
                    "documented but not routed: {method} {path}"
                );
            }
        }
        // Every path template variable is a declared path parameter.
        for var in path.split('{').skip(1).map(|s| &s[..s.find('}').unwrap()]) {
            for (method, op) in item.as_object().unwrap() {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == var && p["in"] == "path"));
                assert!(declared, "{method} {path}: parameter {var} not declared");
            }
        }
    }
    // Query parameters with a default are optional: a generated client
    // must not be forced to send the paging of a list.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" && (p["name"] == "page" || p["name"] == "per_page") {
                    assert_ne!(p["required"], true, "{method} {path}: {p}");
                }
            }
        }
    }
    // Every JSON body is described by a schema, and failures by the
    // problem document.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Problem",
        "FieldError",
        "OfferInput",
        "CandidateInput",
        "NewUser",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // No reference points nowhere.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap_or("").to_string());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "{all:?}");
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").expect(r);
        assert!(schemas.contains_key(name), "dangling reference {r}");
    }
    let create_offer = &paths["/api/v1/offers"]["post"];
    assert_eq!(
        create_offer["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/OfferInput"
    );
    assert_eq!(
        create_offer["responses"]["default"]["content"]["application/problem+json"]["schema"]
            ["$ref"],
        "#/components/schemas/Problem"
    );
    let list = &paths["/api/v1/offers"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        params.contains(&"page") && params.contains(&"per_page"),
        "{params:?}"
    );
    node.stop().await;
}

/// `GET path` answers the envelope; returns it.
async fn envelope(node: &TestNode, token: &str, path: &str) -> Value {
    let (st, v) = node.get(token, path).await;
    assert_eq!(st, 200, "{path}: {v}");
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["items", "total", "page", "per_page"] {
        assert!(keys.contains(k), "{path}: no {k} in {v}");
    }
    assert!(v["items"].is_array() && v["total"].is_i64(), "{path}: {v}");
    assert!(
        v["items"].as_array().unwrap().len() as i64 <= v["per_page"].as_i64().unwrap(),
        "{path}: {v}"
    );
    v
}

#[tokio::test]
async fn every_growing_list_has_one_envelope() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let counsellor = node.user(Role::Counsellor, "c@mission.fr").await;
        let mut ids = Vec::new();
        for first in ["Léa", "Karim", "Inès"] {
            let (st, c) = node
                .post(&counsellor, "/api/v1/candidates", &candidate(first))
                .await;
            assert_eq!(st, 201, "{c}");
            ids.push(c["id"].as_str().unwrap().to_string());
        }
        let (st, o) = node
            .post(&admin, "/api/v1/offers", &offer("Cariste H/F"))
            .await;
        assert_eq!(st, 201, "{o}");
        let oid = o["offer_id"].as_str().unwrap().to_string();
        let (st, r) = node
            .post(
                &counsellor,
                "/api/v1/referrals",
                &json!({"offer_id": oid, "candidate_id": ids[0], "endorsement": "Sérieuse."}),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        let rid = r["id"].as_str().unwrap().to_string();
        let (st, f) = node
            .post(
                &counsellor,
                &format!("/api/v1/candidates/{}/followups", ids[0]),
                &json!({"body": "Premier entretien."}),
            )
            .await;
        assert_eq!(st, 201, "{f}");
        node.sync_index().await;

        // Paging is the same everywhere: page 2 of 3 by 2 holds one.
        let v = envelope(&node, &counsellor, "/api/v1/candidates?page=2&per_page=2").await;
        assert_eq!(
            (
                v["total"].as_i64(),
                v["page"].as_i64(),
                v["per_page"].as_i64()
            ),
            (Some(3), Some(2), Some(2))
        );
        assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
        let v = envelope(
            &node,
            &counsellor,
            "/api/v1/candidates/search?q=cariste&page=2&per_page=2",
        )
        .await;
        assert_eq!(
            (v["total"].as_i64(), v["items"].as_array().unwrap().len()),
            (Some(3), 1),
            "{v}"
        );
        assert!(
            v["facets"]["rome"].is_object(),
            "search adds its facets: {v}"
        );
        let v = envelope(&node, &admin, "/api/v1/users?page=2&per_page=1").await;
        assert_eq!(v["total"], 2, "{v}");
        assert_eq!(v["items"][0]["email"], "c@mission.fr", "by e-mail: {v}");
        let v = envelope(&node, &admin, "/api/v1/offers").await;
        assert_eq!(
            (
                v["total"].as_i64(),
                v["page"].as_i64(),
                v["per_page"].as_i64()
            ),
            (Some(1), Some(1), Some(50))
        );
        let v = envelope(&node, &admin, "/api/v1/offers/search?q=cariste").await;
        assert_eq!(v["items"][0]["offer"]["offer_id"], oid.as_str(), "{v}");
        assert!(v["facets"]["rome"].is_object(), "{v}");
        let v = envelope(&node, &counsellor, "/api/v1/referrals").await;
        assert_eq!(v["items"][0]["id"], rid.as_str());
        let v = envelope(
            &node,
            &counsellor,
            &format!("/api/v1/referrals/{rid}/events"),
        )
        .await;
        assert_eq!(v["total"], 1, "{v}");
        let v = envelope(
            &node,
            &admin,
            "/api/v1/audit?action=candidate.create&per_page=2",
        )
        .await;
        assert_eq!(
            (v["total"].as_i64(), v["items"].as_array().unwrap().len()),
            (Some(3), 2),
            "{v}"
        );
        let v = envelope(
            &node,
            &admin,
            "/api/v1/audit?action=candidate.create&per_page=2&page=2",
        )
        .await;
        assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
        let v = envelope(
            &node,
            &counsellor,
            &format!("/api/v1/candidates/{}/followups", ids[0]),
        )
        .await;
        assert_eq!(v["total"], 1);
        envelope(
            &node,
            &counsellor,
            &format!("/api/v1/candidates/{}/notices", ids[0]),
        )
        .await;
        envelope(&node, &counsellor, "/api/v1/notifications?unread=true").await;
        envelope(&node, &admin, "/api/v1/federation/dead-letters").await;
        envelope(&node, &counsellor, "/api/v1/auth/tokens").await;

        // The same bounds and the same field errors everywhere, all of
        // them at once.
        for path in [
            "/api/v1/candidates",
            "/api/v1/candidates/search",
            "/api/v1/offers",
            "/api/v1/offers/search",
            "/api/v1/referrals",
            "/api/v1/audit",
            "/api/v1/users",
            "/api/v1/notifications",
            "/api/v1/federation/dead-letters",
            "/api/v1/auth/tokens",
        ] {
            let (st, v) = node
                .get(&admin, &format!("{path}?page=0&per_page=201"))
                .await;
            assert_eq!(st, 400, "{path}: {v}");
            assert_eq!(
                field_codes(&v),
                pairs(&[("page", "out_of_range"), ("per_page", "out_of_range")]),
                "{path}: {v}"
            );
        }
        // Every bad search parameter at once.
        let (st, v) = node
            .get(
                &admin,
                "/api/v1/offers/search?rome=ZZZZ&status=maybe&sort=up&contract_type=X",
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("contract_type", "invalid_value"),
                ("rome", "invalid_value"),
                ("sort", "invalid_value"),
                ("status", "invalid_value"),
            ]),
            "{v}"
        );
        // A paging error and a filter error together.
        let (st, v) = node
            .get(&admin, "/api/v1/offers?page=x&status=maybe&colour=blue")
            .await;
        assert_eq!(st, 400, "{v}");
        let fields: Vec<String> = field_codes(&v).into_iter().map(|(f, _)| f).collect();
        assert!(
            fields.contains(&"page".to_string()) && fields.contains(&"colour".to_string()),
            "{v}"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_body_with_many_faults_gets_one_problem_naming_each() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let before = node.snapshot().await;

        // Three required fields missing, one of the wrong type.
        let (st, v) = node
            .post(
                &admin,
                "/api/v1/offers",
                &json!({"contract_type": 5, "workplaces": [{"commune_insee": "41018"}]}),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["code"], "validation", "{v}");
        assert_eq!(v["title"], "Données invalides", "{v}");
        assert_eq!(
            v["detail"], "4 champs sont à corriger : title, description, rome_code, contract_type.",
            "{v}"
        );
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("contract_type", "invalid_type"),
                ("description", "required"),
                ("rome_code", "required"),
                ("title", "required"),
            ]),
            "{v}"
        );
        for e in v["errors"].as_array().unwrap() {
            assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
        }
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["message"] == "ce champ est obligatoire"),
            "French messages: {v}"
        );

        // Nested: a workplace of the wrong shape and an unknown value.
        let mut o = offer("Cariste H/F");
        o["contract_type"] = json!("CDX");
        o["workplaces"] = json!([{"commune_insee": "41018"}, {"positions": "deux"}]);
        o["salaire"] = json!(1);
        let (st, v) = node.post(&admin, "/api/v1/offers", &o).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("contract_type", "invalid_value"),
                ("salaire", "unknown_field"),
                ("workplaces[1].commune_insee", "required"),
                ("workplaces[1].positions", "invalid_type"),
            ]),
            "{v}"
        );

        // Other bodies: accounts, referrals, login (unauthenticated).
        let (st, v) = node
            .post(&admin, "/api/v1/users", &json!({"role": 3}))
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("display_name", "required"),
                ("email", "required"),
                ("role", "invalid_type"),
            ]),
            "{v}"
        );
        let (st, v) = node
            .post(&admin, "/api/v1/referrals", &json!({"offer_id": 7}))
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("candidate_id", "required"),
                ("endorsement", "required"),
                ("offer_id", "invalid_type"),
            ]),
            "{v}"
        );
        let resp = reqwest::Client::new()
            .post(node.url("/api/v1/auth/login"))
            .json(&json!({"email": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            field_codes(&v),
            pairs(&[("email", "invalid_type"), ("password", "required")]),
            "{v}"
        );
        // A record: semantic checks still run once the shape is right, and
        // a shape fault never echoes a sensitive value.
        let mut c = candidate("Léa");
        c["sensitive"] = json!({"rsa_beneficiary": "1 84 12 75 123 456"});
        c["max_travel_km"] = json!("loin");
        let (st, v) = node.post(&admin, "/api/v1/candidates", &c).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(
            field_codes(&v),
            pairs(&[
                ("max_travel_km", "invalid_type"),
                ("sensitive.rsa_beneficiary", "invalid_type"),
            ]),
            "{v}"
        );
        assert!(!v.to_string().contains("84 12"), "{v}");
        // Semantic checks of a well-shaped body: every entry has a code.
        let mut c = candidate("");
        c["email"] = json!("pas une adresse");
        let (st, v) = node.post(&admin, "/api/v1/candidates", &c).await;
        assert_eq!(st, 400, "{v}");
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["code"].is_string()),
            "{v}"
        );
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn problems_read_by_a_person_are_in_french() {
    let backend = backends().remove(0);
    let node = start_node(&backend).await;
    let employer = node.user(Role::Employer, "rh@logistique.fr").await;
    let client = reqwest::Client::new();
    let resp = client.get(node.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["title"].as_str()),
        (Some("unauthenticated"), Some("Authentification requise")),
        "{v}"
    );
    assert!(
        v["detail"].as_str().unwrap().starts_with("Connectez-vous"),
        "{v}"
    );
    let (st, v) = node.get(&employer, "/api/v1/candidates").await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["title"].as_str()),
        (Some("forbidden"), Some("Accès refusé"))
    );
    assert_eq!(v["detail"], "Votre rôle ne permet pas cette action.");
    let (st, v) = node.get(&employer, "/api/v1/offers/nope").await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["title"].as_str()),
        (Some("not_found"), Some("Introuvable"))
    );
    assert_eq!(
        v["detail"],
        "Cette offre n'existe pas ou ne vous est pas visible."
    );
    let resp = client
        .post(node.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "bad_request", "{v}");
    assert!(
        v["detail"].as_str().unwrap().starts_with("JSON mal formé"),
        "{v}"
    );
    // A known path with a method it does not accept: a problem too.
    let resp = client
        .delete(node.url("/api/v1/candidates/search"))
        .bearer_auth(&employer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["title"].as_str()),
        (Some("method_not_allowed"), Some("Méthode non autorisée")),
        "{v}"
    );
    node.stop().await;
}
