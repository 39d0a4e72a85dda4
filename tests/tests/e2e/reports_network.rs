//! Network-wide figures over three real node processes (issue 16): hires
//! through network referrals are counted once in the network's report, and
//! a cell under the small-count threshold (with the cell that would reveal
//! it) is withheld — in the signed message itself, so at every node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use serde_json::{json, Value};
use support::*;

fn candidate(first: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": "Réseau",
        "commune_insee": "41018",
        "rome_codes": ["N1101"],
        "cv_text": "Cariste, CACES 1 3 5, entrepôt logistique.",
        "consent_scope": "network",
        "sensitive": {"rsa_beneficiary": true}
    })
}

/// (value, suppressed) of a member's cell.
fn member_cell(report: &Value, member: &str, dim: &str, key: &str, fig: &str) -> (Value, bool) {
    let m = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["origin_node"] == member)
        .unwrap_or_else(|| panic!("{member} missing: {report}"));
    let c = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == dim && c["key"] == key && c["figure"] == fig)
        .unwrap_or_else(|| panic!("{member} {dim}/{key}/{fig} missing"));
    (c["value"].clone(), c["suppressed"] == true)
}

/// (value, suppressed_members) of a total cell.
fn total_cell(report: &Value, dim: &str, key: &str, fig: &str) -> (i64, i64) {
    let c = report["total"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == dim && c["key"] == key && c["figure"] == fig)
        .unwrap_or_else(|| panic!("total {dim}/{key}/{fig} missing: {report}"));
    (
        c["value"].as_i64().unwrap(),
        c["suppressed_members"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_report_counts_each_hire_once_and_suppresses_small_cells() {
    let net = Network::start_with(
        &["cd41", "petr-montlucon", "mission-tours"],
        "\n[reports]\nsmall_count_threshold = 2\n",
    )
    .await;
    let (a, b, c) = (
        net.node("cd41"),
        net.node("petr-montlucon"),
        net.node("mission-tours"),
    );
    let employer = a.user(
        "employer",
        "rh@logistique-blois.fr",
        Some("Logistique Blois"),
    );
    let admins = [
        a.user("admin", "admin@cd41.fr", None),
        b.user("admin", "admin@petr.fr", None),
        c.user("admin", "admin@tours.fr", None),
    ];
    let b_counsellor = b.user("counsellor", "conseil@petr.fr", None);
    let c_counsellor = c.user("counsellor", "conseil@tours.fr", None);
    let today = chrono::Utc::now().date_naive();
    let start = today.format("%Y-%m-%d").to_string();
    let month = today.format("%Y-%m").to_string();

    let (s, offer) = a
        .post(
            &employer,
            "/api/v1/offers",
            &json!({
                "title": "Cariste H/F",
                "description": "Conduite de chariots élévateurs en entrepôt, CACES 3.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "weekly_hours": 35,
                "workplaces": [{"commune_insee": "41018", "positions": 5}]
            }),
        )
        .await;
    assert_eq!(s, 201, "{offer}");
    let offer_id = offer["offer_id"].as_str().unwrap().to_string();
    for (node, token) in [(b, &b_counsellor), (c, &c_counsellor)] {
        wait_for(60, "offer at the other members", || async {
            let (s, _) = node.get(token, &format!("/api/v1/offers/{offer_id}")).await;
            (s == 200).then_some(())
        })
        .await;
    }

    // One of B's candidates and two of C's are referred and hired at A.
    let mut referrals = Vec::new();
    for (node, token, name) in [
        (b, &b_counsellor, "Inès"),
        (c, &c_counsellor, "Karim"),
        (c, &c_counsellor, "Lucie"),
    ] {
        let (s, cand) = node
            .post(token, "/api/v1/candidates", &candidate(name))
            .await;
        assert_eq!(s, 201, "{cand}");
        let (s, r) = node
            .post(
                token,
                "/api/v1/referrals",
                &json!({"offer_id": offer_id, "candidate_id": cand["id"],
                        "endorsement": "Suivie depuis un an : fiable et ponctuelle."}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        referrals.push((node, token, r["id"].as_str().unwrap().to_string()));
    }
    for (_, _, id) in &referrals {
        wait_for(60, "referral at A", || async {
            let (s, _) = a.get(&employer, &format!("/api/v1/referrals/{id}")).await;
            (s == 200).then_some(())
        })
        .await;
        let (s, v) = a
            .post(
                &employer,
                &format!("/api/v1/referrals/{id}/status"),
                &json!({"status": "accepted", "contract_type": "CDI", "start_date": start}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    for (node, token, id) in &referrals {
        wait_for(60, "hire known at the candidate's node", || async {
            let (s, v) = node.get(token, &format!("/api/v1/referrals/{id}")).await;
            (s == 200 && v["status"] == "accepted").then_some(())
        })
        .await;
    }
    // B also records three returns to work found with its support.
    for name in ["Paul", "Rose", "Sami"] {
        let mut body = candidate(name);
        body["sensitive"] = json!({"rsa_beneficiary": false});
        let (s, cand) = b.post(&b_counsellor, "/api/v1/candidates", &body).await;
        assert_eq!(s, 201, "{cand}");
        let (s, v) = b
            .post(
                &b_counsellor,
                &format!(
                    "/api/v1/candidates/{}/placement",
                    cand["id"].as_str().unwrap()
                ),
                &json!({"outcome": "training", "contract": {"start": start}}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }

    // Each member publishes its month; a counsellor may not.
    let (s, _) = b
        .post(
            &b_counsellor,
            "/api/v1/reports/network/publish",
            &json!({"month": month}),
        )
        .await;
    assert_eq!(s, 403);
    for (node, admin) in [a, b, c].into_iter().zip(&admins) {
        let (s, v) = node
            .post(
                admin,
                "/api/v1/reports/network/publish",
                &json!({"month": month}),
            )
            .await;
        assert_eq!(s, 200, "{}: {v}", node.node_id);
        assert_eq!(v["threshold"], 2);
    }

    // Every node shows the same network report.
    for (node, admin) in [a, b, c].into_iter().zip(&admins) {
        let report = wait_for(60, "three members' figures", || async {
            let (s, v) = node
                .get(admin, &format!("/api/v1/reports/network?month={month}"))
                .await;
            (s == 200 && v["members"].as_array().map(Vec::len) == Some(3)).then_some(v)
        })
        .await;
        let at = &node.node_id;
        // Counted once: 3 hires through referrals + 3 local returns = 6
        // people (adding every placement row of the three nodes gives 9).
        assert_eq!(
            total_cell(&report, "total", "all", "placed"),
            (6, 0),
            "{at}"
        );
        assert_eq!(
            member_cell(&report, "cd41", "total", "all", "placed").0,
            json!(0)
        );
        assert_eq!(
            member_cell(&report, "petr-montlucon", "total", "all", "placed").0,
            json!(4)
        );
        assert_eq!(
            member_cell(&report, "mission-tours", "total", "all", "placed").0,
            json!(2)
        );
        // The offer's node counts its hires of others' candidates apart.
        assert_eq!(
            total_cell(&report, "total", "all", "hires_through_network"),
            (3, 0),
            "{at}"
        );
        assert_eq!(
            total_cell(&report, "total", "all", "positions_filled"),
            (3, 0)
        );
        // B's single CDI is under the threshold: withheld, and its
        // trainings too (else 4 − 3 = 1 would give it away); same for the
        // one hire through the platform.
        for fig in ["cdi", "training", "platform", "counsellor_support", "rsa"] {
            let (v, suppressed) = member_cell(&report, "petr-montlucon", "total", "all", fig);
            assert!(suppressed && v.is_null(), "{at}: {fig} {v}");
        }
        assert_eq!(
            member_cell(&report, "mission-tours", "total", "all", "cdi"),
            (json!(2), false)
        );
        // The network's CDI figure is a lower bound, flagged as such.
        assert_eq!(total_cell(&report, "total", "all", "cdi"), (2, 1), "{at}");
        assert_eq!(total_cell(&report, "departement", "41", "placed"), (6, 0));
    }

    // The signed messages carried no small value: no member's cell at any
    // node holds a count from 1 to threshold − 1.
    for (node, admin) in [a, b, c].into_iter().zip(&admins) {
        let (s, v) = node
            .get(admin, &format!("/api/v1/reports/network?month={month}"))
            .await;
        assert_eq!(s, 200, "{v}");
        for m in v["members"].as_array().unwrap() {
            for cell in m["cells"].as_array().unwrap() {
                assert_ne!(cell["value"], json!(1), "{}: {cell}", node.node_id);
            }
        }
    }
}
