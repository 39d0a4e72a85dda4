//! French text analysis.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer, TokenizerManager,
};

/// Feminine job-title endings and their masculine forms (plural first).
/// Job titles come in both genders ("conductrice" / "conducteur",
/// "vendeuse" / "vendeur", "caissière" / "caissier", "électricienne" /
/// "électricien") and the Snowball stemmer keeps them apart; a counsellor
/// searching one must find the other. Applied to documents and queries
/// alike, before stemming.
const GENDER_ENDINGS: &[(&str, &str)] = &[
    ("trices", "teurs"),
    ("trice", "teur"),
    ("euses", "eurs"),
    ("euse", "eur"),
    ("ières", "iers"),
    ("ière", "ier"),
    ("iennes", "iens"),
    ("ienne", "ien"),
];

/// Shortest word the gender folding touches (keeps "mère", "pièce"…).
const GENDER_MIN_CHARS: usize = 6;

/// Rewrite a lower-cased feminine job form to its masculine form.
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

/// Token filter applying [`fold_gender`].
#[derive(Clone)]
pub struct GenderFolder;

impl TokenFilter for GenderFolder {
    type Tokenizer<T: Tokenizer> = GenderFolderFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> Self::Tokenizer<T> {
        GenderFolderFilter { tokenizer }
    }
}

/// The tokenizer wrapper of [`GenderFolder`].
#[derive(Clone)]
pub struct GenderFolderFilter<T> {
    tokenizer: T,
}

impl<T: Tokenizer> Tokenizer for GenderFolderFilter<T> {
    type TokenStream<'a> = GenderFolderStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        GenderFolderStream {
            tail: self.tokenizer.token_stream(text),
        }
    }
}

/// The token stream of [`GenderFolder`].
pub struct GenderFolderStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for GenderFolderStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        if let Some(m) = fold_gender(&self.tail.token().text) {
            self.tail.token_mut().text = m;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Name of the stemmed French analyzer.
pub const FR: &str = "fr";
/// Name of the French analyzer without stemming (names).
pub const FR_EXACT: &str = "fr_exact";

/// Tokens longer than this (in bytes) are dropped (base64 blobs, URLs...).
const MAX_TOKEN_BYTES: usize = 40;

/// `SimpleTokenizer → RemoveLongFilter(40) → LowerCaser → GenderFolder →
/// Stemmer(French) → AsciiFoldingFilter`. Stem **before** folding: the
/// Snowball stemmer needs the accents.
pub(crate) fn french() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(GenderFolder)
        .filter(Stemmer::new(Language::French))
        .filter(AsciiFoldingFilter)
        .build()
}

/// Same as [`french`] without the stemmer.
pub(crate) fn french_exact() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// [`french`] with French stop words removed (before stemming, so the terms
/// produced for the other words are identical to [`french`]'s). Used to turn
/// a long free text (an offer) into a bag of query terms.
pub(crate) fn french_query_terms() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .dynamic();
    let builder = match StopWordFilter::new(Language::French) {
        Some(stop) => builder.filter_dynamic(stop),
        None => builder,
    };
    builder
        .filter_dynamic(GenderFolder)
        .filter_dynamic(Stemmer::new(Language::French))
        .filter_dynamic(AsciiFoldingFilter)
        .build()
}

/// Registers `"fr"` and `"fr_exact"` in a tokenizer manager (an index's
/// `index.tokenizers()`).
pub fn register_analyzers(manager: &TokenizerManager) {
    manager.register(FR, french());
    manager.register(FR_EXACT, french_exact());
}

/// The terms the named analyzer (`"fr"` or `"fr_exact"`) produces for
/// `text`; any other name is analysed as `"fr"`. Handy for tests and for
/// explaining matches.
pub fn analyze(analyzer: &str, text: &str) -> Vec<String> {
    let mut analyzer = if analyzer == FR_EXACT {
        french_exact()
    } else {
        french()
    };
    tokens(&mut analyzer, text)
}

/// The terms of `text` under the named analyzer with their positions.
pub(crate) fn analyze_positions(analyzer: &str, text: &str) -> Vec<(usize, String)> {
    let mut analyzer = if analyzer == FR_EXACT {
        french_exact()
    } else {
        french()
    };
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    stream.process(&mut |token| out.push((token.position, token.text.clone())));
    out
}

/// A word lower-cased and folded to ASCII (for prefixes).
pub(crate) fn fold_word(word: &str) -> String {
    tokens(&mut french_exact(), word).join(" ")
}

pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    stream.process(&mut |token| out.push(token.text.clone()));
    out
}

#[cfg(test)]
mod gender_tests {
    use super::*;

    #[test]
    fn feminine_job_titles_meet_masculine_ones() {
        for (f, m) in [
            ("conductrice", "conducteur"),
            ("Conductrices", "conducteurs"),
            ("vendeuse", "vendeur"),
            ("caissière", "caissier"),
            ("électricienne", "électricien"),
            ("animatrice", "animateur"),
        ] {
            assert_eq!(analyze(FR, f), analyze(FR, m), "{f} / {m}");
        }
        // Short words are left alone.
        assert_eq!(fold_gender("mère"), None);
        assert_eq!(fold_gender("pièce"), None);
    }
}
