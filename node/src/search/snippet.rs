//! Highlighted extracts of a stored text, computed from the query's
//! analysed terms without re-analysing the whole text: a word is analysed
//! only when its first letters are those of a query term (most words of a
//! CV are skipped after a three-byte comparison).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use super::analysis::{analysed, fold, words};

/// Longest extract, in characters (before the `<b>` marks).
pub(crate) const SNIPPET_CHARS: usize = 180;
/// Characters shown before the first highlighted word.
const LEAD_CHARS: usize = 30;
/// Only the beginning of very long texts is scanned.
const MAX_SCAN_BYTES: usize = 64 * 1024;
/// Highlighted words considered.
const MAX_MATCHES: usize = 256;

/// The first (at most) three characters of a folded word.
fn key(folded: &str) -> &str {
    match folded.char_indices().nth(3) {
        Some((i, _)) => &folded[..i],
        None => folded,
    }
}

/// [`key`] of the folded `word`, folding only its first characters: a
/// word ([`words`]) is a run of letters and digits with their combining
/// marks; folding a letter or digit never depends on its neighbours and
/// gives at least one character, and a mark folds to nothing, so the first
/// three characters of the folded word are those of its first three
/// letters or digits (with their marks) folded. Most words of a text are rejected on this key: folding the
/// whole word first was 6 % of a search's CPU.
fn word_key(word: &str) -> WordKey {
    // Three ASCII bytes first (most words): no mark among them, and a
    // mark after the third folds to nothing.
    let b = word.as_bytes();
    let n = b.len().min(3);
    if b[..n].is_ascii() {
        let mut bytes = [0u8; 3];
        bytes[..n].copy_from_slice(&b[..n]);
        bytes[..n].make_ascii_lowercase();
        return WordKey::Ascii(bytes, n);
    }
    // The first three characters that are not combining marks (those
    // fold to nothing), with their marks.
    let prefix = match word
        .char_indices()
        .filter(|(_, c)| !unicode_normalization::char::is_combining_mark(*c))
        .nth(3)
    {
        Some((i, _)) => &word[..i],
        None => word,
    };
    if prefix.is_ascii() {
        // At most three bytes: lowered on the stack, nothing allocated.
        let mut bytes = [0u8; 3];
        let n = prefix.len().min(3);
        bytes[..n].copy_from_slice(&prefix.as_bytes()[..n]);
        bytes[..n].make_ascii_lowercase();
        return WordKey::Ascii(bytes, n);
    }
    WordKey::Other(key(&fold(prefix)).to_string())
}

/// A word's [`key`] ([`word_key`]).
enum WordKey {
    Ascii([u8; 3], usize),
    Other(String),
}

#[cfg(test)]
impl WordKey {
    fn as_str(&self) -> &str {
        match self {
            WordKey::Ascii(bytes, n) => std::str::from_utf8(&bytes[..*n]).unwrap_or(""),
            WordKey::Other(s) => s,
        }
    }
}

/// The query's terms, ready to test words against.
pub(crate) struct Highlighter {
    terms: BTreeSet<String>,
    /// [`key`]s of the terms in ASCII, packed ([`packed`]): most words of
    /// a text are rejected by a search in this short list.
    ascii_keys: Vec<u32>,
    /// The other keys.
    other_keys: HashSet<String>,
    /// Words already analysed, as written, and whether they match: a
    /// page's texts repeat the same words (the query's own first), and
    /// analysing one (folding, stemming) costs far more than a lookup.
    seen: RefCell<HashMap<String, bool>>,
}

/// Words remembered by one [`Highlighter`] at most.
const MAX_SEEN: usize = 4096;

/// An ASCII key of at most three bytes as one number (its length in the
/// high byte, so `ab` and `ab\0` differ).
fn packed(bytes: &[u8]) -> u32 {
    let mut v = u32::try_from(bytes.len()).unwrap_or(0) << 24;
    for (i, b) in bytes.iter().take(3).enumerate() {
        v |= u32::from(*b) << (8 * i);
    }
    v
}

impl Highlighter {
    pub fn new(terms: &BTreeSet<String>) -> Highlighter {
        let mut ascii_keys = Vec::new();
        let mut other_keys = HashSet::new();
        for t in terms {
            let k = key(t);
            if k.is_ascii() {
                ascii_keys.push(packed(k.as_bytes()));
            } else {
                other_keys.insert(k.to_string());
            }
        }
        ascii_keys.sort_unstable();
        ascii_keys.dedup();
        Highlighter {
            terms: terms.clone(),
            ascii_keys,
            other_keys,
            seen: RefCell::new(HashMap::new()),
        }
    }

    /// Whether a word's key is one of the terms' keys.
    fn key_matches(&self, word: &str) -> bool {
        match word_key(word) {
            WordKey::Ascii(bytes, n) => self.ascii_keys.contains(&packed(&bytes[..n])),
            // A key folded from accented letters may be ASCII.
            WordKey::Other(k) if k.is_ascii() => self.ascii_keys.contains(&packed(k.as_bytes())),
            WordKey::Other(k) => self.other_keys.contains(&k),
        }
    }

    /// Whether a word of the text analyses to one of the terms.
    fn matches(&self, word: &str) -> bool {
        if !self.key_matches(word) {
            return false;
        }
        if let Some(known) = self.seen.borrow().get(word) {
            return *known;
        }
        let found = analysed(word).into_iter().any(|a| {
            self.terms.contains(&a.term) || a.other.is_some_and(|o| self.terms.contains(&o))
        });
        let mut seen = self.seen.borrow_mut();
        if seen.len() < MAX_SEEN {
            seen.insert(word.to_string(), found);
        }
        found
    }

    /// An HTML extract (escaped, `<b>` around the matched words) of at
    /// most [`SNIPPET_CHARS`] characters around the densest group of
    /// matches; `None` when no word matches.
    pub fn snippet(&self, text: &str) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        let scan = &text[..floor_char_boundary(text, MAX_SCAN_BYTES)];
        // Each match: its bytes, its characters, and which distinct
        // (folded) word it is.
        let mut hits: Vec<Match> = Vec::new();
        let mut words_seen: HashMap<String, usize> = HashMap::new();
        let (mut chars, mut counted_to) = (0usize, 0usize);
        for (from, w) in words(scan) {
            if self.matches(w) {
                chars += scan[counted_to..from].chars().count();
                let start_char = chars;
                chars += w.chars().count();
                counted_to = from + w.len();
                let next = words_seen.len();
                let word = *words_seen.entry(fold(w)).or_insert(next);
                hits.push(Match {
                    from,
                    to: from + w.len(),
                    start_char,
                    end_char: chars,
                    word,
                });
                if hits.len() == MAX_MATCHES {
                    break;
                }
            }
        }
        let best = densest(&hits, words_seen.len(), SNIPPET_CHARS)?;
        let budget = SNIPPET_CHARS;
        let first = hits[best].from;
        let start = word_start_before(scan, first, LEAD_CHARS);
        let end = word_end_before(scan, char_offset(scan, start, budget));
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        let mut at = start;
        let mut last_hit_end = None;
        for h in hits.iter().filter(|h| h.from >= start && h.to <= end) {
            if last_hit_end == Some(h.from) {
                // Glued to the previous match (`SSIAP1`): one highlight.
                out.truncate(out.len() - "</b>".len());
            } else {
                out.push_str(&html_escape(&scan[at..h.from]));
                out.push_str("<b>");
            }
            out.push_str(&html_escape(&scan[h.from..h.to]));
            out.push_str("</b>");
            at = h.to;
            last_hit_end = Some(h.to);
        }
        out.push_str(&html_escape(&scan[at..end]));
        if end < text.len() {
            out.push('…');
        }
        Some(out)
    }
}

/// A matched word of a text.
struct Match {
    /// Byte offsets.
    from: usize,
    to: usize,
    /// Character offsets.
    start_char: usize,
    end_char: usize,
    /// Which distinct folded word (`0..words`).
    word: usize,
}

/// The match that starts the window of `budget` characters holding the
/// most distinct words (the earliest on a tie): the matches from it whose
/// end is at most `budget` characters after its start. One pass, the
/// window's end moving forward only. `None` without matches.
fn densest(hits: &[Match], words: usize, budget: usize) -> Option<usize> {
    if hits.is_empty() {
        return None;
    }
    let mut counts = vec![0u32; words];
    let (mut distinct, mut best, mut best_distinct) = (0usize, 0usize, 0usize);
    let mut j = 0;
    for (i, h) in hits.iter().enumerate() {
        // The window from `i` is empty when `i` itself does not fit.
        j = j.max(i);
        while j < hits.len() && hits[j].end_char <= h.start_char + budget {
            if counts[hits[j].word] == 0 {
                distinct += 1;
            }
            counts[hits[j].word] += 1;
            j += 1;
        }
        if distinct > best_distinct {
            (best, best_distinct) = (i, distinct);
        }
        if j > i {
            counts[h.word] -= 1;
            if counts[h.word] == 0 {
                distinct -= 1;
            }
        }
    }
    Some(best)
}

/// The largest char boundary `<= i`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The byte offset `n` characters after `from` (or the end).
fn char_offset(s: &str, from: usize, n: usize) -> usize {
    s[from..]
        .char_indices()
        .nth(n)
        .map_or(s.len(), |(i, _)| from + i)
}

/// A word start at most `n` characters before `at` (`at` itself when the
/// text before is one long word).
fn word_start_before(s: &str, at: usize, n: usize) -> usize {
    let back: Vec<(usize, char)> = s[..at].char_indices().rev().take(n).collect();
    let Some(&(limit, _)) = back.last() else {
        return at;
    };
    if limit == 0 {
        return 0;
    }
    // The first whitespace after the limit, then the next character.
    s[limit..at]
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(at, |(i, c)| limit + i + c.len_utf8())
}

/// The end of the last whole word before `end`.
fn word_end_before(s: &str, end: usize) -> usize {
    if end >= s.len() {
        return s.len();
    }
    match s[..end].rfind(char::is_whitespace) {
        Some(i) if i > 0 => i,
        _ => end,
    }
}

/// The beginning of a text as an escaped extract (no highlights), for hits
/// whose text has no matched word.
pub(crate) fn leading(text: &str) -> String {
    let text = text.trim();
    let end = word_end_before(text, char_offset(text, 0, SNIPPET_CHARS));
    let mut out = html_escape(&text[..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::analyze;

    fn terms(words: &str) -> BTreeSet<String> {
        analyze("fr", words).into_iter().collect()
    }

    /// The key of a word's first characters is the key of the whole
    /// folded word, for every word of a text mixing cases, accents,
    /// ligatures, digits and scripts.
    #[test]
    fn a_words_key_is_the_key_of_the_folded_word() {
        let text = "Œuvre ÉLÉCTRICIEN Ærosol straße à Ça ÇA l'été L'ÉTÉ R489 3e Ⅻe İstanbul \
            ǅemal ﬁnance Ωmega ΣΊΣΥΦΟΣ ﬀ ŒŒŒŒ ÀÉÎÕÜ a é ab àé x1 ½ ² \
            se\u{301}curite\u{301} e\u{301}\u{300}\u{301}le\u{301}ment ca\u{301}riste";
        let mut n = 0;
        for (_, w) in words(text) {
            assert_eq!(word_key(w).as_str(), key(&fold(w)), "{w}");
            n += 1;
        }
        assert!(n >= 28, "{n} words");
    }

    #[test]
    fn highlights_any_form_of_the_terms() {
        let h = Highlighter::new(&terms("conductrice chariot"));
        let text = "Dix ans d'expérience. Conducteur de CHARIOTS élévateurs <en entrepôt>, puis conductrices.";
        let s = h.snippet(text).expect("snippet");
        assert!(s.contains("<b>Conducteur</b>"), "{s}");
        assert!(s.contains("<b>CHARIOTS</b>"), "{s}");
        assert!(s.contains("&lt;en entrepôt&gt;"), "{s}");
        assert!(h.snippet("Rien à voir.").is_none());
    }

    /// The one-pass window is the one found by trying every match in
    /// turn (the earlier computation), on texts with repeated words,
    /// words longer than the window and multi-byte characters.
    #[test]
    fn the_densest_window_is_the_one_every_start_would_find() {
        let vocab = [
            "agent",
            "entretien",
            "é",
            "ménage",
            "Agent",
            "AGENT",
            "x",
            "cariste",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ];
        let mut seed = 7u64;
        for budget in [1usize, 5, 12, 40, 180] {
            for _ in 0..300 {
                let mut hits = Vec::new();
                let mut words: HashMap<String, usize> = HashMap::new();
                let mut chars = 0usize;
                for _ in 0..(seed % 40) {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let w = vocab[usize::try_from(seed >> 33).unwrap_or(0) % vocab.len()];
                    chars += usize::try_from(seed >> 60).unwrap_or(0) + 1;
                    let next = words.len();
                    let word = *words.entry(fold(w)).or_insert(next);
                    let n = w.chars().count();
                    hits.push(Match {
                        from: 0,
                        to: 0,
                        start_char: chars,
                        end_char: chars + n,
                        word,
                    });
                    chars += n;
                }
                // Every start, its window counted afresh (the earlier code).
                let mut best = (0usize, 0usize);
                for i in 0..hits.len() {
                    let d: HashSet<usize> = hits[i..]
                        .iter()
                        .take_while(|h| h.end_char <= hits[i].start_char + budget)
                        .map(|h| h.word)
                        .collect();
                    if d.len() > best.1 {
                        best = (i, d.len());
                    }
                }
                let brute = (!hits.is_empty()).then_some(best.0);
                assert_eq!(
                    densest(&hits, words.len(), budget),
                    brute,
                    "budget {budget}"
                );
            }
        }
    }

    #[test]
    fn long_texts_give_a_bounded_window() {
        let h = Highlighter::new(&terms("soudeur"));
        let text = format!(
            "{} soudeur qualifié {}",
            "mot ".repeat(500),
            "fin ".repeat(500)
        );
        let s = h.snippet(&text).expect("snippet");
        assert!(s.contains("<b>soudeur</b>"));
        let plain = s.replace("<b>", "").replace("</b>", "");
        assert!(
            plain.chars().count() <= SNIPPET_CHARS + 2,
            "{}",
            plain.chars().count()
        );
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        // Multi-byte text cut on character boundaries.
        let text = "é".repeat(300) + " soudeur " + &"ü".repeat(300);
        assert!(h.snippet(&text).is_some());
        assert!(leading(&"é".repeat(500)).ends_with('…'));
    }
}
