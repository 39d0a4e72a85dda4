//! Demo mode (`[demo] enabled = true`, set by `vivier-node demo`) over
//! HTTP: the French banner on every web page, the dashboard's guided tour,
//! and federation with loopback peers only. Each test runs on every
//! backend, with a node outside demo mode as the control.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{
    backends, federated, member_entry, member_of, membership_bytes, publish_membership,
    push_membership, start_node_with, Backend, TestNode,
};
use vivier_node::auth::Role;
use vivier_node::config::Config;
use vivier_protocol::{KeyId, SigningKeyPair};

const BANNER: &str = "Démonstration : les personnes et les entreprises sont fictives.";

fn operator() -> SigningKeyPair {
    SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap())
}

async fn demo_node(backend: &Backend, id: &'static str, op: &SigningKeyPair) -> TestNode {
    let fed = federated(id, op);
    start_node_with(backend, |c: &mut Config| {
        fed(c);
        c.demo.enabled = true;
    })
    .await
}

/// Status and body of a web page, with a bearer token or anonymous.
async fn page(node: &TestNode, token: Option<&str>, path: &str) -> (u16, String) {
    let mut req = node.client.get(node.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    // Templates escape `/` in values.
    (status, r.text().await.expect("body").replace("&#x2f;", "/"))
}

#[tokio::test]
async fn banner_on_every_page_and_guided_tour_on_the_dashboard() {
    for b in backends() {
        let op = operator();
        let node = demo_node(&b, "cd41", &op).await;
        let plain = start_node_with(&b, federated("plain", &op)).await;
        let peer_key = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let mut peer = member_entry("ml-tours", "http://127.0.0.1:9", &peer_key);
        peer.display_name = "Mission locale de Tours".into();
        publish_membership(&op, &[&node], vec![member_of(&node), peer]).await;
        for n in [&node, &plain] {
            let staff = n.user(Role::Counsellor, "conseil@demo.test").await;
            let employer = n.user(Role::Employer, "emploi@demo.test").await;
            let in_demo = n.state.config.demo.enabled;
            let pages = [
                (None, "/ui/connexion", 200),
                (Some(staff.as_str()), "/ui/", 200),
                (Some(staff.as_str()), "/ui/candidats?texte=cariste", 200),
                (Some(staff.as_str()), "/ui/offres", 200),
                (Some(staff.as_str()), "/ui/candidats/inconnu", 404),
                (Some(employer.as_str()), "/ui/", 200),
                (Some(employer.as_str()), "/ui/mises-en-relation", 200),
            ];
            for (token, path, status) in pages {
                let (s, body) = page(n, token, path).await;
                assert_eq!(s, status, "{} {path}: {body}", b.name());
                assert_eq!(
                    body.contains(BANNER),
                    in_demo,
                    "{} {path} (demo: {in_demo})",
                    b.name()
                );
            }
            let (_, dashboard) = page(n, Some(&staff), "/ui/").await;
            let (_, employer_dashboard) = page(n, Some(&employer), "/ui/").await;
            for d in [&dashboard, &employer_dashboard] {
                assert_eq!(d.contains("Visite guidée de la démonstration"), in_demo);
            }
            if in_demo {
                // The counsellor's tour: search, matches, refer, switch, hire.
                assert!(dashboard.contains("/ui/candidats?texte=cariste"));
                assert!(dashboard.contains("Proposer pour cette offre"));
                assert!(dashboard.contains("embauché"));
                // The other nodes, from the membership document.
                assert!(dashboard.contains("Mission locale de Tours"));
                assert!(dashboard.contains("http://127.0.0.1:9/ui/"));
                assert!(!dashboard.contains(&format!("{}/ui/", node.base)));
                // The employer's tour: answer the referrals.
                assert!(employer_dashboard.contains("Indiquez l'embauche"));
                assert!(!employer_dashboard.contains("Recherchez un candidat"));
            }
        }
        node.stop().await;
        plain.stop().await;
    }
}

#[tokio::test]
async fn demo_node_refuses_a_membership_document_naming_a_member_off_loopback() {
    for b in backends() {
        let op = operator();
        let node = demo_node(&b, "cd41", &op).await;
        let before = node.snapshot().await;
        let far_key = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let off = membership_bytes(
            &op,
            vec![
                member_of(&node),
                member_entry("ml-tours", "https://vivier.ml-tours.fr", &far_key),
            ],
        );
        let r = push_membership(&node, off.clone()).await;
        assert_eq!(r.status().as_u16(), 422, "{}", b.name());
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(problem["type"], "urn:vivier:problem:demo_loopback_only");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("ml-tours (https://vivier.ml-tours.fr)"),
            "{detail}"
        );
        node.assert_alive_and_unchanged(&before).await;
        let (held, _) = page(&node, None, "/federation/v1/membership").await;
        assert_eq!(held, 404, "no document adopted");

        // The same document is fine for a node outside demo mode…
        let plain = start_node_with(&b, federated("plain", &op)).await;
        let r = push_membership(&plain, off).await;
        assert_eq!(r.status().as_u16(), 200, "{}", b.name());
        // …and a document naming loopback members only is fine in demo mode.
        publish_membership(
            &op,
            &[&node],
            vec![
                member_of(&node),
                member_entry("ml-tours", "http://127.0.0.1:9", &far_key),
            ],
        )
        .await;
        node.stop().await;
        plain.stop().await;
    }
}

#[tokio::test]
async fn demo_node_does_not_start_on_a_membership_file_off_loopback() {
    for b in backends() {
        let op = operator();
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let doc = dir.path().join("network.json");
        std::fs::write(
            &doc,
            membership_bytes(
                &op,
                vec![member_entry("cd41", "https://vivier.cd41.fr", &key)],
            ),
        )
        .unwrap();
        let mut config = Config {
            node_id: "cd41".into(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        federated("cd41", &op)(&mut config);
        config.demo.enabled = true;
        config.federation.membership_file = Some(doc);
        if let Backend::Postgres(admin) = &b {
            config.database_url = Some(crate::support::fresh_postgres_db(admin).await);
        }
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let err = vivier_node::server::open(config, rx)
            .await
            .err()
            .expect("refused at start");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("demo_loopback_only") && msg.contains("https://vivier.cd41.fr"),
            "{}: {msg}",
            b.name()
        );
    }
}
