//! Crash safety over real processes (issue 11): node B receives a burst of
//! federated offers from A while counsellors write candidates through its
//! API, and is SIGKILLed at a random moment — again and again. After each
//! restart, with no reindex, search and matching see exactly the database's
//! rows (ids compared), no acknowledged write is missing and nothing was
//! applied twice.
//!
//! `VIVIER_CRASH_CYCLES` (default 20) sets the number of kills; the long
//! run is documented in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::*;

async fn send(client: &reqwest::Client, url: String, token: &str, body: &Value) -> Option<Value> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 201 {
        return None;
    }
    r.json().await.ok()
}

async fn consistent(node: &NodeProcess, admin: &str) -> Option<Value> {
    let (s, v) = node.get(admin, "/api/v1/admin/index?check=true").await;
    (s == 200 && v["caught_up"] == true && v["consistent"] == true).then_some(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_the_index_always_matches_the_database() {
    let cycles: usize = std::env::var("VIVIER_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let offers_per_cycle = 1000usize.div_ceil(cycles.min(1000)).max(1);
    let writes_per_cycle = 500usize.div_ceil(cycles.min(500)).max(1);
    let seed: u64 = std::env::var("VIVIER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test: {cycles} cycles, seed {seed} (VIVIER_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut net = Network::start(&["cd41", "cd03"]).await;
    let a = net.node("cd41");
    let a_counsellor = a.user("counsellor", "conseil@cd41.fr", None);
    let b = net.node("cd03");
    let b_admin = b.user("admin", "admin@cd03.fr", None);
    let b_counsellor = b.user("counsellor", "conseil@cd03.fr", None);

    let mut sent_offers: BTreeSet<String> = BTreeSet::new();
    let mut acked_candidates: BTreeSet<String> = BTreeSet::new();
    for cycle in 0..cycles {
        let (a_client, a_url) = (
            net.node("cd41").client.clone(),
            net.node("cd41").base_url.clone(),
        );
        let (b_client, b_url) = (
            net.node("cd03").client.clone(),
            net.node("cd03").base_url.clone(),
        );
        // A posts offers (broadcast to B) while B's counsellor writes records.
        let offers_task = {
            let token = a_counsellor.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..offers_per_cycle {
                    let body = json!({
                        "title": format!("Cariste {cycle}-{i}"),
                        "description": "Chariots élévateurs, CACES 3.",
                        "rome_code": "N1101", "contract_type": "CDI",
                        "employer": {"name": "Logistique Centre"},
                        "workplaces": [{"commune_insee": "41018"}]
                    });
                    let v = send(&a_client, format!("{a_url}/api/v1/offers"), &token, &body)
                        .await
                        .expect("A is not killed");
                    ids.push(v["offer_id"].as_str().unwrap().to_string());
                }
                ids
            })
        };
        let writes_task = {
            let token = b_counsellor.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..writes_per_cycle {
                    let body = json!({
                        "first_name": "Léa", "last_name": format!("Martin {cycle}-{i}"),
                        "commune_insee": "03185", "rome_codes": ["N1101"],
                        "cv_text": "Cariste, CACES 3.", "consent_scope": "local",
                        "external_id": format!("crash-{cycle}-{i}"),
                    });
                    match send(
                        &b_client,
                        format!("{b_url}/api/v1/candidates"),
                        &token,
                        &body,
                    )
                    .await
                    {
                        Some(v) => acked.push(v["id"].as_str().unwrap().to_string()),
                        // B was killed: the rest of this cycle's writes fail.
                        None => break,
                    }
                }
                acked
            })
        };
        // Kill B at a random moment of the burst.
        let delay = Duration::from_millis(rng.gen_range(0..1200));
        tokio::time::sleep(delay).await;
        net.node_mut("cd03").kill();
        sent_offers.extend(offers_task.await.unwrap());
        acked_candidates.extend(writes_task.await.unwrap());
        net.node_mut("cd03").restart();
        let b = net.node("cd03");
        // A redelivers what B had not acknowledged; B's indexes catch up
        // from the journal on their own (no reindex).
        let want = sent_offers.len();
        wait_for(120, "every offer delivered to B", || async {
            let (s, v) = b
                .get(&b_admin, "/api/v1/offers?origin=cd41&status=all&per_page=1")
                .await;
            (s == 200 && v["total"].as_u64() == Some(want as u64)).then_some(())
        })
        .await;
        let report = wait_for(60, "B's indexes consistent with its database", || async {
            consistent(b, &b_admin).await
        })
        .await;
        // Every acknowledged write is in the database and in the index.
        let (_, list) = b
            .get(&b_counsellor, "/api/v1/candidates?per_page=200&page=1")
            .await;
        let total_db = report["candidates"]["database"].as_u64().unwrap();
        assert!(total_db as usize >= acked_candidates.len(), "{report}");
        for id in &acked_candidates {
            let (s, v) = b
                .get(&b_counsellor, &format!("/api/v1/candidates/{id}"))
                .await;
            assert_eq!(
                s, 200,
                "cycle {cycle}: acknowledged candidate {id} lost: {v}"
            );
        }
        // Nothing twice: one inbox row per offer, one offer row per id.
        let (_, st) = b.get(&b_admin, "/api/v1/federation/status").await;
        assert_eq!(
            st["inbox"].as_u64(),
            Some(want as u64),
            "cycle {cycle}: {st}"
        );
        assert_eq!(
            report["offers"]["database"].as_u64(),
            Some(want as u64),
            "cycle {cycle}: {report}"
        );
        assert!(list["items"].is_array());
        eprintln!(
            "cycle {cycle}: killed after {delay:?}; {} offers, {} acknowledged candidates, index consistent",
            want,
            acked_candidates.len()
        );
    }
}
