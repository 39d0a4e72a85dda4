//! The one validation of an offer's content, used for local offers (after
//! the input is normalised into a payload, see `offers::validate_input`) and
//! for offers received from other nodes (`offer.published`,
//! `offer.updated`), plus the checks of what only a sender sets (id, times,
//! coordinates) and of `offer.closed`.
//!
//! The bounds keep every accepted offer inside one federation message: with
//! each field at its maximum (4-byte characters everywhere, every workplace
//! at its longest) the canonical payload stays under
//! [`vivier_protocol::MAX_PAYLOAD_BYTES`] (checked by
//! `largest_offer_fits_in_a_message`).

use vivier_protocol::{ContractType, OfferClosed, OfferPayload};

use super::LICENCE_CATEGORIES;
use crate::error::FieldError;
use crate::referentials::Referentials;
use crate::validation as v;

/// Earliest and latest `start_date` accepted (days since 1970: 2000-01-01
/// and 2100-12-31).
const START_DATE_MIN_DAYS: i64 = 10_957;
const START_DATE_MAX_DAYS: i64 = 47_846;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// Most workplaces of one offer.
pub const MAX_WORKPLACES: usize = 200;
/// Longest workplace label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest employer name, in characters.
pub const MAX_EMPLOYER_CHARS: usize = 200;
/// Longest experience label, in characters.
pub const MAX_EXPERIENCE_LABEL_CHARS: usize = 500;
/// Longest closing reason, in characters.
pub const MAX_CLOSE_REASON_CHARS: usize = 500;
/// Highest salary bound, in cents (10 million euros).
pub const MAX_SALARY_CENTS: i64 = 1_000_000_000;
/// Most positions at one workplace.
pub const MAX_POSITIONS: i64 = 10_000;

/// A ROME code as stored: upper case and known to the referential.
pub(crate) fn known_rome(refs: &Referentials, code: &str) -> bool {
    code.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && refs.rome_exists(code)
}

/// Certification codes as stored: known to the referential
/// ([`crate::referentials::Certifications`]), upper case, no duplicates,
/// at most [`crate::referentials::certifications::MAX_CERTIFICATIONS`].
pub(crate) fn check_certifications(errs: &mut Vec<FieldError>, field: &str, list: &[String]) {
    use crate::referentials::certifications::MAX_CERTIFICATIONS;
    let refs = crate::referentials::Certifications::global();
    if list.len() > MAX_CERTIFICATIONS {
        errs.push(FieldError::new(
            field,
            format!("at most {MAX_CERTIFICATIONS} certifications"),
        ));
        return;
    }
    for (i, code) in list.iter().enumerate() {
        if refs.get(code).map(|c| c.code.as_str()) != Some(code.as_str()) {
            let shown: String = code.chars().take(40).collect();
            errs.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("unknown certification {shown:?} (see GET /api/v1/certifications)"),
            ));
        } else if list[..i].contains(code) {
            errs.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("{code} is listed twice"),
            ));
        }
    }
}

/// The content of an offer (everything its author writes), local or
/// received. Field names are the payload's (and the API input's).
pub fn check_content(refs: &Referentials, p: &OfferPayload) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::text(&mut errs, "title", &p.title, true, MAX_TITLE_CHARS);
    v::text(
        &mut errs,
        "description",
        &p.description,
        true,
        MAX_DESCRIPTION_CHARS,
    );
    if p.rome_code.trim().is_empty() {
        errs.push(FieldError::new("rome_code", "must not be empty"));
    } else if !known_rome(refs, &p.rome_code) {
        let shown: String = p.rome_code.chars().take(20).collect();
        errs.push(FieldError::new(
            "rome_code",
            format!("unknown ROME code {shown:?} (see GET /api/v1/rome?q=)"),
        ));
    }
    match (p.contract_type, p.duration_months) {
        (ContractType::Cdd | ContractType::Mis, None) => errs.push(FieldError::new(
            "duration_months",
            format!("required for a {} contract", p.contract_type.as_str()),
        )),
        (_, d) => v::int_in(&mut errs, "duration_months", d, 1..=120),
    }
    v::int_in(&mut errs, "weekly_hours", p.weekly_hours, 1..=48);
    if let Some(s) = &p.salary {
        if s.min_cents.is_none() && s.max_cents.is_none() {
            errs.push(FieldError::new(
                "salary",
                "give min_cents, max_cents or both",
            ));
        }
        for (name, value) in [
            ("salary.min_cents", s.min_cents),
            ("salary.max_cents", s.max_cents),
        ] {
            match value {
                Some(x) if x < 0 => errs.push(FieldError::new(name, "must not be negative")),
                x => v::int_in(&mut errs, name, x, 0..=MAX_SALARY_CENTS),
            }
        }
        if let (Some(min), Some(max)) = (s.min_cents, s.max_cents) {
            if min > max {
                errs.push(FieldError::new(
                    "salary.min_cents",
                    "must not exceed salary.max_cents",
                ));
            }
        }
    }
    if let Some(l) = &p.driving_licence {
        if !LICENCE_CATEGORIES.contains(&l.as_str()) {
            let shown: String = l.chars().take(10).collect();
            errs.push(FieldError::new(
                "driving_licence",
                format!(
                    "unknown licence category {shown:?} (one of {})",
                    LICENCE_CATEGORIES.join(", ")
                ),
            ));
        }
    }
    v::int_in(&mut errs, "experience_months", p.experience_months, 0..=600);
    v::date(&mut errs, "start_date", p.start_date.as_deref());
    // A start date a person could mean (0001-01-01 and 9999-12-31 are
    // typing accidents that would make every candidate late or early).
    if let Some(day) = p.start_date.as_deref().and_then(crate::util::date_to_days) {
        if !(START_DATE_MIN_DAYS..=START_DATE_MAX_DAYS).contains(&day) {
            errs.push(FieldError::new(
                "start_date",
                "must be between 2000-01-01 and 2100-12-31",
            ));
        }
    }
    for (field, list) in [
        ("required_certifications", &p.required_certifications),
        ("desired_certifications", &p.desired_certifications),
    ] {
        check_certifications(&mut errs, field, list);
    }
    v::opt_text(
        &mut errs,
        "experience_label",
        p.experience_label.as_deref(),
        MAX_EXPERIENCE_LABEL_CHARS,
    );
    v::text(
        &mut errs,
        "employer.name",
        &p.employer.name,
        true,
        MAX_EMPLOYER_CHARS,
    );
    if let Some(siret) = &p.employer.siret {
        if !crate::auth::valid_siret(siret) {
            errs.push(FieldError::new("employer.siret", "must be 14 digits"));
        }
    }
    if p.workplaces.is_empty() {
        errs.push(FieldError::new(
            "workplaces",
            "at least one workplace is required",
        ));
    } else if p.workplaces.len() > MAX_WORKPLACES {
        errs.push(FieldError::new(
            "workplaces",
            format!(
                "at most {MAX_WORKPLACES} workplaces (got {})",
                p.workplaces.len()
            ),
        ));
        return errs;
    }
    for (i, w) in p.workplaces.iter().enumerate() {
        let at = format!("workplaces[{i}]");
        check_place(
            &mut errs,
            refs,
            &at,
            &w.commune_insee,
            w.label.as_deref(),
            (w.lat_micro, w.lon_micro),
        );
        v::int_in(
            &mut errs,
            &format!("{at}.positions"),
            Some(w.positions),
            1..=MAX_POSITIONS,
        );
    }
    // Never more filled than offered (hires counted by the origin).
    let positions: i64 = p.workplaces.iter().map(|w| w.positions.max(0)).sum();
    v::int_in(
        &mut errs,
        "positions_filled",
        Some(p.positions_filled),
        0..=positions.max(0),
    );
    errs
}

/// One place (an offer's workplace, a training's place): a known commune,
/// a bounded label, coordinates within range; fields named `{at}.…`.
pub(crate) fn check_place(
    errs: &mut Vec<FieldError>,
    refs: &Referentials,
    at: &str,
    commune_insee: &str,
    label: Option<&str>,
    (lat_micro, lon_micro): (Option<i64>, Option<i64>),
) {
    if refs
        .commune(commune_insee)
        .is_none_or(|c| c.insee != commune_insee)
    {
        let shown: String = commune_insee.chars().take(10).collect();
        errs.push(FieldError::new(
            format!("{at}.commune_insee"),
            format!("unknown commune INSEE code {shown:?}"),
        ));
    }
    v::opt_text(errs, &format!("{at}.label"), label, MAX_LABEL_CHARS);
    v::int_in(
        errs,
        &format!("{at}.lat_micro"),
        lat_micro,
        -90_000_000..=90_000_000,
    );
    v::int_in(
        errs,
        &format!("{at}.lon_micro"),
        lon_micro,
        -180_000_000..=180_000_000,
    );
}

/// What the origin node of a received item sets: its id (`id_field`), the
/// publication and update times (within the clock skew, in order).
pub(crate) fn check_origin_fields(
    errs: &mut Vec<FieldError>,
    (id_field, id): (&str, &str),
    published_at: i64,
    updated_at: i64,
    now_ms: i64,
    skew_ms: i64,
) {
    v::identifier(errs, id_field, id);
    v::timestamp(errs, "published_at", published_at, now_ms, skew_ms);
    v::timestamp(errs, "updated_at", updated_at, now_ms, skew_ms);
    if published_at > updated_at {
        errs.push(FieldError::new(
            "updated_at",
            "must not be before published_at",
        ));
    }
}

/// A received offer: its content, and what its origin node sets (the id,
/// the publication and update times).
pub fn check_received(
    refs: &Referentials,
    p: &OfferPayload,
    now_ms: i64,
    skew_ms: i64,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    check_origin_fields(
        &mut errs,
        ("offer_id", &p.offer_id),
        p.published_at,
        p.updated_at,
        now_ms,
        skew_ms,
    );
    errs.extend(check_content(refs, p));
    errs
}

/// A received `offer.closed`.
pub fn check_closed(c: &OfferClosed, now_ms: i64, skew_ms: i64) -> Vec<FieldError> {
    let mut errs = Vec::new();
    v::identifier(&mut errs, "offer_id", &c.offer_id);
    v::opt_text(
        &mut errs,
        "reason",
        c.reason.as_deref(),
        MAX_CLOSE_REASON_CHARS,
    );
    v::timestamp(&mut errs, "closed_at", c.closed_at, now_ms, skew_ms);
    errs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use vivier_protocol::{Employer, NodeId, Salary, SalaryPeriod, Workplace};

    const NOW: i64 = 1_750_000_000_000;

    fn refs() -> &'static Referentials {
        Referentials::global()
    }

    fn offer() -> OfferPayload {
        OfferPayload {
            offer_id: "ml-tours-0001".into(),
            origin_node: NodeId::parse("ml-tours").unwrap(),
            title: "Agent d'entretien".into(),
            description: "Entretien des locaux.\r\nHoraires :\t6h–10h.".into(),
            rome_code: "K2204".into(),
            contract_type: ContractType::Cdd,
            duration_months: Some(6),
            weekly_hours: Some(24),
            salary: Some(Salary {
                min_cents: Some(1_180),
                max_cents: Some(1_400),
                period: SalaryPeriod::Hour,
            }),
            driving_licence: Some("B".into()),
            experience_months: Some(0),
            experience_label: None,
            start_date: None,
            vehicle_required: false,
            required_certifications: Vec::new(),
            desired_certifications: Vec::new(),
            employer: Employer {
                name: "Propreté Services".into(),
                siret: None,
            },
            workplaces: vec![Workplace {
                commune_insee: "37261".into(),
                label: Some("Tours (37)".into()),
                lat_micro: Some(47_390_000),
                lon_micro: Some(689_000),
                positions: 2,
            }],
            positions_filled: 0,
            published_at: NOW - 1000,
            updated_at: NOW,
        }
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_sound_offer_passes() {
        assert!(check_received(refs(), &offer(), NOW, 0).is_empty());
    }

    #[test]
    fn the_hostile_member_s_offer_is_refused_field_by_field() {
        let mut o = offer();
        o.workplaces[0].commune_insee = "99999".into();
        o.workplaces[0].positions = 9_007_199_254_740_991;
        o.workplaces.push(Workplace {
            positions: -5,
            ..offer().workplaces[0].clone()
        });
        o.salary = Some(Salary {
            min_cents: Some(-100),
            max_cents: None,
            period: SalaryPeriod::Month,
        });
        o.duration_months = Some(-3);
        o.rome_code = "K2204<svg>".into();
        o.updated_at = 9_007_199_254_740_991;
        o.title = "Nul\u{0}".into();
        let errs = check_received(refs(), &o, NOW, 300_000);
        assert_eq!(
            fields(&errs),
            [
                "updated_at",
                "title",
                "rome_code",
                "duration_months",
                "salary.min_cents",
                "workplaces[0].commune_insee",
                "workplaces[0].positions",
                "workplaces[1].positions",
            ],
            "{errs:?}"
        );
    }

    #[test]
    fn received_codes_must_be_exact_and_coordinates_plausible() {
        let mut o = offer();
        o.rome_code = "k2204".into();
        o.workplaces[0].commune_insee = " 37261".into();
        o.workplaces[0].lat_micro = Some(91_000_000);
        o.driving_licence = Some("b".into());
        o.offer_id = String::new();
        o.published_at = NOW + 1;
        let errs = check_received(refs(), &o, NOW, 0);
        assert_eq!(
            fields(&errs),
            [
                "offer_id",
                "published_at",
                "updated_at",
                "rome_code",
                "driving_licence",
                "workplaces[0].commune_insee",
                "workplaces[0].lat_micro",
            ],
            "{errs:?}"
        );
    }

    #[test]
    fn too_many_workplaces_is_one_error() {
        let mut o = offer();
        o.workplaces = vec![o.workplaces[0].clone(); MAX_WORKPLACES + 1];
        let errs = check_content(refs(), &o);
        assert_eq!(fields(&errs), ["workplaces"]);
        assert!(errs[0].message.starts_with("at most 200 workplaces"));
    }

    #[test]
    fn largest_offer_fits_in_a_message() {
        let four = |n: usize| "😀".repeat(n);
        let mut o = offer();
        o.offer_id = four(crate::validation::MAX_ID_CHARS);
        o.origin_node = NodeId::parse(&"a".repeat(64)).unwrap();
        o.title = four(MAX_TITLE_CHARS);
        o.description = four(MAX_DESCRIPTION_CHARS);
        o.experience_label = Some(four(MAX_EXPERIENCE_LABEL_CHARS));
        o.employer = Employer {
            name: four(MAX_EMPLOYER_CHARS),
            siret: Some("12345678901234".into()),
        };
        o.salary = Some(Salary {
            min_cents: Some(MAX_SALARY_CENTS),
            max_cents: Some(MAX_SALARY_CENTS),
            period: SalaryPeriod::Month,
        });
        o.workplaces = vec![
            Workplace {
                commune_insee: "37261".into(),
                label: Some(four(MAX_LABEL_CHARS)),
                lat_micro: Some(-90_000_000),
                lon_micro: Some(-180_000_000),
                positions: MAX_POSITIONS,
            };
            MAX_WORKPLACES
        ];
        o.published_at = 9_007_199_254_740_991;
        o.updated_at = 9_007_199_254_740_991;
        o.start_date = Some("2027-04-01".into());
        o.vehicle_required = true;
        // The longest codes of the referential, as many as allowed.
        let mut codes: Vec<String> = crate::referentials::Certifications::global()
            .all()
            .iter()
            .map(|c| c.code.clone())
            .collect();
        codes.sort_by_key(|c| std::cmp::Reverse(c.len()));
        codes.truncate(crate::referentials::certifications::MAX_CERTIFICATIONS);
        o.required_certifications = codes.clone();
        o.desired_certifications = codes;
        assert!(check_content(refs(), &o).is_empty());
        let size = vivier_protocol::canonical_bytes(&o).unwrap().len();
        assert!(size <= vivier_protocol::MAX_PAYLOAD_BYTES, "{size}");
    }

    #[test]
    fn start_dates_are_plausible() {
        let mut o = offer();
        for (date, ok) in [
            ("2000-01-01", true),
            ("2100-12-31", true),
            ("1999-12-31", false),
            ("0001-01-01", false),
            ("2101-01-01", false),
            ("9999-12-31", false),
        ] {
            o.start_date = Some(date.into());
            let errs = check_content(refs(), &o);
            assert_eq!(fields(&errs).is_empty(), ok, "{date}: {errs:?}");
        }
        assert_eq!(crate::util::days_to_date(START_DATE_MIN_DAYS), "2000-01-01");
        assert_eq!(crate::util::days_to_date(START_DATE_MAX_DAYS), "2100-12-31");
    }

    #[test]
    fn requirement_fields_are_checked() {
        let mut o = offer();
        o.start_date = Some("2027-02-30".into());
        o.required_certifications = vec!["DEAS".into(), "deas".into(), "DEAS".into()];
        o.desired_certifications = vec!["CACES R489".into()];
        assert_eq!(
            fields(&check_content(refs(), &o)),
            [
                "start_date",
                "required_certifications[1]",
                "required_certifications[2]",
                "desired_certifications[0]"
            ]
        );
        o.required_certifications = vec!["SST".into(); 31];
        assert_eq!(
            fields(&check_content(refs(), &o)),
            [
                "start_date",
                "required_certifications",
                "desired_certifications[0]"
            ]
        );
    }

    #[test]
    fn closing_checks() {
        let c = OfferClosed {
            offer_id: "x".into(),
            reason: Some("é".repeat(501)),
            closed_at: NOW + 10,
        };
        assert_eq!(fields(&check_closed(&c, NOW, 0)), ["reason", "closed_at"]);
    }
}
