//! Delivery mechanics between two in-process nodes over HTTP: a message the
//! peer refuses is parked in the dead-letter table without blocking the
//! queue, the admin sees and retries it; an unreachable peer is backed off
//! (persisted), and the outbox keeps the messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::*;
use serde_json::json;
use vivier_node::auth::Role;
use vivier_protocol::{KeyId, MessageKind, NodeId, Recipient, SigningKeyPair};

async fn two_nodes(backend: &Backend) -> (TestNode, TestNode, SigningKeyPair) {
    let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
    let a = start_node_with(backend, federated("node-a", &operator)).await;
    let b = start_node_with(backend, federated("node-b", &operator)).await;
    publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
    (a, b, operator)
}

fn offer(title: &str) -> serde_json::Value {
    json!({
        "title": title,
        "description": "Accueil et service en salle, week-ends.",
        "rome_code": "G1803",
        "contract_type": "CDD",
        "duration_months": 3,
        "weekly_hours": 30,
        "workplaces": [{"commune_insee": "41018", "positions": 1}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_message_is_parked_and_the_queue_keeps_moving() {
    for backend in backends() {
        let (a, b, _op) = two_nodes(&backend).await;
        let a_admin = a.user(Role::Admin, "admin@a.fr").await;
        let b_admin = b.user(Role::Admin, "admin@b.fr").await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;

        // A poisoned message: signed by A but addressed to a third node. B
        // refuses it for good (wrong_recipient).
        let poisoned = vivier_protocol::sign_message(
            MessageKind::OfferClosed,
            &json!({"offer_id": "x", "reason": null, "closed_at": 1}),
            &a.state.identity.node_id,
            &a.state.signing_key(),
            Recipient::Node(NodeId::parse("node-c").unwrap()),
            1,
            chrono::Utc::now().timestamp_millis(),
            86_400_000,
        )
        .unwrap();
        sqlx::query("INSERT INTO outbox (destination, message_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind("node-b")
            .bind(&poisoned.envelope.id)
            .bind("offer.closed")
            .bind(String::from_utf8(poisoned.bytes.clone()).unwrap())
            .bind(1_i64)
            .execute(&a.state.db.pool)
            .await
            .unwrap();
        // Behind it, a real offer.
        let (s, v) = a
            .post(&employer, "/api/v1/offers", &offer("Serveur H/F"))
            .await;
        assert_eq!(s, 201, "{v}");

        let parked = eventually(20, || async {
            let (_, v) = a.get(&a_admin, "/api/v1/federation/dead-letters").await;
            (v["items"].as_array().map(|l| l.len()) == Some(1)).then(|| v["items"].clone())
        })
        .await
        .unwrap_or_else(|| panic!("{}: message not parked", backend.name()));
        assert_eq!(parked[0]["message_id"], poisoned.envelope.id.as_str());
        assert!(
            parked[0]["error"]
                .as_str()
                .unwrap()
                .contains("wrong_recipient"),
            "{parked}"
        );
        // The offer behind it arrived.
        eventually(20, || async {
            let (_, v) = b.get(&b_admin, "/api/v1/offers?origin=node-a").await;
            (v["total"] == 1).then_some(())
        })
        .await
        .expect("offer delivered past the poisoned message");
        // Nothing of the refused message was stored at B.
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE message_id = $1")
            .bind(&poisoned.envelope.id)
            .fetch_one(&b.state.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, 0);

        // Only the admin sees parked messages; a retry re-queues it.
        let (s, _) = a.get(&employer, "/api/v1/federation/dead-letters").await;
        assert_eq!(s, 403);
        let id = parked[0]["id"].as_i64().unwrap();
        let (s, _) = a
            .post(
                &a_admin,
                &format!("/api/v1/federation/dead-letters/{id}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 202);
        let again = eventually(20, || async {
            let (_, v) = a.get(&a_admin, "/api/v1/federation/dead-letters").await;
            v["items"]
                .as_array()
                .and_then(|l| l.first().cloned())
                .filter(|d| d["id"].as_i64() != Some(id))
        })
        .await
        .expect("retried and parked again");
        assert_eq!(again["message_id"], poisoned.envelope.id.as_str());

        let (_, status) = a.get(&a_admin, "/api/v1/federation/status").await;
        let peer = &status["peers"][0];
        assert_eq!(peer["node_id"], "node-b");
        assert_eq!(peer["outbox_depth"], 0, "{status}");
        assert!(peer["last_success_at"].as_i64().is_some());
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_is_backed_off_and_messages_wait() {
    for backend in backends() {
        let (a, b, op) = two_nodes(&backend).await;
        let a_admin = a.user(Role::Admin, "admin@a.fr").await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let b_key = b.state.signing_key();
        b.stop().await;
        for i in 0..3 {
            let (s, _) = a
                .post(
                    &employer,
                    "/api/v1/offers",
                    &offer(&format!("Serveuse {i}")),
                )
                .await;
            assert_eq!(s, 201);
        }
        let status = eventually(20, || async {
            let (_, v) = a.get(&a_admin, "/api/v1/federation/status").await;
            (v["peers"][0]["failures"].as_i64().unwrap_or(0) >= 1).then_some(v)
        })
        .await
        .expect("failure recorded");
        let peer = &status["peers"][0];
        assert_eq!(peer["outbox_depth"], 3, "{status}");
        let backoff = peer["backoff_ms"].as_i64().unwrap();
        assert_eq!(
            backoff, 30_000,
            "first back-off is the configured initial delay"
        );
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            peer["next_attempt_at"].as_i64().unwrap() > now + 20_000,
            "{status}"
        );
        assert!(peer["last_error"].as_str().is_some());
        // Persisted: the same figures are in the database.
        let stored: i64 =
            sqlx::query_scalar("SELECT backoff_ms FROM peers WHERE node_id = 'node-b'")
                .fetch_one(&a.state.db.pool)
                .await
                .unwrap();
        assert_eq!(stored, 30_000);

        // The operator's signed report says the same, and only the operator
        // may read it.
        let (s, report) = operator_get(&a, "operator", &op, None).await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(report["node_id"], "node-a");
        assert_eq!(report["outbox_depth"], 3, "{report}");
        assert_eq!(report["log_head"], 3, "{report}");
        assert_eq!(report["dead_letters"], 0, "{report}");
        assert!(report["membership_expires_at"].as_i64().unwrap() > now);
        let peer = report["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["node_id"] == "node-b")
            .unwrap();
        assert_eq!(peer["outbox_depth"], 3, "{report}");
        assert!(peer["backoff_until"].as_i64().unwrap() > now + 20_000);
        assert!(peer["oldest_queued_at"].as_i64().unwrap() <= now);
        assert!(peer["failures"].as_i64().unwrap() >= 1);
        // A member's own key, a stranger's key claiming to be the operator,
        // no signature, a replayed signature: 401 and no report.
        let (s, v) = operator_get(&a, "node-b", &b_key, None).await;
        assert_eq!(s, 401, "{v}");
        assert!(v.get("peers").is_none());
        let stranger = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let (s, v) = operator_get(&a, "operator", &stranger, None).await;
        assert_eq!((s, v["code"].as_str()), (401, Some("bad_signature")), "{v}");
        let r = a
            .client
            .get(a.url(vivier_protocol::OPERATOR_STATUS_PATH))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let replayed = operator_headers(&a, "operator", &op);
        let (s, _) = operator_get(&a, "operator", &op, Some(replayed.clone())).await;
        assert_eq!(s, 200);
        let (s, v) = operator_get(&a, "operator", &op, Some(replayed)).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("replayed_request")),
            "{v}"
        );
        a.stop().await;
    }
}

fn operator_headers(
    node: &TestNode,
    signer: &str,
    key: &SigningKeyPair,
) -> vivier_protocol::SignedHeaders {
    vivier_protocol::sign_request(
        "GET",
        vivier_protocol::OPERATOR_STATUS_PATH,
        &node.state.identity.node_id,
        b"",
        &NodeId::parse(signer).unwrap(),
        key,
        chrono::Utc::now().timestamp(),
    )
}

/// `GET` the operator report of `node`, signed as `signer` with `key` (or
/// with the given headers): status and body.
async fn operator_get(
    node: &TestNode,
    signer: &str,
    key: &SigningKeyPair,
    headers: Option<vivier_protocol::SignedHeaders>,
) -> (u16, serde_json::Value) {
    let headers = headers.unwrap_or_else(|| operator_headers(node, signer, key));
    let mut req = node
        .client
        .get(node.url(vivier_protocol::OPERATOR_STATUS_PATH));
    for (name, value) in headers.pairs() {
        req = req.header(name, value);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

fn network_candidate(first: &str) -> serde_json::Value {
    json!({
        "first_name": first,
        "last_name": "Moreau",
        "email": format!("{}@exemple.fr", first.to_lowercase()),
        "commune_insee": "41018",
        "max_travel_km": 30,
        "contract_types": ["CDD", "CDI"],
        "rome_codes": ["G1803"],
        "job_titles": ["Serveur"],
        "cv_text": "Serveur en brasserie, service en salle, week-ends.",
        "consent_scope": "network"
    })
}

/// An offer posted at A by `employer`, once B holds it open: its id.
async fn offer_seen_at_b(a: &TestNode, employer: &str, b: &TestNode, b_token: &str) -> String {
    let (s, o) = a
        .post(employer, "/api/v1/offers", &offer("Serveur H/F"))
        .await;
    assert_eq!(s, 201, "{o}");
    let offer_id = o["offer_id"].as_str().unwrap().to_string();
    eventually(20, || async {
        let (_, v) = b.get(b_token, &format!("/api/v1/offers/{offer_id}")).await;
        (v["status"] == "open").then_some(())
    })
    .await
    .expect("offer received at B");
    offer_id
}

/// A network-consent candidate created at B and referred to `offer_id`:
/// (candidate id, referral id).
async fn refer_at_b(
    b: &TestNode,
    counsellor: &str,
    offer_id: &str,
    first: &str,
) -> (String, String) {
    let (s, c) = b
        .post(counsellor, "/api/v1/candidates", &network_candidate(first))
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, r) = b
        .post(
            counsellor,
            "/api/v1/referrals",
            &json!({"offer_id": offer_id, "candidate_id": c["id"], "endorsement": "Sérieuse et disponible."}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    (
        c["id"].as_str().unwrap().to_string(),
        r["id"].as_str().unwrap().to_string(),
    )
}

/// A referral sent while the offer's close is still on its way: the origin
/// refuses it for good (`offer_closed`). The referring node parks the
/// message, the referral becomes `undeliverable` with the reason in French
/// (API and notice to its counsellor), the dead letter names the code once,
/// and retrying it parks it again without changing the referral.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referral_refused_for_a_closed_offer_is_undeliverable_for_its_counsellor() {
    for backend in backends() {
        let (a, b, _op) = two_nodes(&backend).await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let b_admin = b.user(Role::Admin, "admin@b.fr").await;
        let b_counsellor = b.user(Role::Counsellor, "conseil@b.fr").await;
        let offer_id = offer_seen_at_b(&a, &employer, &b, &b_admin).await;
        // The offer closes at A; its broadcast has not reached B yet (the
        // close is made in A's store only, as if the message were in flight).
        sqlx::query("UPDATE offers SET status = 'closed', closed_at = 1 WHERE id = $1")
            .bind(&offer_id)
            .execute(&a.state.db.pool)
            .await
            .unwrap();
        let (cid, rid) = refer_at_b(&b, &b_counsellor, &offer_id, "Inès").await;
        let r = eventually(20, || async {
            let (_, v) = b
                .get(&b_counsellor, &format!("/api/v1/referrals/{rid}"))
                .await;
            (v["status"] == "undeliverable").then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{}: referral not undeliverable", backend.name()));
        assert_eq!(r["delivery_error"]["code"], "offer_closed", "{r}");
        assert!(
            r["delivery_error"]["message"]
                .as_str()
                .unwrap()
                .contains("clôturée"),
            "{r}"
        );
        // The candidate is no longer "in referral" for it.
        let (_, cand) = b
            .get(&b_counsellor, &format!("/api/v1/candidates/{cid}"))
            .await;
        assert_eq!(cand["status"], "active", "{cand}");
        // The counsellor is told, once, with a link to the referral.
        let (s, n) = b
            .get(&b_counsellor, "/api/v1/notifications?unread=true")
            .await;
        assert_eq!(s, 200, "{n}");
        let items = n["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{n}");
        assert_eq!(items[0]["kind"], "referral_undeliverable");
        assert_eq!(items[0]["link"], format!("/ui/mises-en-relation/{rid}"));
        assert!(
            items[0]["message"]
                .as_str()
                .unwrap()
                .contains("Serveur H/F"),
            "{n}"
        );
        // Nobody else sees it; reading it marks it read.
        let (_, other) = b.get(&b_admin, "/api/v1/notifications").await;
        assert_eq!(other["items"].as_array().unwrap().len(), 0, "{other}");
        let nid = items[0]["id"].as_str().unwrap();
        let (s, _) = b
            .post(
                &b_admin,
                &format!("/api/v1/notifications/{nid}/read"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 404, "another user's notice is not found");
        let (s, _) = b
            .post(
                &b_counsellor,
                &format!("/api/v1/notifications/{nid}/read"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 204);
        let (_, n) = b
            .get(&b_counsellor, "/api/v1/notifications?unread=true")
            .await;
        assert_eq!(n["items"].as_array().unwrap().len(), 0, "{n}");
        // The dead letter names the code once.
        let (_, dl) = b.get(&b_admin, "/api/v1/federation/dead-letters").await;
        let dl = dl["items"].clone();
        let err = dl[0]["error"].as_str().unwrap();
        assert!(err.starts_with("offer_closed: "), "{dl}");
        assert!(
            !err["offer_closed: ".len()..].starts_with("offer_closed"),
            "{dl}"
        );
        assert_eq!(dl[0]["code"], "offer_closed", "{dl}");
        // The administrator's page says why in French (from the code), the
        // peer's English words kept as a detail.
        let cookie = b.ui_cookie("admin@b.fr").await;
        let (st, html) = b.ui_get(&cookie, "/ui/admin/reseau").await;
        assert_eq!(st, 200, "{html}");
        assert!(html.contains("Proposition de candidat"), "{html}");
        assert!(
            html.contains("L&#x27;offre a été clôturée par le membre qui la porte")
                || html.contains("L'offre a été clôturée par le membre qui la porte"),
            "{html}"
        );
        assert!(
            html.contains("Réponse du membre (code <code>offer_closed</code>)"),
            "{html}"
        );
        // Retrying parks it again; the referral stays undeliverable.
        let id = dl[0]["id"].as_i64().unwrap();
        let (s, _) = b
            .post(
                &b_admin,
                &format!("/api/v1/federation/dead-letters/{id}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(s, 202);
        eventually(20, || async {
            let (_, v) = b.get(&b_admin, "/api/v1/federation/dead-letters").await;
            v["items"]
                .as_array()
                .and_then(|l| l.first().cloned())
                .filter(|d| d["id"].as_i64() != Some(id))
        })
        .await
        .expect("parked again");
        let (_, r) = b
            .get(&b_counsellor, &format!("/api/v1/referrals/{rid}"))
            .await;
        assert_eq!(r["status"], "undeliverable");
        // Its outcome stands: the administrator dismisses it (a counsellor
        // may not), it leaves the list and the counts, audited.
        let (_, dl) = b.get(&b_admin, "/api/v1/federation/dead-letters").await;
        let again = dl["items"][0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/federation/dead-letters/{again}");
        assert_eq!(b.delete(&b_counsellor, &path).await.0, 403);
        assert_eq!(b.delete(&b_admin, &path).await.0, 204);
        assert_eq!(b.delete(&b_admin, &path).await.0, 404);
        let (_, dl) = b.get(&b_admin, "/api/v1/federation/dead-letters").await;
        assert_eq!(dl["total"], 0, "{dl}");
        let (_, st) = b.get(&b_admin, "/api/v1/federation/status").await;
        assert_eq!(st["dead_letters"], 0, "{st}");
        let (_, audit) = b
            .get(&b_admin, "/api/v1/audit?action=federation.dismiss")
            .await;
        assert_eq!(audit["total"], 1, "{audit}");
        let (_, r) = b
            .get(&b_counsellor, &format!("/api/v1/referrals/{rid}"))
            .await;
        assert_eq!(r["status"], "undeliverable");
        a.stop().await;
        b.stop().await;
    }
}

/// A suspended member: its profiles held here are kept for the configured
/// delay, then purged by the sweep (time moved with the injected clock);
/// the suspended node itself shows the banner, refuses to publish an offer
/// (409 `node_not_member`, French text in the UI) and parks its queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_member_profiles_are_purged_after_the_delay_and_it_is_told() {
    for backend in backends() {
        let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let clock = vivier_node::clock::ManualClock::starting_now();
        let a =
            start_node_with_clock(&backend, clock.shared(), federated("node-a", &operator)).await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let b_counsellor = b.user(Role::Counsellor, "conseil@b.fr").await;
        let offer_id = offer_seen_at_b(&a, &employer, &b, &b_counsellor).await;
        let (_, rid) = refer_at_b(&b, &b_counsellor, &offer_id, "Maëlys").await;
        eventually(20, || async {
            let (s, v) = a.get(&employer, &format!("/api/v1/referrals/{rid}")).await;
            (s == 200 && v.to_string().contains("Maëlys")).then_some(())
        })
        .await
        .expect("referral at A");

        // B is suspended.
        let mut suspended = member_of(&b);
        suspended.status = vivier_protocol::MemberStatus::Suspended {
            reason: "cotisation impayée".into(),
            since: chrono::Utc::now().timestamp_millis(),
        };
        let doc = membership_bytes_serial(&operator, 2, vec![member_of(&a), suspended]);
        for n in [&a, &b] {
            let r = push_membership(n, doc.clone()).await;
            let st = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            // B may have fetched it from A in between (catch-up): the same
            // serial, already held.
            assert!(
                st == 200 || (st == 409 && body.contains("same_serial")),
                "{st} {body}"
            );
        }
        // At A the profile is kept during the delay…
        assert_eq!(
            vivier_node::federation::purge_departed_due(&a.state)
                .await
                .unwrap(),
            0
        );
        let (_, v) = a.get(&employer, &format!("/api/v1/referrals/{rid}")).await;
        assert!(v.to_string().contains("Maëlys"), "{v}");
        // …and purged once it has passed (30 days by default).
        clock.advance(std::time::Duration::from_secs(31 * 86_400));
        assert_eq!(
            vivier_node::federation::purge_departed_due(&a.state)
                .await
                .unwrap(),
            1
        );
        // (Tokens made before the jump have expired: a fresh admin reads.)
        let a_admin = a.user(Role::Admin, "admin@a.fr").await;
        let (_, v) = a.get(&a_admin, &format!("/api/v1/referrals/{rid}")).await;
        assert_eq!(v["status"], "obsolete", "{v}");
        assert!(!v.to_string().contains("Maëlys"), "{v}");
        assert_eq!(
            vivier_node::federation::purge_departed_due(&a.state)
                .await
                .unwrap(),
            0
        );

        // At B: a banner on every page, federated actions refused.
        let b_employer = b.user(Role::Employer, "rh@b.fr").await;
        let (s, v) = b
            .post(&b_employer, "/api/v1/offers", &offer("Plongeur H/F"))
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["type"], "urn:vivier:problem:node_not_member", "{v}");
        let cookie = b.ui_cookie("conseil@b.fr").await;
        let (s, page) = b.ui_get(&cookie, "/ui/").await;
        assert_eq!(s, 200);
        assert!(page.contains("plus membre actif du réseau"), "{page}");
        let (s, page) = b.ui_get(&cookie, &format!("/ui/offres/{offer_id}")).await;
        assert_eq!(s, 200);
        assert!(page.contains("plus membre actif du réseau"), "{page}");
        // At A, 31 days on, the document (valid one day) has expired: its
        // administrators are told on every page, its counsellors are not.
        assert!(!b
            .ui_get(&cookie, "/ui/")
            .await
            .1
            .contains("adhesion-expiree"));
        let a_cookie = a.ui_cookie("admin@a.fr").await;
        let (s, page) = a.ui_get(&a_cookie, "/ui/").await;
        assert_eq!(s, 200);
        assert!(page.contains("id=\"adhesion-expiree\""), "{page}");
        a.stop().await;
        b.stop().await;
    }
}

/// The operator's view: `/metrics` is scraped with its own bearer secret
/// (not a user token; anything else gets 401/403), and shows per-peer
/// deliveries, outbox depth, back-off and last contact, the membership
/// serial and time to expiry, and refused requests by reason and sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_peer_and_refusals_by_sender_to_the_scraper() {
    const SECRET: &str = "prometheus-scrape-secret-0123456789abcdef";
    for backend in backends() {
        let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let a = start_node_with(&backend, |c| {
            federated("node-a", &operator)(c);
            c.federation.metrics_token = Some(SECRET.into());
        })
        .await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish_membership(&operator, &[&a, &b], vec![member_of(&a), member_of(&b)]).await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
        let counsellor = a.user(Role::Counsellor, "conseil@a.fr").await;
        let b_admin = b.user(Role::Admin, "admin@b.fr").await;
        let (s, o) = a
            .post(&employer, "/api/v1/offers", &offer("Serveur H/F"))
            .await;
        assert_eq!(s, 201, "{o}");
        eventually(20, || async {
            let (_, v) = b.get(&b_admin, "/api/v1/offers?origin=node-a").await;
            (v["total"] == 1).then_some(())
        })
        .await
        .expect("delivered");
        // B sends A a request signed with a key A does not know for B.
        let stranger = SigningKeyPair::generate(KeyId::parse("ed25519:9").unwrap());
        let path = "/federation/v1/txn/node-b-1-1";
        let body = br#"{"messages":[]}"#.to_vec();
        let headers = vivier_protocol::sign_request(
            "PUT",
            path,
            &a.state.identity.node_id,
            &body,
            &b.state.identity.node_id,
            &stranger,
            chrono::Utc::now().timestamp(),
        );
        let mut req = a.client.put(a.url(path)).body(body);
        for (k, v) in headers.pairs() {
            req = req.header(k, v);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), 401);

        let scrape = |auth: Option<String>| {
            let req = a.client.get(a.url("/metrics"));
            let req = match auth {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        assert_eq!(scrape(None).await.0, 401);
        assert_eq!(scrape(Some("not-the-secret".into())).await.0, 401);
        assert_eq!(
            scrape(Some(counsellor.clone())).await.0,
            403,
            "users other than admins get nothing"
        );
        let (s, text) = scrape(Some(SECRET.into())).await;
        assert_eq!(s, 200);
        for needle in [
            r#"vivier_deliveries_total{outcome="ok",peer="node-b"}"#,
            r#"vivier_peer_outbox_depth{peer="node-b"} 0"#,
            // A histogram (the dashboard's histogram_quantile reads it).
            r#"vivier_delivery_seconds_bucket{peer="node-b",le="0.005"}"#,
            r#"vivier_delivery_seconds_bucket{peer="node-b",le="+Inf"}"#,
            r#"vivier_peer_backoff_until_seconds{peer="node-b"}"#,
            r#"vivier_peer_last_success_seconds{peer="node-b"}"#,
            "vivier_membership_serial 1",
            "vivier_membership_expires_in_seconds",
            "vivier_dead_letters 0",
            // (One recorder per test process: counters add up across the
            // backends, so names and labels are checked, not values.)
            r#"vivier_requests_refused_total{reason="unknown_key",sender="node-b"}"#,
        ] {
            assert!(
                text.contains(needle),
                "{}: {needle} missing in\n{text}",
                backend.name()
            );
        }
        // Every series the shipped alert rules use is exposed.
        let rules = include_str!("../../../config/monitoring/vivier-alerts.yml");
        let used: std::collections::BTreeSet<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("vivier_"))
            .collect();
        assert!(used.len() >= 5, "{used:?}");
        for name in used {
            assert!(
                text.contains(&format!("\n{name}")),
                "{name} (alert rules) not exposed"
            );
        }
        a.stop().await;
        b.stop().await;
    }
}

/// What the federation's admin actions leave behind: parked messages,
/// queued messages, `federation.retry` audit rows.
async fn dead_letter_trail(node: &TestNode) -> (i64, i64, i64) {
    let pool = &node.state.db.pool;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .expect("count")
    };
    (
        count("SELECT COUNT(*) FROM dead_letters").await,
        count("SELECT COUNT(*) FROM outbox").await,
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'federation.retry'").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_is_refused_by_the_federation_admin_service_whichever_adapter_calls_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@a.fr").await;
        let counsellor = node.user(Role::Counsellor, "conseil@a.fr").await;
        // A message parked for a peer this node never reaches.
        sqlx::query(
            "INSERT INTO dead_letters (destination, message_id, kind, body, error, created_at, parked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind("node-z")
        .bind("m-parked")
        .bind("offer.closed")
        .bind("{}")
        .bind("wrong_recipient: not for us")
        .bind(1_i64)
        .bind(1_i64)
        .execute(&node.state.db.pool)
        .await
        .expect("dead letter");
        let (_, listed) = node.get(&admin, "/api/v1/federation/dead-letters").await;
        let id = listed["items"][0]["id"].as_i64().expect("dead letter id");
        let before = dead_letter_trail(&node).await;
        assert_eq!(before, (1, 0, 0));
        let forbidden = |e: vivier_node::error::Error| {
            assert!(matches!(e, vivier_node::error::Error::Forbidden), "{e:?}");
        };

        // The services themselves.
        let intruder = actor_of(&node, &counsellor).await;
        forbidden(
            vivier_node::federation::status_for(&node.state, &intruder)
                .await
                .expect_err("status is for admins"),
        );
        forbidden(
            vivier_node::federation::dead_letters(&node.state, &intruder)
                .await
                .expect_err("dead letters are for admins"),
        );
        forbidden(
            vivier_node::federation::retry(&node.state, &intruder, id)
                .await
                .expect_err("retry is for admins"),
        );

        // The API.
        for path in [
            "/api/v1/federation/status",
            "/api/v1/federation/dead-letters",
        ] {
            let (st, refused) = node.get(&counsellor, path).await;
            assert_eq!(st, 403, "{path}: {refused}");
        }
        let retry_path = format!("/api/v1/federation/dead-letters/{id}/retry");
        let (st, refused) = node.post(&counsellor, &retry_path, &json!({})).await;
        assert_eq!(st, 403, "{refused}");

        // The web UI.
        let cookie = node.ui_cookie("conseil@a.fr").await;
        let (st, page) = node.ui_get(&cookie, "/ui/admin/reseau").await;
        assert_eq!(st, 403, "{page}");
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/admin/reseau/rebuts/{id}"),
            &[],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/admin/reseau/rebuts/{id}/classer"),
            &[],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        forbidden(
            vivier_node::federation::dismiss(&node.state, &intruder, id)
                .await
                .expect_err("dismissing is for admins"),
        );

        // Nothing moved, nothing recorded.
        assert_eq!(dead_letter_trail(&node).await, before);

        // The admin, through the same service: re-queued and audited once.
        let admin_actor = actor_of(&node, &admin).await;
        vivier_node::federation::retry(&node.state, &admin_actor, id)
            .await
            .expect("admin retries");
        assert_eq!(dead_letter_trail(&node).await, (0, 1, 1));
        let err = vivier_node::federation::retry(&node.state, &admin_actor, id)
            .await
            .expect_err("already retried");
        assert!(
            matches!(err, vivier_node::error::Error::NotFound(_)),
            "{err:?}"
        );
    }
}

/// The network page warns the administrator 14 days before the membership
/// document expires, and once it has expired, with the operator's command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_page_warns_before_the_membership_document_expires() {
    for backend in backends() {
        let operator = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let clock = vivier_node::clock::ManualClock::starting_now();
        let a =
            start_node_with_clock(&backend, clock.shared(), federated("node-a", &operator)).await;
        let now = clock_now(&clock);
        let doc = vivier_protocol::MembershipDocument {
            network_id: "test".into(),
            serial: 1,
            issued_at: now,
            expires_at: now + 30 * 86_400_000,
            operator_keys: vec![vivier_protocol::OperatorKey {
                key_id: operator.key_id().clone(),
                public_key: operator.public_key(),
            }],
            threshold: 1,
            members: vec![member_of(&a)],
            network_search: None,
        };
        let bytes = vivier_protocol::SignedMembershipDocument::sign(doc, &[&operator])
            .unwrap()
            .to_bytes()
            .unwrap();
        let r = push_membership(&a, bytes).await;
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        a.user(Role::Admin, "admin@a.fr").await;
        // A new session each time: the clock moves past a session's life.
        let page = || async {
            let cookie = a.ui_cookie("admin@a.fr").await;
            let (st, html) = a.ui_get(&cookie, "/ui/admin/reseau").await;
            assert_eq!(st, 200, "{html}");
            html
        };
        let html = page().await;
        assert!(
            !html.contains("id=\"adhesion-expire\""),
            "30 days left: {html}"
        );
        clock.advance(std::time::Duration::from_secs(20 * 86_400));
        let html = page().await;
        assert!(html.contains("id=\"adhesion-expire\""), "{html}");
        assert!(
            html.contains("Le document d&#x27;adhésion expire le")
                || html.contains("Le document d'adhésion expire le"),
            "{html}"
        );
        assert!(html.contains("<code>vivier-admin renew</code>"), "{html}");
        clock.advance(std::time::Duration::from_secs(11 * 86_400));
        let html = page().await;
        assert!(
            html.contains("Le document d&#x27;adhésion a expiré le")
                || html.contains("Le document d'adhésion a expiré le"),
            "{html}"
        );
        a.stop().await;
    }
}

fn clock_now(clock: &vivier_node::clock::ManualClock) -> i64 {
    use vivier_node::clock::Clock;
    clock.now_ms()
}
