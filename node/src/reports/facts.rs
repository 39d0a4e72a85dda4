//! What a placement records when it is written: the funders' outcome, the
//! contract, the hiring-aid rule, the channel, and the candidate's public
//! and territory *at that time* (later edits of the record do not move a
//! past figure). Every placement row is written by [`insert_placement`].

use serde::{Deserialize, Serialize};

use super::store;
use super::ReportsConfig;
use crate::candidates::PlacementOutcome;
use crate::error::{FieldError, Result};

/// How the person found the job.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    /// Through the platform: a referral (co-optation) or a match.
    Platform,
    /// Through a counsellor's support outside the platform.
    Counsellor,
}

impl Channel {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which node counts the placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Side {
    /// This node's candidate: a return to work counted here.
    Home,
    /// Another node's candidate hired on this node's offer: a hire through
    /// the network, counted at the candidate's home node.
    Offer,
}

/// Age band at the placement.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
)]
pub enum AgeBand {
    /// 16 to 25.
    #[serde(rename = "16_25")]
    #[strum(serialize = "16_25")]
    From16To25,
    /// 26 to 49.
    #[serde(rename = "26_49")]
    #[strum(serialize = "26_49")]
    From26To49,
    /// 50 and over (seniors).
    #[serde(rename = "50_plus")]
    #[strum(serialize = "50_plus")]
    From50,
}

impl AgeBand {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The band of someone born in `birth_year`, in `year` (age reached
    /// during that year). Under 16: none.
    pub fn of(birth_year: i64, year: i64) -> Option<AgeBand> {
        match year - birth_year {
            16..=25 => Some(AgeBand::From16To25),
            26..=49 => Some(AgeBand::From26To49),
            a if a >= 50 => Some(AgeBand::From50),
            _ => None,
        }
    }
}

/// The contract of a return to work, as far as known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractFacts {
    /// First day, `YYYY-MM-DD`.
    #[serde(default)]
    pub start: Option<String>,
    /// Last day, `YYYY-MM-DD` (none for a CDI).
    #[serde(default)]
    pub end: Option<String>,
    /// Length in months (computed from the dates when both are given).
    #[serde(default)]
    pub duration_months: Option<i64>,
    /// Weekly hours.
    #[serde(default)]
    pub weekly_hours: Option<i64>,
}

impl ContractFacts {
    /// Field checks (`prefix` names the fields in errors); fills
    /// `duration_months` from the dates.
    pub fn check(mut self, prefix: &str) -> std::result::Result<ContractFacts, Vec<FieldError>> {
        let mut errs = Vec::new();
        let name = |f: &str| format!("{prefix}{f}");
        let start = parse_date(&mut errs, &name("start"), self.start.as_deref());
        let end = parse_date(&mut errs, &name("end"), self.end.as_deref());
        crate::validation::int_in(
            &mut errs,
            &name("duration_months"),
            self.duration_months,
            0..=600,
        );
        crate::validation::int_in(&mut errs, &name("weekly_hours"), self.weekly_hours, 1..=60);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                errs.push(FieldError::new(name("end"), "must not be before the start"));
            } else if self.duration_months.is_none() {
                self.duration_months = Some(months_between(s, e));
            }
        }
        if errs.is_empty() {
            Ok(self)
        } else {
            Err(errs)
        }
    }
}

fn parse_date(
    errs: &mut Vec<FieldError>,
    field: &str,
    v: Option<&str>,
) -> Option<chrono::NaiveDate> {
    let v = v?;
    match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            errs.push(FieldError::new(field, "must be a date YYYY-MM-DD"));
            None
        }
    }
}

/// Whole months from `start` to the day after `end` (1 Jan – 31 Dec is 12).
pub fn months_between(start: chrono::NaiveDate, end: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    let after = end.succ_opt().unwrap_or(end);
    let mut m = i64::from(after.year() - start.year()) * 12 + i64::from(after.month())
        - i64::from(start.month());
    if after.day() < start.day() {
        m -= 1;
    }
    m.max(0)
}

impl ReportsConfig {
    /// Whether a contract meets the hiring-aid rule: `None` when a needed
    /// fact (hours; length for a fixed-term contract) is unknown.
    pub fn aid_eligible(
        &self,
        outcome: PlacementOutcome,
        duration_months: Option<i64>,
        weekly_hours: Option<i64>,
    ) -> Option<bool> {
        if !self.aid_outcomes.contains(&outcome) {
            return Some(false);
        }
        let hours_ok = weekly_hours.map(|h| h >= self.aid_min_weekly_hours);
        let length_ok = if outcome == PlacementOutcome::Cdi {
            Some(true)
        } else {
            duration_months.map(|m| m >= self.aid_min_months)
        };
        match (hours_ok, length_ok) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }
}

/// A placement to write.
#[derive(Debug, Clone)]
pub struct NewPlacement {
    /// This node's candidate (none on the offer's side of a network hire).
    pub candidate_id: Option<String>,
    pub outcome: PlacementOutcome,
    pub referral_id: Option<String>,
    /// User who recorded it.
    pub recorded_by: Option<String>,
    /// Unix ms.
    pub recorded_at: i64,
    pub contract: ContractFacts,
    pub channel: Channel,
    pub side: Side,
    /// The job's ROME code (the offer's); else the candidate's first.
    pub rome_code: Option<String>,
}

/// A cancelled hire is not a hire: the placement of referral
/// `referral_id` leaves the statistics (in the caller's transaction).
pub async fn remove_placement_of_referral(
    conn: &mut sqlx::AnyConnection,
    referral_id: &str,
) -> Result<()> {
    store::delete_placement_of_referral(conn, referral_id).await
}

/// How many placements candidate `candidate_id` has.
pub async fn placements_of_candidate(
    conn: &mut sqlx::AnyConnection,
    candidate_id: &str,
) -> Result<i64> {
    store::placements_of_candidate(conn, candidate_id).await
}

/// Write a placement row with the facts of the time, inside the caller's
/// transaction. Returns its id and the day it counts on.
pub async fn insert_placement(
    conn: &mut sqlx::AnyConnection,
    cfg: &ReportsConfig,
    aids: &[crate::aids::AidScheme],
    p: NewPlacement,
) -> Result<(String, String)> {
    let placed_on = match &p.contract.start {
        Some(s) => s.clone(),
        None => chrono::DateTime::from_timestamp_millis(p.recorded_at)
            .unwrap_or_default()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
    };
    let year: i64 = placed_on.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    let facts = match (&p.candidate_id, p.side) {
        (Some(id), Side::Home) => store::candidate_facts(conn, id).await?,
        _ => None,
    };
    let refs = crate::referentials::Referentials::global();
    let row = store::PlacementRow {
        id: crate::util::new_id(),
        candidate_id: p.candidate_id,
        outcome: p.outcome.as_str(),
        referral_id: p.referral_id,
        placed_at: p.recorded_at,
        recorded_by: p.recorded_by.clone(),
        placed_on: placed_on.clone(),
        aid_eligible: cfg
            .aid_eligible(
                p.outcome,
                p.contract.duration_months,
                p.contract.weekly_hours,
            )
            .map(i64::from),
        contract: p.contract,
        channel: p.channel.as_str(),
        side: p.side.into(),
        counsellor_id: facts
            .as_ref()
            .map(|f| f.counsellor_id.clone().or(p.recorded_by.clone()))
            .unwrap_or(None),
        rsa: facts.as_ref().and_then(|f| f.rsa).map(i64::from),
        age_band: facts
            .as_ref()
            .and_then(|f| f.birth_year)
            .and_then(|b| AgeBand::of(b, year))
            .map(|a| a.as_str()),
        qualification: facts.as_ref().and_then(|f| f.qualification.clone()),
        departement: facts
            .as_ref()
            .and_then(|f| refs.commune(&f.commune_insee))
            .map(|c| c.departement.clone()),
        epci: facts
            .as_ref()
            .and_then(|f| {
                crate::referentials::territories::Territories::global().epci(&f.commune_insee)
            })
            .map(|(code, _)| code.to_string()),
        commune_insee: facts.as_ref().map(|f| f.commune_insee.clone()),
        rome_code: p
            .rome_code
            .or_else(|| facts.as_ref().and_then(|f| f.first_rome.clone())),
        registered_at: facts.as_ref().map(|f| f.registered_at),
    };
    store::insert_placement(conn, &row).await?;
    if p.side == Side::Home {
        let facts = crate::aids::AidFacts {
            outcome: Some(p.outcome),
            duration_months: row.contract.duration_months,
            weekly_hours: row.contract.weekly_hours,
            rsa: row.rsa.map(|v| v != 0),
            age_band: row.age_band.map(str::to_string),
            departement: row.departement.clone(),
        };
        crate::aids::store::assess_placement(conn, aids, &row.id, &facts, p.recorded_at).await?;
    }
    Ok((row.id, placed_on))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn months_between_counts_whole_months() {
        assert_eq!(months_between(d("2026-01-01"), d("2026-12-31")), 12);
        assert_eq!(months_between(d("2026-01-15"), d("2026-07-14")), 6);
        assert_eq!(months_between(d("2026-01-15"), d("2026-07-13")), 5);
        assert_eq!(months_between(d("2026-03-01"), d("2026-03-01")), 0);
        // A shorter month ends on its last day: 29 December + 2 months,
        // 31 January + 1 month.
        assert_eq!(months_between(d("2026-12-29"), d("2027-02-28")), 2);
        assert_eq!(months_between(d("2026-12-29"), d("2027-02-27")), 1);
        assert_eq!(months_between(d("2027-01-31"), d("2027-02-28")), 1);
    }

    #[test]
    fn age_bands() {
        assert_eq!(AgeBand::of(2010, 2026), Some(AgeBand::From16To25));
        assert_eq!(AgeBand::of(2011, 2026), None);
        assert_eq!(AgeBand::of(2001, 2026), Some(AgeBand::From16To25));
        assert_eq!(AgeBand::of(2000, 2026), Some(AgeBand::From26To49));
        assert_eq!(AgeBand::of(1977, 2026), Some(AgeBand::From26To49));
        assert_eq!(AgeBand::of(1976, 2026), Some(AgeBand::From50));
    }

    #[test]
    fn aid_rule_of_allier() {
        let c = ReportsConfig::default();
        use PlacementOutcome::*;
        assert_eq!(c.aid_eligible(Cdi, None, Some(35)), Some(true));
        assert_eq!(c.aid_eligible(Cdi, None, Some(20)), Some(false));
        assert_eq!(c.aid_eligible(Cdi, None, None), None);
        assert_eq!(
            c.aid_eligible(Cdd6MonthsOrMore, Some(12), Some(26)),
            Some(true)
        );
        assert_eq!(
            c.aid_eligible(Cdd6MonthsOrMore, Some(11), Some(35)),
            Some(false)
        );
        assert_eq!(c.aid_eligible(Cdd6MonthsOrMore, None, Some(35)), None);
        assert_eq!(
            c.aid_eligible(CddUnder6Months, Some(3), Some(35)),
            Some(false)
        );
        assert_eq!(c.aid_eligible(Training, None, None), Some(false));
    }

    #[test]
    fn contract_checks_name_fields_and_compute_length() {
        let ok = ContractFacts {
            start: Some("2026-01-01".into()),
            end: Some("2026-12-31".into()),
            ..Default::default()
        }
        .check("contract.")
        .unwrap();
        assert_eq!(ok.duration_months, Some(12));
        let errs = ContractFacts {
            start: Some("2026-02-30".into()),
            end: Some("2025-01-01".into()),
            weekly_hours: Some(0),
            ..Default::default()
        }
        .check("contract.")
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["contract.start", "contract.weekly_hours"]);
    }
}
