//! Offers over HTTP: CRUD and validation, multi-workplace offers, France
//! Travail import, schema.org JobPosting export, search, network offers,
//! referential look-ups. Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{actor_of, backends, eventually, start_node, TestNode};
use serde_json::{json, Value};
use vivier_node::auth::Role;

fn cariste_offer() -> Value {
    json!({
        "title": "Cariste H/F",
        "description": "Chargement et déchargement des camions au chariot élévateur, CACES 3 exigé.",
        "rome_code": "n1101",
        "contract_type": "CDI",
        "weekly_hours": 35,
        "salary": {"min_cents": 185000, "max_cents": 205000, "period": "month"},
        "driving_licence": "B",
        "experience_months": 12,
        "employer": {"name": "Logistique Val de Loire", "siret": "81234567800021"},
        "workplaces": [{"commune_insee": "41018", "positions": 2}]
    })
}

fn field_names(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn counsellor(node: &TestNode) -> String {
    node.user(Role::Counsellor, "conseillere@mission-emploi.fr")
        .await
}

#[tokio::test]
async fn offers_crud_and_validation() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = counsellor(&node).await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let other_employer = node.user(Role::Employer, "rh@autre.fr").await;

        // Create as counsellor on behalf of an employer.
        let (st, created) = node.post(&staff, "/api/v1/offers", &cariste_offer()).await;
        assert_eq!(st, 201, "{backend:?} {created}");
        let id = created["offer_id"].as_str().unwrap().to_string();
        assert_eq!(created["rome_code"], "N1101");
        assert_eq!(created["status"], "open");
        assert_eq!(created["is_local"], true);
        assert_eq!(created["origin_node"], "test-node");
        assert_eq!(created["employer"]["name"], "Logistique Val de Loire");
        let wp = &created["workplaces"][0];
        assert_eq!(wp["commune_insee"], "41018");
        assert_eq!(wp["lat_micro"], 47_581_630);
        assert_eq!(wp["lon_micro"], 1_306_210);
        assert_eq!(wp["label"], "Blois (41)");

        // The change is in the federation outbox log (same transaction).
        let logged: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM broadcast_log WHERE kind = 'offer.published'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(logged, 1, "{backend:?}");

        // Read.
        let (st, got) = node.get(&employer, &format!("/api/v1/offers/{id}")).await;
        assert_eq!(st, 200);
        assert_eq!(got["title"], "Cariste H/F");

        // Validation: every field named.
        let bad = json!({
            "title": " ",
            "description": "",
            "rome_code": "Z9999",
            "contract_type": "CDD",
            "weekly_hours": 60,
            "salary": {"min_cents": 300000, "max_cents": 200000, "period": "month"},
            "driving_licence": "Q",
            "employer": {"name": "X", "siret": "123"},
            "workplaces": [
                {"commune_insee": "41018", "positions": 1},
                {"commune_insee": "99999", "positions": 0}
            ]
        });
        let (st, body) = node.post(&staff, "/api/v1/offers", &bad).await;
        assert_eq!(st, 400, "{body}");
        let fields = field_names(&body);
        for f in [
            "title",
            "description",
            "rome_code",
            "duration_months",
            "weekly_hours",
            "salary.min_cents",
            "driving_licence",
            "employer.siret",
            "workplaces[1].positions",
            "workplaces[1].commune_insee",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} missing in {fields:?}");
        }
        // Unknown contract type: rejected by the parser, field named.
        let mut unknown = cariste_offer();
        unknown["contract_type"] = json!("STAGE");
        let (st, body) = node.post(&staff, "/api/v1/offers", &unknown).await;
        assert_eq!(st, 400);
        assert_eq!(field_names(&body), vec!["contract_type"]);
        // No workplace.
        let mut none = cariste_offer();
        none["workplaces"] = json!([]);
        let (st, body) = node.post(&staff, "/api/v1/offers", &none).await;
        assert_eq!(st, 400);
        assert_eq!(field_names(&body), vec!["workplaces"]);
        // Staff must say for which employer.
        let mut no_employer = cariste_offer();
        no_employer.as_object_mut().unwrap().remove("employer");
        let (st, body) = node.post(&staff, "/api/v1/offers", &no_employer).await;
        assert_eq!(st, 400);
        assert_eq!(field_names(&body), vec!["employer"]);

        // An employer posts for its own company, whatever the body says.
        let (st, own) = node
            .post(&employer, "/api/v1/offers", &cariste_offer())
            .await;
        assert_eq!(st, 201, "{own}");
        let own_id = own["offer_id"].as_str().unwrap().to_string();
        assert_eq!(own["employer"]["name"], "Entreprise Test");

        // Only the owner or staff may update / close.
        let mut update = cariste_offer();
        update["title"] = json!("Cariste confirmé H/F");
        update["weekly_hours"] = json!(39);
        let (st, _) = node
            .put(
                &other_employer,
                &format!("/api/v1/offers/{own_id}"),
                &update,
            )
            .await;
        assert_eq!(st, 403);
        let (st, _) = node
            .put(&employer, &format!("/api/v1/offers/{id}"), &update)
            .await;
        assert_eq!(st, 403, "not the owner of the counsellor's offer");
        let (st, updated) = node
            .put(&employer, &format!("/api/v1/offers/{own_id}"), &update)
            .await;
        assert_eq!(st, 200, "{updated}");
        assert_eq!(updated["title"], "Cariste confirmé H/F");
        assert_eq!(updated["weekly_hours"], 39);
        assert!(updated["updated_at"].as_i64().unwrap() > own["updated_at"].as_i64().unwrap());
        assert_eq!(updated["published_at"], own["published_at"]);
        let (st, _) = node
            .put(&staff, &format!("/api/v1/offers/{own_id}"), &update)
            .await;
        assert_eq!(st, 200, "staff may update");

        // List: employers see their own offers only.
        let (st, list) = node.get(&employer, "/api/v1/offers").await;
        assert_eq!(st, 200);
        assert_eq!(list["total"], 1);
        let (_, list) = node.get(&staff, "/api/v1/offers?origin=local").await;
        assert_eq!(list["total"], 2);
        let (_, list) = node.get(&staff, "/api/v1/offers?origin=network").await;
        assert_eq!(list["total"], 0);

        // Close.
        let (st, _) = node
            .delete(&other_employer, &format!("/api/v1/offers/{own_id}"))
            .await;
        assert_eq!(st, 403);
        let (st, closed) = node
            .delete(
                &employer,
                &format!("/api/v1/offers/{own_id}?reason=pourvue"),
            )
            .await;
        assert_eq!(st, 200, "{closed}");
        assert_eq!(closed["status"], "closed");
        assert!(closed["closed_at"].is_i64());
        let (st, _) = node
            .put(&employer, &format!("/api/v1/offers/{own_id}"), &update)
            .await;
        assert_eq!(st, 409, "closed offers are not updated");
        let (st, again) = node
            .delete(&employer, &format!("/api/v1/offers/{own_id}"))
            .await;
        assert_eq!((st, again["status"].as_str()), (200, Some("closed")));
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM broadcast_log ORDER BY seq")
            .fetch_all(&node.state.db.pool)
            .await
            .unwrap();
        assert_eq!(
            kinds,
            vec![
                "offer.published",
                "offer.published",
                "offer.updated",
                "offer.updated",
                "offer.closed"
            ],
            "{backend:?}"
        );
        let (_, list) = node.get(&staff, "/api/v1/offers?status=closed").await;
        assert_eq!(list["total"], 1);
        let (st, _) = node.get(&staff, "/api/v1/offers/nope").await;
        assert_eq!(st, 404);
        let (st, _) = node
            .post("not-a-token", "/api/v1/offers", &cariste_offer())
            .await;
        assert_eq!(st, 401);
        node.stop().await;
    }
}

#[tokio::test]
async fn multi_workplace_offer_search_and_jobposting() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = counsellor(&node).await;
        // One national offer, posts in several communes.
        let national = json!({
            "title": "Aide à domicile H/F",
            "description": "Accompagnement de personnes âgées à domicile : aide au lever, repas, courses, entretien du logement.",
            "rome_code": "K1302",
            "contract_type": "CDD",
            "duration_months": 6,
            "weekly_hours": 24,
            "salary": {"min_cents": 1250, "max_cents": 1400, "period": "hour"},
            "employer": {"name": "Réseau Domicile France"},
            "workplaces": [
                {"commune_insee": "03185", "positions": 40},
                {"commune_insee": "41018", "positions": 25, "label": "Agence de Blois"},
                {"commune_insee": "37261", "positions": 35}
            ]
        });
        let (st, offer) = node.post(&staff, "/api/v1/offers", &national).await;
        assert_eq!(st, 201, "{offer}");
        let id = offer["offer_id"].as_str().unwrap().to_string();
        assert_eq!(offer["workplaces"].as_array().unwrap().len(), 3);
        assert_eq!(offer["workplaces"][1]["label"], "Agence de Blois");
        let (st, cariste) = node.post(&staff, "/api/v1/offers", &cariste_offer()).await;
        assert_eq!(st, 201);
        let cariste_id = cariste["offer_id"].as_str().unwrap().to_string();

        // Search: by text, by ROME, around Montluçon (only the national offer),
        // around Vendôme with 40 km (both: Blois workplaces).
        eventually(10, || async {
            let (_, r) = node.get(&staff, "/api/v1/offers/search").await;
            (r["total"] == 2).then_some(())
        })
        .await
        .expect("indexed");
        let (_, found) = node.get(&staff, "/api/v1/offers/search?q=domicile").await;
        assert_eq!(found["total"], 1, "{found}");
        assert_eq!(found["items"][0]["offer"]["offer_id"], id.as_str());
        assert_eq!(found["items"][0]["offer"]["origin_node"], "test-node");
        let (_, r) = node.get(&staff, "/api/v1/offers/search?rome=N1101").await;
        assert_eq!(r["total"], 1);
        assert_eq!(r["items"][0]["offer"]["offer_id"], cariste_id.as_str());
        let (_, r) = node
            .get(&staff, "/api/v1/offers/search?commune=03185&radius_km=30")
            .await;
        assert_eq!(r["total"], 1, "{r}");
        assert_eq!(r["items"][0]["distance_km"], 0.0);
        let (_, r) = node
            .get(
                &staff,
                "/api/v1/offers/search?commune=41269&radius_km=40&sort=distance",
            )
            .await;
        assert_eq!(r["total"], 2, "{r}");
        let d = r["items"][0]["distance_km"].as_f64().unwrap();
        assert!((25.0..35.0).contains(&d), "Vendôme–Blois {d}");
        let (_, r) = node
            .get(&staff, "/api/v1/offers/search?contract_type=CDD")
            .await;
        assert_eq!(r["total"], 1);
        let (_, r) = node.get(&staff, "/api/v1/offers/search?origin=local").await;
        assert_eq!(r["total"], 2);
        let (st, r) = node
            .get(&staff, "/api/v1/offers/search?commune=99999")
            .await;
        assert_eq!(st, 400);
        assert_eq!(field_names(&r), vec!["commune"]);
        let (st, _) = node.get(&staff, "/api/v1/offers/search?rome=Z0000").await;
        assert_eq!(st, 400);

        // JobPosting: multi-workplace → jobLocation array.
        let r = node
            .client
            .get(node.url(&format!("/api/v1/offers/{id}/jobposting")))
            .bearer_auth(&staff)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/ld+json"));
        let jp: Value = r.json().await.unwrap();
        assert_job_posting(&jp);
        let locations = jp["jobLocation"].as_array().expect("array of places");
        assert_eq!(locations.len(), 3);
        assert_eq!(locations[0]["address"]["addressLocality"], "Montluçon");
        assert_eq!(locations[0]["address"]["postalCode"], "03100");
        assert_eq!(locations[1]["address"]["postalCode"], "41000");
        assert_eq!(jp["employmentType"], json!(["PART_TIME", "TEMPORARY"]));
        assert_eq!(jp["baseSalary"]["value"]["unitText"], "HOUR");
        assert_eq!(jp["baseSalary"]["value"]["minValue"], 12.5);
        assert_eq!(jp["totalJobOpenings"], 100);
        assert!(jp.get("validThrough").is_none());

        // Single workplace → one Place; closed → validThrough.
        node.delete(&staff, &format!("/api/v1/offers/{cariste_id}"))
            .await;
        let (st, jp) = node
            .get(&staff, &format!("/api/v1/offers/{cariste_id}/jobposting"))
            .await;
        assert_eq!(st, 200);
        assert_job_posting(&jp);
        assert!(jp["jobLocation"].is_object());
        assert_eq!(jp["jobLocation"]["geo"]["latitude"], 47.58163);
        assert_eq!(jp["employmentType"], json!(["FULL_TIME"]));
        assert_eq!(jp["baseSalary"]["currency"], "EUR");
        assert_eq!(jp["baseSalary"]["value"]["maxValue"], 2050);
        assert_eq!(
            jp["hiringOrganization"]["identifier"]["value"],
            "81234567800021"
        );
        assert!(jp["validThrough"].is_string());
        node.stop().await;
    }
}

/// The properties Google / schema.org require for a JobPosting, and the
/// shape of the ones we rely on.
fn assert_job_posting(jp: &Value) {
    assert_eq!(jp["@context"], "https://schema.org/");
    assert_eq!(jp["@type"], "JobPosting");
    for key in ["title", "description", "datePosted"] {
        assert!(
            jp[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {jp}"
        );
    }
    assert!(chrono::DateTime::parse_from_rfc3339(jp["datePosted"].as_str().unwrap()).is_ok());
    assert_eq!(jp["hiringOrganization"]["@type"], "Organization");
    assert!(jp["hiringOrganization"]["name"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let places: Vec<&Value> = match &jp["jobLocation"] {
        Value::Array(a) => a.iter().collect(),
        obj @ Value::Object(_) => vec![obj],
        other => panic!("jobLocation {other}"),
    };
    assert!(!places.is_empty());
    for p in places {
        assert_eq!(p["@type"], "Place");
        let a = &p["address"];
        assert_eq!(a["@type"], "PostalAddress");
        assert_eq!(a["addressCountry"], "FR");
        assert!(a["addressLocality"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(a["postalCode"].as_str().is_some_and(|s| s.len() == 5));
        assert_eq!(p["geo"]["@type"], "GeoCoordinates");
        assert!(p["geo"]["latitude"].is_f64() && p["geo"]["longitude"].is_f64());
    }
    let types = jp["employmentType"].as_array().expect("employmentType");
    for t in types {
        assert!(
            [
                "FULL_TIME",
                "PART_TIME",
                "CONTRACTOR",
                "TEMPORARY",
                "INTERN",
                "VOLUNTEER",
                "PER_DIEM",
                "OTHER"
            ]
            .contains(&t.as_str().unwrap()),
            "{t}"
        );
    }
    assert_eq!(jp["identifier"]["@type"], "PropertyValue");
    assert!(jp["identifier"]["value"].is_string());
    if let Some(s) = jp.get("baseSalary") {
        assert_eq!(s["@type"], "MonetaryAmount");
        assert_eq!(s["value"]["@type"], "QuantitativeValue");
        assert!(["HOUR", "DAY", "WEEK", "MONTH", "YEAR"]
            .contains(&s["value"]["unitText"].as_str().unwrap()));
    }
    if let Some(v) = jp.get("validThrough") {
        assert!(chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).is_ok());
    }
}

#[tokio::test]
async fn france_travail_import() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/france_travail_offers.json");
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = counsellor(&node).await;
        let report = vivier_node::offers::import_france_travail_file(
            &node.state,
            &fixture,
            "conseillere@mission-emploi.fr",
            None,
        )
        .await
        .expect("import");
        assert_eq!(report.imported, 3, "{report:?}");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].line, 4);
        assert!(
            report.rejected[0].reason.contains("41999"),
            "{:?}",
            report.rejected
        );

        let (_, list) = node.get(&staff, "/api/v1/offers?origin=local").await;
        assert_eq!(list["total"], 3);
        let offers = list["items"].as_array().unwrap();
        let by_title = |t: &str| {
            offers
                .iter()
                .find(|o| o["title"] == t)
                .unwrap_or_else(|| panic!("{t}"))
        };
        let cariste = by_title("Cariste H/F");
        assert_eq!(cariste["rome_code"], "N1101");
        assert_eq!(cariste["contract_type"], "CDI");
        assert_eq!(cariste["driving_licence"], "B");
        assert_eq!(cariste["weekly_hours"], 35);
        assert_eq!(cariste["experience_months"], 12);
        assert_eq!(
            cariste["salary"],
            json!({"min_cents": 185000, "max_cents": 205000, "period": "month"})
        );
        assert_eq!(
            cariste["employer"],
            json!({"name": "LOGISTIQUE VAL DE LOIRE", "siret": "81234567800021"})
        );
        assert_eq!(cariste["workplaces"][0]["commune_insee"], "41018");
        assert_eq!(cariste["workplaces"][0]["positions"], 2);
        assert_eq!(cariste["published_at"], 1_741_594_542_000_i64);
        let prep = by_title("Préparateur de commandes (H/F)");
        assert_eq!(prep["contract_type"], "MIS");
        assert_eq!(prep["duration_months"], 3);
        assert_eq!(
            prep["workplaces"][0]["commune_insee"], "41295",
            "Vineuil from its postcode"
        );
        assert_eq!(prep["salary"]["period"], "hour");
        assert_eq!(prep["experience_months"], 0);
        let aide = by_title("Aide à domicile (H/F)");
        assert_eq!(aide["contract_type"], "CDD");
        assert_eq!(aide["duration_months"], 6);
        assert_eq!(aide["weekly_hours"], 28);

        // Importing again updates instead of duplicating.
        let again = vivier_node::offers::import_france_travail_file(
            &node.state,
            &fixture,
            "conseillere@mission-emploi.fr",
            None,
        )
        .await
        .expect("import");
        assert_eq!(again.imported, 3);
        let (_, list) = node.get(&staff, "/api/v1/offers?origin=local").await;
        assert_eq!(list["total"], 3);

        // Unknown owner.
        let err = vivier_node::offers::import_france_travail_file(
            &node.state,
            &fixture,
            "nobody@nowhere.fr",
            None,
        )
        .await
        .expect_err("unknown owner");
        assert!(err.to_string().contains("owner"), "{err}");

        // Imported offers are searchable and exportable.
        let id = cariste["offer_id"].as_str().unwrap();
        let (st, jp) = node
            .get(&staff, &format!("/api/v1/offers/{id}/jobposting"))
            .await;
        assert_eq!(st, 200);
        assert_job_posting(&jp);
        assert!(eventually(10, || async {
            let (_, r) = node.get(&staff, "/api/v1/offers/search?q=chariot").await;
            (r["total"] == 1).then_some(())
        })
        .await
        .is_some());
        node.stop().await;
    }
}

#[tokio::test]
async fn network_offers_are_stored_read_only_and_closed() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = counsellor(&node).await;
        let payload = vivier_protocol::OfferPayload {
            offer_id: "0195a000-0000-7000-8000-000000000001".into(),
            origin_node: vivier_protocol::NodeId::parse("petr-montlucon").unwrap(),
            title: "Auxiliaire de vie".into(),
            description: "Aide aux personnes âgées à domicile.".into(),
            rome_code: "K1302".into(),
            contract_type: vivier_protocol::ContractType::Cdi,
            duration_months: None,
            weekly_hours: Some(30),
            salary: None,
            driving_licence: None,
            experience_months: None,
            experience_label: None,
            start_date: None,
            vehicle_required: false,
            required_certifications: Vec::new(),
            desired_certifications: Vec::new(),
            employer: vivier_protocol::Employer {
                name: "ADMR Montluçon".into(),
                siret: None,
            },
            workplaces: vec![vivier_protocol::Workplace {
                commune_insee: "03185".into(),
                label: None,
                lat_micro: Some(0),
                lon_micro: Some(0),
                positions: 1,
            }],
            positions_filled: 0,
            published_at: 1_000,
            updated_at: 2_000,
        };
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(payload.origin_node.clone()),
            &payload,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        vivier_node::journal::catch_up(&node.state).await.unwrap();
        let stored = vivier_node::offers::get_offer(&node.state.db, &payload.offer_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!stored.is_local);
        assert_eq!(stored.owner_user_id, None);
        // Coordinates from our referential, not the sender's 0,0.
        assert_eq!(stored.payload.workplaces[0].lat_micro, Some(46_338_960));

        // A stale update is ignored, a newer one applied.
        let mut stale = payload.clone();
        stale.title = "Ancien titre".into();
        stale.updated_at = 1_500;
        let mut newer = payload.clone();
        newer.title = "Auxiliaire de vie à domicile".into();
        newer.updated_at = 3_000;
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(stale.origin_node.clone()),
            &stale,
        )
        .await
        .unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(newer.origin_node.clone()),
            &newer,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let (st, got) = node
            .get(&staff, &format!("/api/v1/offers/{}", payload.offer_id))
            .await;
        assert_eq!(st, 200);
        assert_eq!(got["title"], "Auxiliaire de vie à domicile");
        assert_eq!(got["is_local"], false);
        assert_eq!(got["origin_node"], "petr-montlucon");

        // Read-only here.
        let (st, _) = node
            .put(
                &staff,
                &format!("/api/v1/offers/{}", payload.offer_id),
                &cariste_offer(),
            )
            .await;
        assert_eq!(st, 409);
        let (st, _) = node
            .delete(&staff, &format!("/api/v1/offers/{}", payload.offer_id))
            .await;
        assert_eq!(st, 409);
        let (_, list) = node.get(&staff, "/api/v1/offers?origin=network").await;
        assert_eq!(list["total"], 1);
        assert!(eventually(10, || async {
            let (_, r) = node
                .get(&staff, "/api/v1/offers/search?origin=petr-montlucon")
                .await;
            (r["total"] == 1).then_some(())
        })
        .await
        .is_some());

        // Only the origin may close it; older updates after the close are ignored.
        let close = vivier_protocol::OfferClosed {
            offer_id: payload.offer_id.clone(),
            reason: Some("pourvue".into()),
            closed_at: 4_000,
        };
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::close_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::System("test"),
            "cd41",
            &close,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let o = vivier_node::offers::get_offer(&node.state.db, &payload.offer_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            o.status,
            vivier_node::offers::OfferStatus::Open,
            "another node cannot close it"
        );
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::close_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::System("test"),
            "petr-montlucon",
            &close,
        )
        .await
        .unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(newer.origin_node.clone()),
            &newer,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let o = vivier_node::offers::get_offer(&node.state.db, &payload.offer_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.status, vivier_node::offers::OfferStatus::Closed);
        assert_eq!(o.closed_at, Some(4_000));

        // A remote offer cannot take over a local offer's id.
        let (_, local) = node.post(&staff, "/api/v1/offers", &cariste_offer()).await;
        let mut hijack = payload.clone();
        hijack.offer_id = local["offer_id"].as_str().unwrap().to_string();
        hijack.updated_at = i64::MAX / 2;
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(hijack.origin_node.clone()),
            &hijack,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let o = vivier_node::offers::get_offer(&node.state.db, &hijack.offer_id)
            .await
            .unwrap()
            .unwrap();
        assert!(o.is_local);
        assert_eq!(o.payload.title, "Cariste H/F");

        // Reindex rebuilds from the database.
        let n = vivier_node::offers::reindex(&node.state, None)
            .await
            .unwrap();
        assert_eq!(n, 2);
        node.stop().await;
    }
}

#[tokio::test]
async fn communes_and_rome_lookups() {
    let node = start_node(&crate::support::Backend::Sqlite).await;
    let staff = counsellor(&node).await;
    let (st, r) = node.get(&staff, "/api/v1/communes?q=blois").await;
    assert_eq!(st, 200);
    assert_eq!(r[0]["insee"], "41018");
    assert_eq!(r[0]["name"], "Blois");
    assert_eq!(r[0]["lat_micro"], 47_581_630);
    let (_, r) = node.get(&staff, "/api/v1/communes?q=41000").await;
    assert!(
        r.as_array().unwrap().iter().any(|c| c["insee"] == "41018"),
        "{r}"
    );
    let (_, r) = node.get(&staff, "/api/v1/communes?q=vendome").await;
    assert_eq!(r[0]["insee"], "41269");
    let (st, r) = node.get(&staff, "/api/v1/communes?q=zzzzqx").await;
    assert_eq!(st, 200);
    assert_eq!(r, json!([]));
    let (st, _) = node.get(&staff, "/api/v1/communes/99999").await;
    assert_eq!(st, 404);
    let (st, r) = node.get(&staff, "/api/v1/communes/45234").await;
    assert_eq!(st, 200);
    assert_eq!(r["name"], "Orléans");
    let (st, r) = node.get(&staff, "/api/v1/rome?q=cariste").await;
    assert_eq!(st, 200);
    assert_eq!(r[0]["code"], "N1101", "{r}");
    let (st, r) = node.get(&staff, "/api/v1/rome?q=aide%20a%20domicile").await;
    assert_eq!(st, 200);
    assert_eq!(r[0]["code"], "K1304", "{r}");
    node.stop().await;
}

/// `(offer.update audit rows, offer.close audit rows, broadcasts, journal
/// entries)` on the node: what a change of an offer leaves behind.
async fn offer_trail(node: &TestNode) -> (i64, i64, i64, i64) {
    let pool = &node.state.db.pool;
    let audit = |action: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(pool)
            .await
            .expect("audit count")
    };
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .expect("count")
    };
    (
        audit("offer.update").await,
        audit("offer.close").await,
        count("SELECT COUNT(*) FROM broadcast_log").await,
        count("SELECT COUNT(*) FROM journal").await,
    )
}

/// The policy is the offers service's: an employer who tries to edit or
/// close another employer's offer is refused by `offers::update_offer` /
/// `offers::close_offer` themselves — called directly, through the API or
/// through the web forms, the same refusal (`forbidden`, 403) and nothing
/// written: the offer unchanged, no audit row, no broadcast, no journal
/// entry. The owner, through the same service, closes it (audited once).
#[tokio::test]
async fn an_employer_is_refused_by_the_offer_service_whichever_adapter_calls_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let owner = node.user(Role::Employer, "rh@logistique.fr").await;
        let other = node.user(Role::Employer, "rh@transports.fr").await;
        let (st, created) = node.post(&owner, "/api/v1/offers", &cariste_offer()).await;
        assert_eq!(st, 201, "{created}");
        let id = created["offer_id"].as_str().expect("offer id").to_string();
        let path = format!("/api/v1/offers/{id}");
        let before = offer_trail(&node).await;
        let stored = || async {
            vivier_node::offers::get_offer(&node.state.db, &id)
                .await
                .expect("read offer")
                .expect("offer exists")
        };
        let original = stored().await;

        // The service itself.
        let intruder = actor_of(&node, &other).await;
        let input: vivier_node::offers::OfferInput =
            serde_json::from_value(cariste_offer()).expect("input");
        let mut changed = input.clone();
        changed.title = "Cariste de nuit H/F".into();
        let err = vivier_node::offers::update_offer(&node.state, &intruder, &id, &changed)
            .await
            .expect_err("another employer may not edit");
        assert!(
            matches!(err, vivier_node::error::Error::Forbidden),
            "{err:?}"
        );
        let err = vivier_node::offers::close_offer(&node.state, &intruder, &id, None)
            .await
            .expect_err("another employer may not close");
        assert!(
            matches!(err, vivier_node::error::Error::Forbidden),
            "{err:?}"
        );

        // The API.
        let mut body = cariste_offer();
        body["title"] = json!("Cariste de nuit H/F");
        let (st, refused) = node.put(&other, &path, &body).await;
        assert_eq!(st, 403, "{refused}");
        assert_eq!(refused["code"], "forbidden", "{refused}");
        let (st, refused) = node.delete(&other, &path).await;
        assert_eq!(st, 403, "{refused}");
        assert_eq!(refused["code"], "forbidden", "{refused}");

        // The web forms.
        let cookie = node.ui_cookie("rh@transports.fr").await;
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/offres/{id}/modifier"),
            &[("action", "publier"), ("title", "Cariste de nuit H/F")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/offres/{id}/cloturer"),
            &[("motif", "pourvu")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);

        // Nothing changed, nothing recorded.
        let now = stored().await;
        assert_eq!(now.status, vivier_node::offers::OfferStatus::Open);
        assert_eq!(now.payload.title, original.payload.title);
        assert_eq!(now.updated_at, original.updated_at);
        assert_eq!(offer_trail(&node).await, before);

        // The owner closes it through the same service: one close, audited.
        let owner_actor = actor_of(&node, &owner).await;
        let closed =
            vivier_node::offers::close_offer(&node.state, &owner_actor, &id, Some("pourvu".into()))
                .await
                .expect("the owner closes");
        assert_eq!(closed.status, vivier_node::offers::OfferStatus::Closed);
        let after = offer_trail(&node).await;
        assert_eq!((after.0, after.1), (before.0, before.1 + 1));
        assert_eq!(after.2, before.2 + 1, "one offer.closed broadcast");
        assert!(after.3 > before.3, "the close is journaled for the index");
        node.stop().await;
    }
}

/// The owner and external-id indexes hold only the offers that have one
/// (received offers have neither, so storing one adds nothing to them):
/// the lookups still use them, and an external id is still unique.
#[tokio::test]
async fn owner_and_external_id_indexes_skip_offers_without_one() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let pool = &node.state.db.pool;
        let insert = |id: &'static str, owner: Option<&'static str>, ext: Option<&'static str>| {
            sqlx::query(
                "INSERT INTO offers (id, origin_node, owner_user_id, status, payload, title, \
                 rome_code, contract_type, employer_name, created_at, updated_at, is_local, external_id) \
                 VALUES ($1, 'n', $2, 'open', '{}', 't', 'N1101', 'CDI', 'e', 1, 1, $3, $4)",
            )
            .bind(id)
            .bind(owner)
            .bind(i64::from(owner.is_some()))
            .bind(ext)
            .execute(pool)
        };
        insert("net-1", None, None).await.expect("a received offer");
        insert("net-2", None, None)
            .await
            .expect("another received offer");
        insert("own-1", Some("u1"), Some("ft:1"))
            .await
            .expect("an imported offer");
        let dup = insert("own-2", Some("u2"), Some("ft:1")).await;
        assert!(
            dup.is_err(),
            "{}: an external id stays unique",
            backend.name()
        );
        let owned: Vec<String> =
            sqlx::query_scalar("SELECT id FROM offers WHERE owner_user_id = $1 ORDER BY id")
                .bind("u1")
                .fetch_all(pool)
                .await
                .expect("by owner");
        assert_eq!(owned, ["own-1"]);
        let by_ext: Option<String> =
            sqlx::query_scalar("SELECT id FROM offers WHERE external_id = $1")
                .bind("ft:1")
                .fetch_optional(pool)
                .await
                .expect("by external id");
        assert_eq!(by_ext.as_deref(), Some("own-1"));
        let sqlite = matches!(backend, crate::support::Backend::Sqlite);
        let defs_sql = if sqlite {
            "SELECT sql FROM sqlite_master WHERE name IN ('offers_owner', 'offers_external_id')"
        } else {
            "SELECT indexdef FROM pg_indexes WHERE indexname IN ('offers_owner', 'offers_external_id')"
        };
        let defs: Vec<String> = sqlx::query_scalar(defs_sql)
            .fetch_all(pool)
            .await
            .expect("index definitions");
        assert_eq!(defs.len(), 2, "{defs:?}");
        assert!(defs.iter().all(|d| d.contains("IS NOT NULL")), "{defs:?}");
        if sqlite {
            for (sql, index) in [
                (
                    "SELECT id FROM offers WHERE owner_user_id = 'u1'",
                    "offers_owner",
                ),
                (
                    "SELECT id FROM offers WHERE external_id = 'ft:1'",
                    "offers_external_id",
                ),
            ] {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(pool)
                    .await
                    .expect("plan");
                let plan: Vec<String> = rows
                    .iter()
                    .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
                    .collect();
                assert!(plan.iter().any(|d| d.contains(index)), "{sql}: {plan:?}");
            }
        }
        node.stop().await;
    }
}
