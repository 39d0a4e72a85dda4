//! The reports' SQL, in one place: writing placement rows, and reading the
//! rows a report is computed from (portable SQL, `$n` placeholders).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::facts::ContractFacts;
use crate::db::Db;
use crate::error::{Error, Result};

/// A placement row as written.
#[derive(Debug, Clone)]
pub struct PlacementRow {
    pub id: String,
    pub candidate_id: Option<String>,
    pub outcome: &'static str,
    pub referral_id: Option<String>,
    pub placed_at: i64,
    pub recorded_by: Option<String>,
    pub placed_on: String,
    pub contract: ContractFacts,
    pub aid_eligible: Option<i64>,
    pub channel: &'static str,
    pub side: &'static str,
    pub counsellor_id: Option<String>,
    pub rsa: Option<i64>,
    pub age_band: Option<&'static str>,
    pub qualification: Option<String>,
    pub commune_insee: Option<String>,
    pub departement: Option<String>,
    pub epci: Option<String>,
    pub rome_code: Option<String>,
    pub registered_at: Option<i64>,
}

/// Insert a placement row.
pub async fn insert_placement(conn: &mut sqlx::AnyConnection, r: &PlacementRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO placements (id, candidate_id, outcome, referral_id, placed_at, recorded_by, \
         placed_on, contract_start, contract_end, duration_months, weekly_hours, aid_eligible, \
         channel, side, counsellor_id, rsa, age_band, qualification, commune_insee, departement, \
         rome_code, registered_at, epci) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23)",
    )
    .bind(&r.id)
    .bind(&r.candidate_id)
    .bind(r.outcome)
    .bind(&r.referral_id)
    .bind(r.placed_at)
    .bind(&r.recorded_by)
    .bind(&r.placed_on)
    .bind(&r.contract.start)
    .bind(&r.contract.end)
    .bind(r.contract.duration_months)
    .bind(r.contract.weekly_hours)
    .bind(r.aid_eligible)
    .bind(r.channel)
    .bind(r.side)
    .bind(&r.counsellor_id)
    .bind(r.rsa)
    .bind(r.age_band)
    .bind(&r.qualification)
    .bind(&r.commune_insee)
    .bind(&r.departement)
    .bind(&r.rome_code)
    .bind(r.registered_at)
    .bind(&r.epci)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a placement keeps of its candidate.
#[derive(Debug, Clone)]
pub struct CandidateFacts {
    pub commune_insee: String,
    pub counsellor_id: Option<String>,
    pub registered_at: i64,
    pub qualification: Option<String>,
    pub birth_year: Option<i64>,
    pub first_rome: Option<String>,
    pub rsa: Option<bool>,
}

#[derive(serde::Deserialize, Default)]
struct ProfileFacts {
    #[serde(default)]
    training_level: Option<String>,
    #[serde(default)]
    birth_year: Option<i64>,
    #[serde(default)]
    rome_codes: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
struct SensitiveFacts {
    #[serde(default)]
    rsa_beneficiary: Option<bool>,
}

/// Delete the placement recorded for referral `referral_id` (a cancelled
/// hire).
pub async fn delete_placement_of_referral(
    conn: &mut sqlx::AnyConnection,
    referral_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM placements WHERE referral_id = $1")
        .bind(referral_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many placements candidate `candidate_id` has.
pub async fn placements_of_candidate(
    conn: &mut sqlx::AnyConnection,
    candidate_id: &str,
) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM placements WHERE candidate_id = $1")
            .bind(candidate_id)
            .fetch_one(conn)
            .await?,
    )
}

/// The candidate's facts, read in the placement's transaction.
pub async fn candidate_facts(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<CandidateFacts>> {
    let row = sqlx::query(
        "SELECT c.commune_insee, c.counsellor_id, c.created_at, c.profile, s.data \
         FROM candidates c LEFT JOIN candidate_sensitive s ON s.candidate_id = c.id \
         WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let profile: String = row.try_get(3)?;
    let p: ProfileFacts = serde_json::from_str(&profile)
        .map_err(|e| Error::Internal(anyhow::anyhow!("candidate profile JSON: {e}")))?;
    let sensitive: Option<String> = row.try_get(4)?;
    let s: SensitiveFacts = match sensitive {
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| Error::Internal(anyhow::anyhow!("candidate_sensitive JSON: {e}")))?,
        None => SensitiveFacts::default(),
    };
    Ok(Some(CandidateFacts {
        commune_insee: row.try_get(0)?,
        counsellor_id: row.try_get(1)?,
        registered_at: row.try_get(2)?,
        qualification: p
            .training_level
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        birth_year: p.birth_year,
        first_rome: p.rome_codes.into_iter().next(),
        rsa: s.rsa_beneficiary,
    }))
}

/// A placement as the reports read it (no candidate id: a report never
/// needs to know who).
#[derive(Debug, Clone)]
pub struct Fact {
    pub outcome: String,
    pub placed_on: String,
    pub aid_eligible: Option<i64>,
    pub channel: String,
    pub side: String,
    pub counsellor_id: Option<String>,
    pub rsa: Option<i64>,
    pub age_band: Option<String>,
    pub qualification: Option<String>,
    pub commune_insee: Option<String>,
    pub departement: Option<String>,
    pub epci: Option<String>,
    pub rome_code: Option<String>,
    pub registered_at: Option<i64>,
    /// Whether the hire was on one of this node's offers.
    pub on_local_offer: bool,
    pub offer_id: Option<String>,
}

/// Placements counted on days `from..=to` (`YYYY-MM-DD`).
pub async fn placements_between(db: &Db, from: &str, to: &str) -> Result<Vec<Fact>> {
    let rows = sqlx::query(
        "SELECT p.outcome, p.placed_on, p.aid_eligible, p.channel, p.side, p.counsellor_id, \
         p.rsa, p.age_band, p.qualification, p.commune_insee, p.departement, p.rome_code, \
         p.registered_at, o.is_local, r.offer_id, p.epci \
         FROM placements p \
         LEFT JOIN referrals r ON r.id = p.referral_id \
         LEFT JOIN offers o ON o.id = r.offer_id \
         WHERE p.placed_on >= $1 AND p.placed_on <= $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Fact {
                outcome: r.try_get(0)?,
                placed_on: r.try_get(1)?,
                aid_eligible: r.try_get(2)?,
                channel: r.try_get(3)?,
                side: r.try_get(4)?,
                counsellor_id: r.try_get(5)?,
                rsa: r.try_get(6)?,
                age_band: r.try_get(7)?,
                qualification: r.try_get(8)?,
                commune_insee: r.try_get(9)?,
                departement: r.try_get(10)?,
                rome_code: r.try_get(11)?,
                registered_at: r.try_get(12)?,
                on_local_offer: r.try_get::<Option<i64>, _>(13)?.unwrap_or(0) != 0,
                offer_id: r.try_get(14)?,
                epci: r.try_get(15)?,
            })
        })
        .collect()
}

/// One of this node's offers posted in the period.
#[derive(Debug, Clone)]
pub struct OfferFact {
    pub open: bool,
    pub payload: String,
}

/// This node's offers created in `[from_ms, to_ms)`.
pub async fn local_offers_between(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<OfferFact>> {
    let rows = sqlx::query(
        "SELECT status, payload FROM offers \
         WHERE is_local = 1 AND created_at >= $1 AND created_at < $2",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OfferFact {
                open: r.try_get::<String, _>(0)? == "open",
                payload: r.try_get(1)?,
            })
        })
        .collect()
}

/// Referrals created in `[from_ms, to_ms)`: (direction, status, count).
pub async fn referrals_between(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT direction, status, COUNT(*) FROM referrals \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY direction, status",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Display names of users.
pub async fn user_names(db: &Db, ids: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, display_name FROM users WHERE id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(&db.pool).await? {
            out.push((r.try_get(0)?, r.try_get(1)?));
        }
    }
    Ok(out)
}

/// Training and immersion referrals of this node's candidates (outbound
/// and local) by target and status reached in `[from_ms, to_ms)`: each
/// referral counts once per status it reached (`new` = referred).
pub async fn training_steps_between(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT r.target, e.status, COUNT(DISTINCT e.referral_id) FROM referral_events e \
         JOIN referrals r ON r.id = e.referral_id \
         WHERE r.target <> 'offer' AND r.direction IN ('outbound', 'local') \
         AND e.at >= $1 AND e.at < $2 \
         AND e.status IN ('new', 'admitted', 'completed', 'certified', 'abandoned') \
         GROUP BY r.target, e.status",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// A hire of this node's candidate, in the period, on an offer a training
/// referral of the same candidate was "for".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingLink {
    /// The referral to the training.
    pub training_referral_id: String,
    /// The training.
    pub opportunity_id: String,
    /// Its title, when known here.
    pub training_title: Option<String>,
    /// The training referral's status (`certified`, `completed`…).
    pub training_status: String,
    /// The referral that led to the hire.
    pub hire_referral_id: String,
    /// The offer.
    pub offer_id: String,
    /// Its title, when known here.
    pub offer_title: Option<String>,
    /// Day of the hire.
    pub placed_on: String,
}

/// Hires in `[from, to]` (days) that followed a training "for" the offer.
pub async fn training_links_between(db: &Db, from: &str, to: &str) -> Result<Vec<TrainingLink>> {
    let rows = sqlx::query(
        "SELECT t.id, t.offer_id, ot.title, t.status, h.id, h.offer_id, oh.title, p.placed_on \
         FROM placements p \
         JOIN referrals h ON h.id = p.referral_id \
         JOIN referrals t ON t.candidate_id = h.candidate_id AND t.for_offer_id = h.offer_id \
              AND t.target = 'training' AND t.id <> h.id \
         LEFT JOIN opportunities ot ON ot.id = t.offer_id \
         LEFT JOIN offers oh ON oh.id = h.offer_id \
         WHERE p.side = 'home' AND p.placed_on >= $1 AND p.placed_on <= $2 \
         ORDER BY p.placed_on, h.id, t.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TrainingLink {
                training_referral_id: r.try_get(0)?,
                opportunity_id: r.try_get(1)?,
                training_title: r.try_get(2)?,
                training_status: r.try_get(3)?,
                hire_referral_id: r.try_get(4)?,
                offer_id: r.try_get(5)?,
                offer_title: r.try_get(6)?,
                placed_on: r.try_get(7)?,
            })
        })
        .collect()
}

/// Keep a member's `report.figures` of a period (`body`: its JSON); an
/// older publication than the one kept changes nothing.
pub async fn upsert_network_figures(
    conn: &mut sqlx::AnyConnection,
    origin: &str,
    period: &str,
    published_at: i64,
    body: &str,
    received_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network_figures (origin, period, published_at, body, received_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (origin, period) DO UPDATE SET published_at = excluded.published_at, \
         body = excluded.body, received_at = excluded.received_at \
         WHERE network_figures.published_at < excluded.published_at",
    )
    .bind(origin)
    .bind(period)
    .bind(published_at)
    .bind(body)
    .bind(received_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The members' published figures of `period` (their JSON), by origin.
pub async fn network_figures_of(
    conn: &mut sqlx::AnyConnection,
    period: &str,
) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT body FROM network_figures WHERE period = $1 ORDER BY origin")
            .bind(period)
            .fetch_all(conn)
            .await?,
    )
}
