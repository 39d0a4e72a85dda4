//! Aided contracts: hiring aids the node's funders pay for some returns to
//! work (the Allier's CIED for a CDD or CDI of at least 12 months and
//! 26 h/week, a département's aid for hiring an RSA beneficiary…).
//!
//! Each scheme is defined in the configuration (`[[aids]]`, see
//! `config/node.example.toml`): its name and funder, the contracts it
//! accepts, a shortest fixed-term length, fewest weekly hours, the public it
//! is for (RSA beneficiaries, under 26, 50 and over), the départements
//! whose residents it covers and its amount. Every placement recorded at
//! the candidate's home node is assessed against every scheme in the same
//! transaction ([`store::assess_placement`]): *eligible*, *not eligible*
//! (with the reasons, in French) or *unknown* (a needed fact — weekly
//! hours, contract length, RSA status, age — is missing). A counsellor then
//! follows each aid's file: requested → granted → paid, or refused
//! ([`set_state`], audited `placement.aid` in the same transaction). The
//! reports count, per scheme, the eligible placements, the files in each
//! state and the amounts paid.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::candidates::PlacementOutcome;
use crate::error::{Error, Result};
use crate::server::AppState;

pub mod http;
pub mod store;

/// Who a scheme is for (every listed condition must hold).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Public {
    /// Beneficiaries of the RSA (a restricted field of the record).
    Rsa,
    /// People under 26 in the year of the hire.
    Under26,
    /// People of 50 and over in the year of the hire.
    Over50,
}

impl Public {
    fn label(self) -> &'static str {
        match self {
            Public::Rsa => "bénéficiaire du RSA",
            Public::Under26 => "moins de 26 ans",
            Public::Over50 => "50 ans et plus",
        }
    }
}

/// One hiring-aid scheme, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidScheme {
    /// Stable code (lower-case letters, digits and hyphens), e.g. `cied-03`.
    pub code: String,
    /// Name shown to counsellors and in the reports.
    pub name: String,
    /// Who pays it.
    #[serde(default)]
    pub funder: String,
    /// Contracts it accepts; empty: any.
    #[serde(default)]
    pub outcomes: Vec<PlacementOutcome>,
    /// Shortest fixed-term contract, in months (a CDI always qualifies).
    #[serde(default)]
    pub min_months: Option<i64>,
    /// Fewest weekly hours.
    #[serde(default)]
    pub min_weekly_hours: Option<i64>,
    /// Who it is for; every condition must hold. Empty: anyone.
    #[serde(default)]
    pub public: Vec<Public>,
    /// Départements whose residents it covers; empty: any.
    #[serde(default)]
    pub departements: Vec<String>,
    /// Amount in euros, when fixed.
    #[serde(default)]
    pub amount_eur: Option<i64>,
}

/// Check the configured schemes (start-up refuses a bad list).
pub fn validate(schemes: &[AidScheme]) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in schemes.iter().enumerate() {
        let at = format!("aids[{i}]");
        crate::validation::config_code_and_name(&at, &s.code, &s.name, &mut seen)?;
        if s.funder.chars().count() > 200 {
            return Err(format!("{at}.funder: at most 200 characters"));
        }
        if s.min_months.is_some_and(|m| !(1..=120).contains(&m)) {
            return Err(format!("{at}.min_months: 1 to 120"));
        }
        if s.min_weekly_hours.is_some_and(|h| !(1..=60).contains(&h)) {
            return Err(format!("{at}.min_weekly_hours: 1 to 60"));
        }
        if s.amount_eur.is_some_and(|a| !(0..=1_000_000).contains(&a)) {
            return Err(format!("{at}.amount_eur: 0 to 1000000"));
        }
        let refs = crate::referentials::territories::Territories::global();
        if let Some(d) = s
            .departements
            .iter()
            .find(|d| refs.departement_name(d).is_none())
        {
            return Err(format!("{at}.departements: unknown département {d:?}"));
        }
    }
    Ok(())
}

/// What a placement tells about the hire, as an aid needs it (the facts
/// recorded with the placement, never the record as edited later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AidFacts {
    /// The funders' category of the contract.
    pub outcome: Option<PlacementOutcome>,
    /// Length of a fixed-term contract in months.
    pub duration_months: Option<i64>,
    /// Weekly hours.
    pub weekly_hours: Option<i64>,
    /// RSA beneficiary at the time.
    pub rsa: Option<bool>,
    /// Age band at the time (`16_25`, `26_49`, `50_plus`).
    pub age_band: Option<String>,
    /// Département of residence at the time.
    pub departement: Option<String>,
}

/// The verdict of a scheme on a placement.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Eligibility {
    /// Every rule holds.
    Eligible,
    /// A rule fails.
    NotEligible,
    /// No rule fails, but a needed fact is missing.
    Unknown,
}

/// A verdict and its reasons (French, for the counsellor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The verdict.
    pub eligibility: Eligibility,
    /// Why not, or what is missing (empty when eligible).
    pub reasons: Vec<String>,
}

impl AidScheme {
    /// Assess a placement against this scheme's rules.
    pub fn assess(&self, f: &AidFacts) -> Assessment {
        let mut failed = Vec::new();
        let mut missing = Vec::new();
        match f.outcome {
            Some(o) if !self.outcomes.is_empty() && !self.outcomes.contains(&o) => {
                failed.push(format!(
                    "contrat non couvert ({})",
                    crate::ui::labels::outcome(o.as_str())
                ));
            }
            None if !self.outcomes.is_empty() => missing.push("nature du contrat".to_string()),
            _ => {}
        }
        if let Some(min) = self.min_months {
            if f.outcome != Some(PlacementOutcome::Cdi) {
                match f.duration_months {
                    Some(m) if m < min => {
                        failed.push(format!("contrat de {m} mois (au moins {min} mois)"));
                    }
                    Some(_) => {}
                    None => missing.push("durée du contrat (dates de début et de fin)".into()),
                }
            }
        }
        if let Some(min) = self.min_weekly_hours {
            match f.weekly_hours {
                Some(h) if h < min => failed.push(format!("{h} h par semaine (au moins {min} h)")),
                Some(_) => {}
                None => missing.push("heures par semaine".into()),
            }
        }
        for p in &self.public {
            let holds = match p {
                Public::Rsa => f.rsa,
                Public::Under26 => f.age_band.as_deref().map(|b| b == "16_25"),
                Public::Over50 => f.age_band.as_deref().map(|b| b == "50_plus"),
            };
            match holds {
                Some(true) => {}
                Some(false) => failed.push(format!("public visé : {}", p.label())),
                None => missing.push(match p {
                    Public::Rsa => "bénéficiaire du RSA ou non".to_string(),
                    Public::Under26 | Public::Over50 => "date de naissance".to_string(),
                }),
            }
        }
        if !self.departements.is_empty() {
            match &f.departement {
                Some(d) if !self.departements.contains(d) => {
                    failed.push(format!("résidence hors du territoire ({d})"));
                }
                Some(_) => {}
                None => missing.push("commune de résidence".into()),
            }
        }
        if !failed.is_empty() {
            Assessment {
                eligibility: Eligibility::NotEligible,
                reasons: failed,
            }
        } else if !missing.is_empty() {
            Assessment {
                eligibility: Eligibility::Unknown,
                reasons: missing
                    .into_iter()
                    .map(|m| format!("inconnu : {m}"))
                    .collect(),
            }
        } else {
            Assessment {
                eligibility: Eligibility::Eligible,
                reasons: Vec::new(),
            }
        }
    }
}

/// Where an aid's file stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AidState {
    /// Nothing asked yet.
    None,
    /// Asked of the funder.
    Requested,
    /// The funder said yes.
    Granted,
    /// The money was paid.
    Paid,
    /// The funder said no.
    Refused,
}

impl AidState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The states a file may move to from this one.
    pub fn next(self) -> &'static [AidState] {
        match self {
            AidState::None => &[AidState::Requested],
            AidState::Requested => &[AidState::Granted, AidState::Refused, AidState::None],
            AidState::Granted => &[AidState::Paid, AidState::Refused],
            AidState::Paid | AidState::Refused => &[],
        }
    }

    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            AidState::None => "non demandée",
            AidState::Requested => "demandée",
            AidState::Granted => "accordée",
            AidState::Paid => "versée",
            AidState::Refused => "refusée",
        }
    }
}

/// Move the file of aid `code` on placement `placement_id` to `to`, as a
/// staff member: a refused or paid file is final; an aid the placement is
/// not eligible to cannot be requested (`aid_not_eligible`). The change and
/// its audit entry (`placement.aid`) are written in one transaction.
pub async fn set_state(
    state: &AppState,
    actor: &Actor,
    placement_id: &str,
    code: &str,
    to: AidState,
) -> Result<store::PlacementAid> {
    actor.staff()?;
    let scheme = state
        .config
        .aids
        .iter()
        .find(|s| s.code == code)
        .ok_or(Error::NotFound("aid scheme"))?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let mut aid = store::aid_for_update(&mut tx, placement_id, scheme, now).await?;
    if !aid.state.next().contains(&to) {
        return Err(Error::Refused {
            code: "aid_transition",
            message: format!(
                "an aid file {} cannot become {}",
                aid.state.as_str(),
                to.as_str()
            ),
        });
    }
    if to == AidState::Requested && aid.eligibility == Eligibility::NotEligible {
        return Err(Error::Refused {
            code: "aid_not_eligible",
            message: format!(
                "this placement is not eligible to {}: {}",
                scheme.code,
                aid.reasons.join("; ")
            ),
        });
    }
    let from = aid.state;
    store::write_state(&mut tx, placement_id, code, to, actor, now).await?;
    crate::audit::append(
        &mut tx,
        actor,
        "placement.aid",
        ("placement", placement_id),
        None,
        serde_json::json!({ "aid": code, "from": from.as_str(), "to": to.as_str() }),
    )
    .await?;
    tx.commit().await?;
    aid.state = to;
    aid.updated_at = Some(now);
    Ok(aid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use PlacementOutcome::*;

    fn cied() -> AidScheme {
        AidScheme {
            code: "cied-03".into(),
            name: "CIED".into(),
            funder: "Conseil départemental de l'Allier".into(),
            outcomes: vec![Cdi, Cdd6MonthsOrMore],
            min_months: Some(12),
            min_weekly_hours: Some(26),
            public: vec![Public::Rsa],
            departements: vec!["03".into()],
            amount_eur: Some(4000),
        }
    }

    fn facts(outcome: PlacementOutcome, months: Option<i64>, hours: Option<i64>) -> AidFacts {
        AidFacts {
            outcome: Some(outcome),
            duration_months: months,
            weekly_hours: hours,
            rsa: Some(true),
            age_band: Some("26_49".into()),
            departement: Some("03".into()),
        }
    }

    #[test]
    fn boundaries_of_length_and_hours() {
        let s = cied();
        let e = |f: AidFacts| s.assess(&f).eligibility;
        assert_eq!(
            e(facts(Cdd6MonthsOrMore, Some(12), Some(26))),
            Eligibility::Eligible
        );
        assert_eq!(
            e(facts(Cdd6MonthsOrMore, Some(11), Some(26))),
            Eligibility::NotEligible
        );
        assert_eq!(
            e(facts(Cdd6MonthsOrMore, Some(12), Some(25))),
            Eligibility::NotEligible
        );
        assert_eq!(
            e(facts(Cdi, None, Some(26))),
            Eligibility::Eligible,
            "a CDI has no length"
        );
        assert_eq!(e(facts(Cdi, None, Some(25))), Eligibility::NotEligible);
        let r = s.assess(&facts(Cdd6MonthsOrMore, Some(11), Some(25)));
        assert_eq!(
            r.reasons,
            vec![
                "contrat de 11 mois (au moins 12 mois)".to_string(),
                "25 h par semaine (au moins 26 h)".to_string()
            ]
        );
    }

    #[test]
    fn every_contract_type_and_missing_facts() {
        let s = cied();
        for o in PlacementOutcome::all() {
            let got = s.assess(&facts(o, Some(24), Some(35))).eligibility;
            let want = if matches!(o, Cdi | Cdd6MonthsOrMore) {
                Eligibility::Eligible
            } else {
                Eligibility::NotEligible
            };
            assert_eq!(got, want, "{o:?}");
        }
        // Unknown hours or length: unknown, with what is missing.
        let r = s.assess(&facts(Cdd6MonthsOrMore, None, None));
        assert_eq!(r.eligibility, Eligibility::Unknown);
        assert_eq!(r.reasons.len(), 2, "{:?}", r.reasons);
        // A failing rule wins over a missing fact.
        let r = s.assess(&facts(Training, None, None));
        assert_eq!(r.eligibility, Eligibility::NotEligible);
        // Public and territory.
        let mut f = facts(Cdi, None, Some(35));
        f.rsa = Some(false);
        assert_eq!(s.assess(&f).eligibility, Eligibility::NotEligible);
        f.rsa = None;
        assert_eq!(s.assess(&f).eligibility, Eligibility::Unknown);
        let mut f = facts(Cdi, None, Some(35));
        f.departement = Some("41".into());
        assert_eq!(s.assess(&f).eligibility, Eligibility::NotEligible);
        let young = AidScheme {
            public: vec![Public::Under26],
            departements: vec![],
            ..cied()
        };
        let mut f = facts(Cdi, None, Some(35));
        f.age_band = Some("16_25".into());
        assert_eq!(young.assess(&f).eligibility, Eligibility::Eligible);
        f.age_band = None;
        assert_eq!(young.assess(&f).eligibility, Eligibility::Unknown);
    }

    #[test]
    fn a_file_moves_forward_only() {
        use AidState::*;
        assert_eq!(None.next(), &[Requested]);
        assert!(Requested.next().contains(&Granted) && Requested.next().contains(&Refused));
        assert!(Granted.next().contains(&Paid));
        assert!(Paid.next().is_empty() && Refused.next().is_empty());
    }

    #[test]
    fn bad_schemes_are_refused() {
        assert!(validate(&[cied()]).is_ok());
        assert!(validate(&[cied(), cied()])
            .unwrap_err()
            .contains("used twice"));
        let bad = AidScheme {
            code: "CIED 03".into(),
            ..cied()
        };
        assert!(validate(&[bad]).unwrap_err().contains("code"));
        let bad = AidScheme {
            departements: vec!["99".into()],
            ..cied()
        };
        assert!(validate(&[bad])
            .unwrap_err()
            .contains("unknown département"));
        let bad = AidScheme {
            min_weekly_hours: Some(0),
            ..cied()
        };
        assert!(validate(&[bad]).is_err());
    }
}
