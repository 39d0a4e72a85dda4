//! French text analysis, the same for documents and queries.
//!
//! One pass per text (registered as the tantivy tokenizer `"fr"`):
//!
//! 1. **Split** on anything that is not a letter or a digit: hyphens and
//!    apostrophes separate words, so `l'entrepôt` gives `l` + `entrepôt`
//!    and the elided article is then a stop word (French elision: `l'`,
//!    `d'`, `qu'`, `j'`, `n'`, `s'`, `c'`, `m'`, `t'`, `jusqu'`…). Every
//!    word, dropped or not, takes a position, so phrases keep their gaps.
//! 2. **Fold** case and accents (`Sécurité`, `SECURITE`, `securite` →
//!    `securite`; `œ` → `oe`) *before* anything else, so that accented and
//!    unaccented spellings, and CVs typed in capitals, always meet.
//! 3. **Codes and acronyms** are kept as they are, never stemmed: words with
//!    a digit (`R489`, `B1V`, `C1E`), words of the acronym dictionary
//!    ([`super::lexicon`]: `DEAS`, `CACES`, `PL`…; the ambiguous ones such as
//!    `AS` or `CAP` only when written in capitals), and short words written
//!    in capitals (`DES`), for which the stemmed form is indexed too.
//! 4. **Stop words** (French articles, pronouns, prepositions, auxiliaries)
//!    are dropped: they are never required.
//! 5. **Gender and participles**: feminine job forms are brought to the
//!    masculine (`conductrice` → `conducteur`, `vendeuse` → `vendeur`,
//!    `caissière` → `caissier`, `diplômée` → `diplômé`), then
//! 6. **Stem** with the French Snowball stemmer (on folded text, the same
//!    way for every spelling).
//!
//! Words written entirely in capitals and longer than four letters are
//! indexed both stemmed and as written (a CV typed in capitals still meets
//! lower-case queries). Tokens longer than 40 bytes are dropped.
//!
//! `"fr_exact"` (names) splits and folds only.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer, TokenizerManager};
use unicode_normalization::UnicodeNormalization;

use super::lexicon::Lexicon;

/// Name of the French analyzer (documents and queries).
pub const FR: &str = "fr";
/// Name of the analyzer without stemming nor stop words (names).
pub const FR_EXACT: &str = "fr_exact";
/// Name of the analyzer of word pairs: each analysed term joined to the
/// next one (stop words skipped), `conducteur poid` `poid lourd`: a
/// multi-word expression is then found with term look-ups, without reading
/// positions.
pub const FR_PAIRS: &str = "fr_pairs";

/// Tokens longer than this (in bytes) are dropped (base64 blobs, URLs...).
const MAX_TOKEN_BYTES: usize = 40;
/// Short capitalised words (`DES`, `AS`) up to this many letters are
/// treated as possible acronyms.
pub(crate) const MAX_SHORT_CAPS: usize = 4;
/// Shortest word the gender and participle endings touch.
const GENDER_MIN_CHARS: usize = 5;

/// French stop words, folded (Snowball's list, folded, with `a`, `est`
/// and the elided forms `jusqu`, `lorsqu`, `puisqu`, `quoiqu`).
const STOP_WORDS: &[&str] = &[
    "a", "ai", "aie", "aient", "aies", "ait", "au", "aura", "aurai", "auraient", "aurais",
    "aurait", "auras", "aurez", "auriez", "aurions", "aurons", "auront", "aux", "avaient", "avais",
    "avait", "avec", "avez", "aviez", "avions", "avons", "ayant", "ayez", "ayons", "c", "ce",
    "ceci", "cela", "ces", "cet", "cette", "d", "dans", "de", "des", "du", "elle", "elles", "en",
    "es", "est", "et", "etaient", "etais", "etait", "etant", "etee", "etees", "etes", "etiez",
    "etions", "eu", "eue", "eues", "eumes", "eurent", "eus", "eusse", "eussent", "eusses",
    "eussiez", "eussions", "eut", "eutes", "eux", "fumes", "furent", "fus", "fusse", "fussent",
    "fusses", "fussiez", "fussions", "fut", "futes", "ici", "il", "ils", "j", "je", "jusqu", "l",
    "la", "le", "les", "leur", "leurs", "lorsqu", "lui", "m", "ma", "mais", "me", "meme", "mes",
    "moi", "mon", "n", "ne", "nos", "notre", "nous", "on", "ont", "ou", "par", "pas", "pour",
    "puisqu", "qu", "que", "quel", "quelle", "quelles", "quels", "qui", "quoiqu", "s", "sa",
    "sans", "se", "sera", "serai", "seraient", "serais", "serait", "seras", "serez", "seriez",
    "serions", "serons", "seront", "ses", "soi", "soient", "sois", "soit", "sommes", "son", "sont",
    "soyez", "soyons", "suis", "sur", "t", "ta", "te", "tes", "toi", "ton", "tu", "un", "une",
    "vos", "votre", "vous", "y",
];

/// Whether a folded word is a French stop word.
pub(crate) fn is_stop_word(folded: &str) -> bool {
    STOP_WORDS.binary_search(&folded).is_ok()
}

/// Feminine job-title endings and feminine participles, folded, with their
/// masculine forms (longest first).
const GENDER_ENDINGS: &[(&str, &str)] = &[
    ("trices", "teurs"),
    ("trice", "teur"),
    ("euses", "eurs"),
    ("euse", "eur"),
    ("iennes", "iens"),
    ("ienne", "ien"),
    ("ieres", "iers"),
    ("iere", "ier"),
    ("onnes", "ons"),
    ("onne", "on"),
    ("eres", "ers"),
    ("ere", "er"),
    ("ives", "ifs"),
    ("ive", "if"),
    ("ees", "es"),
    ("ee", "e"),
];

/// A folded feminine form brought to the masculine (`conductrice` →
/// `conducteur`, `diplomee` → `diplome`); `None` when nothing applies.
pub fn fold_gender(word: &str) -> Option<String> {
    if word.chars().count() < GENDER_MIN_CHARS {
        return None;
    }
    GENDER_ENDINGS.iter().find_map(|(fem, masc)| {
        word.strip_suffix(fem)
            .filter(|stem| stem.chars().count() >= 2)
            .map(|stem| format!("{stem}{masc}"))
    })
}

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::French));

/// Lower case without accents: `Œuvre` → `oeuvre`, `ÉLÉCTRICIEN` →
/// `electricien`.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(word.len());
    for c in word.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        for lc in c.to_lowercase() {
            match lc {
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                'ß' => out.push_str("ss"),
                other => out.push(other),
            }
        }
    }
    out
}

/// The stem of a folded word (gender folded first).
pub fn stem(folded: &str) -> String {
    match fold_gender(folded) {
        Some(m) => STEMMER.stem(&m).into_owned(),
        None => STEMMER.stem(folded).into_owned(),
    }
}

/// How a word is indexed and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A code or acronym: kept as written (folded), never stemmed.
    Code,
    /// A short word in capitals (`DES`, `AIDE`): indexed both as written
    /// and stemmed; a query in capitals asks for it as written.
    ShortCaps,
    /// A longer word in capitals (`CARISTE`): both forms; queries use both.
    Shout,
    /// An ordinary word: stemmed.
    Word,
}

/// One word of a text with its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysed {
    /// Position of the word in the text (stop words count).
    pub position: usize,
    /// Byte offsets in the text.
    pub from: usize,
    pub to: usize,
    /// The word folded (lower case, no accents), as written otherwise.
    pub folded: String,
    pub kind: Kind,
    /// The indexed term (stem, or the folded code).
    pub term: String,
    /// A second term at the same position (the other form of a word in
    /// capitals), when different.
    pub other: Option<String>,
}

/// Classifies a word and computes its terms; `None` for a stop word.
fn analyse_word(
    raw: &str,
    folded: String,
    lexicon: &Lexicon,
) -> Option<(Kind, String, Option<String>)> {
    let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
    let has_digit = raw.chars().any(|c| c.is_numeric());
    let caps = letters >= 2 && !raw.chars().any(char::is_lowercase);
    if has_digit {
        return Some((Kind::Code, folded, None));
    }
    if let Some(acronym) = lexicon.acronym(&folded) {
        if caps || !acronym.ambiguous {
            return Some((Kind::Code, folded, None));
        }
    }
    if caps && letters <= MAX_SHORT_CAPS {
        let s = stem(&folded);
        let other = (s != folded).then_some(s);
        return Some((Kind::ShortCaps, folded, other));
    }
    if is_stop_word(&folded) {
        return None;
    }
    let s = stem(&folded);
    if caps {
        let other = (s != folded).then(|| folded.clone());
        return Some((Kind::Shout, s, other));
    }
    Some((Kind::Word, s, None))
}

/// A character of a word: a letter or digit, or a combining mark within a
/// word (`é` typed as `e` + U+0301, which [`fold`] then drops).
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
}

/// Whether `text` holds a word too long to be indexed: such a word is in
/// no document, so a query asking for it finds nothing (rather than
/// being dropped, which would leave the rest of the query, or nothing).
pub(crate) fn has_unindexable_word(text: &str) -> bool {
    words(text).any(|(_, w)| w.len() > MAX_TOKEN_BYTES)
}

/// Letters a word must start with for digits written right after them to
/// be a word of their own (`CACES3` is `CACES 3`, `SSIAP1` is `SSIAP 1`;
/// `R489`, `B1V`, `F1602` stay codes).
const MIN_LETTERS_BEFORE_NUMBER: usize = 3;

/// Runs of letters and digits (with their combining marks) of `text` with
/// their byte offsets. A number written right after a word of at least
/// [`MIN_LETTERS_BEFORE_NUMBER`] letters starts a word of its own.
pub(crate) fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start: Option<usize> = None;
    // Letters of the current word while it holds letters only.
    let mut letters = 0usize;
    let mut chars = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (i, c) in chars.by_ref() {
            if c.is_alphanumeric() {
                let Some(s) = start else {
                    start = Some(i);
                    letters = usize::from(c.is_alphabetic());
                    continue;
                };
                if c.is_alphabetic() {
                    if letters > 0 {
                        letters += 1;
                    }
                } else if std::mem::take(&mut letters) >= MIN_LETTERS_BEFORE_NUMBER {
                    // `caces|3`: the number is the next word.
                    start = Some(i);
                    return Some((s, &text[s..i]));
                }
            } else if start.is_some() && unicode_normalization::char::is_combining_mark(c) {
                // A mark continues the word it follows (never starts one).
            } else if let Some(s) = start.take() {
                return Some((s, &text[s..i]));
            }
        }
        None
    })
}

/// Analyses a text the way documents and queries are indexed.
pub(crate) fn analyse(text: &str, out: &mut Vec<Analysed>) {
    analyse_with(text, Lexicon::global(), out);
}

/// [`analyse`] with an explicit acronym dictionary (used while the
/// thesaurus itself is being built).
pub(crate) fn analyse_with(text: &str, lexicon: &Lexicon, out: &mut Vec<Analysed>) {
    for (position, (from, raw)) in words(text).enumerate() {
        if raw.len() > MAX_TOKEN_BYTES {
            continue;
        }
        let folded = fold(raw);
        if let Some((kind, term, other)) = analyse_word(raw, folded.clone(), lexicon) {
            out.push(Analysed {
                position,
                from,
                to: from + raw.len(),
                folded,
                kind,
                term,
                other,
            });
        }
    }
}

/// The analysis of a text, as a vector.
pub(crate) fn analysed(text: &str) -> Vec<Analysed> {
    let mut out = Vec::new();
    analyse(text, &mut out);
    out
}

/// The indexed terms of a text (both forms of words in capitals), in
/// order; for tests and for explaining matches.
pub fn analyze(analyzer: &str, text: &str) -> Vec<String> {
    if analyzer == FR_EXACT {
        return words(text)
            .filter(|(_, w)| w.len() <= MAX_TOKEN_BYTES)
            .map(|(_, w)| fold(w))
            .collect();
    }
    analysed(text)
        .into_iter()
        .flat_map(|a| std::iter::once(a.term).chain(a.other))
        .collect()
}

// ---------------------------------------------------------------------------
// tantivy glue

/// The `"fr"` and `"fr_exact"` tokenizers.
#[derive(Clone, Default)]
pub struct FrenchTokenizer {
    mode: Mode,
    tokens: Vec<Token>,
}

/// What a [`FrenchTokenizer`] emits.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    /// Analysed terms (`"fr"`).
    #[default]
    Terms,
    /// Folded words (`"fr_exact"`).
    Exact,
    /// Pairs of consecutive analysed terms (`"fr_pairs"`).
    Pairs,
}

/// The pair term of two consecutive analysed terms.
pub(crate) fn pair(a: &str, b: &str) -> String {
    format!("{a} {b}")
}

/// The token stream over a tokenized text.
pub struct FrenchTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl Tokenizer for FrenchTokenizer {
    type TokenStream<'a> = FrenchTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> FrenchTokenStream<'a> {
        self.tokens.clear();
        if self.mode == Mode::Pairs {
            let mut buf = Vec::new();
            analyse(text, &mut buf);
            for w in buf.windows(2) {
                self.tokens.push(Token {
                    offset_from: w[0].from,
                    offset_to: w[1].to,
                    position: w[1].position,
                    text: pair(&w[0].term, &w[1].term),
                    position_length: 1,
                });
            }
        } else if self.mode == Mode::Exact {
            for (position, (from, raw)) in words(text).enumerate() {
                if raw.len() <= MAX_TOKEN_BYTES {
                    self.tokens.push(Token {
                        offset_from: from,
                        offset_to: from + raw.len(),
                        position,
                        text: fold(raw),
                        position_length: 1,
                    });
                }
            }
        } else {
            let mut buf = Vec::new();
            analyse(text, &mut buf);
            for a in buf {
                let token = |text: String| Token {
                    offset_from: a.from,
                    offset_to: a.to,
                    position: a.position,
                    text,
                    position_length: 1,
                };
                self.tokens.push(token(a.term));
                if let Some(other) = a.other {
                    self.tokens.push(token(other));
                }
            }
        }
        FrenchTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for FrenchTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Registers `"fr"` and `"fr_exact"` in a tokenizer manager (an index's
/// `index.tokenizers()`).
pub fn register_analyzers(manager: &TokenizerManager) {
    manager.register(FR, FrenchTokenizer::default());
    manager.register(
        FR_EXACT,
        FrenchTokenizer {
            mode: Mode::Exact,
            tokens: Vec::new(),
        },
    );
    manager.register(
        FR_PAIRS,
        FrenchTokenizer {
            mode: Mode::Pairs,
            tokens: Vec::new(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(s: &str) -> Vec<String> {
        analyze(FR, s)
    }

    #[test]
    fn stop_words_are_sorted() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn accents_and_case_always_meet() {
        for (a, b) in [
            ("sécurité", "securite"),
            ("électricité", "electricite"),
            ("diplômée", "diplomee"),
            ("diplômée", "diplômé"),
            ("Électriciens", "electricien"),
            ("ÉLECTRICIENNE", "électricien"),
            ("SECURITE", "sécurité"),
            ("CARISTES", "cariste"),
            ("Maçonne", "macon"),
            ("entrepôt", "ENTREPOTS"),
        ] {
            let (x, y) = (fr(a), fr(b));
            assert!(x.iter().any(|t| y.contains(t)), "{a} {x:?} / {b} {y:?}");
        }
    }

    #[test]
    fn feminine_job_titles_meet_masculine_ones() {
        for (f, m) in [
            ("conductrice", "conducteur"),
            ("Conductrices", "conducteurs"),
            ("vendeuse", "vendeur"),
            ("caissière", "caissier"),
            ("électricienne", "électricien"),
            ("animatrice", "animateur"),
            ("ouvrière", "ouvrier"),
            ("employée", "employé"),
        ] {
            assert_eq!(fr(f), fr(m), "{f} / {m}");
        }
        assert_eq!(fold_gender("mere"), None);
    }

    #[test]
    fn acronyms_codes_elision_stop_words() {
        // DEAS is not stemmed into "de" (a stop word); DES stays DES.
        assert_eq!(fr("DEAS"), ["deas"]);
        assert_eq!(fr("deas"), ["deas"]);
        assert_ne!(fr("DES"), fr("DEAS"));
        assert!(fr("des").is_empty());
        assert_eq!(fr("R489 B1V c1e"), ["r489", "b1v", "c1e"]);
        assert_eq!(fr("CACES"), ["caces"]);
        // A number right after a word of three letters or more is a word
        // of its own; codes keep their digits.
        assert_eq!(fr("CACES3"), fr("CACES 3"));
        assert_eq!(fr("ssiap1"), fr("ssiap 1"));
        assert_eq!(
            fr("R489 AB12 3ème CAT3B"),
            ["r489", "ab12", "3eme", "cat", "3b"]
        );
        let w: Vec<_> = words("CACES3, e\u{301}te\u{301}2 x").collect();
        assert_eq!(
            w,
            [
                (0, "CACES"),
                (5, "3"),
                (8, "e\u{301}te\u{301}"),
                (15, "2"),
                (17, "x")
            ]
        );
        // Elision and stop words.
        assert_eq!(fr("l'entrepôt"), fr("entrepôt"));
        assert_eq!(fr("d’entretien"), fr("entretien"));
        assert_eq!(fr("vendeuse en boulangerie"), fr("vendeuse boulangerie"));
        // Positions keep the gaps of dropped words.
        let a = analysed("agent d'entretien");
        assert_eq!(a.iter().map(|t| t.position).collect::<Vec<_>>(), vec![0, 2]);
        // Long tokens are dropped.
        assert!(fr(&"x".repeat(60)).is_empty());
        // fr_exact folds only.
        assert_eq!(
            analyze(FR_EXACT, "Hélène CARISTES de"),
            ["helene", "caristes", "de"]
        );
    }
}
