//! The referential of common French employment certifications
//! (`node/data/certifications.csv`, embedded): permis, CACES R489 / R482 /
//! R486 categories, FIMO / FCO, habilitations électriques, SST, SSIAP,
//! DEAS, DEAES, ADVF, HACCP.
//!
//! Codes are upper-case ASCII (`CACES_R489_3`, `FIMO_M`, `HAB_B1V`,
//! `PERMIS_CE`). The `implique` column lists what holding a code also
//! grants (`PERMIS_CE` ⇒ `PERMIS_C` ⇒ `PERMIS_C1` ⇒ `PERMIS_B`…,
//! `SSIAP3` ⇒ `SSIAP2` ⇒ `SSIAP1`, `FIMO_M` ⇒ `FCO_M`, `HAB_B1V` ⇒
//! `HAB_B1` ⇒ `HAB_B0`); the closure is computed once. CACES categories
//! imply nothing: each is a separate test.
//!
//! A candidate's driving licences (`driving_licences`, e.g. `CE`) count as
//! the matching `PERMIS_*` codes.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::Serialize;

const CSV: &str = include_str!("../../data/certifications.csv");

/// One certification.
#[derive(Debug, Clone, Serialize)]
pub struct Certification {
    /// `CACES_R489_3`.
    pub code: String,
    /// `permis`, `caces`, `transport`, `habilitation`, `securite`, `sante`,
    /// `hygiene`.
    pub family: String,
    /// French label, as shown in the UI.
    pub label: String,
    /// Codes directly implied (as written in the file).
    pub implies: Vec<String>,
}

/// The parsed referential with the closure of the implication rules.
#[derive(Debug)]
pub struct Certifications {
    list: Vec<Certification>,
    by_code: HashMap<String, usize>,
    /// For each code: every code it grants, itself included.
    grants: HashMap<String, BTreeSet<String>>,
}

static GLOBAL: OnceLock<Certifications> = OnceLock::new();

/// Most certifications on one record or offer.
pub const MAX_CERTIFICATIONS: usize = 30;

impl Certifications {
    /// The embedded referential (parsed once).
    pub fn global() -> &'static Certifications {
        GLOBAL.get_or_init(|| {
            // The file is part of the binary and checked by a unit test.
            Certifications::parse(CSV).unwrap_or_else(|e| panic!("certifications.csv: {e}"))
        })
    }

    fn parse(text: &str) -> Result<Certifications, String> {
        let mut list = Vec::new();
        let mut by_code = HashMap::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split(',').collect();
            if cols.len() != 4 {
                return Err(format!("line {}: expected 4 columns", n + 1));
            }
            let code = cols[0].trim().to_string();
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!("line {}: bad code {code:?}", n + 1));
            }
            let implies: Vec<String> = cols[3]
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if by_code.insert(code.clone(), list.len()).is_some() {
                return Err(format!("line {}: duplicate code {code}", n + 1));
            }
            list.push(Certification {
                code,
                family: cols[1].trim().to_string(),
                label: cols[2].trim().to_string(),
                implies,
            });
        }
        for c in &list {
            for i in &c.implies {
                if !by_code.contains_key(i) {
                    return Err(format!("{} implies unknown code {i}", c.code));
                }
            }
        }
        let mut grants = HashMap::new();
        for c in &list {
            let mut seen = BTreeSet::new();
            let mut todo = vec![c.code.clone()];
            while let Some(code) = todo.pop() {
                if seen.insert(code.clone()) {
                    if let Some(&i) = by_code.get(&code) {
                        todo.extend(list[i].implies.iter().cloned());
                    }
                }
            }
            grants.insert(c.code.clone(), seen);
        }
        Ok(Certifications {
            list,
            by_code,
            grants,
        })
    }

    /// Every certification, in file order.
    pub fn all(&self) -> &[Certification] {
        &self.list
    }

    /// One certification by code (case-insensitive).
    pub fn get(&self, code: &str) -> Option<&Certification> {
        self.by_code
            .get(&code.trim().to_ascii_uppercase())
            .map(|&i| &self.list[i])
    }

    /// Normalised code if known.
    pub fn normalise(&self, code: &str) -> Option<String> {
        self.get(code).map(|c| c.code.clone())
    }

    /// Everything held, implications included, from a record's
    /// certifications and driving licences (`CE` counts as `PERMIS_CE`).
    pub fn held(&self, certifications: &[String], licences: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let codes = certifications
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .chain(licences.iter().map(|l| licence_code(l)));
        for code in codes {
            match self.grants.get(&code) {
                Some(g) => out.extend(g.iter().cloned()),
                None => {
                    out.insert(code);
                }
            }
        }
        out
    }

    /// Whether holding `held` (a closure from [`Certifications::held`])
    /// satisfies `required`.
    pub fn satisfied(held: &BTreeSet<String>, required: &str) -> bool {
        held.contains(&required.trim().to_ascii_uppercase())
    }

    /// Whether what is held ([`Certifications::held`]: certifications and
    /// licences, implications included) meets a required driving licence:
    /// a licence that implies it, or its `PERMIS_*` code recorded as a
    /// certification.
    pub fn meets_licence(held: &BTreeSet<String>, licence: &str) -> bool {
        held.contains(&licence_code(licence))
    }

    /// Every code whose holding grants `code` (itself included when
    /// known), in file order: what a search for holders of `code` must
    /// look for among the codes recorded (`PERMIS_B` → `PERMIS_B`,
    /// `PERMIS_BE`, `PERMIS_C1`, …, `PERMIS_CE`, `PERMIS_D`…).
    pub fn granting(&self, code: &str) -> Vec<String> {
        let code = code.trim().to_ascii_uppercase();
        self.list
            .iter()
            .filter(|c| self.grants.get(&c.code).is_some_and(|g| g.contains(&code)))
            .map(|c| c.code.clone())
            .collect()
    }

    /// The French label of a code, or the code itself.
    pub fn label<'a>(&'a self, code: &'a str) -> &'a str {
        self.get(code).map(|c| c.label.as_str()).unwrap_or(code)
    }
}

/// The French driving licence categories (permis), as records and offers
/// write them; each has its `PERMIS_*` code in the referential, with the
/// implications between categories.
pub const LICENCES: &[&str] = &[
    "AM", "A1", "A2", "A", "B1", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE",
];

/// The code of driving licence `licence` in the referential (`ce` →
/// `PERMIS_CE`).
pub fn licence_code(licence: &str) -> String {
    format!("PERMIS_{}", licence.trim().to_ascii_uppercase())
}

/// Check and normalise a list of certification codes: one error per
/// unknown code (`field[i]`), duplicates removed, at most
/// [`MAX_CERTIFICATIONS`].
pub fn check_list(field: &str, codes: &[String]) -> (Vec<String>, Vec<crate::error::FieldError>) {
    let refs = Certifications::global();
    let mut out: Vec<String> = Vec::new();
    let mut errs = Vec::new();
    if codes.len() > MAX_CERTIFICATIONS {
        errs.push(crate::error::FieldError::new(
            field,
            format!("at most {MAX_CERTIFICATIONS} certifications"),
        ));
        return (out, errs);
    }
    for (i, c) in codes.iter().enumerate() {
        if c.trim().is_empty() {
            continue;
        }
        match refs.normalise(c) {
            Some(code) => {
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            None => errs.push(crate::error::FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "unknown certification {:?} (see GET /api/v1/certifications)",
                    c.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
    (out, errs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_implications_close() {
        let c = Certifications::parse(CSV).unwrap();
        assert!(c.all().len() >= 50);
        let held = c.held(&[], &["CE".into()]);
        for code in [
            "PERMIS_CE",
            "PERMIS_C",
            "PERMIS_C1",
            "PERMIS_B",
            "PERMIS_BE",
        ] {
            assert!(Certifications::satisfied(&held, code), "{code}");
        }
        assert!(!Certifications::satisfied(&held, "PERMIS_D"));
        let held = c.held(&["ssiap3".into(), "FIMO_M".into()], &[]);
        assert!(Certifications::satisfied(&held, "SSIAP1"));
        assert!(Certifications::satisfied(&held, "FCO_M"));
        assert!(!Certifications::satisfied(&held, "FCO_V"));
        let held = c.held(&["CACES_R489_5".into()], &[]);
        assert!(!Certifications::satisfied(&held, "CACES_R489_3"));
        let held = c.held(&["HAB_B1V".into()], &[]);
        assert!(Certifications::satisfied(&held, "HAB_B0"));
        assert!(!Certifications::satisfied(&held, "HAB_B2"));
    }

    #[test]
    fn lists_are_checked() {
        let (ok, errs) = check_list(
            "certifications",
            &["deas".into(), "DEAS".into(), "CACES R489".into()],
        );
        assert_eq!(ok, vec!["DEAS".to_string()]);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "certifications[2]");
    }

    #[test]
    fn licence_categories_have_codes() {
        let c = Certifications::global();
        for l in LICENCES {
            assert!(c.get(&licence_code(l)).is_some(), "{l}");
        }
    }

    /// What each category implies under French law (the code de la
    /// route's categories and their equivalences), written out apart from
    /// the file.
    #[test]
    fn licences_imply_what_the_law_says() {
        let implied = |held: &str| -> &[&str] {
            match held {
                "A" => &["A2", "A1", "AM"],
                "A2" => &["A1", "AM"],
                "A1" | "B1" => &["AM"],
                "B" => &["B1", "AM"],
                "BE" => &["B", "B1", "AM"],
                "C1" | "D1" => &["B", "B1", "AM"],
                "C1E" => &["C1", "BE", "B", "B1", "AM"],
                "C" => &["C1", "B", "B1", "AM"],
                "CE" => &["C", "C1", "C1E", "BE", "B", "B1", "AM"],
                "D1E" => &["D1", "BE", "B", "B1", "AM"],
                "D" => &["D1", "B", "B1", "AM"],
                "DE" => &["D", "D1", "D1E", "BE", "B", "B1", "AM"],
                _ => &[],
            }
        };
        let c = Certifications::global();
        for held in LICENCES {
            let from_licence = c.held(&[], &[held.to_lowercase()]);
            let from_certification = c.held(&[licence_code(held)], &[]);
            assert_eq!(from_licence, from_certification, "{held}");
            for req in LICENCES {
                let want = held == req || implied(held).contains(req);
                assert_eq!(
                    Certifications::meets_licence(&from_licence, req),
                    want,
                    "{held} for {req}"
                );
            }
        }
        // A certification that is no licence meets none.
        let fimo = c.held(&["FIMO_M".into()], &[]);
        assert!(LICENCES
            .iter()
            .all(|l| !Certifications::meets_licence(&fimo, l)));
    }
}
