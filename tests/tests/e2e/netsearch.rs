//! Network search over real node processes (issue #17): a query from A
//! reaches B and C, which answer with pseudonymous results only; a node
//! that is down is reported as not answered; « Intéressé » on a result at C
//! ends with C's counsellor sending a normal co-opted referral that
//! reveals the profile at A; a declined interest shows « non disponible »
//! only; a second identical query shows other pseudonyms. And the small
//! commune rule: a single person in a village is shown with the
//! département only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};

use crate::support::*;
use serde_json::{json, Value};

const BLOIS: &str = "41018";
/// Marolles (41), a village a few km from Blois.
const MAROLLES: &str = "41128";

fn candidate(first: &str, insee: &str, scope: &str, rome: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": "Dupont-Réseau",
        "email": format!("{}.reseau@exemple.fr", first.to_lowercase()),
        "phone": "06 12 34 56 78",
        "commune_insee": insee,
        "max_travel_km": 40,
        "driving_licences": ["B"],
        "certifications": ["CACES_R489_3"],
        "has_vehicle": true,
        "contract_types": ["CDI", "CDD"],
        "rome_codes": [rome],
        "job_titles": ["Cariste"],
        "skills": ["préparation de commandes"],
        "experience_years": 6,
        "cv_text": format!("{first} : texte libre du CV, entrepôt logistique, à ne jamais montrer au réseau."),
        "consent_scope": scope,
        "sensitive": {"rsa_beneficiary": true, "nir": "185057800608436"}
    })
}

async fn create(node: &NodeProcess, token: &str, body: &Value) -> String {
    let (s, v) = node.post(token, "/api/v1/candidates", body).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// Waits until the node's index lists `ids` for an offer (so that its
/// matching, which the network search uses, sees them).
async fn indexed(node: &NodeProcess, token: &str, offer_id: &str, ids: &[String]) {
    wait_for(60, "candidates indexed", || async {
        let (s, v) = node
            .get(
                token,
                &format!("/api/v1/offers/{offer_id}/matches?limit=50"),
            )
            .await;
        let text = v.to_string();
        (s == 200 && ids.iter().all(|id| text.contains(id.as_str()))).then_some(())
    })
    .await;
}

/// A cariste offer at Blois posted at `a`, once every `(node, token)` has
/// received it; its id.
async fn post_offer(a: &NodeProcess, employer: &str, at: &[(&NodeProcess, &String)]) -> String {
    let (s, offer) = a
        .post(
            employer,
            "/api/v1/offers",
            &json!({
                "title": "Cariste H/F",
                "description": "Conduite de chariots, CACES 3.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "workplaces": [{"commune_insee": BLOIS, "positions": 3}]
            }),
        )
        .await;
    assert_eq!(s, 201, "{offer}");
    let offer_id = offer["offer_id"]
        .as_str()
        .or(offer["id"].as_str())
        .unwrap()
        .to_string();
    for (node, token) in at {
        wait_for(60, "offer received", || async {
            (node
                .get(token, &format!("/api/v1/offers/{offer_id}"))
                .await
                .0
                == 200)
                .then_some(())
        })
        .await;
    }
    offer_id
}

fn search_body() -> Value {
    json!({
        "rome_codes": ["N1101"],
        "certifications": ["CACES_R489_3"],
        "places": [{"commune_insee": BLOIS, "radius_km": 30}],
        "contract_types": ["CDI"]
    })
}

const RESULT_KEYS: [&str; 14] = [
    "available_from",
    "certifications",
    "commune_insee",
    "departement",
    "distance_band",
    "driving_licences",
    "experience_years",
    "interest",
    "node_id",
    "place_index",
    "pseudonym",
    "rome_codes",
    "score",
    "summary",
];

/// The result with `pseudonym` in the search as A reads it now.
async fn result_now(a: &NodeProcess, token: &str, id: &str, pseudonym: &Value) -> Value {
    let (s, v) = a
        .get(token, &format!("/api/v1/network-searches/{id}"))
        .await;
    assert_eq!(s, 200, "{v}");
    results(&v)
        .into_iter()
        .find(|r| r["pseudonym"] == *pseudonym)
        .unwrap()
}

fn results(v: &Value) -> Vec<Value> {
    v["results"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_reaches_every_member_and_an_interest_ends_in_a_referral() {
    // C (the home node that resolves the pseudonym and refers) runs on
    // PostgreSQL when it is reachable, the others on SQLite.
    let mut postgres = Vec::new();
    if let Some(pg) = postgres_admin_url() {
        postgres.push(("mission-tours".to_string(), fresh_postgres_db(&pg).await));
    }
    let mut net = Network::start_custom(
        &["cd41", "petr-montlucon", "mission-tours", "cd18"],
        NetworkOptions {
            postgres,
            ..Default::default()
        },
    )
    .await;
    // D is down for the whole search.
    net.node_mut("cd18").kill();
    let (a, b, c) = (
        net.node("cd41"),
        net.node("petr-montlucon"),
        net.node("mission-tours"),
    );
    let employer = a.user("employer", "rh@logivia.fr", Some("Logivia"));
    let b_counsellor = b.user("counsellor", "conseil@petr.fr", None);
    let b_admin = b.user("admin", "admin@petr.fr", None);
    let c_counsellor = c.user("counsellor", "conseil@tours.fr", None);

    // An offer of A's employer, which the referral will be for.
    let offer_id = post_offer(a, &employer, &[(b, &b_counsellor), (c, &c_counsellor)]).await;

    // B: three who fit, one whose consent covers B only, one of another
    // trade. C: one who fits, one too far away.
    let mut b_fit = Vec::new();
    for name in ["Alice", "Bruno", "Céline"] {
        b_fit.push(
            create(
                b,
                &b_counsellor,
                &candidate(name, BLOIS, "network", "N1101"),
            )
            .await,
        );
    }
    let b_local = create(
        b,
        &b_counsellor,
        &candidate("Denis", BLOIS, "local", "N1101"),
    )
    .await;
    let _b_other = create(
        b,
        &b_counsellor,
        &candidate("Emma", BLOIS, "network", "K2204"),
    )
    .await;
    let c_fit = create(
        c,
        &c_counsellor,
        &candidate("Fatou", "41276", "network", "N1101"),
    )
    .await;
    let _c_far = create(
        c,
        &c_counsellor,
        &candidate("Gilles", "75056", "network", "N1101"),
    )
    .await;
    // The approved summary travels; nothing else written about the person.
    let (s, v) = c
        .request(
            reqwest::Method::PUT,
            &c_counsellor,
            &format!("/api/v1/candidates/{c_fit}/network-summary"),
            Some(&json!({"summary": "Cariste confirmée, CACES 3, disponible rapidement."})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let mut b_listed = b_fit.clone();
    b_listed.push(b_local.clone());
    indexed(b, &b_counsellor, &offer_id, &b_fit).await;
    indexed(c, &c_counsellor, &offer_id, std::slice::from_ref(&c_fit)).await;

    // The search: answered by B and C, not by D (down), complete anyway.
    let (s, first) = a
        .post(&employer, "/api/v1/network-searches", &search_body())
        .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["members_asked"], 3, "{first}");
    assert_eq!(first["members_answered"], 2, "{first}");
    let nodes = first["nodes"].as_array().unwrap();
    let d = nodes.iter().find(|n| n["node_id"] == "cd18").unwrap();
    assert_eq!(d["status"], "failed", "{first}");
    for id in ["petr-montlucon", "mission-tours"] {
        let n = nodes.iter().find(|n| n["node_id"] == id).unwrap();
        assert_eq!(n["status"], "answered", "{first}");
    }
    let rs = results(&first);
    assert_eq!(rs.len(), 4, "{first}");
    assert_eq!(
        rs.iter()
            .filter(|r| r["node_id"] == "petr-montlucon")
            .count(),
        3,
        "{first}"
    );
    assert_eq!(
        rs.iter()
            .filter(|r| r["node_id"] == "mission-tours")
            .count(),
        1,
        "{first}"
    );
    let expected: BTreeSet<&str> = RESULT_KEYS.into_iter().collect();
    for r in &rs {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, expected, "{r}");
        assert_eq!(r["rome_codes"], json!(["N1101"]), "{r}");
        assert_eq!(r["departement"], "41", "{r}");
        assert_eq!(r["experience_years"], 6, "{r}");
        assert_eq!(r["pseudonym"].as_str().unwrap().len(), 43, "{r}");
    }
    assert_eq!(first["places"][0]["count"], 4, "{first}");
    let text = first.to_string();
    for leak in [
        "Dupont",
        "Alice",
        "Bruno",
        "Céline",
        "Denis",
        "Fatou",
        "exemple.fr",
        "06 12",
        "texte libre",
        "185057800608436",
        "rsa_beneficiary",
        b_fit[0].as_str(),
        c_fit.as_str(),
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    let at_c = rs.iter().find(|r| r["node_id"] == "mission-tours").unwrap();
    assert_eq!(
        at_c["summary"], "Cariste confirmée, CACES 3, disponible rapidement.",
        "{at_c}"
    );
    // GET reads the same stored search.
    let id = first["id"].as_str().unwrap().to_string();
    let (s, again) = a
        .get(&employer, &format!("/api/v1/network-searches/{id}"))
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(results(&again).len(), 4);

    // A second identical query: other pseudonyms, none shared.
    let (s, second) = a
        .post(&employer, "/api/v1/network-searches", &search_body())
        .await;
    assert_eq!(s, 200, "{second}");
    let p1: HashSet<String> = rs
        .iter()
        .map(|r| r["pseudonym"].as_str().unwrap().into())
        .collect();
    let p2: HashSet<String> = results(&second)
        .iter()
        .map(|r| r["pseudonym"].as_str().unwrap().into())
        .collect();
    assert_eq!(p2.len(), 4, "{second}");
    assert!(p1.is_disjoint(&p2), "{p1:?} {p2:?}");

    // B's audit log has each query and what was answered.
    let (s, audit) = b
        .get(&b_admin, "/api/v1/audit?action=network_search.answer")
        .await;
    assert_eq!(s, 200, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    let logged = entries[0].to_string();
    assert!(
        b_fit.iter().all(|id| logged.contains(id.as_str())),
        "{logged}"
    );
    assert!(!logged.contains(&b_local), "{logged}");

    // « Intéressé » on C's result, with the offer.
    let (s, interest) = a
        .post(
            &employer,
            &format!("/api/v1/network-searches/{id}/interests"),
            &json!({"node_id": "mission-tours", "pseudonym": at_c["pseudonym"],
                    "message": "Nous recrutons trois caristes à Blois, poste en CDI.",
                    "offer_id": offer_id}),
        )
        .await;
    assert_eq!(s, 201, "{interest}");
    assert_eq!(interest["status"], "pending");
    // C's counsellor is told (notice; e-mail when mail is on) and accepts.
    let (s, notices) = c.get(&c_counsellor, "/api/v1/notifications").await;
    assert_eq!(s, 200, "{notices}");
    assert!(
        notices.to_string().contains("network_interest"),
        "{notices}"
    );
    let (s, pending) = c
        .get(&c_counsellor, "/api/v1/network-interests?status=pending")
        .await;
    assert_eq!(s, 200, "{pending}");
    let items = pending["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pending}");
    assert_eq!(items[0]["candidate_id"], c_fit.as_str());
    assert!(items[0]["asker_label"]
        .as_str()
        .unwrap()
        .contains("Logivia"));
    let interest_at_c = items[0]["id"].as_str().unwrap().to_string();
    let (s, accepted) = c
        .post(
            &c_counsellor,
            &format!("/api/v1/network-interests/{interest_at_c}/accept"),
            &json!({"endorsement": "Elle est d'accord : fiable, CACES 3 à jour."}),
        )
        .await;
    assert_eq!(s, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    let referral_id = accepted["referral_id"].as_str().unwrap().to_string();

    // The referral arrives at A with the profile; the search shows it.
    let seen = wait_for(60, "referral at A", || async {
        let (s, v) = a
            .get(&employer, &format!("/api/v1/referrals/{referral_id}"))
            .await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(seen["candidate_name"], "Fatou Dupont-Réseau", "{seen}");
    assert_eq!(
        seen["candidate"]["email"], "fatou.reseau@exemple.fr",
        "{seen}"
    );
    let r = result_now(a, &employer, &id, &at_c["pseudonym"]).await;
    assert_eq!(r["interest"]["status"], "accepted", "{r}");
    assert_eq!(r["interest"]["referral_id"], referral_id.as_str(), "{r}");

    // An interest at B, declined: A sees « declined » and nothing else.
    let at_b = rs
        .iter()
        .find(|r| r["node_id"] == "petr-montlucon")
        .unwrap();
    let (s, v) = a
        .post(
            &employer,
            &format!("/api/v1/network-searches/{id}/interests"),
            &json!({"node_id": "petr-montlucon", "pseudonym": at_b["pseudonym"],
                    "message": "Poste de cariste en CDI à Blois."}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, pending) = b
        .get(&b_counsellor, "/api/v1/network-interests?status=pending")
        .await;
    let at_b_id = pending["items"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = b
        .post(
            &b_counsellor,
            &format!("/api/v1/network-interests/{at_b_id}/decline"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = result_now(a, &employer, &id, &at_b["pseudonym"]).await;
    assert_eq!(r["interest"]["status"], "declined", "{r}");
    assert_eq!(r["interest"]["referral_id"], Value::Null, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_person_in_a_village_is_shown_with_the_departement_only() {
    let net = Network::start(&["cd41", "petr-montlucon"]).await;
    let (a, b) = (net.node("cd41"), net.node("petr-montlucon"));
    let employer = a.user("employer", "rh@logivia.fr", Some("Logivia"));
    let counsellor = b.user("counsellor", "conseil@petr.fr", None);
    let offer_id = post_offer(a, &employer, &[(b, &counsellor)]).await;
    // Five in Blois (the default threshold), one alone in Marolles.
    let mut ids = Vec::new();
    for name in ["Anne", "Bilal", "Chantal", "David", "Élise"] {
        ids.push(create(b, &counsellor, &candidate(name, BLOIS, "network", "N1101")).await);
    }
    let villager = create(
        b,
        &counsellor,
        &candidate("Yves", MAROLLES, "network", "N1101"),
    )
    .await;
    ids.push(villager);
    indexed(b, &counsellor, &offer_id, &ids).await;

    let (s, v) = a
        .post(&employer, "/api/v1/network-searches", &search_body())
        .await;
    assert_eq!(s, 200, "{v}");
    let rs = results(&v);
    assert_eq!(rs.len(), 6, "{v}");
    let in_blois = rs.iter().filter(|r| r["commune_insee"] == BLOIS).count();
    let hidden: Vec<&Value> = rs.iter().filter(|r| r["commune_insee"].is_null()).collect();
    assert_eq!(in_blois, 5, "{v}");
    assert_eq!(hidden.len(), 1, "{v}");
    assert_eq!(hidden[0]["departement"], "41", "{v}");
    assert!(!v.to_string().contains(MAROLLES), "{v}");
}
