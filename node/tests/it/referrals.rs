//! Referrals over HTTP on one node (issue 6): local offers end to end, the
//! outbound and inbound paths driven through the federation handlers with
//! hand-built payloads, the no-answer sweep with a fake clock, erasure.
//! Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{actor_of, backends, start_node, TestNode};
use serde_json::{json, Value};
use sqlx::Row;
use vivier_node::auth::Role;
use vivier_node::error::Error;
use vivier_protocol::{
    CandidateProfile, ContractType, Employer, NodeId, OfferPayload, ReferralStatus,
    ReferralStatusChanged, ReferralSubmitted, ReferralWithdrawn, RefusalReason, WithdrawReason,
    Workplace,
};

const NIR: &str = "2 85 05 41 018 123 45";

fn offer_body(title: &str, contract: &str) -> Value {
    let mut b = json!({
        "title": title,
        "description": "Préparation des commandes en entrepôt, port de charges.",
        "rome_code": "N1103",
        "contract_type": contract,
        "employer": {"name": "Logistique Val de Loire"},
        "workplaces": [{"commune_insee": "41018", "positions": 1}]
    });
    if contract == "CDD" || contract == "MIS" {
        b["duration_months"] = json!(8);
    }
    b
}

async fn offer(node: &TestNode, employer: &str, title: &str) -> String {
    let (st, v) = node
        .post(employer, "/api/v1/offers", &offer_body(title, "CDI"))
        .await;
    assert_eq!(st, 201, "{v}");
    v["offer_id"].as_str().unwrap().to_string()
}

async fn candidate(node: &TestNode, staff: &str, first: &str, consent: Option<&str>) -> String {
    let mut b = json!({
        "first_name": first,
        "last_name": "Martin",
        "commune_insee": "41018",
        "email": "candidate@example.org",
        "rome_codes": ["N1103"],
        "cv_text": "Préparatrice de commandes, 5 ans d'expérience.",
        "sensitive": {"rsa_beneficiary": true, "social_barriers": ["mobilité"], "nir": NIR}
    });
    if let Some(s) = consent {
        b["consent_scope"] = json!(s);
    }
    let (st, v) = node.post(staff, "/api/v1/candidates", &b).await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn refer(node: &TestNode, staff: &str, offer: &str, cand: &str) -> (u16, Value) {
    node.post(
        staff,
        "/api/v1/referrals",
        &json!({"offer_id": offer, "candidate_id": cand, "endorsement": "Très motivée, ponctuelle, je la recommande."}),
    )
    .await
}

async fn candidate_status(node: &TestNode, staff: &str, id: &str) -> String {
    let (st, v) = node.get(staff, &format!("/api/v1/candidates/{id}")).await;
    assert_eq!(st, 200, "{v}");
    v["status"].as_str().unwrap().to_string()
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn status_of(node: &TestNode, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM referrals WHERE id = $1")
        .bind(id)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap()
}

/// (destination, kind, body) of the outbox rows.
async fn outbox(node: &TestNode) -> Vec<(String, String, String)> {
    sqlx::query("SELECT destination, kind, body FROM outbox ORDER BY seq")
        .fetch_all(&node.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("destination"), r.get("kind"), r.get("body")))
        .collect()
}

fn code(r: Result<vivier_node::federation::AfterCommit, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(Error::Federation { code, .. }) => code,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

async fn submit(node: &TestNode, sender: &str, r: ReferralSubmitted) -> &'static str {
    let mut tx = node.state.db.begin().await.unwrap();
    let sender = NodeId::parse(sender).unwrap();
    let res = vivier_node::referrals::receive_submitted(&node.state, &mut tx, &sender, r).await;
    if res.is_ok() {
        tx.commit().await.unwrap();
    }
    code(res)
}

async fn status_changed(node: &TestNode, sender: &str, c: ReferralStatusChanged) -> &'static str {
    let mut tx = node.state.db.begin().await.unwrap();
    let sender = NodeId::parse(sender).unwrap();
    let res =
        vivier_node::referrals::receive_status_changed(&node.state, &mut tx, &sender, c).await;
    if res.is_ok() {
        tx.commit().await.unwrap();
    }
    code(res)
}

async fn withdrawn(node: &TestNode, sender: &str, w: ReferralWithdrawn) -> &'static str {
    let mut tx = node.state.db.begin().await.unwrap();
    let sender = NodeId::parse(sender).unwrap();
    let res = vivier_node::referrals::receive_withdrawn(&node.state, &mut tx, &sender, w).await;
    if res.is_ok() {
        tx.commit().await.unwrap();
    }
    code(res)
}

fn submitted(id: &str, offer: &str, from: &str) -> ReferralSubmitted {
    ReferralSubmitted {
        referral_id: id.into(),
        offer_id: offer.into(),
        target: vivier_protocol::ReferralTarget::Offer,
        for_offer_id: None,
        referring_node: NodeId::parse(from).unwrap(),
        counsellor_name: "Conseiller de C".into(),
        counsellor_email: None,
        counsellor_phone: None,
        endorsement: "Je recommande vivement Zoé.".into(),
        candidate: CandidateProfile {
            candidate_ref: id.into(),
            first_name: "Zoé".into(),
            last_name: "Bâ".into(),
            email: None,
            phone: None,
            commune_insee: "41018".into(),
            max_travel_km: Some(30),
            driving_licences: vec!["B".into()],
            certifications: Vec::new(),
            has_vehicle: true,
            public_transport_only: false,
            available_from: None,
            weekly_hours: None,
            contract_types: vec![ContractType::Cdi],
            rome_codes: vec!["N1103".into()],
            job_titles: vec![],
            skills: vec![],
            languages: vec![],
            experience_years: Some(3),
            training_level: None,
            cv_text: String::new(),
            cv_text_truncated: false,
        },
        consent_given_at: 1_700_000_000_000,
        submitted_at: vivier_node::util::now_ms(),
    }
}

fn change(id: &str, offer: &str, status: ReferralStatus) -> ReferralStatusChanged {
    ReferralStatusChanged {
        referral_id: id.into(),
        offer_id: offer.into(),
        status,
        reason: None,
        contract_type: None,
        start_date: None,
        comment: None,
        changed_by: "RH de A".into(),
        changed_at: vivier_node::util::now_ms(),
    }
}

async fn remote_offer(
    node: &TestNode,
    origin: &str,
    id: &str,
    contract: ContractType,
    months: Option<i64>,
) {
    let now = vivier_node::util::now_ms();
    let p = OfferPayload {
        offer_id: id.into(),
        origin_node: NodeId::parse(origin).unwrap(),
        title: "Préparateur de commandes".into(),
        description: "Entrepôt.".into(),
        rome_code: "N1103".into(),
        contract_type: contract,
        duration_months: months,
        weekly_hours: None,
        salary: None,
        driving_licence: None,
        experience_months: None,
        experience_label: None,
        start_date: None,
        vehicle_required: false,
        required_certifications: Vec::new(),
        desired_certifications: Vec::new(),
        employer: Employer {
            name: "Entrepôts du Centre".into(),
            siret: None,
        },
        workplaces: vec![Workplace {
            commune_insee: "41018".into(),
            label: None,
            lat_micro: None,
            lon_micro: None,
            positions: 1,
        }],
        positions_filled: 0,
        published_at: now,
        updated_at: now,
    };
    store_received(node, &p).await;
}

/// Store an offer as received from its origin.
async fn store_received(node: &TestNode, p: &OfferPayload) {
    let mut tx = node.state.db.begin().await.unwrap();
    vivier_node::offers::store_remote_offer(
        &mut tx,
        &vivier_node::actor::Actor::Peer(p.origin_node.clone()),
        p,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn local_referral_from_submission_to_hire() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let stranger = node.user(Role::Employer, "rh@autre.fr").await;
        let o1 = offer(&node, &employer, "Préparateur de commandes").await;
        let o2 = offer(&node, &employer, "Cariste").await;
        let lea = candidate(&node, &staff, "Léa", Some("local")).await;
        let draft = candidate(&node, &staff, "Brouillon", None).await;

        // Validation and preconditions.
        let (st, v) = node
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"offer_id": o1, "candidate_id": lea, "endorsement": "  "}),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(fields(&v), vec!["endorsement"]);
        let long = "x".repeat(2001);
        let (st, v) = node
            .post(
                &staff,
                "/api/v1/referrals",
                &json!({"offer_id": "nope", "candidate_id": lea, "endorsement": long}),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(fields(&v), vec!["endorsement", "offer_id"]);
        let (st, v) = refer(&node, &staff, &o1, &draft).await;
        assert_eq!(st, 409, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("consent"), "{v}");
        let (st, _) = refer(&node, &employer, &o1, &lea).await;
        assert_eq!(st, 403, "employers do not refer");

        // Refer Léa to both offers.
        let (st, r1) = refer(&node, &staff, &o1, &lea).await;
        assert_eq!(st, 201, "{backend:?} {r1}");
        assert_eq!(r1["status"], "new");
        assert_eq!(r1["direction"], "local");
        assert_eq!(r1["candidate_id"], json!(lea));
        assert_eq!(r1["counsellor_name"], "Test conseillere@mission-emploi.fr");
        let r1 = r1["id"].as_str().unwrap().to_string();
        let (st, v) = refer(&node, &staff, &o1, &lea).await;
        assert_eq!(st, 409, "duplicate pending referral: {v}");
        let (st, r2) = refer(&node, &staff, &o2, &lea).await;
        assert_eq!(st, 201, "{r2}");
        let r2 = r2["id"].as_str().unwrap().to_string();
        assert_eq!(candidate_status(&node, &staff, &lea).await, "in_referral");
        // No message for a local offer; the stored profile is the minimal one.
        assert!(outbox(&node)
            .await
            .iter()
            .all(|(_, k, _)| !k.starts_with("referral.")));
        let profile: String = sqlx::query_scalar("SELECT profile FROM referrals WHERE id = $1")
            .bind(&r1)
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        assert!(
            profile.contains("Léa")
                && !profile.contains(NIR)
                && !profile.contains("rsa")
                && !profile.contains(&lea)
        );

        // The owner lists and reads; the first read marks it processing.
        let (st, list) = node.get(&employer, "/api/v1/referrals").await;
        assert_eq!(st, 200, "{list}");
        assert_eq!(list["total"], 2);
        assert!(
            list["items"][0].get("candidate_id").is_none(),
            "employers never see candidate ids"
        );
        let (_, list) = node
            .get(&employer, &format!("/api/v1/referrals?offer_id={o1}"))
            .await;
        assert_eq!(list["total"], 1);
        let (st, list) = node.get(&stranger, "/api/v1/referrals").await;
        assert_eq!((st, list["total"].clone()), (200, json!(0)));
        let (st, _) = node
            .get(&stranger, &format!("/api/v1/referrals/{r1}"))
            .await;
        assert_eq!(st, 404, "another company's employer");
        let (st, _) = node
            .post(
                &stranger,
                &format!("/api/v1/referrals/{r1}/status"),
                &json!({"status": "processing"}),
            )
            .await;
        assert_eq!(st, 404);
        let (st, v) = node
            .get(&employer, &format!("/api/v1/referrals/{r1}"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "processing");
        assert_eq!(v["candidate"]["first_name"], "Léa");
        assert_eq!(v["candidate"]["candidate_ref"], json!(r1));
        assert_eq!(
            v["endorsement"],
            "Très motivée, ponctuelle, je la recommande."
        );
        assert!(v.get("candidate_id").is_none());
        let (_, v) = node
            .get(&employer, &format!("/api/v1/referrals/{r1}"))
            .await;
        assert_eq!(v["status"], "processing", "second read changes nothing");
        let (st, audit) = node
            .get(
                &admin,
                &format!("/api/v1/audit?action=referral.read&target_id={r1}"),
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");

        // Status changes: validation, side, state machine.
        let path = format!("/api/v1/referrals/{r1}/status");
        let (st, v) = node
            .post(&employer, &path, &json!({"status": "refused"}))
            .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(fields(&v), vec!["reason"]);
        let (st, v) = node
            .post(
                &employer,
                &path,
                &json!({"status": "refused", "reason": "too_far"}),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        let (st, _) = node
            .post(&employer, &path, &json!({"status": "cancelled"}))
            .await;
        assert_eq!(st, 403, "employers do not cancel");
        let (st, v) = node
            .post(
                &employer,
                &path,
                &json!({"status": "prior_to_hire", "comment": "Entretien mardi"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "prior_to_hire");
        let (st, v) = node
            .post(&employer, &path, &json!({"status": "postponed"}))
            .await;
        assert_eq!(st, 409, "{v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .contains("prior_to_hire cannot become postponed"),
            "{v}"
        );
        let (st, v) = node
            .post(&employer, &path, &json!({"status": "accepted"}))
            .await;
        assert_eq!(st, 400);
        assert_eq!(fields(&v), vec!["contract_type", "start_date"]);
        let (st, v) = node
            .post(
                &employer,
                &path,
                &json!({"status": "accepted", "contract_type": "CDI", "start_date": "2026-03-02"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "accepted");
        assert_eq!(v["contract_type"], "CDI");
        assert_eq!(v["start_date"], "2026-03-02");

        // The hire: one placement, candidate placed, other referral obsolete.
        let rows = sqlx::query("SELECT candidate_id, outcome, referral_id FROM placements")
            .fetch_all(&node.state.db.pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].get::<Option<String>, _>("candidate_id"),
            Some(lea.clone())
        );
        assert_eq!(rows[0].get::<String, _>("outcome"), "cdi");
        assert_eq!(
            rows[0].get::<Option<String>, _>("referral_id"),
            Some(r1.clone())
        );
        assert_eq!(candidate_status(&node, &staff, &lea).await, "placed");
        assert_eq!(status_of(&node, &r2).await, "obsolete");
        let (st, ev) = node
            .get(&staff, &format!("/api/v1/referrals/{r2}/events"))
            .await;
        assert_eq!(st, 200);
        let last = ev["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["status"].clone(), last["actor"].clone()),
            (json!("obsolete"), json!("system"))
        );

        // History of the hired referral, seen by the counsellor.
        let (st, ev) = node
            .get(&staff, &format!("/api/v1/referrals/{r1}/events"))
            .await;
        assert_eq!(st, 200);
        let statuses: Vec<_> = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            vec!["new", "processing", "prior_to_hire", "accepted"]
        );
        assert_eq!(ev["items"][1]["actor"], "Test rh@logistique.fr");
        assert_eq!(ev["items"][1]["actor_node"], "test-node");
        assert_eq!(ev["items"][2]["comment"], "Entretien mardi");
        assert_eq!(ev["items"][3]["contract_type"], "CDI");
        let (_, list) = node
            .get(
                &staff,
                &format!("/api/v1/referrals?candidate_id={lea}&status=accepted"),
            )
            .await;
        assert_eq!(list["total"], 1);
        // Accepted is no longer pending.
        let (_, list) = node
            .get(
                &staff,
                &format!("/api/v1/referrals?candidate_id={lea}&status=pending"),
            )
            .await;
        assert_eq!(list["total"], 0, "{list:#}");
        let (st, _) = node.get(&staff, "/api/v1/referrals?status=hired").await;
        assert_eq!(st, 400);
        // A placed candidate is no longer referable.
        let o3 = offer(&node, &employer, "Magasinier").await;
        let (st, _) = refer(&node, &staff, &o3, &lea).await;
        assert_eq!(st, 409);
        node.stop().await;
    }
}

#[tokio::test]
async fn closing_an_offer_answers_its_pending_referrals() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let o = offer(&node, &employer, "Préparateur de commandes").await;
        let lea = candidate(&node, &staff, "Léa", Some("local")).await;
        let (st, r) = refer(&node, &staff, &o, &lea).await;
        assert_eq!(st, 201, "{r}");
        let r = r["id"].as_str().unwrap().to_string();
        assert_eq!(candidate_status(&node, &staff, &lea).await, "in_referral");
        let (st, v) = node.delete(&employer, &format!("/api/v1/offers/{o}")).await;
        assert!(st == 200 || st == 204, "{st} {v}");
        assert_eq!(status_of(&node, &r).await, "refused", "{backend:?}");
        let (_, events) = node
            .get(&staff, &format!("/api/v1/referrals/{r}/events"))
            .await;
        assert!(
            events.to_string().contains("position_filled"),
            "reason recorded: {events}"
        );
        // The candidate is free again for other offers.
        assert_eq!(candidate_status(&node, &staff, &lea).await, "active");
        // The closing, the refusal and the audit are one transaction: one
        // audit row, by the employer, that says what the cascade did.
        let audits: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT actor_role, details FROM audit_log WHERE action = 'offer.close' AND target_id = $1",
        )
        .bind(&o)
        .fetch_all(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audits.len(), 1, "{audits:?}");
        assert_eq!(audits[0].0.as_deref(), Some("employer"));
        let details: serde_json::Value = serde_json::from_str(&audits[0].1).unwrap();
        assert_eq!(details["referrals_refused"], 1, "{details}");
        node.stop().await;
    }
}

#[tokio::test]
async fn no_answer_sweep_with_a_fake_clock() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let o = offer(&node, &employer, "Préparateur de commandes").await;
        let lea = candidate(&node, &staff, "Léa", Some("local")).await;
        let (st, r) = refer(&node, &staff, &o, &lea).await;
        assert_eq!(st, 201);
        let r = r["id"].as_str().unwrap().to_string();
        let now = vivier_node::util::now_ms();
        let day = 86_400_000;
        let n = vivier_node::referrals::no_answer_sweep(&node.state, now + 59 * day)
            .await
            .unwrap();
        assert_eq!(n, 0, "{backend:?}");
        let n = vivier_node::referrals::no_answer_sweep(&node.state, now + 61 * day)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let (_, v) = node.get(&staff, &format!("/api/v1/referrals/{r}")).await;
        assert_eq!(v["status"], "refused");
        assert_eq!(v["reason"], "no_answer");
        let (_, ev) = node
            .get(&staff, &format!("/api/v1/referrals/{r}/events"))
            .await;
        let last = ev["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], "system");
        assert_eq!(last["reason"], "no_answer");
        assert_eq!(
            candidate_status(&node, &staff, &lea).await,
            "active",
            "no pending referral left"
        );
        let n = vivier_node::referrals::no_answer_sweep(&node.state, now + 200 * day)
            .await
            .unwrap();
        assert_eq!(n, 0, "refused is final");
        node.stop().await;
    }
}

#[tokio::test]
async fn erasure_removes_the_profile_of_a_local_referral() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let o = offer(&node, &employer, "Préparateur de commandes").await;
        let lea = candidate(&node, &staff, "Léa", Some("local")).await;
        let (_, r) = refer(&node, &staff, &o, &lea).await;
        let r = r["id"].as_str().unwrap().to_string();
        let (_, v) = node.get(&employer, &format!("/api/v1/referrals/{r}")).await;
        assert_eq!(v["candidate"]["first_name"], "Léa");
        let (st, _) = node
            .delete(&staff, &format!("/api/v1/candidates/{lea}"))
            .await;
        assert_eq!(st, 204, "{backend:?}");
        let row = sqlx::query(
            "SELECT candidate_id, profile, endorsement, status FROM referrals WHERE id = $1",
        )
        .bind(&r)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(row.get::<Option<String>, _>("candidate_id"), None);
        assert_eq!(row.get::<Option<String>, _>("profile"), None);
        assert_eq!(row.get::<String, _>("endorsement"), "");
        assert_eq!(row.get::<String, _>("status"), "cancelled");
        let (st, v) = node.get(&employer, &format!("/api/v1/referrals/{r}")).await;
        assert_eq!(st, 200);
        assert!(v.get("candidate").is_none(), "{v}");
        let (_, ev) = node
            .get(&staff, &format!("/api/v1/referrals/{r}/events"))
            .await;
        assert_eq!(
            ev["items"].as_array().unwrap().last().unwrap()["comment"],
            "données du candidat effacées"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn outbound_referral_to_a_network_offer() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        remote_offer(&node, "node-a", "offer-a1", ContractType::Cdd, Some(8)).await;
        remote_offer(&node, "node-a", "offer-a2", ContractType::Cdi, None).await;
        remote_offer(&node, "node-b", "offer-b1", ContractType::Cdi, None).await;
        let lea = candidate(&node, &staff, "Léa", Some("local")).await;

        // A local consent is not enough for another node's offer.
        let (st, v) = refer(&node, &staff, "offer-a1", &lea).await;
        assert_eq!(st, 409, "{backend:?} {v}");
        assert!(v["detail"].as_str().unwrap().contains("network"), "{v}");
        let (st, _) = node
            .post(
                &staff,
                &format!("/api/v1/candidates/{lea}/consent"),
                &json!({"scope": "network"}),
            )
            .await;
        assert_eq!(st, 200);

        let (st, v) = refer(&node, &staff, "offer-a1", &lea).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["direction"], "outbound");
        assert_eq!(v["offer_origin"], "node-a");
        let r1 = v["id"].as_str().unwrap().to_string();
        let (_, v) = refer(&node, &staff, "offer-a2", &lea).await;
        let r2 = v["id"].as_str().unwrap().to_string();
        let (_, v) = refer(&node, &staff, "offer-b1", &lea).await;
        let r3 = v["id"].as_str().unwrap().to_string();

        // Only to the offer's origin, with the minimal profile.
        let out = outbox(&node).await;
        let subs: Vec<_> = out
            .iter()
            .filter(|(_, k, _)| k == "referral.submitted")
            .collect();
        assert_eq!(subs.len(), 3);
        let (dest, _, body) = subs[0];
        assert_eq!(dest, "node-a");
        let msg: Value = serde_json::from_str(body).unwrap();
        let text = msg.to_string();
        assert!(text.contains(&r1) && text.contains("Léa") && text.contains("Très motivée"));
        assert!(
            !text.contains(NIR)
                && !text.contains("rsa")
                && !text.contains("mobilité")
                && !text.contains(&lea),
            "{text}"
        );
        assert_eq!(subs[2].0, "node-b");

        // Answers from the origin; a third node may not answer.
        assert_eq!(
            status_changed(
                &node,
                "node-b",
                change(&r1, "offer-a1", ReferralStatus::Processing)
            )
            .await,
            "not_offer_origin"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-a",
                change("nope", "offer-a1", ReferralStatus::Processing)
            )
            .await,
            "unknown_referral"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-a",
                change(&r1, "offer-a1", ReferralStatus::Cancelled)
            )
            .await,
            "not_referring_node"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-a",
                change(&r1, "offer-a1", ReferralStatus::Processing)
            )
            .await,
            "ok"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-a",
                change(&r1, "offer-a1", ReferralStatus::Processing)
            )
            .await,
            "invalid_transition"
        );
        let mut hired = change(&r1, "offer-a1", ReferralStatus::Accepted);
        assert_eq!(
            status_changed(&node, "node-a", hired.clone()).await,
            "invalid_payload"
        );
        hired.contract_type = Some(ContractType::Cdd);
        hired.start_date = Some("2026-04-01".into());
        assert_eq!(status_changed(&node, "node-a", hired).await, "ok");
        let (_, v) = node.get(&staff, &format!("/api/v1/referrals/{r1}")).await;
        assert_eq!(v["status"], "accepted");
        assert_eq!(v["contract_type"], "CDD");
        let outcome: String = sqlx::query_scalar(
            "SELECT outcome FROM placements WHERE referral_id = $1 AND candidate_id = $2",
        )
        .bind(&r1)
        .bind(&lea)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(outcome, "cdd_6_months_or_more");
        assert_eq!(candidate_status(&node, &staff, &lea).await, "placed");
        // The other pending referrals became obsolete and their origins are told.
        assert_eq!(status_of(&node, &r2).await, "obsolete");
        assert_eq!(status_of(&node, &r3).await, "obsolete");
        let out = outbox(&node).await;
        let obsolete: Vec<_> = out
            .iter()
            .filter(|(_, k, b)| k == "referral.status_changed" && b.contains("obsolete"))
            .map(|(d, _, _)| d.as_str())
            .collect();
        assert_eq!(obsolete, vec!["node-a", "node-b"]);
        let (_, ev) = node
            .get(&staff, &format!("/api/v1/referrals/{r1}/events"))
            .await;
        let last = ev["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["actor"].clone(), last["actor_node"].clone()),
            (json!("RH de A"), json!("node-a"))
        );

        // Erasure: undelivered submissions dropped, withdrawals sent, ids forgotten.
        let (st, _) = node
            .delete(&staff, &format!("/api/v1/candidates/{lea}"))
            .await;
        assert_eq!(st, 204);
        let out = outbox(&node).await;
        assert!(
            out.iter().all(|(_, k, _)| k != "referral.submitted"),
            "profiles never leave after erasure"
        );
        let mut w: Vec<_> = out
            .iter()
            .filter(|(_, k, _)| k == "referral.withdrawn")
            .map(|(d, _, b)| (d.clone(), b.contains("erasure")))
            .collect();
        w.sort();
        assert_eq!(
            w,
            vec![
                ("node-a".into(), true),
                ("node-a".into(), true),
                ("node-b".into(), true)
            ]
        );
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM referrals WHERE candidate_id IS NOT NULL")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(left, 0);
        node.stop().await;
    }
}

#[tokio::test]
async fn counsellor_cancels_an_outbound_referral() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        remote_offer(&node, "node-a", "offer-a1", ContractType::Cdi, None).await;
        let lea = candidate(&node, &staff, "Léa", Some("network")).await;
        let (_, v) = refer(&node, &staff, "offer-a1", &lea).await;
        let r = v["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/referrals/{r}/status");
        let (st, v) = node
            .post(&staff, &path, &json!({"status": "processing"}))
            .await;
        assert_eq!(st, 400, "{backend:?} the offer's node decides: {v}");
        assert_eq!(fields(&v), vec!["status"]);
        let (st, v) = node
            .post(
                &staff,
                &path,
                &json!({"status": "cancelled", "comment": "A trouvé ailleurs"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "cancelled");
        let out = outbox(&node).await;
        let (dest, _, body) = out
            .iter()
            .find(|(_, k, _)| k == "referral.status_changed")
            .unwrap();
        assert_eq!(dest, "node-a");
        assert!(body.contains("cancelled") && body.contains(&r));
        assert_eq!(candidate_status(&node, &staff, &lea).await, "active");
        let (st, _) = node
            .post(&staff, &path, &json!({"status": "cancelled"}))
            .await;
        assert_eq!(st, 409);
        node.stop().await;
    }
}

#[tokio::test]
async fn inbound_referrals_through_the_message_handlers() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let o = offer(&node, &employer, "Préparateur de commandes").await;
        let closed = offer(&node, &employer, "Offre pourvue").await;
        let (st, _) = node
            .delete(&employer, &format!("/api/v1/offers/{closed}"))
            .await;
        assert!(st == 200 || st == 204, "{st}");
        remote_offer(&node, "node-a", "offer-a1", ContractType::Cdi, None).await;

        // Refusals, each with its code.
        assert_eq!(
            submit(&node, "node-c", submitted("ref-1", "unknown", "node-c")).await,
            "unknown_offer",
            "{backend:?}"
        );
        assert_eq!(
            submit(&node, "node-c", submitted("ref-1", "offer-a1", "node-c")).await,
            "not_offer_origin"
        );
        assert_eq!(
            submit(&node, "node-c", submitted("ref-1", &closed, "node-c")).await,
            "offer_closed"
        );
        assert_eq!(
            submit(&node, "node-b", submitted("ref-1", &o, "node-c")).await,
            "not_referring_node"
        );
        let mut empty = submitted("ref-1", &o, "node-c");
        empty.endorsement = String::new();
        assert_eq!(submit(&node, "node-c", empty).await, "invalid_payload");
        assert_eq!(
            submit(&node, "node-c", submitted("ref-1", &o, "node-c")).await,
            "ok"
        );
        assert_eq!(
            submit(&node, "node-c", submitted("ref-1", &o, "node-c")).await,
            "duplicate_referral"
        );
        assert_eq!(
            submit(&node, "node-c", submitted("ref-2", &o, "node-c")).await,
            "ok"
        );
        assert_eq!(
            submit(&node, "node-c", submitted("ref-3", &o, "node-c")).await,
            "ok"
        );

        // The employer sees it; reading it tells node-c "processing".
        let (_, list) = node
            .get(&employer, "/api/v1/referrals?direction=inbound")
            .await;
        assert_eq!(list["total"], 3);
        let (st, v) = node.get(&employer, "/api/v1/referrals/ref-1").await;
        assert_eq!(st, 200);
        assert_eq!(v["status"], "processing");
        assert_eq!(v["candidate"]["first_name"], "Zoé");
        assert_eq!(v["referring_node"], "node-c");
        let out = outbox(&node).await;
        let sc: Vec<_> = out
            .iter()
            .filter(|(_, k, _)| k == "referral.status_changed")
            .collect();
        assert_eq!(sc.len(), 1);
        assert_eq!(sc[0].0, "node-c");
        assert!(sc[0].2.contains("processing"));

        // The referring node may cancel, not decide.
        let mut hired = change("ref-1", &o, ReferralStatus::Accepted);
        hired.contract_type = Some(ContractType::Cdi);
        hired.start_date = Some("2026-04-01".into());
        assert_eq!(
            status_changed(&node, "node-c", hired).await,
            "not_offer_origin"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-b",
                change("ref-2", &o, ReferralStatus::Cancelled)
            )
            .await,
            "not_referring_node"
        );
        assert_eq!(
            status_changed(
                &node,
                "node-c",
                change("ref-2", &o, ReferralStatus::Cancelled)
            )
            .await,
            "ok"
        );
        assert_eq!(status_of(&node, "ref-2").await, "cancelled");
        let (st, _) = node
            .post(
                &employer,
                "/api/v1/referrals/ref-2/status",
                &json!({"status": "processing"}),
            )
            .await;
        assert_eq!(st, 409, "cancelled is final");

        // The employer refuses ref-1 and hires ref-3.
        let (st, v) = node
            .post(
                &employer,
                "/api/v1/referrals/ref-1/status",
                &json!({"status": "refused", "reason": "position_filled"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = node
            .post(
                &employer,
                "/api/v1/referrals/ref-3/status",
                &json!({"status": "accepted", "contract_type": "ALT", "start_date": "2026-09-01"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let row =
            sqlx::query("SELECT candidate_id, outcome FROM placements WHERE referral_id = 'ref-3'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(
            row.get::<Option<String>, _>("candidate_id"),
            None,
            "no candidate id on the offer's node"
        );
        assert_eq!(row.get::<String, _>("outcome"), "apprenticeship");
        let out = outbox(&node).await;
        let sc: Vec<String> = out
            .iter()
            .filter(|(d, k, _)| k == "referral.status_changed" && d == "node-c")
            .map(|(_, _, b)| b.clone())
            .collect();
        assert_eq!(sc.len(), 3, "processing, refused (ref-1), accepted (ref-3)");
        assert!(sc[1].contains("position_filled"));
        assert!(sc[2].contains("\"ALT\"") && sc[2].contains("2026-09-01"));
        // Staff of this node see the inbound history too.
        let (_, ev) = node.get(&staff, "/api/v1/referrals/ref-3/events").await;
        let statuses: Vec<_> = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, vec!["new", "accepted"]);
        assert_eq!(ev["items"][0]["actor"], "Conseiller de C");
        assert_eq!(ev["items"][0]["actor_node"], "node-c");

        // Erasure at node-c: the profile goes, whatever the status.
        let w = |id: &str| ReferralWithdrawn {
            referral_id: id.into(),
            offer_id: o.clone(),
            reason: WithdrawReason::Erasure,
            withdrawn_at: vivier_node::util::now_ms(),
        };
        assert_eq!(
            withdrawn(&node, "node-b", w("ref-1")).await,
            "not_referring_node"
        );
        assert_eq!(withdrawn(&node, "node-c", w("ref-1")).await, "ok");
        assert_eq!(withdrawn(&node, "node-c", w("never-delivered")).await, "ok");
        let row = sqlx::query(
            "SELECT profile, endorsement, status, reason FROM referrals WHERE id = 'ref-1'",
        )
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
        assert_eq!(row.get::<Option<String>, _>("profile"), None);
        assert_eq!(row.get::<String, _>("endorsement"), "");
        assert_eq!(row.get::<String, _>("status"), "refused");
        assert_eq!(
            row.get::<Option<String>, _>("reason").as_deref(),
            Some("position_filled")
        );
        let (_, v) = node.get(&employer, "/api/v1/referrals/ref-1").await;
        assert!(v.get("candidate").is_none());

        // The hire filled the offer's one position: it closed.
        let (_, v) = node.get(&employer, &format!("/api/v1/offers/{o}")).await;
        assert_eq!(v["status"], "closed", "{v}");
        assert_eq!(v["positions_filled"], 1, "{v}");
        // A pending one (on another open offer) is cancelled by the
        // withdrawal.
        let o2 = offer(&node, &employer, "Préparateur de commandes (2)").await;
        assert_eq!(
            submit(&node, "node-c", submitted("ref-4", &o2, "node-c")).await,
            "ok"
        );
        let w4 = ReferralWithdrawn {
            offer_id: o2.clone(),
            ..w("ref-4")
        };
        assert_eq!(withdrawn(&node, "node-c", w4).await, "ok");
        assert_eq!(status_of(&node, "ref-4").await, "cancelled");
        let mut no_reason = change("ref-1", &o, ReferralStatus::Refused);
        no_reason.reason = Some(RefusalReason::Other);
        assert_eq!(
            status_changed(&node, "node-a", no_reason).await,
            "not_offer_origin"
        );
        node.stop().await;
    }
}

/// `(referrals, referral_events, audit rows of `action`)` on the node.
async fn referral_counts(node: &TestNode, action: &str) -> (i64, i64, i64) {
    let pool = &node.state.db.pool;
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .expect("count")
    };
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(pool)
        .await
        .expect("audit count");
    (
        count("SELECT COUNT(*) FROM referrals").await,
        count("SELECT COUNT(*) FROM referral_events").await,
        audit,
    )
}

/// The policy is the service's: an employer who tries to refer a
/// candidate, or to cancel a referral made to their own offer, is refused
/// by `referrals::create` / `referrals::change_status` themselves — called
/// directly, through the API or through a web form, the same refusal
/// (`forbidden`, 403) and nothing written: no referral, no event, no audit
/// row.
#[tokio::test]
async fn an_employer_is_refused_by_the_referral_service_whichever_adapter_calls_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node.user(Role::Counsellor, "conseil@ml.fr").await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let offer_id = offer(&node, &employer, "Préparateur de commandes").await;
        let cand = candidate(&node, &staff, "Léa", Some("local")).await;
        let actor = actor_of(&node, &employer).await;
        let cookie = node.ui_cookie("rh@logistique.fr").await;

        // Referring: the employer is refused.
        let before = referral_counts(&node, "referral.create").await;
        let input = vivier_node::referrals::NewReferral {
            offer_id: offer_id.clone(),
            opportunity_id: None,
            for_offer_id: None,
            candidate_id: cand.clone(),
            endorsement: "Je la recommande.".into(),
        };
        let err = vivier_node::referrals::create(&node.state, &actor, input)
            .await
            .expect_err("an employer may not refer");
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        let (st, body) = refer(&node, &employer, &offer_id, &cand).await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["code"], "forbidden", "{body}");
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cand}/proposer"),
            &[
                ("offer_id", offer_id.as_str()),
                ("endorsement", "Je la recommande."),
            ],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);
        assert_eq!(referral_counts(&node, "referral.create").await, before);
        assert_eq!(before.0, 0);
        assert_eq!(candidate_status(&node, &staff, &cand).await, "active");

        // Cancelling a referral made to the employer's own offer: the
        // referring side's staff only.
        let (st, r) = refer(&node, &staff, &offer_id, &cand).await;
        assert_eq!(st, 201, "{r}");
        let rid = r["id"].as_str().expect("referral id").to_string();
        let before = referral_counts(&node, "referral.status").await;
        let cancel = || vivier_node::referrals::StatusInput {
            status: ReferralStatus::Cancelled,
            reason: None,
            contract_type: None,
            start_date: None,
            comment: Some("plus disponible".into()),
        };
        let err = vivier_node::referrals::change_status(&node.state, &actor, &rid, cancel())
            .await
            .expect_err("an employer may not cancel");
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        let (st, body) = node
            .post(
                &employer,
                &format!("/api/v1/referrals/{rid}/status"),
                &json!({"status": "cancelled", "comment": "plus disponible"}),
            )
            .await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["code"], "forbidden", "{body}");
        let page = crate::support::post(
            &node,
            Some(&cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[("statut", "cancelled"), ("commentaire", "plus disponible")],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("Accès refusé"), "{}", page.body);
        assert_eq!(referral_counts(&node, "referral.status").await, before);
        assert_eq!(status_of(&node, &rid).await, "new");

        // The same service lets the counsellor cancel it, audited with the
        // change.
        let counsellor = actor_of(&node, &staff).await;
        let v = vivier_node::referrals::change_status(&node.state, &counsellor, &rid, cancel())
            .await
            .expect("staff cancel");
        assert_eq!(v.status, ReferralStatus::Cancelled);
        let after = referral_counts(&node, "referral.status").await;
        assert_eq!((after.1, after.2), (before.1 + 1, before.2 + 1));
        node.stop().await;
    }
}

/// A hire on an offer with positions left: the count is broadcast
/// (`offer.updated` with `positions_filled`), the offer stays open; the
/// last position closes it. A received offer shows the origin's count, and
/// an employer lowering the positions below the hires closes the offer.
#[tokio::test]
async fn a_partial_hire_tells_the_network_the_positions_filled() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let mut body = offer_body("Préparateur de commandes", "CDI");
        body["workplaces"] = json!([
            {"commune_insee": "41018", "positions": 2},
            {"commune_insee": "37261", "positions": 1}
        ]);
        let (st, v) = node.post(&employer, "/api/v1/offers", &body).await;
        assert_eq!(st, 201, "{v}");
        let o = v["offer_id"].as_str().unwrap().to_string();
        for r in ["ref-1", "ref-2", "ref-3", "ref-4"] {
            assert_eq!(
                submit(&node, "node-c", submitted(r, &o, "node-c")).await,
                "ok"
            );
        }
        let accept =
            json!({"status": "accepted", "contract_type": "CDI", "start_date": "2027-01-04"});
        let updates = || async {
            sqlx::query_scalar::<_, String>(
                "SELECT body FROM broadcast_log WHERE kind = 'offer.updated' ORDER BY seq",
            )
            .fetch_all(&node.state.db.pool)
            .await
            .unwrap()
        };

        let (st, v) = node
            .post(&employer, "/api/v1/referrals/ref-1/status", &accept)
            .await;
        assert_eq!(st, 200, "{v}");
        let (_, v) = node.get(&employer, &format!("/api/v1/offers/{o}")).await;
        assert_eq!(
            (v["status"].as_str(), v["positions_filled"].as_i64()),
            (Some("open"), Some(1)),
            "{v}"
        );
        let sent = updates().await;
        assert_eq!(sent.len(), 1, "{backend:?}");
        assert!(sent[0].contains("\"positions_filled\":1"), "{}", sent[0]);
        // The offer page says what is left.
        let cookie = crate::support::ui_login(&node, "rh@logistique.fr").await;
        let page = crate::support::get(&node, Some(&cookie), &format!("/ui/offres/{o}")).await;
        assert!(
            page.body
                .contains("1 pourvu par le réseau, 2 encore à pourvoir"),
            "{}",
            page.body
        );

        // A refusal changes no count: nothing is broadcast.
        let (st, _) = node
            .post(
                &employer,
                "/api/v1/referrals/ref-2/status",
                &json!({"status": "refused", "reason": "lacking_skills"}),
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(updates().await.len(), 1);

        // Lowering the positions to the hires made closes it.
        let mut edit = body.clone();
        edit["workplaces"] = json!([{"commune_insee": "41018", "positions": 1}]);
        let (st, v) = node
            .put(&employer, &format!("/api/v1/offers/{o}"), &edit)
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "closed", "{v}");
        assert_eq!(v["positions_filled"], 1, "{v}");
        let last = updates().await;
        assert!(last.last().unwrap().contains("\"positions_filled\":1"));
        let (_, r) = node.get(&employer, "/api/v1/referrals/ref-3").await;
        assert_eq!(
            (r["status"].as_str(), r["reason"].as_str()),
            (Some("refused"), Some("position_filled")),
            "{r}"
        );

        // A received offer shows its origin's count.
        remote_offer(&node, "node-a", "offer-a1", ContractType::Cdi, None).await;
        let (_, v) = node.get(&employer, "/api/v1/offers/offer-a1").await;
        assert!(v.get("positions_filled").is_none(), "0 is omitted: {v}");
        let stored = vivier_node::offers::get_offer(&node.state.db, "offer-a1")
            .await
            .unwrap()
            .unwrap();
        let mut p = stored.payload.clone();
        p.workplaces[0].positions = 3;
        p.positions_filled = 2;
        p.updated_at += 1;
        store_received(&node, &p).await;
        let (_, v) = node.get(&employer, "/api/v1/offers/offer-a1").await;
        assert_eq!(
            (v["status"].as_str(), v["positions_filled"].as_i64()),
            (Some("open"), Some(2)),
            "{v}"
        );
        node.stop().await;
    }
}
