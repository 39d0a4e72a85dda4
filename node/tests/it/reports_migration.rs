//! Migration 0020 on existing data, SQLite and (when reachable)
//! PostgreSQL: a database made by the migrations before it, with
//! placements in the old shape, then opened by the node (which applies the
//! rest): intérim becomes a short contract, referral hires get channel,
//! start, side and the offer's ROME code, and the record's territory,
//! counsellor, qualification and RSA flag are kept on the placement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{fresh_postgres_db, postgres_admin_url};
use sqlx::Row;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

async fn old_schema(url: &str, dialect: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        let version: u32 = name[..4].parse().unwrap();
        if version < 20 {
            std::fs::copy(e.path(), dir.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

async fn exec(pool: &sqlx::AnyPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

async fn fill(pool: &sqlx::AnyPool) {
    exec(
        pool,
        &format!(
        "INSERT INTO users (id, email, display_name, role, password_hash, disabled, created_at) \
         VALUES ('u1', 'anne@cd41.fr', 'Anne', 'counsellor', 'x', 0, {T0})"
    ),
    )
    .await;
    for (id, insee, counsellor, profile) in [
        (
            "c1",
            "41018",
            "'u1'",
            r#"{"training_level":"CAP","rome_codes":["K2204"]}"#,
        ),
        ("c2", "97101", "NULL", "{}"),
    ] {
        exec(pool, &format!(
            "INSERT INTO candidates (id, first_name, last_name, commune_insee, status, counsellor_id, \
             profile, created_at, updated_at, last_activity_at) \
             VALUES ('{id}', 'P', 'N', '{insee}', 'placed', {counsellor}, '{profile}', {T0}, {T0}, {T0})"
        )).await;
    }
    exec(pool, "INSERT INTO candidate_sensitive (candidate_id, data) VALUES ('c1', '{\"rsa_beneficiary\":true}')").await;
    for (id, local, rome) in [("o1", 0, "N1101"), ("o2", 1, "H2102")] {
        exec(pool, &format!(
            "INSERT INTO offers (id, origin_node, status, payload, title, rome_code, contract_type, \
             employer_name, created_at, updated_at, is_local) \
             VALUES ('{id}', 'x', 'open', '{{}}', 'T', '{rome}', 'CDI', 'E', {T0}, {T0}, {local})"
        )).await;
    }
    for (id, offer, direction, cand, ct, start) in [
        ("r1", "o1", "outbound", "'c1'", "MIS", "2026-02-02"),
        ("r2", "o2", "inbound", "NULL", "CDI", "2026-03-05"),
    ] {
        exec(pool, &format!(
            "INSERT INTO referrals (id, offer_id, offer_origin, referring_node, direction, candidate_id, \
             counsellor_name, endorsement, status, contract_type, start_date, created_at, updated_at) \
             VALUES ('{id}', '{offer}', 'x', 'y', '{direction}', {cand}, 'Anne', 'E', 'accepted', \
             '{ct}', '{start}', {T0}, {T0})"
        )).await;
    }
    let jan15 = T0 + 14 * 86_400_000 + 10 * 3_600_000;
    for (id, cand, outcome, referral, by) in [
        ("p1", "'c1'", "other", "'r1'", "u1"),
        ("p2", "NULL", "cdi", "'r2'", "emp"),
        ("p3", "'c2'", "training", "NULL", "u1"),
    ] {
        exec(pool, &format!(
            "INSERT INTO placements (id, candidate_id, outcome, referral_id, placed_at, recorded_by) \
             VALUES ('{id}', {cand}, '{outcome}', {referral}, {jan15}, '{by}')"
        )).await;
    }
}

type Migrated = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

async fn check(url: &str) {
    let db = vivier_node::db::Db::connect(url, "full").await.unwrap();
    let rows = sqlx::query(
        "SELECT outcome, channel, side, placed_on, counsellor_id, commune_insee, departement, rsa, \
         qualification, rome_code, registered_at FROM placements ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let got: Vec<Migrated> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
                r.get(10),
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        got,
        vec![
            (
                "cdd_under_6_months".into(),
                "platform".into(),
                "home".into(),
                "2026-02-02".into(),
                s("u1"),
                s("41018"),
                s("41"),
                Some(1),
                s("CAP"),
                s("N1101"),
                Some(T0),
            ),
            (
                "cdi".into(),
                "platform".into(),
                "offer".into(),
                "2026-03-05".into(),
                None,
                None,
                None,
                None,
                None,
                s("H2102"),
                None,
            ),
            (
                "training".into(),
                "counsellor".into(),
                "home".into(),
                "2026-01-15".into(),
                s("u1"),
                s("97101"),
                s("971"),
                None,
                None,
                None,
                Some(T0),
            ),
        ]
    );
    db.pool.close().await;
}

#[tokio::test]
async fn existing_placements_are_migrated_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let pool = old_schema(&url, "sqlite").await;
    fill(&pool).await;
    pool.close().await;
    check(&url).await;
}

#[tokio::test]
async fn existing_placements_are_migrated_on_postgres() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let url = fresh_postgres_db(&admin).await;
    let pool = old_schema(&url, "postgres").await;
    fill(&pool).await;
    pool.close().await;
    check(&url).await;
}
