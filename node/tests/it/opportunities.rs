//! Trainings and immersions over HTTP on one node (issue 18): validation
//! with field errors, who may do what, referrals to them with the training
//! outcomes (certified adds the certifications to the record, audited),
//! the transitions refused on the wrong target, and the skills gap.
//! Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{
    backends, candidate_body, error_fields as fields, offer_body, start_node, TestNode,
};
use serde_json::{json, Value};
use sqlx::Row;
use vivier_node::auth::Role;

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

fn training_body() -> Value {
    json!({
        "opportunity_type": "training",
        "title": "CACES R489 catégorie 3",
        "organisation": "AFPA Blois",
        "certifications_granted": ["caces_r489_3"],
        "rome_codes": ["N1101"],
        "places": [{"commune_insee": "41018"}],
        "start_date": day(10),
        "end_date": day(14),
        "seats": 8,
        "funding": "OPCO 2i"
    })
}

fn immersion_body() -> Value {
    json!({
        "opportunity_type": "immersion",
        "title": "Immersion en entrepôt",
        "organisation": "Logistique Val de Loire",
        "rome_codes": ["N1103"],
        "places": [{"commune_insee": "41018"}],
        "start_date": day(3),
        "end_date": day(16),
        "tutor": "Marc Dubois, chef d'équipe"
    })
}

async fn create(node: &TestNode, token: &str, body: &Value) -> String {
    let (s, v) = node.post(token, "/api/v1/opportunities", body).await;
    assert_eq!(s, 201, "{v}");
    v["opportunity_id"].as_str().unwrap().to_string()
}

async fn set(node: &TestNode, token: &str, referral: &str, status: &str) -> (u16, Value) {
    node.post(
        token,
        &format!("/api/v1/referrals/{referral}/status"),
        &json!({"status": status}),
    )
    .await
}

#[tokio::test]
async fn bad_input_gets_field_errors_and_nothing_is_stored() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "end before start",
                json!({"end_date": day(1), "start_date": day(5)}),
                "end_date",
            ),
            ("not a date", json!({"start_date": "demain"}), "start_date"),
            (
                "unknown certification",
                json!({"certifications_granted": ["CACES_R999"]}),
                "certifications_granted[0]",
            ),
            (
                "unknown ROME",
                json!({"rome_codes": ["Z9999"]}),
                "rome_codes[0]",
            ),
            (
                "unknown commune",
                json!({"places": [{"commune_insee": "99999"}]}),
                "places[0].commune_insee",
            ),
            ("no place", json!({"places": []}), "places"),
            ("no seat", json!({"seats": 0}), "seats"),
            ("empty title", json!({"title": "  "}), "title"),
            ("a tutor on a training", json!({"tutor": "M. X"}), "tutor"),
            (
                "three years and more",
                json!({"end_date": day(10 + 3 * 366)}),
                "end_date",
            ),
        ];
        for (what, patch, field) in cases {
            let mut body = training_body();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (s, v) = node.post(&staff, "/api/v1/opportunities", &body).await;
            assert_eq!(s, 400, "{what}: {v}");
            assert!(fields(&v).contains(&field.to_string()), "{what}: {v}");
        }
        // An immersion: one ROME code, at most 31 days, no certification.
        let mut body = immersion_body();
        body["rome_codes"] = json!(["N1103", "N1101"]);
        body["end_date"] = json!(day(60));
        body["certifications_granted"] = json!(["SST"]);
        let (s, v) = node.post(&staff, "/api/v1/opportunities", &body).await;
        assert_eq!(s, 400, "{v}");
        let f = fields(&v);
        for field in ["rome_codes", "end_date", "certifications_granted"] {
            assert!(f.contains(&field.to_string()), "{field}: {v}");
        }
        // Unknown members are refused by the extractor.
        let mut body = training_body();
        body["price"] = json!(12);
        let (s, _) = node.post(&staff, "/api/v1/opportunities", &body).await;
        assert_eq!(s, 400);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM opportunities")
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{}", backend.name());
    }
}

#[tokio::test]
async fn staff_publish_search_update_and_close_employers_get_nothing() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        for (method, path) in [
            ("GET", "/api/v1/opportunities"),
            ("POST", "/api/v1/opportunities"),
        ] {
            let (s, _) = if method == "GET" {
                node.get(&employer, path).await
            } else {
                node.post(&employer, path, &training_body()).await
            };
            assert_eq!(s, 403, "{method} {path}");
        }
        let t = create(&node, &staff, &training_body()).await;
        let i = create(&node, &staff, &immersion_body()).await;
        let (s, v) = node
            .get(&employer, &format!("/api/v1/opportunities/{t}"))
            .await;
        assert_eq!(s, 403, "{v}");
        // Stored as normalised; broadcast in the same transaction.
        let (s, v) = node
            .get(&staff, &format!("/api/v1/opportunities/{t}"))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["certifications_granted"], json!(["CACES_R489_3"]));
        assert_eq!(v["places"][0]["label"], "Blois (41)");
        assert!(v["places"][0]["lat_micro"].is_i64(), "{v}");
        assert_eq!(v["is_local"], true);
        let kinds: Vec<String> = sqlx::query("SELECT kind FROM broadcast_log ORDER BY created_at")
            .fetch_all(&node.state.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("kind"))
            .collect();
        assert_eq!(kinds, ["opportunity.published", "opportunity.published"]);
        // Search.
        for (q, expected) in [
            ("type=immersion", vec![i.clone()]),
            ("certification=CACES_R489_3", vec![t.clone()]),
            ("q=afpa", vec![t.clone()]),
            ("rome_code=N1103", vec![i.clone()]),
            ("q=boulangerie", vec![]),
        ] {
            let (s, v) = node
                .get(&staff, &format!("/api/v1/opportunities?{q}"))
                .await;
            assert_eq!(s, 200, "{q}: {v}");
            let ids: Vec<String> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["opportunity_id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ids, expected, "{q}");
        }
        let (s, v) = node.get(&staff, "/api/v1/opportunities?type=stage").await;
        assert_eq!((s, fields(&v)), (400, vec!["type".to_string()]));
        // Update, then close; a closed one cannot change.
        let mut body = training_body();
        body["seats"] = json!(4);
        let (s, v) = node
            .put(&staff, &format!("/api/v1/opportunities/{t}"), &body)
            .await;
        assert_eq!((s, v["seats"].clone()), (200, json!(4)), "{v}");
        // A pending referral to it is refused when it closes.
        let (s, c) = node
            .post(&staff, "/api/v1/candidates", &candidate_body("Léa"))
            .await;
        assert_eq!(s, 201, "{c}");
        let (s, r) = node
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"opportunity_id": t, "candidate_id": c["id"], "endorsement": "Motivée."}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        let pending = r["id"].as_str().unwrap().to_string();
        let (s, v) = node
            .post(
                &staff,
                &format!("/api/v1/opportunities/{t}/close"),
                &json!({"reason": "complet"}),
            )
            .await;
        assert_eq!((s, v["status"].clone()), (200, json!("closed")), "{v}");
        let (s, r) = node
            .get(&staff, &format!("/api/v1/referrals/{pending}"))
            .await;
        assert_eq!((s, r["status"].clone()), (200, json!("refused")), "{r}");
        assert_eq!(r["reason"], "position_filled", "{r}");
        let (s, _) = node
            .put(&staff, &format!("/api/v1/opportunities/{t}"), &body)
            .await;
        assert_eq!(s, 409);
        let audit: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE target_kind = 'opportunity' AND target_id = $1",
        )
        .bind(&t)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audit, 3, "create, update, close");
        // A received copy (another member's) is read-only here.
        let mut tx = node.state.db.begin().await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let theirs: vivier_protocol::OpportunityPayload = serde_json::from_value(json!({
            "opportunity_id": "cd41-f-1", "origin_node": "cd41", "opportunity_type": "training",
            "title": "FIMO marchandises", "organisation": "Promotrans",
            "certifications_granted": ["FIMO_M"], "places": [{"commune_insee": "41018"}],
            "start_date": day(5), "end_date": day(30), "seats": 10,
            "published_at": now, "updated_at": now
        }))
        .unwrap();
        vivier_node::opportunities::receive_published(
            &node.state,
            &mut tx,
            &vivier_protocol::NodeId::parse("cd41").unwrap(),
            theirs,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let (s, _) = node
            .put(&staff, "/api/v1/opportunities/cd41-f-1", &training_body())
            .await;
        assert_eq!(s, 403);
        let (s, _) = node
            .post(&staff, "/api/v1/opportunities/cd41-f-1/close", &json!({}))
            .await;
        assert_eq!(s, 403);
        let (s, v) = node
            .get(&staff, "/api/v1/opportunities?origin=network")
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["items"][0]["opportunity_id"], "cd41-f-1", "{v}");
    }
}

#[tokio::test]
async fn a_certified_training_adds_its_certification_and_closes_the_skills_gap() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let mut offer = offer_body("Cariste CACES 3");
        offer["required_certifications"] = json!(["CACES_R489_3"]);
        offer["start_date"] = json!(day(60));
        let (s, o) = node.post(&employer, "/api/v1/offers", &offer).await;
        assert_eq!(s, 201, "{o}");
        let offer_id = o["offer_id"].as_str().unwrap().to_string();
        let (s, c) = node
            .post(&staff, "/api/v1/candidates", &candidate_body("Léa"))
            .await;
        assert_eq!(s, 201, "{c}");
        let cand = c["id"].as_str().unwrap().to_string();
        let t = create(&node, &staff, &training_body()).await;
        let i = create(&node, &staff, &immersion_body()).await;
        node.sync_index().await;

        // Matched to the candidate: the training on the same trade first,
        // then the immersion in the same domain (N11).
        let (s, v) = node
            .get(&staff, &format!("/api/v1/candidates/{cand}/opportunities"))
            .await;
        assert_eq!(s, 200, "{v}");
        let items = v["items"].as_array().unwrap();
        let ids: Vec<&str> = items
            .iter()
            .map(|o| o["opportunity_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [t.as_str(), i.as_str()], "{v}");
        assert_eq!(items[0]["rome_relation"], "same");
        assert_eq!(items[0]["grants_missing"], json!(["CACES_R489_3"]));
        assert_eq!(items[1]["rome_relation"], "same_domain");
        let (s, _) = node
            .get(
                &employer,
                &format!("/api/v1/candidates/{cand}/opportunities"),
            )
            .await;
        assert_eq!(s, 403);

        // The near miss names what is missing and the training.
        let path = format!("/api/v1/candidates/{cand}/matches?include_near_misses=true");
        let (s, m) = node.get(&staff, &path).await;
        assert_eq!(s, 200, "{m}");
        let gap = &m["matches"][0]["skills_gap"];
        assert_eq!(gap["missing"], json!(["CACES_R489_3"]), "{m}");
        assert_eq!(gap["trainings"][0]["opportunity_id"], t.as_str(), "{m}");
        // The same gap from the offer's side.
        let (s, m) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{offer_id}/matches?include_near_misses=true"),
            )
            .await;
        assert_eq!(s, 200, "{m}");
        let row = &m["workplaces"][0]["matches"][0];
        assert_eq!(row["candidate_id"], cand.as_str(), "{m}");
        assert_eq!(row["skills_gap"]["missing"], json!(["CACES_R489_3"]), "{m}");
        assert_eq!(
            row["skills_gap"]["trainings"][0]["opportunity_id"],
            t.as_str(),
            "{m}"
        );

        // Bad referral inputs.
        let refer = |body: Value| {
            let node = &node;
            let staff = &staff;
            async move { node.post(staff, "/api/v1/referrals", &body).await }
        };
        let endorsement = "Il ne lui manque que le CACES 3.";
        let (s, v) = refer(json!({"offer_id": offer_id, "opportunity_id": t, "candidate_id": cand, "endorsement": endorsement})).await;
        assert_eq!(
            (s, fields(&v)),
            (400, vec!["opportunity_id".to_string()]),
            "{v}"
        );
        let (s, v) = refer(json!({"opportunity_id": i, "for_offer_id": offer_id, "candidate_id": cand, "endorsement": endorsement})).await;
        assert_eq!(
            (s, fields(&v)),
            (400, vec!["for_offer_id".to_string()]),
            "{v}"
        );
        let (s, v) = refer(json!({"opportunity_id": t, "for_offer_id": "nope", "candidate_id": cand, "endorsement": endorsement})).await;
        assert_eq!(
            (s, fields(&v)),
            (400, vec!["for_offer_id".to_string()]),
            "{v}"
        );
        let (s, _) = node
            .post(
                &employer,
                "/api/v1/referrals",
                &json!({"opportunity_id": t, "candidate_id": cand, "endorsement": endorsement}),
            )
            .await;
        assert_eq!(s, 403, "an employer cannot refer");

        // Referred to the training for the offer, and to the immersion.
        let (s, r) = refer(json!({"opportunity_id": t, "for_offer_id": offer_id, "candidate_id": cand, "endorsement": endorsement})).await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(
            (r["target"].clone(), r["direction"].clone()),
            (json!("training"), json!("local"))
        );
        assert_eq!(r["offer_title"], "CACES R489 catégorie 3");
        let tr = r["id"].as_str().unwrap().to_string();
        let (s, r) =
            refer(json!({"opportunity_id": i, "candidate_id": cand, "endorsement": endorsement}))
                .await;
        assert_eq!(s, 201, "{r}");
        let ir = r["id"].as_str().unwrap().to_string();

        // Transitions: hiring steps are refused on a training, certified
        // on an immersion, and certified straight from new.
        let (s, v) = set(&node, &staff, &tr, "certified").await;
        assert_eq!(s, 409, "{v}");
        assert!(
            v["detail"].as_str().unwrap_or("").contains("admitted"),
            "{v}"
        );
        let (s, _) = set(&node, &staff, &tr, "prior_to_hire").await;
        assert_eq!(s, 409);
        assert_eq!(set(&node, &staff, &ir, "admitted").await.0, 200);
        assert_eq!(set(&node, &staff, &ir, "certified").await.0, 409);
        assert_eq!(set(&node, &staff, &ir, "completed").await.0, 200);
        assert_eq!(set(&node, &staff, &tr, "admitted").await.0, 200);
        assert_eq!(set(&node, &staff, &tr, "completed").await.0, 200);
        let (s, v) = set(&node, &staff, &tr, "certified").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            set(&node, &staff, &tr, "abandoned").await.0,
            409,
            "certified is final"
        );

        // The record holds the certification; the change is audited.
        let (s, rec) = node
            .get(&staff, &format!("/api/v1/candidates/{cand}"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(rec["certifications"], json!(["CACES_R489_3"]), "{rec}");
        let details: String = sqlx::query_scalar(
            "SELECT details FROM audit_log WHERE action = 'candidate.certifications_granted' AND target_id = $1",
        )
        .bind(&cand)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert!(
            details.contains(&tr) && details.contains("CACES_R489_3"),
            "{details}"
        );

        // An offer referral never takes a training outcome.
        node.sync_index().await;
        let (s, m) = node.get(&staff, &path).await;
        assert_eq!(s, 200);
        assert_eq!(m["matches"][0]["eligible"], true, "{m}");
        assert!(m["matches"][0].get("skills_gap").is_none(), "{m}");
        let (s, r) =
            refer(json!({"offer_id": offer_id, "candidate_id": cand, "endorsement": endorsement}))
                .await;
        assert_eq!(s, 201, "{r}");
        let hr = r["id"].as_str().unwrap().to_string();
        assert_eq!(set(&node, &staff, &hr, "admitted").await.0, 409);
        let (s, v) = node
            .post(
                &employer,
                &format!("/api/v1/referrals/{hr}/status"),
                &json!({"status": "accepted", "contract_type": "CDI", "start_date": day(0)}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        let (s, rep) = node
            .get(
                &admin,
                &format!("/api/v1/reports?from={}&to={}", day(-1), day(1)),
            )
            .await;
        assert_eq!(s, 200, "{rep}");
        let f = &rep["trainings"];
        assert_eq!(f["by_target"]["training"]["certified"], 1, "{f}");
        assert_eq!(f["by_target"]["immersion"]["completed"], 1, "{f}");
        assert_eq!(f["placements_after_training"], 1, "{f}");
        assert_eq!(f["links"][0]["hire_referral_id"], hr.as_str(), "{f}");
        // The hire links back to the training, in the API and the pages.
        let (s, v) = node.get(&staff, &format!("/api/v1/referrals/{hr}")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["after_trainings"][0]["referral_id"], tr.as_str(), "{v}");
        assert_eq!(v["after_trainings"][0]["status"], "certified", "{v}");
        let cookie = node.ui_cookie("admin@mission.fr").await;
        let (s, page) = node
            .ui_get(&cookie, &format!("/ui/mises-en-relation/{hr}"))
            .await;
        assert_eq!(s, 200, "{page}");
        assert!(page.contains("id=\"apres-formation\""), "{page}");
        let (s, page) = node
            .ui_get(
                &cookie,
                &format!("/ui/rapports?du={}&au={}", day(-1), day(1)),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let figure = page
            .split("id=\"placements-apres-formation\"")
            .nth(1)
            .unwrap_or_else(|| panic!("no training figures: {page}"));
        assert!(figure.contains("<strong>1</strong>"), "{figure}");
    }
}

#[tokio::test]
async fn the_pages_render_for_staff_and_refuse_employers() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        node.user(Role::Employer, "rh@logistique.fr").await;
        let t = create(&node, &staff, &training_body()).await;
        let cookie = node.ui_cookie("conseil@mission.fr").await;
        for path in [
            "/ui/formations".to_string(),
            "/ui/formations?type=training&certification=CACES_R489_3".to_string(),
            "/ui/formations/nouvelle".to_string(),
            format!("/ui/formations/{t}"),
        ] {
            let (s, body) = node.ui_get(&cookie, &path).await;
            assert_eq!(s, 200, "{path}: {body}");
            assert!(
                body.contains("CACES") || path.ends_with("nouvelle"),
                "{path}"
            );
        }
        let cookie = node.ui_cookie("rh@logistique.fr").await;
        let (s, _) = node.ui_get(&cookie, "/ui/formations").await;
        assert_eq!(s, 403);
    }
}

/// Audit entries of the opportunity changes, broadcasts, and the stored
/// row of `id` (status, updated_at, payload).
async fn opportunity_trail(node: &TestNode, id: &str) -> (i64, i64, (String, i64, String)) {
    let pool = &node.state.db.pool;
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN \
         ('opportunity.create', 'opportunity.update', 'opportunity.close')",
    )
    .fetch_one(pool)
    .await
    .expect("audit count");
    let broadcast: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM broadcast_log")
        .fetch_one(pool)
        .await
        .expect("broadcast count");
    let row = sqlx::query("SELECT status, updated_at, payload FROM opportunities WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("the opportunity");
    (
        audited,
        broadcast,
        (row.get("status"), row.get("updated_at"), row.get("payload")),
    )
}

#[tokio::test]
async fn an_employer_is_refused_by_the_opportunity_service_whichever_adapter_calls_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let t = create(&node, &staff, &training_body()).await;
        let before = opportunity_trail(&node, &t).await;
        let count = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM opportunities")
                .fetch_one(&node.state.db.pool)
                .await
                .expect("count")
        };
        assert_eq!(count().await, 1);

        // The service itself.
        let intruder = crate::support::actor_of(&node, &employer).await;
        let input: vivier_node::opportunities::OpportunityInput =
            serde_json::from_value(training_body()).expect("input");
        let forbidden =
            |r: vivier_node::error::Result<vivier_node::opportunities::StoredOpportunity>| {
                let err = r.expect_err("an employer is refused");
                assert!(
                    matches!(err, vivier_node::error::Error::Forbidden),
                    "{err:?}"
                );
            };
        forbidden(vivier_node::opportunities::create(&node.state, &intruder, input.clone()).await);
        forbidden(vivier_node::opportunities::update(&node.state, &intruder, &t, input).await);
        forbidden(
            vivier_node::opportunities::close(
                &node.state,
                &intruder,
                &t,
                vivier_node::opportunities::Closing {
                    reason: Some("complet".into()),
                },
            )
            .await,
        );

        // The API.
        let mut body = training_body();
        body["seats"] = json!(2);
        for (st, v) in [
            node.post(&employer, "/api/v1/opportunities", &body).await,
            node.put(&employer, &format!("/api/v1/opportunities/{t}"), &body)
                .await,
            node.post(
                &employer,
                &format!("/api/v1/opportunities/{t}/close"),
                &json!({"reason": "complet"}),
            )
            .await,
        ] {
            assert_eq!(st, 403, "{v}");
            assert_eq!(v["code"], "forbidden", "{v}");
        }

        // The web forms (the pages check nothing themselves: the service
        // refuses).
        let cookie = node.ui_cookie("rh@logistique.fr").await;
        let start = day(10);
        let end = day(14);
        let page = crate::support::post(
            &node,
            Some(&cookie),
            "/ui/formations/nouvelle",
            &[
                ("type", "training"),
                ("titre", "CACES R489 catégorie 3"),
                ("organisme", "AFPA Blois"),
                ("certifications", "CACES_R489_3"),
                ("rome", "N1101"),
                ("commune", "41018"),
                ("debut", start.as_str()),
                ("fin", end.as_str()),
                ("places", "8"),
            ],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/formations/{t}/cloturer"),
            &[("motif", "complet")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);

        // Nothing written, nothing audited, nothing broadcast.
        assert_eq!(count().await, 1);
        assert_eq!(opportunity_trail(&node, &t).await, before);

        // Staff close it through the same service: one close, audited and
        // broadcast.
        let counsellor = crate::support::actor_of(&node, &staff).await;
        let closed = vivier_node::opportunities::close(
            &node.state,
            &counsellor,
            &t,
            vivier_node::opportunities::Closing {
                reason: Some("complet".into()),
            },
        )
        .await
        .expect("staff close");
        assert_eq!(
            closed.status,
            vivier_node::opportunities::OpportunityStatus::Closed
        );
        let after = opportunity_trail(&node, &t).await;
        assert_eq!((after.0, after.1), (before.0 + 1, before.1 + 1));
        assert_eq!(after.2 .0, "closed");
        node.stop().await;
    }
}
