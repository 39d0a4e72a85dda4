//! The search box's query language, parsed without tantivy's grammar.
//!
//! What a counsellor types is read as French writing first and as syntax
//! only where it is unambiguous:
//!
//! | typed | meaning |
//! |---|---|
//! | `cariste caces` | words: all should match; a document missing one of several words still ranks, lower |
//! | `"service en salle"` | a phrase (an unbalanced `"` is an ordinary character) |
//! | `-nuit`, `SAUF nuit`, `NOT nuit` | exclusion |
//! | `a OU b`, `a OR b` | either side (lowest precedence: `auxiliaire de vie OU aide à domicile`) |
//! | `a ET b`, `a AND b` | both sides required |
//! | `( … )` | grouping, only when balanced (otherwise ordinary characters) |
//! | `cari*` | prefix (at least two letters before the `*`) |
//! | `vendeur/vendeuse` | either form |
//! | `agent(e)`, `H/F`, `(H/F)` | gender marks, ignored |
//!
//! Operators count only in upper case (`ou`, `et` are ordinary French
//! words). An operator with nothing to apply to is ignored (`cariste AND`,
//! `OR`), so no typed text is ever refused for its syntax. Refused, with a
//! message, are only texts past the limits: [`MAX_QUERY_CHARS`] characters
//! (checked by the handlers, [`check_length`]), [`MAX_TERMS`] words and
//! [`MAX_DEPTH`] nested parentheses (checked here).
//!
//! The parser is bounded by construction: one linear pass pairs quotes and
//! parentheses with an explicit stack, the depth is checked before any
//! recursion (at most [`MAX_DEPTH`] levels), and it stops as soon as it has
//! produced more than [`MAX_TERMS`] words.

use serde::Serialize;

use super::analysis::{fold, is_word_char};
use unicode_normalization::char::is_combining_mark;

/// Longest search text accepted, in characters (checked by the handlers).
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most words (terms, phrase words, alternatives, prefixes) in one query.
pub const MAX_TERMS: usize = 64;
/// Deepest nesting of parentheses.
pub const MAX_DEPTH: usize = 8;

/// A parsed query: any of the alternatives (`OU`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Query {
    pub alternatives: Vec<Conjunction>,
}

/// All of the groups (`ET`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conjunction {
    pub groups: Vec<Group>,
}

/// Juxtaposed items: every word should match, ranking decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    pub items: Vec<Item>,
}

/// One item of a group, possibly excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub negated: bool,
    pub atom: Atom,
}

/// What an item is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Atom {
    /// A word as typed (may hold hyphens, apostrophes, digits, `:`…; the
    /// analysis splits it).
    Word(String),
    /// A quoted phrase, as typed between the quotes.
    Phrase(String),
    /// A prefix (`cari*` → `cari`).
    Prefix(String),
    /// Alternative forms (`vendeur/vendeuse`).
    Either(Vec<String>),
    /// A parenthesised sub-query.
    Sub(Query),
}

/// Why a query text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search text is too long ({chars} characters; at most {max})")]
    TooLong { chars: usize, max: usize },
    #[error("the search text has too many words (more than {max})")]
    TooManyTerms { max: usize },
    #[error("the search text nests parentheses too deeply (more than {max} levels)")]
    TooDeep { max: usize },
}

impl QueryError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::TooLong { .. } => "query_too_long",
            QueryError::TooManyTerms { .. } => "query_too_many_terms",
            QueryError::TooDeep { .. } => "query_too_deep",
        }
    }

    /// The message shown in the French web interface.
    pub fn message_fr(&self) -> String {
        match self {
            QueryError::TooLong { chars, max } => {
                format!("Recherche trop longue ({chars} caractères) : {max} caractères au plus.")
            }
            QueryError::TooManyTerms { max } => {
                format!("Recherche trop longue : {max} mots au plus.")
            }
            QueryError::TooDeep { max } => {
                format!("Trop de parenthèses imbriquées : {max} niveaux au plus.")
            }
        }
    }
}

/// Refuses a text longer than [`MAX_QUERY_CHARS`] characters (without
/// counting past the limit).
pub fn check_length(text: &str) -> Result<(), QueryError> {
    // Bytes bound characters from above: most texts are decided at once.
    if text.len() <= MAX_QUERY_CHARS {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong {
            chars,
            max: MAX_QUERY_CHARS,
        });
    }
    Ok(())
}

impl Query {
    /// Whether nothing searchable was typed.
    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// Number of words in the query (as counted against [`MAX_TERMS`]).
    pub fn term_count(&self) -> usize {
        self.alternatives
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.items)
            .map(|i| i.atom.term_count())
            .sum()
    }

    /// Nesting depth of sub-queries (0 without parentheses).
    pub fn depth(&self) -> usize {
        self.alternatives
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.items)
            .map(|i| match &i.atom {
                Atom::Sub(q) => 1 + q.depth(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
}

impl Atom {
    fn term_count(&self) -> usize {
        match self {
            Atom::Word(_) | Atom::Prefix(_) => 1,
            Atom::Phrase(p) => p.split_whitespace().count().max(1),
            Atom::Either(v) => v.len(),
            Atom::Sub(q) => q.term_count(),
        }
    }
}

// ---------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Or,
    And,
    Not,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Lexeme {
    Open,
    Close,
    Op(Op),
    Item { negated: bool, atom: Atom },
}

/// Invisible characters removed before anything else (zero-width spaces and
/// joiners, bidirectional marks and isolates, soft hyphen, BOM).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Characters that separate words: spaces, controls, and punctuation other
/// than what French words and the syntax use inside a word (hyphen,
/// apostrophes, `/` between forms, `*` of a prefix, `+`). `R489:3` is two
/// words; quotes and parentheses are decided by [`roles`].
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || !(is_word_char(c)
            || matches!(
                c,
                '-' | '\''
                    | '’'
                    | '‘'
                    | 'ʼ'
                    | '/'
                    | '*'
                    | '+'
                    | '"'
                    | '«'
                    | '»'
                    | '“'
                    | '”'
                    | '„'
                    | '('
                    | ')'
            ))
}

/// What a character of the input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Part of a word.
    Text,
    /// Separates words.
    Space,
    /// Opening quote of a phrase (its closing quote is `QuoteClose`).
    QuoteOpen,
    QuoteClose,
    /// Balanced grouping parentheses.
    Open,
    Close,
    /// Removed (gender marks such as `(e)` and `(H/F)`).
    Dropped,
}

/// Gender and plural marks written in parentheses right after a word:
/// `agent(e)`, `vendeur(se)`, `conducteur(trice)`, `caissier(ère)`.
const INFLECTION_MARKS: &[&str] = &[
    "e", "es", "s", "x", "ne", "nes", "se", "ses", "le", "les", "te", "tes", "ve", "ves", "fe",
    "euse", "euses", "trice", "trices", "rice", "ice", "ère", "ere", "ière", "iere", "eure",
    "eures", "que",
];

/// Feminine marks of inclusive writing after a dot, middle dot or hyphen
/// (`agent·e`, `aide-soignant-e`, `conducteur-trice`).
const INCLUSIVE_MARKS: &[&str] = &[
    "e", "es", "se", "ses", "euse", "euses", "trice", "trices", "rice", "ère", "ere", "ière",
    "iere", "eure", "eures", "ne", "nes", "nne", "nnes",
];

/// Is `inner` (the text between balanced parentheses) a gender or plural
/// mark?
fn is_inflection_mark(inner: &str) -> bool {
    INFLECTION_MARKS.contains(&inner.to_lowercase().as_str())
}

/// `H/F`, `F/H` (any case).
fn is_gender_pair(s: &str) -> bool {
    matches!(
        s,
        "H/F" | "F/H" | "h/f" | "f/h" | "H/f" | "h/F" | "F/h" | "f/H"
    )
}

/// Assigns a role to every character: quotes paired in order (an odd last
/// quote is ordinary), parentheses outside phrases paired with a stack
/// (unpaired ones separate words), gender marks dropped. Also returns the
/// deepest grouping nesting.
fn roles(chars: &[char]) -> (Vec<Role>, usize) {
    let mut roles = vec![Role::Text; chars.len()];
    for (i, c) in chars.iter().enumerate() {
        if is_separator(*c) {
            roles[i] = Role::Space;
        }
    }
    // `cariste+magasinier`: a plus between two words joins two words (the
    // `+` of a URL's space), not one term (`bac+2` stays one).
    for i in 1..chars.len().saturating_sub(1) {
        if chars[i] == '+' && chars[i - 1].is_alphabetic() && chars[i + 1].is_alphabetic() {
            roles[i] = Role::Space;
        }
    }
    // Quotes: pair them in order.
    let quotes: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, '"' | '«' | '»' | '“' | '”' | '„'))
        .map(|(i, _)| i)
        .collect();
    let mut in_phrase = vec![false; chars.len()];
    for pair in quotes.chunks(2) {
        match *pair {
            [a, b] => {
                roles[a] = Role::QuoteOpen;
                roles[b] = Role::QuoteClose;
                for flag in &mut in_phrase[a + 1..b] {
                    *flag = true;
                }
            }
            [a] => roles[a] = Role::Space,
            _ => {}
        }
    }
    // Parentheses outside phrases.
    let mut stack: Vec<usize> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if in_phrase[i] {
            continue;
        }
        match c {
            '(' => stack.push(i),
            ')' => match stack.pop() {
                Some(open) => pairs.push((open, i)),
                None => roles[i] = Role::Space,
            },
            _ => {}
        }
    }
    for open in stack {
        roles[open] = Role::Space;
    }
    for &(a, b) in &pairs {
        // Marks are short: never copy a long content (keeps this linear).
        let is_mark = b - a <= 8 && {
            let inner_text: String = chars[a + 1..b].iter().collect();
            let attached = a > 0 && chars[a - 1].is_alphanumeric();
            is_gender_pair(inner_text.trim()) || (attached && is_inflection_mark(&inner_text))
        };
        if is_mark {
            for r in &mut roles[a..=b] {
                *r = Role::Dropped;
            }
        } else {
            roles[a] = Role::Open;
            roles[b] = Role::Close;
        }
    }
    // Inclusive writing: `soignant.e`, `agent·e`, `aide-soignant-e`,
    // `conducteur-trice` (a mark after a dot, middle dot or hyphen ending
    // the word) are the word itself.
    for i in 1..chars.len() {
        let joins = match chars[i] {
            '-' => roles[i] == Role::Text,
            '.' | '·' => roles[i] == Role::Space,
            _ => false,
        };
        let letter = |c: char| c.is_alphabetic() || is_combining_mark(c);
        if !joins || !letter(chars[i - 1]) || roles[i - 1] != Role::Text {
            continue;
        }
        // The letters after it (a mark is short: at most 7 are looked at).
        let letters = chars[i + 1..]
            .iter()
            .zip(&roles[i + 1..])
            .take(7)
            .take_while(|(c, r)| letter(**c) && **r == Role::Text)
            .count();
        let end = i + 1 + letters;
        let ends_word = chars
            .get(end)
            .is_none_or(|c| !is_word_char(*c) && *c != '-' && *c != '*');
        if (1..=6).contains(&letters) && ends_word {
            let mark = fold(&chars[i + 1..end].iter().collect::<String>());
            if INCLUSIVE_MARKS.iter().any(|m| fold(m) == mark) {
                for r in &mut roles[i..end] {
                    *r = Role::Dropped;
                }
            }
        }
    }
    // Depth of the grouping parentheses that remain (a dropped pair may hold
    // no grouping pair, as its content is letters only or H/F).
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    for r in &roles {
        match r {
            Role::Open => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            Role::Close => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (roles, max_depth)
}

/// Turns a run of word characters into a lexeme (or nothing).
fn word_lexeme(raw: &str) -> Option<Lexeme> {
    match raw {
        "OU" | "OR" => return Some(Lexeme::Op(Op::Or)),
        "ET" | "AND" => return Some(Lexeme::Op(Op::And)),
        "SAUF" | "NOT" => return Some(Lexeme::Op(Op::Not)),
        _ => {}
    }
    if is_gender_pair(raw) {
        return None;
    }
    let mut w = raw.trim_start_matches('+');
    let negated = w.starts_with('-') && w.chars().any(char::is_alphanumeric);
    w = w.trim_start_matches(['-', '+']);
    // Leading and trailing punctuation other than `*` carries nothing.
    w = w.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '*');
    w = w.trim_end_matches(|c: char| !is_word_char(c) && c != '*');
    w = w.trim_start_matches('*');
    if !w.chars().any(char::is_alphanumeric) {
        return None;
    }
    let atom = if w.contains('/') {
        let parts: Vec<String> = w
            .split('/')
            .map(|p| {
                p.trim_start_matches(|c: char| !c.is_alphanumeric())
                    .trim_end_matches(|c: char| !is_word_char(c))
            })
            .filter(|p| p.chars().any(char::is_alphanumeric))
            .map(str::to_string)
            .collect();
        match parts.len() {
            0 => return None,
            1 => Atom::Word(parts.into_iter().next().unwrap_or_default()),
            _ => Atom::Either(parts),
        }
    } else if let Some(stem) = w.strip_suffix('*') {
        let stem = stem.trim_end_matches('*');
        if long_enough_prefix(stem) && !stem.contains('*') {
            Atom::Prefix(stem.to_string())
        } else {
            Atom::Word(stem.replace('*', " "))
        }
    } else {
        Atom::Word(w.replace('*', " "))
    };
    Some(Lexeme::Item { negated, atom })
}

fn lex(chars: &[char], roles: &[Role]) -> Vec<Lexeme> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut phrase: Option<String> = None;
    let flush = |word: &mut String, out: &mut Vec<Lexeme>| {
        if !word.is_empty() {
            if let Some(l) = word_lexeme(word) {
                out.push(l);
            }
            word.clear();
        }
    };
    for (c, role) in chars.iter().zip(roles) {
        if let Some(p) = phrase.as_mut() {
            if *role == Role::QuoteClose {
                let text = std::mem::take(p);
                phrase = None;
                if text.chars().any(char::is_alphanumeric) {
                    out.push(Lexeme::Item {
                        negated: false,
                        atom: Atom::Phrase(text.split_whitespace().collect::<Vec<_>>().join(" ")),
                    });
                }
            } else if c.is_control() {
                p.push(' ');
            } else {
                p.push(*c);
            }
            continue;
        }
        match role {
            Role::Text => word.push(*c),
            Role::Dropped => {}
            Role::Space | Role::QuoteClose => flush(&mut word, &mut out),
            Role::QuoteOpen => {
                // `-"…"`: the minus (alone as a word) excludes the phrase.
                let negate = word == "-";
                if !negate {
                    flush(&mut word, &mut out);
                } else {
                    word.clear();
                    out.push(Lexeme::Op(Op::Not));
                }
                phrase = Some(String::new());
            }
            Role::Open => {
                let negate = word == "-";
                if negate {
                    word.clear();
                    out.push(Lexeme::Op(Op::Not));
                } else {
                    flush(&mut word, &mut out);
                }
                out.push(Lexeme::Open);
            }
            Role::Close => {
                flush(&mut word, &mut out);
                out.push(Lexeme::Close);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Parsing

struct Parser {
    lexemes: Vec<Lexeme>,
    pos: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Lexeme> {
        self.lexemes.get(self.pos)
    }

    fn count(&mut self, atom: &Atom) -> Result<(), QueryError> {
        if !matches!(atom, Atom::Sub(_)) {
            self.terms += atom.term_count();
        }
        if self.terms > MAX_TERMS {
            return Err(QueryError::TooManyTerms { max: MAX_TERMS });
        }
        Ok(())
    }

    /// alternatives := conjunction (OU conjunction)*
    fn query(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut alternatives = Vec::new();
        loop {
            let c = self.conjunction(depth)?;
            if !c.groups.is_empty() {
                alternatives.push(c);
            }
            match self.peek() {
                Some(Lexeme::Op(Op::Or)) => self.pos += 1,
                _ => break,
            }
        }
        Ok(Query { alternatives })
    }

    /// conjunction := group (ET group)*
    fn conjunction(&mut self, depth: usize) -> Result<Conjunction, QueryError> {
        let mut groups = Vec::new();
        loop {
            let g = self.group(depth)?;
            if !g.items.is_empty() {
                groups.push(g);
            }
            match self.peek() {
                Some(Lexeme::Op(Op::And)) => self.pos += 1,
                _ => break,
            }
        }
        Ok(Conjunction { groups })
    }

    /// group := ((SAUF | NOT)* atom)*, up to `OU`, `ET`, `)` or the end.
    fn group(&mut self, depth: usize) -> Result<Group, QueryError> {
        let mut items = Vec::new();
        let mut negate = false;
        loop {
            match self.peek().cloned() {
                None | Some(Lexeme::Op(Op::Or)) | Some(Lexeme::Op(Op::And)) => break,
                Some(Lexeme::Close) => {
                    if depth == 0 {
                        // Cannot happen with paired parentheses; skip it.
                        self.pos += 1;
                        continue;
                    }
                    break;
                }
                Some(Lexeme::Op(Op::Not)) => {
                    self.pos += 1;
                    negate = true;
                }
                Some(Lexeme::Item { negated, atom }) => {
                    self.pos += 1;
                    self.count(&atom)?;
                    items.push(Item {
                        negated: negated || negate,
                        atom,
                    });
                    negate = false;
                }
                Some(Lexeme::Open) => {
                    self.pos += 1;
                    if depth + 1 > MAX_DEPTH {
                        return Err(QueryError::TooDeep { max: MAX_DEPTH });
                    }
                    let sub = self.query(depth + 1)?;
                    if let Some(Lexeme::Close) = self.peek() {
                        self.pos += 1;
                    }
                    if !sub.is_empty() {
                        items.push(Item {
                            negated: negate,
                            atom: simplify(sub),
                        });
                    }
                    negate = false;
                }
            }
        }
        Ok(Group { items })
    }
}

/// `(cariste)` is just `cariste`.
fn simplify(q: Query) -> Atom {
    if let [c] = q.alternatives.as_slice() {
        if let [g] = c.groups.as_slice() {
            if let [item] = g.items.as_slice() {
                if !item.negated {
                    return item.atom.clone();
                }
            }
        }
    }
    Atom::Sub(q)
}

/// Whether `stem` (what comes before a trailing `*`) is long enough to be
/// searched as a prefix: two letters or digits at least. Shorter, the word
/// itself is searched ([`short_prefixes`] names those for the web UI).
fn long_enough_prefix(stem: &str) -> bool {
    stem.chars().filter(|c| c.is_alphanumeric()).count() >= 2
}

/// The words of `text` written as a prefix too short to be one (fewer
/// than two letters before the `*`: `c*`, `*`), which the search reads as
/// the word itself; the web UI says so.
pub fn short_prefixes(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .map(|w| w.trim_start_matches(['-', '"']).trim_end_matches('"'))
        .filter(|w| {
            w.strip_suffix('*').is_some_and(|stem| {
                let stem = stem.trim_end_matches('*');
                !stem.contains('*') && !long_enough_prefix(stem)
            })
        })
        .map(str::to_string)
        .collect()
}

/// Parses a search text. Never fails on syntax; fails only past
/// [`MAX_TERMS`] words or [`MAX_DEPTH`] nested parentheses. The length
/// limit is the caller's ([`check_length`]): internal callers (matching)
/// pass long generated texts.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = text.chars().filter(|c| !is_invisible(*c)).collect();
    let (roles, depth) = roles(&chars);
    if depth > MAX_DEPTH {
        return Err(QueryError::TooDeep { max: MAX_DEPTH });
    }
    let lexemes = lex(&chars, &roles);
    let mut parser = Parser {
        lexemes,
        pos: 0,
        terms: 0,
    };
    let mut query = parser.query(0)?;
    // Anything left (cannot happen with paired parentheses) is parsed too.
    while parser.pos < parser.lexemes.len() {
        parser.pos += 1;
        let more = parser.query(0)?;
        query.alternatives.extend(more.alternatives);
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &Query) -> Vec<Vec<Vec<(bool, Atom)>>> {
        q.alternatives
            .iter()
            .map(|c| {
                c.groups
                    .iter()
                    .map(|g| {
                        g.items
                            .iter()
                            .map(|i| (i.negated, i.atom.clone()))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    fn w(s: &str) -> (bool, Atom) {
        (false, Atom::Word(s.to_string()))
    }

    fn one_group(text: &str) -> Vec<(bool, Atom)> {
        let q = parse(text).expect("parse");
        let mut v = words(&q);
        assert_eq!(v.len(), 1, "{text}: {q:?}");
        let mut c = v.remove(0);
        assert_eq!(c.len(), 1, "{text}: {q:?}");
        c.remove(0)
    }

    #[test]
    fn plain_words_and_french_writing() {
        assert_eq!(one_group("cariste  caces"), vec![w("cariste"), w("caces")]);
        assert_eq!(one_group("aide-soignant(e)"), vec![w("aide-soignant")]);
        assert_eq!(
            one_group("agent(e) d'entretien"),
            vec![w("agent"), w("d'entretien")]
        );
        assert_eq!(one_group("cariste H/F"), vec![w("cariste")]);
        assert_eq!(one_group("cariste (H/F)"), vec![w("cariste")]);
        assert_eq!(
            one_group("aide soignant(e)"),
            vec![w("aide"), w("soignant")]
        );
        assert_eq!(
            one_group("vendeur/vendeuse"),
            vec![(
                false,
                Atom::Either(vec!["vendeur".into(), "vendeuse".into()])
            )]
        );
        assert_eq!(one_group("R489:3"), vec![w("R489"), w("3")]);
        assert_eq!(one_group("cariste,caces."), vec![w("cariste"), w("caces")]);
        assert_eq!(one_group("l'entrepôt"), vec![w("l'entrepôt")]);
        // Lower-case operators are words.
        assert_eq!(
            one_group("aide ou soignant et nuit"),
            vec![w("aide"), w("ou"), w("soignant"), w("et"), w("nuit")]
        );
    }

    #[test]
    fn quotes_and_parentheses_only_when_balanced() {
        assert_eq!(
            one_group("\"service en salle"),
            vec![w("service"), w("en"), w("salle")]
        );
        assert_eq!(
            one_group("\"service en salle\" cuisine"),
            vec![
                (false, Atom::Phrase("service en salle".into())),
                w("cuisine")
            ]
        );
        assert_eq!(one_group("cariste )("), vec![w("cariste")]);
        assert_eq!(one_group("((cariste)"), vec![w("cariste")]);
        let q = parse("cariste (nuit OU week-end)").expect("parse");
        assert_eq!(q.depth(), 1);
        assert_eq!(q.term_count(), 3);
    }

    #[test]
    fn operators() {
        let q = parse("auxiliaire de vie OR aide à domicile").expect("parse");
        assert_eq!(
            words(&q),
            vec![
                vec![vec![w("auxiliaire"), w("de"), w("vie")]],
                vec![vec![w("aide"), w("à"), w("domicile")]]
            ]
        );
        let q = parse("cariste ET caces SAUF nuit -weekend").expect("parse");
        assert_eq!(
            words(&q),
            vec![vec![
                vec![w("cariste")],
                vec![
                    w("caces"),
                    (true, Atom::Word("nuit".into())),
                    (true, Atom::Word("weekend".into()))
                ]
            ]]
        );
        // Dangling operators are ignored.
        assert_eq!(one_group("cariste AND"), vec![w("cariste")]);
        assert_eq!(one_group("OR cariste OR"), vec![w("cariste")]);
        assert!(parse("OR").expect("parse").is_empty());
        assert!(parse("AND OR NOT").expect("parse").is_empty());
        assert!(parse("-").expect("parse").is_empty());
        assert!(parse("*").expect("parse").is_empty());
        assert!(parse("   ").expect("parse").is_empty());
        assert_eq!(
            one_group("-\"travail de nuit\""),
            vec![(true, Atom::Phrase("travail de nuit".into()))]
        );
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            one_group("cari*"),
            vec![(false, Atom::Prefix("cari".into()))]
        );
        // Too short to be a prefix: the word itself.
        assert_eq!(one_group("c*"), vec![w("c")]);
        assert_eq!(one_group("ca*ri"), vec![w("ca ri")]);
        assert_eq!(
            short_prefixes("c* cari* (a*) -b* * \"d*\" ca*ri"),
            vec!["c*", "a*", "b*", "*", "d*"]
        );
        assert!(short_prefixes("cariste cari* R489").is_empty());
    }

    #[test]
    fn limits() {
        let deep = format!("{}a{}", "(".repeat(3000), ")".repeat(3000));
        assert_eq!(parse(&deep), Err(QueryError::TooDeep { max: MAX_DEPTH }));
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        // Unbalanced: ordinary characters, whatever their number.
        let open = format!("{}a", "(".repeat(3000));
        assert_eq!(one_group(&open), vec![w("a")]);
        let many = vec!["mot"; MAX_TERMS + 1].join(" ");
        assert_eq!(
            parse(&many),
            Err(QueryError::TooManyTerms { max: MAX_TERMS })
        );
        assert!(check_length(&"é".repeat(MAX_QUERY_CHARS)).is_ok());
        assert_eq!(
            check_length(&"é".repeat(MAX_QUERY_CHARS + 1)).map_err(|e| e.code()),
            Err("query_too_long")
        );
    }

    #[test]
    fn invisible_and_control_characters() {
        assert_eq!(one_group("cari\u{200B}ste"), vec![w("cariste")]);
        assert_eq!(one_group("\u{202E}cariste\u{202C}"), vec![w("cariste")]);
        assert_eq!(one_group("cariste\0caces"), vec![w("cariste"), w("caces")]);
        assert_eq!(one_group("🚜 cariste 🚜"), vec![w("cariste")]);
    }
}
