//! Browser tests in headless Chromium (Debian's `chromium` and
//! `chromium-driver`): the password-reset journey through the web pages and
//! a real SMTP server, and an axe-core accessibility check of every page as
//! each role. Skipped with a message when Chromium is missing on a
//! developer's machine; failing in CI (`CI` set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vivier_testkit::smtp::SmtpSink;
use vivier_tests::browser::{Browser, Violation, PHONE};
use vivier_tests::webnode::{public_pages, WebNode, PASSWORD};

#[tokio::test]
async fn password_reset_journey_in_the_browser() {
    let mut sink = SmtpSink::start().await;
    let port = sink.port();
    let node = WebNode::start(move |c| {
        c.mail.enabled = true;
        c.mail.host = "127.0.0.1".into();
        c.mail.port = port;
        c.mail.security = vivier_node::mail::Security::None;
    })
    .await
    .unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    let email = node.counsellor.email.clone();

    b.goto("/ui/connexion").await.unwrap();
    b.click_link("Mot de passe oublié ?").await.unwrap();
    assert_eq!(b.heading().await.unwrap(), "Mot de passe oublié");
    b.submit_form("main form", &[("#email", &email)])
        .await
        .unwrap();
    let said = b.text("main").await.unwrap();
    assert!(said.contains("Si un compte actif correspond"), "{said}");
    b.screenshot("parcours-reinitialisation-1-demande")
        .await
        .unwrap();

    let mail = sink.next_message(Duration::from_secs(30)).await;
    assert_eq!(mail.to, vec![email.clone()]);
    let link = mail
        .link_containing("/ui/reinitialisation?jeton=")
        .expect("link in the mail");

    b.goto(&link).await.unwrap();
    assert_eq!(
        b.heading().await.unwrap(),
        "Choisir un nouveau mot de passe"
    );
    assert!(b.text("main").await.unwrap().contains(&email));
    // A weak password is explained in French and nothing changes.
    b.submit_form(
        "main form",
        &[("#nouveau", "soleil2024"), ("#confirmation", "soleil2024")],
    )
    .await
    .unwrap();
    let refused = b.text("#nouveau-erreur").await.unwrap();
    assert!(
        refused.contains("Mot de passe trop facile à deviner") || refused.contains("au moins"),
        "{refused}"
    );
    let new_password = "hérisson vaporeux contrebasse automnale";
    b.submit_form(
        "main form",
        &[("#nouveau", new_password), ("#confirmation", new_password)],
    )
    .await
    .unwrap();
    let done = b.text("main").await.unwrap();
    assert!(done.contains("Votre mot de passe a été changé"), "{done}");
    b.screenshot("parcours-reinitialisation-2-termine")
        .await
        .unwrap();

    // The link has served.
    b.goto(&link).await.unwrap();
    assert!(b.text("main").await.unwrap().contains("déjà servi"));

    // The old password no longer opens the account; the new one does.
    b.goto("/ui/connexion").await.unwrap();
    b.submit_form(
        "form[action='/ui/connexion']",
        &[("#email", &email), ("#password", PASSWORD)],
    )
    .await
    .unwrap();
    assert!(b.text("main").await.unwrap().contains("incorrect"));
    b.login(&email, new_password).await.unwrap();
    assert_eq!(b.heading().await.unwrap(), "Tableau de bord");
    b.close().await;
    node.stop().await;
}

/// Serious or critical violations on `path`, as "page: violation" lines
/// (the others are printed).
async fn serious_on(b: &Browser, name: &str, path: &str) -> Vec<String> {
    b.goto(path).await.unwrap();
    let all = b
        .axe()
        .await
        .unwrap_or_else(|e| panic!("axe on {path}: {e:#}"));
    for v in all.iter().filter(|v| !v.is_serious()) {
        eprintln!("axe, not blocking: {name} ({path}): {v}");
    }
    all.iter()
        .filter(|v| v.is_serious())
        .map(|v: &Violation| format!("{name} ({path}): {v}"))
        .collect()
}

#[tokio::test]
async fn every_page_passes_axe_as_each_role() {
    let node = WebNode::start(|_| {}).await.unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    let mut found = Vec::new();
    let mut visited = 0;
    for page in public_pages() {
        found.extend(serious_on(&b, &page.name, &page.path).await);
        visited += 1;
    }
    for who in [&node.counsellor, &node.employer, &node.admin] {
        b.login(&who.email, PASSWORD).await.unwrap();
        for page in node.pages(who) {
            found.extend(serious_on(&b, &page.name, &page.path).await);
            visited += 1;
        }
        // The same layout on a phone.
        b.viewport(PHONE).await.unwrap();
        for path in ["/ui/", "/ui/mises-en-relation"] {
            found.extend(serious_on(&b, "téléphone", path).await);
            visited += 1;
        }
        b.viewport(vivier_tests::browser::DESKTOP).await.unwrap();
        b.logout().await.unwrap();
    }
    assert!(visited >= 40, "only {visited} pages checked");
    // The check can fail: a field without a label and an image without a
    // text alternative are reported.
    b.goto("/ui/connexion").await.unwrap();
    b.client
        .execute(
            "const f = document.createElement('input'); f.type = 'text'; \
             document.querySelector('main').appendChild(f); \
             const i = document.createElement('img'); i.src = '/ui/static/app.css'; \
             document.querySelector('main').appendChild(i); return true;",
            vec![],
        )
        .await
        .unwrap();
    let broken: Vec<String> = b
        .axe()
        .await
        .unwrap()
        .into_iter()
        .filter(Violation::is_serious)
        .map(|v| v.id)
        .collect();
    assert!(
        broken.contains(&"label".to_string()) && broken.contains(&"image-alt".to_string()),
        "{broken:?}"
    );
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    b.close().await;
    node.stop().await;
}
