//! Matching benchmark: one offer (cariste in Blois, licence B) against 100k
//! synthetic candidates spread over metropolitan France, in a temporary
//! node (SQLite + tantivy), plus the reverse direction for one candidate.
//!
//! Run: `cargo bench -p vivier-node --bench matching` (release build).
//! `VIVIER_BENCH_CANDIDATES=20000` changes the population,
//! `VIVIER_BENCH_ITERATIONS` the number of timed runs (default 20).
//! The candidates are written straight into the database (the format the
//! candidathèque stores) and indexed with `candidates::reindex`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use vivier_node::auth::{NewUser, Role};
use vivier_node::config::Config;
use vivier_node::matching::MatchParams;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

const JOBS: &[(&str, &str, &str)] = &[
    (
        "N1101",
        "Cariste",
        "conduite de chariot élévateur CACES R489 chargement déchargement camions entrepôt stock",
    ),
    (
        "N1103",
        "Préparateur de commandes",
        "préparation de commandes scanner palettes filmage entrepôt logistique",
    ),
    (
        "N1105",
        "Manutentionnaire",
        "manutention port de charges tri colis quai chargement",
    ),
    (
        "K1302",
        "Aide à domicile",
        "personnes âgées aide au lever toilette repas courses domicile",
    ),
    (
        "K1304",
        "Employé familial",
        "entretien du logement repassage courses garde d'enfants",
    ),
    (
        "G1602",
        "Commis de cuisine",
        "mise en place cuisson plonge hygiène HACCP restauration collective",
    ),
    (
        "G1603",
        "Serveur",
        "service en salle accueil clientèle encaissement restaurant",
    ),
    (
        "D1106",
        "Vendeur",
        "vente conseil client mise en rayon caisse magasin",
    ),
    (
        "D1507",
        "Employé de libre-service",
        "mise en rayon réassort inventaire étiquetage supermarché",
    ),
    (
        "K2204",
        "Agent d'entretien",
        "nettoyage bureaux locaux autolaveuse produits d'entretien",
    ),
    (
        "A1414",
        "Ouvrier agricole",
        "récolte vendanges taille vigne maraîchage tracteur",
    ),
    (
        "F1703",
        "Maçon",
        "maçonnerie parpaings coffrage béton chantier gros oeuvre",
    ),
    (
        "H2909",
        "Soudeur",
        "soudure MIG TIG lecture de plans atelier métallerie",
    ),
    (
        "J1501",
        "Aide-soignant",
        "soins d'hygiène patients EHPAD accompagnement",
    ),
    (
        "M1602",
        "Agent administratif",
        "accueil téléphonique saisie classement courrier bureautique",
    ),
    (
        "N4101",
        "Chauffeur poids lourd",
        "conduite poids lourd permis C livraison transport routier FIMO",
    ),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("VIVIER_BENCH_CANDIDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let iterations: usize = std::env::var("VIVIER_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        node_id: "bench".into(),
        data_dir: dir.path().to_path_buf(),
        sqlite_synchronous: "normal".into(),
        ..Config::default()
    };
    let (_tx, rx) = watch::channel(false);
    let state = vivier_node::server::open_offline(config, rx)
        .await
        .expect("open node");
    let user = vivier_node::auth::create_user(
        &state.db,
        &vivier_node::auth::PasswordPolicy::from_config(&state.config),
        NewUser {
            email: "bench@mission-emploi.fr".into(),
            display_name: "Bench".into(),
            role: Role::Counsellor,
            password: "motdepasse-solide".into(),
            employer_name: None,
            employer_siret: None,
        },
    )
    .await
    .expect("user");

    // Metropolitan communes with a centre.
    let communes: Vec<&str> = state
        .refs
        .communes()
        .iter()
        .filter(|c| c.point.is_some() && c.departement.len() == 2)
        .map(|c| c.insee.as_str())
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let now = vivier_node::util::now_ms();
    let mut tx = state.db.pool.begin().await.expect("tx");
    for i in 0..n {
        let (rome, title, words) = JOBS[rng.below(JOBS.len())];
        let (rome2, _, words2) = JOBS[rng.below(JOBS.len())];
        let licences: Vec<&str> = if rng.chance(0.7) { vec!["B"] } else { vec![] };
        let profile = json!({
            "max_travel_km": if rng.chance(0.6) { Some(10 + rng.below(50) as i64) } else { None },
            "driving_licences": licences,
            "has_vehicle": !licences.is_empty() && rng.chance(0.8),
            "public_transport_only": licences.is_empty() && rng.chance(0.5),
            "weekly_hours": if rng.chance(0.5) { Some(20 + rng.below(20) as i64) } else { None },
            "contract_types": if rng.chance(0.5) { vec!["CDI", "CDD"] } else { vec![] },
            "rome_codes": if rome == rome2 { vec![rome] } else { vec![rome, rome2] },
            "job_titles": [title],
            "skills": [],
            "cv_text": format!("{title} depuis {} ans. {words}. Expérience : {words2}. Permis, ponctualité, travail en équipe.", 1 + rng.below(20)),
        });
        sqlx::query(
            "INSERT INTO candidates (id, external_id, first_name, last_name, commune_insee, status, counsellor_id, profile, \
             consent_at, consent_by, consent_scope, created_at, updated_at, last_activity_at) \
             VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $6, 'local', $8, $8, $8)",
        )
        .bind(vivier_node::util::new_id())
        .bind(format!("Prénom{i}"))
        .bind(format!("Nom{i}"))
        .bind(communes[rng.below(communes.len())])
        .bind(if rng.chance(0.9) { "active" } else { "archived" })
        .bind(&user.id)
        .bind(profile.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("insert");
        if i % 5000 == 4999 {
            tx.commit().await.expect("commit");
            tx = state.db.pool.begin().await.expect("tx");
        }
    }
    tx.commit().await.expect("commit");
    let inserted = started.elapsed();
    let started = Instant::now();
    let indexed = vivier_node::candidates::reindex(&state, None)
        .await
        .expect("reindex");
    let index_time = started.elapsed();
    eprintln!("{n} candidates inserted in {inserted:.1?}, {indexed} indexed in {index_time:.1?}");

    let input: vivier_node::offers::OfferInput = serde_json::from_value(json!({
        "title": "Cariste H/F",
        "description": "Plateforme logistique : chargement et déchargement des camions au chariot élévateur, mise en stock, inventaires. CACES R489 catégorie 3.",
        "rome_code": "N1101",
        "contract_type": "CDI",
        "weekly_hours": 35,
        "driving_licence": "B",
        "employer": {"name": "Logistique Val de Loire"},
        "workplaces": [{"commune_insee": "41018", "positions": 2}]
    }))
    .expect("offer");
    let offer = vivier_node::offers::create_offer(
        &state,
        &vivier_node::actor::Actor::User(user.clone()),
        &input,
    )
    .await
    .expect("offer");
    state.search.offers.commit_now().expect("commit");

    let params = MatchParams {
        limit: Some(20),
        ..MatchParams::default()
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..iterations + 2 {
        let t = Instant::now();
        let r = vivier_node::matching::match_offer(&state, &offer, &params)
            .await
            .expect("match");
        times.push(t.elapsed());
        last = Some(r);
    }
    times.drain(..2); // warm-up
    let r = last.expect("ran");
    let wp = &r.workplaces[0];
    report("offer → candidates (Blois, top 20)", &mut times);
    eprintln!(
        "  considered {} candidates after pre-selection, {} excluded, best score {:?}",
        wp.considered,
        wp.excluded,
        wp.matches.first().map(|m| m.evaluation.score)
    );

    // Reverse: the best candidate's offers (only one offer here, so this
    // measures the fixed cost of the candidate side).
    if let Some(m) = wp.matches.first() {
        let c = vivier_node::candidates::get_candidate(&state.db, &m.candidate_id)
            .await
            .expect("load")
            .expect("exists");
        let mut times = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            vivier_node::matching::match_candidate(&state, &c, &params)
                .await
                .expect("reverse");
            times.push(t.elapsed());
        }
        report("candidate → offers", &mut times);
    }
    state.search.shutdown();
    state.db.close().await;
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: median {:.1?}, mean {:.1?}, p95 {:.1?}, min {:.1?} ({} runs)",
        p(0.5),
        mean,
        p(0.95),
        times[0],
        times.len()
    );
}
