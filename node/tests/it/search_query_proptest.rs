//! Property tests of the search-box parser (`search::query_lang`): over
//! arbitrary strings and bytes it never panics, its output is bounded
//! (words, nesting, size) and it refuses only with one of its limit errors.
//! Long run: `PROPTEST_CASES=2000000 cargo test --release -p vivier-node
//! --test it search_query_proptest::`.
//! Time is bounded by construction: one linear pairing pass with an explicit
//! stack, recursion only below the depth limit (checked before recursing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use vivier_node::search::query_lang::{
    check_length, parse, Atom, Query, QueryError, MAX_DEPTH, MAX_QUERY_CHARS, MAX_TERMS,
};

/// Every node of the parsed tree (alternatives, groups, items).
fn size(q: &Query) -> usize {
    q.alternatives
        .iter()
        .map(|c| {
            1 + c
                .groups
                .iter()
                .map(|g| {
                    1 + g
                        .items
                        .iter()
                        .map(|i| match &i.atom {
                            Atom::Sub(s) => 1 + size(s),
                            _ => 1,
                        })
                        .sum::<usize>()
                })
                .sum::<usize>()
        })
        .sum()
}

fn check(text: &str) {
    match parse(text) {
        Ok(q) => {
            assert!(q.term_count() <= MAX_TERMS, "{text:?}");
            assert!(q.depth() <= MAX_DEPTH, "{text:?}");
            // Bounded output: every node holds at least one word.
            assert!(size(&q) <= 4 * MAX_TERMS, "{text:?}: {}", size(&q));
            for c in &q.alternatives {
                assert!(!c.groups.is_empty());
                for g in &c.groups {
                    assert!(!g.items.is_empty());
                }
            }
        }
        Err(QueryError::TooDeep { max }) => assert_eq!(max, MAX_DEPTH),
        Err(QueryError::TooManyTerms { max }) => assert_eq!(max, MAX_TERMS),
        Err(e @ QueryError::TooLong { .. }) => panic!("parse never checks the length: {e}"),
    }
    match check_length(text) {
        Ok(()) => assert!(text.chars().count() <= MAX_QUERY_CHARS),
        Err(QueryError::TooLong { chars, max }) => {
            assert!(chars > max);
            assert_eq!(chars, text.chars().count());
        }
        Err(e) => panic!("{e}"),
    }
}

/// Texts made of the characters the grammar cares about.
fn syntax_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just(" ".to_string()),
        Just("-".to_string()),
        Just("*".to_string()),
        Just("/".to_string()),
        Just("'".to_string()),
        Just(" OR ".to_string()),
        Just(" OU ".to_string()),
        Just(" AND ".to_string()),
        Just(" ET ".to_string()),
        Just(" NOT ".to_string()),
        Just(" SAUF ".to_string()),
        Just("(e)".to_string()),
        Just("H/F".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{202E}".to_string()),
        Just("\u{200B}".to_string()),
        Just("🚜".to_string()),
        "[a-zé]{1,6}",
        "[A-Z0-9]{1,4}",
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

/// 1000 cases by default; `PROPTEST_CASES=N` for long runs.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        check(&s);
    }

    #[test]
    fn arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..2000)) {
        check(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn syntax_heavy_texts(s in syntax_soup()) {
        check(&s);
    }

    #[test]
    fn nesting_of_any_depth(open in 0usize..5000, close in 0usize..5000, word in "[a-z]{0,5}") {
        let text = format!("{}{word}{}", "(".repeat(open), ")".repeat(close));
        check(&text);
        let balanced = open.min(close);
        let parsed = parse(&text);
        if balanced > MAX_DEPTH && !word.is_empty() {
            prop_assert_eq!(parsed, Err(QueryError::TooDeep { max: MAX_DEPTH }));
        }
    }

    #[test]
    fn many_words(n in 0usize..400) {
        let text = vec!["mot"; n].join(" ");
        let parsed = parse(&text);
        if n > MAX_TERMS {
            prop_assert_eq!(parsed, Err(QueryError::TooManyTerms { max: MAX_TERMS }));
        } else {
            prop_assert_eq!(parsed.expect("parse").term_count(), n);
        }
    }
}
