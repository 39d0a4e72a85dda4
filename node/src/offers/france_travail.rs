//! Import of offers in France Travail's JSON format (API "Offres d'emploi
//! v2": a JSON array of offers, or the API's search answer
//! `{"resultats": [...]}`).
//!
//! Fields used: `id` (kept as `external_id` = `ft:<id>`, so importing the
//! same file again updates the offers instead of duplicating them),
//! `intitule`, `description`, `romeCode`, `lieuTravail.commune` (INSEE code;
//! else `codePostal`, disambiguated by the name in `libelle`), `typeContrat`
//! (`CDI`, `CDD`, `MIS`, `SAI`; `alternance: true` gives `ALT`; other codes
//! are refused) with the duration in `typeContratLibelle` ("… - 6 Mois",
//! "… - 15 Jour(s)"), `dureeTravailLibelle` ("35H Horaires normaux"),
//! `salaire.libelle` ("Mensuel de 1850.00 Euros à 2000.00 Euros sur 12
//! mois"), `entreprise.nom` / `entreprise.siret`, `nombrePostes`, `permis`
//! (required ones: `exigence` `E` or absent), `experienceExige`,
//! `experienceLibelle`, `dateCreation`, `dateActualisation`. Coordinates
//! come from our communes referential, not from the file.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vivier_protocol::{ContractType, Employer, Salary, SalaryPeriod};

use super::model::{OfferInput, WorkplaceInput};
use super::service::{import_done, import_one as import_item, Imported};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::referentials::{fold, Referentials};
use crate::server::AppState;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfferImportReport {
    /// Offers created or updated.
    pub imported: u64,
    /// Offers refused, with the reason.
    pub rejected: Vec<RejectedOffer>,
}

/// One refused offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedOffer {
    /// Position of the offer in the file (1-based).
    pub line: u64,
    /// Why (field and message).
    pub reason: String,
}

/// A France Travail offer turned into our input.
#[derive(Debug, Clone)]
pub struct FtOffer {
    /// `ft:<id>`.
    pub external_id: String,
    pub input: OfferInput,
    /// `dateCreation` (unix ms), if given.
    pub published_at: Option<i64>,
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_date(v: Option<&str>) -> Option<i64> {
    let v = v?;
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|d| d.timestamp_millis())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|d| d.and_utc().timestamp_millis())
        })
}

/// First number in a text ("35H30" → 35, "1850.00" → 1850.0).
fn first_number(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(rest.len());
    rest[..end]
        .replace(',', ".")
        .trim_end_matches('.')
        .parse()
        .ok()
}

/// "… - 6 Mois" → 6, "… - 15 Jour(s)" → 1, "… - 2 Semaine(s)" → 1.
fn duration_months(libelle: &str) -> Option<i64> {
    let (_, tail) = libelle.rsplit_once(" - ")?;
    let n = first_number(tail)?;
    let unit = fold(tail);
    let months = if unit.contains("mois") {
        n
    } else if unit.contains("jour") {
        n / 30.0
    } else if unit.contains("semaine") {
        n * 7.0 / 30.0
    } else if unit.contains("an") {
        n * 12.0
    } else {
        return None;
    };
    Some((months.ceil() as i64).max(1))
}

/// "Mensuel de 1850.00 Euros à 2000.00 Euros sur 12 mois".
fn parse_salary(libelle: &str) -> Option<Salary> {
    let f = fold(libelle);
    let period = if f.starts_with("mensuel") {
        SalaryPeriod::Month
    } else if f.starts_with("annuel") {
        SalaryPeriod::Year
    } else if f.starts_with("horaire") {
        SalaryPeriod::Hour
    } else {
        return None;
    };
    let mut amounts = Vec::new();
    for part in f.split(" euros") {
        if amounts.len() == 2 {
            break;
        }
        let words: Vec<&str> = part.split_whitespace().collect();
        if let Some(last) = words.last() {
            if let Some(n) = first_number(last) {
                amounts.push((n * 100.0).round() as i64);
            }
        }
    }
    match amounts.as_slice() {
        [a] => Some(Salary {
            min_cents: Some(*a),
            max_cents: Some(*a),
            period,
        }),
        [a, b] => Some(Salary {
            min_cents: Some(*a.min(b)),
            max_cents: Some(*a.max(b)),
            period,
        }),
        _ => None,
    }
}

/// "2 ans" → 24, "6 mois" → 6, "Débutant accepté" → 0.
fn experience_months(libelle: &str) -> Option<i64> {
    let f = fold(libelle);
    if f.starts_with("debutant") {
        return Some(0);
    }
    let n = first_number(&f)?;
    let after = f
        .split_once(|c: char| c.is_ascii_digit())
        .map(|(_, r)| r)
        .unwrap_or("");
    let after =
        after.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ',' || c == ' ');
    if after.starts_with("mois") {
        Some(n as i64)
    } else if after.starts_with("an") {
        Some((n * 12.0) as i64)
    } else {
        None
    }
}

fn resolve_commune(refs: &Referentials, lieu: &Value) -> std::result::Result<String, String> {
    if let Some(insee) = s(lieu, "commune") {
        return refs
            .commune(insee)
            .map(|c| c.insee.clone())
            .ok_or_else(|| format!("lieuTravail.commune: unknown commune INSEE code {insee:?}"));
    }
    if let Some(pc) = s(lieu, "codePostal") {
        let candidates = refs.communes_by_postcode(pc);
        let name = s(lieu, "libelle")
            .map(|l| l.split_once(" - ").map(|(_, n)| n).unwrap_or(l))
            .map(fold);
        match (candidates.as_slice(), name) {
            ([only], _) => return Ok(only.insee.clone()),
            ([], _) => return Err(format!("lieuTravail.codePostal: unknown postcode {pc:?}")),
            (many, Some(name)) => {
                if let Some(c) = many.iter().find(|c| fold(&c.name) == name) {
                    return Ok(c.insee.clone());
                }
                // Several communes share the postcode: take the first one
                // (the main commune comes first for Paris/Lyon/Marseille).
                return Ok(many[0].insee.clone());
            }
            (many, None) => return Ok(many[0].insee.clone()),
        }
    }
    Err("lieuTravail: no commune nor codePostal".into())
}

/// Convert one France Travail offer. `default_employer` is used when the
/// offer has no `entreprise.nom` (France Travail hides some employers).
pub fn parse_france_travail(
    refs: &Referentials,
    v: &Value,
    default_employer: &str,
) -> std::result::Result<FtOffer, String> {
    let id = match v.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("id: missing".into()),
    };
    let title = s(v, "intitule").ok_or("intitule: missing")?.to_string();
    let description = s(v, "description").unwrap_or(&title).to_string();
    let rome_code = s(v, "romeCode").ok_or("romeCode: missing")?.to_string();
    let lieu = v.get("lieuTravail").ok_or("lieuTravail: missing")?;
    let commune_insee = resolve_commune(refs, lieu)?;
    let type_contrat = s(v, "typeContrat")
        .ok_or("typeContrat: missing")?
        .to_ascii_uppercase();
    let alternance = v
        .get("alternance")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let contract_type = if alternance {
        ContractType::Alternance
    } else {
        match type_contrat.as_str() {
            "CDI" => ContractType::Cdi,
            "CDD" => ContractType::Cdd,
            "MIS" => ContractType::Mis,
            "SAI" => ContractType::Sai,
            other => {
                return Err(format!(
                    "typeContrat: {other:?} is not supported (CDI, CDD, MIS, SAI or alternance)"
                ))
            }
        }
    };
    // A CDD or MIS without a readable duration is refused by validation.
    let duration = s(v, "typeContratLibelle").and_then(duration_months);
    let weekly_hours = s(v, "dureeTravailLibelle")
        .and_then(|l| {
            let f = fold(l);
            // "35H Horaires normaux", "24H/semaine"; not "Travail en journée".
            f.find('h')
                .filter(|&i| f[..i].trim().chars().all(|c| c.is_ascii_digit()) && i > 0)
                .and_then(|_| first_number(&f))
        })
        .map(|h| h.round() as i64)
        .filter(|h| (1..=48).contains(h));
    let salary = v
        .get("salaire")
        .and_then(|sa| s(sa, "libelle"))
        .and_then(parse_salary);
    let driving_licence = v.get("permis").and_then(Value::as_array).and_then(|list| {
        list.iter()
            .filter(|p| matches!(s(p, "exigence"), None | Some("E")))
            .filter_map(|p| s(p, "libelle"))
            .map(|l| {
                l.split([' ', '-'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_uppercase()
            })
            .find(|l| super::LICENCE_CATEGORIES.contains(&l.as_str()))
    });
    let experience_label = s(v, "experienceLibelle").map(str::to_string);
    let experience_months = experience_label.as_deref().and_then(experience_months);
    let entreprise = v.get("entreprise");
    let employer = Employer {
        name: entreprise
            .and_then(|e| s(e, "nom"))
            .unwrap_or(default_employer)
            .to_string(),
        siret: entreprise
            .and_then(|e| s(e, "siret"))
            .map(|s| s.replace(' ', ""))
            .filter(|s| crate::auth::valid_siret(s)),
    };
    let positions = v
        .get("nombrePostes")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let label = s(lieu, "libelle").map(str::to_string);
    Ok(FtOffer {
        external_id: format!("ft:{id}"),
        published_at: parse_date(s(v, "dateCreation")),
        input: OfferInput {
            title,
            description,
            rome_code,
            contract_type,
            duration_months: duration,
            weekly_hours,
            salary,
            driving_licence,
            experience_months,
            experience_label,
            start_date: None,
            vehicle_required: false,
            required_certifications: Vec::new(),
            desired_certifications: Vec::new(),
            employer: Some(employer),
            workplaces: vec![WorkplaceInput {
                commune_insee,
                label,
                positions,
            }],
        },
    })
}

/// Import a France Travail JSON file as local offers owned by the user
/// `owner_email` (an employer, counsellor or admin of this node). Each offer
/// is validated like an API offer; refused ones are reported, the others are
/// stored, broadcast and indexed. An offer imported before (same France
/// Travail id) is updated if it is still open.
pub async fn import_france_travail_file(
    state: &AppState,
    path: &Path,
    owner_email: &str,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<OfferImportReport> {
    let owner = crate::auth::user_by_email(&state.db, owner_email)
        .await?
        .ok_or_else(|| Error::field("owner", format!("no user with e-mail {owner_email}")))?;
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Error::BadRequest(format!("reading {}: {e}", path.display())))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("{}: not JSON: {e}", path.display())))?;
    let items: Vec<Value> = match doc {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("resultats") {
            Some(Value::Array(a)) => a,
            _ => vec![Value::Object(o)],
        },
        _ => return Err(Error::BadRequest("expected a JSON array of offers".into())),
    };
    if let Some(bar) = progress {
        bar.set_length(items.len() as u64);
    }
    let default_employer = owner
        .employer_name
        .clone()
        .unwrap_or_else(|| "Employeur non communiqué".to_string());
    let actor = Actor::User(owner);
    let mut report = OfferImportReport::default();
    for (i, item) in items.iter().enumerate() {
        let line = i as u64 + 1;
        if let Some(bar) = progress {
            bar.set_position(line);
        }
        match import_one(state, &actor, item, &default_employer).await {
            Ok(()) => report.imported += 1,
            Err(reason) => report.rejected.push(RejectedOffer { line, reason }),
        }
    }
    import_done(
        state,
        &actor,
        "france_travail",
        report.imported,
        report.rejected.len(),
    )
    .await?;
    Ok(report)
}

/// One item of the file: parsed, then created or updated by the offers'
/// service for the importing user; a refusal is described in one line.
async fn import_one(
    state: &AppState,
    actor: &Actor,
    item: &Value,
    default_employer: &str,
) -> std::result::Result<(), String> {
    let ft = parse_france_travail(state.refs, item, default_employer)?;
    import_item(
        state,
        actor,
        &Imported {
            input: &ft.input,
            external_id: &ft.external_id,
            published_at: ft.published_at,
            default_employer,
        },
    )
    .await
    .map_err(describe)
}

fn describe(e: Error) -> String {
    match e {
        Error::Validation(errs) => errs
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libelles() {
        assert_eq!(
            duration_months("Contrat à durée déterminée - 6 Mois"),
            Some(6)
        );
        assert_eq!(duration_months("Mission intérimaire - 15 Jour(s)"), Some(1));
        assert_eq!(duration_months("Contrat à durée indéterminée"), None);
        let s =
            parse_salary("Mensuel de 1850.00 Euros à 2000.00 Euros sur 12 mois").expect("salary");
        assert_eq!(
            (s.min_cents, s.max_cents, s.period),
            (Some(185_000), Some(200_000), SalaryPeriod::Month)
        );
        let s = parse_salary("Horaire de 11.88 Euros sur 12 mois").expect("salary");
        assert_eq!((s.min_cents, s.max_cents), (Some(1_188), Some(1_188)));
        assert!(parse_salary("Selon profil").is_none());
        assert_eq!(experience_months("2 ans"), Some(24));
        assert_eq!(experience_months("6 Mois - en logistique"), Some(6));
        assert_eq!(experience_months("Débutant accepté"), Some(0));
    }
}
