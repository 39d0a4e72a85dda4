//! Hostile input against accounts: password guessing (API and web form),
//! weak passwords, token abuse, role changes. Each test runs on every
//! backend, against a real node over HTTP; time is a `ManualClock` that the
//! tests move (nothing sleeps).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{backends, start_node_with_clock, Backend, TestNode};
use serde_json::{json, Value};
use vivier_node::auth::Role;
use vivier_node::clock::ManualClock;
use vivier_node::config::Config;

/// The password `TestNode::user` gives its users.
const PASSWORD: &str = "motdepasse-solide";
const COUNSELLOR: &str = "conseillere@mission-emploi.fr";

async fn node_with(
    backend: &Backend,
    clock: &ManualClock,
    tweak: impl FnOnce(&mut Config),
) -> TestNode {
    start_node_with_clock(backend, clock.shared(), tweak).await
}

/// A node on a manual clock with one counsellor, [`COUNSELLOR`], whose
/// password is [`PASSWORD`].
async fn counsellor_node(
    backend: &Backend,
    tweak: impl FnOnce(&mut Config),
) -> (ManualClock, TestNode) {
    let clock = ManualClock::starting_now();
    let node = node_with(backend, &clock, tweak).await;
    node.user(Role::Counsellor, COUNSELLOR).await;
    (clock, node)
}

/// Tests that speak through a "proxy" trust loopback's `X-Forwarded-For`.
fn behind_proxy(c: &mut Config) {
    c.auth.trusted_proxies = vec!["127.0.0.1".into()];
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn login_from(node: &TestNode, email: &str, password: &str, client: Option<&str>) -> Answer {
    let mut req = node
        .client
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(ip) = client {
        req = req.header("x-forwarded-for", ip);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let body = r.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn login(node: &TestNode, email: &str, password: &str) -> Answer {
    login_from(node, email, password, None).await
}

fn problem_type(a: &Answer) -> &str {
    a.body["type"].as_str().unwrap_or("")
}

async fn user_id(node: &TestNode, email: &str) -> String {
    vivier_node::auth::user_by_email(&node.state.db, email)
        .await
        .unwrap()
        .expect("user")
        .id
}

/// Audit entries of `action`, oldest first: (target_kind, target_id, details).
async fn audit(node: &TestNode, action: &str) -> Vec<(String, String, Value)> {
    let rows: Vec<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT target_kind, target_id, details FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&node.state.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(k, t, d)| {
            (
                k.unwrap_or_default(),
                t.unwrap_or_default(),
                serde_json::from_str(&d).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn thirty_wrong_logins_are_throttled_and_the_right_password_waits() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, |_| {}).await;
        let before = node.snapshot().await;

        let mut statuses = Vec::new();
        for i in 0..30 {
            let a = login(&node, COUNSELLOR, &format!("essai-{i}-faux")).await;
            if a.status == 429 {
                assert_eq!(
                    problem_type(&a),
                    "urn:vivier:problem:too_many_attempts",
                    "{backend:?}"
                );
                let wait = a.retry_after.expect("Retry-After on every 429");
                assert!((1..=3600).contains(&wait), "{wait}");
            } else {
                assert_eq!(a.status, 401, "{backend:?} attempt {i}: {}", a.body);
                assert_eq!(a.body["type"], "urn:vivier:problem:unauthenticated");
            }
            statuses.push(a.status);
        }
        // Four plain refusals, then the fifth failure locks the account.
        assert_eq!(&statuses[..4], &[401; 4], "{backend:?}");
        assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");

        // The right password does not get through an active lockout.
        let right = login(&node, COUNSELLOR, PASSWORD).await;
        assert_eq!(right.status, 429, "{backend:?}");
        assert!(right.body.get("token").is_none());
        assert!(right.retry_after.is_some());

        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn lockout_expires_with_the_clock_doubles_and_a_success_resets_it() {
    for backend in backends() {
        let (clock, node) = counsellor_node(&backend, |_| {}).await;

        for _ in 0..4 {
            assert_eq!(login(&node, COUNSELLOR, "pas-le-bon").await.status, 401);
        }
        let locked = login(&node, COUNSELLOR, "pas-le-bon").await;
        assert_eq!(locked.status, 429, "{backend:?}");
        assert_eq!(locked.retry_after, Some(60));

        // 59 s later: still locked, for the second that remains.
        clock.advance(Duration::from_secs(59));
        let still = login(&node, COUNSELLOR, PASSWORD).await;
        assert_eq!(still.status, 429);
        assert_eq!(still.retry_after, Some(1));

        // Past the lock, one more failure locks it again for twice as long.
        clock.advance(Duration::from_secs(2));
        let again = login(&node, COUNSELLOR, "toujours-faux").await;
        assert_eq!(again.status, 429, "{backend:?}");
        assert_eq!(again.retry_after, Some(120));

        // After that lock, the right password works and clears the count:
        // the next mistakes are plain 401s again.
        clock.advance(Duration::from_secs(121));
        let ok = login(&node, COUNSELLOR, PASSWORD).await;
        assert_eq!(ok.status, 200, "{backend:?}: {}", ok.body);
        assert!(ok.body["token"].as_str().unwrap().starts_with("viv_"));
        clock.advance(Duration::from_secs(60));
        for _ in 0..4 {
            assert_eq!(
                login(&node, COUNSELLOR, "faute-de-frappe").await.status,
                401
            );
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn lockout_survives_a_node_restart() {
    for backend in backends() {
        let (clock, node) = counsellor_node(&backend, |_| {}).await;
        for _ in 0..5 {
            login(&node, COUNSELLOR, "mauvais-essai").await;
        }
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 429);

        let node = node.restart(clock.shared()).await;
        let after = login(&node, COUNSELLOR, PASSWORD).await;
        assert_eq!(after.status, 429, "{backend:?}: lockout lost on restart");
        assert_eq!(problem_type(&after), "urn:vivier:problem:too_many_attempts");

        clock.advance(Duration::from_secs(61));
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 200);
        node.stop().await;
    }
}

#[tokio::test]
async fn client_addresses_and_accounts_are_throttled_independently() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |c| {
            behind_proxy(c);
            c.auth.login.per_address_burst = 3;
            c.auth.login.per_address_per_minute = 3;
        })
        .await;
        node.user(Role::Counsellor, COUNSELLOR).await;
        node.user(Role::Counsellor, "collegue@mission-emploi.fr")
            .await;

        // One address spraying several accounts: its bucket empties.
        for who in ["a@exemple.fr", "b@exemple.fr", "c@exemple.fr"] {
            let a = login_from(&node, who, "nimporte-quoi", Some("203.0.113.1")).await;
            assert_eq!(a.status, 401, "{backend:?}");
        }
        let throttled = login_from(&node, COUNSELLOR, PASSWORD, Some("203.0.113.1")).await;
        assert_eq!(throttled.status, 429, "{backend:?}");
        assert_eq!(throttled.retry_after, Some(20));
        // Another address is not affected (the right password works).
        let other = login_from(&node, COUNSELLOR, PASSWORD, Some("203.0.113.2")).await;
        assert_eq!(other.status, 200, "{backend:?}: {}", other.body);

        // One account attacked from several addresses gets locked…
        for i in 0..5 {
            let ip = format!("198.51.100.{i}");
            login_from(&node, COUNSELLOR, "devine", Some(&ip)).await;
        }
        let locked = login_from(&node, COUNSELLOR, PASSWORD, Some("198.51.100.50")).await;
        assert_eq!(locked.status, 429);
        // …while a colleague on the same address logs in.
        let colleague = login_from(
            &node,
            "collegue@mission-emploi.fr",
            PASSWORD,
            Some("198.51.100.50"),
        )
        .await;
        assert_eq!(colleague.status, 200, "{backend:?}");
        node.stop().await;
    }
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_reset_the_address_bucket() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        // No trusted proxy: the header is the client's own claim.
        let node = node_with(&backend, &clock, |c| {
            c.auth.login.per_address_burst = 3;
            c.auth.login.per_address_per_minute = 3;
        })
        .await;
        let before = node.snapshot().await;
        for i in 0..3 {
            let a = login_from(&node, "x@exemple.fr", "faux", Some(&format!("192.0.2.{i}"))).await;
            assert_eq!(a.status, 401);
        }
        let a = login_from(&node, "y@exemple.fr", "faux", Some("192.0.2.99")).await;
        assert_eq!(
            a.status, 429,
            "{backend:?}: a forged header escaped the limit"
        );
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn failed_logins_and_lockouts_are_audited_with_the_address_never_the_password() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, behind_proxy).await;
        let uid = user_id(&node, COUNSELLOR).await;

        let secret_guess = "Secret-Tente-Par-Un-Intrus";
        for _ in 0..5 {
            login_from(&node, COUNSELLOR, secret_guess, Some("203.0.113.7")).await;
        }
        login_from(
            &node,
            "inconnu@exemple.fr",
            secret_guess,
            Some("203.0.113.8"),
        )
        .await;

        let failed = audit(&node, "auth.login_failed").await;
        assert_eq!(failed.len(), 6, "{backend:?}: {failed:?}");
        for (kind, target, details) in &failed[..5] {
            assert_eq!(kind, "user");
            assert_eq!(target, &uid);
            assert_eq!(details["address"], "203.0.113.7");
            assert_eq!(details["reason"], "bad_credentials");
            assert_eq!(details["via"], "api");
        }
        let (kind, target, details) = &failed[5];
        assert_eq!(kind, "account", "unknown e-mails have no user id");
        assert_eq!(target.len(), 64, "a hash, not the e-mail");
        assert_eq!(details["address"], "203.0.113.8");

        let lockouts = audit(&node, "auth.lockout").await;
        assert_eq!(lockouts.len(), 1, "{backend:?}");
        assert_eq!(lockouts[0].1, uid);
        assert_eq!(lockouts[0].2["address"], "203.0.113.7");
        assert_eq!(lockouts[0].2["failures"], 5);

        // A refused attempt during the lockout is audited as such.
        login_from(&node, COUNSELLOR, PASSWORD, Some("203.0.113.9")).await;
        let failed = audit(&node, "auth.login_failed").await;
        assert_eq!(failed.last().unwrap().2["reason"], "locked");

        let everything: String = sqlx::query_scalar::<_, String>("SELECT details FROM audit_log")
            .fetch_all(&node.state.db.pool)
            .await
            .unwrap()
            .join("\n");
        assert!(!everything.contains(secret_guess));
        assert!(!everything.contains(PASSWORD));
        assert!(!everything.contains("inconnu@exemple.fr"));
        node.stop().await;
    }
}

#[tokio::test]
async fn unknown_accounts_are_answered_exactly_like_known_ones() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, |_| {}).await;
        let before = node.snapshot().await;
        for i in 0..7 {
            let known = login(&node, COUNSELLOR, "mauvais").await;
            let unknown = login(&node, "personne@mission-emploi.fr", "mauvais").await;
            assert_eq!(known.status, unknown.status, "{backend:?} attempt {i}");
            assert_eq!(known.retry_after, unknown.retry_after, "attempt {i}");
            assert_eq!(known.body, unknown.body, "attempt {i}");
        }
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn hostile_login_bodies_are_refused_cleanly() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, behind_proxy).await;
        let before = node.snapshot().await;

        let huge_email = format!("{}@exemple.fr", "a".repeat(100_000));
        let a = login_from(&node, &huge_email, "x", Some("192.0.2.10")).await;
        assert_eq!(a.status, 401, "{backend:?}");
        let huge_password = "p".repeat(1_000_000);
        let a = login_from(&node, COUNSELLOR, &huge_password, Some("192.0.2.11")).await;
        assert_eq!(a.status, 401, "{backend:?}");
        let a = login_from(
            &node,
            "nul\u{0}@exemple.fr",
            "\u{0}\u{0}",
            Some("192.0.2.12"),
        )
        .await;
        assert_eq!(a.status, 401);
        let r = node
            .client
            .post(node.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{\"email\": \"a@b.fr\", \"password\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let r = node
            .client
            .post(node.url("/api/v1/auth/login"))
            .json(&json!({ "email": COUNSELLOR, "password": PASSWORD, "role": "admin" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "unknown fields are refused");
        let r = node
            .client
            .post(node.url("/api/v1/auth/login"))
            .body("email=a&password=b")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415);
        node.assert_alive_and_unchanged(&before).await;
        // And the account still works.
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 200);
        node.stop().await;
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn form_login(node: &TestNode, email: &str, password: &str) -> (u16, Option<String>, String) {
    node.post_form("/ui/connexion", &[("email", email), ("password", password)])
        .await
}

#[tokio::test]
async fn web_form_tells_the_user_in_french_and_is_locked_too() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, |_| {}).await;
        for _ in 0..4 {
            let (status, _, body) = form_login(&node, COUNSELLOR, "mauvais").await;
            assert_eq!(status, 401);
            assert!(body.contains("Adresse e-mail ou mot de passe incorrect."));
        }
        let (status, retry, body) = form_login(&node, COUNSELLOR, "mauvais").await;
        assert_eq!(status, 429, "{backend:?}");
        assert_eq!(retry.as_deref(), Some("60"));
        assert!(
            body.contains(
                "Trop de tentatives de connexion. Par sécurité, réessayez dans 1 minute."
            ),
            "{body}"
        );
        assert!(body.contains("<html lang=\"fr\">"));
        // The right password is refused the same way, with no cookie.
        let (status, _, body) = form_login(&node, COUNSELLOR, PASSWORD).await;
        assert_eq!(status, 429);
        assert!(body.contains("Trop de tentatives de connexion"));
        // The API shares the same lock.
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 429);
        let failed = audit(&node, "auth.login_failed").await;
        assert_eq!(failed[0].2["via"], "ui");
        assert_eq!(failed[0].2["address"], "127.0.0.1");
        node.stop().await;
    }
}

#[tokio::test]
async fn weak_passwords_are_refused_with_the_field_named() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let before = node.snapshot().await;
        let email = "nouvelle.recrue@mission-emploi.fr";
        let long = "Zk7!".repeat(300);
        for (password, code) in [
            ("aaaaaaaaaa", "password_too_weak"),
            ("0123456789", "password_too_weak"),
            ("          ", "password_too_weak"),
            (email, "password_too_weak"),
            ("Nouvelle Recrue 2025", "password_too_weak"),
            ("court", "password_too_short"),
            (
                "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
                "password_too_weak",
            ),
            (long.as_str(), "password_too_long"),
        ] {
            let (status, body) = node
                .post(
                    &admin,
                    "/api/v1/users",
                    &json!({
                        "email": email, "display_name": "Nouvelle Recrue",
                        "role": "counsellor", "password": password,
                    }),
                )
                .await;
            assert_eq!(status, 400, "{backend:?} {password:?}: {body}");
            assert_eq!(body["type"], "urn:vivier:problem:validation");
            let err = &body["errors"][0];
            assert_eq!(err["field"], "password", "{body}");
            assert_eq!(err["code"], code, "{password:?}: {body}");
            assert!(!err["message"].as_str().unwrap().is_empty());
        }
        // NUL bytes in names (PostgreSQL would refuse them) and e-mails.
        for (field, body) in [
            (
                "display_name",
                json!({ "email": email, "display_name": "Nul\u{0}",
                "role": "counsellor", "password": "girafe-tuba-nuage-velo" }),
            ),
            (
                "email",
                json!({ "email": "nul\u{0}@exemple.fr", "display_name": "Nul",
                "role": "counsellor", "password": "girafe-tuba-nuage-velo" }),
            ),
        ] {
            let (status, answer) = node.post(&admin, "/api/v1/users", &body).await;
            assert_eq!(status, 400, "{backend:?}: {answer}");
            assert_eq!(answer["errors"][0]["field"], field);
        }
        node.assert_alive_and_unchanged(&before).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn a_strong_password_with_spaces_is_kept_exactly() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let spaced = "  cheval agrafe batterie correcte  ";
        let (status, body) = node
            .post(
                &admin,
                "/api/v1/users",
                &json!({
                    "email": "espaces@mission-emploi.fr", "display_name": "Espaces",
                    "role": "counsellor", "password": spaced,
                }),
            )
            .await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        let trimmed = login(&node, "espaces@mission-emploi.fr", spaced.trim()).await;
        assert_eq!(trimmed.status, 401, "{backend:?}: the password was trimmed");
        let exact = login(&node, "espaces@mission-emploi.fr", spaced).await;
        assert_eq!(exact.status, 200, "{backend:?}: {}", exact.body);
        // The web form does not trim it either.
        let (status, _, body) = form_login(&node, "espaces@mission-emploi.fr", spaced).await;
        assert_eq!(status, 303, "{body}");
        node.stop().await;
    }
}

#[tokio::test]
async fn api_tokens_are_named_listed_revoked_and_expire() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let session = node.user(Role::Counsellor, COUNSELLOR).await;

        let (status, created) = node
            .post(
                &session,
                "/api/v1/auth/tokens",
                &json!({ "name": "export nocturne", "expires_in_days": 30 }),
            )
            .await;
        assert_eq!(status, 201, "{backend:?}: {created}");
        let token = created["token"].as_str().unwrap().to_string();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["name"], "export nocturne");
        let days = (created["expires_at"].as_i64().unwrap()
            - created["created_at"].as_i64().unwrap())
            / 86_400_000;
        assert_eq!(days, 30);
        assert_eq!(node.get(&token, "/api/v1/me").await.0, 200);

        // Listed without the secret.
        let (status, list) = node.get(&session, "/api/v1/auth/tokens").await;
        assert_eq!(status, 200);
        let listed = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .expect("listed")
            .clone();
        assert_eq!(listed["name"], "export nocturne");
        assert_eq!(listed["expired"], false);
        assert!(listed["last_used_at"].is_i64(), "use noted: {listed}");
        assert!(!list.to_string().contains(&token), "secret leaked");

        // Hostile creation requests.
        let before = node.snapshot().await;
        for (body, field) in [
            (
                json!({ "name": "x", "expires_in_days": 0 }),
                "expires_in_days",
            ),
            (
                json!({ "name": "x", "expires_in_days": 366 }),
                "expires_in_days",
            ),
            (
                json!({ "name": "x", "expires_in_days": -1 }),
                "expires_in_days",
            ),
            (json!({ "name": "   " }), "name"),
            (json!({ "name": "a".repeat(101) }), "name"),
            (
                json!({ "name": "x", "expires_in_days": 1e300 }),
                "expires_in_days",
            ),
        ] {
            let (status, answer) = node.post(&session, "/api/v1/auth/tokens", &body).await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        }
        node.assert_alive_and_unchanged(&before).await;

        // Expiry: 31 days later the token opens nothing, and says so in the list.
        clock.advance(Duration::from_secs(31 * 86_400));
        let (status, body) = node.get(&token, "/api/v1/me").await;
        assert_eq!(status, 401, "{backend:?}: expired token accepted");
        assert_eq!(body["type"], "urn:vivier:problem:unauthenticated");
        let fresh = login(&node, COUNSELLOR, PASSWORD).await.body["token"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, list) = node.get(&fresh, "/api/v1/auth/tokens").await;
        let listed = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()
            .clone();
        assert_eq!(listed["expired"], true);

        // Revocation.
        let (status, second) = node
            .post(
                &fresh,
                "/api/v1/auth/tokens",
                &json!({ "label": "ancien client" }),
            )
            .await;
        assert_eq!(status, 201, "`label` still accepted: {second}");
        let second_token = second["token"].as_str().unwrap();
        let second_id = second["id"].as_str().unwrap();
        assert_eq!(node.get(second_token, "/api/v1/me").await.0, 200);
        let path = format!("/api/v1/auth/tokens/{second_id}");
        assert_eq!(node.delete(&fresh, &path).await.0, 204);
        assert_eq!(node.get(second_token, "/api/v1/me").await.0, 401);
        assert_eq!(node.delete(&fresh, &path).await.0, 404);
        let revoked = audit(&node, "token.revoke").await;
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].1, second_id);
        assert_eq!(audit(&node, "token.create").await.len(), 2);
        node.stop().await;
    }
}

#[tokio::test]
async fn a_counsellor_cannot_list_or_revoke_another_users_tokens() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let alice = node.user(Role::Counsellor, "alice@mission-emploi.fr").await;
        let bob = node.user(Role::Counsellor, "bob@mission-emploi.fr").await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let alice_id = user_id(&node, "alice@mission-emploi.fr").await;

        let (_, created) = node
            .post(&alice, "/api/v1/auth/tokens", &json!({ "name": "script" }))
            .await;
        let token = created["token"].as_str().unwrap().to_string();
        let path = format!("/api/v1/auth/tokens/{}", created["id"].as_str().unwrap());

        let (status, body) = node.delete(&bob, &path).await;
        assert_eq!(status, 404, "{backend:?}: {body}");
        assert_eq!(node.get(&token, "/api/v1/me").await.0, 200, "still valid");
        let (status, _) = node
            .get(&bob, &format!("/api/v1/auth/tokens?user_id={alice_id}"))
            .await;
        assert_eq!(status, 403);
        let (status, list) = node.get(&bob, "/api/v1/auth/tokens").await;
        assert_eq!(status, 200);
        assert!(!list.to_string().contains("script"), "{list}");
        assert!(audit(&node, "token.revoke").await.is_empty());

        // An admin may list and revoke anyone's.
        let (status, list) = node
            .get(&admin, &format!("/api/v1/auth/tokens?user_id={alice_id}"))
            .await;
        assert_eq!(status, 200);
        assert!(list.to_string().contains("script"));
        assert_eq!(node.delete(&admin, &path).await.0, 204);
        assert_eq!(node.get(&token, "/api/v1/me").await.0, 401);
        let revoked = audit(&node, "token.revoke").await;
        assert_eq!(revoked[0].2["user_id"], alice_id.as_str());
        node.stop().await;
    }
}

#[tokio::test]
async fn roles_change_only_by_an_admin_audited_and_never_the_last_admin() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let counsellor = node.user(Role::Counsellor, COUNSELLOR).await;
        let admin_id = user_id(&node, "admin@mission-emploi.fr").await;
        let counsellor_id = user_id(&node, COUNSELLOR).await;
        let before = node.snapshot().await;

        // Self-promotion by a counsellor.
        let (status, _) = node
            .send_json(
                reqwest::Method::PATCH,
                &counsellor,
                &format!("/api/v1/users/{counsellor_id}"),
                &json!({ "role": "admin" }),
            )
            .await;
        assert_eq!(status, 403, "{backend:?}");
        // The only admin can neither step down nor be disabled.
        for change in [json!({ "role": "counsellor" }), json!({ "disabled": true })] {
            let (status, body) = node
                .send_json(
                    reqwest::Method::PATCH,
                    &admin,
                    &format!("/api/v1/users/{admin_id}"),
                    &change,
                )
                .await;
            assert_eq!(status, 409, "{backend:?} {change}: {body}");
        }
        // Fields that are not changeable here are refused.
        let (status, body) = node
            .send_json(
                reqwest::Method::PATCH,
                &admin,
                &format!("/api/v1/users/{counsellor_id}"),
                &json!({ "email": "autre@exemple.fr" }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        node.assert_alive_and_unchanged(&before).await;
        assert!(audit(&node, "user.update").await.is_empty());

        // A real change: audited with before and after, and the reason.
        let r = node
            .client
            .patch(node.url(&format!("/api/v1/users/{counsellor_id}")))
            .bearer_auth(&admin)
            .header("x-vivier-reason", "départ de l'agent")
            .json(&json!({ "disabled": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let updated: Value = r.json().await.unwrap();
        assert_eq!(updated["disabled"], true);
        assert_eq!(node.get(&counsellor, "/api/v1/me").await.0, 401);
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 401);
        let updates = audit(&node, "user.update").await;
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].1, counsellor_id);
        assert_eq!(updates[0].2["before"]["disabled"], false);
        assert_eq!(updates[0].2["after"]["disabled"], true);
        let reason: Option<String> =
            sqlx::query_scalar("SELECT reason FROM audit_log WHERE action = 'user.update'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(reason.as_deref(), Some("départ de l'agent"));

        // With a second admin, the first may step down.
        node.user(Role::Admin, "admin2@mission-emploi.fr").await;
        let (status, body) = node
            .send_json(
                reqwest::Method::PATCH,
                &admin,
                &format!("/api/v1/users/{admin_id}"),
                &json!({ "role": "counsellor" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(node.get(&admin, "/api/v1/users").await.0, 403);
        node.stop().await;
    }
}

#[tokio::test]
async fn changing_ones_password_checks_the_current_one_and_the_policy() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, |_| {}).await;
        let session = login(&node, COUNSELLOR, PASSWORD).await.body["token"]
            .as_str()
            .unwrap()
            .to_string();
        let other = login(&node, COUNSELLOR, PASSWORD).await.body["token"]
            .as_str()
            .unwrap()
            .to_string();
        let before = node.snapshot().await;
        let (status, body) = node
            .post(
                &session,
                "/api/v1/me/password",
                &json!({ "current_password": "pas-le-bon", "new_password": "girafe-tuba-nuage-velo" }),
            )
            .await;
        assert_eq!(status, 400, "{backend:?}: {body}");
        assert_eq!(body["errors"][0]["field"], "current_password");
        let (status, body) = node
            .post(
                &session,
                "/api/v1/me/password",
                &json!({ "current_password": PASSWORD, "new_password": "0123456789" }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["field"], "new_password");
        assert_eq!(body["errors"][0]["code"], "password_too_weak");
        node.assert_alive_and_unchanged(&before).await;

        let (status, body) = node
            .post(
                &session,
                "/api/v1/me/password",
                &json!({ "current_password": PASSWORD, "new_password": "girafe-tuba-nuage-velo" }),
            )
            .await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(
            node.get(&session, "/api/v1/me").await.0,
            200,
            "this session stays"
        );
        assert_eq!(node.get(&other, "/api/v1/me").await.0, 401, "others end");
        assert_eq!(login(&node, COUNSELLOR, PASSWORD).await.status, 401);
        assert_eq!(
            login(&node, COUNSELLOR, "girafe-tuba-nuage-velo")
                .await
                .status,
            200
        );
        assert_eq!(audit(&node, "user.password_change").await.len(), 1);
        node.stop().await;
    }
}

/// The `vivier-node` CLI against the test node's database.
/// Runs the node's CLI without blocking the runtime that serves the in-process node: a
/// blocking wait here would freeze a task holding a SQLite write lock, and the CLI would then
/// time out on "database is locked".
async fn cli(node: &TestNode, args: &[&str], password: Option<&str>) -> std::process::Output {
    let config = node.dir.path().join("cli.toml");
    let mut toml = format!(
        "node_id = \"test-node\"\ndata_dir = \"{}\"\n",
        node.dir.path().join("cli-data").display()
    );
    if let Some(url) = &node.state.config.database_url {
        toml.push_str(&format!("database_url = \"{url}\"\n"));
    } else {
        toml.push_str(&format!(
            "database_url = \"sqlite://{}?mode=rwc\"\n",
            node.dir.path().join("vivier.db").display()
        ));
    }
    std::fs::write(&config, toml).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vivier-node"));
    cmd.arg("--config").arg(&config).args(args);
    cmd.env_remove("VIVIER_USER_PASSWORD");
    if let Some(p) = password {
        cmd.env("VIVIER_USER_PASSWORD", p);
    }
    cmd.output().await.expect("run vivier-node")
}

#[tokio::test]
async fn cli_refuses_weak_passwords_and_manages_tokens() {
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let args = [
            "user",
            "add",
            "--email",
            "cli@mission-emploi.fr",
            "--name",
            "Par la ligne de commande",
            "--role",
            "counsellor",
        ];
        let weak = cli(&node, &args, Some("aaaaaaaaaa")).await;
        assert!(
            !weak.status.success(),
            "{backend:?}: weak password accepted"
        );
        let err = String::from_utf8_lossy(&weak.stderr);
        assert!(
            err.contains("password") && err.contains("too easy to guess"),
            "{err}"
        );
        let ok = cli(&node, &args, Some(" tortue lampadaire origami  ")).await;
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );

        // New form, then the older one; both print only the token.
        let created = cli(
            &node,
            &[
                "token",
                "create",
                "--email",
                "cli@mission-emploi.fr",
                "--name",
                "sauvegarde",
                "--days",
                "7",
            ],
            None,
        )
        .await;
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let token = String::from_utf8(created.stdout)
            .unwrap()
            .trim()
            .to_string();
        assert!(token.starts_with("viv_"));
        let legacy = cli(&node, &["token", "--email", "cli@mission-emploi.fr"], None).await;
        assert!(legacy.status.success());
        let legacy_token = String::from_utf8(legacy.stdout).unwrap().trim().to_string();
        assert_eq!(node.get(&token, "/api/v1/me").await.0, 200, "{backend:?}");
        assert_eq!(node.get(&legacy_token, "/api/v1/me").await.0, 200);
        let too_long = cli(
            &node,
            &[
                "token",
                "create",
                "--email",
                "cli@mission-emploi.fr",
                "--days",
                "9999",
            ],
            None,
        )
        .await;
        assert!(!too_long.status.success());

        let list = cli(
            &node,
            &["token", "list", "--email", "cli@mission-emploi.fr"],
            None,
        )
        .await;
        let listing = String::from_utf8(list.stdout).unwrap();
        assert!(
            listing.contains("sauvegarde") && listing.contains("cli"),
            "{listing}"
        );
        assert!(!listing.contains(&token), "secret printed by list");
        let id = listing
            .lines()
            .find(|l| l.contains("sauvegarde"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string();
        let revoke = cli(&node, &["token", "revoke", &id], None).await;
        assert!(
            revoke.status.success(),
            "{}",
            String::from_utf8_lossy(&revoke.stderr)
        );
        assert_eq!(node.get(&token, "/api/v1/me").await.0, 401);
        let again = cli(&node, &["token", "revoke", &id], None).await;
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("not found"));

        // The operator lifts a lockout.
        for _ in 0..5 {
            login(&node, "cli@mission-emploi.fr", "mauvais").await;
        }
        assert_eq!(
            login(
                &node,
                "cli@mission-emploi.fr",
                " tortue lampadaire origami  "
            )
            .await
            .status,
            429
        );
        let unlock = cli(
            &node,
            &["user", "unlock", "--email", "cli@mission-emploi.fr"],
            None,
        )
        .await;
        assert!(unlock.status.success());
        assert_eq!(
            login(
                &node,
                "cli@mission-emploi.fr",
                " tortue lampadaire origami  "
            )
            .await
            .status,
            200
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn the_password_page_explains_a_weak_password_in_french() {
    for backend in backends() {
        let (_clock, node) = counsellor_node(&backend, |_| {}).await;
        let r = browser()
            .post(node.url("/ui/connexion"))
            .header("origin", node.base.clone())
            .form(&[("email", COUNSELLOR), ("password", PASSWORD)])
            .send()
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
        let form = browser()
            .get(node.url("/ui/mot-de-passe"))
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(form.status().as_u16(), 200, "{backend:?}");
        assert!(form
            .text()
            .await
            .unwrap()
            .contains("Confirmez le nouveau mot de passe"));
        let change = |new: &'static str| {
            browser()
                .post(node.url("/ui/mot-de-passe"))
                .header("origin", node.base.clone())
                .header("cookie", cookie.clone())
                .form(&[
                    ("actuel", PASSWORD),
                    ("nouveau", new),
                    ("confirmation", new),
                ])
                .send()
        };
        let page = change("0123456789").await.unwrap();
        assert_eq!(page.status().as_u16(), 400, "{backend:?}");
        let body = page.text().await.unwrap();
        assert!(
            body.contains("Mot de passe trop facile à deviner"),
            "{backend:?}: {body}"
        );
        assert!(body.contains("nouveau-erreur"), "the field is named");
        let page = change("  hibou carton solfège rivière ").await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page
            .text()
            .await
            .unwrap()
            .contains("Votre mot de passe a été changé."));
        assert_eq!(
            login(&node, COUNSELLOR, "  hibou carton solfège rivière ")
                .await
                .status,
            200
        );
        node.stop().await;
    }
}

/// Rows of `audit_log` and of `users`.
async fn audit_and_users(node: &TestNode) -> (i64, i64) {
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap();
    (audit, users)
}

/// Posts `form` to `path` with `cookie` and expects the French 403 page.
async fn refused_form(node: &TestNode, cookie: &str, path: &str, form: &[(&str, &str)]) {
    let page = crate::support::post(node, Some(cookie), path, form).await;
    assert_eq!(page.status, 403, "{path}: {}", page.body);
    assert!(page.body.contains("Accès refusé"), "{path}: {}", page.body);
}

/// A counsellor is refused by the accounts service itself — creating an
/// account, disabling one, lifting a lockout — whichever adapter calls it:
/// a direct call, the API or the administration's web forms. Nothing is
/// written and the audit log is unchanged; the same service lets an admin,
/// audited with the change.
#[tokio::test]
async fn a_counsellor_is_refused_by_the_user_service_whichever_adapter_calls_it() {
    use vivier_node::auth::users::UserUpdate;
    use vivier_node::auth::NewUser;
    use vivier_node::error::Error;

    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = node_with(&backend, &clock, |_| {}).await;
        let admin = node.user(Role::Admin, "admin@mission-emploi.fr").await;
        let counsellor = node.user(Role::Counsellor, COUNSELLOR).await;
        let lea = node.user(Role::Counsellor, "lea@mission-emploi.fr").await;
        let lea_id = user_id(&node, "lea@mission-emploi.fr").await;
        let actor = crate::support::actor_of(&node, &counsellor).await;
        let cookie = node.ui_cookie(COUNSELLOR).await;
        let before = audit_and_users(&node).await;
        let new_user = || NewUser {
            email: "intrus@mission-emploi.fr".into(),
            display_name: "Intrus".into(),
            role: Role::Admin,
            password: PASSWORD.into(),
            employer_name: None,
            employer_siret: None,
        };
        let disable = UserUpdate {
            disabled: Some(true),
            ..UserUpdate::default()
        };

        // Direct calls of the service.
        let err = vivier_node::auth::create_account(&node.state, &actor, new_user())
            .await
            .expect_err("a counsellor may not create an account");
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        let err = vivier_node::auth::users::update_user(
            &node.state.db,
            &actor,
            &lea_id,
            &disable,
            None,
            "test",
        )
        .await
        .expect_err("a counsellor may not disable an account");
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        let err = vivier_node::auth::users::unlock_by_id(&node.state.db, &actor, &lea_id, "test")
            .await
            .expect_err("a counsellor may not unlock an account");
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        let err = vivier_node::auth::list_users_as(&node.state.db, &actor)
            .await
            .expect_err("a counsellor may not list the accounts");
        assert!(matches!(err, Error::Forbidden), "{err:?}");

        // The API.
        let (st, body) = node
            .post(
                &counsellor,
                "/api/v1/users",
                &json!({ "email": "intrus@mission-emploi.fr", "display_name": "Intrus",
                         "role": "admin", "password": PASSWORD }),
            )
            .await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["code"], "forbidden", "{body}");
        let (st, body) = node
            .send_json(
                reqwest::Method::PATCH,
                &counsellor,
                &format!("/api/v1/users/{lea_id}"),
                &json!({ "disabled": true }),
            )
            .await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["code"], "forbidden", "{body}");
        let (st, body) = node
            .post(
                &counsellor,
                &format!("/api/v1/users/{lea_id}/unlock"),
                &json!({}),
            )
            .await;
        assert_eq!(st, 403, "{body}");

        // The administration's web forms.
        refused_form(
            &node,
            &cookie,
            "/ui/admin/utilisateurs",
            &[
                ("nom", "Intrus"),
                ("courriel", "intrus@mission-emploi.fr"),
                ("role", "admin"),
                ("mot_de_passe", PASSWORD),
            ],
        )
        .await;
        refused_form(
            &node,
            &cookie,
            &format!("/ui/admin/utilisateurs/{lea_id}"),
            &[("action", "desactiver")],
        )
        .await;

        // Nothing written, nothing audited: Léa still works.
        assert_eq!(audit_and_users(&node).await, before, "{backend:?}");
        assert!(
            vivier_node::auth::user_by_email(&node.state.db, "intrus@mission-emploi.fr")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(node.get(&lea, "/api/v1/me").await.0, 200);

        // The same service lets an admin, audited in the change's
        // transaction.
        let admin_actor = crate::support::actor_of(&node, &admin).await;
        let updated = vivier_node::auth::users::update_user(
            &node.state.db,
            &admin_actor,
            &lea_id,
            &disable,
            None,
            "test",
        )
        .await
        .expect("an admin disables an account");
        assert!(updated.disabled);
        assert_eq!(node.get(&lea, "/api/v1/me").await.0, 401);
        let after = audit_and_users(&node).await;
        assert_eq!(after, (before.0 + 1, before.1));
        let updates = audit(&node, "user.update").await;
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].1, lea_id);
        assert_eq!(updates[0].2["via"], "test");
        node.stop().await;
    }
}
