//! Property test of the sandboxed extractor: arbitrary bytes and mutated
//! valid PDF / DOCX / ODT files go through the real child process
//! (`vivier-node extract`) and the parent-side runner. Whatever the input,
//! the parent never panics, always answers within the wall-clock timeout
//! (plus the time to reap), and the answer is bounded: text within the
//! cap, or an error about the file — never a garbled frame, an output
//! overflow or a failure of the extractor itself.
//!
//! Short run (CI, 64 cases): `cargo test -p vivier-node --test it extract_fuzz::`.
//! Long run, over an hour (measured: 20 000 cases in 228 s on 2 shared
//! vCPU, debug build, so 330 000 cases ≈ 63 min):
//! `VIVIER_FUZZ_CASES=330000 cargo test -p vivier-node --test it extract_fuzz:: -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vivier_node::extract::sandbox::{Extractor, OsLimits};
use vivier_node::extract::{testdocs, ExtractError, Limits};

const WALL: Duration = Duration::from_secs(5);
const MAX_TEXT: usize = 64 * 1024;

fn extractor() -> &'static Extractor {
    static EX: OnceLock<Extractor> = OnceLock::new();
    EX.get_or_init(|| {
        Extractor::new(
            env!("CARGO_BIN_EXE_vivier-node").into(),
            Limits {
                max_input_bytes: 1024 * 1024,
                max_decompressed_bytes: 8 * 1024 * 1024,
                max_pdf_content_bytes: 512 * 1024,
                max_text_bytes: MAX_TEXT,
            },
            OsLimits {
                memory_bytes: 256 * 1024 * 1024,
                cpu_secs: 2,
                wall: WALL,
                max_output_bytes: MAX_TEXT + 64 * 1024,
            },
            2,
        )
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Valid documents to mutate.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let long: Vec<u8> = b"Cariste CACES 3, permis B, 5 ans d'exp\xE9rience. ".repeat(40);
        vec![
            testdocs::pdf(&[b"Cariste exp\xE9riment\xE9", b"CACES 3"]),
            testdocs::pdf_with_content(
                b"BT /F1 12 Tf 72 700 Td (Soudeuse) Tj [(TIG) -250 (MIG)] TJ ET",
                "",
                &[],
            ),
            testdocs::pdf(&[&long]),
            testdocs::docx(&["Électricienne", "Habilitation B1V", "Permis B & véhicule"]),
            testdocs::odt(&["Aide-soignante", "Diplôme DEAS", "Nuit et week-end"]),
        ]
    })
}

/// One edit of a document.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at (position mod length).
    Set(usize, u8),
    /// Keep only the first (position mod length) bytes.
    Truncate(usize),
    /// Insert bytes at (position mod length).
    Insert(usize, Vec<u8>),
    /// Copy a slice of the document over another place.
    Splice(usize, usize, usize),
    /// Insert a PDF/XML token that parsers care about.
    Token(usize, usize),
}

const TOKENS: &[&[u8]] = &[
    b"[[[[[[[[",
    b"<<",
    b">>",
    b"stream\n",
    b"endstream",
    b" 0 R ",
    b"/Filter /FlateDecode",
    b"/Type /ObjStm",
    b"(",
    b")",
    b"<w:t>",
    b"</w:p>",
    b"<text:s text:c=\"100\"/>",
    b"&lol;",
    b"PK\x03\x04",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), any::<usize>(), 1usize..512)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Token(p, t)),
    ]
}

fn apply(mut doc: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = doc.len().max(1);
        match m {
            Mutation::Set(p, b) => {
                if !doc.is_empty() {
                    doc[p % len] = *b;
                }
            }
            Mutation::Truncate(p) => doc.truncate(p % len),
            Mutation::Insert(p, bytes) => {
                let at = (p % len).min(doc.len());
                doc.splice(at..at, bytes.iter().copied());
            }
            Mutation::Splice(a, b, n) => {
                let (a, b) = (a % len, b % len);
                let n = (*n).min(doc.len().saturating_sub(a.max(b)));
                let chunk: Vec<u8> = doc[a..a + n].to_vec();
                doc[b..b + n].copy_from_slice(&chunk);
            }
            Mutation::Token(p, t) => {
                let at = (p % len).min(doc.len());
                doc.splice(at..at, TOKENS[*t].iter().copied());
            }
        }
    }
    doc
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        prop::collection::vec(any::<u8>(), 0..4096).prop_map(|mut v| {
            let mut doc = b"%PDF-1.5\n".to_vec();
            doc.append(&mut v);
            doc
        }),
        (0..5usize, prop::collection::vec(mutation(), 1..8))
            .prop_map(|(i, muts)| apply(seeds()[i].clone(), &muts)),
    ]
}

fn cases() -> u32 {
    std::env::var("VIVIER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_get_a_bounded_answer_in_time(bytes in input()) {
        let started = Instant::now();
        let result = runtime().block_on(extractor().extract(&bytes));
        let took = started.elapsed();
        // The wall-clock limit, plus killing and reaping.
        prop_assert!(took < WALL + Duration::from_secs(5), "took {took:?}");
        match result {
            Ok(e) => prop_assert!(e.text.len() <= MAX_TEXT),
            Err(e) => prop_assert!(
                !matches!(
                    e,
                    ExtractError::Extractor(_) | ExtractError::OutputTooLarge { .. } | ExtractError::Busy
                ),
                "{e:?}"
            ),
        }
    }
}

#[test]
fn the_seeds_themselves_extract() {
    for (i, seed) in seeds().iter().enumerate() {
        let text = runtime()
            .block_on(extractor().extract(seed))
            .unwrap_or_else(|e| panic!("seed {i}: {e}"))
            .text;
        assert!(!text.is_empty(), "seed {i}");
    }
}
