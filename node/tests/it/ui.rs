//! The web UI over HTTP, as a browser uses it: session cookie, plain
//! form posts, redirects. Each test runs on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{
    backends, browser, eventually, get, page, post, start_node, ui_login as login, Page, TestNode,
};
use serde_json::json;
use vivier_node::auth::Role;

const PASSWORD: &str = "motdepasse-solide";

/// The page with the entities minijinja writes for `/` and `'` decoded.
fn text(body: &str) -> String {
    body.replace("&#x2f;", "/").replace("&#x27;", "'")
}

/// Text between `start` and the next occurrence of `end` after it.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"));
    let rest = &body[i..];
    let j = rest[start.len()..]
        .find(end)
        .map(|j| j + start.len())
        .unwrap_or(rest.len());
    &rest[..j]
}

async fn audit_count(node: &TestNode, action: &str, target: Option<&str>) -> i64 {
    // Searches are audited by a group-commit writer.
    node.state.read_audit.flush().await;
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_log WHERE action = $1 AND ($2 IS NULL OR target_id = $2)",
    )
    .bind(action)
    .bind(target)
    .fetch_one(&node.state.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn login_logout_and_redirects() {
    for backend in backends() {
        let node = start_node(&backend).await;
        node.user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;

        // Not logged in: every page sends to the login form.
        for path in [
            "/ui/",
            "/ui/candidats",
            "/ui/candidats/nouveau",
            "/ui/offres",
            "/ui/offres/nouvelle",
            "/ui/mises-en-relation",
        ] {
            let p = get(&node, None, path).await;
            assert_eq!(p.status, 303, "{backend:?} {path}");
            assert_eq!(p.location.as_deref(), Some("/ui/connexion"), "{path}");
        }
        let form = get(&node, None, "/ui/connexion").await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("<html lang=\"fr\">"));
        assert!(form
            .body
            .contains("<label for=\"email\">Adresse e-mail</label>"));
        assert!(form
            .body
            .contains("<label for=\"password\">Mot de passe</label>"));
        let csp = form.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");

        // Wrong password: a French error, no cookie, the e-mail kept.
        let bad = post(
            &node,
            None,
            "/ui/connexion",
            &[
                ("email", "conseillere@mission-emploi.fr"),
                ("password", "mauvais-mot-de-passe"),
            ],
        )
        .await;
        assert_eq!(bad.status, 401, "{backend:?}");
        assert!(bad.set_cookie.is_none());
        assert!(bad
            .body
            .contains("Adresse e-mail ou mot de passe incorrect."));
        assert!(bad.body.contains("value=\"conseillere@mission-emploi.fr\""));

        // Right password: HttpOnly, SameSite=Strict session cookie.
        let p = post(
            &node,
            None,
            "/ui/connexion",
            &[
                ("email", "conseillere@mission-emploi.fr"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(p.status, 303);
        let set = p.set_cookie.clone().expect("cookie");
        // Named after the node: two nodes on one host keep their sessions apart.
        assert!(set.starts_with("vivier_session_test-node=viv_"), "{set}");
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        let cookie = set.split(';').next().unwrap().to_string();
        assert_eq!(audit_count(&node, "auth.login", None).await, 1);

        let home = get(&node, Some(&cookie), "/ui/").await;
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("Tableau de bord"));
        assert!(home.body.contains("href=\"/ui/candidats\""));
        assert!(home.body.contains("dans les rapprochements"));
        // The login page sends a logged-in user home.
        let again = get(&node, Some(&cookie), "/ui/connexion").await;
        assert_eq!(again.location.as_deref(), Some("/ui/"));

        // The stylesheet.
        let css = get(&node, None, "/ui/static/app.css").await;
        assert_eq!(css.status, 200);
        assert!(css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css"));

        // A cross-site POST is refused even with the cookie.
        let forged = browser()
            .post(node.url("/ui/deconnexion"))
            .header("cookie", &cookie)
            .header("origin", "https://malveillant.example")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
        assert_eq!(get(&node, Some(&cookie), "/ui/").await.status, 200);

        // Logout revokes the session and clears the cookie.
        let out = post(&node, Some(&cookie), "/ui/deconnexion", &[]).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some("/ui/connexion"));
        assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
        let after = get(&node, Some(&cookie), "/ui/").await;
        assert_eq!(after.status, 303);
        assert_eq!(after.location.as_deref(), Some("/ui/connexion"));
        node.stop().await;
    }
}

#[tokio::test]
async fn counsellor_creates_a_candidate_and_finds_it() {
    for backend in backends() {
        let node = start_node(&backend).await;
        node.user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let cookie = login(&node, "conseillere@mission-emploi.fr").await;

        let form = get(&node, Some(&cookie), "/ui/candidats/nouveau").await;
        assert_eq!(form.status, 200, "{}", form.body);
        for id in [
            "first_name",
            "last_name",
            "commune",
            "rome-0",
            "consent-local",
            "consent-network",
            "cv_text",
        ] {
            assert!(
                form.body.contains(&format!("for=\"{id}\"")),
                "label for {id}"
            );
        }

        let mut fields = vec![
            ("first_name", "Léa"),
            ("last_name", "Martin"),
            ("email", "lea.martin@example.fr"),
            ("phone", "06 12 34 56 78"),
            ("commune", "99999"),
            ("max_travel_km", "25"),
            ("driving_licences", "B"),
            ("has_vehicle", "1"),
            ("weekly_hours", "35"),
            ("contract_types", "CDI"),
            ("contract_types", "MIS"),
            ("rome", "N1101"),
            ("rome", ""),
            ("rome", ""),
            ("job_titles", "Cariste\nPréparatrice de commandes"),
            ("skills", "CACES 3\nGestion de stock"),
            ("languages", "français, anglais"),
            (
                "cv_text",
                "Cariste expérimentée : conduite de chariots élévateurs, CACES 3, inventaires.",
            ),
            ("consent", "local"),
            ("certifications", "CACES_R489_3"),
            ("certifications", "SST"),
        ];
        // Unknown commune: the message sits next to the field, in French.
        let bad = post(&node, Some(&cookie), "/ui/candidats/nouveau", &fields).await;
        assert_eq!(bad.status, 422, "{backend:?} {}", bad.body);
        let field = between(&bad.body, "id=\"commune\"", "</div>");
        assert!(field.contains("aria-invalid=\"true\""), "{field}");
        assert!(
            field.contains("id=\"commune-erreur\"") && field.contains("Commune inconnue"),
            "{field}"
        );
        assert!(bad.body.contains("Le formulaire contient 1 erreur"));
        // What was typed is kept.
        assert!(bad.body.contains("value=\"Léa\""));
        assert!(bad.body.contains("Préparatrice de commandes"));
        assert_eq!(audit_count(&node, "candidate.create", None).await, 0);

        fields[4] = ("commune", "41018");
        let ok = post(&node, Some(&cookie), "/ui/candidats/nouveau", &fields).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let location = ok.location.unwrap();
        let id = location
            .strip_prefix("/ui/candidats/")
            .and_then(|r| r.split('?').next())
            .unwrap()
            .to_string();
        assert_eq!(audit_count(&node, "candidate.create", Some(&id)).await, 1);

        let record = get(&node, Some(&cookie), &location).await;
        assert_eq!(record.status, 200, "{}", record.body);
        assert!(record.body.contains("Léa Martin"));
        assert!(record.body.contains("La fiche a été créée."));
        assert!(record.body.contains("Blois (41)"));
        assert!(
            record.body.contains("CACES R489 catégorie 3")
                && record.body.contains("Sauveteur secouriste du travail"),
            "certifications shown"
        );
        assert!(record.body.contains("N1101"));
        assert!(record.body.contains("CDI, Intérim"));
        // Read from the UI = audited like an API read.
        assert_eq!(audit_count(&node, "candidate.read", Some(&id)).await, 1);

        // Search: text, ROME, commune and radius, licence, contract.
        let path =
            "/ui/candidats?texte=chariots&rome=N1101&commune=Blois&rayon=20&permis=B&contrat=CDI";
        let found = eventually(10, || async {
            let p = get(&node, Some(&cookie), path).await;
            assert_eq!(p.status, 200, "{}", p.body);
            p.body.contains("Léa Martin").then_some(p)
        })
        .await
        .expect("the new candidate is found");
        assert!(found.body.contains(&format!("href=\"/ui/candidats/{id}\"")));
        assert!(found.body.contains("à 0 km"), "distance shown");
        assert!(found.body.contains("autour de Blois (41018)"));
        // The snippet's marks are rendered as HTML.
        assert!(found.body.contains("<b>chariots</b>"), "{}", found.body);
        assert!(found.body.contains("Page 1 sur 1"), "{}", found.body);
        assert!(audit_count(&node, "candidate.search", None).await >= 1);

        // Search errors are shown in French next to their field.
        let p = get(&node, Some(&cookie), "/ui/candidats?rome=Z9999&rayon=abc").await;
        assert_eq!(p.status, 200);
        assert!(p.body.contains("Code ROME inconnu"));
        assert!(p.body.contains("id=\"rayon-erreur\""));
        // Sorting by distance without a commune: said, as the API says it.
        let p = get(
            &node,
            Some(&cookie),
            "/ui/candidats?texte=cariste&tri=distance",
        )
        .await;
        assert_eq!(p.status, 200);
        assert!(p.body.contains("id=\"tri-erreur\""), "{}", p.body);
        assert!(p.body.contains("Le tri par distance demande une commune."));
        // A sentence nobody matches whole is widened, and the page says so.
        let p = get(
            &node,
            Some(&cookie),
            "/ui/candidats?texte=cherche+chariots+disponible+rapidement",
        )
        .await;
        assert_eq!(p.status, 200);
        assert!(p.body.contains("id=\"elargie\""), "{}", p.body);
        assert!(!p.body.contains("id=\"prefixe-court\""), "{}", p.body);
        // A prefix too short to be one is read as the word, and the page
        // says so (a real prefix says nothing).
        let p = get(&node, Some(&cookie), "/ui/candidats?texte=c*+cariste").await;
        assert_eq!(p.status, 200);
        assert!(p.body.contains("id=\"prefixe-court\""), "{}", p.body);
        assert!(
            p.body
                .contains("« c* » : un début de mot doit compter au moins deux lettres"),
            "{}",
            p.body
        );
        let p = get(&node, Some(&cookie), "/ui/candidats?texte=cari*").await;
        assert_eq!(p.status, 200);
        assert!(!p.body.contains("id=\"prefixe-court\""), "{}", p.body);
        node.stop().await;
    }
}

fn offer_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("title", "Cariste H/F"),
        (
            "description",
            "Chargement et déchargement des camions au chariot élévateur.",
        ),
        ("rome_code", "n1101"),
        ("weekly_hours", "35"),
        ("salary_min", "1 850"),
        ("salary_max", "2050,50"),
        ("salary_period", "month"),
        ("driving_licence", "B"),
        ("lieu_commune", "41018"),
        ("lieu_postes", "2"),
        ("lieu_commune", "37261"),
        ("lieu_postes", "1"),
        ("lieu_commune", ""),
        ("lieu_postes", ""),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn employer_posts_an_offer_through_the_web_form() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let token = node.user(Role::Employer, "rh@logistique.fr").await;
        let cookie = login(&node, "rh@logistique.fr").await;

        // Employers never reach the candidathèque.
        for path in ["/ui/candidats", "/ui/candidats/nouveau"] {
            let p = get(&node, Some(&cookie), path).await;
            assert_eq!(p.status, 403, "{backend:?} {path}");
            assert!(p.body.contains("Accès refusé"));
        }
        let home = get(&node, Some(&cookie), "/ui/").await;
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("Publier une offre"));
        assert!(!home.body.contains("href=\"/ui/candidats\""));

        let form = get(&node, Some(&cookie), "/ui/offres/nouvelle").await;
        assert_eq!(form.status, 200, "{}", form.body);
        for id in [
            "title",
            "description",
            "rome_code",
            "contract_type",
            "duration_months",
            "weekly_hours",
            "salary_min",
            "driving_licence",
            "lieu-commune-0",
            "lieu-postes-0",
        ] {
            assert!(form.body.contains(&format!("for=\"{id}\"")), "label {id}");
        }

        // ROME suggestions from the title, without JavaScript.
        let sugg = post(
            &node,
            Some(&cookie),
            "/ui/offres/nouvelle",
            &offer_form(&[("contract_type", "CDI"), ("action", "rome")]),
        )
        .await;
        assert_eq!(sugg.status, 200, "{}", sugg.body);
        assert!(
            sugg.body.contains("<option value=\"N1101\">"),
            "{}",
            sugg.body
        );
        // "Ajouter un lieu" adds a row and keeps the others.
        let rows = post(
            &node,
            Some(&cookie),
            "/ui/offres/nouvelle",
            &offer_form(&[("contract_type", "CDI"), ("action", "ligne")]),
        )
        .await;
        assert!(rows.body.contains("id=\"lieu-commune-3\""));
        assert!(rows.body.contains("value=\"37261\""));

        // A CDD needs a duration; an unknown commune is named on its row.
        let bad = post(
            &node,
            Some(&cookie),
            "/ui/offres/nouvelle",
            &[
                ("title", "Cariste H/F"),
                ("description", "Chargement."),
                ("rome_code", "N1101"),
                ("contract_type", "CDD"),
                ("lieu_commune", "41018"),
                ("lieu_postes", "1"),
                ("lieu_commune", "00000"),
                ("lieu_postes", "1"),
                ("action", "publier"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let duration = between(&bad.body, "id=\"duration_months\"", "</div>");
        assert!(duration.contains("Obligatoire pour un CDD"), "{duration}");
        let row = between(&bad.body, "id=\"lieu-commune-1\"", "</td>");
        assert!(row.contains("Commune inconnue"), "{row}");

        // Published with two workplaces.
        let ok = post(
            &node,
            Some(&cookie),
            "/ui/offres/nouvelle",
            &offer_form(&[
                ("contract_type", "CDI"),
                ("start_date", "2027-04-01"),
                ("vehicle_required", "1"),
                ("required_certifications", "CACES_R489_3"),
                ("desired_certifications", "SST"),
                ("action", "publier"),
            ]),
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let location = ok.location.unwrap();
        let id = location
            .strip_prefix("/ui/offres/")
            .and_then(|r| r.split('?').next())
            .unwrap()
            .to_string();
        assert_eq!(audit_count(&node, "offer.create", Some(&id)).await, 1);
        let detail = get(&node, Some(&cookie), &location).await;
        assert_eq!(detail.status, 200, "{}", detail.body);
        let detail_text = text(&detail.body);
        assert!(detail_text.contains("L'offre est publiée"));
        for shown in [
            "Prise de poste",
            "véhicule personnel exigé",
            "CACES R489 catégorie 3",
            "Sauveteur secouriste du travail",
        ] {
            assert!(detail_text.contains(shown), "{shown}: {detail_text}");
        }
        assert!(detail.body.contains("Entreprise Test"));
        assert!(detail.body.contains("Blois (41) : 2 postes"));
        assert!(detail.body.contains("Tours (37) : 1 poste"));
        assert!(detail
            .body
            .contains("de 1\u{202f}850 € à 2\u{202f}050,50 € par mois"));
        // Employers do not see matches (candidates).
        assert!(!detail.body.contains("Candidats correspondants"));

        // It is in the API, like an API offer, and broadcast.
        let (st, list) = node.get(&token, "/api/v1/offers").await;
        assert_eq!(st, 200);
        let offer = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["offer_id"] == id.as_str())
            .cloned()
            .expect("offer listed by the API");
        assert_eq!(offer["rome_code"], "N1101");
        assert_eq!(offer["contract_type"], "CDI");
        assert_eq!(offer["employer"]["name"], "Entreprise Test");
        assert_eq!(offer["salary"]["min_cents"], 185_000);
        assert_eq!(offer["salary"]["max_cents"], 205_050);
        let wps = offer["workplaces"].as_array().unwrap();
        assert_eq!(wps.len(), 2);
        assert_eq!(wps[0]["commune_insee"], "41018");
        assert_eq!(wps[0]["positions"], 2);
        assert_eq!(wps[1]["commune_insee"], "37261");
        let logged: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM broadcast_log WHERE kind = 'offer.published'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        assert_eq!(logged, 1);

        // "Mes offres" lists it.
        let mine = get(&node, Some(&cookie), "/ui/offres").await;
        assert!(mine.body.contains(&format!("href=\"/ui/offres/{id}\"")));
        node.stop().await;
    }
}

#[tokio::test]
async fn names_are_escaped() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let cookie = login(&node, "conseillere@mission-emploi.fr").await;
        let (st, c) = node
            .post(
                &staff,
                "/api/v1/candidates",
                &json!({
                    "first_name": "<script>alert(1)</script>",
                    "last_name": "\"><img src=x onerror=alert(2)>",
                    "commune_insee": "41018",
                    "rome_codes": ["N1101"],
                    "job_titles": ["<b>Cariste</b>"],
                    "cv_text": "cariste <i>chariots</i> & CACES",
                    "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let id = c["id"].as_str().unwrap();
        let record = get(&node, Some(&cookie), &format!("/ui/candidats/{id}")).await;
        assert_eq!(record.status, 200, "{}", record.body);
        assert!(!record.body.contains("<script>alert(1)"), "{}", record.body);
        assert!(!record.body.contains("<img src=x"));
        assert!(record
            .body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(!record.body.contains("<b>Cariste</b>"));

        let found = eventually(10, || async {
            let p = get(&node, Some(&cookie), "/ui/candidats?texte=cariste").await;
            p.body.contains(&format!("/ui/candidats/{id}")).then_some(p)
        })
        .await
        .expect("found");
        assert!(!found.body.contains("<script>alert(1)"));
        assert!(!found.body.contains("<img src=x"));
        assert!(!found.body.contains("<i>chariots</i>"), "{}", found.body);
        // Only the search module's own marks are HTML.
        assert!(found.body.contains("<b>cariste</b>"), "{}", found.body);
        // The extract carries its own ellipses: never two in a row.
        assert!(!found.body.contains("… …"), "{}", found.body);
        // A page past the last says so, not « Aucun candidat ».
        let past = get(&node, Some(&cookie), "/ui/candidats?texte=cariste&page=9").await;
        assert!(
            past.body.contains("au-delà de la dernière"),
            "{}",
            past.body
        );
        assert!(!past.body.contains("Aucun candidat ne correspond"));
        node.stop().await;
    }
}

#[tokio::test]
async fn refer_from_the_record_and_the_employer_answers() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        node.user(Role::Employer, "rh@autre.fr").await;
        let (st, offer) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Cariste H/F",
                    "description": "Conduite de chariots élévateurs, CACES 3.",
                    "rome_code": "N1101",
                    "contract_type": "CDI",
                    "weekly_hours": 35,
                    "driving_licence": "B",
                    "workplaces": [{"commune_insee": "41018", "positions": 1}]
                }),
            )
            .await;
        assert_eq!(st, 201, "{offer}");
        let offer_id = offer["offer_id"].as_str().unwrap().to_string();
        let (st, c) = node
            .post(
                &staff,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Karim",
                    "last_name": "Benali",
                    "commune_insee": "41018",
                    "max_travel_km": 30,
                    "driving_licences": ["B"],
                    "has_vehicle": true,
                    "weekly_hours": 35,
                    "rome_codes": ["N1101"],
                    "cv_text": "Cariste, chariots élévateurs, CACES 3.",
                    "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let cid = c["id"].as_str().unwrap().to_string();
        let staff_cookie = login(&node, "conseillere@mission-emploi.fr").await;

        // The record lists the offer with its score explained in French
        // (index caught up first: each page view is audited once).
        node.sync_index().await;
        let record = eventually(10, || async {
            let p = get(&node, Some(&staff_cookie), &format!("/ui/candidats/{cid}")).await;
            p.body.contains("Proposer pour cette offre").then_some(p)
        })
        .await
        .expect("the offer is matched");
        for words in [
            "même code ROME (N1101)",
            "à 0 km (limite 30 km)",
            "permis B requis : détenu",
            "souhaite 35 h par semaine, l'offre en propose 35",
        ] {
            assert!(
                text(&record.body).contains(words),
                "{words}: {}",
                record.body
            );
        }
        assert_eq!(audit_count(&node, "candidate.matches", Some(&cid)).await, 1);

        // The offer page (staff) lists the candidate.
        let o = get(
            &node,
            Some(&staff_cookie),
            &format!("/ui/offres/{offer_id}"),
        )
        .await;
        assert_eq!(o.status, 200, "{}", o.body);
        assert!(o.body.contains("Karim Benali"));
        assert!(o.body.contains("Offre locale"));
        // A cariste without the licence is kept out, and shown with what
        // she lacks when asked for.
        let (st, lea) = node
            .post(
                &staff,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Léa",
                    "last_name": "Sanspermis",
                    "commune_insee": "41018",
                    "rome_codes": ["N1101"],
                    "cv_text": "Cariste, chariots élévateurs.",
                    "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(st, 201, "{lea}");
        node.sync_index().await;
        let o = get(
            &node,
            Some(&staff_cookie),
            &format!("/ui/offres/{offer_id}"),
        )
        .await;
        assert!(!o.body.contains("Sanspermis"), "{}", o.body);
        assert!(o.body.contains("?ecartes=1"));
        let o = get(
            &node,
            Some(&staff_cookie),
            &format!("/ui/offres/{offer_id}?ecartes=1"),
        )
        .await;
        assert_eq!(o.status, 200, "{}", o.body);
        let lea_block = between(&o.body, "Sanspermis", "</article>");
        assert!(
            text(lea_block).contains("Écarté(e) : permis requis non détenu"),
            "{lea_block}"
        );
        assert!(
            !lea_block.contains("Proposer pour cette offre"),
            "{lea_block}"
        );
        assert!(o.body.contains("Masquer les candidats écartés"));
        // Her record names the offer kept from her, and why.
        let lea_id = lea["id"].as_str().unwrap();
        let lea_page = get(
            &node,
            Some(&staff_cookie),
            &format!("/ui/candidats/{lea_id}"),
        )
        .await;
        assert_eq!(lea_page.status, 200, "{}", lea_page.body);
        let row = between(
            &lea_page.body,
            &format!("id=\"ecartee-{offer_id}\""),
            "</tr>",
        );
        assert!(text(row).contains("Cariste H/F"), "{row}");
        assert!(text(row).contains("permis requis non détenu"), "{row}");

        // An empty note is refused, next to the form.
        let empty = post(
            &node,
            Some(&staff_cookie),
            &format!("/ui/candidats/{cid}/proposer"),
            &[("offer_id", &offer_id), ("endorsement", "  ")],
        )
        .await;
        assert_eq!(empty.status, 200);
        assert!(empty
            .body
            .contains("Dites pourquoi vous recommandez ce candidat."));

        let referred = post(
            &node,
            Some(&staff_cookie),
            &format!("/ui/candidats/{cid}/proposer"),
            &[
                ("offer_id", &offer_id),
                ("endorsement", "Très fiable, CACES à jour."),
            ],
        )
        .await;
        assert_eq!(referred.status, 303, "{}", referred.body);
        let rel = referred.location.unwrap();
        let rid = rel
            .strip_prefix("/ui/mises-en-relation/")
            .and_then(|r| r.split('?').next())
            .unwrap()
            .to_string();

        // The employer sees it, with the profile and the note.
        let emp_cookie = login(&node, "rh@logistique.fr").await;
        let list = get(&node, Some(&emp_cookie), "/ui/mises-en-relation").await;
        assert!(list.body.contains(&format!("/ui/mises-en-relation/{rid}")));
        let d = get(
            &node,
            Some(&emp_cookie),
            &format!("/ui/mises-en-relation/{rid}"),
        )
        .await;
        assert_eq!(d.status, 200, "{}", d.body);
        assert!(d.body.contains("Karim Benali"));
        assert!(d.body.contains("Très fiable, CACES à jour."));
        // Opening it marks it "en cours d'examen".
        assert!(text(&d.body).contains("En cours d'examen"), "{}", d.body);
        assert!(d.body.contains("Non mobile") && d.body.contains("Poste pourvu"));

        // Another employer does not see it.
        let other = login(&node, "rh@autre.fr").await;
        let hidden = get(&node, Some(&other), &format!("/ui/mises-en-relation/{rid}")).await;
        assert_eq!(hidden.status, 404);
        let hidden_list = get(&node, Some(&other), "/ui/mises-en-relation").await;
        assert!(!hidden_list.body.contains(&rid));

        // Refusal needs a reason; then the hire.
        let no_reason = post(
            &node,
            Some(&emp_cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[("statut", "refused"), ("motif", "")],
        )
        .await;
        assert_eq!(no_reason.status, 422);
        assert!(no_reason.body.contains("Indiquez le motif du refus."));
        let prior = post(
            &node,
            Some(&emp_cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[("statut", "prior_to_hire")],
        )
        .await;
        assert_eq!(prior.status, 303, "{}", prior.body);
        let hired = post(
            &node,
            Some(&emp_cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[
                ("statut", "accepted"),
                ("contrat", "CDI"),
                ("date_debut", "05/01/2026"),
                ("commentaire", "Bienvenue !"),
            ],
        )
        .await;
        assert_eq!(hired.status, 303, "{}", hired.body);
        let d = get(
            &node,
            Some(&emp_cookie),
            &format!("/ui/mises-en-relation/{rid}"),
        )
        .await;
        assert!(d.body.contains("Embauche"));
        assert!(
            text(&d.body).contains("CDI, début le 05/01/2026"),
            "{}",
            d.body
        );
        assert!(d.body.contains("Avant embauche"));
        assert!(d.body.contains("Bienvenue !"));

        // Staff lists: offers with their origin, referrals with status. The
        // hire filled the offer's one position: it is closed now.
        let open = get(&node, Some(&staff_cookie), "/ui/offres?origine=local").await;
        assert!(!open.body.contains(&format!("/ui/offres/{offer_id}")));
        let offers = get(
            &node,
            Some(&staff_cookie),
            "/ui/offres?origine=local&statut=closed",
        )
        .await;
        assert_eq!(offers.status, 200, "{}", offers.body);
        assert!(offers.body.contains(&format!("/ui/offres/{offer_id}")));
        assert!(offers.body.contains("Locale"));
        let rels = get(&node, Some(&staff_cookie), "/ui/mises-en-relation").await;
        assert_eq!(rels.status, 200, "{}", rels.body);
        assert!(rels.body.contains(&rid) && rels.body.contains("Embauche"));
        let missing = get(&node, Some(&staff_cookie), "/ui/candidats/inconnu").await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("Candidat introuvable"));

        // The API agrees.
        let (st, r) = node.get(&staff, &format!("/api/v1/referrals/{rid}")).await;
        assert_eq!(st, 200);
        assert_eq!(r["status"], "accepted");
        assert_eq!(r["start_date"], "2026-01-05");
        node.stop().await;
    }
}

/// A multipart upload of one file through the record's CV form.
async fn upload(
    node: &TestNode,
    cookie: &str,
    cid: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Page {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap();
    let form = reqwest::multipart::Form::new().part("fichier", part);
    let resp = browser()
        .post(node.url(&format!("/ui/candidats/{cid}/cv")))
        .header("origin", node.base.clone())
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .expect("send");
    page(resp).await
}

#[tokio::test]
async fn record_actions_cv_consent_return_to_work_and_erasure() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let (st, c) = node
            .post(
                &staff,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Inès",
                    "last_name": "Moreau",
                    "commune_insee": "41018",
                    "rome_codes": ["N1101"],
                }),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let cid = c["id"].as_str().unwrap().to_string();
        let cookie = login(&node, "conseillere@mission-emploi.fr").await;
        let record_path = format!("/ui/candidats/{cid}");

        let record = get(&node, Some(&cookie), &record_path).await;
        assert_eq!(record.status, 200, "{}", record.body);
        for words in [
            "Déposer un CV",
            "Consentement",
            "Retour à l'emploi",
            "Supprimer définitivement (RGPD)",
            "CDD de moins de 6 mois, intérim, saisonnier",
            "CDD de 6 mois ou plus",
            "Contrat d'apprentissage",
            "Contrat de professionnalisation",
            "Début du contrat",
            "Création d'entreprise",
            "enctype=\"multipart/form-data\"",
        ] {
            assert!(text(&record.body).contains(words), "{words}");
        }

        // A DOCX: stored, its text on the record, listed with a link.
        let docx = vivier_node::extract::testdocs::docx(&[
            "Inès Moreau",
            "Préparatrice de commandes, CACES 1 et 5.",
        ]);
        let up = upload(
            &node,
            &cookie,
            &cid,
            "cv-ines.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx.clone(),
        )
        .await;
        assert_eq!(up.status, 303, "{backend:?} {}", up.body);
        assert_eq!(
            up.location.as_deref(),
            Some(format!("/ui/candidats/{cid}?ok=cv").as_str())
        );
        assert_eq!(
            audit_count(&node, "candidate.cv_upload", Some(&cid)).await,
            1
        );
        let record = get(&node, Some(&cookie), &up.location.unwrap()).await;
        assert!(text(&record.body).contains("Le CV a été déposé"));
        assert!(
            record
                .body
                .contains("Préparatrice de commandes, CACES 1 et 5."),
            "{}",
            record.body
        );
        assert!(record.body.contains("cv-ines.docx"));
        let link = between(
            &text(&record.body),
            &format!("/ui/candidats/{cid}/cv/"),
            "\"",
        )
        .to_string();
        let dl = browser()
            .get(node.url(&link))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(dl.status().as_u16(), 200);
        assert!(dl.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("cv-ines.docx"));
        assert_eq!(dl.bytes().await.unwrap().to_vec(), docx);
        assert_eq!(
            audit_count(&node, "candidate.cv_download", Some(&cid)).await,
            1
        );

        // A text file: 415 with the French message, nothing stored.
        let txt = upload(
            &node,
            &cookie,
            &cid,
            "cv.txt",
            "text/plain",
            b"Juste du texte".to_vec(),
        )
        .await;
        assert_eq!(txt.status, 415, "{}", txt.body);
        assert!(
            text(&txt.body).contains(
                "Format de fichier non pris en charge : déposez un CV au format PDF, DOCX ou ODT."
            ),
            "{}",
            txt.body
        );
        assert_eq!(
            audit_count(&node, "candidate.cv_upload", Some(&cid)).await,
            1
        );

        // Consent given (network), then withdrawn.
        let given = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/consentement"),
            &[("action", "donner"), ("portee", "network")],
        )
        .await;
        assert_eq!(given.status, 303, "{}", given.body);
        let (_, api) = node.get(&staff, &format!("/api/v1/candidates/{cid}")).await;
        assert_eq!(api["state"], "consented", "{api}");
        assert_eq!(api["consent"]["scope"], "network", "{api}");
        let record = get(&node, Some(&cookie), &given.location.unwrap()).await;
        assert!(text(&record.body).contains("réseau (peut être proposé"));
        assert!(record.body.contains("Retirer le consentement"));
        assert_eq!(audit_count(&node, "candidate.consent", Some(&cid)).await, 1);
        let withdrawn = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/consentement"),
            &[("action", "retirer")],
        )
        .await;
        assert_eq!(withdrawn.status, 303, "{}", withdrawn.body);
        let (_, api) = node.get(&staff, &format!("/api/v1/candidates/{cid}")).await;
        assert_eq!(api["state"], "draft", "{api}");
        assert_eq!(
            audit_count(&node, "candidate.consent_withdrawn", Some(&cid)).await,
            1
        );
        let record = get(&node, Some(&cookie), &withdrawn.location.unwrap()).await;
        assert!(record.body.contains("non recueilli"));

        // Return to work: a CDI, counted in the statistics.
        let missing = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/retour-emploi"),
            &[("issue", "")],
        )
        .await;
        assert_eq!(missing.status, 422);
        assert!(text(&missing.body).contains("Choisissez la nature du retour à l'emploi."));
        let placed = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/retour-emploi"),
            &[("issue", "cdi"), ("mise_en_relation", "")],
        )
        .await;
        assert_eq!(placed.status, 303, "{}", placed.body);
        assert_eq!(
            audit_count(&node, "candidate.placement", Some(&cid)).await,
            1
        );
        let (st, stats) = node.get(&staff, "/api/v1/stats").await;
        assert_eq!(st, 200, "{stats}");
        assert_eq!(stats["returns_to_work"]["by_outcome"]["cdi"], 1, "{stats}");
        let record = get(&node, Some(&cookie), &placed.location.unwrap()).await;
        assert!(text(&record.body).contains("Le retour à l'emploi a été enregistré."));
        assert!(record.body.contains("En emploi ou en formation"));

        // Erasure: a confirmation page, then the record is gone.
        let confirm = get(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/supprimer"),
        )
        .await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        for words in [
            "Supprimer définitivement la fiche de Inès Moreau",
            "1 fichier de CV",
            "informés de l'effacement",
            "Supprimer définitivement (RGPD)",
        ] {
            assert!(
                text(&confirm.body).contains(words),
                "{words}: {}",
                confirm.body
            );
        }
        // Without the confirmation field, nothing happens.
        let unconfirmed = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/supprimer"),
            &[],
        )
        .await;
        assert_eq!(unconfirmed.status, 303);
        let (st, _) = node.get(&staff, &format!("/api/v1/candidates/{cid}")).await;
        assert_eq!(st, 200);
        // A cross-site POST is refused.
        let forged = browser()
            .post(node.url(&format!("/ui/candidats/{cid}/supprimer")))
            .header("cookie", &cookie)
            .header("origin", "https://malveillant.example")
            .form(&[("confirmer", "oui")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
        let erased = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/supprimer"),
            &[("confirmer", "oui")],
        )
        .await;
        assert_eq!(erased.status, 303, "{}", erased.body);
        assert_eq!(
            erased.location.as_deref(),
            Some("/ui/candidats?ok=supprime")
        );
        assert_eq!(audit_count(&node, "candidate.erase", Some(&cid)).await, 1);
        let (st, _) = node.get(&staff, &format!("/api/v1/candidates/{cid}")).await;
        assert_eq!(st, 404, "{backend:?}");
        let list = get(&node, Some(&cookie), "/ui/candidats?ok=supprime").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(text(&list.body).contains("La fiche a été supprimée définitivement"));
        let gone = get(&node, Some(&cookie), &record_path).await;
        assert_eq!(gone.status, 404);
        node.stop().await;
    }
}

#[tokio::test]
async fn employer_closes_an_offer_from_its_page() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        node.user(Role::Employer, "rh@autre.fr").await;
        let (st, offer) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Préparateur de commandes H/F",
                    "description": "Préparation de commandes en entrepôt.",
                    "rome_code": "N1103",
                    "contract_type": "CDI",
                    "workplaces": [{"commune_insee": "41018", "positions": 1}]
                }),
            )
            .await;
        assert_eq!(st, 201, "{offer}");
        let oid = offer["offer_id"].as_str().unwrap().to_string();
        let cookie = login(&node, "rh@logistique.fr").await;
        let p = get(&node, Some(&cookie), &format!("/ui/offres/{oid}")).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(text(&p.body).contains("Clôturer l'offre"), "{}", p.body);

        // Another employer cannot close it.
        let other = login(&node, "rh@autre.fr").await;
        let refused = post(
            &node,
            Some(&other),
            &format!("/ui/offres/{oid}/cloturer"),
            &[("motif", "")],
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.body);

        let closed = post(
            &node,
            Some(&cookie),
            &format!("/ui/offres/{oid}/cloturer"),
            &[("motif", "Poste pourvu en interne")],
        )
        .await;
        assert_eq!(closed.status, 303, "{}", closed.body);
        assert_eq!(audit_count(&node, "offer.close", Some(&oid)).await, 1);
        let (st, o) = node.get(&employer, &format!("/api/v1/offers/{oid}")).await;
        assert_eq!(st, 200);
        assert_eq!(o["status"], "closed", "{o}");
        let p = get(&node, Some(&cookie), &closed.location.unwrap()).await;
        assert!(text(&p.body).contains("L'offre est clôturée"), "{}", p.body);
        assert!(p.body.contains("clôturée le"));
        assert!(!p.body.contains("/cloturer\""), "no form on a closed offer");
        node.stop().await;
    }
}

/// Optional: render the dashboard to PNG with headless Chromium when it is
/// installed (never installed by the tests).
/// The administration pages: an admin creates an account, changes a role,
/// disables an account (its session stops working) and re-enables it; the
/// audit log lists what happened, newest first, filtered by action and
/// actor; the network page shows the federation status. Nobody else opens
/// them.
#[tokio::test]
async fn admin_pages_manage_accounts_and_show_the_audit_log_and_network() {
    for backend in backends() {
        let node = start_node(&backend).await;
        node.user(Role::Admin, "admin@mission-emploi.fr").await;
        node.user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        node.user(Role::Employer, "rh@boulangerie.fr").await;
        let admin = login(&node, "admin@mission-emploi.fr").await;
        for who in ["claire@mission-emploi.fr", "rh@boulangerie.fr"] {
            let c = login(&node, who).await;
            for path in [
                "/ui/admin/utilisateurs",
                "/ui/admin/journal",
                "/ui/admin/reseau",
            ] {
                let p = get(&node, Some(&c), path).await;
                assert_eq!(p.status, 403, "{who} {path}");
            }
            let p = post(
                &node,
                Some(&c),
                "/ui/admin/utilisateurs",
                &[
                    ("nom", "X"),
                    ("courriel", "x@y.fr"),
                    ("role", "admin"),
                    ("mot_de_passe", PASSWORD),
                ],
            )
            .await;
            assert_eq!(p.status, 403, "{who} created an account");
        }
        let home = get(&node, Some(&admin), "/ui/").await;
        assert!(
            home.body.contains("href=\"/ui/admin/utilisateurs\""),
            "menu entry"
        );

        // Create: mail is off here, so a password is required.
        let p = post(
            &node,
            Some(&admin),
            "/ui/admin/utilisateurs",
            &[
                ("nom", "Léa Martin"),
                ("courriel", "lea@mission-emploi.fr"),
                ("role", "counsellor"),
            ],
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(text(&p.body).contains("Mot de passe :"), "{}", p.body);
        assert!(
            p.body.contains("value=\"lea@mission-emploi.fr\""),
            "form kept"
        );
        let p = post(
            &node,
            Some(&admin),
            "/ui/admin/utilisateurs",
            &[
                ("nom", "Léa Martin"),
                ("courriel", "lea@mission-emploi.fr"),
                ("role", "counsellor"),
                ("mot_de_passe", PASSWORD),
            ],
        )
        .await;
        assert_eq!(p.status, 303, "{}", p.body);
        let lea_cookie = login(&node, "lea@mission-emploi.fr").await;
        let p = post(
            &node,
            Some(&admin),
            "/ui/admin/utilisateurs",
            &[
                ("nom", "Léa bis"),
                ("courriel", "LEA@mission-emploi.fr"),
                ("role", "counsellor"),
                ("mot_de_passe", PASSWORD),
            ],
        )
        .await;
        assert!(
            text(&p.body).contains("un compte existe déjà"),
            "{}",
            p.body
        );
        let lea: String =
            sqlx::query_scalar("SELECT id FROM users WHERE email = 'lea@mission-emploi.fr'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        let list = get(&node, Some(&admin), "/ui/admin/utilisateurs").await;
        assert!(list.body.contains("Léa Martin") && list.body.contains("claire@mission-emploi.fr"));

        // Role, then disable: Léa's session ends; re-enable.
        let path = format!("/ui/admin/utilisateurs/{lea}");
        let p = post(
            &node,
            Some(&admin),
            &path,
            &[("action", "role"), ("role", "admin")],
        )
        .await;
        assert_eq!(p.status, 303, "{}", p.body);
        let p = post(&node, Some(&admin), &path, &[("action", "desactiver")]).await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/ui/admin/utilisateurs?fait=desactive"))
        );
        let p = get(&node, Some(&lea_cookie), "/ui/").await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/ui/connexion")),
            "session revoked"
        );
        let p = post(
            &node,
            None,
            "/ui/connexion",
            &[("email", "lea@mission-emploi.fr"), ("password", PASSWORD)],
        )
        .await;
        assert_ne!(p.status, 303, "a disabled account cannot log in");
        let list = get(&node, Some(&admin), "/ui/admin/utilisateurs?fait=desactive").await;
        assert!(list.body.contains("Compte désactivé"), "{}", list.body);
        let p = post(&node, Some(&admin), &path, &[("action", "reactiver")]).await;
        assert_eq!(p.status, 303);
        login(&node, "lea@mission-emploi.fr").await;
        // No mail on this node: the reset link is refused in French.
        let p = post(&node, Some(&admin), &path, &[("action", "lien")]).await;
        assert_eq!(p.status, 409);
        assert!(
            text(&p.body).contains("n'envoie pas de courriel"),
            "{}",
            p.body
        );
        // The last active admin cannot disable themself away... once Léa
        // is demoted again.
        post(
            &node,
            Some(&admin),
            &path,
            &[("action", "role"), ("role", "counsellor")],
        )
        .await;
        let me: String =
            sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@mission-emploi.fr'")
                .fetch_one(&node.state.db.pool)
                .await
                .unwrap();
        let p = post(
            &node,
            Some(&admin),
            &format!("/ui/admin/utilisateurs/{me}"),
            &[("action", "role"), ("role", "counsellor")],
        )
        .await;
        assert_eq!(p.status, 409);
        assert!(
            text(&p.body).contains("dernier administrateur"),
            "{}",
            p.body
        );

        // Audit log: newest first, filters.
        let p = get(&node, Some(&admin), "/ui/admin/journal?action=user.update").await;
        assert_eq!(p.status, 200);
        let body = text(&p.body);
        let rows = body.matches("<code>user.update</code>").count();
        assert_eq!(rows, 4, "role, disable, enable, role: {body}");
        // Each action by its French name, the code beside it; the object's
        // kind in French.
        assert_eq!(body.matches("Compte modifié<br>").count(), 4, "{body}");
        assert!(body.contains("<td class=\"identifiant\">compte "), "{body}");
        assert!(!body.contains("<code>user.create</code>"));
        let p = get(
            &node,
            Some(&admin),
            "/ui/admin/journal?acteur=admin%40mission-emploi.fr&action=user.create",
        )
        .await;
        assert_eq!(text(&p.body).matches("<code>user.create</code>").count(), 1);
        let p = get(
            &node,
            Some(&admin),
            "/ui/admin/journal?acteur=personne%40nulle.part",
        )
        .await;
        assert!(
            text(&p.body).contains("Aucun compte n'a l'adresse"),
            "{}",
            p.body
        );

        // Network page.
        let p = get(&node, Some(&admin), "/ui/admin/reseau").await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("Messages en rebut"));
        assert!(
            p.body.contains("aucun document d&#x27;adhésion reçu")
                || p.body.contains("aucun document d'adhésion reçu"),
            "{}",
            p.body
        );
        node.stop().await;
    }
}

/// Follow-up from the record page: an entry with a next step (a French
/// error for a bad date, the form's other fields reported together), shown
/// on the record and in the dashboard's « À faire », marked done from
/// there.
#[tokio::test]
async fn follow_up_from_the_record_and_the_todo_on_the_dashboard() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let token = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let cookie = login(&node, "claire@mission-emploi.fr").await;
        let (s, v) = node
            .post(&token, "/api/v1/candidates", &json!({"first_name": "Inès", "last_name": "Roux", "commune_insee": "41018", "rome_codes": ["D1106"], "cv_text": "Vendeuse."}))
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let path = format!("/ui/candidats/{id}/suivi");
        let p = post(
            &node,
            Some(&cookie),
            &path,
            &[
                ("nature", "call"),
                ("date", "01/01/2999"),
                ("compte_rendu", ""),
                ("etape", "Rappeler"),
            ],
        )
        .await;
        assert_eq!(p.status, 422, "{}", p.body);
        let body = text(&p.body);
        assert!(
            body.contains("Date : la date ne peut pas être dans le futur."),
            "{body}"
        );
        assert!(
            body.contains("Compte rendu : ce champ est obligatoire."),
            "{body}"
        );
        assert!(
            body.contains("Échéance : indiquez l'échéance de la prochaine étape."),
            "{body}"
        );
        let today = chrono::Utc::now().format("%d/%m/%Y").to_string();
        let p = post(
            &node,
            Some(&cookie),
            &path,
            &[
                ("nature", "call"),
                ("compte_rendu", "Appel : disponible lundi."),
                ("etape", "Envoyer les offres de vendeuse"),
                ("echeance", &today),
            ],
        )
        .await;
        assert_eq!(p.status, 303, "{}", p.body);
        let record = get(&node, Some(&cookie), &format!("/ui/candidats/{id}")).await;
        let body = text(&record.body);
        assert!(
            body.contains("Appel téléphonique") && body.contains("Appel : disponible lundi."),
            "{body}"
        );
        let home = get(&node, Some(&cookie), "/ui/").await;
        let body = text(&home.body);
        let todo = between(&body, "id=\"t-afaire\"", "</section>");
        assert!(
            todo.contains("Envoyer les offres de vendeuse") && todo.contains("Inès Roux"),
            "{todo}"
        );
        assert!(todo.contains("sans CV joint"), "{todo}");
        let step: String = sqlx::query_scalar("SELECT id FROM followups")
            .fetch_one(&node.state.db.pool)
            .await
            .unwrap();
        let p = post(
            &node,
            Some(&cookie),
            &format!("/ui/suivi/{step}/fait"),
            &[("retour", "tableau")],
        )
        .await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/ui/?ok=etape"))
        );
        let home = get(&node, Some(&cookie), "/ui/?ok=etape").await;
        let body = text(&home.body);
        assert!(body.contains("L'étape est marquée comme faite."));
        assert!(!between(&body, "id=\"t-afaire\"", "</section>").contains("Envoyer les offres"));
        node.stop().await;
    }
}

/// CV versions: two uploads keep both texts, the newest readable one is
/// searched, the counsellor chooses the older one back; a scan (a PDF
/// without text) is flagged and leaves the searchable text alone.
#[tokio::test]
async fn cv_versions_keep_every_text_and_a_scan_never_empties_it() {
    use vivier_node::extract::testdocs;
    for backend in backends() {
        let node = start_node(&backend).await;
        let token = node
            .user(Role::Counsellor, "claire@mission-emploi.fr")
            .await;
        let cookie = login(&node, "claire@mission-emploi.fr").await;
        let (s, v) = node
            .post(&token, "/api/v1/candidates", &json!({"first_name": "Inès", "last_name": "Moreau", "commune_insee": "41018",
                "rome_codes": ["N1103"], "cv_text": "Texte saisi à la main.", "consent_scope": "local"}))
            .await;
        assert_eq!(s, 201, "{v}");
        let cid = v["id"].as_str().unwrap().to_string();
        let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        let first = upload(
            &node,
            &cookie,
            &cid,
            "cv-2025.docx",
            docx,
            testdocs::docx(&["Préparatrice de commandes", "CACES 1 et 5"]),
        )
        .await;
        assert_eq!(
            first.location.as_deref(),
            Some(format!("/ui/candidats/{cid}?ok=cv").as_str())
        );
        let second = upload(
            &node,
            &cookie,
            &cid,
            "cv-2026.docx",
            docx,
            testdocs::docx(&["Cariste en entrepôt", "CACES 3"]),
        )
        .await;
        assert_eq!(second.status, 303);
        let search = |q: &'static str| {
            let node = &node;
            let token = token.clone();
            async move {
                let (_, v) = node
                    .get(&token, &format!("/api/v1/candidates/search?q={q}"))
                    .await;
                v["total"].as_u64().unwrap_or(0)
            }
        };
        eventually(20, || async {
            (search("entrepôt").await == 1).then_some(())
        })
        .await
        .expect("newest text searched");
        assert_eq!(search("Préparatrice").await, 0, "older text not searched");
        // A scanned PDF: flagged, the searchable text unchanged.
        let scan = testdocs::pdf(&[]);
        let p = upload(&node, &cookie, &cid, "scan.pdf", "application/pdf", scan).await;
        assert_eq!(
            p.location.as_deref(),
            Some(format!("/ui/candidats/{cid}?ok=cv-illisible").as_str()),
            "{}",
            p.body
        );
        let record = get(&node, Some(&cookie), p.location.as_deref().unwrap()).await;
        let body = text(&record.body);
        assert!(body.contains("aucun texte n'a pu en être lu"), "{body}");
        assert!(
            body.contains("aucun texte lisible (document scanné ?)"),
            "{body}"
        );
        assert_eq!(search("entrepôt").await, 1, "the scan emptied nothing");
        // Choose the first version back.
        let files: Vec<(String, String)> = sqlx::query_as("SELECT id, file_name FROM candidate_files WHERE candidate_id = $1 ORDER BY created_at, id")
            .bind(&cid).fetch_all(&node.state.db.pool).await.unwrap();
        let (first_id, _) = files.iter().find(|(_, n)| n == "cv-2025.docx").unwrap();
        let (scan_id, _) = files.iter().find(|(_, n)| n == "scan.pdf").unwrap();
        let p = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/cv/{scan_id}/utiliser"),
            &[],
        )
        .await;
        assert_eq!(p.status, 409, "a scan cannot be chosen");
        let p = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/cv/{first_id}/utiliser"),
            &[],
        )
        .await;
        assert_eq!(p.status, 303, "{}", p.body);
        eventually(20, || async {
            (search("Préparatrice").await == 1).then_some(())
        })
        .await
        .expect("chosen text searched");
        assert_eq!(search("entrepôt").await, 0);
        let (_, rec) = node.get(&token, &format!("/api/v1/candidates/{cid}")).await;
        let in_use: Vec<&str> = rec["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["in_use"] == true)
            .map(|f| f["file_name"].as_str().unwrap())
            .collect();
        assert_eq!(in_use, ["cv-2025.docx"], "{rec}");
        assert_eq!(
            audit_count(&node, "candidate.cv_text_chosen", Some(&cid)).await,
            1
        );
        // Text typed by hand is nobody's file: no version stays "in use";
        // an edit that leaves the text alone keeps the mark.
        let edit = |cv: &str| {
            json!({"first_name": "Inès", "last_name": "Moreau", "commune_insee": "41018",
            "rome_codes": ["N1103"], "cv_text": cv})
        };
        let kept = rec["cv_text"].as_str().unwrap().to_string();
        let (s, v) = node
            .put(&token, &format!("/api/v1/candidates/{cid}"), &edit(&kept))
            .await;
        assert_eq!(s, 200, "{v}");
        let (_, rec) = node.get(&token, &format!("/api/v1/candidates/{cid}")).await;
        assert_eq!(
            rec["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["in_use"] == true)
                .count(),
            1,
            "{rec}"
        );
        let (s, v) = node
            .put(
                &token,
                &format!("/api/v1/candidates/{cid}"),
                &edit("Retapé : préparatrice, CACES 1 et 5."),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (_, rec) = node.get(&token, &format!("/api/v1/candidates/{cid}")).await;
        assert!(
            rec["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["in_use"] == false),
            "{rec}"
        );
        let page = get(&node, Some(&cookie), &format!("/ui/candidats/{cid}")).await;
        assert!(
            !page.body.contains("texte utilisé pour la recherche"),
            "{}",
            page.body
        );
        node.stop().await;
    }
}

/// A scanned CV (a PDF holding only a page picture): with Tesseract
/// installed the node reads it by OCR, marks the version « lu par OCR : à
/// relire », and its words become searchable; with OCR off (or Tesseract
/// missing) the same file is flagged unreadable and the record's text is
/// unchanged. CI installs Tesseract and sets `VIVIER_REQUIRE_OCR=1`, so the
/// OCR half cannot be skipped there.
#[tokio::test]
async fn a_scanned_pdf_is_read_by_ocr_when_tesseract_is_installed() {
    use vivier_node::extract::testdocs;
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ocr/scanned-cv.jpg"
    ))
    .expect("fixture");
    let scan = testdocs::pdf_scanned(&jpeg, 1240, 420);
    for backend in backends() {
        for ocr_on in [true, false] {
            let node = crate::support::start_node_with(&backend, |c| c.uploads.ocr = ocr_on).await;
            let ocr = node.state.extractor.ocr().is_some();
            if ocr_on && !ocr {
                assert!(
                    std::env::var_os("VIVIER_REQUIRE_OCR").is_none(),
                    "VIVIER_REQUIRE_OCR is set but tesseract with `fra` was not found"
                );
                eprintln!("tesseract (fra) not installed: OCR half of this test not run");
            }
            let token = node
                .user(Role::Counsellor, "claire@mission-emploi.fr")
                .await;
            let cookie = login(&node, "claire@mission-emploi.fr").await;
            let (s, v) = node
                .post(&token, "/api/v1/candidates", &json!({"first_name": "Nadia", "last_name": "Kerbouche",
                    "commune_insee": "41018", "rome_codes": ["J1501"], "cv_text": "Texte saisi à la main.",
                    "consent_scope": "local"}))
                .await;
            assert_eq!(s, 201, "{v}");
            let cid = v["id"].as_str().unwrap().to_string();
            let p = upload(
                &node,
                &cookie,
                &cid,
                "scan.pdf",
                "application/pdf",
                scan.clone(),
            )
            .await;
            let (_, rec) = node.get(&token, &format!("/api/v1/candidates/{cid}")).await;
            let file = &rec["files"][0];
            let record = get(&node, Some(&cookie), p.location.as_deref().unwrap()).await;
            let body = text(&record.body);
            let search = |q: &'static str| {
                let node = &node;
                let token = token.clone();
                async move {
                    let (_, v) = node
                        .get(&token, &format!("/api/v1/candidates/search?q={q}"))
                        .await;
                    v["total"].as_u64().unwrap_or(0)
                }
            };
            if ocr {
                assert_eq!(
                    p.location.as_deref(),
                    Some(format!("/ui/candidats/{cid}?ok=cv-ocr").as_str()),
                    "{}",
                    p.body
                );
                assert_eq!(
                    (file["readable"].as_bool(), file["ocr"].as_bool()),
                    (Some(true), Some(true)),
                    "{rec}"
                );
                let cv = rec["cv_text"].as_str().unwrap();
                for word in ["Aide-soignante", "DEAS", "Blois", "Permis B"] {
                    assert!(cv.contains(word), "{word:?} not read in {cv:?}");
                }
                assert!(body.contains("texte lu par OCR : à relire"), "{body}");
                assert!(body.contains("la reconnaissance peut se tromper"), "{body}");
                eventually(20, || async { (search("DEAS").await == 1).then_some(()) })
                    .await
                    .expect("the scanned words are searchable");
            } else {
                assert_eq!(
                    p.location.as_deref(),
                    Some(format!("/ui/candidats/{cid}?ok=cv-illisible").as_str()),
                    "{}",
                    p.body
                );
                assert_eq!(
                    (file["readable"].as_bool(), file["ocr"].as_bool()),
                    (Some(false), Some(false)),
                    "{rec}"
                );
                assert_eq!(rec["cv_text"], "Texte saisi à la main.");
                assert!(
                    body.contains("aucun texte lisible (document scanné ?)"),
                    "{body}"
                );
                node.sync_index().await;
                assert_eq!(search("DEAS").await, 0);
            }
            node.stop().await;
        }
    }
}

#[tokio::test]
async fn screenshot_with_chromium_if_installed() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!("Chromium not installed: screenshot skipped");
        return;
    };
    let node = start_node(&crate::support::Backend::Sqlite).await;
    node.user(Role::Counsellor, "conseillere@mission-emploi.fr")
        .await;
    // Chromium cannot post the login form headless: render the login page.
    let out = node.dir.path().join("connexion.png");
    let status = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,900",
            &format!("--screenshot={}", out.display()),
            &node.url("/ui/connexion"),
        ])
        .status()
        .await
        .expect("run chromium");
    assert!(status.success());
    let png = std::fs::read(&out).expect("png written");
    assert!(png.starts_with(b"\x89PNG"));
    node.stop().await;
}

/// The id in a `/ui/…/{id}?…` redirect.
fn id_in(location: &str, prefix: &str) -> String {
    location
        .strip_prefix(prefix)
        .and_then(|r| r.split('?').next())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn counsellor_edits_a_record_with_restricted_fields() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        node.user(Role::Counsellor, "collegue@mission-emploi.fr")
            .await;
        node.user(Role::Employer, "rh@logistique.fr").await;
        let cookie = login(&node, "conseillere@mission-emploi.fr").await;

        // The new form: consent not chosen in advance; without a choice the
        // record is refused with a French message.
        let new = get(&node, Some(&cookie), "/ui/candidats/nouveau").await;
        assert_eq!(new.status, 200);
        let consent = between(&new.body, "<legend>Consentement du candidat", "</fieldset>");
        assert!(!consent.contains("checked"), "{consent}");
        assert!(
            new.body.contains("id=\"rsa_beneficiary\""),
            "restricted fields at creation"
        );
        let mut fields = vec![
            ("first_name", "Nadia"),
            ("last_name", "Haddad"),
            ("email", "nadia.haddad@example.fr"),
            ("phone", "06 11 22 33 44"),
            ("commune", "Saint-Aignan"),
            ("job_titles", "Cariste"),
            ("rome", ""),
            ("rome", ""),
            ("rome", ""),
        ];
        // ROME codes suggested from the job titles, the offer form's look-up.
        let mut asking = fields.clone();
        asking.push(("action", "rome"));
        let suggested = post(&node, Some(&cookie), "/ui/candidats/nouveau", &asking).await;
        assert_eq!(suggested.status, 200, "{}", suggested.body);
        assert!(
            suggested.body.contains("Codes ROME proposés"),
            "{}",
            suggested.body
        );
        assert!(
            suggested.body.contains("<strong>N1101</strong>"),
            "{}",
            suggested.body
        );
        // Homonyms offered, not guessed; the missing consent and ROME named.
        let refused = post(&node, Some(&cookie), "/ui/candidats/nouveau", &fields).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        let body = text(&refused.body);
        assert!(
            body.contains("Plusieurs communes s'appellent « Saint-Aignan »"),
            "{body}"
        );
        assert!(
            body.contains("Saint-Aignan (41)") && body.contains("Saint-Aignan (08)"),
            "{body}"
        );
        assert!(body.contains("value=\"41198\""), "{body}");
        assert!(
            body.contains("Indiquez ce que le candidat a accepté"),
            "{body}"
        );
        assert!(body.contains("Indiquez au moins un code ROME."), "{body}");
        assert_eq!(audit_count(&node, "candidate.create", None).await, 0);
        fields.extend([
            ("commune_choix", "41198"),
            ("consent", "network"),
            ("rsa_beneficiary", "oui"),
        ]);
        fields[6] = ("rome", "N1101");
        let created = post(&node, Some(&cookie), "/ui/candidats/nouveau", &fields).await;
        assert_eq!(created.status, 303, "{}", created.body);
        let id = id_in(&created.location.unwrap(), "/ui/candidats/");
        let (_, c) = node.get(&staff, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(c["commune_insee"], "41198", "{c}");
        assert_eq!(c["sensitive"]["rsa_beneficiary"], true, "{c}");

        // The edit page holds every field, the restricted ones included.
        let path = format!("/ui/candidats/{id}/modifier");
        let form = get(&node, Some(&cookie), &path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        for id in [
            "first_name",
            "last_name",
            "email",
            "phone",
            "external_id",
            "birth_year",
            "commune",
            "max_travel_km",
            "has_vehicle",
            "public_transport_only",
            "available_from",
            "weekly_hours",
            "experience_years",
            "training_level",
            "rome-0",
            "job_titles",
            "skills",
            "languages",
            "cv_text",
            "rsa_beneficiary",
            "disability_recognition",
            "nir",
            "social_barriers",
            "health_notes",
            "status-active",
            "consent-keep",
        ] {
            assert!(
                form.body.contains(&format!("for=\"{id}\"")),
                "label for {id}"
            );
        }
        assert!(form.body.contains("value=\"Saint-Aignan (41)\""));
        let rsa = between(&form.body, "id=\"rsa_beneficiary\"", "</select>");
        assert!(rsa.contains("value=\"oui\" selected"), "{rsa}");

        // Bad values: every error in French next to its field, nothing saved.
        let mut edit = vec![
            ("first_name", ""),
            ("last_name", "Haddad"),
            ("phone", "12"),
            ("commune", "Saint-Aignan (41)"),
            ("rome", "Z9999"),
            ("rome", ""),
            ("nir", "123"),
            ("rsa_beneficiary", "oui"),
            ("consent", "keep"),
            ("status", "active"),
        ];
        let bad = post(&node, Some(&cookie), &path, &edit).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let body = text(&bad.body);
        for (field, message) in [
            ("first_name-erreur", "Champ obligatoire."),
            ("phone-erreur", "Numéro invalide"),
            ("rome-0-erreur", "Code ROME inconnu"),
            ("nir-erreur", "Valeur invalide."),
        ] {
            let shown = between(&body, &format!("id=\"{field}\""), "</p>");
            assert!(shown.contains(message), "{field}: {shown}");
        }
        assert_eq!(audit_count(&node, "candidate.update", Some(&id)).await, 0);

        edit[0] = ("first_name", "Nadia");
        edit[2] = ("phone", "06 99 88 77 66");
        edit[4] = ("rome", "N1103");
        edit[6] = ("nir", "2 85 03 41 018 042 17");
        edit[7] = ("rsa_beneficiary", "non");
        edit.extend([
            ("public_transport_only", "1"),
            ("disability_recognition", "oui"),
        ]);
        let saved = post(&node, Some(&cookie), &path, &edit).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(
            saved.location.as_deref(),
            Some(format!("/ui/candidats/{id}?ok=modifie").as_str())
        );
        assert_eq!(audit_count(&node, "candidate.update", Some(&id)).await, 1);
        let (_, c) = node.get(&staff, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(c["phone"], "06 99 88 77 66", "{c}");
        assert_eq!(c["rome_codes"], json!(["N1103"]), "{c}");
        assert_eq!(c["public_transport_only"], true, "{c}");
        assert_eq!(c["sensitive"]["rsa_beneficiary"], false, "{c}");
        assert_eq!(c["sensitive"]["disability_recognition"], true, "{c}");
        assert_eq!(c["sensitive"]["nir"], "2 85 03 41 018 042 17", "{c}");
        let record = get(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{id}?ok=modifie"),
        )
        .await;
        assert!(record.body.contains("La fiche a été modifiée."));
        assert!(
            record.body.contains("en transports en commun uniquement"),
            "{}",
            record.body
        );

        // A colleague who is not the assigned counsellor edits the record
        // but neither sees nor writes the restricted fields.
        let colleague = login(&node, "collegue@mission-emploi.fr").await;
        let theirs = get(&node, Some(&colleague), &path).await;
        assert_eq!(theirs.status, 200, "{}", theirs.body);
        assert!(
            !theirs.body.contains("rsa_beneficiary"),
            "restricted fields hidden"
        );
        assert!(!theirs.body.contains("2 85 03 41 018"), "NIR hidden");
        let mut sneaky = edit.clone();
        sneaky[7] = ("rsa_beneficiary", "oui");
        sneaky[6] = ("nir", "");
        let done = post(&node, Some(&colleague), &path, &sneaky).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (_, c) = node.get(&staff, &format!("/api/v1/candidates/{id}")).await;
        assert_eq!(c["sensitive"]["rsa_beneficiary"], false, "unchanged: {c}");
        assert_eq!(
            c["sensitive"]["nir"], "2 85 03 41 018 042 17",
            "unchanged: {c}"
        );

        // An employer may not open it; another node's counsellor finds
        // no such record.
        let employer = login(&node, "rh@logistique.fr").await;
        let denied = get(&node, Some(&employer), &path).await;
        assert_eq!(denied.status, 403, "{}", denied.body);
        assert!(denied.body.contains("Accès refusé"));
        let posted = post(&node, Some(&employer), &path, &edit).await;
        assert_eq!(posted.status, 403);
        let other = start_node(&backend).await;
        other
            .user(Role::Counsellor, "conseiller@autre-mission.fr")
            .await;
        let elsewhere = login(&other, "conseiller@autre-mission.fr").await;
        let missing = get(&other, Some(&elsewhere), &path).await;
        assert_eq!(missing.status, 404, "{}", missing.body);
        assert!(missing.body.contains("Candidat introuvable"));
        other.stop().await;

        // The search's commune filter offers the homonyms too.
        let search = get(&node, Some(&cookie), "/ui/candidats?commune=Saint-Aignan").await;
        assert_eq!(search.status, 200);
        assert!(
            text(&search.body).contains("Plusieurs communes s'appellent"),
            "{}",
            search.body
        );
        assert!(search.body.contains("commune=41198"), "{}", search.body);
        node.stop().await;
    }
}

#[tokio::test]
async fn offer_edit_page_broadcasts_the_update() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        node.user(Role::Employer, "rh@autre.fr").await;
        node.user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let (st, offer) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Cariste H/F",
                    "description": "Conduite de chariots élévateurs.",
                    "rome_code": "N1101",
                    "contract_type": "CDD",
                    "duration_months": 6,
                    "salary": {"min_cents": 185000, "max_cents": 205050, "period": "month"},
                    "workplaces": [{"commune_insee": "41018", "positions": 2, "label": "Entrepôt nord"}]
                }),
            )
            .await;
        assert_eq!(st, 201, "{offer}");
        let id = offer["offer_id"].as_str().unwrap().to_string();
        let path = format!("/ui/offres/{id}/modifier");
        let cookie = login(&node, "rh@logistique.fr").await;

        let detail = get(&node, Some(&cookie), &format!("/ui/offres/{id}")).await;
        assert!(detail
            .body
            .contains(&format!("href=\"/ui/offres/{id}/modifier\"")));
        assert!(text(&detail.body).contains("Clôturer l'offre"));
        let form = get(&node, Some(&cookie), &path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        for value in [
            "value=\"Cariste H/F\"",
            "value=\"N1101\"",
            "value=\"6\"",
            "value=\"1850\"",
            "value=\"2050,50\"",
            "value=\"Blois (41)\"",
            "value=\"Entrepôt nord\"",
            "value=\"2\"",
        ] {
            assert!(text(&form.body).contains(value), "{value}");
        }
        let outbox = |node: &TestNode| {
            let pool = node.state.db.pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM broadcast_log WHERE kind = 'offer.updated'",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        let before = outbox(&node).await;

        let mut fields = vec![
            ("title", ""),
            ("description", "Conduite de chariots élévateurs, CACES 3."),
            ("rome_code", "N1101"),
            ("contract_type", "CDD"),
            ("duration_months", "9"),
            ("salary_min", "1900"),
            ("salary_period", "month"),
            ("experience_months", "12"),
            ("lieu_commune", "Blois (41)"),
            ("lieu_libelle", "Entrepôt nord"),
            ("lieu_postes", "2"),
            ("lieu_commune", "Saint-Aignan"),
            ("lieu_libelle", ""),
            ("lieu_postes", "1"),
        ];
        let bad = post(&node, Some(&cookie), &path, &fields).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let body = text(&bad.body);
        assert!(
            between(&body, "id=\"title-erreur\"", "</p>").contains("Champ obligatoire."),
            "{body}"
        );
        let row = between(&body, "id=\"lieu-commune-1-erreur\"", "</p>");
        assert!(
            row.contains("Plusieurs communes s'appellent « Saint-Aignan »"),
            "{row}"
        );
        assert!(row.contains("Saint-Aignan (41)"), "{row}");
        assert_eq!(outbox(&node).await, before, "nothing broadcast");

        fields[0] = ("title", "Cariste CACES 3 H/F");
        fields[11] = ("lieu_commune", "Saint-Aignan (41)");
        let saved = post(&node, Some(&cookie), &path, &fields).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(
            saved.location.as_deref(),
            Some(format!("/ui/offres/{id}?ok=modifiee").as_str())
        );
        assert_eq!(outbox(&node).await, before + 1, "offer.updated broadcast");
        let (_, o) = node.get(&employer, &format!("/api/v1/offers/{id}")).await;
        assert_eq!(o["title"], "Cariste CACES 3 H/F", "{o}");
        assert_eq!(o["duration_months"], 9, "{o}");
        assert_eq!(o["experience_months"], 12, "{o}");
        assert_eq!(o["salary"]["min_cents"], 190000, "{o}");
        assert_eq!(o["workplaces"].as_array().unwrap().len(), 2, "{o}");
        assert_eq!(o["workplaces"][1]["commune_insee"], "41198", "{o}");
        assert_eq!(o["workplaces"][0]["label"], "Entrepôt nord", "{o}");
        assert_eq!(audit_count(&node, "offer.update", Some(&id)).await, 1);

        // Another employer may not; a counsellor may edit (the API's rule)
        // but is not offered to close the employer's offer.
        let other = login(&node, "rh@autre.fr").await;
        assert_eq!(get(&node, Some(&other), &path).await.status, 403);
        assert_eq!(post(&node, Some(&other), &path, &fields).await.status, 403);
        let staff = login(&node, "conseillere@mission-emploi.fr").await;
        assert_eq!(get(&node, Some(&staff), &path).await.status, 200);
        let seen = get(&node, Some(&staff), &format!("/ui/offres/{id}")).await;
        assert!(
            !text(&seen.body).contains("Clôturer l'offre"),
            "{}",
            seen.body
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn referral_contacts_names_and_cancelling_a_hire() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let staff = node
            .user(Role::Counsellor, "conseillere@mission-emploi.fr")
            .await;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let cookie = login(&node, "conseillere@mission-emploi.fr").await;

        // The counsellor's work phone, checked, then kept.
        let bad = post(
            &node,
            Some(&cookie),
            "/ui/coordonnees",
            &[("telephone", "abc")],
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Numéro invalide"), "{}", bad.body);
        let ok = post(
            &node,
            Some(&cookie),
            "/ui/coordonnees",
            &[("telephone", "02 54 11 22 33")],
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);

        let (_, offer) = node
            .post(
                &employer,
                "/api/v1/offers",
                &json!({
                    "title": "Cariste H/F",
                    "description": "Conduite de chariots élévateurs.",
                    "rome_code": "N1101",
                    "contract_type": "CDI",
                    "workplaces": [{"commune_insee": "41018", "positions": 3}]
                }),
            )
            .await;
        let offer_id = offer["offer_id"].as_str().unwrap().to_string();
        let (st, c) = node
            .post(
                &staff,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Yanis", "last_name": "Morel", "commune_insee": "41018",
                    "email": "yanis.morel@example.fr", "phone": "06 01 02 03 04",
                    "public_transport_only": true, "rome_codes": ["N1101"],
                    "consent_scope": "local"
                }),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let cid = c["id"].as_str().unwrap().to_string();
        let referred = post(
            &node,
            Some(&cookie),
            &format!("/ui/candidats/{cid}/proposer"),
            &[
                ("offer_id", &offer_id),
                ("endorsement", "Ponctuel et motivé."),
            ],
        )
        .await;
        assert_eq!(referred.status, 303, "{}", referred.body);
        let rid = id_in(&referred.location.unwrap(), "/ui/mises-en-relation/");

        // Names in every list.
        let emp = login(&node, "rh@logistique.fr").await;
        for (who, path) in [
            (&emp, "/ui/".to_string()),
            (&emp, "/ui/mises-en-relation".to_string()),
            (&emp, format!("/ui/offres/{offer_id}")),
            (&cookie, "/ui/mises-en-relation".to_string()),
            (&cookie, format!("/ui/offres/{offer_id}")),
        ] {
            let p = get(&node, Some(who), &path).await;
            assert_eq!(p.status, 200, "{path}");
            assert!(
                p.body.contains(&format!(
                    "<a href=\"/ui/mises-en-relation/{rid}\">Yanis Morel</a>"
                )) || text(&p.body).contains(&format!(
                    "<a href=\"/ui/mises-en-relation/{rid}\">Yanis Morel</a>"
                )),
                "{path}: {}",
                p.body
            );
        }
        // The employer reaches both people.
        let d = get(&node, Some(&emp), &format!("/ui/mises-en-relation/{rid}")).await;
        let contacts = text(between(&d.body, "id=\"t-contact\"", "</section>"));
        for words in [
            "mailto:yanis.morel@example.fr",
            "06 01 02 03 04",
            "Test conseillere@mission-emploi.fr",
            "mailto:conseillere@mission-emploi.fr",
            "tel:0254112233",
        ] {
            assert!(contacts.contains(words), "{words}: {contacts}");
        }
        assert!(
            text(&d.body).contains("en transports en commun uniquement"),
            "{}",
            d.body
        );
        assert!(!d.body.contains("non précisée"));
        let (_, r) = node
            .get(&employer, &format!("/api/v1/referrals/{rid}"))
            .await;
        assert_eq!(r["candidate_name"], "Yanis Morel", "{r}");
        assert_eq!(r["counsellor_phone"], "02 54 11 22 33", "{r}");

        // The hire; undoing it needs a reason and the employer is told.
        let hired = post(
            &node,
            Some(&emp),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[
                ("statut", "accepted"),
                ("contrat", "CDI"),
                ("date_debut", "2026-02-02"),
            ],
        )
        .await;
        assert_eq!(hired.status, 303, "{}", hired.body);
        let page = get(
            &node,
            Some(&cookie),
            &format!("/ui/mises-en-relation/{rid}"),
        )
        .await;
        assert!(page.body.contains("Motif de l'annulation"), "{}", page.body);
        let no_reason = post(
            &node,
            Some(&cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[("statut", "cancelled"), ("commentaire", " ")],
        )
        .await;
        assert_eq!(no_reason.status, 422, "{}", no_reason.body);
        assert!(
            text(&no_reason.body).contains("Indiquez le motif de l'annulation"),
            "{}",
            no_reason.body
        );
        let (st, e) = node
            .post(
                &staff,
                &format!("/api/v1/referrals/{rid}/status"),
                &json!({"status": "cancelled"}),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("cancel_reason_required"), "{e}");
        let (_, r) = node.get(&staff, &format!("/api/v1/referrals/{rid}")).await;
        assert_eq!(r["status"], "accepted");
        let cancelled = post(
            &node,
            Some(&cookie),
            &format!("/ui/mises-en-relation/{rid}/statut"),
            &[
                ("statut", "cancelled"),
                ("commentaire", "Le candidat a déménagé."),
            ],
        )
        .await;
        assert_eq!(cancelled.status, 303, "{}", cancelled.body);
        let home = get(&node, Some(&emp), "/ui/").await;
        assert!(
            text(&home.body).contains(
                "a annulé une mise en relation pour l'offre « Cariste H/F », malgré l'embauche"
            ),
            "{}",
            home.body
        );
        let d = get(&node, Some(&emp), &format!("/ui/mises-en-relation/{rid}")).await;
        assert!(d.body.contains("Le candidat a déménagé."));
        assert!(d.body.contains("Annulée"));
        node.stop().await;
    }
}
