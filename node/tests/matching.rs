//! Matching both ways and statistics over HTTP, on a small realistic set:
//! forklift drivers (caristes, N1101) around Blois and home helpers (aide à
//! domicile, K1302) around Montluçon. Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
use support::{backends, eventually, start_node, TestNode};
use vivier_node::auth::Role;

struct Set {
    staff: String,
    ids: HashMap<&'static str, String>,
    cariste_offer: String,
    aide_offer: String,
    prep_offer: String,
}

#[allow(clippy::too_many_arguments)]
fn candidate(
    first: &str,
    last: &str,
    commune: &str,
    max_km: Option<i64>,
    licences: &[&str],
    vehicle: bool,
    transit_only: bool,
    rome: &[&str],
    titles: &[&str],
    cv: &str,
    hours: Option<i64>,
) -> Value {
    json!({
        "first_name": first,
        "last_name": last,
        "commune_insee": commune,
        "max_travel_km": max_km,
        "driving_licences": licences,
        "has_vehicle": vehicle,
        "public_transport_only": transit_only,
        "rome_codes": rome,
        "job_titles": titles,
        "cv_text": cv,
        "weekly_hours": hours,
        "consent_scope": "local",
    })
}

const CARISTE_CV: &str =
    "Cariste confirmé, CACES R489 catégories 1, 3 et 5. Conduite de chariot élévateur, \
    chargement et déchargement de camions, gestion des stocks en entrepôt logistique, inventaires.";

async fn build_set(node: &TestNode) -> Set {
    let staff = node
        .user(Role::Counsellor, "conseiller@mission-emploi.fr")
        .await;
    let people: Vec<(&'static str, Value)> = vec![
        ("alice", candidate("Alice", "Martin", "41018", Some(30), &["B"], true, false, &["N1101"], &["Cariste"], CARISTE_CV, Some(35))),
        ("bruno", candidate("Bruno", "Petit", "41269", Some(40), &["B"], true, false, &["N1101"], &["Cariste"], CARISTE_CV, Some(35))),
        ("chloe", candidate("Chloé", "Durand", "45234", Some(20), &["B"], true, false, &["N1101"], &["Cariste"], CARISTE_CV, Some(35))),
        ("david", candidate("David", "Leroy", "41018", None, &[], false, true, &["N1101"], &["Cariste"], CARISTE_CV, None)),
        ("fatima", candidate("Fatima", "Benali", "41295", Some(30), &["B"], true, false, &["N1103"], &["Préparatrice de commandes"],
            "Préparation de commandes au scanner en entrepôt, filmage des palettes, chargement de camions.", Some(35))),
        ("emma", candidate("Emma", "Roux", "41018", Some(30), &["B"], true, false, &["G1602"], &["Commis de cuisine"],
            "Commis de cuisine en restauration collective : mise en place, cuisson, plonge, hygiène HACCP.", Some(35))),
        ("gisele", candidate("Gisèle", "Bernard", "03185", None, &[], false, true, &["K1302"], &["Aide à domicile"],
            "Aide à domicile auprès de personnes âgées : aide au lever, toilette, préparation des repas, courses.", Some(24))),
        ("helene", candidate("Hélène", "Moreau", "03082", Some(25), &["B"], true, false, &["K1302"], &["Auxiliaire de vie"],
            "Auxiliaire de vie à domicile, accompagnement de personnes âgées et handicapées, repas, entretien du logement.", None)),
        ("ines", candidate("Inès", "Faure", "03082", None, &[], false, true, &["K1302"], &["Aide à domicile"],
            "Aide à domicile : entretien du logement, repas, courses pour des personnes âgées.", Some(24))),
    ];
    let mut ids = HashMap::new();
    for (key, body) in people {
        let (st, c) = node.post(&staff, "/api/v1/candidates", &body).await;
        assert_eq!(st, 201, "{key}: {c}");
        ids.insert(key, c["id"].as_str().expect("candidate id").to_string());
    }
    let (st, o) = node
        .post(
            &staff,
            "/api/v1/offers",
            &json!({
                "title": "Cariste H/F",
                "description": "Plateforme logistique : chargement et déchargement des camions au chariot élévateur, \
                    mise en stock, inventaires. CACES R489 catégorie 3.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "weekly_hours": 35,
                "driving_licence": "B",
                "employer": {"name": "Logistique Val de Loire"},
                "workplaces": [{"commune_insee": "41018", "positions": 2}]
            }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let cariste_offer = o["offer_id"].as_str().unwrap().to_string();
    let (st, o) = node
        .post(
            &staff,
            "/api/v1/offers",
            &json!({
                "title": "Aide à domicile H/F",
                "description": "Accompagnement de personnes âgées à domicile : aide au lever, toilette, repas, courses.",
                "rome_code": "K1302",
                "contract_type": "CDD",
                "duration_months": 6,
                "weekly_hours": 24,
                "employer": {"name": "ADMR Montluçon"},
                "workplaces": [{"commune_insee": "03185", "positions": 3}]
            }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let aide_offer = o["offer_id"].as_str().unwrap().to_string();
    let (st, o) = node
        .post(
            &staff,
            "/api/v1/offers",
            &json!({
                "title": "Préparateur de commandes H/F",
                "description": "Préparation de commandes au scanner, filmage des palettes, chargement des camions.",
                "rome_code": "N1103",
                "contract_type": "MIS",
                "duration_months": 3,
                "weekly_hours": 35,
                "employer": {"name": "Intérim Centre"},
                "workplaces": [{"commune_insee": "41295", "positions": 5}]
            }),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let prep_offer = o["offer_id"].as_str().unwrap().to_string();
    Set {
        staff,
        ids,
        cariste_offer,
        aide_offer,
        prep_offer,
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["first_name"].as_str().unwrap().to_string())
        .collect()
}

/// Wait until the candidate index has seen every candidate of the set.
async fn wait_indexed(node: &TestNode, set: &Set) {
    let n = set.ids.len() as u64;
    let ok = eventually(10, || async {
        (node.state.search.candidates.num_docs() >= n && node.state.search.offers.num_docs() >= 3)
            .then_some(())
    })
    .await;
    assert!(ok.is_some(), "indexing did not finish");
}

#[tokio::test]
async fn offer_matches_rank_and_explain() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let set = build_set(&node).await;
        wait_indexed(&node, &set).await;

        // Forklift drivers around Blois.
        let (st, r) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches?limit=20", set.cariste_offer),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        let wp = &r["workplaces"][0];
        assert_eq!(wp["commune_insee"], "41018");
        assert_eq!(wp["distance_known"], true);
        let listed = names(&wp["matches"]);
        assert_eq!(listed[0], "Alice", "{backend:?} {listed:?}\n{r:#}");
        assert!(listed.contains(&"Bruno".to_string()), "{listed:?}");
        assert!(
            listed.contains(&"Fatima".to_string()),
            "same domain N11: {listed:?}"
        );
        assert!(
            !listed.contains(&"Chloé".to_string()),
            "beyond her 20 km: {listed:?}"
        );
        assert!(
            !listed.contains(&"David".to_string()),
            "no licence B: {listed:?}"
        );
        for other in ["Gisèle", "Hélène", "Inès"] {
            assert!(
                !listed.contains(&other.to_string()),
                "{other} is 150 km away: {listed:?}"
            );
        }
        let pos = |n: &str| listed.iter().position(|x| x == n);
        if let Some(e) = pos("Emma") {
            assert!(
                e > pos("Bruno").unwrap() && e > pos("Fatima").unwrap(),
                "the cook comes last: {listed:?}"
            );
        }
        let alice = &wp["matches"][0];
        assert_eq!(alice["eligible"], true);
        assert_eq!(alice["distance_km"], 0.0);
        assert_eq!(alice["parts"]["rome"]["value"], 1.0);
        assert_eq!(alice["parts"]["rome"]["weight"], 35.0);
        assert_eq!(alice["parts"]["distance"]["value"], 1.0);
        assert_eq!(
            alice["parts"]["licence"]["detail"],
            "licence B required, held"
        );
        assert!(
            alice["parts"]["text"]["value"].as_f64().unwrap() > 0.5,
            "{alice}"
        );
        assert!(alice["score"].as_f64().unwrap() > 80.0, "{alice}");
        let bruno = wp["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["first_name"] == "Bruno")
            .unwrap();
        let d = bruno["distance_km"].as_f64().unwrap();
        assert!((25.0..35.0).contains(&d), "Vendôme–Blois {d}");
        assert_eq!(bruno["travel_limit_km"], 40.0);
        let dv = bruno["parts"]["distance"]["value"].as_f64().unwrap();
        assert!((0.1..0.4).contains(&dv), "{dv}");
        assert!(bruno["score"].as_f64().unwrap() < alice["score"].as_f64().unwrap());
        let fatima = wp["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["first_name"] == "Fatima")
            .unwrap();
        assert_eq!(fatima["parts"]["rome"]["value"], 0.4);
        // Scores are the sum of the parts' points (±rounding).
        for m in wp["matches"].as_array().unwrap() {
            let sum: f64 = m["parts"]
                .as_object()
                .unwrap()
                .values()
                .map(|p| p["points"].as_f64().unwrap())
                .sum();
            assert!((sum - m["score"].as_f64().unwrap()).abs() < 0.5, "{m}");
        }
        assert!(wp["excluded"].as_u64().unwrap() >= 2);

        // Near misses: listed after the eligible ones, the constraint named.
        let (_, r) = node
            .get(
                &set.staff,
                &format!(
                    "/api/v1/offers/{}/matches?include_near_misses=true",
                    set.cariste_offer
                ),
            )
            .await;
        let matches = r["workplaces"][0]["matches"].as_array().unwrap().clone();
        let find = |n: &str| {
            matches
                .iter()
                .find(|m| m["first_name"] == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        let chloe = find("Chloé");
        assert_eq!(chloe["eligible"], false);
        assert_eq!(
            chloe["failed_constraints"][0]["code"],
            "beyond_travel_limit"
        );
        let dc = chloe["distance_km"].as_f64().unwrap();
        assert!((50.0..62.0).contains(&dc), "Orléans–Blois {dc}");
        let david = find("David");
        assert_eq!(david["eligible"], false);
        assert_eq!(david["failed_constraints"][0]["code"], "missing_licence");
        assert_eq!(
            david["parts"]["licence"]["detail"],
            "licence B required, not held"
        );
        assert_eq!(david["travel_limit_km"], 20.0, "public transport only");
        let first_ineligible = matches.iter().position(|m| m["eligible"] == false).unwrap();
        assert!(matches[first_ineligible..]
            .iter()
            .all(|m| m["eligible"] == false));
        assert_eq!(matches[0]["first_name"], "Alice");

        // Home helpers around Montluçon.
        let (st, r) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches", set.aide_offer),
            )
            .await;
        assert_eq!(st, 200);
        let listed = names(&r["workplaces"][0]["matches"]);
        assert_eq!(listed, vec!["Gisèle", "Hélène", "Inès"], "{r:#}");
        let ines = &r["workplaces"][0]["matches"][2];
        assert_eq!(ines["parts"]["vehicle"]["value"], 0.0);
        assert_eq!(
            ines["parts"]["vehicle"]["detail"],
            "vehicle needed; travels by public transport only"
        );
        let gisele = &r["workplaces"][0]["matches"][0];
        assert_eq!(gisele["parts"]["vehicle"]["value"], 1.0);
        assert_eq!(gisele["parts"]["hours"]["value"], 1.0);

        // Staff only; audited.
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let (st, _) = node
            .get(
                &employer,
                &format!("/api/v1/offers/{}/matches", set.cariste_offer),
            )
            .await;
        assert_eq!(st, 403);
        let audited: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'offer.matches' AND target_id = $1",
        )
        .bind(&set.cariste_offer)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audited, 2);
        let (st, _) = node.get(&set.staff, "/api/v1/offers/nope/matches").await;
        assert_eq!(st, 404);
        let (st, _) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches?workplace=3", set.cariste_offer),
            )
            .await;
        assert_eq!(st, 400);
        node.stop().await;
    }
}

#[tokio::test]
async fn candidate_matches_rank_offers() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let set = build_set(&node).await;
        wait_indexed(&node, &set).await;

        let alice = &set.ids["alice"];
        let (st, r) = node
            .get(&set.staff, &format!("/api/v1/candidates/{alice}/matches"))
            .await;
        assert_eq!(st, 200, "{r}");
        let offers: Vec<&str> = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["offer_id"].as_str().unwrap())
            .collect();
        assert_eq!(offers[0], set.cariste_offer, "{r:#}");
        assert!(offers.contains(&set.prep_offer.as_str()), "{offers:?}");
        assert!(
            !offers.contains(&set.aide_offer.as_str()),
            "Montluçon is too far: {offers:?}"
        );
        let top = &r["matches"][0];
        assert_eq!(top["is_local"], true);
        assert_eq!(top["workplace_commune_insee"], "41018");
        assert_eq!(top["parts"]["rome"]["value"], 1.0);

        let gisele = &set.ids["gisele"];
        let (_, r) = node
            .get(&set.staff, &format!("/api/v1/candidates/{gisele}/matches"))
            .await;
        let offers: Vec<&str> = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["offer_id"].as_str().unwrap())
            .collect();
        assert_eq!(offers, vec![set.aide_offer.as_str()], "{r:#}");

        // David has no licence: the cariste offer only as a near miss.
        let david = &set.ids["david"];
        let (_, r) = node
            .get(&set.staff, &format!("/api/v1/candidates/{david}/matches"))
            .await;
        assert!(
            r["matches"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["offer_id"] != set.cariste_offer.as_str()),
            "{r:#}"
        );
        let (_, r) = node
            .get(
                &set.staff,
                &format!("/api/v1/candidates/{david}/matches?include_near_misses=true"),
            )
            .await;
        let miss = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["offer_id"] == set.cariste_offer.as_str())
            .expect("near miss");
        assert_eq!(miss["failed_constraints"][0]["code"], "missing_licence");

        // Closed offers are not proposed.
        node.delete(&set.staff, &format!("/api/v1/offers/{}", set.cariste_offer))
            .await;
        let (_, r) = node
            .get(&set.staff, &format!("/api/v1/candidates/{alice}/matches"))
            .await;
        assert!(r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["offer_id"] != set.cariste_offer.as_str()));

        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let (st, _) = node
            .get(&employer, &format!("/api/v1/candidates/{alice}/matches"))
            .await;
        assert_eq!(st, 403);
        let (st, _) = node
            .get(&set.staff, "/api/v1/candidates/nope/matches")
            .await;
        assert_eq!(st, 404);
        let audited: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'candidate.matches' AND target_id = $1",
        )
        .bind(alice)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audited, 2);
        node.stop().await;
    }
}

#[tokio::test]
async fn stats_after_a_placement() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let set = build_set(&node).await;
        let _employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let alice = &set.ids["alice"];
        let (st, p) = node
            .post(
                &set.staff,
                &format!("/api/v1/candidates/{alice}/placement"),
                &json!({"outcome": "cdi"}),
            )
            .await;
        assert_eq!(st, 201, "{p}");
        node.delete(&set.staff, &format!("/api/v1/offers/{}", set.prep_offer))
            .await;
        let now = vivier_node::util::now_ms();
        sqlx::query(
            "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, counsellor_name, \
             endorsement, status, created_at, updated_at) VALUES ($1, $2, 'cd41', 'test-node', 'outbound', $3, 'C', 'E', 'submitted', $4, $4)",
        )
        .bind("ref-1")
        .bind("remote-offer")
        .bind(&set.ids["bruno"])
        .bind(now)
        .execute(&node.state.db.pool)
        .await
        .unwrap();

        let (st, s) = node.get(&set.staff, "/api/v1/stats").await;
        assert_eq!(st, 200, "{s}");
        assert_eq!(s["candidates"]["registered"], 9, "{s:#}");
        assert_eq!(s["candidates"]["cvs_online"], 8);
        assert_eq!(s["candidates"]["by_status"]["placed"], 1);
        assert_eq!(s["employers_registered"], 1);
        assert_eq!(s["offers"]["local_posted"], 3);
        assert_eq!(s["offers"]["local_open"], 2);
        assert_eq!(s["offers"]["local_positions_open"], 5);
        assert_eq!(s["offers"]["network_received"], 0);
        assert_eq!(s["referrals"]["total"], 1);
        assert_eq!(s["referrals"]["by_direction"]["outbound"]["submitted"], 1);
        assert_eq!(s["returns_to_work"]["total"], 1);
        assert_eq!(s["returns_to_work"]["by_outcome"]["cdi"], 1);
        assert_eq!(s["returns_to_work"]["by_outcome"]["training"], 0);
        assert_eq!(
            s["returns_to_work"]["by_outcome"]
                .as_object()
                .unwrap()
                .len(),
            7
        );

        let employer = node.user(Role::Employer, "rh2@logistique.fr").await;
        let (st, _) = node.get(&employer, "/api/v1/stats").await;
        assert_eq!(st, 403);
        node.stop().await;
    }
}
