//! French text analysis.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenizerManager,
};

/// Name of the stemmed French analyzer.
pub const FR: &str = "fr";
/// Name of the French analyzer without stemming (names).
pub const FR_EXACT: &str = "fr_exact";

/// Tokens longer than this (in bytes) are dropped (base64 blobs, URLs...).
const MAX_TOKEN_BYTES: usize = 40;

/// `SimpleTokenizer → RemoveLongFilter(40) → LowerCaser → Stemmer(French) →
/// AsciiFoldingFilter`. Stem **before** folding: the Snowball stemmer needs
/// the accents.
pub(crate) fn french() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
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

pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    stream.process(&mut |token| out.push(token.text.clone()));
    out
}
