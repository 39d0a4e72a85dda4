//! A hostile member against a real node over HTTP: `ml-tours` is in the
//! membership document, but the test holds its key and sends whatever it
//! likes (`PUT /federation/v1/txn/{id}`, RFC 9421-signed). Every bad
//! message is refused on its own with a stable code, the rest of its batch
//! is kept, nothing else changes, and the node stays up. Also: the
//! creation-time limits that keep local offers inside one message, the CV
//! text cut to fit a referral, and the rate limits (a flood claiming a
//! member's key id costs that member nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use crate::support::*;
use serde_json::{json, Value};
use vivier_node::auth::Role;
use vivier_node::config::Config;
use vivier_protocol::{Envelope, KeyId, MessageKind, NodeId, Recipient, SigningKeyPair};

const HOSTILE: &str = "ml-tours";
const OTHER: &str = "cd41";
const MAX_SAFE: i64 = 9_007_199_254_740_991;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn key() -> SigningKeyPair {
    SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap())
}

/// A member whose key the test holds (its server does not exist).
struct Peer {
    id: &'static str,
    key: SigningKeyPair,
}

/// Publish one membership document naming `nodes` (real) and `peers`
/// (held by the test) to every real node.
async fn publish(operator: &SigningKeyPair, nodes: &[&TestNode], peers: &[&Peer]) {
    let mut members: Vec<_> = nodes.iter().map(|n| member_of(n)).collect();
    // Nothing listens on the discard port: deliveries to these fail fast.
    members.extend(
        peers
            .iter()
            .map(|p| member_entry(p.id, "http://127.0.0.1:9", &p.key)),
    );
    publish_membership(operator, nodes, members).await;
}

/// The receiving node `node-b` and two members held by the test.
async fn setup(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> (TestNode, Peer, Peer) {
    let operator = key();
    let node = start_node_with(backend, |c| {
        federated("node-b", &operator)(c);
        tweak(c);
    })
    .await;
    let hostile = Peer {
        id: HOSTILE,
        key: key(),
    };
    let other = Peer {
        id: OTHER,
        key: key(),
    };
    publish(&operator, &[&node], &[&hostile, &other]).await;
    (node, hostile, other)
}

/// Sign a message from `peer` without any check (sizes included).
fn sign(peer: &Peer, kind: MessageKind, payload: Value, to: Recipient) -> (String, Vec<u8>) {
    let created = now();
    let envelope = Envelope {
        version: 1,
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        sender: NodeId::parse(peer.id).unwrap(),
        key_id: peer.key.key_id().clone(),
        created_at: created,
        expires_at: created + 86_400_000,
        recipient: to,
        membership_serial: 1,
        payload,
        signatures: BTreeMap::new(),
    };
    let signed = vivier_protocol::sign_envelope(envelope, &peer.key).unwrap();
    (signed.envelope.id, signed.bytes)
}

fn broadcast(peer: &Peer, kind: MessageKind, payload: Value) -> (String, Vec<u8>) {
    sign(peer, kind, payload, Recipient::Network)
}

fn to_b(peer: &Peer, kind: MessageKind, payload: Value) -> (String, Vec<u8>) {
    sign(
        peer,
        kind,
        payload,
        Recipient::Node(NodeId::parse("node-b").unwrap()),
    )
}

/// A sound offer of `origin`.
fn offer(origin: &str, title: &str) -> Value {
    json!({
        "offer_id": format!("{origin}-{}", uuid::Uuid::now_v7()),
        "origin_node": origin,
        "title": title,
        "description": "Entretien des locaux d'une résidence.\r\nHoraires :\t6h–10h.",
        "rome_code": "K2204",
        "contract_type": "CDD",
        "duration_months": 6,
        "weekly_hours": 24,
        "salary": {"min_cents": 1180, "max_cents": 1400, "period": "hour"},
        "employer": {"name": "Propreté Services"},
        "workplaces": [{"commune_insee": "37261", "label": "Tours (37)", "positions": 2}],
        "published_at": now() - 1000,
        "updated_at": now(),
    })
}

fn body_of(messages: &[&[u8]]) -> Vec<u8> {
    let mut body = b"{\"messages\":[".to_vec();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(m);
    }
    body.extend_from_slice(b"]}");
    body
}

/// `PUT /federation/v1/txn/{new id}` with `body`, signed as `signer_id`
/// with `key`.
async fn put_body(
    node: &TestNode,
    signer_id: &str,
    key: &SigningKeyPair,
    body: Vec<u8>,
) -> (u16, Value) {
    let path = format!("/federation/v1/txn/t-{}", uuid::Uuid::new_v4());
    let headers = vivier_protocol::sign_request(
        "PUT",
        &path,
        &node.state.identity.node_id,
        &body,
        &NodeId::parse(signer_id).unwrap(),
        key,
        now() / 1000,
    );
    let mut req = node
        .client
        .put(node.url(&path))
        .header("content-type", "application/json");
    for (k, v) in headers.pairs() {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn put(node: &TestNode, peer: &Peer, messages: &[&[u8]]) -> (u16, Value) {
    put_body(node, peer.id, &peer.key, body_of(messages)).await
}

/// Every batch sent at once, each by its member; the answers in order.
async fn put_all(node: &TestNode, batches: &[(&Peer, Vec<Signed>)]) -> Vec<(u16, Value)> {
    futures::future::join_all(batches.iter().map(|(peer, msgs)| {
        let raws: Vec<&[u8]> = msgs.iter().map(|m| m.1.as_slice()).collect();
        async move { put(node, peer, &raws).await }
    }))
    .await
}

/// `status:error` of one message in a txn answer.
fn verdict(answer: &Value, id: &str) -> String {
    let r = &answer["results"][id];
    format!(
        "{}:{}",
        r["status"].as_str().unwrap_or("?"),
        r["error"].as_str().unwrap_or("")
    )
}

/// One message, alone in its batch: the answer is 200 with `expected` for
/// it, and nothing stored changed.
async fn refused_alone(
    node: &TestNode,
    peer: &Peer,
    msg: (String, Vec<u8>),
    expected: &str,
) -> Value {
    let before = node.snapshot().await;
    let (status, answer) = put(node, peer, &[&msg.1]).await;
    assert_eq!(status, 200, "{}: {answer}", node.backend.name());
    assert_eq!(
        verdict(&answer, &msg.0),
        expected,
        "{}: {answer}",
        node.backend.name()
    );
    node.assert_alive_and_unchanged(&before).await;
    answer["results"][&msg.0]["message"].clone()
}

/// `v` with the member at `pointer` set to `new` (added when absent).
fn with(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent).expect("parent") {
        Value::Object(o) => {
            o.insert(key.to_string(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("index")] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_offer_field_is_refused_alone_and_nothing_changes() {
    for backend in backends() {
        let (b, hostile, _) = setup(&backend, |_| {}).await;
        let good = || offer(HOSTILE, "Agent d'entretien");
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "commune 99999",
                with(good(), "/workplaces/0/commune_insee", json!("99999")),
                "workplaces[0].commune_insee",
            ),
            (
                "positions 2^53-1",
                with(good(), "/workplaces/0/positions", json!(MAX_SAFE)),
                "workplaces[0].positions",
            ),
            (
                "positions -5",
                with(good(), "/workplaces/0/positions", json!(-5)),
                "workplaces[0].positions",
            ),
            (
                "more positions filled than offered",
                with(good(), "/positions_filled", json!(99)),
                "positions_filled",
            ),
            (
                "negative positions filled",
                with(good(), "/positions_filled", json!(-1)),
                "positions_filled",
            ),
            (
                "negative salary",
                with(good(), "/salary/min_cents", json!(-100)),
                "salary.min_cents",
            ),
            (
                "negative duration",
                with(good(), "/duration_months", json!(-3)),
                "duration_months",
            ),
            (
                "rome_code with markup",
                with(good(), "/rome_code", json!("K2204<svg>")),
                "rome_code",
            ),
            (
                "updated_at 2^53-1",
                with(good(), "/updated_at", json!(MAX_SAFE)),
                "updated_at",
            ),
            (
                "NUL byte in the title",
                with(good(), "/title", json!("Agent\u{0}d'entretien")),
                "title",
            ),
            (
                "control character in the employer",
                with(good(), "/employer/name", json!("Propreté\u{1b}[31m")),
                "employer.name",
            ),
            (
                "201 workplaces",
                with(
                    good(),
                    "/workplaces",
                    json!(vec![json!({"commune_insee": "37261", "positions": 1}); 201]),
                ),
                "workplaces",
            ),
            (
                "empty offer id",
                with(good(), "/offer_id", json!("")),
                "offer_id",
            ),
        ];
        for (what, payload, field) in cases {
            let msg = broadcast(&hostile, MessageKind::OfferPublished, payload);
            let reason = refused_alone(&b, &hostile, msg, "refused:invalid_payload").await;
            assert!(
                reason
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("{field}:")),
                "{what} on {}: {reason}",
                backend.name()
            );
        }
        // The same bad fields in an update are refused just the same.
        let msg = broadcast(
            &hostile,
            MessageKind::OfferUpdated,
            with(good(), "/workplaces/0/commune_insee", json!("99999")),
        );
        refused_alone(&b, &hostile, msg, "refused:invalid_payload").await;
        // offer.closed: an impossible time, an over-long reason.
        let closed = broadcast(
            &hostile,
            MessageKind::OfferClosed,
            json!({"offer_id": "x", "reason": "é".repeat(501), "closed_at": MAX_SAFE}),
        );
        let reason = refused_alone(&b, &hostile, closed, "refused:invalid_payload").await;
        assert!(reason.as_str().unwrap().contains("closed_at"), "{reason}");
        // A member publishing another member's offer is still `not_origin`.
        let usurped = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(OTHER, "Usurpée"),
        );
        refused_alone(&b, &hostile, usurped, "refused:not_origin").await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_keeps_exactly_its_good_messages() {
    for backend in backends() {
        let (b, hostile, _) = setup(&backend, |_| {}).await;
        let admin = b.user(Role::Admin, "admin@b.fr").await;
        let before = b.snapshot().await;
        let goods: Vec<(String, Vec<u8>, String)> = (0..3)
            .map(|i| {
                let p = offer(HOSTILE, &format!("Poste {i}"));
                let id = p["offer_id"].as_str().unwrap().to_string();
                let (mid, bytes) = broadcast(&hostile, MessageKind::OfferPublished, p);
                (mid, bytes, id)
            })
            .collect();
        let bad_commune = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            with(
                offer(HOSTILE, "Mauvaise commune"),
                "/workplaces/0/commune_insee",
                json!("99999"),
            ),
        );
        let nul = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            with(offer(HOSTILE, "x"), "/description", json!("a\u{0}b")),
        );
        let mut huge = offer(HOSTILE, "Énorme");
        huge["description"] = json!("é".repeat(140_000));
        let huge = broadcast(&hostile, MessageKind::OfferPublished, huge);
        assert!(huge.1.len() > vivier_protocol::MAX_MESSAGE_BYTES);
        // Duplicate keys inside one message.
        let (dup_id, dup) = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Doublon"),
        );
        let dup = String::from_utf8(dup)
            .unwrap()
            .replacen("\"title\":", "\"title\":\"Autre\",\"title\":", 1)
            .into_bytes();
        let batch: Vec<&[u8]> = vec![
            &goods[0].1,
            &bad_commune.1,
            &goods[1].1,
            &nul.1,
            &huge.1,
            &dup,
            &goods[2].1,
        ];
        let (status, answer) = put(&b, &hostile, &batch).await;
        assert_eq!(status, 200, "{answer}");
        for g in &goods {
            assert_eq!(verdict(&answer, &g.0), "accepted:", "{answer}");
        }
        assert_eq!(verdict(&answer, &bad_commune.0), "refused:invalid_payload");
        assert_eq!(verdict(&answer, &nul.0), "refused:invalid_payload");
        assert_eq!(verdict(&answer, &huge.0), "refused:too_large");
        assert_eq!(verdict(&answer, &dup_id), "refused:malformed");
        // Exactly the good offers were stored, and their inbox rows.
        let (_, list) = b.get(&admin, "/api/v1/offers?origin=ml-tours").await;
        let mut stored: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["offer_id"].as_str().unwrap().to_string())
            .collect();
        stored.sort();
        let mut expected: Vec<String> = goods.iter().map(|g| g.2.clone()).collect();
        expected.sort();
        assert_eq!(stored, expected, "{}", backend.name());
        only_offers_grew(&b, &before, 3).await;
        b.assert_healthy().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_clear_answer_and_change_nothing() {
    for backend in backends() {
        let (b, hostile, _) = setup(&backend, |_| {}).await;
        let before = b.snapshot().await;
        // Not JSON.
        let (status, answer) = put_body(&b, HOSTILE, &hostile.key, b"<messages/>".to_vec()).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["type"], "urn:vivier:problem:bad_request");
        // Duplicate keys in the batch itself.
        let one = broadcast(&hostile, MessageKind::OfferPublished, offer(HOSTILE, "A"));
        let mut body = b"{\"messages\":[".to_vec();
        body.extend_from_slice(&one.1);
        body.extend_from_slice(b"],\"messages\":[]}");
        let (status, answer) = put_body(&b, HOSTILE, &hostile.key, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["type"], "urn:vivier:problem:bad_request");
        // 51 messages.
        let many: Vec<(String, Vec<u8>)> = (0..51)
            .map(|i| {
                broadcast(
                    &hostile,
                    MessageKind::OfferPublished,
                    offer(HOSTILE, &format!("P{i}")),
                )
            })
            .collect();
        let refs: Vec<&[u8]> = many.iter().map(|m| m.1.as_slice()).collect();
        let (status, answer) = put(&b, &hostile, &refs).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["errors"][0]["field"], "messages");
        // A batch over the body limit (14 MiB).
        let big = vec![b' '; 15 * 1024 * 1024];
        let (status, _) = put_body(&b, HOSTILE, &hostile.key, big).await;
        assert_eq!(status, 413);
        // Not a message at all, inside a well-formed batch.
        let (status, answer) = put_body(
            &b,
            HOSTILE,
            &hostile.key,
            b"{\"messages\":[[1,2,3],\"x\",{\"id\":\"y\"}]}".to_vec(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(verdict(&answer, "#0"), "refused:malformed");
        assert_eq!(verdict(&answer, "#1"), "refused:malformed");
        assert_eq!(verdict(&answer, "y"), "refused:malformed");
        b.assert_alive_and_unchanged(&before).await;
        b.stop().await;
    }
}

/// The API input of a sound local offer.
fn local_offer_input() -> Value {
    json!({
        "title": "Agent d'entretien",
        "description": "Entretien des locaux.",
        "rome_code": "K2204",
        "contract_type": "CDI",
        "workplaces": [{"commune_insee": "41018"}]
    })
}

/// Post a sound local offer as `employer`; its id.
async fn local_offer(node: &TestNode, employer: &str) -> String {
    let (s, v) = node
        .post(employer, "/api/v1/offers", &local_offer_input())
        .await;
    assert_eq!(s, 201, "{v}");
    v["offer_id"].as_str().unwrap().to_string()
}

async fn candidate(node: &TestNode, staff: &str, cv_text: &str) -> String {
    let (s, v) = node
        .post(
            staff,
            "/api/v1/candidates",
            &json!({
                "first_name": "Zoé",
                "last_name": "Martin",
                "commune_insee": "41018",
                "rome_codes": ["K2204"],
                "cv_text": cv_text,
                "consent_scope": "network",
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn profile(reference: &str) -> Value {
    json!({
        "candidate_ref": reference,
        "first_name": "Zoé",
        "last_name": "Bâ",
        "commune_insee": "37261",
        "rome_codes": ["K2204"],
        "cv_text": "Agent d'entretien, 5 ans.",
    })
}

fn submitted(offer_id: &str, from: &str) -> Value {
    let id = format!("{from}-ref-{}", uuid::Uuid::now_v7());
    json!({
        "referral_id": id,
        "offer_id": offer_id,
        "referring_node": from,
        "counsellor_name": "Conseiller",
        "endorsement": "Je la recommande.",
        "candidate": profile(&id),
        "consent_given_at": now() - 60_000,
        "submitted_at": now(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_referral_messages_are_refused_alone() {
    for backend in backends() {
        let (b, hostile, other) = setup(&backend, |_| {}).await;
        let employer = b.user(Role::Employer, "rh@b.fr").await;
        let staff = b.user(Role::Counsellor, "conseil@b.fr").await;
        let local = local_offer(&b, &employer).await;
        // An offer of cd41 that B's counsellor refers a candidate to.
        let theirs = offer(OTHER, "Offre de cd41");
        let their_id = theirs["offer_id"].as_str().unwrap().to_string();
        let m = broadcast(&other, MessageKind::OfferPublished, theirs);
        let (s, a) = put(&b, &other, &[&m.1]).await;
        assert_eq!((s, verdict(&a, &m.0)), (200, "accepted:".into()), "{a}");
        let cand = candidate(&b, &staff, "Agent d'entretien.").await;
        let (s, r) = b
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"offer_id": their_id, "candidate_id": cand, "endorsement": "Sérieuse."}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        let outbound = r["id"].as_str().unwrap().to_string();

        // A referral for an unknown offer.
        let msg = to_b(
            &hostile,
            MessageKind::ReferralSubmitted,
            submitted("nope", HOSTILE),
        );
        refused_alone(&b, &hostile, msg, "refused:unknown_offer").await;
        // Bad profiles: each field refused like the candidathèque would.
        for (pointer, value, field) in [
            (
                "/candidate/commune_insee",
                json!("99999"),
                "candidate.commune_insee",
            ),
            ("/candidate/cv_text", json!("CV\u{0}"), "candidate.cv_text"),
            (
                "/candidate/rome_codes",
                json!(["K2204<svg>"]),
                "candidate.rome_codes[0]",
            ),
            (
                "/candidate/max_travel_km",
                json!(MAX_SAFE),
                "candidate.max_travel_km",
            ),
            (
                "/candidate/skills",
                json!(vec!["x"; 101]),
                "candidate.skills",
            ),
            (
                "/candidate/first_name",
                json!("é".repeat(101)),
                "candidate.first_name",
            ),
            (
                "/candidate/available_from",
                json!("2026-02-30"),
                "candidate.available_from",
            ),
            ("/endorsement", json!(""), "endorsement"),
            ("/submitted_at", json!(MAX_SAFE), "submitted_at"),
        ] {
            let payload = with(submitted(&local, HOSTILE), pointer, value);
            let msg = to_b(&hostile, MessageKind::ReferralSubmitted, payload);
            let reason = refused_alone(&b, &hostile, msg, "refused:invalid_payload").await;
            assert!(
                reason.as_str().unwrap().contains(&format!("{field}:")),
                "{field}: {reason}"
            );
        }
        // Submitting on behalf of another node.
        let msg = to_b(
            &hostile,
            MessageKind::ReferralSubmitted,
            submitted(&local, OTHER),
        );
        refused_alone(&b, &hostile, msg, "refused:not_referring_node").await;
        // A status change and a withdrawal for a referral ml-tours does
        // not own (B referred to cd41's offer).
        let change = json!({
            "referral_id": outbound,
            "offer_id": their_id,
            "status": "accepted",
            "contract_type": "CDI",
            "start_date": "2026-03-02",
            "changed_by": "RH",
            "changed_at": now(),
        });
        let msg = to_b(&hostile, MessageKind::ReferralStatusChanged, change.clone());
        refused_alone(&b, &hostile, msg, "refused:not_offer_origin").await;
        let msg = to_b(
            &hostile,
            MessageKind::ReferralWithdrawn,
            json!({"referral_id": outbound, "offer_id": their_id, "reason": "erasure", "withdrawn_at": now()}),
        );
        refused_alone(&b, &hostile, msg, "refused:not_referring_node").await;
        // Even the owner's status change is validated like the API's.
        for (pointer, value) in [
            ("/comment", json!("x".repeat(2001))),
            ("/start_date", json!("2026-13-01")),
            ("/changed_at", json!(-1)),
            ("/reason", json!("other")),
        ] {
            let msg = to_b(
                &other,
                MessageKind::ReferralStatusChanged,
                with(change.clone(), pointer, value),
            );
            refused_alone(&b, &other, msg, "refused:invalid_payload").await;
        }
        let msg = to_b(
            &other,
            MessageKind::ReferralWithdrawn,
            json!({"referral_id": "", "offer_id": their_id, "reason": "withdrawn", "withdrawn_at": now()}),
        );
        refused_alone(&b, &other, msg, "refused:invalid_payload").await;
        // And the sound one is accepted.
        let msg = to_b(&other, MessageKind::ReferralStatusChanged, change);
        let (s, a) = put(&b, &other, &[&msg.1]).await;
        assert_eq!((s, verdict(&a, &msg.0)), (200, "accepted:".into()), "{a}");
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_on_one_message_refuses_only_that_message() {
    for backend in backends() {
        let (b, hostile, other) = setup(&backend, |_| {}).await;
        // The store refuses one title, as it would refuse data it cannot
        // hold (a trigger stands in for any constraint or encoding error).
        let ddl: &[&str] = match backend {
            Backend::Sqlite => &["CREATE TRIGGER refuse_title BEFORE INSERT ON offers \
                 WHEN NEW.title = 'Poste piégé' BEGIN SELECT RAISE(ABORT, 'title refused by the store'); END"],
            Backend::Postgres(_) => &[
                "CREATE FUNCTION refuse_title() RETURNS trigger AS $$ BEGIN \
                 IF NEW.title = 'Poste piégé' THEN RAISE EXCEPTION 'title refused by the store'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_title BEFORE INSERT ON offers FOR EACH ROW EXECUTE FUNCTION refuse_title()",
            ],
        };
        for sql in ddl {
            sqlx::raw_sql(sql).execute(&b.state.db.pool).await.unwrap();
        }
        let good = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Poste sain"),
        );
        let trapped = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Poste piégé"),
        );
        let after = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Poste suivant"),
        );
        let (status, answer) = put(&b, &hostile, &[&good.1, &trapped.1, &after.1]).await;
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        assert_eq!(verdict(&answer, &good.0), "accepted:");
        assert_eq!(
            verdict(&answer, &trapped.0),
            "refused:store_error",
            "{answer}"
        );
        assert_eq!(verdict(&answer, &after.0), "accepted:");
        let titles: Vec<String> = sqlx::query_scalar(
            "SELECT title FROM offers WHERE origin_node = 'ml-tours' ORDER BY title",
        )
        .fetch_all(&b.state.db.pool)
        .await
        .unwrap();
        assert_eq!(titles, ["Poste sain", "Poste suivant"]);
        // Its inbox row was rolled back with it: the sender may retry it.
        let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE message_id = $1")
            .bind(&trapped.0)
            .fetch_one(&b.state.db.pool)
            .await
            .unwrap();
        assert_eq!(inbox, 0);
        b.assert_healthy().await;

        // Batches sent at once are written in one transaction (group
        // commit): a refused row in one of them rolls the group back and
        // writes it again with a savepoint per run; every other message of
        // every batch is then stored once and accepted, not `duplicate`.
        let mut batches: Vec<(&Peer, Vec<Signed>)> = Vec::new();
        for (n, peer) in [&hostile, &other, &hostile, &other].into_iter().enumerate() {
            let msgs = (0..5)
                .map(|i| {
                    let title = if n == 2 && i == 3 {
                        "Poste piégé".to_string()
                    } else {
                        format!("Groupé {n}-{i}")
                    };
                    broadcast(peer, MessageKind::OfferPublished, offer(peer.id, &title))
                })
                .collect();
            batches.push((peer, msgs));
        }
        let answers = put_all(&b, &batches).await;
        for ((_, msgs), (status, answer)) in batches.iter().zip(&answers) {
            assert_eq!(*status, 200, "{answer}");
            for m in msgs {
                let expected = if m.0 == batches[2].1[3].0 {
                    "refused:store_error"
                } else {
                    "accepted:"
                };
                assert_eq!(verdict(answer, &m.0), expected, "{answer}");
            }
        }
        let grouped: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offers o JOIN inbox i ON i.origin = o.origin_node \
             WHERE o.title LIKE 'Groupé %' AND i.body LIKE '%' || o.id || '%'",
        )
        .fetch_one(&b.state.db.pool)
        .await
        .unwrap();
        assert_eq!(grouped, 19, "{}", backend.name());
        b.assert_healthy().await;

        // A store that fails altogether: 503, so that the sender backs off.
        b.state.db.pool.close().await;
        let next = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Plus tard"),
        );
        let (status, answer) = put(&b, &hostile, &[&next.1]).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["type"], "urn:vivier:problem:store_unavailable");
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_claiming_a_member_s_key_id_costs_that_member_nothing() {
    for backend in backends() {
        // A small per-peer quota (burst 10) and a generous per-address one:
        // with the quota charged on the claimed signer, the forged requests
        // below would exhaust ml-tours's budget.
        let (b, hostile, _) = setup(&backend, |c| {
            c.federation.inbox_rate_per_sec = 5;
            c.federation.address_rate_per_sec = 100_000;
        })
        .await;
        let forger = key();
        let mut genuine_ok = 0;
        let mut forged = Vec::new();
        for i in 0..240 {
            let m = broadcast(
                &hostile,
                MessageKind::OfferPublished,
                offer(HOSTILE, "Faux"),
            );
            // Claims keyid="ml-tours/ed25519:1", signed with another key.
            forged.push(put_body(&b, HOSTILE, &forger, body_of(&[&m.1])).await.0);
            if i % 30 == 29 {
                let g = broadcast(
                    &hostile,
                    MessageKind::OfferPublished,
                    offer(HOSTILE, &format!("Vrai {i}")),
                );
                let (s, a) = put(&b, &hostile, &[&g.1]).await;
                assert_eq!((s, verdict(&a, &g.0)), (200, "accepted:".into()), "{a}");
                genuine_ok += 1;
            }
        }
        assert_eq!(genuine_ok, 8);
        assert!(forged.iter().all(|s| *s == 401), "{forged:?}");
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM offers WHERE origin_node = 'ml-tours'")
                .fetch_one(&b.state.db.pool)
                .await
                .unwrap();
        assert_eq!(n, 8);
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_work_is_limited_per_client_address() {
    let backend = Backend::Sqlite;
    let (b, hostile, _) = setup(&backend, |c| {
        c.federation.address_rate_per_sec = 1;
    })
    .await;
    let forger = key();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let m = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(HOSTILE, "Faux"),
        );
        let (s, _) = put_body(&b, HOSTILE, &forger, body_of(&[&m.1])).await;
        statuses.push(s);
        if s == 429 {
            break;
        }
    }
    assert_eq!(&statuses[..2], &[401, 401], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The catch-up log is behind the same limit: unsigned reads are 401
    // until the address's budget is spent, then 429.
    let mut reads = Vec::new();
    for _ in 0..40 {
        let r = b
            .client
            .get(b.url("/federation/v1/log?after=0"))
            .send()
            .await
            .unwrap();
        reads.push(r.status().as_u16());
        if reads.last() == Some(&429) {
            break;
        }
    }
    assert_eq!(reads.last(), Some(&429), "{reads:?}");
    assert!(reads.iter().all(|s| *s == 401 || *s == 429), "{reads:?}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_offers_that_could_not_fit_a_message_are_refused_at_creation() {
    for backend in backends() {
        let (b, _, _) = setup(&backend, |_| {}).await;
        let employer = b.user(Role::Employer, "rh@b.fr").await;
        let base = local_offer_input();
        let before = b.snapshot().await;
        let cases = [
            (
                with(base.clone(), "/description", json!("x".repeat(400 * 1024))),
                "description",
                "at most 20000 characters (got 409600)",
            ),
            (
                with(
                    base.clone(),
                    "/workplaces",
                    json!(vec![json!({"commune_insee": "41018"}); 5000]),
                ),
                "workplaces",
                "at most 200 workplaces (got 5000)",
            ),
            (
                with(base.clone(), "/title", json!("Agent\u{0}")),
                "title",
                "must not contain control characters",
            ),
            (
                with(base.clone(), "/workplaces/0/label", json!("é".repeat(101))),
                "workplaces[0].label",
                "at most 100 characters",
            ),
        ];
        for (body, field, message) in cases {
            let (s, v) = b.post(&employer, "/api/v1/offers", &body).await;
            assert_eq!(s, 400, "{field}: {v}");
            assert_eq!(v["errors"][0]["field"], field, "{v}");
            assert!(
                v["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(message),
                "{v}"
            );
        }
        b.assert_alive_and_unchanged(&before).await;
        // Line breaks and tabs are text, not control characters.
        let ok = with(base, "/description", json!("Ligne 1\r\nLigne 2\tfin"));
        let (s, v) = b.post(&employer, "/api/v1/offers", &ok).await;
        assert_eq!(s, 201, "{v}");
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referred_cv_too_long_for_a_message_arrives_cut_and_flagged() {
    for backend in backends() {
        let operator = key();
        let a = start_node_with(&backend, federated("node-a", &operator)).await;
        let b = start_node_with(&backend, federated("node-b", &operator)).await;
        publish(&operator, &[&a, &b], &[]).await;
        let employer = b.user(Role::Employer, "rh@b.fr").await;
        let b_admin = b.user(Role::Admin, "admin@b.fr").await;
        let staff = a.user(Role::Counsellor, "conseil@a.fr").await;
        let offer_id = local_offer(&b, &employer).await;
        eventually(20, || async {
            let (s, _) = a.get(&staff, &format!("/api/v1/offers/{offer_id}")).await;
            (s == 200).then_some(())
        })
        .await
        .expect("offer reached node-a");
        // 150 000 'é': within the candidathèque's 200 000 characters, but
        // 300 000 bytes, more than one message holds.
        let cv = "é".repeat(150_000);
        let cand = candidate(&a, &staff, &cv).await;
        let (s, r) = a
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"offer_id": offer_id, "candidate_id": cand, "endorsement": "Très sérieuse."}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        let id = r["id"].as_str().unwrap().to_string();
        let got = eventually(20, || async {
            let (s, v) = b.get(&b_admin, &format!("/api/v1/referrals/{id}")).await;
            (s == 200).then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{}: referral not delivered", backend.name()));
        let text = got["candidate"]["cv_text"].as_str().unwrap();
        assert_eq!(
            got["candidate"]["cv_text_truncated"],
            true,
            "{}",
            backend.name()
        );
        assert!(cv.starts_with(text));
        let n = text.chars().count();
        assert!((100_000..150_000).contains(&n), "{n} characters kept");
        // The employer's page says so, in French.
        let page = b
            .client
            .get(b.url(&format!("/ui/mises-en-relation/{id}")))
            .bearer_auth(&b_admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Texte du CV tronqué"),
            "{}",
            &page[..page.len().min(500)]
        );
        // Nothing parked at A: the message fitted.
        let parked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters")
            .fetch_one(&a.state.db.pool)
            .await
            .unwrap();
        assert_eq!(parked, 0);
        a.stop().await;
        b.stop().await;
    }
}

/// Since `before`, `offers` and `inbox` gained `n` rows each and no other
/// table changed.
async fn only_offers_grew(node: &TestNode, before: &crate::support::StoreSnapshot, n: i64) {
    let after = node.snapshot().await;
    for ((table, n0, d0), (_, n1, d1)) in before.0.iter().zip(after.0.iter()) {
        match table.as_str() {
            "offers" | "inbox" => assert_eq!(*n1, n0 + n, "{table}"),
            _ => assert_eq!((n0, d0), (n1, d1), "{table} changed"),
        }
    }
}

/// `msg` carrying the signature of `other` (same sender and key): valid
/// base64url of 64 bytes, still canonical, but not a signature of `msg`.
fn forged(msg: &(String, Vec<u8>), other: &(String, Vec<u8>)) -> Vec<u8> {
    let sig = |m: &(String, Vec<u8>)| -> String {
        let v: Value = serde_json::from_slice(&m.1).unwrap();
        v["signatures"][HOSTILE]["ed25519:1"]
            .as_str()
            .unwrap()
            .to_string()
    };
    String::from_utf8(msg.1.clone())
        .unwrap()
        .replacen(&sig(msg), &sig(other), 1)
        .into_bytes()
}

/// Rows of `table` whose `column` is one of `ids`.
async fn count_in(node: &TestNode, table: &str, column: &str, ids: &[String]) -> i64 {
    let mut n = 0;
    for id in ids {
        let c: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                .bind(id)
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        n += c;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_forged_signature_among_49_good_refuses_that_message_alone() {
    for backend in backends() {
        let (b, hostile, _) = setup(&backend, |_| {}).await;
        let before = b.snapshot().await;
        let msgs: Vec<((String, Vec<u8>), String)> = (0..50)
            .map(|i| {
                let p = offer(HOSTILE, &format!("Poste {i}"));
                let offer_id = p["offer_id"].as_str().unwrap().to_string();
                (
                    broadcast(&hostile, MessageKind::OfferPublished, p),
                    offer_id,
                )
            })
            .collect();
        // Message 17 carries message 18's signature.
        let forged_bytes = forged(&msgs[17].0, &msgs[18].0);
        let mut batch: Vec<&[u8]> = msgs.iter().map(|m| m.0 .1.as_slice()).collect();
        batch[17] = &forged_bytes;
        let (status, answer) = put(&b, &hostile, &batch).await;
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        for (i, (m, _)) in msgs.iter().enumerate() {
            let expected = if i == 17 {
                "refused:bad_signature"
            } else {
                "accepted:"
            };
            assert_eq!(verdict(&answer, &m.0), expected, "message {i}: {answer}");
        }
        let good_offers: Vec<String> = msgs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 17)
            .map(|(_, m)| m.1.clone())
            .collect();
        let good_ids: Vec<String> = msgs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 17)
            .map(|(_, m)| m.0 .0.clone())
            .collect();
        assert_eq!(count_in(&b, "offers", "id", &good_offers).await, 49);
        assert_eq!(count_in(&b, "inbox", "message_id", &good_ids).await, 49);
        assert_eq!(
            count_in(&b, "offers", "id", &[msgs[17].1.clone()]).await,
            0,
            "the forged offer is not stored"
        );
        only_offers_grew(&b, &before, 49).await;
        // The index follows the journal: the 49 become searchable.
        let admin = b.user(Role::Admin, "admin@b.fr").await;
        eventually(10, || async {
            let (_, r) = b.get(&admin, "/api/v1/offers/search?q=poste").await;
            (r["total"] == 49).then_some(())
        })
        .await
        .expect("the 49 offers indexed");
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_stores_nothing_new() {
    for backend in backends() {
        let (b, hostile, _) = setup(&backend, |_| {}).await;
        let msgs: Vec<(String, Vec<u8>)> = (0..50)
            .map(|i| {
                broadcast(
                    &hostile,
                    MessageKind::OfferPublished,
                    offer(HOSTILE, &format!("Poste {i}")),
                )
            })
            .collect();
        let batch: Vec<&[u8]> = msgs.iter().map(|m| m.1.as_slice()).collect();
        let (status, answer) = put(&b, &hostile, &batch).await;
        assert_eq!(status, 200, "{answer}");
        assert!(msgs.iter().all(|m| verdict(&answer, &m.0) == "accepted:"));
        let stored = b.snapshot().await;
        // The same messages under a new txn id (a new signed request): each
        // is a duplicate, nothing changes.
        let (status, answer) = put(&b, &hostile, &batch).await;
        assert_eq!(status, 200, "{answer}");
        for m in &msgs {
            assert_eq!(verdict(&answer, &m.0), "duplicate:replayed", "{answer}");
        }
        b.assert_alive_and_unchanged(&stored).await;
        // Half replayed, half new: only the new half is stored.
        let fresh: Vec<(String, Vec<u8>)> = (0..25)
            .map(|i| {
                broadcast(
                    &hostile,
                    MessageKind::OfferPublished,
                    offer(HOSTILE, &format!("Nouveau {i}")),
                )
            })
            .collect();
        let mixed: Vec<&[u8]> = msgs[..25]
            .iter()
            .chain(fresh.iter())
            .map(|m| m.1.as_slice())
            .collect();
        let (status, answer) = put(&b, &hostile, &mixed).await;
        assert_eq!(status, 200, "{answer}");
        for m in &msgs[..25] {
            assert_eq!(verdict(&answer, &m.0), "duplicate:replayed");
        }
        for m in &fresh {
            assert_eq!(verdict(&answer, &m.0), "accepted:");
        }
        only_offers_grew(&b, &stored, 25).await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_share_a_commit_and_each_gets_its_own_answer() {
    for backend in backends() {
        let (b, hostile, other) = setup(&backend, |_| {}).await;
        let before = b.snapshot().await;
        // Eight batches of 50 from two members at once; in each, one
        // offer of the other member (not_origin) and a repeated message.
        let mut batches = Vec::new();
        for k in 0..8 {
            let peer = if k % 2 == 0 { &hostile } else { &other };
            let mut msgs: Vec<(String, Vec<u8>)> = (0..48)
                .map(|i| {
                    sign(
                        peer,
                        MessageKind::OfferPublished,
                        offer(peer.id, &format!("Lot {k} poste {i}")),
                        Recipient::Network,
                    )
                })
                .collect();
            let foreign = if peer.id == HOSTILE { OTHER } else { HOSTILE };
            msgs.push(sign(
                peer,
                MessageKind::OfferPublished,
                offer(foreign, "Usurpée"),
                Recipient::Network,
            ));
            msgs.push(msgs[0].clone());
            batches.push((peer, msgs));
        }
        let answers = put_all(&b, &batches).await;
        for ((_, msgs), (status, answer)) in batches.iter().zip(&answers) {
            assert_eq!(*status, 200, "{answer}");
            for m in &msgs[1..48] {
                assert_eq!(verdict(answer, &m.0), "accepted:", "{answer}");
            }
            // The repeat of the first message: stored once, and the answer
            // (one entry per id) keeps the verdict on the repeat.
            assert_eq!(verdict(answer, &msgs[0].0), "duplicate:replayed");
            assert_eq!(verdict(answer, &msgs[48].0), "refused:not_origin");
        }
        only_offers_grew(&b, &before, 8 * 48).await;
        b.stop().await;
    }
}

/// A signed message: its id and bytes.
type Signed = (String, Vec<u8>);

/// While a received batch waits for the store, the inbox tells the offer
/// index that it holds a batch (the index lets it go first); once the
/// batch is answered, it does not.
#[tokio::test]
async fn the_inbox_says_it_is_busy_while_it_holds_a_batch() {
    for backend in backends() {
        let (b, hostile, _other) = setup(&backend, |_| {}).await;
        let state = &b.state;
        // A first batch: the sender's contact is recorded before the hold.
        let first = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(hostile.id, "Agent d'entretien"),
        );
        let (status, answer) = put(&b, &hostile, &[&first.1]).await;
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        assert!(!vivier_node::federation::inbox_busy(state));
        // Hold the store: on SQLite the writers' turn, on PostgreSQL the
        // inbox table against inserts.
        let mut hold = state.db.begin().await.unwrap();
        if matches!(backend, Backend::Postgres(_)) {
            sqlx::query("LOCK TABLE inbox IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *hold)
                .await
                .unwrap();
        }
        let msg = broadcast(
            &hostile,
            MessageKind::OfferPublished,
            offer(hostile.id, "Magasinier cariste"),
        );
        let raws = [msg.1.as_slice()];
        let ((status, answer), seen) = tokio::join!(put(&b, &hostile, &raws), async {
            let seen = eventually(60, || async {
                vivier_node::federation::inbox_busy(state).then_some(())
            })
            .await;
            drop(hold);
            seen
        });
        assert!(
            seen.is_some(),
            "{}: the inbox never said it was busy",
            backend.name()
        );
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        assert_eq!(verdict(&answer, &msg.0), "accepted:", "{answer}");
        assert!(
            !vivier_node::federation::inbox_busy(state),
            "{}: still busy after the answer",
            backend.name()
        );
    }
}

/// A burst of concurrent batches is answered before it is indexed (the
/// index follows the journal, at a lower priority); once the node's own
/// follower has caught up — no catch-up called by the test — the index
/// equals the database: every offer id, and each offer found by its words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_the_index_catches_up_and_equals_the_database() {
    for backend in backends() {
        let (b, hostile, other) = setup(&backend, |_| {}).await;
        let admin = b.user(Role::Admin, "admin@node-b.test").await;
        let before = b.snapshot().await;
        const BATCHES: usize = 12;
        let batches: Vec<(&Peer, Vec<Signed>)> = (0..BATCHES)
            .map(|k| {
                let peer = if k % 2 == 0 { &hostile } else { &other };
                let msgs = (0..50)
                    .map(|i| {
                        let word = if i % 5 == 0 { "zorglub" } else { "rafale" };
                        broadcast(
                            peer,
                            MessageKind::OfferPublished,
                            offer(peer.id, &format!("Agent {word} lot {k} poste {i}")),
                        )
                    })
                    .collect();
                (peer, msgs)
            })
            .collect();
        let answers = put_all(&b, &batches).await;
        for ((_, msgs), (status, answer)) in batches.iter().zip(&answers) {
            assert_eq!(*status, 200, "{answer}");
            for m in msgs {
                assert_eq!(verdict(answer, &m.0), "accepted:", "{answer}");
            }
        }
        only_offers_grew(&b, &before, (BATCHES * 50) as i64).await;

        let report = eventually(120, || async {
            let (s, v) = b.get(&admin, "/api/v1/admin/index?check=true").await;
            (s == 200 && v["caught_up"] == true).then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{}: the index did not catch up", backend.name()));
        assert_eq!(report["consistent"], true, "{}: {report}", backend.name());
        assert_eq!(
            report["offers"]["index"], report["offers"]["database"],
            "{report}"
        );
        let found = |text: &str, origin: &str| {
            b.state
                .search
                .offers
                .search(&vivier_node::search::OfferQuery {
                    text: (!text.is_empty()).then(|| text.into()),
                    origin_node: Some(origin.into()),
                    limit: 1,
                    ..Default::default()
                })
                .unwrap()
                .total
        };
        // Per member: 6 batches × 50, one in five with the other word.
        for origin in [HOSTILE, OTHER] {
            assert_eq!(found("", origin), 300, "{}", backend.name());
            assert_eq!(found("rafale", origin), 240, "{}", backend.name());
            assert_eq!(found("zorglub", origin), 60, "{}", backend.name());
        }
        b.stop().await;
    }
}

/// Wait until the backlog the node's own watch measures (every follow
/// interval) satisfies `ok`.
async fn backlog_reaches(node: &TestNode, ok: fn(i64) -> bool, what: &str) {
    let follower = &node.state.follower;
    if eventually(120, || async { ok(follower.backlog()).then_some(()) })
        .await
        .is_none()
    {
        panic!(
            "{}: the backlog never {what}: {}",
            node.backend.name(),
            follower.backlog()
        );
    }
}

/// The inbox accepts offers before they are indexed, and the indexing
/// threads only get the cores that requests leave: while the index is
/// further behind the journal than `inbox_max_index_backlog`, a new batch
/// is refused whole (503 `index_behind`, nothing stored) and the sender's
/// retry is accepted once the index has caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_while_the_index_is_too_far_behind() {
    for backend in backends() {
        let (b, hostile, _other) = setup(&backend, |c| {
            c.federation.inbox_max_index_backlog = 30;
        })
        .await;
        let state = &b.state;
        let batch = |k: usize| -> Vec<Signed> {
            (0..40)
                .map(|i| {
                    broadcast(
                        &hostile,
                        MessageKind::OfferPublished,
                        offer(hostile.id, &format!("Magasinier lot {k} poste {i}")),
                    )
                })
                .collect()
        };
        let raws = |msgs: &[Signed]| -> Vec<Vec<u8>> { msgs.iter().map(|m| m.1.clone()).collect() };
        backlog_reaches(&b, |n| n == 0, "came to 0").await;
        // Hold the offers' indexing thread (once the holding job runs,
        // nothing received is indexed).
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let search = state.search.clone();
        let holding = tokio::spawn(async move {
            search
                .offers_background
                .run(move || {
                    let _ = started.send(());
                    held.recv().is_ok()
                })
                .await
        });
        running.await.unwrap();
        let first = batch(1);
        let first_raws = raws(&first);
        let (status, answer) = put(
            &b,
            &hostile,
            &first_raws.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        for m in &first {
            assert_eq!(verdict(&answer, &m.0), "accepted:", "{answer}");
        }
        backlog_reaches(&b, |n| n >= 40, "reached 40").await;

        // The candidate index is not held back by the offers': a record
        // created now is indexed while the offers wait.
        let staff = b.user(Role::Counsellor, "cip@node-b.test").await;
        let id = candidate(&b, &staff, "Cariste expérimentée, CACES R489").await;
        eventually(120, || async {
            let p = vivier_node::journal::position(state).await.unwrap();
            (p.candidates_committed == p.head && p.offers_committed < p.head).then_some(())
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "{}: candidate {id} not indexed while offers waited",
                backend.name()
            )
        });
        let before = b.snapshot().await;

        // Further than 30 behind: the next batch is refused whole.
        let second = batch(2);
        let second_raws = raws(&second);
        let second_refs: Vec<&[u8]> = second_raws.iter().map(Vec::as_slice).collect();
        let (status, answer) = put(&b, &hostile, &second_refs).await;
        assert_eq!(status, 503, "{}: {answer}", backend.name());
        assert_eq!(answer["code"], "index_behind", "{answer}");
        only_offers_grew(&b, &before, 0).await;
        let stored = count_in(
            &b,
            "inbox",
            "message_id",
            &second.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(
            stored,
            0,
            "{}: nothing of the refused batch kept",
            backend.name()
        );

        // The index catches up; the same batch is then accepted.
        release.send(()).unwrap();
        assert_eq!(holding.await.unwrap(), Some(true));
        backlog_reaches(&b, |n| n == 0, "came back to 0").await;
        let (status, answer) = put(&b, &hostile, &second_refs).await;
        assert_eq!(status, 200, "{}: {answer}", backend.name());
        for m in &second {
            assert_eq!(verdict(&answer, &m.0), "accepted:", "{answer}");
        }
        only_offers_grew(&b, &before, 40).await;
        b.stop().await;
    }
}

/// A sound training of `origin`, granting CACES R489 cat. 3 (issue 18).
fn training(origin: &str) -> Value {
    let day = |d: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    json!({
        "opportunity_id": format!("{origin}-{}", uuid::Uuid::now_v7()),
        "origin_node": origin,
        "opportunity_type": "training",
        "title": "CACES R489 catégorie 3",
        "organisation": "AFPA Tours",
        "certifications_granted": ["CACES_R489_3"],
        "rome_codes": ["N1101"],
        "places": [{"commune_insee": "37261", "label": "Tours (37)"}],
        "start_date": day(10),
        "end_date": day(14),
        "seats": 8,
        "published_at": now() - 1000,
        "updated_at": now(),
    })
}

async fn opportunities_stored(node: &TestNode) -> Vec<(String, String)> {
    use sqlx::Row;
    sqlx::query("SELECT id, status FROM opportunities ORDER BY id")
        .fetch_all(&node.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("id"), r.get("status")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_opportunities_and_referrals_to_them_are_refused_alone() {
    for backend in backends() {
        let (b, hostile, other) = setup(&backend, |_| {}).await;
        let good = || training(HOSTILE);
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "ends before it starts",
                with(good(), "/end_date", json!("2020-01-01")),
                "end_date",
            ),
            (
                "30 February",
                with(good(), "/start_date", json!("2027-02-30")),
                "start_date",
            ),
            (
                "unknown certification",
                with(good(), "/certifications_granted", json!(["CACES_R999_9"])),
                "certifications_granted[0]",
            ),
            (
                "an immersion granting a certification",
                with(
                    with(good(), "/opportunity_type", json!("immersion")),
                    "/end_date",
                    good()["start_date"].clone(),
                ),
                "certifications_granted",
            ),
            ("no seat", with(good(), "/seats", json!(0)), "seats"),
            (
                "seats 2^53-1",
                with(good(), "/seats", json!(MAX_SAFE)),
                "seats",
            ),
            (
                "commune 99999",
                with(good(), "/places/0/commune_insee", json!("99999")),
                "places[0].commune_insee",
            ),
            ("no place", with(good(), "/places", json!([])), "places"),
            (
                "control character in the title",
                with(good(), "/title", json!("CACES\u{1b}[31m")),
                "title",
            ),
            (
                "published in the far future",
                with(good(), "/updated_at", json!(MAX_SAFE)),
                "updated_at",
            ),
        ];
        for (what, payload, field) in cases {
            let msg = broadcast(&hostile, MessageKind::OpportunityPublished, payload);
            let reason = refused_alone(&b, &hostile, msg, "refused:invalid_payload").await;
            assert!(
                reason
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("{field}:")),
                "{what} on {}: {reason}",
                backend.name()
            );
        }
        assert!(opportunities_stored(&b).await.is_empty());
        // Another member's training: not_origin.
        let usurped = broadcast(&hostile, MessageKind::OpportunityPublished, training(OTHER));
        refused_alone(&b, &hostile, usurped, "refused:not_origin").await;

        // A sound one is stored; only its origin closes it.
        let sound = good();
        let id = sound["opportunity_id"].as_str().unwrap().to_string();
        let m = broadcast(&hostile, MessageKind::OpportunityPublished, sound);
        let (s, a) = put(&b, &hostile, &[&m.1]).await;
        assert_eq!((s, verdict(&a, &m.0)), (200, "accepted:".into()), "{a}");
        assert_eq!(
            opportunities_stored(&b).await,
            [(id.clone(), "open".to_string())]
        );
        let closing = json!({"opportunity_id": id, "closed_at": now()});
        let m = broadcast(&other, MessageKind::OpportunityClosed, closing.clone());
        refused_alone(&b, &other, m, "refused:not_origin").await;
        let m = broadcast(
            &hostile,
            MessageKind::OpportunityClosed,
            with(closing.clone(), "/closed_at", json!(MAX_SAFE)),
        );
        refused_alone(&b, &hostile, m, "refused:invalid_payload").await;
        let m = broadcast(&hostile, MessageKind::OpportunityClosed, closing);
        let (s, a) = put(&b, &hostile, &[&m.1]).await;
        assert_eq!((s, verdict(&a, &m.0)), (200, "accepted:".into()), "{a}");
        assert_eq!(
            opportunities_stored(&b).await,
            [(id.clone(), "closed".to_string())]
        );

        // Referrals to trainings B does not own are refused: an unknown
        // one, and the hostile member's own training (not B's).
        let mut r = submitted("nope", HOSTILE);
        r["target"] = json!("training");
        let msg = to_b(&hostile, MessageKind::ReferralSubmitted, r);
        refused_alone(&b, &hostile, msg, "refused:unknown_opportunity").await;
        let mut r = submitted(&id, HOSTILE);
        r["target"] = json!("training");
        let msg = to_b(&hostile, MessageKind::ReferralSubmitted, r);
        refused_alone(&b, &hostile, msg, "refused:not_offer_origin").await;
        // A status no version defines is malformed.
        let msg = to_b(
            &hostile,
            MessageKind::ReferralStatusChanged,
            json!({"referral_id": "r", "offer_id": "o", "status": "graduated",
                   "changed_by": "x", "changed_at": now()}),
        );
        refused_alone(&b, &hostile, msg, "refused:malformed").await;
        b.stop().await;
    }
}
