//! The aids' SQL: assessments written with a placement, files moved by a
//! counsellor, and the figures of the reports (portable SQL, `$n`).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{AidFacts, AidScheme, AidState, Eligibility};
use crate::actor::Actor;
use crate::candidates::PlacementOutcome;
use crate::db::Db;
use crate::error::{Error, Result};

/// An aid as it stands for one placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementAid {
    /// The scheme's code.
    pub code: String,
    /// The scheme's name.
    pub name: String,
    /// Who pays it.
    pub funder: String,
    /// The verdict when the placement was assessed.
    pub eligibility: Eligibility,
    /// Why not, or what was missing (French).
    pub reasons: Vec<String>,
    /// The file's state.
    pub state: AidState,
    /// The amount (euros), when the scheme fixes one.
    pub amount_eur: Option<i64>,
    /// Last change of the file (Unix ms).
    pub updated_at: Option<i64>,
}

/// A placement of a candidate with its aids.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementAids {
    /// The placement.
    pub placement_id: String,
    /// The funders' category of the contract.
    pub outcome: String,
    /// The day it counts on.
    pub placed_on: String,
    /// The referral it came from.
    pub referral_id: Option<String>,
    /// One entry per configured scheme.
    pub aids: Vec<PlacementAid>,
}

const PLACEMENT_FACTS: &str =
    "id, outcome, placed_on, referral_id, duration_months, weekly_hours, rsa, age_band, departement, side";

fn facts_of(row: &sqlx::any::AnyRow) -> Result<AidFacts> {
    let outcome: String = row.try_get("outcome")?;
    Ok(AidFacts {
        outcome: outcome.parse::<PlacementOutcome>().ok(),
        duration_months: row.try_get("duration_months")?,
        weekly_hours: row.try_get("weekly_hours")?,
        rsa: row.try_get::<Option<i64>, _>("rsa")?.map(|v| v != 0),
        age_band: row.try_get("age_band")?,
        departement: row.try_get("departement")?,
    })
}

fn fresh(scheme: &AidScheme, facts: &AidFacts) -> PlacementAid {
    let a = scheme.assess(facts);
    PlacementAid {
        code: scheme.code.clone(),
        name: scheme.name.clone(),
        funder: scheme.funder.clone(),
        eligibility: a.eligibility,
        reasons: a.reasons,
        state: AidState::None,
        amount_eur: scheme.amount_eur,
        updated_at: None,
    }
}

async fn insert(
    conn: &mut sqlx::AnyConnection,
    placement_id: &str,
    aid: &PlacementAid,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO placement_aids (placement_id, scheme_code, eligibility, reasons, amount_eur, state, assessed_at) \
         VALUES ($1, $2, $3, $4, $5, 'none', $6)",
    )
    .bind(placement_id)
    .bind(&aid.code)
    .bind(<&'static str>::from(aid.eligibility))
    .bind(serde_json::to_string(&aid.reasons).unwrap_or_else(|_| "[]".into()))
    .bind(aid.amount_eur)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Assess placement `placement_id` (just written, at the candidate's home
/// node) against every scheme, inside the caller's transaction.
pub async fn assess_placement(
    conn: &mut sqlx::AnyConnection,
    schemes: &[AidScheme],
    placement_id: &str,
    facts: &AidFacts,
    now: i64,
) -> Result<()> {
    for s in schemes {
        insert(conn, placement_id, &fresh(s, facts), now).await?;
    }
    Ok(())
}

fn stored(row: &sqlx::any::AnyRow, scheme: &AidScheme) -> Result<PlacementAid> {
    let eligibility: String = row.try_get("eligibility")?;
    let state: String = row.try_get("state")?;
    let reasons: String = row.try_get("reasons")?;
    Ok(PlacementAid {
        code: scheme.code.clone(),
        name: scheme.name.clone(),
        funder: scheme.funder.clone(),
        eligibility: eligibility
            .parse()
            .map_err(|_| Error::Internal(anyhow::anyhow!("bad eligibility {eligibility:?}")))?,
        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
        state: state
            .parse()
            .map_err(|_| Error::Internal(anyhow::anyhow!("bad aid state {state:?}")))?,
        amount_eur: row.try_get("amount_eur")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The aid `scheme` of placement `placement_id`, assessed now (and stored)
/// if the scheme was added after the placement; only home placements carry
/// aids.
pub async fn aid_for_update(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    placement_id: &str,
    scheme: &AidScheme,
    now: i64,
) -> Result<PlacementAid> {
    let p = sqlx::query(&format!(
        "SELECT {PLACEMENT_FACTS} FROM placements WHERE id = $1"
    ))
    .bind(placement_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("placement"))?;
    let side: String = p.try_get("side")?;
    if side != "home" {
        return Err(Error::Refused {
            code: "aid_not_home",
            message: "aids are followed at the candidate's home node".into(),
        });
    }
    let row = sqlx::query(
        "SELECT eligibility, reasons, amount_eur, state, updated_at FROM placement_aids \
         WHERE placement_id = $1 AND scheme_code = $2",
    )
    .bind(placement_id)
    .bind(&scheme.code)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => stored(&r, scheme),
        None => {
            let aid = fresh(scheme, &facts_of(&p)?);
            insert(tx, placement_id, &aid, now).await?;
            Ok(aid)
        }
    }
}

/// Record the file's new state.
pub async fn write_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    placement_id: &str,
    code: &str,
    to: AidState,
    actor: &Actor,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE placement_aids SET state = $3, updated_at = $4, updated_by = $5 \
         WHERE placement_id = $1 AND scheme_code = $2",
    )
    .bind(placement_id)
    .bind(code)
    .bind(to.as_str())
    .bind(now)
    .bind(actor.audit_fields().0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A candidate's home placements, oldest first, each with every configured
/// scheme (assessed now, not stored, for a scheme added since).
pub async fn for_candidate(
    db: &Db,
    schemes: &[AidScheme],
    candidate_id: &str,
) -> Result<Vec<PlacementAids>> {
    let placements = sqlx::query(&format!(
        "SELECT {PLACEMENT_FACTS} FROM placements WHERE candidate_id = $1 AND side = 'home' \
         ORDER BY placed_at, id"
    ))
    .bind(candidate_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(placements.len());
    for p in placements {
        let id: String = p.try_get("id")?;
        let rows = sqlx::query(
            "SELECT scheme_code, eligibility, reasons, amount_eur, state, updated_at \
             FROM placement_aids WHERE placement_id = $1",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await?;
        let facts = facts_of(&p)?;
        let mut aids = Vec::with_capacity(schemes.len());
        for s in schemes {
            let row = rows
                .iter()
                .find(|r| r.try_get::<String, _>("scheme_code").ok().as_deref() == Some(&s.code));
            aids.push(match row {
                Some(r) => stored(r, s)?,
                None => fresh(s, &facts),
            });
        }
        out.push(PlacementAids {
            placement_id: id,
            outcome: p.try_get("outcome")?,
            placed_on: p.try_get("placed_on")?,
            referral_id: p.try_get("referral_id")?,
            aids,
        });
    }
    Ok(out)
}

/// One scheme's figures over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AidFigures {
    /// The scheme's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Who pays it.
    pub funder: String,
    /// Placements assessed.
    pub assessed: i64,
    /// Eligible placements.
    pub eligible: i64,
    /// Placements whose eligibility is unknown (a fact is missing).
    pub unknown: i64,
    /// Files requested (whatever happened next).
    pub requested: i64,
    /// Files granted (paid included).
    pub granted: i64,
    /// Files paid.
    pub paid: i64,
    /// Files refused.
    pub refused: i64,
    /// Sum of the amounts of the paid files (euros).
    pub amount_paid_eur: i64,
}

/// Per configured scheme, the figures of the placements counted between
/// `from` and `to` (`YYYY-MM-DD`, inclusive).
pub async fn figures(
    db: &Db,
    schemes: &[AidScheme],
    from: &str,
    to: &str,
) -> Result<Vec<AidFigures>> {
    let rows = sqlx::query(
        "SELECT a.scheme_code, a.eligibility, a.state, a.amount_eur FROM placement_aids a \
         JOIN placements p ON p.id = a.placement_id \
         WHERE p.side = 'home' AND p.placed_on >= $1 AND p.placed_on <= $2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<AidFigures> = schemes
        .iter()
        .map(|s| AidFigures {
            code: s.code.clone(),
            name: s.name.clone(),
            funder: s.funder.clone(),
            ..AidFigures::default()
        })
        .collect();
    for r in rows {
        let code: String = r.try_get("scheme_code")?;
        let Some(f) = out.iter_mut().find(|f| f.code == code) else {
            continue; // a scheme no longer configured
        };
        let eligibility: String = r.try_get("eligibility")?;
        let state: String = r.try_get("state")?;
        f.assessed += 1;
        match eligibility.as_str() {
            "eligible" => f.eligible += 1,
            "unknown" => f.unknown += 1,
            _ => {}
        }
        if state != "none" {
            f.requested += 1;
        }
        match state.as_str() {
            "granted" => f.granted += 1,
            "paid" => {
                f.granted += 1;
                f.paid += 1;
                f.amount_paid_eur += r.try_get::<Option<i64>, _>("amount_eur")?.unwrap_or(0);
            }
            "refused" => f.refused += 1,
            _ => {}
        }
    }
    Ok(out)
}
