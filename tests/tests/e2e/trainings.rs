//! Trainings as network opportunities and the skills gap, over two real
//! node processes (issue 18): a training granting CACES R489 cat. 3
//! published at B is found from A for a candidate who is a near miss on an
//! offer for lack of it; the counsellor refers the candidate to the
//! training "for" the offer; B records admitted then certified; the
//! certification reaches the candidate's record at A, the candidate now
//! matches the offer and is hired; A's report counts the training and the
//! hire and links them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use serde_json::{json, Value};
use support::*;

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

/// The candidate's match for `offer_id`, near misses included.
async fn match_for(node: &NodeProcess, token: &str, cand: &str, offer_id: &str) -> Option<Value> {
    let (s, v) = node
        .get(
            token,
            &format!("/api/v1/candidates/{cand}/matches?include_near_misses=true&limit=50"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["offer_id"] == offer_id)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_at_b_closes_a_skills_gap_at_a_and_leads_to_a_hire() {
    skills_gap_to_hire(Network::start(&["cd41", "petr-montlucon"]).await).await;
}

/// The same with both members on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_at_b_closes_a_skills_gap_at_a_and_leads_to_a_hire_postgres() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let mut postgres = Vec::new();
    for id in ["cd41", "petr-montlucon"] {
        postgres.push((id.to_string(), fresh_postgres_db(&admin).await));
    }
    let net = Network::start_custom(
        &["cd41", "petr-montlucon"],
        NetworkOptions {
            postgres,
            ..Default::default()
        },
    )
    .await;
    skills_gap_to_hire(net).await;
}

async fn skills_gap_to_hire(net: Network) {
    let (a, b) = (net.node("cd41"), net.node("petr-montlucon"));
    let employer = a.user(
        "employer",
        "rh@logistique-blois.fr",
        Some("Logistique Blois"),
    );
    let a_counsellor = a.user("counsellor", "conseil@cd41.fr", None);
    let a_admin = a.user("admin", "admin@cd41.fr", None);
    let b_counsellor = b.user("counsellor", "formation@petr.fr", None);

    // A's offer needs CACES R489 cat. 3 and starts in two months.
    let (s, offer) = a
        .post(
            &employer,
            "/api/v1/offers",
            &json!({
                "title": "Cariste H/F",
                "description": "Conduite de chariots élévateurs en entrepôt.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "weekly_hours": 35,
                "start_date": day(60),
                "required_certifications": ["CACES_R489_3"],
                "workplaces": [{"commune_insee": "41018", "positions": 1}]
            }),
        )
        .await;
    assert_eq!(s, 201, "{offer}");
    let offer_id = offer["offer_id"].as_str().unwrap().to_string();

    // B publishes a training granting it, near Blois, ending before.
    let (s, training) = b
        .post(
            &b_counsellor,
            "/api/v1/opportunities",
            &json!({
                "opportunity_type": "training",
                "title": "CACES R489 catégorie 3",
                "organisation": "AFPA Blois",
                "certifications_granted": ["CACES_R489_3"],
                "rome_codes": ["N1101"],
                "places": [{"commune_insee": "41018"}],
                "start_date": day(10),
                "end_date": day(14),
                "seats": 8,
                "funding": "OPCO 2i"
            }),
        )
        .await;
    assert_eq!(s, 201, "{training}");
    let training_id = training["opportunity_id"].as_str().unwrap().to_string();
    assert_eq!(training["origin_node"], "petr-montlucon");

    // A receives it, read-only: A's staff cannot change B's training.
    let at_a = wait_for(60, "the training at A", || async {
        let (s, v) = a
            .get(
                &a_counsellor,
                &format!("/api/v1/opportunities/{training_id}"),
            )
            .await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(at_a["is_local"], false);
    assert_eq!(at_a["certifications_granted"], json!(["CACES_R489_3"]));
    let (s, _) = a
        .post(
            &a_counsellor,
            &format!("/api/v1/opportunities/{training_id}/close"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = a
        .get(
            &a_counsellor,
            "/api/v1/opportunities?certification=CACES_R489_3",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");

    // A's candidate: a near miss for lack of CACES 3, with the training.
    let (s, cand) = a
        .post(
            &a_counsellor,
            "/api/v1/candidates",
            &json!({
                "first_name": "Inès",
                "last_name": "Moreau",
                "commune_insee": "41018",
                "rome_codes": ["N1101"],
                "max_travel_km": 30,
                "cv_text": "Cariste, préparation de commandes en entrepôt logistique.",
                "consent_scope": "network"
            }),
        )
        .await;
    assert_eq!(s, 201, "{cand}");
    let cand_id = cand["id"].as_str().unwrap().to_string();
    let m = wait_for(60, "the offer among the candidate's matches", || async {
        match_for(a, &a_counsellor, &cand_id, &offer_id).await
    })
    .await;
    assert_eq!(m["eligible"], false, "{m}");
    let failed: Vec<&str> = m["failed_constraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["missing_certification"], "{m}");
    assert_eq!(m["skills_gap"]["missing"], json!(["CACES_R489_3"]), "{m}");
    let proposed = m["skills_gap"]["trainings"].as_array().unwrap();
    assert_eq!(proposed.len(), 1, "{m}");
    assert_eq!(proposed[0]["opportunity_id"], training_id.as_str());
    assert_eq!(proposed[0]["origin_node"], "petr-montlucon");
    assert_eq!(proposed[0]["closes"], json!(["CACES_R489_3"]));

    // An employer cannot refer anyone.
    let (s, _) = a
        .post(
            &employer,
            "/api/v1/referrals",
            &json!({"opportunity_id": training_id, "for_offer_id": offer_id,
                    "candidate_id": cand_id, "endorsement": "x"}),
        )
        .await;
    assert_eq!(s, 403);
    // The counsellor refers the candidate to the training for the offer.
    let (s, r) = a
        .post(
            &a_counsellor,
            "/api/v1/referrals",
            &json!({"opportunity_id": training_id, "for_offer_id": offer_id,
                    "candidate_id": cand_id,
                    "endorsement": "Motivée, il ne lui manque que le CACES 3."}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["target"], "training");
    assert_eq!(r["for_offer_id"], offer_id.as_str());
    let training_ref = r["id"].as_str().unwrap().to_string();

    // B's side: received, then admitted, then certified. A training
    // outcome is refused on a hiring step and vice versa.
    let at_b = wait_for(60, "the referral at B", || async {
        let (s, v) = b
            .get(&b_counsellor, &format!("/api/v1/referrals/{training_ref}"))
            .await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(at_b["target"], "training");
    assert_eq!(at_b["direction"], "inbound");
    let (s, v) = b
        .post(
            &b_counsellor,
            &format!("/api/v1/referrals/{training_ref}/status"),
            &json!({"status": "accepted", "contract_type": "CDI", "start_date": day(1)}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    for status in ["admitted", "certified"] {
        let (s, v) = b
            .post(
                &b_counsellor,
                &format!("/api/v1/referrals/{training_ref}/status"),
                &json!({"status": status}),
            )
            .await;
        assert_eq!(s, 200, "{status}: {v}");
    }

    // A learns it; the certification is on the candidate's record.
    wait_for(60, "certified at A", || async {
        let (s, v) = a
            .get(&a_counsellor, &format!("/api/v1/referrals/{training_ref}"))
            .await;
        (s == 200 && v["status"] == "certified").then_some(())
    })
    .await;
    let (s, rec) = a
        .get(&a_counsellor, &format!("/api/v1/candidates/{cand_id}"))
        .await;
    assert_eq!(s, 200, "{rec}");
    assert_eq!(rec["certifications"], json!(["CACES_R489_3"]), "{rec}");
    // The candidate now matches the offer.
    let m = wait_for(60, "an eligible match", || async {
        let m = match_for(a, &a_counsellor, &cand_id, &offer_id).await?;
        (m["eligible"] == true).then_some(m)
    })
    .await;
    assert!(m.get("skills_gap").is_none(), "{m}");

    // Referred to the offer and hired.
    let (s, r) = a
        .post(
            &a_counsellor,
            "/api/v1/referrals",
            &json!({"offer_id": offer_id, "candidate_id": cand_id,
                    "endorsement": "CACES 3 obtenu, prête à commencer."}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let hire_ref = r["id"].as_str().unwrap().to_string();
    let (s, v) = a
        .post(
            &employer,
            &format!("/api/v1/referrals/{hire_ref}/status"),
            &json!({"status": "accepted", "contract_type": "CDI", "start_date": day(0)}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // A's report counts the training and the hire, and links them.
    let (s, rep) = a
        .get(
            &a_admin,
            &format!("/api/v1/reports?from={}&to={}", day(-1), day(1)),
        )
        .await;
    assert_eq!(s, 200, "{rep}");
    let t = &rep["trainings"];
    assert_eq!(t["by_target"]["training"]["referred"], 1, "{t}");
    assert_eq!(t["by_target"]["training"]["admitted"], 1, "{t}");
    assert_eq!(t["by_target"]["training"]["certified"], 1, "{t}");
    assert_eq!(t["placements_after_training"], 1, "{t}");
    let link = &t["links"][0];
    assert_eq!(link["training_referral_id"], training_ref.as_str());
    assert_eq!(link["opportunity_id"], training_id.as_str());
    assert_eq!(link["training_status"], "certified");
    assert_eq!(link["hire_referral_id"], hire_ref.as_str());
    assert_eq!(link["offer_id"], offer_id.as_str());
    assert_eq!(link["training_title"], "CACES R489 catégorie 3");
    assert_eq!(rep["total"]["placed"], 1, "{rep}");
    // The hire's referral links back to the training.
    let (s, v) = a
        .get(&a_counsellor, &format!("/api/v1/referrals/{hire_ref}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["after_trainings"][0]["referral_id"],
        training_ref.as_str(),
        "{v}"
    );
}
