//! Territories above the commune, for the reports: each commune's EPCI
//! (intercommunalité à fiscalité propre; the municipal arrondissements of
//! Paris, Lyon and Marseille under their city's) and the départements'
//! names. Embedded like the rest (`node/data/epci.csv.gz`,
//! `node/data/departements.csv.gz`), loaded on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{field, read_csv, ReferentialError};

const EPCI_CSV_GZ: &[u8] = include_bytes!("../../data/epci.csv.gz");
const DEPARTEMENTS_CSV_GZ: &[u8] = include_bytes!("../../data/departements.csv.gz");

/// EPCIs and départements.
pub struct Territories {
    /// INSEE code → index in `epcis`.
    epci_of: HashMap<String, usize>,
    /// (SIREN code, name).
    epcis: Vec<(String, String)>,
    departements: HashMap<String, String>,
}

static GLOBAL: OnceLock<Territories> = OnceLock::new();

impl Territories {
    /// Parse the embedded data.
    pub fn load() -> Result<Territories, ReferentialError> {
        let mut epcis: Vec<(String, String)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut epci_of = HashMap::new();
        for (line, r) in read_csv("epci.csv", EPCI_CSV_GZ, &["insee", "epci", "epci_name"])? {
            let (insee, code, name) = (field(&r, 0), field(&r, 1), field(&r, 2));
            if insee.is_empty() || code.is_empty() || name.is_empty() {
                return Err(ReferentialError::Invalid {
                    file: "epci.csv",
                    line,
                    message: "empty field".into(),
                });
            }
            let i = *index.entry(code.to_string()).or_insert_with(|| {
                epcis.push((code.to_string(), name.to_string()));
                epcis.len() - 1
            });
            epci_of.insert(insee.to_string(), i);
        }
        let departements = read_csv("departements.csv", DEPARTEMENTS_CSV_GZ, &["code", "name"])?
            .iter()
            .map(|(_, r)| (field(r, 0).to_string(), field(r, 1).to_string()))
            .collect();
        Ok(Territories {
            epci_of,
            epcis,
            departements,
        })
    }

    /// The process-wide data, loaded on first call.
    ///
    /// # Panics
    /// Only if the data embedded at build time is corrupt (caught by this
    /// module's tests).
    #[allow(clippy::expect_used)]
    pub fn global() -> &'static Territories {
        GLOBAL.get_or_init(|| Territories::load().expect("embedded territories are valid"))
    }

    /// The EPCI of a commune: (SIREN code, name).
    pub fn epci(&self, insee: &str) -> Option<(&str, &str)> {
        self.epci_of
            .get(insee)
            .map(|i| (self.epcis[*i].0.as_str(), self.epcis[*i].1.as_str()))
    }

    /// An EPCI's name by its SIREN code.
    pub fn epci_name(&self, code: &str) -> Option<&str> {
        self.epcis
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, n)| n.as_str())
    }

    /// A département's name (`41` → Loir-et-Cher).
    pub fn departement_name(&self, code: &str) -> Option<&str> {
        self.departements.get(code).map(String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn epcis_and_departements() {
        let t = Territories::load().unwrap();
        assert_eq!(t.epcis.len(), 1255);
        let (code, name) = t.epci("41018").unwrap();
        assert_eq!(t.epci_name(code), Some(name));
        assert!(name.contains("Agglopolys"), "{name}");
        // A Paris arrondissement is in its city's EPCI.
        assert_eq!(t.epci("75115"), t.epci("75056"));
        assert!(t.epci("75056").unwrap().1.contains("Grand Paris"));
        assert_eq!(t.departement_name("41"), Some("Loir-et-Cher"));
        assert_eq!(t.departement_name("2A"), Some("Corse-du-Sud"));
        assert_eq!(t.departement_name("971"), Some("Guadeloupe"));
        // Every commune of the referential but a few special cases has one.
        let refs = crate::referentials::Referentials::global();
        let without = refs
            .communes()
            .iter()
            .filter(|c| t.epci(&c.insee).is_none())
            .count();
        assert!(without < 200, "{without} communes without an EPCI");
    }
}
