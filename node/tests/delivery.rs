//! Delivery mechanics between two in-process nodes over HTTP: a message the
//! peer refuses is parked in the dead-letter table without blocking the
//! queue, the admin sees and retries it; an unreachable peer is backed off
//! (persisted), and the outbox keeps the messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::*;
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
            &a.state.identity.key,
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
            (v.as_array().map(|l| l.len()) == Some(1)).then_some(v)
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
            v.as_array()
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
        let (a, b, _op) = two_nodes(&backend).await;
        let a_admin = a.user(Role::Admin, "admin@a.fr").await;
        let employer = a.user(Role::Employer, "rh@a.fr").await;
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
        a.stop().await;
    }
}
