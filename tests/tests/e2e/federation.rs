//! End-to-end federation tests: real `vivier-node` processes talking HTTPS
//! (test CA) to each other, with a membership document made and published
//! by the real `vivier-admin`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;

use serde_json::{json, Value};
use support::*;
use vivier_protocol::{
    KeyFile, KeyId, MessageKind, NodeId, OfferPayload, Recipient, SigningKeyPair,
};

fn offer_body(title: &str, insee: &str) -> Value {
    json!({
        "title": title,
        "description": "Conduite de chariots élévateurs, CACES 3 exigé, préparation de commandes en entrepôt.",
        "rome_code": "N1101",
        "contract_type": "CDI",
        "weekly_hours": 35,
        "workplaces": [{"commune_insee": insee, "positions": 2}]
    })
}

fn candidate_body(first: &str, insee: &str, scope: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": "Martin",
        "email": format!("{}@exemple.fr", first.to_lowercase()),
        "commune_insee": insee,
        "max_travel_km": 40,
        "driving_licences": ["B"],
        "has_vehicle": true,
        "contract_types": ["CDI", "CDD"],
        "rome_codes": ["N1101"],
        "job_titles": ["Cariste"],
        "skills": ["CACES 3", "préparation de commandes"],
        "cv_text": "Cariste expérimenté, CACES 1 3 5, dix ans en entrepôt logistique à Blois.",
        "consent_scope": scope,
        "sensitive": {"rsa_beneficiary": true, "social_barriers": ["logement"], "nir": "185057800608436"}
    })
}

async fn count_offers_from(node: &NodeProcess, token: &str, origin: &str) -> i64 {
    let (s, v) = node
        .get(
            token,
            &format!("/api/v1/offers?origin={origin}&status=all&per_page=1"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["total"].as_i64().unwrap()
}

fn list_of(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_reaches_every_node_and_referral_comes_back_hired() {
    let net = Network::start(&["cd41", "petr-montlucon", "mission-tours"]).await;
    let (a, b, c) = (
        net.node("cd41"),
        net.node("petr-montlucon"),
        net.node("mission-tours"),
    );
    let employer = a.user(
        "employer",
        "rh@logistique-blois.fr",
        Some("Logistique Blois SAS"),
    );
    let b_counsellor = b.user("counsellor", "conseil@petr.fr", None);
    let c_counsellor = c.user("counsellor", "conseil@tours.fr", None);
    let c_admin = c.user("admin", "admin@tours.fr", None);
    // C's counsellor gives a work phone (« Mes coordonnées »): it travels
    // with her referrals, for the employer.
    assert_eq!(
        c.ui_post(
            "conseil@tours.fr",
            "/ui/coordonnees",
            &[("telephone", "02 47 00 11 22")]
        )
        .await,
        303
    );

    // An offer posted at A…
    let (s, offer) = a
        .post(
            &employer,
            "/api/v1/offers",
            &offer_body("Cariste H/F", "41018"),
        )
        .await;
    assert_eq!(s, 201, "{offer}");
    let offer_id = offer["offer_id"]
        .as_str()
        .or(offer["payload"]["offer_id"].as_str())
        .or(offer["id"].as_str())
        .unwrap()
        .to_string();

    // …is searchable and matchable at B and C.
    for (node, token) in [(b, &b_counsellor), (c, &c_counsellor)] {
        wait_for(60, "offer searchable", || async {
            let (s, v) = node.get(token, "/api/v1/offers/search?q=cariste").await;
            (s == 200 && v.to_string().contains(&offer_id)).then_some(())
        })
        .await;
        let (s, v) = node
            .get(token, &format!("/api/v1/offers/{offer_id}/matches"))
            .await;
        assert_eq!(s, 200, "matches at {}: {v}", node.node_id);
    }

    // A counsellor at C co-opts a candidate living near the workplace.
    let (s, cand) = c
        .post(
            &c_counsellor,
            "/api/v1/candidates",
            &candidate_body("Karim", "41018", "network"),
        )
        .await;
    assert_eq!(s, 201, "{cand}");
    let cand_id = cand["id"].as_str().unwrap().to_string();
    // Visible to matching once indexed (within a second).
    wait_for(30, "candidate matched at C", || async {
        let (s, v) = c
            .get(&c_counsellor, &format!("/api/v1/offers/{offer_id}/matches"))
            .await;
        (s == 200 && v.to_string().contains(&cand_id)).then_some(())
    })
    .await;
    let (s, referral) = c
        .post(
            &c_counsellor,
            "/api/v1/referrals",
            &json!({"offer_id": offer_id, "candidate_id": cand_id,
                    "endorsement": "Nous le suivons depuis deux ans : fiable, ponctuel, CACES à jour."}),
        )
        .await;
    assert_eq!(s, 201, "{referral}");
    let referral_id = referral["id"].as_str().unwrap().to_string();

    // A's employer sees it, with the minimal profile and nothing sensitive.
    let seen = wait_for(60, "referral at A", || async {
        let (s, v) = a
            .get(&employer, &format!("/api/v1/referrals/{referral_id}"))
            .await;
        (s == 200).then_some(v)
    })
    .await;
    let text = seen.to_string();
    assert!(text.contains("Karim") && text.contains("fiable"), "{text}");
    // The employer can reach both people.
    assert_eq!(seen["candidate_name"], "Karim Martin", "{text}");
    assert_eq!(seen["candidate"]["email"], "karim@exemple.fr", "{text}");
    assert_eq!(seen["counsellor_email"], "conseil@tours.fr", "{text}");
    assert_eq!(seen["counsellor_phone"], "02 47 00 11 22", "{text}");
    let (_, list) = a.get(&employer, "/api/v1/referrals").await;
    assert!(
        list_of(&list)
            .iter()
            .any(|r| r["candidate_name"] == "Karim Martin"),
        "{list}"
    );
    assert!(
        !text.contains("185057800608436") && !text.contains("logement") && !text.contains("rsa"),
        "sensitive data leaked: {text}"
    );

    for (status, extra) in [
        ("prior_to_hire", json!({})),
        (
            "accepted",
            json!({"contract_type": "CDI", "start_date": "2026-12-01"}),
        ),
    ] {
        let mut body = json!({"status": status});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, v) = a
            .post(
                &employer,
                &format!("/api/v1/referrals/{referral_id}/status"),
                &body,
            )
            .await;
        assert_eq!(s, 200, "{status}: {v}");
    }

    // C sees the hire and counts a CDI.
    wait_for(60, "status at C", || async {
        let (s, v) = c
            .get(&c_counsellor, &format!("/api/v1/referrals/{referral_id}"))
            .await;
        (s == 200 && v["status"] == "accepted").then_some(())
    })
    .await;
    let (s, stats) = c.get(&c_admin, "/api/v1/stats").await;
    assert_eq!(s, 200, "{stats}");
    assert!(
        stats.to_string().contains("\"cdi\":1"),
        "CDI counted at C: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_catches_up_on_a_thousand_offers() {
    let mut net = Network::start(&["cd41", "petr-montlucon"]).await;
    let employer = net
        .node("cd41")
        .user("employer", "rh@national.fr", Some("Enseigne Nationale"));
    let b_admin = net
        .node("petr-montlucon")
        .user("admin", "admin@petr.fr", None);
    net.node_mut("petr-montlucon").kill();
    let a = net.node("cd41");
    let mut ids = std::collections::HashSet::new();
    for i in 0..1000 {
        let (s, v) = a
            .post(
                &employer,
                "/api/v1/offers",
                &offer_body(&format!("Préparateur de commandes {i}"), "41018"),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        ids.insert(v.to_string());
    }
    net.node_mut("petr-montlucon").restart();
    let b = net.node("petr-montlucon");
    wait_for(120, "1000 offers at B", || async {
        (count_offers_from(b, &b_admin, "cd41").await == 1000).then_some(())
    })
    .await;
    // Nothing twice: the inbox has exactly one row per message.
    let (_, status) = b.get(&b_admin, "/api/v1/federation/status").await;
    assert_eq!(status["inbox"].as_i64(), Some(1000), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_killed_mid_burst_keeps_what_it_acknowledged() {
    let mut net = Network::start(&["cd41", "petr-montlucon"]).await;
    let employer = net.node("petr-montlucon").user(
        "employer",
        "rh@montlucon.fr",
        Some("Aide à domicile Montluçon"),
    );
    let a_admin = net.node("cd41").user("admin", "admin@cd41.fr", None);
    let n = 300;
    let b_url = net.node("petr-montlucon").url("/api/v1/offers");
    let client = net.node("petr-montlucon").client.clone();
    let poster = tokio::spawn(async move {
        for i in 0..n {
            let r = client
                .post(&b_url)
                .bearer_auth(&employer)
                .json(&offer_body(&format!("Aide à domicile {i}"), "03185"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
    });
    // Let part of the burst land, then kill A without warning.
    wait_for(60, "some offers at A", || async {
        (count_offers_from(net.node("cd41"), &a_admin, "petr-montlucon").await >= 20).then_some(())
    })
    .await;
    net.node_mut("cd41").kill();
    poster.await.unwrap();
    net.node_mut("cd41").restart();
    let a = net.node("cd41");
    wait_for(120, "all offers at A", || async {
        (count_offers_from(a, &a_admin, "petr-montlucon").await == n).then_some(())
    })
    .await;
    let (_, status) = a.get(&a_admin, "/api/v1/federation/status").await;
    assert_eq!(
        status["inbox"].as_i64(),
        Some(n),
        "one inbox row per message: {status}"
    );
}

/// Sign a message as `sender` with `key`, optionally tampering.
fn message(
    sender: &str,
    key: &SigningKeyPair,
    kind: MessageKind,
    payload: &Value,
    to: Recipient,
    created: i64,
    ttl: i64,
) -> Vec<u8> {
    vivier_protocol::sign_message(
        kind,
        payload,
        &NodeId::parse(sender).unwrap(),
        key,
        to,
        1,
        created,
        ttl,
    )
    .unwrap()
    .bytes
}

fn offer_payload(origin: &str, title: &str) -> Value {
    let now = chrono::Utc::now().timestamp_millis();
    serde_json::to_value(OfferPayload {
        offer_id: uuid::Uuid::now_v7().to_string(),
        origin_node: NodeId::parse(origin).unwrap(),
        title: title.into(),
        description: "Entretien des locaux".into(),
        rome_code: "K2204".into(),
        contract_type: vivier_protocol::ContractType::Cdd,
        duration_months: Some(6),
        weekly_hours: Some(24),
        salary: None,
        driving_licence: None,
        experience_months: None,
        experience_label: None,
        start_date: None,
        vehicle_required: false,
        required_certifications: Vec::new(),
        desired_certifications: Vec::new(),
        employer: vivier_protocol::Employer {
            name: "Propreté Services".into(),
            siret: None,
        },
        workplaces: vec![vivier_protocol::Workplace {
            commune_insee: "41018".into(),
            label: None,
            lat_micro: Some(47_586_000),
            lon_micro: Some(1_335_000),
            positions: 1,
        }],
        positions_filled: 0,
        published_at: now,
        updated_at: now,
    })
    .unwrap()
}

/// PUT one txn to `to`, signed (RFC 9421) by `signer`.
async fn put_txn(
    to: &NodeProcess,
    signer: &str,
    key: &SigningKeyPair,
    messages: &[Vec<u8>],
) -> (u16, Value) {
    let mut body = b"{\"messages\":[".to_vec();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(m);
    }
    body.extend_from_slice(b"]}");
    let path = format!("/federation/v1/txn/test-{}", uuid::Uuid::new_v4());
    let h = vivier_protocol::sign_request(
        "PUT",
        &path,
        &NodeId::parse(&to.node_id).unwrap(),
        &body,
        &NodeId::parse(signer).unwrap(),
        key,
        chrono::Utc::now().timestamp(),
    );
    let mut req = to
        .client
        .put(to.url(&path))
        .header("content-type", "application/json");
    for (k, v) in h.pairs() {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn node_key(node: &NodeProcess) -> SigningKeyPair {
    KeyFile::read(node.dir.join("data").join("node.key"))
        .unwrap()
        .key
}

fn result_error(v: &Value) -> String {
    let results = v["results"].as_object().unwrap();
    assert_eq!(results.len(), 1, "{v}");
    let r = results.values().next().unwrap();
    format!(
        "{}:{}",
        r["status"].as_str().unwrap_or(""),
        r["error"].as_str().unwrap_or("")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_replayed_and_foreign_messages_are_refused() {
    // A short clock-skew window lets the test build an expired message; the
    // members' keys are listed as valid since the epoch, so that message's
    // key was valid when it was created (no waiting for a key window).
    let net = Network::start_custom(
        &["cd41", "petr-montlucon", "mission-tours", "cd03"],
        NetworkOptions {
            federation_toml: "max_clock_skew_secs = 2\n".into(),
            backdate_keys: true,
            ..Default::default()
        },
    )
    .await;
    let a_admin = net.node("cd41").user("admin", "admin@cd41.fr", None);
    let b_key = node_key(net.node("petr-montlucon"));
    let d_key = node_key(net.node("cd03"));
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000;
    let all = Recipient::Network;
    let to_a = || Recipient::Node(NodeId::parse("cd41").unwrap());
    let a = net.node("cd41");
    let inbox_before = a.get(&a_admin, "/api/v1/federation/status").await.1["inbox"]
        .as_i64()
        .unwrap();

    // A valid message goes in once; the same again is a replay.
    let good = message(
        "petr-montlucon",
        &b_key,
        MessageKind::OfferPublished,
        &offer_payload("petr-montlucon", "Agent d'entretien"),
        all.clone(),
        now,
        day,
    );
    let (s, v) = put_txn(a, "petr-montlucon", &b_key, std::slice::from_ref(&good)).await;
    assert_eq!((s, result_error(&v)), (200, "accepted:".to_string()), "{v}");
    let (_, v) = put_txn(a, "petr-montlucon", &b_key, std::slice::from_ref(&good)).await;
    assert_eq!(result_error(&v), "duplicate:replayed");

    let forger = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "refused:bad_signature",
            message(
                "petr-montlucon",
                &forger,
                MessageKind::OfferPublished,
                &offer_payload("petr-montlucon", "Faux"),
                all.clone(),
                now,
                day,
            ),
        ),
        ("refused:bad_signature", {
            let m = message(
                "petr-montlucon",
                &b_key,
                MessageKind::OfferPublished,
                &offer_payload("petr-montlucon", "Agent de propreté"),
                all.clone(),
                now,
                day,
            );
            String::from_utf8(m)
                .unwrap()
                .replace("Agent de propreté", "Agent de proprete")
                .into_bytes()
        }),
        (
            "refused:expired",
            message(
                "petr-montlucon",
                &b_key,
                MessageKind::OfferPublished,
                &offer_payload("petr-montlucon", "Vieux"),
                all.clone(),
                now - 4000,
                1000,
            ),
        ),
        (
            "refused:unknown_sender",
            message(
                "intrus",
                &forger,
                MessageKind::OfferPublished,
                &offer_payload("intrus", "Intrus"),
                all.clone(),
                now,
                day,
            ),
        ),
        (
            "refused:wrong_recipient",
            message(
                "petr-montlucon",
                &b_key,
                MessageKind::OfferPublished,
                &offer_payload("petr-montlucon", "Ailleurs"),
                Recipient::Node(NodeId::parse("mission-tours").unwrap()),
                now,
                day,
            ),
        ),
        (
            "refused:not_origin",
            message(
                "petr-montlucon",
                &b_key,
                MessageKind::OfferPublished,
                &offer_payload("cd03", "Usurpée"),
                to_a(),
                now,
                day,
            ),
        ),
    ];
    for (expected, msg) in cases {
        let (s, v) = put_txn(a, "petr-montlucon", &b_key, &[msg]).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(result_error(&v), expected, "{v}");
    }

    // A request not signed by a member gets nothing.
    let (s, v) = put_txn(a, "intrus", &forger, std::slice::from_ref(&good)).await;
    assert_eq!(s, 401, "{v}");
    // Oversized body.
    let big = vec![b' '; 15 * 1024 * 1024];
    let (s, _) = put_txn(a, "petr-montlucon", &b_key, &[big]).await;
    assert_eq!(s, 413);

    // Revocation: from the document that revokes cd03, its messages are refused.
    net.admin(&["member", "revoke", "cd03", "--reason", "left the network"]);
    net.publish().await;
    let a = net.node("cd41");
    let revoked = message(
        "cd03",
        &d_key,
        MessageKind::OfferPublished,
        &offer_payload("cd03", "Après révocation"),
        all.clone(),
        chrono::Utc::now().timestamp_millis(),
        day,
    );
    let (s, v) = put_txn(a, "petr-montlucon", &b_key, std::slice::from_ref(&revoked)).await;
    assert_eq!(s, 200);
    assert_eq!(result_error(&v), "refused:sender_not_active", "{v}");
    let (s, _) = put_txn(a, "cd03", &d_key, &[revoked]).await;
    assert_eq!(s, 401, "a revoked member's own requests are refused");

    // Nothing but the one good message was stored.
    let inbox_after = a.get(&a_admin, "/api/v1/federation/status").await.1["inbox"]
        .as_i64()
        .unwrap();
    assert_eq!(inbox_after, inbox_before + 1);
}

/// A record at `mission-tours` (Sophie, network consent) referred to an
/// offer published by `cd41`, whose employer sees her profile. Returns
/// (employer token at A, counsellor token at C, record id, referral id).
async fn referred_across(net: &Network) -> (String, String, String, String) {
    let (a, c) = (net.node("cd41"), net.node("mission-tours"));
    let employer = a.user("employer", "rh@blois.fr", Some("Entrepôts du Loir-et-Cher"));
    let counsellor = c.user("counsellor", "conseil@tours.fr", None);
    let (s, offer) = a
        .post(
            &employer,
            "/api/v1/offers",
            &offer_body("Cariste de nuit", "41018"),
        )
        .await;
    assert_eq!(s, 201);
    let offer_id = offer["offer_id"]
        .as_str()
        .or(offer["payload"]["offer_id"].as_str())
        .or(offer["id"].as_str())
        .unwrap()
        .to_string();
    wait_for(60, "offer at C", || async {
        let (s, _) = c
            .get(&counsellor, &format!("/api/v1/offers/{offer_id}"))
            .await;
        (s == 200).then_some(())
    })
    .await;
    let (_, cand) = c
        .post(
            &counsellor,
            "/api/v1/candidates",
            &candidate_body("Sophie", "37261", "network"),
        )
        .await;
    let cand_id = cand["id"].as_str().unwrap().to_string();
    let (s, referral) = c
        .post(
            &counsellor,
            "/api/v1/referrals",
            &json!({"offer_id": offer_id, "candidate_id": cand_id, "endorsement": "Très motivée."}),
        )
        .await;
    assert_eq!(s, 201, "{referral}");
    let rid = referral["id"].as_str().unwrap().to_string();
    wait_for(60, "referral at A", || async {
        let (s, v) = a.get(&employer, &format!("/api/v1/referrals/{rid}")).await;
        (s == 200 && v.to_string().contains("Sophie")).then_some(())
    })
    .await;
    (employer, counsellor, cand_id, rid)
}

/// After the record's erasure at C: the profile is gone at A (API and
/// every stored value).
async fn profile_gone_at_offer_node(net: &Network, employer: &str, rid: &str) {
    let a = net.node("cd41");
    wait_for(60, "profile gone at A", || async {
        let (_, v) = a.get(employer, &format!("/api/v1/referrals/{rid}")).await;
        (!v.to_string().contains("Sophie")).then_some(())
    })
    .await;
    let db = a.dir.join("data").join("vivier.db");
    let dump = tokio::task::spawn_blocking(move || sqlite_dump(&db))
        .await
        .unwrap();
    assert!(
        !dump.contains("Sophie") && !dump.contains("sophie@exemple.fr"),
        "profile still stored at A"
    );
    let list = a.get(employer, "/api/v1/referrals").await.1;
    assert!(!list_of(&list)
        .iter()
        .any(|r| r.to_string().contains("Sophie")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_at_home_removes_the_profile_at_the_offer_node() {
    let net = Network::start(&["cd41", "mission-tours"]).await;
    let (employer, counsellor, cand_id, rid) = referred_across(&net).await;
    let (s, v) = net
        .node("mission-tours")
        .delete(&counsellor, &format!("/api/v1/candidates/{cand_id}"))
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    profile_gone_at_offer_node(&net, &employer, &rid).await;
}

/// Issue #19: the person asks for erasure from their candidate space, the
/// counsellor confirms; the copy at the offer's node goes, the person's
/// access ends and nothing of them stays at home either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_asked_from_the_candidate_space_reaches_the_other_node() {
    let net = Network::start(&["cd41", "mission-tours"]).await;
    let (employer, counsellor, cand_id, rid) = referred_across(&net).await;
    let c = net.node("mission-tours");
    let (s, inv) = c
        .post(
            &counsellor,
            &format!("/api/v1/candidates/{cand_id}/invitation"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{inv}");
    let jeton = inv["link"]
        .as_str()
        .unwrap()
        .split("jeton=")
        .nth(1)
        .unwrap()
        .to_string();
    let pem = std::fs::read(&net.ca.ca_pem).unwrap();
    let browser = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = c.url("");
    let form = |path: &str, fields: Vec<(&'static str, String)>, cookie: Option<&str>| {
        let mut req = browser
            .post(c.url(path))
            .header("origin", origin.trim_end_matches('/'))
            .form(&fields);
        if let Some(k) = cookie {
            req = req.header("cookie", k);
        }
        req.send()
    };
    let r = form(
        "/moi/invitation",
        vec![("jeton", jeton), ("sans_mot_de_passe", "oui".into())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = form(
        "/moi/effacement",
        vec![("confirmer", "oui".into())],
        Some(&cookie),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, notices) = c
        .get(
            &counsellor,
            &format!("/api/v1/candidates/{cand_id}/notices"),
        )
        .await;
    assert!(notices.to_string().contains("erasure_request"), "{notices}");
    // The counsellor confirms with the existing erasure.
    let (s, v) = c
        .delete(&counsellor, &format!("/api/v1/candidates/{cand_id}"))
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    profile_gone_at_offer_node(&net, &employer, &rid).await;
    let r = browser
        .get(c.url("/moi/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "access ended");
    let db = c.dir.join("data").join("vivier.db");
    let dump = tokio::task::spawn_blocking(move || sqlite_dump(&db))
        .await
        .unwrap();
    assert!(
        !dump.contains("sophie@exemple.fr") && !dump.contains("Cariste expérimenté"),
        "the person's data is still stored at home"
    );
}

/// Every text value of every table of a SQLite file, concatenated.
fn sqlite_dump(path: &Path) -> String {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}?mode=ro", path.display());
    rt.block_on(async move {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let mut out = String::new();
        for t in tables {
            for row in sqlx::query(&format!("SELECT * FROM \"{t}\""))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                for (i, _) in row.columns().iter().enumerate() {
                    if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                        out.push_str(&v);
                        out.push('\n');
                    }
                }
            }
        }
        out
    })
}
