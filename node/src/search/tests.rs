use std::time::{Duration, Instant};

use super::*;
use crate::geo::Point;

fn options() -> SearchOptions {
    SearchOptions {
        // Small and single-threaded: tests run in parallel on 2 cores.
        writer_heap_bytes: 15_000_000,
        writer_threads: Some(1),
        commit_interval: Duration::from_millis(200),
        index_nice: 0,
        index_idle: false,
        pass_threads: 2,
        ..SearchOptions::default()
    }
}

fn candidates(dir: &tempfile::TempDir) -> CandidateIndex {
    let (index, needs_rebuild) =
        CandidateIndex::open_with(&dir.path().join("candidates"), options()).expect("open");
    assert!(needs_rebuild, "a new index needs a rebuild");
    index
}

/// Indexes and commits one candidate per `(id, CV text)`.
fn with_cvs(index: &CandidateIndex, texts: &[(&str, &str)]) {
    for (id, text) in texts {
        let mut c = cand(id);
        c.cv_text = (*text).into();
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
}

fn offers(dir: &tempfile::TempDir) -> OfferIndex {
    let (index, needs_rebuild) =
        OfferIndex::open_with(&dir.path().join("offers"), options()).expect("open");
    assert!(needs_rebuild);
    index
}

/// A commune's centre (candidates live at their commune's centre).
fn centre(insee: &str) -> Point {
    crate::referentials::Referentials::global()
        .commune(insee)
        .and_then(|c| c.point)
        .expect("commune centre")
}
fn blois() -> Point {
    centre("41018")
}
fn vendome() -> Point {
    centre("41269")
}
fn orleans() -> Point {
    centre("45234")
}
fn montlucon() -> Point {
    centre("03185")
}

/// Places a candidate in a commune (code and centre).
fn home(doc: &mut CandidateDoc, insee: &str) {
    doc.commune_insee = insee.to_string();
    doc.point = Some(centre(insee));
}

fn cand(id: &str) -> CandidateDoc {
    CandidateDoc {
        id: id.to_string(),
        full_name: format!("Candidat {id}"),
        status: "active".to_string(),
        ..CandidateDoc::default()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn q(text: &str) -> CandidateQuery {
    CandidateQuery {
        text: Some(text.to_string()),
        ..CandidateQuery::default()
    }
}

fn ids(results: &SearchResults) -> Vec<String> {
    results.hits.iter().map(|h| h.id.clone()).collect()
}

fn sorted_ids(results: &SearchResults) -> Vec<String> {
    let mut v = ids(results);
    v.sort();
    v
}

/// A small candidathèque around Blois.
fn seed(index: &CandidateIndex) {
    let mut a = cand("a");
    a.job_titles = strings(&["Cariste"]);
    a.skills = strings(&["CACES 3", "gestion des stocks"]);
    a.cv_text = "Cariste expérimenté, conduite de chariots élévateurs en entrepôt.".into();
    a.rome_codes = strings(&["N1101"]);
    home(&mut a, "41018");
    a.driving_licences = strings(&["B"]);
    a.contract_types = strings(&["CDI", "MIS"]);
    a.updated_at = 10;

    let mut b = cand("b");
    b.job_titles = strings(&["Conducteur poids lourd"]);
    b.skills = strings(&["FIMO"]);
    b.cv_text = "Conducteurs routiers, transport de marchandises.".into();
    b.rome_codes = strings(&["N4101"]);
    home(&mut b, "41269");
    b.driving_licences = strings(&["B", "C", "CE"]);
    b.contract_types = strings(&["CDD"]);
    b.available_from_days = Some(20_000);
    b.updated_at = 20;

    let mut c = cand("c");
    c.job_titles = strings(&["Électricien bâtiment"]);
    c.cv_text = "Electricien, habilitation électrique B1V.".into();
    c.rome_codes = strings(&["F1602"]);
    home(&mut c, "45234");
    c.contract_types = strings(&["CDI"]);
    c.status = "placed".into();
    c.updated_at = 30;

    let mut d = cand("d");
    d.job_titles = strings(&["Cuisinier"]);
    d.skills = strings(&["cuisine traditionnelle", "HACCP"]);
    d.cv_text = "Cuisinier en restauration collective, préparation des repas.".into();
    d.rome_codes = strings(&["G1602"]);
    home(&mut d, "03185");
    d.contract_types = strings(&["SAI"]);
    d.available_from_days = Some(19_000);
    d.updated_at = 40;

    let mut e = cand("e");
    e.job_titles = strings(&["Préparateur de commandes", "cariste"]);
    e.cv_text = "Préparation de commandes et cariste occasionnel.".into();
    e.rome_codes = strings(&["N1103", "N1101"]);
    e.point = None;
    e.contract_types = strings(&["MIS"]);
    e.updated_at = 50;

    for doc in [a, b, c, d, e] {
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
}

#[test]
fn french_analyzer() {
    let fr = |s: &str| analyze(FR, s);
    assert_eq!(fr("cariste"), fr("caristes"));
    // Capitals: stemmed and as written.
    assert_eq!(fr("CARISTE"), strings(&["carist", "cariste"]));
    assert_eq!(fr("électricien"), fr("electricien"));
    assert_eq!(fr("Électriciens"), fr("electricien"));
    assert_eq!(fr("conducteur"), fr("conducteurs"));
    // Folding before stemming: every spelling meets.
    assert_eq!(fr("sécurité"), fr("securite"));
    assert_eq!(fr("sécurité"), vec!["securit".to_string()]);
    // Long tokens are dropped.
    assert!(fr(&"x".repeat(60)).is_empty());
    // fr_exact folds and lower-cases but does not stem.
    assert_eq!(
        analyze(FR_EXACT, "Hélène CARISTES"),
        strings(&["helene", "caristes"])
    );
}

#[test]
fn french_analysis_in_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    for text in ["cariste", "caristes", "CARISTE"] {
        assert_eq!(
            sorted_ids(&index.search(&q(text)).expect("search")),
            ["a", "e"],
            "{text}"
        );
    }
    for text in ["électricien", "electricien", "ELECTRICIENS"] {
        assert_eq!(
            ids(&index.search(&q(text)).expect("search")),
            ["c"],
            "{text}"
        );
    }
    for text in ["conducteur", "conducteurs"] {
        assert_eq!(
            ids(&index.search(&q(text)).expect("search")),
            ["b"],
            "{text}"
        );
    }
    // Names: folded, not stemmed.
    let mut f = cand("f");
    f.full_name = "Hélène Dupré".into();
    index.upsert(&f).expect("upsert");
    index.commit_now().expect("commit");
    assert_eq!(
        ids(&index.search(&q("helene dupre")).expect("search")),
        ["f"]
    );
}

/// A CV whose accents are combining marks (as some word processors and
/// PDF extractions write them) is found by either spelling, and gives
/// snippets.
#[test]
fn combining_accents_are_folded_like_precomposed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut d = cand("d");
    d.cv_text = "Agent de se\u{301}curite\u{301} incendie, expe\u{301}rimente\u{301}e.".into();
    index.upsert(&d).expect("upsert");
    index.commit_now().expect("commit");
    for text in [
        "sécurité",
        "securite",
        "expérimentée",
        "experimentee",
        "se\u{301}curite\u{301}",
    ] {
        let r = index
            .search(&CandidateQuery {
                highlight: true,
                ..q(text)
            })
            .expect("search");
        assert_eq!(ids(&r), ["d"], "{text}");
        let snippet = r.hits[0].snippet.as_deref().unwrap_or("");
        assert!(snippet.contains("<b>"), "{text}: {snippet}");
    }
}

#[test]
fn conjunction_by_default_and_boost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    // Both words should match: "a" has both and comes first, far ahead of
    // "e", a cariste without CACES (one of two words: coordination ¼).
    let r = index.search(&q("cariste CACES")).expect("search");
    assert_eq!(ids(&r), ["a", "e"]);
    assert!(r.hits[0].score > 3.0 * r.hits[1].score, "{:?}", r.hits);
    // OR is still available explicitly.
    assert_eq!(
        sorted_ids(&index.search(&q("cariste OR cuisinier")).expect("search")),
        ["a", "d", "e"]
    );
    let r = index.search(&q("cariste")).expect("search");
    assert!(r.hits.iter().all(|h| h.score > 0.0));
}

#[test]
fn job_titles_are_boosted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    // Same word, same (one-token) field length: once in the job titles, once
    // in the skills. The job title wins thanks to the ×2 boost.
    let mut t = cand("title");
    t.job_titles = strings(&["soudeur"]);
    t.skills = strings(&["peinture"]);
    let mut s = cand("skill");
    s.job_titles = strings(&["peintre"]);
    s.skills = strings(&["soudeur"]);
    index.upsert(&t).expect("upsert");
    index.upsert(&s).expect("upsert");
    index.commit_now().expect("commit");
    let r = index.search(&q("soudeur")).expect("search");
    assert_eq!(ids(&r), ["title", "skill"]);
    assert!(r.hits[0].score > r.hits[1].score * 1.5, "{:?}", r.hits);
}

#[test]
fn indexes_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SearchIndexes>();
    assert_send_sync::<CandidateIndex>();
    assert_send_sync::<OfferIndex>();

    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let index = &index;
            scope.spawn(move || {
                for i in 0..50 {
                    let mut doc = cand(&format!("t{t}-{}", i % 25));
                    doc.job_titles = strings(&["Magasinier"]);
                    index.upsert(&doc).expect("upsert");
                    index.search(&q("magasinier")).expect("search");
                }
            });
        }
    });
    index.commit_now().expect("commit");
    assert_eq!(index.num_docs(), 100);
    assert_eq!(index.search(&q("magasiniers")).expect("search").total, 100);
}

/// The background committer makes an upsert visible without an explicit
/// commit. How soon depends on the machine (a debug build's first commit
/// took 1.7 s on a slow one): the bound only catches a committer that
/// never commits.
#[test]
fn upsert_visible_without_explicit_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut doc = cand("x");
    doc.job_titles = strings(&["Soudeur"]);
    let start = Instant::now();
    index.upsert(&doc).expect("upsert");
    while !index.contains("x").expect("contains") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "upsert not visible after 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ids(&index.search(&q("soudeurs")).expect("search")), ["x"]);
}

#[test]
fn upsert_same_id_twice_keeps_one_doc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut doc = cand("x");
    doc.job_titles = strings(&["Soudeur"]);
    index.upsert(&doc).expect("upsert");
    index.commit_now().expect("commit");
    doc.job_titles = strings(&["Plombier"]);
    index.upsert(&doc).expect("upsert");
    // Twice within the same commit, too.
    index.upsert(&doc).expect("upsert");
    index.commit_now().expect("commit");
    assert_eq!(index.num_docs(), 1);
    assert_eq!(index.search(&q("soudeur")).expect("search").total, 0);
    assert_eq!(ids(&index.search(&q("plombier")).expect("search")), ["x"]);
}

#[test]
fn delete_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    assert!(index.contains("a").expect("contains"));
    index.delete("a").expect("delete");
    index.delete("does-not-exist").expect("delete");
    index.commit_now().expect("commit");
    assert!(!index.contains("a").expect("contains"));
    assert_eq!(index.num_docs(), 4);
    assert_eq!(ids(&index.search(&q("cariste")).expect("search")), ["e"]);
}

#[test]
fn filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    let all = CandidateQuery::default;

    let r = index
        .search(&CandidateQuery {
            rome_codes: strings(&["n1101", "F1602"]),
            ..all()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["a", "c", "e"]);

    let r = index
        .search(&CandidateQuery {
            licence: Some("ce".into()),
            ..all()
        })
        .expect("search");
    assert_eq!(ids(&r), ["b"]);

    // Available by day 19 500: "a", "c", "e" (now) and "d" (19 000), not "b".
    let r = index
        .search(&CandidateQuery {
            available_before_days: Some(19_500),
            ..all()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["a", "c", "d", "e"]);

    let r = index
        .search(&CandidateQuery {
            contract_type: Some("CDI".into()),
            ..all()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["a", "c"]);

    let r = index
        .search(&CandidateQuery {
            status: Some("placed".into()),
            ..all()
        })
        .expect("search");
    assert_eq!(ids(&r), ["c"]);

    let r = index
        .search(&CandidateQuery {
            ids: Some(strings(&["a", "b", "zz"])),
            ..all()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["a", "b"]);
    let r = index
        .search(&CandidateQuery {
            ids: Some(Vec::new()),
            ..all()
        })
        .expect("search");
    assert_eq!(r.total, 0);

    // Combined with text.
    let r = index
        .search(&CandidateQuery {
            contract_type: Some("MIS".into()),
            ..q("cariste")
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["a", "e"]);
    let r = index
        .search(&CandidateQuery {
            licence: Some("B".into()),
            ..q("cariste")
        })
        .expect("search");
    assert_eq!(ids(&r), ["a"]);
    // No text: all documents, most recently updated first.
    let r = index.search(&all()).expect("search");
    assert_eq!(ids(&r), ["e", "d", "c", "b", "a"]);
    assert!(r
        .hits
        .iter()
        .all(|h| h.score == 0.0 && h.distance_km.is_none()));
}

/// Archived candidates are left out unless asked for — of the hits, the
/// total and the facets, with or without text, in segments that hold some
/// and segments that hold none — and follow a record archived or brought
/// back (its document moves to a new segment).
#[test]
fn archived_candidates_are_left_out_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let doc = |i: usize, archived: bool| {
        let mut d = cand(&format!("c{i:02}"));
        d.cv_text = format!("Cariste en entrepôt, {i} ans d'expérience.");
        d.rome_codes = strings(&[if i.is_multiple_of(2) {
            "N1101"
        } else {
            "N1103"
        }]);
        if archived {
            d.status = "archived".into();
        }
        d
    };
    // Segment 1: c00..c09, c03 and c04 archived; segment 2: c10..c14, none.
    for i in 0..10 {
        index.upsert(&doc(i, i == 3 || i == 4)).expect("upsert");
    }
    index.commit_now().expect("commit");
    for i in 10..15 {
        index.upsert(&doc(i, false)).expect("upsert");
    }
    index.commit_now().expect("commit");
    let check = |archived: &[usize]| {
        let all = 15;
        let live: Vec<String> = (0..all)
            .filter(|i| !archived.contains(i))
            .map(|i| format!("c{i:02}"))
            .collect();
        let even = (0..all)
            .filter(|i| i.is_multiple_of(2) && !archived.contains(i))
            .count() as u64;
        for query in [q("cariste"), CandidateQuery::default()] {
            let query = CandidateQuery { limit: 50, ..query };
            let r = index.search(&query).expect("search");
            assert_eq!(sorted_ids(&r), live, "{:?}", query.text);
            assert_eq!(r.total, live.len());
            assert_eq!(
                r.facets.get("N1101").copied(),
                Some(even),
                "{:?}",
                query.text
            );
            let r = index
                .search(&CandidateQuery {
                    status: Some("all".into()),
                    ..query.clone()
                })
                .expect("search");
            assert_eq!(r.total, all);
            let r = index
                .search(&CandidateQuery {
                    status: Some("archived".into()),
                    ..query.clone()
                })
                .expect("search");
            let want: Vec<String> = archived.iter().map(|i| format!("c{i:02}")).collect();
            assert_eq!(sorted_ids(&r), want);
        }
    };
    check(&[3, 4]);
    // c12 archived (moves to a new segment), c03 brought back.
    index.upsert(&doc(12, true)).expect("upsert");
    index.upsert(&doc(3, false)).expect("upsert");
    index.commit_now().expect("commit");
    check(&[4, 12]);
}

#[test]
fn near_radius_distances_and_sort() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    // Vendôme ~30 km, Orléans ~55 km, Montluçon ~160 km from Blois; "e" has
    // no known point.
    let near = |radius: f64, sort: SortBy| CandidateQuery {
        near: Some((blois(), radius)),
        sort,
        ..CandidateQuery::default()
    };
    let r = index.search(&near(40.0, SortBy::Distance)).expect("search");
    assert_eq!(ids(&r), ["a", "b"]);
    assert_eq!(r.total, 2);
    let d: Vec<f64> = r
        .hits
        .iter()
        .map(|h| h.distance_km.expect("distance"))
        .collect();
    assert!(d[0] < 0.01, "{d:?}");
    assert!((25.0..35.0).contains(&d[1]), "{d:?}");

    let r = index
        .search(&near(100.0, SortBy::Distance))
        .expect("search");
    assert_eq!(ids(&r), ["a", "b", "c"]);
    let orleans_km = r.hits[2].distance_km.expect("distance");
    assert!((45.0..65.0).contains(&orleans_km), "{orleans_km}");
    assert_eq!(r.facets.get("F1602"), Some(&1));

    let r = index
        .search(&near(500.0, SortBy::Distance))
        .expect("search");
    assert_eq!(ids(&r), ["a", "b", "c", "d"]);
    assert_eq!(r.total, 4);

    // Just below Orléans' distance: excluded although inside the bounding box.
    let r = index
        .search(&near(orleans_km - 0.5, SortBy::Distance))
        .expect("search");
    assert_eq!(ids(&r), ["a", "b"]);
    assert_eq!(r.total, 2);
    assert_eq!(r.facets.get("F1602"), None);

    // Relevance order with a radius still returns distances.
    let r = index
        .search(&CandidateQuery {
            near: Some((montlucon(), 10.0)),
            ..q("cuisinier")
        })
        .expect("search");
    assert_eq!(ids(&r), ["d"]);
    assert!(r.hits[0].distance_km.expect("distance") < 0.01);
}

#[test]
fn near_with_negative_longitudes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let brest = centre("29019");
    let mut a = cand("brest");
    home(&mut a, "29019");
    let mut b = cand("quimper");
    home(&mut b, "29232");
    let mut c = cand("blois");
    home(&mut c, "41018");
    for doc in [a, b, c] {
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
    let r = index
        .search(&CandidateQuery {
            near: Some((brest, 80.0)),
            sort: SortBy::Distance,
            ..CandidateQuery::default()
        })
        .expect("search");
    assert_eq!(ids(&r), ["brest", "quimper"]);
}

#[test]
fn facets_over_the_whole_result_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    let r = index
        .search(&CandidateQuery {
            limit: 1,
            ..CandidateQuery::default()
        })
        .expect("search");
    assert_eq!(r.hits.len(), 1);
    let expected: BTreeMap<String, u64> = [
        ("F1602", 1),
        ("G1602", 1),
        ("N1101", 2),
        ("N1103", 1),
        ("N4101", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(r.facets, expected);
    let r = index.search(&q("cariste")).expect("search");
    assert_eq!(r.facets.get("N1101"), Some(&2));
    assert_eq!(r.facets.get("N1103"), Some(&1));
    assert_eq!(r.facets.len(), 2);
}

#[test]
fn pagination_and_total() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    for i in 0..25 {
        let mut doc = cand(&format!("c{i:02}"));
        doc.job_titles = strings(&["Cariste"]);
        doc.updated_at = i;
        doc.rome_codes = strings(&["N1101"]);
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
    let mut seen = Vec::new();
    for page in 0..3 {
        let r = index
            .search(&CandidateQuery {
                offset: page * 10,
                limit: 10,
                ..q("cariste")
            })
            .expect("search");
        assert_eq!(r.total, 25);
        assert_eq!(r.facets.get("N1101"), Some(&25));
        assert_eq!(r.hits.len(), if page < 2 { 10 } else { 5 });
        seen.extend(ids(&r));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25, "pages overlap: {seen:?}");
    // Equal scores: most recently updated first.
    assert_eq!(seen[0], "c24");
    let r = index
        .search(&CandidateQuery {
            offset: 100,
            ..q("cariste")
        })
        .expect("search");
    assert_eq!((r.total, r.hits.len()), (25, 0));
    let r = index
        .search(&CandidateQuery {
            limit: 0,
            ..q("cariste")
        })
        .expect("search");
    assert_eq!((r.total, r.hits.len()), (25, 0));
}

#[test]
fn no_typed_text_is_a_syntax_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    for text in [
        "cariste AND (",
        "\"cariste",
        "cariste )",
        "OR",
        "*",
        "-",
        "title:cariste",
    ] {
        assert!(index.search(&q(text)).is_ok(), "{text}");
    }
    assert_eq!(
        ids(&index.search(&q("cariste AND (")).expect("search")).len(),
        2
    );
    // Pure exclusion.
    assert_eq!(
        sorted_ids(&index.search(&q("-cariste")).expect("search")),
        ["b", "c", "d"]
    );
    // Past the limits: a query error naming the limit.
    let deep = format!("{}a{}", "(".repeat(20), ")".repeat(20));
    assert!(matches!(
        index.search(&q(&deep)),
        Err(SearchError::Query(QueryError::TooDeep { .. }))
    ));
    // Blank text = everything.
    assert_eq!(index.search(&q("   ")).expect("search").total, 5);
}

#[test]
fn highlight_snippets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    let r = index
        .search(&CandidateQuery {
            highlight: true,
            ..q("chariots")
        })
        .expect("search");
    let snippet = r.hits[0].snippet.as_deref().expect("snippet");
    assert!(snippet.contains("<b>chariots</b>"), "{snippet}");
    assert!(snippet.chars().count() <= 220, "{snippet}");
    // Without text: the beginning of the CV.
    let r = index
        .search(&CandidateQuery {
            highlight: true,
            ids: Some(strings(&["a"])),
            ..CandidateQuery::default()
        })
        .expect("search");
    assert_eq!(
        r.hits[0].snippet.as_deref(),
        Some("Cariste expérimenté, conduite de chariots élévateurs en entrepôt.")
    );
    let r = index.search(&q("chariots")).expect("search");
    assert_eq!(r.hits[0].snippet, None);
}

#[test]
fn text_scores_rank_cariste_above_cook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    seed(&index);
    let offer = "Cariste (H/F) : conduite de chariot élévateur, CACES R489 cat. 3 \
                 exigé ; préparation de commandes & gestion de stock. Entrepôt logistique.";
    let scores = index.text_scores(offer, None, 10).expect("scores");
    let cariste = scores.get("a").copied().expect("cariste scored");
    let cook = scores.get("d").copied().unwrap_or(0.0);
    assert!(
        cariste > cook,
        "cariste {cariste} vs cook {cook}: {scores:?}"
    );
    let restricted = strings(&["d", "c"]);
    let scores = index
        .text_scores(offer, Some(&restricted), 10)
        .expect("scores");
    assert!(!scores.contains_key("a"));
    assert!(index.text_scores("", None, 10).expect("scores").is_empty());
    assert!(index
        .text_scores("cariste", Some(&[]), 10)
        .expect("scores")
        .is_empty());
}

fn offer(id: &str, title: &str, workplaces: Vec<Point>) -> OfferDoc {
    OfferDoc {
        id: id.to_string(),
        origin_node: "node-41".into(),
        title: title.to_string(),
        description: format!("{title} : poste à pourvoir rapidement."),
        rome_code: "N1101".into(),
        contract_type: "CDI".into(),
        employer_name: "Logistique Centre".into(),
        workplaces,
        driving_licence: None,
        status: "open".into(),
        updated_at: 1,
        ..OfferDoc::default()
    }
}

#[test]
fn offers_with_several_workplaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = offers(&dir);
    let mut national = offer("national", "Caristes", vec![montlucon(), vendome()]);
    national.origin_node = "node-03".into();
    let local = offer("local", "Cariste", vec![orleans()]);
    let mut cook = offer("cook", "Cuisinier", vec![blois()]);
    cook.rome_code = "G1602".into();
    cook.contract_type = "SAI".into();
    cook.status = "closed".into();
    for o in [&national, &local, &cook] {
        index.upsert(o).expect("upsert");
    }
    index.commit_now().expect("commit");

    let near = |p: Point, km: f64| OfferQuery {
        near: Some((p, km)),
        sort: SortBy::Distance,
        ..OfferQuery::default()
    };
    // Near Vendôme (one workplace of the national offer).
    let r = index.search(&near(vendome(), 10.0)).expect("search");
    assert_eq!(ids(&r), ["national"]);
    assert!(r.hits[0].distance_km.expect("distance") < 0.01);
    // Near Montluçon (the other one).
    let r = index.search(&near(montlucon(), 10.0)).expect("search");
    assert_eq!(ids(&r), ["national"]);
    // Near Blois: cook (0), national via Vendôme (~30), local (~55).
    let r = index.search(&near(blois(), 100.0)).expect("search");
    assert_eq!(ids(&r), ["cook", "national", "local"]);
    let national_km = r.hits[1].distance_km.expect("distance");
    assert!((25.0..35.0).contains(&national_km), "{national_km}");
    // Between the two workplaces but far from both: Bourges.
    let bourges = Point::from_degrees(47.08, 2.40);
    let r = index.search(&near(bourges, 40.0)).expect("search");
    assert_eq!(r.total, 0);

    // Text, filters, facets.
    let r = index
        .search(&OfferQuery {
            text: Some("cariste".into()),
            ..OfferQuery::default()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["local", "national"]);
    assert_eq!(r.facets.get("N1101"), Some(&2));
    let r = index
        .search(&OfferQuery {
            status: Some("open".into()),
            ..OfferQuery::default()
        })
        .expect("search");
    assert_eq!(sorted_ids(&r), ["local", "national"]);
    let r = index
        .search(&OfferQuery {
            origin_node: Some("node-03".into()),
            ..OfferQuery::default()
        })
        .expect("search");
    assert_eq!(ids(&r), ["national"]);
    let r = index
        .search(&OfferQuery {
            contract_type: Some("sai".into()),
            rome_codes: strings(&["G1602"]),
            highlight: true,
            text: Some("cuisinier".into()),
            ..OfferQuery::default()
        })
        .expect("search");
    assert_eq!(ids(&r), ["cook"]);
    let snippet = r.hits[0].snippet.as_deref().expect("snippet");
    assert!(snippet.contains("<b>Cuisinier</b>"), "{snippet}");

    // Scores against a candidate profile; delete; malformed query.
    let scores = index
        .text_scores("Cariste CACES 3, préparation de commandes", None, 10)
        .expect("scores");
    assert!(scores.contains_key("local") && !scores.contains_key("cook"));
    index.delete("cook").expect("delete");
    index.commit_now().expect("commit");
    assert!(!index.contains("cook").expect("contains"));
    assert_eq!(index.num_docs(), 2);
    assert_eq!(
        index
            .search(&OfferQuery {
                text: Some("cariste AND (".into()),
                ..OfferQuery::default()
            })
            .expect("search")
            .total,
        2
    );
}

#[test]
fn reopen_schema_version_and_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("candidates");
    {
        let index = candidates(&dir);
        let progress_calls = std::cell::Cell::new(0u64);
        let n = index
            .rebuild(
                &mut (0..3).map(|i| cand(&format!("r{i}"))),
                &|n| progress_calls.set(n),
                7,
            )
            .expect("rebuild");
        assert_eq!(n, 3);
        assert_eq!(progress_calls.get(), 3);
        assert_eq!(index.num_docs(), 3);
        // The rebuild recorded the journal position it was asked for.
        assert_eq!((index.applied_seq(), index.committed_seq()), (7, 7));
        // Not committed explicitly: the drop commits, with the position.
        index.upsert(&cand("late")).expect("upsert");
        index.mark_applied(9).expect("mark");
        assert_eq!(index.applied_seq(), 9);
    }
    assert!(path.join("SCHEMA_VERSION").is_file());
    {
        let (index, needs_rebuild) = CandidateIndex::open_with(&path, options()).expect("open");
        assert!(!needs_rebuild);
        assert_eq!(index.num_docs(), 4);
        assert!(index.contains("late").expect("contains"));
        // The position survived in the commit payload.
        assert_eq!((index.applied_seq(), index.committed_seq()), (9, 9));
        let mut ids = index.all_ids().expect("ids");
        ids.sort();
        assert_eq!(ids, vec!["late", "r0", "r1", "r2"]);
        // Rebuild replaces everything.
        let n = index
            .rebuild(&mut std::iter::once(cand("only")), &|_| {}, 10)
            .expect("rebuild");
        assert_eq!(n, 1);
        assert_eq!(index.num_docs(), 1);
        assert!(!index.contains("late").expect("contains"));
        index.shutdown();
        assert!(index.upsert(&cand("after")).is_err());
    }
    // Another schema version: recreated, rebuild requested.
    std::fs::write(path.join("SCHEMA_VERSION"), "candidates-0\n").expect("write");
    {
        let (index, needs_rebuild) = CandidateIndex::open_with(&path, options()).expect("open");
        assert!(needs_rebuild);
        assert_eq!(index.num_docs(), 0);
    }
    // The rebuild never happened: still requested.
    let (_index, needs_rebuild) = CandidateIndex::open_with(&path, options()).expect("open");
    assert!(needs_rebuild);
}

#[test]
fn search_indexes_open_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (indexes, c, o) = SearchIndexes::open_with(dir.path(), options()).expect("open");
    assert!(c && o);
    assert!(dir.path().join("candidates/SCHEMA_VERSION").is_file());
    assert!(dir.path().join("offers/SCHEMA_VERSION").is_file());
    indexes.candidates.upsert(&cand("a")).expect("upsert");
    indexes
        .offers
        .upsert(&offer("o", "Cariste", vec![blois()]))
        .expect("upsert");
    indexes.shutdown();
    indexes.shutdown();
    assert_eq!(indexes.candidates.num_docs(), 1);
    assert_eq!(indexes.offers.num_docs(), 1);
}

/// A deterministic, well spread point in the given box.
fn pseudo_random_point(i: u64, lat0: f64, lat1: f64, lon0: f64, lon1: f64) -> Point {
    fn mix(mut x: u64) -> u64 {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
    Point::from_degrees(
        lat0 + (lat1 - lat0) * unit(mix(2 * i)),
        lon0 + (lon1 - lon0) * unit(mix(2 * i + 1)),
    )
}

#[test]
fn near_matches_brute_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = offers(&dir);
    let mut all = Vec::new();
    for i in 0..300u64 {
        // Some offers with several workplaces, some with none.
        let workplaces: Vec<Point> = (0..(i % 3))
            .map(|k| pseudo_random_point(i * 3 + k, 46.0, 48.5, -1.5, 3.5))
            .collect();
        let o = offer(&format!("o{i:03}"), "Cariste", workplaces);
        index.upsert(&o).expect("upsert");
        all.push(o);
    }
    index.commit_now().expect("commit");
    for (center, radius) in [(blois(), 30.0), (orleans(), 75.0), (montlucon(), 120.0)] {
        let mut expected: Vec<(String, f64)> = all
            .iter()
            .filter_map(|o| {
                o.workplaces
                    .iter()
                    .map(|p| crate::geo::haversine_km(center, *p))
                    .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))))
                    .filter(|d| *d <= radius)
                    .map(|d| (o.id.clone(), d))
            })
            .collect();
        expected.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert!(!expected.is_empty());
        let r = index
            .search(&OfferQuery {
                near: Some((center, radius)),
                sort: SortBy::Distance,
                limit: 1000,
                ..OfferQuery::default()
            })
            .expect("search");
        assert_eq!(r.total, expected.len());
        assert_eq!(r.facets.get("N1101").copied(), Some(expected.len() as u64));
        let got: Vec<(String, f64)> = r
            .hits
            .iter()
            .map(|h| (h.id.clone(), h.distance_km.expect("distance")))
            .collect();
        assert_eq!(got, expected);
    }
}

/// Rough timings on a synthetic candidathèque (`VIVIER_BENCH_DOCS`, default
/// 50 000). Run with
/// `cargo test -p vivier-node --release --lib search::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore = "slow: timings on a synthetic candidathèque"]
fn bench_synthetic_candidatheque() {
    let n: u64 = std::env::var("VIVIER_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let titles = [
        "Cariste",
        "Cuisinier",
        "Électricien",
        "Conducteur poids lourd",
        "Aide-soignant",
        "Vendeur",
        "Maçon",
        "Agent d'entretien",
    ];
    let romes = [
        "N1101", "G1602", "F1602", "N4101", "J1501", "D1106", "F1703", "K2204",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let (index, _) =
        CandidateIndex::open_with(&dir.path().join("c"), SearchOptions::default()).expect("open");
    let start = Instant::now();
    let mut docs = (0..n).map(|i| {
        let k = (i % 8) as usize;
        let mut d = cand(&format!("cand-{i}"));
        d.job_titles = vec![titles[k].to_string()];
        d.rome_codes = vec![romes[k].to_string()];
        d.skills = strings(&["travail en équipe", "ponctualité"]);
        d.cv_text = format!(
            "{} depuis {} ans, permis B, expérience en entreprise, CACES {} et habilitations.",
            titles[k],
            i % 20,
            i % 5
        );
        // Spread over the communes of the referential.
        let communes = crate::referentials::Referentials::global().communes();
        let c = &communes[(i as usize * 7919) % communes.len()];
        d.commune_insee = c.insee.clone();
        d.point = c.point;
        d.driving_licences = strings(&["B"]);
        d.contract_types = strings(&["CDI", "MIS"]);
        d.updated_at = i as i64;
        d
    });
    let count = index.rebuild(&mut docs, &|_| {}, 0).expect("rebuild");
    eprintln!("rebuild {count} docs: {:?}", start.elapsed());

    let queries = [
        ("all, first page", CandidateQuery::default()),
        ("text cariste", q("cariste")),
        (
            "text + near 30 km by distance",
            CandidateQuery {
                near: Some((blois(), 30.0)),
                sort: SortBy::Distance,
                highlight: true,
                ..q("cariste CACES")
            },
        ),
        (
            "near 100 km, no text",
            CandidateQuery {
                near: Some((blois(), 100.0)),
                ..CandidateQuery::default()
            },
        ),
    ];
    for (name, query) in &queries {
        let start = Instant::now();
        let mut total = 0;
        for _ in 0..20 {
            total = index.search(query).expect("search").total;
        }
        eprintln!("{name}: total {total}, {:?}/search", start.elapsed() / 20);
    }
    let start = Instant::now();
    let offer = "Cariste H/F : conduite de chariots élévateurs, CACES R489 exigé, \
                 préparation de commandes en entrepôt logistique, travail en équipe.";
    let scores = index.text_scores(offer, None, 200).expect("scores");
    eprintln!(
        "text_scores: {} scored, {:?}",
        scores.len(),
        start.elapsed()
    );

    let start = Instant::now();
    index.upsert(&cand("fresh")).expect("upsert");
    while !index.contains("fresh").expect("contains") {
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("upsert → visible: {:?}", start.elapsed());
}

/// A search split across threads by document range (every segment cut,
/// three threads) answers exactly what one thread answers: the same hits
/// in the same order with the same scores and distances, total and facets,
/// for text, soft-AND, radius, filtered, distance-sorted and paged queries.
#[test]
fn a_split_search_answers_what_one_thread_answers() {
    let communes = [
        "41018", "41269", "45234", "03185", "37261", "41194", "18033",
    ];
    let titles = [
        (
            "Cariste",
            "N1101",
            "Cariste en entrepôt, CACES 3, chariots élévateurs.",
        ),
        (
            "Aide à domicile",
            "K1304",
            "Aide à domicile auprès de personnes âgées, ménage, courses.",
        ),
        (
            "Agent d'entretien",
            "K2204",
            "Agent d'entretien des locaux, nettoyage, autolaveuse.",
        ),
        (
            "Préparateur de commandes",
            "N1103",
            "Préparation de commandes, cariste occasionnel.",
        ),
        (
            "Serveur",
            "G1803",
            "Serveur en salle, service en restauration, bar.",
        ),
    ];
    let docs: Vec<CandidateDoc> = (0..600)
        .map(|i| {
            let (title, code, text) = titles[i % titles.len()];
            let mut d = cand(&format!("c{i:04}"));
            d.job_titles = strings(&[title]);
            d.rome_codes = strings(&[code]);
            d.cv_text = format!(
                "{text} Expérience {} ans. {}",
                i % 13,
                "entrepôt ".repeat(i % 4)
            );
            if i % 7 == 0 {
                d.cv_text.push_str(" Agent d'entretien le week-end.");
            }
            home(&mut d, communes[i % communes.len()]);
            if i % 11 == 0 {
                d.status = "archived".into();
            }
            d.updated_at = (i % 17) as i64;
            d
        })
        .collect();
    // One index, opened twice: the same segments searched by one thread,
    // then with every segment cut in three.
    let dir = tempfile::tempdir().expect("tempdir");
    let open = |split_min_docs: u32, threads: usize| {
        let opts = SearchOptions {
            pass_threads: threads,
            split_min_docs,
            ..options()
        };
        CandidateIndex::open_with(&dir.path().join("candidates"), opts)
            .expect("open")
            .0
    };
    let one = open(u32::MAX, 1);
    for d in &docs {
        one.upsert(d).expect("upsert");
    }
    one.commit_now().expect("commit");
    let mut queries = vec![
        q("cariste"),
        q("agent d'entretien"),
        q("aide domicile entrepôt"),
        q("serveur OU cariste"),
        q("entrepôt -cariste"),
        CandidateQuery {
            near: Some((blois(), 40.0)),
            ..q("cariste entrepôt")
        },
        CandidateQuery {
            near: Some((blois(), 120.0)),
            sort: SortBy::Distance,
            ..q("agent")
        },
        CandidateQuery {
            status: Some("all".into()),
            rome_codes: strings(&["K2204", "N1101"]),
            ..CandidateQuery::default()
        },
    ];
    queries.push(CandidateQuery {
        offset: 15,
        limit: 10,
        ..q("cariste")
    });
    let answers = |index: &CandidateIndex| {
        queries
            .iter()
            .map(|query| {
                let r = index.search(query).expect("search");
                assert!(r.total > 0, "{query:?} finds nothing");
                let hits = r
                    .hits
                    .iter()
                    .map(|h| {
                        (
                            h.id.clone(),
                            h.score.to_bits(),
                            h.distance_km.map(f64::to_bits),
                        )
                    })
                    .collect::<Vec<_>>();
                (r.total, r.facets, hits)
            })
            .collect::<Vec<_>>()
    };
    let by_one = answers(&one);
    one.shutdown();
    drop(one);
    let split = open(1, 3);
    assert!(split
        .engine()
        .searcher()
        .segment_readers()
        .iter()
        .any(|r| r.max_doc() >= 8));
    for (query, (a, b)) in queries.iter().zip(by_one.iter().zip(answers(&split))) {
        assert_eq!(*a, b, "{query:?}");
    }
}

/// A journal position said committed is one searches see: whoever reads
/// `committed_seq() = s` then searches finds every document applied up to
/// `s` (an index check polled while the follower commits found the index
/// caught up yet missing the last commit's documents: the position was
/// published before the reader was reloaded).
#[test]
fn a_committed_position_is_visible_to_searches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = std::sync::Arc::new(candidates(&dir));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (index, done) = (index.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let committed = index.committed_seq();
                let visible = index.num_docs();
                // Document `i` was applied at position `i`.
                assert!(
                    visible >= u64::try_from(committed.max(0)).unwrap_or(0),
                    "position {committed} committed, {visible} documents visible"
                );
                checks += 1;
            }
            checks
        })
    };
    for i in 1..=100i64 {
        index.upsert(&cand(&format!("c{i}"))).expect("upsert");
        index.mark_applied(i).expect("applied");
        index.commit_now().expect("commit");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let checks = watcher
        .join()
        .expect("the watcher saw a committed position not yet visible");
    assert!(checks > 0);
    assert_eq!(index.committed_seq(), 100);
}

/// `licence=` finds every holder: a licence that implies the category
/// (`CE` meets `B` and `C1`) or its `PERMIS_*` code recorded as a
/// certification; a lower category does not meet a higher one.
#[test]
fn licence_filter_finds_holders_of_implying_licences_and_certifications() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut a = cand("a");
    a.driving_licences = strings(&["B"]);
    let mut b = cand("b");
    b.driving_licences = strings(&["CE"]);
    let mut c = cand("c");
    c.certifications = strings(&["PERMIS_B", "CACES_R489_3"]);
    let mut d = cand("d");
    d.driving_licences = strings(&["AM"]);
    let mut e = cand("e");
    e.certifications = strings(&["PERMIS_D"]);
    for doc in [a, b, c, d, e] {
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
    let with = |l: &str| {
        let r = index
            .search(&CandidateQuery {
                licence: Some(l.into()),
                ..CandidateQuery::default()
            })
            .expect("search");
        sorted_ids(&r)
    };
    assert_eq!(with("B"), ["a", "b", "c", "e"]);
    assert_eq!(with("C1"), ["b"]);
    assert_eq!(with("CE"), ["b"]);
    assert_eq!(with("AM"), ["a", "b", "c", "d", "e"]);
    assert_eq!(with("D"), ["e"]);
    assert!(with("A").is_empty());
}

/// A number glued to its word (`SSIAP1`, `CACES3`): the parts side by
/// side rank first, apart still match; a prefix on such a word finds it;
/// the snippet highlights it as one word.
#[test]
fn glued_numbers_side_by_side_first_prefixes_and_snippets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut a = cand("a");
    a.cv_text = "Agent de sécurité incendie dans un centre commercial, rondes, contrôle \
                 d'accès, SSIAP1 à jour, permis B, disponible de suite."
        .into();
    a.updated_at = 1;
    let mut b = cand("b");
    b.cv_text = "SSIAP3, 1 an.".into();
    b.updated_at = 2;
    let mut c = cand("c");
    c.cv_text = "CACES R489 cat. 3.".into();
    let mut d = cand("d");
    d.cv_text = "Cariste confirmé en entrepôt frigorifique, préparation de commandes, \
                 inventaires, CACES3 à jour, permis B."
        .into();
    for doc in [a, b, c, d] {
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
    let search = |text: &str| {
        index
            .search(&CandidateQuery {
                highlight: true,
                ..q(text)
            })
            .expect("search")
    };
    for text in ["SSIAP1", "ssiap 1", "ssiap1*", "SSIAP1*"] {
        let r = search(text);
        assert_eq!(ids(&r).first().map(String::as_str), Some("a"), "{text}");
    }
    // Apart still matches, below side by side.
    assert_eq!(ids(&search("CACES3")), ["d", "c"]);
    assert_eq!(ids(&search("caces3*")), ["d", "c"]);
    let r = search("SSIAP1");
    let snippet = r.hits[0].snippet.as_deref().expect("snippet");
    assert!(snippet.contains("<b>SSIAP1</b>"), "{snippet}");
    // Excluded as typed: every part, side by side or not.
    assert_eq!(sorted_ids(&search("-ssiap1")), ["c", "d"]);
    assert_eq!(sorted_ids(&search("-ssiap1*")), ["c", "d"]);
    assert_eq!(sorted_ids(&search("cat -caces3")), Vec::<String>::new());
}

/// A query typed with caps lock on asks what it asks in lower case: its
/// short words in capitals (`DE`, `LA`, `AIDE`) are not taken for
/// acronyms, the dictionary's acronyms (`DEAS`) stay acronyms, and a short
/// word in capitals alone (`DES`) is still asked as written.
#[test]
fn a_query_in_capitals_asks_what_it_asks_in_lower_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let texts = [
        (
            "a",
            "Ouvrier de la maçonnerie, gros œuvre, coffrage et ferraillage.",
        ),
        (
            "b",
            "Aide-soignante diplômée (DEAS), soins d'hygiène en EHPAD.",
        ),
        ("c", "Aide à domicile : courses, repas, aide au lever."),
        ("d", "Médecin, DES de médecine générale."),
        ("e", "Aide de cuisine, plonge et mise en place."),
        ("f", "AIDE-SOIGNANTE EN EHPAD, NUITS."),
    ];
    with_cvs(&index, &texts);
    let search = |text: &str| sorted_ids(&index.search(&q(text)).expect("search"));
    for (caps, lower) in [
        ("OUVRIER DE LA MAÇONNERIE", "ouvrier de la maçonnerie"),
        ("OUVRIER DE LA MACONNERIE", "ouvrier de la maconnerie"),
        ("AIDE SOIGNANTE", "aide soignante"),
        ("AIDE A DOMICILE", "aide a domicile"),
        ("AIDE SOIGNANTE -NUITS", "aide soignante -nuits"),
        ("\"AIDE A DOMICILE\"", "\"aide a domicile\""),
    ] {
        assert!(!search(lower).is_empty(), "{lower}");
        assert_eq!(search(caps), search(lower), "{caps}");
    }
    assert_eq!(search("OUVRIER DE LA MAÇONNERIE"), ["a"]);
    // An acronym of the dictionary stays one in a shouted query.
    let r = index.search(&q("AIDE SOIGNANTE DEAS")).expect("search");
    assert_eq!(
        ids(&r).first().map(String::as_str),
        Some("b"),
        "{:?}",
        ids(&r)
    );
    // Not shouted: `DES` alone is the short word as written.
    assert_eq!(search("DES"), ["d"]);
}

/// One typo in a job word finds its holders even where the typo changes
/// how the word is stemmed (`soigante` stems to `soig`, `preparatrise` to
/// `preparatris`): the word is corrected against the ROME job words.
#[test]
fn typos_in_job_words_the_stemmer_would_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let texts = [
        (
            "a",
            "Aide-soignante en EHPAD, soins d'hygiène et de confort.",
        ),
        ("b", "Serveuse en brasserie, service en salle et au bar."),
        ("c", "Chauffeur livreur, tournées en ville."),
        (
            "d",
            "Préparatrice de commandes en entrepôt, préparation au scanner.",
        ),
        ("e", "Agent d'entretien, nettoyage de bureaux."),
    ];
    with_cvs(&index, &texts);
    let first = |text: &str| {
        let r = index.search(&q(text)).expect("search");
        ids(&r).first().cloned().unwrap_or_default()
    };
    for (typed, expected) in [
        ("soigante", "a"),
        ("soignnte", "a"),
        ("aide soigante", "a"),
        ("serveusse", "b"),
        ("servuese", "b"),
        ("chauffuer", "c"),
        ("preparatrise", "d"),
        ("préparatirce", "d"),
        ("preparatuer", "d"),
    ] {
        assert_eq!(first(typed), expected, "{typed}");
    }
    // A word that is right is not corrected into another.
    assert_eq!(
        sorted_ids(&index.search(&q("entretien")).expect("search")),
        ["e"]
    );
}

/// « permis C » finds the holders of the licence (a higher category
/// included), not every CV that says « permis »; `PL` and « poids lourd »
/// after « permis » mean C.
#[test]
fn permis_and_a_category_finds_the_holders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people: [(&str, &[&str], &[&str]); 5] = [
        ("a", &["B"], &[]),
        ("b", &["C"], &[]),
        ("c", &["CE"], &[]),
        ("d", &[], &["PERMIS_C"]),
        ("e", &["D"], &[]),
    ];
    for (id, licences, certs) in people {
        let mut c = cand(id);
        c.cv_text = "Permis B et véhiculé, disponible de suite.".into();
        c.driving_licences = strings(licences);
        c.certifications = strings(certs);
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    let search = |text: &str| sorted_ids(&index.search(&q(text)).expect("search"));
    for text in [
        "permis C",
        "permis c",
        "PERMIS C",
        "permis PL",
        "permis poids lourd",
        "Permis Poids Lourds",
    ] {
        assert_eq!(search(text), ["b", "c", "d"], "{text}");
    }
    assert_eq!(search("permis ce"), ["c"]);
    assert_eq!(search("permis D"), ["e"]);
    assert_eq!(search("permis B").len(), 5);
    // « permis » alone is still a word of the text.
    assert_eq!(search("permis").len(), 5);
}

/// An acronym of the curated dictionary finds the holders of the ROME code
/// its source cites, whatever their CV says (`PL`: N4101).
#[test]
fn an_acronym_finds_the_holders_of_the_code_it_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut a = cand("a");
    a.rome_codes = strings(&["N4101"]);
    a.cv_text = "Routier en semi-remorque, FIMO à jour, tournées nationales.".into();
    let mut b = cand("b");
    b.rome_codes = strings(&["K1304"]);
    b.cv_text = "Aide à domicile, courses et repas.".into();
    for c in [a, b] {
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    for text in ["PL", "poids lourd", "chauffeur PL"] {
        let r = index.search(&q(text)).expect("search");
        assert_eq!(ids(&r).first().map(String::as_str), Some("a"), "{text}");
    }
    assert_eq!(sorted_ids(&index.search(&q("PL")).expect("search")), ["a"]);
}

/// A vehicle acronym typed alone (`VL`, `PL`, `SPL`) also finds the
/// holders of the licence it names, below the CVs that write it.
#[test]
fn a_vehicle_acronym_alone_finds_the_licence_holders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people: [(&str, &[&str], &str); 5] = [
        ("a", &["B"], "Livreur, tournées en ville."),
        ("b", &["CE"], "Routier international."),
        ("c", &[], "Chauffeur VL, livraisons de colis."),
        ("d", &[], "Vendeuse en boulangerie."),
        ("e", &["C"], "Conducteur de benne."),
    ];
    for (id, licences, text) in people {
        let mut c = cand(id);
        c.cv_text = text.into();
        c.driving_licences = strings(licences);
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    let r = index.search(&q("VL")).expect("search");
    assert_eq!(
        ids(&r).first().map(String::as_str),
        Some("c"),
        "the CV that writes it first"
    );
    assert_eq!(sorted_ids(&r), ["a", "b", "c", "e"]);
    assert_eq!(
        sorted_ids(&index.search(&q("PL")).expect("search")),
        ["b", "e"]
    );
    assert_eq!(sorted_ids(&index.search(&q("SPL")).expect("search")), ["b"]);
}

/// The diploma is searched like the skills (`DEAS` in the training level
/// only, « Titre pro Agent magasinier »).
#[test]
fn the_diploma_is_searched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut a = cand("a");
    a.cv_text = "Soins d'hygiène et de confort en EHPAD, nuits.".into();
    a.training_level = Some("DEAS".into());
    let mut b = cand("b");
    b.cv_text = "Réception et rangement des marchandises.".into();
    b.training_level = Some("Titre pro Agent magasinier".into());
    let mut c = cand("c");
    c.cv_text = "Vente en boulangerie.".into();
    for doc in [a, b, c] {
        index.upsert(&doc).expect("upsert");
    }
    index.commit_now().expect("commit");
    let search = |text: &str| sorted_ids(&index.search(&q(text)).expect("search"));
    assert_eq!(search("DEAS"), ["a"]);
    assert_eq!(search("magasinier"), ["b"]);
}

/// The beginning of a job word is a short form of it (`compta`, `manut`),
/// not a typo of another word (« y compris »).
#[test]
fn the_beginning_of_a_job_word_is_a_short_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let texts = [
        ("a", "Comptable : saisie, rapprochements bancaires, bilans."),
        ("b", "Maçon, gros œuvre, y compris coffrage."),
        ("c", "Manutentionnaire en entrepôt, chargement de camions."),
    ];
    with_cvs(&index, &texts);
    let search = |text: &str| sorted_ids(&index.search(&q(text)).expect("search"));
    assert_eq!(search("compta"), ["a"]);
    assert_eq!(search("manut"), ["c"]);
    // A typo is still a typo.
    assert_eq!(search("comptabel"), ["a"]);
}

/// The typed words side by side in a job title rank that title first
/// (words that are no known expression, and the same words in the other
/// person's titles, apart, so that only the title boost tells them apart);
/// a stop word between them changes nothing.
#[test]
fn the_typed_words_together_in_a_title_rank_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people = [
        ("apart", vec!["Italien", "Cuisinier"]),
        ("together", vec!["Cuisinier italien"]),
        ("seller", vec!["Vendeur de fromages"]),
        ("seller-apart", vec!["Fromages", "Vendeur"]),
    ];
    for (id, titles) in &people {
        let mut c = cand(id);
        c.job_titles = strings(titles);
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    for (text, first) in [
        ("cuisinier italien", "together"),
        ("CUISINIER ITALIEN", "together"),
        ("vendeur fromages", "seller"),
        ("vendeur de fromages", "seller"),
    ] {
        let r = index.search(&q(text)).expect("search");
        assert_eq!(
            ids(&r).first().map(String::as_str),
            Some(first),
            "{text}: {:?}",
            ids(&r)
        );
        let [a, b] = [&r.hits[0], &r.hits[1]];
        assert!(a.score > b.score * 1.1, "{text}: {} / {}", a.score, b.score);
    }
}

/// A licence typed beside other words (`maçon permis B`) is a condition
/// of the search, like the `licence` parameter: the group's « one missing
/// word » allowance never lets in people who only hold the licence, nor a
/// mason without it. « permis de conduire » asks for any category.
#[test]
fn a_licence_typed_beside_a_job_is_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people: [(&str, &str, &[&str]); 5] = [
        ("macon-b", "Maçon", &["B"]),
        ("macon", "Maçon", &[]),
        ("cariste-b", "Cariste", &["B"]),
        ("cuisinier-ce", "Cuisinier", &["CE"]),
        ("vendeur", "Vendeur", &[]),
    ];
    for (id, title, licences) in people {
        let mut c = cand(id);
        c.job_titles = strings(&[title]);
        c.cv_text = format!("{title} depuis dix ans, disponible de suite.");
        c.driving_licences = strings(licences);
        index.upsert(&c).expect("upsert");
    }
    // Licence never recorded, but written in the CV: it counts too.
    let mut w = cand("macon-ecrit");
    w.job_titles = strings(&["Maçon"]);
    w.cv_text = "Maçon, Permis B, véhiculé.".into();
    index.upsert(&w).expect("upsert");
    index.commit_now().expect("commit");
    let search = |text: &str| {
        let r = index.search(&q(text)).expect("search");
        assert_eq!(r.total, r.hits.len(), "{text}: total is the hits");
        sorted_ids(&r)
    };
    assert_eq!(search("maçon permis B"), ["macon-b", "macon-ecrit"]);
    assert_eq!(search("permis B maçon"), ["macon-b", "macon-ecrit"]);
    assert!(search("maçon permis CE").is_empty());
    assert_eq!(search("cariste permis B"), ["cariste-b"]);
    // CE meets B.
    assert_eq!(search("cuisinier permis B"), ["cuisinier-ce"]);
    assert_eq!(search("cuisinier permis C"), ["cuisinier-ce"]);
    assert!(search("vendeur permis B").is_empty());
    assert_eq!(
        search("permis de conduire"),
        ["cariste-b", "cuisinier-ce", "macon-b"]
    );
    assert_eq!(search("maçon permis de conduire"), ["macon-b"]);
    // « permis de » is no category DE unless typed so.
    let mut d = cand("bus");
    d.job_titles = strings(&["Conducteur de bus"]);
    d.driving_licences = strings(&["DE"]);
    index.upsert(&d).expect("upsert");
    index.commit_now().expect("commit");
    assert_eq!(search("permis DE"), ["bus"]);
    assert!(!search("permis de travail").contains(&"bus".to_string()));
    // Alternatives keep their own conditions.
    assert_eq!(
        search("maçon permis B OU vendeur"),
        ["macon-b", "macon-ecrit", "vendeur"]
    );
    // Excluded, not required.
    assert_eq!(search("maçon -\"permis\""), ["macon", "macon-b"]);
}

/// Nobody has most of the words (a sentence with filler words): the search
/// is tried again with one word of each group enough, those with the most
/// words first, and says so; a search that found someone is not relaxed,
/// nor are operators.
#[test]
fn a_sentence_nobody_matches_whole_finds_those_with_most_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people: [(&str, &str, &str); 3] = [
        (
            "lea",
            "Cariste",
            "Cariste en entrepôt, CACES R489 catégorie 3.",
        ),
        ("marc", "Cariste", "Cariste, préparation de commandes."),
        (
            "ines",
            "Serveuse",
            "Serveuse en brasserie, service en salle.",
        ),
    ];
    for (id, title, cv) in people {
        let mut c = cand(id);
        c.job_titles = strings(&[title]);
        c.cv_text = cv.into();
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    let text = "cherche cariste CACES disponible rapidement";
    assert_eq!(index.search(&q(text)).expect("search").total, 0);
    let r = index.search_relaxing(&q(text)).expect("search");
    assert!(r.relaxed);
    assert_eq!(ids(&r), ["lea", "marc"], "the one with more words first");
    assert_eq!(r.total, 2);
    // Found whole: not relaxed.
    let r = index.search_relaxing(&q("cariste CACES")).expect("search");
    assert!(!r.relaxed);
    assert_eq!(ids(&r), ["lea", "marc"]);
    // Nothing to relax: a single word, an explicit ET.
    for text in ["plombier", "cariste ET plombier"] {
        let r = index.search_relaxing(&q(text)).expect("search");
        assert!(!r.relaxed, "{text}");
        assert_eq!(r.total, 0, "{text}");
    }
}

/// A title typed in full finds the records whose title writes its short
/// form (`chauffeur poids lourd` → « Chauffeur PL »), ranked with the
/// words typed, above records that only hold the job's ROME code.
#[test]
fn a_long_form_typed_finds_the_short_form_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let people: [(&str, &str, &str); 3] = [
        ("pl", "Chauffeur PL", "Chauffeur PL en transport régional."),
        ("code", "Livreur", "Tournées en ville, véhicule léger."),
        (
            "routier",
            "Chauffeur poids lourd",
            "Chauffeur poids lourd, zone longue.",
        ),
    ];
    for (id, title, cv) in people {
        let mut c = cand(id);
        c.job_titles = strings(&[title]);
        c.rome_codes = strings(&["N4101"]);
        c.cv_text = cv.into();
        index.upsert(&c).expect("upsert");
    }
    index.commit_now().expect("commit");
    for text in ["chauffeur poids lourd", "Chauffeur Poids Lourds"] {
        let r = index.search(&q(text)).expect("search");
        let got = ids(&r);
        let at = |id: &str| got.iter().position(|g| g == id).unwrap_or(usize::MAX);
        assert!(at("pl") < at("code"), "{text}: {got:?}");
        let score = |id: &str| r.hits.iter().find(|h| h.id == id).map_or(0.0, |h| h.score);
        assert!(
            score("pl") > 2.0 * score("code"),
            "{text}: « Chauffeur PL » only a little above the code alone: {:?}",
            r.hits.iter().map(|h| (&h.id, h.score)).collect::<Vec<_>>()
        );
    }
}

/// Two words: with few people having both, those with one of them are
/// counted too (after); with enough people having both, only they are —
/// on every page alike, facets and total included; and a pair nobody has
/// at all is widened as before.
#[test]
fn all_the_words_when_enough_people_have_them() {
    use super::candidate_index::ENOUGH_WITH_ALL_WORDS;
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let few = 3;
    let mut cvs: Vec<(String, String)> = (0..few)
        .map(|i| {
            (
                format!("both-{i}"),
                "Agent logistique en entrepôt.".to_string(),
            )
        })
        .collect();
    cvs.extend((0..40).map(|i| (format!("agent-{i}"), "Agent d'accueil.".to_string())));
    cvs.extend((0..5).map(|i| (format!("log-{i}"), "Préparation logistique.".to_string())));
    let texts: Vec<(&str, &str)> = cvs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    with_cvs(&index, &texts);
    let page = |text: &str, offset: usize| {
        index
            .search_relaxing(&CandidateQuery {
                offset,
                limit: 20,
                ..q(text)
            })
            .expect("search")
    };
    // Few have both: one of the two words is enough, both rank first.
    let r = page("agent logistique", 0);
    assert_eq!(r.total, few + 40 + 5);
    assert!(!r.relaxed);
    assert!(
        ids(&r)[..few].iter().all(|id| id.starts_with("both-")),
        "{:?}",
        ids(&r)
    );

    // Enough have both: only they are counted, on every page.
    let more: Vec<(String, String)> = (few..ENOUGH_WITH_ALL_WORDS)
        .map(|i| {
            (
                format!("both-{i}"),
                "Agent logistique, caces 1.".to_string(),
            )
        })
        .collect();
    let texts: Vec<(&str, &str)> = more.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    with_cvs(&index, &texts);
    let first = page("agent logistique", 0);
    assert_eq!(first.total, ENOUGH_WITH_ALL_WORDS);
    let second = page("agent logistique", 20);
    assert_eq!(second.total, ENOUGH_WITH_ALL_WORDS);
    let mut seen: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert!(seen.iter().all(|id| id.starts_with("both-")), "{seen:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), ENOUGH_WITH_ALL_WORDS, "the pages agree");
    // The plain search (and matching's callers) keep "most of the words".
    let most = index.search(&q("agent logistique")).expect("search");
    assert_eq!(most.total, ENOUGH_WITH_ALL_WORDS + 40 + 5);

    // Nobody has most of these words: widened, and said so.
    let r = page("agent cariste soudeur logistique", 0);
    assert!(r.relaxed);
    assert!(r.total >= ENOUGH_WITH_ALL_WORDS + 45, "{}", r.total);
}

/// The words of a known expression of two words or more, taken apart,
/// are looked up in the text only: the expression in a title is the title
/// pair boost. A one-word title and words outside any expression keep
/// their own title boost.
#[test]
fn an_expressions_words_apart_carry_no_title_boost_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let (titles, pairs) = index.title_terms_of("aide à domicile");
    assert!(
        !titles.iter().any(|t| t == "aid" || t == "domicil"),
        "{titles:?}"
    );
    assert!(pairs.iter().any(|t| t == "aid domicil"), "{pairs:?}");
    // A one-word title: its own title boost.
    let (titles, _) = index.title_terms_of("cariste");
    assert!(titles.iter().any(|t| t == "carist"), "{titles:?}");
    // Words that form no known expression: each its title boost.
    let (titles, _) = index.title_terms_of("jardinier patient");
    assert!(
        titles.iter().any(|t| t.starts_with("jardin"))
            && titles.iter().any(|t| t.starts_with("patient")),
        "{titles:?}"
    );
}

/// Words typed together that people hold as a title (`agent d'entretien`,
/// no thesaurus entry) rank their holders by the title pair: the words
/// that are no one-word title carry no title boost of their own. Until
/// someone holds that title, each word keeps its own.
#[test]
fn a_held_titles_words_apart_carry_no_title_boost_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    let mut c = cand("c1");
    c.job_titles = strings(&["Agent de sécurité"]);
    index.upsert(&c).expect("upsert");
    index.commit_now().expect("commit");
    let (titles, pairs) = index.title_terms_of("agent d'entretien");
    assert!(
        titles.iter().any(|t| t == "agent") && titles.iter().any(|t| t == "entretien"),
        "{titles:?}"
    );
    assert!(pairs.iter().any(|t| t == "agent entretien"), "{pairs:?}");
    let mut c = cand("c2");
    c.job_titles = strings(&["Agente d'entretien des locaux"]);
    index.upsert(&c).expect("upsert");
    index.commit_now().expect("commit");
    let (titles, pairs) = index.title_terms_of("agent d'entretien");
    assert!(
        !titles.iter().any(|t| t == "agent" || t == "entretien"),
        "{titles:?}"
    );
    assert!(pairs.iter().any(|t| t == "agent entretien"), "{pairs:?}");
    // A group in parentheses before them does not take that away.
    let (titles, _) = index.title_terms_of("(magasinier OU manutentionnaire) agent d'entretien");
    assert!(
        !titles.iter().any(|t| t == "agent" || t == "entretien"),
        "{titles:?}"
    );
    // A one-word title among them keeps its boost.
    let mut c = cand("c3");
    c.job_titles = strings(&["Cariste CACES 3"]);
    index.upsert(&c).expect("upsert");
    index.commit_now().expect("commit");
    let (titles, _) = index.title_terms_of("cariste CACES 3");
    assert!(titles.iter().any(|t| t == "carist"), "{titles:?}");
}

/// An acronym typed is looked up once in the text, not a second time as a
/// synonym of the expression it stands for (`CACES` is one of the
/// synonyms of « certificat d'aptitude à la conduite en sécurité »): the
/// typed word is not counted twice, nor its postings walked twice.
#[test]
fn a_typed_acronym_is_no_synonym_of_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = candidates(&dir);
    for text in ["CACES", "cariste CACES 3", "SSIAP", "chauffeur PL"] {
        let terms = index.text_terms_of(text);
        let mut seen = std::collections::BTreeSet::new();
        let twice: Vec<&String> = terms.iter().filter(|t| !seen.insert(*t)).collect();
        assert!(twice.is_empty(), "{text}: {twice:?} in {terms:?}");
    }
}

/// With `index_idle`, the offers' indexing thread is `SCHED_IDLE` and the
/// candidates' is not: the index of our own people's records (and their
/// erasures) follows whatever the load.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn only_the_offer_index_goes_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (indexes, _, _) = SearchIndexes::open_with(
        dir.path(),
        SearchOptions {
            index_idle: true,
            ..options()
        },
    )
    .expect("open");
    // SAFETY: no memory effects; pid 0 is the calling thread.
    let policy = || unsafe { libc::sched_getscheduler(0) };
    assert_eq!(
        indexes.background.run(policy).await,
        Some(libc::SCHED_OTHER)
    );
    assert_eq!(
        indexes.offers_background.run(policy).await,
        Some(libc::SCHED_IDLE)
    );
    // The committers (which respawn tantivy's indexing threads): other
    // tests of this process open indexes too, none of them idle.
    let committers = |name: &str| -> Vec<i32> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            // SAFETY: no memory effects; reads another thread's policy.
            found.push(unsafe { libc::sched_getscheduler(tid) });
        }
        found
    };
    let offers = committers("commit-offers");
    assert!(offers.contains(&libc::SCHED_IDLE), "{offers:?}");
    let candidates = committers("commit-candidat");
    assert!(
        !candidates.is_empty() && !candidates.contains(&libc::SCHED_IDLE),
        "{candidates:?}"
    );
    indexes.shutdown();
}
