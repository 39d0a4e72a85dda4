//! The node's state is one truth (issue 11): concurrent writes to one record
//! keep each other's changes, the search index follows the database through
//! the journal (also for rows written by another process), and policy is
//! enforced by the domain functions whichever adapter calls them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{backends, eventually, start_node_with, Backend, TestNode, EXTRACTOR};
use serde_json::{json, Value};
use vivier_node::auth::Role;

/// An extractor that announces it started, then waits for a go-ahead file
/// before reading the CV (as a slow extraction would).
fn gated_extractor(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("slow-extract.sh");
    let started = dir.join("started");
    let go = dir.join("go");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n/usr/bin/touch '{}'\nwhile [ ! -e '{}' ]; do /bin/sleep 0.05; done\nexec '{}' \"$@\"\n",
            started.display(),
            go.display(),
            EXTRACTOR
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

async fn me(node: &TestNode, token: &str) -> String {
    node.get(token, "/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A CV upload whose extraction is slow races a hire that moves the
/// candidate to `placed`: both changes are kept.
#[tokio::test]
async fn slow_cv_upload_racing_a_hire_keeps_both_changes() {
    for backend in backends() {
        let gate = tempfile::tempdir().unwrap();
        let script = gated_extractor(gate.path());
        let node = start_node_with(&backend, |c| {
            c.uploads.extractor_path = Some(script.clone());
        })
        .await;
        let counsellor = node.user(Role::Counsellor, "conseillere@mission.fr").await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let (st, c) = node
            .post(
                &counsellor,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Léa", "last_name": "Martin", "commune_insee": "41018",
                    "rome_codes": ["N1103"], "cv_text": "Préparatrice de commandes.",
                    "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let cid = c["id"].as_str().unwrap().to_string();
        let (st, o) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Préparateur de commandes H/F", "description": "Entrepôt, CACES 1.",
                    "rome_code": "N1103", "contract_type": "CDI",
                    "workplaces": [{"commune_insee": "41018"}]
                }),
            )
            .await;
        assert_eq!(st, 201, "{o}");
        let oid = o["offer_id"].as_str().unwrap().to_string();
        let (st, r) = node
            .post(
                &counsellor,
                "/api/v1/referrals",
                &json!({"offer_id": oid, "candidate_id": cid, "endorsement": "Je la recommande."}),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        let rid = r["id"].as_str().unwrap().to_string();

        // The upload starts; its extraction waits at the gate.
        let upload = {
            let base = node.base.clone();
            let token = counsellor.clone();
            let cid = cid.clone();
            tokio::spawn(async move {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(vivier_node::extract::testdocs::docx(&[
                        "Cariste confirmée, CACES 3 et 5.",
                    ]))
                    .file_name("cv.docx"),
                );
                let r = reqwest::Client::new()
                    .post(format!("{base}/api/v1/candidates/{cid}/cv"))
                    .bearer_auth(token)
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        };
        let started = gate.path().join("started");
        eventually(30, || async { started.exists().then_some(()) })
            .await
            .expect("the extraction started");

        // Meanwhile the employer hires her.
        let (st, v) = node
            .post(
                &employer,
                &format!("/api/v1/referrals/{rid}/status"),
                &json!({"status": "accepted", "contract_type": "CDI", "start_date": "2026-03-02"}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (_, v) = node
            .get(&counsellor, &format!("/api/v1/candidates/{cid}"))
            .await;
        assert_eq!(v["status"], "placed", "{v}");

        // The extraction finishes; the upload commits.
        std::fs::write(gate.path().join("go"), b"").unwrap();
        let (st, v) = upload.await.unwrap();
        assert_eq!(st, 201, "{backend:?} {v}");

        // Both changes are there: the hire's status and the new CV text.
        let (_, v) = node
            .get(&counsellor, &format!("/api/v1/candidates/{cid}"))
            .await;
        assert_eq!(
            v["status"], "placed",
            "{backend:?} the hire was overwritten: {v}"
        );
        assert!(
            v["cv_text"].as_str().unwrap().contains("CACES 3 et 5"),
            "{v}"
        );
        assert_eq!(v["files"].as_array().unwrap().len(), 1);
        node.stop().await;
    }
}

/// Rows written by another process (a CLI import, a second node process on
/// the same database) reach this process's index through the journal,
/// without a restart or a reindex.
#[tokio::test]
async fn the_index_follows_writes_made_by_another_process() {
    for backend in backends() {
        let node = start_node_with(&backend, |c| c.search.follow_interval_ms = 50).await;
        let admin = node.user(Role::Admin, "admin@mission.fr").await;
        // "Another process": a second handle on the same database, writing
        // through the same domain code but without this node's follower.
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("import.jsonl");
        std::fs::write(
            &jsonl,
            "{\"external_id\":\"EXT-1\",\"first_name\":\"Inès\",\"last_name\":\"Roux\",\"commune_insee\":\"37261\",\"rome_codes\":[\"K1302\"],\"cv_text\":\"Auxiliaire de vie sociale, DEAES.\",\"consent_scope\":\"local\"}\n",
        )
        .unwrap();
        let db_url = node.state.config.database_url();
        let other = sqlx_any_insert(&db_url, &jsonl).await;
        assert_eq!(other, 1);
        let found = eventually(20, || async {
            let (st, v) = node
                .get(&admin, "/api/v1/candidates/search?q=auxiliaire")
                .await;
            (st == 200 && v["total"] == 1).then_some(v)
        })
        .await;
        assert!(found.is_some(), "{backend:?}: the import is not searchable");
        node.stop().await;
    }
}

/// Import a JSON Lines file through a separate connection to the node's
/// database, the way `vivier-node import` does while a node runs: rows and
/// journal entries in the same transactions, no index opened.
async fn sqlx_any_insert(db_url: &str, file: &std::path::Path) -> u64 {
    let db = vivier_node::db::Db::connect(db_url, "full").await.unwrap();
    let report = vivier_node::candidates::import_into_db(&db, file, None, None)
        .await
        .unwrap();
    db.close().await;
    report.created
}

/// The policy lives in the domain functions: an employer is refused by the
/// function itself, whichever adapter calls it.
#[tokio::test]
async fn an_employer_is_refused_by_the_domain_function_itself() {
    let node = start_node_with(&backends()[0], |_| {}).await;
    let employer = node.user(Role::Employer, "rh@logistique.fr").await;
    let counsellor = node.user(Role::Counsellor, "conseillere@mission.fr").await;
    let employer_id = me(&node, &employer).await;
    let (st, c) = node
        .post(
            &counsellor,
            "/api/v1/candidates",
            &json!({"first_name": "Léa", "last_name": "Martin", "commune_insee": "41018",
                    "rome_codes": ["N1103"], "consent_scope": "local"}),
        )
        .await;
    assert_eq!(st, 201);
    let cid = c["id"].as_str().unwrap();
    let employer_user = vivier_node::auth::user_by_id(&node.state.db, &employer_id)
        .await
        .unwrap()
        .unwrap();
    let actor = vivier_node::actor::Actor::User(employer_user);
    // Called directly, not through HTTP: still refused.
    let err = vivier_node::candidates::read(&node.state, &actor, cid, None)
        .await
        .expect_err("an employer may not read a candidate");
    assert!(
        matches!(err, vivier_node::error::Error::Forbidden),
        "{err:?}"
    );
    // Through the API and through the web UI: refused the same way.
    let (st, _) = node
        .get(&employer, &format!("/api/v1/candidates/{cid}"))
        .await;
    assert_eq!(st, 403);
    let r = node
        .client
        .get(node.url(&format!("/ui/candidats/{cid}")))
        .header(
            "cookie",
            format!(
                "{}={employer}",
                vivier_node::auth::session_cookie_name(&node.state.config.node_id)
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    node.stop().await;
}

/// Time-dependent federation rules read the node's clock, not the system's:
/// a membership document valid by the wall clock is refused as expired by a
/// node whose (injected) clock is two days later, and accepted again once
/// the clock is back inside its validity.
#[tokio::test]
async fn membership_validity_follows_the_injected_clock() {
    use vivier_node::clock::{Clock, ManualClock};
    let operator = vivier_protocol::SigningKeyPair::generate(
        vivier_protocol::KeyId::parse("ed25519:1").unwrap(),
    );
    for backend in backends() {
        let clock = ManualClock::starting_now();
        let node = crate::support::start_node_with_clock(
            &backend,
            clock.shared(),
            crate::support::federated("cd41", &operator),
        )
        .await;
        let now = clock.now_ms();
        let day = 86_400_000;
        let doc = |serial: i64, issued_at: i64| {
            let d = vivier_protocol::MembershipDocument {
                network_id: "test".into(),
                serial,
                issued_at,
                expires_at: issued_at + day,
                operator_keys: vec![vivier_protocol::OperatorKey {
                    key_id: operator.key_id().clone(),
                    public_key: operator.public_key(),
                }],
                threshold: 1,
                members: vec![crate::support::member_of(&node)],
                network_search: None,
            };
            vivier_protocol::SignedMembershipDocument::sign(d, &[&operator])
                .unwrap()
                .to_bytes()
                .unwrap()
        };
        let r = crate::support::push_membership(&node, doc(1, now)).await;
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        // Two days later by the node's clock: the next document, valid by
        // the wall clock, has expired.
        clock.advance(std::time::Duration::from_secs(2 * 86_400));
        let r = crate::support::push_membership(&node, doc(2, now)).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!((400..500).contains(&status), "{status} {body}");
        assert!(body.contains("expired"), "{body}");
        // One issued on the node's day (tomorrow by the wall clock): accepted.
        let r = crate::support::push_membership(&node, doc(2, now + 2 * day)).await;
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        node.stop().await;
    }
}

/// SQLite's WAL is copied into the database file by the node's background
/// pass, not by the commits: every connection checkpoints by itself only
/// past 10,000 WAL pages, and a pass leaves no frame of the WAL behind once
/// the writes are done. PostgreSQL has nothing to do.
#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background_not_by_commits() {
    for backend in backends() {
        let node = crate::support::start_node(&backend).await;
        let token = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        for i in 0..20 {
            let (s, v) = node
                .post(
                    &token,
                    "/api/v1/candidates",
                    &crate::support::candidate_body(&format!("Inès{i}")),
                )
                .await;
            assert_eq!(s, 201, "{v}");
        }
        let checkpointed = node.state.db.checkpoint().await.unwrap();
        match backend {
            crate::support::Backend::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                    .fetch_one(&node.state.db.pool)
                    .await
                    .unwrap();
                assert_eq!(pages, 10_000);
                let (frames, copied) = checkpointed.expect("a SQLite checkpoint");
                assert_eq!(frames, copied, "the whole WAL is in the database file");
            }
            crate::support::Backend::Postgres(_) => assert_eq!(checkpointed, None),
        }
        node.stop().await;
    }
}

/// Each index's loop reads only the journal entries it acts on, and the
/// head to move past the others: on both engines, after a mix of
/// candidate and offer entries, the candidate loop's read returns its own
/// entries and the last entry, and one more read from there returns
/// nothing; a read that reaches its limit stops at its own entries.
#[tokio::test]
async fn each_index_reads_its_own_entries_and_moves_past_the_others() {
    use vivier_node::journal::{append, head, read_kinds_after, Kind};
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let url = match &backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("j.db").display()),
            Backend::Postgres(admin) => crate::support::fresh_postgres_db(admin).await,
        };
        let db = vivier_node::db::Db::connect(&url, "full").await.unwrap();
        let base = head(&db).await.unwrap();
        let written = [
            Kind::IndexCandidate,
            Kind::IndexOffer,
            Kind::IndexOffer,
            Kind::PurgeCandidate,
            Kind::IndexOffer,
            Kind::IndexOffer,
        ];
        let mut s = Vec::new();
        for (i, k) in written.iter().enumerate() {
            let mut tx = db.begin().await.unwrap();
            s.push(append(&mut tx, *k, &format!("e{i}"), 1).await.unwrap());
            tx.commit().await.unwrap();
        }
        let read = |after: i64, kinds: &'static [Kind], limit: i64| {
            let db = &db;
            async move {
                read_kinds_after(db, after, kinds, limit)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| (e.seq, e.kind))
                    .collect::<Vec<_>>()
            }
        };
        const CANDIDATES: &[Kind] = &[Kind::IndexCandidate, Kind::PurgeCandidate];
        const OFFERS: &[Kind] = &[Kind::IndexOffer];
        let name = backend.name();
        assert_eq!(
            read(base, CANDIDATES, 100).await,
            vec![
                (s[0], Kind::IndexCandidate),
                (s[3], Kind::PurgeCandidate),
                (s[5], Kind::IndexOffer)
            ],
            "{name}: its own entries, then the head"
        );
        assert_eq!(
            read(s[5], CANDIDATES, 100).await,
            vec![],
            "{name}: past the head"
        );
        assert_eq!(
            read(base, CANDIDATES, 2).await,
            vec![(s[0], Kind::IndexCandidate), (s[3], Kind::PurgeCandidate)],
            "{name}: the limit stops at its own entries"
        );
        assert_eq!(
            read(s[0], CANDIDATES, 1).await,
            vec![(s[3], Kind::PurgeCandidate)],
            "{name}"
        );
        assert_eq!(
            read(s[3], OFFERS, 100).await,
            vec![(s[4], Kind::IndexOffer), (s[5], Kind::IndexOffer)],
            "{name}: the head is returned once"
        );
        assert_eq!(
            read(base, OFFERS, 100).await.len(),
            4,
            "{name}: the offer loop skips the candidates' entries"
        );
        db.close().await;
    }
}
