//! The search thesaurus: acronyms that must never be stemmed, and
//! expressions that expand each other.
//!
//! Two sources, both embedded in the binary:
//!
//! - **ROME job titles** (`node/data/rome_appellations.csv.gz`, via
//!   [`Referentials`]): every title (label or appellation, masculine form)
//!   of a ROME code is a synonym of the others for search purposes, and
//!   names the code itself. An acronym written in parentheses in a title
//!   (« Agent / Agente de service hospitalier (ASH) ») expands to it.
//! - **The curated dictionary** `node/data/synonymes.csv`: French
//!   employment acronyms and short forms (PL, SPL, ASH, DEAS, ADVF, CACES
//!   and its recommendations, FIMO, SSIAP, HACCP, BTP, CAP, BTS…) and common
//!   equivalences (cariste ↔ conducteur de chariot élévateur), one group of
//!   equivalent forms per line with its source. `sigle ambigu` marks
//!   acronyms that are also ordinary words (`AS`, `CAP`, `BUT`): they count
//!   as acronyms only when written in capitals. The ROME codes a line's
//!   source cites (« ROME N4101 », « F1104 / F1208 ») are named by its
//!   forms too: `PL` and « poids lourd » find the lorry drivers coded
//!   N4101 whose CV never says « poids lourd ».
//!
//! Keys and expansions are sequences of analysed terms (stems and codes,
//! stop words dropped), so that any spelling of an expression finds its
//! entry.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::analysis::{analyse_with, is_stop_word, words};
use crate::referentials::Referentials;

const CURATED_CSV: &str = include_str!("../../data/synonymes.csv");

/// The ROME codes (`N4101`) a curated line's source cites after « ROME ».
fn cited_rome_codes(source: &str) -> Vec<String> {
    let Some(at) = source.find("ROME ") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (_, w) in words(&source[at..]) {
        let b = w.as_bytes();
        if b.len() == 5
            && b[0].is_ascii_uppercase()
            && b[1..].iter().all(u8::is_ascii_digit)
            && !out.iter().any(|c| c == w)
        {
            out.push(w.to_string());
        }
    }
    out
}

/// ROME titles used as expansions of a matched title, per code (the
/// shortest first: the most general).
pub(crate) const MAX_ROME_EXPANSIONS: usize = 8;
/// Longest key, in terms.
const MAX_KEY_TERMS: usize = 8;

/// An acronym of the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acronym {
    /// Also an ordinary word: an acronym only when written in capitals.
    pub ambiguous: bool,
}

/// An analysed expression: its terms and their positions (stop words
/// leave gaps, as in the index).
#[derive(Debug, Clone, Default)]
pub(crate) struct Phrase {
    pub terms: Vec<String>,
    pub positions: Vec<usize>,
}

impl PartialEq for Phrase {
    fn eq(&self, other: &Phrase) -> bool {
        self.terms == other.terms
    }
}

/// What a key (an analysed expression) expands to.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// Curated equivalents (and acronym ↔ expansion pairs).
    pub synonyms: Vec<Phrase>,
    /// ROME codes this expression is a job title of (index into
    /// [`Lexicon::rome_titles`]).
    pub codes: Vec<usize>,
}

/// The thesaurus (see the module documentation).
#[derive(Debug, Default)]
pub struct Lexicon {
    acronyms: HashMap<String, Acronym>,
    entries: HashMap<Vec<String>, Entry>,
    /// Per ROME code: the code and its distinct titles, shortest first.
    rome_titles: Vec<(String, Vec<Phrase>)>,
    max_key_terms: usize,
}

static GLOBAL: LazyLock<Lexicon> = LazyLock::new(Lexicon::build);

/// A one-word form written as an acronym or a code: `PL`, `R489` (`PSC1`
/// is two words, `PSC` `1`: [`words`] splits a number glued to three
/// letters or more; its thesaurus entry is keyed by both).
fn acronym_shaped(form: &str) -> bool {
    let mut it = words(form);
    let (Some((_, w)), None) = (it.next(), it.next()) else {
        return false;
    };
    if w.len() != form.trim().len() {
        return false;
    }
    let letters = w.chars().filter(|c| c.is_alphabetic()).count();
    let digits = w.chars().any(|c| c.is_numeric());
    digits || (letters >= 2 && !w.chars().any(char::is_lowercase))
}

/// `Conducteur / Conductrice de poids lourd` → `Conducteur de poids lourd`:
/// the masculine words, then what follows the feminine ones.
fn masculine(title: &str) -> String {
    let Some((left, right)) = title.split_once(" / ") else {
        return title.to_string();
    };
    let n = left.split_whitespace().count();
    let rest: Vec<&str> = right.split_whitespace().skip(n).collect();
    if rest.is_empty() {
        left.to_string()
    } else {
        format!("{left} {}", rest.join(" "))
    }
}

/// The words of `text` an acronym stands for: the run of consecutive
/// words (stop words skipped) whose initials spell it (`SAV` in
/// « Technicien service après-vente » → « service après vente »); `None`
/// when the acronym is not made of the text's initials (« Géophysicien
/// (BTP) »: BTP qualifies the title, it does not expand to it).
fn expansion_by_initials(acronym: &str, text: &str) -> Option<String> {
    let letters: Vec<char> = acronym.chars().filter(|c| c.is_alphabetic()).collect();
    let content: Vec<&str> = words(text)
        .map(|(_, w)| w)
        .filter(|w| !is_stop_word(&super::analysis::fold(w)))
        .collect();
    if letters.is_empty() || content.len() < letters.len() {
        return None;
    }
    let initial = |w: &str| {
        super::analysis::fold(w)
            .chars()
            .next()
            .map(|c| c.to_ascii_lowercase())
    };
    (0..=content.len() - letters.len()).find_map(|start| {
        let run = &content[start..start + letters.len()];
        run.iter()
            .zip(&letters)
            .all(|(w, l)| initial(w) == Some(l.to_ascii_lowercase()))
            .then(|| run.join(" "))
    })
}

/// Acronyms written in parentheses in a title, and the title without them.
fn parenthesised_acronyms(title: &str) -> (Vec<String>, String) {
    let mut acronyms = Vec::new();
    let mut text = String::with_capacity(title.len());
    let mut rest = title;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|c| open + c) else {
            break;
        };
        let inner = rest[open + 1..close].trim();
        text.push_str(&rest[..open]);
        if acronym_shaped(inner) && inner.len() <= 8 {
            acronyms.push(inner.to_string());
        } else {
            text.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    (acronyms, text)
}

impl Lexicon {
    /// The process-wide thesaurus, built on first use (tens of
    /// milliseconds: every ROME title is analysed once).
    pub fn global() -> &'static Lexicon {
        &GLOBAL
    }

    /// An acronym of the dictionary, by its folded form.
    pub(crate) fn acronym(&self, folded: &str) -> Option<Acronym> {
        self.acronyms.get(folded).copied()
    }

    /// What an analysed expression expands to.
    pub(crate) fn entry(&self, key: &[String]) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Longest key, in terms.
    pub(crate) fn max_key_terms(&self) -> usize {
        self.max_key_terms
    }

    /// A ROME code of an entry and its titles (shortest first).
    pub(crate) fn rome(&self, i: usize) -> Option<&(String, Vec<Phrase>)> {
        self.rome_titles.get(i)
    }

    /// Number of entries and acronyms.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.entries.len(), self.acronyms.len())
    }

    fn build() -> Lexicon {
        let refs = Referentials::global();
        let mut lexicon = Lexicon::default();
        // 1. Acronyms, before anything is analysed (they are not stemmed).
        // Each group's forms, and the ROME codes its source cites.
        let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(CURATED_CSV.as_bytes());
        for record in reader.records() {
            let Ok(record) = record else {
                tracing::error!("node/data/synonymes.csv: unreadable line skipped");
                continue;
            };
            let forms: Vec<String> = record
                .get(0)
                .unwrap_or("")
                .split('|')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect();
            let kind = record.get(1).unwrap_or("").trim();
            if kind.starts_with("sigle") {
                for f in forms.iter().filter(|f| acronym_shaped(f)) {
                    let digits = f.chars().any(|c| c.is_numeric());
                    lexicon.acronyms.insert(
                        super::analysis::fold(f),
                        Acronym {
                            ambiguous: kind == "sigle ambigu" && !digits,
                        },
                    );
                }
            }
            groups.push((forms, cited_rome_codes(record.get(2).unwrap_or(""))));
        }
        let mut rome_forms: Vec<(String, Vec<String>)> = Vec::new();
        for code in refs.rome_codes() {
            let mut titles = Vec::new();
            for t in std::iter::once(&code.label).chain(code.appellations.iter()) {
                let (acronyms, text) = parenthesised_acronyms(&masculine(t));
                for a in acronyms {
                    let Some(expansion) = expansion_by_initials(&a, &text) else {
                        continue;
                    };
                    let folded = super::analysis::fold(&a);
                    let ambiguous = folded.chars().count() <= 2 || is_stop_word(&folded);
                    lexicon
                        .acronyms
                        .entry(folded)
                        .or_insert(Acronym { ambiguous });
                    groups.push((vec![a, expansion], Vec::new()));
                }
                titles.push(text);
            }
            rome_forms.push((code.code.clone(), titles));
        }
        // 2. Keys, analysed with the acronyms known.
        let key = |lexicon: &Lexicon, text: &str| -> Phrase {
            let mut out = Vec::new();
            analyse_with(text, lexicon, &mut out);
            let first = out.first().map_or(0, |a| a.position);
            Phrase {
                positions: out.iter().map(|a| a.position - first).collect(),
                terms: out.into_iter().map(|a| a.term).collect(),
            }
        };
        for (code, titles) in &rome_forms {
            let mut keys: Vec<Phrase> = titles
                .iter()
                .map(|t| key(&lexicon, t))
                .filter(|k| !k.terms.is_empty() && k.terms.len() <= MAX_KEY_TERMS)
                .collect();
            keys.sort_by(|a, b| {
                a.terms
                    .len()
                    .cmp(&b.terms.len())
                    .then_with(|| a.terms.cmp(&b.terms))
            });
            keys.dedup();
            let i = lexicon.rome_titles.len();
            for k in &keys {
                let entry = lexicon.entries.entry(k.terms.clone()).or_default();
                if !entry.codes.contains(&i) {
                    entry.codes.push(i);
                }
            }
            lexicon.rome_titles.push((code.clone(), keys));
        }
        let by_code: HashMap<String, usize> = lexicon
            .rome_titles
            .iter()
            .enumerate()
            .map(|(i, (code, _))| (code.clone(), i))
            .collect();
        for (forms, cited) in &groups {
            let keys: Vec<Phrase> = forms
                .iter()
                .map(|f| key(&lexicon, f))
                .filter(|k| !k.terms.is_empty() && k.terms.len() <= MAX_KEY_TERMS)
                .collect();
            // Forms that are equivalent name the same ROME codes
            // (« maçonnerie » ≡ « maçon », a title of F1703), and those
            // their source cites (« PL », « poids lourd »: N4101).
            let mut codes: Vec<usize> = cited
                .iter()
                .filter_map(|c| by_code.get(c).copied())
                .collect();
            for k in &keys {
                for &c in lexicon.entries.get(&k.terms).map_or(&[][..], |e| &e.codes) {
                    if !codes.contains(&c) {
                        codes.push(c);
                    }
                }
            }
            for k in &keys {
                let entry = lexicon.entries.entry(k.terms.clone()).or_default();
                for other in &keys {
                    if other != k && !entry.synonyms.contains(other) {
                        entry.synonyms.push(other.clone());
                    }
                }
                for &c in &codes {
                    if !entry.codes.contains(&c) {
                        entry.codes.push(c);
                    }
                }
            }
        }
        // Drop entries that expand to nothing (a title alone in its code
        // still names the code: kept).
        lexicon
            .entries
            .retain(|_, e| !e.synonyms.is_empty() || !e.codes.is_empty());
        lexicon.max_key_terms = lexicon.entries.keys().map(Vec::len).max().unwrap_or(0);
        let distinct: HashSet<&str> = lexicon
            .rome_titles
            .iter()
            .map(|(c, _)| c.as_str())
            .collect();
        tracing::debug!(
            entries = lexicon.entries.len(),
            acronyms = lexicon.acronyms.len(),
            rome_codes = distinct.len(),
            "search lexicon built"
        );
        lexicon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        analyse_with(text, Lexicon::global(), &mut out);
        out.into_iter().map(|a| a.term).collect()
    }

    fn has(phrases: &[Phrase], text: &str) -> bool {
        phrases.iter().any(|p| p.terms == k(text))
    }

    #[test]
    fn forms_and_acronyms() {
        assert_eq!(
            masculine("Conducteur / Conductrice de poids lourd"),
            "Conducteur de poids lourd"
        );
        assert_eq!(
            masculine("Chauffeur routier / Chauffeuse routière"),
            "Chauffeur routier"
        );
        assert_eq!(masculine("Cariste"), "Cariste");
        assert_eq!(
            parenthesised_acronyms("Agent de service hospitalier (ASH)"),
            (
                vec!["ASH".to_string()],
                "Agent de service hospitalier ".to_string()
            )
        );
        assert!(acronym_shaped("PL") && acronym_shaped("R489") && !acronym_shaped("poids lourd"));
        let l = Lexicon::global();
        assert_eq!(l.acronym("deas"), Some(Acronym { ambiguous: false }));
        assert_eq!(l.acronym("as"), Some(Acronym { ambiguous: true }));
        assert_eq!(l.acronym("ash"), Some(Acronym { ambiguous: false }));
        assert_eq!(l.acronym("r489"), Some(Acronym { ambiguous: false }));
    }

    #[test]
    fn entries() {
        let l = Lexicon::global();
        let pl = l.entry(&k("PL")).expect("PL");
        assert!(has(&pl.synonyms, "poids lourd"), "{pl:?}");
        // A ROME title names its code and expands to the code's titles.
        let cariste = l.entry(&k("cariste")).expect("cariste");
        let codes: Vec<&str> = cariste
            .codes
            .iter()
            .filter_map(|&i| l.rome(i))
            .map(|(c, _)| c.as_str())
            .collect();
        assert!(codes.contains(&"N1101"), "{codes:?}");
        assert!(has(&cariste.synonyms, "conducteur de chariot élévateur"));
        let chauffeur_pl = l.entry(&k("chauffeur poids lourd")).expect("title");
        assert!(chauffeur_pl
            .codes
            .iter()
            .filter_map(|&i| l.rome(i))
            .any(|(c, titles)| c == "N4101" && has(titles, "conducteur de poids lourd")));
        let ash = l.entry(&k("ASH")).expect("ASH");
        assert!(has(&ash.synonyms, "agent de service hospitalier"));
        // The codes a curated line's source cites: « PL » and « poids
        // lourd » name N4101; « cuisine » both codes its source names.
        let cited = |text: &str| -> Vec<&str> {
            let mut v: Vec<&str> = l
                .entry(&k(text))
                .map(|e| {
                    e.codes
                        .iter()
                        .filter_map(|&i| l.rome(i))
                        .map(|(c, _)| c.as_str())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        assert!(cited("PL").contains(&"N4101"), "{:?}", cited("PL"));
        assert!(cited("poids lourd").contains(&"N4101"));
        assert!(cited("cuisine").contains(&"G1606") && cited("cuisine").contains(&"G1609"));
        assert_eq!(
            cited_rome_codes("ROME F1104 / F1208 (VRD)"),
            ["F1104", "F1208"]
        );
        assert!(cited_rome_codes("Code de la route, art. R221-4 : permis B").is_empty());
        // « Géophysicien (BTP) »: BTP qualifies the title, no expansion.
        let btp = l.entry(&k("BTP")).expect("BTP");
        assert!(!has(&btp.synonyms, "géophysicien"), "{btp:?}");
        assert_eq!(
            expansion_by_initials("SAV", "Technicien service après-vente d'ascenseurs"),
            Some("service après vente".to_string())
        );
        // Equivalent forms name the same ROME code.
        let maconnerie = l.entry(&k("maçonnerie")).expect("maçonnerie");
        assert!(maconnerie
            .codes
            .iter()
            .filter_map(|&i| l.rome(i))
            .any(|(c, _)| c == "F1703"));
        let (entries, acronyms) = l.counts();
        assert!(entries > 10_000 && acronyms > 100, "{entries} {acronyms}");
    }
}
