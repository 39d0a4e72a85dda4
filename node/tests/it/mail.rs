//! Outgoing mail and password reset, over HTTP against a real node and a
//! real SMTP server (`vivier_testkit::smtp::SmtpSink`), on SQLite and
//! PostgreSQL. Time is a `ManualClock`: expiry and back-off are reached by
//! moving it, never by sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{backends, start_node_with_clock, Backend, TestNode};
use serde_json::{json, Value};
use vivier_node::auth::Role;
use vivier_node::clock::ManualClock;
use vivier_node::config::Config;
use vivier_node::mail::{Mail, Queued, Recipient, Security};
use vivier_testkit::smtp::SmtpSink;

const WAIT: Duration = Duration::from_secs(30);
const OLD_PASSWORD: &str = "motdepasse-solide";
const NEW_PASSWORD: &str = "girafe lampadaire orageux tricot";

/// Mail on, through the SMTP server on 127.0.0.1:`port`, without TLS.
fn mail_to(port: u16) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.mail.enabled = true;
        c.mail.host = "127.0.0.1".into();
        c.mail.port = port;
        c.mail.security = Security::None;
        c.mail.from_address = "ne-pas-repondre@vivier.test".into();
        c.mail.from_name = "Vivier (test)".into();
    }
}

async fn ask_reset(node: &TestNode, email: &str) -> (u16, Value) {
    let r = node
        .client
        .post(node.url("/api/v1/auth/password-reset"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn confirm(node: &TestNode, token: &str, password: &str) -> (u16, Value) {
    let r = node
        .client
        .post(node.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({ "token": token, "password": password }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn login(node: &TestNode, email: &str, password: &str) -> u16 {
    node.client
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn token_of(link: &str) -> String {
    link.split_once("jeton=")
        .expect("token in link")
        .1
        .to_string()
}

fn field_code(body: &Value, field: &str) -> Option<String> {
    body["errors"]
        .as_array()?
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["code"].as_str().map(str::to_string))
}

async fn audit_actions(node: &TestNode, admin: &str, action: &str) -> Vec<Value> {
    let (s, entries) = node
        .get(
            admin,
            &format!("/api/v1/audit?action={action}&per_page=200"),
        )
        .await;
    assert_eq!(s, 200, "{entries}");
    entries["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn mail_is_off_by_default_nothing_is_queued_nor_sent() {
    for backend in backends() {
        let sink = SmtpSink::start().await;
        let clock = ManualClock::starting_now();
        // Pointed at a live SMTP server, but not enabled.
        let port = sink.port();
        // Pointed at it, `enabled` left at its default.
        let node = start_node_with_clock(&backend, clock.shared(), move |c| {
            let enabled = c.mail.enabled;
            mail_to(port)(c);
            c.mail.enabled = enabled;
        })
        .await;
        assert!(!node.state.config.mail.enabled, "{}", backend.name());
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        node.user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let (s, body) = ask_reset(&node, "claire@mission-emploi.fr").await;
        assert_eq!(s, 202, "{body}");
        let report = node.state.mail.deliver_due(&node.state.db).await.unwrap();
        assert_eq!(report, Default::default());
        assert!(vivier_node::mail::outbox(&node.state.db)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            sink.connections(),
            0,
            "a disabled node opened an SMTP connection"
        );
        let requested = audit_actions(&node, &admin, "auth.password_reset_requested").await;
        assert_eq!(requested.len(), 1);
        assert_eq!(requested[0]["details"]["outcome"], "mail_disabled");
        node.stop().await;
    }
}

#[tokio::test]
async fn password_reset_by_mail_end_to_end() {
    for backend in backends() {
        reset_journey(&backend).await;
    }
}

async fn reset_journey(backend: &Backend) {
    let mut sink = SmtpSink::start().await;
    let clock = ManualClock::starting_now();
    let node = start_node_with_clock(backend, clock.shared(), mail_to(sink.port())).await;
    let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
    let email = "claire@mission-emploi.fr";
    node.user(Role::Counsellor, email).await;
    assert_eq!(login(&node, email, OLD_PASSWORD).await, 200);

    // Unknown and known accounts get the same answer.
    let unknown = ask_reset(&node, "personne@mission-emploi.fr").await;
    let known = ask_reset(&node, "  Claire@Mission-Emploi.FR ").await;
    assert_eq!(unknown.0, 202);
    assert_eq!(
        unknown, known,
        "answers differ between unknown and known accounts"
    );

    let mail = sink.next_message(WAIT).await;
    assert_eq!(mail.envelope_to, vec![email.to_string()]);
    assert_eq!(mail.to, vec![email.to_string()]);
    assert_eq!(mail.from.as_deref(), Some("ne-pas-repondre@vivier.test"));
    assert_eq!(
        mail.subject,
        "Réinitialisation de votre mot de passe Vivier"
    );
    assert!(
        mail.text.contains("Bonjour Test claire@mission-emploi.fr"),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("Choisir un nouveau mot de passe"),
        "{}",
        mail.html
    );
    assert!(mail.message_id.is_some());
    let link = mail
        .link_containing("/ui/reinitialisation?jeton=")
        .expect("link");
    assert!(link.starts_with(&node.base), "{link}");
    let token = token_of(&link);

    // Asked again at once: still 202, no second mail.
    assert_eq!(ask_reset(&node, email).await.0, 202);
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    assert_eq!(
        vivier_node::mail::outbox(&node.state.db)
            .await
            .unwrap()
            .len(),
        1
    );

    // A forged expiry breaks the signature.
    let mut parts: Vec<&str> = token.split('.').collect();
    let later = (clock.shared().now_ms() + 86_400_000).to_string();
    parts[1] = &later;
    let (s, body) = confirm(&node, &parts.join("."), NEW_PASSWORD).await;
    assert_eq!(
        (s, field_code(&body, "token").as_deref()),
        (400, Some("reset_token_invalid")),
        "{body}"
    );

    // The password policy applies; the link is not used up by a refusal.
    let (s, body) = confirm(&node, &token, "azerty123").await;
    assert_eq!(s, 400, "{body}");
    assert!(
        field_code(&body, "password").is_some_and(|c| c.starts_with("password_too_")),
        "{body}"
    );

    let (s, body) = confirm(&node, &token, NEW_PASSWORD).await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(login(&node, email, OLD_PASSWORD).await, 401);
    assert_eq!(login(&node, email, NEW_PASSWORD).await, 200);

    // Single use.
    let (s, body) = confirm(&node, &token, "une autre phrase tout aussi longue").await;
    assert_eq!(
        (s, field_code(&body, "token").as_deref()),
        (400, Some("reset_token_used")),
        "{body}"
    );

    // A new link, past its lifetime (30 minutes) by the node's clock.
    clock.advance(Duration::from_secs(61));
    assert_eq!(ask_reset(&node, email).await.0, 202);
    let second = token_of(
        &sink
            .next_message(WAIT)
            .await
            .link_containing("jeton=")
            .expect("link"),
    );
    clock.advance(Duration::from_secs(31 * 60));
    let (s, body) = confirm(&node, &second, "une autre phrase tout aussi longue").await;
    assert_eq!(
        (s, field_code(&body, "token").as_deref()),
        (400, Some("reset_token_expired")),
        "{body}"
    );
    assert_eq!(login(&node, email, NEW_PASSWORD).await, 200);

    // Every step is in the audit log.
    let requested = audit_actions(&node, &admin, "auth.password_reset_requested").await;
    let outcomes: Vec<&str> = requested
        .iter()
        .filter_map(|e| e["details"]["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        vec!["unknown_account", "queued", "recently_sent", "queued"],
        "{}",
        backend.name()
    );
    let reasons: Vec<String> = audit_actions(&node, &admin, "auth.password_reset_refused")
        .await
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        reasons,
        vec![
            "reset_token_invalid",
            "reset_token_used",
            "reset_token_expired"
        ]
    );
    assert_eq!(
        audit_actions(&node, &admin, "auth.password_reset")
            .await
            .len(),
        1
    );
    // Counted for Prometheus.
    let metrics = node
        .client
        .get(node.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vivier_mail_queued_total{kind=\"password_reset\"}")
            && metrics.contains("vivier_mail_sent_total"),
        "{metrics}"
    );
    let sent = vivier_node::mail::outbox(&node.state.db).await.unwrap();
    assert!(
        sent.iter()
            .all(|m| m.status == "sent" && m.kind == "password_reset"),
        "{sent:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn smtp_down_the_message_waits_in_the_outbox_across_a_restart() {
    for backend in backends() {
        // A port where nothing listens yet.
        let port = {
            let sink = SmtpSink::start().await;
            let port = sink.port();
            sink.stop().await;
            port
        };
        let clock = ManualClock::starting_now();
        let node = start_node_with_clock(&backend, clock.shared(), mail_to(port)).await;
        let email = "claire@mission-emploi.fr";
        node.user(Role::Counsellor, email).await;
        assert_eq!(ask_reset(&node, email).await.0, 202);

        // Whoever tried first (the worker, woken by the request, or this
        // pass), the message was tried once and is waiting.
        node.state.mail.deliver_due(&node.state.db).await.unwrap();
        let queued = vivier_node::mail::outbox(&node.state.db).await.unwrap();
        assert_eq!(queued.len(), 1, "{}", backend.name());
        assert_eq!(
            (queued[0].status.as_str(), queued[0].attempts),
            ("pending", 1)
        );
        assert!(queued[0].last_error.is_some());
        assert_eq!(
            queued[0].next_attempt_at,
            clock.shared().now_ms() + 60_000,
            "first back-off is backoff_initial_secs"
        );

        // The node restarts; the server comes back; nothing is due yet.
        let node = node.restart(clock.shared()).await;
        let mut sink = SmtpSink::start_on(port).await;
        let report = node.state.mail.deliver_due(&node.state.db).await.unwrap();
        assert_eq!(report.sent, 0);
        assert_eq!(sink.connections(), 0);

        // Once the back-off has passed, it is sent.
        clock.advance(Duration::from_secs(61));
        node.state.mail.deliver_due(&node.state.db).await.unwrap();
        let mail = sink.next_message(WAIT).await;
        assert_eq!(mail.to, vec![email.to_string()]);
        assert!(mail.link_containing("jeton=").is_some());
        let after = vivier_node::mail::outbox(&node.state.db).await.unwrap();
        assert_eq!((after[0].status.as_str(), after[0].attempts), ("sent", 2));
        // The body (which held the link) is not kept once sent.
        let body: String = sqlx::query_scalar("SELECT body_text FROM mail_outbox")
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        assert!(body.is_empty());
        node.stop().await;
    }
}

/// Queue `mail` for `address` in a transaction, then commit it or roll it
/// back (and wake the worker either way).
async fn queue(
    node: &TestNode,
    address: &str,
    mail: Mail,
    commit: bool,
) -> Result<Queued, vivier_node::error::Error> {
    let mut tx = node.state.db.begin().await.unwrap();
    let to = Recipient {
        address,
        name: Some("Claire"),
    };
    let queued = node.state.mail.enqueue(&mut tx, to, &mail).await;
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    node.state.mail.wake();
    queued
}

fn reset_mail(node: &TestNode) -> Mail {
    Mail::PasswordReset {
        display_name: "Claire".into(),
        link: node.state.mail.link("/ui/x"),
        valid_minutes: 30,
    }
}

#[tokio::test]
async fn queued_with_the_callers_transaction_and_refusals_are_final() {
    let mut sink = SmtpSink::start().await;
    let clock = ManualClock::starting_now();
    let node = start_node_with_clock(&Backend::Sqlite, clock.shared(), mail_to(sink.port())).await;
    let claire = "claire@mission-emploi.fr";
    // Rolled back: nothing is kept, nothing is sent.
    let queued = queue(&node, claire, reset_mail(&node), false)
        .await
        .unwrap();
    assert!(matches!(queued, Queued::Queued(_)));
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    assert!(vivier_node::mail::outbox(&node.state.db)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(sink.messages().len(), 0);
    // An unusable address is refused when queued.
    let err = queue(&node, "pas une adresse", reset_mail(&node), false)
        .await
        .expect_err("refused");
    assert_eq!(err.status_code().as_u16(), 400);
    // Committed: sent with both parts.
    let answered = Mail::ReferralAnswered {
        display_name: "Claire".into(),
        offer_title: "Aide à domicile".into(),
        status: "Embauché".into(),
        comment: Some("Début lundi à 8 h".into()),
        link: node.state.mail.link("/ui/mises-en-relation/1"),
    };
    queue(&node, claire, answered, true).await.unwrap();
    let mail = sink.next_message(WAIT).await;
    assert!(mail.subject.contains("Embauché"), "{}", mail.subject);
    assert!(!mail.text.is_empty() && !mail.html.is_empty());
    assert!(
        mail.text.contains("Son message : « Début lundi à 8 h »"),
        "{}",
        mail.text
    );
    assert_eq!(mail.from_name.as_deref(), Some("Vivier (test)"));

    // The server refuses the mailbox (550): failed at once, never retried.
    let gone = "parti@mission-emploi.fr";
    sink.refuse_recipient(gone);
    queue(&node, gone, reset_mail(&node), true).await.unwrap();
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    let rows = vivier_node::mail::outbox(&node.state.db).await.unwrap();
    let refused = rows.iter().find(|r| r.recipient == gone).unwrap();
    assert_eq!(
        (refused.status.as_str(), refused.attempts),
        ("failed", 1),
        "{refused:?}"
    );
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{refused:?}"
    );
    clock.advance(Duration::from_secs(7200));
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
    // Past keep_days (30), sent and failed rows go.
    assert_eq!(
        vivier_node::mail::outbox(&node.state.db)
            .await
            .unwrap()
            .len(),
        2
    );
    clock.advance(Duration::from_secs(31 * 86_400));
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    assert!(vivier_node::mail::outbox(&node.state.db)
        .await
        .unwrap()
        .is_empty());
    node.stop().await;
}

#[tokio::test]
async fn reset_pages_speak_french_and_refuse_without_changing_anything() {
    for backend in backends() {
        let sink = SmtpSink::start().await;
        let clock = ManualClock::starting_now();
        let port = sink.port();
        let node = start_node_with_clock(&backend, clock.shared(), move |c| {
            mail_to(port)(c);
            c.auth.login.per_address_burst = 4;
            c.auth.login.per_address_per_minute = 1;
        })
        .await;
        node.user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let login = node
            .client
            .get(node.url("/ui/connexion"))
            .send()
            .await
            .unwrap();
        assert!(login
            .text()
            .await
            .unwrap()
            .contains("href=\"/ui/mot-de-passe-oublie\">Mot de passe oublié ?</a>"));

        let before = node.snapshot().await;
        // Hostile or empty input: French answers, nothing stored.
        let (s, _, body) = node
            .post_form("/ui/mot-de-passe-oublie", &[("email", "")])
            .await;
        assert_eq!(s, 400);
        assert!(
            body.contains("Indiquez l&#x27;adresse e-mail de votre compte.")
                || body.contains("Indiquez l'adresse e-mail"),
            "{body}"
        );
        let page = node
            .client
            .get(node.url("/ui/reinitialisation?jeton=abc.99999999999999.AAAA"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 400);
        assert!(page
            .text()
            .await
            .unwrap()
            .contains("Ce lien de réinitialisation n"));
        let (s, _, body) = node
            .post_form(
                "/ui/reinitialisation",
                &[
                    ("jeton", "%00\u{0}.-1.x"),
                    ("nouveau", NEW_PASSWORD),
                    ("confirmation", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(s, 400, "{body}");
        let (s, body) = ask_reset(&node, &format!("{}@x.fr", "a".repeat(100_000))).await;
        assert_eq!(s, 202, "{body}");
        let r = node
            .client
            .post(node.url("/api/v1/auth/password-reset"))
            .json(&json!({ "email": "claire@mission-emploi.fr", "extra": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let (s, body) = confirm(&node, &"x".repeat(10_000), NEW_PASSWORD).await;
        assert_eq!(
            (s, field_code(&body, "token").as_deref()),
            (400, Some("reset_token_invalid"))
        );
        node.assert_alive_and_unchanged(&before).await;

        // A real request through the form: the same French answer.
        let (s, _, body) = node
            .post_form(
                "/ui/mot-de-passe-oublie",
                &[("email", "claire@mission-emploi.fr")],
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert!(body.contains("Si un compte actif correspond"), "{body}");
        // Past the address's bucket (4 at once: the huge e-mail, the two
        // refused tokens and this request): 429 in French.
        let (s, retry, body) = node
            .post_form(
                "/ui/mot-de-passe-oublie",
                &[("email", "claire@mission-emploi.fr")],
            )
            .await;
        assert_eq!(s, 429, "{body}");
        assert_eq!(retry.as_deref(), Some("60"));
        assert!(body.contains("Trop de tentatives"), "{body}");
        // Refused links are audited from the web form as from the API.
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let vias: Vec<String> = audit_actions(&node, &admin, "auth.password_reset_refused")
            .await
            .iter()
            .filter_map(|e| e["details"]["via"].as_str().map(str::to_string))
            .collect();
        assert_eq!(vias, vec!["ui", "api"], "{}", backend.name());
        node.stop().await;
    }
}

#[tokio::test]
async fn starttls_is_required_nothing_goes_out_in_clear() {
    // The test server offers no STARTTLS: a node set to `starttls` must
    // not fall back to sending the link in clear.
    let sink = SmtpSink::start().await;
    let clock = ManualClock::starting_now();
    let port = sink.port();
    let node = start_node_with_clock(&Backend::Sqlite, clock.shared(), move |c| {
        mail_to(port)(c);
        c.mail.security = Security::Starttls;
    })
    .await;
    queue(&node, "claire@mission-emploi.fr", reset_mail(&node), true)
        .await
        .unwrap();
    node.state.mail.deliver_due(&node.state.db).await.unwrap();
    let rows = vivier_node::mail::outbox(&node.state.db).await.unwrap();
    assert_eq!(rows[0].status, "pending", "{rows:?}");
    assert!(rows[0].last_error.is_some(), "{rows:?}");
    assert!(sink.connections() >= 1, "the server was not even tried");
    assert!(sink.messages().is_empty(), "a message went out without TLS");
    node.stop().await;
}

/// The mails of a mission's day, each read off the SMTP server: an account
/// created without a password gets a link to choose it; the employer is
/// told of a new referral, the counsellor of the employer's answer; records
/// about to be anonymised are announced to their counsellor, once, grouped.
/// Without mail, an account needs a password (field error).
#[tokio::test]
async fn accounts_referrals_and_retention_are_told_by_mail() {
    for backend in backends() {
        let mut sink = SmtpSink::start().await;
        let clock = ManualClock::starting_now();
        let node = start_node_with_clock(&backend, clock.shared(), mail_to(sink.port())).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;

        // An account without a password: the holder chooses it by link.
        let (s, created) = node
            .post(
                &admin,
                "/api/v1/users",
                &json!({"email": "Lea@Mission-Emploi.fr", "display_name": "Léa Martin", "role": "counsellor"}),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        assert_eq!(created["welcome_mail"], true, "{created}");
        assert_eq!(created["email"], "lea@mission-emploi.fr");
        let mail = sink.next_message(WAIT).await;
        assert_eq!(mail.to, vec!["lea@mission-emploi.fr".to_string()]);
        assert!(
            mail.subject.starts_with("Votre compte Vivier"),
            "{}",
            mail.subject
        );
        assert!(mail.text.contains("Léa Martin"), "{}", mail.text);
        let link = mail
            .link_containing("/ui/reinitialisation?jeton=")
            .expect("link");
        assert_eq!(
            login(&node, "lea@mission-emploi.fr", NEW_PASSWORD).await,
            401
        );
        let (s, body) = confirm(&node, &token_of(&link), NEW_PASSWORD).await;
        assert_eq!(s, 204, "{body}");
        assert_eq!(
            login(&node, "lea@mission-emploi.fr", NEW_PASSWORD).await,
            200
        );
        // The admin account made by the operator (the test's set-up) is
        // audited as the node; the account the admin made, as the admin.
        let created_audit = audit_actions(&node, &admin, "user.create").await;
        assert_eq!(created_audit.len(), 2, "{created_audit:?}");
        assert_eq!(created_audit[0]["actor_role"], "system");
        assert_eq!(created_audit[0]["actor_id"], "cli");
        assert_eq!(created_audit[1]["actor_role"], "admin");
        assert_eq!(created_audit[1]["details"]["password"], "by_mail");

        // A referral: the employer is told, then the counsellor.
        let employer = node.user(Role::Employer, "rh@boulangerie.fr").await;
        let counsellor = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let (s, offer) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Vendeuse en boulangerie",
                    "description": "Vente, encaissement, mise en rayon.",
                    "rome_code": "D1106",
                    "contract_type": "CDI",
                    "weekly_hours": 35,
                    "workplaces": [{"commune_insee": "41018", "positions": 1}]
                }),
            )
            .await;
        assert_eq!(s, 201, "{offer}");
        let (s, cand) = node
            .post(
                &counsellor,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Inès", "last_name": "Roux", "email": "ines@exemple.fr",
                    "commune_insee": "41018", "max_travel_km": 20, "contract_types": ["CDI"],
                    "rome_codes": ["D1106"], "job_titles": ["Vendeuse"],
                    "cv_text": "Vendeuse en boulangerie, encaissement.", "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(s, 201, "{cand}");
        let (s, referral) = node
            .post(
                &counsellor,
                "/api/v1/referrals",
                &json!({"offer_id": offer["offer_id"], "candidate_id": cand["id"], "endorsement": "Sérieuse et ponctuelle."}),
            )
            .await;
        assert_eq!(s, 201, "{referral}");
        let rid = referral["id"].as_str().unwrap().to_string();
        let mail = sink.next_message(WAIT).await;
        assert_eq!(mail.to, vec!["rh@boulangerie.fr".to_string()]);
        assert_eq!(
            mail.subject,
            "Nouveau candidat proposé pour votre offre « Vendeuse en boulangerie »"
        );
        assert!(
            mail.text.contains("Test claire@mission-emploi.fr"),
            "{}",
            mail.text
        );
        assert!(
            !mail.text.contains("Inès"),
            "no candidate named: {}",
            mail.text
        );
        assert!(mail
            .link_containing(&format!("/ui/mises-en-relation/{rid}"))
            .is_some());
        let (s, v) = node
            .post(
                &employer,
                &format!("/api/v1/referrals/{rid}/status"),
                &json!({"status": "accepted", "contract_type": "CDI", "start_date": "2027-01-04"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let mail = sink.next_message(WAIT).await;
        assert_eq!(mail.to, vec!["claire@mission-emploi.fr".to_string()]);
        assert!(
            mail.subject.contains("embauche confirmée"),
            "{}",
            mail.subject
        );
        assert!(!mail.text.contains("Inès"), "{}", mail.text);

        // Retention: the record's last activity is pushed back to just
        // inside the reminder window; one sweep mails, a second does not.
        let now = clock.shared().now_ms();
        let months = node.state.config.retention.inactive_months;
        // Ten days before anonymisation (the reminder comes 30 days ahead).
        let back = now - (months * 365 / 12 - 10) * 86_400_000;
        sqlx::query("UPDATE candidates SET last_activity_at = $1")
            .bind(back)
            .execute(&node.state.db.pool)
            .await
            .unwrap();
        let report = vivier_node::candidates::retention_sweep(&node.state, now)
            .await
            .unwrap();
        assert_eq!(report.reminded, 1);
        let mail = sink.next_message(WAIT).await;
        assert_eq!(mail.to, vec!["claire@mission-emploi.fr".to_string()]);
        assert!(
            mail.subject.starts_with("1 fiche bientôt anonymisée"),
            "{}",
            mail.subject
        );
        let again = vivier_node::candidates::retention_sweep(&node.state, now)
            .await
            .unwrap();
        assert_eq!(again.reminded, 0);
        node.state.mail.deliver_due(&node.state.db).await.unwrap();
        assert_eq!(sink.messages().len(), 4, "no second reminder");
        node.stop().await;
    }
}

#[tokio::test]
async fn without_mail_an_account_needs_a_password() {
    for backend in backends() {
        let node = crate::support::start_node(&backend).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let (s, body) = node
            .post(
                &admin,
                "/api/v1/users",
                &json!({"email": "lea@mission-emploi.fr", "display_name": "Léa Martin", "role": "counsellor"}),
            )
            .await;
        assert_eq!(s, 400, "{body}");
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "password"),
            "{body}"
        );
        let (s, body) = node
            .post(
                &admin,
                "/api/v1/users",
                &json!({"email": "lea@mission-emploi.fr", "display_name": "Léa Martin", "role": "counsellor", "password": OLD_PASSWORD}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(body["welcome_mail"], false);
        node.stop().await;
    }
}

/// A referral to a training is told to the training's owner, as one to an
/// offer is told to the offer's (« votre formation », no candidate named).
#[tokio::test]
async fn a_trainings_owner_is_told_of_a_referral() {
    for backend in backends() {
        let mut sink = SmtpSink::start().await;
        let clock = ManualClock::starting_now();
        let node = start_node_with_clock(&backend, clock.shared(), mail_to(sink.port())).await;
        let owner = node.user(Role::Counsellor, "formation@afpa.fr").await;
        let counsellor = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let day = |offset: i64| {
            (chrono::Utc::now().date_naive() + chrono::Duration::days(offset))
                .format("%Y-%m-%d")
                .to_string()
        };
        let (s, training) = node
            .post(
                &owner,
                "/api/v1/opportunities",
                &json!({
                    "opportunity_type": "training",
                    "title": "CACES R489 catégorie 3",
                    "organisation": "AFPA Blois",
                    "certifications_granted": ["caces_r489_3"],
                    "rome_codes": ["N1101"],
                    "places": [{"commune_insee": "41018"}],
                    "start_date": day(10),
                    "end_date": day(14),
                    "seats": 8
                }),
            )
            .await;
        assert_eq!(s, 201, "{training}");
        let (s, cand) = node
            .post(
                &counsellor,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Yanis", "last_name": "Morel", "email": "yanis@exemple.fr",
                    "commune_insee": "41018", "max_travel_km": 30, "contract_types": ["CDI"],
                    "rome_codes": ["N1101"], "job_titles": ["Cariste"],
                    "cv_text": "Préparateur de commandes, CACES 1.", "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(s, 201, "{cand}");
        let (s, referral) = node
            .post(
                &counsellor,
                "/api/v1/referrals",
                &json!({
                    "opportunity_id": training["opportunity_id"],
                    "candidate_id": cand["id"],
                    "endorsement": "Motivé, à l'heure."
                }),
            )
            .await;
        assert_eq!(s, 201, "{referral}");
        let mail = sink.next_message(WAIT).await;
        assert_eq!(
            mail.to,
            vec!["formation@afpa.fr".to_string()],
            "{backend:?}"
        );
        assert_eq!(
            mail.subject,
            "Nouveau candidat proposé pour votre formation « CACES R489 catégorie 3 »"
        );
        assert!(
            !mail.text.contains("Yanis"),
            "no candidate named: {}",
            mail.text
        );
        let rid = referral["id"].as_str().unwrap();
        assert!(mail
            .link_containing(&format!("/ui/mises-en-relation/{rid}"))
            .is_some());
    }
}
