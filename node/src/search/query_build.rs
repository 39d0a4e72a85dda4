//! From a parsed query ([`super::query_lang`]) to a tantivy query.
//!
//! - Each word, phrase, prefix, `a/b` alternative or parenthesised group
//!   is a **unit**. Juxtaposed units form a group in which all should
//!   match: a document missing one of two to five units (a quarter of
//!   more) still matches, lower (see [`min_match`] and
//!   [`super::soft_and`]); stop words are not units at all.
//! - A unit matches its typed terms (weight 1), and ranks below them:
//!   curated synonyms and acronym expansions ([`W_SYNONYM`]), holding a
//!   ROME code a typed title belongs to ([`ROME_CODE_SCORE`]: every record
//!   has a code, so this finds the other titles of the code) and that
//!   code's one-word titles in the text ([`W_ROME_TITLE`]),
//!   words one or two typos away ([`W_FUZZY`], words of five letters or
//!   more that are rare in the index), prefix completions ([`W_PREFIX`]).
//! - Expressions are found in the query with the thesaurus
//!   ([`super::lexicon`]): the longest run of words that is a known title
//!   or dictionary entry becomes one unit whose alternatives are its
//!   expansions (`chauffeur PL` → `chauffeur poids lourd`, a title of
//!   N4101 → `conducteur de poids lourd`, `routier`…, or ROME code N4101).
//! - A phrase of the typed words in the title field adds to the score
//!   (exact-title boost).
//! - Long queries (more than [`MAX_EXPANDED_UNITS`] units, such as the bag
//!   of words matching sends) are searched as typed, without expansions.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};
use tantivy_fst::{IntoStreamer, Streamer};

use super::analysis::{
    analysed, fold, has_unindexable_word, is_word_char, pair, words, Analysed, Kind, MAX_SHORT_CAPS,
};
use super::lexicon::{Lexicon, Phrase, MAX_ROME_EXPANSIONS};
use super::query_lang::{Atom, Conjunction, Group, Query as Parsed};
use super::soft_and::{AnyOfQuery, BoostedQuery, SoftAndQuery};
use super::term_and::TermsAndQuery;
use super::term_bits::{SegmentBits, WithinQuery};
use super::SearchError;

/// Weight of a curated synonym or acronym expansion.
pub(crate) const W_SYNONYM: f32 = 0.6;
/// Weight of another job title of the same ROME code.
pub(crate) const W_ROME_TITLE: f32 = 0.45;
/// Constant score of holding a ROME code a typed title belongs to.
pub(crate) const ROME_CODE_SCORE: f32 = 1.0;
/// Weight of the words of a known expression found apart from each other.
pub(crate) const W_SCATTERED: f32 = 0.5;
/// Weight of a word one or two typos away.
pub(crate) const W_FUZZY: f32 = 0.3;
/// Weight of a prefix completion.
pub(crate) const W_PREFIX: f32 = 0.8;
/// Weight of the words of one typed word (`aide-soignant`, `CACES3`)
/// found side by side.
pub(crate) const W_ADJACENT: f32 = 1.0;
/// Weight of the typed words as a phrase in the title field.
pub(crate) const W_TITLE_PHRASE: f32 = 1.0;
/// Most terms a prefix (`cari*`) expands to.
const MAX_PREFIX_TERMS: usize = 50;
/// Most fuzzy variants of one word.
const MAX_FUZZY_TERMS: usize = 3;
/// Words shorter than this (letters) are never fuzzy.
const FUZZY_MIN_LETTERS: usize = 5;
/// Typos are looked for when the word is in at most one document in this
/// many (and at least [`FUZZY_RARE_MIN`])...
const FUZZY_RARE_FRACTION: u64 = 2000;
/// ... or in at most this many documents.
const FUZZY_RARE_MIN: u64 = 3;
/// From this length (letters) two typos are tolerated.
const FUZZY_TWO_EDITS_LETTERS: usize = 9;
/// Most curated synonyms per unit.
const MAX_SYNONYMS: usize = 6;
/// Most ROME codes per unit.
const MAX_CODES: usize = 3;
/// Above this many units a query is searched as typed (no expansions).
pub(crate) const MAX_EXPANDED_UNITS: usize = 12;
/// Longest run of words looked up in the thesaurus.
const MAX_SPAN_UNITS: usize = 6;
/// Positions the terms of a multi-word expansion may move in all (a stop
/// word more or less: `conducteur poids lourd` meets `conducteur de poids
/// lourd`).
const EXPANSION_SLOP: u32 = 1;

/// The text fields of an index, by role.
#[derive(Debug, Clone)]
pub(crate) struct SearchFields {
    /// The stemmed (`"fr"`) field holding all the searchable text (titles
    /// and names included): a word matches there. Its vocabulary serves
    /// typos and prefixes; expansions are searched there.
    pub main: Field,
    /// Stemmed fields whose match adds to the score (titles), with their
    /// boosts: a subset of `main`, so never needed to match.
    pub boosts: Vec<(Field, f32)>,
    /// The title field (phrase boost).
    pub title: Option<Field>,
    /// The word-pair field of the titles (`"fr_pairs"`): with it, the
    /// exact-title boost looks up the typed words' consecutive pairs
    /// instead of reading the title's positions.
    pub title_pairs: Option<Field>,
    /// Exact (`"fr_exact"`) fields (names) whose match, with the folded
    /// word, adds to the score (their text is in `main` too).
    pub exact: Vec<(Field, f32)>,
    /// The raw ROME code field.
    pub rome: Option<Field>,
    /// The word-pair field of the main text (`"fr_pairs"`): multi-word
    /// expansions are searched there, without positions.
    pub pairs: Option<Field>,
    /// Where « permis C » is looked for, and how.
    pub licence: Option<(Field, LicenceTerms)>,
}

/// How an index records driving licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LicenceTerms {
    /// Held: `PERMIS_*` codes, a higher category meeting a lower one
    /// (candidates: « permis C » finds the holders of C, CE…).
    Held,
    /// Required: the category as written (offers).
    Required,
}

/// A built query and the terms worth highlighting in a snippet.
pub(crate) struct Built {
    pub query: Box<dyn Query>,
    /// Analysed terms (typed and expanded).
    pub highlight: BTreeSet<String>,
    /// Some group asked for more than one of its words
    /// ([`Strictness::One`] could find more than [`Strictness::Most`]).
    pub relaxable: bool,
    /// Some group could do with fewer than all of its words
    /// ([`Strictness::Most`] could find more than [`Strictness::All`]).
    pub loosenable: bool,
}

/// How many of the units of a group of juxtaposed words a document needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Strictness {
    /// All of them: a candidate search's first try, kept when it finds
    /// enough people ([`super::candidate_index`]).
    All,
    /// Most of them ([`min_match`]).
    #[default]
    Most,
    /// One of them: the last try of a search that found nobody
    /// (`cherche cariste CACES disponible rapidement`). Operators (`ET`,
    /// exclusions), phrases and licences keep their meaning.
    One,
}

pub(crate) struct Builder<'a> {
    pub fields: &'a SearchFields,
    pub searcher: &'a Searcher,
    pub lexicon: &'a Lexicon,
    highlight: BTreeSet<String>,
    expand: bool,
    /// Building an exclusion: only which documents match counts (typed
    /// words without their ranking boosts).
    excluding: bool,
    /// Building the words of a known expression of two words or more
    /// taken one by one: no title or name boost of their own (the
    /// expression in a title is the group's title phrase boost).
    scattered: bool,
    /// The group being built is a title that people hold (each pair of its
    /// consecutive words is in someone's job titles): its words that are
    /// no one-word title carry no title or name boost of their own, the
    /// group's title pair boost ranks the holders of the title.
    held_title: bool,
    /// How many words of each group a document needs.
    strictness: Strictness,
    /// A group asked for more than one of its words: relaxing it could
    /// find more.
    relaxable: bool,
    /// A group could do with fewer than all of its words.
    loosenable: bool,
    /// The documents a filter of the search keeps (a radius): the variants
    /// of a word look at those only ([`WithinQuery`]).
    within: Option<Arc<SegmentBits>>,
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() > f32::EPSILON {
        Box::new(BoostQuery::new(q, boost))
    } else {
        q
    }
}

/// Clauses at most in a lazy union ([`AnyOfQuery`]): each step of it
/// looks at every clause, where tantivy's union walks a window of each.
const LAZY_UNION_MAX: usize = 8;

fn any_of(mut qs: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    match qs.len() {
        0 => None,
        1 => qs.pop(),
        n if n <= LAZY_UNION_MAX => Some(Box::new(AnyOfQuery::new(qs))),
        _ => Some(Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Should, q)).collect(),
        ))),
    }
}

fn all_of(mut qs: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    // Bare terms (an expression's words taken apart): our intersection,
    // which checks long posting lists against bit sets. It reads term
    // frequencies: the bare terms here are [`term_query`]'s (those built
    // without frequencies are wrapped or in unions before they get here).
    if let Some(terms) = TermsAndQuery::of(&qs) {
        return Some(Box::new(terms));
    }
    match qs.len() {
        0 => None,
        1 => qs.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Must, q)).collect(),
        ))),
    }
}

/// `required`, scored up by whichever of `optional` also match.
fn with_optional(
    required: Box<dyn Query>,
    optional: Vec<Box<dyn Query>>,
) -> Option<Box<dyn Query>> {
    if optional.is_empty() {
        return Some(required);
    }
    Some(Box::new(BoostedQuery::new(required, optional)))
}

fn term_query(field: Field, term: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, term),
        IndexRecordOption::WithFreqs,
    ))
}

/// How many of `n` units a document must match: one of two (`BTP
/// maçonnerie` must not lose a mason whose CV never says BTP), all but one
/// from three to five, all but a quarter beyond. Coordination ranks the
/// documents that match everything first.
pub(crate) fn min_match(n: usize) -> usize {
    match n {
        0..=2 => n.min(1),
        3..=5 => n - 1,
        _ => n - n / 4,
    }
}

/// Letters of a word.
fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

/// One unit of a group before it becomes a query.
enum Unit<'p> {
    /// A typed word (one or more analysed tokens: `aide-soignant`) and the
    /// position of its first word in the group (stop words count).
    Word(Vec<Analysed>, usize),
    /// Anything else (phrase, prefix, alternatives, sub-query).
    Other(&'p Atom),
}

/// The licence category meant by the words typed after « permis »
/// (`C`, `ce`, `PL`, `poids lourd`…; `None`: « de conduire », any
/// category), and how many words it took.
fn licence_after_permis(next: &[&str]) -> Option<(Option<&'static str>, usize)> {
    use crate::referentials::certifications::LICENCES;
    let word = |i: usize| next.get(i).map(|w| fold(w));
    let first = word(0)?;
    if first == "de" {
        // « permis de conduire »; « de » is the category DE only in
        // capitals (« permis de travail » is no driving licence).
        if word(1).as_deref() == Some("conduire") {
            return Some((None, 2));
        }
        if next.first().is_some_and(|w| *w != "DE") {
            return None;
        }
    }
    if let Some(cat) = LICENCES.iter().find(|c| c.eq_ignore_ascii_case(&first)) {
        return Some((Some(cat), 1));
    }
    if first == "moto" {
        return Some((Some("A"), 1));
    }
    if first == "poids" && matches!(word(1).as_deref(), Some("lourd" | "lourds")) {
        return Some((Some("C"), 2));
    }
    licence_acronym(&first).map(|cat| (Some(cat), 1))
}

/// The licence category a vehicle acronym stands for, typed with or
/// without « permis » (`PL`: C, `SPL`: CE, `VL`: B); `folded` is the word
/// folded to lower case.
fn licence_acronym(folded: &str) -> Option<&'static str> {
    match folded {
        "pl" => Some("C"),
        "spl" => Some("CE"),
        "vl" => Some("B"),
        _ => None,
    }
}

static LEV1: LazyLock<LevenshteinAutomatonBuilder> =
    LazyLock::new(|| LevenshteinAutomatonBuilder::new(1, true));
static LEV2: LazyLock<LevenshteinAutomatonBuilder> =
    LazyLock::new(|| LevenshteinAutomatonBuilder::new(2, true));

/// The folded words of at least [`FUZZY_MIN_LETTERS`] letters of the ROME
/// labels and job titles, both genders (`soignante`, `serveuse`,
/// `preparatrice`): what a mistyped job word is corrected towards.
fn job_words() -> Option<&'static tantivy_fst::Map<Vec<u8>>> {
    static SET: LazyLock<Option<tantivy_fst::Map<Vec<u8>>>> = LazyLock::new(|| {
        let refs = crate::referentials::Referentials::global();
        let mut all: BTreeSet<String> = BTreeSet::new();
        for r in refs.rome_codes() {
            for text in std::iter::once(&r.label).chain(r.appellations.iter()) {
                for (_, w) in words(&fold(text)) {
                    if letters(w) >= FUZZY_MIN_LETTERS && !w.chars().any(char::is_numeric) {
                        all.insert(w.to_string());
                    }
                }
            }
        }
        // Sorted and distinct: the build fails on memory only.
        tantivy_fst::Map::from_iter(all.into_iter().map(|w| (w, 0u64)))
            .map_err(|e| tracing::warn!(error = %e, "job words for typos not built"))
            .ok()
    });
    SET.as_ref()
}

/// A Levenshtein DFA as an FST automaton.
struct Dfa<'a>(&'a DFA);

impl tantivy_fst::Automaton for Dfa<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// Every text of a parsed query (words, phrases, prefixes, alternatives),
/// sub-queries included.
fn for_each_text(q: &mut Parsed, f: &mut impl FnMut(&mut String)) {
    for c in &mut q.alternatives {
        for g in &mut c.groups {
            for item in &mut g.items {
                match &mut item.atom {
                    Atom::Word(t) | Atom::Phrase(t) | Atom::Prefix(t) => f(t),
                    Atom::Either(parts) => parts.iter_mut().for_each(&mut *f),
                    Atom::Sub(sub) => for_each_text(sub, f),
                }
            }
        }
    }
}

/// [`for_each_text`], reading only.
fn each_text(q: &Parsed, f: &mut impl FnMut(&str)) {
    for c in &q.alternatives {
        for g in &c.groups {
            for item in &g.items {
                match &item.atom {
                    Atom::Word(t) | Atom::Phrase(t) | Atom::Prefix(t) => f(t),
                    Atom::Either(parts) => parts.iter().for_each(|p| f(p)),
                    Atom::Sub(sub) => each_text(sub, f),
                }
            }
        }
    }
}

/// A query typed with caps lock on — no lower-case letter, and a word
/// longer than a short acronym (`MAX_SHORT_CAPS`) — read in lower case but
/// for the words of the acronym dictionary: `OUVRIER DE LA MAÇONNERIE`
/// asks what `ouvrier de la maçonnerie` asks (its `DE` and `LA` are stop
/// words, not short words in capitals such as a CV's `DES`), and `AIDE
/// SOIGNANTE DEAS` keeps `DEAS` an acronym. `None` when the query is not
/// shouted (`DES`, `CAP AS`, `aide DEAS` stay as typed).
fn unshouted(q: &Parsed, lexicon: &Lexicon) -> Option<Parsed> {
    // Most queries hold a lower-case letter: seen on the text, no copy.
    let (mut lower, mut long) = (false, false);
    each_text(q, &mut |t: &str| {
        for (_, w) in words(t) {
            lower |= w.chars().any(char::is_lowercase);
            long |= !w.chars().any(char::is_numeric)
                && w.chars().filter(|c| c.is_alphabetic()).count() > MAX_SHORT_CAPS;
        }
    });
    if lower || !long {
        return None;
    }
    let mut probe = q.clone();
    for_each_text(&mut probe, &mut |t: &mut String| {
        let mut out = String::with_capacity(t.len());
        let mut at = 0;
        for (from, w) in words(t) {
            out.push_str(&t[at..from]);
            if lexicon.acronym(&fold(w)).is_some() || w.chars().any(char::is_numeric) {
                out.push_str(w);
            } else {
                out.push_str(&w.to_lowercase());
            }
            at = from + w.len();
        }
        out.push_str(&t[at..]);
        *t = out;
    });
    Some(probe)
}

impl<'a> Builder<'a> {
    pub fn new(fields: &'a SearchFields, searcher: &'a Searcher) -> Builder<'a> {
        Builder {
            fields,
            searcher,
            lexicon: Lexicon::global(),
            highlight: BTreeSet::new(),
            expand: true,
            excluding: false,
            scattered: false,
            held_title: false,
            strictness: Strictness::Most,
            relaxable: false,
            loosenable: false,
            within: None,
        }
    }

    /// The search keeps only the documents of `bits` (its radius): the
    /// unions of a word's variants then score only those.
    pub fn within(mut self, bits: Option<Arc<SegmentBits>>) -> Builder<'a> {
        self.within = bits;
        self
    }

    /// Any of `qs`; under [`Builder::within`], each of them looking at the
    /// kept documents only (a union scores every document of its clauses).
    fn union(&self, qs: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
        match &self.within {
            Some(bits) if qs.len() > 1 => any_of(
                qs.into_iter()
                    .map(|q| {
                        if q.downcast_ref::<WithinQuery>().is_some() {
                            q
                        } else {
                            Box::new(WithinQuery::new(q, bits.clone())) as Box<dyn Query>
                        }
                    })
                    .collect(),
            ),
            _ => any_of(qs),
        }
    }

    /// How many words of each group of juxtaposed words a document needs
    /// (ranked by how many it has).
    pub fn strictness(mut self, strictness: Strictness) -> Builder<'a> {
        self.strictness = strictness;
        self
    }

    /// The tantivy query for a parsed query; `None` when nothing in it is
    /// searchable (blank, operators only, stop words only).
    pub fn build(mut self, q: &Parsed) -> Result<Option<Built>, SearchError> {
        let lowered = unshouted(q, self.lexicon);
        let q = lowered.as_ref().unwrap_or(q);
        self.expand = count_units(q) <= MAX_EXPANDED_UNITS;
        let query = self.query(q)?;
        Ok(query.map(|query| Built {
            query,
            highlight: self.highlight,
            relaxable: self.relaxable,
            loosenable: self.loosenable,
        }))
    }

    fn query(&mut self, q: &Parsed) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut alternatives = Vec::new();
        for c in &q.alternatives {
            if let Some(q) = self.conjunction(c)? {
                alternatives.push(q);
            }
        }
        Ok(self.union(alternatives))
    }

    fn conjunction(&mut self, c: &Conjunction) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut groups = Vec::new();
        for g in &c.groups {
            if let Some(q) = self.group(g)? {
                groups.push(q);
            }
        }
        Ok(all_of(groups))
    }

    fn group(&mut self, g: &Group) -> Result<Option<Box<dyn Query>>, SearchError> {
        let mut units: Vec<Unit<'_>> = Vec::new();
        let mut excluded: Vec<Box<dyn Query>> = Vec::new();
        let mut required: Vec<Box<dyn Query>> = Vec::new();
        let mut position = 0usize;
        let mut skip = 0usize;
        for (i, item) in g.items.iter().enumerate() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if let (false, Atom::Word(w), Some(_)) = (item.negated, &item.atom, self.fields.licence)
            {
                // « permis C »: holders of the licence, not the word « permis »
                // that most CVs hold (and a letter or « ce » that the text
                // analysis drops).
                let next: Vec<&str> = g.items[i + 1..]
                    .iter()
                    .take(2)
                    .map_while(|it| match (&it.atom, it.negated) {
                        (Atom::Word(w), false) => Some(w.as_str()),
                        _ => None,
                    })
                    .collect();
                if fold(w) == "permis" {
                    if let Some((cat, words_taken)) = licence_after_permis(&next) {
                        // A condition, not one more word to match: the
                        // group's other words never stand in for it.
                        required.extend(self.licence(cat));
                        skip = words_taken;
                        position += 2;
                        continue;
                    }
                }
            }
            if item.negated {
                // Exclusions match what was typed, nothing expanded.
                self.excluding = true;
                let q = match &item.atom {
                    Atom::Word(w) => Ok(self.typed_words(&analysed(w))),
                    other => self.other(other, false),
                };
                self.excluding = false;
                excluded.extend(q?);
                continue;
            }
            match &item.atom {
                // In no document ([`Builder::other`]), not a word to drop.
                Atom::Word(w) if has_unindexable_word(w) => {
                    units.push(Unit::Other(&item.atom));
                    position += 2;
                }
                Atom::Word(w) => {
                    let tokens = analysed(w);
                    if !tokens.is_empty() {
                        units.push(Unit::Word(tokens, position));
                    }
                    position += words(w).count();
                }
                other => {
                    units.push(Unit::Other(other));
                    // No phrase across a phrase, prefix or group.
                    position += 2;
                }
            }
        }
        // A group inside this one's parentheses sets its own, then gives
        // this one's back.
        let held = self.held_in_titles(&units);
        let outer = std::mem::replace(&mut self.held_title, held);
        let built = self.unit_clauses(&units);
        self.held_title = outer;
        let (mut clauses, phrase_tokens) = built?;
        let positive = match clauses.len() {
            0 => None,
            1 => clauses.pop(),
            n => {
                let most = min_match(n);
                self.relaxable |= most > 1;
                self.loosenable |= most < n;
                let least = match self.strictness {
                    Strictness::All => n,
                    Strictness::Most => most,
                    Strictness::One => 1,
                };
                Some(Box::new(SoftAndQuery::new(clauses, least)) as Box<dyn Query>)
            }
        };
        let Some(positive) = positive else {
            if excluded.is_empty() && required.is_empty() {
                return Ok(None);
            }
            let mut all: Vec<(Occur, Box<dyn Query>)> = match all_of(required) {
                Some(r) => vec![(Occur::Must, r)],
                None => vec![(Occur::Must, Box::new(AllQuery))],
            };
            all.extend(excluded.into_iter().map(|q| (Occur::MustNot, q)));
            if all.len() == 1 {
                return Ok(all.pop().map(|(_, q)| q));
            }
            return Ok(Some(Box::new(BooleanQuery::new(all))));
        };
        let title_phrase = match (self.fields.title_pairs, self.fields.title) {
            _ if !self.expand || phrase_tokens.len() < 2 => None,
            // Each consecutive pair of the typed words in a title.
            (Some(pairs), _) => all_of(
                phrase_tokens
                    .windows(2)
                    .map(|w| term_query(pairs, &pair(&w[0].1, &w[1].1)))
                    .collect(),
            ),
            (None, Some(title)) => Some(Box::new(PhraseQuery::new_with_offset(
                phrase_tokens
                    .iter()
                    .map(|(p, t)| (*p, Term::from_field_text(title, t)))
                    .collect(),
            )) as Box<dyn Query>),
            (None, None) => None,
        };
        let positive = match title_phrase {
            Some(q) => Box::new(BoostedQuery::new(
                positive,
                vec![boosted(q, W_TITLE_PHRASE)],
            )) as Box<dyn Query>,
            None => positive,
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, positive)];
        clauses.extend(required.into_iter().map(|q| (Occur::Must, q)));
        clauses.extend(excluded.into_iter().map(|q| (Occur::MustNot, q)));
        if clauses.len() == 1 {
            return Ok(clauses.pop().map(|(_, q)| q));
        }
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// The clauses of a group's units (spans of the thesaurus merged into
    /// one clause), and the typed word terms with consecutive positions
    /// (for the title phrase boost).
    #[allow(clippy::type_complexity)]
    fn unit_clauses(
        &mut self,
        units: &[Unit<'_>],
    ) -> Result<(Vec<Box<dyn Query>>, Vec<(usize, String)>), SearchError> {
        let spans = if self.expand {
            self.find_spans(units)
        } else {
            Vec::new()
        };
        let mut clauses = Vec::new();
        let mut phrase: Vec<(usize, String)> = Vec::new();
        let mut i = 0;
        while i < units.len() {
            if let Some(&(start, end, ref key)) = spans.iter().find(|s| s.0 == i) {
                let mut parts = Vec::new();
                let mut span_phrase = Vec::new();
                // Two words or more: the expression in a title is the
                // group's title phrase boost, so its words taken apart need
                // no title or name boost of their own (a lookup in each of
                // those fields for every document holding the words). A
                // one-word title keeps them.
                let words: usize = units[start..end]
                    .iter()
                    .map(|u| match u {
                        Unit::Word(tokens, _) => tokens.len(),
                        Unit::Other(_) => 0,
                    })
                    .sum();
                self.scattered = words >= 2;
                for u in &units[start..end] {
                    if let Unit::Word(tokens, at) = u {
                        add_phrase(&mut span_phrase, *at, tokens);
                        parts.extend(self.word_unit(tokens));
                    }
                }
                self.scattered = false;
                let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
                if span_phrase.len() >= 2 {
                    // The words of a known expression taken one by one rank
                    // below its synonyms (the expression itself in a job
                    // title is the title phrase boost of the group).
                    alternatives.extend(all_of(parts).map(|q| boosted(q, W_SCATTERED)));
                } else {
                    alternatives.extend(all_of(parts));
                }
                // The typed words are no synonym of themselves (`CACES`
                // is one of the synonyms of the expression it stands for).
                let typed: Vec<String> = span_phrase.iter().map(|(_, t)| t.clone()).collect();
                phrase.extend(span_phrase);
                alternatives.extend(self.entry_alternatives(key, &typed));
                alternatives.extend(self.short_form_alternatives(key, &typed));
                clauses.extend(self.union(alternatives));
                i = end;
                continue;
            }
            match &units[i] {
                Unit::Word(tokens, at) => {
                    add_phrase(&mut phrase, *at, tokens);
                    clauses.extend(self.word_unit(tokens));
                }
                Unit::Other(atom) => {
                    clauses.extend(self.other(atom, true)?);
                }
            }
            i += 1;
        }
        Ok((clauses, phrase))
    }

    /// Runs of word units whose terms (acronyms replaced by their first
    /// expansion) are a thesaurus entry, longest first, left to right:
    /// (first unit, end unit, key).
    fn find_spans(&self, units: &[Unit<'_>]) -> Vec<(usize, usize, Vec<String>)> {
        // Canonical terms of each word unit.
        let canonical: Vec<Option<Vec<String>>> = units
            .iter()
            .map(|u| match u {
                Unit::Word(tokens, _) => {
                    let terms: Vec<String> = tokens.iter().map(|t| t.term.clone()).collect();
                    let expanded = match tokens.as_slice() {
                        [t] if t.kind == Kind::Code => self
                            .lexicon
                            .entry(std::slice::from_ref(&t.term))
                            .and_then(|e| {
                                e.synonyms
                                    .iter()
                                    .find(|s| s.terms.len() > 1)
                                    .map(|s| s.terms.clone())
                            }),
                        _ => None,
                    };
                    Some(expanded.unwrap_or(terms))
                }
                Unit::Other(_) => None,
            })
            .collect();
        let max_terms = self.lexicon.max_key_terms();
        let mut spans = Vec::new();
        let mut i = 0;
        while i < units.len() {
            let mut found = None;
            let mut end = i;
            let mut key: Vec<String> = Vec::new();
            let mut candidates = Vec::new();
            while end < units.len() && end - i < MAX_SPAN_UNITS {
                let Some(terms) = &canonical[end] else { break };
                key.extend(terms.iter().cloned());
                end += 1;
                if key.len() > max_terms {
                    break;
                }
                candidates.push((end, key.clone()));
            }
            for (end, key) in candidates.into_iter().rev() {
                if self.lexicon.entry(&key).is_some() {
                    found = Some((i, end, key));
                    break;
                }
            }
            match found {
                Some(span) => {
                    i = span.1;
                    spans.push(span);
                }
                None => i += 1,
            }
        }
        spans
    }

    /// Synonyms, ROME titles and ROME codes of a thesaurus entry, but
    /// neither the entry itself nor the `typed` terms (searched already).
    fn entry_alternatives(&mut self, key: &[String], typed: &[String]) -> Vec<Box<dyn Query>> {
        let Some(entry) = self.lexicon.entry(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen: Vec<&[String]> = vec![key, typed];
        for syn in entry.synonyms.iter().take(MAX_SYNONYMS) {
            if seen.contains(&syn.terms.as_slice()) {
                continue;
            }
            seen.push(&syn.terms);
            out.extend(self.expansion(syn, W_SYNONYM));
        }
        for &code in entry.codes.iter().take(MAX_CODES) {
            let Some((rome, titles)) = self.lexicon.rome(code) else {
                continue;
            };
            if let Some(field) = self.fields.rome {
                out.push(Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, rome),
                        IndexRecordOption::Basic,
                    )),
                    ROME_CODE_SCORE,
                )));
            }
            // Every record holds a ROME code (the API requires one): the
            // code term above finds the holders of every title of the code.
            // The code's one-word titles (« routier », « camionneur ») are
            // also searched in the text, for records coded elsewhere; the
            // longer titles are left to the code (as phrases they cost more
            // than they find).
            for title in titles
                .iter()
                .filter(|t| t.terms.len() == 1 && !seen.contains(&t.terms.as_slice()))
                .take(MAX_ROME_EXPANSIONS)
            {
                out.extend(self.expansion(title, W_ROME_TITLE));
            }
        }
        out
    }

    /// The expression with a part of it written in its one-word short form
    /// (`chauffeur poids lourd` → `chauffeur pl`, the dictionary pairing
    /// « poids lourd » with « PL »): a title typed in full finds the titles
    /// that abbreviate it, as a synonym (unless that is how it was `typed`).
    fn short_form_alternatives(&mut self, key: &[String], typed: &[String]) -> Vec<Box<dyn Query>> {
        let mut forms: Vec<Vec<String>> = Vec::new();
        for start in 0..key.len() {
            for end in start + 2..=key.len() {
                if start == 0 && end == key.len() {
                    // The whole expression: its own synonyms already.
                    continue;
                }
                let Some(entry) = self.lexicon.entry(&key[start..end]) else {
                    continue;
                };
                // Only an acronym that stands for exactly this part (`pl`
                // for « poids lourd »; not `btp` for « travaux publics »).
                let lexicon = self.lexicon;
                let stands_for = |a: &str| {
                    lexicon.acronym(a).is_some()
                        && lexicon.entry(&[a.to_string()]).is_some_and(|e| {
                            e.synonyms
                                .iter()
                                .find(|s| s.terms.len() > 1)
                                .is_some_and(|s| s.terms.as_slice() == &key[start..end])
                        })
                };
                for short in entry
                    .synonyms
                    .iter()
                    .filter(|s| s.terms.len() == 1 && stands_for(&s.terms[0]))
                {
                    let mut form = key[..start].to_vec();
                    form.extend(short.terms.iter().cloned());
                    form.extend(key[end..].iter().cloned());
                    if form.as_slice() != typed && !forms.contains(&form) {
                        forms.push(form);
                    }
                }
            }
        }
        // Each word of the form in the text (as the words of the typed
        // expression count when found apart), below the typed words.
        let main = self.fields.main;
        forms
            .into_iter()
            .take(MAX_SYNONYMS)
            .filter_map(|terms| {
                self.highlight.extend(terms.iter().cloned());
                all_of(terms.iter().map(|t| term_query(main, t)).collect())
                    .map(|q| boosted(q, W_SYNONYM))
            })
            .collect()
    }

    /// An expansion on the main field: one term; several terms: each of
    /// their consecutive pairs in the word-pair field (term look-ups, stop
    /// words skipped), or without that field their terms in this order with
    /// their stop-word gaps, give or take [`EXPANSION_SLOP`].
    fn expansion(&mut self, phrase: &Phrase, weight: f32) -> Option<Box<dyn Query>> {
        let field = self.fields.main;
        self.highlight.extend(phrase.terms.iter().cloned());
        let q: Box<dyn Query> = match (phrase.terms.as_slice(), self.fields.pairs) {
            ([], _) => return None,
            ([t], _) => term_query(field, t),
            (terms, Some(pairs)) => all_of(
                terms
                    .windows(2)
                    .map(|w| term_query(pairs, &pair(&w[0], &w[1])))
                    .collect(),
            )?,
            (_, None) => {
                let mut q = PhraseQuery::new_with_offset(
                    phrase
                        .positions
                        .iter()
                        .zip(&phrase.terms)
                        .map(|(p, t)| (*p, Term::from_field_text(field, t)))
                        .collect(),
                );
                q.set_slop(EXPANSION_SLOP);
                Box::new(q)
            }
        };
        Some(boosted(q, weight))
    }

    /// A typed word: its terms (all required) with typo variants.
    fn word_unit(&mut self, tokens: &[Analysed]) -> Option<Box<dyn Query>> {
        let typed = self.typed_words(tokens)?;
        let mut alternatives = vec![typed];
        if let ([t], true) = (tokens, self.expand) {
            if t.kind == Kind::Code {
                // An acronym matches its own expansions even inside a
                // longer expression.
                if let Some(entry) = self.lexicon.entry(std::slice::from_ref(&t.term)) {
                    let syns: Vec<Phrase> =
                        entry.synonyms.iter().take(MAX_SYNONYMS).cloned().collect();
                    for s in &syns {
                        alternatives.extend(self.expansion(s, W_SYNONYM));
                    }
                }
                // `VL`, `PL` alone: also the holders of the licence, below
                // the CVs that write it.
                if let Some(cat) = licence_acronym(&t.folded) {
                    alternatives.extend(self.licence(Some(cat)).map(|q| boosted(q, W_SYNONYM)));
                }
            } else if letters(&t.folded) >= FUZZY_MIN_LETTERS && self.rare(&t.term) {
                for variant in self.typo_variants(t) {
                    self.highlight.insert(variant.clone());
                    alternatives.push(boosted(term_query(self.fields.main, &variant), W_FUZZY));
                }
            }
        }
        self.union(alternatives)
    }

    /// The typed terms of a word: one term (both forms of a word in
    /// capitals) over every text field and the exact fields; several
    /// terms all required.
    fn typed_words(&mut self, tokens: &[Analysed]) -> Option<Box<dyn Query>> {
        let parts: Vec<Box<dyn Query>> =
            tokens.iter().filter_map(|t| self.typed_token(t)).collect();
        let all = all_of(parts)?;
        if tokens.len() < 2 || self.excluding {
            return Some(all);
        }
        // Written as one (`aide-soignant`, `SSIAP1`): side by side ranks
        // first; apart still counts (`CACES R489 cat. 3` for `CACES3`).
        // Side by side is each consecutive pair in the word-pair field (a
        // term look-up each, as for expansions); without that field, a
        // phrase (positions read for every document holding the words).
        let adjacent: Box<dyn Query> = match self.fields.pairs {
            Some(pairs) => all_of(
                tokens
                    .windows(2)
                    .map(|w| term_query(pairs, &pair(&w[0].term, &w[1].term)))
                    .collect(),
            )?,
            None => Box::new(PhraseQuery::new_with_offset(
                tokens
                    .iter()
                    .map(|t| (t.position, Term::from_field_text(self.fields.main, &t.term)))
                    .collect(),
            )),
        };
        with_optional(all, vec![boosted(adjacent, W_ADJACENT)])
    }

    /// The word must be in the main field; a match in a title or name
    /// field adds to the score (one required posting list per word, the
    /// others only looked up for the documents it yields).
    fn typed_token(&mut self, t: &Analysed) -> Option<Box<dyn Query>> {
        let mut forms = vec![t.term.as_str()];
        if let Some(other) = &t.other {
            forms.push(other);
        }
        let mut required = Vec::new();
        let mut optional = Vec::new();
        // A word of an expression taken apart, or of a held title that is no
        // one-word title itself: the group's title pair boost covers it.
        let title_word = || self.lexicon.entry(std::slice::from_ref(&t.term)).is_some();
        let own_boosts = !(self.scattered || (self.held_title && !title_word()));
        if self.excluding {
            return self.union(
                forms
                    .iter()
                    .map(|f| term_query(self.fields.main, f))
                    .collect(),
            );
        }
        for form in forms {
            self.highlight.insert(form.to_string());
            required.push(term_query(self.fields.main, form));
            if !own_boosts {
                continue;
            }
            for &(field, boost) in &self.fields.boosts {
                optional.push(boosted(term_query(field, form), boost));
            }
        }
        if own_boosts {
            for &(field, boost) in &self.fields.exact {
                optional.push(boosted(term_query(field, &t.folded), boost));
            }
        }
        with_optional(self.union(required)?, optional)
    }

    /// Phrases, prefixes, alternatives and sub-queries.
    fn other(&mut self, atom: &Atom, expand: bool) -> Result<Option<Box<dyn Query>>, SearchError> {
        Ok(match atom {
            // A word too long to be indexed is in no document.
            Atom::Word(w) if has_unindexable_word(w) => Some(Box::new(EmptyQuery)),
            Atom::Word(w) => {
                let tokens = analysed(w);
                if expand {
                    self.word_unit(&tokens)
                } else {
                    self.typed_words(&tokens)
                }
            }
            Atom::Phrase(p) if has_unindexable_word(p) => Some(Box::new(EmptyQuery)),
            Atom::Phrase(p) => self.phrase(p),
            Atom::Either(parts) if parts.iter().all(|p| has_unindexable_word(p)) => {
                Some(Box::new(EmptyQuery))
            }
            Atom::Either(parts) => {
                let mut qs = Vec::new();
                for p in parts.iter().filter(|p| !has_unindexable_word(p)) {
                    let tokens = analysed(p);
                    qs.extend(if expand {
                        self.word_unit(&tokens)
                    } else {
                        self.typed_words(&tokens)
                    });
                }
                self.union(qs)
            }
            Atom::Prefix(p) => self.prefix(p)?,
            Atom::Sub(q) => self.query(q)?,
        })
    }

    /// A quoted phrase: its terms in order (stop-word gaps kept) in the
    /// text fields.
    fn phrase(&mut self, text: &str) -> Option<Box<dyn Query>> {
        let tokens = analysed(text);
        if tokens.len() < 2 {
            return self.typed_words(&tokens);
        }
        let phrase_in = |field: Field| -> Box<dyn Query> {
            Box::new(PhraseQuery::new_with_offset(
                tokens
                    .iter()
                    .map(|t| (t.position, Term::from_field_text(field, &t.term)))
                    .collect(),
            ))
        };
        let required = phrase_in(self.fields.main);
        let optional: Vec<Box<dyn Query>> = self
            .fields
            .boosts
            .iter()
            .map(|&(field, boost)| boosted(phrase_in(field), boost))
            .collect();
        self.highlight.extend(tokens.iter().map(|t| t.term.clone()));
        with_optional(required, optional)
    }

    /// `cari*`: the most frequent terms of the main field starting with the
    /// folded prefix.
    fn prefix(&mut self, prefix: &str) -> Result<Option<Box<dyn Query>>, SearchError> {
        // `aide-soi*`, `l'entrep*`: what comes before the last hyphen or
        // apostrophe is typed words (an elision is nothing), the rest the
        // prefix.
        if let Some((i, c)) = prefix.char_indices().rev().find(|(_, c)| !is_word_char(*c)) {
            if has_unindexable_word(&prefix[..i]) {
                return Ok(Some(Box::new(EmptyQuery)));
            }
            return self.typed_then_prefix(&prefix[..i], &prefix[i + c.len_utf8()..]);
        }
        // `ssiap1*`: the index holds `ssiap` and `1`; the words before the
        // last are typed, the last is the prefix (all typed when it is too
        // short to be one).
        let parts: Vec<(usize, &str)> = words(prefix).collect();
        if let [.., (last, rest)] = parts[..] {
            if last > 0 && rest.chars().count() < 2 {
                return Ok(self.typed_words(&analysed(prefix)));
            }
            if last > 0 {
                return self.typed_then_prefix(&prefix[..last], rest);
            }
        }
        let p: String = fold(prefix)
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        if p.chars().count() < 2 {
            return Ok(None);
        }
        let terms = prefix_terms(self.searcher, self.fields.main, &p, MAX_PREFIX_TERMS)?;
        if terms.is_empty() {
            // A prefix of no indexed word: it finds nothing (dropping it
            // would find everything else).
            return Ok(Some(Box::new(EmptyQuery)));
        }
        let qs: Vec<Box<dyn Query>> = terms
            .iter()
            .map(|t| boosted(term_query(self.fields.main, t), W_PREFIX))
            .collect();
        self.highlight.extend(terms);
        Ok(self.union(qs))
    }

    /// `head` as typed words and `rest` as a prefix, both required (either
    /// alone when the other gives nothing).
    fn typed_then_prefix(
        &mut self,
        head: &str,
        rest: &str,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        let head = self.typed_words(&analysed(head));
        let rest = self.prefix(rest)?;
        Ok(match (head, rest) {
            (Some(w), Some(r)) => all_of(vec![w, r]),
            (w, r) => w.or(r),
        })
    }

    /// « permis `cat` »: holders (or offers requiring it), a constant
    /// score; `None`: any category (« permis de conduire »).
    fn licence(&self, cat: Option<&str>) -> Option<Box<dyn Query>> {
        use crate::referentials::certifications::LICENCES;
        let (field, how) = self.fields.licence?;
        let cats: Vec<&str> = match cat {
            Some(c) => vec![c],
            None => LICENCES.to_vec(),
        };
        let mut terms: Vec<String> = Vec::new();
        for cat in cats {
            match how {
                LicenceTerms::Held => {
                    let code = crate::referentials::certifications::licence_code(cat);
                    let mut granting =
                        crate::referentials::Certifications::global().granting(&code);
                    if granting.is_empty() {
                        granting.push(code);
                    }
                    terms.extend(granting);
                }
                LicenceTerms::Required => terms.push(cat.to_string()),
            }
        }
        terms.sort_unstable();
        terms.dedup();
        let mut any: Vec<Box<dyn Query>> = terms
            .iter()
            .map(|t| {
                Box::new(TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>
            })
            .collect();
        // Or a text that says it (« Permis CE » in a CV whose licences were
        // never recorded): « permis » and the category (as a code) in the
        // searchable text.
        if let Some(cat) = cat {
            let words: Vec<Box<dyn Query>> = analysed("permis")
                .into_iter()
                .chain(analysed(&cat.to_uppercase()))
                .map(|a| term_query(self.fields.main, &a.term))
                .collect();
            if words.len() == 2 {
                any.extend(all_of(words));
            }
        }
        let q = self.union(any)?;
        Some(Box::new(ConstScoreQuery::new(q, ROME_CODE_SCORE)))
    }

    /// Whether the typed words of a group (two or more) read as a job
    /// title that people hold: each consecutive pair of them is in the
    /// title word-pair field of some document.
    fn held_in_titles(&self, units: &[Unit<'_>]) -> bool {
        let Some(pairs) = self.fields.title_pairs else {
            return false;
        };
        if !self.expand {
            return false;
        }
        let terms: Vec<&str> = units
            .iter()
            .flat_map(|u| match u {
                Unit::Word(tokens, _) => tokens.iter().map(|t| t.term.as_str()).collect(),
                Unit::Other(_) => Vec::new(),
            })
            .collect();
        terms.len() >= 2
            && terms.windows(2).all(|w| {
                self.searcher
                    .doc_freq(&Term::from_field_text(pairs, &pair(w[0], w[1])))
                    .unwrap_or(0)
                    > 0
            })
    }

    /// Whether a term is rare enough in the main field to look for typos
    /// (a word that finds little is the one likely mistyped; a frequent
    /// word is left alone, which also keeps common queries fast).
    fn rare(&self, term: &str) -> bool {
        let df = self
            .searcher
            .doc_freq(&Term::from_field_text(self.fields.main, term))
            .unwrap_or(0);
        let threshold = (self.searcher.num_docs() / FUZZY_RARE_FRACTION).max(FUZZY_RARE_MIN);
        df <= threshold
    }

    /// What a rare typed word may have been meant as: the terms of the
    /// main field one typo away from its term (two for long words), and
    /// the terms of the job words one typo away from the word as typed
    /// ([`job_words`]: a typo can defeat the stemmer, `soigante` stems to
    /// `soig` and `preparatrise` to `preparatris`, far from `soign` and
    /// `prepar`), those found in the index, the most frequent first. A
    /// word that begins job words (`compta`, `manut`) is a short form: their
    /// terms instead.
    fn typo_variants(&self, t: &Analysed) -> Vec<String> {
        // The beginning of a job word (`compta`, `manut`) is a short form,
        // not a typo: its completions only (« y compris » is no `compta`).
        let mut upper = t.folded.as_bytes().to_vec();
        upper.push(0xFF);
        let completions: Vec<String> = job_words()
            .map(|w| {
                let mut out = Vec::new();
                let mut stream = w.range().ge(t.folded.as_bytes()).lt(&upper).into_stream();
                while let Some((word, _)) = stream.next() {
                    if let Ok(word) = std::str::from_utf8(word) {
                        out.push(word.to_string());
                    }
                }
                out
            })
            .unwrap_or_default();
        let mut found: HashMap<String, u64> = HashMap::new();
        if !completions.is_empty() {
            self.add_found_terms(t, completions.iter().map(String::as_str), &mut found);
        } else {
            if fuzzy_letters(t) >= FUZZY_MIN_LETTERS {
                for term in self.fuzzy_terms(&t.term, fuzzy_letters(t)) {
                    found.insert(term, u64::MAX);
                }
            }
            let builder = if letters(&t.folded) >= FUZZY_TWO_EDITS_LETTERS {
                &*LEV2
            } else {
                &*LEV1
            };
            let dfa = builder.build_dfa(&t.folded);
            let mut words = Vec::new();
            let mut stream = job_words().map(|w| w.search(Dfa(&dfa)).into_stream());
            while let Some((word, _)) = stream.as_mut().and_then(|s| s.next()) {
                if let Ok(word) = std::str::from_utf8(word) {
                    words.push(word.to_string());
                }
            }
            self.add_found_terms(t, words.iter().map(String::as_str), &mut found);
        }
        let mut terms: Vec<(String, u64)> = found.into_iter().collect();
        terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(MAX_FUZZY_TERMS);
        terms.into_iter().map(|(t, _)| t).collect()
    }

    /// Adds to `found` the analysed terms of `words` that the main field
    /// holds (with their document frequency), other than `t`'s own.
    fn add_found_terms<'w>(
        &self,
        t: &Analysed,
        words: impl Iterator<Item = &'w str>,
        found: &mut HashMap<String, u64>,
    ) {
        for word in words {
            for a in analysed(word) {
                if a.term == t.term || found.contains_key(&a.term) {
                    continue;
                }
                let df = self
                    .searcher
                    .doc_freq(&Term::from_field_text(self.fields.main, &a.term))
                    .unwrap_or(0);
                if df > 0 {
                    found.insert(a.term, df);
                }
            }
        }
    }

    /// Terms of the main field one typo away (two for long words), the
    /// most frequent first, the term itself excluded.
    fn fuzzy_terms(&self, term: &str, word_letters: usize) -> Vec<String> {
        let builder = if word_letters >= FUZZY_TWO_EDITS_LETTERS {
            &*LEV2
        } else {
            &*LEV1
        };
        let mut found: HashMap<String, u64> = HashMap::new();
        let dfa = builder.build_dfa(term);
        for reader in self.searcher.segment_readers() {
            let Ok(inverted) = reader.inverted_index(self.fields.main) else {
                continue;
            };
            let Ok(mut stream) = inverted.terms().search(Dfa(&dfa)).into_stream() else {
                continue;
            };
            let mut seen = 0usize;
            while stream.advance() && seen < 1000 {
                seen += 1;
                let key = stream.key();
                if key == term.as_bytes() {
                    continue;
                }
                if let Ok(t) = std::str::from_utf8(key) {
                    *found.entry(t.to_string()).or_insert(0) += u64::from(stream.value().doc_freq);
                }
            }
        }
        let mut terms: Vec<(String, u64)> = found.into_iter().collect();
        terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(MAX_FUZZY_TERMS);
        terms.into_iter().map(|(t, _)| t).collect()
    }
}

/// The length a word's typo tolerance is decided on: the letters of its
/// term as well as the word's, as variants are looked for around the term
/// (the stem: `Tours` is `tour`, four letters, where one typo already
/// reaches `jour` and `cour`).
fn fuzzy_letters(t: &Analysed) -> usize {
    letters(&t.term).min(letters(&t.folded))
}

/// Appends a word's terms to the phrase of typed words, at their position
/// in the group (stop words keep their gaps, as in the index).
fn add_phrase(phrase: &mut Vec<(usize, String)>, at: usize, tokens: &[Analysed]) {
    for t in tokens {
        phrase.push((at + t.position, t.term.clone()));
    }
}

/// Number of units of a query (words, phrases, prefixes…), recursively.
fn count_units(q: &Parsed) -> usize {
    q.alternatives
        .iter()
        .flat_map(|c| &c.groups)
        .flat_map(|g| &g.items)
        .map(|i| match &i.atom {
            Atom::Sub(s) => count_units(s),
            _ => 1,
        })
        .sum()
}

/// Terms of `field` starting with `prefix`, over all segments, the `max`
/// with the highest document frequency.
pub(crate) fn prefix_terms(
    searcher: &Searcher,
    field: Field,
    prefix: &str,
    max: usize,
) -> Result<Vec<String>, SearchError> {
    let mut upper = prefix.as_bytes().to_vec();
    upper.push(0xFF);
    let mut found: HashMap<String, u64> = HashMap::new();
    for reader in searcher.segment_readers() {
        let inverted = reader.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .lt(&upper)
            .into_stream()?;
        // Bounded walk: a short prefix in a large vocabulary stops here.
        let mut seen = 0usize;
        while stream.advance() && seen < 10_000 {
            seen += 1;
            if let Ok(t) = std::str::from_utf8(stream.key()) {
                *found.entry(t.to_string()).or_insert(0) += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut terms: Vec<(String, u64)> = found.into_iter().collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    terms.truncate(max);
    Ok(terms.into_iter().map(|(t, _)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_looked_for_on_words_and_stems_of_five_letters() {
        let letters_of = |w: &str| fuzzy_letters(&analysed(w)[0]);
        // `Tours` stems to `tour`: one typo away are `jour` and `cour`.
        assert_eq!(letters_of("Tours"), 4);
        assert_eq!(letters_of("tonte"), 4);
        assert!(letters_of("electricein") >= FUZZY_TWO_EDITS_LETTERS);
        assert!(letters_of("soudeur") >= FUZZY_MIN_LETTERS);
    }

    #[test]
    fn min_match_table() {
        assert_eq!(
            (1..=8).map(min_match).collect::<Vec<_>>(),
            vec![1, 1, 2, 3, 4, 5, 6, 6]
        );
    }
}
