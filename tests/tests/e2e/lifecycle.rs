//! Federation lifecycle over real node processes (HTTPS, test CA): a member
//! leaves the network (`vivier-admin member revoke` + `publish`) and every
//! node applies it — its offers closed elsewhere, the profiles it referred
//! purged, pending referrals to its offers `undeliverable` for their
//! counsellors, its own federated actions refused with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use serde_json::{json, Value};
use support::*;

fn offer_body(title: &str, insee: &str) -> Value {
    json!({
        "title": title,
        "description": "Préparation de commandes et conduite de chariots en entrepôt, CACES 3.",
        "rome_code": "N1101",
        "contract_type": "CDI",
        "weekly_hours": 35,
        "workplaces": [{"commune_insee": insee, "positions": 1}]
    })
}

fn candidate_body(first: &str, insee: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": "Garnier",
        "email": format!("{}.garnier@exemple.fr", first.to_lowercase()),
        "phone": "06 12 34 56 78",
        "commune_insee": insee,
        "max_travel_km": 50,
        "contract_types": ["CDI"],
        "rome_codes": ["N1101"],
        "job_titles": ["Cariste"],
        "cv_text": format!("{first} Garnier, cariste, CACES 3, préparation de commandes."),
        "consent_scope": "network"
    })
}

async fn post_ok(node: &NodeProcess, token: &str, path: &str, body: &Value) -> Value {
    let (s, v) = node.post(token, path, body).await;
    assert_eq!(s, 201, "{path} at {}: {v}", node.node_id);
    v
}

/// The user has an unread notification about `subject` (of `kind`, when
/// given).
async fn assert_told(node: &NodeProcess, token: &str, subject: &str, kind: Option<&str>) {
    let (_, n) = node.get(token, "/api/v1/notifications?unread=true").await;
    assert!(
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["subject_id"] == subject && kind.is_none_or(|k| i["kind"] == k)),
        "{n}"
    );
}

async fn offer_status(node: &NodeProcess, token: &str, id: &str) -> Value {
    let (s, v) = node.get(token, &format!("/api/v1/offers/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_member_leaves_nothing_stranded() {
    let net = Network::start(&["cd41", "mission-tours", "petr-laon"]).await;
    let (a, b, c) = (
        net.node("cd41"),
        net.node("mission-tours"),
        net.node("petr-laon"),
    );
    let a_employer = a.user("employer", "rh@entrepot-blois.fr", Some("Entrepôt Blois"));
    let a_counsellor = a.user("counsellor", "conseil@cd41.fr", None);
    let b_counsellor = b.user("counsellor", "conseil@tours.fr", None);
    let c_employer = c.user("employer", "rh@logistique-laon.fr", Some("Logistique Laon"));
    let c_counsellor = c.user("counsellor", "conseil@petr-laon.fr", None);

    // An offer at A and one at C, each received by the others.
    let oa = post_ok(
        a,
        &a_employer,
        "/api/v1/offers",
        &offer_body("Cariste Blois", "41018"),
    )
    .await;
    let oa = oa["offer_id"].as_str().unwrap().to_string();
    let oc = post_ok(
        c,
        &c_employer,
        "/api/v1/offers",
        &offer_body("Cariste Laon", "02408"),
    )
    .await;
    let oc = oc["offer_id"].as_str().unwrap().to_string();
    for (node, token, id) in [
        (a, &a_counsellor, &oc),
        (b, &b_counsellor, &oc),
        (c, &c_counsellor, &oa),
    ] {
        wait_for(60, "offer received", || async {
            let (s, v) = node.get(token, &format!("/api/v1/offers/{id}")).await;
            (s == 200 && v["status"] == "open").then_some(())
        })
        .await;
    }

    // C refers Léa to A's offer: A holds her minimal profile.
    let lea = post_ok(
        c,
        &c_counsellor,
        "/api/v1/candidates",
        &candidate_body("Léa", "02408"),
    )
    .await;
    let from_c = post_ok(
        c,
        &c_counsellor,
        "/api/v1/referrals",
        &json!({"offer_id": oa, "candidate_id": lea["id"], "endorsement": "Suivie depuis un an, très fiable."}),
    )
    .await;
    let from_c = from_c["id"].as_str().unwrap().to_string();
    let seen = wait_for(60, "C's referral at A", || async {
        let (s, v) = a
            .get(&a_employer, &format!("/api/v1/referrals/{from_c}"))
            .await;
        (s == 200).then_some(v)
    })
    .await;
    assert!(seen.to_string().contains("Léa"), "{seen}");

    // A refers Paul to C's offer; C receives it (still pending).
    let paul = post_ok(
        a,
        &a_counsellor,
        "/api/v1/candidates",
        &candidate_body("Paul", "41018"),
    )
    .await;
    let to_c = post_ok(
        a,
        &a_counsellor,
        "/api/v1/referrals",
        &json!({"offer_id": oc, "candidate_id": paul["id"], "endorsement": "Cariste expérimenté, mobile."}),
    )
    .await;
    let to_c = to_c["id"].as_str().unwrap().to_string();
    wait_for(60, "A's referral at C", || async {
        let (s, _) = c
            .get(&c_employer, &format!("/api/v1/referrals/{to_c}"))
            .await;
        (s == 200).then_some(())
    })
    .await;

    // The operator revokes C and publishes: every node (C included) holds
    // the new document when `publish` returns.
    net.admin(&[
        "member",
        "revoke",
        "petr-laon",
        "--reason",
        "a quitté le réseau",
    ]);
    net.publish().await;

    // At A and B: C's offer is closed (withdrawn: member left) and gone
    // from search.
    for (node, token) in [(a, &a_counsellor), (b, &b_counsellor)] {
        let v = offer_status(node, token, &oc).await;
        assert_eq!(v["status"], "closed", "at {}: {v}", node.node_id);
        assert_eq!(v["closed_reason"], "member_left", "{v}");
        wait_for(30, "closed offer out of search", || async {
            let (s, v) = node
                .get(token, "/api/v1/offers/search?q=cariste%20laon")
                .await;
            (s == 200 && !v.to_string().contains(&oc)).then_some(())
        })
        .await;
    }
    // At A: the profile C referred is purged; the referral is obsolete.
    let (s, v) = a
        .get(&a_employer, &format!("/api/v1/referrals/{from_c}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "obsolete", "{v}");
    let text = v.to_string();
    assert!(
        !text.contains("Léa") && !text.contains("garnier") && !text.contains("06 12"),
        "profile still held at A: {text}"
    );
    assert!(
        v.get("candidate_name").is_none() && v.get("counsellor_email").is_none(),
        "contacts still held at A: {text}"
    );
    // At A: Paul's referral to C's offer is undeliverable, his counsellor told.
    let (_, v) = a
        .get(&a_counsellor, &format!("/api/v1/referrals/{to_c}"))
        .await;
    assert_eq!(v["status"], "undeliverable", "{v}");
    assert_eq!(v["delivery_error"]["code"], "member_left", "{v}");
    assert_told(a, &a_counsellor, &to_c, Some("referral_undeliverable")).await;
    let (_, paul_now) = a
        .get(
            &a_counsellor,
            &format!("/api/v1/candidates/{}", paul["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(paul_now["status"], "active", "{paul_now}");

    // At C: the referral it had delivered to A can no longer be followed:
    // obsolete, Léa back to active, her counsellor told.
    wait_for(30, "C's delivered referral closed", || async {
        let (_, v) = c
            .get(&c_counsellor, &format!("/api/v1/referrals/{from_c}"))
            .await;
        (v["status"] == "obsolete").then_some(())
    })
    .await;
    let (_, lea_now) = c
        .get(
            &c_counsellor,
            &format!("/api/v1/candidates/{}", lea["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(lea_now["status"], "active", "{lea_now}");
    assert_told(c, &c_counsellor, &from_c, None).await;

    // At C: new federated actions are refused with a clear code; local
    // work goes on.
    let (s, v) = c
        .post(
            &c_employer,
            "/api/v1/offers",
            &offer_body("Cariste Soissons", "02722"),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["type"], "urn:vivier:problem:node_not_member", "{v}");
    let noe = post_ok(
        c,
        &c_counsellor,
        "/api/v1/candidates",
        &candidate_body("Noé", "02408"),
    )
    .await;
    let (s, v) = c
        .post(
            &c_counsellor,
            "/api/v1/referrals",
            &json!({"offer_id": oa, "candidate_id": noe["id"], "endorsement": "Très motivé."}),
        )
        .await;
    // A's offer is still open at C (A is active), but C may not send.
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["type"], "urn:vivier:problem:node_not_member", "{v}");
    // Nor search the network: refused at once, nobody asked.
    let (s, v) = c
        .post(
            &c_counsellor,
            "/api/v1/network-searches",
            &json!({"rome_codes": ["N1101"], "places": [{"commune_insee": "02408", "radius_km": 30}]}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["type"], "urn:vivier:problem:node_not_member", "{v}");
    // C closes its own offer (local work goes on): the message this queues
    // can never be delivered and is parked at once, not retried.
    let (s, v) = c.delete(&c_employer, &format!("/api/v1/offers/{oc}")).await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let c_admin = c.user("admin", "operateur@petr-laon.fr", None);
    wait_for(30, "C's new message parked", || async {
        let (_, st) = c.get(&c_admin, "/api/v1/federation/status").await;
        let queued: i64 = st["peers"]
            .as_array()?
            .iter()
            .filter_map(|p| p["outbox_depth"].as_i64())
            .sum();
        let (_, dl) = c.get(&c_admin, "/api/v1/federation/dead-letters").await;
        let parked = dl.to_string().contains("this_node_not_member");
        (queued == 0 && parked).then_some(())
    })
    .await;
    // Nothing is left queued anywhere for C, nor at C.
    for (node, admin_email) in [
        (a, "admin@cd41.fr"),
        (b, "admin@tours.fr"),
        (c, "admin@petr-laon.fr"),
    ] {
        let admin = node.user("admin", admin_email, None);
        let (s, st) = node.get(&admin, "/api/v1/federation/status").await;
        assert_eq!(s, 200, "{st}");
        for p in st["peers"].as_array().unwrap() {
            if node.node_id == "petr-laon" || p["node_id"] == "petr-laon" {
                assert_eq!(p["outbox_depth"], 0, "at {}: {st}", node.node_id);
            }
        }
    }
}

async fn refer(node: &NodeProcess, token: &str, offer: &str, first: &str, insee: &str) -> String {
    let c = post_ok(
        node,
        token,
        "/api/v1/candidates",
        &candidate_body(first, insee),
    )
    .await;
    let r = post_ok(
        node,
        token,
        "/api/v1/referrals",
        &json!({"offer_id": offer, "candidate_id": c["id"], "endorsement": "Sérieux, disponible tout de suite."}),
    )
    .await;
    r["id"].as_str().unwrap().to_string()
}

/// The employer hires referral `id` (CDI).
async fn hire(node: &NodeProcess, employer: &str, id: &str) {
    let (s, v) = node
        .post(
            employer,
            &format!("/api/v1/referrals/{id}/status"),
            &json!({"status": "accepted", "contract_type": "CDI", "start_date": "2027-01-04"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn returns_to_work(node: &NodeProcess, admin: &str) -> (i64, i64) {
    let (s, v) = node.get(admin, "/api/v1/stats").await;
    assert_eq!(s, 200, "{v}");
    (
        v["returns_to_work"]["total"].as_i64().unwrap(),
        v["returns_to_work"]["hires_through_network"]
            .as_i64()
            .unwrap(),
    )
}

/// A two-position offer at A, candidates referred by B (two) and C: A's
/// employer hires B's first candidate → one position filled, B and C see
/// the count and the offer still open; the second hire fills the last
/// position → the offer closes everywhere and C's pending referral is
/// refused (`position_filled`); each hire counts once in the network (a
/// return to work at B, a hire through the network at A, nothing at C),
/// and recording one again by hand at B is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hire_fills_the_position_closes_the_offer_and_counts_once() {
    let net = Network::start(&["cd41", "mission-tours", "petr-laon"]).await;
    let (a, b, c) = (
        net.node("cd41"),
        net.node("mission-tours"),
        net.node("petr-laon"),
    );
    let employer = a.user("employer", "rh@entrepot-blois.fr", Some("Entrepôt Blois"));
    let a_admin = a.user("admin", "admin@cd41.fr", None);
    let b_counsellor = b.user("counsellor", "conseil@tours.fr", None);
    let b_admin = b.user("admin", "admin@tours.fr", None);
    let c_counsellor = c.user("counsellor", "conseil@petr-laon.fr", None);
    let c_admin = c.user("admin", "admin@petr-laon.fr", None);
    let mut two = offer_body("Cariste Blois", "41018");
    two["workplaces"][0]["positions"] = json!(2);
    let o = post_ok(a, &employer, "/api/v1/offers", &two).await;
    let oid = o["offer_id"].as_str().unwrap().to_string();
    for (node, token) in [(b, &b_counsellor), (c, &c_counsellor)] {
        wait_for(60, "offer received", || async {
            let (s, v) = node.get(token, &format!("/api/v1/offers/{oid}")).await;
            (s == 200 && v["status"] == "open").then_some(())
        })
        .await;
    }
    let rb = refer(b, &b_counsellor, &oid, "Yanis", "37261").await;
    let rb2 = refer(b, &b_counsellor, &oid, "Inès", "37261").await;
    let rc = refer(c, &c_counsellor, &oid, "Chloé", "02408").await;
    for r in [&rb, &rb2, &rc] {
        wait_for(60, "referral at A", || async {
            let (s, _) = a.get(&employer, &format!("/api/v1/referrals/{r}")).await;
            (s == 200).then_some(())
        })
        .await;
    }
    hire(a, &employer, &rb).await;

    // One position of two: A, B and C show it filled, the offer open.
    let v = offer_status(a, &employer, &oid).await;
    assert_eq!(v["positions_filled"], 1, "{v}");
    assert_eq!(v["status"], "open", "{v}");
    for (node, token) in [(b, &b_counsellor), (c, &c_counsellor)] {
        wait_for(60, "positions filled received", || async {
            let (_, v) = node.get(token, &format!("/api/v1/offers/{oid}")).await;
            (v["positions_filled"] == 1 && v["status"] == "open").then_some(())
        })
        .await;
    }
    hire(a, &employer, &rb2).await;

    // A: both positions filled, offer closed, C's referral refused.
    let v = offer_status(a, &employer, &oid).await;
    assert_eq!(v["positions_filled"], 2, "{v}");
    assert_eq!(v["status"], "closed", "{v}");
    let (_, v) = a.get(&employer, &format!("/api/v1/referrals/{rc}")).await;
    assert_eq!(v["status"], "refused", "{v}");
    assert_eq!(v["reason"], "position_filled", "{v}");
    // B and C learn both.
    for (node, token) in [(b, &b_counsellor), (c, &c_counsellor)] {
        wait_for(60, "offer closed", || async {
            let (_, v) = node.get(token, &format!("/api/v1/offers/{oid}")).await;
            (v["status"] == "closed").then_some(())
        })
        .await;
    }
    wait_for(60, "hire at B", || async {
        let (_, v) = b
            .get(&b_counsellor, &format!("/api/v1/referrals/{rb}"))
            .await;
        (v["status"] == "accepted").then_some(())
    })
    .await;
    wait_for(60, "refusal at C", || async {
        let (_, v) = c
            .get(&c_counsellor, &format!("/api/v1/referrals/{rc}"))
            .await;
        (v["status"] == "refused").then_some(())
    })
    .await;

    // Counted once: a return to work at B (home), a hire through the network
    // at A, nothing at C.
    wait_for(60, "second hire at B", || async {
        let (_, v) = b
            .get(&b_counsellor, &format!("/api/v1/referrals/{rb2}"))
            .await;
        (v["status"] == "accepted").then_some(())
    })
    .await;
    assert_eq!(returns_to_work(a, &a_admin).await, (0, 2));
    assert_eq!(returns_to_work(b, &b_admin).await, (2, 0));
    assert_eq!(returns_to_work(c, &c_admin).await, (0, 0));
    // Recording the same return to work by hand at B is refused, with or
    // without naming the referral.
    let (_, r) = b
        .get(&b_counsellor, &format!("/api/v1/referrals/{rb}"))
        .await;
    let cand = r["candidate_id"].as_str().unwrap().to_string();
    for body in [
        json!({"outcome": "cdi"}),
        json!({"outcome": "cdi", "referral_id": rb}),
    ] {
        let (s, v) = b
            .post(
                &b_counsellor,
                &format!("/api/v1/candidates/{cand}/placement"),
                &body,
            )
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(
            v["type"], "urn:vivier:problem:placement_already_recorded",
            "{v}"
        );
    }
    assert_eq!(returns_to_work(b, &b_admin).await, (2, 0));
}

/// The stored `offer.published` message of offer `id` in a node's inbox.
fn inbox_body(db: &std::path::Path, id: &str) -> String {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", db.display());
    let id = id.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT body FROM inbox WHERE kind = 'offer.published' AND body LIKE $1",
            )
            .bind(format!("%{id}%"))
            .fetch_one(&mut conn)
            .await
            .unwrap()
        })
    })
    .join()
    .unwrap()
}

async fn received(net: &Network, tokens: &[(&str, &str)], id: &str) {
    for (node, token) in tokens {
        let n = net.node(node);
        wait_for(60, "offer received", || async {
            let (s, v) = n.get(token, &format!("/api/v1/offers/{id}")).await;
            (s == 200 && v["status"] == "open").then_some(())
        })
        .await;
    }
}

fn cli_ok(node: &NodeProcess, args: &[&str]) -> String {
    let out = node.cli(args, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "vivier-node {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Node key rotation in the documented order, federation working before,
/// during and after: `key generate-next` at A → the operator's `member
/// rotate-key` + `publish` → `key rotate --at T` at A (picked up by the
/// running node). A message A signed with the old key and delivered after
/// the switch is still accepted (overlap), one signed with the new key too,
/// and A's well-known publishes both keys with their validity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_key_rotates_with_an_overlap_and_federation_keeps_working() {
    let mut net = Network::start(&["cd41", "mission-tours", "petr-laon"]).await;
    let employer =
        net.node("cd41")
            .user("employer", "rh@entrepot-blois.fr", Some("Entrepôt Blois"));
    let b_counsellor = net
        .node("mission-tours")
        .user("counsellor", "conseil@tours.fr", None);
    let c_counsellor = net
        .node("petr-laon")
        .user("counsellor", "conseil@petr-laon.fr", None);
    let peers = [
        ("mission-tours", b_counsellor.as_str()),
        ("petr-laon", c_counsellor.as_str()),
    ];
    // Before.
    let a = net.node("cd41");
    let o1 = post_ok(
        a,
        &employer,
        "/api/v1/offers",
        &offer_body("Cariste 1", "41018"),
    )
    .await;
    received(&net, &peers, o1["offer_id"].as_str().unwrap()).await;

    // 1. The node makes its next key; nothing changes yet.
    let out = cli_ok(a, &["key", "generate-next"]);
    assert!(out.contains("ed25519:2"), "{out}");
    let public_key = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(a.well_known().await["keys"].as_array().unwrap().len(), 1);
    // Out of order: the node refuses to switch to a key the network does
    // not know yet (the others would refuse what it signs), saying what the
    // operator must do; nothing changes.
    let early = a.cli(&["key", "rotate", "--at", "now"], &[]);
    assert!(!early.status.success());
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(
        said.contains("does not list ed25519:2") && said.contains("member rotate-key cd41"),
        "{said}"
    );
    assert!(cli_ok(a, &["key", "show"]).contains("ed25519:1 "));
    assert!(!cli_ok(a, &["key", "show"]).contains("ed25519:2"));

    // 2. The operator adds it to the document from T and publishes.
    let t = chrono::Utc::now().timestamp_millis();
    net.admin(&[
        "member",
        "rotate-key",
        "cd41",
        "--key-id",
        "ed25519:2",
        "--public-key",
        &public_key,
        "--valid-from-ms",
        &t.to_string(),
        "--overlap-days",
        "7",
    ]);
    net.publish().await;

    // A message signed with the old key waits in A's outbox for B (stopped).
    net.node_mut("mission-tours").stop();
    let a = net.node("cd41");
    let o2 = post_ok(
        a,
        &employer,
        "/api/v1/offers",
        &offer_body("Cariste 2", "41018"),
    )
    .await;

    // 3. The node switches at T, without a restart.
    let out = cli_ok(
        a,
        &[
            "key",
            "rotate",
            "--at",
            &t.to_string(),
            "--overlap-days",
            "7",
        ],
    );
    assert!(out.contains("ed25519:2"), "{out}");
    let wk = wait_for(30, "both keys published", || async {
        let wk = a.well_known().await;
        (wk["keys"].as_array().map(Vec::len) == Some(2)).then_some(wk)
    })
    .await;
    let keys = wk["keys"].as_array().unwrap();
    assert_eq!(keys[0]["key_id"], "ed25519:1", "{wk}");
    assert_eq!(keys[0]["valid_until"], t + 7 * 86_400_000, "{wk}");
    assert_eq!(keys[1]["key_id"], "ed25519:2", "{wk}");
    assert_eq!(keys[1]["valid_from"], t, "{wk}");
    assert_eq!(keys[1]["public_key"], public_key.as_str(), "{wk}");
    // During: a new message is signed with the new key.
    let o3 = post_ok(
        a,
        &employer,
        "/api/v1/offers",
        &offer_body("Cariste 3", "41018"),
    )
    .await;
    received(&net, &peers[1..], o3["offer_id"].as_str().unwrap()).await;
    let log = net.node("cd41").log();
    assert!(!log.contains("bad_signature"), "{log}");

    // B comes back: it takes the old-key message (overlap) and the new one.
    net.node_mut("mission-tours").restart();
    received(&net, &peers, o2["offer_id"].as_str().unwrap()).await;
    received(&net, &peers, o3["offer_id"].as_str().unwrap()).await;

    // After: A restarts and keeps signing with the new key; the operator's
    // status sees the keys match.
    net.node_mut("cd41").restart();
    let a = net.node("cd41");
    let employer = a.user("employer", "rh2@entrepot-blois.fr", Some("Entrepôt Blois"));
    let o4 = post_ok(
        a,
        &employer,
        "/api/v1/offers",
        &offer_body("Cariste 4", "41018"),
    )
    .await;
    received(&net, &peers, o4["offer_id"].as_str().unwrap()).await;
    // C holds each message as signed: o2 with the old key, o3 and o4 with
    // the new one.
    let c_db = net.node("petr-laon").dir.join("data").join("vivier.db");
    for (o, key) in [(&o2, "ed25519:1"), (&o3, "ed25519:2"), (&o4, "ed25519:2")] {
        let id = o["offer_id"].as_str().unwrap().to_string();
        let body = inbox_body(&c_db, &id);
        assert!(
            body.contains(&format!("\"key_id\":\"{key}\"")),
            "{id} should be signed with {key}: {body}"
        );
    }
    let out = cli_ok(a, &["key", "show"]);
    assert!(
        out.contains("ed25519:2") && out.contains("(signing)"),
        "{out}"
    );
    let status = net.admin(&["status", "--ca-cert", &net.ca.ca_pem.display().to_string()]);
    let line = status
        .lines()
        .find(|l| l.contains("cd41"))
        .unwrap_or_default();
    assert!(line.contains("yes"), "{status}");
}

/// `vivier-admin status` against 20 real node processes, two of them
/// paused (SIGSTOP): every member is asked at once, so the command answers
/// within about one per-node timeout (asked one after the other, the two
/// paused nodes alone would take two), and it names the paused ones as
/// unreachable while the 18 others answer with the current serial and
/// matching keys. An offer posted meanwhile reaches the 18 and waits for the
/// two: the table shows the paused ones' lag, read off the others' signed
/// reports, and everyone else at 0; log heads, outbox depth, dead letters
/// and membership expiry come from each node's report. The HTML page holds
/// the same rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_status_asks_twenty_nodes_at_once_and_names_the_paused_ones() {
    let ids: Vec<String> = (1..=20).map(|i| format!("mission-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let net = Network::start(&refs).await;
    let paused = ["mission-07", "mission-15"];
    for p in paused {
        let pid = net.node(p).pid().unwrap();
        assert!(std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
    }
    let origin = net.node("mission-01");
    let employer = origin.user(
        "employer",
        "rh@entrepot-vierzon.fr",
        Some("Entrepôt Vierzon"),
    );
    let admin = origin.user("admin", "admin@mission-01.fr", None);
    post_ok(
        origin,
        &employer,
        "/api/v1/offers",
        &offer_body("Cariste Vierzon", "18279"),
    )
    .await;
    // Delivered to the 18 others, waiting for the two paused ones.
    wait_for(60, "offer delivered to every running member", || async {
        let (s, st) = origin.get(&admin, "/api/v1/federation/status").await;
        let peers = st["peers"].as_array()?;
        let done = s == 200
            && peers.len() == 19
            && peers.iter().all(|p| {
                let queued = p["outbox_depth"].as_i64() == Some(1);
                let paused_peer = paused.contains(&p["node_id"].as_str().unwrap_or(""));
                queued == paused_peer
            });
        done.then_some(())
    })
    .await;
    let html = net.admin_dir.join("status.html");
    let started = std::time::Instant::now();
    let out = admin_env(
        &[
            "--dir",
            net.admin_dir.to_str().unwrap(),
            "status",
            "--ca-cert",
            &net.ca.ca_pem.display().to_string(),
            "--timeout-secs",
            "4",
            "--json",
            "--html",
            html.to_str().unwrap(),
        ],
        &[],
    );
    let elapsed = started.elapsed();
    for p in paused {
        let pid = net.node(p).pid().unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status();
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success(),
        "paused active members make status fail: {text}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(8),
        "took {elapsed:?}; two paused nodes asked in turn would take 8 s: {text}"
    );
    let table: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(table["problems"], 2, "{table}");
    let members = table["members"].as_array().unwrap();
    assert_eq!(members.len(), 20);
    let page = std::fs::read_to_string(&html).unwrap();
    for id in &ids {
        let row = members
            .iter()
            .find(|m| m["node"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing: {table}"));
        assert!(
            page.contains(&format!("<td>{id}</td>")),
            "{id} not in the HTML page"
        );
        if paused.contains(&id.as_str()) {
            assert_eq!(row["reachable"], "no", "{row}");
            // One message (the offer) waits for it at mission-01.
            let lag = row["lag"].as_str().unwrap();
            assert!(lag.starts_with("1 (oldest "), "{row}");
            assert_eq!(row["dead letters"], "-", "not asked: {row}");
        } else {
            assert_eq!(row["reachable"], "yes", "{row}");
            assert!(
                row["serial"].as_str().unwrap().ends_with("(current)"),
                "{row}"
            );
            assert_eq!(row["key match"], "yes", "{row}");
            assert_eq!(row["lag"], "0", "{row}");
            assert_eq!(row["dead letters"], "0", "{row}");
            let expires = row["expires in"].as_str().unwrap();
            assert!(expires.ends_with(" days"), "{row}");
            let (head, outbox) = if id == "mission-01" {
                ("1", "2")
            } else {
                ("0", "0")
            };
            assert_eq!(row["log head"], head, "{row}");
            assert_eq!(row["outbox"], outbox, "{row}");
        }
    }
}
