//! Export of an offer as a schema.org `JobPosting` (JSON-LD), with the
//! properties Google for Jobs requires (`title`, `description`,
//! `datePosted`, `hiringOrganization`, `jobLocation`, and `validThrough`
//! when the offer has an end) and the recommended ones we know
//! (`employmentType`, `baseSalary`, `identifier`, …). An offer with several
//! workplaces has an array of `Place`s as `jobLocation`.

use serde_json::{json, Value};
use vivier_protocol::{ContractType, SalaryPeriod};

use super::{OfferStatus, StoredOffer};
use crate::referentials::Referentials;

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// schema.org `employmentType` values for a contract: the kind
/// (`TEMPORARY` for CDD, interim and seasonal work, `INTERN` for
/// alternance) and the time (`FULL_TIME` from 35 h a week or when unknown,
/// else `PART_TIME`).
pub fn employment_types(contract: ContractType, weekly_hours: Option<i64>) -> Vec<&'static str> {
    let time = match weekly_hours {
        Some(h) if h < 35 => "PART_TIME",
        _ => "FULL_TIME",
    };
    match contract {
        ContractType::Cdi => vec![time],
        ContractType::Cdd | ContractType::Mis | ContractType::Sai => vec![time, "TEMPORARY"],
        ContractType::Alternance => vec![time, "INTERN"],
    }
}

fn euros(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

/// The JSON-LD document of an offer.
pub fn job_posting(refs: &Referentials, offer: &StoredOffer) -> Value {
    let p = &offer.payload;
    let places: Vec<Value> = p
        .workplaces
        .iter()
        .map(|w| {
            let commune = refs.commune(&w.commune_insee);
            let mut address = json!({
                "@type": "PostalAddress",
                "addressLocality": commune.map(|c| c.name.clone()).or_else(|| w.label.clone()).unwrap_or_default(),
                "addressCountry": "FR",
            });
            if let Some(c) = commune {
                if let Some(pc) = c.postcodes.first() {
                    address["postalCode"] = json!(pc);
                }
                address["addressRegion"] = json!(c.departement);
            }
            let mut place = json!({"@type": "Place", "address": address});
            if let Some(label) = &w.label {
                place["name"] = json!(label);
            }
            if let (Some(lat), Some(lon)) = (w.lat_micro, w.lon_micro) {
                place["geo"] = json!({
                    "@type": "GeoCoordinates",
                    "latitude": crate::geo::from_micro(lat),
                    "longitude": crate::geo::from_micro(lon),
                });
            }
            place
        })
        .collect();
    let mut org = json!({"@type": "Organization", "name": p.employer.name});
    if let Some(siret) = &p.employer.siret {
        org["identifier"] =
            json!({"@type": "PropertyValue", "propertyID": "SIRET", "value": siret});
    }
    let mut doc = json!({
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "title": p.title,
        "description": p.description,
        "datePosted": iso(p.published_at),
        "dateModified": iso(p.updated_at),
        "hiringOrganization": org,
        "jobLocation": if places.len() == 1 { places[0].clone() } else { Value::Array(places) },
        "employmentType": employment_types(p.contract_type, p.weekly_hours),
        "identifier": {
            "@type": "PropertyValue",
            "name": p.origin_node.to_string(),
            "value": p.offer_id,
        },
        "occupationalCategory": match refs.rome(&p.rome_code) {
            Some(r) => format!("{} {}", r.code, r.label),
            None => p.rome_code.clone(),
        },
        "totalJobOpenings": p.workplaces.iter().map(|w| w.positions).sum::<i64>(),
        "directApply": false,
    });
    if let Some(s) = &p.salary {
        let unit = match s.period {
            SalaryPeriod::Hour => "HOUR",
            SalaryPeriod::Month => "MONTH",
            SalaryPeriod::Year => "YEAR",
        };
        let mut value = json!({"@type": "QuantitativeValue", "unitText": unit});
        match (s.min_cents, s.max_cents) {
            (Some(min), Some(max)) if min == max => value["value"] = euros(min),
            (min, max) => {
                if let Some(min) = min {
                    value["minValue"] = euros(min);
                }
                if let Some(max) = max {
                    value["maxValue"] = euros(max);
                }
            }
        }
        doc["baseSalary"] = json!({"@type": "MonetaryAmount", "currency": "EUR", "value": value});
    }
    if let Some(h) = p.weekly_hours {
        doc["workHours"] = json!(format!("{h} h par semaine"));
    }
    if let Some(m) = p.experience_months {
        doc["experienceRequirements"] = json!({
            "@type": "OccupationalExperienceRequirements",
            "monthsOfExperience": m,
        });
    } else if let Some(l) = &p.experience_label {
        doc["experienceRequirements"] = json!(l);
    }
    if let Some(l) = &p.driving_licence {
        doc["qualifications"] = json!(format!("Permis {l}"));
    }
    if offer.status == OfferStatus::Closed {
        // A closed offer has expired: search engines drop it.
        if let Some(at) = offer.closed_at {
            doc["validThrough"] = json!(iso(at));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employment_type_mapping() {
        assert_eq!(
            employment_types(ContractType::Cdi, Some(35)),
            vec!["FULL_TIME"]
        );
        assert_eq!(
            employment_types(ContractType::Cdi, Some(24)),
            vec!["PART_TIME"]
        );
        assert_eq!(
            employment_types(ContractType::Mis, None),
            vec!["FULL_TIME", "TEMPORARY"]
        );
        assert_eq!(
            employment_types(ContractType::Alternance, Some(35)),
            vec!["FULL_TIME", "INTERN"]
        );
        assert_eq!(euros(185_000), json!(1850));
        assert_eq!(euros(1_188), json!(11.88));
    }
}
