//! Reports: the figures funders ask for (definitions in `docs/reports.md`).
//!
//! - [`facts`]: what a placement records when it is written (outcome,
//!   contract, aid rule, channel, public and territory at the time).
//! - [`store`]: the SQL.
//! - [`compute`]: a report over a period, grouped by one dimension.
//! - [`export`]: CSV and XLSX of a report (aggregates only, audited).
//! - [`svg`]: server-rendered charts for the UI page (`/ui/rapports`).
//!
//! API: `GET /api/v1/reports?from=&to=|month=|year=&group_by=` and
//! `GET /api/v1/reports/export?format=csv|xlsx&…` (staff only).

pub mod export;
pub mod facts;
pub mod network;
pub mod store;
pub mod svg;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::auth::User;
use crate::candidates::PlacementOutcome;
use crate::error::{Error, FieldError, Result};
use crate::http::ApiQuery;
use crate::server::AppState;

pub use facts::{AgeBand, Channel, ContractFacts, NewPlacement, Side};

/// `[reports]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Name of the hiring-aid rule in the reports.
    pub aid_rule_label: String,
    /// Outcomes the aid accepts.
    pub aid_outcomes: Vec<PlacementOutcome>,
    /// Shortest fixed-term contract (months); a CDI always qualifies.
    pub aid_min_months: i64,
    /// Fewest weekly hours.
    pub aid_min_weekly_hours: i64,
    /// Network figures: cells counting 1..threshold-1 are suppressed.
    pub small_count_threshold: i64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            aid_rule_label: "CDD ou CDI d'au moins 12 mois et 26 h/semaine".into(),
            aid_outcomes: vec![PlacementOutcome::Cdi, PlacementOutcome::Cdd6MonthsOrMore],
            aid_min_months: 12,
            aid_min_weekly_hours: 26,
            small_count_threshold: 5,
        }
    }
}

/// What a report's rows are.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GroupBy {
    /// The candidate's counsellor at the time.
    Counsellor,
    /// The candidate's département at the time.
    Departement,
    /// The candidate's EPCI (intercommunalité) at the time.
    Epci,
    /// The candidate's commune at the time.
    Commune,
    /// RSA beneficiary or not.
    Rsa,
    /// 16–25, 26–49, 50+.
    AgeBand,
    /// The candidate's qualification level.
    Qualification,
    /// The ROME domain (first letter) of the job.
    RomeDomain,
    /// The outcome category.
    Outcome,
    /// Platform or counsellor support.
    Channel,
    /// Calendar month of the placement.
    Month,
}

impl GroupBy {
    /// Stored/query form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The query string of a report.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` (with `to`).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, included.
    #[serde(default)]
    pub to: Option<String>,
    /// A calendar month, `YYYY-MM`.
    #[serde(default)]
    pub month: Option<String>,
    /// A calendar year.
    #[serde(default)]
    pub year: Option<i64>,
    /// Rows of the report (none: the total only).
    #[serde(default)]
    pub group_by: Option<GroupBy>,
}

/// Days `from..=to`, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
}

impl Period {
    /// `[from 00:00 UTC, to+1 00:00 UTC)` in unix ms.
    pub fn ms_range(&self) -> (i64, i64) {
        let day = |s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .and_utc()
                        .timestamp_millis()
                })
                .unwrap_or(0)
        };
        (day(&self.from), day(&self.to) + 86_400_000)
    }
}

fn date(errs: &mut Vec<FieldError>, field: &str, v: &str) -> Option<chrono::NaiveDate> {
    match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            errs.push(FieldError::new(field, "must be a date YYYY-MM-DD"));
            None
        }
    }
}

impl ReportQuery {
    /// The period asked for: `from`+`to`, or `month`, or `year`; none of
    /// them = the current calendar year (by `today`). Longest: 10 years.
    pub fn period(&self, today: chrono::NaiveDate) -> Result<Period> {
        use chrono::Datelike;
        let mut errs = Vec::new();
        let given = [
            self.from.is_some() || self.to.is_some(),
            self.month.is_some(),
            self.year.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            return Err(Error::field(
                "month",
                "give one period: from and to, or month, or year",
            ));
        }
        let (from, to) = if self.from.is_some() || self.to.is_some() {
            let from = match &self.from {
                Some(f) => date(&mut errs, "from", f),
                None => {
                    errs.push(FieldError::new("from", "required with to"));
                    None
                }
            };
            let to = match &self.to {
                Some(t) => date(&mut errs, "to", t),
                None => {
                    errs.push(FieldError::new("to", "required with from"));
                    None
                }
            };
            match (from, to) {
                (Some(f), Some(t)) if t < f => {
                    errs.push(FieldError::new("to", "must not be before from"));
                    (f, t)
                }
                (Some(f), Some(t)) if (t - f).num_days() > 3660 => {
                    errs.push(FieldError::new("to", "the period is at most 10 years"));
                    (f, t)
                }
                (Some(f), Some(t)) => (f, t),
                _ => return Err(Error::Validation(errs)),
            }
        } else if let Some(m) = &self.month {
            let first = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
                .ok()
                .filter(|_| m.len() == 7);
            let Some(first) = first else {
                return Err(Error::field("month", "must be a month YYYY-MM"));
            };
            let last = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(first);
            (first, last)
        } else if let Some(y) = self.year {
            let y32 = i32::try_from(y).ok().filter(|y| (1900..=2100).contains(y));
            let Some(y) = y32 else {
                return Err(Error::field("year", "must be between 1900 and 2100"));
            };
            let first = chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(today);
            let last = chrono::NaiveDate::from_ymd_opt(y, 12, 31).unwrap_or(today);
            (first, last)
        } else {
            let first = chrono::NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
            let last = chrono::NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap_or(today);
            (first, last)
        };
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
        Ok(Period {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
        })
    }
}

/// One row of the returns-to-work table: every figure of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Group key (stable: user id, INSEE code, `16_25`, `cdi`, `2026-03`…).
    pub key: String,
    /// Group label (French, for people).
    pub label: String,
    /// Returns to work.
    pub placed: i64,
    /// Outcome → count (all eight always present).
    pub by_outcome: BTreeMap<String, i64>,
    /// Through the platform (referral or match).
    pub platform: i64,
    /// With a counsellor's support.
    pub counsellor_support: i64,
    /// Meeting the hiring-aid rule.
    pub aid_eligible: i64,
    /// RSA beneficiaries.
    pub rsa: i64,
    /// Age band → count (`16_25`, `26_49`, `50_plus`, `unknown`).
    pub by_age_band: BTreeMap<String, i64>,
    /// Placements whose registration date is known (the base of the two
    /// delay figures).
    pub with_registration: i64,
    /// Median days from registration to placement.
    pub median_days_to_placement: Option<i64>,
    /// Placed within three months of registration.
    pub within_3_months: i64,
}

/// The columns of a [`Row`], in order: (id, French label).
pub fn row_columns() -> Vec<(String, String)> {
    let mut v = vec![("placed".to_string(), "Retours à l'emploi".to_string())];
    for o in PlacementOutcome::all() {
        v.push((
            o.as_str().to_string(),
            crate::ui::labels::outcome(o.as_str()).to_string(),
        ));
    }
    for (id, label) in [
        ("platform", "Par la plateforme"),
        (
            "counsellor_support",
            "Avec l'accompagnement d'un conseiller",
        ),
        ("aid_eligible", "Éligibles à l'aide à l'embauche"),
        ("rsa", "Bénéficiaires du RSA"),
        ("age_16_25", "16-25 ans"),
        ("age_26_49", "26-49 ans"),
        ("age_50_plus", "50 ans et plus"),
        ("age_unknown", "Âge inconnu"),
        ("with_registration", "Date d'inscription connue"),
        ("median_days_to_placement", "Délai médian (jours)"),
        ("within_3_months", "Placés dans les 3 mois"),
    ] {
        v.push((id.to_string(), label.to_string()));
    }
    v
}

impl Row {
    /// The figures in [`row_columns`] order (none: no median).
    pub fn cells(&self) -> Vec<Option<i64>> {
        let mut v = vec![Some(self.placed)];
        for o in PlacementOutcome::all() {
            v.push(Some(self.by_outcome.get(o.as_str()).copied().unwrap_or(0)));
        }
        let age = |k: &str| Some(self.by_age_band.get(k).copied().unwrap_or(0));
        v.extend([
            Some(self.platform),
            Some(self.counsellor_support),
            Some(self.aid_eligible),
            Some(self.rsa),
            age("16_25"),
            age("26_49"),
            age("50_plus"),
            age("unknown"),
            Some(self.with_registration),
            self.median_days_to_placement,
            Some(self.within_3_months),
        ]);
        v
    }

    fn new(key: String, label: String) -> Row {
        Row {
            key,
            label,
            by_outcome: PlacementOutcome::all()
                .map(|o| (o.as_str().to_string(), 0))
                .collect(),
            by_age_band: ["16_25", "26_49", "50_plus", "unknown"]
                .iter()
                .map(|k| (k.to_string(), 0))
                .collect(),
            ..Row::default()
        }
    }
}

/// Offers figures (this node's offers posted in the period).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferFigures {
    pub posted: i64,
    pub positions_posted: i64,
    /// Hires on this node's offers counted in the period (each fills a
    /// position), whoever's the candidate.
    pub positions_filled: i64,
    /// Distinct offers of this node with a hire counted in the period.
    pub offers_with_hire: i64,
    /// Offers posted in the period and still open now.
    pub still_open: i64,
    pub positions_still_open: i64,
}

/// Referrals created in the period: direction → status → count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferralFigures {
    pub total: i64,
    pub by_direction: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Trainings and immersions of this node's candidates: referrals by target
/// (`training`, `immersion`) and step reached in the period (`referred`,
/// `admitted`, `completed`, `certified`, `abandoned`: each referral once
/// per step), and the hires in the period on an offer a training was
/// "for" (« placements après une formation »), with the links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingFigures {
    pub by_target: BTreeMap<String, BTreeMap<String, i64>>,
    /// Distinct hires that followed a training for their offer.
    pub placements_after_training: i64,
    pub links: Vec<store::TrainingLink>,
}

impl TrainingFigures {
    /// The count of `step` for `target` (0 when none).
    pub fn count(&self, target: &str, step: &str) -> i64 {
        self.by_target
            .get(target)
            .and_then(|m| m.get(step))
            .copied()
            .unwrap_or(0)
    }
}

async fn training_figures(
    state: &AppState,
    period: &Period,
    from_ms: i64,
    to_ms: i64,
) -> Result<TrainingFigures> {
    let mut out = TrainingFigures::default();
    for (target, status, n) in store::training_steps_between(&state.db, from_ms, to_ms).await? {
        let step = if status == "new" {
            "referred".to_string()
        } else {
            status
        };
        *out.by_target
            .entry(target)
            .or_default()
            .entry(step)
            .or_default() += n;
    }
    out.links = store::training_links_between(&state.db, &period.from, &period.to).await?;
    out.placements_after_training = out
        .links
        .iter()
        .map(|l| l.hire_referral_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    Ok(out)
}

/// A node's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub node_id: String,
    pub node_name: String,
    pub period: Period,
    pub group_by: Option<GroupBy>,
    /// Unix ms.
    pub generated_at: i64,
    /// The hiring-aid rule of `aid_eligible`.
    pub aid_rule: String,
    /// Returns to work of this node's candidates: all, then one row per
    /// group (sorted by key).
    pub total: Row,
    pub groups: Vec<Row>,
    /// Other nodes' candidates hired on this node's offers (counted as
    /// returns to work at their home node, not here).
    pub hires_through_network: i64,
    pub offers: OfferFigures,
    pub referrals: ReferralFigures,
    /// Per configured hiring-aid scheme (`[[aids]]`): placements assessed,
    /// eligible, unknown; files requested, granted, paid, refused; amount
    /// paid.
    #[serde(default)]
    pub aids: Vec<crate::aids::store::AidFigures>,
    /// Per configured programme (`[[programmes]]`): enrolments started in
    /// the period, under way, closed in the period and their outcomes.
    #[serde(default)]
    pub programmes: Vec<crate::programmes::ProgrammeFigures>,
    /// Trainings and immersions, and the hires that followed a training.
    #[serde(default)]
    pub trainings: TrainingFigures,
}

fn rome_domain_label(letter: &str) -> &'static str {
    match letter {
        "A" => "Agriculture et pêche, espaces naturels et espaces verts, soins aux animaux",
        "B" => "Arts et façonnage d'ouvrages d'art",
        "C" => "Banque, assurance, immobilier",
        "D" => "Commerce, vente et grande distribution",
        "E" => "Communication, média et multimédia",
        "F" => "Construction, bâtiment et travaux publics",
        "G" => "Hôtellerie-restauration, tourisme, loisirs et animation",
        "H" => "Industrie",
        "I" => "Installation et maintenance",
        "J" => "Santé",
        "K" => "Services à la personne et à la collectivité",
        "L" => "Spectacle",
        "M" => "Support à l'entreprise",
        "N" => "Transport et logistique",
        _ => "Domaine inconnu",
    }
}

/// French label of an age band key.
pub fn age_band_label(k: &str) -> &'static str {
    match k {
        "16_25" => "16-25 ans",
        "26_49" => "26-49 ans",
        "50_plus" => "50 ans et plus",
        _ => "Âge inconnu",
    }
}

const UNKNOWN: &str = "unknown";

/// (key, label) of a fact in a dimension; labels of counsellors are filled
/// in afterwards.
fn group_of(g: GroupBy, f: &store::Fact) -> (String, String) {
    let refs = crate::referentials::Referentials::global();
    let territories = crate::referentials::territories::Territories::global();
    let unknown = || (UNKNOWN.to_string(), "Non renseigné".to_string());
    match g {
        GroupBy::Counsellor => match &f.counsellor_id {
            Some(id) => (id.clone(), id.clone()),
            None => unknown(),
        },
        GroupBy::Departement => match &f.departement {
            Some(d) => (
                d.clone(),
                match territories.departement_name(d) {
                    Some(n) => format!("{n} ({d})"),
                    None => format!("Département {d}"),
                },
            ),
            None => unknown(),
        },
        GroupBy::Epci => match &f.epci {
            Some(e) => (e.clone(), territories.epci_name(e).unwrap_or(e).to_string()),
            None => unknown(),
        },
        GroupBy::Commune => match &f.commune_insee {
            Some(c) => (
                c.clone(),
                refs.commune(c)
                    .map(|m| format!("{} ({})", m.name, m.departement))
                    .unwrap_or_else(|| c.clone()),
            ),
            None => unknown(),
        },
        GroupBy::Rsa => match f.rsa {
            Some(1) => ("rsa".into(), "Bénéficiaires du RSA".into()),
            Some(_) => ("not_rsa".into(), "Non bénéficiaires du RSA".into()),
            None => unknown(),
        },
        GroupBy::AgeBand => match &f.age_band {
            Some(a) => (a.clone(), age_band_label(a).into()),
            None => (UNKNOWN.into(), age_band_label(UNKNOWN).into()),
        },
        GroupBy::Qualification => match &f.qualification {
            Some(q) => (q.clone(), q.clone()),
            None => unknown(),
        },
        GroupBy::RomeDomain => match f.rome_code.as_deref().and_then(|r| r.get(..1)) {
            Some(l) if rome_domain_label(l) != "Domaine inconnu" => {
                (l.to_string(), format!("{l} — {}", rome_domain_label(l)))
            }
            _ => unknown(),
        },
        GroupBy::Outcome => (
            f.outcome.clone(),
            crate::ui::labels::outcome(&f.outcome).into(),
        ),
        GroupBy::Channel => {
            if f.channel == Channel::Platform.as_str() {
                ("platform".into(), "Par la plateforme".into())
            } else {
                ("counsellor".into(), "Accompagnement d'un conseiller".into())
            }
        }
        GroupBy::Month => {
            let m = f.placed_on.get(..7).unwrap_or(&f.placed_on).to_string();
            (m.clone(), m)
        }
    }
}

fn days_between(registered_ms: i64, placed_on: &str) -> Option<(i64, bool)> {
    let reg = chrono::DateTime::from_timestamp_millis(registered_ms)?.date_naive();
    let placed = chrono::NaiveDate::parse_from_str(placed_on, "%Y-%m-%d").ok()?;
    let days = (placed - reg).num_days().max(0);
    let within = reg
        .checked_add_months(chrono::Months::new(3))
        .is_some_and(|limit| placed <= limit);
    Some((days, within))
}

/// Accumulates the rows of one group.
#[derive(Default)]
struct Acc {
    row: Row,
    delays: Vec<i64>,
}

impl Acc {
    fn add(&mut self, f: &store::Fact) {
        let r = &mut self.row;
        r.placed += 1;
        *r.by_outcome.entry(f.outcome.clone()).or_default() += 1;
        if f.channel == Channel::Platform.as_str() {
            r.platform += 1;
        } else {
            r.counsellor_support += 1;
        }
        if f.aid_eligible == Some(1) {
            r.aid_eligible += 1;
        }
        if f.rsa == Some(1) {
            r.rsa += 1;
        }
        *r.by_age_band
            .entry(f.age_band.clone().unwrap_or_else(|| UNKNOWN.into()))
            .or_default() += 1;
        if let Some((days, within)) = f
            .registered_at
            .and_then(|reg| days_between(reg, &f.placed_on))
        {
            r.with_registration += 1;
            self.delays.push(days);
            if within {
                r.within_3_months += 1;
            }
        }
    }

    fn finish(mut self) -> Row {
        self.delays.sort_unstable();
        let n = self.delays.len();
        self.row.median_days_to_placement = match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.delays[n / 2]),
            // Even count: the mean of the two middle values, rounded down.
            _ => Some((self.delays[n / 2 - 1] + self.delays[n / 2]) / 2),
        };
        self.row
    }
}

/// Compute a report. Staff only (the figures describe the node's whole
/// activity).
pub async fn compute(state: &AppState, actor: &Actor, q: &ReportQuery) -> Result<Report> {
    actor.staff()?;
    let now = state.clock.now_ms();
    let today = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    let period = q.period(today)?;
    let aids = crate::aids::store::figures(&state.db, &state.config.aids, &period.from, &period.to)
        .await?;
    let programmes = crate::programmes::figures(state, &period.from, &period.to).await?;
    let facts = store::placements_between(&state.db, &period.from, &period.to).await?;
    let mut total = Acc {
        row: Row::new("total".into(), "Total".into()),
        ..Acc::default()
    };
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut hires_through_network = 0;
    let mut positions_filled = 0;
    let mut offers_with_hire = std::collections::BTreeSet::new();
    for f in &facts {
        if f.on_local_offer {
            positions_filled += 1;
            if let Some(o) = &f.offer_id {
                offers_with_hire.insert(o.clone());
            }
        }
        if f.side == "offer" {
            hires_through_network += 1;
            continue;
        }
        total.add(f);
        if let Some(g) = q.group_by {
            let (key, label) = group_of(g, f);
            groups
                .entry(key.clone())
                .or_insert_with(|| Acc {
                    row: Row::new(key, label),
                    ..Acc::default()
                })
                .add(f);
        }
    }
    let mut groups: Vec<Row> = groups.into_values().map(Acc::finish).collect();
    if q.group_by == Some(GroupBy::Counsellor) {
        let ids: Vec<String> = groups
            .iter()
            .filter(|r| r.key != UNKNOWN)
            .map(|r| r.key.clone())
            .collect();
        let names: BTreeMap<String, String> = store::user_names(&state.db, &ids)
            .await?
            .into_iter()
            .collect();
        for r in &mut groups {
            if let Some(n) = names.get(&r.key) {
                r.label = n.clone();
            }
        }
    }
    let (from_ms, to_ms) = period.ms_range();
    let mut offers = OfferFigures {
        positions_filled,
        offers_with_hire: offers_with_hire.len() as i64,
        ..OfferFigures::default()
    };
    for o in store::local_offers_between(&state.db, from_ms, to_ms).await? {
        let positions = serde_json::from_str::<vivier_protocol::OfferPayload>(&o.payload)
            .map(|p| p.workplaces.iter().map(|w| w.positions.max(0)).sum::<i64>())
            .unwrap_or(0);
        offers.posted += 1;
        offers.positions_posted += positions;
        if o.open {
            offers.still_open += 1;
            offers.positions_still_open += positions;
        }
    }
    let trainings = training_figures(state, &period, from_ms, to_ms).await?;
    let mut referrals = ReferralFigures::default();
    for (direction, status, n) in store::referrals_between(&state.db, from_ms, to_ms).await? {
        referrals.total += n;
        *referrals
            .by_direction
            .entry(direction)
            .or_default()
            .entry(status)
            .or_default() += n;
    }
    Ok(Report {
        node_id: state.identity.node_id.to_string(),
        node_name: state.config.display_name.clone(),
        period,
        group_by: q.group_by,
        generated_at: now,
        aid_rule: state.config.reports.aid_rule_label.clone(),
        total: total.finish(),
        groups,
        hires_through_network,
        offers,
        referrals,
        aids,
        programmes,
        trainings,
    })
}

/// The period and breakdown of a report, as documented (parsed by
/// [`ReportQuery`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PeriodParams {
    /// First day, YYYY-MM-DD (with `to`).
    from: Option<String>,
    /// Last day, YYYY-MM-DD (with `from`).
    to: Option<String>,
    /// A month, YYYY-MM.
    month: Option<String>,
    /// A year.
    year: Option<i32>,
    /// Breakdown (docs/reports.md).
    group_by: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    params(PeriodParams),
    responses((status = 200, description = "The funders' report over the period (staff; docs/reports.md)", body = serde_json::Value)))]
async fn report_handler(
    State(state): State<AppState>,
    user: User,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Report>> {
    Ok(Json(compute(&state, &Actor::User(user), &q).await?))
}

/// The export query: a report's query and a format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` or `xlsx`.
    pub format: export::Format,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub month: Option<String>,
    #[serde(default)]
    pub year: Option<i64>,
    #[serde(default)]
    pub group_by: Option<GroupBy>,
}

impl ExportQuery {
    /// The report part.
    pub fn report_query(&self) -> ReportQuery {
        ReportQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            month: self.month.clone(),
            year: self.year,
            group_by: self.group_by,
        }
    }
}

/// An export as an HTTP answer (attachment, no caching).
pub fn export_response(file: export::File) -> Response {
    let mut resp = (StatusCode::OK, file.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[utoipa::path(get, path = "/api/v1/reports/export", tag = "reports",
    params(
        ("format" = String, Query, description = "csv or xlsx"),
        PeriodParams
    ),
    responses((status = 200, description = "The report as a file (audited)", content_type = "application/octet-stream")))]
async fn export_handler(
    State(state): State<AppState>,
    user: User,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response> {
    let file = export::export(&state, &Actor::User(user), &q).await?;
    Ok(export_response(file))
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(report_handler, export_handler))]
struct Doc;

/// The OpenAPI paths of `/api/v1/reports…`.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = Doc::openapi();
    doc.merge(network::Doc::openapi());
    doc
}

/// `GET /api/v1/reports`, `GET /api/v1/reports/export`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", get(report_handler))
        .route("/api/v1/reports/export", get(export_handler))
        .merge(network::routes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn q(s: &str) -> ReportQuery {
        crate::http::params::parse_query(s).unwrap()
    }

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    #[test]
    fn periods() {
        let p = q("month=2026-02").period(today()).unwrap();
        assert_eq!(
            (p.from.as_str(), p.to.as_str()),
            ("2026-02-01", "2026-02-28")
        );
        let p = q("year=2025").period(today()).unwrap();
        assert_eq!(
            (p.from.as_str(), p.to.as_str()),
            ("2025-01-01", "2025-12-31")
        );
        let p = q("").period(today()).unwrap();
        assert_eq!(
            (p.from.as_str(), p.to.as_str()),
            ("2026-01-01", "2026-12-31")
        );
        let p = q("from=2026-03-01&to=2026-03-31").period(today()).unwrap();
        assert_eq!(p.ms_range().1 - p.ms_range().0, 31 * 86_400_000);
        for (query, field) in [
            ("from=2026-03-01", "to"),
            ("from=2026-03-01&to=2026-02-01", "to"),
            ("from=2026-13-01&to=2026-12-01", "from"),
            ("month=2026-3", "month"),
            ("year=3000", "year"),
            ("month=2026-03&year=2026", "month"),
            ("from=2000-01-01&to=2026-01-01", "to"),
        ] {
            match q(query).period(today()) {
                Err(Error::Validation(errs)) => assert_eq!(errs[0].field, field, "{query}"),
                other => panic!("{query}: {other:?}"),
            }
        }
        assert!(crate::http::params::parse_query::<ReportQuery>("group_by=shoe_size").is_err());
    }

    #[test]
    fn columns_and_cells_line_up() {
        let r = Row::new("k".into(), "l".into());
        assert_eq!(row_columns().len(), r.cells().len());
    }
}
