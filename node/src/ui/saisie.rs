//! Look-ups shared by the forms: ROME codes suggested from job titles, and
//! communes typed by name, postcode or INSEE code, resolved without ever
//! settling a homonym silently (`Referentials::resolve_commune`).

use serde::Serialize;

use crate::referentials::{CommuneMatch, RomeSuggestion};
use crate::server::AppState;

/// ROME codes suggested for a job title (an offer's title, a candidate's
/// job wishes): the title without the usual "H/F" marks, then, failing
/// that, its longer words one by one.
pub(super) fn rome_suggestions(state: &AppState, title: &str) -> Vec<RomeSuggestion> {
    let cleaned: String = title
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
            !matches!(
                w.to_ascii_lowercase().as_str(),
                "h/f" | "f/h" | "hf" | "fh" | ""
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let found = state.refs.suggest_rome(&cleaned, 8);
    if !found.is_empty() {
        return found;
    }
    let mut words: Vec<&str> = cleaned
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    let mut out: Vec<RomeSuggestion> = Vec::new();
    for w in words {
        for s in state.refs.suggest_rome(w, 8) {
            if out.len() < 8 && !out.iter().any(|o| o.code == s.code) {
                out.push(s);
            }
        }
    }
    out
}

/// ROME codes suggested for several job titles (one per line), at most 8,
/// each code once.
pub(super) fn rome_suggestions_for_titles(
    state: &AppState,
    titles: &[String],
) -> Vec<RomeSuggestion> {
    let mut out: Vec<RomeSuggestion> = Vec::new();
    for t in titles {
        for s in rome_suggestions(state, t) {
            if out.len() < 8 && !out.iter().any(|o| o.code == s.code) {
                out.push(s);
            }
        }
    }
    out
}

/// One commune offered to choose from.
#[derive(Debug, Clone, Serialize)]
pub struct CommuneChoice {
    /// INSEE code (the value sent back).
    pub insee: String,
    /// « Saint-Aignan (41) ».
    pub label: String,
    /// Its postcodes, to tell homonyms apart.
    pub postcodes: String,
}

/// Why a typed commune was not taken, in French, with the choices offered.
#[derive(Debug, Clone, Serialize)]
pub struct CommuneProblem {
    pub message: String,
    pub choices: Vec<CommuneChoice>,
}

/// « Nom (41) », the label the forms show and accept back.
pub(super) fn commune_label(c: &crate::referentials::Commune) -> String {
    format!("{} ({})", c.name, c.departement)
}

/// The INSEE code of what was typed, or why not (unknown, or several
/// communes to choose from).
pub(super) fn resolve_commune(state: &AppState, typed: &str) -> Result<String, CommuneProblem> {
    match state.refs.resolve_commune(typed) {
        CommuneMatch::One(c) => Ok(c.insee.clone()),
        CommuneMatch::Several(found) => {
            let homonyms = found.windows(2).all(|w| w[0].name == w[1].name);
            Err(CommuneProblem {
                message: if homonyms {
                    format!(
                        "Plusieurs communes s'appellent « {} » : choisissez la bonne.",
                        found[0].name
                    )
                } else {
                    "Plusieurs communes correspondent : choisissez la bonne.".to_string()
                },
                choices: found
                    .iter()
                    .map(|c| CommuneChoice {
                        insee: c.insee.clone(),
                        label: commune_label(c),
                        postcodes: c.postcodes.join(", "),
                    })
                    .collect(),
            })
        }
        CommuneMatch::None => Err(CommuneProblem {
            message: "Commune inconnue : indiquez son nom, son code postal ou son code INSEE."
                .to_string(),
            choices: Vec::new(),
        }),
    }
}
