//! A node for browser sessions: started in this process on a free loopback
//! port with its own temporary data directory (SQLite, or PostgreSQL when
//! given a URL), with one account per role and a little data entered
//! through the HTTP API — a candidate, an offer and a referral — so that
//! every page of the web interface has something to show.

use std::net::TcpListener;

use anyhow::{anyhow, Context as _};
use serde_json::{json, Value};
use tokio::sync::watch;
use vivier_node::auth::{NewUser, Role};
use vivier_node::config::Config;
use vivier_node::server::AppState;

/// The password of every seeded account.
pub const PASSWORD: &str = "motdepasse-solide";

/// One seeded account.
#[derive(Clone, Debug)]
pub struct Account {
    /// Login e-mail.
    pub email: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// An API token (for seeding through the API).
    pub token: String,
}

/// What [`WebNode::start`] entered.
#[derive(Clone, Debug, Default)]
pub struct Seeded {
    /// A candidate record (consent « réseau », CV text).
    pub candidate_id: String,
    /// The employer's offer.
    pub offer_id: String,
    /// The candidate referred to the offer.
    pub referral_id: String,
    /// A record with a return to work (and its hiring aids).
    pub placed_id: String,
}

/// A running node with seeded accounts and data.
pub struct WebNode {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its state (store, mail outbox…).
    pub state: AppState,
    /// Administrator account.
    pub admin: Account,
    /// Counsellor (conseillère) account.
    pub counsellor: Account,
    /// Employer account.
    pub employer: Account,
    /// The seeded records.
    pub seeded: Seeded,
    client: reqwest::Client,
    shutdown: watch::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl WebNode {
    /// Start a node; `tweak` adjusts its configuration (mail, database…).
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<WebNode> {
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut config = Config {
            node_id: "ml-blois".into(),
            display_name: "Mission locale de Blois".into(),
            data_dir: dir.path().to_path_buf(),
            listen: addr,
            public_url: Some(format!("http://{addr}")),
            // A hiring aid and a programme, so that the record and report
            // pages show them.
            aids: vec![vivier_node::aids::AidScheme {
                code: "cied-41".into(),
                name: "Contrat insertion emploi départemental (CIED)".into(),
                funder: "Conseil départemental de Loir-et-Cher".into(),
                outcomes: vec![
                    vivier_node::candidates::PlacementOutcome::Cdi,
                    vivier_node::candidates::PlacementOutcome::Cdd6MonthsOrMore,
                ],
                min_months: Some(12),
                min_weekly_hours: Some(26),
                public: vec![vivier_node::aids::Public::Rsa],
                departements: vec!["41".into()],
                amount_eur: Some(4000),
            }],
            programmes: vec![vivier_node::programmes::Programme {
                code: "3-mois-pour-un-job".into(),
                name: "3 mois pour un job".into(),
                funder: "Conseil départemental".into(),
                weeks: 13,
                renewals: 1,
                individual_every_days: 7,
                group_every_days: 7,
                immersions: 1,
            }],
            ..Config::default()
        };
        tweak(&mut config);
        let (shutdown, rx) = watch::channel(false);
        let state = vivier_node::server::open(config, rx)
            .await
            .context("opening the node")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let task = tokio::spawn(async move {
            let _ = vivier_node::server::run(st, listener, async move {
                let _ = stopped.await;
            })
            .await;
        });
        let client = reqwest::Client::new();
        let mut node = WebNode {
            base: format!("http://{addr}"),
            admin: account(&state, Role::Admin, "admin@ml-blois.fr", "Alice Admin").await?,
            counsellor: account(
                &state,
                Role::Counsellor,
                "claire.martin@ml-blois.fr",
                "Claire Martin",
            )
            .await?,
            employer: account(
                &state,
                Role::Employer,
                "rh@logistique-val-de-loire.fr",
                "Paul Bernard",
            )
            .await?,
            state,
            seeded: Seeded::default(),
            client,
            shutdown,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        };
        node.seeded = node.seed().await?;
        Ok(node)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` through the API as `who`; the JSON answer when the status is 2xx.
    pub async fn api(&self, who: &Account, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, who, path, Some(body))
            .await
    }

    /// `GET path` through the API as `who`.
    pub async fn api_get(&self, who: &Account, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, who, path, None).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        who: &Account,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(&who.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(anyhow!("{method} {path}: {status}: {v}"));
        }
        Ok(v)
    }

    async fn seed(&self) -> anyhow::Result<Seeded> {
        let offer = self
            .api(
                &self.employer,
                "/api/v1/offers",
                &json!({
                    "title": "Cariste CACES 3",
                    "description": "Chargement et déchargement des camions, gestion des stocks \
                                    en entrepôt. Horaires en équipe (5h-13h / 13h-21h).",
                    "rome_code": "N1101",
                    "contract_type": "CDI",
                    "employer": {"name": "Logistique Val de Loire"},
                    "workplaces": [{"commune_insee": "41018", "positions": 2}]
                }),
            )
            .await?;
        let offer_id = str_field(&offer, "offer_id")?;
        let candidate = self
            .api(
                &self.counsellor,
                "/api/v1/candidates",
                &json!({
                    "first_name": "Zoé",
                    "last_name": "Lefèvre",
                    "commune_insee": "41018",
                    "email": "zoe.lefevre@example.org",
                    "rome_codes": ["N1101"],
                    "cv_text": "Cariste CACES 1, 3 et 5, six ans en entrepôt logistique. \
                                Préparation de commandes, inventaires, permis B.",
                    "consent_scope": "network"
                }),
            )
            .await?;
        let candidate_id = str_field(&candidate, "id")?;
        let referral = self
            .api(
                &self.counsellor,
                "/api/v1/referrals",
                &json!({
                    "offer_id": offer_id,
                    "candidate_id": candidate_id,
                    "endorsement": "Très motivée, ponctuelle ; je la recommande."
                }),
            )
            .await?;
        let referral_id = str_field(&referral, "id")?;
        // Follow-up with a next step due today: the record's « Suivi » and
        // the dashboard's « À faire » have something to show.
        self.api(
            &self.counsellor,
            &format!("/api/v1/candidates/{candidate_id}/followups"),
            &json!({
                "kind": "interview",
                "body": "Entretien : disponible dès lundi, préfère les postes du matin.",
                "next_step": "Rappeler après l'entretien chez l'employeur",
                "next_step_on": chrono::Utc::now().format("%Y-%m-%d").to_string()
            }),
        )
        .await?;
        // Enrolled in the programme: the record and the « À faire » show it.
        self.api(
            &self.counsellor,
            &format!("/api/v1/candidates/{candidate_id}/programmes"),
            &json!({"programme": "3-mois-pour-un-job"}),
        )
        .await?;
        // Returns to work this year, for the reports page's charts.
        let mut placed_id = String::new();
        let year = chrono::Utc::now().format("%Y").to_string();
        let year: i64 = year.parse().unwrap_or(2026);
        for (i, (outcome, channel, age, rsa)) in [
            ("cdi", "platform", 23, true),
            ("cdi", "counsellor", 45, false),
            ("cdd_under_6_months", "platform", 19, true),
            ("cdd_6_months_or_more", "counsellor", 57, false),
            ("professionalisation", "platform", 21, false),
            ("training", "counsellor", 34, true),
        ]
        .into_iter()
        .enumerate()
        {
            let placed = self
                .api(
                    &self.counsellor,
                    "/api/v1/candidates",
                    &json!({
                        "first_name": format!("Personne {}", i + 1),
                        "last_name": "Exemple",
                        "commune_insee": if i % 2 == 0 { "41018" } else { "41269" },
                        "rome_codes": ["K2204"],
                        "cv_text": "Agent d'entretien des locaux.",
                        "birth_year": year - age,
                        "sensitive": {"rsa_beneficiary": rsa}
                    }),
                )
                .await?;
            let id = str_field(&placed, "id")?;
            if placed_id.is_empty() {
                placed_id = id.clone();
            }
            self.api(
                &self.counsellor,
                &format!("/api/v1/candidates/{id}/placement"),
                &json!({"outcome": outcome, "channel": channel, "contract": {"weekly_hours": 35}}),
            )
            .await?;
        }
        // This month's figures published to the (one-member) network.
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        self.api(
            &self.admin,
            "/api/v1/reports/network/publish",
            &json!({"month": month}),
        )
        .await?;
        // Searchable before any page asks.
        vivier_node::journal::catch_up(&self.state).await?;
        self.state.search.candidates.commit_now()?;
        self.state.search.offers.commit_now()?;
        Ok(Seeded {
            candidate_id,
            offer_id,
            referral_id,
            placed_id,
        })
    }

    /// Stop serving and close the store.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.state.search.shutdown();
        self.state.db.close().await;
    }
}

fn str_field(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no {key} in {v}"))
}

async fn account(
    state: &AppState,
    role: Role,
    email: &str,
    display_name: &str,
) -> anyhow::Result<Account> {
    let user = vivier_node::auth::create_user(
        &state.db,
        &vivier_node::auth::PasswordPolicy::from_config(&state.config),
        NewUser {
            email: email.into(),
            display_name: display_name.into(),
            role,
            password: PASSWORD.into(),
            employer_name: (role == Role::Employer).then(|| "Logistique Val de Loire".into()),
            employer_siret: None,
        },
    )
    .await?;
    let now = state.clock.now_ms();
    let token = vivier_node::auth::tokens::issue(
        &state.db,
        now,
        &user.id,
        vivier_node::auth::tokens::TokenKind::Api,
        Some("seed"),
        now + 86_400_000,
    )
    .await?
    .token;
    Ok(Account {
        email: user.email,
        display_name: user.display_name,
        role,
        token,
    })
}

/// A page of the web interface worth checking: a short name (for
/// screenshots and messages) and its path.
#[derive(Clone, Debug)]
pub struct Page {
    /// e.g. `conseiller-fiche-candidat`.
    pub name: String,
    /// e.g. `/ui/candidats/…`.
    pub path: String,
}

/// Pages seen without an account.
pub fn public_pages() -> Vec<Page> {
    [
        ("connexion", "/ui/connexion"),
        ("mot-de-passe-oublie", "/ui/mot-de-passe-oublie"),
        (
            "reinitialisation-lien-invalide",
            "/ui/reinitialisation?jeton=abc.1.def",
        ),
        ("page-introuvable-anonyme", "/ui/cette-page-n-existe-pas"),
    ]
    .into_iter()
    .map(|(n, p)| Page {
        name: n.into(),
        path: p.into(),
    })
    .collect()
}

/// The candidate space's pages (`/moi/`): `signed_in` ones need the
/// person's session, the others are seen before logging in.
pub fn candidate_pages(signed_in: bool) -> Vec<Page> {
    let pages: &[(&str, &str)] = if signed_in {
        &[
            ("moi-fiche", "/moi/"),
            ("moi-modifier", "/moi/modifier"),
            ("moi-cv", "/moi/cv"),
            ("moi-consentement", "/moi/consentement"),
            ("moi-offres", "/moi/offres"),
            ("moi-donnees", "/moi/donnees"),
            ("moi-page-introuvable", "/moi/cette-page-n-existe-pas"),
        ]
    } else {
        &[
            ("moi-connexion", "/moi/connexion"),
            ("moi-connexion-lien-envoye", "/moi/connexion?ok=lien"),
            (
                "moi-invitation-lien-invalide",
                "/moi/invitation?jeton=inv_invalide",
            ),
            ("moi-lien", "/moi/lien?jeton=lnk_exemple"),
        ]
    };
    pages
        .iter()
        .map(|(n, p)| Page {
            name: (*n).into(),
            path: (*p).into(),
        })
        .collect()
}

impl WebNode {
    /// Every page `who` can open, with the seeded records.
    pub fn pages(&self, who: &Account) -> Vec<Page> {
        let s = &self.seeded;
        let mut pages: Vec<(&str, String)> = vec![("tableau-de-bord", "/ui/".into())];
        if who.role == Role::Employer {
            pages.extend([
                ("offres", "/ui/offres".into()),
                ("offre", format!("/ui/offres/{}", s.offer_id)),
                ("offre-nouvelle", "/ui/offres/nouvelle".into()),
                (
                    "offre-modifier",
                    format!("/ui/offres/{}/modifier", s.offer_id),
                ),
            ]);
        } else {
            pages.extend([
                ("candidats", "/ui/candidats".into()),
                ("candidats-recherche", "/ui/candidats?q=cariste".into()),
                (
                    "candidat-fiche",
                    format!("/ui/candidats/{}", s.candidate_id),
                ),
                (
                    "candidat-retour-emploi-aides",
                    format!("/ui/candidats/{}", s.placed_id),
                ),
                ("candidat-nouveau", "/ui/candidats/nouveau".into()),
                (
                    "candidat-modifier",
                    format!("/ui/candidats/{}/modifier", s.candidate_id),
                ),
                ("coordonnees", "/ui/coordonnees".into()),
                (
                    "candidat-supprimer",
                    format!("/ui/candidats/{}/supprimer", s.candidate_id),
                ),
                ("offres", "/ui/offres".into()),
                ("offre", format!("/ui/offres/{}", s.offer_id)),
                ("rapports", "/ui/rapports?regrouper=age_band".into()),
                (
                    "rapports-reseau",
                    format!("/ui/rapports?mois={}", chrono::Utc::now().format("%Y-%m")),
                ),
                ("formations", "/ui/formations".into()),
                ("formation-nouvelle", "/ui/formations/nouvelle".into()),
                ("reseau-interets", "/ui/reseau/interets".into()),
            ]);
        }
        if who.role == Role::Admin {
            pages.extend([
                ("admin-comptes", "/ui/admin/utilisateurs".into()),
                ("admin-journal", "/ui/admin/journal".into()),
                ("admin-reseau", "/ui/admin/reseau".into()),
            ]);
        }
        pages.extend([
            ("rechercher-dans-le-reseau", "/ui/reseau".into()),
            ("mises-en-relation", "/ui/mises-en-relation".into()),
            (
                "mise-en-relation",
                format!("/ui/mises-en-relation/{}", s.referral_id),
            ),
            ("mot-de-passe", "/ui/mot-de-passe".into()),
            ("page-introuvable", "/ui/cette-page-n-existe-pas".into()),
        ]);
        let role = match who.role {
            Role::Admin => "admin",
            Role::Counsellor => "conseiller",
            Role::Employer => "employeur",
        };
        pages
            .into_iter()
            .map(|(n, p)| Page {
                name: format!("{role}-{n}"),
                path: p,
            })
            .collect()
    }
}
