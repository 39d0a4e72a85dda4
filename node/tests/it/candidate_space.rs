//! The candidate space (`/moi/`, issue #19) over HTTP, on every backend: a
//! person invited from their record reaches their own record and nothing
//! else — staff API and UI routes refuse their session (403, audited
//! `access.refused`, nothing leaked) — corrects it, exports it, asks for
//! erasure, and loses access when the counsellor erases the record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{backends, get, post, start_node_with_clock, Backend, TestNode};
use serde_json::{json, Value};
use sqlx::Row;
use vivier_node::auth::Role;
use vivier_node::clock::ManualClock;
use vivier_node::mail::Security;
use vivier_testkit::smtp::SmtpSink;

const PERSON_PASSWORD: &str = "hérisson vaporeux contrebasse automnale";

fn token_of(link: &str) -> String {
    link.split("jeton=").nth(1).unwrap().to_string()
}

/// The `name=value` of a Set-Cookie header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

struct Seeded {
    counsellor: String,
    admin: String,
    person: String,
    other: String,
}

async fn seed(node: &TestNode) -> Seeded {
    let counsellor = node
        .user(Role::Counsellor, "claire@mission-emploi.fr")
        .await;
    let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
    let (st, c) = node
        .post(
            &counsellor,
            "/api/v1/candidates",
            &json!({"first_name": "Léa", "last_name": "Martin", "commune_insee": "41018",
                    "email": "lea.martin@exemple.fr", "phone": "06 11 22 33 44",
                    "rome_codes": ["N1103"], "job_titles": ["Préparatrice de commandes"],
                    "consent_scope": "network",
                    "sensitive": {"rsa_beneficiary": true, "health_notes": "Asthme léger"}}),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let person = c["id"].as_str().unwrap().to_string();
    let (st, c) = node
        .post(
            &counsellor,
            "/api/v1/candidates",
            &json!({"first_name": "Bérénice", "last_name": "Secretname", "commune_insee": "41018",
                    "rome_codes": ["N1103"], "consent_scope": "network",
                    "cv_text": "Préparatrice de commandes, cariste Secretname"}),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let other = c["id"].as_str().unwrap().to_string();
    Seeded {
        counsellor,
        admin,
        person,
        other,
    }
}

/// Invite the person and open the space with a password: the candidate
/// cookie (`name=value`).
async fn open_space(node: &TestNode, s: &Seeded) -> String {
    let (st, inv) = node
        .post(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/invitation", s.person),
            &json!({}),
        )
        .await;
    assert_eq!(st, 201, "{inv}");
    let link = inv["link"].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{}/moi/invitation?jeton=", node.base)));
    let jeton = token_of(&link);
    let page = get(node, None, &format!("/moi/invitation?jeton={jeton}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Choisir un mot de passe"));
    assert!(!page.body.contains("Martin"), "the page names no one");
    // A weak password is refused in French; the link still works after.
    let weak = post(
        node,
        None,
        "/moi/invitation",
        &[
            ("jeton", &jeton),
            ("nouveau", "soleil2024"),
            ("confirmation", "soleil2024"),
        ],
    )
    .await;
    assert_eq!(weak.status, 422);
    let done = post(
        node,
        None,
        "/moi/invitation",
        &[
            ("jeton", &jeton),
            ("nouveau", PERSON_PASSWORD),
            ("confirmation", PERSON_PASSWORD),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/moi/"));
    let set = done.set_cookie.expect("cookie");
    assert!(
        set.contains("Path=/moi") && set.contains("HttpOnly") && set.contains("SameSite=Strict")
    );
    // Single use.
    let again = post(
        node,
        None,
        "/moi/invitation",
        &[("jeton", &jeton), ("sans_mot_de_passe", "oui")],
    )
    .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("déjà servi"), "{}", again.body);
    cookie_pair(&set)
}

async fn audit_count(node: &TestNode, action: &str, role: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1 AND actor_role = $2")
        .bind(action)
        .bind(role)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_candidate_reaches_their_own_record_and_nothing_else() {
    for backend in backends() {
        confined(&backend).await;
    }
}

async fn confined(backend: &Backend) {
    let clock = ManualClock::starting_now();
    let node = start_node_with_clock(backend, clock.shared(), |_| {}).await;
    let s = seed(&node).await;
    let cookie = open_space(&node, &s).await;
    let token = cookie.split_once('=').unwrap().1.to_string();
    assert!(token.starts_with("vmo_"));

    // Their own record, without the restricted fields.
    let own = get(&node, Some(&cookie), "/moi/").await;
    assert_eq!(own.status, 200);
    let body = own.body.clone();
    assert!(body.contains("Léa Martin") && body.contains("06 11 22 33 44"));
    assert!(!body.contains("Asthme") && !body.contains("Secretname"));

    // Staff API with the person's session, as a bearer token: refused,
    // nothing about anyone in the answer.
    let staff_routes = [
        ("GET", format!("/api/v1/candidates/{}", s.other)),
        ("GET", format!("/api/v1/candidates/{}", s.person)),
        ("GET", "/api/v1/candidates/search?q=cariste".to_string()),
        ("GET", "/api/v1/candidates".to_string()),
        ("GET", format!("/api/v1/candidates/{}/matches", s.person)),
        ("GET", format!("/api/v1/candidates/{}/notices", s.person)),
        ("GET", "/api/v1/stats".to_string()),
        ("GET", "/api/v1/audit".to_string()),
        ("GET", "/api/v1/users".to_string()),
        ("GET", "/api/v1/me".to_string()),
        ("GET", "/api/v1/referrals".to_string()),
        ("GET", "/api/v1/reports?year=2026".to_string()),
        ("POST", format!("/api/v1/candidates/{}/invitation", s.other)),
        ("POST", "/api/v1/candidates".to_string()),
    ];
    for (method, path) in &staff_routes {
        let req = node
            .client
            .request(method.parse().unwrap(), node.url(path))
            .bearer_auth(&token);
        let req = if *method == "POST" {
            req.json(&json!({"first_name": "X"}))
        } else {
            req
        };
        let r = crate::support::page(req.send().await.unwrap()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let text = &r.body;
        assert!(
            !text.contains("Secretname") && !text.contains("Martin") && !text.contains("lea."),
            "{path} leaked: {text}"
        );
        let problem: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(problem["status"], 403, "{problem}");
    }
    // Staff pages with the person's cookie (as if sent to /ui): refused too.
    let ui_routes = [
        format!("/ui/candidats/{}", s.other),
        "/ui/candidats?q=cariste".to_string(),
        "/ui/".to_string(),
        "/ui/rapports".to_string(),
    ];
    for path in &ui_routes {
        let r = get(&node, Some(&cookie), path).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(!r.body.contains("Secretname"), "{path}");
        assert!(r.body.contains("Accès refusé"), "{path}");
    }
    let refused = sqlx::query(
        "SELECT actor_id, target_kind, target_id, details FROM audit_log \
         WHERE action = 'access.refused' AND actor_role = 'candidate' ORDER BY id",
    )
    .fetch_all(&node.state.db.pool)
    .await
    .unwrap();
    assert_eq!(refused.len(), staff_routes.len() + ui_routes.len());
    let first_path: String = refused[0].try_get("target_id").unwrap();
    assert_eq!(first_path, format!("/api/v1/candidates/{}", s.other));
    let kind: String = refused[0].try_get("target_kind").unwrap();
    assert_eq!(kind, "route");

    // A forged candidate token is nobody: 401, not audited.
    let r = node
        .client
        .get(node.url("/api/v1/stats"))
        .bearer_auth("vmo_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        audit_count(&node, "access.refused", "candidate").await,
        i64::try_from(refused.len()).unwrap()
    );

    // The person cannot express interest in an offer that is not theirs
    // to see, nor reach another record through the space's routes.
    let r = post(&node, Some(&cookie), "/moi/offres/nope/interet", &[]).await;
    assert_eq!(r.status, 404);
    let r = get(&node, Some(&cookie), &format!("/moi/{}", s.other)).await;
    assert_eq!(r.status, 404);
    assert!(!r.body.contains("Secretname"));

    // A staff session gets nothing from the space either.
    let staff_cookie = node.ui_cookie("claire@mission-emploi.fr").await;
    let r = get(&node, Some(&staff_cookie), "/moi/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/moi/connexion"));

    // Every read of the record by the person is audited with them as actor.
    let reads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'candidate.read' AND actor_role = 'candidate' AND target_id = $1",
    )
    .bind(&s.person)
    .fetch_one(&node.state.db.pool)
    .await
    .unwrap();
    assert_eq!(reads, 1);

    // Installable: the manifest and its icons are served without a session.
    let m = get(&node, None, "/moi/manifest.webmanifest").await;
    assert_eq!(m.status, 200);
    let manifest: Value = serde_json::from_str(&m.body).unwrap();
    assert_eq!(manifest["start_url"], "/moi/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["lang"], "fr");
    for icon in manifest["icons"].as_array().unwrap() {
        let r = node
            .client
            .get(node.url(icon["src"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], icon["type"].as_str().unwrap());
        let bytes = r.bytes().await.unwrap();
        if let Some((w, _)) = icon["sizes"].as_str().unwrap().split_once('x') {
            // PNG: width at bytes 16..20 of the IHDR chunk.
            let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            assert_eq!(width.to_string(), w);
        }
    }
    let csp = node
        .client
        .get(node.url("/moi/connexion"))
        .send()
        .await
        .unwrap()
        .headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("manifest-src 'self'") && !csp.contains("script-src"),
        "{csp}"
    );

    // Logout ends the session.
    let r = post(&node, Some(&cookie), "/moi/deconnexion", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(get(&node, Some(&cookie), "/moi/").await.status, 303);
    // The password chosen opens the space again; a wrong one is counted
    // like a staff login failure.
    let bad = post(
        &node,
        None,
        "/moi/connexion",
        &[
            ("email", "lea.martin@exemple.fr"),
            ("password", "pas le bon"),
        ],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("incorrect"));
    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login_failed' AND target_kind = 'candidate_account'",
    )
    .fetch_one(&node.state.db.pool)
    .await
    .unwrap();
    assert_eq!(failures, 1);
    let ok = post(
        &node,
        None,
        "/moi/connexion",
        &[
            ("email", "Lea.Martin@exemple.fr"),
            ("password", PERSON_PASSWORD),
        ],
    )
    .await;
    assert_eq!(ok.status, 303);
    assert!(ok
        .set_cookie
        .unwrap()
        .starts_with("vivier_moi_test-node=vmo_"));
    node.stop().await;
}

#[tokio::test]
async fn corrections_export_and_erasure_end_access() {
    for backend in backends() {
        rights(&backend).await;
    }
}

async fn rights(backend: &Backend) {
    let clock = ManualClock::starting_now();
    let node = start_node_with_clock(backend, clock.shared(), |_| {}).await;
    let s = seed(&node).await;
    let cookie = open_space(&node, &s).await;

    // A correction: validated like the counsellor's input, flagged.
    let bad = post(
        &node,
        Some(&cookie),
        "/moi/modifier",
        &[("phone", "appelez-moi"), ("email", "lea.martin@exemple.fr")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("phone-erreur"), "{}", bad.body);
    let ok = post(
        &node,
        Some(&cookie),
        "/moi/modifier",
        &[
            ("phone", "07 98 76 54 32"),
            ("email", "lea.martin@exemple.fr"),
            ("job_titles", "Préparatrice de commandes\nCariste"),
            ("max_travel_km", "25"),
            ("contract_types", "CDI"),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (st, rec) = node
        .get(&s.counsellor, &format!("/api/v1/candidates/{}", s.person))
        .await;
    assert_eq!(st, 200);
    assert_eq!(rec["phone"], "07 98 76 54 32");
    assert_eq!(rec["max_travel_km"], 25);
    assert_eq!(rec["rome_codes"], json!(["N1103"]), "untouched");
    assert_eq!(
        rec["sensitive"]["health_notes"], "Asthme léger",
        "untouched"
    );
    let (st, notices) = node
        .get(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/notices", s.person),
        )
        .await;
    assert_eq!(st, 200);
    let change = notices["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "change")
        .expect("a change notice");
    let fields: Vec<&str> = change["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"phone") && fields.contains(&"max_travel_km"),
        "{fields:?}"
    );
    // The counsellor sees it on the record page and the dashboard.
    let staff_cookie = node.ui_cookie("claire@mission-emploi.fr").await;
    let (_, dash) = node.ui_get(&staff_cookie, "/ui/").await;
    assert!(dash.contains("Demandes des personnes"), "{dash}");
    assert!(dash.contains("téléphone"), "{dash}");

    // An offer that fits: listed with its reasons; « Ça m'intéresse »
    // once (twice is the same interest); no referral is created.
    let employer = node.user(Role::Employer, "rh@logistique.fr").await;
    let (st, o) = node
        .post(
            &employer,
            "/api/v1/offers",
            &json!({"title": "Préparateur de commandes H/F",
                    "description": "Préparation de commandes au scanner, filmage des palettes.",
                    "rome_code": "N1103", "contract_type": "CDI", "weekly_hours": 35,
                    "employer": {"name": "Entrepôts du Centre"},
                    "workplaces": [{"commune_insee": "41018", "positions": 1}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let offer = o["offer_id"].as_str().unwrap().to_string();
    node.sync_index().await;
    let list = get(&node, Some(&cookie), "/moi/offres").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("Préparateur de commandes H&#x2f;F"),
        "{}",
        list.body
    );
    assert!(list.body.contains("même code ROME"), "{}", list.body);
    for _ in 0..2 {
        let r = post(
            &node,
            Some(&cookie),
            &format!("/moi/offres/{offer}/interet"),
            &[],
        )
        .await;
        assert_eq!(r.status, 303);
    }
    let (_, notices) = node
        .get(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/notices", s.person),
        )
        .await;
    let interests: Vec<&Value> = notices["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "interest")
        .collect();
    assert_eq!(interests.len(), 1, "{notices}");
    assert_eq!(interests[0]["offer_id"], offer.as_str());
    let referrals: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM referrals")
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
    assert_eq!(referrals, 0, "co-optation stays the counsellor's act");

    // Consent withdrawn and given back, by the person.
    assert_eq!(
        post(
            &node,
            Some(&cookie),
            "/moi/consentement",
            &[("action", "retirer")]
        )
        .await
        .status,
        303
    );
    assert_eq!(
        post(
            &node,
            Some(&cookie),
            "/moi/consentement",
            &[("portee", "local")]
        )
        .await
        .status,
        303
    );

    // The export: every section, the restricted fields included, the
    // person's own reads and the counsellor's listed.
    let r = get(&node, Some(&cookie), "/moi/donnees.json").await;
    assert_eq!(r.status, 200);
    let e: Value = serde_json::from_str(&r.body).unwrap();
    for section in [
        "record",
        "restricted",
        "cv_versions",
        "consents",
        "referrals",
        "reads",
    ] {
        assert!(e.get(section).is_some(), "section {section} missing: {e}");
    }
    assert_eq!(e["record"]["phone"], "07 98 76 54 32");
    assert_eq!(e["restricted"]["rsa_beneficiary"], true);
    assert_eq!(e["consents"]["current"]["scope"], "local");
    let history: Vec<&str> = e["consents"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(history, vec!["withdrawn", "given"]);
    let readers: Vec<&str> = e["reads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["role"].as_str())
        .collect();
    assert!(
        readers.contains(&"counsellor") && readers.contains(&"candidate"),
        "{readers:?}"
    );
    assert!(!r.body.contains("Secretname"));
    let pdf = get(&node, Some(&cookie), "/moi/donnees.pdf").await;
    assert_eq!(pdf.status, 200);
    assert!(pdf.body.starts_with("%PDF-"));
    assert!(audit_count(&node, "candidate.export", "candidate").await >= 2);

    // Erasure: asked by the person, confirmed by the counsellor through
    // the existing erasure; the access ends with the record.
    let r = post(
        &node,
        Some(&cookie),
        "/moi/effacement",
        &[("confirmer", "oui")],
    )
    .await;
    assert_eq!(r.status, 303);
    let (_, dash) = node.ui_get(&staff_cookie, "/ui/").await;
    assert!(
        dash.contains("demande l&#x27;effacement de ses données"),
        "{dash}"
    );
    let (st, _) = node
        .delete(&s.counsellor, &format!("/api/v1/candidates/{}", s.person))
        .await;
    assert_eq!(st, 204);
    let r = get(&node, Some(&cookie), "/moi/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/moi/connexion"));
    for table in [
        "candidate_accounts",
        "candidate_sessions",
        "candidate_links",
        "candidate_notices",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let login = post(
        &node,
        None,
        "/moi/connexion",
        &[
            ("email", "lea.martin@exemple.fr"),
            ("password", PERSON_PASSWORD),
        ],
    )
    .await;
    assert_eq!(login.status, 401);
    let _ = s.admin;
    node.stop().await;
}

#[tokio::test]
async fn invitation_and_login_links_arrive_by_mail() {
    for backend in backends() {
        links_by_mail(&backend).await;
    }
}

async fn links_by_mail(backend: &Backend) {
    let mut sink = SmtpSink::start().await;
    let port = sink.port();
    let clock = ManualClock::starting_now();
    let node = start_node_with_clock(backend, clock.shared(), move |c| {
        c.mail.enabled = true;
        c.mail.host = "127.0.0.1".into();
        c.mail.port = port;
        c.mail.security = Security::None;
    })
    .await;
    let s = seed(&node).await;
    let wait = Duration::from_secs(30);

    // A record without an e-mail cannot be invited (stable code).
    let (st, p) = node
        .post(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/invitation", s.other),
            &json!({}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(p["errors"][0]["code"], "email_required", "{p}");

    // The first invitation expires unused; the second replaces it.
    let (st, first) = node
        .post(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/invitation", s.person),
            &json!({}),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(first["mailed_to"], "lea.martin@exemple.fr");
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    let mail = sink.next_message(wait).await;
    assert_eq!(mail.to, vec!["lea.martin@exemple.fr".to_string()]);
    assert!(
        mail.subject.starts_with("Votre espace personnel sur "),
        "{}",
        mail.subject
    );
    assert!(!mail.text.contains("Martin"), "no record data in the mail");
    let link = mail.link_containing("/moi/invitation?jeton=").unwrap();
    assert_eq!(link, first["link"].as_str().unwrap());
    clock.advance(Duration::from_secs(73 * 3600));
    let r = post(
        &node,
        None,
        "/moi/invitation",
        &[("jeton", &token_of(&link)), ("sans_mot_de_passe", "oui")],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("expiré"), "{}", r.body);
    let (_, second) = node
        .post(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/invitation", s.person),
            &json!({}),
        )
        .await;
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    let link2 = sink
        .next_message(wait)
        .await
        .link_containing("/moi/invitation?jeton=")
        .unwrap();
    assert_eq!(link2, second["link"].as_str().unwrap());

    // No password: the space opens, and later logins use mailed links.
    let r = post(
        &node,
        None,
        "/moi/invitation",
        &[("jeton", &token_of(&link2)), ("sans_mot_de_passe", "oui")],
    )
    .await;
    assert_eq!(r.status, 303);
    let (st, _) = node
        .post(
            &s.counsellor,
            &format!("/api/v1/candidates/{}/invitation", s.person),
            &json!({}),
        )
        .await;
    assert_eq!(st, 409, "already has access");
    // A password login fails for an account without one (counted).
    let r = post(
        &node,
        None,
        "/moi/connexion",
        &[("email", "lea.martin@exemple.fr"), ("password", "")],
    )
    .await;
    assert_eq!(r.status, 401);

    let unknown = post(
        &node,
        None,
        "/moi/lien-connexion",
        &[("email", "personne@exemple.fr")],
    )
    .await;
    let known = post(
        &node,
        None,
        "/moi/lien-connexion",
        &[("email", "lea.martin@exemple.fr")],
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.location.clone()),
        (known.status, known.location.clone())
    );
    assert_eq!(known.location.as_deref(), Some("/moi/connexion?ok=lien"));
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    let mail = sink.next_message(wait).await;
    assert_eq!(mail.to, vec!["lea.martin@exemple.fr".to_string()]);
    let link = mail.link_containing("/moi/lien?jeton=").unwrap();
    // Opening the link (a GET, as a mail scanner would) spends nothing.
    let page = get(&node, None, &link.replace(&node.base, "")).await;
    assert_eq!(page.status, 200);
    let r = post(&node, None, "/moi/lien", &[("jeton", &token_of(&link))]).await;
    assert_eq!(r.status, 303);
    let cookie = cookie_pair(&r.set_cookie.unwrap());
    assert_eq!(get(&node, Some(&cookie), "/moi/").await.status, 200);
    let again = post(&node, None, "/moi/lien", &[("jeton", &token_of(&link))]).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("déjà servi"));
    assert_eq!(audit_count(&node, "auth.login", "candidate").await, 1);
    node.stop().await;
}
