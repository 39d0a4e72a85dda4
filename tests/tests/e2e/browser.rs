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

/// Mail on, to the test SMTP server on 127.0.0.1:`port`.
fn mail_to(port: u16) -> impl FnOnce(&mut vivier_node::config::Config) {
    move |c| {
        c.mail.enabled = true;
        c.mail.host = "127.0.0.1".into();
        c.mail.port = port;
        c.mail.security = vivier_node::mail::Security::None;
    }
}

#[tokio::test]
async fn password_reset_journey_in_the_browser() {
    let mut sink = SmtpSink::start().await;
    let port = sink.port();
    let node = WebNode::start(mail_to(port)).await.unwrap();
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

    // The seeded referral mailed its employer first: the reset is the next
    // message to this account.
    let mail = sink.next_message_to(&email, Duration::from_secs(30)).await;
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

/// The candidate space on a phone (issue #19): invitation mail from the
/// real SMTP server → access with a password → correct the phone → upload
/// a CV → two matched offers → « Ça m'intéresse » → the counsellor sees
/// it; the export downloaded and read back; erasure asked, confirmed by
/// the counsellor → access ends and the data is gone. axe-core on every
/// candidate page along the way.
#[tokio::test]
async fn candidate_space_journey_on_a_phone() {
    use vivier_tests::webnode::candidate_pages;
    let mut sink = SmtpSink::start().await;
    let port = sink.port();
    let node = WebNode::start(move |c| {
        mail_to(port)(c);
        // CVs are read by the real binary's `extract` subcommand.
        c.uploads.extractor_path = Some(crate::support::NODE_BIN.into());
    })
    .await
    .unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    // Inès, followed by the counsellor, with consent; no referral yet.
    let created = node
        .api(
            &node.counsellor,
            "/api/v1/candidates",
            &serde_json::json!({
                "first_name": "Inès", "last_name": "Roux", "commune_insee": "41018",
                "email": "ines.roux@example.org", "rome_codes": ["N1101"],
                "job_titles": ["Cariste"], "consent_scope": "network",
                "sensitive": {"rsa_beneficiary": true}
            }),
        )
        .await
        .unwrap();
    let person = created["id"].as_str().unwrap().to_string();
    // A second open offer that fits her (cariste in Blois).
    let second = node.api(
        &node.employer,
        "/api/v1/offers",
        &serde_json::json!({
            "title": "Cariste H/F — plateforme de Blois",
            "description": "Conduite de chariot élévateur, chargement des camions, inventaires en entrepôt.",
            "rome_code": "N1101",
            "contract_type": "CDD",
            "duration_months": 6,
            "employer": {"name": "Logistique Val de Loire"},
            "workplaces": [{"commune_insee": "41018", "positions": 1}]
        }),
    )
    .await
    .unwrap();
    let second = second["offer_id"].as_str().unwrap().to_string();
    vivier_node::journal::catch_up(&node.state).await.unwrap();
    node.state.search.offers.commit_now().unwrap();
    node.state.search.candidates.commit_now().unwrap();

    b.viewport(PHONE).await.unwrap();
    let mut found = Vec::new();
    let mut checked = 0;
    for page in candidate_pages(false) {
        found.extend(serious_on(&b, &page.name, &page.path).await);
        checked += 1;
    }

    // The counsellor invites Zoé from her record.
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    b.goto(&format!("/ui/candidats/{person}")).await.unwrap();
    b.click("form[action$='/inviter'] button[type=submit]")
        .await
        .unwrap();
    let shown = b.text("main").await.unwrap();
    assert!(shown.contains("Invitation créée"), "{shown}");
    b.screenshot("moi-0-invitation-conseiller").await.unwrap();
    b.logout().await.unwrap();

    let mail = sink
        .next_message_to("ines.roux@example.org", Duration::from_secs(30))
        .await;
    assert_eq!(mail.to, vec!["ines.roux@example.org".to_string()]);
    let link = mail
        .link_containing("/moi/invitation?jeton=")
        .expect("link in the mail");
    b.goto(&link).await.unwrap();
    assert_eq!(b.heading().await.unwrap(), "Ouvrir mon espace");
    found.extend(serious_on(&b, "moi-invitation", &link).await);
    let pw = "hérisson vaporeux contrebasse automnale";
    b.submit_form(
        "#avec-mot-de-passe",
        &[("#nouveau", pw), ("#confirmation", pw)],
    )
    .await
    .unwrap();
    assert_eq!(b.path().await.unwrap(), "/moi/");
    assert_eq!(b.heading().await.unwrap(), "Ma fiche");
    b.screenshot("moi-1-fiche").await.unwrap();

    // Correct the phone number.
    b.click_link("Corriger mes informations").await.unwrap();
    b.submit_form("main form", &[("#phone", "07 98 76 54 32")])
        .await
        .unwrap();
    let fiche = b.text("main").await.unwrap();
    assert!(
        fiche.contains("Vos corrections sont enregistrées"),
        "{fiche}"
    );
    assert!(fiche.contains("07 98 76 54 32"), "{fiche}");

    // Upload a CV (a real PDF, read by the sandboxed extractor).
    let dir = tempfile::tempdir().unwrap();
    let cv = dir.path().join("cv-ines.pdf");
    std::fs::write(
        &cv,
        vivier_node::extract::testdocs::pdf(&[
            b"In\xE8s Roux - cariste CACES 1 3 5",
            b"Conduite de chariot \xE9l\xE9vateur, chargement des camions, inventaires",
        ]),
    )
    .unwrap();
    b.goto("/moi/cv").await.unwrap();
    b.fill("#fichier", cv.to_str().unwrap()).await.unwrap();
    b.click("form[action='/moi/cv'] button[type=submit]")
        .await
        .unwrap();
    let fiche = b.text("main").await.unwrap();
    assert!(fiche.contains("Votre CV est déposé"), "{fiche}");
    assert!(fiche.contains("cv-ines.pdf"), "{fiche}");
    let stored = vivier_node::candidates::get_candidate(&node.state.db, &person)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.cv_text.contains("chariot"), "{}", stored.cv_text);
    assert_eq!(stored.phone.as_deref(), Some("07 98 76 54 32"));

    // The offers that fit, « Ça m'intéresse » on one of them.
    vivier_node::journal::catch_up(&node.state).await.unwrap();
    node.state.search.candidates.commit_now().unwrap();
    b.goto("/moi/offres").await.unwrap();
    let offers = b
        .client
        .find_all(fantoccini::Locator::Css(".offres-moi > li"))
        .await
        .unwrap();
    assert_eq!(offers.len(), 2, "{}", b.text("main").await.unwrap());
    let listed = b.text("main").await.unwrap();
    assert!(listed.contains("Cariste CACES 3") && listed.contains("plateforme de Blois"));
    b.screenshot("moi-2-offres").await.unwrap();
    b.click(&format!(
        "form[action='/moi/offres/{second}/interet'] button[type=submit]"
    ))
    .await
    .unwrap();
    let listed = b.text("main").await.unwrap();
    assert!(listed.contains("votre conseiller sait"), "{listed}");
    // Co-optation stays the counsellor's act: no referral yet.
    let referrals: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM referrals WHERE candidate_id = $1")
            .bind(&person)
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
    assert_eq!(referrals, 0);

    // Every signed-in page of the space, checked by axe-core.
    for page in candidate_pages(true) {
        found.extend(serious_on(&b, &page.name, &page.path).await);
        checked += 1;
    }

    // The counsellor sees the interest on the dashboard and the record,
    // and refers her (their act).
    b.viewport(vivier_tests::browser::DESKTOP).await.unwrap();
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    let dash = b.text("main").await.unwrap();
    assert!(dash.contains("Ça m'intéresse"), "{dash}");
    assert!(dash.contains("Inès Roux"), "{dash}");
    b.goto(&format!("/ui/candidats/{person}")).await.unwrap();
    let record = b.text("#signalements").await.unwrap();
    assert!(
        record.contains("Intéressée par l'offre « Cariste H/F — plateforme de Blois »"),
        "{record}"
    );
    assert!(record.contains("téléphone"), "{record}");
    b.screenshot("moi-4-conseiller-signalements").await.unwrap();
    b.logout().await.unwrap();
    node.api(
        &node.counsellor,
        "/api/v1/referrals",
        &serde_json::json!({"offer_id": second, "candidate_id": person,
                            "endorsement": "Motivée, a signalé son intérêt elle-même."}),
    )
    .await
    .unwrap();
    b.viewport(PHONE).await.unwrap();

    // The export, downloaded with the person's session and read back.
    b.goto("/moi/donnees").await.unwrap();
    let cookie = b
        .client
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name().starts_with("vivier_moi_"))
        .expect("the candidate cookie");
    let cookie = format!("{}={}", cookie.name(), cookie.value());
    let http = reqwest::Client::new();
    let export: serde_json::Value = http
        .get(node.url("/moi/donnees.json"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for section in [
        "record",
        "restricted",
        "cv_versions",
        "consents",
        "referrals",
        "reads",
    ] {
        assert!(export.get(section).is_some(), "no {section}: {export}");
    }
    assert_eq!(export["record"]["phone"], "07 98 76 54 32");
    assert_eq!(
        export["cv_versions"]["files"][0]["file_name"],
        "cv-ines.pdf"
    );
    assert!(export["consents"]["current"]["given_at"].as_i64().is_some());
    assert_eq!(export["referrals"][0]["offer_id"], second.as_str());
    assert_eq!(export["referrals"][0]["status"], "new");
    assert_eq!(export["restricted"]["rsa_beneficiary"], true);
    assert!(export["reads"].as_array().unwrap().len() >= 2);
    let pdf = http
        .get(node.url("/moi/donnees.pdf"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    // Erasure asked.
    b.click("form[action='/moi/effacement'] button[type=submit]")
        .await
        .unwrap();
    let said = b.text("main").await.unwrap();
    assert!(said.contains("Votre demande est transmise"), "{said}");
    b.screenshot("moi-3-effacement-demande").await.unwrap();

    // The counsellor sees the request on the dashboard, then confirms.
    b.viewport(vivier_tests::browser::DESKTOP).await.unwrap();
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    let dash = b.text("main").await.unwrap();
    assert!(dash.contains("Demande d'effacement"), "{dash}");
    b.goto(&format!("/ui/candidats/{person}")).await.unwrap();
    b.click_link("Confirmer l'effacement").await.unwrap();
    b.click("main form button[type=submit]").await.unwrap();
    b.logout().await.unwrap();

    // Access ends; the data is gone.
    b.goto("/moi/").await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/moi/connexion");
    let r = http
        .get(node.url("/moi/donnees.json"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/moi/connexion");
    assert!(
        vivier_node::candidates::get_candidate(&node.state.db, &person)
            .await
            .unwrap()
            .is_none()
    );
    b.submit_form(
        "form[action='/moi/connexion']",
        &[("#email", "ines.roux@example.org"), ("#password", pw)],
    )
    .await
    .unwrap();
    assert!(b.text("main").await.unwrap().contains("incorrect"));

    assert!(checked >= 11, "only {checked} pages checked");
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    b.close().await;
    node.stop().await;
}

/// Issue #15's daily journey: the counsellor creates a record (ROME codes
/// from the job title, a homonym commune chosen, a restricted field), edits
/// it and refers the person; the employer sees the name and how to reach
/// both people, and hires; the counsellor sees the hire. axe-core on the
/// forms along the way.
#[tokio::test]
async fn counsellor_edits_and_refers_employer_hires() {
    let mut sink = SmtpSink::start().await;
    let mail = mail_to(sink.port());
    let node = WebNode::start(|c| {
        mail(c);
        c.uploads.extractor_path = Some(crate::support::NODE_BIN.into());
    })
    .await
    .unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    let mut found = Vec::new();
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    b.goto("/ui/coordonnees").await.unwrap();
    b.submit_form("main form", &[("#telephone", "02 54 11 22 33")])
        .await
        .unwrap();
    assert!(b
        .text("main")
        .await
        .unwrap()
        .contains("Vos coordonnées ont été enregistrées"));

    // New record: ROME codes suggested from the job title.
    b.goto("/ui/candidats/nouveau").await.unwrap();
    for (css, value) in [
        ("#first_name", "Amina"),
        ("#last_name", "Diallo"),
        ("#email", "amina.diallo@example.org"),
        ("#phone", "06 12 12 12 12"),
        ("#commune", "Saint-Aignan"),
        ("#max_travel_km", "60"),
        ("#job_titles", "Cariste"),
    ] {
        b.fill(css, value).await.unwrap();
    }
    b.click("button[value=rome]").await.unwrap();
    let suggested = b.text(".suggestions").await.unwrap();
    assert!(suggested.contains("N1101"), "{suggested}");
    b.fill("#rome-0", "N1101").await.unwrap();
    b.choose("#consent-local").await.unwrap();
    b.choose("#rsa_beneficiary option[value=oui]")
        .await
        .unwrap();
    b.click("button[value=enregistrer]:not(.invisible)")
        .await
        .unwrap();
    // Saint-Aignan is several communes: the choice is offered.
    let asked = b.text("#commune-erreur").await.unwrap();
    assert!(asked.contains("Plusieurs communes"), "{asked}");
    found.extend(serious_here(&b, "candidat-nouveau (homonymes)").await);
    b.screenshot("fiche-1-homonymes").await.unwrap();
    b.choose("#commune_choix-41198").await.unwrap();
    b.click("button[value=enregistrer]:not(.invisible)")
        .await
        .unwrap();
    let record = b.text("main").await.unwrap();
    assert!(record.contains("La fiche a été créée."), "{record}");
    assert!(record.contains("Saint-Aignan (41)"), "{record}");
    let path = b.path().await.unwrap();
    let id = path
        .strip_prefix("/ui/candidats/")
        .and_then(|r| r.split('?').next())
        .unwrap()
        .to_string();

    // Edit: a restricted field and the phone.
    b.click_link("Modifier la fiche").await.unwrap();
    found.extend(serious_here(&b, "candidat-modifier").await);
    b.fill("#phone", "06 34 34 34 34").await.unwrap();
    b.choose("#disability_recognition option[value=oui]")
        .await
        .unwrap();
    b.screenshot("fiche-2-modifier").await.unwrap();
    b.click("button[value=enregistrer]:not(.invisible)")
        .await
        .unwrap();
    assert!(b
        .text("main")
        .await
        .unwrap()
        .contains("La fiche a été modifiée."));
    let c = node
        .api_get(&node.counsellor, &format!("/api/v1/candidates/{id}"))
        .await
        .unwrap();
    assert_eq!(c["phone"], "06 34 34 34 34", "{c}");
    assert_eq!(c["sensitive"]["rsa_beneficiary"], true, "{c}");
    assert_eq!(c["sensitive"]["disability_recognition"], true, "{c}");

    // Two CVs uploaded through the record's form; the older text chosen back.
    let files = tempfile::tempdir().unwrap();
    for (name, lines) in [
        (
            "cv-amina-2025.docx",
            ["Préparatrice de commandes", "CACES 1 et 5"],
        ),
        (
            "cv-amina-2026.docx",
            ["Cariste en entrepôt frigorifique", "CACES 3"],
        ),
    ] {
        let path = files.path().join(name);
        std::fs::write(&path, vivier_node::extract::testdocs::docx(&lines)).unwrap();
        b.client
            .find(fantoccini::Locator::Css("#fichier"))
            .await
            .unwrap()
            .send_keys(path.to_str().unwrap())
            .await
            .unwrap();
        b.click("form[enctype='multipart/form-data'] button[type=submit]")
            .await
            .unwrap();
        let said = b.text("main").await.unwrap();
        assert!(
            said.contains("Le CV a été déposé"),
            "{name} at {}: {}",
            b.path().await.unwrap(),
            b.text("section[aria-labelledby=t-cv]").await.unwrap()
        );
    }
    let versions = b.text("section[aria-labelledby=t-cv]").await.unwrap();
    assert!(
        versions.contains("cv-amina-2025.docx") && versions.contains("cv-amina-2026.docx"),
        "{versions}"
    );
    b.screenshot("fiche-3-versions-cv").await.unwrap();
    // Only the older version offers its text (the newest is in use).
    b.click("form[action$='/utiliser'] button[type=submit]")
        .await
        .unwrap();
    let said = b.text("main").await.unwrap();
    assert!(said.contains("celui de cette version du CV"), "{said}");
    let c = node
        .api_get(&node.counsellor, &format!("/api/v1/candidates/{id}"))
        .await
        .unwrap();
    assert!(
        c["cv_text"]
            .as_str()
            .unwrap()
            .contains("Préparatrice de commandes"),
        "{c}"
    );
    found.extend(serious_here(&b, "candidat (versions du CV)").await);

    // Refer her to the seeded offer from her record.
    vivier_node::journal::catch_up(&node.state).await.unwrap();
    node.state.search.candidates.commit_now().unwrap();
    node.state.search.offers.commit_now().unwrap();
    b.goto(&format!("/ui/candidats/{id}")).await.unwrap();
    let offer = &node.seeded.offer_id;
    b.submit_form(
        &format!("form.proposer:has(input[value='{offer}'])"),
        &[("textarea[name=endorsement]", "CACES à jour, très motivée.")],
    )
    .await
    .unwrap();
    let referral = b.path().await.unwrap();
    assert!(referral.starts_with("/ui/mises-en-relation/"), "{referral}");
    let referral = referral.split('?').next().unwrap().to_string();
    b.logout().await.unwrap();
    // The employer is told by e-mail, with a link to this referral.
    let told = mail_with(&mut sink, &node.employer.email, &referral).await;
    assert!(
        told.subject.contains("Nouveau candidat proposé"),
        "{}",
        told.subject
    );

    // The employer: her name in the list, both contacts, the hire.
    b.login(&node.employer.email, PASSWORD).await.unwrap();
    let home = b.text("main").await.unwrap();
    assert!(home.contains("Amina Diallo"), "{home}");
    b.click_link("Amina Diallo").await.unwrap();
    let contacts = b.text("section[aria-labelledby=t-contact]").await.unwrap();
    for words in [
        "amina.diallo@example.org",
        "06 34 34 34 34",
        &node.counsellor.display_name,
        &node.counsellor.email,
        "02 54 11 22 33",
    ] {
        assert!(contacts.contains(words), "{words}: {contacts}");
    }
    found.extend(serious_here(&b, "mise-en-relation (employeur, contacts)").await);
    b.screenshot("relation-1-contacts-employeur").await.unwrap();
    // She calls Amina and arranges the interview: « Avant embauche ».
    b.submit_form(
        "form:has(input[value=prior_to_hire])",
        &[(
            "#commentaire-entretien",
            "Entretien le mardi 3 mars à 10 h, quai 4",
        )],
    )
    .await
    .unwrap();
    let history = b.text("main").await.unwrap();
    assert!(
        history.contains("Entretien le mardi 3 mars à 10 h, quai 4"),
        "{history}"
    );
    b.client
        .execute(
            "document.querySelector('#date_debut').value = '2026-03-02'; return true;",
            vec![],
        )
        .await
        .unwrap();
    b.choose("#contrat option[value=CDI]").await.unwrap();
    b.click("form:has(input[value=accepted]) button[type=submit]")
        .await
        .unwrap();
    let hired = b.text("main").await.unwrap();
    assert!(hired.contains("Embauche"), "{hired}");
    b.logout().await.unwrap();

    // The counsellor sees the hire, with the name, in her list.
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    b.goto("/ui/mises-en-relation").await.unwrap();
    let row = b
        .text(&format!("tr:has(a[href='{referral}'])"))
        .await
        .unwrap();
    assert!(
        row.contains("Amina Diallo") && row.contains("Embauche"),
        "{row}"
    );
    b.screenshot("relation-2-embauche-conseiller")
        .await
        .unwrap();
    // …and each answer reached her by e-mail: « en cours d'examen » (the
    // employer opened it), the interview with its message, the hire.
    let seen = mail_with(&mut sink, &node.counsellor.email, &referral).await;
    assert!(
        seen.subject.contains("Réponse de l'employeur"),
        "{}",
        seen.subject
    );
    assert!(
        seen.text.contains("candidature en cours d'examen"),
        "{}",
        seen.text
    );
    let interview = mail_with(&mut sink, &node.counsellor.email, &referral).await;
    assert!(
        interview.text.contains("embauche en préparation")
            && interview
                .text
                .contains("Son message : « Entretien le mardi 3 mars à 10 h, quai 4 »"),
        "{}",
        interview.text
    );
    let hired = mail_with(&mut sink, &node.counsellor.email, &referral).await;
    assert!(hired.text.contains("embauche confirmée"), "{}", hired.text);
    b.close().await;
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    node.stop().await;
}

/// The next message to `to` whose text links to `path`, skipping others.
async fn mail_with(
    sink: &mut SmtpSink,
    to: &str,
    path: &str,
) -> vivier_testkit::smtp::ReceivedMail {
    loop {
        let m = sink.next_message_to(to, Duration::from_secs(30)).await;
        if m.text.contains(path) {
            return m;
        }
    }
}

/// Serious or critical axe-core violations on the page shown now.
async fn serious_here(b: &Browser, name: &str) -> Vec<String> {
    let all = b
        .axe()
        .await
        .unwrap_or_else(|e| panic!("axe on {name}: {e:#}"));
    all.iter()
        .filter(|v| v.is_serious())
        .map(|v| format!("{name}: {v}"))
        .collect()
}

/// An admin disables a counsellor from « Comptes »: the row says so, her
/// API token and password stop working at once; reactivated, she signs in
/// again.
#[tokio::test]
async fn admin_disables_a_user_in_the_browser() {
    let node = WebNode::start(|_| {}).await.unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    let me = node.api_get(&node.counsellor, "/api/v1/me").await.unwrap();
    let uid = me["id"].as_str().expect("user id").to_string();
    let row = format!("tr:has(#role-{uid})");
    b.login(&node.admin.email, PASSWORD).await.unwrap();
    b.goto("/ui/admin/utilisateurs").await.unwrap();
    assert!(b.text(&row).await.unwrap().contains("Actif"));
    b.click(&format!("{row} button[value=desactiver]"))
        .await
        .unwrap();
    let said = b.text("main").await.unwrap();
    assert!(said.contains("Compte désactivé"), "{said}");
    let now = b.text(&row).await.unwrap();
    assert!(
        now.contains("Désactivé") && now.contains(&node.counsellor.email),
        "{now}"
    );
    let mut found = serious_here(&b, "admin-utilisateurs (désactivé)").await;
    b.screenshot("admin-1-compte-desactive").await.unwrap();

    // Her API token is refused, and so is her password.
    let refused = node
        .api_get(&node.counsellor, "/api/v1/me")
        .await
        .expect_err("token of a disabled account");
    assert!(format!("{refused:#}").contains("401"), "{refused:#}");
    b.logout().await.unwrap();
    b.goto("/ui/connexion").await.unwrap();
    b.submit_form(
        "form[action='/ui/connexion']",
        &[("#email", &node.counsellor.email), ("#password", PASSWORD)],
    )
    .await
    .unwrap();
    assert_eq!(b.path().await.unwrap(), "/ui/connexion");
    assert!(b.text("main").await.unwrap().contains("incorrect"));

    // Reactivated, she signs in again.
    b.login(&node.admin.email, PASSWORD).await.unwrap();
    b.goto("/ui/admin/utilisateurs").await.unwrap();
    b.click(&format!("{row} button[value=reactiver]"))
        .await
        .unwrap();
    assert!(b.text(&row).await.unwrap().contains("Actif"));
    found.extend(serious_here(&b, "admin-utilisateurs (réactivé)").await);
    b.logout().await.unwrap();
    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    assert_eq!(b.heading().await.unwrap(), "Tableau de bord");
    b.close().await;
    assert!(found.is_empty(), "{}", found.join("\n"));
    node.stop().await;
}

/// Issue 18 in the browser: a counsellor publishes a training through the
/// form, finds it in the list, sees it on a record as the way to close a
/// skills gap (« Il manque une certification »), proposes the candidate
/// « pour cette formation », records the outcomes on the referral page,
/// and the record then holds the certification and matches the offer.
/// Every new page passes axe.
#[tokio::test]
async fn training_skills_gap_journey_in_the_browser() {
    let node = WebNode::start(|_| {}).await.unwrap();
    let Some(b) = Browser::start(&node.base).await.unwrap() else {
        return;
    };
    let day = |d: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let offer = node
        .api(
            &node.employer,
            "/api/v1/offers",
            &serde_json::json!({
                "title": "Cariste chariot frontal",
                "description": "Conduite de chariots élévateurs en entrepôt.",
                "rome_code": "N1101",
                "contract_type": "CDI",
                "start_date": day(60),
                "required_certifications": ["CACES_R489_3"],
                "employer": {"name": "Logistique Val de Loire"},
                "workplaces": [{"commune_insee": "41018", "positions": 1}]
            }),
        )
        .await
        .unwrap();
    let offer_id = offer["offer_id"].as_str().unwrap().to_string();
    let cand = node
        .api(
            &node.counsellor,
            "/api/v1/candidates",
            &serde_json::json!({
                "first_name": "Inès",
                "last_name": "Moreau",
                "commune_insee": "41018",
                "rome_codes": ["N1101"],
                "cv_text": "Cariste, préparation de commandes en entrepôt logistique.",
                "consent_scope": "local"
            }),
        )
        .await
        .unwrap();
    let cand_id = cand["id"].as_str().unwrap().to_string();
    let mut found = Vec::new();

    b.login(&node.counsellor.email, PASSWORD).await.unwrap();
    b.goto("/ui/formations").await.unwrap();
    found.extend(serious_on(&b, "formations", "/ui/formations").await);
    b.click("#publier-formation").await.unwrap();
    assert_eq!(
        b.heading().await.unwrap(),
        "Publier une formation ou une immersion"
    );
    found.extend(serious_on(&b, "formation-nouvelle", "/ui/formations/nouvelle").await);
    // An end before the start is explained next to the field.
    let set_dates = |start: String, end: String| {
        let client = b.client.clone();
        async move {
            client
                .execute(
                    "document.querySelector('#debut').value = arguments[0]; \
                     document.querySelector('#fin').value = arguments[1]; return true;",
                    vec![start.into(), end.into()],
                )
                .await
                .unwrap();
        }
    };
    b.fill("#titre", "CACES R489 catégorie 3").await.unwrap();
    b.fill("#organisme", "AFPA Blois").await.unwrap();
    b.choose("#certifications option[value='CACES_R489_3']")
        .await
        .unwrap();
    b.fill("#rome", "N1101").await.unwrap();
    b.fill("#commune", "41018").await.unwrap();
    b.fill("#places", "8").await.unwrap();
    b.fill("#financement", "OPCO 2i").await.unwrap();
    set_dates(day(14), day(10)).await;
    b.click("main form button[type=submit]").await.unwrap();
    let err = b.text("#fin-erreur").await.unwrap();
    assert!(!err.is_empty(), "an error on the end date");
    // What was typed is kept, the chosen certification too.
    let kept: serde_json::Value = b
        .client
        .execute(
            "return document.querySelector(\"#certifications option[value='CACES_R489_3']\").selected;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, serde_json::json!(true));
    set_dates(day(10), day(14)).await;
    b.click("main form button[type=submit]").await.unwrap();
    assert_eq!(b.heading().await.unwrap(), "CACES R489 catégorie 3");
    let delivered = b.text("#certifications-delivrees").await.unwrap();
    assert!(delivered.contains("CACES"), "{delivered}");
    let training_path = b.path().await.unwrap();
    let training_path = training_path.split('?').next().unwrap().to_string();
    found.extend(serious_on(&b, "formation", &training_path).await);
    b.goto("/ui/formations?certification=CACES_R489_3")
        .await
        .unwrap();
    assert!(b
        .text("main table")
        .await
        .unwrap()
        .contains("CACES R489 catégorie 3"));

    // The record: the offer is a near miss; the training closes the gap.
    let record = format!("/ui/candidats/{cand_id}");
    b.goto(&record).await.unwrap();
    let gap = b.text("section[aria-labelledby=t-gap]").await.unwrap();
    assert!(gap.contains("Cariste chariot frontal"), "{gap}");
    assert!(gap.contains("CACES R489 catégorie 3"), "{gap}");
    assert!(gap.contains("AFPA Blois"), "{gap}");
    found.extend(serious_on(&b, "candidat-ecart", &record).await);
    b.submit_form(
        "section[aria-labelledby=t-gap] form.proposer",
        &[("textarea", "Motivée, il ne lui manque que le CACES 3.")],
    )
    .await
    .unwrap();
    let referral_path = b.path().await.unwrap();
    assert!(
        referral_path.starts_with("/ui/mises-en-relation/"),
        "{referral_path}"
    );
    let heading = b.text("#t-rel").await.unwrap();
    assert!(heading.contains("Formation"), "{heading}");
    assert!(b.text("#pour-offre").await.is_ok());
    let referral_path = referral_path.split('?').next().unwrap().to_string();
    found.extend(serious_on(&b, "mise-en-relation-formation", &referral_path).await);
    // This node runs the training: its staff record the outcomes.
    b.click("#issue-admitted").await.unwrap();
    assert!(b
        .text("main")
        .await
        .unwrap()
        .contains("Entrée en formation"));
    b.click("#issue-certified").await.unwrap();
    let main = b.text("main").await.unwrap();
    assert!(main.contains("Certifiée"), "{main}");
    assert!(
        b.text("#issue-abandoned").await.is_err(),
        "certified is final"
    );

    // The record holds the certification and now matches the offer.
    b.goto(&record).await.unwrap();
    let main = b.text("main").await.unwrap();
    assert!(main.contains("CACES"), "{main}");
    assert!(b.text("section[aria-labelledby=t-gap]").await.is_err());
    let matches = b.text("section[aria-labelledby=t-match]").await.unwrap();
    assert!(matches.contains("Cariste chariot frontal"), "{matches}");
    b.screenshot("formation-ecart-certifiee").await.unwrap();
    let rec = node
        .api_get(&node.counsellor, &format!("/api/v1/candidates/{cand_id}"))
        .await
        .unwrap();
    assert_eq!(rec["certifications"], serde_json::json!(["CACES_R489_3"]));
    let _ = offer_id;
    assert!(found.is_empty(), "{found:#?}");
    b.close().await;
    node.stop().await;
}
