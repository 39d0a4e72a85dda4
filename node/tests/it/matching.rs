//! Matching both ways and statistics over HTTP, on a small realistic set:
//! forklift drivers (caristes, N1101) around Blois and home helpers (aide à
//! domicile, K1302) around Montluçon. Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use crate::support::{backends, eventually, start_node, TestNode};
use serde_json::{json, Value};
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
        assert_eq!(alice["parts"]["rome"]["weight"], 30.0);
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
        // Queued by the read-audit writer: committed by its next batch.
        node.state.read_audit.flush().await;
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
        // A closed offer ranks nobody (nobody can be referred to it).
        let (st, closed) = node
            .delete(&set.staff, &format!("/api/v1/offers/{}", set.cariste_offer))
            .await;
        assert_eq!(
            (st, closed["status"].as_str()),
            (200, Some("closed")),
            "{closed}"
        );
        let (st, v) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches", set.cariste_offer),
            )
            .await;
        assert_eq!((st, v["code"].as_str()), (409, Some("offer_closed")), "{v}");
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
            8
        );
        assert_eq!(s["returns_to_work"]["hires_through_network"], 0);

        let employer = node.user(Role::Employer, "rh2@logistique.fr").await;
        let (st, _) = node.get(&employer, "/api/v1/stats").await;
        assert_eq!(st, 403);
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------
// Matching v2: absolute scores, eligibility rules, requirement fields.

fn find<'a>(list: &'a Value, first_name: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["first_name"] == first_name)
}

/// A date `days` from today (the node's clock is the system clock here).
fn day_in(days: i64) -> String {
    let d = vivier_node::util::today_days() + days;
    vivier_node::util::days_to_date(d)
}

async fn post_candidate(node: &TestNode, staff: &str, body: Value) -> String {
    let (st, c) = node.post(staff, "/api/v1/candidates", &body).await;
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_string()
}

async fn post_offer(node: &TestNode, staff: &str, body: Value) -> String {
    let (st, o) = node.post(staff, "/api/v1/offers", &body).await;
    assert_eq!(st, 201, "{o}");
    o["offer_id"].as_str().unwrap().to_string()
}

async fn wait_docs(node: &TestNode, candidates: u64, offers: u64) {
    let ok = eventually(10, || async {
        (node.state.search.candidates.num_docs() >= candidates
            && node.state.search.offers.num_docs() >= offers)
            .then_some(())
    })
    .await;
    assert!(ok.is_some(), "indexing did not finish");
}

#[tokio::test]
async fn same_pair_same_score_both_ways_and_after_an_archive() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let set = build_set(&node).await;
        wait_indexed(&node, &set).await;
        let alice = &set.ids["alice"];

        let forward = |r: &Value| find(&r["workplaces"][0]["matches"], "Alice").cloned();
        let (_, r) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches", set.cariste_offer),
            )
            .await;
        let before = forward(&r).expect("Alice listed");
        assert!(find(&r["workplaces"][0]["matches"], "Bruno").is_some());
        let (_, r) = node
            .get(&set.staff, &format!("/api/v1/candidates/{alice}/matches"))
            .await;
        let reverse = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["offer_id"] == set.cariste_offer.as_str())
            .expect("cariste offer listed for Alice")
            .clone();
        assert_eq!(before["score"], reverse["score"], "{before:#}\n{reverse:#}");
        assert_eq!(before["parts"], reverse["parts"]);
        assert_eq!(before["matched_terms"], reverse["matched_terms"]);

        // The words that matched are named, in the row and in the detail.
        let words: Vec<&str> = before["matched_terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        for w in ["cariste", "chariot", "caces", "r489"] {
            assert!(words.contains(&w), "{w} not in {words:?}");
        }
        assert!(before["parts"]["text"]["detail"]
            .as_str()
            .unwrap()
            .contains("cariste"));

        // Archive Bruno (the same CV as Alice: the best text match besides
        // her) and Emma (the cook): Alice's score does not move.
        for (key, body) in [
            ("bruno", candidate("Bruno", "Petit", "41269", Some(40), &["B"], true, false, &["N1101"], &["Cariste"], CARISTE_CV, Some(35))),
            ("emma", candidate("Emma", "Roux", "41018", Some(30), &["B"], true, false, &["G1602"], &["Commis de cuisine"],
                "Commis de cuisine en restauration collective : mise en place, cuisson, plonge, hygiène HACCP.", Some(35))),
        ] {
            let mut body = body;
            body["status"] = json!("archived");
            let (st, c) = node
                .put(&set.staff, &format!("/api/v1/candidates/{}", set.ids[key]), &body)
                .await;
            assert_eq!(st, 200, "{c}");
        }
        let archived = eventually(10, || async {
            let hits = node
                .state
                .search
                .candidates
                .search(&vivier_node::search::CandidateQuery {
                    status: Some("archived".into()),
                    limit: 10,
                    ..Default::default()
                })
                .ok()?
                .hits;
            (hits.len() == 2).then_some(())
        })
        .await;
        assert!(archived.is_some(), "the index did not see the archive");
        let (_, r) = node
            .get(
                &set.staff,
                &format!("/api/v1/offers/{}/matches", set.cariste_offer),
            )
            .await;
        assert!(
            find(&r["workplaces"][0]["matches"], "Bruno").is_none(),
            "archived"
        );
        let after = forward(&r).expect("Alice still listed");
        assert_eq!(before["score"], after["score"]);
        assert_eq!(before["parts"], after["parts"]);
        node.stop().await;
    }
}

#[tokio::test]
async fn one_shared_word_does_not_list_anyone() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseiller@mission-emploi.fr")
            .await;
        let base = |first: &str, rome: &str, titles: &[&str], cv: &str| {
            let mut c = candidate(
                first,
                "Test",
                "03185",
                Some(30),
                &["B"],
                true,
                false,
                &[rome],
                titles,
                cv,
                None,
            );
            c["consent_scope"] = json!("network");
            c
        };
        let lucien = post_candidate(&node, &staff, base("Lucien", "N4101", &["Chauffeur poids lourd"],
            "Chauffeur poids lourd, permis C et CE, FIMO à jour. Livraisons régionales en semi-remorque, permis B depuis 2005.")).await;
        post_candidate(&node, &staff, base("Gisèle", "K1302", &["Aide à domicile"],
            "Aide à domicile auprès de personnes âgées : aide au lever, toilette, préparation des repas, courses.")).await;
        // « permis B » and one word of the offer: the letter is no second word.
        post_candidate(
            &node,
            &staff,
            base(
                "Didier",
                "N4101",
                &["Chauffeur livreur"],
                "Chauffeur livreur, permis B, courses et livraisons en ville.",
            ),
        )
        .await;
        post_candidate(&node, &staff, base("Marc", "F1703", &["Maçon"],
            "Maçon en gros œuvre : coffrage, ferraillage, montage de murs en parpaings, travail de nuit sur chantier ferroviaire.")).await;
        post_candidate(&node, &staff, base("Vincent", "A1405", &["Ouvrier viticole"],
            "Ouvrier viticole : taille, palissage, vendanges, entretien des vignes, tracteur enjambeur.")).await;
        post_candidate(&node, &staff, base("Kevin", "G1602", &["Commis de cuisine"],
            "Commis de cuisine en EHPAD : préparation des repas des résidents, plonge, hygiène HACCP, service du soir.")).await;
        // Licence BE recorded as a certification, none as a licence: it
        // meets the offer's licence B (BE ⇒ B) both ways.
        let mut odile = base(
            "Odile",
            "K1302",
            &["Aide à domicile"],
            "Aide à domicile : aide au lever, toilette, repas et courses de personnes âgées.",
        );
        odile["driving_licences"] = json!([]);
        odile["certifications"] = json!(["permis_be"]);
        let odile = post_candidate(&node, &staff, odile).await;
        let mut sonia = base("Sonia", "J1501", &["Aide-soignante"],
            "Aide-soignante diplômée (DEAS), soins d'hygiène et de confort des résidents en EHPAD, travail de nuit.");
        sonia["certifications"] = json!(["deas", "SST"]);
        post_candidate(&node, &staff, sonia).await;
        post_candidate(&node, &staff, base("Nadia", "J1501", &["Aide-soignante"],
            "Faisant fonction d'aide-soignante en EHPAD : soins d'hygiène et de confort des résidents, nuits.")).await;

        let home_help = post_offer(&node, &staff, json!({
            "title": "Aide à domicile H/F",
            "description": "Accompagnement de personnes âgées à domicile : aide au lever, toilette, repas, courses. Permis B exigé.",
            "rome_code": "K1302",
            "contract_type": "CDI",
            "driving_licence": "B",
            "employer": {"name": "ADMR Montluçon"},
            "workplaces": [{"commune_insee": "03185", "positions": 2}]
        })).await;
        let night_care = post_offer(&node, &staff, json!({
            "title": "Aide-soignant de nuit H/F",
            "description": "EHPAD de 80 résidents : soins d'hygiène et de confort, surveillance de nuit, transmissions à l'équipe de jour.",
            "rome_code": "J1501",
            "contract_type": "CDI",
            "required_certifications": ["DEAS"],
            "employer": {"name": "EHPAD Les Tilleuls"},
            "workplaces": [{"commune_insee": "03185", "positions": 1}]
        })).await;
        wait_docs(&node, 9, 2).await;

        // « permis » alone: the lorry driver is not listed, not even as a
        // near miss; the home helper is, with the words that matched.
        let (st, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{home_help}/matches?include_near_misses=true"),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        let list = &r["workplaces"][0]["matches"];
        assert!(find(list, "Lucien").is_none(), "{r:#}");
        assert!(find(list, "Didier").is_none(), "{r:#}");
        let gisele = find(list, "Gisèle").expect("Gisèle listed");
        assert_eq!(gisele["eligible"], true);
        let words: Vec<&str> = gisele["matched_terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        for w in [
            "aide",
            "domicile",
            "personnes",
            "âgées",
            "lever",
            "toilette",
        ] {
            assert!(words.contains(&w), "{w} not in {words:?}");
        }
        assert!(!words.contains(&"permis"), "{words:?}");
        let o = find(list, "Odile").expect("Odile listed");
        assert_eq!(o["eligible"], true, "{o:#}");
        assert!(o["skills_gap"].is_null(), "{o:#}");
        let (st, r) = node
            .get(&staff, &format!("/api/v1/candidates/{odile}/matches"))
            .await;
        assert_eq!(st, 200, "{r}");
        let home_help_row = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["offer_id"] == json!(home_help))
            .unwrap_or_else(|| panic!("home help not proposed to Odile: {r:#}"));
        assert_eq!(home_help_row["eligible"], true, "{home_help_row:#}");
        // And the reverse: the home-help offer is not proposed to him.
        let (st, r) = node
            .get(
                &staff,
                &format!("/api/v1/candidates/{lucien}/matches?include_near_misses=true"),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert!(
            r["matches"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["offer_id"] != home_help.as_str()),
            "{r:#}"
        );

        // DEAS required: the mason, the vine-grower and the kitchen
        // assistant are not eligible; the nurse aide without the diploma is
        // a near miss naming it; the one with it is first.
        let (_, r) = node
            .get(&staff, &format!("/api/v1/offers/{night_care}/matches"))
            .await;
        let listed = names(&r["workplaces"][0]["matches"]);
        assert_eq!(listed, vec!["Sonia"], "{r:#}");
        let sonia = &r["workplaces"][0]["matches"][0];
        assert_eq!(
            sonia["parts"]["certifications"]["detail"],
            "DEAS required, held"
        );
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{night_care}/matches?include_near_misses=true"),
            )
            .await;
        let list = &r["workplaces"][0]["matches"];
        for other in ["Marc", "Vincent", "Kevin"] {
            if let Some(m) = find(list, other) {
                assert_eq!(m["eligible"], false, "{m:#}");
                assert_eq!(m["failed_constraints"][0]["code"], "missing_certification");
            }
        }
        assert!(
            find(list, "Marc").is_none() && find(list, "Vincent").is_none(),
            "below the relevance floor: {r:#}"
        );
        let nadia = find(list, "Nadia").expect("near miss");
        assert_eq!(nadia["eligible"], false);
        assert_eq!(
            nadia["failed_constraints"][0]["code"],
            "missing_certification"
        );
        assert_eq!(nadia["failed_constraints"][0]["certification"], "DEAS");
        assert!(nadia["failed_constraints"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aide-soignant"));
        node.stop().await;
    }
}

/// A desired certification held counts in the score (its share of the
/// offer's desired ones), the same both ways; one not held is no
/// constraint.
#[tokio::test]
async fn desired_certifications_held_rank_first_both_ways() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseiller@mission-emploi.fr")
            .await;
        let cariste = |first: &str, certs: &[&str]| {
            let mut c = candidate(
                first,
                "Test",
                "41018",
                Some(30),
                &["B"],
                true,
                false,
                &["N1101"],
                &["Cariste"],
                "Cariste en entrepôt : chariot élévateur, préparation de commandes, inventaires.",
                None,
            );
            c["certifications"] = json!(certs);
            c
        };
        // The same person three times but for what they hold: none of the
        // desired, one of two (SSIAP2 through SSIAP3's implication), both.
        let none = post_candidate(&node, &staff, cariste("Aline", &["CACES_R489_3"])).await;
        let one =
            post_candidate(&node, &staff, cariste("Bruno", &["CACES_R489_3", "SSIAP3"])).await;
        let both = post_candidate(
            &node,
            &staff,
            cariste("Chloé", &["CACES_R489_3", "SST", "SSIAP2"]),
        )
        .await;
        let offer = post_offer(&node, &staff, json!({
            "title": "Cariste H/F",
            "description": "Chariot élévateur, préparation de commandes, inventaires en entrepôt.",
            "rome_code": "N1101",
            "contract_type": "CDI",
            "required_certifications": ["CACES_R489_3"],
            "desired_certifications": ["SST", "SSIAP2"],
            "employer": {"name": "Entrepôts du Centre"},
            "workplaces": [{"commune_insee": "41018", "positions": 1}]
        })).await;
        wait_docs(&node, 3, 1).await;
        let (st, r) = node
            .get(&staff, &format!("/api/v1/offers/{offer}/matches"))
            .await;
        assert_eq!(st, 200, "{r}");
        let list = &r["workplaces"][0]["matches"];
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["first_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Chloé", "Bruno", "Aline"], "{r:#}");
        let part = |name: &str| find(list, name).unwrap()["parts"]["certifications"].clone();
        assert_eq!(part("Chloé")["value"], json!(1.0));
        assert_eq!(part("Bruno")["value"], json!(0.5));
        assert_eq!(part("Aline")["value"], json!(0.0));
        assert_eq!(part("Aline")["weight"], json!(5.0));
        assert!(
            part("Aline")["detail"]
                .as_str()
                .unwrap()
                .contains("SST appreciated, not held"),
            "{:#}",
            part("Aline")
        );
        assert_eq!(find(list, "Aline").unwrap()["eligible"], true);
        // A yes/no parameter written as people write it.
        for (flag, ok) in [("1", true), ("TRUE", true), ("0", true), ("maybe", false)] {
            let (st, v) = node
                .get(
                    &staff,
                    &format!("/api/v1/offers/{offer}/matches?include_near_misses={flag}"),
                )
                .await;
            if ok {
                assert_eq!(st, 200, "{flag}: {v}");
            } else {
                assert_eq!(st, 400, "{flag}: {v}");
                assert_eq!(v["errors"][0]["field"], "include_near_misses", "{v}");
            }
        }
        let score = |name: &str| find(list, name).unwrap()["score"].as_f64().unwrap();
        assert!(
            (score("Chloé") - score("Aline") - 5.0).abs() < 0.05,
            "{r:#}"
        );
        assert!(
            (score("Bruno") - score("Aline") - 2.5).abs() < 0.05,
            "{r:#}"
        );
        // The same score from each candidate's side.
        for (id, name) in [(&none, "Aline"), (&one, "Bruno"), (&both, "Chloé")] {
            let (st, c) = node
                .get(&staff, &format!("/api/v1/candidates/{id}/matches"))
                .await;
            assert_eq!(st, 200, "{c}");
            let row = c["matches"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["offer_id"] == json!(offer))
                .unwrap_or_else(|| panic!("offer not proposed to {name}: {c:#}"));
            assert_eq!(
                row["score"].as_f64().unwrap(),
                score(name),
                "{name}: {row:#}"
            );
            assert_eq!(row["parts"]["certifications"], part(name), "{name}");
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn start_date_vehicle_certifications_consent_and_status() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseiller@mission-emploi.fr")
            .await;
        let person = |first: &str,
                      available: Option<String>,
                      vehicle: bool,
                      licences: &[&str],
                      certs: &[&str],
                      scope: &str| {
            let mut c = candidate(
                first,
                "Test",
                "41018",
                Some(30),
                licences,
                vehicle,
                false,
                &["N1101"],
                &["Cariste"],
                CARISTE_CV,
                Some(35),
            );
            c["available_from"] = json!(available);
            c["certifications"] = json!(certs);
            c["consent_scope"] = json!(scope);
            c
        };
        let mut ids = HashMap::new();
        for (key, body) in [
            (
                "early",
                person(
                    "Paul",
                    Some(day_in(15)),
                    true,
                    &["B"],
                    &["CACES_R489_3"],
                    "network",
                ),
            ),
            (
                "grace",
                person(
                    "Jeanne",
                    Some(day_in(38)),
                    true,
                    &["B"],
                    &["CACES_R489_3"],
                    "network",
                ),
            ),
            (
                "late",
                person(
                    "Omar",
                    Some(day_in(210)),
                    true,
                    &["B"],
                    &["CACES_R489_3"],
                    "network",
                ),
            ),
            (
                "walker",
                person("Léa", None, false, &["B"], &["CACES_R489_3"], "network"),
            ),
            (
                "caces5",
                person("Yann", None, true, &["B"], &["CACES_R489_5"], "network"),
            ),
            (
                "trucker",
                person("Rémi", None, true, &["CE"], &["caces_r489_3"], "network"),
            ),
            (
                "local",
                person("Zoé", None, true, &["B"], &["CACES_R489_3"], "local"),
            ),
            (
                "placed",
                person("Hugo", None, true, &["B"], &["CACES_R489_3"], "network"),
            ),
        ] {
            ids.insert(key, post_candidate(&node, &staff, body).await);
        }
        // Unknown codes are refused, each named.
        let mut bad = person(
            "X",
            None,
            true,
            &["B"],
            &["CACES R489 cat 3", "DEAS"],
            "network",
        );
        bad["driving_licences"] = json!(["B"]);
        let (st, e) = node.post(&staff, "/api/v1/candidates", &bad).await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("certifications[0]"), "{e}");
        let (st, refs) = node.get(&staff, "/api/v1/certifications").await;
        assert_eq!(st, 200);
        assert!(refs
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "FIMO_M" && c["implies"][0] == "FCO_M"));

        let offer = json!({
            "title": "Cariste saisonnier H/F",
            "description": "Plateforme logistique : chargement et déchargement des camions au chariot élévateur, inventaires. CACES R489 catégorie 3.",
            "rome_code": "N1101",
            "contract_type": "SAI",
            "weekly_hours": 35,
            "start_date": day_in(30),
            "vehicle_required": true,
            "required_certifications": ["caces_r489_3", "PERMIS_C"],
            "desired_certifications": ["SST"],
            "employer": {"name": "Logistique Val de Loire"},
            "workplaces": [{"commune_insee": "41018", "positions": 4}]
        });
        let mut no_truck = offer.clone();
        no_truck["required_certifications"] = json!(["CACES_R489_3"]);
        no_truck["title"] = json!("Cariste H/F");
        let (st, e) = node
            .post(&staff, "/api/v1/offers", &{
                let mut o = offer.clone();
                o["required_certifications"] = json!(["CACES_R489_3", "NOPE"]);
                o["start_date"] = json!("2027-02-30");
                o
            })
            .await;
        assert_eq!(st, 400, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("required_certifications[1]") && text.contains("start_date"),
            "{e}"
        );
        let truck_offer = post_offer(&node, &staff, offer).await;
        let (_, stored) = node
            .get(&staff, &format!("/api/v1/offers/{truck_offer}"))
            .await;
        assert_eq!(
            stored["required_certifications"],
            json!(["CACES_R489_3", "PERMIS_C"])
        );
        assert_eq!(stored["vehicle_required"], true);
        let local_offer = post_offer(&node, &staff, no_truck).await;
        // A network offer: the same content, received from another member.
        let (_, payload) = node
            .get(&staff, &format!("/api/v1/offers/{local_offer}"))
            .await;
        let mut payload: vivier_protocol::OfferPayload = serde_json::from_value(payload).unwrap();
        payload.offer_id = "0195a000-0000-7000-8000-00000000cafe".into();
        payload.origin_node = vivier_protocol::NodeId::parse("petr-montlucon").unwrap();
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(payload.origin_node.clone()),
            &payload,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let network_offer = payload.offer_id.clone();
        let (st, p) = node
            .post(
                &staff,
                &format!("/api/v1/candidates/{}/placement", ids["placed"]),
                &json!({"outcome": "cdi"}),
            )
            .await;
        assert_eq!(st, 201, "{p}");
        wait_docs(&node, 8, 3).await;

        // Trucks: PERMIS_C is held through CE; the start date, the grace,
        // the vehicle and the CACES category decide.
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{truck_offer}/matches?include_near_misses=true"),
            )
            .await;
        let list = &r["workplaces"][0]["matches"];
        let remi = find(list, "Rémi").expect("Rémi");
        assert_eq!(remi["eligible"], true, "{remi:#}");
        assert_eq!(
            remi["parts"]["certifications"]["detail"],
            "CACES_R489_3 required, held; PERMIS_C required, held; SST appreciated, not held"
        );
        let paul = find(list, "Paul").expect("Paul");
        let codes = |m: &Value| -> Vec<String> {
            m["failed_constraints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["code"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(codes(paul), vec!["missing_certification"], "{paul:#}");
        assert_eq!(paul["failed_constraints"][0]["certification"], "PERMIS_C");

        // Local offer without the truck licence.
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{local_offer}/matches?include_near_misses=true"),
            )
            .await;
        let list = &r["workplaces"][0]["matches"];
        let paul = find(list, "Paul").expect("Paul");
        assert_eq!(
            paul["eligible"], true,
            "available 15 days before the start: {paul:#}"
        );
        assert_eq!(paul["parts"]["availability"]["value"], 1.0);
        let jeanne = find(list, "Jeanne").expect("Jeanne");
        assert_eq!(
            jeanne["eligible"], true,
            "8 days late, within the grace: {jeanne:#}"
        );
        let a = jeanne["parts"]["availability"]["value"].as_f64().unwrap();
        assert!(a > 0.0 && a < 1.0, "{a}");
        let omar = find(list, "Omar").expect("Omar");
        assert_eq!(codes(omar), vec!["not_available_by_start"], "{omar:#}");
        assert!(omar["failed_constraints"][0]["message"]
            .as_str()
            .unwrap()
            .contains("180 days after the start"));
        let lea = find(list, "Léa").expect("Léa");
        assert_eq!(codes(lea), vec!["no_vehicle"]);
        let yann = find(list, "Yann").expect("Yann");
        assert_eq!(codes(yann), vec!["missing_certification"]);
        assert_eq!(
            yann["failed_constraints"][0]["certification"],
            "CACES_R489_3"
        );
        let zoe = find(list, "Zoé").expect("a local offer lists local-consent candidates");
        assert_eq!(zoe["eligible"], true);
        assert!(find(list, "Hugo").is_none(), "placed: never listed");
        let eligible = names(
            &r["workplaces"][0]["matches"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["eligible"] == true)
                .cloned()
                .collect::<Value>(),
        );
        let (_, r2) = node
            .get(&staff, &format!("/api/v1/offers/{local_offer}/matches"))
            .await;
        assert_eq!(names(&r2["workplaces"][0]["matches"]), eligible);
        for n in ["Omar", "Léa", "Yann", "Hugo"] {
            assert!(!eligible.contains(&n.to_string()), "{n}: {eligible:?}");
        }

        // The same offer from another member: local-consent Zoé is a near
        // miss that says why (referring her would be refused).
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{network_offer}/matches?include_near_misses=true"),
            )
            .await;
        let list = &r["workplaces"][0]["matches"];
        let zoe = find(list, "Zoé").expect("Zoé as a near miss");
        assert_eq!(codes(zoe), vec!["local_consent_only"]);
        assert_eq!(find(list, "Paul").expect("Paul")["eligible"], true);
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/candidates/{}/matches", ids["local"]),
            )
            .await;
        let offers: Vec<&str> = r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["offer_id"].as_str().unwrap())
            .collect();
        assert!(
            offers.contains(&local_offer.as_str()) && !offers.contains(&network_offer.as_str()),
            "{r:#}"
        );

        // A placed candidate gets no offers at all (not the one they were
        // hired for, not at 100).
        let (st, r) = node
            .get(
                &staff,
                &format!(
                    "/api/v1/candidates/{}/matches?include_near_misses=true",
                    ids["placed"]
                ),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["candidate_status"], "placed");
        assert_eq!(r["matches"], json!([]));

        // Someone referred to one offer is still looking for work: still
        // listed for the others, both ways, and the offer she was referred
        // to shows the referral instead of a second « Proposer ».
        let (st, rf) = node
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"offer_id": local_offer, "candidate_id": ids["early"], "endorsement": "Sérieux."}),
            )
            .await;
        assert_eq!(st, 201, "{rf}");
        let (_, paul) = node
            .get(&staff, &format!("/api/v1/candidates/{}", ids["early"]))
            .await;
        assert_eq!(paul["status"], "in_referral", "{paul:#}");
        // `status=pending` lists the referrals still under way (what the
        // pages mark « Déjà proposé(e) »), whatever their exact status.
        let (st, pending) = node
            .get(
                &staff,
                &format!(
                    "/api/v1/referrals?candidate_id={}&status=pending",
                    ids["early"]
                ),
            )
            .await;
        assert_eq!(st, 200, "{pending}");
        assert_eq!(pending["total"], 1, "{pending:#}");
        assert_eq!(pending["items"][0]["status"], "new", "{pending:#}");
        let (_, none) = node
            .get(
                &staff,
                &format!(
                    "/api/v1/referrals?candidate_id={}&status=pending",
                    ids["placed"]
                ),
            )
            .await;
        assert_eq!(none["total"], 0, "{none:#}");
        node.sync_index().await;
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/offers/{truck_offer}/matches?include_near_misses=true"),
            )
            .await;
        assert!(
            find(&r["workplaces"][0]["matches"], "Paul").is_some(),
            "{r:#}"
        );
        let (_, r) = node
            .get(&staff, &format!("/api/v1/offers/{local_offer}/matches"))
            .await;
        assert!(
            find(&r["workplaces"][0]["matches"], "Paul").is_some(),
            "{r:#}"
        );
        let (_, r) = node
            .get(
                &staff,
                &format!("/api/v1/candidates/{}/matches", ids["early"]),
            )
            .await;
        assert_eq!(r["candidate_status"], "in_referral");
        assert!(
            r["matches"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["offer_id"] == local_offer.as_str()),
            "{r:#}"
        );
        let cookie = crate::support::ui_login(&node, "conseiller@mission-emploi.fr").await;
        let page =
            crate::support::get(&node, Some(&cookie), &format!("/ui/offres/{local_offer}")).await;
        assert_eq!(page.status, 200);
        let card = &page.body[page.body.find(">Paul Test</a>").expect("Paul's card")..];
        let card = &card[..card.find("</article>").expect("end of card")];
        assert!(
            card.contains("Déjà proposé(e) pour cette offre — Nouvelle"),
            "{card}"
        );
        assert!(!card.contains("Proposer pour cette offre"), "{card}");
        let jeanne = &page.body[page.body.find(">Jeanne Test</a>").expect("Jeanne's card")..];
        let jeanne = &jeanne[..jeanne.find("</article>").expect("end of card")];
        assert!(jeanne.contains("Proposer pour cette offre"), "{jeanne}");
        // And on Paul's record: the offer he was proposed for says so
        // instead of offering to propose him again.
        let page = crate::support::get(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{}", ids["early"]),
        )
        .await;
        assert_eq!(page.status, 200);
        let card = &page.body[page
            .body
            .find(&format!("id=\"offre-{local_offer}\""))
            .expect("the offer's card")..];
        let card = &card[..card.find("</article>").expect("end of card")];
        assert!(
            card.contains("Déjà proposé(e) pour cette offre — Nouvelle"),
            "{card}"
        );
        assert!(!card.contains("Proposer pour cette offre"), "{card}");
        node.stop().await;
    }
}

#[tokio::test]
async fn index_postings_give_the_same_terms_as_analysis() {
    let node = start_node(&crate::support::Backend::Sqlite).await;
    let set = build_set(&node).await;
    let shouting = candidate("Max", "Cris", "41018", None, &[], false, false, &["N1101"], &["CARISTE"],
        "CARISTE CONFIRMÉ CACES R489 CATÉGORIE 3, CHARIOT ÉLÉVATEUR, INVENTAIRES, SÉCURITÉ, ÉLECTRICITÉ", None);
    let max = post_candidate(&node, &set.staff, shouting).await;
    wait_docs(&node, 10, 3).await;
    let refs = vivier_node::referentials::Referentials::global();
    let mut ids: Vec<String> = set.ids.values().cloned().collect();
    ids.push(max);
    let records = vivier_node::candidates::load_candidates(&node.state.db, &ids)
        .await
        .unwrap();
    for offer in [&set.cariste_offer, &set.aide_offer, &set.prep_offer] {
        let o = vivier_node::offers::get_offer(&node.state.db, offer)
            .await
            .unwrap()
            .unwrap();
        let terms = vivier_node::matching::text::OfferTerms::of(refs, &o.payload).terms();
        let held = node
            .state
            .search
            .candidates
            .match_terms_held(&ids, &terms)
            .unwrap();
        assert_eq!(held.len(), ids.len());
        for c in &records {
            let analysed = vivier_node::matching::text::candidate_terms(c);
            let expected: Vec<bool> = terms.iter().map(|t| analysed.contains(t)).collect();
            assert_eq!(
                held[&c.id], expected,
                "{} {}: {terms:?}",
                c.first_name, o.payload.title
            );
        }
    }
    node.stop().await;
}

// ---------------------------------------------------------------------------
// The index pass against the definition
// ---------------------------------------------------------------------------

type Row = (String, f64, bool, Option<f64>);

/// Offer → candidates by the definition: every record loaded from the
/// database and evaluated (`matching::evaluate`), relevant ones within the
/// pre-selection radius of a workplace with a known centre, ranked by the
/// documented key. Returns per workplace (considered, excluded, rows).
async fn oracle_offer(
    node: &TestNode,
    offer: &vivier_node::offers::StoredOffer,
    near_misses: bool,
) -> Vec<(usize, usize, Vec<Row>)> {
    use vivier_node::matching::{self, text, Context, OfferSide};
    let state = &node.state;
    let w = &state.config.matching;
    let ids = state.search.candidates.all_ids().unwrap();
    let all = vivier_node::candidates::load_candidates(&state.db, &ids)
        .await
        .unwrap();
    let cx = Context {
        refs: state.refs,
        weights: w,
        today: state.clock.now_ms().div_euclid(86_400_000),
    };
    let p = &offer.payload;
    let (terms, idf) = terms_and_idf(node, p);
    let radius = matching::PRESELECT_RADIUS_KM.max(w.default_max_travel_km);
    let mut out = Vec::new();
    for wp in &p.workplaces {
        let point = match (wp.lat_micro, wp.lon_micro) {
            (Some(a), Some(b)) => Some(vivier_node::geo::Point::new(a, b)),
            _ => None,
        };
        let mut rows = Vec::new();
        for c in all.iter().filter(|c| matching::listable(c)) {
            if let Some(pt) = point {
                // Within the radius, or within the candidate's own limit.
                let reach = radius.max(matching::travel_limit_km(w, c));
                match c.home {
                    Some(h) if vivier_node::geo::haversine_km(h, pt) <= reach => {}
                    _ => continue,
                }
            }
            let t = text::relevance(&terms, &idf, &text::candidate_terms(c), w.text_saturation);
            let side = OfferSide {
                payload: p,
                network: !offer.is_local,
            };
            let e = matching::evaluate(&cx, side, wp, c, &t);
            if e.relevant() {
                rows.push((
                    matching::rank_key_of(e.eligible, e.score, e.distance_km),
                    (c.id.clone(), e.score, e.eligible, e.distance_km),
                ));
            }
        }
        out.push(oracle_rank(rows, near_misses));
    }
    out
}

/// Candidate → offers by the definition: every open offer evaluated at
/// each workplace, kept at its best, relevant ones with a workplace within
/// the travel limit (or the pre-selection radius for near misses) of a
/// known home. Returns (considered, excluded, rows).
async fn oracle_candidate(
    node: &TestNode,
    c: &vivier_node::candidates::Candidate,
    near_misses: bool,
) -> (usize, usize, Vec<Row>) {
    use vivier_node::matching::{self, text, Context, OfferSide};
    let state = &node.state;
    let w = &state.config.matching;
    let cx = Context {
        refs: state.refs,
        weights: w,
        today: state.clock.now_ms().div_euclid(86_400_000),
    };
    let ids = state.search.offers.all_ids().unwrap();
    let offers = vivier_node::offers::get_offers(&state.db, &ids)
        .await
        .unwrap();
    let own = matching::travel_limit_km(w, c);
    let radius = if near_misses {
        matching::PRESELECT_RADIUS_KM.max(own)
    } else {
        own
    };
    let mut rows = Vec::new();
    for o in offers
        .iter()
        .filter(|o| o.status == vivier_node::offers::OfferStatus::Open)
    {
        let p = &o.payload;
        let points: Vec<_> = vivier_node::offers::workplace_points(p);
        if let Some(h) = c.home {
            if !points
                .iter()
                .flatten()
                .any(|pt| vivier_node::geo::haversine_km(h, *pt) <= radius)
            {
                continue;
            }
        }
        let (terms, idf) = terms_and_idf(node, p);
        let t = text::relevance(&terms, &idf, &text::candidate_terms(c), w.text_saturation);
        let side = OfferSide {
            payload: p,
            network: !o.is_local,
        };
        let best = p
            .workplaces
            .iter()
            .enumerate()
            .map(|(i, wp)| (i, matching::evaluate(&cx, side, wp, c, &t)))
            .min_by_key(|(i, e)| {
                (
                    matching::rank_key_of(e.eligible, e.score, e.distance_km),
                    *i,
                )
            });
        if let Some((_, e)) = best.filter(|(_, e)| e.relevant()) {
            rows.push((
                matching::rank_key_of(e.eligible, e.score, e.distance_km),
                (p.offer_id.clone(), e.score, e.eligible, e.distance_km),
            ));
        }
    }
    oracle_rank(rows, near_misses)
}

/// The offer's matching terms and their idf over the whole candidate index.
fn terms_and_idf(
    node: &TestNode,
    p: &vivier_protocol::OfferPayload,
) -> (
    vivier_node::matching::text::OfferTerms,
    vivier_node::matching::text::Idf,
) {
    use vivier_node::matching::text;
    let terms = text::OfferTerms::of(node.state.refs, p);
    let (n, freqs) = node
        .state
        .search
        .candidates
        .text_doc_freqs(&terms.terms())
        .unwrap();
    let idf = text::Idf::new(n, terms.terms().into_iter().zip(freqs));
    (terms, idf)
}

/// Orders rows by the documented key then id; returns (relevant rows,
/// ineligible ones, the 20 listed).
fn oracle_rank(
    mut rows: Vec<((bool, i64, i64), Row)>,
    near_misses: bool,
) -> (usize, usize, Vec<Row>) {
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1 .0.cmp(&b.1 .0)));
    let considered = rows.len();
    let excluded = rows.iter().filter(|r| !r.1 .2).count();
    let listed = rows
        .into_iter()
        .map(|r| r.1)
        .filter(|r| near_misses || r.2)
        .take(20)
        .collect();
    (considered, excluded, listed)
}

/// Every pair the index pass ranks, in every direction and with or without
/// near misses, is exactly what evaluating every record from the database
/// gives: same rows, same order, same scores, same counts. The set mixes
/// certifications, start dates, a vehicle requirement, contract and hours
/// preferences, local and network consents, a placed candidate, a
/// three-workplace offer and another member's offer.
#[tokio::test]
async fn the_index_pass_ranks_as_evaluating_every_record() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let set = build_set(&node).await;
        let staff = set.staff.clone();
        let extra = |first: &str, commune: &str, rome: &str, title: &str, cv: &str| {
            candidate(
                first,
                "Oracle",
                commune,
                Some(50),
                &["B"],
                true,
                false,
                &[rome],
                &[title],
                cv,
                Some(30),
            )
        };
        let mut c1 = extra("Karim", "41269", "N1101", "Cariste", CARISTE_CV);
        c1["certifications"] = json!(["CACES_R489_3", "SST"]);
        c1["consent_scope"] = json!("network");
        c1["contract_types"] = json!(["CDI"]);
        let mut c2 = extra(
            "Léa",
            "41018",
            "N1105",
            "Manutentionnaire",
            "Manutention, chargement de camions, chariot.",
        );
        c2["available_from"] = json!(day_in(60));
        c2["consent_scope"] = json!("network");
        let mut c3 = extra(
            "Marc",
            "03185",
            "K1302",
            "Aide-soignant",
            "Aide-soignant de nuit en EHPAD, DEAS, toilette, soins.",
        );
        c3["certifications"] = json!(["DEAS"]);
        c3["driving_licences"] = json!([]);
        c3["has_vehicle"] = json!(false);
        let mut c4 = extra(
            "Nora",
            "45234",
            "N1101",
            "Cariste",
            "Cariste, chariot élévateur, inventaires, entrepôt.",
        );
        c4["contract_types"] = json!(["MIS", "CDD"]);
        c4["consent_scope"] = json!("network");
        // Parisians ~150–180 km from the Loir-et-Cher workplaces: one ready
        // to travel 300 km (eligible there both ways), one only 50.
        let mut c6 = extra("Inès", "75056", "N1101", "Cariste", CARISTE_CV);
        c6["max_travel_km"] = json!(300);
        c6["consent_scope"] = json!("network");
        let c7 = extra("Paul", "75056", "N1101", "Cariste", CARISTE_CV);
        for body in [c1, c2, c3, c4, c6, c7] {
            post_candidate(&node, &staff, body).await;
        }
        let placed = post_candidate(
            &node,
            &staff,
            extra("Omar", "41018", "N1101", "Cariste", CARISTE_CV),
        )
        .await;
        vivier_node::candidates::set_status(
            &node.state,
            &placed,
            vivier_node::candidates::CandidateStatus::Placed,
        )
        .await
        .unwrap();
        post_offer(
            &node,
            &staff,
            json!({
                "title": "Cariste CACES R489 catégorie 3",
                "description": "Chariot élévateur, inventaires, entrepôt. SST apprécié.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "weekly_hours": 35,
                "start_date": day_in(20),
                "vehicle_required": true,
                "required_certifications": ["CACES_R489_3"],
                "desired_certifications": ["SST"],
                "employer": {"name": "Entrepôts du Centre"},
                "workplaces": [
                    {"commune_insee": "41018", "positions": 1},
                    {"commune_insee": "41269", "positions": 1},
                    {"commune_insee": "45234", "positions": 1}
                ]
            }),
        )
        .await;
        post_offer(
            &node,
            &staff,
            json!({
                "title": "Aide-soignant de nuit",
                "description": "EHPAD : soins, toilette, surveillance de nuit.",
                "rome_code": "J1501",
                "contract_type": "CDD",
                "duration_months": 6,
                "required_certifications": ["DEAS"],
                "employer": {"name": "EHPAD Les Tilleuls"},
                "workplaces": [{"commune_insee": "03185", "positions": 1}]
            }),
        )
        .await;
        // Another member's offer (network consent needed).
        let now = vivier_node::util::now_ms();
        let remote: vivier_protocol::OfferPayload = serde_json::from_value(json!({
            "offer_id": "autre-noeud-1",
            "origin_node": "autre-noeud",
            "title": "Cariste H/F",
            "description": "Chariot élévateur, chargement de camions, inventaires.",
            "rome_code": "N1101",
            "contract_type": "MIS",
            "employer": {"name": "Intérim Loir-et-Cher"},
            "workplaces": [{"commune_insee": "41269", "positions": 2}],
            "published_at": now,
            "updated_at": now,
        }))
        .unwrap();
        let mut tx = node.state.db.begin().await.unwrap();
        vivier_node::offers::store_remote_offer(
            &mut tx,
            &vivier_node::actor::Actor::Peer(remote.origin_node.clone()),
            &remote,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        vivier_node::journal::wake(&node.state);
        let candidates = set.ids.len() as u64 + 7;
        wait_docs(&node, candidates, 6).await;
        // Both indexes up to the journal's head (the placement included).
        let head = vivier_node::journal::head(&node.state.db).await.unwrap();
        let applied = eventually(10, || async {
            let s = &node.state.search;
            (s.candidates.committed_seq() >= head && s.offers.committed_seq() >= head).then_some(())
        })
        .await;
        assert!(
            applied.is_some(),
            "the indexes did not reach the journal's head"
        );
        let offer_ids = node.state.search.offers.all_ids().unwrap();
        let offers = vivier_node::offers::get_offers(&node.state.db, &offer_ids)
            .await
            .unwrap();
        assert_eq!(offers.len(), 6);
        let mut compared = 0;
        for near_misses in [false, true] {
            let params = vivier_node::matching::MatchParams {
                limit: Some(20),
                include_near_misses: Some(near_misses),
                workplace: None,
            };
            for o in &offers {
                let got = vivier_node::matching::match_offer(&node.state, o, &params)
                    .await
                    .unwrap();
                let want = oracle_offer(&node, o, near_misses).await;
                assert_eq!(got.workplaces.len(), want.len());
                for (g, (considered, excluded, rows)) in got.workplaces.iter().zip(want) {
                    let got_rows: Vec<Row> = g
                        .matches
                        .iter()
                        .map(|m| {
                            (
                                m.candidate_id.clone(),
                                m.evaluation.score,
                                m.evaluation.eligible,
                                m.evaluation.distance_km,
                            )
                        })
                        .collect();
                    assert_eq!(got_rows, rows, "{} workplace {}", o.payload.title, g.index);
                    assert_eq!((g.considered, g.excluded), (considered, excluded));
                    compared += rows.len();
                }
            }
            let cids = node.state.search.candidates.all_ids().unwrap();
            for c in vivier_node::candidates::load_candidates(&node.state.db, &cids)
                .await
                .unwrap()
            {
                let got = vivier_node::matching::match_candidate(&node.state, &c, &params)
                    .await
                    .unwrap();
                let (considered, excluded, rows) = if vivier_node::matching::listable(&c) {
                    oracle_candidate(&node, &c, near_misses).await
                } else {
                    (0, 0, Vec::new())
                };
                let got_rows: Vec<Row> = got
                    .matches
                    .iter()
                    .map(|m| {
                        (
                            m.offer_id.clone(),
                            m.evaluation.score,
                            m.evaluation.eligible,
                            m.evaluation.distance_km,
                        )
                    })
                    .collect();
                assert_eq!(got_rows, rows, "{} {}", c.first_name, c.last_name);
                assert_eq!((got.considered, got.excluded), (considered, excluded));
                compared += rows.len();
            }
        }
        // Not a vacuous comparison: many pairs, near misses among them.
        assert!(compared > 60, "only {compared} rows compared");
        // Inès (300 km) is listed beyond the 150 km radius, within her
        // limit; Paul (50 km) only within the radius, as a near miss.
        let mut far = 0;
        for o in offers.iter().filter(|o| o.payload.rome_code == "N1101") {
            let params = vivier_node::matching::MatchParams {
                limit: Some(200),
                include_near_misses: Some(true),
                workplace: None,
            };
            let got = vivier_node::matching::match_offer(&node.state, o, &params)
                .await
                .unwrap();
            for m in got.workplaces.iter().flat_map(|w| &w.matches) {
                if m.first_name == "Paul" {
                    assert!(
                        m.evaluation.distance_km.is_some_and(|d| d <= 150.0),
                        "{:?}",
                        m.evaluation
                    );
                }
                if m.first_name == "Inès" && m.evaluation.distance_km.is_some_and(|d| d > 150.0) {
                    far += 1;
                    assert!(
                        m.evaluation
                            .failed_constraints
                            .iter()
                            .all(|f| f.code != "beyond_travel_limit"),
                        "{:?}",
                        m.evaluation
                    );
                }
            }
        }
        assert!(far > 0, "Inès never listed beyond 150 km");
    }
}
