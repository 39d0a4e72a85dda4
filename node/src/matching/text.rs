//! Text relevance of one candidate–offer pair, on a fixed scale.
//!
//! - The **offer's terms**: the analysed terms (the search analyser,
//!   [`crate::search::analysis`]: folded, stemmed, acronyms and codes kept)
//!   of its title (factor 2), its ROME label (1.5) and its description (1),
//!   each term once with its highest factor, in that order, at most
//!   [`MAX_OFFER_TERMS`]. Words every offer says (« poste », « permis »,
//!   « expérience », « H/F », « cherche », « formation »…, [`GENERIC_WORDS`]),
//!   the words of its workplaces' commune names (« Tours », « Saint »,
//!   « Avertin »: a CV names towns too, which says nothing of the trade) and
//!   bare numbers are left out: they say nothing about the job.
//! - The **candidate's terms**: the analysed terms of their job titles,
//!   skills and CV (first [`MAX_CV_CHARS`] characters); a word is there or
//!   not (how often a CV repeats it does not count, so a short CV stuffed
//!   with keywords gains nothing over a complete one).
//! - Each offer term weighs `factor × idf`, with
//!   `idf = ln(1 + (N − df + 0.5) / (df + 0.5))` where `N` and `df` count
//!   the live documents of the whole candidate index (archived records
//!   included, replaced versions not): the same for every pair, whatever
//!   else is listed.
//! - `text = 1 − exp(−S / saturation)`, `S` the weight of the offer terms
//!   found among the candidate's (summed in fixed point, 10⁻⁹, so that the
//!   order of the terms never changes the last bit: the index pass of
//!   [`super::pass`] meets them in posting order). `saturation` is `[matching]
//!   text_saturation` (default 10: a title word and three specific words of
//!   the description give about 0.9).
//!
//! Both directions (offer → candidates, candidate → offers) call the same
//! function on the same inputs, so a pair has one text value.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use vivier_protocol::OfferPayload;

use crate::candidates::Candidate;
use crate::referentials::Referentials;
use crate::search::{analysed, analyze, FR};

/// Most terms taken from one offer.
pub const MAX_OFFER_TERMS: usize = 60;
/// CV characters read.
pub const MAX_CV_CHARS: usize = 20_000;

/// Words that every offer uses and that say nothing about the job. The
/// structured fields (licence, vehicle, contract, hours) cover what some of
/// them mean.
pub const GENERIC_WORDS: &[&str] = &[
    "poste",
    "postes",
    "permis",
    "véhicule",
    "véhiculé",
    "expérience",
    "expérimenté",
    "mission",
    "missions",
    "profil",
    "équipe",
    "travail",
    "emploi",
    "entreprise",
    "société",
    "recherche",
    "recherchons",
    "recrute",
    "recrutons",
    "candidat",
    "candidature",
    "h",
    "f",
    "hf",
    "cdi",
    "cdd",
    "contrat",
    "semaine",
    "heures",
    "heure",
    "horaires",
    "salaire",
    "débutant",
    "accepté",
    "souhaité",
    "requis",
    "exigé",
    "obligatoire",
    "apprécié",
    "année",
    "années",
    "an",
    "ans",
    "mois",
    "jour",
    "jours",
    "temps",
    "plein",
    "partiel",
    "client",
    "clients",
    "bonne",
    "bon",
    "sens",
    "capacité",
    "qualité",
    "qualités",
    "savoir",
    "être",
    "faire",
    "cherche",
    "cherchons",
    "rejoindre",
    "rejoignez",
    "proposons",
    "offrons",
    "auprès",
    "entre",
    "mise",
    "motivé",
    "motivation",
    "dynamique",
    "sérieux",
    "rigoureux",
    "autonome",
    "formation",
    "centre",
    "ville",
    "secteur",
    "région",
];

fn generic_terms() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| GENERIC_WORDS.iter().flat_map(|w| analyze(FR, w)).collect())
}

/// One term of an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferTerm {
    /// As indexed.
    pub term: String,
    /// The word as the offer wrote it (lower case), for explanations.
    pub word: String,
    /// 2 (title), 1.5 (ROME label) or 1 (description).
    pub factor: f64,
}

/// The terms of an offer, in order (title, label, description).
#[derive(Debug, Clone, Default)]
pub struct OfferTerms(pub Vec<OfferTerm>);

impl OfferTerms {
    /// The terms of `p`.
    pub fn of(refs: &Referentials, p: &OfferPayload) -> OfferTerms {
        let label = refs
            .rome(&p.rome_code)
            .map(|r| r.label.as_str())
            .unwrap_or("");
        let generic = generic_terms();
        // The places of the offer: « Tours » in a CV is no skill.
        let places: HashSet<String> = p
            .workplaces
            .iter()
            .filter_map(|w| refs.commune(&w.commune_insee))
            .flat_map(|c| analysed(&c.name))
            .map(|a| a.term)
            .collect();
        let mut out: Vec<OfferTerm> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (text, factor) in [
            (p.title.as_str(), 2.0),
            (label, 1.5),
            (p.description.as_str(), 1.0),
        ] {
            for a in analysed(text) {
                let term = a.term;
                // Numbers, generic words and single letters (the « B » of
                // « permis B », the « C » of « cat. C ») say nothing of the job.
                if term.chars().all(|c| c.is_ascii_digit())
                    || term.chars().nth(1).is_none()
                    || generic.contains(&term)
                    || places.contains(&term)
                {
                    continue;
                }
                match index.get(&term) {
                    // Terms come title first: a later occurrence never
                    // weighs more.
                    Some(_) => {}
                    None if out.len() < MAX_OFFER_TERMS => {
                        index.insert(term.clone(), out.len());
                        out.push(OfferTerm {
                            term,
                            word: text[a.from..a.to].to_lowercase(),
                            factor,
                        });
                    }
                    None => {}
                }
            }
        }
        OfferTerms(out)
    }

    /// The terms, for document-frequency look-ups.
    pub fn terms(&self) -> Vec<String> {
        self.0.iter().map(|t| t.term.clone()).collect()
    }
}

/// The terms of a candidate's job titles, skills and CV (both forms of
/// words written in capitals).
pub fn candidate_terms(c: &Candidate) -> HashSet<String> {
    let mut out = HashSet::new();
    let cv: String = c.cv_text.chars().take(MAX_CV_CHARS).collect();
    for text in c
        .job_titles
        .iter()
        .chain(c.skills.iter())
        .map(String::as_str)
        .chain(std::iter::once(cv.as_str()))
    {
        for a in analysed(text) {
            out.extend(a.other);
            out.insert(a.term);
        }
    }
    out
}

/// Inverse document frequencies from the whole candidate index.
#[derive(Debug, Clone, Default)]
pub struct Idf(HashMap<String, f64>);

impl Idf {
    /// From the number of live documents and each term's document count.
    pub fn new(num_docs: u64, freqs: impl IntoIterator<Item = (String, u64)>) -> Idf {
        let n = num_docs as f64;
        Idf(freqs
            .into_iter()
            .map(|(t, df)| {
                let df = (df as f64).min(n);
                (t, (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
            })
            .collect())
    }

    /// The idf of a term (a term the index has never seen counts as
    /// present in no document).
    pub fn get(&self, term: &str) -> f64 {
        self.0.get(term).copied().unwrap_or(0.0)
    }

    /// Whether the term's idf is known.
    pub fn has(&self, term: &str) -> bool {
        self.0.contains_key(term)
    }

    /// Adds terms.
    pub fn extend(&mut self, other: Idf) {
        self.0.extend(other.0);
    }
}

/// The text relevance of a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    /// 0..=1.
    pub value: f64,
    /// The offer's words found in the candidate's text, in the offer's order.
    pub matched: Vec<String>,
}

/// `1 − exp(−S / saturation)` over the offer terms the candidate has.
pub fn relevance(
    offer: &OfferTerms,
    idf: &Idf,
    candidate: &HashSet<String>,
    saturation: f64,
) -> TextMatch {
    relevance_with(offer, idf, |_, t| candidate.contains(t), saturation)
}

/// [`relevance`] where `has(i, term)` tells whether the candidate holds
/// the offer's `i`-th term (e.g. flags read from the index).
pub fn relevance_with(
    offer: &OfferTerms,
    idf: &Idf,
    has: impl Fn(usize, &str) -> bool,
    saturation: f64,
) -> TextMatch {
    let mut sum = 0;
    let mut matched = Vec::new();
    for (i, t) in offer.0.iter().enumerate() {
        if has(i, &t.term) {
            sum += term_weight(t.factor, idf.get(&t.term));
            matched.push(t.word.clone());
        }
    }
    TextMatch {
        value: text_value(sum, saturation),
        matched,
    }
}

/// Fixed-point units of a term weight (10⁻⁹).
const WEIGHT_UNITS: f64 = 1e9;

/// The weight of one offer term, `factor × idf`, in fixed point: sums of
/// term weights are exact whatever the order in which the terms are met
/// (the record path goes through the offer's terms, the index pass through
/// posting lists), so both give the same value to the last bit.
pub fn term_weight(factor: f64, idf: f64) -> i64 {
    let w = factor * idf * WEIGHT_UNITS;
    if w.is_finite() {
        w.round() as i64
    } else {
        0
    }
}

/// `1 − exp(−S / saturation)` for a sum of [`term_weight`]s.
pub fn text_value(sum: i64, saturation: f64) -> f64 {
    if saturation > 0.0 {
        1.0 - (-(sum as f64 / WEIGHT_UNITS) / saturation).exp()
    } else {
        0.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn terms(words: &[(&str, f64)]) -> OfferTerms {
        OfferTerms(
            words
                .iter()
                .map(|(w, f)| OfferTerm {
                    term: w.to_string(),
                    word: w.to_string(),
                    factor: *f,
                })
                .collect(),
        )
    }

    #[test]
    fn saturating_and_absolute() {
        let offer = terms(&[("carist", 2.0), ("chariot", 1.0), ("inventair", 1.0)]);
        let idf = Idf::new(
            1000,
            [
                ("carist".to_string(), 10),
                ("chariot".to_string(), 20),
                ("inventair".to_string(), 100),
            ],
        );
        let all: HashSet<String> = ["carist", "chariot", "inventair", "autre"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let some: HashSet<String> = ["chariot"].iter().map(|s| s.to_string()).collect();
        let a = relevance(&offer, &idf, &all, 10.0);
        let b = relevance(&offer, &idf, &some, 10.0);
        // S = 2 × 4.56 + 3.89 + 2.30 = 15.3: 1 − e^(−1.53) ≈ 0.78.
        assert!((a.value - 0.784).abs() < 0.01, "{a:?}");
        assert!(b.value > 0.0 && b.value < a.value, "{b:?}");
        assert_eq!(a.matched, vec!["carist", "chariot", "inventair"]);
        assert_eq!(relevance(&offer, &idf, &HashSet::new(), 10.0).value, 0.0);
    }

    #[test]
    fn generic_words_and_numbers_are_not_offer_terms() {
        let refs = Referentials::global();
        let mut p = crate::matching::tests_support::offer("Cariste H/F", "N1101");
        p.description = "Poste en CDI, permis B exigé, 35 heures. Chariot élévateur.".into();
        let t = OfferTerms::of(refs, &p);
        let words: Vec<&str> = t.0.iter().map(|t| t.word.as_str()).collect();
        assert!(words.contains(&"cariste"), "{words:?}");
        assert!(words.contains(&"chariot"), "{words:?}");
        for w in ["poste", "cdi", "permis", "35", "heures", "h", "f"] {
            assert!(!words.contains(&w), "{w} in {words:?}");
        }
        assert_eq!(t.0[0].factor, 2.0);
    }

    /// The towns of the offer and the words of its advertisement's
    /// boilerplate are no matched terms: a mason whose CV names Saint-Avertin
    /// and « formation » shares nothing with a care offer there.
    #[test]
    fn workplace_towns_and_boilerplate_are_not_offer_terms() {
        let refs = Referentials::global();
        let mut p = crate::matching::tests_support::offer("Aide-soignant de nuit H/F", "J1501");
        p.description = "EHPAD de Saint-Avertin et de Tours cherche aide-soignant motivé : \
                         soins, toilette, formation assurée, mise en place des repas, \
                         centre-ville."
            .into();
        p.workplaces[0].commune_insee = "37208".into();
        let mut second = p.workplaces[0].clone();
        second.commune_insee = "37261".into();
        p.workplaces.push(second);
        let t = OfferTerms::of(refs, &p);
        let words: Vec<&str> = t.0.iter().map(|t| t.word.as_str()).collect();
        for w in ["soins", "toilette", "ehpad", "repas", "soignant"] {
            assert!(words.contains(&w), "{w} not in {words:?}");
        }
        for w in [
            "saint",
            "avertin",
            "tours",
            "cherche",
            "motivé",
            "formation",
            "mise",
            "centre",
            "ville",
        ] {
            assert!(!words.contains(&w), "{w} in {words:?}");
        }
    }
}
